/* .npy reader and writer for uint16 image cubes (see npy.h). */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tec/tec.h"

#define NPY_MAGIC       "\x93NUMPY"
#define NPY_MAGIC_LEN   6
#define NPY_MAX_HEADER  (1 << 20)
#define NPY_ALIGN       64
#define NPY_MAX_RANK    8            /* what the parser accepts before judging */
#define NPY_MAX_DIM     INT32_MAX
#define IO_CHUNK        ((size_t)1 << 30)

static int fail(const NpyFile *f, char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "%s: ", f->path);
        if (n < 0 || (size_t)n >= errlen)
            n = 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static void swap16(uint16_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint16_t)(p[i] << 8 | p[i] >> 8);
}

/* ---- header dictionary --------------------------------------------------
 * The header is a Python dict literal such as
 *   {'descr': '<u2', 'fortran_order': False, 'shape': (3, 4, 5), }
 * parsed here just far enough for what numpy writes. */

typedef struct Scan {
    const char *p, *end;
} Scan;

static void skip_space(Scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int accept(Scan *s, char c)
{
    skip_space(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

static int accept_word(Scan *s, const char *word)
{
    size_t n = strlen(word);
    skip_space(s);
    if ((size_t)(s->end - s->p) >= n && !memcmp(s->p, word, n)) {
        s->p += n;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes, copied (truncated) into out. */
static int parse_string(Scan *s, char *out, size_t outlen)
{
    skip_space(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"'))
        return 0;
    char quote = *s->p++;
    const char *start = s->p;
    while (s->p < s->end && *s->p != quote) {
        if (*s->p == '\\')
            return 0;
        s->p++;
    }
    if (s->p >= s->end)
        return 0;
    size_t n = (size_t)(s->p - start);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, start, n);
    out[n] = '\0';
    s->p++;
    return 1;
}

static int parse_int(Scan *s, int64_t *v)
{
    skip_space(s);
    int64_t x = 0;
    const char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        if (x > (INT64_MAX - 9) / 10)
            return 0;
        x = x * 10 + (*s->p++ - '0');
    }
    if (s->p == start)
        return 0;
    if (s->p < s->end && *s->p == 'L')  /* Python 2 long */
        s->p++;
    *v = x;
    return 1;
}

/* "(a, b, c)", "(a,)" or "()". */
static int parse_tuple(Scan *s, int64_t *dims, int *rank)
{
    *rank = 0;
    if (!accept(s, '('))
        return 0;
    if (accept(s, ')'))
        return 1;
    for (;;) {
        int64_t v;
        if (*rank >= NPY_MAX_RANK || !parse_int(s, &v))
            return 0;
        dims[(*rank)++] = v;
        if (accept(s, ')'))
            return 1;
        if (!accept(s, ','))
            return 0;
        if (accept(s, ')'))
            return 1;
    }
}

typedef struct Header {
    char descr[32];
    int fortran_order;
    int64_t shape[NPY_MAX_RANK];
    int rank;
    int have;   /* bit 0 descr, 1 fortran_order, 2 shape */
} Header;

static int parse_dict(const NpyFile *f, const char *text, size_t len, Header *h, char *err,
                      size_t errlen)
{
    Scan s = { text, text + len };
    if (!accept(&s, '{'))
        return fail(f, err, errlen, TEC_EINVAL, "header is not a dictionary");
    while (!accept(&s, '}')) {
        char key[32];
        if (!parse_string(&s, key, sizeof(key)) || !accept(&s, ':'))
            return fail(f, err, errlen, TEC_EINVAL, "malformed header dictionary");
        if (!strcmp(key, "descr")) {
            skip_space(&s);
            if (s.p < s.end && *s.p == '[')
                return fail(f, err, errlen, TEC_EINVAL,
                            "structured dtype not supported (need uint16 '<u2')");
            if (!parse_string(&s, h->descr, sizeof(h->descr)))
                return fail(f, err, errlen, TEC_EINVAL, "malformed 'descr' in header");
            h->have |= 1;
        } else if (!strcmp(key, "fortran_order")) {
            if (accept_word(&s, "True"))
                h->fortran_order = 1;
            else if (accept_word(&s, "False"))
                h->fortran_order = 0;
            else
                return fail(f, err, errlen, TEC_EINVAL, "malformed 'fortran_order' in header");
            h->have |= 2;
        } else if (!strcmp(key, "shape")) {
            if (!parse_tuple(&s, h->shape, &h->rank))
                return fail(f, err, errlen, TEC_EINVAL, "malformed 'shape' in header");
            h->have |= 4;
        } else {
            return fail(f, err, errlen, TEC_EINVAL, "unexpected key '%s' in header", key);
        }
        if (!accept(&s, ',')) {
            if (!accept(&s, '}'))
                return fail(f, err, errlen, TEC_EINVAL, "malformed header dictionary");
            break;
        }
    }
    if (h->have != 7)
        return fail(f, err, errlen, TEC_EINVAL, "header lacks descr, fortran_order or shape");
    return 0;
}

static void format_shape(char *buf, size_t len, const int64_t *shape, int rank)
{
    size_t used = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < rank && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                                 (long long)shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, rank == 1 ? ",)" : ")");
}

/* A mask: uint8 or bool, (H, W) or (T, H, W), one "band". */
static int check_mask_header(NpyFile *f, const Header *h, char *err, size_t errlen)
{
    const char *d = h->descr;
    if (strcmp(d, "|u1") && strcmp(d, "u1") && strcmp(d, "<u1") && strcmp(d, "=u1") &&
        strcmp(d, "|b1") && strcmp(d, "b1"))
        return fail(f, err, errlen, TEC_EINVAL, "unsupported mask dtype '%s': need uint8 or bool",
                    d);
    char shape[160];
    format_shape(shape, sizeof(shape), h->shape, h->rank);
    if (h->rank != 2 && h->rank != 3)
        return fail(f, err, errlen, TEC_EINVAL,
                    "mask shape %s has rank %d: need (H, W) or (T, H, W)", shape, h->rank);
    for (int i = 0; i < h->rank; i++)
        if (h->shape[i] == 0 || h->shape[i] > NPY_MAX_DIM)
            return fail(f, err, errlen, TEC_EINVAL, "mask shape %s is empty or too large", shape);
    const int64_t *s = h->shape + h->rank - 2;
    f->ndim = h->rank;
    f->frames = h->rank == 3 ? h->shape[0] : 1;
    f->bands = 1;
    f->height = s[0];
    f->width = s[1];
    return 0;
}

static int check_header(NpyFile *f, const Header *h, char *err, size_t errlen)
{
    if (h->fortran_order)
        return fail(f, err, errlen, TEC_EINVAL,
                    "Fortran-ordered arrays not supported: save a C-ordered array");
    if (f->elem == 1)
        return check_mask_header(f, h, err, errlen);
    const char *d = h->descr;
    if (!strcmp(d, ">u2"))
        return fail(f, err, errlen, TEC_EINVAL,
                    "big-endian uint16 ('>u2') not supported: store as '<u2'");
    if (strcmp(d, "<u2") && strcmp(d, "|u2") && strcmp(d, "=u2") && strcmp(d, "u2"))
        return fail(f, err, errlen, TEC_EINVAL, "unsupported dtype '%s': need uint16 ('<u2')",
                    d);
    char shape[160];
    format_shape(shape, sizeof(shape), h->shape, h->rank);
    if (h->rank != 3 && h->rank != 4)
        return fail(f, err, errlen, TEC_EINVAL,
                    "shape %s has rank %d: need (C, H, W) or (T, C, H, W)", shape, h->rank);
    int64_t total = 2;
    for (int i = 0; i < h->rank; i++) {
        if (h->shape[i] == 0)
            return fail(f, err, errlen, TEC_EINVAL, "shape %s has a zero-sized dimension",
                        shape);
        if (h->shape[i] > NPY_MAX_DIM || total > INT64_MAX / 4 / h->shape[i])
            return fail(f, err, errlen, TEC_EINVAL, "shape %s is too large", shape);
        total *= h->shape[i];
    }
    const int64_t *s = h->shape + h->rank - 3;
    f->ndim = h->rank;
    f->frames = h->rank == 4 ? h->shape[0] : 1;
    f->bands = s[0];
    f->height = s[1];
    f->width = s[2];
    return 0;
}

static int64_t data_bytes(const NpyFile *f)
{
    return f->frames * f->bands * f->height * f->width * f->elem;
}

/* ---- raw I/O ------------------------------------------------------------ */

static int pread_full(const NpyFile *f, void *buf, size_t n, int64_t off, char *err,
                      size_t errlen)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t got = pread(f->fd, p, n < IO_CHUNK ? n : IO_CHUNK, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return fail(f, err, errlen, TEC_EIO, "read error: %s", strerror(errno));
        if (got == 0)
            return fail(f, err, errlen, TEC_EIO, "unexpected end of file at byte %lld",
                        (long long)off);
        p += got;
        n -= (size_t)got;
        off += got;
    }
    return 0;
}

static int pwrite_full(const NpyFile *f, const void *buf, size_t n, int64_t off, char *err,
                       size_t errlen)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t put = pwrite(f->fd, p, n < IO_CHUNK ? n : IO_CHUNK, (off_t)off);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return fail(f, err, errlen, TEC_EIO, "write error: %s",
                        put < 0 ? strerror(errno) : "no progress");
        p += put;
        n -= (size_t)put;
        off += put;
    }
    return 0;
}

