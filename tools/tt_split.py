#!/usr/bin/python3
"""Inter frames against the same frames intra, from tec compare results.

For each place and quality, the inter frames' bytes of the `tec` stream
against the all-intra stream's (`tec_intra`) bytes of the same frames (the
keyframes are identical in both, so those are the intra stream's frames
less the tec stream's keyframes); then each place's BD-rate of `tec`
(40-50 dB) against the codecs of a second results file, for comparing two
encoders' `tec` rows when the baselines were measured once.

  tools/tt_split.py NEW/results.csv [--baselines OLD/results.csv] [--codecs tec,tec_intra,x265,aom]
"""
import argparse
import csv
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tec_compare.bdrate import bd_rate  # noqa: E402


def rows_of(path):
    return list(csv.DictReader(open(path)))


def curve(rows, cube, codec):
    r = [x for x in rows if x["cube"] == cube and x["codec"] == codec]
    return [float(x["bpppb"]) for x in r], [float(x["psnr"]) for x in r]


def frame_bytes(row):
    """(keyframe bytes, inter bytes) of a tec row's notes; the frames
    between keyframes are the inter and the predicted frames."""
    intra = re.search(r"intra (\d+) frames (\d+) bytes", row["notes"])
    between = sum(int(m.group(1)) for m in
                  re.finditer(r"(?:inter|predicted) \d+ frames (\d+) bytes", row["notes"]))
    return (int(intra.group(2)) if intra else 0), between


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--baselines", help="results.csv with the codecs to compare against (default: the same)")
    ap.add_argument("--codecs", default="tec_intra,x265,aom")
    ap.add_argument("--qualities", default="q=9,q=13,q=17,q=21")
    args = ap.parse_args()
    new = rows_of(args.results)
    base = rows_of(args.baselines) if args.baselines else new
    codecs = args.codecs.split(",")
    cubes = sorted({x["cube"] for x in new if x["codec"] == "tec"})
    print("| place | inter frames vs the same frames intra, " + " / ".join(args.qualities.split(",")) + " | "
          + " | ".join(f"tec vs {c}" for c in codecs) + " |")
    print("|---|---|" + "---|" * len(codecs))
    sums = {c: [] for c in codecs}
    for cube in cubes:
        split = []
        for q in args.qualities.split(","):
            t = [x for x in new if x["cube"] == cube and x["codec"] == "tec" and x["setting"] == q]
            i = [x for x in base if x["cube"] == cube and x["codec"] == "tec_intra" and x["setting"] == q]
            if not t or not i:
                split.append("-")
                continue
            key, inter = frame_bytes(t[0])
            same = int(i[0]["bytes"]) - (int(t[0]["bytes"]) - key - inter) - key
            split.append(f"{(inter / same - 1) * 100:+.1f}" if inter and same > 0 else "-")
        cells = []
        n = curve(new, cube, "tec")
        for c in codecs:
            o = curve(base, cube, c)
            v = bd_rate(o[0], o[1], n[0], n[1], 40, 50)[0] if o[0] else float("nan")
            sums[c].append(v)
            cells.append(f"{v:+.1f}%")
        print(f"| {cube} | {' / '.join(split)}% | " + " | ".join(cells) + " |")
    means = []
    for c in codecs:
        v = [x for x in sums[c] if x == x]
        means.append(f"**{sum(v) / len(v):+.1f}%** (worst {max(v):+.1f}%)" if v else "-")
    print("| **mean of places** | | " + " | ".join(means) + " |")


if __name__ == "__main__":
    main()
