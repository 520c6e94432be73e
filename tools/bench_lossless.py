#!/usr/bin/python3
"""Benchmark, not a test: lossless and near-lossless bits per sample of tec
(--max-error) against zstd -19 on the raw planes, JPEG 2000 lossless
(opj_compress, each band plane a 16-bit image) and JPEG XL lossless (cjxl -d
0), on the first 2 acquisitions of each place's centre crop.

    tools/bench_lossless.py PLACE[,PLACE...] [--crop 256] [--json OUT]

Every tec file is decoded and checked against the bound.  Decode times are
wall seconds of one process (tec: one thread, model loading included; JPEG
2000: the sum over the planes)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import zstandard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEC = os.path.join(ROOT, "tools", "tec")
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
POINTS = [(18, 0), (12, 0), (24, 0), (18, 1), (18, 2), (18, 4)]  # (quality, max error)


def write_pgm(path, img):
    h, w = img.shape
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n65535\n" % (w, h))
        f.write(img.astype(">u2").tobytes())


def run(cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def place(name, crop, tmp):
    cube = np.load(os.path.join(DATA, name, "cube.npz"))["cube"]
    meta = json.load(open(os.path.join(DATA, name, "meta.json")))
    _, bands, h, w = cube.shape
    y0, x0 = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
    x = np.ascontiguousarray(cube[:2, :, y0:y0 + crop, x0:x0 + crop])
    src = os.path.join(tmp, "x.npy")
    np.save(src, x)
    n = x.size
    r = {"shape": list(x.shape)}
    r["zstd19"] = len(zstandard.ZstdCompressor(level=19).compress(x.tobytes())) * 8 / n
    j2k = jxl = 0
    r["j2k_dec_s"] = 0.0
    pgm, j2c, jx = (os.path.join(tmp, f) for f in ("p.pgm", "p.j2k", "p.jxl"))
    for t in range(x.shape[0]):
        for b in range(bands):
            write_pgm(pgm, x[t, b])
            run(["opj_compress", "-i", pgm, "-o", j2c])
            j2k += os.path.getsize(j2c)
            t0 = time.time()
            run(["opj_decompress", "-i", j2c, "-o", os.path.join(tmp, "q.pgm")])
            r["j2k_dec_s"] += time.time() - t0
            run(["cjxl", pgm, jx, "-d", "0"])
            jxl += os.path.getsize(jx)
    r["j2k"], r["jxl"] = j2k * 8 / n, jxl * 8 / n
    names = ["--bands", ",".join(meta["bands"])] if meta.get("bands") else []
    coded, out = os.path.join(tmp, "x.tecv"), os.path.join(tmp, "d.npy")
    for q, e in POINTS:
        run([TEC, "encode", src, "-o", coded, "-q", str(q), "--max-error", str(e), "-t", "1",
             "--quiet"] + names)
        t0 = time.time()
        run([TEC, "decode", coded, "-o", out, "-t", "1", "--quiet"])
        dt = time.time() - t0
        err = int(np.abs(np.load(out).astype(np.int64) - x).max())
        if err > e:
            sys.exit(f"{name}: quality {q}, max error {e}: a sample is {err} off")
        r[f"tec_q{q}_e{e}"] = os.path.getsize(coded) * 8 / n
        if (q, e) == (18, 0):
            r["tec_dec_s"] = dt
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("places")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--json")
    a = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.places.split(","):
            results[name] = place(name, a.crop, tmp)
            print(name, json.dumps(results[name]), flush=True)
    rows = [(k, v) for k, v in results.items()]
    for base in ("zstd19", "j2k", "jxl"):
        d = [100 * (v["tec_q18_e0"] / v[base] - 1) for _, v in rows]
        worst = max(range(len(d)), key=lambda i: d[i])
        print(f"tec lossless against {base}: mean {np.mean(d):+.1f}%, worst {d[worst]:+.1f}% "
              f"({rows[worst][0]})")
    if a.json:
        json.dump(results, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
