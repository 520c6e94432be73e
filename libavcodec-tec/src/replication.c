/* Replicated pixels: finding the blocks, their packet section, and the
 * decoder's averaging over them (doc/bitstream.md, section 3). */
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "errors.h"
#include "replication.h"

enum { MAP_NONE = 0, MAP_PERIODIC = 1, MAP_EXPLICIT = 2 };
enum { BAND_NONE = 0, BAND_MAPS = 1, BAND_SAME_AS = 2 };

int tec_repl_init(TecReplication *r, int bands, int width, int height)
{
    memset(r, 0, sizeof(*r));
    r->bands = bands;
    r->width = width;
    r->height = height;
    r->row_same = calloc((size_t)bands * height, 1);
    r->col_same = calloc((size_t)bands * width, 1);
    r->active = calloc((size_t)bands, 1);
    r->last_row = malloc((size_t)bands * width * sizeof(*r->last_row));
    r->col_sum = malloc((size_t)width * sizeof(*r->col_sum));
    if (!r->row_same || !r->col_same || !r->active || !r->last_row || !r->col_sum) {
        tec_repl_free(r);
        return TEC_ENOMEM;
    }
    return 0;
}

void tec_repl_free(TecReplication *r)
{
    free(r->row_same);
    free(r->col_same);
    free(r->active);
    free(r->last_row);
    free(r->col_sum);
    memset(r, 0, sizeof(*r));
}

void tec_repl_clear(TecReplication *r)
{
    memset(r->active, 0, (size_t)r->bands);
}

/* ---- encoder: finding the blocks ----------------------------------------- */

void tec_repl_scan_begin(TecReplication *r)
{
    /* Every column continues its neighbour until a row says otherwise. */
    memset(r->col_same, 1, (size_t)r->bands * r->width);
    for (int b = 0; b < r->bands; b++)
        r->col_same[(size_t)b * r->width] = 0;
    r->rows_seen = 0;
}

void tec_repl_scan_rows(TecReplication *r, const uint16_t *data, ptrdiff_t stride,
                        ptrdiff_t band_stride, int y0, int rows)
{
    const int W = r->width;
    /* Rows come in order, each once: skip any seen before. */
    const int first = r->rows_seen - y0;
    if (first < 0 || first >= rows)
        return;
    for (int b = 0; b < r->bands; b++) {
        uint8_t *col_same = r->col_same + (size_t)b * W;
        uint8_t *row_same = r->row_same + (size_t)b * r->height;
        uint16_t *last = r->last_row + (size_t)b * W;
        for (int i = first; i < rows; i++) {
            const int y = y0 + i;
            const uint16_t *row = data + b * band_stride + (ptrdiff_t)i * stride;
            for (int x = 1; x < W; x++)
                col_same[x] &= row[x] == row[x - 1];
            row_same[y] = y > 0 && memcmp(row, last, (size_t)W * sizeof(*row)) == 0;
            memcpy(last, row, (size_t)W * sizeof(*row));
        }
    }
    r->rows_seen = y0 + rows;
}

static int map_any(const uint8_t *same, int n)
{
    for (int i = 1; i < n; i++)
        if (same[i])
            return 1;
    return 0;
}

void tec_repl_scan_end(TecReplication *r)
{
    for (int b = 0; b < r->bands; b++)
        r->active[b] = r->rows_seen == r->height &&
                       (map_any(r->row_same + (size_t)b * r->height, r->height) ||
                        map_any(r->col_same + (size_t)b * r->width, r->width));
}

int tec_repl_continuing(const TecReplication *r, int b)
{
    int n = 0;
    for (int y = 1; y < r->height; y++)
        n += r->row_same[(size_t)b * r->height + y];
    for (int x = 1; x < r->width; x++)
        n += r->col_same[(size_t)b * r->width + x];
    return n;
}

int tec_repl_any(const TecReplication *r)
{
    for (int b = 0; b < r->bands; b++)
        if (r->active[b])
            return 1;
    return 0;
}

