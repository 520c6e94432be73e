#!/usr/bin/python3
"""Rate and PSNR of models at every quality anchor on the validation crops
(those of train.py's validation), and the BD-rate of each model against the
first, between 40 and 50 dB.  The rate is the model's own estimate of the
rounded latents, so it measures a training change without libtec:

    tools/train/rd_models.py weights/tec-s2.tecw runs/NAME/ckpt.pt
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from compare import bd_rate  # noqa: E402
from data import list_places  # noqa: E402
from export import load_any  # noqa: E402
from train import clipped_sse, make_val_set, psnr, rd_terms  # noqa: E402


def rd_points(model, val_set):
    points = []
    with torch.no_grad():
        for q in range(model.hp["qualities"]):
            bits = n = sse = 0.0
            for x, mask in val_set:
                xt, mt = torch.from_numpy(x), torch.from_numpy(mask)
                rate, _, x_hat = rd_terms(model, xt, mt, torch.full((x.shape[0],), q), noise=False)
                present = mt.sum(1) * x.shape[2] * x.shape[3]
                bits += float((rate * present).sum())
                n += float(present.sum())
                sse += clipped_sse(x_hat, xt, mt)
            points.append((bits / n, psnr(sse, n)))
    return points


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help=".tecw files or training checkpoints")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    val_set = make_val_set(list_places(args.data, "val"))
    curves = []
    for path in args.models:
        pts = rd_points(load_any(path), val_set)
        curves.append(pts)
        print(path + ": " + "  ".join("%.4f/%.2f" % p for p in pts), flush=True)
    ref = curves[0]
    for path, pts in zip(args.models[1:], curves[1:]):
        pct, lo, hi, _ = bd_rate([r for r, _ in ref], [d for _, d in ref],
                                 [r for r, _ in pts], [d for _, d in pts], 40.0, 50.0)
        print(f"BD-rate of {path} against {args.models[0]}: {pct:+.2f}% ({lo:.1f}-{hi:.1f} dB)")


if __name__ == "__main__":
    main()
