#!/bin/bash
# Cloud masks and cloud filling (issue 27) end to end through the tec tool,
# on the real liri crop (4 dates, 20 days apart) with cloud-shaped masks
# pasted over its clear frames, so the truth under them is known:
# - a mask in the stream changes no decoded sample, and tec info shows it;
# - --fill-clouds changes only the masked pixels, fills exactly those of
#   every frame that has one before it (the first frame stays as coded, with
#   the reason on stderr), and predicts them better than repeating each
#   pixel's last clear sample;
# - filling is the same with 1 and 2 threads and on the portable kernels;
# - --fill-mask at decode time, --skip-clouds (smaller file, clear pixels
#   close to the plain coding, filled by the decoder), and bad masks and
#   option combinations refused with a message.
cd "$(dirname "$0")/.." || exit 1
. fate-tests/lib/cli.bash

W=$WORK

"$PY" - "$FIXTURE" "$W" <<'EOF'
import sys
import numpy as np
cube, w = np.load(sys.argv[1]), sys.argv[2]
T, C, H, Wd = cube.shape
rng = np.random.default_rng(27)
y, x = np.mgrid[0:H, 0:Wd]
masks = np.zeros((T, H, Wd), np.uint8)
for t in range(T):
    # Two or three blobs of uneven edges, 10-40% of the frame.
    for _ in range(2 + t % 2):
        cy, cx, r = rng.uniform(0, H), rng.uniform(0, Wd), rng.uniform(7, 14)
        wobble = 1 + 0.25 * np.sin(np.arctan2(y - cy, x - cx) * rng.integers(3, 7))
        masks[t] |= (((y - cy) ** 2 + (x - cx) ** 2) < (r * wobble) ** 2).astype(np.uint8)
# Frame 1 cloudy where frame 0 was too: pixels never seen clear stay as coded.
masks[0, 20:30, 0:12] = 1
masks[1, 20:30, 0:12] = 1
np.save(w + "/masks.npy", masks)
np.save(w + "/masks_u16.npy", masks.astype(np.uint16))
np.save(w + "/masks_small.npy", masks[:, :-1])
np.save(w + "/masks_3.npy", masks[:3])
# Which pixels a fill may fill: masked ones seen clear on an earlier date.
open(w + "/expect.py", "w").write("""
import numpy as np
def fillable(m):
    out, seen = np.zeros_like(m), ~m[0]
    for t in range(1, len(m)):
        out[t] = m[t] & seen
        seen = ~m[t] | seen
    return out
""")
# Three block rows (192 rows: the crop, mirrored, again), the masks with it.
tall = np.concatenate([cube, cube[:, :, ::-1], cube], axis=2)
np.save(w + "/tall.npy", np.ascontiguousarray(tall))
np.save(w + "/tall_masks.npy", np.ascontiguousarray(np.concatenate([masks, masks[:, ::-1], masks], axis=1)))
print("cloud cover per frame:", masks.reshape(T, -1).mean(1).round(2))
EOF

check "encode with --cloud-mask" "$TEC" encode "$FIXTURE" -o "$W/m.tecv" --cloud-mask "$W/masks.npy"
check "encode without" "$TEC" encode "$FIXTURE" -o "$W/p.tecv"
check "decode with the mask in the stream" "$TEC" decode "$W/m.tecv" -o "$W/m.npy"
check "decode without" "$TEC" decode "$W/p.tecv" -o "$W/p.npy"
check "a cloud mask changes no decoded sample" cmp "$W/m.npy" "$W/p.npy"
npy_check "the mask costs under 200 bytes a frame here" "
import os
extra = os.path.getsize('$W/m.tecv') - os.path.getsize('$W/p.tecv')
print('mask bytes a frame:', extra / 4)
assert 0 < extra < 4 * 200, extra
"
check "tec info shows the cloud mask" sh -c "'$TEC' info '$W/m.tecv' | grep -q 'clouds'"
check "tec info --json has clouds" sh -c "'$TEC' info --json '$W/m.tecv' | grep -q '\"clouds\": true'"