/* ---- the packet section --------------------------------------------------- */

/* Whether line i >= 1 continues its block in the periodic form. */
static int periodic_same(int i, int period, int phase)
{
    return (i + phase) % period != 0;
}

/* The period and phase that reproduce a map, if any. */
static int find_period(const uint8_t *same, int n, int *period, int *phase)
{
    int first = 0, second = 0;
    for (int i = 1; i < n && !second; i++)
        if (!same[i]) {
            if (!first)
                first = i;
            else
                second = i;
        }
    /* One block: a period no line reaches.  One cut: the period that puts it
     * there and no other.  Otherwise the distance of the first two cuts. */
    int p = !first ? 255 : !second ? (first > n - first ? first : n - first) : second - first;
    if (p < 2 || p > 255)
        return 0;
    int f = (p - first % p) % p;
    for (int i = 1; i < n; i++)
        if (same[i] != periodic_same(i, p, f))
            return 0;
    *period = p;
    *phase = f;
    return 1;
}

static size_t map_size(const uint8_t *same, int n)
{
    int p, f;
    if (!map_any(same, n))
        return 1;
    return find_period(same, n, &p, &f) ? 3 : 1 + ((size_t)n + 7) / 8;
}

static uint8_t *write_map(const uint8_t *same, int n, uint8_t *p)
{
    int period, phase;
    if (!map_any(same, n)) {
        *p++ = MAP_NONE;
    } else if (find_period(same, n, &period, &phase)) {
        *p++ = MAP_PERIODIC;
        *p++ = (uint8_t)period;
        *p++ = (uint8_t)phase;
    } else {
        *p++ = MAP_EXPLICIT;
        memset(p, 0, ((size_t)n + 7) / 8);
        for (int i = 1; i < n; i++)
            p[i >> 3] |= (uint8_t)(same[i] << (i & 7));
        p += ((size_t)n + 7) / 8;
    }
    return p;
}

/* The earlier band with the same maps, or -1. */
static int same_as(const TecReplication *r, int b)
{
    for (int j = 0; j < b; j++)
        if (r->active[j] &&
            !memcmp(r->row_same + (size_t)j * r->height, r->row_same + (size_t)b * r->height,
                    (size_t)r->height) &&
            !memcmp(r->col_same + (size_t)j * r->width, r->col_same + (size_t)b * r->width,
                    (size_t)r->width))
            return j;
    return -1;
}

size_t tec_repl_size(const TecReplication *r)
{
    size_t size = 0;
    for (int b = 0; b < r->bands; b++) {
        size++;
        if (r->active[b] && same_as(r, b) < 0)
            size += map_size(r->row_same + (size_t)b * r->height, r->height) +
                    map_size(r->col_same + (size_t)b * r->width, r->width);
    }
    return size;
}

void tec_repl_write(const TecReplication *r, uint8_t *p)
{
    for (int b = 0; b < r->bands; b++) {
        const int j = r->active[b] ? same_as(r, b) : -1;
        if (!r->active[b]) {
            *p++ = BAND_NONE;
        } else if (j >= 0) {
            *p++ = (uint8_t)(BAND_SAME_AS + j);
        } else {
            *p++ = BAND_MAPS;
            p = write_map(r->row_same + (size_t)b * r->height, r->height, p);
            p = write_map(r->col_same + (size_t)b * r->width, r->width, p);
        }
    }
}

