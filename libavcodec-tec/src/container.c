/* The .tecv container (doc/bitstream.md, section 6): reader with bounded
 * memory and resynchronisation, and writer. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <zstd.h>

#include "tec/tec.h"
#include "bytes.h"
#include "errors.h"

#define TECV_FIXED_SIZE    16          /* magic .. header CRC */
#define TECV_MAJOR         2
#define TECV_MINOR         0
#define TECV_MIN_HEADER    26          /* the header with both blocks empty */
#define TECV_MAX_HEADER    (32u << 20)
#define TECV_MAX_META      (16u << 20) /* decompressed metadata */
#define TECV_COUNT_OFFSET  (TECV_FIXED_SIZE + 10)
#define TECP_SIZE          24
#define TECP_MAX_PAYLOAD   ((uint64_t)1 << 31)
#define READ_CHUNK         ((size_t)64 << 20) /* largest single read */
#define SCAN_CHUNK         ((size_t)64 << 10) /* read size while resyncing */
#define META_LEVEL         19

#define ERR_SIZE 320

#define set_error(buf, ...) ((void)tec_err(buf, ERR_SIZE, 0, __VA_ARGS__))

/* Puts "prefix: " in front of the message in buf. */
static void prefix_error(char *buf, const char *prefix)
{
    size_t plen = strlen(prefix) + 2;
    if (plen >= ERR_SIZE)
        plen = ERR_SIZE - 1;
    size_t mlen = strlen(buf);
    if (plen + mlen >= ERR_SIZE)
        mlen = ERR_SIZE - 1 - plen;
    memmove(buf + plen, buf, mlen);
    buf[plen + mlen] = '\0';
    memcpy(buf, prefix, plen - 2);
    buf[plen - 2] = ':';
    buf[plen - 1] = ' ';
}

const char *tec_tecv_meta(const TecvInfo *info, const char *key)
{
    for (int i = 0; info && i < info->n_meta; i++)
        if (!strcmp(info->meta_keys[i], key))
            return info->meta_values[i];
    return NULL;
}

/* ====================================================================== */
/* Reader                                                                 */
/* ====================================================================== */

struct TecvReader {
    FILE *f;               /* NULL for a memory reader */
    int own_file;          /* f is ours to close (not stdin) */
    int64_t end;           /* stream offset of the end when known, else -1 */
    int64_t pos;           /* stream offset of buf[head] */

    /* The window buf[head, head + avail) of the stream. */
    uint8_t *buf;
    size_t cap, head, avail;
    int owns_buf;
    int eof;               /* nothing more to read from the source */

    size_t pending;        /* the packet handed out last, dropped on the next call */
    int resync;            /* the packet at the front was reported corrupt */
    int fatal;             /* sticky TEC_EIO / TEC_ENOMEM */
    size_t raw_size;       /* codec raw: the only valid payload size */

    TecvInfo info;
    uint8_t *seq;
    char *meta_store;
    const char **keys, **values;
    char error[ERR_SIZE];
};

/* Make at least n bytes available at the front.  1: done; 0: the stream
 * ends first; <0: error.  Reads grow the buffer step by step, so a size
 * field that lies about a truncated pipe does not cost its claim in memory. */
static int fill(TecvReader *r, size_t n)
{
    while (r->avail < n && !r->eof) {
        size_t want = n - r->avail;
        if (want > READ_CHUNK)
            want = READ_CHUNK;
        if (r->head + r->avail + want > r->cap) {
            if (r->head) {
                memmove(r->buf, r->buf + r->head, r->avail);
                r->head = 0;
            }
            if (r->avail + want > r->cap) {
                size_t cap = r->cap * 2;
                if (cap > n)
                    cap = n;
                if (cap < r->avail + want)
                    cap = r->avail + want;
                uint8_t *buf = realloc(r->buf, cap);
                if (!buf) {
                    set_error(r->error, "out of memory for a %zu-byte read buffer", cap);
                    return r->fatal = TEC_ENOMEM;
                }
                r->buf = buf;
                r->cap = cap;
            }
        }
        size_t got = fread(r->buf + r->head + r->avail, 1, want, r->f);
        r->avail += got;
        if (got < want) {
            if (ferror(r->f)) {
                set_error(r->error, "read error: %s", strerror(errno));
                return r->fatal = TEC_EIO;
            }
            r->eof = 1;
        }
    }
    return r->avail >= n;
}