# fill_ok NAME FILLED.npy WRITTEN-MASK.npy: only masked pixels changed, the
# written mask is the mask on frames 1.. and empty on frame 0, and the fill
# beats repeating the last clear sample of the plain decode.
fill_ok() {
    npy_check "$1" "
src = np.load('$FIXTURE').astype(np.float64)
plain = np.load('$W/p.npy').astype(np.float64)
f = np.load('$2').astype(np.float64)
written = np.load('$3').astype(bool)
m = np.load('$W/masks.npy').astype(bool)
sys.path.insert(0, '$W')
from expect import fillable
ok = fillable(m)
print('masked pixels never seen clear:', int((m & ~ok)[1:].sum()))
T = len(m)
assert written.shape == m.shape, written.shape
assert not written[0].any(), 'frame 0 has nothing before it'
for t in range(1, T):
    assert np.array_equal(written[t], ok[t]), t
for t in range(T):
    keep = ~written[t]
    assert np.array_equal(f[t][:, keep], plain[t][:, keep]), 'frame %d: a clear pixel moved' % t
def psnr(a, b):
    return 10 * np.log10(10000.0 ** 2 / ((a - b) ** 2).mean())
last = plain[0].copy()
gains = []
for t in range(1, T):
    mt = ok[t]
    gains.append(psnr(f[t][:, mt], src[t][:, mt]) - psnr(last[:, mt], src[t][:, mt]))
    last[:, ~mt] = plain[t][:, ~mt]
print('fill against repeating the last clear sample, dB:', np.round(gains, 2))
assert np.mean(gains) > 0, gains
"
}

check "fill: decode --fill-clouds -t 1" "$TEC" decode "$W/m.tecv" -o "$W/f1.npy" --fill-clouds \
    --write-mask "$W/w1.npy" -t 1
fill_ok "fill: clear pixels unchanged, masked ones filled and better than repeating" \
    "$W/f1.npy" "$W/w1.npy"
check "fill: the first frame's mask stays as coded, with the reason" sh -c \
    "'$TEC' decode '$W/m.tecv' -o '$W/f1b.npy' --fill-clouds 2>&1 | grep -q 'frame 0: cloud pixels left as coded: no earlier frame'"
check "fill: pixels never seen clear stay as coded, with the reason" sh -c \
    "'$TEC' decode '$W/m.tecv' -o '$W/f1c.npy' --fill-clouds 2>&1 | grep -q 'frame 1: cloud pixels left as coded: 120 of its masked pixels were never seen clear'"
check "fill: decode -t 2" "$TEC" decode "$W/m.tecv" -o "$W/f2.npy" --fill-clouds -t 2
check "fill: the same with 1 and 2 threads" cmp "$W/f1.npy" "$W/f2.npy"
check "fill: decode on the portable kernels" env TEC_CPU_FLAGS=none "$TEC" decode "$W/m.tecv" \
    -o "$W/fn.npy" --fill-clouds -t 2
check "fill: the same on the portable kernels" cmp "$W/f1.npy" "$W/fn.npy"
check "fill: intra-only stream (-g 1) encode" "$TEC" encode "$FIXTURE" -o "$W/mi.tecv" -g 1 \
    --cloud-mask "$W/masks.npy"
check "fill: intra-only stream decode" "$TEC" decode "$W/mi.tecv" -o "$W/fi.npy" --fill-clouds \
    --write-mask "$W/wi.npy"
npy_check "fill: intra-only stream filled every mask after the first frame" "
w, m = np.load('$W/wi.npy').astype(bool), np.load('$W/masks.npy').astype(bool)
sys.path.insert(0, '$W')
from expect import fillable
assert not w[0].any() and np.array_equal(w, fillable(m))
"

# Frames of several block rows: the chain and the prediction move with them.
check "tall: encode" "$TEC" encode "$W/tall.npy" -o "$W/t.tecv" --cloud-mask "$W/tall_masks.npy"
check "tall: decode plain" "$TEC" decode "$W/t.tecv" -o "$W/tp.npy"
check "tall: decode --fill-clouds -t 1" "$TEC" decode "$W/t.tecv" -o "$W/tf1.npy" --fill-clouds -t 1
check "tall: decode --fill-clouds -t 2" "$TEC" decode "$W/t.tecv" -o "$W/tf2.npy" --fill-clouds -t 2
check "tall: the same with 1 and 2 threads" cmp "$W/tf1.npy" "$W/tf2.npy"
# A line fitted on the whole frame can lose locally; a wrong prediction in a
# later block row would lose by far more than 3 dB.
npy_check "tall: clear pixels unchanged, every block row's clouds predicted" "
src = np.load('$W/tall.npy').astype(np.float64)
plain, f = np.load('$W/tp.npy').astype(np.float64), np.load('$W/tf1.npy').astype(np.float64)
m = np.load('$W/tall_masks.npy').astype(bool)
def psnr(a, b):
    return 10 * np.log10(10000.0 ** 2 / ((a - b) ** 2).mean())
