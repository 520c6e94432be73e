/* .tecv container: round trips through files, pipes and memory, metadata,
 * every truncation, bit flips, resynchronisation and header validation. */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "tec/tec.h"
#include "bytes.h"
#include "test.h"

#define MAX_PACKETS 8

static char tmp[256];

typedef struct Stream {
    int codec, bands, width, height;
    const uint8_t *seq;
    size_t seq_size;
    int n_meta;
    const char *const *keys, *const *values;
    int n;                              /* packets */
    size_t sizes[MAX_PACKETS];
    uint8_t *payload[MAX_PACKETS];
    int64_t times[MAX_PACKETS];
    int flags[MAX_PACKETS];
} Stream;

/* Deterministic payload bytes that never contain "TECP". */
static void fill_payloads(Stream *s)
{
    for (int i = 0; i < s->n; i++) {
        s->payload[i] = malloc(s->sizes[i] ? s->sizes[i] : 1);
        uint32_t x = 0x9e3779b9u * (uint32_t)(i + 1);
        for (size_t k = 0; k < s->sizes[i]; k++) {
            x = x * 1664525u + 1013904223u;
            s->payload[i][k] = (uint8_t)(x >> 24) & 0x3f;  /* no 'T' (0x54) */
        }
        s->times[i] = 1577836800000LL + 86400000LL * i;
        s->flags[i] = (i == 0 ? TECV_FLAG_KEY : 0) | (i != 1 ? TECV_FLAG_TIME : 0);
    }
}

static void free_payloads(Stream *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->payload[i]);
}

static void stream_info(const Stream *s, TecvInfo *info)
{
    memset(info, 0, sizeof(*info));
    info->codec = s->codec;
    info->bands = s->bands;
    info->width = s->width;
    info->height = s->height;
    info->frame_count = 12345;  /* ignored by the writer */
    info->seq_header = s->seq;
    info->seq_header_size = s->seq_size;
    info->n_meta = s->n_meta;
    info->meta_keys = s->keys;
    info->meta_values = s->values;
}

static int write_stream(const Stream *s, const char *path)
{
    TecvInfo info;
    stream_info(s, &info);
    TecvWriter *w = NULL;
    int ret = tec_tecv_open_write(&w, path, &info);
    if (ret < 0)
        fprintf(stderr, "open_write: %s\n", tec_tecv_writer_error(w));
    for (int i = 0; i < s->n && ret >= 0; i++)
        ret = tec_tecv_write_packet(w, s->payload[i], s->sizes[i], s->times[i], s->flags[i]);
    int ret2 = tec_tecv_close_write(&w);
    CHECK(w == NULL);
    return ret < 0 ? ret : ret2;
}

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc(n > 0 ? (size_t)n : 1);
    *size = fread(d, 1, (size_t)n, f);
    fclose(f);
    return d;
}

static void spill(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

static void tmp_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", tmp, name);
}

/* Reads every packet.  The result string has one letter per call:
 * digit = the index of the matching original packet, 'E' = corrupt,
 * '?' = an unknown payload, '!' = any other error.  Stops at EOF. */
static void read_all(TecvReader *r, const Stream *s, char *out, size_t outlen, int check_meta)
{
    size_t used = 0;
    int next = 0;
    for (int calls = 0; calls < 64 && used + 1 < outlen; calls++) {
        const uint8_t *data;
        size_t size;
        int64_t t;
        int flags;
        int ret = tec_tecv_read_packet(r, &data, &size, &t, &flags);
        if (ret == TEC_EOF)
            break;
        char c = '!';
        if (ret == TEC_EBITSTREAM) {
            c = 'E';
        } else if (ret == 0) {
            c = '?';
            for (int i = next; i < s->n; i++) {
                if (size == s->sizes[i] && !memcmp(data, s->payload[i], size)) {
                    c = (char)('0' + i);
                    next = i + 1;
                    if (check_meta && (t != s->times[i] || flags != s->flags[i]))
                        c = 't';
                    break;
                }
            }
        }
        out[used++] = c;
        if (c == '!')
            break;
    }
    out[used] = '\0';
}

static void expect_sequence(TecvReader *r, const Stream *s, const char *want, int line)
{
    char got[80];
    read_all(r, s, got, sizeof(got), 1);
    if (strcmp(got, want)) {
        fprintf(stderr, "line %d: packets '%s', expected '%s' (%s)\n", line, got, want,
                tec_tecv_reader_error(r));
        test_failed++;
    } else {
        test_passed++;
    }
}

