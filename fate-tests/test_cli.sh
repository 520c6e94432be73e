#!/bin/bash
# End-to-end tests of the tec command line tool: round trips of the real
# Sentinel-2 fixture (4-D and 3-D), every quality, odd sizes, band counts
# without names, raw streams, piped output, tec info --json.
cd "$(dirname "$0")/.." || exit 1
. fate-tests/lib/cli.bash

main_model || { echo "cannot make a test model"; echo "0 passed, 1 failed"; exit 1; }
W=$WORK
# PSNR floors: the shipped model must be good, a random stand-in only sane.
# Bands without Sentinel-2 names go through the model one at a time, without
# the other bands to lean on: a lower floor.
if [ "$MAIN_SHIPPED" = 1 ]; then MIN_PSNR=25 MIN_PSNR_GENERIC=20; else MIN_PSNR=10 MIN_PSNR_GENERIC=8; fi
enc() { "$TEC" encode --weights-dir "$MAIN_DIR" "$@"; }
dec() { "$TEC" decode --weights-dir "$MAIN_DIR" "$@"; }

# PSNR over all bands, peak 10000, both clipped to [0, 10000].
PSNR_PY='
def psnr(a, b):
    a = np.clip(a.astype(np.float64), 0, 10000); b = np.clip(b.astype(np.float64), 0, 10000)
    mse = np.mean((a - b) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(1e8 / mse)
'

# ---- help and version
check "tec --version" bash -c '"$0" --version | grep -q "^tec [0-9]"' "$TEC"
check "tec help" bash -c '"$0" help | grep -q "encode"' "$TEC"
check "encode --help states the quality range and default" \
    bash -c '"$0" encode --help | grep -q "1 (smallest file) .. 29" &&
             "$0" encode --help | grep -q "default"' "$TEC"
check "decode --help" "$TEC" decode --help
check "info --help" "$TEC" info --help

# ---- the real fixture, 4-D, with its metadata
DATES=$("$PY" -c "import json; print(','.join(json.load(open('$FIXTURE_JSON'))['dates']))")
BANDS=$("$PY" -c "import json; print(','.join(json.load(open('$FIXTURE_JSON'))['bands']))")
GEO=$("$PY" -c "import json; print(','.join(repr(v) for v in json.load(open('$FIXTURE_JSON'))['geotransform']))")
check "encode fixture (4 x 13 x 64 x 64)" \
    enc "$FIXTURE" -o "$W/f4.tecv" --dates "$DATES" --bands "$BANDS" --crs EPSG:32633 \
        --geotransform "$GEO"
check "decode fixture" dec "$W/f4.tecv" -o "$W/f4.npy"
npy_check "decoded shape, dtype and PSNR > $MIN_PSNR dB" "$PSNR_PY
a = np.load('$FIXTURE'); d = np.load('$W/f4.npy')
assert d.shape == a.shape and d.dtype == np.uint16, (d.shape, d.dtype)
p = psnr(a, d); print('PSNR %.2f dB' % p)
for t in range(a.shape[0]): print('frame %d: %.2f dB' % (t, psnr(a[t], d[t])))
assert p > $MIN_PSNR, p"

check "info --json" bash -c '"$0" info --json "$1" > "$2"' "$TEC" "$W/f4.tecv" "$W/info.json"
npy_check "info --json: 4 frames, the fixture's dates and bands" "import json
j = json.load(open('$W/info.json')); m = json.load(open('$FIXTURE_JSON'))
assert j['codec'] == 'tec' and j['model']['name'] == 'tec-s2-tt', j['model']
assert j['frames'] == 4 and len(j['frame_list']) == 4
assert j['dates'] == m['dates'], j['dates']
assert [f['date'] for f in j['frame_list']] == m['dates']
assert [f['time'] for f in j['frame_list']] == m['dates']
assert j['band_names'] == m['bands'] and j['width'] == 64 and j['height'] == 64
assert j['crs'] == 'EPSG:32633' and j['geotransform'] == m['geotransform']
assert all(f['status'] == 'ok' and f['bits'] == 8 * f['bytes'] for f in j['frame_list'])
assert abs(j['total']['bpppb'] - sum(f['bits'] for f in j['frame_list']) / (4 * 13 * 64 * 64)) < 1e-5"
check "info (text) lists the 4 dates" \
    bash -c '"$0" info "$1" | grep -c "^ *[0-3]  2017-" | grep -qx 4' "$TEC" "$W/f4.tecv"

# ---- per-frame quality: with a calibrated model (quality_spread 400) a frame
# of larger spread is coded at a higher position; --fixed-quality and a model
# without the calibration keep every frame at the position Q names (Q 17 of 8
# anchors: 16 x 7 / 28 = 4).  Both streams decode.  The rule is checked on
# the plain spreads (--plain-spreads); the band weighting writes narrower
# ones, whose RMS, and so the position, is never higher.
CAL_DIR=$(tiny_model tec-cal 3 400) && PLAIN_DIR=$(tiny_model tec-cal 3) || fail "calibrated test model"
"$PY" -c "import numpy as np; a = np.load('$FIXTURE').astype(np.uint32); a[1] = np.minimum(a[1] * 3, 65535)
np.save('$W/hazy.npy', a.astype(np.uint16))"
anchors() {  # STREAM: the anchors of its frames on one line
    "$TEC" info --json "$1" | "$PY" -c "import json, sys
print(' '.join('%.4f' % f['anchor'] for f in json.load(sys.stdin)['frame_list']))"
}
calenc() { "$TEC" encode --weights-dir "$1" --model tec-cal "$W/hazy.npy" -q 17 -o "${@:2}"; }
check "encode with per-frame quality" calenc "$CAL_DIR" "$W/hazy.tecv" --plain-spreads
check "encode with per-frame quality and band weighting" calenc "$CAL_DIR" "$W/hazy_w.tecv"
check "encode --fixed-quality" calenc "$CAL_DIR" "$W/hazy_fixed.tecv" --fixed-quality
check "encode with a model without the calibration" calenc "$PLAIN_DIR" "$W/hazy_plain.tecv"
npy_check "per-frame anchors follow the spreads; fixed and uncalibrated ones are all 4" "
import math
a = np.load('$W/hazy.npy').astype(np.float64)
got = [float(v) for v in '$(anchors "$W/hazy.tecv")'.split()]
want = []
for f in a:
    sd = np.maximum(np.floor(f.reshape(f.shape[0], -1).std(1) + 0.5), 8)
    p = 4 * 256 + 256 * math.log((sd ** 2).mean() / 400 ** 2) / math.log(2.25)
    want.append(math.floor(min(max(p, 0), 7 * 256) + 0.5) / 256)
print('anchors', got, 'expected', want)
assert len(got) == 4 and all(abs(g - w) <= 1 / 256 + 1e-9 for g, w in zip(got, want))
assert got[1] == max(got) and got[1] - min(got) > 1, got
for other in ('$(anchors "$W/hazy_fixed.tecv")', '$(anchors "$W/hazy_plain.tecv")'):
    assert other.split() == ['4.0000'] * 4, other
weighted = [float(v) for v in '$(anchors "$W/hazy_w.tecv")'.split()]
print('weighted anchors', weighted)
assert len(weighted) == 4 and all(w <= g + 1 / 256 for w, g in zip(weighted, got)), weighted"
check "info (text) shows the anchor column" \
    bash -c '"$0" info "$1" | grep -q "anchor"' "$TEC" "$W/hazy.tecv"
check "decode per-frame quality" "$TEC" decode --weights-dir "$CAL_DIR" "$W/hazy.tecv" -o "$W/hazy_d.npy"
# With the shipped (calibrated) model the hazy frame's error comes nearer the
# others' than at one position for all; a random model's error hardly moves
# with the quality.
if [ "$MAIN_SHIPPED" = 1 ]; then
    check "shipped model, per-frame quality" enc "$W/hazy.npy" -o "$W/hazy_s.tecv"
    check "shipped model, --fixed-quality" enc "$W/hazy.npy" -o "$W/hazy_sf.tecv" --fixed-quality
    dec "$W/hazy_s.tecv" -o "$W/hazy_sd.npy" && dec "$W/hazy_sf.tecv" -o "$W/hazy_sfd.npy"
    npy_check "shipped model: the hazy frame's error is nearer the others' with per-frame quality" "
a = np.load('$W/hazy.npy').astype(np.float64)
def mse(d): return [float(np.mean((a[t] - d[t]) ** 2)) for t in range(4)]
m = mse(np.load('$W/hazy_sd.npy').astype(np.float64))
f = mse(np.load('$W/hazy_sfd.npy').astype(np.float64))
print('frame MSE per-frame quality', m, 'fixed', f)
assert m[1] / np.median(m) < 0.8 * f[1] / np.median(f)"
fi

# ---- one acquisition, 3-D
"$PY" -c "import numpy as np; np.save('$W/f3.npy', np.load('$FIXTURE')[2])"
check "encode 3-D (13 x 64 x 64)" enc "$W/f3.npy" -o "$W/f3.tecv" --dates 2017-10-15
check "decode 3-D" dec "$W/f3.tecv" -o "$W/f3d.npy"
npy_check "3-D decodes to (13, 64, 64) uint16, PSNR > $MIN_PSNR dB" "$PSNR_PY
a = np.load('$W/f3.npy'); d = np.load('$W/f3d.npy')
assert d.shape == (13, 64, 64) and d.dtype == np.uint16, (d.shape, d.dtype)
assert psnr(a, d) > $MIN_PSNR"

# ---- every quality; the file never shrinks as the quality rises (on the
# whole fixture: a single small frame can lose a few bytes to rate noise)
sizes=
all_ok=1
for q in $(seq 1 29); do
    if enc "$FIXTURE" -o "$W/q$q.tecv" -q "$q" 2>"$W/q.err"; then
        sizes="$sizes $(stat -c %s "$W/q$q.tecv")"
    else
        all_ok=0
        cat "$W/q.err"
    fi
done
echo "sizes by quality:$sizes"
if [ $all_ok = 1 ]; then ok "every quality 1..29 encodes"; else fail "every quality 1..29 encodes"; fi
check "higher quality never gives a smaller file" \
    "$PY" -c "import sys; s = [int(x) for x in sys.argv[1:]]
assert len(s) == 29 and all(b >= a for a, b in zip(s, s[1:])), s" $sizes
check "quality 29 decodes" dec "$W/q29.tecv" -o "$W/q29.npy"
check "quality 1 decodes" dec "$W/q1.tecv" -o "$W/q1.npy"
npy_check "quality 29 is better than quality 1" "$PSNR_PY
a = np.load('$FIXTURE')
p1, p29 = psnr(a, np.load('$W/q1.npy')), psnr(a, np.load('$W/q29.npy'))
print('q1 %.2f dB, q29 %.2f dB' % (p1, p29)); assert p29 > p1"

# ---- odd sizes, cut from (or mirrored beyond) the fixture
"$PY" -c "
import numpy as np
a = np.load('$FIXTURE')
np.save('$W/s1x1.npy', a[:2, :, 5:6, 7:8])
np.save('$W/s17x33.npy', a[:, :, 3:20, 10:43])
big = np.pad(a[:2], ((0, 0), (0, 0), (0, 1), (0, 66)), mode='reflect')
np.save('$W/s65x130.npy', big)
"
for s in 1x1 17x33 65x130; do
    check "odd size $s: encode" enc "$W/s$s.npy" -o "$W/s$s.tecv" --recon "$W/s$s.rec.npy"
    check "odd size $s: decode" dec "$W/s$s.tecv" -o "$W/s$s.dec.npy"
    npy_check "odd size $s: shape kept, decoder = encoder reconstruction" "
a = np.load('$W/s$s.npy'); d = np.load('$W/s$s.dec.npy'); r = np.load('$W/s$s.rec.npy')
assert d.shape == a.shape and d.dtype == np.uint16, (a.shape, d.shape)
assert np.array_equal(d, r)"
done

# ---- band counts without names: the generic path (each band alone)
"$PY" -c "
import numpy as np
a = np.load('$FIXTURE')
np.save('$W/b1.npy', a[:, 3:4])
np.save('$W/b4.npy', a[:2, [1, 2, 3, 7]])
"
for b in 1 4; do
    check "$b-band cube without names: encode" enc "$W/b$b.npy" -o "$W/b$b.tecv"
    check "$b-band cube without names: decode" dec "$W/b$b.tecv" -o "$W/b$b.dec.npy"
    npy_check "$b-band cube: shape kept, PSNR > $MIN_PSNR_GENERIC dB" "$PSNR_PY
a = np.load('$W/b$b.npy'); d = np.load('$W/b$b.dec.npy')
assert d.shape == a.shape and d.dtype == np.uint16
p = psnr(a, d); print('PSNR %.2f dB' % p); assert p > $MIN_PSNR_GENERIC"
done
check "4 bands named as Sentinel-2 (one spectral group)" \
    enc "$W/b4.npy" -o "$W/b4n.tecv" --bands B02,B03,B04,B08
check "4 named bands decode" dec "$W/b4n.tecv" -o "$W/b4n.dec.npy"
npy_check "4 named bands: shape kept, PSNR > $MIN_PSNR dB" "$PSNR_PY
a = np.load('$W/b4.npy'); d = np.load('$W/b4n.dec.npy')
assert d.shape == a.shape; assert psnr(a, d) > $MIN_PSNR"

# ---- raw (uncompressed) streams are lossless
check "raw encode, 4-D" "$TEC" encode --raw "$FIXTURE" -o "$W/raw.tecv" --dates "$DATES"
check "raw decode, 4-D" "$TEC" decode "$W/raw.tecv" -o "$W/raw.npy"
check "raw encode, 3-D" "$TEC" encode --raw "$W/f3.npy" -o "$W/raw3.tecv"
check "raw decode, 3-D" "$TEC" decode "$W/raw3.tecv" -o "$W/raw3.npy"
npy_check "raw round trips are exact" "
assert np.array_equal(np.load('$FIXTURE'), np.load('$W/raw.npy'))
r3 = np.load('$W/raw3.npy'); assert r3.shape == (13, 64, 64)
assert np.array_equal(np.load('$W/f3.npy'), r3)"
check "raw: info --json says codec raw, no model" bash -c '
    "$0" info --json "$1" | "$2" -c "import json, sys; j = json.load(sys.stdin)
assert j[\"codec\"] == \"raw\" and j[\"model\"] is None and j[\"frames\"] == 4"' \
    "$TEC" "$W/raw.tecv" "$PY"
check "raw: info (text) gives '-' as each frame's anchor" bash -c '
    test "$("$0" info "$1" | grep -cE "^ +[0-9]+ .* yes .* -\$")" = 4' "$TEC" "$W/raw.tecv"

# ---- a stream written to a pipe has no frame count; it still decodes
# (the same dates: the temporal model codes inter frames with their gaps)
check "encode to stdout" bash -c '"$0" encode --weights-dir "$1" "$2" -o - --dates "$4" > "$3"' \
    "$TEC" "$MAIN_DIR" "$FIXTURE" "$W/pipe.tecv" "$DATES"
check "piped stream: decode counts the packets" dec "$W/pipe.tecv" -o "$W/pipe.npy"
check "piped stream: same samples as the seekable one" \
    "$PY" -c "import numpy as np; assert np.array_equal(np.load('$W/pipe.npy'), np.load('$W/f4.npy'))"
check "decode from stdin" bash -c '"$0" decode --weights-dir "$1" - -o "$3" < "$2"' \
    "$TEC" "$MAIN_DIR" "$W/f4.tecv" "$W/stdin.npy"
check "info from stdin" bash -c '"$0" info - < "$1" > /dev/null' "$TEC" "$W/f4.tecv"

# ---- threads give the same stream and samples
check "decode with --threads 2" dec "$W/f4.tecv" -o "$W/f4t2.npy" --threads 2
check "--threads 2 decodes the same samples" cmp "$W/f4.npy" "$W/f4t2.npy"

# ---- compare is handed to tools/compare.py
if [ -f tools/compare.py ]; then
    check "tec compare --help runs tools/compare.py" "$TEC" compare --help
fi

summary
