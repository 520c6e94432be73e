/* Per-channel leans of an inter block (doc/bitstream.md, 3): how far each
 * latent channel's predicted mean moves towards the latest reference.  The
 * temporal model was trained on many places and trusts a reference about as
 * much as they did on average; a place whose dates agree more (monthly
 * composites, a quiet city) or less than that gains when the encoder, which
 * sees the frame, says by how much per channel.  The decoder applies what the
 * chunk says; only the encoder estimates. */
#ifndef TEC_LEAN_H
#define TEC_LEAN_H

#include <stddef.h>
#include <stdint.h>

/* A lean l moves the mean by l / 16 of the way to the reference. */
#define TEC_LEAN_ONE 16
#define TEC_LEAN_MIN (-16)
#define TEC_LEAN_MAX 32

/* The final mean (Q8) of a latent with lean l whose latest reference is r
 * (Q8, the current frame's domain): mu + floor((l (r - mu) + 8) / 16),
 * clamped to +-(2^31 - 1). */
static inline int32_t tec_lean_mean(int32_t mu, int32_t r, int lean)
{
    const int64_t v = (int64_t)mu + (((int64_t)lean * ((int64_t)r - mu) + 8) >> 4);
    return v > INT32_MAX ? INT32_MAX : v < -INT32_MAX ? -INT32_MAX : (int32_t)v;
}

/* What the encoder gathers over a block coded without leans, per channel:
 * the sums of w e d and w d^2, e = y - mu, d = r - mu, w = 1 / scale^2 (the
 * Gaussian's own weights), in a fixed order (the same bytes on every CPU). */
typedef struct TecLeanSums {
    double ed, dd;
} TecLeanSums;

/* The leans that the sums ask for, [m]: the weighted least-squares factor
 * rounded to 1/16, kept where it saves more than it costs to send; returns
 * how many channels have one, and in *saving_bits what the fit says they
 * save together. */
int tec_lean_choose(const TecLeanSums *sums, int m, int8_t *lean, double *saving_bits);

/* The table at the start of an inter chunk of a frame with leans: u8 form,
 * 0 (no channel has a lean: the table ends) or 1: ceil(m/8) bytes, bit
 * (c mod 8) of byte c/8 set when channel c has a lean (at least one), then
 * one s8 lean per such channel in increasing c. */
size_t tec_lean_table_size(const int8_t *lean, int m);
void tec_lean_table_write(const int8_t *lean, int m, uint8_t *p);
/* Reads the table into lean[m]; its size in *used, or TEC_EBITSTREAM with a
 * reason (cut, a lean of 0 or out of range, bits past channel m - 1). */
int tec_lean_table_read(const uint8_t *p, size_t size, int m, int8_t *lean, size_t *used,
                        char *why, size_t whylen);

#endif