static void consume(TecvReader *r, size_t n)
{
    r->head += n;
    r->avail -= n;
    r->pos += (int64_t)n;
    if (!r->avail)
        r->head = 0;
}

static int corrupt_header(TecvReader *r, const char *what)
{
    set_error(r->error, "corrupt .tecv header: %s", what);
    return TEC_EBITSTREAM;
}

/* Metadata: one zstd frame of u32 n, then n x (u16 key_len, key, u32
 * value_len, value).  Strings are copied out NUL-terminated. */
static int parse_meta(TecvReader *r, const uint8_t *block, size_t size)
{
    if (!size)
        return 0;
    unsigned long long content = ZSTD_getFrameContentSize(block, size);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
        return corrupt_header(r, "metadata is not a zstd frame with a known size");
    if (content < 4 || content > TECV_MAX_META)
        return corrupt_header(r, "metadata size out of range");
    size_t frame_len = ZSTD_findFrameCompressedSize(block, size);
    if (ZSTD_isError(frame_len) || frame_len != size)
        return corrupt_header(r, "metadata zstd frame is truncated or has stray bytes");

    uint8_t *text = malloc((size_t)content);
    if (!text) {
        set_error(r->error, "out of memory for the metadata");
        return TEC_ENOMEM;
    }
    int ret = TEC_EBITSTREAM;
    size_t got = ZSTD_decompress(text, (size_t)content, block, size);
    if (ZSTD_isError(got) || got != content) {
        corrupt_header(r, "metadata does not decompress");
        goto done;
    }

    TecByteReader br = { text, text + content, 0 };
    uint32_t n = tec_br_u32(&br);
    /* An entry takes at least 6 bytes: this bounds the allocations. */
    if (n > (content - 4) / 6) {
        corrupt_header(r, "metadata entry count exceeds the block");
        goto done;
    }
    r->meta_store = malloc((size_t)content + 2 * (size_t)n);
    r->keys = malloc((n ? n : 1) * sizeof(*r->keys));
    r->values = malloc((n ? n : 1) * sizeof(*r->values));
    if (!r->meta_store || !r->keys || !r->values) {
        set_error(r->error, "out of memory for the metadata");
        ret = TEC_ENOMEM;
        goto done;
    }
    char *store = r->meta_store;
    for (uint32_t i = 0; i < n; i++) {
        const char **slots[2] = { &r->keys[i], &r->values[i] };
        for (int kv = 0; kv < 2; kv++) {
            size_t len = kv ? tec_br_u32(&br) : tec_br_u16(&br);
            const uint8_t *s = tec_br_bytes(&br, len);
            if (br.err) {
                corrupt_header(r, "metadata entry runs past the block");
                goto done;
            }
            if (memchr(s, '\0', len)) {
                corrupt_header(r, "metadata string contains a NUL byte");
                goto done;
            }
            memcpy(store, s, len);
            store[len] = '\0';
            *slots[kv] = store;
            store += len + 1;
        }
    }
    if (br.p != br.end) {
        corrupt_header(r, "stray bytes after the metadata entries");
        goto done;
    }
    r->info.n_meta = (int)n;
    r->info.meta_keys = r->keys;
    r->info.meta_values = r->values;
    ret = 0;
done:
    free(text);
    return ret;
}

