#!/bin/bash
# Predicted frames (doc/bitstream.md, 3): inter frames coded as their
# difference from a prediction made of the frame before (a line per band),
# chosen by the encoder where they cost less.  With the shipped model on a
# real series: the stream has predicted and temporal-model frames, is the
# same with 1 and 2 encoder threads, decodes to the encoder's reconstruction
# on 1 and 2 threads and on the portable kernels; --no-prediction codes
# none and gives another stream; a lost frame costs the frames predicted
# from it and the inter frames that reference it, nothing more (the
# temporal model's references skip predicted frames); a stream cut before a
# predicted frame, or a predicted packet in a stream whose header allows
# none, is refused with its reason.
cd "$(dirname "$0")/.." || exit 1
. fate-tests/lib/cli.bash

W=$WORK
# The fixture's 4 dates with repeats, 10 days apart: frames 0 0 1 1 2 3 3.
DATES=2017-06-20,2017-06-30,2017-07-10,2017-07-20,2017-07-30,2017-08-09,2017-08-19
"$PY" -c "
import numpy as np
np.save('$W/series.npy', np.load('$FIXTURE')[[0, 0, 1, 1, 2, 3, 3]])
"
enc() { "$TEC" encode "$@"; }

# The helper that cuts and damages streams: fate-tests/lib/tecv_edit.py
# (cut K, flip K, splice K F; see there).
edit() { "$PY" fate-tests/lib/tecv_edit.py "$@"; }

# kinds FILE: the frame types, one letter each (i intra, t inter, p predicted).
kinds() {
    "$TEC" info --json "$1" | "$PY" -c "import json, sys
print(''.join({'intra': 'i', 'inter': 't', 'predicted': 'p'}[f['type']]
              for f in json.load(sys.stdin)['frame_list']))"
}

check "encode with --recon (1 thread)" \
    enc "$W/series.npy" -o "$W/s.tecv" -t 1 --dates "$DATES" --recon "$W/s.rec.npy"
check "encode with 2 threads" enc "$W/series.npy" -o "$W/s2.tecv" -t 2 --dates "$DATES"
check "the stream is the same with 1 and 2 encoder threads" cmp "$W/s.tecv" "$W/s2.tecv"
K=$(kinds "$W/s.tecv")
echo "frame types: $K"
check "keyframe first, then both predicted and temporal-model frames" \
    bash -c '[[ $0 == i* && $0 == *p* && $0 == *t* ]]' "$K"
check "tec info: a predicted frame names the frame before, the split counts them" bash -c '
out=$("$0" info "$1") || exit 1
printf "%s\n" "$out" | grep -Eq "^ +[1-9] .* predicted: from frame [0-9]+$" &&
printf "%s\n" "$out" | grep -Eq "^predicted +[0-9]+ frames"' "$TEC" "$W/s.tecv"
check "tec info --json: inter frames reference no predicted frame" "$PY" -c "import json, subprocess, sys
fl = json.loads(subprocess.run([sys.argv[1], 'info', '--json', sys.argv[2]], capture_output=True,
                               text=True).stdout)['frame_list']
for i, f in enumerate(fl):
    if f['type'] == 'predicted':
        assert f['references'] == [i - 1] and not f['keyframe'], (i, f)
    if f['type'] == 'inter':
        assert all(fl[r]['type'] != 'predicted' for r in f['references']), (i, f)" "$TEC" "$W/s.tecv"
for t in 1 2; do
    check "decode --threads $t" "$TEC" decode "$W/s.tecv" -o "$W/s.t$t.npy" --threads "$t"
    check "decode --threads $t = the encoder's reconstruction" cmp "$W/s.t$t.npy" "$W/s.rec.npy"
done
check "decode on the portable kernels" \
    env TEC_CPU_FLAGS=none "$TEC" decode "$W/s.tecv" -o "$W/s.none.npy"
check "portable kernels = the encoder's reconstruction" cmp "$W/s.none.npy" "$W/s.rec.npy"

check "--no-prediction: encode" \
    enc "$W/series.npy" -o "$W/np.tecv" --dates "$DATES" --no-prediction --recon "$W/np.rec.npy"
check "--no-prediction: no predicted frame" bash -c '[[ $0 != *p* ]]' "$(kinds "$W/np.tecv")"
check "--no-prediction: another stream" bash -c '! cmp -s "$0" "$1"' "$W/s.tecv" "$W/np.tecv"
check "--no-prediction: decodes to its reconstruction" bash -c '
"$0" decode "$1" -o "$2" && cmp "$2" "$3"' "$TEC" "$W/np.tecv" "$W/np.npy" "$W/np.rec.npy"

