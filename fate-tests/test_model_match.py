#!/usr/bin/python3
"""libtec against the PyTorch model.

A stream written by `tec encode` is decoded a second time by an independent
Python decoder (tools/train/reference.py: pure-Python rANS, exact integer
hyper-synthesis, PyTorch synthesis).  Checks: libtec's decoded samples equal
the PyTorch reconstruction of the same symbols within float tolerance, and
the rANS payload is within 3% of the rate the model's likelihoods estimate.
The encoder is checked too: its latents are the rounding of the PyTorch
analysis (zero padding at the frame's edge, as in training; 0 up to 0.54
from the mean), and on a frame of several blocks its round trip is as good
as the PyTorch model's.
The stream is the default's: a keyframe and inter frames (the temporal model's
entropy parameters are checked symbol for symbol, like the hyperprior's).
TEC_TEST_WEIGHTS=FILE.tecw checks another model instead of the shipped default.
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
from train import clipped_sse, psnr  # noqa: E402

check = Checks("test_model_match")
ZERO_BIAS = 0.04


def main():
    tec = os.environ.get("TEC", os.path.join(ROOT, "tools", "tec"))
    weights = os.environ.get("TEC_TEST_WEIGHTS") or os.path.join(ROOT, "weights", "tec-s2-tt.tecw")
    model_name = os.path.splitext(os.path.basename(weights))[0]
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
                            "--bands", ",".join(meta_fx["bands"]), "--model", model_name,
                            "--dates", ",".join(meta_fx["dates"])], check=True, env=env)
            subprocess.run([tec, "decode", stream, "-o", out], check=True, env=env)
            decoded_c = np.load(out)
            header, packets = tecio.read_tecv(stream)
            seq = reference.parse_seq_header(header["seq_header"])
            check(seq["checksum"] == checksum, "stream names the shipped weights' checksum")
            payload_bits = est_bits = 0.0
            worst = 0
            frac_off = 0.0
            latents_off = 0.0
            refs = reference.Stream()
            for i, pkt in enumerate(packets):
                payload = pkt[2]
                dec = reference.decode_symbols(payload, seq, tensors, hp, refs)
                refs.add(dec, payload)
                # A predicted frame codes the source less the prediction from
                # the frame before (libtec's decode of it, the encoder's own).
                frame, prev = np.load(fixture)[i], decoded_c[i - 1] if i else None
                if dec["prediction"] is not None:
                    frame = np.clip(frame.astype(np.int64) + 32768 -
                                    reference.predict(dec["prediction"], prev), 0, 65535)
                latents_off = max(latents_off, encoder_latents_off(model, tensors, dec, seq,
                                                                   frame.astype(np.uint16)))
                recon = reference.reconstruct(model, dec, seq, tensors, prev)
                diff = np.abs(recon.astype(np.int64) - decoded_c[i].astype(np.int64))
                worst = max(worst, int(diff.max()))
                frac_off = max(frac_off, float((diff > 0).mean()))
                payload_bits += 8 * dec["chunk_bytes"]  # the rANS streams, no side information
                est_bits += reference.estimated_bits(dec, model)
            check(worst <= 1, f"q{quality}: libtec vs PyTorch max |diff| {worst} <= 1")
            check(frac_off < 0.01, f"q{quality}: samples off by one {frac_off:.4f} < 1%")
            check(latents_off < 0.001,
                  f"q{quality}: encoder latents not the (zero-biased) rounding of the PyTorch "
                  f"analysis {latents_off:.5f} < 0.1%")
            ratio = payload_bits / est_bits
            check(abs(ratio - 1) < 0.03, f"q{quality}: rANS bits / model estimate = {ratio:.4f}")
            print(f"q{quality}: max diff {worst}, off-by-one {frac_off:.5f}, "
                  f"payload {payload_bits:.0f} bits vs estimate {est_bits:.0f} ({ratio:.4f})")
        several_blocks(tec, model, env, tmp, meta_fx["bands"], np.load(fixture)[0])
    return check.summary()


def encoder_latents_off(model, tensors, dec, seq, frame):
    """Fraction of latents whose decoded value (symbol + mean) is not within
    half a step of the PyTorch analysis of the same frame and statistics."""
    g, pairs = dec["groups"][0], seq["groups"][0]
    x = torch.zeros(1, 13, frame.shape[1], frame.shape[2])
    mask = torch.zeros(1, 13)
    mean, spread = model.band_mean.clone(), model.band_std.clone()
    for (band, slot), (mu_b, sd_b) in zip(pairs, g["stats"]):
        x[0, slot] = torch.from_numpy(frame[band].astype(np.float32))
        mask[0, slot] = 1
        mean[slot], spread[slot] = float(mu_b), float(sd_b)
    with torch.no_grad():
        xn = model.normalise(x, mask, (mean[None], spread[None]))
        yg = model.analysis(xn, mask)[0] * reference.interp_gain(tensors["gain"], dec["qpos"])[:, None, None]
    coded = torch.from_numpy(g["sym"].astype(np.float32) + g["mu"].astype(np.float32) / 256.0)
    # The encoder codes 0 up to 0.5 + ZERO_BIAS from the mean (frame_codec.c).
    allowed = 0.5 + 1e-3 + ZERO_BIAS * torch.from_numpy((g["sym"] == 0).astype(np.float32))
    return float(((yg - coded).abs() > allowed).float().mean())


def several_blocks(tec, model, env, tmp, bands, frame):
    """A 160 x 160 frame (the fixture mirrored into 3 x 3 tiles: 2 x 2 blocks
    of latents, frame edges on all sides) at the top quality: libtec's round
    trip loses no more than 0.1 dB to the PyTorch model's."""
    row = np.concatenate([frame, frame[:, :, ::-1], frame], axis=2)
    big = np.concatenate([row, row[:, ::-1], row], axis=1)[:, :160, :160].copy()
    src, stream, out = (os.path.join(tmp, n) for n in ("big.npy", "big.tecv", "big_dec.npy"))
    np.save(src, big)
    subprocess.run([tec, "encode", src, "-o", stream, "--quality", "29", "--bands", ",".join(bands)],
                   check=True, env=env)
    subprocess.run([tec, "decode", stream, "-o", out], check=True, env=env)
    x = torch.from_numpy(big.astype(np.float32))[None]
    mask = torch.ones(1, 13)
    with torch.no_grad():
        x_hat = model(x, mask, torch.tensor([7]), noise=False)[0]
    n = big.size
    psnr_lib = psnr(clipped_sse(torch.from_numpy(np.load(out).astype(np.float32))[None], x, mask), n)
    psnr_pt = psnr(clipped_sse(x_hat, x, mask), n)
    check(psnr_lib > psnr_pt - 0.1,
          f"160 x 160 at quality 29: libtec {psnr_lib:.2f} dB vs PyTorch {psnr_pt:.2f} dB")


if __name__ == "__main__":
    sys.exit(main())
