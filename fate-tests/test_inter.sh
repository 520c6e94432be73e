#!/bin/bash
# Inter frames (the temporal model, issue 22) end to end through the tec
# tool: round trips of real multi-frame series with several keyframes,
# bit-exact across threads and against the encoder's reconstruction;
# seeking (a stream cut at a keyframe decodes to the same samples); a cut
# stream that starts with inter frames, and damaged references: each lost
# frame is named with its reason, left as zeros, decoding resumes at the
# next keyframe and tec exits 1; -g 1 and models without a temporal model
# code every frame intra; bad -g and --context values are refused.
#
# The model is fate-tests/vectors/vector-tt.tecw (a tiny random image model
# with a random temporal model that leans on its references), so the
# frames are exact to the bit and the test needs no trained weights.
cd "$(dirname "$0")/.." || exit 1
. fate-tests/lib/cli.bash

VEC=fate-tests/vectors
W=$WORK
enc() { "$TEC" encode --weights-dir "$VEC" --model vector-tt "$@"; }
dec() { "$TEC" decode --weights-dir "$VEC" "$@"; }

# A real series of 7 acquisitions with repeats (two or three dates of a
# place often differ little): frames 0 0 1 1 2 3 3 of the fixture, 10 days
# apart; and the fixture itself with its own dates (months apart).
SERIES_DATES=2017-06-20,2017-06-30,2017-07-10,2017-07-20,2017-07-30,2017-08-09,2017-08-19
FIX_DATES=$("$PY" -c "import json; print(','.join(json.load(open('$FIXTURE_JSON'))['dates']))")
# One frame of 2 x 3 blocks (a block is 256 pixels here), so that the
# threads share a frame's blocks: the fixture mirrored out to 264 x 520.
"$PY" -c "
import numpy as np
a = np.load('$FIXTURE')
np.save('$W/series.npy', a[[0, 0, 1, 1, 2, 3, 3]])
b = a[:3, [1, 2, 3, 7]]
b = np.concatenate([b, b[:, :, ::-1]], axis=2)
b = np.concatenate([b, b[:, :, :, ::-1]], axis=3)
np.save('$W/big.npy', np.ascontiguousarray(np.tile(b, (1, 1, 3, 5))[:, :, :264, :520]))
"

# The helper that cuts and damages streams: fate-tests/lib/tecv_edit.py
# (cut, flip, chunk, splice; see there).
edit() { "$PY" fate-tests/lib/tecv_edit.py "$@"; }

# same NAME A[SLICE] B[SLICE]: the frames are the same samples.
same() {
    check "$1" "$PY" -c "import numpy as np, sys
def load(s):
    f, _, sl = s.partition('[')
    a = np.load(f)
    return eval('a[' + sl) if sl else a
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape)
n = int(np.count_nonzero(a != b))
assert n == 0, '%d samples differ, largest difference %d' % (n, int(np.abs(a.astype(int) - b).max()))" "$2" "$3"
}

# types NAME FILE TYPES: tec info --json gives these frame types
# (i = intra keyframe, p = inter), e.g. ippippi.
types() {
    check "$1" "$PY" -c "import json, subprocess, sys
r = subprocess.run([sys.argv[1], 'info', '--json', sys.argv[2]], capture_output=True, text=True)
assert r.returncode == 0, r.stderr
fl = json.loads(r.stdout)['frame_list']
got = ''.join('i' if f['type'] == 'intra' and f['keyframe'] else
              'p' if f['type'] == 'inter' and not f['keyframe'] else '?' for f in fl)
assert got == sys.argv[3], 'frame types %s, want %s' % (got, sys.argv[3])" "$TEC" "$2" "$3"
}

