"""terracodec's array API against the tec tool: a cube coded from Python is
the stream tec encode writes (same bytes), decodes to the samples tec
decode gives, keeps its metadata, and bad input raises with libtec's
message.  Small model (fate-tests/vectors/vector-tt.tecw), 64 x 64 crops."""
import ctypes
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "fate-tests", "lib"))
from checks import Checks  # noqa: E402

import terracodec as tc  # noqa: E402

TEC = os.environ.get("TEC", os.path.join(ROOT, "tools", "tec"))
VECTORS = os.path.join(ROOT, "fate-tests", "vectors")
MODEL = dict(model="vector-tt", weights_dir=VECTORS, threads=1)
FIXTURE = os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy")
META = json.load(open(FIXTURE[:-4] + ".json"))
check = Checks("test_python_api")


def tec(*args):
    return subprocess.run([TEC, *args], capture_output=True, text=True)


def check_cli_bytes(r, buf, cli, label):
    """The Python encoding buf is byte for byte the file tec encode (its
    run r) wrote to cli."""
    check(r.returncode == 0 and buf == open(cli, "rb").read(), f"{label} {r.stderr}")


def shipped_weights(what):
    """The tree's weights/ when the shipped model is there (tests that need
    a model that codes like a trained one), else None and a skip line."""
    shipped = os.path.join(ROOT, "weights")
    if os.path.isfile(os.path.join(shipped, "tec-s2-tt.tecw")):
        return shipped
    print(f"skip {what}: no shipped model")
    return None


def raises(fn, exc, text=None):
    """The exception fn raises when it is an exc (whose message holds text)."""
    try:
        fn()
    except exc as e:
        return text is None or text in str(e)
    except Exception as e:  # the wrong kind
        print("   raised", type(e).__name__, e)
        return False
    return False


def test_layout(work):
    """The ctypes structs have tec.h's layout: every field's offset and each
    struct's size, as the C compiler sees them."""
    from terracodec import _libtec as L
    structs = [L.TecPicture, L.TecPacket, L.TecStreamInfo, L.TecEncoderSettings,
               L.TecDecoderSettings, L.TecvInfo]
    lines = []
    for st in structs:
        lines.append(f'printf("%zu\\n", sizeof({st.__name__}));')
        lines += [f'printf("%zu\\n", offsetof({st.__name__}, {f[0]}));' for f in st._fields_]
    src = os.path.join(work, "layout.c")
    with open(src, "w") as f:
        f.write("#include <stddef.h>\n#include <stdio.h>\n#include <tec/tec.h>\n"
                "int main(void)\n{\n" + "\n".join(lines) + "\nreturn 0;\n}\n")
    exe = os.path.join(work, "layout")
    cc = subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-I",
                         os.path.join(ROOT, "libavcodec-tec", "include"), src, "-o", exe],
                        capture_output=True, text=True)
    check(cc.returncode == 0, f"layout probe builds: {cc.stderr[-300:]}")
    if cc.returncode:
        return
    c_side = subprocess.run([exe], capture_output=True, text=True).stdout.split()
    py_side = []
    for st in structs:
        py_side.append(str(ctypes.sizeof(st)))
        py_side += [str(getattr(st, f[0]).offset) for f in st._fields_]
    check(c_side == py_side, "the ctypes structs match tec.h (sizes and offsets)")