static const char *const meta_keys[] = { "bands", "dates", "crs", "x-vendor-note", "empty" };
static const char *const meta_values[] = {
    "B02,B03",
    "2020-01-01,2020-01-02,2020-01-03",
    "Z\xc3\xbcrich \xe2\x80\x93 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x8c\x8d",
    "kept verbatim = yes\nsecond line",
    "",
};

static void test_raw_roundtrip(void)
{
    Stream s = { .codec = TEC_CODEC_RAW, .bands = 2, .width = 7, .height = 5, .n = 3,
                 .n_meta = 5, .keys = meta_keys, .values = meta_values };
    for (int i = 0; i < s.n; i++)
        s.sizes[i] = 2 * 7 * 5 * 2;
    fill_payloads(&s);
    char path[300];
    tmp_path(path, sizeof(path), "raw.tecv");
    CHECK_EQ_INT(write_stream(&s, path), 0);

    TecvReader *r = NULL;
    CHECK_EQ_INT(tec_tecv_open_read(&r, path), 0);
    const TecvInfo *info = tec_tecv_info(r);
    CHECK_EQ_INT(info->codec, TEC_CODEC_RAW);
    CHECK_EQ_INT(info->bands, 2);
    CHECK_EQ_INT(info->width, 7);
    CHECK_EQ_INT(info->height, 5);
    CHECK_EQ_INT(info->frame_count, 3);  /* patched: the file is seekable */
    CHECK_EQ_INT(info->seq_header_size, 0);
    CHECK_EQ_INT(info->n_meta, 5);
    for (int i = 0; i < 5 && i < info->n_meta; i++) {
        CHECK(!strcmp(info->meta_keys[i], meta_keys[i]));
        CHECK(!strcmp(info->meta_values[i], meta_values[i]));
        CHECK(tec_tecv_meta(info, meta_keys[i]) == info->meta_values[i]);
    }
    CHECK(!tec_tecv_meta(info, "nodata"));
    expect_sequence(r, &s, "012", __LINE__);
    const uint8_t *d;
    size_t n;
    CHECK_EQ_INT(tec_tecv_read_packet(r, &d, &n, NULL, NULL), TEC_EOF);
    tec_tecv_close_read(&r);
    CHECK(r == NULL);
    tec_tecv_close_read(&r);
    unlink(path);
    free_payloads(&s);
}

static const uint8_t seq_header[37] = "TECS\x01 not parsed by the container";

static void test_tec_roundtrip(void)
{
    /* Packets larger than the reader's scan and read steps. */
    Stream s = { .codec = TEC_CODEC_TEC, .bands = 13, .width = 10980, .height = 10980, .n = 5,
                 .seq = seq_header, .seq_size = sizeof(seq_header),
                 .sizes = { 0, 1, 300000, 5, 70000 } };
    fill_payloads(&s);
    char path[300];
    tmp_path(path, sizeof(path), "tec.tecv");
    CHECK_EQ_INT(write_stream(&s, path), 0);

    TecvReader *r = NULL;
    CHECK_EQ_INT(tec_tecv_open_read(&r, path), 0);
    const TecvInfo *info = tec_tecv_info(r);
    CHECK_EQ_INT(info->codec, TEC_CODEC_TEC);
    CHECK_EQ_INT(info->width, 10980);
    CHECK_EQ_INT(info->frame_count, 5);
    CHECK_EQ_INT(info->n_meta, 0);
    CHECK(info->seq_header_size == sizeof(seq_header) &&
          !memcmp(info->seq_header, seq_header, sizeof(seq_header)));
    expect_sequence(r, &s, "01234", __LINE__);
    tec_tecv_close_read(&r);

    /* The same through the memory reader and through stdin. */
    size_t size;
    uint8_t *data = slurp(path, &size);
    CHECK_EQ_INT(tec_tecv_open_read_mem(&r, data, size), 0);
    expect_sequence(r, &s, "01234", __LINE__);
    tec_tecv_close_read(&r);

    int saved = dup(0), fd = open(path, O_RDONLY);
    dup2(fd, 0);
    close(fd);
    CHECK_EQ_INT(tec_tecv_open_read(&r, "-"), 0);
    expect_sequence(r, &s, "01234", __LINE__);
    tec_tecv_close_read(&r);
    dup2(saved, 0);
    close(saved);
    clearerr(stdin);

    /* Damage the big packet: the file reader resyncs over 300 kB. */
    size_t big = 16 + tec_rl32(data + 8) + 24 + 0 + 24 + 1 + 24 + 1000;
    data[big] ^= 0x40;
    spill(path, data, size);
    CHECK_EQ_INT(tec_tecv_open_read(&r, path), 0);
    expect_sequence(r, &s, "01E34", __LINE__);
    tec_tecv_close_read(&r);
    free(data);
    unlink(path);
    free_payloads(&s);
}