/* Fields after the fixed 16 bytes, already CRC-checked. */
static int parse_header_fields(TecvReader *r, const uint8_t *h, size_t size)
{
    TecByteReader br = { h, h + size, 0 };
    unsigned bands = tec_br_u16(&br);
    uint32_t width = tec_br_u32(&br);
    uint32_t height = tec_br_u32(&br);
    uint64_t frame_count = tec_br_u64(&br);
    uint32_t seq_size = tec_br_u32(&br);
    const uint8_t *seq = tec_br_bytes(&br, seq_size);
    uint32_t meta_size = tec_br_u32(&br);
    const uint8_t *meta = tec_br_bytes(&br, meta_size);
    /* Bytes after the metadata belong to later minor versions: skipped. */
    if (br.err)
        return corrupt_header(r, "sequence header or metadata runs past header_size");
    if (bands < 1 || bands > TEC_MAX_BANDS)
        return corrupt_header(r, "band count outside 1..64");
    if (width < 1 || width > TEC_MAX_DIM || height < 1 || height > TEC_MAX_DIM)
        return corrupt_header(r, "width or height outside 1..65535");
    if (frame_count > INT64_MAX)
        return corrupt_header(r, "frame count out of range");
    if (r->info.codec == TEC_CODEC_RAW && seq_size)
        return corrupt_header(r, "raw stream with a sequence header");
    if (r->info.codec == TEC_CODEC_TEC && !seq_size)
        return corrupt_header(r, "tec stream without a sequence header");

    r->info.bands = (int)bands;
    r->info.width = (int)width;
    r->info.height = (int)height;
    r->info.frame_count = (int64_t)frame_count;
    if (r->info.codec == TEC_CODEC_RAW) {
        uint64_t raw = (uint64_t)bands * width * height * 2;
        if (raw > TECP_MAX_PAYLOAD) {
            set_error(r->error, "raw frames of %u x %u x %u exceed the 2 GiB packet limit",
                      bands, height, width);
            return TEC_EUNSUPPORTED;
        }
        r->raw_size = (size_t)raw;
    }
    if (seq_size) {
        r->seq = malloc(seq_size);
        if (!r->seq) {
            set_error(r->error, "out of memory");
            return TEC_ENOMEM;
        }
        memcpy(r->seq, seq, seq_size);
        r->info.seq_header = r->seq;
        r->info.seq_header_size = seq_size;
    }
    return parse_meta(r, meta, meta_size);
}

static int read_header(TecvReader *r)
{
    int ret = fill(r, TECV_FIXED_SIZE);
    if (ret <= 0)
        return ret < 0 ? ret : corrupt_header(r, "file too short");
    const uint8_t *p = r->buf + r->head;
    if (memcmp(p, "TECV", 4)) {
        set_error(r->error, "not a .tecv file (bad magic)");
        return TEC_EBITSTREAM;
    }
    if (p[4] != TECV_MAJOR) {
        set_error(r->error, "unsupported .tecv version %u.%u (this build reads %d.x)", p[4], p[5],
                  TECV_MAJOR);
        return TEC_EBITSTREAM;
    }
    if (p[6] != TEC_CODEC_RAW && p[6] != TEC_CODEC_TEC) {
        set_error(r->error, "unknown codec %u in .tecv header", p[6]);
        return TEC_EUNSUPPORTED;
    }
    r->info.codec = p[6];
    uint32_t header_size = tec_rl32(p + 8);
    uint32_t header_crc = tec_rl32(p + 12);
    if (header_size < TECV_MIN_HEADER || header_size > TECV_MAX_HEADER)
        return corrupt_header(r, "header_size out of range");
    if (r->end >= 0 && r->end - r->pos < (int64_t)TECV_FIXED_SIZE + header_size)
        return corrupt_header(r, "file ends inside the header");
    ret = fill(r, TECV_FIXED_SIZE + (size_t)header_size);
    if (ret <= 0)
        return ret < 0 ? ret : corrupt_header(r, "file ends inside the header");
    const uint8_t *h = r->buf + r->head + TECV_FIXED_SIZE;
    if (tec_crc32(0, h, header_size) != header_crc)
        return corrupt_header(r, "CRC mismatch");
    ret = parse_header_fields(r, h, header_size);
    if (ret < 0)
        return ret;
    consume(r, TECV_FIXED_SIZE + (size_t)header_size);
    return 0;
}

