/* .tecw reader: valid files, every truncation, bit flips, malformed
 * bodies with valid checksums, file loading and the search path. */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "tec/tec.h"
#include "bytes.h"
#include "weights.h"
#include "test.h"

#ifndef TEC_WEIGHTS_INSTALL_DIR
#define TEC_WEIGHTS_INSTALL_DIR "/usr/local/share/tec/weights"
#endif

/* ---- a tiny .tecw writer ---------------------------------------------- */

typedef struct Buf {
    uint8_t data[4096];
    size_t size;
} Buf;

static void put(Buf *b, const void *p, size_t n)
{
    if (b->size + n > sizeof(b->data)) {
        fprintf(stderr, "test buffer overflow\n");
        exit(2);
    }
    memcpy(b->data + b->size, p, n);
    b->size += n;
}
static void put8(Buf *b, uint8_t v) { put(b, &v, 1); }
static void put16(Buf *b, uint16_t v) { uint8_t t[2]; tec_wl16(t, v); put(b, t, 2); }
static void put32(Buf *b, uint32_t v) { uint8_t t[4]; tec_wl32(t, v); put(b, t, 4); }

/* Entry header: name, dtype, ndim, dims; the caller appends the data. */
static void put_entry(Buf *b, const char *name, int dtype, int ndim, const uint32_t *dims)
{
    put16(b, (uint16_t)strlen(name));
    put(b, name, strlen(name));
    put8(b, (uint8_t)dtype);
    put8(b, (uint8_t)ndim);
    for (int i = 0; i < ndim; i++)
        put32(b, dims[i]);
}

/* Wraps a body into a file: header, zstd frame. */
static size_t make_file(const Buf *body, uint8_t *out, size_t cap)
{
    memcpy(out, "TECW", 4);
    tec_wl16(out + 4, 1);
    tec_wl16(out + 6, 0);
    tec_wl64(out + 8, body->size);
    tec_wl64(out + 16, tec_fnv1a64(body->data, body->size));
    size_t n = ZSTD_compress(out + 24, cap - 24, body->data, body->size, 3);
    if (ZSTD_isError(n)) {
        fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(n));
        exit(2);
    }
    return 24 + n;
}

static const char meta_text[] =
    "arch=tec-img\narch_version=1\nname=tiny\n\nn=8\r\ncard=a=b c\nbad_int=12x\n";

static const uint16_t halves[6] = {
    0x3c00,  /* 1.0 */
    0xc000,  /* -2.0 */
    0x0001,  /* smallest subnormal, 2^-24 */
    0x7c00,  /* +inf */
    0x8000,  /* -0.0 */
    0x3555,  /* 0.333251953125 */
};

/* A valid body with every dtype, a scalar and the meta text. */
static void make_body(Buf *b)
{
    b->size = 0;
    put32(b, 5);
    put_entry(b, "meta", TEC_DT_U8, 1, (const uint32_t[]){ sizeof(meta_text) - 1 });
    put(b, meta_text, sizeof(meta_text) - 1);

    put_entry(b, "w.f32", TEC_DT_F32, 2, (const uint32_t[]){ 2, 3 });
    for (int i = 0; i < 6; i++) {
        float f = (float)i * 0.5f - 1.0f;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        put32(b, bits);
    }
    put_entry(b, "w.f16", TEC_DT_F16, 1, (const uint32_t[]){ 6 });
    for (int i = 0; i < 6; i++)
        put16(b, halves[i]);
    put_entry(b, "t.i32", TEC_DT_I32, 4, (const uint32_t[]){ 1, 2, 1, 2 });
    put32(b, 7);
    put32(b, (uint32_t)-7);
    put32(b, 0x7fffffff);
    put32(b, 0x80000000u);
    put_entry(b, "scalar", TEC_DT_I32, 0, NULL);
    put32(b, 42);
}

static uint8_t file[8192];
static size_t file_size;

static int parse(const uint8_t *data, size_t size, TecWeights **w, char *err, size_t errlen)
{
    int ret = tec_weights_parse(data, size, w, err, errlen);
    if (ret < 0 && *w) {
        fprintf(stderr, "parse failed but returned weights\n");
        test_failed++;
    }
    return ret;
}

