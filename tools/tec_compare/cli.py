"""tec compare's command line: the options, the plan of points and the run."""
import argparse
import csv
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from .codecs import (ALL_CODECS, BOUNDED_CODECS, CODEC_CLASSES, DEFAULT_LADDERS, LOSSLESS_LADDERS,
                     MAX_ERRORS)
from .inputs import load_cube
from .meter import CodecError, Meter
from .metrics import (ms_ssim, msssim_scales, mse, psnr, psnr_from_mse, psnr_per_band, rgb_bands,
                      sam_degrees, true_colour)
from .report import CSV_COLUMNS, fmt, read_rows, write_reports

# the source tree: tools/tec_compare/ is two levels down
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def measure(cube, rec):
    """The distortion columns of one point."""
    ref = cube.data
    t, c, h, w = ref.shape
    m = mse(ref, rec)
    row = {"psnr": psnr_from_mse(m), "mse": m, "sam": sam_degrees(ref, rec, axis=1),
           "psnr_bands": ";".join("%.3f" % p for p in psnr_per_band(ref, rec))}
    rgb, _how = rgb_bands(cube.bands, c)
    if rgb is None:
        row["msssim"], row["msssim_scales"] = math.nan, 0
    else:
        vals, scales = ms_ssim(true_colour(ref, rgb, cube.offset),
                               true_colour(rec, rgb, cube.offset), 1.0)
        row["msssim"] = float(np.mean(vals)) if scales else math.nan
        row["msssim_scales"] = scales
    return row


def run_point(codec, cube, setting, opts, scale_psnr):
    t, c, h, w = cube.data.shape
    work = tempfile.mkdtemp(prefix="tec-compare-", dir=opts.workdir)
    try:
        meter = Meter()
        extra = {"dates": cube.dates} if getattr(codec, "takes_dates", False) else {}
        rec, nbytes, notes = codec.code(cube.data, setting, work, meter, cube.bands, **extra)
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    if rec.shape != cube.data.shape:
        raise CodecError("reconstruction has shape %s, expected %s" % (rec.shape, cube.data.shape))
    # The stored samples, not the clipped reflectance of PSNR: a point that
    # promises a bound (0: lossless) and misses it is an error, not a figure.
    max_error = int(np.abs(rec.astype(np.int64) - cube.data).max())
    bound = codec.error_bound(setting)
    if bound is not None and max_error > bound:
        raise CodecError("%s: a sample is %d off, the bound is %d%s"
                         % (codec.label(setting), max_error, bound,
                            " (not bit-exact)" if bound == 0 else ""))
    samples = t * c * h * w
    row = {"cube": cube.name, "codec": codec.name, "setting": codec.label(setting),
           "T": t, "C": c, "H": h, "W": w, "bytes": nbytes,
           "bpppb": nbytes * 8.0 / samples, "bpp": nbytes * 8.0 / (t * h * w),
           "error_bound": "" if bound is None else bound, "max_error": max_error}
    row.update(measure(cube, rec))
    enc_s, dec_s = meter.seconds["enc"], meter.seconds["dec"]
    row.update({
        "enc_seconds": enc_s, "dec_seconds": dec_s,
        "enc_cpu_seconds": meter.cpu["enc"], "dec_cpu_seconds": meter.cpu["dec"],
        "enc_mpxb_per_s": samples / 1e6 / enc_s if enc_s > 0 else math.nan,
        "dec_mpxb_per_s": samples / 1e6 / dec_s if dec_s > 0 else math.nan,
        "enc_rss_mb": meter.rss_kb["enc"] / 1024.0, "dec_rss_mb": meter.rss_kb["dec"] / 1024.0,
        "peak_rss_mb": max(meter.rss_kb.values()) / 1024.0,
        "scale_psnr": scale_psnr, "notes": notes,
    })
    return row


class Options:
    pass


def default_ffmpeg():
    for p in (os.path.join(ROOT, "ffmpeg-src", "ffmpeg"), os.path.join(ROOT, "build", "ffmpeg",
                                                                      "ffmpeg")):
        if os.access(p, os.X_OK) and os.path.isfile(p):
            return p
    return shutil.which("ffmpeg") or "ffmpeg"