static TecvReader *reader_alloc(TecvReader **out)
{
    TecvReader *r = calloc(1, sizeof(*r));
    *out = r;
    if (r) {
        r->end = -1;
        snprintf(r->error, sizeof(r->error), "no error");
    }
    return r;
}

int tec_tecv_open_read_mem(TecvReader **out, const uint8_t *data, size_t size)
{
    TecvReader *r = reader_alloc(out);
    if (!r)
        return TEC_ENOMEM;
    if (!data && size) {
        set_error(r->error, "no data");
        return r->fatal = TEC_EINVAL;
    }
    /* The window is the whole buffer and is never written. */
    r->buf = (uint8_t *)(uintptr_t)data;
    r->cap = r->avail = size;
    r->eof = 1;
    r->end = (int64_t)size;
    return r->fatal = read_header(r);
}

int tec_tecv_open_read(TecvReader **out, const char *path)
{
    TecvReader *r = reader_alloc(out);
    if (!r)
        return TEC_ENOMEM;
    r->owns_buf = 1;
    if (!strcmp(path, "-")) {
        r->f = stdin;
    } else {
        r->f = fopen(path, "rb");
        if (!r->f) {
            set_error(r->error, "%s: %s", path, strerror(errno));
            return r->fatal = TEC_EIO;
        }
        r->own_file = 1;
    }
    /* A regular file's size lets bogus packet sizes be rejected unread. */
    struct stat st;
    off_t start = ftello(r->f);
    if (!fstat(fileno(r->f), &st) && S_ISREG(st.st_mode) && start >= 0 && st.st_size >= start)
        r->end = (int64_t)(st.st_size - start);
    int ret = read_header(r);
    if (ret < 0 && r->own_file)
        prefix_error(r->error, path);
    return r->fatal = ret;
}

const TecvInfo *tec_tecv_info(const TecvReader *r)
{
    return &r->info;
}

/* The packet CRC covers the time, flags and reserved bytes of the packet
 * header as well as the payload: a flipped bit in a date is caught too. */
static uint32_t packet_crc(const uint8_t *head, const uint8_t *payload, size_t size)
{
    return tec_crc32(tec_crc32(0, head + 8, 12), payload, size);
}

/* Is there a valid packet at the front?  1: yes, its payload size in *size;
 * 0: no, the reason in r->error; <0: error. */
static int check_packet(TecvReader *r, size_t *size)
{
    int ret = fill(r, TECP_SIZE);
    if (ret <= 0) {
        if (!ret)
            set_error(r->error, "truncated packet header");
        return ret;
    }
    const uint8_t *p = r->buf + r->head;
    if (memcmp(p, "TECP", 4)) {
        set_error(r->error, "bad packet sync");
        return 0;
    }
    uint32_t n = tec_rl32(p + 4);
    if (n > TECP_MAX_PAYLOAD) {
        set_error(r->error, "packet size %u exceeds 2^31", n);
        return 0;
    }
    if (r->info.codec == TEC_CODEC_RAW && n != r->raw_size) {
        set_error(r->error, "raw packet of %u bytes, frames have %zu", n, r->raw_size);
        return 0;
    }
    if (r->end >= 0 && r->end - r->pos < (int64_t)TECP_SIZE + n) {
        set_error(r->error, "packet of %u bytes runs past the end of the file", n);
        return 0;
    }
    ret = fill(r, TECP_SIZE + (size_t)n);
    if (ret <= 0) {
        if (!ret)
            set_error(r->error, "truncated packet of %u bytes", n);
        return ret;
    }
    p = r->buf + r->head;  /* fill may have moved the window */
    if (packet_crc(p, p + TECP_SIZE, n) != tec_rl32(p + 20)) {
        set_error(r->error, "packet CRC mismatch");
        return 0;
    }
    *size = n;
    return 1;
}

