#!/usr/bin/python3
"""Train the tec-img model on Sentinel-2 crops.

Runs on CPU (torch.set_num_threads) or CUDA unchanged.  Checkpoints go to
OUT/ckpt.pt every --ckpt-every steps; --resume continues from a checkpoint or
from a shipped .tecw (weights only, fresh optimiser).

  /usr/bin/python3 tools/train/train.py --resume weights/tec-s2.tecw --out runs/s2 \
      --steps 8500 --lr 1e-4 --lr-final 1e-5 --seed 5

The defaults are the shipped model's architecture and loss (weights/tec-s2.md
gives both training phases' full commands).
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import CropSampler, list_places, slot_statistics  # noqa: E402
from interpolation import detect_dense  # noqa: E402
from tecmodel import ImageModel, count_params, project_replicated, rms_spread  # noqa: E402

# Rate-distortion trade-offs of the quality anchors: loss = bits per sample
# + lambda * MSE of reflectance / 10000; anchor i uses lambda_min * ratio^i.
# Doubling lambda buys about 3 dB where the transforms are not the limit.
# The first 8 anchors of the shipped models had lambda_min = 1500; 3 more
# below them reach down to about 35 dB.


def anchor_lambdas(lambda_min, ratio, count):
    return [lambda_min * ratio ** i for i in range(count)]


def validation_anchors(count):
    """The anchors validation reports: the lowest and the three that were
    0, 3 and 7 of the 8-anchor models, so logs stay comparable."""
    return sorted({0, max(count - 8, 0), max(count - 5, 0), count - 1})


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "..", "shared", "data"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--m", type=int, default=192)
    ap.add_argument("--nh", type=int, default=64)
    ap.add_argument("--nmid", type=int, default=128)
    ap.add_argument("--levels", type=int, default=2, help="stride-2 stages of the transforms")
    ap.add_argument("--frame-norm", type=int, default=1, help="per-frame band statistics as side information")
    ap.add_argument("--skip", type=int, default=1, help="linear skip transforms beside the nonlinear ones")
    ap.add_argument("--skip-lr-mult", type=float, default=2.0,
                    help="learning-rate factor of the parts a resumed model grows, the skip "
                         "transforms and the channel context (they start at zero)")
    ap.add_argument("--ctx-groups", type=int, default=4,
                    help="channel slices of the channel context model (0: none)")
    ap.add_argument("--ctx-hidden", type=int, default=96, help="hidden width of the channel context")
    ap.add_argument("--ctx-spatial", type=int, default=1,
                    help="checkerboard context within each slice (needs --ctx-groups)")
    ap.add_argument("--anchors", type=int, default=11, help="quality anchors (gain vectors)")
    ap.add_argument("--lambda-min", type=float, default=1500.0 / 2.25 ** 3,
                    help="lambda of the lowest anchor")
    ap.add_argument("--lambda-ratio", type=float, default=2.25, help="lambda step between anchors")
    ap.add_argument("--interp-prob", type=float, default=0.4,
                    help="share of training crops whose pixel-replicated bands are resampled "
                         "bilinearly instead (data.interpolate_replicated)")
    ap.add_argument("--spread-lambda", type=float, default=0.0,
                    help="reference spread S: each crop's lambda times (S / s)^2, s its RMS band "
                         "spread, so that the anchors are the trade-offs the encoder's per-frame "
                         "quality assumes (doc/design.md), the factor bounded to 5 anchors "
                         "either way; 0: one lambda per anchor")
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--lr-final", type=float, default=2e-5)
    ap.add_argument("--warmup", type=int, default=300,
                    help="steps of linear learning-rate warm-up after a fresh optimiser")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", default=None, help="checkpoint .pt or shipped .tecw")
    ap.add_argument("--ckpt-every", type=int, default=250)
    ap.add_argument("--val-every", type=int, default=1000)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return ap.parse_args()


def project_interpolated(x_hat, interp):
    """The decoder's projection of interpolated bands (interpolation.py):
    interp lists (sample, slot, Py, Px) with dense numpy projectors."""
    if not interp:
        return x_hat
    b = torch.tensor([i[0] for i in interp], device=x_hat.device)
    s = torch.tensor([i[1] for i in interp], device=x_hat.device)
    py = torch.stack([torch.as_tensor(i[2], dtype=x_hat.dtype) for i in interp]).to(x_hat.device)
    px = torch.stack([torch.as_tensor(i[3], dtype=x_hat.dtype) for i in interp]).to(x_hat.device)
    return x_hat.index_put((b, s), py @ x_hat[b, s] @ px.transpose(1, 2))


def rd_terms(model, x, mask, q, noise=True, interp=None):
    """Per-sample rate (bits per present sample) and distortion (MSE / 1e8),
    measured after the decoder's projections of replicated and interpolated
    bands."""
    x_hat, y_lik, z_lik = model(x, mask, q, noise=noise)
    x_hat = project_interpolated(project_replicated(x_hat, x), interp)
    b, s, h, w = x.shape
    present = mask.sum(1) * h * w
    bits = -torch.log2(y_lik).sum((1, 2, 3)) - torch.log2(z_lik).sum((1, 2, 3))
    rate = bits / present
    err = ((x_hat - x) / 10000.0) ** 2 * mask[:, :, None, None]
    dist = err.sum((1, 2, 3)) / present
    return rate, dist, x_hat


def clipped_sse(x_hat, x, mask):
    """Squared error of the samples a decoder writes (rounded, uint16) against
    the input, both clipped to reflectance [0, 10000], over present bands."""
    xr = torch.clamp(torch.round(x_hat), 0, 65535)
    d = (torch.clamp(xr, 0, 10000) - torch.clamp(x, 0, 10000)) * mask[:, :, None, None]
    return float((d.double() ** 2).sum())


def psnr(sse, n):
    return 10 * math.log10(1e8 / max(sse / n, 1e-12))


def validate(model, val_set, device):
    model.eval()
    rows = []
    with torch.no_grad():
        for q in validation_anchors(model.hp["qualities"]):
            tot_bits = tot_n = 0.0
            sse = 0.0
            for x, mask, interp in val_set:
                xt = torch.from_numpy(x).to(device)
                mt = torch.from_numpy(mask).to(device)
                qt = torch.full((x.shape[0],), q, dtype=torch.long, device=device)
                rate, _, x_hat = rd_terms(model, xt, mt, qt, noise=False, interp=interp)
                n = mt.sum(1) * x.shape[2] * x.shape[3]
                tot_bits += float((rate * n).sum())
                tot_n += float(n.sum())
                sse += clipped_sse(x_hat, xt, mt)
            rows.append((q, tot_bits / tot_n, psnr(sse, tot_n)))
    model.train()
    return rows


def make_val_set(places, crop=256):
    """Fixed centre crops of every acquisition of the validation places,
    with their interpolated bands."""
    out = []
    for p in places:
        ch, cw = min(crop, p.H) // 16 * 16, min(crop, p.W) // 16 * 16
        y0, x0 = (p.H - ch) // 2, (p.W - cw) // 2
        ts = sorted(set([0, p.T // 2, p.T - 1]))
        x = np.zeros((len(ts), 13, ch, cw), np.float32)
        mask = np.zeros((len(ts), 13), np.float32)
        interp = []
        for i, t in enumerate(ts):
            for c, s in enumerate(p.slots):
                x[i, s] = p.cube[t, c, y0:y0 + ch, x0:x0 + cw]
                mask[i, s] = 1
                if (pr := detect_dense(p.cube[t, c, y0:y0 + ch, x0:x0 + cw])) is not None:
                    interp.append((i, s) + pr)
        out.append((x, mask, interp))
    return out


GROWN = ("skip_", "ctx.")  # parts a resumed model may lack
MAX_SKIPPED = 50  # non-finite batches in a row before training gives up


def load_resume(model, opt, path, device):
    """Weights (and, from a checkpoint of the same model, the optimiser and
    step) to resume from.  A model without the skip transforms or the channel
    context grows them, starting at zero, so it resumes unchanged; the
    optimiser then restarts."""
    if path.endswith(".tecw"):
        from export import load_tecw_into
        load_tecw_into(model, path)
        return 0
    ck = torch.load(path, map_location=device)
    missing, unexpected = model.load_state_dict(ck["model"], strict=False)
    if unexpected or any(not k.startswith(GROWN) for k in missing):
        raise SystemExit(f"{path}: does not fit this model (missing {missing}, unexpected {unexpected})")
    if missing:
        return 0
    if opt is not None and "opt" in ck:
        opt.load_state_dict(ck["opt"])
    return ck.get("step", 0)


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "log.txt"), "a")

    def say(msg):
        line = time.strftime("%H:%M:%S ") + msg
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    train_places = list_places(args.data, "train")
    val_places = list_places(args.data, "val")
    say("train: " + ",".join(p.name for p in train_places))
    say("val: " + ",".join(p.name for p in val_places))
    model = ImageModel(n=args.n, m=args.m, nh=args.nh, nmid=args.nmid, qualities=args.anchors,
                       levels=args.levels, frame_norm=args.frame_norm, skip=args.skip,
                       ctx_groups=args.ctx_groups, ctx_hidden=args.ctx_hidden,
                       ctx_spatial=args.ctx_spatial if args.ctx_groups else 0)
    mean, std = slot_statistics(train_places)
    model.band_mean.copy_(torch.from_numpy(mean))
    model.band_std.copy_(torch.from_numpy(std))
    model.to(args.device)
    grown = [p for k, p in model.named_parameters() if k.startswith(GROWN)]
    other_params = [p for k, p in model.named_parameters() if not k.startswith(GROWN)]
    groups = [{"params": other_params, "lr_mult": 1.0}]
    if grown:
        groups.append({"params": grown, "lr_mult": args.skip_lr_mult})
    opt = torch.optim.Adam(groups, lr=args.lr)
    step = 0
    ckpt = os.path.join(args.out, "ckpt.pt")
    if args.resume:
        step = load_resume(model, opt, args.resume, args.device)
        say(f"resumed from {args.resume} at step {step}")
    elif os.path.exists(ckpt):
        step = load_resume(model, opt, ckpt, args.device)
        say(f"resumed from {ckpt} at step {step}")
    fresh_opt = step == 0
    say(f"params {count_params(model)} hp {model.hp} device {args.device}")
    sampler = CropSampler(train_places, args.crop, args.seed * 1000 + step, args.interp_prob)
    val_set = make_val_set(val_places)
    lambdas = torch.tensor(anchor_lambdas(args.lambda_min, args.lambda_ratio, args.anchors), device=args.device)
    t0 = time.time()
    run_r = run_d = run_l = 0.0
    skipped = 0
    while step < args.steps:
        frac = step / max(args.steps, 1)
        lr = args.lr_final + 0.5 * (args.lr - args.lr_final) * (1 + math.cos(math.pi * frac))
        if fresh_opt and args.warmup > 0:
            # Adam's first steps move every weight by about lr whatever its
            # gradient: ramp up so a resumed model is not knocked back.
            lr *= min(1.0, (step + 1) / args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        x, mask, interp = sampler.sample(args.batch)
        x = torch.from_numpy(x).to(args.device)
        mask = torch.from_numpy(mask).to(args.device)
        q = torch.randint(0, args.anchors, (args.batch,), device=args.device)
        rate, dist, _ = rd_terms(model, x, mask, q, interp=interp)
        lam = lambdas[q]
        if args.spread_lambda > 0:
            # Bounded at 5 anchors either way: a crop of nodata (spread at the
            # floor) would otherwise weigh 2500 times a typical one.
            ratio = (args.spread_lambda / rms_spread(model.frame_stats(x)[1], mask)) ** 2
            lam = lam * ratio.clamp(args.lambda_ratio ** -5, args.lambda_ratio ** 5)
        loss = (rate + lam * dist).mean()
        if not torch.isfinite(loss):
            skipped += 1
            say(f"step {step}: non-finite loss, batch skipped")
            if skipped == MAX_SKIPPED:
                # Every batch failing means the weights themselves are broken:
                # stop rather than draw batches for ever.
                raise SystemExit(f"train: {MAX_SKIPPED} batches in a row gave a non-finite "
                                 f"loss at step {step}; the last checkpoint is {ckpt}")
            continue
        skipped = 0
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        run_r += float(rate.mean())
        run_d += float(dist.mean())
        run_l += float(loss)
        if step % 50 == 0:
            dt = (time.time() - t0) / 50
            t0 = time.time()
            say(f"step {step} loss {run_l/50:.4f} bpppb {run_r/50:.4f} mse {run_d/50:.3e} lr {lr:.2e} {dt:.2f}s/step")
            run_r = run_d = run_l = 0.0
        if step % args.ckpt_every == 0 or step == args.steps:
            tmp = ckpt + ".tmp"
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "hp": model.hp, "args": vars(args)}, tmp)
            os.replace(tmp, ckpt)
        if step % args.val_every == 0 or step == args.steps:
            for q, bpp, db in validate(model, val_set, args.device):
                say(f"val step {step} q {q} bpppb {bpp:.4f} psnr {db:.2f}")
    say("done")


if __name__ == "__main__":
    main()
