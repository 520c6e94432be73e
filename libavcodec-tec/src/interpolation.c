/* Interpolated bands: finding them, their packet section, and the
 * decoder's least-squares projection (doc/bitstream.md, section 3).  The
 * projection runs in double precision in a fixed order: the same on every
 * machine (the build disables FMA contraction). */
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "errors.h"
#include "interpolation.h"

enum { BAND_NONE = 0, BAND_PARAMS = 1, BAND_SAME_AS = 2 };

/* Factors the encoder tries, largest first (a larger factor is a smaller
 * space, so it removes more error): 60 m -> 10 m, 60 m -> 20 m, 20 m -> 10 m. */
static const int search_factors[] = { 6, 3, 2 };
/* Squared RMS by which the projection may move the source: its rounding. */
#define TOLERANCE_SQ 0.25
/* Lines per axis the encoder's search fits. */
#define SEARCH_LINES 8

static int imax(int a, int b) { return a > b ? a : b; }

int tec_interp_init(TecInterpolation *r, int bands, int width, int height, int stripe_rows)
{
    memset(r, 0, sizeof(*r));
    r->bands = bands;
    r->width = width;
    r->height = height;
    const size_t n = (size_t)imax(width, height) + 4;
    r->params = calloc((size_t)bands * 4, 1);
    r->candidate = calloc((size_t)bands, 1);
    r->residual = calloc((size_t)bands, sizeof(*r->residual));
    r->line = malloc(n * sizeof(double));
    r->w_lo = malloc(n * sizeof(double));
    r->w_hi = malloc(n * sizeof(double));
    r->off = malloc(n * sizeof(double));
    r->piv = malloc(n * sizeof(double));
    r->up = malloc(n * sizeof(double));
    r->rhs = malloc(n * sizeof(double));
    r->lower = malloc(n * sizeof(int));
    int ok = r->params && r->candidate && r->residual && r->line && r->w_lo && r->w_hi &&
             r->off && r->piv && r->up && r->rhs && r->lower;
    if (ok && stripe_rows > 0) {
        r->scratch = malloc((size_t)width * (stripe_rows < height ? stripe_rows : height) *
                            sizeof(*r->scratch));
        ok = r->scratch != NULL;
    }
    if (!ok) {
        tec_interp_free(r);
        return TEC_ENOMEM;
    }
    return 0;
}

void tec_interp_free(TecInterpolation *r)
{
    free(r->params);
    free(r->candidate);
    free(r->residual);
    free(r->scratch);
    free(r->line);
    free(r->w_lo);
    free(r->w_hi);
    free(r->off);
    free(r->piv);
    free(r->up);
    free(r->rhs);
    free(r->lower);
    memset(r, 0, sizeof(*r));
}

void tec_interp_clear(TecInterpolation *r)
{
    memset(r->params, 0, (size_t)r->bands * 4);
}

int tec_interp_any(const TecInterpolation *r)
{
    for (int b = 0; b < r->bands; b++)
        if (r->params[4 * b])
            return 1;
    return 0;
}

/* ---- the least-squares fit along one axis --------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Prepares the fit of lines of n pixels starting at pixel s0 with knots at
 * (phase2 + 2 k factor) / 2: per pixel the knot below it and the two hat
 * weights, and the tridiagonal normal equations eliminated once.  Returns
 * the knot count, or 0 when the segment is shorter than two knot intervals
 * or the equations degenerate (the axis is then left alone). */
static int fit_prepare(TecInterpolation *r, int s0, int n, int factor, int phase2)
{
    if (n < 2 * factor)
        return 0;
    const int64_t two_f = 2 * factor;
    const int64_t lo = 2 * ((int64_t)s0 - factor), hi = 2 * ((int64_t)s0 + n - 1 + factor);
    const int64_t k0 = floor_div(lo - phase2, two_f) + 1;
    const int64_t k1 = -floor_div(phase2 - hi, two_f) - 1;
    const int nk = (int)(k1 - k0 + 1);
    const int64_t first = phase2 + k0 * two_f;
    double *diag = r->piv;
    for (int k = 0; k < nk; k++)
        diag[k] = r->off[k] = 0.0;
    for (int i = 0; i < n; i++) {
        const int64_t x2 = 2 * ((int64_t)s0 + i);
        int64_t k = floor_div(x2 - first, two_f);
        k = k < 0 ? 0 : k > nk - 2 ? nk - 2 : k;
        const int64_t below = first + k * two_f;
        r->lower[i] = (int)k;
        r->w_hi[i] = (double)(x2 - below) / (double)two_f;
        r->w_lo[i] = (double)(below + two_f - x2) / (double)two_f;
        diag[k] += r->w_lo[i] * r->w_lo[i];
        diag[k + 1] += r->w_hi[i] * r->w_hi[i];
        r->off[k] += r->w_lo[i] * r->w_hi[i];
    }
    for (int k = 0; k < nk; k++) {
        const double d = diag[k];
        r->piv[k] = k ? d - r->off[k - 1] * r->up[k - 1] : d;
        if (!(r->piv[k] > 1e-9 * (d > 1e-300 ? d : 1e-300)))
            return 0;
        r->up[k] = k + 1 < nk ? r->off[k] / r->piv[k] : 0.0;
    }
    return nk;
}