static const uint8_t *find_sync(const uint8_t *p, size_t n)
{
    for (const uint8_t *end = p + n; n >= 4; n = (size_t)(end - p)) {
        const uint8_t *t = memchr(p, 'T', n - 3);
        if (!t)
            return NULL;
        if (!memcmp(t, "TECP", 4))
            return t;
        p = t + 1;
    }
    return NULL;
}

/* Skip the known-bad front byte and look for the next "TECP" that starts a
 * valid packet.  1: found (size in *size); 0: the stream ends first. */
static int resync(TecvReader *r, size_t *size)
{
    consume(r, r->avail ? 1 : 0);
    for (;;) {
        const uint8_t *front = r->buf + r->head;
        const uint8_t *sync = find_sync(front, r->avail);
        if (sync) {
            consume(r, (size_t)(sync - front));
            int ret = check_packet(r, size);
            if (ret)
                return ret;
            consume(r, 1);
            continue;
        }
        /* Keep a possible partial sync at the end of the window. */
        if (r->avail > 3)
            consume(r, r->avail - 3);
        if (r->eof) {
            consume(r, r->avail);
            return 0;
        }
        int ret = fill(r, r->avail + SCAN_CHUNK);
        if (ret < 0)
            return ret;
    }
}

int tec_tecv_read_packet(TecvReader *r, const uint8_t **data, size_t *size,
                         int64_t *time_ms, int *flags)
{
    if (r->fatal)
        return r->fatal;
    if (r->pending) {
        consume(r, r->pending);
        r->pending = 0;
    }
    size_t n = 0;
    int ret;
    if (r->resync) {
        ret = resync(r, &n);
        if (ret < 0)
            return ret;
        r->resync = 0;
        if (!ret)
            return TEC_EOF;
    } else {
        ret = fill(r, 1);
        if (ret <= 0)
            return ret < 0 ? ret : TEC_EOF;
        int64_t at = r->pos;
        ret = check_packet(r, &n);
        if (ret < 0)
            return ret;
        if (!ret) {
            char where[64];
            snprintf(where, sizeof(where), "corrupt packet at offset %lld", (long long)at);
            prefix_error(r->error, where);
            r->resync = 1;
            return TEC_EBITSTREAM;
        }
    }
    const uint8_t *p = r->buf + r->head;
    *data = p + TECP_SIZE;
    *size = n;
    if (time_ms)
        *time_ms = (int64_t)tec_rl64(p + 8);
    if (flags)
        *flags = p[16];
    r->pending = TECP_SIZE + n;
    return 0;
}

const char *tec_tecv_reader_error(const TecvReader *r)
{
    return r ? r->error : "out of memory";
}

void tec_tecv_close_read(TecvReader **pr)
{
    TecvReader *r = pr ? *pr : NULL;
    if (!r)
        return;
    if (r->own_file)
        fclose(r->f);
    if (r->owns_buf)
        free(r->buf);
    free(r->seq);
    free(r->meta_store);
    free(r->keys);
    free(r->values);
    free(r);
    *pr = NULL;
}

/* ====================================================================== */
/* Writer                                                                 */
/* ====================================================================== */

struct TecvWriter {
    FILE *f;               /* NULL for a memory writer */
    int own_file;
    /* Memory writer: the whole stream so far, mem[0, mem_size). */
    uint8_t *mem;
    size_t mem_size, mem_cap;
    int is_mem;
    int64_t start;         /* offset of the header, -1 when it cannot be patched */
    uint8_t *header;       /* the whole header, for the CRC patch */
    size_t header_size;    /* bytes after the fixed 16 */
    int codec;
    size_t raw_size;
    int64_t frame_count;
    int failed;
    char error[ERR_SIZE];
};

static int write_error(TecvWriter *w, int err, const char *what)
{
    set_error(w->error, "%s: %s", what, strerror(err));
    w->failed = 1;
    return TEC_EIO;
}