static void test_valid(void)
{
    char err[256] = "";
    TecWeights *w = NULL;
    CHECK_EQ_INT(parse(file, file_size, &w, err, sizeof(err)), 0);
    if (!w) {
        fprintf(stderr, "valid file rejected: %s\n", err);
        return;
    }
    Buf body;
    make_body(&body);
    CHECK(tec_weights_checksum(w) == tec_fnv1a64(body.data, body.size));

    CHECK(tec_weights_meta(w, "arch") && !strcmp(tec_weights_meta(w, "arch"), "tec-img"));
    CHECK(tec_weights_meta(w, "card") && !strcmp(tec_weights_meta(w, "card"), "a=b c"));
    CHECK(!tec_weights_meta(w, "missing"));
    long v = 0;
    CHECK_EQ_INT(tec_weights_meta_int(w, "n", &v), 0);  /* the \r is stripped */
    CHECK_EQ_INT(v, 8);
    CHECK_EQ_INT(tec_weights_meta_int(w, "arch_version", &v), 0);
    CHECK_EQ_INT(v, 1);
    CHECK_EQ_INT(tec_weights_meta_int(w, "bad_int", &v), TEC_EMODEL);
    CHECK_EQ_INT(tec_weights_meta_int(w, "missing", &v), TEC_EMODEL);

    const TecTensorEntry *e = tec_weights_get(w, "t.i32");
    CHECK(e && e->dtype == TEC_DT_I32 && e->ndim == 4 && e->count == 4 && e->dims[3] == 2);
    CHECK(!tec_weights_get(w, "nope"));
    e = tec_weights_get(w, "scalar");
    CHECK(e && e->ndim == 0 && e->count == 1);

    float *f = tec_weights_f32(w, "w.f32", 2, (const int[]){ 2, -1 }, err, sizeof(err));
    CHECK(f != NULL);
    if (f) {
        CHECK(f[0] == -1.0f && f[5] == 1.5f);
        free(f);
    }
    f = tec_weights_f32(w, "w.f16", 1, (const int[]){ 6 }, err, sizeof(err));
    CHECK(f != NULL);
    if (f) {
        CHECK(f[0] == 1.0f);
        CHECK(f[1] == -2.0f);
        CHECK(f[2] == ldexpf(1.0f, -24));
        CHECK(isinf(f[3]) && f[3] > 0);
        CHECK(f[4] == 0.0f && signbit(f[4]));
        CHECK(f[5] == 0.333251953125f);
        free(f);
    }
    int32_t *iv = tec_weights_i32(w, "t.i32", 4, (const int[]){ 1, 2, 1, 2 }, err, sizeof(err));
    CHECK(iv && iv[0] == 7 && iv[1] == -7 && iv[2] == INT32_MAX && iv[3] == INT32_MIN);
    free(iv);

    /* Wrong shape, dtype, or name: NULL with a message. */
    err[0] = '\0';
    CHECK(!tec_weights_f32(w, "w.f32", 2, (const int[]){ 3, 2 }, err, sizeof(err)));
    CHECK(strstr(err, "w.f32") && strstr(err, "[2,3]") && strstr(err, "[3,2]"));
    CHECK(!tec_weights_f32(w, "w.f32", 1, NULL, err, sizeof(err)));
    CHECK(!tec_weights_i32(w, "w.f32", 2, NULL, err, sizeof(err)));
    CHECK(strstr(err, "dtype") != NULL);
    CHECK(!tec_weights_f32(w, "absent", 1, NULL, err, sizeof(err)));
    CHECK(strstr(err, "absent") && strstr(err, "missing"));
    tec_weights_free(&w);
    CHECK(w == NULL);
    tec_weights_free(&w);  /* harmless twice */
}

static void test_truncations(void)
{
    int bad = 0;
    for (size_t n = 0; n < file_size; n++) {
        char err[256];
        TecWeights *w = NULL;
        /* A copy of exactly n bytes lets ASan see any overread. */
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, file, n);
        if (parse(copy, n, &w, err, sizeof(err)) >= 0 || w)
            bad++;
        tec_weights_free(&w);
        free(copy);
    }
    CHECK_EQ_INT(bad, 0);
}

/* Every single-bit flip fails, except in the reserved field and where zstd
 * decodes the frame to the same body anyway. */
