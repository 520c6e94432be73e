#!/bin/bash
# Nodata survives lossy coding (issue 25) end to end through the tec tool:
# real crops with artificial nodata (a diagonal border in every band, one
# band's edge further in, scattered samples in one band, nodata in one band
# only), nodata 0 and 65535, intra and inter frames (-g), 1 and 2 threads.
# Every sample's nodata status must come back exactly (a sample decodes to
# the value if and only if it was the value), the decode must equal the
# encoder's reconstruction on every thread count, and a value that the
# source never holds must not appear in the decode.  The mask section's
# bytes are measured and printed.  The shipped default model codes (the
# byte costs are real ones); raw streams are lossless and need no mask.
cd "$(dirname "$0")/.." || exit 1
. fate-tests/lib/cli.bash

W=$WORK
SSL=fate-tests/data/ssl4eo_t2_48.npy

"$PY" - "$FIXTURE" "$SSL" "$W" <<'EOF'
import sys
import numpy as np
fix, ssl, w = np.load(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(25)
T, C, H, Wd = fix.shape
y, x = np.mgrid[0:H, 0:Wd]
# liri: a swath edge in every band, B01 (60 m) 3 pixels further, 40 scattered
# B04 samples, a run of B10 rows: nodata 0.
a = fix.copy()
a[:, :, x + 0.6 * y < 18] = 0
a[:, 0, x + 0.6 * y < 21] = 0
for _ in range(40):
    a[rng.integers(T), 3, rng.integers(H), rng.integers(20, Wd)] = 0
a[1:3, 10, 40:44, 30:] = 0
np.save(w + "/liri_edge.npy", a)
# Nodata in one band only (B11, a block), nothing in the others.
b = fix.copy()
b[:, 11, 10:30, 5:25] = 0
np.save(w + "/liri_oneband.npy", b)
# ssl4eo (L2A, bilinear bands): nodata 65535 along the right edge and
# scattered in B08 only.
s = ssl.copy()
T2, C2, H2, W2 = s.shape
yy, xx = np.mgrid[0:H2, 0:W2]
s[:, :, xx > 38 - yy // 6] = 65535
for _ in range(25):
    s[rng.integers(T2), 7, rng.integers(H2), rng.integers(30)] = 65535
np.save(w + "/ssl_edge.npy", s)
EOF

# nodata_ok SRC DEC V [REC]: exactly the samples of SRC equal to V decode
# to V; DEC equals REC (the encoder's reconstruction) when given.
nodata_ok() {
    npy_check "$1" "
s, d, v = np.load('$2'), np.load('$3'), $4
assert s.shape == d.shape, (s.shape, d.shape)
bad = int(((s == v) != (d == v)).sum())
assert bad == 0, '%d samples with the wrong nodata status' % bad
if '${5:-}':
    r = np.load('${5:-}')
    assert np.array_equal(d, r), 'decode differs from the reconstruction'
"
}

# mask_bytes FILE: the mask bytes of every frame, and the stream's payload.
mask_bytes() {
    "$TEC" info --json "$1" | "$PY" -c "
import json, sys
j = json.load(sys.stdin)
m = [f.get('nodata_mask', {}) for f in j['frame_list']]
print('mask bytes per frame', [x.get('bytes') for x in m], 'nodata fraction',
      [round(x.get('fraction', 0), 4) for x in m], 'of', j['total']['bytes'], 'payload bytes')"
}

# round_trip NAME SRC V ENCODE-OPTIONS...: encode with 1 and 2 threads (the
# same stream), decode with 1 and 2 threads (the same samples, equal to the
# reconstruction), the nodata status of every sample.
round_trip() {
    local name=$1 src=$2 v=$3
    shift 3
    check "$name: encode -t 1" "$TEC" encode "$src" -o "$W/$name.tecv" --nodata "$v" -t 1 \
        --recon "$W/$name.rec.npy" "$@"
    check "$name: encode -t 2" "$TEC" encode "$src" -o "$W/$name.t2.tecv" --nodata "$v" -t 2 "$@"
    check "$name: the same stream with 1 and 2 threads" cmp "$W/$name.tecv" "$W/$name.t2.tecv"
    check "$name: decode -t 1" "$TEC" decode "$W/$name.tecv" -o "$W/$name.d1.npy" -t 1
    check "$name: decode -t 2" "$TEC" decode "$W/$name.tecv" -o "$W/$name.d2.npy" -t 2
    check "$name: the same samples with 1 and 2 threads" cmp "$W/$name.d1.npy" "$W/$name.d2.npy"
    nodata_ok "$name: every sample's nodata status, decode = reconstruction" "$src" \
        "$W/$name.d1.npy" "$v" "$W/$name.rec.npy"
    echo "      $name: $(mask_bytes "$W/$name.tecv")"
}

round_trip liri-intra "$W/liri_edge.npy" 0 -g 1
round_trip liri-inter "$W/liri_edge.npy" 0 -g 4
npy_check "liri-inter: inter frames coded" "
import json, subprocess
j = json.loads(subprocess.run(['$TEC', 'info', '--json', '$W/liri-inter.tecv'], capture_output=True, text=True).stdout)
types = [f['type'] for f in j['frame_list']]
assert types.count('inter') >= 1, types
assert all('nodata_mask' in f for f in j['frame_list'])
"
round_trip liri-oneband "$W/liri_oneband.npy" 0 -g 1
round_trip ssl-65535 "$SSL" 65535 -g 2
round_trip ssl-edge-65535 "$W/ssl_edge.npy" 65535 -g 2

# Without the mask the edge is lost: the same source coded without --nodata
# decodes nodata samples to other values, and valid ones to 0.
check "liri without --nodata: encode" "$TEC" encode "$W/liri_edge.npy" -o "$W/plain.tecv" -g 1
check "liri without --nodata: decode" "$TEC" decode "$W/plain.tecv" -o "$W/plain.npy"
npy_check "liri without --nodata loses the nodata status" "
s, d = np.load('$W/liri_edge.npy'), np.load('$W/plain.npy')
assert ((s == 0) != (d == 0)).sum() > 0
"

# A value the source never holds: no sample may decode to it.  The value
# is the one the plain decode of the unmodified crop hits most often among
# those the source does not have.
check "fixture: encode without nodata" "$TEC" encode "$FIXTURE" -o "$W/fix.tecv" -g 1
check "fixture: decode" "$TEC" decode "$W/fix.tecv" -o "$W/fix.npy"
V=$("$PY" -c "
import numpy as np
s, d = np.load('$FIXTURE'), np.load('$W/fix.npy')
vals, counts = np.unique(d[~np.isin(d, np.unique(s))], return_counts=True)
print(int(vals[np.argmax(counts)]))")
round_trip "fixture-absent-$V" "$FIXTURE" "$V" -g 1
npy_check "fixture: value $V absent from the source, hit by the plain decode, absent from the masked one" "
s, p, d = np.load('$FIXTURE'), np.load('$W/fix.npy'), np.load('$W/fixture-absent-$V.d1.npy')
assert not (s == $V).any() and (p == $V).any() and not (d == $V).any()
"
npy_check "fixture: the empty mask costs under 20 bytes a frame" "
import os
n = np.load('$FIXTURE').shape[0]
extra = os.path.getsize('$W/fixture-absent-$V.tecv') - os.path.getsize('$W/fix.tecv')
print('extra bytes a frame', extra / n)
assert extra < 20 * n, extra
"

# The independent Python decoder (tools/train/reference.py) applies the same
# mask and rule: nodata 65535 and a value inside the range (the rule looks
# at the row neighbours there), coded with the vector model vector-sp.
"$PY" - "$SSL" "$W" <<'EOF'
import sys
import numpy as np
s, w = np.load(sys.argv[1]), sys.argv[2]
yy, xx = np.mgrid[0:48, 0:48]
a = s.copy()
a[:, :, xx > 38 - yy // 6] = 65535
a[1, 7, 5:9, 3] = 65535
np.save(w + "/ref65535.npy", a)
v = int(np.median(s[0, 3]))
b = s.copy()
b[:, :, xx < yy // 3] = v
np.save(w + "/refmid.npy", b)
open(w + "/refmid.value", "w").write(str(v))
EOF
for case in ref65535:65535 "refmid:$(cat "$W/refmid.value")"; do
    name=${case%%:*} v=${case#*:}
    check "$name: encode (vector-sp, nodata $v)" "$TEC" encode "$W/$name.npy" -o "$W/$name.tecv" \
        --model vector-sp --weights-dir fate-tests/vectors -q 13 -t 1 --nodata "$v"
    check "$name: decode" "$TEC" decode "$W/$name.tecv" -o "$W/$name.dec.npy" \
        --weights-dir fate-tests/vectors
    npy_check "$name: the Python decoder agrees (within 1), both exact on nodata $v" "
sys.path[:0] = ['tools', 'tools/train']
import reference, tecio
src, d, v = np.load('$W/$name.npy'), np.load('$W/$name.dec.npy'), $v
hdr, packets = tecio.read_tecv('$W/$name.tecv')
seq = reference.parse_seq_header(hdr['seq_header'])
model, tensors, _, hp = reference.load_model('fate-tests/vectors/vector-sp.tecw')
for i, (_, _, p) in enumerate(packets):
    ref = reference.reconstruct(model, reference.decode_symbols(p, seq, tensors, hp), seq, tensors)
    assert int(np.abs(ref.astype(np.int64) - d[i]).max()) <= 1, i
    assert np.array_equal(ref == v, src[i] == v) and np.array_equal(d[i] == v, src[i] == v), i
"
done

# Inter frames through the Python decoder: a keyframe and three inter
# frames (vector-tt), a border and a run of band 5's samples.
npy_check "inter frames: the Python decoder agrees (within 1), both exact on nodata 0" "
import subprocess
sys.path[:0] = ['tools', 'tools/train']
import reference, tecio
vec, w = 'fate-tests/vectors', '$W'
f = np.load('$FIXTURE')[[0, 0, 1, 1]][:, :, :40, :48].copy()
y, x = np.mgrid[0:40, 0:48]
f[:, :, x + y < 20] = 0
f[2, 5, 30, 30:40] = 0
np.save(w + '/ti.npy', f)
subprocess.run(['$TEC', 'encode', w + '/ti.npy', '-o', w + '/ti.tecv', '--model', 'vector-tt',
                '--weights-dir', vec, '-g', '4', '-t', '1', '--nodata', '0',
                '--dates', '2017-06-20,2017-06-30,2017-07-10,2017-07-20'], check=True)
subprocess.run(['$TEC', 'decode', w + '/ti.tecv', '-o', w + '/ti.dec.npy', '--weights-dir', vec],
               check=True)
d = np.load(w + '/ti.dec.npy')
hdr, packets = tecio.read_tecv(w + '/ti.tecv')
seq = reference.parse_seq_header(hdr['seq_header'])
model, tensors, _, hp = reference.load_model(vec + '/vector-tt.tecw')
stream = reference.Stream()
types = []
for i, (_, _, p) in enumerate(packets):
    dec = reference.decode_symbols(p, seq, tensors, hp, stream)
    ref = reference.reconstruct(model, dec, seq, tensors)
    types.append(dec['frame_type'])
    assert int(np.abs(ref.astype(np.int64) - d[i]).max()) <= 1, i
    assert np.array_equal(ref == 0, f[i] == 0) and np.array_equal(d[i] == 0, f[i] == 0), i
    stream.add(dec, p)
assert types == [0, 1, 1, 1], types
"

# Raw streams are lossless: nodata comes back as it is, and the metadata
# keeps the value.
check "raw: encode" "$TEC" encode "$W/liri_edge.npy" -o "$W/raw.tecv" --raw --nodata 0
check "raw: decode" "$TEC" decode "$W/raw.tecv" -o "$W/raw.npy"
check "raw: samples exact" cmp <("$PY" -c "import numpy as np, sys; sys.stdout.buffer.write(np.load('$W/raw.npy').tobytes())") \
    <("$PY" -c "import numpy as np, sys; sys.stdout.buffer.write(np.load('$W/liri_edge.npy').tobytes())")
check "raw: nodata key" sh -c "'$TEC' info --json '$W/raw.tecv' | grep -q '\"nodata\": 0'"

# tec info's text gives each frame's nodata fraction.
check "tec info text names the mask" sh -c "'$TEC' info '$W/liri-inter.tecv' | grep -q 'nodata 0: '"

summary