static int check_info(TecvWriter *w, const TecvInfo *info, size_t *meta_raw)
{
    if (info->codec != TEC_CODEC_RAW && info->codec != TEC_CODEC_TEC) {
        set_error(w->error, "unknown codec %d", info->codec);
        return TEC_EINVAL;
    }
    if (info->bands < 1 || info->bands > TEC_MAX_BANDS || info->width < 1 ||
        info->width > TEC_MAX_DIM || info->height < 1 || info->height > TEC_MAX_DIM) {
        set_error(w->error, "geometry %d x %d x %d outside 1..64 bands, 1..65535 pixels",
                  info->bands, info->height, info->width);
        return TEC_EINVAL;
    }
    if ((info->codec == TEC_CODEC_TEC) != (info->seq_header_size > 0) ||
        (info->seq_header_size && !info->seq_header)) {
        set_error(w->error, "a tec stream needs a sequence header, a raw one none");
        return TEC_EINVAL;
    }
    if (info->seq_header_size > TECV_MAX_HEADER / 2) {
        set_error(w->error, "sequence header of %zu bytes is too large", info->seq_header_size);
        return TEC_EINVAL;
    }
    if (info->codec == TEC_CODEC_RAW) {
        uint64_t raw = (uint64_t)info->bands * info->width * info->height * 2;
        if (raw > TECP_MAX_PAYLOAD) {
            set_error(w->error, "raw frames of %d x %d x %d exceed the 2 GiB packet limit",
                      info->bands, info->height, info->width);
            return TEC_EINVAL;
        }
        w->raw_size = (size_t)raw;
    }
    if (info->n_meta < 0 || (info->n_meta && (!info->meta_keys || !info->meta_values))) {
        set_error(w->error, "invalid metadata list");
        return TEC_EINVAL;
    }
    size_t total = 4;
    for (int i = 0; i < info->n_meta; i++) {
        const char *k = info->meta_keys[i], *v = info->meta_values[i];
        if (!k || !v || !*k || strlen(k) > 0xffff) {
            set_error(w->error, "metadata entry %d: missing value or bad key", i);
            return TEC_EINVAL;
        }
        total += 6 + strlen(k) + strlen(v);
        if (total > TECV_MAX_META) {
            set_error(w->error, "metadata exceeds %u bytes", TECV_MAX_META);
            return TEC_EINVAL;
        }
    }
    *meta_raw = total;
    return 0;
}

/* The zstd-compressed key/value block in a new buffer. */
static int build_meta(TecvWriter *w, const TecvInfo *info, size_t raw_size, uint8_t **out,
                      size_t *out_size)
{
    uint8_t *raw = malloc(raw_size);
    size_t bound = ZSTD_compressBound(raw_size);
    uint8_t *packed = malloc(bound);
    if (!raw || !packed) {
        free(raw);
        free(packed);
        set_error(w->error, "out of memory");
        return TEC_ENOMEM;
    }
    uint8_t *p = raw;
    tec_wl32(p, (uint32_t)info->n_meta);
    p += 4;
    for (int i = 0; i < info->n_meta; i++) {
        size_t kl = strlen(info->meta_keys[i]), vl = strlen(info->meta_values[i]);
        tec_wl16(p, (uint16_t)kl);
        memcpy(p + 2, info->meta_keys[i], kl);
        p += 2 + kl;
        tec_wl32(p, (uint32_t)vl);
        memcpy(p + 4, info->meta_values[i], vl);
        p += 4 + vl;
    }
    size_t n = ZSTD_compress(packed, bound, raw, raw_size, META_LEVEL);
    free(raw);
    if (ZSTD_isError(n)) {
        free(packed);
        set_error(w->error, "zstd: %s", ZSTD_getErrorName(n));
        return TEC_ENOMEM;
    }
    *out = packed;
    *out_size = n;
    return 0;
}