# damaged NAME TECV FULL.npy LOST STATUS...: tec decode of the damaged
# TECV exits 1 after a "tec: FILE: frame N: ..." line for each frame of
# LOST (comma-separated) and for no other, the line of frame N matching
# the Nth pattern of STATUS (a Python regex); its output has zeros for those
# frames and FULL's samples for every other one.
damaged() {
    local name=$1 tecv=$2 full=$3 lost=$4 rc err
    shift 4
    err=$(timeout -k 5 60 "$TEC" decode --weights-dir "$VEC" "$tecv" -o "$tecv.npy" 2>&1 >/dev/null)
    rc=$?
    if printf '%s' "$err" | grep -q -e AddressSanitizer -e 'runtime error' -e LeakSanitizer; then
        fail "$name: sanitizer report"
        printf '%s\n' "$err" | tail -n 20 | sed 's/^/      | /'
        return
    fi
    if [ $rc -ne 1 ]; then
        fail "$name: exit status $rc, not 1"
        printf '%s\n' "$err" | sed 's/^/      | /'
        return
    fi
    ok "$name: exit status 1"
    check "$name: each lost frame named with its reason" "$PY" -c "import re, sys
err, lost, want = sys.argv[1], [int(x) for x in sys.argv[2].split(',')], sys.argv[3:]
named = {}
for line in err.splitlines():
    m = re.match(r'tec: [^:]*: frame (\d+): (.*)', line)
    if m:
        named.setdefault(int(m.group(1)), []).append(m.group(2))
assert sorted(named) == lost, 'frames named %s, lost %s:\n%s' % (sorted(named), lost, err)
for i, pat in zip(lost, want):
    assert re.search(pat, named[i][0]), 'frame %d: %r does not match %r' % (i, named[i][0], pat)
assert re.search(r'(\d+) of (\d+) frames decoded', err), err
print(err)" "$err" "$lost" "$@"
    check "$name: zeros for the lost frames, every other frame exact" "$PY" -c "import numpy as np, sys
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
lost = [int(x) for x in sys.argv[3].split(',')]
assert a.shape == b.shape, (a.shape, b.shape)
for i in range(len(a)):
    if i in lost:
        assert not b[i].any(), 'frame %d lost but not zero' % i
    else:
        assert np.array_equal(a[i], b[i]), 'frame %d differs from the whole decode' % i" "$full" "$tecv.npy" "$lost"
}

MISSING='^missing reference: '

# ---- round trips: 7 frames, -g 3 (keyframes 0, 3, 6), 2 references
check "series: encode -g 3 --context 2 with --recon (1 thread)" \
    enc "$W/series.npy" -o "$W/s.tecv" -g 3 --context 2 -t 1 --dates "$SERIES_DATES" \
        --recon "$W/s.rec.npy"
check "series: encode with 2 threads" \
    enc "$W/series.npy" -o "$W/s2.tecv" -g 3 --context 2 -t 2 --dates "$SERIES_DATES"
check "series: the stream is the same with 1 and 2 encoder threads" cmp "$W/s.tecv" "$W/s2.tecv"
types "series: keyframes at 0, 3 and 6, the frames between inter" "$W/s.tecv" ippippi
check "series: tec info shows the references and the intra/inter split" bash -c '
out=$("$0" info "$1") || exit 1
printf "%s\n" "$out" | grep -Eq "^ +1 .* inter: frame 0; " &&
printf "%s\n" "$out" | grep -Eq "^ +5 .* inter: frames 3, 4; " &&
printf "%s\n" "$out" | grep -Eq "^intra +3 frames" &&
printf "%s\n" "$out" | grep -Eq "^inter +4 frames"' "$TEC" "$W/s.tecv"
for t in 1 2; do
    check "series: decode --threads $t" dec "$W/s.tecv" -o "$W/s.t$t.npy" --threads "$t"
done
same "series: decoder output = encoder reconstruction" "$W/s.rec.npy" "$W/s.t1.npy"
same "series: --threads 1 = --threads 2" "$W/s.t1.npy" "$W/s.t2.npy"
npy_check "series: decoded shape, dtype, and near the source" "
a = np.load('$W/series.npy').astype(np.float64); d = np.load('$W/s.t1.npy')
assert d.shape == a.shape and d.dtype == np.uint16, (d.shape, d.dtype)
mse = np.mean((np.clip(a, 0, 10000) - np.clip(d, 0, 10000)) ** 2)
p = 10 * np.log10(1e8 / mse); print('PSNR %.2f dB' % p)
assert p > 10, p"
check "series: inter frames cost fewer bits than the keyframes" "$PY" -c "import json, subprocess, sys
fl = json.loads(subprocess.run([sys.argv[1], 'info', '--json', sys.argv[2]], capture_output=True,
                               text=True).stdout)['frame_list']
