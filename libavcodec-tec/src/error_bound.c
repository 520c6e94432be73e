/* The error-bounded layer (error_bound.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "bytes.h"
#include "error_bound.h"
#include "residual.h"

enum { PIECE_ENTRY = 5 };    /* u8 predictor, u32 size */
enum { SECTION_HEAD = 4 };   /* u8 version, u8 max_error, u16 stripes */
enum { SECTION_TAIL = 4 };   /* u32 the section's size, so a reader finds it from the end */

int tec_eb_init(TecErrorBound *e, int bands, int width, int height, int stripe_rows)
{
    memset(e, 0, sizeof(*e));
    e->max_error = -1;
    e->bands = bands;
    e->width = width;
    e->height = height;
    e->stripe_rows = stripe_rows;
    e->n_stripes = (height + stripe_rows - 1) / stripe_rows;
    const size_t pieces = (size_t)e->n_stripes * bands, cells = (size_t)width * stripe_rows;
    e->predictor = calloc(pieces, 1);
    e->data = calloc(pieces, sizeof(*e->data));
    e->size = calloc(pieces, sizeof(*e->size));
    e->above = malloc((size_t)bands * width * sizeof(*e->above));
    e->above_cells = calloc((size_t)bands, sizeof(*e->above_cells));
    e->cells = malloc(cells * sizeof(*e->cells));
    e->decoded = malloc(cells * sizeof(*e->decoded));
    e->trial = malloc(cells * sizeof(*e->trial));
    e->col_start = malloc(((size_t)width + 1) * sizeof(*e->col_start));
    e->row_start = malloc(((size_t)stripe_rows + 1) * sizeof(*e->row_start));
    if (!e->predictor || !e->data || !e->size || !e->above || !e->above_cells || !e->cells ||
        !e->decoded || !e->trial || !e->col_start || !e->row_start) {
        tec_eb_free(e);
        return TEC_ENOMEM;
    }
    return 0;
}

void tec_eb_free(TecErrorBound *e)
{
    free(e->predictor);
    free(e->data);
    free(e->size);
    free(e->above);
    free(e->above_cells);
    free(e->cells);
    free(e->decoded);
    free(e->trial);
    free(e->col_start);
    free(e->row_start);
    free(e->coded);
    memset(e, 0, sizeof(*e));
    e->max_error = -1;
}

void tec_eb_clear(TecErrorBound *e) { e->max_error = -1; }

void tec_eb_begin(TecErrorBound *e, int max_error)
{
    e->max_error = max_error;
    e->coded_size = 0;
    memset(e->above_cells, 0, (size_t)e->bands * sizeof(*e->above_cells));
}

/* The cells of band b in rows [y0, y1): where a replicated block starts
 * (a new block at the stripe's first row, as the decoder cuts them), or
 * every row and column.  Sets the counts; starts end with y1 and width. */
static void cells_of(TecErrorBound *e, const TecReplication *repl, int b, int y0, int y1,
                     int *nrows, int *ncols)
{
    const int active = repl && repl->active[b];
    int n = 0;
    for (int x = 0; x < e->width; x++)
        if (!active || x == 0 || !repl->col_same[(size_t)b * e->width + x])
            e->col_start[n++] = x;
    e->col_start[n] = e->width;
    *ncols = n;
    n = 0;
    for (int y = y0; y < y1; y++)
        if (!active || y == y0 || !repl->row_same[(size_t)b * e->height + y])
            e->row_start[n++] = y;
    e->row_start[n] = y1;
    *nrows = n;
}

static uint16_t add_residual(uint16_t base, int32_t u)
{
    const int32_t v = (int32_t)base + u;
    return (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v);
}