# lost K: which frames a lost packet K takes with it, from the frame types
# and references: the frames predicted from a lost frame, the inter frames
# referencing one, up to the next keyframe.
lost_after() {
    "$TEC" info --json "$1" | "$PY" -c "import json, sys
fl, k = json.load(sys.stdin)['frame_list'], int(sys.argv[1])
lost = {k}
for i in range(k + 1, len(fl)):
    if fl[i]['keyframe']:
        break
    if any(r in lost for r in fl[i]['references']):
        lost.add(i)
print(','.join(map(str, sorted(lost))))" "$2"
}
# damaged NAME TECV LOST: decode exits 1, names exactly the LOST frames,
# gives zeros for them and the whole decode's samples for the others.
damaged() {
    local name=$1 tecv=$2 lost=$3 err rc
    err=$(timeout -k 5 60 "$TEC" decode "$tecv" -o "$tecv.npy" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -ne 1 ]; then
        fail "$name: exit status $rc, not 1"
        printf '%s\n' "$err" | sed 's/^/      | /'
        return
    fi
    check "$name: frames $lost named lost, every other frame exact" "$PY" -c "import re, sys
import numpy as np
err, lost = sys.argv[1], [int(x) for x in sys.argv[2].split(',')]
named = sorted({int(m.group(1)) for m in re.finditer(r'tec: [^:]*: frame (\d+): ', err)})
assert named == lost, 'frames named %s, lost %s:\n%s' % (named, lost, err)
a, b = np.load(sys.argv[3]), np.load(sys.argv[4])
for i in range(len(a)):
    assert (not b[i].any()) if i in lost else np.array_equal(a[i], b[i]), i
print(err)" "$err" "$lost" "$W/s.rec.npy" "$tecv.npy"
}

# refused NAME PATTERN CMD...: CMD fails as tec must (expect_error) and its
# message matches PATTERN.
refused() {
    local name=$1 pat=$2
    shift 2
    expect_error "$name" "$@" &&
        check "$name: the message says '$pat'" bash -c '"$@" 2>&1 | grep -q -- "$0"' "$pat" "$@"
}

P=$(printf '%s' "$K" | "$PY" -c "import sys; k = sys.stdin.read(); print(k.index('p'))")
Q=$((P - 1))
edit "$W/s.tecv" "$W/f$Q.tecv" flip "$Q"
damaged "frame $Q corrupt" "$W/f$Q.tecv" "$(lost_after "$W/s.tecv" "$Q")"
edit "$W/s.tecv" "$W/f$P.tecv" flip "$P"
damaged "predicted frame $P corrupt" "$W/f$P.tecv" "$(lost_after "$W/s.tecv" "$P")"
check "a lost predicted frame takes no inter frame with it" bash -c '
for f in $(echo "$1" | tr , " "); do [ "${0:$f:1}" = t ] && exit 1; done; exit 0' "$K" \
    "$(lost_after "$W/s.tecv" "$P")"

edit "$W/s.tecv" "$W/cut.tecv" cut "$P"
refused "a stream cut before predicted frame $P" 'predicted frame first in the stream' \
    "$TEC" decode "$W/cut.tecv" -o "$W/cut.npy"
edit "$W/np.tecv" "$W/splice.tecv" splice "$P" "$W/s.tecv"
refused "a predicted packet in a stream whose header has none" \
    'predicted frame in a stream whose header has none' \
    "$TEC" decode "$W/splice.tecv" -o "$W/splice.npy"

# Random access: keyframes every 3 frames; a stream cut at keyframe 3
# decodes to the full decode's frames from 3 on.
check "-g 3: encode" enc "$W/series.npy" -o "$W/g3.tecv" -g 3 --dates "$DATES"
K3=$(kinds "$W/g3.tecv")
echo "frame types with -g 3: $K3"
# (A frame between whose blocks all chose intra is a keyframe too and
# restarts the count.)
check "-g 3: keyframes at 0 and 3, a predicted frame among the others" \
    bash -c '[[ ${0:0:1}${0:3:1} == ii && $0 == *p* ]]' "$K3"
check "-g 3: decode" "$TEC" decode "$W/g3.tecv" -o "$W/g3.npy"
edit "$W/g3.tecv" "$W/g3cut.tecv" cut 3
check "-g 3: the stream cut at keyframe 3 decodes" "$TEC" decode "$W/g3cut.tecv" -o "$W/g3cut.npy"
check "-g 3: to the full decode's frames from 3 on" "$PY" -c "import numpy as np, sys
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert np.array_equal(a[3:], b), 'differs'" "$W/g3.npy" "$W/g3cut.npy"

summary