/* Reads one map of n lines; returns the bytes used, or 0 when malformed. */
static size_t read_map(const uint8_t *p, size_t size, int n, uint8_t *same)
{
    if (size < 1)
        return 0;
    memset(same, 0, (size_t)n);
    if (p[0] == MAP_NONE)
        return 1;
    if (p[0] == MAP_PERIODIC) {
        if (size < 3 || p[1] < 2 || p[2] >= p[1])
            return 0;
        for (int i = 1; i < n; i++)
            same[i] = (uint8_t)periodic_same(i, p[1], p[2]);
        return 3;
    }
    const size_t bytes = ((size_t)n + 7) / 8;
    if (p[0] != MAP_EXPLICIT || size - 1 < bytes || (p[1] & 1))
        return 0;
    if ((n & 7) && (p[bytes] >> (n & 7)))
        return 0;            /* bits past the last line */
    for (int i = 1; i < n; i++)
        same[i] = (p[1 + (i >> 3)] >> (i & 7)) & 1;
    return 1 + bytes;
}

int tec_repl_read(TecReplication *r, const uint8_t *p, size_t size, size_t *used, char *err,
                  size_t errlen)
{
    size_t pos = 0;
    for (int b = 0; b < r->bands; b++) {
        uint8_t *row_same = r->row_same + (size_t)b * r->height;
        uint8_t *col_same = r->col_same + (size_t)b * r->width;
        if (pos >= size)
            return tec_err(err, errlen, TEC_EBITSTREAM,
                           "packet truncated in the replicated blocks of band %d", b);
        const int kind = p[pos++];
        r->active[b] = kind != BAND_NONE;
        if (kind == BAND_NONE)
            continue;
        if (kind == BAND_MAPS) {
            size_t n = read_map(p + pos, size - pos, r->height, row_same);
            if (!n)
                return tec_err(err, errlen, TEC_EBITSTREAM,
                               "bad row map of replicated blocks in band %d", b);
            pos += n;
            if (!(n = read_map(p + pos, size - pos, r->width, col_same)))
                return tec_err(err, errlen, TEC_EBITSTREAM,
                               "bad column map of replicated blocks in band %d", b);
            pos += n;
            if (!map_any(row_same, r->height) && !map_any(col_same, r->width))
                return tec_err(err, errlen, TEC_EBITSTREAM,
                               "band %d has replicated blocks of one pixel", b);
            continue;
        }
        const int j = kind - BAND_SAME_AS;
        if (j >= b || !r->active[j])
            return tec_err(err, errlen, TEC_EBITSTREAM,
                           "band %d refers to the blocks of band %d", b, j);
        memcpy(row_same, r->row_same + (size_t)j * r->height, (size_t)r->height);
        memcpy(col_same, r->col_same + (size_t)j * r->width, (size_t)r->width);
    }
    if (!tec_repl_any(r))
        return tec_err(err, errlen, TEC_EBITSTREAM, "a section of replicated blocks without any");
    *used = pos;
    return 0;
}

/* ---- decoder: averaging over the blocks ----------------------------------- */

void tec_repl_apply(const TecReplication *r, int b, uint16_t *data, ptrdiff_t stride, int y0,
                    int rows)
{
    if (!r->active[b])
        return;
    const int W = r->width;
    const uint8_t *row_same = r->row_same + (size_t)b * r->height;
    const uint8_t *col_same = r->col_same + (size_t)b * W;
    uint64_t *col_sum = r->col_sum;
    for (int ya = 0; ya < rows;) {
        int yb = ya + 1;
        while (yb < rows && row_same[y0 + yb])
            yb++;
        memset(col_sum, 0, (size_t)W * sizeof(*col_sum));
        for (int y = ya; y < yb; y++)
            for (int x = 0; x < W; x++)
                col_sum[x] += data[(ptrdiff_t)y * stride + x];
        for (int xa = 0; xa < W;) {
            int xb = xa + 1;
            uint64_t sum = col_sum[xa];
            while (xb < W && col_same[xb])
                sum += col_sum[xb++];
            const uint64_t count = (uint64_t)(yb - ya) * (xb - xa);
            if (count > 1) {
                const uint16_t mean = (uint16_t)((sum + count / 2) / count);
                for (int y = ya; y < yb; y++)
                    for (int x = xa; x < xb; x++)
                        data[(ptrdiff_t)y * stride + x] = mean;
            }
            xa = xb;
        }
        ya = yb;
    }
}
