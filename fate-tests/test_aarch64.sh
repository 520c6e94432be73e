#!/bin/bash
# Bit-identical on another architecture: libtec, tec and the kernel unit
# tests built for aarch64 with Debian's cross compiler (static, so qemu needs
# no target root) run under qemu-aarch64.  Every conformance vector
# (fate-tests/vectors/) decodes to the very samples of this machine's build,
# and a series encodes to the very bytes, intra and inter, 1 and 2 threads.
# The aarch64 build runs the portable kernels (GCC vectors, NEON), this one
# its AVX2 kernels where the CPU has them: doc/design.md.
cd "$(dirname "$0")/.." || exit 1
. fate-tests/lib/cli.bash

CROSS_CC=${CROSS_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU:-qemu-aarch64}
A64=build-aarch64
W=$BUILD/test_aarch64
rm -rf "$W"
mkdir -p "$W"

missing=
command -v "$CROSS_CC" > /dev/null || missing="$missing $CROSS_CC (gcc-aarch64-linux-gnu)"
command -v "$QEMU" > /dev/null || missing="$missing $QEMU (qemu-user)"
[ -f /usr/aarch64-linux-gnu/include/stdio.h ] || missing="$missing the C library headers for arm64 (libc6-dev-arm64-cross)"
[ -f /usr/lib/aarch64-linux-gnu/libzstd.a ] || missing="$missing libzstd.a for arm64 (libzstd-dev:arm64)"
if [ -n "$missing" ]; then
    fail "the aarch64 toolchain is installed (make deps); missing:$missing"
    summary
    exit 1
fi

# The same Makefile and sources, another compiler and build directory; the
# tool without its optional libraries (GDAL), which are not cross-installed,
# and without sanitizers (the ASan pass of make check runs this test too).
UNITS="test_kernels test_repro_math test_cpu test_rans test_interpolation test_replication
       test_band_weights"
check "build libtec, tec and the kernel tests for aarch64" \
    make --no-print-directory B=$A64 SAN= CC="$CROSS_CC" TEC_BIN=$A64/tec LDFLAGS=-static \
    TOOLS_CPPFLAGS= TOOLS_LIBS= \
    $A64/tec $(for u in $UNITS; do printf '%s ' "$A64/tests/$u"; done)
if [ ! -x $A64/tec ]; then
    summary
    exit 1
fi
check "the build is an aarch64 program" bash -c "file $A64/tec | grep -q aarch64"

for u in $UNITS; do
    check "aarch64 unit test $u" "$QEMU" "$A64/tests/$u"
done

a64() { "$QEMU" "$A64/tec" "$@"; }
VEC=fate-tests/vectors

for v in "$VEC"/*.tecv; do
    name=$(basename "$v" .tecv)
    check "$name: decode here" "$TEC" decode "$v" -o "$W/$name.here.npy" --weights-dir "$VEC"
    check "$name: decode on aarch64" a64 decode "$v" -o "$W/$name.a64.npy" --weights-dir "$VEC"
    check "$name: the same samples on aarch64" cmp "$W/$name.here.npy" "$W/$name.a64.npy"
done

# A series through the temporal model (keyframe, then inter frames): the
# encoder is deterministic too, so both machines write the same bytes.
ENC=(encode "$FIXTURE" --weights-dir "$VEC" --model vector-tt -g 4 --context 2
     --dates 2017-06-20,2017-07-10,2017-10-15,2017-12-24)
for t in 1 2; do
    check "series: encode here, $t threads" "$TEC" "${ENC[@]}" -t $t \
        -o "$W/series.here.t$t.tecv" --recon "$W/series.here.t$t.npy"
    check "series: encode on aarch64, $t threads" a64 "${ENC[@]}" -t $t \
        -o "$W/series.a64.t$t.tecv" --recon "$W/series.a64.t$t.npy"
    check "series: the same bytes on aarch64, $t threads" \
        cmp "$W/series.here.t$t.tecv" "$W/series.a64.t$t.tecv"
    check "series: the same reconstruction on aarch64, $t threads" \
        cmp "$W/series.here.t$t.npy" "$W/series.a64.t$t.npy"
done
check "series: inter frames were coded" \
    bash -c "'$TEC' info --json '$W/series.here.t1.tecv' | grep -q '\"inter\"'"

# With --effort the encoder also runs the synthesis backwards and its own
# erfc and exp: still the same bytes on both machines.
check "series: encode --effort 1 here" "$TEC" "${ENC[@]}" -t 2 --effort 1 \
    -o "$W/effort.here.tecv"
check "series: encode --effort 1 on aarch64" a64 "${ENC[@]}" -t 2 --effort 1 \
    -o "$W/effort.a64.tecv"
check "series: --effort 1, the same bytes on aarch64" \
    cmp "$W/effort.here.tecv" "$W/effort.a64.tecv"

# Band weighting chooses each keyframe's spreads by coding sample blocks and
# comparing their costs, which needs a model with the quality calibration:
# the shipped one (the vectors' models have none).  The same choice, so the
# same bytes, on both machines.
if [ -f weights/tec-s2-tt.tecw ]; then
    BW=(encode fate-tests/data/ssl4eo_t2_48.npy --weights-dir weights -t 2)
    check "weighting: encode the L2A fixture here" "$TEC" "${BW[@]}" -o "$W/bw.here.tecv"
    check "weighting: encode the L2A fixture on aarch64" a64 "${BW[@]}" -o "$W/bw.a64.tecv"
    check "weighting: the same bytes on aarch64" cmp "$W/bw.here.tecv" "$W/bw.a64.tecv"
    check "weighting: --plain-spreads on aarch64" a64 "${BW[@]}" --plain-spreads \
        -o "$W/bw.plain.a64.tecv"
    check "weighting: the keyframe was weighted (not the --plain-spreads bytes)" \
        bash -c '! cmp -s "$1" "$2"' _ "$W/bw.a64.tecv" "$W/bw.plain.a64.tecv"
fi

summary
