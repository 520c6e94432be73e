#!/bin/bash
# make bench: kernel throughput, tec speed and peak memory on a wide frame,
# and the rate-distortion comparison on validation places; writes
# doc/results.md.  Figures, not tests: nothing here fails on a slow machine.
#
#   BENCH_ROWS=10980 make bench     # the full 10980 x 10980 x 13 tile
#   BENCH_PLACES="oscd_norcia s2dwater_liri" BENCH_CODECS=tec,j2k_klt make bench
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-/usr/bin/python3}
TEC=${TEC:-$PWD/tools/tec}
OUT=${BENCH_OUT:-build/bench}
ROWS=${BENCH_ROWS:-1024}
COLS=${BENCH_COLS:-10980}
DATA=${BENCH_DATA:-../shared/data}
PLACES=${BENCH_PLACES:-oscd_norcia s2dwater_liri}
CODECS=${BENCH_CODECS:-tec,j2k,j2k_klt,x265,aom}
export TEC_WEIGHTS=${TEC_WEIGHTS:-$PWD/weights}
mkdir -p "$OUT"

echo "== kernels"
./build/bench_kernels | tee "$OUT/kernels.txt"

echo "== tec on a ${COLS} x ${ROWS} x 13 frame (the fixture tiled)"
"$PYTHON" - "$OUT/wide.npy" "$ROWS" "$COLS" <<'EOF'
import sys
import numpy as np
path, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
src = np.load("fate-tests/data/liri_t4_64.npy")[0]
out = np.lib.format.open_memmap(path, mode="w+", dtype="<u2", shape=(13, rows, cols))
for y in range(0, rows, 64):
    # Mirror alternate tiles so the frame has no hard seams of its own.
    strip = np.concatenate([src if (x // 64) % 2 == 0 else src[:, :, ::-1]
                            for x in range(0, cols, 64)], axis=2)
    out[:, y:y + 64] = strip[:, : min(64, rows - y), :cols]
out.flush()
EOF
measure() {  # label, command...: prints seconds and peak RSS (MB)
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > /dev/null
    read -r secs kb < "$OUT/time.txt"
    echo "$label $secs $((kb / 1024))"
}
{
    measure encode "$TEC" encode "$OUT/wide.npy" -o "$OUT/wide.tecv"
    measure decode "$TEC" decode "$OUT/wide.tecv" -o "$OUT/wide_dec.npy"
} | tee "$OUT/tec_speed.txt"
bytes=$(stat -c %s "$OUT/wide.tecv")
samples=$((ROWS * COLS * 13))
rm -f "$OUT/wide.npy" "$OUT/wide_dec.npy"

echo "== rate-distortion on validation places: $PLACES"
cubes=()
for p in $PLACES; do cubes+=("$DATA/$p"); done
if [ -d "$DATA" ]; then
    "$PYTHON" tools/compare.py "${cubes[@]}" --frames 8 --crop 256 --codecs "$CODECS" \
        --tec "$TEC" --out "$OUT/rd" --resume
else
    echo "no $DATA: skipping the comparison"
fi

# The plots and the CSV behind doc/results.md live beside it.
if [ -d "$OUT/rd" ]; then
    mkdir -p doc/results/rd
    cp "$OUT"/rd/*.png "$OUT"/rd/results.csv doc/results/rd/ 2>/dev/null || true
fi

"$PYTHON" - "$OUT" "$ROWS" "$COLS" "$bytes" "$samples" "$PLACES" "$CODECS" <<'EOF'
import os
import sys
out, rows, cols, nbytes, samples, places, codecs = sys.argv[1:8]
rows, cols, nbytes, samples = int(rows), int(cols), int(nbytes), int(samples)
speed = {}
for line in open(os.path.join(out, "tec_speed.txt")):
    label, secs, mb = line.split()
    speed[label] = (float(secs), int(mb))
lines = ["# Results", "",
         "Measured by `make bench` (tools/bench.sh) on this project's 2-core x86-64 machine.",
         "Contains modified Copernicus Sentinel data.", "",
         "## tec speed and memory", "",
         f"One {cols} x {rows} x 13 frame (the Liri fixture tiled), default quality, "
         "2 threads: {:.3f} bpppb.".format(8 * nbytes / samples), "",
         "| step | seconds | Msamples/s (pixels x bands) | peak RSS (MB) |", "|---|---|---|---|"]
for label in ("encode", "decode"):
    secs, mb = speed[label]
    lines.append(f"| {label} | {secs:.1f} | {samples / 1e6 / max(secs, 1e-9):.2f} | {mb} |")
lines += ["", "Peak memory grows with the frame's area through the latent grid (about "
          "9 bytes per pixel when decoding); `BENCH_ROWS=10980 make bench` measures the "
          "full tile.", "", "## Kernels", "", "```"]
lines += open(os.path.join(out, "kernels.txt")).read().rstrip().splitlines()
lines += ["```", ""]
rd = os.path.join(out, "rd")
if os.path.isdir(rd):
    lines += ["## Rate-distortion on validation places", "",
              f"Places (never trained on): {places}; first 8 frames, centre crop 256; "
              f"codecs {codecs}. Plots and the full CSV: `doc/results/rd/` "
              "(`rd_all.png`, `rd_<place>.png`, `results.csv`).", "",
              "![RD curves](results/rd/rd_all.png)", ""]
    for name in ("summary.md", "bdrate.md"):
        p = os.path.join(rd, name)
        if os.path.exists(p):
            body = open(p).read().splitlines()
            lines += ["#" + l if l.startswith("#") else l for l in body] + [""]
open("doc/results.md", "w").write("\n".join(lines) + "\n")
print("wrote doc/results.md")
EOF
