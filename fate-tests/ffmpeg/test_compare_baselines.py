#!/usr/bin/python3
"""Every codec of `tec compare` for real, on a tiny cube (make check-ffmpeg).

Runs tools/compare.py --strict with all of ALL_CODECS (tec and every
baseline) and two settings each on the first two frames of the Liri fixture,
through the project's FFmpeg build (build/ffmpeg/ffmpeg, or $FFMPEG).  Fails
when a codec is skipped (a component missing from tools/ffmpeg-build.sh, a
Debian tool missing from tools/deps.txt), when a point fails, or when a codec
gives no finite, positive rate; then --lossless --strict, where every lossless
point must be bit-exact and every near-lossless one within its bound.  It
runs after the FFmpeg build, so it lives outside fate-tests/*.py.  No rate or quality figure is asserted beyond
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
        lossless(d, cube)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


# The bounded codecs run by --lossless (with j2k, jxl and zstd lossless) at
# these bounds; every point is checked against its bound by compare itself.
MAX_ERRORS = "2,16"


def lossless(d, cube):
    """compare --lossless --strict: every lossless point bit-exact, every
    near-lossless one within its bound, each bounded codec with its points."""
    out = os.path.join(d, "out-lossless")
    cmd = [PYTHON, os.path.join(ROOT, "tools", "compare.py"), cube, "--out", out, "--lossless",
           "--max-errors", MAX_ERRORS, "--bands", BANDS, "--tec", TEC, "--strict",
           "--no-plots", "--workdir", d]
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    print(r.stdout + r.stderr)
    result(r.returncode == 0, "compare --lossless --strict exits 0 (got %d)" % r.returncode)
    rows = []
    path = os.path.join(out, "results.csv")
    if os.path.exists(path):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    want = {"tec_ll": ["0"] + MAX_ERRORS.split(","), "j2k_nl": MAX_ERRORS.split(","),
            "jls": ["0"] + MAX_ERRORS.split(","), "j2k": ["0"], "jxl": ["0"], "zstd": ["0"]}
    result(set(compare.BOUNDED_CODECS) <= set(want), "every codec of BOUNDED_CODECS runs here")
    for c, bounds in want.items():
        mine = [x for x in rows if x["codec"] == c]
        ok = [x["error_bound"] for x in mine] == bounds and all(
            int(x["max_error"]) <= int(x["error_bound"]) and float(x["bpppb"]) > 0
            and (x["psnr"] == "inf" or x["error_bound"] != "0") for x in mine)
        result(ok, "%s: bounds %s, each met (%s)" % (c, ",".join(bounds), "; ".join(
            "%s %.3f bpppb max error %s" % (x["setting"], float(x["bpppb"]), x["max_error"])
            for x in mine)))
    summary = open(os.path.join(out, "summary.md")).read() if os.path.exists(
        os.path.join(out, "summary.md")) else ""
    result("## Lossless" in summary and "## Near-lossless" in summary,
           "summary.md has the Lossless and Near-lossless tables")


if __name__ == "__main__":
    sys.exit(main())