/* stdout redirected to a pipe or an append-mode file: no frame count. */
static void test_unseekable(void)
{
    Stream s = { .codec = TEC_CODEC_TEC, .bands = 1, .width = 16, .height = 16, .n = 3,
                 .seq = seq_header, .seq_size = sizeof(seq_header), .sizes = { 100, 200, 300 },
                 .n_meta = 2, .keys = meta_keys, .values = meta_values };
    fill_payloads(&s);
    fflush(stdout);
    int saved = dup(1);

    int fds[2];
    CHECK_EQ_INT(pipe(fds), 0);
    dup2(fds[1], 1);
    close(fds[1]);
    int ret = write_stream(&s, "-");
    fflush(stdout);
    dup2(saved, 1);  /* closes the pipe's last write end */
    CHECK_EQ_INT(ret, 0);
    uint8_t buf[4096];
    size_t size = 0;
    ssize_t got;
    while ((got = read(fds[0], buf + size, sizeof(buf) - size)) > 0)
        size += (size_t)got;
    close(fds[0]);

    TecvReader *r = NULL;
    CHECK_EQ_INT(tec_tecv_open_read_mem(&r, buf, size), 0);
    CHECK_EQ_INT(tec_tecv_info(r)->frame_count, 0);
    CHECK(tec_tecv_meta(tec_tecv_info(r), "dates") &&
          !strcmp(tec_tecv_meta(tec_tecv_info(r), "dates"), meta_values[1]));
    expect_sequence(r, &s, "012", __LINE__);
    tec_tecv_close_read(&r);

    char path[300];
    tmp_path(path, sizeof(path), "append.tecv");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0666);
    dup2(fd, 1);
    close(fd);
    ret = write_stream(&s, "-");
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    CHECK_EQ_INT(ret, 0);
    CHECK_EQ_INT(tec_tecv_open_read(&r, path), 0);
    CHECK_EQ_INT(tec_tecv_info(r)->frame_count, 0);
    expect_sequence(r, &s, "012", __LINE__);
    tec_tecv_close_read(&r);
    unlink(path);
    free_payloads(&s);
}

/* A small file for the exhaustive tests. */
static Stream small = { .codec = TEC_CODEC_TEC, .bands = 3, .width = 20, .height = 10, .n = 4,
                        .seq = seq_header, .seq_size = 9, .sizes = { 10, 0, 30, 7 },
                        .n_meta = 2, .keys = meta_keys, .values = meta_values };
static uint8_t *small_file;
static size_t small_size, small_header_end, small_packet_end[MAX_PACKETS];

static void make_small(void)
{
    fill_payloads(&small);
    char path[300];
    tmp_path(path, sizeof(path), "small.tecv");
    CHECK_EQ_INT(write_stream(&small, path), 0);
    small_file = slurp(path, &small_size);
    unlink(path);
    small_header_end = 16 + tec_rl32(small_file + 8);
    size_t pos = small_header_end;
    for (int i = 0; i < small.n; i++) {
        pos += 24 + small.sizes[i];
        small_packet_end[i] = pos;
    }
    CHECK_EQ_INT(pos, small_size);
}

static void test_truncations(void)
{
    int bad = 0;
    for (size_t n = 0; n <= small_size; n++) {
        uint8_t *copy = malloc(n ? n : 1);  /* exact size: ASan sees overreads */
        memcpy(copy, small_file, n);
        TecvReader *r = NULL;
        int ret = tec_tecv_open_read_mem(&r, copy, n);
        if (n < small_header_end) {
            bad += ret >= 0;
        } else if (ret < 0) {
            bad++;
        } else {
            char want[16] = "", got[80];
            int k = 0;
            while (k < small.n && small_packet_end[k] <= n) {
                want[k] = (char)('0' + k);
                k++;
            }
            if (k < small.n && n > (k ? small_packet_end[k - 1] : small_header_end))
                want[k++] = 'E';
            want[k] = '\0';
            read_all(r, &small, got, sizeof(got), 1);
            if (strcmp(got, want)) {
                fprintf(stderr, "truncated at %zu: '%s', expected '%s'\n", n, got, want);
                bad++;
            }
        }
        tec_tecv_close_read(&r);
        free(copy);
    }
    CHECK_EQ_INT(bad, 0);
}

