#!/bin/bash
# Test runner of 'make check'.
#
#   run-tests.sh run RESULTS KIND TEST...   run each TEST, append "PASS|FAIL KIND NAME"
#                                           to RESULTS; always exits 0
#   run-tests.sh summary RESULTS            print "N passed, N failed"; exit 1 on failures
#
# KIND says how a test is started:
#   unit, asan-unit   the path is a program (missing: it did not compile)
#   py                $PYTHON script
#   sh, asan-sh       bash script
#   fuzz              libFuzzer program; FUZZ_RUNS, FUZZ_MAX_TIME, FUZZ_SEED, FUZZ_WORK
# Every test runs from the source tree with a time limit (TEST_TIMEOUT seconds,
# default 600); its output goes to $TEST_LOGS/KIND-NAME.log.  A passing test
# shows its last line (its own "N passed, N failed"), a failing one its tail.

set -u

summary() {
    local results=$1 passed=0 failed=0
    if [ -f "$results" ]; then
        passed=$(grep -c '^PASS ' "$results")
        failed=$(grep -c '^FAIL ' "$results")
    fi
    if [ "$failed" -gt 0 ]; then
        echo "failed:"
        grep '^FAIL ' "$results" | sed 's/^FAIL /  /'
    fi
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# fuzz_command NAME PROGRAM: print the libFuzzer command line as words in CMD.
# New inputs go to a scratch corpus first in the list (libFuzzer writes into
# the first directory only), the seeds of fate-tests/fuzz/corpus/ are read.
fuzz_command() {
    local name=$1 prog=$2 work=${FUZZ_WORK:-build-fuzz} seeds
    rm -rf "$work/corpus/$name"
    mkdir -p "$work/corpus/$name" "$work/artifacts"
    CMD=("$prog" "-runs=${FUZZ_RUNS:-20000}" "-max_total_time=${FUZZ_MAX_TIME:-60}"
         "-seed=${FUZZ_SEED:-1}" -timeout=25 -rss_limit_mb=2048
         "-artifact_prefix=$work/artifacts/$name-" "$work/corpus/$name")
    # The seed folder may be named after the file (fuzz_foo) or the target (foo).
    for seeds in "fate-tests/fuzz/corpus/$name" "fate-tests/fuzz/corpus/${name#fuzz_}"; do
        if [ -d "$seeds" ]; then CMD+=("$seeds"); break; fi
    done
}

run() {
    local results=$1 kind=$2 test name log rc start ms why
    shift 2
    local logs=${TEST_LOGS:-build/check-logs}
    mkdir -p "$logs" "$(dirname "$results")"
    for test in "$@"; do
        name=$(basename "$test"); name=${name%.*}
        log=$logs/$kind-$name.log
        case $kind in
            unit|asan-unit) CMD=("$test") ;;
            py)             CMD=("${PYTHON:-python3}" "$test") ;;
            sh|asan-sh)     CMD=(bash "$test") ;;
            fuzz)           fuzz_command "$name" "$test" ;;
            *) echo "run-tests.sh: unknown kind $kind" >&2; return 1 ;;
        esac
        why=
        if [ "${CMD[0]}" = "$test" ] && [ ! -x "$test" ]; then
            echo "did not build: $test" > "$log"
            rc=1 why="did not build"
        else
            start=$(date +%s%N)
            timeout -k 10 "${TEST_TIMEOUT:-600}" "${CMD[@]}" > "$log" 2>&1 < /dev/null
            rc=$?
            ms=$(( ($(date +%s%N) - start) / 1000000 ))
        fi
        if [ $rc -eq 0 ]; then
            echo "PASS $kind $name" >> "$results"
            printf 'PASS  %-10s %-28s %6d ms  %s\n' "$kind" "$name" "$ms" "$(tail -n 1 "$log")"
        else
            echo "FAIL $kind $name" >> "$results"
            case $rc in
                124|137) why=${why:-"timed out after ${TEST_TIMEOUT:-600} s"} ;;
                *) why=${why:-"exit status $rc"} ;;
            esac
            printf 'FAIL  %-10s %-28s (%s; log: %s)\n' "$kind" "$name" "$why" "$log"
            tail -n 30 "$log" | sed 's/^/    | /'
        fi
    done
    return 0
}

case ${1:-} in
    run)     shift; [ $# -ge 2 ] || { echo "usage: $0 run RESULTS KIND TEST..." >&2; exit 2; }; run "$@" ;;
    summary) shift; summary "$1" ;;
    *) echo "usage: $0 run RESULTS KIND TEST... | summary RESULTS" >&2; exit 2 ;;
esac