/* recon's cells of band b += decoded; keeps the last row of cells. */
static void apply_cells(TecErrorBound *e, int b, int nrows, int ncols, uint16_t *band,
                        ptrdiff_t stride, int y0)
{
    for (int r = 0; r < nrows; r++)
        for (int c = 0; c < ncols; c++) {
            const int32_t u = e->decoded[(size_t)r * ncols + c];
            for (int y = e->row_start[r]; y < e->row_start[r + 1]; y++)
                for (int x = e->col_start[c]; x < e->col_start[c + 1]; x++) {
                    uint16_t *s = band + (ptrdiff_t)(y - y0) * stride + x;
                    *s = add_residual(*s, u);
                }
        }
    memcpy(e->above + (size_t)b * e->width, e->decoded + (size_t)(nrows - 1) * ncols,
           (size_t)ncols * sizeof(*e->above));
    e->above_cells[b] = ncols;
}

static int stripe_rows_of(const TecErrorBound *e, int s, int *y0)
{
    *y0 = s * e->stripe_rows;
    return e->height - *y0 < e->stripe_rows ? e->height - *y0 : e->stripe_rows;
}

int tec_eb_encode_stripe(TecErrorBound *e, const TecReplication *repl, int s,
                         const uint16_t *src, ptrdiff_t src_stride, ptrdiff_t src_band_stride,
                         uint16_t *recon, ptrdiff_t stride, ptrdiff_t band_stride)
{
    int y0;
    const int rows = stripe_rows_of(e, s, &y0);
    for (int b = 0; b < e->bands; b++) {
        int nrows, ncols;
        cells_of(e, repl, b, y0, y0 + rows, &nrows, &ncols);
        const uint16_t *sb = src + b * src_band_stride;
        uint16_t *rb = recon + b * band_stride;
        for (int r = 0; r < nrows; r++)
            for (int c = 0; c < ncols; c++) {
                const ptrdiff_t y = e->row_start[r] - y0, x = e->col_start[c];
                e->cells[(size_t)r * ncols + c] =
                    (int32_t)sb[y * src_stride + x] - (int32_t)rb[y * stride + x];
            }
        const int32_t *above = e->above_cells[b] ? e->above + (size_t)b * e->width : NULL;
        /* both predictors, the smaller kept (the residual after a good
         * reconstruction is close to noise, a source-like one is not);
         * the median's decoded cells go to trial and replace the zero
         * prediction's when it wins */
        TecBitBuffer best = { 0 }, median = { 0 };
        int ret = tec_residual_encode(e->cells, ncols, nrows, ncols, e->max_error,
                                      TEC_RESIDUAL_PREDICT_ZERO, above, &best, e->decoded);
        if (ret >= 0)
            ret = tec_residual_encode(e->cells, ncols, nrows, ncols, e->max_error,
                                      TEC_RESIDUAL_PREDICT_MEDIAN, above, &median, e->trial);
        if (ret < 0) {
            free(best.data);
            free(median.data);
            return ret;
        }
        int best_pred = TEC_RESIDUAL_PREDICT_ZERO;
        if (median.size < best.size) {
            int32_t *t = e->decoded;
            e->decoded = e->trial;
            e->trial = t;
            free(best.data);
            best = median;
            best_pred = TEC_RESIDUAL_PREDICT_MEDIAN;
        } else {
            free(median.data);
        }
        const size_t piece = (size_t)s * e->bands + b;
        if (e->coded_size + best.size > e->coded_cap) {
            size_t cap = e->coded_cap ? e->coded_cap : 1 << 16;
            while (cap < e->coded_size + best.size)
                cap *= 2;
            uint8_t *p = realloc(e->coded, cap);
            if (!p) {
                free(best.data);
                return TEC_ENOMEM;
            }
            e->coded = p;
            e->coded_cap = cap;
        }
        if (best.size)
            memcpy(e->coded + e->coded_size, best.data, best.size);
        e->coded_size += best.size;
        e->predictor[piece] = (uint8_t)best_pred;
        e->size[piece] = (uint32_t)best.size;
        free(best.data);
        apply_cells(e, b, nrows, ncols, rb, stride, y0);
    }
    return 0;
}

size_t tec_eb_size(const TecErrorBound *e)
{
    return SECTION_HEAD + (size_t)e->n_stripes * e->bands * PIECE_ENTRY + e->coded_size +
           SECTION_TAIL;
}

