#!/usr/bin/python3
"""Training pipeline smoke test: a few steps of a tiny model on a data folder
made from the bundled fixture, a checkpoint resume, a resume from an exported
.tecw, and a libtec round trip with the exported weights.  Also the
resampling augmentation (data.interpolate_replicated) on known bands, and
the temporal model (TEC-TT): train_temporal.py on a tiny image model,
export_temporal.py, inter frames through libtec and the Python decoder."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
TRAIN = os.path.join(ROOT, "tools", "train", "train.py")
EXPORT = os.path.join(ROOT, "tools", "train", "export.py")
TRAIN_TT = os.path.join(ROOT, "tools", "train", "train_temporal.py")
EXPORT_TT = os.path.join(ROOT, "tools", "train", "export_temporal.py")
# A tiny image model with the channel and checkerboard contexts the
# temporal model starts from (fate-tests/vectors/README.md).
TT_IMAGE = os.path.join(ROOT, "fate-tests", "vectors", "vector-sp.tecw")
TEC = os.environ.get("TEC", os.path.join(ROOT, "tools", "tec"))
TINY = ["--n", "8", "--m", "16", "--nh", "8", "--nmid", "12"]

sys.path.insert(0, os.path.join(ROOT, "fate-tests", "lib"))
from checks import Checks  # noqa: E402

check = Checks("test_train_smoke")
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
from data import interpolate_replicated  # noqa: E402
from interpolation import detect_dense  # noqa: E402
from train import project_interpolated  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "tools"))
import tecio  # noqa: E402


def check_interpolation():
    """A plane, replicated in 2 x 2 and 6 x 6 blocks, comes back as the plane
    through the block centres (exact away from the outer half blocks); a
    band without replicated lines comes back unchanged."""
    yy, xx = np.mgrid[0:48, 0:48].astype(np.float64)
    for f in (2, 6):
        coarse = 1000 + 30 * np.arange(48 // f)[:, None] + 12 * np.arange(48 // f)[None, :]
        band = np.repeat(np.repeat(coarse, f, 0), f, 1).astype(np.uint16)
        out = interpolate_replicated(band)
        plane = 1000 + 30 * (yy - (f - 1) / 2) / f + 12 * (xx - (f - 1) / 2) / f
        inner = slice(f // 2, 48 - f // 2)
        err = np.abs(out[inner, inner].astype(np.float64) - plane[inner, inner]).max()
        check(out.dtype == np.uint16 and err <= 0.5, f"{f}x{f} blocks resampled bilinearly (max error {err:.2f})")
        check(out[0, 0] == band[0, 0] and out[-1, -1] == band[-1, -1], f"{f}x{f}: held constant at the corners")
    cube = np.load(os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy"))
    check(np.array_equal(interpolate_replicated(cube[0, 1]), cube[0, 1]), "10 m band (B02) unchanged")
    b05 = interpolate_replicated(cube[0, 4])
    check(not np.array_equal(b05, cube[0, 4]) and abs(float(b05.mean()) - float(cube[0, 4].mean())) < 20,
          "20 m band (B05) resampled, mean kept")
    # Training finds the resampled band as the encoder would, and its
    # projection keeps the band but removes most of added noise.
    pr = detect_dense(b05)
    check(pr is not None and detect_dense(cube[0, 4]) is None and detect_dense(cube[0, 1]) is None,
          "the resampled band (only) is found as interpolated")
    if pr is not None:
        noise = np.random.default_rng(1).uniform(-100, 100, b05.shape)
        x = torch.from_numpy(np.stack([b05, b05 + noise]).astype(np.float32))[None]
        xp = project_interpolated(x, [(0, 0) + pr, (0, 1) + pr])[0].double().numpy()
        kept = np.abs(xp[0] - b05).max()
        left = ((xp[1] - b05) ** 2).mean() / (noise ** 2).mean()
        check(kept < 1 and left < 0.4, f"projection keeps the band (max {kept:.2f}), removes noise (left {left:.2f})")


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        print("$", " ".join(cmd), "\n", r.stdout[-2000:], r.stderr[-2000:])
    return r


def make_data(root):
    """Two places from the fixture: one to train on, one named like a
    validation place of tools/train/split.json."""
    cube = np.load(os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy"))
    meta = json.load(open(os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.json")))
    for name, frames in (("smoke_train", cube[:3]), ("s2dwater_liri", cube[3:])):
        os.makedirs(os.path.join(root, name))
        np.savez(os.path.join(root, name, "cube.npz"), cube=frames)
        with open(os.path.join(root, name, "meta.json"), "w") as f:
            json.dump({"band_names": meta["bands"], "radiometric_offset_1000": False}, f)


def make_series_data(root):
    """Series with dates for the temporal model: frames 0-2 of the fixture
    to train on, frames 2-3 as the held-out place."""
    cube = np.load(os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy"))
    meta = json.load(open(os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.json")))
    for name, sel in (("smoke_train", [0, 1, 2]), ("s2dwater_liri", [2, 3])):
        os.makedirs(os.path.join(root, name))
        np.savez(os.path.join(root, name, "cube.npz"), cube=cube[sel])
        with open(os.path.join(root, name, "meta.json"), "w") as f:
            json.dump({"band_names": meta["bands"], "dates": [meta["dates"][i] for i in sel],
                       "radiometric_offset_1000": False}, f)


def check_temporal(tmp):
    """2 steps of train_temporal.py on vector-sp.tecw, a resume from the
    exported .tecw, export_temporal.py, and a series coded with inter frames
    by libtec that decodes to the encoder's reconstruction and agrees with
    the Python decoder; the exported file's image model is vector-sp's, bit
    for bit (intra frames code the same)."""
    data, out = os.path.join(tmp, "tt-data"), os.path.join(tmp, "tt-run")
    make_series_data(data)
    base = [PY, TRAIN_TT, "--data", data, "--image-model", TT_IMAGE, "--batch", "2", "--crop", "32",
            "--threads", "1", "--val-every", "1000"]
    r = run(base + ["--out", out, "--steps", "2"])
    ck = os.path.join(out, "ckpt.pt")
    done = torch.load(ck)["step"] if r.returncode == 0 and os.path.exists(ck) else -1
    check(done == 2, "temporal: 2 training steps (step %d)" % done)
    log = open(os.path.join(out, "log.txt")).read() if os.path.exists(os.path.join(out, "log.txt")) else ""
    check("val step 2 inter vs intra bits %: s2dwater_liri" in log,
          "temporal: validation ran on the held-out place")
    wdir = os.path.join(tmp, "tt-weights")
    os.makedirs(wdir)
    weights = os.path.join(wdir, "smoke-tt.tecw")
    r = run([PY, EXPORT_TT, ck, "--image", TT_IMAGE, "-o", weights, "--trained", "smoke test"])
    check(r.returncode == 0 and os.path.exists(weights), "temporal: export_temporal.py")
    if not os.path.exists(weights):
        return
    meta, tensors, _ = tecio.read_tecw(weights)
    img_meta, img_tensors, _ = tecio.read_tecw(TT_IMAGE)
    check(meta.get("tt_version") and meta.get("tt_trained") == "smoke test" and meta["name"] == "smoke-tt",
          "temporal: export meta (tt_version %s)" % meta.get("tt_version"))
    check(all(k in tensors and np.array_equal(tensors[k], v) for k, v in img_tensors.items() if k != "meta")
          and any(k.startswith("tt.") for k in tensors), "temporal: the image model copied bit for bit")
    r = run(base + ["--out", os.path.join(tmp, "tt-run2"), "--steps", "1", "--resume", weights])
    check(r.returncode == 0 and "resumed weights from" in r.stdout, "temporal: resume from the exported .tecw")

    series = os.path.join(tmp, "tt-series.npy")
    cube = np.load(os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy"))
    np.save(series, cube[[0, 0, 1, 2, 3]])
    dates = "2017-06-20,2017-06-30,2017-07-10,2017-10-15,2017-12-24"
    stream, recon, back = (os.path.join(tmp, n) for n in ("tt.tecv", "tt.rec.npy", "tt.npy"))
    r = run([TEC, "encode", series, "-o", stream, "--model", "smoke-tt", "--weights-dir", wdir,
             "-g", "5", "--dates", dates, "-t", "1", "--recon", recon])
    check(r.returncode == 0, "temporal: libtec encodes with the exported model")
    r = run([TEC, "info", "--json", stream]) if r.returncode == 0 else r
    types = [f.get("type") for f in json.loads(r.stdout)["frame_list"]] if r.returncode == 0 else []
    check(len(types) == 5 and types[0] == "intra" and "inter" in types,
          "temporal: inter frames in the stream (%s)" % ",".join(map(str, types)))
    r = run([TEC, "decode", stream, "-o", back, "--weights-dir", wdir])
    check(r.returncode == 0 and np.array_equal(np.load(back), np.load(recon)),
          "temporal: decodes to the encoder's reconstruction")
    if r.returncode:
        return
    # The independent Python decoder reads the exported model's inter frames.
    import reference
    hdr, packets = tecio.read_tecv(stream)
    seq = reference.parse_seq_header(hdr["seq_header"])
    model, tt_tensors, _, hp = reference.load_model(weights)
    out, st, worst = np.load(back), reference.Stream(), 0
    for i, (_, _, payload) in enumerate(packets):
        dec = reference.decode_symbols(payload, seq, tt_tensors, hp, st)
        st.add(dec, payload)
        ref = reference.reconstruct(model, dec, seq, tt_tensors)
        worst = max(worst, int(np.abs(ref.astype(np.int64) - out[i]).max()))
    check(worst <= 1, "temporal: libtec and the Python decoder agree (max %d)" % worst)


def main():
    check_interpolation()
    with tempfile.TemporaryDirectory() as tmp:
        check_temporal(tmp)
        data, out = os.path.join(tmp, "data"), os.path.join(tmp, "run")
        make_data(data)
        base = [PY, TRAIN, "--data", data, "--out", out, "--batch", "2", "--crop", "64",
                "--threads", "1", "--ckpt-every", "2", "--val-every", "3", "--interp-prob", "0.5"] + TINY
        r = run(base + ["--steps", "3"])
        check(r.returncode == 0, "3 training steps")
        log = open(os.path.join(out, "log.txt")).read()
        check("val step 3 q 10" in log, "validation ran on the held-out place (top anchor)")
        check("s2dwater_liri" in log.split("val:")[1].splitlines()[0], "held-out place listed as val")
        r = run(base + ["--steps", "5"])
        check(r.returncode == 0 and "resumed from" in r.stdout and "at step 3" in r.stdout,
              "resume from the checkpoint")

        weights = os.path.join(tmp, "smoke.tecw")
        r = run([PY, EXPORT, os.path.join(out, "ckpt.pt"), "-o", weights])
        check(r.returncode == 0 and os.path.getsize(weights) > 0, "export")
        meta = tecio.read_tecw(weights)[0] if r.returncode == 0 else {}
        # The per-frame quality calibration, measured on the training crops.
        check(int(meta.get("quality_spread", 0)) > 8 and meta.get("lambda_ratio_milli") == "2250",
              "export writes quality_spread (%s) and lambda_ratio_milli" % meta.get("quality_spread"))
        r = run(base[:4] + ["--out", os.path.join(tmp, "run2"), "--resume", weights,
                            "--steps", "1", "--batch", "2", "--crop", "64", "--threads", "1"] + TINY)
        check(r.returncode == 0 and "resumed from" in r.stdout, "resume from an exported .tecw")
        r = run(base[:4] + ["--out", os.path.join(tmp, "run3"), "--resume", weights,
                            "--steps", "2", "--batch", "2", "--crop", "64", "--threads", "1",
                            "--spread-lambda", "321"] + TINY)
        ck3 = os.path.join(tmp, "run3", "ckpt.pt")
        done = torch.load(ck3)["step"] if r.returncode == 0 and os.path.exists(ck3) else -1
        check(done == 2, "2 steps with the per-crop lambda (--spread-lambda): step %d" % done)
        # Its anchors hold at spread 321 by construction: the export says so.
        w3 = os.path.join(tmp, "run3.tecw")
        r = run([PY, EXPORT, ck3, "-o", w3]) if done == 2 else None
        spread3 = tecio.read_tecw(w3)[0].get("quality_spread") if r and r.returncode == 0 else None
        check(spread3 == "321", "export of a --spread-lambda 321 run: quality_spread %s" % spread3)

        # Weights that give a non-finite loss on every batch stop training
        # with a message instead of drawing batches for ever.
        broken = ("import sys; sys.path.insert(0, %r); import train\n"
                  "real = train.rd_terms\n"
                  "def nan_terms(*a, **k):\n"
                  "    rate, dist, extra = real(*a, **k)\n"
                  "    return rate * float('nan'), dist, extra\n"
                  "train.rd_terms = nan_terms\n"
                  "sys.argv = ['train.py'] + sys.argv[1:]\n"
                  "train.main()\n" % os.path.dirname(TRAIN))
        r = subprocess.run([PY, "-c", broken] + base[2:4] + ["--out", os.path.join(tmp, "run4"),
                           "--steps", "5", "--batch", "2", "--crop", "64", "--threads", "1"] + TINY,
                           capture_output=True, text=True, timeout=300)
        check(r.returncode != 0 and "50 batches in a row gave a non-finite loss" in r.stderr,
              "training gives up after 50 non-finite batches in a row (rc %d)" % r.returncode)

        fixture = os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy")
        stream, back = os.path.join(tmp, "s.tecv"), os.path.join(tmp, "s.npy")
        r = run([TEC, "encode", fixture, "-o", stream, "--model", "smoke", "--weights-dir", tmp])
        check(r.returncode == 0, "libtec encodes with the exported weights")
        r = run([TEC, "decode", stream, "-o", back, "--weights-dir", tmp])
        check(r.returncode == 0, "libtec decodes")
        if r.returncode == 0:
            a, b = np.load(fixture), np.load(back)
            check(a.shape == b.shape and b.dtype == np.uint16, "decoded shape and dtype")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
