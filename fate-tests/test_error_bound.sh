#!/bin/bash
# The error bound (tec encode --max-error E): every decoded sample within E
# of the source, exactly the source at E = 0, on real Sentinel-2 crops: 13
# L1C bands with replicated 20 m and 60 m bands, 12 L2A bands with
# interpolated ones, inter frames, a frame taller than one stripe (the
# residual continues across stripes), nodata, threads and kernel paths; the
# decoder's output equals the encoder's reconstruction; damaged residual
# sections are refused; a frame brighter than the top anchor allows gets a
# layer of its own (no quality ceiling).
cd "$(dirname "$0")/.." || exit 1
. fate-tests/lib/cli.bash

W=$BUILD/test_error_bound
rm -rf "$W"
mkdir -p "$W"
VEC=fate-tests/vectors
L2A=fate-tests/data/ssl4eo_t2_48.npy

# The fixture's frames mirrored into one 13 x 1100 x 64 frame: two stripes
# of 512 rows and a bit.
"$PY" -c "
import numpy as np
a = np.load('$FIXTURE')
col = np.concatenate([a[:1], a[1:2, :, ::-1]], axis=2)
tall = np.concatenate([col] * 9, axis=2)[:, :, :1100]
np.save('$W/tall.npy', np.ascontiguousarray(tall))
"

# bound NAME SOURCE DECODED E: every sample within E (exact at 0).
bound() {
    npy_check "$1" "
x = np.load('$2').astype(np.int64); d = np.load('$3').astype(np.int64)
assert x.shape == d.shape, (x.shape, d.shape)
err = int(np.abs(x - d).max())
assert err <= $4, 'max error %d > $4' % err"
}
same() { check "$1" cmp "$2" "$3"; }

# run NAME SOURCE E ARGS...: encode with --max-error E and --recon, decode,
# check the bound and that decoding gives the encoder's reconstruction.
run() {
    local name=$1 src=$2 e=$3
    shift 3
    check "$name: encode --max-error $e" "$TEC" encode "$src" -o "$W/$name.tecv" \
        --max-error "$e" --recon "$W/$name.rec.npy" "$@"
    check "$name: decode" "$TEC" decode "$W/$name.tecv" -o "$W/$name.dec.npy" \
        --weights-dir "$VEC"
    bound "$name: every sample within $e" "$src" "$W/$name.dec.npy" "$e"
    same "$name: decoded = encoder's reconstruction" "$W/$name.rec.npy" "$W/$name.dec.npy"
}

MODEL=(--weights-dir "$VEC" --model vector-tt)
for e in 0 1 3 16; do
    run "l1c-e$e" "$FIXTURE" "$e" "${MODEL[@]}" -g 1 -t 1
done
run "l1c-inter-e0" "$FIXTURE" 0 "${MODEL[@]}" -g 4 -t 2
run "l1c-inter-e2" "$FIXTURE" 2 "${MODEL[@]}" -g 4 -t 2
check "l1c-inter: inter frames were coded" \
    bash -c "'$TEC' info --json '$W/l1c-inter-e0.tecv' | grep -q '\"inter\"'"
run "l2a-e0" "$L2A" 0 --weights-dir "$VEC" --model vector-sp -t 1
run "l2a-e5" "$L2A" 5 --weights-dir "$VEC" --model vector-sp -t 2
run "tall-e0" "$W/tall.npy" 0 "${MODEL[@]}" -t 2
run "tall-e2" "$W/tall.npy" 2 "${MODEL[@]}" -t 1

# The shipped model on the fixture, lossless, smaller than the raw samples.
if [ -f weights/tec-s2-tt.tecw ]; then
    run "shipped-e0" "$FIXTURE" 0 -t 2
    npy_check "shipped-e0: below 12 bits per sample" "
import os
x = np.load('$FIXTURE')
bps = os.path.getsize('$W/shipped-e0.tecv') * 8 / x.size
print('bits per sample', bps)
assert bps < 12, bps"
fi

# tec info names each frame's bound.
bounds() {
    "$TEC" info --json "$1" | "$PY" -c "import json, sys
print(' '.join(str(f.get('max_error')) for f in json.load(sys.stdin)['frame_list']))"
}
check "tec info --json: max_error 3 on every frame of l1c-e3" \
    test "$(bounds "$W/l1c-e3.tecv")" = "3 3 3 3"
check "tec info: 'lossless' beside each frame of l1c-e0" \
    bash -c "[ \"\$('$TEC' info '$W/l1c-e0.tecv' | grep -c ', lossless$')\" = 4 ]"

# A bigger bound costs fewer bits.
npy_check "sizes fall with the bound (0 > 1 > 3 > 16)" "
import os
s = [os.path.getsize('$W/l1c-e%d.tecv' % e) for e in (0, 1, 3, 16)]
print(s)
assert s[0] > s[1] > s[2] > s[3], s"

# Threads and kernel paths do not move a sample.
check "tall-e2: decode with 2 threads and the portable kernels" \
    env TEC_CPU_FLAGS=none "$TEC" decode "$W/tall-e2.tecv" -o "$W/tall-e2.none.npy" -t 2 \
    --weights-dir "$VEC"
same "tall-e2: the same samples" "$W/tall-e2.dec.npy" "$W/tall-e2.none.npy"

