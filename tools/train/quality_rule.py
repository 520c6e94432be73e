#!/usr/bin/python3
"""The per-frame quality rule's strength, measured with the PyTorch model
(issue 24, candidate 3).  libtec moves each frame's position by
alpha x log(s^2 / 404^2) / log(2.25) anchors (s the frame's RMS band
spread, alpha = 1, doc/design.md); this codes the first frames of each
place at base positions 2/4/6/8 with each alpha (gains interpolated
geometrically between anchors, as libtec does) and prints the BD-rate
(40-50 dB, rate and squared error pooled over the frames) of every alpha
against alpha = 1:

    tools/train/quality_rule.py PLACE... --alphas 0,0.5,1.5 --frames 4
"""
import argparse
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from compare import bd_rate  # noqa: E402
from data import Place  # noqa: E402
from refine import SPREAD_REF, LAMBDA_RATIO, coded, crop_frames, encode  # noqa: E402
from export import load_any  # noqa: E402
from tecmodel import rms_spread  # noqa: E402
from train import clipped_sse, psnr  # noqa: E402


def interpolated_gains(model):
    """model.gains for fractional positions q (anchors as floats)."""
    lg, lig = model.gain.log(), model.igain.log()
    top = model.gain.shape[0] - 1

    def gains(q):
        q = q.double().clamp(0, top)
        a = q.floor().long().clamp(max=top - 1)
        t = (q - a).float()[:, None]
        return ((1 - t) * lg[a] + t * lg[a + 1]).exp(), ((1 - t) * lig[a] + t * lig[a + 1]).exp()
    return gains


def series_point(model, x, mask, interp, base, alpha):
    stats = model.frame_stats(x)
    s = rms_spread(stats[1], mask)
    q = base + alpha * torch.log(s.double() ** 2 / SPREAD_REF ** 2) / math.log(LAMBDA_RATIO)
    q = torch.round(q * 256) / 256
    with torch.no_grad():
        yg, z, stats = encode(model, x, mask, q)
        bits, x_hat = coded(model, yg, z, q, stats, x, mask, interp)
    n = float(mask.sum()) * x.shape[2] * x.shape[3]
    return float(bits.sum()) / n, psnr(clipped_sse(x_hat, x, mask), n)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("places", nargs="+")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "weights", "tec-s2.tecw"))
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--bases", default="2,4,6,8")
    ap.add_argument("--alphas", default="0,0.5,1.5")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_any(args.model)
    model.gains = interpolated_gains(model)
    bases = [float(b) for b in args.bases.split(",")]
    alphas = [float(a) for a in args.alphas.split(",")]
    res = {a: [] for a in alphas}
    for name in args.places:
        x, mask, interp = crop_frames(Place(os.path.join(args.data, name)), args.crop, args.frames)
        ref = [series_point(model, x, mask, interp, b, 1.0) for b in bases]
        line = []
        for a in alphas:
            pts = [series_point(model, x, mask, interp, b, a) for b in bases]
            bd = bd_rate([r for r, _ in ref], [d for _, d in ref], [r for r, _ in pts],
                         [d for _, d in pts], 40.0, 50.0)[0]
            res[a].append(bd)
            line.append(f"alpha {a:g} {bd:+.2f}%")
        print(f"{name}: {', '.join(line)}", flush=True)
    for a in alphas:
        ok = [r for r in res[a] if not math.isnan(r)]
        print(f"alpha {a:g}: mean {np.mean(ok):+.2f}%  worst {max(ok):+.2f}%  ({len(ok)} places)")


if __name__ == "__main__":
    main()