def default_tec():
    env = os.environ.get("TEC")
    if env:
        return env
    for p in (os.path.join(ROOT, "tools", "tec"), os.path.join(ROOT, "build", "tec")):
        if os.access(p, os.X_OK) and os.path.isfile(p):
            return p
    return os.path.join(ROOT, "tools", "tec")


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="tec compare",
        description="Rate-distortion, speed and memory of tec against the codecs users would "
                    "pick instead (see doc/compare.md).")
    ap.add_argument("cubes", nargs="+", metavar="CUBE",
                    help=".npy (T x C x H x W or C x H x W uint16), a place directory or "
                         "cube.npz of ../shared/data, or a .tecv")
    ap.add_argument("--out", default="compare-out", help="output directory (compare-out)")
    ap.add_argument("--codecs", default=None,
                    help="comma-separated list of %s (all of these), or of the bounded "
                         "%s" % (",".join(ALL_CODECS), ",".join(BOUNDED_CODECS)))
    ap.add_argument("--lossless", action="store_true",
                    help="the lossless and near-lossless comparison instead: %s, and tec_ll, "
                         "j2k_nl, jls at each --max-errors; every lossless point is checked "
                         "bit-exact, every other one against its bound"
                         % ", ".join("%s %s" % kv for kv in LOSSLESS_LADDERS.items()))
    ap.add_argument("--max-errors", metavar="E1,E2,..",
                    help="the near-lossless bounds of tec_ll, j2k_nl and jls (%s); 0 is lossless"
                         % MAX_ERRORS)
    ap.add_argument("--qualities", help="tec qualities (%s)" % DEFAULT_LADDERS["tec"])
    ap.add_argument("--ladder", action="append", default=[], metavar="CODEC=V1,V2,..",
                    help="settings of a baseline, e.g. x265=30,20,10 or j2k=0.1,0.5,lossless")
    ap.add_argument("--tec", default=None, help="the tec tool ($TEC, tools/tec, build/tec)")
    ap.add_argument("--ffmpeg", default=None,
                    help="ffmpeg for x265/aom/svtav1 (ffmpeg-src/ffmpeg, build/ffmpeg/ffmpeg, "
                         "else ffmpeg on PATH)")
    ap.add_argument("--frames", type=int, help="use the first N frames of each cube")
    ap.add_argument("--crop", help="H[xW][+Y+X]: crop each cube (centred without +Y+X)")
    ap.add_argument("--bands", help="band names, comma-separated (else from meta.json)")
    ap.add_argument("--threads", type=int, default=1, help="threads per codec (1)")
    ap.add_argument("--x265-preset", default="medium")
    ap.add_argument("--aom-cpu-used", type=int, default=4)
    ap.add_argument("--svtav1-preset", type=int, default=8)
    ap.add_argument("--jxl-effort", type=int, default=7)
    ap.add_argument("--resume", action="store_true",
                    help="keep results.csv and skip the points already in it")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the coded files (in --workdir)")
    ap.add_argument("--workdir", default=None, help="scratch directory (system temp)")
    ap.add_argument("--strict", action="store_true",
                    help="fail when a codec asked for cannot run (instead of skipping it)")
    ap.add_argument("--report-only", action="store_true",
                    help="only rewrite bdrate/summary/plots from --out/results.csv")
    a = ap.parse_args(argv)
    o = Options()
    o.__dict__.update(vars(a))
    o.tec = a.tec or default_tec()
    o.ffmpeg = a.ffmpeg or default_ffmpeg()
    o.bands = [b.strip() for b in a.bands.split(",")] if a.bands else None
    default = list(LOSSLESS_LADDERS) + ["j2k_nl"] if a.lossless else ALL_CODECS
    o.codecs = [c.strip() for c in (a.codecs or ",".join(default)).split(",") if c.strip()]
    for c in o.codecs:
        if c not in CODEC_CLASSES:
            ap.error("unknown codec %r (known: %s)" % (c, ", ".join(ALL_CODECS + BOUNDED_CODECS)))
    o.ladders = dict(DEFAULT_LADDERS)
    errors = a.max_errors if a.max_errors is not None else MAX_ERRORS
    for e in errors.split(","):
        if e.strip() and not (e.strip().isdigit() and int(e) <= 255):
            ap.error("--max-errors wants integers 0..255, got %r" % errors)
    if a.lossless:
        o.ladders.update(LOSSLESS_LADDERS)
        o.ladders["tec_ll"] = o.ladders["jls"] = ",".join(
            ["0"] + [e for e in errors.split(",") if e.strip() and int(e) > 0])
        o.ladders["j2k_nl"] = errors
    elif a.max_errors is not None:
        o.ladders["tec_ll"] = o.ladders["j2k_nl"] = o.ladders["jls"] = errors
    if a.qualities:
        o.ladders["tec"] = o.ladders["tec_effort"] = a.qualities
    for spec in a.ladder:
        name, eq, vals = spec.partition("=")
        if not eq or name not in CODEC_CLASSES:
            ap.error("--ladder wants CODEC=V1,V2,.. with a known codec, got %r" % spec)
        o.ladders[name] = vals
    for name in BOUNDED_CODECS:
        if not all(v.strip().isdigit() and int(v) <= 255
                   for v in o.ladders[name].split(",") if v.strip()):
            ap.error("%s's settings are max errors, integers 0..255: got %r"
                     % (name, o.ladders[name]))
    if a.threads < 1:
        ap.error("--threads must be >= 1")
    cache = {}

    def ffmpeg_list(what):
        """Names listed by `ffmpeg -encoders|-decoders|-muxers|-demuxers`."""
        if what not in cache:
            names = set()
            try:
                res = subprocess.run([o.ffmpeg, "-hide_banner", what], capture_output=True,
                                     text=True, timeout=60)
                body = res.stdout.split("\n --", 1)[-1].splitlines()[1:]
                for ln in body:
                    tok = ln.split()
                    if len(tok) > 1:
                        names.update(tok[1].split(","))
            except (OSError, subprocess.SubprocessError):
                pass
            cache[what] = names
        return cache[what]

    o.ffmpeg_list = ffmpeg_list
    return o


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(opts.out, exist_ok=True)
    if opts.report_only:
        write_reports(opts.out, not opts.no_plots)
        return 0

    codecs = []
    skipped = []
    for name in opts.codecs:
        codec = CODEC_CLASSES[name](opts)
        why = codec.check()
        if why:
            print("compare: skipping %s: %s" % (name, why), flush=True)
            skipped.append(name)
        else:
            codecs.append(codec)
    if skipped and opts.strict:
        print("compare: --strict: cannot run %s" % ", ".join(skipped), file=sys.stderr)
        return 1
    if not codecs:
        print("compare: no codec is usable", file=sys.stderr)
        return 1

    cubes = []
    seen = set()
    for p in opts.cubes:
        cube = load_cube(p, opts)
        base, k = cube.name, 2
        while cube.name in seen:
            cube.name = "%s_%d" % (base, k)
            k += 1
        seen.add(cube.name)
        cubes.append(cube)

    csv_path = os.path.join(opts.out, "results.csv")
    done = set()
    if opts.resume and os.path.exists(csv_path):
        with open(csv_path, newline="") as f:
            header = next(csv.reader(f), None)
        if header != CSV_COLUMNS:
            print("compare: %s has other columns than this version writes; "
                  "move it away or run without --resume" % csv_path, file=sys.stderr)
            return 1
        done = {(r["cube"], r["codec"], r["setting"]) for r in read_rows(csv_path)}
        f = open(csv_path, "a", newline="")
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
    else:
        f = open(csv_path, "w", newline="")
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        f.flush()

    plan = []
    for cube in cubes:
        for codec in codecs:
            for s in [v.strip() for v in opts.ladders[codec.name].split(",") if v.strip()]:
                if (cube.name, codec.name, codec.label(s)) not in done:
                    plan.append((cube, codec, s))
    for cube in cubes:
        t, c, h, w = cube.data.shape
        rgb, how = rgb_bands(cube.bands, c)
        m = msssim_scales(h, w)
        print("compare: %s: %d x %d x %d x %d from %s; MS-SSIM on %s, %d scale(s)%s"
              % (cube.name, t, c, h, w, cube.source, how, m,
                 "" if m == 5 else " (image too small for 5)"), flush=True)
    print("compare: %d point(s) to run, results in %s" % (len(plan), csv_path), flush=True)

    scale_cache = {}
    failures = []
    interrupted = False
    try:
        for i, (cube, codec, s) in enumerate(plan, 1):
            key = (cube.name, codec.name)
            if key not in scale_cache:
                scale_cache[key] = psnr(cube.data, codec.scale_roundtrip(cube.data))
            try:
                row = run_point(codec, cube, s, opts, scale_cache[key])
            except CodecError as e:
                failures.append("%s %s %s: %s" % (cube.name, codec.name, s, e))
                print("[%d/%d] %s %s %s: FAILED: %s" % (i, len(plan), cube.name, codec.name,
                                                      codec.label(s), e), flush=True)
                continue
            writer.writerow({k: fmt(row.get(k, "")) for k in CSV_COLUMNS})
            f.flush()
            print("[%d/%d] %s %s %s: %.4f bpppb  %s dB  SAM %.3f  MS-SSIM %.4f  "
                  "enc %.2fs dec %.2fs  %.0f MB%s" % (
                      i, len(plan), cube.name, codec.name, row["setting"], row["bpppb"],
                      fmt(round(row["psnr"], 2)) if math.isfinite(row["psnr"]) else "inf",
                      row["sam"], row["msssim"], row["enc_seconds"], row["dec_seconds"],
                      row["peak_rss_mb"],
                      "" if row["error_bound"] == "" else "  max error %d <= %d" % (
                          row["max_error"], row["error_bound"])), flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("\ncompare: interrupted; the points done are in %s" % csv_path, flush=True)
    finally:
        f.close()
    for (cube_name, codec_name), v in scale_cache.items():
        if math.isfinite(v):
            print("compare: %s %s: the sample conversion alone gives %.2f dB"
                  % (cube_name, codec_name, v))
    tables = write_reports(opts.out, not opts.no_plots)
    if tables:
        print("\n" + "\n".join(tables))
    print("compare: wrote %s" % ", ".join(sorted(os.listdir(opts.out))))
    if failures:
        print("compare: %d point(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)),
              file=sys.stderr)
    return 130 if interrupted else (1 if failures else 0)
