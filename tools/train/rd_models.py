#!/usr/bin/python3
"""Rate and PSNR of models at every quality anchor on the validation crops
(those of train.py's validation), and the BD-rate of each model against the
first, between 40 and 50 dB, over all crops and (--per-place) for each
validation place.  The rate is the model's own estimate of the rounded
latents, so it measures a training change without libtec:

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


def rd_sums(model, val_set):
    """Per place and quality anchor: (bits, samples, squared error)."""
    sums = []
    with torch.no_grad():
        for x, mask, interp in val_set:
            xt, mt = torch.from_numpy(x), torch.from_numpy(mask)
            present = float(mt.sum()) * x.shape[2] * x.shape[3]
            row = []
            for q in range(model.hp["qualities"]):
                rate, _, x_hat = rd_terms(model, xt, mt, torch.full((x.shape[0],), q), noise=False,
                                         interp=interp)
                bits = float((rate * mt.sum(1) * x.shape[2] * x.shape[3]).sum())
                row.append((bits, present, clipped_sse(x_hat, xt, mt)))
            sums.append(row)
    return sums


def curve(rows):
    """(bpppb, PSNR) per anchor, pooled over the given places' rows."""
    return [(sum(r[q][0] for r in rows) / sum(r[q][1] for r in rows),
             psnr(sum(r[q][2] for r in rows), sum(r[q][1] for r in rows)))
            for q in range(len(rows[0]))]


def bd(ref, pts):
    return bd_rate([r for r, _ in ref], [d for _, d in ref], [r for r, _ in pts], [d for _, d in pts], 40.0, 50.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help=".tecw files or training checkpoints")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--per-place", action="store_true", help="also the BD-rate on each place")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    places = list_places(args.data, "val")
    val_set = make_val_set(places)
    all_sums = []
    for path in args.models:
        sums = rd_sums(load_any(path), val_set)
        all_sums.append(sums)
        print(path + ": " + "  ".join("%.4f/%.2f" % p for p in curve(sums)), flush=True)
    ref = all_sums[0]
    for path, sums in zip(args.models[1:], all_sums[1:]):
        pct, lo, hi, _ = bd(curve(ref), curve(sums))
        print(f"BD-rate of {path} against {args.models[0]}: {pct:+.2f}% ({lo:.1f}-{hi:.1f} dB)")
        if args.per_place:
            for i, p in enumerate(places):
                pct, lo, hi, _ = bd(curve([ref[i]]), curve([sums[i]]))
                print(f"  {p.name}: {pct:+.2f}% ({lo:.1f}-{hi:.1f} dB)")


if __name__ == "__main__":
    main()