/* Replaces line[0..n) by its least-squares fit (fit_prepare first). */
static void fit_line(TecInterpolation *r, int n, int nk)
{
    double *c = r->rhs;
    for (int k = 0; k < nk; k++)
        c[k] = 0.0;
    for (int i = 0; i < n; i++) {
        const int k = r->lower[i];
        c[k] = c[k] + r->w_lo[i] * r->line[i];
        c[k + 1] = c[k + 1] + r->w_hi[i] * r->line[i];
    }
    for (int k = 0; k < nk; k++)
        c[k] = (k ? c[k] - r->off[k - 1] * c[k - 1] : c[k]) / r->piv[k];
    for (int k = nk - 2; k >= 0; k--)
        c[k] = c[k] - r->up[k] * c[k + 1];
    for (int i = 0; i < n; i++) {
        const int k = r->lower[i];
        r->line[i] = r->w_lo[i] * c[k] + r->w_hi[i] * c[k + 1];
    }
}

static uint16_t to_sample(double v)
{
    return v <= -0.5 ? 0 : v >= 65534.5 ? 65535 : (uint16_t)(v + 0.5);
}

/* Fits n samples of data, step apart, and writes the rounded fit back. */
static void fit_samples(TecInterpolation *r, uint16_t *data, ptrdiff_t step, int n, int nk)
{
    for (int i = 0; i < n; i++)
        r->line[i] = data[i * step];
    fit_line(r, n, nk);
    for (int i = 0; i < n; i++)
        data[i * step] = to_sample(r->line[i]);
}

void tec_interp_apply(TecInterpolation *r, int b, uint16_t *data, ptrdiff_t stride, int y0,
                      int rows)
{
    const uint8_t *p = r->params + 4 * b;
    if (!p[0] || rows <= 0)
        return;
    int nk = fit_prepare(r, 0, r->width, p[2], p[3]);
    for (int y = 0; nk && y < rows; y++)
        fit_samples(r, data + (ptrdiff_t)y * stride, 1, r->width, nk);
    nk = fit_prepare(r, y0, rows, p[0], p[1]);
    for (int x = 0; nk && x < r->width; x++)
        fit_samples(r, data + x, stride, rows, nk);
}

/* ---- encoder: finding the bands ------------------------------------------ */

/* Squared error of fitting the n samples of src, step apart. */
static double fit_error(TecInterpolation *r, const uint16_t *src, ptrdiff_t step, int n, int nk)
{
    for (int i = 0; i < n; i++)
        r->line[i] = src[i * step];
    fit_line(r, n, nk);
    double err = 0.0;
    for (int i = 0; i < n; i++) {
        const double d = r->line[i] - src[i * step];
        err += d * d;
    }
    return err;
}

/* The largest factor, with its best phase, that fits evenly spread lines
 * of the stripe within the tolerance: total lines of n samples, line j at
 * data[j * line_step], samples step apart.  0 when none does. */
static int search_axis(TecInterpolation *r, const uint16_t *data, ptrdiff_t line_step,
                       ptrdiff_t step, int total, int n, uint8_t *factor, uint8_t *phase2)
{
    const int lines = total < SEARCH_LINES ? total : SEARCH_LINES;
    const double limit = TOLERANCE_SQ * n * lines;
    for (size_t s = 0; s < sizeof(search_factors) / sizeof(search_factors[0]); s++) {
        const int f = search_factors[s];
        double best = limit;
        int best_phase = -1;
        for (int p2 = 0; p2 < 2 * f; p2++) {
            const int nk = fit_prepare(r, 0, n, f, p2);
            if (!nk)
                continue;
            double err = 0.0;
            for (int j = 0; j < lines && err <= best; j++) {
                const int idx = lines > 1 ? (int)(((int64_t)2 * j * (total - 1) + lines - 1) /
                                                  (2 * (lines - 1)))
                                          : 0;
                err += fit_error(r, data + idx * line_step, step, n, nk);
            }
            if (best_phase < 0 ? err <= best : err < best) {
                best = err;
                best_phase = p2;
            }
        }
        if (best_phase >= 0) {
            *factor = (uint8_t)f;
            *phase2 = (uint8_t)best_phase;
            return 1;
        }
    }
    return 0;
}

