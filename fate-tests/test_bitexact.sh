#!/bin/bash
# Bit-exact coding: the decoder's output equals the encoder's own
# reconstruction (tec encode --recon), the same stream decodes to the same
# samples whatever the thread count and whatever kernel path runs (the AVX2
# or the portable one, pinned with TEC_CPU_FLAGS, doc/design.md), and the
# encoder writes the same bytes on every path.  fate-tests/test_aarch64.sh
# adds another architecture.
cd "$(dirname "$0")/.." || exit 1
. fate-tests/lib/cli.bash

main_model || { echo "cannot make a test model"; echo "0 passed, 1 failed"; exit 1; }
W=$WORK
enc() { "$TEC" encode --weights-dir "$MAIN_DIR" "$@"; }
dec() { "$TEC" decode --weights-dir "$MAIN_DIR" "$@"; }

# same NAME A B: the two .npy files hold the same array (and the same bytes).
same() {
    check "$1" "$PY" -c "import numpy as np, sys
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape)
n = int(np.count_nonzero(a != b))
assert n == 0, '%d samples differ, largest difference %d' % (n, int(np.abs(a.astype(int) - b).max()))" "$2" "$3"
}

# The fixture as it is, and one frame of 2 x 2 blocks (a block is 512
# pixels wide), so that threads really share the tiles: the fixture mirrored
# out to 528 x 520.
"$PY" -c "
import numpy as np
a = np.load('$FIXTURE')[:1, [1, 2, 3, 7]]
reps = np.concatenate([a, a[:, :, ::-1]], axis=2)
reps = np.concatenate([reps, reps[:, :, :, ::-1]], axis=3)
big = np.tile(reps, (1, 1, 5, 5))[:, :, :528, :520]
np.save('$W/big.npy', np.ascontiguousarray(big))
"

# The big frame is encoded on the portable path with 2 threads, and every
# decode below runs with other settings: a stream made on one machine
# decodes bit for bit on another.
check "fixture: encode with --recon" enc "$FIXTURE" -o "$W/fixture.tecv" --recon "$W/fixture.rec.npy"
check "big: encode with --recon, TEC_CPU_FLAGS=none, 2 threads" \
    env TEC_CPU_FLAGS=none "$TEC" encode --weights-dir "$MAIN_DIR" "$W/big.npy" \
    -o "$W/big.tecv" --recon "$W/big.rec.npy" --bands B02,B03,B04,B08 --threads 2

# (fate-tests/unit/test_cpu.c checks that TEC_CPU_FLAGS masks the paths.)
for s in fixture big; do
    for t in 1 2; do
        check "$s: decode --threads $t" dec "$W/$s.tecv" -o "$W/$s.t$t.npy" --threads "$t"
    done
    same "$s: decoder output (1 thread) = encoder reconstruction" "$W/$s.rec.npy" "$W/$s.t1.npy"
    same "$s: --threads 1 = --threads 2" "$W/$s.t1.npy" "$W/$s.t2.npy"

    for flags in none avx2; do
        check "$s: decode with TEC_CPU_FLAGS=$flags" \
            env TEC_CPU_FLAGS=$flags "$TEC" decode --weights-dir "$MAIN_DIR" \
            "$W/$s.tecv" -o "$W/$s.$flags.npy" --threads 2
        same "$s: TEC_CPU_FLAGS=$flags = encoder reconstruction" \
            "$W/$s.rec.npy" "$W/$s.$flags.npy"
    done
done

# The encoder is deterministic too: the analysis runs the same fixed-order
# kernels, so a series encodes to the same bytes on every path.
check "big: encode again on the default path" enc "$W/big.npy" -o "$W/big.default.tecv" \
    --bands B02,B03,B04,B08 --threads 1
check "big: the same bytes from the portable and the default path" \
    cmp "$W/big.tecv" "$W/big.default.tecv"