def test_same_as_cli(work, cube):
    bands, dates = ",".join(META["bands"]), ",".join(META["dates"])
    gt = ",".join(repr(v) for v in META["geotransform"])
    cli = os.path.join(work, "cli.tecv")
    r = tec("encode", FIXTURE, "-o", cli, "-q", "13", "--model", "vector-tt", "--weights-dir",
            VECTORS, "-t", "1", "--bands", bands, "--dates", dates, "--crs", META["crs"],
            "--geotransform", gt, "--nodata", "0",
            "--meta", "attribution=" + META["attribution"])
    check(r.returncode == 0, f"tec encode: {r.stderr}")
    buf = tc.encode(cube, quality=13, bands=META["bands"], dates=META["dates"], crs=META["crs"],
                    geotransform=META["geotransform"], nodata=0,
                    meta={"attribution": META["attribution"]}, **MODEL)
    check(isinstance(buf, bytes) and buf == open(cli, "rb").read(),
          "terracodec.encode writes the bytes tec encode writes")

    py = os.path.join(work, "py.tecv")
    open(py, "wb").write(buf)
    r = tec("decode", py, "-o", os.path.join(work, "py.npy"), "--weights-dir", VECTORS)
    check(r.returncode == 0, f"tec decode of the Python stream: {r.stderr}")
    ref = np.load(os.path.join(work, "py.npy"))
    out, md = tc.decode(buf, weights_dir=VECTORS)
    check(out.dtype == np.uint16 and out.shape == cube.shape, f"decoded shape {out.shape}")
    check(np.array_equal(out, ref), "terracodec.decode gives tec decode's samples")
    err = np.sqrt(np.mean((out.astype(float) - cube) ** 2))
    check(0 < err < 2000, f"a lossy reconstruction near the source (RMSE {err:.1f})")

    file_out, _ = tc.decode_file(cli, weights_dir=VECTORS)
    check(np.array_equal(file_out, ref), "decode_file of tec encode's file")
    tc.encode_file(os.path.join(work, "f.tecv"), cube, quality=13, bands=META["bands"],
                   dates=META["dates"], crs=META["crs"], geotransform=META["geotransform"],
                   nodata=0, meta={"attribution": META["attribution"]}, **MODEL)
    check(open(os.path.join(work, "f.tecv"), "rb").read() == buf,
          "encode_file writes the bytes of encode")
    return buf


def test_metadata(work, cube):
    buf = tc.encode(cube, quality=13, bands=",".join(META["bands"]),
                    dates=[dt.date(2017, 6, 20), np.datetime64("2017-07-10"),
                           dt.datetime(2017, 10, 15, 10, 30, 5), "season-3"],
                    crs="EPSG:32633", geotransform=META["geotransform"], nodata=0,
                    meta={"source": "liri", "note": "é ✓"}, **MODEL)
    _, md = tc.decode(buf, weights_dir=VECTORS)
    check(md["bands"] == META["bands"], f"bands {md['bands']}")
    check(md["dates"] == ["2017-06-20", "2017-07-10", "2017-10-15T10:30:05Z", "season-3"],
          f"dates {md['dates']}")
    check(md["crs"] == "EPSG:32633" and md["nodata"] == 0, "crs and nodata")
    check(md["geotransform"] == tuple(META["geotransform"]), f"geotransform {md['geotransform']}")
    check(md["meta"] == {"source": "liri", "note": "é ✓"}, f"other keys {md['meta']}")
    check(md["model"] == "vector-tt" and md["codec"] == "tec", "model and codec")
    path = os.path.join(work, "meta.tecv")
    open(path, "wb").write(buf)
    r = tec("info", "--json", path)
    info = json.loads(r.stdout) if r.returncode == 0 else {}
    check(info.get("crs") == "EPSG:32633" and info.get("nodata") == 0 and
          info.get("metadata", {}).get("note") == "é ✓" and
          info.get("dates", [None])[2] == "2017-10-15T10:30:05Z",
          "tec info reads the metadata written from Python")
    times = [f.get("time_ms") for f in info.get("frame_list", [])]
    check(times == [1497916800000, 1499644800000, 1508063405000, None],
          f"packet times {times} (none for a label that is not a date)")

    single, smd = tc.decode(tc.encode(cube[1], quality=13, **MODEL), weights_dir=VECTORS)
    check(single.shape == cube.shape[1:] and smd["rank"] == 3, "a (C, H, W) cube comes back 3-D")
    raw = tc.encode(cube[:2], raw=True, bands=META["bands"], dates=META["dates"][:2])
    back, rmd = tc.decode(raw)
    check(np.array_equal(back, cube[:2]) and rmd["codec"] == "raw" and
          rmd["bands"] == META["bands"], "raw streams are lossless and keep their band names")
    info = tc.info(buf)
    check(info["shape"] == cube.shape, f"info: shape {info['shape']}")