key = [f['bytes'] for f in fl if f['keyframe']]; inter = [f['bytes'] for f in fl if not f['keyframe']]
print(key, inter)
assert max(inter) < min(key)" "$TEC" "$W/s.tecv"

# The fixture as it is: 4 real acquisitions months apart, with their dates.
check "fixture: encode -g 3 with --recon" \
    enc "$FIXTURE" -o "$W/f.tecv" -g 3 --dates "$FIX_DATES" --recon "$W/f.rec.npy"
types "fixture: intra, inter, inter, intra" "$W/f.tecv" ippi
check "fixture: decode --threads 2" dec "$W/f.tecv" -o "$W/f.npy" --threads 2
same "fixture: decoder output = encoder reconstruction" "$W/f.rec.npy" "$W/f.npy"

# Frames of several blocks: the threads share each frame's blocks and
# reference rows.
check "big (3 x 4 x 264 x 520): encode -g 3 with --recon, 2 threads" \
    enc "$W/big.npy" -o "$W/big.tecv" -g 3 --bands B02,B03,B04,B08 -t 2 --recon "$W/big.rec.npy"
check "big: inter frames with every block inter" "$PY" -c "import json, subprocess, sys
fl = json.loads(subprocess.run([sys.argv[1], 'info', '--json', sys.argv[2]], capture_output=True,
                               text=True).stdout)['frame_list']
assert [f['type'] for f in fl] == ['intra', 'inter', 'inter'], [f['type'] for f in fl]
assert all(f['blocks'] == 6 for f in fl[1:]), [f['blocks'] for f in fl[1:]]
assert all(f['inter_blocks'] >= 1 for f in fl[1:]), [f['inter_blocks'] for f in fl[1:]]" \
    "$TEC" "$W/big.tecv"
for t in 1 2; do
    check "big: decode --threads $t" dec "$W/big.tecv" -o "$W/big.t$t.npy" --threads "$t"
done
same "big: decoder output (1 thread) = encoder reconstruction (2 threads)" "$W/big.rec.npy" "$W/big.t1.npy"
same "big: --threads 1 = --threads 2" "$W/big.t1.npy" "$W/big.t2.npy"

# ---- seeking: a stream cut at a keyframe decodes to the same frames
for k in 3 6; do
    check "cut at keyframe $k: write the stream from packet $k" edit "$W/s.tecv" "$W/cut$k.tecv" cut $k
    check "cut at keyframe $k: decodes" dec "$W/cut$k.tecv" -o "$W/cut$k.npy"
    same "cut at keyframe $k: the samples of frames $k.. of the whole stream" \
        "$W/s.t1.npy[$k:]" "$W/cut$k.npy"
done

# ---- a cut stream that starts with inter frames: they are lost, decoding
# resumes at the next keyframe with the right samples.
check "cut at inter frame 1: write the stream" edit "$W/s.tecv" "$W/cut1.tecv" cut 1
"$PY" -c "import numpy as np; np.save('$W/s.from1.npy', np.load('$W/s.t1.npy')[1:])"
damaged "cut at inter frame 1 (frames 1, 2 lost)" "$W/cut1.tecv" "$W/s.from1.npy" 0,1 \
    "${MISSING}the stream starts 1 frame after" "${MISSING}frame 0 was not decoded"
check "cut at inter frame 5: write the stream" edit "$W/s.tecv" "$W/cut5.tecv" cut 5
"$PY" -c "import numpy as np; np.save('$W/s.from5.npy', np.load('$W/s.t1.npy')[5:])"
damaged "cut at inter frame 5 (its keyframe 2 frames before the start)" "$W/cut5.tecv" \
    "$W/s.from5.npy" 0 "${MISSING}the stream starts 2 frames after"

