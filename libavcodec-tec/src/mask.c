/* Sample masks: finding the nodata samples, the row coding of a plane, the
 * packet section and the decoder's rule (doc/bitstream.md, section 3). */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "tec/tec.h"
#include "bytes.h"
#include "errors.h"
#include "mask.h"

/* Row tokens of a plane. */
enum { ROW_SAME = 0, ROW_RUNS = 1, ROW_SHIFT = 2, ROW_BITMAP = 3 };
enum { CODING_STORED = 0, CODING_ZSTD = 1 };
#define VARINT_MAX_BYTES 3          /* every value fits 21 bits (< 2^17 used) */

static size_t presence_bytes(int bands) { return ((size_t)bands + 1 + 7) / 8; }
static size_t bitmap_bytes(int width) { return ((size_t)width + 7) / 8; }

int tec_mask_init(TecMask *m, int bands, int width, int height)
{
    memset(m, 0, sizeof(*m));
    m->bands = bands;
    m->width = width;
    m->height = height;
    const int planes = bands + 1;
    m->present = calloc((size_t)planes, 1);
    m->plane = calloc((size_t)planes, sizeof(*m->plane));
    m->plane_start = calloc((size_t)planes, sizeof(*m->plane_start));
    m->row_all = malloc((size_t)width);
    m->row_band = malloc((size_t)width);
    int ok = m->present && m->plane && m->plane_start && m->row_all && m->row_band;
    for (int i = 0; ok && i < planes; i++) {
        m->plane[i].t = malloc((size_t)width * sizeof(int32_t));
        m->plane[i].next = malloc((size_t)width * sizeof(int32_t));
        ok = m->plane[i].t && m->plane[i].next;
    }
    if (!ok) {
        tec_mask_free(m);
        return TEC_ENOMEM;
    }
    return 0;
}

void tec_mask_free(TecMask *m)
{
    for (int i = 0; m->plane && i <= m->bands; i++) {
        free(m->plane[i].buf);
        free(m->plane[i].t);
        free(m->plane[i].next);
    }
    free(m->plane);
    free(m->present);
    free(m->plane_start);
    free(m->body);
    free(m->coded);
    free(m->row_all);
    free(m->row_band);
    memset(m, 0, sizeof(*m));
}

/* ---- one plane: row tokens ------------------------------------------------ */

void tec_mask_plane_reset(TecMaskPlane *pl)
{
    pl->n = 0;
    pl->start = 0;
    pl->masked = 0;
}