def test_nodata(cube):
    """nodata= sets the encoder's mask, as tec encode --nodata does: the
    nodata samples decode exactly, no other sample decodes to the value."""
    holed = cube.copy()
    holed[:, :, :10, :] = 0       # a swath edge
    holed[1, 4, 30:34, 30:34] = 0  # a hole in one band
    out, md = tc.decode(tc.encode(holed, quality=13, nodata=0, **MODEL), weights_dir=VECTORS)
    check(md["nodata"] == 0 and np.array_equal(out == 0, holed == 0),
          "nodata samples decode exactly, and only they")


def test_max_error(work, cube):
    """max_error= is tec encode --max-error: the same bytes, every sample
    within the bound."""
    cli = os.path.join(work, "bound.tecv")
    r = tec("encode", FIXTURE, "-o", cli, "-q", "13", "--model", "vector-tt", "--weights-dir",
            VECTORS, "-t", "1", "--max-error", "3")
    buf = tc.encode(cube, quality=13, max_error=3, **MODEL)
    check_cli_bytes(r, buf, cli, "max_error=3 writes the bytes of tec encode --max-error 3")
    out, _ = tc.decode(buf, weights_dir=VECTORS)
    check(np.abs(out.astype(int) - cube).max() <= 3, "every sample within 3")
    out, _ = tc.decode(tc.encode(cube[:1], quality=13, max_error=0, **MODEL), weights_dir=VECTORS)
    check(np.array_equal(out, cube[:1]), "max_error=0 is lossless")