static void test_bit_flips(void)
{
    int bad = 0, accepted = 0;
    uint8_t *copy = malloc(file_size);
    for (size_t i = 0; i < file_size; i++) {
        for (int bit = 0; bit < 8; bit++) {
            char err[256];
            TecWeights *w = NULL;
            memcpy(copy, file, file_size);
            copy[i] ^= (uint8_t)(1 << bit);
            int ret = parse(copy, file_size, &w, err, sizeof(err));
            if (ret >= 0) {
                accepted++;
                int same = tec_weights_checksum(w) == tec_rl64(file + 16);
                if (!(i == 6 || i == 7 || (i >= 24 && same)))
                    bad++;
            }
            tec_weights_free(&w);
        }
    }
    free(copy);
    CHECK_EQ_INT(bad, 0);
    CHECK(accepted >= 16);  /* the reserved field is ignored */
}

/* Expect parse failure with a message containing `what`. */
static void expect_fail(const uint8_t *data, size_t size, int code, const char *what, int line)
{
    char err[256] = "";
    TecWeights *w = NULL;
    int ret = parse(data, size, &w, err, sizeof(err));
    if (ret != code || !strstr(err, what)) {
        fprintf(stderr, "line %d: got %d '%s', expected %d '%s'\n", line, ret, err, code, what);
        test_failed++;
    } else {
        test_passed++;
    }
    tec_weights_free(&w);
}

static void expect_body_fail(const Buf *body, const char *what, int line)
{
    static uint8_t out[8192];
    size_t n = make_file(body, out, sizeof(out));
    expect_fail(out, n, TEC_EMODEL, what, line);
}

static void test_header_errors(void)
{
    uint8_t copy[8192];
    memcpy(copy, file, file_size);
    copy[0] = 'X';
    expect_fail(copy, file_size, TEC_EMODEL, "magic", __LINE__);

    memcpy(copy, file, file_size);
    tec_wl16(copy + 4, 2);
    expect_fail(copy, file_size, TEC_EMODEL, "version 2", __LINE__);

    memcpy(copy, file, file_size);
    tec_wl64(copy + 8, tec_rl64(file + 8) + 1);
    expect_fail(copy, file_size, TEC_EMODEL, "header says", __LINE__);

    memcpy(copy, file, file_size);
    tec_wl64(copy + 8, ((uint64_t)256 << 20) + 1);
    expect_fail(copy, file_size, TEC_EMODEL, "outside", __LINE__);

    memcpy(copy, file, file_size);
    tec_wl64(copy + 8, UINT64_MAX);
    expect_fail(copy, file_size, TEC_EMODEL, "outside", __LINE__);

    memcpy(copy, file, file_size);
    copy[16] ^= 1;
    expect_fail(copy, file_size, TEC_EMODEL, "checksum mismatch", __LINE__);

    memcpy(copy, file, file_size);
    copy[file_size] = 0;
    expect_fail(copy, file_size + 1, TEC_EMODEL, "stray", __LINE__);

    /* A frame without a content size. */
    Buf body;
    make_body(&body);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
    ZSTD_outBuffer ob = { copy + 24, sizeof(copy) - 24, 0 };
    ZSTD_inBuffer ib = { body.data, body.size, 0 };
    size_t left = ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_end);
    ZSTD_freeCCtx(cctx);
    CHECK_EQ_INT(left, 0);
    memcpy(copy, file, 24);
    expect_fail(copy, 24 + ob.pos, TEC_EMODEL, "known size", __LINE__);
}

