/* TEC-TT, the temporal entropy model of inter frames (doc/model.md): every
 * latent position attends over the decoded latents of up to TEC_TT_MAX_REFS
 * earlier frames around it, and the result refines each slice's means and
 * scales.  All of it is integer arithmetic (doc/bitstream.md, 4), so the
 * encoder and every decoder derive the same entropy parameters. */
#ifndef TEC_MODEL_TEMPORAL_H
#define TEC_MODEL_TEMPORAL_H

#include <stdint.h>

#include "model_image.h"
#include "weights.h"

#define TEC_TT_VERSION 1
#define TEC_TT_MAX_REFS 4
#define TEC_TT_WINDOW 9          /* 3 x 3 positions of every reference */
#define TEC_TT_GAP_KNOTS 9
#define TEC_TT_DOY_KNOTS 6
#define TEC_TT_TAU (TEC_TT_GAP_KNOTS + 1 + TEC_TT_DOY_KNOTS + 1 + 2 + TEC_TT_MAX_REFS)
#define TEC_TT_EXP_SIZE 1024
#define TEC_TT_UNKNOWN 0xffff    /* a gap or day of year the stream does not know */

typedef struct TecTemporalModel {
    int m, slices, gs, spatial;
    int hidden;                  /* of the slice contexts (the checkerboard keeps the image model's) */
    int heads, key, value;       /* per head */
    int dk, dv;                  /* heads x key, heads x value */
    TecIntConv kv, tk, q;
    int32_t *pos;                /* [TEC_TT_WINDOW][dk], Q8 */
    int32_t *exp_table;          /* [TEC_TT_EXP_SIZE]: exp(-j / 64) in 16 fractional bits */
    int32_t *exp2_table;         /* [256]: 2^(f / 256) in 15 fractional bits */
    int32_t *log_gain;           /* [qualities][m], log2 of the gains, 16 fractional bits */
    int qualities;
    TecIntConv c[TEC_IMG_MAX_SLICES][2], sp[TEC_IMG_MAX_SLICES][2];
    TecIntConv lin[TEC_IMG_MAX_SLICES]; /* the slice's mean, scale and temporal rows straight
                                         * to corrections */
} TecTemporalModel;

/* The temporal model of the weights, if they hold one: 0 with *tt NULL when
 * they do not (meta tt_version absent), TEC_EMODEL with a message when it is
 * malformed or does not fit the image model. */
int tec_tt_load(TecTemporalModel **tt, const TecWeights *w, const TecImageModel *img,
                char *err, size_t errlen);
void tec_tt_free(TecTemporalModel **tt);

/* How a reference coded at ref_pos enters a frame coded at cur_pos, per
 * channel: value = r * mant >> shift (shift < 0: <<), Q8. */
#define TEC_TT_MAX_M 1024
typedef struct TecTtFactor {
    int32_t mant[TEC_TT_MAX_M];
    int8_t shift[TEC_TT_MAX_M];
} TecTtFactor;
int tec_tt_factors(const TecTemporalModel *tt, int cur_pos, int ref_pos, TecTtFactor *f);
static inline int32_t tec_tt_convert(const TecTtFactor *f, int c, int16_t r)
{
    const int64_t p = (int64_t)r * f->mant[c];
    const int sh = f->shift[c];
    int64_t v = sh > 0 ? (p + ((int64_t)1 << (sh - 1))) >> sh : p * ((int64_t)1 << -sh);
    return v > INT32_MAX ? INT32_MAX : v < -INT32_MAX ? -INT32_MAX : (int32_t)v;
}

/* What a coded latent leaves for later frames: symbol + round(mean),
 * clamped to 16 bits. */
static inline int16_t tec_tt_reference_value(int32_t symbol, int32_t mean)
{
    const int64_t v = (int64_t)symbol + (((int64_t)mean + 128) >> 8);
    return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
}

/* Day of the year, 0..365, of a day counted from 1970-01-01 (UTC). */
int tec_tt_day_of_year(int64_t day);
/* The day of an acquisition time in ms since 1970 (floor). */
static inline int64_t tec_tt_day(int64_t time_ms)
{
    return time_ms >= 0 ? time_ms / 86400000 : -((-time_ms + 86399999) / 86400000);
}

/* The TEC_TT_TAU time features (Q8) of one reference: gap in days and the
 * current frame's day of year (TEC_TT_UNKNOWN: not known), both quality
 * positions and the reference's rank (0 = the latest). */
void tec_tt_time_features(int gap, int doy, int cur_pos, int ref_pos, int order, int32_t *tau);

/* One block's references: for each, the converted latents over the block
 * and a halo of one position, [m][h + 2][w + 2], with inside[(h+2)(w+2)] 1
 * where the position lies in the frame, and its time features. */
typedef struct TecTtBlock {
    int n_refs;
    const int32_t *ref[TEC_TT_MAX_REFS];
    const uint8_t *inside;
    int32_t tau[TEC_TT_MAX_REFS][TEC_TT_TAU];
} TecTtBlock;

/* The attention output o[dv][h w] of a block with hyperprior means and raw
 * scales mean, scale [m][h w]. */
int tec_tt_attention(const TecTemporalModel *tt, const TecTtBlock *b, const int32_t *mean,
                     const int32_t *scale, int h, int w, int32_t *o, TecWorkspace *ws);

/* Rows of a slice context's input beyond the image model's: the latest
 * reference's slice, the attention output and the time features. */
static inline int tec_tt_extra_rows(const TecTemporalModel *tt)
{
    return tt->gs + tt->dv + TEC_TT_TAU;
}

/* Slice k's context in an inter frame: in holds (k + 2) gs + extra rows of n
 * (decoded slices < k, the slice's means and raw scales, then the extra
 * rows); corrections are added to mean and scale [gs][n].  Bit-exact. */
int tec_tt_slice_context(const TecTemporalModel *tt, int k, const int32_t *in, int n,
                         int32_t *mean, int32_t *scale, TecWorkspace *ws);
/* The checkerboard pass of slice k, as tec_img_spatial_context with the
 * temporal model's layers. */
int tec_tt_spatial_context(const TecTemporalModel *tt, int k, int32_t *in, int n,
                           TecWorkspace *ws);

#endif