def test_clouds(work, cube):
    """cloud_mask=, skip_clouds= and decode(fill_clouds=...) are tec encode
    --cloud-mask [--skip-clouds] and tec decode --fill-clouds [--fill-mask]
    [--write-mask]: the same bytes, samples and filled pixels."""
    T, _, H, W = cube.shape
    y, x = np.mgrid[0:H, 0:W]
    masks = np.zeros((T, H, W), np.uint8)
    for t in range(T):
        # a blob a frame; the first frame's cannot be filled (nothing before it)
        cy, cx = 16 + 10 * t, 48 - 8 * t
        masks[t] = ((y - cy) ** 2 + (x - cx) ** 2) < (12 + 4 * t) ** 2
    mpath = os.path.join(work, "clouds.npy")
    np.save(mpath, masks)
    enc = ["encode", FIXTURE, "-q", "13", "--model", "vector-tt", "--weights-dir", VECTORS,
           "-t", "1", "--cloud-mask", mpath]
    for skip in (False, True):
        cli = os.path.join(work, "clouds-skip.tecv" if skip else "clouds.tecv")
        r = tec(*enc, "-o", cli, *(["--skip-clouds"] if skip else []))
        buf = tc.encode(cube, quality=13, cloud_mask=masks != 0, skip_clouds=skip, **MODEL)
        check_cli_bytes(r, buf, cli,
                        f"cloud_mask=, skip_clouds={skip} write the bytes of tec encode")
    plain = tc.encode(cube, quality=13, **MODEL)
    masked = tc.encode(cube, quality=13, cloud_mask=masks, **MODEL)
    skipped = tc.encode(cube, quality=13, cloud_mask=masks, skip_clouds=True, **MODEL)
    check(len(skipped) < len(masked), f"skip_clouds is smaller ({len(skipped)} < {len(masked)})")
    ref, _ = tc.decode(plain, weights_dir=VECTORS)
    out, _ = tc.decode(masked, weights_dir=VECTORS)
    check(np.array_equal(out, ref), "a cloud mask changes no sample unless filled")

    def cli_fill(stream, *extra):
        path = os.path.join(work, "fill.tecv")
        open(path, "wb").write(stream)
        r = tec("decode", path, "-o", os.path.join(work, "fill.npy"), "--weights-dir", VECTORS,
                "--fill-clouds", "--write-mask", os.path.join(work, "filled.npy"), *extra)
        check(r.returncode == 0, f"tec decode --fill-clouds: {r.stderr}")
        return np.load(os.path.join(work, "fill.npy")), np.load(os.path.join(work, "filled.npy"))

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        out, md, filled = tc.decode(masked, weights_dir=VECTORS, fill_clouds=True,
                                    return_filled=True)
    want, want_filled = cli_fill(masked)
    check(np.array_equal(out, want) and np.array_equal(filled, want_filled),
          "fill_clouds=True fills as tec decode --fill-clouds, the same filled pixels")
    # A masked pixel is filled when an earlier frame saw it clear.
    seen, fillable = masks[0] == 0, np.zeros_like(masks)
    for t in range(1, T):
        fillable[t] = (masks[t] != 0) & seen
        seen = (masks[t] == 0) | seen
    check(filled.dtype == np.uint8 and filled.shape == (T, H, W) and not filled[0].any() and
          np.array_equal(filled, fillable), "every masked pixel seen clear before is filled")
    check(np.array_equal(out[~np.broadcast_to(masks[:, None] != 0, out.shape)],
                         ref[~np.broadcast_to(masks[:, None] != 0, ref.shape)]),
          "filling changes only masked pixels")
    unseen = [t for t in range(1, T) if (masks[t].astype(bool) & ~fillable[t].astype(bool)).any()]
    check(len(said) == 1 + len(unseen) and "frame 0" in str(said[0].message) and
          all(f"frame {t}" in str(w.message) for t, w in zip(unseen, said[1:])),
          f"masks not filled (the first frame's, pixels never seen clear) say why: "
          f"{[str(w.message) for w in said]}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filled_skip = tc.decode(skipped, weights_dir=VECTORS, fill_clouds=True,
                                return_filled=True)[2]
    check(np.array_equal(filled_skip, fillable), "a skip_clouds stream is filled")

    other = np.ascontiguousarray(masks[::-1, ::-1])
    opath = os.path.join(work, "other.npy")
    np.save(opath, other)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, _, filled = tc.decode(plain, weights_dir=VECTORS, fill_clouds=True,
                                   fill_mask=other, return_filled=True)
    want, want_filled = cli_fill(plain, "--fill-mask", opath)
    check(np.array_equal(out, want) and np.array_equal(filled, want_filled),
          "fill_mask= fills as tec decode --fill-mask")

    one = tc.encode(cube[1], quality=13, cloud_mask=masks[1], **MODEL)
    back, md = tc.decode(one, weights_dir=VECTORS)
    check(back.shape == cube.shape[1:], "an (H, W) mask for a (C, H, W) cube")
    check(raises(lambda: tc.encode(cube, skip_clouds=True, **MODEL), ValueError, "cloud_mask"),
          "skip_clouds without a mask is refused")
    check(raises(lambda: tc.encode(cube, cloud_mask=masks[:3], **MODEL), ValueError, "shape"),
          "a mask of another frame count is refused")
    check(raises(lambda: tc.encode(cube, cloud_mask=masks.astype(np.float32), **MODEL),
                 TypeError, "float32"), "a float mask is refused")
    check(raises(lambda: tc.encode(cube, raw=True, cloud_mask=masks), ValueError, "raw"),
          "a raw stream with a mask is refused")
    check(raises(lambda: tc.decode(masked, return_filled=True), ValueError, "fill_clouds"),
          "return_filled without fill_clouds is refused")
    check(raises(lambda: tc.decode(plain, weights_dir=VECTORS, fill_clouds=True,
                                   fill_mask=masks[:, :-1]), ValueError, "shape"),
          "a fill mask of another size is refused")


def test_effort(work, cube):
    """effort= is tec encode --effort: the same bytes, not those of effort 0,
    decoding as any stream does."""
    cli = os.path.join(work, "effort.tecv")
    r = tec("encode", FIXTURE, "-q", "13", "--model", "vector-tt", "--weights-dir", VECTORS,
            "-t", "1", "--effort", "1", "-o", cli)
    buf = tc.encode(cube, quality=13, effort=1, **MODEL)
    check_cli_bytes(r, buf, cli, "effort=1 writes the bytes of tec encode --effort 1")
    check(buf != tc.encode(cube, quality=13, **MODEL), "effort=1 moves the symbols")
    out, _ = tc.decode(buf, weights_dir=VECTORS)
    check(out.shape == cube.shape, "an effort=1 stream decodes")
    check(raises(lambda: tc.encode(cube, effort=6, **MODEL), ValueError, "effort"),
          "effort out of range")


