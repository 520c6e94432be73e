#!/usr/bin/python3
"""libtec against the PyTorch model.

A stream written by `tec encode` is decoded a second time by an independent
Python decoder (tools/train/reference.py: pure-Python rANS, exact integer
hyper-synthesis, PyTorch synthesis).  Checks: libtec's decoded samples equal
the PyTorch reconstruction of the same symbols within float tolerance, and
the rANS payload is within 3% of the rate the model's likelihoods estimate.
TEC_TEST_WEIGHTS=FILE.tecw checks another model (named tec-s2.tecw) instead of the shipped one.
"""
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

check = Checks("test_model_match")


def main():
    tec = os.environ.get("TEC", os.path.join(ROOT, "tools", "tec"))
    weights = os.environ.get("TEC_TEST_WEIGHTS") or os.path.join(ROOT, "weights", "tec-s2.tecw")
    fixture = os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy")
    meta_fx = json.load(open(os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.json")))
    torch.set_num_threads(1)
    model, tensors, checksum, hp = reference.load_model(weights)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TEC_WEIGHTS=os.path.dirname(weights))
        for quality in (5, 17, 29):
            stream = os.path.join(tmp, f"q{quality}.tecv")
            out = os.path.join(tmp, f"q{quality}.npy")
            subprocess.run([tec, "encode", fixture, "-o", stream, "--quality", str(quality),
                            "--bands", ",".join(meta_fx["bands"])], check=True, env=env)
            subprocess.run([tec, "decode", stream, "-o", out], check=True, env=env)
            decoded_c = np.load(out)
            header, packets = tecio.read_tecv(stream)
            seq = reference.parse_seq_header(header["seq_header"])
            check(seq["checksum"] == checksum, "stream names the shipped weights' checksum")
            payload_bits = est_bits = 0.0
            worst = 0
            frac_off = 0.0
            for i, pkt in enumerate(packets):
                payload = pkt[2]
                dec = reference.decode_symbols(payload, seq, tensors, hp)
                recon = reference.reconstruct(model, dec, seq, tensors)
                diff = np.abs(recon.astype(np.int64) - decoded_c[i].astype(np.int64))
                worst = max(worst, int(diff.max()))
                frac_off = max(frac_off, float((diff > 0).mean()))
                nchunks = int.from_bytes(payload[4:8], "little")
                nstats = sum(len(g) for g in seq["groups"]) if hp["frame_norm"] else 0
                payload_bits += 8 * (len(payload) - 8 - 4 * nstats - 4 * nchunks)
                est_bits += reference.estimated_bits(dec, model)
            check(worst <= 1, f"q{quality}: libtec vs PyTorch max |diff| {worst} <= 1")
            check(frac_off < 0.01, f"q{quality}: samples off by one {frac_off:.4f} < 1%")
            ratio = payload_bits / est_bits
            check(abs(ratio - 1) < 0.03, f"q{quality}: rANS bits / model estimate = {ratio:.4f}")
            print(f"q{quality}: max diff {worst}, off-by-one {frac_off:.5f}, "
                  f"payload {payload_bits:.0f} bits vs estimate {est_bits:.0f} ({ratio:.4f})")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