for t in range(len(m)):
    assert np.array_equal(f[t][:, ~m[t]], plain[t][:, ~m[t]]), t
last = plain[0].copy()
for t in range(1, len(m)):
    for r0 in (0, 64, 128):
        mt = m[t].copy()
        mt[:r0] = False
        mt[r0 + 64:] = False
        if mt.sum() < 20:
            continue
        a, b = psnr(f[t][:, mt], src[t][:, mt]), psnr(last[:, mt], src[t][:, mt])
        assert a > b - 3.0, (t, r0, a, b)
    last[:, ~m[t]] = plain[t][:, ~m[t]]
"

# GeoTIFF output says so in its metadata (with GDAL).
if "$PY" -c "from osgeo import gdal" 2>/dev/null; then
    check "fill: GeoTIFF output" "$TEC" decode "$W/m.tecv" -o "$W/f.tif" --fill-clouds --frame 1
    npy_check "fill: the GeoTIFF's metadata says it was filled" "
from osgeo import gdal
md = gdal.Open('$W/f.tif').GetMetadata()
assert 'TEC_FILLED_CLOUDS' in md, md
"
fi

# The mask given at decode time, on a stream without one.
check "fill-mask: decode the plain stream with --fill-mask" "$TEC" decode "$W/p.tecv" \
    -o "$W/fm.npy" --fill-clouds --fill-mask "$W/masks.npy" --write-mask "$W/wm.npy"
fill_ok "fill-mask: the same rules" "$W/fm.npy" "$W/wm.npy"
check "fill-mask: the same fill as the stream's mask" cmp "$W/fm.npy" "$W/f1.npy"
check "no fill without a mask: decode --fill-clouds of the plain stream" "$TEC" decode \
    "$W/p.tecv" -o "$W/pf.npy" --fill-clouds
check "no fill without a mask: same samples" cmp "$W/pf.npy" "$W/p.npy"

# Skipping the clouds: fewer bytes, clear pixels still close to the source.
check "skip: encode --skip-clouds" "$TEC" encode "$FIXTURE" -o "$W/s.tecv" \
    --cloud-mask "$W/masks.npy" --skip-clouds
check "skip: decode --fill-clouds" "$TEC" decode "$W/s.tecv" -o "$W/sf.npy" --fill-clouds \
    --write-mask "$W/ws.npy"
check "skip: decode plain" "$TEC" decode "$W/s.tecv" -o "$W/sp.npy"
npy_check "skip: smaller file, clear pixels within 1 dB of the plain coding, clouds filled" "
import os
src = np.load('$FIXTURE').astype(np.float64)
plain = np.load('$W/p.npy').astype(np.float64)
sp, sf = np.load('$W/sp.npy').astype(np.float64), np.load('$W/sf.npy').astype(np.float64)
m = np.load('$W/masks.npy').astype(bool)
a, b = os.path.getsize('$W/s.tecv'), os.path.getsize('$W/m.tecv')
print('bytes with --skip-clouds %d, without %d (%.1f%%)' % (a, b, 100.0 * (a - b) / b))
assert a < b, (a, b)
def psnr(x, y):
    return 10 * np.log10(10000.0 ** 2 / ((x - y) ** 2).mean())
clear = ~m
p0 = psnr(plain.transpose(1, 0, 2, 3)[:, clear], src.transpose(1, 0, 2, 3)[:, clear])
p1 = psnr(sp.transpose(1, 0, 2, 3)[:, clear], src.transpose(1, 0, 2, 3)[:, clear])
print('clear pixels: plain %.2f dB, skipped %.2f dB' % (p0, p1))
assert p1 > p0 - 1.0, (p0, p1)
w = np.load('$W/ws.npy').astype(bool)
sys.path.insert(0, '$W')
from expect import fillable
assert np.array_equal(w, fillable(m))
assert np.array_equal(sf[:, :, ~m[0]][0], sp[:, :, ~m[0]][0])
"