# Latent refinement (--effort) moves the symbols only: the decoder still
# gives the encoder's reconstruction, and the encoder stays deterministic
# (its backward pass runs the same fixed-order kernels) across threads and
# kernel paths.  The fixture's 4 frames hold keyframes and inter frames.
check "effort: encode --effort 1 with --recon, 2 threads" enc "$FIXTURE" -o "$W/effort.tecv" \
    --effort 1 --threads 2 --recon "$W/effort.rec.npy"
check "effort: decode" dec "$W/effort.tecv" -o "$W/effort.dec.npy" --threads 1
same "effort: decoder output = encoder reconstruction" "$W/effort.rec.npy" "$W/effort.dec.npy"
check "effort: encode again, 1 thread, TEC_CPU_FLAGS=none" \
    env TEC_CPU_FLAGS=none "$TEC" encode --weights-dir "$MAIN_DIR" "$FIXTURE" \
    -o "$W/effort.t1.tecv" --effort 1 --threads 1
check "effort: the same bytes on 1 and 2 threads and either path" \
    cmp "$W/effort.tecv" "$W/effort.t1.tecv"
check "effort: the symbols moved (the stream differs from --effort 0)" \
    bash -c '! cmp -s "$1" "$2"' _ "$W/effort.tecv" "$W/fixture.tecv"
expect_error "effort: --effort 6 refused" "$TEC" encode "$FIXTURE" -o "$W/x.tecv" --effort 6
expect_error "effort: --effort -1 refused" "$TEC" encode "$FIXTURE" -o "$W/x.tecv" --effort -1

# Band weighting (band_weights.h): each keyframe writes its spreads narrowed
# by the exponent that codes a sample of its blocks best.  The choice is the
# encoder's alone (the decoder reads the spreads as written), and it is
# deterministic: the same bytes on 1 and 2 threads and either kernel path.
# The L2A fixture's red edge and NIR spreads are about five times the
# visible bands', the kind of frame the weighting narrows.
L2A=fate-tests/data/ssl4eo_t2_48.npy
check "weighting: encode the L2A fixture with --recon, 2 threads" enc "$L2A" -o "$W/bw.tecv" \
    --threads 2 --recon "$W/bw.rec.npy"
check "weighting: decode" dec "$W/bw.tecv" -o "$W/bw.dec.npy" --threads 1
same "weighting: decoder output = encoder reconstruction" "$W/bw.rec.npy" "$W/bw.dec.npy"
check "weighting: encode again, 1 thread, TEC_CPU_FLAGS=none" \
    env TEC_CPU_FLAGS=none "$TEC" encode --weights-dir "$MAIN_DIR" "$L2A" -o "$W/bw.t1.tecv" \
    --threads 1
check "weighting: the same bytes on 1 and 2 threads and either path" \
    cmp "$W/bw.tecv" "$W/bw.t1.tecv"
check "weighting: --plain-spreads with --recon" enc "$L2A" -o "$W/plain.tecv" --plain-spreads \
    --recon "$W/plain.rec.npy"
check "weighting: decode the --plain-spreads stream" dec "$W/plain.tecv" -o "$W/plain.dec.npy"
same "weighting: --plain-spreads decoder output = encoder reconstruction" \
    "$W/plain.rec.npy" "$W/plain.dec.npy"
# The shipped model carries the quality calibration the weighting needs
# (a random stand-in has none, and codes both the same).
if [ "$MAIN_SHIPPED" = 1 ]; then
    check "weighting: the L2A fixture's keyframe chose a narrowing (not --plain-spreads' bytes)" \
        bash -c '! cmp -s "$1" "$2"' _ "$W/bw.tecv" "$W/plain.tecv"
fi
check "weighting: --fixed-quality writes the plain spreads" enc "$L2A" -o "$W/fixed.tecv" \
    --fixed-quality
check "weighting: --fixed-quality --plain-spreads: the same bytes" enc "$L2A" \
    -o "$W/fixed.plain.tecv" --fixed-quality --plain-spreads
check "weighting: --fixed-quality is unweighted either way" cmp "$W/fixed.tecv" "$W/fixed.plain.tecv"

summary
