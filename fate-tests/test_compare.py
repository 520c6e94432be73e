#!/usr/bin/python3
"""Tests of tools/compare.py (`tec compare`): its measures on inputs with a
known answer, and one end-to-end run on a tiny cube with the fast codecs.

Plain script: prints one line per check and 'N passed, N failed'; exits
non-zero on a failure.  No rate or quality figure of any codec is asserted.
The tiny cube is cut from ../shared/data when it is there (contains modified
Copernicus Sentinel data), else made up.
"""
import csv
import math
import os
import subprocess
import sys
import tempfile
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import compare  # noqa: E402

PYTHON = os.environ.get("PYTHON") or sys.executable
RESULTS = {"passed": 0, "failed": 0}


def check(name):
    def wrap(fn):
        try:
            fn()
        except Exception:  # noqa: BLE001 (a test harness reports everything)
            RESULTS["failed"] += 1
            print("FAIL %s" % name)
            traceback.print_exc(limit=3)
        else:
            RESULTS["passed"] += 1
            print("ok   %s" % name)
        return fn
    return wrap


def close(a, b, tol, what=""):
    if not abs(a - b) <= tol:
        raise AssertionError("%s: %r is not within %g of %r" % (what, a, tol, b))


def tiny_cube():
    """2 x 4 x 64 x 64 uint16: real data when ../shared/data is there."""
    for place in ("s2dwater_liri", "oscd_norcia"):
        p = os.path.join(ROOT, "..", "shared", "data", place, "cube.npz")
        if os.path.exists(p):
            c = np.load(p)["cube"]
            return np.ascontiguousarray(c[:2, :4, :64, :64]), "../shared/data/" + place
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:64, 0:64]
    base = 1500 + 600 * np.sin(x / 9.0) * np.cos(y / 13.0)
    c = np.stack([np.stack([base * (1 + 0.1 * b) + 40 * t + rng.normal(0, 30, base.shape)
                            for b in range(4)]) for t in range(2)])
    return np.clip(np.rint(c), 0, 65535).astype(np.uint16), "synthetic"


CUBE, CUBE_FROM = tiny_cube()


@check("PSNR of a known error: +100 everywhere -> 40 dB")
def _():
    ref = np.full((2, 3, 8, 8), 5000, np.uint16)
    rec = ref + 100
    close(compare.psnr(ref, rec), 40.0, 1e-9, "psnr")
    close(compare.mse(ref, rec), 10000.0, 1e-9, "mse")
    for p in compare.psnr_per_band(ref, rec):
        close(p, 40.0, 1e-9, "per-band psnr")
    assert compare.psnr(ref, ref) == math.inf


@check("PSNR clips both images to [0, 10000]")
def _():
    ref = np.full((1, 1, 4, 4), 10000, np.uint16)
    rec = np.full((1, 1, 4, 4), 20000, np.uint16)
    assert compare.psnr(ref, rec) == math.inf
    rec2 = np.full((1, 1, 4, 4), 9900, np.uint16)
    close(compare.psnr(np.full((1, 1, 4, 4), 30000, np.uint16), rec2), 40.0, 1e-9, "clipped")


@check("SAM of two 2-band vectors at 30 degrees; zero vectors skipped")
def _():
    a = np.array([[1000.0, 0.0], [0.0, 0.0]]).T           # bands along axis 0, 2 pixels
    ang = math.radians(30)
    b = np.array([[1000 * math.cos(ang), 1000 * math.sin(ang)], [500.0, 500.0]]).T
    close(compare.sam_degrees(a, b, axis=0), 30.0, 1e-6, "sam")
    cube = np.zeros((1, 2, 1, 2))
    cube[0, :, 0, 0] = [3000, 3000]
    rec = np.zeros_like(cube)
    rec[0, :, 0, 0] = [0, 3000]
    close(compare.sam_degrees(cube, rec), 45.0, 1e-6, "sam 45")


