#!/usr/bin/python3
"""Export a trained tec-img model to libtec's .tecw format (doc/model.md).

  /usr/bin/python3 tools/train/export.py runs/s2/ckpt.pt -o weights/tec-s2.tecw
  /usr/bin/python3 tools/train/export.py --random --n 8 --m 16 --nh 8 --nmid 12 -o tiny.tecw

The entropy tables (Gaussian scales and the factorized prior of z) are
quantized here, once, so no decoder ever evaluates erf or the prior network.
"""
import argparse
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
import tecio  # noqa: E402
from tecmodel import (ARCH_NAME, ARCH_VERSION, HS_ACT_BITS, HS_WEIGHT_BITS,  # noqa: E402
                      S2_SLOTS, ImageModel, count_params, macs_per_pixel, scale_table)

PROB_BITS = 16
GAUSS_TAIL_SIGMAS = 7.0
PRIOR_TAIL = 1e-6
PRIOR_MAX_RANGE = 1024



def f16_layers(levels):
    return ([f"a{i}" for i in range(levels)] + [f"s{i}.conv" for i in range(levels)]
            + ["h0", "h1", "h2"])


def gdn_names(levels):
    return [f"gdn{i}" for i in range(levels - 1)] + [f"igdn{i}" for i in range(levels - 1)]


def quantize_pmf(p):
    """Integer frequencies summing to 2^16, each >= 1, close to p (sums to ~1)."""
    total = 1 << PROB_BITS
    p = np.maximum(np.asarray(p, np.float64), 0)
    p = p / p.sum()
    f = np.maximum(1, np.round(p * total)).astype(np.int64)
    diff = total - int(f.sum())
    order = np.argsort(-f, kind="stable")
    i = 0
    while diff != 0:
        j = order[i % len(order)]
        if diff > 0:
            f[j] += diff
            diff = 0
        elif f[j] > 1:
            take = min(f[j] - 1, -diff)
            f[j] -= take
            diff += take
        i += 1
    return f


def cdf_from_freqs(f):
    return np.concatenate([[0], np.cumsum(f)]).astype(np.int64)


def normal_cdf(x):
    return 0.5 * torch.erfc(-x / math.sqrt(2.0))


def gaussian_tables():
    scales = scale_table().double()
    los, ns, offs, cdfs = [], [], [], []
    off = 0
    for s in scales.tolist():
        L = int(math.ceil(GAUSS_TAIL_SIGMAS * s))
        v = torch.arange(-L, L + 1, dtype=torch.float64)
        pmf = normal_cdf((v + 0.5) / s) - normal_cdf((v - 0.5) / s)
        tail = 2.0 * float(normal_cdf(torch.tensor(-(L + 0.5) / s, dtype=torch.float64)))
        f = quantize_pmf(np.concatenate([pmf.numpy(), [max(tail, 1e-12)]]))
        los.append(-L)
        ns.append(2 * L + 1)
        offs.append(off)
        cdf = cdf_from_freqs(f)
        cdfs.append(cdf)
        off += len(cdf)
    sc = scales.numpy()
    thr = np.ceil(np.sqrt(sc[:-1] * sc[1:]) * (1 << HS_ACT_BITS)).astype(np.int32)
    return dict(thresholds=thr, lo=np.array(los, np.int32), n=np.array(ns, np.int32),
                offset=np.array(offs, np.int32), cdf=np.concatenate(cdfs).astype(np.int32))


def prior_tables(prior):
    ch = prior.mats[0].shape[0]
    grid = torch.arange(-PRIOR_MAX_RANGE, PRIOR_MAX_RANGE + 1, dtype=torch.float32)
    with torch.no_grad():
        x = grid[None, None, :].repeat(ch, 1, 1)
        lower = torch.sigmoid(prior.logits_cdf(x - 0.5).double())[:, 0]
        upper = torch.sigmoid(prior.logits_cdf(x + 0.5).double())[:, 0]
    los, ns, offs, cdfs = [], [], [], []
    off = 0
    for c in range(ch):
        up, lo_c = upper[c].numpy(), lower[c].numpy()
        inside = np.nonzero((up >= PRIOR_TAIL) & (lo_c <= 1.0 - PRIOR_TAIL))[0]
        if len(inside) == 0:
            a = b = int(np.argmax(up - lo_c))
        else:
            a, b = int(inside[0]), int(inside[-1])
        pmf = np.maximum(up[a:b + 1] - lo_c[a:b + 1], 0)
        tail = max(float(lo_c[a] + 1.0 - up[b]), 1e-12)
        f = quantize_pmf(np.concatenate([pmf, [tail]]))
        los.append(a - PRIOR_MAX_RANGE)
        ns.append(b - a + 1)
        offs.append(off)
        cdf = cdf_from_freqs(f)
        cdfs.append(cdf)
        off += len(cdf)
    return dict(lo=np.array(los, np.int32), n=np.array(ns, np.int32),
                offset=np.array(offs, np.int32), cdf=np.concatenate(cdfs).astype(np.int32))


