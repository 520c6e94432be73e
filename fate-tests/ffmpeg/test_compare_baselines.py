#!/usr/bin/python3
"""Every codec of `tec compare` for real, on a tiny cube (make check-ffmpeg).

Runs tools/compare.py --strict with all of ALL_CODECS (tec and every
baseline) and two settings each on the first two frames of the Liri fixture,
through the project's FFmpeg build (build/ffmpeg/ffmpeg, or $FFMPEG).  Fails
when a codec is skipped (a component missing from tools/ffmpeg-build.sh, a
Debian tool missing from tools/deps.txt), when a point fails, or when a codec
gives no finite, positive rate.  It runs after the FFmpeg build, so it lives
outside fate-tests/*.py.  No rate or quality figure is asserted beyond
sanity.  Contains modified Copernicus Sentinel data.
"""
import csv
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import compare  # noqa: E402

PYTHON = os.environ.get("PYTHON") or sys.executable
FFMPEG = os.environ.get("FFMPEG") or os.path.join(ROOT, "build", "ffmpeg", "ffmpeg")
TEC = os.environ.get("TEC") or os.path.join(ROOT, "tools", "tec")
FIXTURE = os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy")
BANDS = "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12"

# Two settings a codec: a low and a high rate (lossless where it has one), so
# both ends of each command line run.
LADDERS = {
    "tec": "5,21", "tec_intra": "5,21", "j2k": "0.2,lossless", "j2k_klt": "0.2,1", "x265": "38,14",
    "aom": "44,12", "svtav1": "44,12", "jxl": "4,lossless", "zstd": "3,19",
}

failed = 0
passed = 0


def result(ok, what):
    global failed, passed
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if ok:
        passed += 1
    else:
        failed += 1


def main():
    codecs = list(compare.ALL_CODECS)
    # A new baseline needs its two settings here: fail rather than run its
    # whole default ladder.
    missing = sorted(set(codecs) - set(LADDERS))
    result(not missing, "every codec of ALL_CODECS has a test ladder"
           + (" (not: %s)" % ", ".join(missing) if missing else ""))
    with tempfile.TemporaryDirectory(prefix="test-compare-baselines-") as d:
        cube = os.path.join(d, "liri.npy")
        np.save(cube, np.load(FIXTURE)[:2])
        out = os.path.join(d, "out")
        cmd = [PYTHON, os.path.join(ROOT, "tools", "compare.py"), cube, "--out", out,
               "--codecs", ",".join(codecs), "--bands", BANDS, "--tec", TEC,
               "--ffmpeg", FFMPEG, "--strict", "--no-plots", "--workdir", d]
        for c in codecs:
            if c in LADDERS:
                cmd += ["--ladder", "%s=%s" % (c, LADDERS[c])]
        print("$ " + " ".join(cmd), flush=True)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        print(r.stdout + r.stderr)
        result(r.returncode == 0, "compare --strict with every codec exits 0 (got %d)"
               % r.returncode)
        result("skipping" not in r.stdout, "no codec skipped")
        rows = []
        path = os.path.join(out, "results.csv")
        if os.path.exists(path):
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
        for c in codecs:
            mine = [x for x in rows if x["codec"] == c]
            want = len(LADDERS.get(c, "").split(","))
            ok = len(mine) == want and all(
                float(x["bpppb"]) > 0 and math.isfinite(float(x["bpppb"]))
                and float(x["psnr"]) > 25 for x in mine)
            result(ok, "%s: %d of %d points, each with a rate and a PSNR above 25 dB (%s)"
                   % (c, len(mine), want, "; ".join("%s %.3f bpppb %s dB" % (
                       x["setting"], float(x["bpppb"]), x["psnr"]) for x in mine)))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
