#!/usr/bin/python3
"""Refit the linear skip synthesis of a trained model in closed form.

The skip synthesis (doc/model.md) is linear in the decoded latents, so the
best correction of it for the current transforms is a least-squares problem:
over training crops coded at every anchor, regress what the synthesis still
misses in each 2^levels x 2^levels block on that position's decoded latents,
weighted like the training loss (squared error of reflectance, i.e. the
normalised error times the frame's band spread, times the anchor's lambda).  One ridge-regularised
solve per band; the rate does not change, only the reconstruction.

  /usr/bin/python3 tools/train/fit_skip.py runs/s2/ckpt.pt -o runs/s2/ckpt-fit.pt

Validation places are never used for the fit (training split only).
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import CropSampler, list_places  # noqa: E402
from tecmodel import ImageModel  # noqa: E402
from train import anchor_lambdas  # noqa: E402


def decoded_latents(model, x, mask, q):
    """y_hat as the decoder sees it (rounded around the final means)."""
    stats = model.frame_stats(x)
    xn = model.normalise(x, mask, stats)
    g, ig = model.gains(q)
    yg = model.analysis(xn, mask) * g[:, :, None, None]
    mu, scale = model.hs(torch.round(model.hyper_analysis(yg)))
    mu = mu[:, :, : yg.shape[2], : yg.shape[3]]
    if model.ctx_groups:
        _, _, yg_hat = model.ctx(yg, mu, scale[:, :, : yg.shape[2], : yg.shape[3]])
        return yg_hat * ig[:, :, None, None], xn, stats
    return (torch.round(yg - mu) + mu) * ig[:, :, None, None], xn, stats


def fit(model, sampler, batches, ridge, anchor_weights):
    s_n, m = model.slots, model.hp["m"]
    d = 1 << model.levels
    gram = torch.zeros(s_n, m, m, dtype=torch.float64)
    cross = torch.zeros(s_n, m, d * d, dtype=torch.float64)
    anchors = model.hp["qualities"]
    with torch.no_grad():
        for _ in range(batches):
            x, mask, _ = sampler.sample(anchors)
            x, mask = torch.from_numpy(x), torch.from_numpy(mask)
            y_hat, xn, stats = decoded_latents(model, x, mask, torch.arange(anchors))
            miss = xn - model.synthesis(y_hat)
            b, _, hl, wl = y_hat.shape
            lat = y_hat.permute(0, 2, 3, 1).reshape(b, hl * wl, m).double()
            blocks = (miss.reshape(b, s_n, hl, d, wl, d).permute(0, 1, 2, 4, 3, 5)
                      .reshape(b, s_n, hl * wl, d * d).double())
            weight = (stats[1] ** 2 * mask).double() * anchor_weights[:, None]
            for s in range(s_n):
                gram[s] += torch.einsum("b,bpm,bpn->mn", weight[:, s], lat, lat)
                cross[s] += torch.einsum("b,bpm,bpk->mk", weight[:, s], lat, blocks[:, s])
        eye = torch.eye(m, dtype=torch.float64)
        for s in range(s_n):
            if gram[s].diagonal().max() <= 0:
                continue  # a slot the crops never filled
            reg = ridge * gram[s].diagonal().mean()
            sol = torch.linalg.solve(gram[s] + reg * eye, cross[s])
            model.skip_s.weight[s * d * d:(s + 1) * d * d, :, 0, 0] += sol.T.float()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("checkpoint")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "..", "shared", "data"))
    ap.add_argument("--batches", type=int, default=64, help="batches of one crop per anchor")
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--ridge", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--weigh", choices=("lambda", "equal"), default="lambda",
                    help="anchors' errors weighed by their lambda (the training loss) or equally")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ck = torch.load(args.checkpoint, map_location="cpu")
    model = ImageModel(**ck["hp"])
    model.load_state_dict(ck["model"])
    model.eval()
    if not model.skip:
        raise SystemExit(f"{args.checkpoint}: the model has no skip transforms")
    # Each anchor's error counts with its lambda, as in the training loss.
    targs = ck.get("args", {})
    lambdas = anchor_lambdas(targs.get("lambda_min", 1500.0), targs.get("lambda_ratio", 2.25),
                             targs.get("anchors", 8))
    weights = torch.tensor(lambdas, dtype=torch.float64) / lambdas[0]
    if args.weigh == "equal":
        weights = torch.ones_like(weights)
    fit(model, CropSampler(list_places(args.data, "train"), args.crop, args.seed),
        args.batches, args.ridge, weights)
    ck["model"] = model.state_dict()
    ck.pop("opt", None)  # the optimiser state no longer matches the weights
    ck["skip_fit"] = vars(args)
    torch.save(ck, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