/* ---- open / create ------------------------------------------------------ */

static void init_file(NpyFile *f, const char *path)
{
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    f->elem = 2;
    snprintf(f->path, sizeof(f->path), "%s", path);
}

static int read_header(NpyFile *f, char *err, size_t errlen)
{
    uint8_t pre[12];
    struct stat st;
    if (fstat(f->fd, &st))
        return fail(f, err, errlen, TEC_EIO, "%s", strerror(errno));
    if (st.st_size < 10)
        return fail(f, err, errlen, TEC_EINVAL, "too short for a .npy file");
    int ret = pread_full(f, pre, st.st_size < 12 ? 10 : 12, 0, err, errlen);
    if (ret < 0)
        return ret;
    if (memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN))
        return fail(f, err, errlen, TEC_EINVAL, "not a .npy file (bad magic)");
    int major = pre[6];
    uint32_t hlen;
    int64_t prefix;
    if (major == 1) {
        hlen = (uint32_t)(pre[8] | pre[9] << 8);
        prefix = 10;
    } else if (major == 2 || major == 3) {
        if (st.st_size < 12)
            return fail(f, err, errlen, TEC_EINVAL, "truncated .npy header");
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
               (uint32_t)pre[11] << 24;
        prefix = 12;
    } else {
        return fail(f, err, errlen, TEC_EINVAL, "unsupported .npy format version %d.%d", major,
                    pre[7]);
    }
    if (hlen > NPY_MAX_HEADER || prefix + hlen > st.st_size)
        return fail(f, err, errlen, TEC_EINVAL, "truncated or oversized .npy header");

    char *text = malloc(hlen ? hlen : 1);
    if (!text)
        return fail(f, err, errlen, TEC_ENOMEM, "out of memory");
    ret = pread_full(f, text, hlen, prefix, err, errlen);
    Header h = { .rank = 0 };
    if (!ret)
        ret = parse_dict(f, text, hlen, &h, err, errlen);
    free(text);
    if (ret < 0)
        return ret;
    ret = check_header(f, &h, err, errlen);
    if (ret < 0)
        return ret;

    f->data_offset = prefix + hlen;
    int64_t need = data_bytes(f);
    if (st.st_size - f->data_offset < need)
        return fail(f, err, errlen, TEC_EINVAL,
                    "file holds %lld bytes of samples, the shape needs %lld",
                    (long long)(st.st_size - f->data_offset), (long long)need);
    return 0;
}

