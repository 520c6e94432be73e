#!/usr/bin/python3
"""Encoder-side latent refinement, measured with the PyTorch model (issue 24).

After the analysis, a few gradient steps move the gained latents yg (and the
hyper-latents z) of one frame on its own rate + lambda * distortion; the
decoder and the weights stay as they are, only the symbols change.  The rate
is the model's estimate of the rounded latents, the distortion the clipped
error after the decoder's projections, as tools/train/rd_models.py measures.

    tools/train/refine.py PLACE... --steps 10,20,40 --lr 0.003 --check 2

Prints per place the BD-rate (40-50 dB) of the refined points against the
plain ones and the mean over places.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from compare import bd_rate  # noqa: E402
from data import Place  # noqa: E402
from export import load_any  # noqa: E402
from interpolation import detect_dense  # noqa: E402
import tecmodel  # noqa: E402
from tecmodel import gaussian_likelihood, project_replicated, rms_spread, round_ste  # noqa: E402
from train import clipped_sse, project_interpolated, psnr  # noqa: E402

LAMBDA_MIN = 1500.0 / 2.25 ** 3
LAMBDA_RATIO = 2.25
SPREAD_REF = 404.0
ZERO_BIAS = 0.04      # frame_codec.c


def crop_frames(place, crop, frames):
    ch, cw = min(crop, place.H) // 16 * 16, min(crop, place.W) // 16 * 16
    y0, x0 = (place.H - ch) // 2, (place.W - cw) // 2
    t = min(frames, place.T)
    x = np.zeros((t, 13, ch, cw), np.float32)
    mask = np.zeros((t, 13), np.float32)
    interp = []
    for i in range(t):
        for c, s in enumerate(place.slots):
            x[i, s] = place.cube[i, c, y0:y0 + ch, x0:x0 + cw]
            mask[i, s] = 1
            if (pr := detect_dense(place.cube[i, c, y0:y0 + ch, x0:x0 + cw])) is not None:
                interp.append((i, s) + pr)
    return torch.from_numpy(x), torch.from_numpy(mask), interp


# What the gradient sees (a C encoder's surrogate): the entropy parameters
# held fixed, the distortion's gradient through the linear skip only, the
# decoder's projections left out of it.
SURROGATE = {"fixed": 0, "skip_only": 0, "proj": 1}


def skip_only(model, y_hat, xn_hat):
    """xn_hat's value, with the gradient of the linear skip synthesis alone."""
    d = 1 << model.levels
    lin = torch.nn.functional.pixel_shuffle(model.skip_s(y_hat), d)
    return xn_hat.detach() + lin - lin.detach()


def decode(model, yg, z, q, stats, x, mask, interp, noise=False, ste=True, rnd=None, grad=False):
    """From (yg, z) as the encoder holds them: bits per frame and the
    reconstruction after the decoder's projections.  grad: the pass whose
    gradient refines, with SURROGATE's simplifications."""
    z_hat = (round_ste if ste else torch.round)(z)
    rnd = rnd or (round_ste if ste else torch.round)
    z_lik = model.prior.likelihood(z + torch.empty_like(z).uniform_(-0.5, 0.5) if noise == 1 else z_hat)
    mu, scale = model.hs(z_hat)
    mu, scale = mu[:, :, : yg.shape[2], : yg.shape[3]], scale[:, :, : yg.shape[2], : yg.shape[3]]
    mu, scale, yg_hat = model.ctx(yg, mu, scale)
    if grad and SURROGATE["fixed"]:
        mu, scale = mu.detach(), scale.detach()
        yg_hat = round_ste(yg - mu) + mu
    centred = yg - mu
    if noise == 2:
        v = centred                     # the density itself: smooth, deterministic
    elif noise:
        v = centred + torch.empty_like(centred).uniform_(-0.5, 0.5)
    else:
        v = rnd(centred)
    y_lik = gaussian_likelihood(v, scale)
    _, ig = model.gains(q)
    y_hat = yg_hat * ig[:, :, None, None]
    xn_hat = model.synthesis(y_hat)
    if grad and SURROGATE["skip_only"]:
        xn_hat = skip_only(model, y_hat, xn_hat)
    x_hat = model.denormalise(xn_hat, stats)
    if not grad or SURROGATE["proj"]:
        x_hat = project_interpolated(project_replicated(x_hat, x), interp)
    bits = -torch.log2(y_lik).sum((1, 2, 3)) - torch.log2(z_lik).sum((1, 2, 3))
    return bits, x_hat


def encode(model, x, mask, q):
    stats = model.frame_stats(x)
    xn = model.normalise(x, mask, stats)
    y = model.analysis(xn, mask)
    g, _ = model.gains(q)
    yg = y * g[:, :, None, None]
    return yg, model.hyper_analysis(yg), stats


def frame_lambda(q, stats, mask):
    """The training objective's lambda of each frame (train.py --spread-lambda)."""
    s = rms_spread(stats[1], mask)
    f = torch.clamp((SPREAD_REF / s) ** 2, LAMBDA_RATIO ** -5, LAMBDA_RATIO ** 5)
    return LAMBDA_MIN * LAMBDA_RATIO ** q.double() * f.double()