@check("BD-rate: rate x 0.8 at equal PSNR -> -20%, over both ranges")
def _():
    rates = [0.05, 0.1, 0.2, 0.4, 0.8]
    ps = [34.0, 38.0, 42.0, 46.0, 51.0]
    test = [r * 0.8 for r in rates]
    v, lo, hi, _ = compare.bd_rate(rates, ps, test, ps)
    close(v, -20.0, 1e-6, "bd common")
    close(lo, 34.0, 1e-9, "lo")
    close(hi, 51.0, 1e-9, "hi")
    v, lo, hi, _ = compare.bd_rate(rates, ps, test, ps, 40.0, 50.0)
    close(v, -20.0, 1e-6, "bd 40-50")
    close(lo, 40.0, 1e-9, "lo 40")
    close(hi, 50.0, 1e-9, "hi 50")
    v, _, _, _ = compare.bd_rate(test, ps, rates, ps)
    close(v, 25.0, 1e-6, "reverse")


@check("BD-rate: a PSNR offset of a linear curve has a closed form; no overlap is NaN")
def _():
    # log r = a p + b for both; test shifted up by 2 dB -> rate ratio exp(-2a)
    a = 0.15
    ps = np.array([30.0, 34.0, 38.0, 42.0, 46.0])
    rates = np.exp(a * ps - 8)
    v, _, _, _ = compare.bd_rate(rates, ps, rates, ps + 2)
    close(v, (math.exp(-2 * a) - 1) * 100, 1e-6, "shift")
    v, _, _, note = compare.bd_rate(rates, ps, rates, ps + 30)
    assert math.isnan(v) and note == "no overlap", (v, note)
    v, _, _, note = compare.bd_rate(rates, ps, rates, ps, 60, 70)
    assert math.isnan(v) and note == "no overlap", (v, note)


@check("KLT round trip without quantization is exact after rounding")
def _():
    for t in range(CUBE.shape[0]):
        frame = CUBE[t]
        mean, vecs, y = compare.klt_forward(frame)
        assert mean.dtype == np.float32 and vecs.dtype == np.float32
        back = compare.klt_inverse(mean, vecs, y)
        err = np.abs(back - frame).max()
        assert err < 1e-2, "float round trip error %g" % err
        assert np.array_equal(compare.to_uint16(back), frame)
        # the components variance is sorted, largest first
        var = y.reshape(y.shape[0], -1).var(axis=1)
        assert np.all(np.diff(var) <= 1e-6 * var[0]), var


@check("KLT through the uint16 components is exact after rounding on this cube")
def _():
    rec = compare.J2KKLT(None).scale_roundtrip(CUBE)
    assert np.array_equal(rec, CUBE), "max error %d" % np.abs(rec.astype(int) - CUBE).max()
    assert compare.klt_side_bytes(13) == 4 * (13 + 169 + 13 + 1)


@check("MS-SSIM of identical images is 1; of different ones below 1")
def _():
    rng = np.random.default_rng(7)
    img = rng.random((2, 200, 190))
    v, m = compare.ms_ssim(img, img, 1.0)
    assert m == 5, m
    assert np.allclose(v, 1.0, atol=1e-12), v
    noisy = np.clip(img + rng.normal(0, 0.1, img.shape), 0, 1)
    v2, _ = compare.ms_ssim(img, noisy, 1.0)
    assert np.all(v2 < 0.99), v2
    v3, m3 = compare.ms_ssim(img[0, :64, :64], img[0, :64, :64], 1.0)
    assert m3 == 3 and abs(v3 - 1) < 1e-12, (m3, v3)
    assert compare.msssim_scales(10, 100) == 0


@check("12-bit scaling: documented step, cost within the rounding bound")
def _():
    s = 10000.0 / 4095
    rec = compare.unscale_from_bits(compare.scale_to_bits(CUBE, 12), 12)
    err = np.abs(np.clip(rec, 0, 10000).astype(float) - np.clip(CUBE, 0, 10000))
    assert err.max() <= s / 2 + 0.5 + 1e-9, err.max()