/* Is `got` the original packet sequence with at most one packet replaced
 * by a single 'E'? */
static int at_most_one_lost(const char *got, int n)
{
    char want[16];
    for (int i = 0; i < n; i++)
        want[i] = (char)('0' + i);
    want[n] = '\0';
    if (!strcmp(got, want))
        return 1;
    for (int skip = 0; skip < n; skip++) {
        char alt[16];
        int k = 0;
        for (int i = 0; i < n; i++)
            alt[k++] = i == skip ? 'E' : (char)('0' + i);
        alt[k] = '\0';
        if (!strcmp(got, alt))
            return 1;
    }
    return 0;
}

static void test_bit_flips(void)
{
    int bad = 0;
    uint8_t *copy = malloc(small_size);
    for (size_t i = 0; i < small_size; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, small_file, small_size);
            copy[i] ^= (uint8_t)(1 << bit);
            TecvReader *r = NULL;
            int ret = tec_tecv_open_read_mem(&r, copy, small_size);
            /* The header is fully covered by magic, version and CRC except
             * the minor version and the reserved byte. */
            int header_ok = i == 5 || i == 7;
            if (i < small_header_end) {
                if ((ret == 0) != header_ok)
                    bad++;
            } else if (ret < 0) {
                bad++;
            } else {
                char got[80];
                /* The packet CRC covers times and flags: every packet that
                 * comes out must carry its own payload, time and flags. */
                read_all(r, &small, got, sizeof(got), 1);
                if (!at_most_one_lost(got, small.n)) {
                    fprintf(stderr, "flip %zu.%d: '%s'\n", i, bit, got);
                    bad++;
                }
            }
            tec_tecv_close_read(&r);
        }
    }
    free(copy);
    CHECK_EQ_INT(bad, 0);
}

/* Corrupt packet 2 of a 5-packet stream in various ways: the reader must
 * report it once and deliver 0, 1, 3, 4 both from memory and from a file. */
static void test_resync(void)
{
    Stream s = { .codec = TEC_CODEC_TEC, .bands = 1, .width = 8, .height = 8, .n = 5,
                 .seq = seq_header, .seq_size = 4, .sizes = { 50, 60, 70, 80, 90 } };
    fill_payloads(&s);
    char path[300], path2[300];
    tmp_path(path, sizeof(path), "resync.tecv");
    tmp_path(path2, sizeof(path2), "resync2.tecv");
    CHECK_EQ_INT(write_stream(&s, path), 0);
    size_t size;
    uint8_t *orig = slurp(path, &size);
    size_t p2 = 16 + tec_rl32(orig + 8) + 24 + 50 + 24 + 60;  /* packet 2 */
    size_t p4 = p2 + 24 + 70 + 24 + 80;

    enum { PAYLOAD, SYNC, HUGE, MAXSIZE, SMALLER, DECOY, FIRST, LAST, TAIL, N_CASES };
    static const char *const want[N_CASES] = {
        "01E34", "01E34", "01E34", "01E34", "01E34", "01E34", "E1234", "0123E", "01234E",
    };
    uint8_t *data = malloc(size + 64);
    for (int c = 0; c < N_CASES; c++) {
        size_t n = size;
        memcpy(data, orig, size);
        switch (c) {
        case PAYLOAD: data[p2 + 24 + 33] ^= 1; break;
        case SYNC:    data[p2 + 3] = 'X'; break;
        case HUGE:    tec_wl32(data + p2 + 4, 0xffffffffu); break;
        case MAXSIZE: tec_wl32(data + p2 + 4, 0x80000000u); break;
        case SMALLER: tec_wl32(data + p2 + 4, 20); break;
        case DECOY:   /* a fake packet header inside the damaged payload */
            memcpy(data + p2 + 24 + 10, "TECP\x05\0\0\0", 8);
            data[p2 + 24 + 60] ^= 1;
            break;
        case FIRST:   data[16 + tec_rl32(orig + 8) + 24] ^= 0x80; break;
        case LAST:    data[p4 + 20] ^= 0x10; break;
        case TAIL:    memcpy(data + size, "TECP garbage after the last packet", 34); n += 34; break;
        }
        TecvReader *r = NULL;
        CHECK_EQ_INT(tec_tecv_open_read_mem(&r, data, n), 0);
        expect_sequence(r, &s, want[c], __LINE__ * 100 + c);
        tec_tecv_close_read(&r);

        spill(path2, data, n);
        CHECK_EQ_INT(tec_tecv_open_read(&r, path2), 0);
        expect_sequence(r, &s, want[c], __LINE__ * 100 + c);
        tec_tecv_close_read(&r);
    }
    free(data);
    free(orig);
    unlink(path);
    unlink(path2);
    free_payloads(&s);
}