static int open_read(NpyFile *f, const char *path, int elem, char *err, size_t errlen)
{
    init_file(f, path);
    f->elem = elem;
    f->fd = open(path, O_RDONLY);
    if (f->fd < 0)
        return fail(f, err, errlen, TEC_EIO, "%s", strerror(errno));
    int ret = read_header(f, err, errlen);
    if (ret < 0) {
        close(f->fd);
        f->fd = -1;
    }
    return ret;
}

int npy_open_read(NpyFile *f, const char *path, char *err, size_t errlen)
{
    return open_read(f, path, 2, err, errlen);
}

int npy_open_read_mask(NpyFile *f, const char *path, char *err, size_t errlen)
{
    return open_read(f, path, 1, err, errlen);
}

static int create(NpyFile *f, const char *path, int elem, int ndim, const int64_t *shape,
                  char *err, size_t errlen)
{
    Header h = { .rank = ndim };
    snprintf(h.descr, sizeof(h.descr), "%s", elem == 1 ? "|u1" : "<u2");
    f->elem = elem;
    for (int i = 0; i < ndim; i++) {
        h.shape[i] = shape[i];
        if (h.shape[i] < 0)
            return fail(f, err, errlen, TEC_EINVAL, "negative dimension");
    }
    int ret = check_header(f, &h, err, errlen);
    if (ret < 0)
        return ret;

    /* Version 1.0: magic, version, u16 length, dict padded with spaces to a
     * multiple of 64 bytes and ending in a newline. */
    char dict[256], dims[160];
    format_shape(dims, sizeof(dims), h.shape, ndim);
    int n = snprintf(dict, sizeof(dict), "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     h.descr, dims);
    size_t total = 10 + (size_t)n + 1;
    total = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    uint8_t header[256 + NPY_ALIGN];
    size_t hlen = total - 10;
    memcpy(header, NPY_MAGIC, NPY_MAGIC_LEN);
    header[6] = 1;
    header[7] = 0;
    header[8] = (uint8_t)hlen;
    header[9] = (uint8_t)(hlen >> 8);
    memcpy(header + 10, dict, (size_t)n);
    memset(header + 10 + n, ' ', hlen - (size_t)n - 1);
    header[total - 1] = '\n';
    f->data_offset = (int64_t)total;

    f->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0666);
    if (f->fd < 0)
        return fail(f, err, errlen, TEC_EIO, "%s", strerror(errno));
    ret = pwrite_full(f, header, total, 0, err, errlen);
    if (!ret && ftruncate(f->fd, (off_t)(f->data_offset + data_bytes(f))))
        ret = fail(f, err, errlen, TEC_EIO, "cannot extend to %lld bytes: %s",
                   (long long)(f->data_offset + data_bytes(f)), strerror(errno));
    if (ret < 0) {
        close(f->fd);
        f->fd = -1;
    }
    return ret;
}