def test_plain_spreads(work):
    """The band weighting (on by default) writes tec encode's bytes from an
    array given whole, and plain_spreads=True those of --plain-spreads.  It
    needs a model with the quality calibration: the shipped one."""
    shipped = shipped_weights("plain_spreads")
    if not shipped:
        return
    path = os.path.join(ROOT, "fate-tests", "data", "ssl4eo_t2_48.npy")
    l2a = np.load(path)
    bufs = []
    for plain in (False, True):
        cli = os.path.join(work, f"l2a-{int(plain)}.tecv")
        r = tec("encode", path, "-q", "13", "--weights-dir", shipped, "-t", "1", "-o", cli,
                *(["--plain-spreads"] if plain else []))
        buf = tc.encode(l2a, quality=13, weights_dir=shipped, threads=1, plain_spreads=plain)
        check_cli_bytes(r, buf, cli, f"plain_spreads={plain} writes the bytes of tec encode")
        out, _ = tc.decode(buf, weights_dir=shipped)
        check(out.shape == l2a.shape, f"a plain_spreads={plain} stream decodes")
        bufs.append(buf)
    check(bufs[0] != bufs[1], "the L2A fixture's keyframe is weighted by default")


def test_no_prediction(work):
    """Predicted frames (on by default) write tec encode's bytes, and
    no_prediction=True those of --no-prediction; with the shipped model the
    liri fixture has a predicted frame by default and none without."""
    shipped = shipped_weights("no_prediction")
    if not shipped:
        return
    path = os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy")
    cube = np.load(path)
    dates = "2017-06-20,2017-07-10,2017-10-15,2017-12-24"
    kinds = []
    for off in (False, True):
        cli = os.path.join(work, f"liri-np{int(off)}.tecv")
        r = tec("encode", path, "--weights-dir", shipped, "-t", "1", "-o", cli, "--dates", dates,
                *(["--no-prediction"] if off else []))
        buf = tc.encode(cube, dates=dates.split(","), weights_dir=shipped, threads=1,
                        no_prediction=off)
        check_cli_bytes(r, buf, cli, f"no_prediction={off} writes the bytes of tec encode")
        out, _ = tc.decode(buf, weights_dir=shipped)
        ref = os.path.join(work, f"liri-np{int(off)}.npy")
        d = tec("decode", cli, "-o", ref, "--weights-dir", shipped)
        check(d.returncode == 0 and np.array_equal(out, np.load(ref)),
              f"no_prediction={off}: Python decodes the CLI's samples")
        info = tec("info", "--json", cli)
        kinds.append([f["type"] for f in json.loads(info.stdout)["frame_list"]])
    check("predicted" in kinds[0] and "predicted" not in kinds[1],
          f"a predicted frame by default, none with no_prediction ({kinds})")


def test_frames(buf, cube):
    ref, _ = tc.decode(buf, weights_dir=VECTORS)
    got = tc.read_frames(buf, [3, 1], weights_dir=VECTORS)
    check(np.array_equal(got, ref[[3, 1]]), "read_frames decodes chosen inter frames")
    # Keyframes every 2 frames: frame 3 decodes from frame 2 alone.
    gop = tc.encode(cube, quality=13, keyframe_interval=2, **MODEL)
    ref, _ = tc.decode(gop, weights_dir=VECTORS)
    check(all(np.array_equal(tc.read_frames(gop, [i], weights_dir=VECTORS)[0], ref[i])
              for i in range(4)), "read_frames from the keyframe before each frame")