/* A size field beyond the end of a file makes the reader scan the following
 * bytes in steps; with this payload size the next sync straddles two steps
 * unless the scan keeps the tail of each step. */
static void test_resync_scan_steps(void)
{
    char path[300];
    tmp_path(path, sizeof(path), "steps.tecv");
    for (size_t size = 65530; size <= 65540; size++) {
        Stream s = { .codec = TEC_CODEC_TEC, .bands = 1, .width = 8, .height = 8, .n = 3,
                     .seq = seq_header, .seq_size = 4, .sizes = { 10, size, 10 } };
        fill_payloads(&s);
        CHECK_EQ_INT(write_stream(&s, path), 0);
        size_t n;
        uint8_t *data = slurp(path, &n);
        size_t p1 = 16 + tec_rl32(data + 8) + 24 + 10;
        tec_wl32(data + p1 + 4, 0x7fffffffu);
        spill(path, data, n);
        TecvReader *r = NULL;
        CHECK_EQ_INT(tec_tecv_open_read(&r, path), 0);
        expect_sequence(r, &s, "0E2", __LINE__);
        tec_tecv_close_read(&r);
        free(data);
        free_payloads(&s);
    }
    unlink(path);
}

/* ---- crafted headers ------------------------------------------------------ */

static size_t zstd_frame(uint8_t *out, size_t cap, const void *raw, size_t n, int with_size)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, with_size);
    size_t r = ZSTD_compress2(cctx, out, cap, raw, n);
    ZSTD_freeCCtx(cctx);
    if (ZSTD_isError(r)) {
        fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(r));
        exit(2);
    }
    return r;
}

typedef struct Craft {
    int major, codec;
    uint32_t bands, width, height;
    uint64_t frame_count;
    uint32_t seq_size;          /* bytes of seq_header written */
    uint32_t seq_claim;         /* the size field (normally seq_size) */
    const uint8_t *meta;        /* already compressed */
    uint32_t meta_size, meta_claim;
    uint32_t extra;             /* bytes after the metadata */
    int bad_crc;
} Craft;

static size_t craft(uint8_t *out, const Craft *c)
{
    uint8_t *h = out + 16;
    tec_wl16(h, (uint16_t)c->bands);
    tec_wl32(h + 2, c->width);
    tec_wl32(h + 6, c->height);
    tec_wl64(h + 10, c->frame_count);
    tec_wl32(h + 18, c->seq_claim);
    memcpy(h + 22, seq_header, c->seq_size);
    size_t pos = 22 + c->seq_size;
    tec_wl32(h + pos, c->meta_claim);
    memcpy(h + pos + 4, c->meta, c->meta_size);
    pos += 4 + c->meta_size;
    memset(h + pos, 0xab, c->extra);
    pos += c->extra;
    memcpy(out, "TECV", 4);
    out[4] = (uint8_t)c->major;
    out[5] = 0;
    out[6] = (uint8_t)c->codec;
    out[7] = 0;
    tec_wl32(out + 8, (uint32_t)pos);
    tec_wl32(out + 12, tec_crc32(0, h, pos) ^ (uint32_t)c->bad_crc);
    return 16 + pos;
}

static Craft base_craft(void)
{
    static uint8_t meta[64];
    static const uint8_t raw[4] = { 0 };
    Craft c = { .major = 2, .codec = TEC_CODEC_TEC, .bands = 4, .width = 64, .height = 32,
                .seq_size = 8, .seq_claim = 8, .meta = meta };
    c.meta_size = c.meta_claim = (uint32_t)zstd_frame(meta, sizeof(meta), raw, 4, 1);
    return c;
}