void tec_eb_write(const TecErrorBound *e, uint8_t *p)
{
    const size_t pieces = (size_t)e->n_stripes * e->bands;
    p[0] = 0;
    p[1] = (uint8_t)e->max_error;
    tec_wl16(p + 2, (uint16_t)e->n_stripes);
    p += SECTION_HEAD;
    for (size_t i = 0; i < pieces; i++, p += PIECE_ENTRY) {
        p[0] = e->predictor[i];
        tec_wl32(p + 1, e->size[i]);
    }
    memcpy(p, e->coded, e->coded_size);
    tec_wl32(p + e->coded_size, (uint32_t)tec_eb_size(e));
}

int tec_eb_read(TecErrorBound *e, const uint8_t *p, size_t size, char *err, size_t errlen)
{
    const size_t pieces = (size_t)e->n_stripes * e->bands;
    e->max_error = -1;
    if (size < SECTION_HEAD + SECTION_TAIL ||
        size - SECTION_HEAD - SECTION_TAIL < pieces * PIECE_ENTRY) {
        snprintf(err, errlen, "residual section of %zu bytes is too short", size);
        return TEC_EBITSTREAM;
    }
    if (tec_rl32(p + size - SECTION_TAIL) != size) {
        snprintf(err, errlen, "residual section of %zu bytes says %u", size,
                 tec_rl32(p + size - SECTION_TAIL));
        return TEC_EBITSTREAM;
    }
    size -= SECTION_TAIL;
    if (p[0] != 0) {
        snprintf(err, errlen, "residual section of unknown version %d", p[0]);
        return TEC_EBITSTREAM;
    }
    if (tec_rl16(p + 2) != e->n_stripes) {
        snprintf(err, errlen, "residual section for %d stripes, the frame has %d",
                 tec_rl16(p + 2), e->n_stripes);
        return TEC_EBITSTREAM;
    }
    const uint8_t *entry = p + SECTION_HEAD, *body = entry + pieces * PIECE_ENTRY;
    size_t left = size - SECTION_HEAD - pieces * PIECE_ENTRY;
    for (size_t i = 0; i < pieces; i++, entry += PIECE_ENTRY) {
        const uint32_t n = tec_rl32(entry + 1);
        if (entry[0] > TEC_RESIDUAL_PREDICT_MEDIAN) {
            snprintf(err, errlen, "residual piece %zu: unknown predictor %d", i, entry[0]);
            return TEC_EBITSTREAM;
        }
        if (n > left) {
            snprintf(err, errlen, "residual piece %zu runs past the packet", i);
            return TEC_EBITSTREAM;
        }
        e->predictor[i] = entry[0];
        e->data[i] = body;
        e->size[i] = n;
        body += n;
        left -= n;
    }
    if (left) {
        snprintf(err, errlen, "%zu stray bytes after the residual pieces", left);
        return TEC_EBITSTREAM;
    }
    e->max_error = p[1];
    memset(e->above_cells, 0, (size_t)e->bands * sizeof(*e->above_cells));
    return 0;
}

int tec_eb_apply_stripe(TecErrorBound *e, const TecReplication *repl, int s, uint16_t *recon,
                        ptrdiff_t stride, ptrdiff_t band_stride)
{
    if (e->max_error < 0)
        return 0;
    int y0;
    const int rows = stripe_rows_of(e, s, &y0);
    for (int b = 0; b < e->bands; b++) {
        int nrows, ncols;
        cells_of(e, repl, b, y0, y0 + rows, &nrows, &ncols);
        const size_t piece = (size_t)s * e->bands + b;
        const int32_t *above = e->above_cells[b] ? e->above + (size_t)b * e->width : NULL;
        if (above && e->above_cells[b] != ncols)
            return TEC_EBITSTREAM;  /* cells changed between stripes: not a valid stream */
        int ret = tec_residual_decode(e->data[piece], e->size[piece], ncols, nrows, ncols,
                                      e->max_error, e->predictor[piece], above, e->decoded);
        if (ret < 0)
            return ret;
        apply_cells(e, b, nrows, ncols, recon + b * band_stride, stride, y0);
    }
    return 0;
}