static void test_body_errors(void)
{
    Buf b;
    uint32_t one = 1;

    b.size = 0;
    put32(&b, 1000000);
    expect_body_fail(&b, "cannot fit", __LINE__);

    b.size = 0;
    put32(&b, 2);
    put_entry(&b, "a", TEC_DT_U8, 1, &one);
    put8(&b, 0);
    put_entry(&b, "a", TEC_DT_U8, 1, &one);
    put8(&b, 0);
    expect_body_fail(&b, "twice", __LINE__);

    b.size = 0;
    put32(&b, 1);
    put_entry(&b, "", TEC_DT_U8, 1, &one);
    put8(&b, 0);
    expect_body_fail(&b, "name", __LINE__);

    b.size = 0;
    put32(&b, 1);
    put_entry(&b, "caf\xc3\xa9", TEC_DT_U8, 1, &one);
    put8(&b, 0);
    expect_body_fail(&b, "non-ASCII", __LINE__);

    b.size = 0;
    put32(&b, 1);
    put_entry(&b, "x", 9, 1, &one);
    put8(&b, 0);
    expect_body_fail(&b, "dtype 9", __LINE__);

    b.size = 0;
    put32(&b, 1);
    put_entry(&b, "x", TEC_DT_U8, 5, (const uint32_t[]){ 1, 1, 1, 1, 1 });
    put8(&b, 0);
    expect_body_fail(&b, "5 dimensions", __LINE__);

    /* Products that overflow 64 bits, and ones that merely exceed the body. */
    b.size = 0;
    put32(&b, 1);
    put_entry(&b, "big", TEC_DT_F32, 4,
              (const uint32_t[]){ 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu });
    expect_body_fail(&b, "past the end", __LINE__);

    b.size = 0;
    put32(&b, 1);
    put_entry(&b, "big", TEC_DT_F32, 2, (const uint32_t[]){ 0x40000000u, 4 });
    expect_body_fail(&b, "past the end", __LINE__);

    b.size = 0;
    put32(&b, 1);
    put_entry(&b, "short", TEC_DT_I32, 1, (const uint32_t[]){ 3 });
    put32(&b, 1);
    put32(&b, 2);
    put16(&b, 3);
    expect_body_fail(&b, "past the end", __LINE__);

    b.size = 0;
    put32(&b, 1);
    put_entry(&b, "x", TEC_DT_U8, 1, &one);
    put8(&b, 0);
    put8(&b, 0);
    expect_body_fail(&b, "stray", __LINE__);

    b.size = 0;
    put32(&b, 1);
    put_entry(&b, "meta", TEC_DT_U8, 1, (const uint32_t[]){ 9 });
    put(&b, "a=1\nnoeq\n", 9);
    expect_body_fail(&b, "not key=value", __LINE__);

    b.size = 0;
    put32(&b, 1);
    put_entry(&b, "meta", TEC_DT_U8, 1, (const uint32_t[]){ 8 });
    put(&b, "a=1\na=2\n", 8);
    expect_body_fail(&b, "twice", __LINE__);

    b.size = 0;
    put32(&b, 1);
    put_entry(&b, "meta", TEC_DT_I32, 1, &one);
    put32(&b, 0);
    expect_body_fail(&b, "meta", __LINE__);

    /* Zero-sized tensors and an empty body list are valid. */
    b.size = 0;
    put32(&b, 1);
    put_entry(&b, "empty", TEC_DT_F32, 2, (const uint32_t[]){ 0, 0xffffffffu });
    static uint8_t out[8192];
    size_t n = make_file(&b, out, sizeof(out));
    TecWeights *w = NULL;
    char err[256];
    CHECK_EQ_INT(parse(out, n, &w, err, sizeof(err)), 0);
    if (w) {
        const TecTensorEntry *e = tec_weights_get(w, "empty");
        CHECK(e && e->count == 0);
        CHECK(!tec_weights_meta(w, "arch"));
        tec_weights_free(&w);
    }
}

/* ---- files and the search path ---------------------------------------- */

static char tmp[256];

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

static void test_load(void)
{
    char path[512], err[512] = "";
    TecWeights *w = NULL;
    snprintf(path, sizeof(path), "%s/good.tecw", tmp);
    write_file(path, file, file_size);
    CHECK_EQ_INT(tec_weights_load(path, &w, err, sizeof(err)), 0);
    CHECK(w && tec_weights_meta(w, "name") && !strcmp(tec_weights_meta(w, "name"), "tiny"));
    tec_weights_free(&w);

    snprintf(path, sizeof(path), "%s/bad.tecw", tmp);
    write_file(path, file, file_size - 1);
    CHECK_EQ_INT(tec_weights_load(path, &w, err, sizeof(err)), TEC_EMODEL);
    CHECK(w == NULL && strstr(err, path));

    snprintf(path, sizeof(path), "%s/absent.tecw", tmp);
    CHECK_EQ_INT(tec_weights_load(path, &w, err, sizeof(err)), TEC_EIO);
    CHECK(w == NULL && strstr(err, path));

    CHECK(tec_weights_load(tmp, &w, err, sizeof(err)) < 0);  /* a directory */
    CHECK(w == NULL);
}