@check("end to end: j2k and zstd on a %s 2 x 4 x 64 x 64 cube" % CUBE_FROM)
def _():
    with tempfile.TemporaryDirectory(prefix="test-compare-") as d:
        npy = os.path.join(d, "tiny.npy")
        np.save(npy, CUBE)
        out = os.path.join(d, "out")
        cmd = [PYTHON, os.path.join(ROOT, "tools", "compare.py"), npy, "--out", out,
               "--codecs", "j2k,zstd", "--ladder", "j2k=0.5,lossless", "--ladder", "zstd=3",
               "--no-plots"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "[3/3]" in res.stdout, res.stdout
        with open(os.path.join(out, "results.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        need = ["cube", "codec", "setting", "bpppb", "psnr", "sam", "msssim", "enc_seconds",
                "dec_seconds", "peak_rss_mb", "psnr_bands"]
        missing = [c for c in need if c not in rows[0]]
        assert not missing, missing
        assert [(r["codec"], r["setting"]) for r in rows] == [
            ("j2k", "rate=0.5"), ("j2k", "lossless"), ("zstd", "level=3")], rows
        for r in rows:
            assert r["cube"] == "tiny"
            assert float(r["bpppb"]) > 0 and float(r["peak_rss_mb"]) > 0
            assert len(r["psnr_bands"].split(";")) == 4
        assert rows[1]["psnr"] == "inf" and rows[2]["psnr"] == "inf"
        assert math.isfinite(float(rows[0]["psnr"]))
        for name in ("bdrate.csv", "bdrate.md", "summary.md"):
            assert os.path.exists(os.path.join(out, name)), name


FAKE_TEC = """#!%s
# stand-in for tools/tec: uniform quantiser, step from --quality, zlib
import os, sys, zlib, numpy as np
a = sys.argv[1:]
inp, out = a[1], a[a.index("-o") + 1]
with open(sys.argv[0] + ".log", "a") as log:
    log.write(" ".join(a) + "\\n")
if a[0] == "encode":
    x = np.load(inp)
    if "--max-error" in a:
        # step 2E+1 keeps every sample within E; FAKE_TEC_LIE=1 breaks the promise
        e = int(a[a.index("--max-error") + 1])
        step = 2.0 * e + (3 if os.environ.get("FAKE_TEC_LIE") else 1)
    else:
        step = 2.0 ** (12 - int(a[a.index("--quality") + 1]) / 3.0)
    q = np.rint(x / step).astype(np.int32)
    head = np.array([step] + list(x.shape), np.float64).tobytes()
    open(out, "wb").write(len(x.shape).to_bytes(1, "little") + head
                          + zlib.compress(q.tobytes(), 9))
else:
    d = open(inp, "rb").read()
    n = d[0]
    h = np.frombuffer(d[1:9 + 8 * n], np.float64)
    q = np.frombuffer(zlib.decompress(d[9 + 8 * n:]), np.int32)
    x = np.clip(np.rint(q * h[0]), 0, 65535).astype(np.uint16)
    np.save(out, x.reshape([int(v) for v in h[1:]]))
"""


def stand_in(d):
    """The stand-in tec and the tiny cube in folder d: (tec, npy)."""
    tec = os.path.join(d, "tec")
    with open(tec, "w") as f:
        f.write(FAKE_TEC % PYTHON)
    os.chmod(tec, 0o755)
    npy = os.path.join(d, "tiny.npy")
    np.save(npy, CUBE)
    return tec, npy


@check("end to end with a stand-in tec: its points and the BD-rate table")
def _():
    with tempfile.TemporaryDirectory(prefix="test-compare-") as d:
        tec, npy = stand_in(d)
        out = os.path.join(d, "out")
        cmd = [PYTHON, os.path.join(ROOT, "tools", "compare.py"), npy, "--out", out,
               "--codecs", "tec,j2k", "--tec", tec, "--qualities", "3,9,15,21",
               "--ladder", "j2k=0.3,0.7,1.5,3", "--no-plots"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        with open(os.path.join(out, "results.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        assert [r["setting"] for r in rows if r["codec"] == "tec"] == [
            "q=3", "q=9", "q=15", "q=21"], rows
        with open(os.path.join(out, "bdrate.csv"), newline="") as f:
            bd = list(csv.DictReader(f))
        assert any(r["test"] == "tec" and r["reference"] == "j2k" and r["cube"] == "tiny"
                   and r["range"] == "common" for r in bd), bd
        md = open(os.path.join(out, "bdrate.md")).read()
        assert "tec vs j2k" in md, md


@check("tec is given the cube's band names, and none when they are unknown")
def _():
    with tempfile.TemporaryDirectory(prefix="test-compare-") as d:
        tec, npy = stand_in(d)
        for bands in ("B08,B04,B03,B02", None):
            cmd = [PYTHON, os.path.join(ROOT, "tools", "compare.py"), npy,
                   "--out", os.path.join(d, "out-%s" % bool(bands)), "--codecs", "tec",
                   "--tec", tec, "--qualities", "9", "--no-plots"]
            res = subprocess.run(cmd + (["--bands", bands] if bands else []),
                                 capture_output=True, text=True, timeout=120)
            assert res.returncode == 0, res.stdout + res.stderr
            with open(tec + ".log") as f:
                encode = [line.split() for line in f if line.startswith("encode")][-1]
            if bands:
                assert encode[encode.index("--bands") + 1] == bands, encode
            else:
                assert "--bands" not in encode, encode


class Liar(compare.Codec):
    """Claims a bound (0: lossless) and returns the cube with one sample
    `off` too high."""
    name = "liar"

    def __init__(self, bound, off):
        super().__init__(None)
        self.bound, self.off = bound, off

    def error_bound(self, setting):
        return self.bound

    def code(self, cube, setting, work, meter, bands=None):
        rec = cube.copy()
        rec[0, 0, 0, 0] += self.off
        return rec, 100, ""


@check("a point that promises a bound fails when a sample is further off; lossless = bit-exact")
def _():
    class O:
        workdir, keep = None, False
    cube = compare.Cube("tiny", CUBE.copy())
    for bound, off, ok in ((0, 0, True), (0, 1, False), (2, 2, True), (2, 3, False),
                           (None, 50, True)):
        try:
            row = compare.run_point(Liar(bound, off), cube, "x", O(), math.inf)
        except compare.CodecError as e:
            assert not ok, (bound, off, e)
            assert ("not bit-exact" in str(e)) == (bound == 0), e
        else:
            assert ok, "bound %s, a sample %d off: accepted" % (bound, off)
            assert row["max_error"] == off and row["error_bound"] == ("" if bound is None
                                                                      else bound), row


@check("Lossless and Near-lossless tables: bits, mean, worst place, tec_ll's difference")
def _():
    def r(cube, codec, setting, bound, err, bpppb):
        return {"cube": cube, "codec": codec, "setting": setting, "error_bound": bound,
                "max_error": err, "bpppb": bpppb, "bytes": int(bpppb * 1000), "psnr": math.inf}
    rows = [r("a", "tec_ll", "lossless", 0, 0, 4.0), r("a", "zstd", "level=19", 0, 0, 5.0),
            r("b", "tec_ll", "lossless", 0, 0, 3.0), r("b", "zstd", "level=19", 0, 0, 6.0),
            r("a", "tec_ll", "E=2", 2, 2, 3.0), r("a", "j2k_nl", "E=2", 2, 1, 6.0),
            r("b", "tec_ll", "E=2", 2, 2, 2.0), r("b", "j2k_nl", "E=2", 2, 2, 4.0),
            r("b", "j2k_nl", "E=4", 4, 5, 1.0)]          # over its bound: left out
    md, table = compare.lossless_tables(rows)
    text = "\n".join(md)
    assert "| a | 4.0000 | 5.0000 | -20.0% |" in text, text
    assert "| b | 3.0000 | 6.0000 | -50.0% |" in text, text
    assert "| mean | 3.5000 | 5.5000 | **-35.0%** |" in text, text
    assert "| worst | 4.0000 (a) | 6.0000 (b) | -20.0% (a) |" in text, text
    assert "| a | 2 | 3.0000 (2) | 6.0000 (1) | -50.0% |" in text, text
    assert "| mean | 2 | 2.5000 | 5.0000 | **-50.0%** |" in text, text
    assert "| 4 |" not in text, text
    mean = [t for t in table if t["cube"] == "mean of cubes" and t["codec"] == "zstd level=19"]
    close(mean[0]["tec_ll_vs_percent"], -35.0, 1e-9, "csv mean")


@check("end to end --lossless with a stand-in tec: bounds checked, a broken one fails the run")
def _():
    with tempfile.TemporaryDirectory(prefix="test-compare-") as d:
        tec, npy = stand_in(d)
        out = os.path.join(d, "out")
        cmd = [PYTHON, os.path.join(ROOT, "tools", "compare.py"), npy, "--out", out,
               "--lossless", "--codecs", "tec_ll,j2k,j2k_nl,zstd", "--max-errors", "1,4",
               "--tec", tec, "--no-plots", "--strict"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        with open(os.path.join(out, "results.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        got = [(r["codec"], r["setting"], r["error_bound"]) for r in rows]
        assert got == [("tec_ll", "lossless", "0"), ("tec_ll", "E=1", "1"),
                       ("tec_ll", "E=4", "4"), ("j2k", "lossless", "0"),
                       ("j2k_nl", "E=1", "1"), ("j2k_nl", "E=4", "4"),
                       ("zstd", "level=19", "0")], got
        for r in rows:
            assert int(r["max_error"]) <= int(r["error_bound"]), r
        with open(tec + ".log") as f:
            enc = [line.split() for line in f if line.startswith("encode")]
        assert [e[e.index("--max-error") + 1] for e in enc] == ["0", "1", "4"], enc
        assert not any("--quality" in e for e in enc), enc
        summary = open(os.path.join(out, "summary.md")).read()
        assert "## Lossless" in summary and "## Near-lossless" in summary, summary
        assert "tec_ll vs j2k" in res.stdout and "| tiny | 4 |" in res.stdout, res.stdout
        with open(os.path.join(out, "lossless.csv"), newline="") as f:
            ll = list(csv.DictReader(f))
        assert len(ll) == 7, ll
        env = dict(os.environ, FAKE_TEC_LIE="1")
        res = subprocess.run(cmd[:cmd.index("--codecs") + 1] + ["tec_ll"]
                             + cmd[cmd.index("--codecs") + 2:],
                             capture_output=True, text=True, timeout=120, env=env)
        assert res.returncode == 1, res.stdout + res.stderr
        assert "not bit-exact" in res.stderr and "the bound is 4" in res.stderr, res.stderr
        assert res.stdout.count("FAILED") == 3, res.stdout


@check("jls: the DICOM around the planes reads back; with dcmtk, lossless and E=3 hold")
def _():
    with tempfile.TemporaryDirectory(prefix="test-compare-") as d:
        p = os.path.join(d, "x.dcm")
        compare.write_dicom(p, CUBE[0], 14)
        assert np.array_equal(compare.dicom_pixels(p, CUBE[0].shape), CUBE[0])
        codec = compare.JLS(None)
        if codec.check():
            print("     (%s: the coding skipped)" % codec.check())
            return
        from tec_compare.meter import Meter
        for e in (0, 3):
            rec, n, _ = codec.code(CUBE, str(e), d, Meter())
            err = int(np.abs(rec.astype(np.int64) - CUBE).max())
            assert err <= e and (e == 0 or err > 0), (e, err)
            assert 0 < n < CUBE.size * 2, n


@check("a raw .tecv is read as the same cube")
def _():
    try:
        import tecio
    except ImportError:
        print("     (tools/tecio.py or zstandard missing: skipped)")
        return

    class O:
        frames = crop = bands = None
    with tempfile.TemporaryDirectory(prefix="test-compare-") as d:
        p = os.path.join(d, "c.tecv")
        tecio.write_tecv_raw(p, CUBE, meta={"bands": "B01,B02,B03,B04"})
        cube = compare.load_cube(p, O())
        assert np.array_equal(cube.data, CUBE)
        assert cube.bands == ["B01", "B02", "B03", "B04"], cube.bands


print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
sys.exit(1 if RESULTS["failed"] else 0)
