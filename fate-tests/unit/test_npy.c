/* .npy reader/writer of the tec tool: headers numpy writes, the errors for
 * what it cannot take, frames and stripes at their offsets. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tec/tec.h"
#include "../../tools/npy.h"
#include "test.h"

static char tmp[256];

static void tmp_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", tmp, name);
}

/* A file with the given header dict and data bytes, as numpy would lay it
 * out for format version `major`. */
static void write_npy(const char *path, int major, const char *dict, size_t data_bytes)
{
    size_t prefix = major == 1 ? 10 : 12, len = strlen(dict);
    size_t total = (prefix + len + 1 + 63) / 64 * 64;
    size_t hlen = total - prefix;
    uint8_t head[512];
    memcpy(head, "\x93NUMPY", 6);
    head[6] = (uint8_t)major;
    head[7] = 0;
    for (size_t i = 0; i < prefix - 8; i++)
        head[8 + i] = (uint8_t)(hlen >> (8 * i));
    memcpy(head + prefix, dict, len);
    memset(head + prefix + len, ' ', hlen - len - 1);
    head[total - 1] = '\n';
    FILE *f = fopen(path, "wb");
    fwrite(head, 1, total, f);
    for (size_t i = 0; i < data_bytes; i++)
        fputc((int)(i * 7 & 0xff), f);
    fclose(f);
}

static void expect_open(const char *dict, int major, size_t data_bytes, int code,
                        const char *what, int line)
{
    char path[300], err[400] = "";
    tmp_path(path, sizeof(path), "h.npy");
    write_npy(path, major, dict, data_bytes);
    NpyFile f;
    int ret = npy_open_read(&f, path, err, sizeof(err));
    if (ret != code || (what && !strstr(err, what)) || (ret < 0 && !strstr(err, path))) {
        fprintf(stderr, "line %d: %d '%s', expected %d '%s'\n", line, ret, err, code,
                what ? what : "");
        test_failed++;
    } else {
        test_passed++;
    }
    npy_close(&f, err, sizeof(err));
    unlink(path);
}

static void test_headers(void)
{
    /* Accepted forms, versions 1 to 3. */
    expect_open("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3, 4), }", 1, 48, 0,
                NULL, __LINE__);
    expect_open("{'descr': '|u2', 'fortran_order': False, 'shape': (1, 2, 3, 4)}", 2, 48, 0,
                NULL, __LINE__);
    expect_open("{\"descr\":\"=u2\",\"fortran_order\":False,\"shape\":(2,3,4)}", 3, 48, 0, NULL,
                __LINE__);
    expect_open("{'shape': (2L, 3L, 4L), 'fortran_order': False, 'descr': 'u2'}", 1, 48, 0,
                NULL, __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3, 4), }", 1, 60, 0,
                NULL, __LINE__);  /* trailing bytes are harmless */

    /* Rejected, each with a message that says why. */
    expect_open("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }", 1, 96,
                TEC_EINVAL, "'<f4'", __LINE__);
    expect_open("{'descr': '<u1', 'fortran_order': False, 'shape': (2, 3, 4), }", 1, 96,
                TEC_EINVAL, "'<u1'", __LINE__);
    expect_open("{'descr': '>u2', 'fortran_order': False, 'shape': (2, 3, 4), }", 1, 48,
                TEC_EINVAL, "big-endian", __LINE__);
    expect_open("{'descr': [('a', '<u2')], 'fortran_order': False, 'shape': (2, 3, 4), }", 1,
                48, TEC_EINVAL, "structured", __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': True, 'shape': (2, 3, 4), }", 1, 48,
                TEC_EINVAL, "Fortran", __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': False, 'shape': (3, 4), }", 1, 24,
                TEC_EINVAL, "rank 2", __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': False, 'shape': (12,), }", 1, 24,
                TEC_EINVAL, "(12,) has rank 1", __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5), }", 1, 240,
                TEC_EINVAL, "rank 5", __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 0, 4), }", 1, 0,
                TEC_EINVAL, "zero-sized", __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': False, 'shape': (0, 2, 3, 4), }", 1, 0,
                TEC_EINVAL, "zero-sized", __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3, 4), }", 1, 47,
                TEC_EINVAL, "holds 47 bytes", __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': False, 'shape': (99999999999, 99999999999, "
                "99999999999), }", 1, 0, TEC_EINVAL, "too large", __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': False}", 1, 0, TEC_EINVAL, "lacks", __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3, 4), 'x': 1}", 1, 48,
                TEC_EINVAL, "'x'", __LINE__);
    expect_open("{'descr': '<u2' 'fortran_order': False, 'shape': (2, 3, 4)}", 1, 48,
                TEC_EINVAL, "malformed", __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3, 4", 1, 48,
                TEC_EINVAL, "malformed", __LINE__);
    expect_open("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3, 4)}", 4, 48,
                TEC_EINVAL, "version 4", __LINE__);

    char path[300], err[400];
    tmp_path(path, sizeof(path), "bad.npy");
    FILE *f = fopen(path, "wb");
    fputs("PK\x03\x04 this is a zip", f);
    fclose(f);
    NpyFile n;
    CHECK_EQ_INT(npy_open_read(&n, path, err, sizeof(err)), TEC_EINVAL);
    CHECK(strstr(err, "magic") != NULL);
    f = fopen(path, "wb");
    fwrite("\x93NUMPY\x01\x00\xff\x00{'descr'", 1, 18, f);  /* header longer than the file */
    fclose(f);
    CHECK_EQ_INT(npy_open_read(&n, path, err, sizeof(err)), TEC_EINVAL);
    CHECK(strstr(err, "truncated") != NULL);
    unlink(path);
    CHECK_EQ_INT(npy_open_read(&n, path, err, sizeof(err)), TEC_EIO);
    CHECK(strstr(err, path) != NULL);
}

