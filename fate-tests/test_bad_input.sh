#!/bin/bash
# Bad input of every kind gets a clear "tec: ..." message and a non-zero exit
# status, never a crash, a sanitizer report or a hang: damaged .tecv files,
# missing or mismatching weights, unusable .npy files, bad option values.
cd "$(dirname "$0")/.." || exit 1
. fate-tests/lib/cli.bash

W=$WORK
M1=$(tiny_model tec-tiny 1) && M2=$(tiny_model tec-tiny 2) ||
    { echo "cannot make the test models"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$W/empty"

"$PY" -c "import numpy as np; np.save('$W/in.npy', np.load('$FIXTURE')[:2, :, :40, :48])"
check "encode a clean stream (tiny model)" \
    "$TEC" encode "$W/in.npy" -o "$W/clean.tecv" --model tec-tiny --weights-dir "$M1" \
    --dates 2017-06-20,2017-07-10
check "decode the clean stream" "$TEC" decode "$W/clean.tecv" -o "$W/clean.npy" --weights-dir "$M1"
DEC=("$TEC" decode --weights-dir "$M1")

# ---- damaged .tecv files, made from the clean one
"$PY" - "$W" <<'EOF'
import sys, zlib
w = sys.argv[1]
data = open(w + '/clean.tecv', 'rb').read()
hs = int.from_bytes(data[8:12], 'little')
first = 16 + hs
packets, pos = [], first
while pos < len(data):
    n = int.from_bytes(data[pos + 4:pos + 8], 'little')
    packets.append((pos, n))
    pos += 24 + n
assert len(packets) == 2 and pos == len(data), packets
p0, n0 = packets[0]
p1, n1 = packets[1]

def put(name, b):
    open('%s/%s.tecv' % (w, name), 'wb').write(bytes(b))

def flipped(offsets, fix_crc=None):
    b = bytearray(data)
    for o in offsets:
        b[o] ^= 0x08
    if fix_crc is not None:
        p, n = packets[fix_crc]
        # the packet CRC covers header bytes 8-19 (time, flags), then the payload
        b[p + 20:p + 24] = zlib.crc32(bytes(b[p + 8:p + 20]) + bytes(b[p + 24:p + 24 + n])).to_bytes(4, 'little')
    return b

names = []
for n in [0, 3, 8, 15, 16, 17, first - 1, first + 10, first + 23, first + 24,
          p0 + 24 + n0 // 2, p1, p1 + 30, len(data) - 1]:
    put('trunc%d' % n, data[:n]); names.append('trunc%d' % n)
cases = {
    'magic': b'TECX' + data[4:],
    'version': data[:4] + bytes([3]) + data[5:],
    'codec': data[:6] + bytes([9]) + data[7:],
    'headersize': data[:8] + b'\xff\xff\xff\xff' + data[12:],
    'headerbit': flipped([16 + 3]),
    'headercrc': flipped([12]),
    'metabit': flipped([first - 3]),
    'sync0': flipped([p0]),
    'size0': data[:p0 + 4] + b'\xff\xff\xff\x7f' + data[p0 + 8:],
    'size0small': data[:p0 + 4] + (n0 - 5).to_bytes(4, 'little') + data[p0 + 8:],
    'payload0': flipped([p0 + 24 + n0 // 3]),
    'time0': flipped([p0 + 9]),
    'flags1': flipped([p1 + 16]),
    'payload1': flipped([p1 + 24 + 7, p1 + 24 + n1 - 2]),
    'both': flipped([p0 + 24 + 9, p1 + 24 + 9]),
    'garbage': data[:first] + bytes(range(256)) * 3,
}
# A header with a valid CRC that claims a billion frames.
b = bytearray(data)
b[26:34] = (10 ** 9).to_bytes(8, 'little')
b[12:16] = zlib.crc32(bytes(b[16:first])).to_bytes(4, 'little')
cases['framecount'] = b
for k, v in cases.items():
    put(k, v); names.append(k)
# Payload damage behind a valid CRC reaches the decoder itself.
for i, off in enumerate([0, 1, 3, 5, 9, 14, 40, n0 // 2, n0 - 1]):
    put('deep%d' % i, flipped([p0 + 24 + min(off, n0 - 1)], fix_crc=0)); names.append('deep%d' % i)
open(w + '/damaged.txt', 'w').write('\n'.join(names) + '\n')
EOF

while read -r name; do
    expect_error "decode $name.tecv" "${DEC[@]}" "$W/$name.tecv" -o "$W/out.npy"
    expect_error "info $name.tecv" "$TEC" info "$W/$name.tecv"
done < <(grep -v '^deep' "$W/damaged.txt")

# Damage the CRC cannot see: the decoder must fail cleanly or decode; never crash.
while read -r name; do
    err=$(timeout -k 5 60 "$TEC" decode --weights-dir "$M1" "$W/$name.tecv" -o "$W/out.npy" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -ge 124 ] || printf '%s' "$err" | grep -q -e AddressSanitizer -e 'runtime error'; then
        fail "decode $name.tecv (valid CRC) does not crash (exit status $rc)"
        printf '%s\n' "$err" | tail -n 20 | sed 's/^/      | /'
    elif [ $rc -ne 0 ] && ! printf '%s' "$err" | grep -q '^tec: .*frame 0'; then
        fail "decode $name.tecv (valid CRC): no message naming frame 0"
        printf '%s\n' "$err" | sed 's/^/      | /'
    else
        ok "decode $name.tecv (valid CRC): exit status $rc $(printf '%s' "$err" | head -n 1 | cut -c1-90)"
    fi
done < <(grep '^deep' "$W/damaged.txt")

# A damaged packet costs its frame only: the other one is written.
"${DEC[@]}" "$W/payload0.tecv" -o "$W/p0.npy" 2>"$W/p0.err"
rc=$?
check "damaged frame 0: exit status 1" test $rc -eq 1
check "damaged frame 0: stderr names frame 0" grep -q '^tec: .*frame 0' "$W/p0.err"
npy_check "damaged frame 0: frame 1 still decoded, frame 0 zeros" "
a = np.load('$W/p0.npy'); c = np.load('$W/clean.npy')
assert a.shape == c.shape and np.array_equal(a[1], c[1]) and not a[0].any()"
"${DEC[@]}" "$W/payload1.tecv" -o "$W/p1.npy" 2>"$W/p1.err"
check "damaged frame 1: stderr names frame 1" grep -q '^tec: .*frame 1' "$W/p1.err"
npy_check "damaged frame 1: frame 0 still decoded" "
a = np.load('$W/p1.npy'); c = np.load('$W/clean.npy'); assert np.array_equal(a[0], c[0])"

# Damage in the last block row of a 3-block-row frame: the decoder has
# delivered the rows above it already, yet the whole frame must read zeros.
"$PY" -c "
import numpy as np
f = np.load('$FIXTURE')[:2, :, :, :48]
np.save('$W/tall.npy', np.concatenate([f, f[:, :, ::-1]] * 5, axis=2)[:, :, :560])"
"$TEC" encode "$W/tall.npy" -o "$W/tall.tecv" --model tec-tiny --weights-dir "$M1" 2>/dev/null
"${DEC[@]}" "$W/tall.tecv" -o "$W/tall_clean.npy"
"$PY" - "$W" <<'EOF'
import sys, zlib
w = sys.argv[1]
b = bytearray(open(w + '/tall.tecv', 'rb').read())
p0 = 16 + int.from_bytes(b[8:12], 'little')
n0 = int.from_bytes(b[p0 + 4:p0 + 8], 'little')
for k in range(2, 6):  # the last chunk ends the payload: the bottom-right block
    b[p0 + 24 + n0 - k] ^= 0x5a
crc = zlib.crc32(bytes(b[p0 + 8:p0 + 20]) + bytes(b[p0 + 24:p0 + 24 + n0]))
b[p0 + 20:p0 + 24] = crc.to_bytes(4, 'little')
open(w + '/tall_bad.tecv', 'wb').write(bytes(b))
EOF
"${DEC[@]}" "$W/tall_bad.tecv" -o "$W/tall_bad.npy" 2>"$W/tall.err"
check "damaged last block row: exit status 1" test $? -eq 1
check "damaged last block row: stderr names frame 0" grep -q '^tec: .*frame 0: .*chunk' "$W/tall.err"
npy_check "damaged last block row: frame 0 all zeros, frame 1 decoded" "
a = np.load('$W/tall_bad.npy'); c = np.load('$W/tall_clean.npy')
assert a.shape == c.shape == (2, 13, 560, 48) and not a[0].any() and np.array_equal(a[1], c[1])"

# ---- weights
expect_error "missing weights (TEC_WEIGHTS is an empty directory)" \
    env TEC_WEIGHTS="$W/empty" "$TEC" decode "$W/clean.tecv" -o "$W/out.npy"
check "missing weights: the message names the model" bash -c \
    'TEC_WEIGHTS="$1" "$0" decode "$2" -o "$3" 2>&1 | grep -q "tec-tiny"' \
    "$TEC" "$W/empty" "$W/clean.tecv" "$W/out.npy"
expect_error "mismatching weights (another tec-tiny.tecw)" \
    env TEC_WEIGHTS="$W/empty" "$TEC" decode --weights-dir "$M2" "$W/clean.tecv" -o "$W/out.npy"
check "mismatching weights: the message names the model" bash -c \
    '"$0" decode --weights-dir "$1" "$2" -o "$3" 2>&1 | grep -q "tec-tiny"' \
    "$TEC" "$M2" "$W/clean.tecv" "$W/out.npy"
mkdir -p "$W/badw"
head -c 500 "$M1/tec-tiny.tecw" > "$W/badw/tec-tiny.tecw"
expect_error "truncated weight file" \
    "$TEC" decode --weights-dir "$W/badw" "$W/clean.tecv" -o "$W/out.npy"
printf 'TECW garbage' > "$W/badw/tec-tiny.tecw"
expect_error "garbage weight file" \
    "$TEC" decode --weights-dir "$W/badw" "$W/clean.tecv" -o "$W/out.npy"
expect_error "encode with a model that does not exist" \
    env TEC_WEIGHTS="$W/empty" "$TEC" encode "$W/in.npy" -o "$W/x.tecv" --model tec-nothere
check "a failed encode leaves no output file" test ! -e "$W/x.tecv"

# ---- unusable .npy input
"$PY" - "$W" <<'EOF'
import sys, numpy as np
w = sys.argv[1] + '/'
np.save(w + 'f32.npy', np.zeros((2, 8, 8), np.float32))
np.save(w + 'i16.npy', np.zeros((2, 8, 8), np.int16))
np.save(w + 'u8.npy', np.zeros((2, 8, 8), np.uint8))
np.save(w + 'be.npy', np.zeros((2, 8, 8), '>u2'))
np.save(w + 'fortran.npy', np.asfortranarray(np.zeros((2, 8, 8), np.uint16)))
np.save(w + 'rank2.npy', np.zeros((8, 8), np.uint16))
np.save(w + 'rank5.npy', np.zeros((1, 1, 2, 8, 8), np.uint16))
np.save(w + 'zero_c.npy', np.zeros((0, 8, 8), np.uint16))
np.save(w + 'zero_w.npy', np.zeros((2, 8, 0), np.uint16))
np.save(w + 'zero_t.npy', np.zeros((0, 2, 8, 8), np.uint16))
np.save(w + 'bands65.npy', np.zeros((65, 2, 2), np.uint16))
np.save(w + 'wide.npy', np.zeros((1, 1, 70000), np.uint16))
np.save(w + 'trunc_src.npy', np.zeros((2, 16, 16), np.uint16))
d = open(w + 'trunc_src.npy', 'rb').read()
open(w + 'truncated.npy', 'wb').write(d[:len(d) - 100])
open(w + 'text.npy', 'w').write('not a numpy file\n')
open(w + 'empty.npy', 'w').close()
EOF
for f in f32 i16 u8 be fortran rank2 rank5 zero_c zero_w zero_t bands65 wide truncated text empty; do
    expect_error "encode $f.npy" "$TEC" encode "$W/$f.npy" -o "$W/x.tecv" --weights-dir "$M1" --model tec-tiny
done
expect_error "encode a file that does not exist" "$TEC" encode "$W/nothere.npy" -o "$W/x.tecv"
expect_error "encode a directory" "$TEC" encode "$W" -o "$W/x.tecv"
expect_error "decode a file that does not exist" "$TEC" decode "$W/nothere.tecv" -o "$W/x.npy"
expect_error "decode a .npy" "$TEC" decode "$W/in.npy" -o "$W/x.npy"
expect_error "info a file that does not exist" "$TEC" info "$W/nothere.tecv"
expect_error "info a directory" "$TEC" info "$W"
expect_error "decode into a missing directory" "${DEC[@]}" "$W/clean.tecv" -o "$W/no/such/dir.npy"
cp "$W/clean.tecv" "$W/clean.copy"
expect_error "decode over its own input" "${DEC[@]}" "$W/clean.tecv" -o "$W/clean.tecv"
check "the input survived" cmp -s "$W/clean.tecv" "$W/clean.copy"

# ---- bad option values
ENC=("$TEC" encode "$W/in.npy" -o "$W/x.tecv" --weights-dir "$M1" --model tec-tiny)
expect_error "--quality 0" "${ENC[@]}" --quality 0
expect_error "--quality 30" "${ENC[@]}" --quality 30
expect_error "--quality 4.5" "${ENC[@]}" --quality 4.5
expect_error "--quality x" "${ENC[@]}" -q x
expect_error "--quality without a value" "${ENC[@]}" -q
expect_error "--threads -1" "${ENC[@]}" --threads -1
expect_error "--threads many" "${ENC[@]}" --threads many
expect_error "--dates: 1 date for 2 frames" "${ENC[@]}" --dates 2017-06-20
expect_error "--dates: 30 February" "${ENC[@]}" --dates 2017-02-30,2017-03-01
expect_error "--dates: hour 25" "${ENC[@]}" --dates 2017-02-03T25:00:00,x
expect_error "--dates: empty date" "${ENC[@]}" --dates 2017-02-03,
expect_error "--bands: 3 names for 13 bands" "${ENC[@]}" --bands B01,B02,B03
expect_error "--bands: a name with a space" "${ENC[@]}" --bands "B01,B02,B 3,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12"
expect_error "--bands: a name of 16 characters" "${ENC[@]}" --bands "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,ABCDEFGHIJKLMNOP"
expect_error "--geotransform: 5 numbers" "${ENC[@]}" --geotransform 1,2,3,4,5
expect_error "--geotransform: not numbers" "${ENC[@]}" --geotransform 1,2,3,4,5,x
expect_error "--nodata 70000" "${ENC[@]}" --nodata 70000
expect_error "--nodata nan" "${ENC[@]}" --nodata nan
expect_error "--crs ''" "${ENC[@]}" --crs ""
expect_error "--meta without =" "${ENC[@]}" --meta foo
expect_error "--meta =value" "${ENC[@]}" --meta =value
expect_error "--meta crs=... (has its own option)" "${ENC[@]}" --meta crs=EPSG:4326
expect_error "--meta twice the same key" "${ENC[@]}" --meta a=1 --meta a=2
expect_error "--model ../escape" "${ENC[@]}" --model ../escape
expect_error "unknown option" "${ENC[@]}" --frobnicate
expect_error "--raw=1 (takes no value)" "${ENC[@]}" --raw=1
expect_error "two inputs" "$TEC" encode "$W/in.npy" "$W/in.npy" -o "$W/x.tecv"
expect_error "encode without -o" "$TEC" encode "$W/in.npy"
expect_error "encode without input" "$TEC" encode -o "$W/x.tecv"
expect_error "decode without -o" "$TEC" decode "$W/clean.tecv"
expect_error "decode to stdout" "$TEC" decode "$W/clean.tecv" -o -
expect_error "decode --threads 1000" "${DEC[@]}" "$W/clean.tecv" -o "$W/x.npy" --threads 1000
expect_error "info without input" "$TEC" info
expect_error "unknown command" "$TEC" frobnicate
expect_error "no command" "$TEC"
expect_error "help for an unknown command" "$TEC" help frobnicate
check "no output file left by the failures above" test ! -e "$W/x.tecv"

summary
