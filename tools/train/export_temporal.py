#!/usr/bin/python3
"""Export a TEC-TT checkpoint with its image model as one .tecw.

  /usr/bin/python3 tools/train/export_temporal.py runs/tt/ckpt.pt \\
      --image weights/tec-s2.tecw -o weights/tec-s2-tt.tecw

The image model's tensors are copied bit for bit (streams coded intra decode
the same with either file); the temporal model's integer layers are quantized
to the fixed point of doc/bitstream.md, 4, with the exponential tables of the
attention and the integer log2 gains (doc/model.md, TEC-TT).
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
import tecio  # noqa: E402
from export import quantize_int  # noqa: E402
from tecmodel import HS_ACT_BITS, HS_WEIGHT_BITS  # noqa: E402
from temporal import (TT_HEADS, TT_KEY, TT_VALUE, TT_VERSION, TemporalContext, exp2_table,  # noqa: E402
                      exp_table, log_gain_table, tt_layers)


def tt_tensors(tt, gain):
    sd = {k: v.detach().cpu() for k, v in tt.state_dict().items()}
    out = []
    for name, key in tt_layers(tt.groups, tt.spatial):
        out.append((name + ".weight", quantize_int(sd[key + ".weight"][:, :, 0, 0], HS_WEIGHT_BITS)))
        out.append((name + ".bias", quantize_int(sd[key + ".bias"], HS_WEIGHT_BITS + HS_ACT_BITS)))
    out.append(("tt.pos", quantize_int(sd["pos"], HS_ACT_BITS)))
    out.append(("tt.exp", np.array(exp_table(), np.int32)))
    out.append(("tt.exp2", np.array(exp2_table(), np.int32)))
    out.append(("tt.log_gain", log_gain_table(torch.from_numpy(gain)).numpy().astype(np.int32)))
    return out


def tt_meta(tt):
    return {"tt_version": str(TT_VERSION), "tt_heads": str(TT_HEADS), "tt_key": str(TT_KEY),
            "tt_value": str(TT_VALUE), "tt_hidden": str(tt.hidden)}


def load_tt_into(tt, path):
    """The temporal model of a .tecw back into a TemporalContext (to resume
    training or to compare against libtec)."""
    _, tensors, _ = tecio.read_tecw(path)
    sd = tt.state_dict()
    for name, key in tt_layers(tt.groups, tt.spatial):
        w = tensors[name + ".weight"].astype(np.float64) / (1 << HS_WEIGHT_BITS)
        b = tensors[name + ".bias"].astype(np.float64) / (1 << (HS_WEIGHT_BITS + HS_ACT_BITS))
        sd[key + ".weight"] = torch.from_numpy(w).float()[:, :, None, None]
        sd[key + ".bias"] = torch.from_numpy(b).float()
    sd["pos"] = torch.from_numpy(tensors["tt.pos"].astype(np.float64) / (1 << HS_ACT_BITS)).float()
    tt.load_state_dict(sd)


def export(tt, image_path, path, name, trained):
    meta, tensors, _ = tecio.read_tecw(image_path)
    meta = dict(meta)
    meta.update(tt_meta(tt))
    meta["name"] = name
    if trained:
        meta["tt_trained"] = trained
    items = [(k, v) for k, v in tensors.items() if k != "meta" and not k.startswith("tt.")]
    items += tt_tensors(tt, tensors["gain"])
    return tecio.write_tecw(path, meta, items)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", nargs="?", help="train_temporal.py checkpoint (omit with --random)")
    ap.add_argument("--image", default=os.path.join(HERE, "..", "..", "weights", "tec-s2.tecw"))
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--name", default=None, help="model name written into streams (default: file name)")
    ap.add_argument("--trained", default="", help="free text for the meta key tt_trained")
    ap.add_argument("--random", action="store_true",
                    help="a randomly initialised temporal model (tests: every path non-trivial)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    meta = tecio.read_tecw(args.image)[0]
    m, groups = int(meta["m"]), int(meta.get("ctx_groups", 0))
    if not groups:
        raise SystemExit(f"{args.image}: the temporal model needs an image model with a channel context")
    tt = TemporalContext(m, groups, int(meta["ctx_hidden"]), int(meta.get("ctx_spatial", 0)))
    if args.random:
        torch.manual_seed(args.seed)
        with torch.no_grad():
            for p in tt.parameters():
                p.normal_(0, 0.3 / max(1.0, p.shape[-1] ** 0.5) if p.dim() > 1 else 0.05)
            gs = m // groups
            eye = torch.eye(gs)[:, :, None, None]
            for k in range(groups):
                tt.c_l1[k].weight.mul_(0.2)
                tt.c_lin[k].weight.mul_(0.2)
                # Half-way from the hyperprior's mean to the latest
                # reference, so that on a repeated frame inter blocks win.
                tt.c_lin[k].weight[:gs, :gs] -= 0.5 * eye
                tt.c_lin[k].weight[:gs, 2 * gs:3 * gs] += 0.5 * eye
    elif args.checkpoint:
        ck = torch.load(args.checkpoint, map_location="cpu")
        tt.load_state_dict(ck["tt"])
    else:
        raise SystemExit("give a checkpoint or --random")
    name = args.name or os.path.splitext(os.path.basename(args.output))[0]
    checksum = export(tt, args.image, args.output, name, args.trained)
    print(f"wrote {args.output} (checksum {checksum:016x})")


if __name__ == "__main__":
    main()
