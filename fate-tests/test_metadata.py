#!/usr/bin/python3
"""Metadata survives tec encode -> .tecv -> tec info --json exactly: dates
(ISO dates become acquisition times, other labels are kept as text), band
names, nodata, CRS, geotransform, any --meta key, for the tec and the raw
codec.  Acquisition times are checked against Python's own calendar.

Environment as for the other end-to-end tests: TEC, BUILD (scratch files and
generated models), PYTHON.
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
TEC = os.path.abspath(os.environ.get("TEC", "tools/tec"))
BUILD = os.environ.get("BUILD", "build")
PY = os.environ.get("PYTHON", "/usr/bin/python3")
FIXTURE = "fate-tests/data/liri_t4_64.npy"
FIXTURE_JSON = "fate-tests/data/liri_t4_64.json"

passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok    " + name)
    else:
        failed += 1
        print("FAIL  " + name + (": " + str(detail) if detail else ""))


def tec(*args):
    p = subprocess.run([TEC] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def info(path):
    rc, out, err = tec("info", "--json", path)
    if rc:
        raise RuntimeError("tec info %s failed: %s" % (path, err.strip()))
    return json.loads(out)


def ms(text):
    """Milliseconds since the epoch of an ISO date or date-time, by Python."""
    d = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return round(d.timestamp() * 1000)


def tiny_model(work):
    """Directory with tec-tiny.tecw, a random model; cached in BUILD like the
    shell tests' tiny_model."""
    files = ["tools/train/export.py", "tools/train/tecmodel.py", "tools/tecio.py"]
    stamp = subprocess.run("cat %s | cksum" % " ".join(files), shell=True,
                           capture_output=True, text=True).stdout.split()[0]
    d = os.path.join(BUILD, "test-models", "%s-seed1" % stamp)
    path = os.path.join(d, "tec-tiny.tecw")
    if not os.path.exists(path):
        os.makedirs(d, exist_ok=True)
        tmp = path + ".tmp%d" % os.getpid()
        subprocess.run([PY, "tools/train/export.py", "--random", "--seed", "1", "--n", "8",
                        "--m", "16", "--nh", "8", "--nmid", "12", "--name", "tec-tiny",
                        "-o", tmp], check=True, stdout=subprocess.DEVNULL)
        os.replace(tmp, path)
    return d