def quantize_int(t, bits):
    v = np.round(t.detach().double().numpy() * (1 << bits))
    return np.clip(v, -(2 ** 31 - 1), 2 ** 31 - 1).astype(np.int32)


def dequantize_int(v, bits):
    """The float a quantize_int value stands for."""
    return torch.from_numpy(v.astype(np.float64) / (1 << bits)).float()


def context_layers(model):
    """(name in the .tecw, state-dict key) of the contexts' integer 1x1 layers,
    in file order: the channel context's, then the checkerboard's."""
    out = []
    for k in range(1, model.ctx_groups):
        out += [(f"ctx{k}.l{j}", f"ctx.l{j}.{k - 1}") for j in range(2)]
    for k in range(model.ctx_groups if model.hp.get("ctx_spatial") else 0):
        out += [(f"sp{k}.l{j}", f"ctx.sp_l{j}.{k}") for j in range(2)]
    return out


def load_checkpoint(path):
    """The model of a training checkpoint, and the checkpoint itself."""
    ck = torch.load(path, map_location="cpu")
    model = ImageModel(**ck["hp"])
    model.load_state_dict(ck["model"])
    return model, ck


def load_any(path):
    """A model from a .tecw or a training checkpoint, in eval mode."""
    if path.endswith(".tecw"):
        model = model_from_meta(tecio.read_tecw(path)[0])
        load_tecw_into(model, path)
    else:
        model = load_checkpoint(path)[0]
    return model.eval()


def model_tensors(model):
    """(name, array) pairs of the .tecw in doc/model.md order."""
    out = []
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    for layer in f16_layers(model.levels):
        name = layer.replace(".conv", "")
        out.append((name + ".weight", sd[layer + ".weight"].numpy().astype(np.float16)))
        out.append((name + ".bias", sd[layer + ".bias"].numpy().astype(np.float16)))
    out.append(("a0_mask.weight", sd["a0_mask.weight"].numpy().astype(np.float16)))
    if model.skip:
        for name in ("skip_a", "skip_s"):
            out.append((name + ".weight", sd[name + ".weight"].numpy().astype(np.float16)))
    for name in gdn_names(model.levels):
        beta, gamma = getattr(model, name).params()
        out.append((name + ".beta", beta.detach().cpu().numpy().astype(np.float32)))
        out.append((name + ".gamma", gamma.detach().cpu().numpy().astype(np.float32)))
    for t in ["t0", "t1", "t2"]:
        conv = getattr(model.hs, t)
        out.append((f"hs.{t}.weight", quantize_int(conv.weight.cpu(), HS_WEIGHT_BITS)))
        out.append((f"hs.{t}.bias", quantize_int(conv.bias.cpu(), HS_WEIGHT_BITS + HS_ACT_BITS)))
    for name, key in context_layers(model):
        out.append((name + ".weight", quantize_int(sd[key + ".weight"][:, :, 0, 0], HS_WEIGHT_BITS)))
        out.append((name + ".bias", quantize_int(sd[key + ".bias"], HS_WEIGHT_BITS + HS_ACT_BITS)))
    out.append(("gain", sd["gain"].numpy().astype(np.float32)))
    out.append(("igain", sd["igain"].numpy().astype(np.float32)))
    out.append(("band_mean", sd["band_mean"].numpy().astype(np.float32)))
    out.append(("band_std", sd["band_std"].numpy().astype(np.float32)))
    for k, v in gaussian_tables().items():
        out.append(("gauss." + k, v))
    for k, v in prior_tables(model.prior.cpu()).items():
        out.append(("prior." + k, v))
    for k, v in sd.items():
        if k.startswith("prior."):
            out.append(("train." + k, v.numpy().astype(np.float32)))
    return out