static void expect_open(const uint8_t *data, size_t size, int code, const char *what, int line)
{
    TecvReader *r = NULL;
    int ret = tec_tecv_open_read_mem(&r, data, size);
    const char *msg = tec_tecv_reader_error(r);
    if (ret != code || (what && !strstr(msg, what))) {
        fprintf(stderr, "line %d: open gave %d '%s', expected %d '%s'\n", line, ret, msg, code,
                what ? what : "");
        test_failed++;
    } else {
        test_passed++;
    }
    if (!ret) {  /* nothing but the header: EOF at once */
        const uint8_t *d;
        size_t n;
        CHECK_EQ_INT(tec_tecv_read_packet(r, &d, &n, NULL, NULL), TEC_EOF);
    } else {
        const uint8_t *d;
        size_t n;  /* reading a failed reader is refused, not a crash */
        CHECK(tec_tecv_read_packet(r, &d, &n, NULL, NULL) < 0);
    }
    tec_tecv_close_read(&r);
}

/* Metadata from a raw (uncompressed) key/value block. */
static void expect_meta(const void *raw, size_t n, int with_size, int code, const char *what,
                        int line)
{
    static uint8_t meta[1 << 16], out[1 << 17];
    Craft c = base_craft();
    c.meta = meta;
    c.meta_size = c.meta_claim = (uint32_t)zstd_frame(meta, sizeof(meta), raw, n, with_size);
    expect_open(out, craft(out, &c), code, what, line);
}

static void test_header_errors(void)
{
    static uint8_t out[1 << 16];
    Craft c = base_craft();
    size_t n = craft(out, &c);
    expect_open(out, n, 0, NULL, __LINE__);

    out[5] = 9;  /* any minor version */
    expect_open(out, n, 0, NULL, __LINE__);
    out[0] = 'X';
    expect_open(out, n, TEC_EBITSTREAM, "magic", __LINE__);

    c = base_craft(); c.major = 1;  /* packet CRCs without times and flags */
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "version 1", __LINE__);
    c = base_craft(); c.major = 3;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "version 3", __LINE__);
    c = base_craft(); c.codec = 7;
    expect_open(out, craft(out, &c), TEC_EUNSUPPORTED, "codec 7", __LINE__);
    c = base_craft(); c.bad_crc = 1;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "CRC", __LINE__);
    c = base_craft(); c.bands = 0;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "band", __LINE__);
    c = base_craft(); c.bands = 65;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "band", __LINE__);
    c = base_craft(); c.width = 0;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "width", __LINE__);
    c = base_craft(); c.width = 65536;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "width", __LINE__);
    c = base_craft(); c.height = 70000;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "height", __LINE__);
    c = base_craft(); c.frame_count = UINT64_MAX;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "frame count", __LINE__);
    c = base_craft(); c.seq_size = c.seq_claim = 0;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "without a sequence header", __LINE__);
    c = base_craft(); c.codec = TEC_CODEC_RAW;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "raw stream with", __LINE__);
    c = base_craft(); c.seq_claim = 1000;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "past header_size", __LINE__);
    c = base_craft(); c.seq_claim = 0xffffffffu;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "past header_size", __LINE__);
    c = base_craft(); c.meta_claim = c.meta_size + 1;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "past header_size", __LINE__);
    c = base_craft(); c.meta_claim = c.meta_size - 1; c.extra = 1;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "metadata", __LINE__);
    c = base_craft(); c.extra = 40;  /* a later minor version's fields */
    expect_open(out, craft(out, &c), 0, NULL, __LINE__);
    c = base_craft(); c.meta_size = c.meta_claim = 0;  /* no metadata at all */
    expect_open(out, craft(out, &c), 0, NULL, __LINE__);
    c = base_craft(); c.codec = TEC_CODEC_RAW; c.seq_size = c.seq_claim = 0;
    c.bands = 64; c.width = c.height = 65535;
    expect_open(out, craft(out, &c), TEC_EUNSUPPORTED, "2 GiB", __LINE__);

    /* header_size below the minimum, beyond the file, or absurd. */
    c = base_craft();
    n = craft(out, &c);
    tec_wl32(out + 8, 25);
    expect_open(out, n, TEC_EBITSTREAM, "header_size", __LINE__);
    tec_wl32(out + 8, (uint32_t)n);
    expect_open(out, n, TEC_EBITSTREAM, "ends inside", __LINE__);
    tec_wl32(out + 8, 0xfffffff0u);
    expect_open(out, n, TEC_EBITSTREAM, "header_size", __LINE__);
    expect_open(out, 10, TEC_EBITSTREAM, "short", __LINE__);

    /* Metadata blocks. */
    uint8_t raw[256];
    memset(raw, 0, sizeof(raw));
    expect_meta(raw, 4, 0, TEC_EBITSTREAM, "known size", __LINE__);
    expect_meta(raw, 3, 1, TEC_EBITSTREAM, "size out of range", __LINE__);
    tec_wl32(raw, 100);
    expect_meta(raw, 16, 1, TEC_EBITSTREAM, "count", __LINE__);
    tec_wl32(raw, 1);
    tec_wl16(raw + 4, 10);  /* key longer than the block */
    expect_meta(raw, 12, 1, TEC_EBITSTREAM, "past the block", __LINE__);
    tec_wl16(raw + 4, 1);
    raw[6] = 'k';
    tec_wl32(raw + 7, 0xffffffffu);  /* value length */
    expect_meta(raw, 12, 1, TEC_EBITSTREAM, "past the block", __LINE__);
    tec_wl32(raw + 7, 1);
    raw[11] = 'v';
    expect_meta(raw, 12, 1, 0, NULL, __LINE__);
    expect_meta(raw, 13, 1, TEC_EBITSTREAM, "stray", __LINE__);
    raw[6] = '\0';
    expect_meta(raw, 12, 1, TEC_EBITSTREAM, "NUL", __LINE__);

    /* More than 16 MiB once decompressed: refused before decompressing. */
    size_t big = (16u << 20) + 1;
    uint8_t *zeros = calloc(1, big);
    expect_meta(zeros, big, 1, TEC_EBITSTREAM, "size out of range", __LINE__);
    free(zeros);

    /* A metadata block that is a broken zstd frame. */
    static uint8_t meta[64];
    c = base_craft();
    memcpy(meta, c.meta, c.meta_size);
    meta[c.meta_size - 1] ^= 0xff;
    c.meta = meta;
    expect_open(out, craft(out, &c), TEC_EBITSTREAM, "metadata", __LINE__);
}