def main():
    if not os.access(TEC, os.X_OK):
        print("tec is not built: " + TEC)
        print("0 passed, 1 failed")
        return 1
    os.makedirs(BUILD, exist_ok=True)
    work = tempfile.mkdtemp(prefix="test_metadata.", dir=BUILD)
    try:
        run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def run(work):
    fx = json.load(open(FIXTURE_JSON))
    models = tiny_model(work)
    dates = ["2017-06-20", "2017-07-10T10:31:05Z", "--09", "season-1"]
    crs = ('PROJCS["WGS 84 / UTM zone 33N",GEOGCS["WGS 84",DATUM["WGS_1984"]],'
           'UNIT["metre",1]]')
    geo = "395720.0,10.0,0.0,4586320.0,0.0,-10.0"
    user = [
        ("processing_level", fx["processing_level"]),
        ("source", fx["source"]),
        ("attribution", fx["attribution"]),
        ("wavelengths_nm", "443,490,560,665,705,740,783,842,865,945,1375,1610,2190"),
        ("note", 'two\nlines, "quotes", a \\ backslash and a tab\there'),
        ("unicode", "Λίρης ποταμός, 日本, ✓"),
        ("empty", ""),
        ("x-custom key with spaces", "=value=with=equals="),
    ]
    expect = {"bands": ",".join(fx["bands"]), "dates": ",".join(dates), "nodata": "0",
              "crs": crs, "geotransform": geo}
    expect.update(user)
    meta_args = []
    for k, v in user:
        meta_args += ["--meta", "%s=%s" % (k, v)]

    for codec in ["tec", "raw"]:
        out = os.path.join(work, "m-%s.tecv" % codec)
        extra = ["--raw"] if codec == "raw" else ["--model", "tec-tiny", "--weights-dir", models]
        rc, _, err = tec("encode", FIXTURE, "-o", out, "--dates", ",".join(dates),
                         "--bands", ",".join(fx["bands"]), "--nodata", "0", "--crs", crs,
                         "--geotransform", geo, *meta_args, *extra)
        check("%s: encode with every kind of metadata" % codec, rc == 0, err.strip())
        if rc:
            continue
        j = info(out)
        m = j["metadata"]
        check("%s: codec" % codec, j["codec"] == codec, j["codec"])
        # A tec stream keeps the band names in its sequence header (checked
        # below through band_names), not a second time in the metadata.
        want = dict(expect) if codec == "raw" else {k: v for k, v in expect.items() if k != "bands"}
        for k, v in want.items():
            check("%s: metadata %r survives exactly" % (codec, k), m.get(k) == v,
                  "%r != %r" % (m.get(k), v))
        check("%s: no other keys but input_rank" % codec,
              set(m) == set(want) | {"input_rank"}, sorted(set(m) ^ (set(want) | {"input_rank"})))
        check("%s: input_rank 4" % codec, m.get("input_rank") == "4", m.get("input_rank"))
        check("%s: --meta keys keep their order" % codec,
              [k for k in m if k in dict(user)] == [k for k, _ in user], list(m))
        check("%s: dates" % codec, j["dates"] == dates, j["dates"])
        check("%s: band names" % codec, j["band_names"] == fx["bands"], j["band_names"])
        check("%s: nodata" % codec, j["nodata"] == 0, j["nodata"])
        check("%s: crs" % codec, j["crs"] == crs, j["crs"])
        check("%s: geotransform" % codec, j["geotransform"] == fx["geotransform"],
              j["geotransform"])
        fl = j["frame_list"]
        check("%s: 4 frames" % codec, j["frames"] == 4 and len(fl) == 4, j["frames"])
        check("%s: frame dates" % codec, [f["date"] for f in fl] == dates)
        times = [f["time_ms"] for f in fl]
        want = [ms(dates[0]), ms(dates[1]), None, None]
        check("%s: ISO dates become times, labels have none" % codec, times == want,
              "%s != %s" % (times, want))
        check("%s: frame times in ISO form" % codec,
              [f["time"] for f in fl] == ["2017-06-20", "2017-07-10T10:31:05Z", None, None],
              [f["time"] for f in fl])

        # The text form shows the same values (control characters masked).
        rc, text, err = tec("info", out)
        check("%s: tec info (text) exits 0" % codec, rc == 0, err.strip())
        check("%s: tec info (text) shows the CRS and the dates" % codec,
              crs in text and "season-1" in text and "2017-07-10T10:31:05Z" in text)

        # Decoding keeps the shape; the metadata does not disturb the samples.
        npy = os.path.join(work, "m-%s.npy" % codec)
        rc, _, err = tec("decode", out, "-o", npy, "--weights-dir", models)
        check("%s: decode" % codec, rc == 0, err.strip())
        if rc == 0:
            d = np.load(npy)
            check("%s: decoded shape" % codec, d.shape == (4, 13, 64, 64), d.shape)
            if codec == "raw":
                check("raw: samples exact", np.array_equal(d, np.load(FIXTURE)))

    # One acquisition (C, H, W): rank 3 is recorded and given back.
    a3 = os.path.join(work, "one.npy")
    np.save(a3, np.load(FIXTURE)[1])
    for codec in ["tec", "raw"]:
        out = os.path.join(work, "one-%s.tecv" % codec)
        extra = ["--raw"] if codec == "raw" else ["--model", "tec-tiny", "--weights-dir", models]
        rc, _, err = tec("encode", a3, "-o", out, "--dates", "2017-07-10", *extra)
        check("%s: encode (C, H, W)" % codec, rc == 0, err.strip())
        if rc:
            continue
        j = info(out)
        check("%s: input_rank 3" % codec, j["metadata"].get("input_rank") == "3")
        check("%s: one frame with its time" % codec,
              j["frames"] == 1 and j["frame_list"][0]["time_ms"] == ms("2017-07-10"))
        npy = os.path.join(work, "one-%s.npy" % codec)
        rc, _, err = tec("decode", out, "-o", npy, "--weights-dir", models)
        check("%s: (C, H, W) decodes to (C, H, W)" % codec,
              rc == 0 and np.load(npy).shape == (13, 64, 64), err.strip())

    # Calendar arithmetic: tec's days-from-civil against Python's.
    tiny = os.path.join(work, "px.npy")
    np.save(tiny, np.zeros((1, 1, 1, 1), np.uint16))
    for d in ["1970-01-01", "1969-12-31", "1900-03-01", "2000-02-29", "2016-02-29",
              "2100-03-01", "0001-01-01", "9999-12-31T23:59:59Z", "2017-06-20T23:59:59.999Z",
              "2017-06-20T10:00:00.5Z", "2017-06-20T01:30:00+02:00",
              "2017-06-20T22:30:00-03:30", "2017-06-20T10:31:05"]:
        out = os.path.join(work, "date.tecv")
        rc, _, err = tec("encode", "--raw", tiny, "-o", out, "--dates", d)
        if rc:
            check("date %s encodes" % d, False, err.strip())
            continue
        f = info(out)["frame_list"][0]
        check("date %s -> %s ms" % (d, ms(d)), f["time_ms"] == ms(d), f["time_ms"])
    for d in ["2017-13-01", "2017-02-29", "2017-04-31", "2017-06-20T24:00:00",
              "2017-06-20T10:60:00", "2017-06-20T10:00:00.1234Z", "2017-06-20T10:00:00+2"]:
        rc, _, err = tec("encode", "--raw", tiny, "-o", os.path.join(work, "bad.tecv"),
                         "--dates", d)
        check("impossible date %s is refused" % d, rc != 0 and err.startswith("tec: "),
              err.strip())
    for d in ["--09", "2017", "2017-06", "2017-06-20 10:00", "Q3", "2017-06-20_pass2"]:
        out = os.path.join(work, "label.tecv")
        rc, _, err = tec("encode", "--raw", tiny, "-o", out, "--dates", d)
        ok = rc == 0
        if ok:
            f = info(out)["frame_list"][0]
            ok = f["date"] == d and f["time_ms"] is None
        check("label %r kept as text, time unknown" % d, ok, err.strip())

    # One date per frame, no more, no less.
    for n in [3, 5]:
        rc, _, err = tec("encode", "--raw", FIXTURE, "-o", os.path.join(work, "n.tecv"),
                         "--dates", ",".join(["2017-01-01"] * n))
        check("%d dates for 4 frames is an error" % n, rc != 0 and "date" in err, err.strip())


if __name__ == "__main__":
    sys.exit(main())
