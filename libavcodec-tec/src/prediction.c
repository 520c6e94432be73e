/* Predicted frames: the line of each band, its section, the residual and
 * its inverse. */
#include <math.h>
#include <stdio.h>

#include "prediction.h"
#include "bytes.h"

void tec_pred_write(const TecPrediction *p, int bands, uint8_t *out)
{
    tec_wl32(out, p->crc);
    for (int b = 0; b < bands; b++) {
        tec_wl32(out + 4 + 8 * b, (uint32_t)p->gain[b]);
        tec_wl32(out + 8 + 8 * b, (uint32_t)p->offset[b]);
    }
}

int tec_pred_read(TecPrediction *p, int bands, const uint8_t *data, size_t size, size_t *used,
                  char *why, size_t whylen)
{
    const size_t need = tec_pred_size(bands);
    if (size < need) {
        snprintf(why, whylen, "prediction section cut (%zu of %zu bytes)", size, need);
        return TEC_EBITSTREAM;
    }
    p->crc = tec_rl32(data);
    for (int b = 0; b < bands; b++) {
        p->gain[b] = (int32_t)tec_rl32(data + 4 + 8 * b);
        p->offset[b] = (int32_t)tec_rl32(data + 8 + 8 * b);
        if (p->gain[b] < -TEC_PRED_GAIN_MAX || p->gain[b] > TEC_PRED_GAIN_MAX ||
            p->offset[b] < -TEC_PRED_OFFSET_MAX || p->offset[b] > TEC_PRED_OFFSET_MAX) {
            snprintf(why, whylen, "prediction of band %d out of range (gain %d, offset %d)", b,
                     p->gain[b], p->offset[b]);
            return TEC_EBITSTREAM;
        }
    }
    *used = need;
    return 0;
}

static int32_t clamp_round(double v, int32_t limit)
{
    if (!(v > -limit))   /* NaN too */
        return v > 0 ? limit : -limit;
    if (v > limit)
        return limit;
    return (int32_t)floor(v + 0.5);
}

void tec_pred_fit(TecPrediction *p, int bands, int width, int height, const uint16_t *ref,
                  ptrdiff_t ref_stride, ptrdiff_t ref_band_stride, const uint16_t *src,
                  ptrdiff_t src_stride, ptrdiff_t src_band_stride)
{
    const double n = (double)width * height;
    for (int b = 0; b < bands; b++) {
        /* 65535^2 x 2^27 pixels stays below 2^64. */
        uint64_t sr = 0, ss = 0, srr = 0, srs = 0;
        for (int y = 0; y < height; y++) {
            const uint16_t *r = ref + b * ref_band_stride + y * ref_stride;
            const uint16_t *s = src + b * src_band_stride + y * src_stride;
            for (int x = 0; x < width; x++) {
                sr += r[x];
                ss += s[x];
                srr += (uint64_t)r[x] * r[x];
                srs += (uint64_t)r[x] * s[x];
            }
        }
        const double mr = sr / n, ms = ss / n;
        const double var = srr / n - mr * mr, cov = srs / n - mr * ms;
        /* A flat previous band predicts nothing but its mean. */
        const double a = var > 0.25 ? cov / var : 0.0;
        p->gain[b] = clamp_round(a * TEC_PRED_GAIN_ONE, TEC_PRED_GAIN_MAX);
        const double g = (double)p->gain[b] / TEC_PRED_GAIN_ONE;
        p->offset[b] = clamp_round((ms - g * mr) * TEC_PRED_OFFSET_FRAC, TEC_PRED_OFFSET_MAX);
    }
}

void tec_pred_residual(const TecPrediction *p, int bands, int width, int height,
                       const uint16_t *ref, ptrdiff_t ref_stride, ptrdiff_t ref_band_stride,
                       const uint16_t *src, ptrdiff_t src_stride, ptrdiff_t src_band_stride,
                       uint16_t *out)
{
    for (int b = 0; b < bands; b++)
        for (int y = 0; y < height; y++) {
            const uint16_t *r = ref + b * ref_band_stride + y * ref_stride;
            const uint16_t *s = src + b * src_band_stride + y * src_stride;
            uint16_t *o = out + ((size_t)b * height + y) * width;
            for (int x = 0; x < width; x++) {
                const int32_t v = (int32_t)s[x] - tec_pred_sample(p, b, r[x]) + TEC_PRED_OFFSET;
                o[x] = (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v);
            }
        }
}

void tec_pred_add(const TecPrediction *p, int b, int width, int rows, uint16_t *data,
                  ptrdiff_t stride, const uint16_t *ref, ptrdiff_t ref_stride)
{
    for (int y = 0; y < rows; y++) {
        uint16_t *d = data + y * stride;
        const uint16_t *r = ref + y * ref_stride;
        for (int x = 0; x < width; x++) {
            const int32_t v = (int32_t)d[x] - TEC_PRED_OFFSET + tec_pred_sample(p, b, r[x]);
            d[x] = (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v);
        }
    }
}