static size_t uvarint_size(uint32_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint32_t zigzag(int32_t v) { return v < 0 ? ((uint32_t)-v << 1) - 1 : (uint32_t)v << 1; }

static uint8_t *put_uvarint(uint8_t *p, uint32_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Reads an unsigned LEB128 of at most VARINT_MAX_BYTES; -1 when cut or longer. */
static int get_uvarint(TecMaskPlane *pl, uint32_t *v)
{
    uint32_t r = 0;
    for (int i = 0; i < VARINT_MAX_BYTES; i++) {
        if (pl->p >= pl->end)
            return -1;
        const uint8_t b = *pl->p++;
        r |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Columns masked by transitions t[0..n) from a row that starts with `start`. */
static uint64_t masked_columns(const int32_t *t, int n, int start, int width)
{
    uint64_t count = 0;
    int x = 0, v = start;
    for (int i = 0; i <= n; i++) {
        const int x1 = i < n ? t[i] : width;
        if (v)
            count += (uint64_t)(x1 - x);
        v ^= 1;
        x = x1;
    }
    return count;
}

static int grow(TecMaskPlane *pl, size_t more)
{
    if (pl->size + more <= pl->cap)
        return 0;
    size_t cap = pl->cap ? 2 * pl->cap : 4096;
    while (cap < pl->size + more)
        cap *= 2;
    uint8_t *p = realloc(pl->buf, cap);
    if (!p)
        return TEC_ENOMEM;
    pl->buf = p;
    pl->cap = cap;
    return 0;
}

int tec_mask_plane_put(TecMaskPlane *pl, const uint8_t *row, int width)
{
    int32_t *t = pl->next;
    int n = 0;
    const int start = row[0] ? 1 : 0;
    for (int x = 1; x < width; x++)
        if (!row[x] != !row[x - 1])
            t[n++] = x;
    const int same_shape = n == pl->n && start == pl->start;
    int token;
    size_t size;
    if (same_shape && !memcmp(t, pl->t, (size_t)n * sizeof(*t))) {
        token = ROW_SAME;
        size = 1;
    } else {
        size_t runs = 1 + uvarint_size((uint32_t)n << 1 | (uint32_t)start), shift = 1;
        for (int i = 0; i < n; i++) {
            runs += uvarint_size((uint32_t)(t[i] - (i ? t[i - 1] : 0)));
            if (same_shape)
                shift += uvarint_size(zigzag(t[i] - pl->t[i]));
        }
        token = same_shape && n && shift <= runs ? ROW_SHIFT : ROW_RUNS;
        size = token == ROW_SHIFT ? shift : runs;
        if (1 + bitmap_bytes(width) < size) {
            token = ROW_BITMAP;
            size = 1 + bitmap_bytes(width);
        }
    }
    if (grow(pl, size) < 0)
        return TEC_ENOMEM;
    uint8_t *p = pl->buf + pl->size;
    *p++ = (uint8_t)token;
    if (token == ROW_RUNS) {
        p = put_uvarint(p, (uint32_t)n << 1 | (uint32_t)start);
        for (int i = 0; i < n; i++)
            p = put_uvarint(p, (uint32_t)(t[i] - (i ? t[i - 1] : 0)));
    } else if (token == ROW_SHIFT) {
        for (int i = 0; i < n; i++)
            p = put_uvarint(p, zigzag(t[i] - pl->t[i]));
    } else if (token == ROW_BITMAP) {
        memset(p, 0, bitmap_bytes(width));
        for (int x = 0; x < width; x++)
            p[x >> 3] |= (uint8_t)((row[x] ? 1 : 0) << (x & 7));
    }
    pl->size += size;
    pl->next = pl->t;
    pl->t = t;
    pl->n = n;
    pl->start = start;
    pl->masked += masked_columns(t, n, start, width);
    return 0;
}

int tec_mask_plane_get(TecMaskPlane *pl, uint8_t *row, int width)
{
    if (pl->p >= pl->end)
        return -1;
    const int token = *pl->p++;
    int32_t *t = pl->next;
    int n = pl->n, start = pl->start;
    uint32_t v;
    switch (token) {
    case ROW_SAME:
        t = pl->t;
        break;
    case ROW_RUNS: {
        if (get_uvarint(pl, &v) < 0 || (v >> 1) >= (uint32_t)width)
            return -1;
        n = (int)(v >> 1);
        start = (int)(v & 1);
        uint32_t x = 0;
        for (int i = 0; i < n; i++) {
            uint32_t gap;
            if (get_uvarint(pl, &gap) < 0 || gap < 1 || gap >= (uint32_t)width - x)
                return -1;
            x += gap;
            t[i] = (int32_t)x;
        }
        break;
    }
    case ROW_SHIFT:
        if (!n)
            return -1;
        for (int i = 0; i < n; i++) {
            if (get_uvarint(pl, &v) < 0)
                return -1;
            const int64_t d = v & 1 ? -(int64_t)((v + 1) >> 1) : (int64_t)(v >> 1);
            const int64_t x = pl->t[i] + d;
            if (x <= (i ? t[i - 1] : 0) || x >= width)
                return -1;
            t[i] = (int32_t)x;
        }
        break;
    case ROW_BITMAP: {
        const size_t bytes = bitmap_bytes(width);
        if ((size_t)(pl->end - pl->p) < bytes)
            return -1;
        const uint8_t *bits = pl->p;
        if ((width & 7) && bits[bytes - 1] >> (width & 7))
            return -1;               /* bits past the last column */
        start = bits[0] & 1;
        n = 0;
        for (int x = 1, prev = start; x < width; x++) {
            const int cur = (bits[x >> 3] >> (x & 7)) & 1;
            if (cur != prev)
                t[n++] = x;
            prev = cur;
        }
        pl->p += bytes;
        break;
    }
    default:
        return -1;
    }
    if (t != pl->t) {
        pl->next = pl->t;
        pl->t = t;
    }
    pl->n = n;
    pl->start = start;
    pl->masked += masked_columns(t, n, start, width);
    if (row) {
        int x = 0, val = start;
        for (int i = 0; i <= n; i++) {
            const int x1 = i < n ? t[i] : width;
            memset(row + x, val, (size_t)(x1 - x));
            val ^= 1;
            x = x1;
        }
    }
    return 0;
}

/* ---- encoder: the nodata samples of a frame -------------------------------- */

void tec_mask_scan_begin(TecMask *m, uint16_t value)
{
    m->value = value;
    m->rows_seen = 0;
    for (int i = 0; i <= m->bands; i++) {
        tec_mask_plane_reset(&m->plane[i]);
        m->plane[i].size = 0;
    }
}

int tec_mask_scan_rows(TecMask *m, const uint16_t *data, ptrdiff_t stride,
                       ptrdiff_t band_stride, int y0, int rows)
{
    const int W = m->width;
    const uint16_t v = m->value;
    /* Rows come in order, each once: skip any seen before. */
    for (int i = m->rows_seen - y0; i >= 0 && i < rows; i++) {
        const uint16_t *row = data + (ptrdiff_t)i * stride;
        memset(m->row_all, 1, (size_t)W);
        for (int b = 0; b < m->bands; b++)
            for (int x = 0; x < W; x++)
                m->row_all[x] &= row[b * band_stride + x] == v;
        if (tec_mask_plane_put(&m->plane[0], m->row_all, W) < 0)
            return TEC_ENOMEM;
        for (int b = 0; b < m->bands; b++) {
            for (int x = 0; x < W; x++)
                m->row_band[x] = row[b * band_stride + x] == v && !m->row_all[x];
            if (tec_mask_plane_put(&m->plane[1 + b], m->row_band, W) < 0)
                return TEC_ENOMEM;
        }
        m->rows_seen = y0 + i + 1;
    }
    return 0;
}

static int reserve(uint8_t **buf, size_t *cap, size_t size)
{
    if (size <= *cap)
        return 0;
    uint8_t *p = realloc(*buf, size);
    if (!p)
        return TEC_ENOMEM;
    *buf = p;
    *cap = size;
    return 0;
}

/* Points every present plane's cursor at its first row. */
void tec_mask_rewind(TecMask *m)
{
    for (int i = 0; i <= m->bands; i++) {
        TecMaskPlane *pl = &m->plane[i];
        size_t end = m->body_size;
        for (int j = i + 1; j <= m->bands; j++)
            if (m->present[j]) {
                end = m->plane_start[j];
                break;
            }
        pl->p = m->body + m->plane_start[i];
        pl->end = m->body + end;
        tec_mask_plane_reset(pl);
    }
    m->rows_seen = 0;
}

int tec_mask_scan_end(TecMask *m)
{
    const size_t head = presence_bytes(m->bands);
    if (m->rows_seen != m->height)
        return TEC_EINVAL;           /* rows skipped: the mask would be cut */
    size_t size = head;
    m->masked = 0;
    for (int i = 0; i <= m->bands; i++) {
        m->present[i] = m->plane[i].masked > 0;
        if (m->present[i])
            size += m->plane[i].size;
        m->masked += m->plane[i].masked * (i ? 1 : (uint64_t)m->bands);
    }
    if (reserve(&m->body, &m->body_cap, size) < 0)
        return TEC_ENOMEM;
    memset(m->body, 0, head);
    size_t pos = head;
    for (int i = 0; i <= m->bands; i++) {
        m->body[i >> 3] |= (uint8_t)(m->present[i] << (i & 7));
        m->plane_start[i] = pos;
        if (!m->present[i])
            continue;
        memcpy(m->body + pos, m->plane[i].buf, m->plane[i].size);
        pos += m->plane[i].size;
    }
    m->body_size = size;
    /* zstd when it is smaller (a long edge, scattered samples); small bodies
     * get the slow levels, which cost nothing there. */
    const size_t bound = ZSTD_compressBound(size);
    if (reserve(&m->coded, &m->coded_cap, bound) < 0)
        return TEC_ENOMEM;
    const int level = size <= (1u << 18) ? 19 : size <= (1u << 22) ? 9 : 3;
    const size_t z = ZSTD_compress(m->coded, bound, m->body, size, level);
    if (!ZSTD_isError(z) && z < size) {
        m->coding = CODING_ZSTD;
        m->coded_size = z;
    } else {
        m->coding = CODING_STORED;
        memcpy(m->coded, m->body, size);
        m->coded_size = size;
    }
    m->on = 1;
    tec_mask_rewind(m);
    return 0;
}

/* ---- the packet section ----------------------------------------------------- */

static size_t entry_size(const TecMask *m)
{
    return m && m->on ? TEC_MASK_ENTRY_HEADER + m->coded_size : 0;
}

static uint8_t *write_entry(const TecMask *m, int kind, uint8_t *p)
{
    p[0] = (uint8_t)kind;
    tec_wl16(p + 1, m->value);
    p[3] = (uint8_t)m->coding;
    tec_wl32(p + 4, (uint32_t)m->body_size);
    tec_wl32(p + 8, (uint32_t)m->coded_size);
    memcpy(p + 12, m->coded, m->coded_size);
    return p + 12 + m->coded_size;
}

size_t tec_mask_section_size(const TecMask *nodata, const TecMask *cloud)
{
    const size_t entries = entry_size(nodata) + entry_size(cloud);
    return entries ? 1 + entries : 0;
}

void tec_mask_section_write(const TecMask *nodata, const TecMask *cloud, uint8_t *p)
{
    const int on_nodata = nodata && nodata->on, on_cloud = cloud && cloud->on;
    *p++ = (uint8_t)(on_nodata + on_cloud);
    /* Entries in increasing kind. */
    if (on_nodata)
        p = write_entry(nodata, TEC_MASK_NODATA, p);
    if (on_cloud)
        write_entry(cloud, TEC_MASK_CLOUD, p);
}

size_t tec_mask_size(const TecMask *m)
{
    return 1 + TEC_MASK_ENTRY_HEADER + m->coded_size;
}

void tec_mask_write(const TecMask *m, uint8_t *p)
{
    p[0] = 1;                        /* one mask */
    write_entry(m, TEC_MASK_NODATA, p + 1);
}

/* Checks the body's presence bits and every row of every present plane. */
static int check_body(TecMask *m, char *err, size_t errlen)
{
    const size_t head = presence_bytes(m->bands);
    const int planes = m->bands + 1;
    if ((planes & 7) && m->body[head - 1] >> (planes & 7))
        return tec_err(err, errlen, TEC_EBITSTREAM, "mask: presence bits past the last band");
    size_t pos = head;
    m->masked = 0;
    for (int i = 0; i < planes; i++) {
        m->present[i] = (m->body[i >> 3] >> (i & 7)) & 1;
        m->plane_start[i] = pos;
        if (!m->present[i])
            continue;
        TecMaskPlane *pl = &m->plane[i];
        pl->p = m->body + pos;
        pl->end = m->body + m->body_size;
        tec_mask_plane_reset(pl);
        for (int y = 0; y < m->height; y++)
            if (tec_mask_plane_get(pl, NULL, m->width) < 0)
                return tec_err(err, errlen, TEC_EBITSTREAM, "mask: bad row %d of plane %d", y, i);
        if (!pl->masked)
            return tec_err(err, errlen, TEC_EBITSTREAM, "mask: plane %d masks nothing", i);
        m->masked += pl->masked * (i ? 1 : (uint64_t)m->bands);
        pos = (size_t)(pl->p - m->body);
    }
    if (pos != m->body_size)
        return tec_err(err, errlen, TEC_EBITSTREAM, "mask: %zu stray bytes after the rows",
                       m->body_size - pos);
    return 0;
}

/* The body of a nodata mask from its coded bytes. */
static int read_body(TecMask *m, int coding, size_t body_size, const uint8_t *coded,
                     size_t coded_size, char *err, size_t errlen)
{
    /* The largest body an encoder writes: every row of every plane a bitmap. */
    const uint64_t most = presence_bytes(m->bands) + (uint64_t)(m->bands + 1) * m->height *
                          (1 + bitmap_bytes(m->width));
    if (body_size < presence_bytes(m->bands) || body_size > most)
        return tec_err(err, errlen, TEC_EBITSTREAM, "mask: body of %zu bytes", body_size);
    /* No zstd frame expands a byte into more than 2^16 (a 128 KiB block
     * takes at least 4 bytes): refused before the buffer is allocated. */
    if (coding == CODING_ZSTD && body_size / 65536 > coded_size)
        return tec_err(err, errlen, TEC_EBITSTREAM, "mask: %zu bytes cannot hold a %zu-byte body",
                       coded_size, body_size);
    if (reserve(&m->body, &m->body_cap, body_size) < 0)
        return tec_err(err, errlen, TEC_ENOMEM, "mask: out of memory for %zu bytes", body_size);
    if (coding == CODING_STORED) {
        if (coded_size != body_size)
            return tec_err(err, errlen, TEC_EBITSTREAM, "mask: stored body of %zu bytes in %zu",
                           body_size, coded_size);
        memcpy(m->body, coded, body_size);
    } else {
        const unsigned long long content = ZSTD_getFrameContentSize(coded, coded_size);
        if (content != body_size || ZSTD_findFrameCompressedSize(coded, coded_size) != coded_size)
            return tec_err(err, errlen, TEC_EBITSTREAM, "mask: not one zstd frame of %zu bytes",
                           body_size);
        const size_t got = ZSTD_decompress(m->body, body_size, coded, coded_size);
        if (ZSTD_isError(got) || got != body_size)
            return tec_err(err, errlen, TEC_EBITSTREAM, "mask: corrupt zstd frame");
    }
    m->body_size = body_size;
    return check_body(m, err, errlen);
}

int tec_mask_read(TecMask *m, const uint8_t *p, size_t size, size_t *used, char *err,
                  size_t errlen)
{
    return tec_mask_read_section(m, NULL, p, size, used, err, errlen);
}

int tec_mask_read_section(TecMask *m, TecMask *cloud, const uint8_t *p, size_t size,
                          size_t *used, char *err, size_t errlen)
{
    m->on = 0;
    if (cloud)
        cloud->on = 0;
    if (size < 1 || p[0] < 1)
        return tec_err(err, errlen, TEC_EBITSTREAM, "mask section truncated or empty");
    const int count = p[0];
    size_t pos = 1;
    int last_kind = 0;
    for (int k = 0; k < count; k++) {
        if (size - pos < TEC_MASK_ENTRY_HEADER)
            return tec_err(err, errlen, TEC_EBITSTREAM, "packet truncated in mask %d", k);
        const int kind = p[pos], coding = p[pos + 3];
        const uint16_t value = tec_rl16(p + pos + 1);
        const size_t body_size = tec_rl32(p + pos + 4), coded_size = tec_rl32(p + pos + 8);
        pos += TEC_MASK_ENTRY_HEADER;
        if (kind <= last_kind)
            return tec_err(err, errlen, TEC_EBITSTREAM, "mask kinds out of order (%d after %d)",
                           kind, last_kind);
        last_kind = kind;
        if (kind != TEC_MASK_NODATA && kind < TEC_MASK_INFORMATIONAL)
            return tec_err(err, errlen, TEC_EBITSTREAM, "unknown mask kind %d", kind);
        if (coding != CODING_STORED && coding != CODING_ZSTD)
            return tec_err(err, errlen, TEC_EBITSTREAM, "mask coding %d", coding);
        if (coded_size > size - pos)
            return tec_err(err, errlen, TEC_EBITSTREAM, "mask %d runs past the packet", k);
        /* Kinds from TEC_MASK_INFORMATIONAL on say something about the
         * samples (a cloud mask) but do not change them: skipped unless
         * asked for. */
        TecMask *to = kind == TEC_MASK_NODATA ? m : kind == TEC_MASK_CLOUD ? cloud : NULL;
        if (to) {
            to->value = value;
            int ret = read_body(to, coding, body_size, p + pos, coded_size, err, errlen);
            if (ret < 0)
                return ret;
            if (kind == TEC_MASK_CLOUD && value)
                return tec_err(err, errlen, TEC_EBITSTREAM, "cloud mask with value %d", value);
            to->on = 1;
        }
        pos += coded_size;
    }
    if (m->on)
        tec_mask_rewind(m);
    if (cloud && cloud->on)
        tec_mask_rewind(cloud);
    *used = pos;
    return 0;
}

/* ---- pixel masks (clouds) ---------------------------------------------------- */

int tec_mask_from_pixels(TecMask *m, const uint8_t *mask, ptrdiff_t stride)
{
    tec_mask_scan_begin(m, 0);
    for (int y = 0; y < m->height; y++) {
        const uint8_t *src = mask + (ptrdiff_t)y * stride;
        for (int x = 0; x < m->width; x++)
            m->row_all[x] = src[x] != 0;
        if (tec_mask_plane_put(&m->plane[0], m->row_all, m->width) < 0)
            return TEC_ENOMEM;
        m->rows_seen = y + 1;
    }
    return tec_mask_scan_end(m);
}

void tec_mask_copy_pixels(uint8_t *dst, const uint8_t *mask, ptrdiff_t stride, int width,
                          int height)
{
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            dst[(size_t)y * width + x] = mask[(ptrdiff_t)y * stride + x] != 0;
}

uint64_t tec_mask_pixels(TecMask *m, uint8_t *out)
{
    uint64_t count = 0;
    tec_mask_rewind(m);
    for (int y = 0; y < m->height; y++) {
        uint8_t *row = out + (size_t)y * m->width;
        if (m->present[0])
            tec_mask_plane_get(&m->plane[0], row, m->width);
        else
            memset(row, 0, (size_t)m->width);
        for (int x = 0; x < m->width; x++)
            count += row[x];
    }
    tec_mask_rewind(m);
    return count;
}

/* ---- decoder: the rule ------------------------------------------------------ */

/* One row of a band: masked samples to the value; an unmasked sample that
 * decoded to it moves one unit: up from 0, down from 65535, otherwise toward
 * the mean of its unmasked left and right neighbours (up when equal). */
static void apply_row(uint16_t *s, const uint8_t *masked, int width, uint16_t value)
{
    uint16_t left = 0;   /* the sample before, as it came in */
    for (int x = 0; x < width; x++) {
        const uint16_t cur = s[x];
        if (masked[x]) {
            s[x] = value;
        } else if (cur == value) {
            if (value == 0) {
                s[x] = 1;
            } else if (value == 65535) {
                s[x] = 65534;
            } else {
                int64_t sum = 0, n = 0;
                if (x > 0 && !masked[x - 1]) {
                    sum += left;
                    n++;
                }
                if (x + 1 < width && !masked[x + 1]) {
                    sum += s[x + 1];
                    n++;
                }
                s[x] = (uint16_t)(n && sum < n * value ? value - 1 : value + 1);
            }
        }
        left = cur;
    }
}

/* The planes' next row: plane 0 into row_all, band b's on top into row_band. */
static void next_rows(TecMask *m, uint16_t *data, ptrdiff_t band_stride)
{
    const int W = m->width;
    if (m->present[0])
        tec_mask_plane_get(&m->plane[0], m->row_all, W);
    else
        memset(m->row_all, 0, (size_t)W);
    for (int b = 0; b < m->bands; b++) {
        const uint8_t *masked = m->row_all;
        if (m->present[1 + b]) {
            tec_mask_plane_get(&m->plane[1 + b], m->row_band, W);
            for (int x = 0; x < W; x++)
                m->row_band[x] |= m->row_all[x];
            masked = m->row_band;
        }
        if (data)
            apply_row(data + b * band_stride, masked, W, m->value);
    }
    m->rows_seen++;
}

void tec_mask_apply(TecMask *m, uint16_t *data, ptrdiff_t stride, ptrdiff_t band_stride, int y0,
                    int rows)
{
    if (!m->on)
        return;
    /* The section was checked whole: every row parses. */
    if (y0 < m->rows_seen)
        tec_mask_rewind(m);
    while (m->rows_seen < y0)
        next_rows(m, NULL, 0);
    for (int i = 0; i < rows && m->rows_seen < m->height; i++)
        next_rows(m, data + (ptrdiff_t)i * stride, band_stride);
}