def arch_version(hp):
    """The lowest version with the model's features, so that older builds
    still read what they can decode."""
    version = 4 if hp.get("ctx_spatial") else 3 if hp.get("ctx_groups") else 2 if hp.get("skip") else 1
    assert version <= ARCH_VERSION
    return version


def export(model, path, name, default_quality, trained="", quality_spread=0, lambda_ratio=2.25):
    hp = model.hp
    meta = {
        "arch": ARCH_NAME, "arch_version": str(arch_version(hp)), "name": name,
        "slots": ",".join(S2_SLOTS), "n": str(hp["n"]), "m": str(hp["m"]), "nh": str(hp["nh"]),
        "nmid": str(hp["nmid"]), "qualities": str(hp["qualities"]),
        "levels": str(hp["levels"]), "frame_norm": str(hp["frame_norm"]), "skip": str(hp["skip"]),
        "default_quality": str(default_quality), "trained": trained,
    }
    if hp.get("ctx_groups"):  # absent, not 0, so that older builds read models without it
        meta["ctx_groups"] = str(hp["ctx_groups"])
        meta["ctx_hidden"] = str(hp["ctx_hidden"])
    if hp.get("ctx_spatial"):
        meta["ctx_spatial"] = str(hp["ctx_spatial"])
    if quality_spread:  # encoder-only: each frame's quality follows its spreads
        meta["quality_spread"] = str(int(round(quality_spread)))
        meta["lambda_ratio_milli"] = str(int(round(lambda_ratio * 1000)))
    tecio.write_tecw(path, meta, model_tensors(model))


def model_from_meta(meta):
    return ImageModel(slots=len(meta["slots"].split(",")), n=int(meta["n"]), m=int(meta["m"]),
                      nh=int(meta["nh"]), nmid=int(meta["nmid"]), qualities=int(meta["qualities"]),
                      levels=int(meta.get("levels", 4)), frame_norm=int(meta.get("frame_norm", 0)),
                      skip=int(meta.get("skip", 0)), ctx_groups=int(meta.get("ctx_groups", 0)),
                      ctx_hidden=int(meta.get("ctx_hidden", 0)),
                      ctx_spatial=int(meta.get("ctx_spatial", 0)))


def grow_anchors(g, count):
    """Gain (or inverse gain) vectors of a model with fewer anchors, with
    new anchors added below the lowest, each a step of the lowest two further
    (geometric, per channel): the model's rate knob extended downwards."""
    g = g.astype(np.float32)
    while g.shape[0] < count:
        g = np.concatenate([g[:1] * (g[:1] / g[1:2]), g])
    return g