static void test_search_path(void)
{
    char a[300], b[300], c[300], path[600], err[1024], env[1000], expect[600];
    const char *model = "tec_unit_model";
    snprintf(a, sizeof(a), "%s/a", tmp);
    snprintf(b, sizeof(b), "%s/b", tmp);
    snprintf(c, sizeof(c), "%s/c", tmp);
    mkdir(a, 0777);
    mkdir(b, 0777);
    mkdir(c, 0777);
    snprintf(path, sizeof(path), "%s/%s.tecw", b, model);
    write_file(path, file, file_size);
    snprintf(path, sizeof(path), "%s/%s.tecw", c, model);
    write_file(path, file, file_size);

    /* $TEC_WEIGHTS in order, empty entries skipped. */
    snprintf(env, sizeof(env), "%s::%s:%s", a, b, c);
    setenv("TEC_WEIGHTS", env, 1);
    CHECK_EQ_INT(tec_weights_find(model, NULL, path, sizeof(path), err, sizeof(err)), 0);
    snprintf(expect, sizeof(expect), "%s/%s.tecw", b, model);
    CHECK(!strcmp(path, expect));

    /* The caller's directory comes first. */
    CHECK_EQ_INT(tec_weights_find(model, c, path, sizeof(path), err, sizeof(err)), 0);
    snprintf(expect, sizeof(expect), "%s/%s.tecw", c, model);
    CHECK(!strcmp(path, expect));

    /* ...but a caller directory without the model falls through. */
    CHECK_EQ_INT(tec_weights_find(model, a, path, sizeof(path), err, sizeof(err)), 0);
    snprintf(expect, sizeof(expect), "%s/%s.tecw", b, model);
    CHECK(!strcmp(path, expect));

    /* Missing: the message names the model and every directory tried. */
    snprintf(env, sizeof(env), "%s", a);
    setenv("TEC_WEIGHTS", env, 1);
    err[0] = '\0';
    CHECK_EQ_INT(tec_weights_find("tec_unit_absent", c, path, sizeof(path), err, sizeof(err)),
                 TEC_EMODEL);
    CHECK(strstr(err, "tec_unit_absent") != NULL);
    CHECK(strstr(err, a) && strstr(err, c) && strstr(err, TEC_WEIGHTS_INSTALL_DIR));
    CHECK(strstr(err, c) < strstr(err, a));

    /* Only a regular file counts. */
    snprintf(path, sizeof(path), "%s/dirmodel.tecw", a);
    mkdir(path, 0777);
    CHECK_EQ_INT(tec_weights_find("dirmodel", NULL, path, sizeof(path), err, sizeof(err)),
                 TEC_EMODEL);
    snprintf(path, sizeof(path), "%s/dirmodel.tecw", a);
    rmdir(path);

    /* Names that could escape the directories. */
    CHECK(tec_weights_find("../etc/passwd", NULL, path, sizeof(path), err, sizeof(err)) < 0);
    CHECK(tec_weights_find("a/b", NULL, path, sizeof(path), err, sizeof(err)) < 0);
    CHECK(tec_weights_find("..", NULL, path, sizeof(path), err, sizeof(err)) < 0);
    CHECK(tec_weights_find("", NULL, path, sizeof(path), err, sizeof(err)) < 0);
    unsetenv("TEC_WEIGHTS");

    snprintf(path, sizeof(path), "%s/%s.tecw", b, model);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s.tecw", c, model);
    unlink(path);
    rmdir(a);
    rmdir(b);
    rmdir(c);
}

int main(void)
{
    Buf body;
    make_body(&body);
    file_size = make_file(&body, file, sizeof(file) - 1);

    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof(tmp), "%s/tec_weights_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 2;
    }

    test_valid();
    test_truncations();
    test_bit_flips();
    test_header_errors();
    test_body_errors();
    test_load();
    test_search_path();

    char path[512];
    snprintf(path, sizeof(path), "%s/good.tecw", tmp);
    unlink(path);
    snprintf(path, sizeof(path), "%s/bad.tecw", tmp);
    unlink(path);
    rmdir(tmp);
    return test_report("weights");
}
