#!/usr/bin/python3
"""What per-channel leans (doc/bitstream.md, 3) save on the validation series.

For every validation example of train_temporal.py (each frame after the
first with up to two references, centre crop 128: one 32 x 32 block of
latents), the bits of the current frame's latents under the shipped
temporal model, then with one lean per channel moving the final means
towards the latest reference: fitted by weighted least squares as libtec's
encoder does (lean.c), and, as a bound, the best of every lean in 1/16 steps
by the bits themselves.  A lean is charged 9 bits (its byte and presence
bit), a channel without one 1 bit.  Prints, per place, the inter bits
against the same frames' intra bits (%), for the model alone, the fit and
the best.

  /usr/bin/python3 tools/train/leans.py [--positions 896] [--threads 2]
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export import load_any  # noqa: E402
from export_temporal import load_tt_into  # noqa: E402
from tecmodel import gaussian_likelihood, round_ste  # noqa: E402
from temporal import TT_TAU, TemporalContext, time_features  # noqa: E402
from train_temporal import Trainer, make_val, series_places  # noqa: E402

LEAN_MIN, LEAN_MAX = -16, 32
MIN_SAVING = 18.0     # bits: as lean.c


def bits(v, s):
    return -torch.log2(gaussian_likelihood(v, s))


def channel_bits(y, mu, sc, r):
    """Bits of one channel (model alone, least-squares lean, best lean)."""
    base = float(bits(torch.round(y - mu), sc).sum())
    d = r - mu
    w = 1.0 / sc.clamp(min=0.11) ** 2
    ed, dd = float((w * (y - mu) * d).sum()), float((w * d * d).sum())
    fit = base + 1
    if dd > 0:
        lean = int(np.clip(np.floor(16 * ed / dd + 0.5), LEAN_MIN, LEAN_MAX))
        b = lean / 16
        if lean and (2 * b * ed - b * b * dd) / (2 * np.log(2)) > MIN_SAVING:
            t = float(bits(torch.round(y - mu - torch.floor(lean * d * 256 / 16 + 0.5) / 256), sc).sum())
            fit = min(fit, t + 9)
    best = base
    for lean in range(LEAN_MIN, LEAN_MAX + 1):
        t = float(bits(torch.round(y - mu - lean / 16 * d), sc).sum())
        best = min(best, t)
    best = best + 9 if base - best > 9 else base + 1
    return base, fit, best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    ap.add_argument("--weights", default=os.path.join(HERE, "..", "..", "weights", "tec-s2-tt.tecw"))
    ap.add_argument("--positions", default="896", help="quality positions x 256, comma-separated")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    image = load_any(args.weights)
    hp = image.hp
    tt = TemporalContext(hp["m"], hp["ctx_groups"], hp["ctx_hidden"], hp["ctx_spatial"])
    load_tt_into(tt, args.weights)
    tt.eval()
    trainer = Trainer(image, tt, 4)
    val = make_val(series_places(args.data, "val"), 4)
    res = {}
    with torch.no_grad():
        for pos in [int(p) for p in args.positions.split(",")]:
            for name, x, mask, valid, times in val:
                x_t, m_t = torch.from_numpy(x), torch.from_numpy(mask)
                which = [0] + [1 + j for j in range(4) if valid[0, j]]
                ygs = trainer.latents(torch.stack([x_t[0, f] for f in which]), m_t[[0] * len(which)],
                                      [pos] * len(which))
                yg = ygs[:1]
                refs = torch.zeros((1, 4) + yg.shape[1:])
                for j in range(len(which) - 1):
                    refs[0, j] = torch.round(ygs[1 + j])
                tau = torch.zeros(1, 4, TT_TAU)
                for j, (gap, doy) in enumerate(times[0]):
                    tau[0, j] = torch.tensor(time_features(gap, doy, pos, pos, j)) / 256.0
                z = round_ste(image.hyper_analysis(yg))
                mu, sc = image.hs(z)
                mu, sc = mu[:, :, :yg.shape[2], :yg.shape[3]], sc[:, :, :yg.shape[2], :yg.shape[3]]
                mu_t, sc_t, _ = tt(yg, mu, sc, refs, torch.from_numpy(valid), tau)
                mu_i, sc_i, _ = image.ctx(yg, mu, sc)
                acc = res.setdefault(name, np.zeros(4))
                acc[0] += float(bits(torch.round(yg - mu_i), sc_i).sum())
                for c in range(yg.shape[1]):
                    acc[1:] += channel_bits(yg[0, c], mu_t[0, c], sc_t[0, c], refs[0, 0, c])
    print("place                          model    fit   best  (inter vs intra bits, %)")
    rows = {k: (v[1:] / v[0] - 1) * 100 for k, v in sorted(res.items())}
    for k, v in rows.items():
        print(f"{k:30s} {v[0]:+6.1f} {v[1]:+6.1f} {v[2]:+6.1f}")
    mean = np.mean(list(rows.values()), 0)
    worst = max(rows.items(), key=lambda kv: kv[1][1])
    print(f"{'mean':30s} {mean[0]:+6.1f} {mean[1]:+6.1f} {mean[2]:+6.1f}   worst with the fit: {worst[0]}")


if __name__ == "__main__":
    main()
