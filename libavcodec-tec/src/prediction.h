/* Predicted frames (doc/bitstream.md, 3): a frame coded as its difference
 * from a prediction made of the frame before it, each band of that frame's
 * decoded samples mapped by a line.  A place revisited a few weeks later is
 * mostly the same picture under another light; the line carries the light
 * over and the image model codes what is left. */
#ifndef TEC_PREDICTION_H
#define TEC_PREDICTION_H

#include <stddef.h>
#include <stdint.h>

#include "tec/tec.h"

/* The residual is coded around this value, so that it fits in uint16. */
#define TEC_PRED_OFFSET 32768
#define TEC_PRED_GAIN_ONE 65536     /* gains in 1/65536 */
#define TEC_PRED_GAIN_MAX (4 * TEC_PRED_GAIN_ONE)
#define TEC_PRED_OFFSET_FRAC 16     /* offsets in 1/16 */
#define TEC_PRED_OFFSET_MAX (65536 * TEC_PRED_OFFSET_FRAC * 4)

typedef struct TecPrediction {
    uint32_t crc;                   /* CRC-32 of the previous frame's packet */
    int32_t gain[TEC_MAX_BANDS];    /* |gain| <= TEC_PRED_GAIN_MAX */
    int32_t offset[TEC_MAX_BANDS];  /* |offset| <= TEC_PRED_OFFSET_MAX */
} TecPrediction;

/* The section: u32 CRC, then per band i32 gain and i32 offset. */
static inline size_t tec_pred_size(int bands) { return 4 + 8 * (size_t)bands; }
void tec_pred_write(const TecPrediction *p, int bands, uint8_t *out);
/* TEC_EBITSTREAM with a reason for a cut section or a value out of range. */
int tec_pred_read(TecPrediction *p, int bands, const uint8_t *data, size_t size, size_t *used,
                  char *why, size_t whylen);

/* The prediction of one sample of band b from the previous frame's v. */
static inline int32_t tec_pred_sample(const TecPrediction *p, int b, uint16_t v)
{
    const int64_t x = (int64_t)p->gain[b] * v +
                      (int64_t)p->offset[b] * (TEC_PRED_GAIN_ONE / TEC_PRED_OFFSET_FRAC) +
                      TEC_PRED_GAIN_ONE / 2;
    return x <= 0 ? 0 : x >= (int64_t)65535 * TEC_PRED_GAIN_ONE ? 65535 : (int32_t)(x >> 16);
}

/* Fits each band's line from the previous frame's samples (ref) to the
 * frame (src) by least squares over every pixel (exact integer sums, so
 * every machine fits the same line).  Both are bands x height x width with
 * the given strides. */
void tec_pred_fit(TecPrediction *p, int bands, int width, int height, const uint16_t *ref,
                  ptrdiff_t ref_stride, ptrdiff_t ref_band_stride, const uint16_t *src,
                  ptrdiff_t src_stride, ptrdiff_t src_band_stride);

/* The encoder's input: src - prediction + TEC_PRED_OFFSET, clamped to uint16,
 * into out (width x height per band, packed). */
void tec_pred_residual(const TecPrediction *p, int bands, int width, int height,
                       const uint16_t *ref, ptrdiff_t ref_stride, ptrdiff_t ref_band_stride,
                       const uint16_t *src, ptrdiff_t src_stride, ptrdiff_t src_band_stride,
                       uint16_t *out);

/* The decoder's last step on rows of band b: the decoded residual plus the
 * prediction, clamped to uint16.  ref points at the same rows of the
 * previous frame. */
void tec_pred_add(const TecPrediction *p, int b, int width, int rows, uint16_t *data,
                  ptrdiff_t stride, const uint16_t *ref, ptrdiff_t ref_stride);

#endif