# ---- damaged references: the frame and the inter frames after it until
# the next keyframe, nothing more.
check "flip a byte of packet 1 (inter)" edit "$W/s.tecv" "$W/flip1.tecv" flip 1
damaged "packet 1 corrupt" "$W/flip1.tecv" "$W/s.t1.npy" 1,2 "CRC mismatch" "${MISSING}frame 1 "
check "flip a byte of packet 3 (keyframe)" edit "$W/s.tecv" "$W/flip3.tecv" flip 3
damaged "keyframe 3 corrupt" "$W/flip3.tecv" "$W/s.t1.npy" 3,4,5 \
    "CRC mismatch" "${MISSING}frame 3 " "${MISSING}frame 4 "
check "flip a byte of packet 5 (the last inter frame of a group)" edit "$W/s.tecv" "$W/flip5.tecv" flip 5
damaged "packet 5 corrupt" "$W/flip5.tecv" "$W/s.t1.npy" 5 "CRC mismatch"
check "corrupt a chunk of packet 4 (container CRC redone)" edit "$W/s.tecv" "$W/chunk4.tecv" chunk 4
damaged "packet 4 with a corrupt chunk" "$W/chunk4.tecv" "$W/s.t1.npy" 4,5 "chunk" "${MISSING}frame 4 "
# A valid packet that is not the one the next frame refers to (taken from
# a stream coded at another quality): the reference is never guessed.
check "another quality: encode" enc "$W/series.npy" -o "$W/q9.tecv" -g 3 -q 9 --dates "$SERIES_DATES"
check "splice packet 3 (keyframe) from the other stream" \
    edit "$W/s.tecv" "$W/splice3.tecv" splice 3 "$W/q9.tecv"
check "spliced stream: decode (exit status 1)" bash -c '
"$0" decode --weights-dir "$1" "$2" -o "$3" 2> "$3.err"; [ $? -eq 1 ] || { cat "$3.err"; exit 1; }
cat "$3.err"
grep -q "frame 4: " "$3.err" && grep -q "frame 5: missing reference: frame 4 " "$3.err" &&
! grep -q "frame [0-36]: " "$3.err"' "$TEC" "$VEC" "$W/splice3.tecv" "$W/splice3.npy"
npy_check "spliced stream: frame 3 decodes (other quality), 4 and 5 are zeros, the rest exact" "
a = np.load('$W/s.t1.npy'); b = np.load('$W/splice3.npy')
assert b[3].any() and not np.array_equal(a[3], b[3])
assert not b[4].any() and not b[5].any()
for i in (0, 1, 2, 6): assert np.array_equal(a[i], b[i]), i"

# ---- all intra
check "-g 1: encode" enc "$W/series.npy" -o "$W/g1.tecv" -g 1
types "-g 1: every frame intra" "$W/g1.tecv" iiiiiii
check "--keyframe-interval 1: the same stream" \
    enc "$W/series.npy" -o "$W/ki1.tecv" --keyframe-interval 1
check "--keyframe-interval 1 = -g 1" cmp "$W/g1.tecv" "$W/ki1.tecv"
check "-g 1: decodes to the encoder's reconstruction" bash -c '
"$0" encode --weights-dir "$1" --model vector-tt "$2" -o "$3.tecv" -g 1 --recon "$3.rec.npy" &&
"$0" decode --weights-dir "$1" "$3.tecv" -o "$3.npy" && cmp "$3.rec.npy" "$3.npy"' \
    "$TEC" "$VEC" "$FIXTURE" "$W/g1f"
check "--context 1: encode -g 7" enc "$W/series.npy" -o "$W/c1.tecv" -g 7 --context 1
check "--context 1: each inter frame references the frame before it only" "$PY" -c "import json, subprocess, sys
fl = json.loads(subprocess.run([sys.argv[1], 'info', '--json', sys.argv[2]], capture_output=True,
                               text=True).stdout)['frame_list']