def refine(model, x, mask, interp, q, budgets, lr, lam_mult, with_z, noise_rate, adam=0, clip=0.0, check=0):
    with torch.no_grad():
        yg0, z0, stats = encode(model, x, mask, q)
    yg = yg0.clone().requires_grad_(True)
    z = z0.clone().requires_grad_(True)
    params = [yg, z] if with_z else [yg]
    opt = torch.optim.Adam(params, lr=lr) if adam else torch.optim.SGD(params, lr=lr)
    present = mask.sum(1) * x.shape[2] * x.shape[3]
    lam = frame_lambda(q, stats, mask).float() * lam_mult
    def true_cost():
        with torch.no_grad():
            bits, x_hat = coded(model, yg, z, q, stats, x, mask, interp)
            d = ((((torch.clamp(torch.round(x_hat), 0, 65535) - x) / 1e4) ** 2)
                 * mask[:, :, None, None]).sum((1, 2, 3))
            return float((bits + lam * d).sum())

    best = (true_cost(), yg0, z0)
    kept = {}
    for step in range(max(budgets)):
        opt.zero_grad()
        bits, x_hat = decode(model, yg, z, q, stats, x, mask, interp, noise=noise_rate, grad=True)
        dist = ((((x_hat - x) / 1e4) ** 2) * mask[:, :, None, None]).sum((1, 2, 3))
        loss = ((bits + lam * dist) / (present if adam else 1)).sum()
        loss.backward()
        if clip:
            for p in params:
                p.grad.clamp_(-clip / lr, clip / lr)
        opt.step()
        if check and (step + 1) % check == 0:
            c = true_cost()
            if c < best[0]:
                best = (c, yg.detach().clone(), z.detach().clone())
        if step + 1 in budgets:
            kept[step + 1] = best[1:] if check else (yg.detach().clone(), z.detach().clone())
    return kept, stats


def biased_round(v):
    """libtec's quantise_latent: distances within 0.5 + ZERO_BIAS code 0."""
    return torch.where(v.abs() < 0.5 + ZERO_BIAS, torch.zeros_like(v), torch.round(v))


def biased_code_slice(yg_k, mu_k, scale_k, sp_l0=None, sp_l1=None, anchors=None):
    """tecmodel.code_slice with libtec's rounding of the symbols."""
    hat = biased_round(yg_k - mu_k) + mu_k
    if sp_l0 is None:
        return mu_k, scale_k, hat
    gs = mu_k.shape[1]
    nb = tecmodel.cross_neighbours(hat * anchors)
    h = torch.relu(tecmodel.int_layer(sp_l0, torch.cat([mu_k, scale_k, nb], 1)))
    d = tecmodel.int_layer(sp_l1, h) * (1 - anchors)
    mu_k, scale_k = mu_k + d[:, :gs], scale_k + d[:, gs:]
    return mu_k, scale_k, biased_round(yg_k - mu_k) + mu_k


def coded(model, yg, z, q, stats, x, mask, interp):
    """Bits and reconstruction as libtec codes these latents (zero-biased rounding)."""
    saved = tecmodel.code_slice
    tecmodel.code_slice = biased_code_slice
    try:
        with torch.no_grad():
            return decode(model, yg, z, q, stats, x, mask, interp, rnd=biased_round)
    finally:
        tecmodel.code_slice = saved


def point(model, yg, z, q, stats, x, mask, interp):
    """(bpppb, PSNR) as libtec codes these latents."""
    bits, x_hat = coded(model, yg, z, q, stats, x, mask, interp)
    n = float(mask.sum()) * x.shape[2] * x.shape[3]
    return float(bits.sum()) / n, psnr(clipped_sse(x_hat, x, mask), n)


def final_params(model, yg, z):
    """The entropy parameters libtec codes yg with (zero-biased rounding)."""
    saved = tecmodel.code_slice
    tecmodel.code_slice = biased_code_slice
    try:
        with torch.no_grad():
            mu, scale = model.hs(torch.round(z))
            mu, scale = mu[:, :, : yg.shape[2], : yg.shape[3]], scale[:, :, : yg.shape[2], : yg.shape[3]]
            mu, scale, _ = model.ctx(yg, mu, scale)
            return mu, scale
    finally:
        tecmodel.code_slice = saved


