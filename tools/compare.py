#!/usr/bin/python3
"""tec compare: rate-distortion, speed and memory of tec against the codecs a
user would pick instead, on the user's own Sentinel-2 cubes.

    compare.py CUBE... [--out DIR] [--codecs LIST] [--qualities LIST]
               [--ladder CODEC=V1,V2,..] [--tec PATH] [--ffmpeg PATH]
               [--frames N] [--crop H[xW][+Y+X]] [--threads N] [--resume]
    compare.py CUBE... --lossless [--max-errors 1,2,4,8,16]

CUBE is a .npy (T x C x H x W or C x H x W, uint16), a place directory of
../shared/data (cube.npz + meta.json), a cube.npz, or a .tecv (raw bands, or
tec-coded when the tec tool is there to decode it).

Writes into DIR (default compare-out/): results.csv (one row per point,
written as it goes), bdrate.csv and bdrate.md (Bjontegaard delta rate),
summary.md (PSNR at fixed rates, rate at fixed PSNR), rd_<cube>.png,
rd_all.png and speed.png; with points that promise a max error (--lossless),
lossless.csv and the Lossless and Near-lossless tables.  See doc/compare.md
for what every codec does.
"""
# The code is the package tools/tec_compare/ (see its __init__.py); this file
# stays the entry point of `tec compare` and of `import compare`.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tec_compare import *  # noqa: E402,F401,F403
from tec_compare.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