assert fl[0]['type'] == 'intra'
refs = [(i, f['references']) for i, f in enumerate(fl) if f['type'] == 'inter']
assert refs and all(r == [i - 1] for i, r in refs), refs" "$TEC" "$W/c1.tecv"
check "--context 4 -g 7: references reach 4 frames back" bash -c '
"$0" encode --weights-dir "$1" --model vector-tt "$2" -o "$3" -g 7 --context 4 &&
"$0" info --json "$3" | grep -q "\"keyframe_distance\": 5, \"references\": \[1, 2, 3, 4\]"' \
    "$TEC" "$VEC" "$W/series.npy" "$W/c4.tecv"
check "--context 4: decodes" dec "$W/c4.tecv" -o "$W/c4.npy"

# A model without a temporal model: -g 8 still codes every frame intra.
main_model || { fail "cannot make a test model"; summary; exit; }
check "tec-s2 (no temporal model): encode -g 8" \
    "$TEC" encode --weights-dir "$MAIN_DIR" --model tec-s2 "$FIXTURE" -o "$W/s2.tecv" -g 8
types "tec-s2 -g 8: every frame intra" "$W/s2.tecv" iiii
check "tec-s2 -g 8: tec info says keyframes every frame" \
    bash -c '"$0" info "$1" | grep -q "^keyframes *every frame"' "$TEC" "$W/s2.tecv"

# ---- bad values
for bad in "-g 0" "--keyframe-interval 0" "-g 65536" "--context 0" "--context 5" "--context x"; do
    # shellcheck disable=SC2086
    expect_error "encode $bad refused" "$TEC" encode --weights-dir "$VEC" --model vector-tt \
        "$W/series.npy" -o "$W/bad.tecv" $bad
done
check "bad values: the message names the option and its range" bash -c '
"$0" encode --weights-dir "$1" --model vector-tt "$2" -o "$3" --context 5 2>&1 >/dev/null |
    grep -q "^tec: --context .5.: need an integer from 1 to 4" &&
"$0" encode --weights-dir "$1" --model vector-tt "$2" -o "$3" -g 0 2>&1 >/dev/null |
    grep -q "^tec: --keyframe-interval .0.: need an integer from 1 to" &&
{ "$0" encode --weights-dir "$1" --model vector-tt "$2" -o "$3" -g 0 2>/dev/null; [ $? -eq 2 ]; } &&
[ ! -e "$3" ]' "$TEC" "$VEC" "$W/series.npy" "$W/bad.tecv"

# ---- time: a gap never seen in training (decades) and no dates at all still
# code inter frames that decode to the encoder's reconstruction; the gaps
# are inputs, so they change the inter frames (not the keyframe).
"$PY" -c "import numpy as np; np.save('$W/three.npy', np.load('$W/series.npy')[:3])"
for case in "decades 1990-01-01,2020-06-30,2024-12-31" "nodates -"; do
    set -- $case
    opt=(); [ "$2" != - ] && opt=(--dates "$2")
    check "$1: encode 3 frames -g 3 with --recon" \
        enc "$W/three.npy" -o "$W/$1.tecv" -g 3 "${opt[@]}" --recon "$W/$1.rec.npy"
    check "$1: decode" dec "$W/$1.tecv" -o "$W/$1.npy"
    same "$1: decoder output = encoder reconstruction" "$W/$1.rec.npy" "$W/$1.npy"
done
check "gaps change the inter frames' packets, not the keyframe's" "$PY" -c "import sys
sys.path.insert(0, 'tools')
import tecio
a, b = (tecio.read_tecv(f)[1] for f in sys.argv[1:3])
assert a[0][2] == b[0][2], 'keyframes differ'
def body(p):
    # what follows the inter section: the coded latents (and statistics)
    n_refs, n_chunks = p[10], int.from_bytes(p[4:8], 'little')
    assert p[0] == 1, 'not an inter frame'
    return p[8 + 6 + 6 * n_refs + (n_chunks + 7) // 8:]
assert body(a[1][2]) != body(b[1][2]) and body(a[2][2]) != body(b[2][2]), \
    'the inter frames coded the same without dates'" \
    "$W/decades.tecv" "$W/nodates.tecv"

summary