/* A raw packet of the wrong size is corrupt even with a good CRC. */
static void test_raw_size(void)
{
    Stream s = { .codec = TEC_CODEC_RAW, .bands = 1, .width = 2, .height = 2, .n = 2,
                 .sizes = { 8, 8 } };
    fill_payloads(&s);
    char path[300];
    tmp_path(path, sizeof(path), "rawsize.tecv");
    CHECK_EQ_INT(write_stream(&s, path), 0);
    size_t size;
    uint8_t *orig = slurp(path, &size);
    size_t p1 = 16 + tec_rl32(orig + 8) + 24 + 8;
    uint8_t *data = malloc(size + 30);
    memcpy(data, orig, p1);
    uint8_t *bad = data + p1;  /* a 6-byte packet with a valid CRC */
    memcpy(bad, "TECP", 4);
    tec_wl32(bad + 4, 6);
    memset(bad + 8, 0, 12);
    memcpy(bad + 24, "abcdef", 6);
    tec_wl32(bad + 20, tec_crc32(tec_crc32(0, bad + 8, 12), bad + 24, 6));
    memcpy(bad + 30, orig + p1, size - p1);
    TecvReader *r = NULL;
    CHECK_EQ_INT(tec_tecv_open_read_mem(&r, data, size + 30), 0);
    expect_sequence(r, &s, "0E1", __LINE__);
    tec_tecv_close_read(&r);
    free(data);
    free(orig);
    unlink(path);
    free_payloads(&s);
}