static int build_header(TecvWriter *w, const TecvInfo *info)
{
    size_t meta_raw = 0;
    int ret = check_info(w, info, &meta_raw);
    if (ret < 0)
        return ret;
    uint8_t *meta;
    size_t meta_size;
    ret = build_meta(w, info, meta_raw, &meta, &meta_size);
    if (ret < 0)
        return ret;

    w->codec = info->codec;
    w->header_size = TECV_MIN_HEADER + info->seq_header_size + meta_size;
    w->header = malloc(TECV_FIXED_SIZE + w->header_size);
    if (!w->header) {
        free(meta);
        set_error(w->error, "out of memory");
        return TEC_ENOMEM;
    }
    uint8_t *p = w->header;
    memcpy(p, "TECV", 4);
    p[4] = TECV_MAJOR;
    p[5] = TECV_MINOR;
    p[6] = (uint8_t)info->codec;
    p[7] = 0;
    tec_wl32(p + 8, (uint32_t)w->header_size);
    p += TECV_FIXED_SIZE;
    tec_wl16(p, (uint16_t)info->bands);
    tec_wl32(p + 2, (uint32_t)info->width);
    tec_wl32(p + 6, (uint32_t)info->height);
    tec_wl64(p + 10, 0);
    tec_wl32(p + 18, (uint32_t)info->seq_header_size);
    p += 22;
    if (info->seq_header_size)
        memcpy(p, info->seq_header, info->seq_header_size);
    p += info->seq_header_size;
    tec_wl32(p, (uint32_t)meta_size);
    memcpy(p + 4, meta, meta_size);
    free(meta);
    tec_wl32(w->header + 12, tec_crc32(0, w->header + TECV_FIXED_SIZE, w->header_size));
    return 0;
}

/* Appends to a memory writer's buffer, doubling it as it fills. */
static int mem_append(TecvWriter *w, const uint8_t *data, size_t size)
{
    if (size > SIZE_MAX - w->mem_size) {
        set_error(w->error, "stream too large for memory");
        w->failed = 1;
        return TEC_ENOMEM;
    }
    if (w->mem_size + size > w->mem_cap) {
        size_t cap = w->mem_cap ? w->mem_cap : 4096;
        while (cap < w->mem_size + size)
            cap = cap > SIZE_MAX / 2 ? w->mem_size + size : cap * 2;
        uint8_t *mem = realloc(w->mem, cap);
        if (!mem) {
            set_error(w->error, "out of memory for a %zu-byte stream", cap);
            w->failed = 1;
            return TEC_ENOMEM;
        }
        w->mem = mem;
        w->mem_cap = cap;
    }
    if (size)
        memcpy(w->mem + w->mem_size, data, size);
    w->mem_size += size;
    return 0;
}

/* Patching frame_count needs a regular file that is not in append mode. */
static int64_t patch_offset(FILE *f)
{
    struct stat st;
    int fd = fileno(f);
    if (fstat(fd, &st) || !S_ISREG(st.st_mode))
        return -1;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_APPEND))
        return -1;
    return (int64_t)ftello(f);
}

int tec_tecv_open_write_mem(TecvWriter **out, const TecvInfo *info)
{
    TecvWriter *w = calloc(1, sizeof(*w));
    *out = w;
    if (!w)
        return TEC_ENOMEM;
    snprintf(w->error, sizeof(w->error), "no error");
    w->start = -1;
    w->is_mem = 1;
    int ret = build_header(w, info);
    if (ret < 0) {
        w->failed = 1;
        return ret;
    }
    return mem_append(w, w->header, TECV_FIXED_SIZE + w->header_size);
}

