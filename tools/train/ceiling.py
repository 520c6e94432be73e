#!/usr/bin/python3
"""How close a model gets to its transforms' limit, on the validation crops.

For anchors 0, 3 and 7 prints the rate and PSNR of the coded latents (as in
training's validation) and the PSNR of the reconstruction from unquantized
latents: the ceiling no rate can pass.  When the two PSNRs meet, the
transforms, not the entropy model, are what limits quality.

  /usr/bin/python3 tools/train/ceiling.py weights/tec-s2.tecw
  /usr/bin/python3 tools/train/ceiling.py runs/s2/ckpt.pt
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import list_places  # noqa: E402
from export import load_any  # noqa: E402
from tecmodel import project_replicated  # noqa: E402
from train import clipped_sse, make_val_set, project_interpolated, psnr, validate  # noqa: E402


def unquantized_psnr(model, val_set, q):
    model.eval()  # validate() leaves the model in training mode
    n = sse = 0.0
    with torch.no_grad():
        for x, mask, interp in val_set:
            x, mask = torch.from_numpy(x), torch.from_numpy(mask)
            stats = model.frame_stats(x)
            y = model.analysis(model.normalise(x, mask, stats), mask)
            g, ig = model.gains(torch.full((x.shape[0],), q))
            x_hat = model.denormalise(model.synthesis(y * (g * ig)[:, :, None, None]), stats)
            x_hat = project_interpolated(project_replicated(x_hat, x), interp)
            sse += clipped_sse(x_hat, x, mask)
            n += float(mask.sum()) * x.shape[2] * x.shape[3]
    return psnr(sse, n)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help=".tecw or training checkpoint")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "..", "..", "..", "shared", "data"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_any(args.model)
    val_set = make_val_set(list_places(args.data, "val"))
    print("anchor  bpppb  PSNR coded  PSNR unquantized")
    for q, bpp, db in validate(model, val_set, "cpu"):
        print(f"{q:6d} {bpp:6.3f} {db:11.2f} {unquantized_psnr(model, val_set, q):17.2f}")


if __name__ == "__main__":
    main()