static void test_writer_errors(void)
{
    char path[300];
    tmp_path(path, sizeof(path), "w.tecv");
    static const char *const bad_key[] = { "" };
    static const char *const one_value[] = { "v" };
    static const char *const null_key[] = { NULL };
    struct { TecvInfo info; } cases[] = {
        { { .codec = 2, .bands = 1, .width = 1, .height = 1 } },
        { { .codec = TEC_CODEC_RAW, .bands = 0, .width = 1, .height = 1 } },
        { { .codec = TEC_CODEC_RAW, .bands = 65, .width = 1, .height = 1 } },
        { { .codec = TEC_CODEC_RAW, .bands = 1, .width = 65536, .height = 1 } },
        { { .codec = TEC_CODEC_RAW, .bands = 64, .width = 65535, .height = 65535 } },
        { { .codec = TEC_CODEC_TEC, .bands = 1, .width = 1, .height = 1 } },
        { { .codec = TEC_CODEC_RAW, .bands = 1, .width = 1, .height = 1,
            .seq_header = seq_header, .seq_header_size = 4 } },
        { { .codec = TEC_CODEC_RAW, .bands = 1, .width = 1, .height = 1, .n_meta = 1,
            .meta_keys = bad_key, .meta_values = one_value } },
        { { .codec = TEC_CODEC_RAW, .bands = 1, .width = 1, .height = 1, .n_meta = 1,
            .meta_keys = null_key, .meta_values = one_value } },
        { { .codec = TEC_CODEC_RAW, .bands = 1, .width = 1, .height = 1, .n_meta = -1 } },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        TecvWriter *w = NULL;
        int ret = tec_tecv_open_write(&w, path, &cases[i].info);
        if (ret != TEC_EINVAL)
            fprintf(stderr, "writer case %zu: %d\n", i, ret);
        CHECK_EQ_INT(ret, TEC_EINVAL);
        CHECK(w && strlen(tec_tecv_writer_error(w)) > 0);
        tec_tecv_close_write(&w);
    }

    TecvInfo info = { .codec = TEC_CODEC_RAW, .bands = 1, .width = 2, .height = 1 };
    TecvWriter *w = NULL;
    CHECK_EQ_INT(tec_tecv_open_write(&w, path, &info), 0);
    uint8_t px[4] = { 1, 2, 3, 4 };
    CHECK_EQ_INT(tec_tecv_write_packet(w, px, 3, 0, 0), TEC_EINVAL);
    CHECK(strstr(tec_tecv_writer_error(w), "raw packet") != NULL);
    CHECK_EQ_INT(tec_tecv_write_packet(w, px, 4, 0, 4), TEC_EINVAL);
    CHECK_EQ_INT(tec_tecv_write_packet(w, NULL, 4, 0, 0), TEC_EINVAL);
    CHECK_EQ_INT(tec_tecv_write_packet(w, px, 4, -5, TECV_FLAG_TIME), 0);
    CHECK_EQ_INT(tec_tecv_close_write(&w), 0);
    TecvReader *r = NULL;
    CHECK_EQ_INT(tec_tecv_open_read(&r, path), 0);
    const uint8_t *d;
    size_t n;
    int64_t t = 0;
    int flags = 0;
    CHECK_EQ_INT(tec_tecv_info(r)->frame_count, 1);
    CHECK_EQ_INT(tec_tecv_read_packet(r, &d, &n, &t, &flags), 0);
    CHECK(n == 4 && !memcmp(d, px, 4) && t == -5 && flags == TECV_FLAG_TIME);
    tec_tecv_close_read(&r);
    unlink(path);

    char missing[400];
    snprintf(missing, sizeof(missing), "%s/no/such/dir.tecv", tmp);
    CHECK_EQ_INT(tec_tecv_open_write(&w, missing, &info), TEC_EIO);
    CHECK(strstr(tec_tecv_writer_error(w), missing) != NULL);
    tec_tecv_close_write(&w);
    CHECK_EQ_INT(tec_tecv_open_read(&r, missing), TEC_EIO);
    CHECK(strstr(tec_tecv_reader_error(r), missing) != NULL);
    tec_tecv_close_read(&r);
    CHECK(tec_tecv_reader_error(NULL) != NULL && tec_tecv_writer_error(NULL) != NULL);
    CHECK(tec_tecv_meta(NULL, "x") == NULL);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof(tmp), "%s/tec_container_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 2;
    }
    test_raw_roundtrip();
    test_tec_roundtrip();
    test_unseekable();
    make_small();
    test_truncations();
    test_bit_flips();
    test_resync();
    test_resync_scan_steps();
    test_header_errors();
    test_raw_size();
    test_writer_errors();
    free_payloads(&small);
    free(small_file);
    rmdir(tmp);
    return test_report("container");
}