int tec_tecv_open_write(TecvWriter **out, const char *path, const TecvInfo *info)
{
    TecvWriter *w = calloc(1, sizeof(*w));
    *out = w;
    if (!w)
        return TEC_ENOMEM;
    snprintf(w->error, sizeof(w->error), "no error");
    w->start = -1;
    int ret = build_header(w, info);
    if (ret < 0) {
        w->failed = 1;
        return ret;
    }
    if (!strcmp(path, "-")) {
        w->f = stdout;
    } else {
        w->f = fopen(path, "wb");
        if (!w->f)
            return write_error(w, errno, path);
        w->own_file = 1;
    }
    w->start = patch_offset(w->f);
    if (fwrite(w->header, 1, TECV_FIXED_SIZE + w->header_size, w->f) !=
        TECV_FIXED_SIZE + w->header_size || fflush(w->f))
        return write_error(w, errno, "writing the .tecv header");
    return 0;
}

int tec_tecv_write_packet(TecvWriter *w, const uint8_t *data, size_t size, int64_t time_ms,
                          int flags)
{
    if (w->failed)
        return w->is_mem ? TEC_ENOMEM : TEC_EIO;
    if ((!data && size) || size > TECP_MAX_PAYLOAD || (flags & ~(TECV_FLAG_KEY | TECV_FLAG_TIME))) {
        set_error(w->error, "invalid packet (size %zu, flags %d)", size, flags);
        return TEC_EINVAL;
    }
    if (w->codec == TEC_CODEC_RAW && size != w->raw_size) {
        set_error(w->error, "raw packet of %zu bytes, frames have %zu", size, w->raw_size);
        return TEC_EINVAL;
    }
    uint8_t head[TECP_SIZE] = { 'T', 'E', 'C', 'P' };
    tec_wl32(head + 4, (uint32_t)size);
    tec_wl64(head + 8, (uint64_t)time_ms);
    head[16] = (uint8_t)flags;
    tec_wl32(head + 20, packet_crc(head, data, size));
    if (w->is_mem) {
        int ret = mem_append(w, head, TECP_SIZE);
        if (ret < 0 || (ret = mem_append(w, data, size)) < 0)
            return ret;
        w->frame_count++;
        return 0;
    }
    if (fwrite(head, 1, TECP_SIZE, w->f) != TECP_SIZE ||
        (size && fwrite(data, 1, size, w->f) != size) || fflush(w->f))
        return write_error(w, errno, "writing a packet");
    w->frame_count++;
    return 0;
}

const char *tec_tecv_writer_error(const TecvWriter *w)
{
    return w ? w->error : "out of memory";
}

/* The header with the current frame count, and so its CRC. */
static void update_header(TecvWriter *w)
{
    tec_wl64(w->header + TECV_COUNT_OFFSET, (uint64_t)w->frame_count);
    tec_wl32(w->header + 12, tec_crc32(0, w->header + TECV_FIXED_SIZE, w->header_size));
}

int tec_tecv_writer_data(TecvWriter *w, const uint8_t **data, size_t *size)
{
    if (!w->is_mem) {
        set_error(w->error, "not a memory writer");
        return TEC_EINVAL;
    }
    if (w->failed)
        return TEC_ENOMEM;
    update_header(w);
    memcpy(w->mem, w->header, TECV_COUNT_OFFSET + 8);
    *data = w->mem;
    *size = w->mem_size;
    return 0;
}

static int patch_frame_count(TecvWriter *w)
{
    update_header(w);
    if (fseeko(w->f, (off_t)w->start, SEEK_SET) ||
        fwrite(w->header, 1, TECV_COUNT_OFFSET + 8, w->f) != TECV_COUNT_OFFSET + 8 ||
        fseeko(w->f, 0, SEEK_END))
        return write_error(w, errno, "patching the frame count");
    return 0;
}

int tec_tecv_close_write(TecvWriter **pw)
{
    TecvWriter *w = pw ? *pw : NULL;
    if (!w)
        return 0;
    int ret = w->failed ? TEC_EIO : 0;
    if (w->f && !w->failed && w->start >= 0)
        ret = patch_frame_count(w);
    if (w->f && fflush(w->f) && !ret)
        ret = TEC_EIO;
    if (w->own_file && fclose(w->f) && !ret)
        ret = TEC_EIO;
    free(w->mem);
    free(w->header);
    free(w);
    *pw = NULL;
    return ret;
}
