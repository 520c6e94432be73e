#!/usr/bin/python3
"""The committed format test vectors (fate-tests/vectors/README.md) still
parse and decode, in libtec and in the independent Python decoder."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
sys.path.insert(0, os.path.join(ROOT, "fate-tests", "lib"))
import reference  # noqa: E402
from checks import Checks  # noqa: E402
import tecio  # noqa: E402

VEC = os.path.join(ROOT, "fate-tests", "vectors")
TEC = os.environ.get("TEC", os.path.join(ROOT, "tools", "tec"))
BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]

check = Checks("test_vectors")


def decode(path, out):
    r = subprocess.run([TEC, "decode", path, "-o", out, "--weights-dir", VEC],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"tec decode {os.path.basename(path)}: {r.stderr.strip()}")
    return np.load(out) if r.returncode == 0 else None


def context_vector(tmp, name, model_name, sizes, key, off):
    """A vector coded with a context model: libtec and the Python decoder
    agree, and decoding with the context switched off (hp[key] = off) gives
    other entropy parameters, so the context is not a no-op."""
    path = os.path.join(VEC, name + ".tecv")
    hdr, packets = tecio.read_tecv(path)
    check([len(p[2]) for p in packets] == sizes, f"{name}.tecv packet sizes")
    seq = reference.parse_seq_header(hdr["seq_header"])
    model, tensors, checksum, hp = reference.load_model(os.path.join(VEC, model_name + ".tecw"))
    check(seq["model"] == model_name and seq["checksum"] == checksum, f"{name} model and checksum")
    check(hp["ctx_groups"] == 4, f"{name} model has 4 slices")
    out = decode(path, os.path.join(tmp, name + ".npy"))
    for i, (_, _, payload) in enumerate(packets):
        dec = reference.decode_symbols(payload, seq, tensors, hp)
        ref = reference.reconstruct(model, dec, seq, tensors)
        if out is not None:
            diff = np.abs(ref.astype(np.int64) - out[i].astype(np.int64))
            check(int(diff.max()) <= 1 and float((diff > 0).mean()) < 0.01,
                  f"{name} frame {i}: libtec and the Python decoder agree (max {int(diff.max())})")
        try:
            plain = reference.decode_symbols(payload, seq, tensors, dict(hp, **{key: off}))
            same = all(np.array_equal(a["raw_scale"], b["raw_scale"])
                       for a, b in zip(plain["groups"], dec["groups"]))
        except ValueError:
            same = False
        check(not same, f"{name} frame {i}: the context ({key}) changes the entropy parameters")


def main():
    fixture = np.load(os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy"))
    with tempfile.TemporaryDirectory() as tmp:
        # raw.tecv: every header field and every sample.
        hdr, packets = tecio.read_tecv(os.path.join(VEC, "raw.tecv"))
        check((hdr["codec"], hdr["bands"], hdr["width"], hdr["height"], hdr["frame_count"])
              == (0, 13, 16, 16, 2), "raw.tecv geometry")
        meta = hdr["meta"]
        check(meta.get("bands") == ",".join(BANDS), "raw.tecv band names")
        check(meta.get("dates") == "2017-06-20,2017-07-10", "raw.tecv dates")
        check(meta.get("crs") == "EPSG:32633" and meta.get("nodata") == "0", "raw.tecv crs, nodata")
        check(meta.get("geotransform", "").replace(" ", "").startswith("395760"), "raw.tecv geotransform")
        check(meta.get("attribution", "").startswith("Contains modified Copernicus"), "unknown key kept")
        check([p[0] for p in packets] == [1497916800000, 1499644800000], "raw.tecv acquisition times")
        raw = decode(os.path.join(VEC, "raw.tecv"), os.path.join(tmp, "raw.npy"))
        check(raw is not None and np.array_equal(raw, fixture[:2, :, 8:24, 4:20]), "raw.tecv samples")

        # tec.tecv: parse, libtec decode, Python decode, agreement.
        hdr, packets = tecio.read_tecv(os.path.join(VEC, "tec.tecv"))
        check([len(p[2]) for p in packets] == [511, 491], "tec.tecv packet sizes")
        seq = reference.parse_seq_header(hdr["seq_header"])
        torch.set_num_threads(1)
        model, tensors, checksum, hp = reference.load_model(os.path.join(VEC, "vector-tiny.tecw"))
        check(seq["model"] == "vector-tiny" and seq["checksum"] == checksum, "model name and checksum")
        check((seq["width"], seq["height"], seq["bands"]) == (56, 40, 13), "tec.tecv geometry")
        info = subprocess.run([TEC, "info", os.path.join(VEC, "tec.tecv"), "--json"],
                              capture_output=True, text=True)
        check(info.returncode == 0 and json.loads(info.stdout)["frames"] == 2, "tec info --json")
        out = decode(os.path.join(VEC, "tec.tecv"), os.path.join(tmp, "tec.npy"))
        for i, (_, _, payload) in enumerate(packets):
            ref = reference.reconstruct(model, reference.decode_symbols(payload, seq, tensors, hp),
                                        seq, tensors)
            if out is not None:
                diff = np.abs(ref.astype(np.int64) - out[i].astype(np.int64))
                check(int(diff.max()) <= 1 and float((diff > 0).mean()) < 0.01,
                      f"frame {i}: libtec and the Python decoder agree (max {int(diff.max())})")

        # ctx.tecv: a model with the channel context (tec-img version 3);
        # sp.tecv: with the checkerboard context on top (version 4).
        context_vector(tmp, "ctx", "vector-ctx", [1032, 1034], "ctx_groups", 0)
        context_vector(tmp, "sp", "vector-sp", [1101, 1129], "ctx_spatial", 0)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
