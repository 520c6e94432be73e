#!/usr/bin/python3
"""Train TEC-TT, the temporal entropy model, on Sentinel-2 time series.

The image model (weights/tec-s2.tecw) stays frozen: its transforms and
hyperprior code every frame as before, and only the entropy model of inter
frames learns, so the loss is the rate alone (bits of the current frame's
latents given its hyperprior and up to --max-refs earlier frames).  Whole
places are held out (split.json); sub-sequences, strides, reversed order,
crops, flips, band subsets and quality positions are drawn at random.

  /usr/bin/python3 tools/train/train_temporal.py --out runs/tt --steps 6000

Checkpoints go to OUT/ckpt.pt; a rerun resumes from it, --resume from a
shipped .tecw that holds tt.* tensors.
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
from data import Place, load_split  # noqa: E402
from export import load_any  # noqa: E402
from tecmodel import S2_SLOTS, gaussian_likelihood, round_ste  # noqa: E402
from temporal import (TT_MAX_REFS, TT_TAU, TemporalContext, convert_reference, exp2_table,  # noqa: E402
                      log_gain_at, log_gain_table, parse_date, position_gain, time_features)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "shared", "data"))
    ap.add_argument("--image-model", default=os.path.join(HERE, "..", "..", "weights", "tec-s2.tecw"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--max-refs", type=int, default=TT_MAX_REFS)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-final", type=float, default=5e-5)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", default=None, help="a checkpoint .pt or a .tecw with tt.* tensors")
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--val-every", type=int, default=500)
    return ap.parse_args()


def series_places(data_dir, which):
    """Places with at least two acquisitions, of the training or the
    validation split."""
    val = set(load_split()["val"])
    names = sorted(d for d in os.listdir(data_dir) if os.path.isfile(os.path.join(data_dir, d, "cube.npz")))
    names = [n for n in names if (n in val) == (which == "val")]
    places = [Place(os.path.join(data_dir, n)) for n in names]
    out = []
    for p in places:
        if p.T < 2:
            continue
        dates = p.meta.get("dates") or []
        p.days = [parse_date(d) for d in dates] if len(dates) == p.T else [(None, None)] * p.T
        out.append(p)
    return out


def gap_and_doy(p, cur, ref):
    (dc, doy), (dr, _) = p.days[cur], p.days[ref]
    gap = abs(dc - dr) if dc is not None and dr is not None else None
    return gap, doy


class SeriesSampler:
    """Training examples: a current frame and 1..max_refs references before
    it in coding order, from one place, one crop, one band subset."""

    def __init__(self, places, crop, max_refs, seed):
        self.places, self.crop, self.max_refs = places, crop, max_refs
        self.rng = np.random.default_rng(seed)
        # By the frames that have a frame before them, with less than their
        # share for the long series and the area: the 16 OSCD pairs would
        # otherwise make 3/4 of the batches.
        w = np.array([(p.T - 1) ** 0.75 * math.sqrt(p.H * p.W) for p in places])
        self.weights = w / w.sum()

    def frames(self, p):
        k = int(self.rng.integers(1, min(self.max_refs, p.T - 1) + 1))
        stride = int(self.rng.integers(1, max(1, min(3, (p.T - 1) // k)) + 1))
        span = k * stride
        start = int(self.rng.integers(0, p.T - span))
        idx = list(range(start, start + span + 1, stride))
        if self.rng.random() < 0.25:
            idx = idx[::-1]      # the same place run backwards: seasons both ways
        cur, refs = idx[-1], idx[-2::-1]   # refs latest first
        return cur, refs

    def sample(self, batch):
        n = len(S2_SLOTS)
        c = self.crop
        x = np.zeros((batch, 1 + self.max_refs, n, c, c), np.float32)
        mask = np.zeros((batch, n), np.float32)
        valid = np.zeros((batch, self.max_refs), np.float32)
        times = []
        for b in range(batch):
            p = self.places[self.rng.choice(len(self.places), p=self.weights)]
            cur, refs = self.frames(p)
            ch, cw = min(c, p.H), min(c, p.W)
            y0 = int(self.rng.integers(p.H - ch + 1))
            x0 = int(self.rng.integers(p.W - cw + 1))
            flip = self.rng.random() < 0.5
            rot = int(self.rng.integers(4))
            r = self.rng.random()
            keep = list(range(p.C))
            if r > 0.7:
                k = int(self.rng.integers(max(1, p.C // 2), p.C + 1))
                keep = sorted(self.rng.choice(p.C, size=k, replace=False).tolist())
            drop_dates = self.rng.random() < 0.15
            for j, t in enumerate([cur] + refs):
                img = p.cube[t][:, y0:y0 + ch, x0:x0 + cw].astype(np.float32)
                if ch < c or cw < c:
                    img = np.pad(img, ((0, 0), (0, c - ch), (0, c - cw)), mode="reflect")
                if flip:
                    img = img[:, :, ::-1]
                img = np.rot90(img, k=rot, axes=(1, 2))
                for ci in keep:
                    x[b, j, p.slots[ci]] = img[ci]
            for ci in keep:
                mask[b, p.slots[ci]] = 1
            valid[b, :len(refs)] = 1
            gd = [gap_and_doy(p, cur, rf) for rf in refs]
            if drop_dates:
                gd = [(None, None)] * len(refs)
            times.append(gd)
        return x, mask, valid, times


class Trainer:
    def __init__(self, image, tt, max_refs):
        self.image, self.tt, self.max_refs = image, tt, max_refs
        self.q = image.hp["qualities"]
        self.exp2 = torch.tensor(exp2_table())
        self.lg = log_gain_table(image.gain.detach())

    def latents(self, x, mask, pos):
        """Gained latents (B, M, h, w) of frames x (B, S, H, W) at the
        positions pos (list of ints)."""
        im = self.image
        with torch.no_grad():
            stats = im.frame_stats(x)
            y = im.analysis(im.normalise(x, mask, stats), mask)
            g = torch.stack([position_gain(im.gain, p) for p in pos])
            return y * g[:, :, None, None]

    def batch_terms(self, x, mask, valid, times, pos_cur, pos_refs, noise, with_intra=True):
        """Bits of the current frames' latents, inter and intra, and the
        number of present samples."""
        im = self.image
        b, f = x.shape[:2]
        x_t = torch.from_numpy(x)
        mask_t = torch.from_numpy(mask)
        # One pass of the analysis over every present frame of the batch.
        which = [(i, 0) for i in range(b)] + [(i, 1 + j) for i in range(b) for j in range(self.max_refs)
                                              if valid[i, j]]
        pos = [pos_cur[i] if f == 0 else pos_refs[i][f - 1] for i, f in which]
        sel = torch.stack([x_t[i, f] for i, f in which])
        ygs = self.latents(sel, mask_t[[i for i, _ in which]], pos)
        yg = ygs[:b]
        refs = torch.zeros((b, self.max_refs) + yg.shape[1:])
        if len(which) > b:
            # Training's float stand-in for convert_reference (the exact
            # integer conversion differs by at most one Q8 step).
            ii = [i for i, _ in which[b:]]
            jj = [f - 1 for _, f in which[b:]]
            # y times the current frame's gain instead of the reference's
            # (gain x igain is not 1: 0.2-2.4 per channel in tec-s2).
            d = torch.stack([log_gain_at(self.lg, pos_cur[i]) - log_gain_at(self.lg, pos_refs[i][j])
                             for i, j in zip(ii, jj)]).float()
            factor = torch.pow(2.0, d / 65536.0)[:, :, None, None]
            refs[ii, jj] = torch.round(torch.round(ygs[b:]) * factor * 256) / 256
        tau = torch.zeros(b, self.max_refs, TT_TAU)
        for i in range(b):
            for j, (gap, doy) in enumerate(times[i]):
                tau[i, j] = torch.tensor(time_features(gap, doy, pos_cur[i], pos_refs[i][j], j)) / 256.0
        with torch.no_grad():
            z = round_ste(im.hyper_analysis(yg))
            mu, scale = im.hs(z)
            mu = mu[:, :, : yg.shape[2], : yg.shape[3]]
            scale = scale[:, :, : yg.shape[2], : yg.shape[3]]
        mu_t, sc_t, _ = self.tt(yg, mu, scale, refs, torch.from_numpy(valid), tau)
        centred = yg - mu_t
        v = centred + torch.empty_like(centred).uniform_(-0.5, 0.5) if noise else torch.round(centred)
        inter = -torch.log2(gaussian_likelihood(v, sc_t)).sum((1, 2, 3))
        intra = None
        if with_intra:
            with torch.no_grad():
                mu_i, sc_i, _ = im.ctx(yg, mu, scale)
                v = v - centred + (yg - mu_i) if noise else torch.round(yg - mu_i)
                intra = -torch.log2(gaussian_likelihood(v, sc_i)).sum((1, 2, 3))
        present = mask_t.sum(1) * x.shape[3] * x.shape[4]
        return inter, intra, present


def random_positions(rng, b, max_refs, q):
    top = (q - 1) * 256
    cur = [int(rng.integers(0, top + 1)) for _ in range(b)]
    refs = [[int(np.clip(c + rng.integers(-512, 513), 0, top)) for _ in range(max_refs)] for c in cur]
    return cur, refs


def make_val(places, max_refs, crop=128):
    """Fixed examples of every validation series: each frame after the first
    with the (up to) two frames before it, centre crop."""
    out = []
    for p in places:
        ch, cw = min(crop, p.H) // 16 * 16, min(crop, p.W) // 16 * 16
        y0, x0 = (p.H - ch) // 2, (p.W - cw) // 2
        step = max(1, (p.T - 1) // 6)
        for cur in range(1, p.T, step):
            refs = list(range(cur - 1, max(cur - 1 - min(2, max_refs), -1), -1))
            x = np.zeros((1, 1 + max_refs, len(S2_SLOTS), ch, cw), np.float32)
            mask = np.zeros((1, len(S2_SLOTS)), np.float32)
            for j, t in enumerate([cur] + refs):
                for ci, s in enumerate(p.slots):
                    x[0, j, s] = p.cube[t, ci, y0:y0 + ch, x0:x0 + cw]
            for s in p.slots:
                mask[0, s] = 1
            valid = np.zeros((1, max_refs), np.float32)
            valid[0, :len(refs)] = 1
            out.append((p.name, x, mask, valid, [[gap_and_doy(p, cur, r) for r in refs]]))
    return out


def validate(trainer, val, q):
    trainer.tt.eval()
    per = {}
    with torch.no_grad():
        for pos in sorted({0, (q - 1) * 128, (q - 1) * 256}):
            for name, x, mask, valid, times in val:
                inter, intra, _ = trainer.batch_terms(x, mask, valid, times, [pos],
                                                      [[pos] * trainer.max_refs], noise=False)
                a = per.setdefault(name, [0.0, 0.0])
                a[0] += float(inter.sum())
                a[1] += float(intra.sum())
    trainer.tt.train()
    return {k: (v[0] / v[1] - 1) * 100 for k, v in per.items()}


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "log.txt"), "a")

    def say(msg):
        line = time.strftime("%H:%M:%S ") + msg
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    image = load_any(args.image_model)
    for prm in image.parameters():
        prm.requires_grad_(False)
    hp = image.hp
    tt = TemporalContext(hp["m"], hp["ctx_groups"], hp["ctx_hidden"], hp["ctx_spatial"])
    tt.init_from_image(image.ctx)
    # What starts as the image model's context learns slower than what is new.
    copied = {id(p) for k in range(1, tt.groups) for p in (*tt.c_l1[k].parameters(),)}
    copied |= {id(p) for p in (tt.sp_l0.parameters() if tt.spatial else [])}
    copied |= {id(p) for p in (tt.sp_l1.parameters() if tt.spatial else [])}
    linear = {id(p) for p in tt.c_lin.parameters()}
    groups = [{"params": [p for p in tt.parameters() if id(p) not in copied | linear], "lr_mult": 1.0},
              {"params": [p for p in tt.parameters() if id(p) in linear], "lr_mult": 2.0},
              {"params": [p for p in tt.parameters() if id(p) in copied], "lr_mult": 0.25}]
    opt = torch.optim.Adam(groups, lr=args.lr)
    step = 0
    ckpt = os.path.join(args.out, "ckpt.pt")
    src = args.resume or (ckpt if os.path.exists(ckpt) else None)
    if src and src.endswith(".tecw"):
        from export_temporal import load_tt_into
        load_tt_into(tt, src)
        say(f"resumed weights from {src}")
    elif src:
        ck = torch.load(src, map_location="cpu")
        tt.load_state_dict(ck["tt"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        say(f"resumed from {src} at step {step}")
    fresh = step == 0
    train_places = series_places(args.data, "train")
    val_places = series_places(args.data, "val")
    say("train: " + ",".join(p.name for p in train_places))
    say("val: " + ",".join(p.name for p in val_places))
    say(f"tt params {sum(p.numel() for p in tt.parameters())}")
    sampler = SeriesSampler(train_places, args.crop, args.max_refs, args.seed * 1000 + step)
    rng = np.random.default_rng(args.seed * 7 + step)
    trainer = Trainer(image, tt, args.max_refs)
    val = make_val(val_places, args.max_refs)
    t0 = time.time()
    run = [0.0, 0.0]
    while step < args.steps:
        frac = step / max(args.steps, 1)
        lr = args.lr_final + 0.5 * (args.lr - args.lr_final) * (1 + math.cos(math.pi * frac))
        if fresh:
            lr *= min(1.0, (step + 1) / args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_mult"]
        x, mask, valid, times = sampler.sample(args.batch)
        pos_cur, pos_refs = random_positions(rng, args.batch, args.max_refs, trainer.q)
        logged = (step + 1) % 5 == 0
        inter, intra, present = trainer.batch_terms(x, mask, valid, times, pos_cur, pos_refs,
                                                    noise=True, with_intra=logged)
        loss = (inter / present).mean()
        if not torch.isfinite(loss):
            say(f"step {step}: non-finite loss, batch skipped")
            continue
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tt.parameters(), 5.0)
        opt.step()
        step += 1
        if logged:
            run[0] += float(inter.sum())
            run[1] += float(intra.sum())
        if step % 25 == 0:
            dt = (time.time() - t0) / 25
            t0 = time.time()
            say(f"step {step} loss {float(loss):.4f} inter/intra {run[0] / max(run[1], 1):.4f} "
                f"lr {lr:.2e} {dt:.2f}s/step")
            run = [0.0, 0.0]
        if step % args.ckpt_every == 0 or step == args.steps:
            tmp = ckpt + ".tmp"
            torch.save({"tt": tt.state_dict(), "opt": opt.state_dict(), "step": step,
                        "hp": dict(m=hp["m"], groups=hp["ctx_groups"], hidden=hp["ctx_hidden"],
                                   spatial=hp["ctx_spatial"]), "args": vars(args)}, tmp)
            os.replace(tmp, ckpt)
        if step % args.val_every == 0 or step == args.steps:
            res = validate(trainer, val, trainer.q)
            say(f"val step {step} inter vs intra bits %: " +
                " ".join(f"{k} {v:+.2f}" for k, v in sorted(res.items())) +
                f" mean {np.mean(list(res.values())):+.2f}")
    say("done")


if __name__ == "__main__":
    main()