def load_tecw_into(model, path):
    """Load a shipped .tecw back into a PyTorch model (to resume training or to
    compare against libtec).  f16 weights come back as they are stored."""
    meta, tensors, _ = tecio.read_tecw(path)
    sd = model.state_dict()
    for layer in f16_layers(model.levels):
        name = layer.replace(".conv", "")
        sd[layer + ".weight"] = torch.from_numpy(tensors[name + ".weight"].astype(np.float32))
        sd[layer + ".bias"] = torch.from_numpy(tensors[name + ".bias"].astype(np.float32))
    sd["a0_mask.weight"] = torch.from_numpy(tensors["a0_mask.weight"].astype(np.float32))
    if model.skip and "skip_a.weight" in tensors:  # a model without them resumes with zeros
        for name in ("skip_a", "skip_s"):
            sd[name + ".weight"] = torch.from_numpy(tensors[name + ".weight"].astype(np.float32))
    for name in gdn_names(model.levels):
        sd[name + ".beta_p"] = torch.from_numpy(tensors[name + ".beta"] - np.float32(1e-6))
        sd[name + ".gamma_p"] = torch.from_numpy(tensors[name + ".gamma"].copy())
    for t in ["t0", "t1", "t2"]:
        sd[f"hs.{t}.weight"] = dequantize_int(tensors[f"hs.{t}.weight"], HS_WEIGHT_BITS)
        sd[f"hs.{t}.bias"] = dequantize_int(tensors[f"hs.{t}.bias"], HS_WEIGHT_BITS + HS_ACT_BITS)
    for name, key in context_layers(model):
        if name + ".weight" not in tensors:  # a model without them resumes with zeros
            continue
        sd[key + ".weight"] = dequantize_int(tensors[name + ".weight"], HS_WEIGHT_BITS)[:, :, None, None]
        sd[key + ".bias"] = dequantize_int(tensors[name + ".bias"], HS_WEIGHT_BITS + HS_ACT_BITS)
    for k in ["gain", "igain"]:
        sd[k] = torch.from_numpy(grow_anchors(tensors[k], sd[k].shape[0]))
    for k in ["band_mean", "band_std"]:
        sd[k] = torch.from_numpy(tensors[k].copy())
    for k in list(sd):
        if k.startswith("prior."):
            sd[k] = torch.from_numpy(tensors["train." + k].copy())
    model.load_state_dict(sd)
    return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", nargs="?")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--name", default=None, help="model name written into streams (default: file name)")
    ap.add_argument("--default-quality", type=int, default=17)
    ap.add_argument("--quality-spread", type=float, default=None,
                    help="RMS band spread at which --quality means its anchor (meta quality_spread); "
                         "default: the training's --spread-lambda, else measured on the training "
                         "crops of the checkpoint's split, none for --random; 0: leave it out "
                         "(every frame at one position)")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "..", "shared", "data"),
                    help="training data, for the default --quality-spread")
    ap.add_argument("--random", action="store_true", help="export a randomly initialised model (tests)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--nh", type=int, default=8)
    ap.add_argument("--nmid", type=int, default=12)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--frame-norm", type=int, default=1)
    ap.add_argument("--skip", type=int, default=1)
    ap.add_argument("--ctx-groups", type=int, default=2)
    ap.add_argument("--ctx-hidden", type=int, default=8)
    ap.add_argument("--ctx-spatial", type=int, default=1)
    args = ap.parse_args()
    name = args.name or os.path.splitext(os.path.basename(args.output))[0]
    if args.random:
        torch.manual_seed(args.seed)
        model = ImageModel(n=args.n, m=args.m, nh=args.nh, nmid=args.nmid, levels=args.levels,
                           frame_norm=args.frame_norm, skip=args.skip, ctx_groups=args.ctx_groups,
                           ctx_hidden=args.ctx_hidden,
                           ctx_spatial=args.ctx_spatial if args.ctx_groups else 0)
        if model.skip:  # random, not zero, so that tests exercise them
            torch.nn.init.normal_(model.skip_a.weight, std=0.02)
            torch.nn.init.normal_(model.skip_s.weight, std=0.02)
        last = []
        if model.ctx_groups:
            last = list(model.ctx.l1) + list(model.ctx.sp_l1 if model.hp["ctx_spatial"] else [])
        for conv in last:
            torch.nn.init.normal_(conv.weight, std=0.05)
            torch.nn.init.normal_(conv.bias, std=0.05)
        model.band_mean.fill_(1500.0)
        model.band_std.fill_(1000.0)
        trained = f"random init, seed {args.seed}"
    else:
        if not args.checkpoint:
            ap.error("a checkpoint is needed unless --random")
        model, ck = load_checkpoint(args.checkpoint)
        trained = f"steps {ck.get('step', 0)}"
    train_args = {} if args.random else ck.get("args", {})
    spread = args.quality_spread
    if spread is None and train_args.get("spread_lambda", 0) > 0:
        # Trained with --spread-lambda S: anchor i is lambda_i exactly at
        # spread S, by construction.
        spread = train_args["spread_lambda"]
        print(f"quality_spread {spread:.1f} (the training's --spread-lambda)")
    if spread is None and not args.random:
        from data import list_places, reference_spread
        data = train_args.get("data", "")
        spread = reference_spread(list_places(data if os.path.isdir(data) else args.data, "train"),
                                  train_args.get("crop", 96))
        print(f"quality_spread {spread:.1f} (geometric mean over training crops)")
    model.eval()
    export(model, args.output, name, args.default_quality, trained, spread or 0,
           train_args.get("lambda_ratio", 2.25))
    print(f"wrote {args.output} ({os.path.getsize(args.output)} bytes, model '{name}', {trained})")
    macs = macs_per_pixel(model.hp)
    print(f"parameters {count_params(model)}; MACs per pixel: encode {macs['analysis']:.0f} + "
          f"{macs['hyper_analysis']:.0f} float, {macs['hyper_synthesis']:.0f} integer; "
          f"decode {macs['synthesis']:.0f} float, {macs['hyper_synthesis']:.0f} integer")


if __name__ == "__main__":
    main()
