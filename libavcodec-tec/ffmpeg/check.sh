#!/bin/sh
# The FFmpeg checks of TerraCodec (make check-ffmpeg): run from the project
# root after tools/ffmpeg-build.sh.
#
#   libavcodec-tec/ffmpeg/check.sh [BUILD_DIR] [FUZZ_RUNS]
#
# 1. `make fate-list` lists every test of fate-tests/tec.mak (a disabled
#    component would drop a test silently);
# 2. `make fate-tec` passes;
# 3. the demuxer survives FUZZ_RUNS (default 200) damaged .tecv files (intra,
#    raw and inter-coded) through ffprobe/ffmpeg (fuzz-tecv.py).
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build/ffmpeg}
RUNS=${2:-200}
status=0

[ -x "$BUILD/ffmpeg" ] && [ -x "$BUILD/ffprobe" ] ||
    { echo "check-ffmpeg: no ffmpeg in $BUILD: run tools/ffmpeg-build.sh first"; exit 1; }

expected=$(sed -n 's/^FATE_TEC[A-Z_]*-\$(call ALLYES.*+= *\(fate-tec-[a-z0-9-]*\).*/\1/p' \
    "$ROOT/fate-tests/tec.mak" | sort)
listed=$(make -s -C "$BUILD" fate-list 2>/dev/null | grep '^fate-tec-' | sort)
missing=$(printf '%s\n' "$expected" | while read -r t; do
    printf '%s\n' "$listed" | grep -qx "$t" || echo "$t"; done)
if [ -n "$missing" ]; then
    echo "FAIL: make fate-list does not list:" $missing
    status=1
else
    echo "PASS: make fate-list lists all $(printf '%s\n' "$expected" | wc -l) tec tests"
fi

if make -s -C "$BUILD" -k fate-tec; then
    echo "PASS: make fate-tec"
else
    echo "FAIL: make fate-tec"
    status=1
fi

# Seeds: the FATE fixtures (made by the tests above), the inter-coded one
# with the committed vector-tt model.
seeds=""
for f in tec-liri.tecv tec-liri-raw.tecv tec-liri8-tt.tecv; do
    [ -f "$BUILD/tests/data/fate/$f" ] && seeds="$seeds $BUILD/tests/data/fate/$f"
done
if [ -z "$seeds" ]; then
    echo "FAIL: no fuzz seeds (the FATE fixtures are missing)"
    status=1
elif python3 "$ROOT/libavcodec-tec/ffmpeg/fuzz-tecv.py" --build "$BUILD" --runs "$RUNS" \
        --weights-dir "$BUILD/tests/data/fate:$ROOT/fate-tests/vectors" $seeds; then
    echo "PASS: tecv fuzzing, $RUNS mutants"
else
    echo "FAIL: tecv fuzzing"
    status=1
fi
exit $status