# Nodata with the bound: nodata samples exact, the others within E.
"$PY" -c "
import numpy as np
a = np.load('$FIXTURE').copy()
a[:, :, :, :5] = 0
a[1, 3, 20:30, 20:30] = 0
np.save('$W/nodata.npy', a)
"
for e in 0 2; do
    run "nodata-e$e" "$W/nodata.npy" "$e" "${MODEL[@]}" --nodata 0 -t 1
    npy_check "nodata-e$e: nodata samples exactly 0, no other sample 0" "
x = np.load('$W/nodata.npy'); d = np.load('$W/nodata-e$e.dec.npy')
assert ((x == 0) == (d == 0)).all()"
done

# Inputs no model was made for: uniform noise over the whole range, all 0,
# all 65535, a checkerboard of both: the bound still holds (and 0 is still
# lossless).
"$PY" -c "
import numpy as np
rng = np.random.default_rng(23)
np.save('$W/noise.npy', rng.integers(0, 65536, (2, 13, 40, 56), dtype=np.uint16))
np.save('$W/zeros.npy', np.zeros((1, 13, 24, 24), np.uint16))
np.save('$W/full.npy', np.full((1, 13, 24, 24), 65535, np.uint16))
y, x = np.mgrid[0:24, 0:24]
np.save('$W/checker.npy', np.broadcast_to(((x + y) % 2 * 65535).astype(np.uint16), (1, 13, 24, 24)).copy())
"
for f in noise zeros full checker; do
    for e in 0 7; do
        run "$f-e$e" "$W/$f.npy" "$e" "${MODEL[@]}" -t 2
    done
done

# No ceiling at the top quality: a frame three times brighter than the
# model's reference spread (404 for tec-s2; the reference frame here 400)
# wanted more than the top anchor;
# its residual layer brings its error to about the reference frame's.
if [ -f weights/tec-s2-tt.tecw ]; then
    "$PY" -c "
import numpy as np
a = np.load('$FIXTURE')[:1].astype(np.float64)
spread = np.sqrt((a[0].reshape(13, -1).std(1) ** 2).mean())
ref = np.clip(np.round((a - a.mean()) * 400 / spread + 3000), 0, 65535)
np.save('$W/ref.npy', ref.astype(np.uint16))
np.save('$W/bright.npy', np.clip(np.round((ref - 3000) * 3 + 9000), 0, 65535).astype(np.uint16))
"
    for f in ref bright; do
        check "ceiling: encode $f at quality 29" "$TEC" encode "$W/$f.npy" -o "$W/$f.tecv" -q 29 -t 2
        check "ceiling: decode $f" "$TEC" decode "$W/$f.tecv" -o "$W/$f.dec.npy"
    done
    npy_check "ceiling: the bright frame's error about the reference frame's (not 3 times)" "
def rmse(s, d):
    return float(np.sqrt(((np.load(s).astype(float) - np.load(d)) ** 2).mean()))
r, b = rmse('$W/ref.npy', '$W/ref.dec.npy'), rmse('$W/bright.npy', '$W/bright.dec.npy')
print('reference %.2f, bright %.2f' % (r, b))
assert b <= 1.3 * r, (r, b)"
    check "ceiling: the reference frame has no layer (tec info)" test "$(bounds "$W/ref.tecv")" = None
    check "ceiling: the bright frame has one (tec info)" test "$(bounds "$W/bright.tecv")" != None
    npy_check "ceiling: only the bright frame's packet has a residual layer" "
import sys
sys.path.insert(0, 'tools')
import tecio
flags = [tecio.read_tecv('$W/%s.tecv' % f)[1][0][2][1] for f in ('ref', 'bright')]
assert not flags[0] & 8 and flags[1] & 8, flags"
    check "ceiling: --fixed-quality keeps the anchor alone" "$TEC" encode "$W/bright.npy" \
        -o "$W/bright-fixed.tecv" -q 29 --fixed-quality -t 2
    npy_check "ceiling: no residual layer with --fixed-quality" "
import sys
sys.path.insert(0, 'tools')
import tecio
assert not tecio.read_tecv('$W/bright-fixed.tecv')[1][0][2][1] & 8"
fi

# Bad values and damaged sections.
expect_error "--max-error -1 is refused" "$TEC" encode "$FIXTURE" -o "$W/bad.tecv" --max-error -1
expect_error "--max-error 256 is refused" "$TEC" encode "$FIXTURE" -o "$W/bad.tecv" --max-error 256
expect_error "--max-error x is refused" "$TEC" encode "$FIXTURE" -o "$W/bad.tecv" --max-error x
"$PY" - "$W/l1c-e0.tecv" "$W/cut.tecv" <<'PYEOF'
import sys
sys.path.insert(0, 'tools')
import tecio
hdr, packets = tecio.read_tecv(sys.argv[1])
# the residual section ends the packet: cut 3 bytes off it and flip one
raw = open(sys.argv[1], 'rb').read()
off = raw.find(packets[0][2]) + len(packets[0][2])
damaged = bytearray(raw)
damaged[off - 40] ^= 0x55
open(sys.argv[2], 'wb').write(bytes(damaged))
PYEOF
check "a damaged residual section: decode reports it" bash -c \
    "! '$TEC' decode '$W/cut.tecv' -o '$W/cut.npy' --weights-dir '$VEC' 2>'$W/cut.err'; grep -q 'frame 0' '$W/cut.err'"

summary