int npy_create(NpyFile *f, const char *path, int ndim, int64_t frames, int64_t bands,
               int64_t height, int64_t width, char *err, size_t errlen)
{
    init_file(f, path);
    const int64_t shape[4] = { frames, bands, height, width };
    if ((ndim != 3 && ndim != 4) || (ndim == 3 && frames != 1))
        return fail(f, err, errlen, TEC_EINVAL, "cannot write rank %d with %lld frames", ndim,
                    (long long)frames);
    return create(f, path, 2, ndim, shape + 4 - ndim, err, errlen);
}

int npy_create_mask(NpyFile *f, const char *path, int64_t frames, int64_t height,
                    int64_t width, char *err, size_t errlen)
{
    init_file(f, path);
    const int64_t shape[3] = { frames, height, width };
    return create(f, path, 1, 3, shape, err, errlen);
}

int npy_close(NpyFile *f, char *err, size_t errlen)
{
    if (f->fd < 0)
        return 0;
    int ret = close(f->fd);
    f->fd = -1;
    return ret ? fail(f, err, errlen, TEC_EIO, "close: %s", strerror(errno)) : 0;
}

/* ---- frames and stripes ------------------------------------------------- */

static int check_stripe(const NpyFile *f, int64_t frame, int64_t y0, int64_t rows,
                        const void *data, ptrdiff_t stride, ptrdiff_t band_stride, char *err,
                        size_t errlen)
{
    if (f->fd < 0)
        return fail(f, err, errlen, TEC_EINVAL, "file is not open");
    if (frame < 0 || frame >= f->frames || y0 < 0 || rows < 0 || y0 > f->height - rows)
        return fail(f, err, errlen, TEC_EINVAL, "frame %lld rows %lld..%lld outside the array",
                    (long long)frame, (long long)y0, (long long)(y0 + rows));
    if ((!data && rows) || stride < f->width ||
        (f->bands > 1 && rows && band_stride < (ptrdiff_t)(rows - 1) * stride + f->width))
        return fail(f, err, errlen, TEC_EINVAL, "stripe buffer layout too small");
    return 0;
}