void tec_interp_scan_begin(TecInterpolation *r)
{
    memset(r->candidate, 0, (size_t)r->bands);
    memset(r->params, 0, (size_t)r->bands * 4);
    for (int b = 0; b < r->bands; b++)
        r->residual[b] = 0.0;
    r->rows_seen = 0;
}

void tec_interp_scan_stripe(TecInterpolation *r, const uint16_t *data, ptrdiff_t stride,
                            ptrdiff_t band_stride, int y0, int rows)
{
    const int W = r->width;
    if (!r->scratch || y0 != r->rows_seen || rows <= 0)
        return;
    r->rows_seen = y0 + rows;
    for (int b = 0; b < r->bands; b++) {
        const uint16_t *src = data + b * band_stride;
        uint8_t *p = r->params + 4 * b;
        if (y0 == 0)
            r->candidate[b] = search_axis(r, src, stride, 1, rows, W, &p[2], &p[3]) &&
                              search_axis(r, src, 1, stride, W, rows, &p[0], &p[1]);
        if (!r->candidate[b])
            continue;
        for (int y = 0; y < rows; y++)
            memcpy(r->scratch + (size_t)y * W, src + y * stride, (size_t)W * sizeof(*src));
        tec_interp_apply(r, b, r->scratch, W, y0, rows);
        double err = 0.0;
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < W; x++) {
                const double d = (double)r->scratch[(size_t)y * W + x] - src[y * stride + x];
                err += d * d;
            }
        r->residual[b] += err;
    }
}

void tec_interp_scan_end(TecInterpolation *r)
{
    const double limit = TOLERANCE_SQ * r->width * r->height;
    for (int b = 0; b < r->bands; b++)
        if (!r->candidate[b] || r->rows_seen != r->height || r->residual[b] > limit)
            memset(r->params + 4 * b, 0, 4);
}

/* ---- the packet section --------------------------------------------------- */

/* The earlier interpolated band with the same parameters, or -1. */
static int same_as(const TecInterpolation *r, int b)
{
    for (int j = 0; j < b; j++)
        if (r->params[4 * j] && !memcmp(r->params + 4 * j, r->params + 4 * b, 4))
            return j;
    return -1;
}

size_t tec_interp_size(const TecInterpolation *r)
{
    size_t size = 0;
    for (int b = 0; b < r->bands; b++)
        size += 1 + (r->params[4 * b] && same_as(r, b) < 0 ? 4 : 0);
    return size;
}

void tec_interp_write(const TecInterpolation *r, uint8_t *p)
{
    for (int b = 0; b < r->bands; b++) {
        const int j = r->params[4 * b] ? same_as(r, b) : -1;
        if (!r->params[4 * b]) {
            *p++ = BAND_NONE;
        } else if (j >= 0) {
            *p++ = (uint8_t)(BAND_SAME_AS + j);
        } else {
            *p++ = BAND_PARAMS;
            memcpy(p, r->params + 4 * b, 4);
            p += 4;
        }
    }
}

static int valid_axis(int factor, int phase2)
{
    return factor >= 2 && factor <= TEC_INTERP_MAX_FACTOR && phase2 < 2 * factor;
}

int tec_interp_read(TecInterpolation *r, const uint8_t *p, size_t size, const uint8_t *replicated,
                    size_t *used, char *err, size_t errlen)
{
    size_t pos = 0;
    tec_interp_clear(r);
    for (int b = 0; b < r->bands; b++) {
        uint8_t *q = r->params + 4 * b;
        if (pos >= size)
            return tec_err(err, errlen, TEC_EBITSTREAM,
                           "packet truncated in the interpolated bands (band %d)", b);
        const int kind = p[pos++];
        if (kind == BAND_NONE)
            continue;
        if (kind == BAND_PARAMS) {
            if (size - pos < 4)
                return tec_err(err, errlen, TEC_EBITSTREAM,
                               "packet truncated in the interpolation of band %d", b);
            if (!valid_axis(p[pos], p[pos + 1]) || !valid_axis(p[pos + 2], p[pos + 3]))
                return tec_err(err, errlen, TEC_EBITSTREAM,
                               "band %d: bad interpolation factor or phase", b);
            memcpy(q, p + pos, 4);
            pos += 4;
        } else {
            const int j = kind - BAND_SAME_AS;
            if (j >= b || !r->params[4 * j])
                return tec_err(err, errlen, TEC_EBITSTREAM,
                               "band %d refers to the interpolation of band %d", b, j);
            memcpy(q, r->params + 4 * j, 4);
        }
        if (replicated && replicated[b])
            return tec_err(err, errlen, TEC_EBITSTREAM,
                           "band %d is both replicated and interpolated", b);
    }
    if (!tec_interp_any(r))
        return tec_err(err, errlen, TEC_EBITSTREAM, "a section of interpolated bands without any");
    *used = pos;
    return 0;
}
