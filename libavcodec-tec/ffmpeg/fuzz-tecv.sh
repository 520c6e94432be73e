#!/bin/sh
# Run FFmpeg's demuxer fuzzer on the .tecv demuxer (libFuzzer, ASan, UBSan).
#
#   tools/ffmpeg-build.sh --fuzz                      # builds it once
#   libavcodec-tec/ffmpeg/fuzz-tecv.sh [RUNS] [MAX_SECONDS]
#
# Seeds: the container corpus of the library's own fuzzers
# (fate-tests/fuzz/corpus/container) and, when present, the FATE fixtures
# coded with the tiny test model.  New inputs and crashes go to
# build/ffmpeg-fuzz/tecv-fuzz/.  Exit status: libFuzzer's (non-zero on a
# crash, a leak or a timeout).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$ROOT/build/ffmpeg-fuzz
FUZZER=$B/tools/target_dem_tecv_fuzzer
RUNS=${1:-100000}
SECONDS_MAX=${2:-300}

[ -x "$FUZZER" ] || { echo "fuzz-tecv: build it first: tools/ffmpeg-build.sh --fuzz" >&2; exit 1; }
W=$B/tecv-fuzz
rm -rf "$W/corpus"
mkdir -p "$W/corpus" "$W/seeds" "$W/artifacts"
cp "$ROOT"/fate-tests/fuzz/corpus/container/*.tecv "$W/seeds/" 2>/dev/null || true
for f in "$ROOT"/build/ffmpeg/tests/data/fate/tec-liri.tecv; do
    [ -f "$f" ] && cp "$f" "$W/seeds/"
done
# The fuzzer finds the weights of coded seeds here (they name fate-tiny).
export TEC_WEIGHTS="$ROOT/build/ffmpeg/tests/data/fate${TEC_WEIGHTS:+:$TEC_WEIGHTS}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "$FUZZER" -runs="$RUNS" -max_total_time="$SECONDS_MAX" -seed=1 -timeout=20 \
    -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$W/artifacts/" "$W/corpus" "$W/seeds"
