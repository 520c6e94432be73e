"""results.csv and the reports written from it: bdrate.csv, bdrate.md,
summary.md and the plots."""
import csv
import math
import os
import sys

import numpy as np

from .bdrate import bd_rate, interp_psnr_at_rate, interp_rate_at_psnr, rd_curve
from .metrics import psnr_from_mse


CSV_COLUMNS = [
    "cube", "codec", "setting", "T", "C", "H", "W", "bytes", "bpppb", "bpp",
    "psnr", "mse", "sam", "msssim", "msssim_scales",
    "enc_seconds", "dec_seconds", "enc_cpu_seconds", "dec_cpu_seconds",
    "enc_mpxb_per_s", "dec_mpxb_per_s",
    "enc_rss_mb", "dec_rss_mb", "peak_rss_mb", "scale_psnr", "psnr_bands",
    "error_bound", "max_error", "notes",
]


def fmt(v):
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf"
        return "%.6g" % v
    return str(v)


def read_rows(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            for k in ("bpppb", "bpp", "psnr", "mse", "sam", "msssim", "enc_seconds",
                      "dec_seconds", "enc_cpu_seconds", "dec_cpu_seconds", "enc_mpxb_per_s",
                      "dec_mpxb_per_s", "peak_rss_mb"):
                try:
                    r[k] = float(r[k])
                except (KeyError, TypeError, ValueError):
                    r[k] = math.nan
            for k in ("T", "C", "H", "W", "bytes"):
                try:
                    r[k] = int(r[k])
                except (KeyError, TypeError, ValueError):
                    r[k] = 0
            for k in ("error_bound", "max_error"):      # None: no bound / not measured
                try:
                    r[k] = int(r[k])
                except (KeyError, TypeError, ValueError):
                    r[k] = None
            rows.append(r)
    return rows


def group(rows):
    """{cube: {codec: [rows]}} in first-seen order."""
    out = {}
    for r in rows:
        out.setdefault(r["cube"], {}).setdefault(r["codec"], []).append(r)
    return out


def pooled_rows(rows):
    """The 'all cubes' curve: for each codec and setting run on every cube,
    total bits / total samples and the PSNR of the pooled squared error."""
    cubes = list(dict.fromkeys(r["cube"] for r in rows))
    acc = {}
    for r in rows:
        n = r["T"] * r["C"] * r["H"] * r["W"]
        a = acc.setdefault((r["codec"], r["setting"]), {"cubes": set(), "bits": 0.0, "n": 0,
                                                        "se": 0.0, "sam": 0.0, "ms": 0.0})
        a["cubes"].add(r["cube"])
        a["bits"] += r["bytes"] * 8.0
        a["n"] += n
        a["se"] += r["mse"] * n
        a["sam"] += r["sam"] * n
        a["ms"] += r["msssim"] * n
    out = []
    for (codec, setting), a in acc.items():
        if len(a["cubes"]) != len(cubes) or a["n"] == 0:
            continue
        out.append({"cube": "all", "codec": codec, "setting": setting,
                    "bpppb": a["bits"] / a["n"], "psnr": psnr_from_mse(a["se"] / a["n"]),
                    "sam": a["sam"] / a["n"], "msssim": a["ms"] / a["n"]})
    return out


def curve_of(rows):
    return rd_curve([r["bpppb"] for r in rows], [r["psnr"] for r in rows])


BD_RANGES = (("40-50 dB", 40.0, 50.0), ("common", None, None))


def bd_table(rows, test, refs):
    """Rows of bdrate.csv: test against each reference, per cube, the mean
    over cubes and on the pooled curve."""
    out = []
    g = group(rows)
    pooled = group(pooled_rows(rows)).get("all", {})
    for ref in refs:
        if ref == test:
            continue
        for rname, lo, hi in BD_RANGES:
            vals = []
            for cube, codecs in g.items():
                a, b = codecs.get(ref, []), codecs.get(test, [])
                if not a or not b:
                    continue
                v, l, h, note = bd_rate([r["bpppb"] for r in a], [r["psnr"] for r in a],
                                        [r["bpppb"] for r in b], [r["psnr"] for r in b], lo, hi)
                out.append({"test": test, "reference": ref, "cube": cube, "range": rname,
                            "lo_db": l, "hi_db": h, "bd_rate_percent": v, "note": note})
                if math.isfinite(v):
                    vals.append(v)
            if vals:
                out.append({"test": test, "reference": ref, "cube": "mean of cubes",
                            "range": rname, "lo_db": math.nan, "hi_db": math.nan,
                            "bd_rate_percent": float(np.mean(vals)),
                            "note": "%d cube(s) with overlap" % len(vals)})
            a, b = pooled.get(ref, []), pooled.get(test, [])
            if a and b and len(g) > 1:
                v, l, h, note = bd_rate([r["bpppb"] for r in a], [r["psnr"] for r in a],
                                        [r["bpppb"] for r in b], [r["psnr"] for r in b], lo, hi)
                out.append({"test": test, "reference": ref, "cube": "pooled", "range": rname,
                            "lo_db": l, "hi_db": h, "bd_rate_percent": v,
                            "note": ("pooled curve; " + note).rstrip("; ")})
    return out


def bd_cell(r):
    v = r["bd_rate_percent"]
    if not math.isfinite(v):
        return r["note"] or "n/a"
    s = "%+.1f%%" % v
    if r["range"] != "common" and math.isfinite(r["lo_db"]) and (r["lo_db"] > 40.0 + 1e-6
                                                                 or r["hi_db"] < 50.0 - 1e-6):
        s += " (%.1f-%.1f dB)" % (r["lo_db"], r["hi_db"])
    elif r["range"] == "common" and math.isfinite(r["lo_db"]):
        s += " (%.1f-%.1f dB)" % (r["lo_db"], r["hi_db"])
    return s


def bd_markdown(table, test, title):
    """Tables of cubes x pairs; a column per 'test vs reference' pair."""
    lines = ["## %s" % title, ""]
    if not table:
        return lines + ["No points of %s and a reference on the same cube." % test, ""]
    pairs = list(dict.fromkeys((r["test"], r["reference"]) for r in table))
    for rname, _, _ in BD_RANGES:
        sub = [r for r in table if r["range"] == rname]
        if not sub:
            continue
        cubes = list(dict.fromkeys(r["cube"] for r in sub))
        lines += ["### PSNR range %s" % rname, "",
                  "| cube | " + " | ".join("%s vs %s" % p for p in pairs) + " |",
                  "|---|" + "---|" * len(pairs)]
        for cube in cubes:
            cells = []
            for t, ref in pairs:
                hit = [r for r in sub if r["cube"] == cube and r["test"] == t
                       and r["reference"] == ref]
                cells.append(bd_cell(hit[0]) if hit else "-")
            lines.append("| %s | %s |" % (cube, " | ".join(cells)))
        lines.append("")
    return lines


def write_bdrate(rows, out_dir, test="tec", anchor="j2k_klt"):
    codecs = list(dict.fromkeys(r["codec"] for r in rows))
    # A bounded point is placed by its bound, not on an RD curve: the
    # near-lossless points have their own table (lossless_tables).
    lossy = [r for r in rows if math.isfinite(r["psnr"]) and r.get("error_bound") is None]
    main = bd_table(lossy, test, codecs) if test in codecs else []
    # each baseline (the test codec excluded) against the anchor
    flipped = []
    if anchor in codecs:
        for codec in dict.fromkeys(r["codec"] for r in lossy):
            if codec not in (anchor, test):
                flipped += bd_table(lossy, codec, [anchor])
    cols = ["test", "reference", "cube", "range", "lo_db", "hi_db", "bd_rate_percent", "note"]
    with open(os.path.join(out_dir, "bdrate.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=cols)
        wr.writeheader()
        for r in main + flipped:
            wr.writerow({k: fmt(r[k]) for k in cols})
    lines = ["# BD-rate", "",
             "Bjontegaard delta rate (cubic fit of log bpppb against PSNR, integrated over "
             "the PSNR interval both curves cover, intersected with the range named). "
             "Negative: the test codec needs that much less rate for the same PSNR. "
             "A narrower interval than asked is given in brackets; 'no overlap' means the "
             "curves share no PSNR in that range. 'mean of cubes' averages the cubes with "
             "a value; 'pooled' uses the curve of total bits against pooled squared error.",
             ""]
    if test in codecs:
        lines += bd_markdown(main, test, "%s against each baseline" % test)
    else:
        lines += ["## %s against each baseline" % test, "",
                  "No %s points in results.csv: nothing to report." % test, ""]
    lines += bd_markdown(flipped, "each baseline",
                         "Each baseline against the %s anchor (reference = %s)" % (anchor, anchor))
    with open(os.path.join(out_dir, "bdrate.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


RATE_POINTS = (0.05, 0.1, 0.2, 0.5, 1.0)
PSNR_POINTS = (40.0, 45.0, 50.0)


def write_summary(rows, out_dir):
    g = group(rows)
    if len(g) > 1:
        g["all (pooled)"] = group(pooled_rows(rows)).get("all", {})
    lines = ["# Summary", "", "Interpolated linearly in log-rate between measured points; "
             "'-' where the codec's points do not reach that rate or PSNR (no extrapolation).",
             "", "## PSNR (dB) at a given rate (bpppb)", "",
             "| cube | codec | " + " | ".join("%g" % r for r in RATE_POINTS) + " |",
             "|---|---|" + "---|" * len(RATE_POINTS)]
    for cube, codecs in g.items():
        for codec, rs in codecs.items():
            cur = curve_of(rs)
            cells = [interp_psnr_at_rate(cur, r) for r in RATE_POINTS]
            lines.append("| %s | %s | %s |" % (cube, codec, " | ".join(
                "-" if v is None else "%.2f" % v for v in cells)))
    lines += ["", "## Rate (bpppb) at a given PSNR", "",
              "| cube | codec | " + " | ".join("%g dB" % p for p in PSNR_POINTS) + " |",
              "|---|---|" + "---|" * len(PSNR_POINTS)]
    for cube, codecs in g.items():
        for codec, rs in codecs.items():
            cur = curve_of(rs)
            cells = [interp_rate_at_psnr(cur, p) for p in PSNR_POINTS]
            lines.append("| %s | %s | %s |" % (cube, codec, " | ".join(
                "-" if v is None else "%.4f" % v for v in cells)))
    lossless = [r for r in rows if math.isinf(r["psnr"]) and r.get("error_bound") is None]
    if lossless:
        lines += ["", "## Other points without error", "",
                  "No bound promised, none missed (the bounded ones are in the tables below).",
                  "", "| cube | codec | setting | bpppb |", "|---|---|---|---|"]
        for r in lossless:
            lines.append("| %s | %s | %s | %.4f |" % (r["cube"], r["codec"], r["setting"],
                                                     r["bpppb"]))
    md, _ = lossless_tables(rows)
    if md:
        lines += [""] + md
    lines += ["", "## Speed and memory (median over the points of each codec)", "",
              "Megapixels x bands per second, from wall-clock time and from the CPU time "
              "(user + system) of the codec's processes; the CPU figure is the steadier one "
              "on a shared machine.  Peak RSS: the largest child process.", "",
              "| codec | points | enc wall | enc CPU | dec wall | dec CPU | peak RSS MB |",
              "|---|---|---|---|---|---|---|"]
    by_codec = {}
    for r in rows:
        by_codec.setdefault(r["codec"], []).append(r)

    def per_cpu(r, side):
        n = r["T"] * r["C"] * r["H"] * r["W"] / 1e6
        c = r["%s_cpu_seconds" % side]
        return n / c if c > 0 else math.nan

    for codec, rs in by_codec.items():
        lines.append("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.0f |" % (
            codec, len(rs), np.nanmedian([r["enc_mpxb_per_s"] for r in rs]),
            np.nanmedian([per_cpu(r, "enc") for r in rs]),
            np.nanmedian([r["dec_mpxb_per_s"] for r in rs]),
            np.nanmedian([per_cpu(r, "dec") for r in rs]),
            np.nanmax([r["peak_rss_mb"] for r in rs])))
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


STYLE = {"tec": ("black", "o"), "j2k": ("tab:blue", "s"), "j2k_klt": ("tab:orange", "D"),
         "x265": ("tab:green", "^"), "aom": ("tab:red", "v"), "svtav1": ("tab:purple", "<"),
         "jxl": ("tab:brown", ">"), "zstd": ("tab:gray", "x"),
         "tec_ll": ("dimgray", "*"), "j2k_nl": ("tab:cyan", "P")}


def write_plots(rows, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("compare: matplotlib missing: no plots", file=sys.stderr)
        return
    g = group(rows)
    written = []

    def panel(ax, codecs, key, ylabel, lossless_note=True):
        notes = []
        for codec, rs in codecs.items():
            color, marker = STYLE.get(codec, (None, "o"))
            fin = sorted((r for r in rs if math.isfinite(r["psnr"]) and math.isfinite(r[key])),
                         key=lambda r: r["bpppb"])
            if fin:
                ax.plot([r["bpppb"] for r in fin], [r[key] for r in fin], marker=marker,
                        color=color, label=codec, markersize=4, linewidth=1.2)
            for r in rs:
                if math.isinf(r["psnr"]):
                    notes.append("%s %s: %.3f" % (codec, r["setting"], r["bpppb"]))
        ax.set_xscale("log")
        ax.set_xlabel("bpppb (bits per pixel per band)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        if lossless_note and notes:
            ax.text(0.99, 0.02, "lossless (bpppb):\n" + "\n".join(notes), transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=7,
                    bbox=dict(boxstyle="round", fc="white", alpha=0.8))

    for cube, codecs in g.items():
        r0 = next(iter(codecs.values()))[0]
        fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
        panel(axes[0], codecs, "psnr", "PSNR (dB, peak 10000)")
        panel(axes[1], codecs, "sam", "SAM (degrees, lower is better)", False)
        panel(axes[2], codecs, "msssim", "MS-SSIM, true colour", False)
        axes[0].legend(loc="upper left", fontsize=8)
        fig.suptitle("%s  (T=%d, C=%d, %dx%d)" % (cube, r0["T"], r0["C"], r0["H"], r0["W"]))
        fig.tight_layout()
        path = os.path.join(out_dir, "rd_%s.png" % "".join(
            ch if ch.isalnum() or ch in "-_." else "_" for ch in cube))
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    pooled = group(pooled_rows(rows)).get("all", {})
    if pooled:
        fig, ax = plt.subplots(figsize=(8, 6))
        panel(ax, pooled, "psnr", "PSNR (dB) of the pooled squared error")
        ax.legend(loc="upper left", fontsize=9)
        ax.set_title("all cubes (%d): total bits / total samples" % len(g))
        fig.tight_layout()
        path = os.path.join(out_dir, "rd_all.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    by_codec = {}
    for r in rows:
        by_codec.setdefault(r["codec"], []).append(r)
    if by_codec:
        fig, ax = plt.subplots(figsize=(8, 5))
        names = list(by_codec)
        x = np.arange(len(names))
        enc = [np.nanmedian([r["enc_mpxb_per_s"] for r in by_codec[n]]) for n in names]
        dec = [np.nanmedian([r["dec_mpxb_per_s"] for r in by_codec[n]]) for n in names]
        ax.bar(x - 0.2, enc, 0.4, label="encode")
        ax.bar(x + 0.2, dec, 0.4, label="decode")
        ax.set_xticks(x)
        ax.set_xticklabels(names)
        ax.set_yscale("log")
        ax.set_ylabel("megapixels x bands per second (median over points)")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = os.path.join(out_dir, "speed.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


TEST_BOUNDED = "tec_ll"
LOSSLESS_COLUMNS = ["table", "cube", "codec", "setting", "error_bound", "max_error", "bytes",
                    "bpppb", "tec_ll_vs_percent"]


def rel(a, b):
    """a against b in percent (negative: a is smaller)."""
    return 100.0 * (a / b - 1.0) if b > 0 and math.isfinite(a) and math.isfinite(b) else math.nan


def lossless_tables(rows):
    """The "Lossless" and "Near-lossless" tables of the bounded points:
    (markdown lines, rows of lossless.csv).  Only a point whose measured
    max error is within its bound is here (run_point fails the others;
    a hand-edited results.csv is checked again)."""
    pts = [r for r in rows if r.get("error_bound") is not None and r.get("max_error") is not None
           and r["max_error"] <= r["error_bound"]]
    lines, table = [], []
    cubes = list(dict.fromkeys(r["cube"] for r in pts))

    def col(r):
        if r["error_bound"] > 0:
            return r["codec"]
        return r["codec"] if r["setting"] == "lossless" else "%s %s" % (r["codec"], r["setting"])

    ll = [r for r in pts if r["error_bound"] == 0]
    if ll:
        cols = list(dict.fromkeys(col(r) for r in ll))
        cell = {(r["cube"], col(r)): r for r in ll}
        test = TEST_BOUNDED if TEST_BOUNDED in cols else None
        refs = [c for c in cols if c != test] if test else []
        lines += ["## Lossless", "",
                  "Bits per sample of every point checked bit-exact (each decoded sample "
                  "equal to the source)%s; 'worst' is the place where each codec needs the "
                  "most, and for the differences the place where %s does worst."
                  % ((", and %s's difference to each (negative: %s is smaller)" % (test, test))
                     if refs else "", test or "tec_ll"), "",
                  "| cube | " + " | ".join(cols + ["%s vs %s" % (test, c) for c in refs]) + " |",
                  "|---|" + "---|" * (len(cols) + len(refs))]
        per = {c: [] for c in cols}
        diffs = {c: [] for c in refs}
        for cube in cubes:
            cells = []
            for c in cols:
                r = cell.get((cube, c))
                cells.append("%.4f" % r["bpppb"] if r else "-")
                if r:
                    per[c].append((r["bpppb"], cube))
            for c in refs:
                a, b = cell.get((cube, test)), cell.get((cube, c))
                d = rel(a["bpppb"], b["bpppb"]) if a and b else math.nan
                cells.append("%+.1f%%" % d if math.isfinite(d) else "-")
                if math.isfinite(d):
                    diffs[c].append((d, cube))
            lines.append("| %s | %s |" % (cube, " | ".join(cells)))
            for c in cols:
                r = cell.get((cube, c))
                if r:
                    a = cell.get((cube, test)) if test else None
                    table.append({"table": "lossless", "cube": cube, "codec": r["codec"],
                                  "setting": r["setting"], "error_bound": 0,
                                  "max_error": r["max_error"], "bytes": r["bytes"],
                                  "bpppb": r["bpppb"],
                                  "tec_ll_vs_percent": rel(a["bpppb"], r["bpppb"]) if a
                                  and c != test else math.nan})
        if len(cubes) > 1:
            mean = ["%.4f" % np.mean([v for v, _ in per[c]]) if per[c] else "-" for c in cols]
            mean += ["**%+.1f%%**" % np.mean([v for v, _ in diffs[c]]) if diffs[c] else "-"
                     for c in refs]
            worst = ["%.4f (%s)" % max(per[c]) if per[c] else "-" for c in cols]
            worst += ["%+.1f%% (%s)" % max(diffs[c]) if diffs[c] else "-" for c in refs]
            lines += ["| mean | %s |" % " | ".join(mean), "| worst | %s |" % " | ".join(worst)]
            for c in cols:
                if per[c]:
                    table.append({"table": "lossless", "cube": "mean of cubes", "codec": c,
                                  "setting": "", "error_bound": 0, "max_error": "",
                                  "bytes": "", "bpppb": float(np.mean([v for v, _ in per[c]])),
                                  "tec_ll_vs_percent": float(np.mean([v for v, _ in diffs[c]]))
                                  if diffs.get(c) else math.nan})
        lines.append("")

    nl = [r for r in pts if r["error_bound"] > 0]
    if nl:
        cols = list(dict.fromkeys(r["codec"] for r in nl))
        cell = {(r["cube"], r["error_bound"], r["codec"]): r for r in nl}
        bounds = sorted(set(r["error_bound"] for r in nl))
        test = TEST_BOUNDED if TEST_BOUNDED in cols else None
        refs = [c for c in cols if c != test] if test else []
        lines += ["## Near-lossless", "",
                  "Bits per sample at each maximum error E, the measured max error in "
                  "brackets (checked <= E)%s." % (
                      ", and %s's difference to each" % test if refs else ""), "",
                  "| cube | E | " + " | ".join(cols + ["%s vs %s" % (test, c) for c in refs])
                  + " |", "|---|---|" + "---|" * (len(cols) + len(refs))]
        rows_by_e = {}
        for cube in cubes + (["mean"] if len(cubes) > 1 else []):
            for e in bounds:
                if cube == "mean":
                    got = {c: [cell[(k, e, c)]["bpppb"] for k in cubes if (k, e, c) in cell]
                           for c in cols}
                    # the mean only over codecs with a point on every cube
                    vals = {c: float(np.mean(v)) for c, v in got.items() if len(v) == len(cubes)}
                    if not vals:
                        continue
                    cells = ["%.4f" % vals[c] if c in vals else "-" for c in cols]
                    for c in refs:
                        ds = [rel(cell[(k, e, test)]["bpppb"], cell[(k, e, c)]["bpppb"])
                              for k in cubes if (k, e, test) in cell and (k, e, c) in cell]
                        cells.append("**%+.1f%%**" % np.mean(ds) if len(ds) == len(cubes)
                                     else "-")
                    rows_by_e.setdefault(e, vals)
                else:
                    if not any((cube, e, c) in cell for c in cols):
                        continue
                    cells = []
                    for c in cols:
                        r = cell.get((cube, e, c))
                        cells.append("%.4f (%d)" % (r["bpppb"], r["max_error"]) if r else "-")
                        if r:
                            a = cell.get((cube, e, test)) if test else None
                            table.append({"table": "near-lossless", "cube": cube,
                                          "codec": c, "setting": r["setting"], "error_bound": e,
                                          "max_error": r["max_error"], "bytes": r["bytes"],
                                          "bpppb": r["bpppb"],
                                          "tec_ll_vs_percent": rel(a["bpppb"], r["bpppb"])
                                          if a and c != test else math.nan})
                    for c in refs:
                        a, b = cell.get((cube, e, test)), cell.get((cube, e, c))
                        d = rel(a["bpppb"], b["bpppb"]) if a and b else math.nan
                        cells.append("%+.1f%%" % d if math.isfinite(d) else "-")
                lines.append("| %s | %d | %s |" % (cube, e, " | ".join(cells)))
        for e, vals in rows_by_e.items():
            for c, v in vals.items():
                table.append({"table": "near-lossless", "cube": "mean of cubes", "codec": c,
                              "setting": "", "error_bound": e, "max_error": "", "bytes": "",
                              "bpppb": v, "tec_ll_vs_percent": math.nan})
        lines.append("")
    return lines, table


def write_lossless(rows, out_dir):
    """lossless.csv; returns the markdown of the two tables (also in
    summary.md), [] when there are no bounded points."""
    lines, table = lossless_tables(rows)
    path = os.path.join(out_dir, "lossless.csv")
    if not table:
        if os.path.exists(path):
            os.remove(path)
        return []
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=LOSSLESS_COLUMNS)
        wr.writeheader()
        for r in table:
            wr.writerow({k: fmt(r[k]) for k in LOSSLESS_COLUMNS})
    return lines


def write_reports(out_dir, plots=True):
    """Every report from results.csv; returns the lossless and near-lossless
    tables (markdown) for the end of the run's output."""
    rows = read_rows(os.path.join(out_dir, "results.csv"))
    if not rows:
        return []
    write_bdrate(rows, out_dir)
    write_summary(rows, out_dir)
    tables = write_lossless(rows, out_dir)
    if plots:
        write_plots(rows, out_dir)
    return tables


# ============================================================== main