/* File offset of sample (frame, band, y, 0). */
static int64_t row_offset(const NpyFile *f, int64_t frame, int64_t band, int64_t y)
{
    return f->data_offset + (((frame * f->bands + band) * f->height + y) * f->width) * f->elem;
}

int npy_read_rows(const NpyFile *f, int64_t frame, int64_t y0, int64_t rows, uint16_t *data,
                  ptrdiff_t stride, ptrdiff_t band_stride, char *err, size_t errlen)
{
    int ret = check_stripe(f, frame, y0, rows, data, stride, band_stride, err, errlen);
    if (ret < 0 || !rows)
        return ret;
    size_t row_bytes = (size_t)f->width * 2;
    for (int64_t b = 0; b < f->bands; b++) {
        uint16_t *dst = data + b * band_stride;
        if (stride == f->width) {  /* rows contiguous in memory and file */
            ret = pread_full(f, dst, row_bytes * (size_t)rows, row_offset(f, frame, b, y0), err,
                             errlen);
        } else {
            for (int64_t y = 0; y < rows && !ret; y++)
                ret = pread_full(f, dst + y * stride, row_bytes,
                                 row_offset(f, frame, b, y0 + y), err, errlen);
        }
        if (ret < 0)
            return ret;
        if (!host_is_little_endian())
            for (int64_t y = 0; y < rows; y++)
                swap16(dst + y * stride, (size_t)f->width);
    }
    return 0;
}

int npy_write_rows(const NpyFile *f, int64_t frame, int64_t y0, int64_t rows,
                   const uint16_t *data, ptrdiff_t stride, ptrdiff_t band_stride,
                   char *err, size_t errlen)
{
    int ret = check_stripe(f, frame, y0, rows, data, stride, band_stride, err, errlen);
    if (ret < 0 || !rows)
        return ret;
    size_t row_bytes = (size_t)f->width * 2;
    int little = host_is_little_endian();
    uint16_t *swapped = NULL;
    if (!little && !(swapped = malloc(row_bytes)))
        return fail(f, err, errlen, TEC_ENOMEM, "out of memory");
    for (int64_t b = 0; b < f->bands && !ret; b++) {
        const uint16_t *src = data + b * band_stride;
        if (little && stride == f->width) {
            ret = pwrite_full(f, src, row_bytes * (size_t)rows, row_offset(f, frame, b, y0), err,
                              errlen);
            continue;
        }
        for (int64_t y = 0; y < rows && !ret; y++) {
            const uint16_t *row = src + y * stride;
            if (!little) {
                memcpy(swapped, row, row_bytes);
                swap16(swapped, (size_t)f->width);
                row = swapped;
            }
            ret = pwrite_full(f, row, row_bytes, row_offset(f, frame, b, y0 + y), err, errlen);
        }
    }
    free(swapped);
    return ret;
}

int npy_read_frame(const NpyFile *f, int64_t frame, uint16_t *data, char *err, size_t errlen)
{
    return npy_read_rows(f, frame, 0, f->height, data, (ptrdiff_t)f->width,
                         (ptrdiff_t)(f->height * f->width), err, errlen);
}

int npy_write_frame(const NpyFile *f, int64_t frame, const uint16_t *data, char *err,
                    size_t errlen)
{
    return npy_write_rows(f, frame, 0, f->height, data, (ptrdiff_t)f->width,
                          (ptrdiff_t)(f->height * f->width), err, errlen);
}

int npy_read_mask_frame(const NpyFile *f, int64_t frame, uint8_t *mask, char *err, size_t errlen)
{
    if (f->fd < 0 || f->elem != 1 || frame < 0 || frame >= f->frames)
        return fail(f, err, errlen, TEC_EINVAL, "mask frame %lld outside the array",
                    (long long)frame);
    return pread_full(f, mask, (size_t)(f->height * f->width), row_offset(f, frame, 0, 0), err,
                      errlen);
}

int npy_write_mask_frame(const NpyFile *f, int64_t frame, const uint8_t *mask, char *err,
                         size_t errlen)
{
    if (f->fd < 0 || f->elem != 1 || frame < 0 || frame >= f->frames)
        return fail(f, err, errlen, TEC_EINVAL, "mask frame %lld outside the array",
                    (long long)frame);
    return pwrite_full(f, mask, (size_t)(f->height * f->width), row_offset(f, frame, 0, 0), err,
                       errlen);
}
