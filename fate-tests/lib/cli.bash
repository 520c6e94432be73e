# Shared by the tec end-to-end tests (fate-tests/test_*.sh): sourced, not run.
#
# Environment (set by 'make check'; defaults for running a test by hand from
# the source tree):
#   TEC          the tec program             (tools/tec)
#   TEC_WEIGHTS  where the shipped weights are (weights)
#   BUILD        build directory, for scratch files and generated models (build)
#   PYTHON       a Python 3 with numpy and torch (/usr/bin/python3)

set -u

TEC=${TEC:-tools/tec}
TEC_WEIGHTS=${TEC_WEIGHTS:-weights}
BUILD=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
FIXTURE=fate-tests/data/liri_t4_64.npy
FIXTURE_JSON=fate-tests/data/liri_t4_64.json
export TEC_WEIGHTS

PASSED=0
FAILED=0
TEST_NAME=$(basename "$0" .sh)

summary() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

ok()   { PASSED=$((PASSED + 1)); echo "ok    $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL  $1"; }

# check NAME CMD...: CMD succeeds.  Its output is shown only on failure.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$name"
    else
        fail "$name"
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/      | /'
    fi
}

# expect_error NAME CMD...: CMD fails the way tec must fail on bad input:
# exit status 1..127 (no signal, no abort), a "tec: ..." line on stderr, no
# sanitizer report, and within 60 s (no hang).
expect_error() {
    local name=$1 rc err
    shift
    err=$(timeout -k 5 60 "$@" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -eq 0 ]; then
        fail "$name (exit status 0)"
    elif [ $rc -ge 124 ]; then
        fail "$name (exit status $rc: crash, signal or timeout)"
    elif printf '%s' "$err" | grep -q -e AddressSanitizer -e 'runtime error' -e LeakSanitizer; then
        fail "$name (sanitizer report)"
    elif ! printf '%s' "$err" | grep -q '^tec: '; then
        fail "$name (no 'tec: ' message on stderr)"
    else
        ok "$name: $(printf '%s' "$err" | grep '^tec: ' | head -n 1 | cut -c1-110)"
        return 0
    fi
    printf '%s\n' "$err" | tail -n 20 | sed 's/^/      | /'
    return 1
}

# npy_check NAME PYTHON-CODE: the code (numpy as np, sys imported) exits 0.
npy_check() {
    check "$1" "$PY" -c "import sys, numpy as np
$2"
}

if [ ! -x "$TEC" ]; then
    echo "tec is not built: $TEC"
    echo "0 passed, 1 failed"
    exit 1
fi
case $TEC in /*) ;; *) TEC=$PWD/$TEC ;; esac

mkdir -p "$BUILD"
WORK=$(mktemp -d "$BUILD/$TEST_NAME.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# tiny_model NAME SEED [SPREAD]: directory holding NAME.tecw, a small random
# tec-img model (with SPREAD: calibrated for per-frame quality, meta
# quality_spread), made once per version of the export code and kept in $BUILD.
tiny_model() {
    local name=$1 seed=$2 spread=${3:-0} stamp dir
    stamp=$(cat tools/train/export.py tools/train/tecmodel.py tools/tecio.py 2>/dev/null |
            cksum | cut -d' ' -f1)
    dir=$BUILD/test-models/$stamp-seed$seed-spread$spread
    if [ ! -f "$dir/$name.tecw" ]; then
        mkdir -p "$dir"
        "$PY" tools/train/export.py --random --seed "$seed" --n 8 --m 16 --nh 8 --nmid 12 \
            --quality-spread "$spread" --name "$name" -o "$dir/$name.tecw.tmp$$" >&2 &&
            mv -f "$dir/$name.tecw.tmp$$" "$dir/$name.tecw" || return 1
    fi
    echo "$dir"
}

# main_model: sets MAIN_DIR to the directory of tec-s2.tecw, the shipped model
# when there is one (TEC_WEIGHTS, then the tree's weights/), else a random
# stand-in; MAIN_SHIPPED is 1 or 0.
main_model() {
    local d
    local IFS=:
    for d in $TEC_WEIGHTS weights; do
        if [ -n "$d" ] && [ -f "$d/tec-s2.tecw" ]; then
            MAIN_DIR=$d MAIN_SHIPPED=1
            echo "model: shipped $d/tec-s2.tecw"
            return 0
        fi
    done
    unset IFS
    MAIN_DIR=$(tiny_model tec-s2 1) || return 1
    MAIN_SHIPPED=0
    echo "model: no shipped tec-s2.tecw; a random stand-in ($MAIN_DIR)"
}
