#!/bin/bash
# Peak memory of tec encode reading a large GeoTIFF through GDAL in stripes
# (doc/cli.md, "Memory"): a SIZE x SIZE x 4-band UInt16 GeoTIFF (default
# 4096, tiles of the bundled fixture) is encoded with the shipped tec-s2 and
# decoded back to a GeoTIFF, each under /usr/bin/time -v; the peak resident
# sizes are printed beside the size of the whole frame as float32, which a
# reader that loaded the frame would need at least.  Not a timed test: a
# 4096 x 4096 frame takes a minute or two on 2 cores.
#
# usage: bash tools/gdal_memory_check.sh [SIZE]     (from the source tree)
set -eu
size=${1:-4096}
tec=${TEC:-tools/tec}
py=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/tec-gdal-mem.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$py" - "$work/big.tif" "$size" <<'PYEOF'
import sys
import numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
path, n = sys.argv[1], int(sys.argv[2])
tile = np.load("fate-tests/data/liri_t4_64.npy")[0, [1, 2, 3, 7]]
ds = gdal.GetDriverByName("GTiff").Create(path, n, n, 4, gdal.GDT_UInt16,
                                          ["TILED=YES", "COMPRESS=DEFLATE"])
srs = osr.SpatialReference()
srs.ImportFromEPSG(32633)
ds.SetProjection(srs.ExportToWkt())
ds.SetGeoTransform([300000, 10, 0, 5000000, 0, -10])
reps = -(-n // 64)
for b, name in enumerate(["B02", "B03", "B04", "B08"]):
    ds.GetRasterBand(b + 1).SetDescription(name)
    ds.GetRasterBand(b + 1).WriteArray(np.tile(tile[b], (reps, reps))[:n, :n])
ds = None
PYEOF

peak() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
/usr/bin/time -v "$tec" encode --quiet "$work/big.tif" -o "$work/big.tecv" --model tec-s2 \
    2> "$work/enc.log" || { cat "$work/enc.log"; exit 1; }
/usr/bin/time -v "$tec" decode --quiet "$work/big.tecv" -o "$work/out.tif" \
    2> "$work/dec.log" || { cat "$work/dec.log"; exit 1; }
float_mib=$((size * size * 4 * 4 / 1048576))
echo "frame ${size} x ${size} x 4 bands: whole frame as float32 ${float_mib} MiB"
echo "encode GeoTIFF -> .tecv: peak RSS $(( $(peak "$work/enc.log") / 1024 )) MiB"
echo "decode .tecv -> GeoTIFF: peak RSS $(( $(peak "$work/dec.log") / 1024 )) MiB"