def channel_energy(model, yg, mu, q, stats, mask, lattice=5):
    """Per channel, the objective's distortion (lambda 1) of one step of a
    gained latent at one position: impulses on a lattice of positions far
    enough apart that their responses do not overlap, at the decoded
    latents of frame 0, through the whole synthesis."""
    _, ig = model.gains(q)
    y_hat = ((biased_round(yg - mu) + mu) * ig[:, :, None, None])[:1]
    m, h, w = y_hat.shape[1:]
    base = model.synthesis(y_hat)
    wband = (stats[1][:1] / 1e4) ** 2 * mask[:1]
    imp = torch.zeros(1, 1, h, w)
    imp[:, :, lattice // 2::lattice, lattice // 2::lattice] = 1
    count = float(imp.sum())
    energy = torch.zeros(m)
    for c0 in range(0, m, 16):
        cs = range(c0, min(m, c0 + 16))
        batch = y_hat.repeat(len(cs), 1, 1, 1)
        for j, c in enumerate(cs):
            batch[j, c] += imp[0, 0] * ig[0, c]
        d = (model.synthesis(batch) - base) ** 2 * wband[:, :, None, None]
        energy[c0:c0 + len(cs)] = d.sum((1, 2, 3)) / count
    return energy


def rdoq(model, x, mask, interp, q, mults):
    """Rate-distortion optimised rounding: each latent coded as libtec rounds
    it or one step nearer its mean, whichever costs less in bits + lambda x
    (channel energy x the change of its squared quantisation error); the
    entropy parameters those of plain coding.  One result per lambda
    multiplier."""
    with torch.no_grad():
        yg, z, stats = encode(model, x, mask, q)
        mu, scale = final_params(model, yg, z)
        energy = channel_energy(model, yg, mu, q, stats, mask)
        lam = frame_lambda(q, stats, mask).float()
        v = yg - mu
        s0 = biased_round(v)
        s1 = s0 - torch.sign(s0)
        dr = -torch.log2(gaussian_likelihood(s1, scale)) + torch.log2(gaussian_likelihood(s0, scale))
        dd = energy[None, :, None, None] * ((v - s1) ** 2 - (v - s0) ** 2)
        out = {}
        for k in mults:
            take = (s0 != 0) & (dr + k * lam[:, None, None, None] * dd < 0)
            out[k] = (mu + torch.where(take, s1, s0), z)
    return out, stats


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("places", nargs="+")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "weights", "tec-s2.tecw"))
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--anchors", default="3,5,7,9")
    ap.add_argument("--steps", default="10,20,40", help="step budgets (one run, the best iterate at each)")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--lam", type=float, default=1.0, help="multiplier of the training lambda")
    ap.add_argument("--z", type=int, default=1, help="refine the hyper-latents too")
    ap.add_argument("--noise-rate", type=int, default=0, help="rate on STE-rounded (0), noisy (1) or unrounded (2) latents")
    ap.add_argument("--adam", type=int, default=0, help="Adam on the per-sample loss (else SGD on bits)")
    ap.add_argument("--clip", type=float, default=0.0, help="largest move of a latent per SGD step")
    ap.add_argument("--check", type=int, default=0,
                    help="every this many steps, the true cost (rounded); keep the best iterate")
    ap.add_argument("--fixed-params", type=int, default=0, help="gradient: entropy parameters held fixed")
    ap.add_argument("--skip-only", type=int, default=0, help="gradient: distortion through the linear skip only")
    ap.add_argument("--proj-grad", type=int, default=1, help="gradient: after the decoder's projections")
    ap.add_argument("--rdoq", type=int, default=0,
                    help="rate-distortion optimised rounding instead; --steps then lists lambda multipliers")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    SURROGATE.update(fixed=args.fixed_params, skip_only=args.skip_only, proj=args.proj_grad)
    model = load_any(args.model)
    for p in model.parameters():
        p.requires_grad_(False)
    anchors = [int(a) for a in args.anchors.split(",")]
    budgets = sorted((float if args.rdoq else int)(b) for b in args.steps.split(","))
    results = {b: [] for b in budgets}
    for name in args.places:
        place = Place(os.path.join(args.data, name))
        x, mask, interp = crop_frames(place, args.crop, args.frames)
        base, ref = [], {b: [] for b in budgets}
        t0 = time.time()
        for a in anchors:
            q = torch.full((x.shape[0],), a, dtype=torch.long)
            with torch.no_grad():
                yg, z, stats = encode(model, x, mask, q)
            base.append(point(model, yg, z, q, stats, x, mask, interp))
            if args.rdoq:
                kept, stats = rdoq(model, x, mask, interp, q, budgets)
            else:
                kept, stats = refine(model, x, mask, interp, q, budgets, args.lr, args.lam,
                                     args.z, args.noise_rate, args.adam, args.clip, args.check)
            for b in budgets:
                ref[b].append(point(model, *kept[b], q, stats, x, mask, interp))
        line = []
        for b in budgets:
            bd = bd_rate([r for r, _ in base], [d for _, d in base], [r for r, _ in ref[b]],
                         [d for _, d in ref[b]], 40.0, 50.0)[0]
            results[b].append(bd)
            line.append(f"{b} steps {bd:+.2f}%")
        pts = " ".join(f"{p[0]:.3f}/{p[1]:.2f}->{r[0]:.3f}/{r[1]:.2f}" for p, r in zip(base, ref[budgets[-1]]))
        print(f"{name}: {', '.join(line)}  [{pts}]  {time.time() - t0:.0f} s", flush=True)
    for b in budgets:
        ok = [r for r in results[b] if not math.isnan(r)]
        print(f"{b} steps: mean {np.mean(ok):+.2f}%  worst {max(ok):+.2f}%  ({len(ok)} places)")


if __name__ == "__main__":
    main()
