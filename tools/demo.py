#!/usr/bin/python3
"""TerraCodec demo ('make demo'): encode the bundled Sentinel-2 time series
with the shipped model, decode it, and report size, rate and quality.

  /usr/bin/python3 tools/demo.py [--quality Q] [--out DIR]

Uses tools/tec and weights/tec-s2.tecw of this tree.  Prints the file size,
bits per pixel per band (bpppb) and per acquisition (bpp), PSNR per frame and
overall (reflectance x 10000 clipped to [0, 10000], peak 10000), the
compression ratio against raw 16-bit samples and the output of 'tec info',
and writes DIR/demo.png: true colour (B04, B03, B02) of each acquisition,
original beside decoded.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy")
FIXTURE_JSON = os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.json")
MODEL = "tec-s2-tt"
PEAK = 10000.0


def psnr(a, b):
    a = np.clip(a.astype(np.float64), 0, PEAK)
    b = np.clip(b.astype(np.float64), 0, PEAK)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(PEAK * PEAK / mse)


def show(path):
    """A path as the user would type it from here."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def run(cmd):
    """Runs tec; on failure shows its message and stops the demo."""
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.stderr.write(p.stderr)
        sys.exit("demo: '%s' failed (exit status %d)" % (" ".join(cmd[:2]), p.returncode))
    return p.stdout, time.time() - t0


def true_colour(cube, bands, lo, hi):
    """(T, C, H, W) -> (T, H, W, 3) in [0, 1]: B04, B03, B02 stretched from
    [lo, hi] with a mild gamma, the same stretch for original and decoded."""
    idx = [bands.index(b) for b in ("B04", "B03", "B02")]
    rgb = cube[:, idx].astype(np.float64).transpose(0, 2, 3, 1)
    return np.clip((rgb - lo) / (hi - lo), 0, 1) ** (1 / 1.4)


def write_png(path, orig, dec, bands, labels, psnrs):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rgb = orig[:, [bands.index(b) for b in ("B04", "B03", "B02")]]
    lo, hi = np.percentile(rgb, 1), np.percentile(rgb, 99)
    a, b = true_colour(orig, bands, lo, hi), true_colour(dec, bands, lo, hi)
    t = orig.shape[0]
    fig, axes = plt.subplots(t, 2, figsize=(5.2, 2.6 * t + 0.4), squeeze=False)
    for i in range(t):
        for k, (img, what) in enumerate([(a[i], "original"), (b[i], "decoded, %.1f dB" % psnrs[i])]):
            ax = axes[i][k]
            ax.imshow(img, interpolation="nearest")
            ax.set_title("%s  %s" % (labels[i], what), fontsize=8)
            ax.axis("off")
    fig.suptitle("TerraCodec: Liri valley, Sentinel-2 L1C true colour (B04 B03 B02)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quality", type=int, help="tec quality (default: the model's)")
    ap.add_argument("--out", default=os.path.join(ROOT, "out"), help="output directory (out/)")
    ap.add_argument("--tec", default=os.environ.get("TEC", os.path.join(ROOT, "tools", "tec")))
    args = ap.parse_args()

    tec = args.tec
    weights = os.path.join(ROOT, "weights")
    if not os.access(tec, os.X_OK):
        sys.exit("demo: %s is not built: run ./configure && make first" % tec)
    if not os.path.isfile(os.path.join(weights, MODEL + ".tecw")):
        sys.exit("demo: the shipped model weights/%s.tecw is missing, so there is nothing to "
                 "encode with.\n      Train and export it (tools/train/train.py, then "
                 "tools/train/export.py -o weights/%s.tecw; see doc/model.md)."
                 % (MODEL, MODEL))

    meta = json.load(open(FIXTURE_JSON))
    orig = np.load(FIXTURE)
    t, c, h, w = orig.shape
    bands, dates = meta["bands"], meta["dates"]
    os.makedirs(args.out, exist_ok=True)
    tecv = os.path.join(args.out, "demo.tecv")
    decoded = os.path.join(args.out, "demo.npy")
    png = os.path.join(args.out, "demo.png")

    cmd = [tec, "encode", FIXTURE, "-o", tecv, "--weights-dir", weights, "--model", MODEL,
           "--dates", ",".join(dates), "--bands", ",".join(bands), "--crs", meta["crs"],
           "--geotransform", ",".join(repr(v) for v in meta["geotransform"])]
    for key in ("processing_level", "source", "attribution"):
        if key in meta:
            cmd += ["--meta", "%s=%s" % (key, meta[key])]
    if args.quality is not None:
        cmd += ["--quality", str(args.quality)]
    _, t_enc = run(cmd)
    _, t_dec = run([tec, "decode", tecv, "-o", decoded, "--weights-dir", weights])
    info_json, _ = run([tec, "info", "--json", tecv])
    info_text, _ = run([tec, "info", tecv])
    info = json.loads(info_json)
    dec = np.load(decoded)
    if dec.shape != orig.shape or dec.dtype != np.uint16:
        sys.exit("demo: decoded %s %s, expected %s uint16" % (dec.shape, dec.dtype, orig.shape))

    size = os.path.getsize(tecv)
    raw = orig.size * 2
    frames = info["frame_list"]
    psnrs = [psnr(orig[i], dec[i]) for i in range(t)]
    total_psnr = psnr(orig, dec)
    px = h * w

    print("TerraCodec demo")
    print("  input    %s: %d acquisitions x %d bands x %d x %d, uint16"
          % (show(FIXTURE), t, c, h, w))
    print("  model    %s (checksum %s), quality %s"
          % (info["model"]["name"], info["model"]["checksum"],
             args.quality if args.quality is not None else "default"))
    print("  encoded  %s: %d bytes in %.2f s; decoded in %.2f s"
          % (show(tecv), size, t_enc, t_dec))
    print("  ratio    %.1f : 1 against raw 16-bit samples (%d bytes)" % (raw / size, raw))
    print("  rate     %.4f bits per pixel per band, %.3f bits per pixel per acquisition"
          " (whole file, container included)" % (size * 8 / (t * c * px), size * 8 / (t * px)))
    print()
    print("  %-5s %-11s %8s %9s %8s %9s" % ("frame", "date", "bytes", "bpppb", "bpp", "PSNR"))
    for i, f in enumerate(frames):
        print("  %-5d %-11s %8d %9.4f %8.3f %6.2f dB"
              % (i, f["date"], f["bytes"], f["bpppb"], f["bpp"], psnrs[i]))
    tot = info["total"]
    print("  %-5s %-11s %8d %9.4f %8.3f %6.2f dB"
          % ("all", "", tot["bytes"], tot["bpppb"], tot["bpp"], total_psnr))
    print("  (packet payloads; PSNR over all bands, clipped to [0, 10000], peak 10000)")
    print()
    print("  PSNR per band: " + ", ".join("%s %.1f" % (b, psnr(orig[:, k], dec[:, k]))
                                          for k, b in enumerate(bands)))
    print()
    print("$ tec info %s" % show(tecv))
    print(info_text.rstrip())
    print()
    try:
        write_png(png, orig, dec, bands, [f["date"] for f in frames], psnrs)
        print("wrote %s: original (left) and decoded (right), true colour" % show(png))
    except ImportError as e:
        print("demo: no PNG: matplotlib is missing (%s)" % e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