def test_errors(cube):
    check(raises(lambda: tc.encode(cube.astype(np.float32), **MODEL), TypeError, "float32"),
          "a float cube is refused")
    check(raises(lambda: tc.encode(cube.astype(np.int32), **MODEL), TypeError),
          "an int32 cube is refused")
    check(raises(lambda: tc.encode(cube[0, 0], **MODEL), ValueError, "2-D"),
          "a 2-D array is refused")
    check(raises(lambda: tc.encode(cube[None], **MODEL), ValueError, "5-D"),
          "a 5-D array is refused")
    check(raises(lambda: tc.encode(cube, bands=["B01", "B02"], **MODEL), ValueError, "bands"),
          "band names that do not match the bands")
    check(raises(lambda: tc.encode(cube, quality=30, **MODEL), ValueError, "quality"),
          "quality out of range")
    check(raises(lambda: tc.encode(cube, dates=["2017-02-30"] * 4, **MODEL), ValueError,
                 "not a valid date"), "an impossible date")
    check(raises(lambda: tc.encode(cube, model="no-such-model", weights_dir=VECTORS),
                 tc.TecError, "no-such-model"), "a missing model raises libtec's message")
    check(raises(lambda: tc.decode(b"not a tecv stream"), tc.TecError, "bad magic"),
          "garbage raises libtec's message")
    buf = bytearray(tc.encode(cube[:1], quality=13, **MODEL))
    buf[len(buf) // 2] ^= 0x55
    check(raises(lambda: tc.decode(bytes(buf), weights_dir=VECTORS), tc.TecError, "corrupt"),
          "a damaged packet raises instead of giving zeros")
    check(raises(lambda: tc.decode_file("/nonexistent.tecv"), tc.TecError, "No such file"),
          "a missing file")
    e = None
    try:
        tc.decode(b"TECV")
    except tc.TecError as x:
        e = x
    check(e is not None and e.code == -5, "TecError carries libtec's code (TEC_EBITSTREAM)")


def test_threads(cube):
    """Coding runs without the GIL: two threads code at once and get the
    bytes of a serial run."""
    ref = [tc.encode(cube[i:i + 2], quality=13, **MODEL) for i in (0, 2)]
    out = [None, None]

    def job(k):
        out[k] = tc.encode(cube[2 * k:2 * k + 2], quality=13, **MODEL)

    threads = [threading.Thread(target=job, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(out == ref, "concurrent encodes give the serial bytes")

    # While one thread codes a larger frame, this one keeps running: with
    # the GIL held through the C call it would stall for the whole call.
    big = np.ascontiguousarray(np.tile(cube[0], (1, 6, 6)))
    worker = threading.Thread(target=tc.encode, args=(big,), kwargs=MODEL)
    start = last = time.perf_counter()
    worker.start()
    gap = 0.0
    while worker.is_alive():
        now = time.perf_counter()
        gap, last = max(gap, now - last), now
    took = time.perf_counter() - start
    check(gap < 0.5 * took, f"the GIL is released while coding (longest stall {gap * 1e3:.0f} "
          f"ms of {took * 1e3:.0f})")


def test_xarray(buf, work):
    path = os.path.join(work, "x.tecv")
    open(path, "wb").write(buf)
    da = tc.open_tecv(path, weights_dir=VECTORS)
    ref, _ = tc.decode(buf, weights_dir=VECTORS)
    check(da.dims == ("time", "band", "y", "x") and da.shape == ref.shape, f"dims {da.dims}")
    check(list(da.band.values) == META["bands"], "band coordinate")
    check(str(da.time.values[1])[:10] == "2017-07-10" and da.time.dtype.kind == "M",
          "time coordinate from the dates")
    gt = META["geotransform"]
    check(abs(da.x.values[0] - (gt[0] + 5)) < 1e-6 and abs(da.y.values[0] - (gt[3] - 5)) < 1e-6,
          "x/y pixel centres from the geotransform")
    check(da.attrs.get("crs") == "EPSG:32633", "crs in attrs")
    check(da.chunks is not None and len(da.chunks[0]) == ref.shape[0],
          "lazy: one Dask chunk per frame")
    check(np.array_equal(da.isel(time=2).values, ref[2]), "one frame computed alone")
    check(np.array_equal(da.values, ref), "all frames")


def main():
    cube = np.load(FIXTURE)
    with tempfile.TemporaryDirectory() as work:
        test_layout(work)
        buf = test_same_as_cli(work, cube)
        test_metadata(work, cube)
        test_nodata(cube)
        test_max_error(work, cube)
        test_clouds(work, cube)
        test_effort(work, cube)
        test_plain_spreads(work)
        test_no_prediction(work)
        test_frames(buf, cube)
        test_errors(cube)
        test_threads(cube)
        test_xarray(buf, work)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
