#!/usr/bin/python3
"""Per-place BD-rates (40-50 dB) of one codec against others, from tec
compare results files, with the mean and the worst place.

  tools/bd_table.py A/results.csv [B/results.csv ...] --codec tec_effort \
      --against tec,j2k,j2k_klt,x265,aom

Each codec's points come from the first file that has them, so a run of
the new codec alone can be set against baselines measured once.
"""
import argparse
import csv
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tec_compare.bdrate import bd_rate  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+")
    ap.add_argument("--codec", default="tec")
    ap.add_argument("--against", default="j2k,j2k_klt,x265,aom")
    ap.add_argument("--lo", type=float, default=40.0)
    ap.add_argument("--hi", type=float, default=50.0)
    args = ap.parse_args()
    points = {}
    for path in args.results:
        found = {}
        for row in csv.DictReader(open(path)):
            found.setdefault((row["cube"], row["codec"]), []).append(
                (float(row["bpppb"]), float(row["psnr"])))
        for key, pts in found.items():
            points.setdefault(key, pts)
    against = args.against.split(",")
    cubes = sorted({c for c, k in points if k == args.codec})
    print(f"| place | " + " | ".join(f"{args.codec} vs {a}" for a in against) + " |")
    print("|---|" + "---|" * len(against))
    got = {a: [] for a in against}
    for cube in cubes:
        mine = points[(cube, args.codec)]
        cells = []
        for a in against:
            other = points.get((cube, a))
            v = (bd_rate([r for r, _ in other], [d for _, d in other], [r for r, _ in mine],
                         [d for _, d in mine], args.lo, args.hi)[0] if other else float("nan"))
            if not math.isnan(v):
                got[a].append((v, cube))
            cells.append("-" if math.isnan(v) else f"{v:+.1f}%")
        print(f"| {cube} | " + " | ".join(cells) + " |")
    cells = []
    for a in against:
        v = got[a]
        cells.append(f"**{sum(x for x, _ in v) / len(v):+.1f}%** (worst {max(v)[0]:+.1f}%, {max(v)[1]})"
                     if v else "-")
    print("| **mean of places** | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