static uint16_t sample(int64_t t, int64_t b, int64_t y, int64_t x)
{
    return (uint16_t)(t * 40503 + b * 1009 + y * 131 + x * 7 + (x & 1) * 0x8000);
}

static void test_frames(void)
{
    enum { T = 3, C = 4, H = 9, W = 11 };
    char path[300], err[400] = "";
    tmp_path(path, sizeof(path), "cube.npy");
    NpyFile f;
    CHECK_EQ_INT(npy_create(&f, path, 4, T, C, H, W, err, sizeof(err)), 0);
    CHECK(f.data_offset % 64 == 0);

    /* Frames written out of order. */
    static uint16_t frame[C * H * W], back[C * H * W];
    for (int t = T - 1; t >= 0; t--) {
        for (int b = 0; b < C; b++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    frame[(b * H + y) * W + x] = sample(t, b, y, x);
        CHECK_EQ_INT(npy_write_frame(&f, t, frame, err, sizeof(err)), 0);
    }
    CHECK_EQ_INT(npy_close(&f, err, sizeof(err)), 0);

    struct stat st;
    CHECK(!stat(path, &st) && st.st_size == f.data_offset + 2 * T * C * H * W);
    FILE *raw = fopen(path, "rb");
    char head[256] = "";
    CHECK(raw && fread(head, 1, 255, raw) == 255);
    fclose(raw);
    CHECK(strstr(head + 10, "'shape': (3, 4, 9, 11)") != NULL);
    CHECK(strstr(head + 10, "'descr': '<u2'") != NULL);
    CHECK(head[f.data_offset - 1] == '\n');
    /* Samples are little-endian: frame 0, band 0, row 0, x = 1. */
    CHECK((uint8_t)head[f.data_offset + 2] == (sample(0, 0, 0, 1) & 0xff));
    CHECK((uint8_t)head[f.data_offset + 3] == (sample(0, 0, 0, 1) >> 8));

    CHECK_EQ_INT(npy_open_read(&f, path, err, sizeof(err)), 0);
    CHECK(f.ndim == 4 && f.frames == T && f.bands == C && f.height == H && f.width == W);
    int bad = 0;
    for (int t = 0; t < T; t++) {
        CHECK_EQ_INT(npy_read_frame(&f, t, back, err, sizeof(err)), 0);
        for (int b = 0; b < C; b++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    bad += back[(b * H + y) * W + x] != sample(t, b, y, x);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(npy_read_frame(&f, T, back, err, sizeof(err)), TEC_EINVAL);
    CHECK_EQ_INT(npy_read_frame(&f, -1, back, err, sizeof(err)), TEC_EINVAL);
    CHECK_EQ_INT(npy_read_rows(&f, 0, H - 2, 3, back, W, 3 * W, err, sizeof(err)), TEC_EINVAL);
    CHECK_EQ_INT(npy_read_rows(&f, 0, 0, 2, back, W - 1, 2 * W, err, sizeof(err)), TEC_EINVAL);
    CHECK_EQ_INT(npy_read_rows(&f, 0, 0, 2, back, W, W, err, sizeof(err)), TEC_EINVAL);
    CHECK_EQ_INT(npy_read_rows(&f, 0, 3, 0, back, W, 0, err, sizeof(err)), 0);
    CHECK_EQ_INT(npy_close(&f, err, sizeof(err)), 0);

    /* A file cut short after opening reports an I/O error, not garbage. */
    CHECK_EQ_INT(npy_open_read(&f, path, err, sizeof(err)), 0);
    CHECK(truncate(path, f.data_offset + 100) == 0);
    CHECK_EQ_INT(npy_read_frame(&f, 2, back, err, sizeof(err)), TEC_EIO);
    CHECK(strstr(err, "end of file") != NULL);
    npy_close(&f, err, sizeof(err));
    unlink(path);
}

/* Stripes with padded strides: write rows in two uneven stripes, read them
 * back in different stripes and layouts. */
static void test_stripes(void)
{
    enum { C = 3, H = 10, W = 6, S = 9, BS = 100 };
    char path[300], err[400] = "";
    tmp_path(path, sizeof(path), "stripes.npy");
    NpyFile f;
    CHECK_EQ_INT(npy_create(&f, path, 3, 1, C, H, W, err, sizeof(err)), 0);
    static uint16_t buf[C * BS];
    for (int y0 = 0; y0 < H; y0 += 7) {
        int rows = y0 + 7 <= H ? 7 : H - y0;
        memset(buf, 0xee, sizeof(buf));
        for (int b = 0; b < C; b++)
            for (int y = 0; y < rows; y++)
                for (int x = 0; x < W; x++)
                    buf[b * BS + y * S + x] = sample(0, b, y0 + y, x);
        CHECK_EQ_INT(npy_write_rows(&f, 0, y0, rows, buf, S, BS, err, sizeof(err)), 0);
    }
    CHECK_EQ_INT(npy_close(&f, err, sizeof(err)), 0);

    CHECK_EQ_INT(npy_open_read(&f, path, err, sizeof(err)), 0);
    CHECK(f.ndim == 3 && f.frames == 1 && f.bands == C);
    int bad = 0;
    for (int y0 = 0; y0 < H; y0 += 4) {
        int rows = y0 + 4 <= H ? 4 : H - y0;
        memset(buf, 0, sizeof(buf));
        /* Contiguous rows (stride == width) take the one-read path. */
        CHECK_EQ_INT(npy_read_rows(&f, 0, y0, rows, buf, W, 4 * W, err, sizeof(err)), 0);
        for (int b = 0; b < C; b++)
            for (int y = 0; y < rows; y++)
                for (int x = 0; x < W; x++)
                    bad += buf[b * 4 * W + y * W + x] != sample(0, b, y0 + y, x);
        memset(buf, 0, sizeof(buf));
        CHECK_EQ_INT(npy_read_rows(&f, 0, y0, rows, buf, S, BS, err, sizeof(err)), 0);
        for (int b = 0; b < C; b++)
            for (int y = 0; y < rows; y++) {
                for (int x = 0; x < W; x++)
                    bad += buf[b * BS + y * S + x] != sample(0, b, y0 + y, x);
                for (int x = W; x < S; x++)  /* padding untouched */
                    bad += buf[b * BS + y * S + x] != 0;
            }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(npy_write_rows(&f, 0, 0, 1, buf, W, W, err, sizeof(err)), TEC_EIO);  /* read-only */
    npy_close(&f, err, sizeof(err));

    CHECK_EQ_INT(npy_create(&f, path, 3, 2, C, H, W, err, sizeof(err)), TEC_EINVAL);
    CHECK_EQ_INT(npy_create(&f, path, 4, 2, C, 0, W, err, sizeof(err)), TEC_EINVAL);
    CHECK(strstr(err, "zero-sized") != NULL);
    CHECK_EQ_INT(npy_create(&f, path, 2, 1, C, H, W, err, sizeof(err)), TEC_EINVAL);
    unlink(path);
}

/* A 5 GB sparse file: offsets past 4 GiB, without the memory for it. */
static void test_large_offsets(void)
{
    enum { T = 40, C = 13, H = 2200, W = 2200 };
    char path[300], err[400] = "";
    tmp_path(path, sizeof(path), "large.npy");
    NpyFile f;
    if (npy_create(&f, path, 4, T, C, H, W, err, sizeof(err)) < 0) {
        fprintf(stderr, "skipping the large-file test: %s\n", err);
        unlink(path);
        return;
    }
    static uint16_t row[C * W * 2];
    for (int b = 0; b < C; b++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < W; x++)
                row[(b * 2 + y) * W + x] = sample(T - 1, b, H - 2 + y, x);
    CHECK_EQ_INT(npy_write_rows(&f, T - 1, H - 2, 2, row, W, 2 * W, err, sizeof(err)), 0);
    npy_close(&f, err, sizeof(err));
    CHECK_EQ_INT(npy_open_read(&f, path, err, sizeof(err)), 0);
    memset(row, 0, sizeof(row));
    CHECK_EQ_INT(npy_read_rows(&f, T - 1, H - 2, 2, row, W, 2 * W, err, sizeof(err)), 0);
    int bad = 0;
    for (int b = 0; b < C; b++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < W; x++)
                bad += row[(b * 2 + y) * W + x] != sample(T - 1, b, H - 2 + y, x);
    CHECK_EQ_INT(bad, 0);
    npy_close(&f, err, sizeof(err));
    unlink(path);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof(tmp), "%s/tec_npy_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 2;
    }
    test_headers();
    test_frames();
    test_stripes();
    test_large_offsets();
    rmdir(tmp);
    return test_report("npy");
}