# The independent Python decoder reads streams with cloud masks (skipping
# the informational entry) to the same samples, nodata and inter frames too.
npy_check "the Python decoder decodes a stream with cloud masks and nodata" "
import subprocess
sys.path[:0] = ['tools', 'tools/train']
import reference, tecio
vec, w = 'fate-tests/vectors', '$W'
f = np.load('$FIXTURE')[[0, 0, 1, 1]][:, :, :40, :48].copy()
f[:, :, :3, :] = 0
np.save(w + '/pc.npy', f)
np.save(w + '/pc_mask.npy', np.ascontiguousarray(np.load(w + '/masks.npy')[:, :40, :48]))
subprocess.run(['$TEC', 'encode', w + '/pc.npy', '-o', w + '/pc.tecv', '--model', 'vector-tt',
                '--weights-dir', vec, '-g', '4', '-t', '1', '--nodata', '0', '--cloud-mask',
                w + '/pc_mask.npy', '--dates', '2017-06-20,2017-06-30,2017-07-10,2017-07-20'],
               check=True)
subprocess.run(['$TEC', 'decode', w + '/pc.tecv', '-o', w + '/pc.dec.npy', '--weights-dir', vec],
               check=True)
d = np.load(w + '/pc.dec.npy')
hdr, packets = tecio.read_tecv(w + '/pc.tecv')
seq = reference.parse_seq_header(hdr['seq_header'])
model, tensors, _, hp = reference.load_model(vec + '/vector-tt.tecw')
stream = reference.Stream()
types = []
for i, (_, _, p) in enumerate(packets):
    dec = reference.decode_symbols(p, seq, tensors, hp, stream)
    ref = reference.reconstruct(model, dec, seq, tensors)
    types.append(dec['frame_type'])
    assert int(np.abs(ref.astype(np.int64) - d[i]).max()) <= 1, i
    stream.add(dec, p)
assert 1 in types, types
"

# Bad masks and combinations.
expect_error "mask of the wrong size refused" "$TEC" encode "$FIXTURE" -o "$W/x.tecv" \
    --cloud-mask "$W/masks_small.npy"
expect_error "mask with too few frames refused" "$TEC" encode "$FIXTURE" -o "$W/x.tecv" \
    --cloud-mask "$W/masks_3.npy"
expect_error "uint16 mask refused" "$TEC" encode "$FIXTURE" -o "$W/x.tecv" \
    --cloud-mask "$W/masks_u16.npy"
expect_error "a cube as the mask refused" "$TEC" encode "$FIXTURE" -o "$W/x.tecv" \
    --cloud-mask "$FIXTURE"
expect_error "--skip-clouds without a mask refused" "$TEC" encode "$FIXTURE" -o "$W/x.tecv" \
    --skip-clouds
expect_error "--skip-clouds with --max-error refused" "$TEC" encode "$FIXTURE" -o "$W/x.tecv" \
    --cloud-mask "$W/masks.npy" --skip-clouds --max-error 2
expect_error "--cloud-mask with --raw refused" "$TEC" encode "$FIXTURE" -o "$W/x.tecv" \
    --cloud-mask "$W/masks.npy" --raw
expect_error "fill mask of the wrong size refused" "$TEC" decode "$W/p.tecv" -o "$W/x.npy" \
    --fill-clouds --fill-mask "$W/masks_small.npy"
expect_error "--write-mask without --fill-clouds refused" "$TEC" decode "$W/p.tecv" \
    -o "$W/x.npy" --write-mask "$W/x_mask.npy"

# Filling needs no temporal model: a stream of the image model alone.
check "image model alone: encode with tec-s2" "$TEC" encode "$FIXTURE" -o "$W/img.tecv" \
    --model tec-s2 --cloud-mask "$W/masks.npy"
check "image model alone: decode --fill-clouds" "$TEC" decode "$W/img.tecv" -o "$W/img.npy" \
    --fill-clouds --write-mask "$W/wimg.npy"
npy_check "image model alone: every mask after the first frame filled" "
w, m = np.load('$W/wimg.npy').astype(bool), np.load('$W/masks.npy').astype(bool)
sys.path.insert(0, '$W')
from expect import fillable
assert not w[0].any() and np.array_equal(w, fillable(m))
"

summary
