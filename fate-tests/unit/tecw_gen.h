/* Test-only generator of tiny random tec-img v1 models (.tecw in memory):
 * random convolutions, identity-like GDN, and coding tables from a
 * discretised Gaussian (latents) and Laplace (hyper-latents).  Lets the unit
 * tests and the fuzzers run without Python or trained weights. */
#ifndef TEC_TECW_GEN_H
#define TEC_TECW_GEN_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

typedef struct TecwGenParams {
    const char *name;
    unsigned seed;
    int n, m, nh, nmid, qualities, default_quality;
    int bad_shape;        /* make the last synthesis weight the wrong shape */
    int levels;           /* stride-2 stages (meta key written unless 4) */
    int frame_norm;       /* per-frame band statistics (meta key when set) */
    int skip;             /* linear skip transforms (arch version 2) */
    int arch_version;     /* 0: the lowest that has the features asked for */
    int ctx_groups;       /* channel context slices (arch version 3), 0: none */
    int ctx_hidden;
    int ctx_spatial;      /* checkerboard context (arch version 4) */
    int quality_spread;   /* per-frame quality calibration (meta), 0: none */
} TecwGenParams;

static inline TecwGenParams tecw_gen_defaults(void)
{
    TecwGenParams p = { "unit-tiny", 1, 8, 16, 8, 12, 8, 9, 0, 4, 0, 0, 0, 0, 0, 0, 0 };
    return p;
}

typedef struct TecwBuf {
    uint8_t *p;
    size_t size, cap;
} TecwBuf;

static inline void tecw_put(TecwBuf *b, const void *data, size_t n)
{
    if (b->size + n > b->cap) {
        b->cap = (b->size + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->size, data, n);
    b->size += n;
}

static inline void tecw_u8(TecwBuf *b, unsigned v) { uint8_t x = (uint8_t)v; tecw_put(b, &x, 1); }
static inline void tecw_u16(TecwBuf *b, unsigned v) { tecw_u8(b, v & 255); tecw_u8(b, v >> 8 & 255); }
static inline void tecw_u32(TecwBuf *b, uint32_t v) { tecw_u16(b, v & 0xffff); tecw_u16(b, v >> 16); }


static inline void tecw_entry(TecwBuf *b, const char *name, int dtype, int ndim, const int *dims)
{
    tecw_u16(b, (unsigned)strlen(name));
    tecw_put(b, name, strlen(name));
    tecw_u8(b, (unsigned)dtype);
    tecw_u8(b, (unsigned)ndim);
    for (int i = 0; i < ndim; i++)
        tecw_u32(b, (uint32_t)dims[i]);
}

static inline uint16_t tecw_f16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    uint16_t sign = (uint16_t)(bits >> 16 & 0x8000);
    int e = (int)(bits >> 23 & 0xff) - 127 + 15;
    if (e <= 0)
        return sign;  /* tiny values flush to zero: fine for test weights */
    if (e >= 31)
        return sign | 0x7c00;
    return (uint16_t)(sign | (((uint32_t)e << 10) + (((bits & 0x7fffff) + 0x1000) >> 13)));
}

/* xorshift32 in [-1, 1) */
static inline float tecw_rand(unsigned *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return (float)(*s >> 8) / (float)(1 << 23) - 1.0f;
}

static inline int tecw_count(int ndim, const int *dims)
{
    int n = 1;
    for (int i = 0; i < ndim; i++)
        n *= dims[i];
    return n;
}

/* A conv weight (f16) with fan-in scaling, and its bias. */
static inline void tecw_conv(TecwBuf *b, unsigned *seed, const char *prefix, int cout, int cin, int k,
                      float gain)
{
    char name[64];
    int dims[4] = { cout, cin, k, k };
    float scale = gain * sqrtf(3.0f / (float)(cin * k * k));
    snprintf(name, sizeof(name), "%s.weight", prefix);
    tecw_entry(b, name, 2, 4, dims);
    for (int i = 0; i < tecw_count(4, dims); i++)
        tecw_u16(b, tecw_f16(tecw_rand(seed) * scale));
    snprintf(name, sizeof(name), "%s.bias", prefix);
    tecw_entry(b, name, 2, 1, dims);
    for (int i = 0; i < cout; i++)
        tecw_u16(b, tecw_f16(0.05f * tecw_rand(seed)));
}

static inline void tecw_f32_array(TecwBuf *b, const char *name, int ndim, const int *dims,
                           const float *v)
{
    tecw_entry(b, name, 1, ndim, dims);
    for (int i = 0; i < tecw_count(ndim, dims); i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        tecw_u32(b, bits);
    }
}

static inline void tecw_i32_array(TecwBuf *b, const char *name, int n, const int32_t *v)
{
    tecw_entry(b, name, 3, 1, &n);
    for (int i = 0; i < n; i++)
        tecw_u32(b, (uint32_t)v[i]);
}

static inline void tecw_gdn(TecwBuf *b, const char *prefix, int c)
{
    char name[64];
    float *beta = malloc(sizeof(float) * c), *gamma = malloc(sizeof(float) * c * c);
    for (int i = 0; i < c; i++) {
        beta[i] = 1.0f;
        for (int j = 0; j < c; j++)
            gamma[i * c + j] = i == j ? 0.1f : 0.001f;
    }
    int d1[1] = { c }, d2[2] = { c, c };
    snprintf(name, sizeof(name), "%s.beta", prefix);
    tecw_f32_array(b, name, 1, d1, beta);
    snprintf(name, sizeof(name), "%s.gamma", prefix);
    tecw_f32_array(b, name, 2, d2, gamma);
    free(beta);
    free(gamma);
}

static inline void tecw_int_conv(TecwBuf *b, unsigned *seed, const char *prefix, int cout, int cin,
                                 int k, float bias_mean)
{
    char name[64];
    int dims[4] = { cout, cin, k, k };
    float scale = sqrtf(3.0f / (float)(cin * k * k));
    snprintf(name, sizeof(name), "%s.weight", prefix);
    tecw_entry(b, name, 3, k == 1 ? 2 : 4, dims);
    for (int i = 0; i < tecw_count(4, dims); i++)
        tecw_u32(b, (uint32_t)(int32_t)lrintf(tecw_rand(seed) * scale * 4096.0f));
    snprintf(name, sizeof(name), "%s.bias", prefix);
    tecw_entry(b, name, 3, 1, dims);
    for (int i = 0; i < cout; i++)
        tecw_u32(b, (uint32_t)(int32_t)lrintf((bias_mean + 0.1f * tecw_rand(seed)) * 1048576.0f));
}

/* Quantised frequencies of p[0..count) summing to 2^16, each >= 1, as a cdf
 * appended to cdf (count + 1 entries). */
static inline void tecw_quantise(const double *p, int count, int32_t *cdf)
{
    int32_t *f = calloc((size_t)count, sizeof(int32_t));
    int64_t sum = 0;
    int best = 0;
    for (int i = 0; i < count; i++) {
        f[i] = 1 + (int32_t)floor(p[i] * (65536 - count));
        sum += f[i];
        if (p[i] > p[best])
            best = i;
    }
    f[best] += (int32_t)(65536 - sum);
    cdf[0] = 0;
    for (int i = 0; i < count; i++)
        cdf[i + 1] = cdf[i] + f[i];
    free(f);
}

static inline double tecw_normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* One table family: n symbols from lo, probabilities from cdf_fn(v +- 0.5). */
typedef struct TecwTables {
    int32_t *lo, *n, *offset, *cdf;
    int count, total;
} TecwTables;

static inline void tecw_table(TecwTables *t, int i, int lo, int n, double (*cdf_fn)(double, double),
                       double param)
{
    double *p = malloc(sizeof(double) * (n + 1));
    double inside = 0;
    for (int s = 0; s < n; s++) {
        double v = lo + s;
        p[s] = cdf_fn(v + 0.5, param) - cdf_fn(v - 0.5, param);
        inside += p[s];
    }
    p[n] = 1.0 - inside > 0 ? 1.0 - inside : 0;
    t->lo[i] = lo;
    t->n[i] = n;
    t->offset[i] = t->total;
    t->cdf = realloc(t->cdf, sizeof(int32_t) * (t->total + n + 2));
    tecw_quantise(p, n + 1, t->cdf + t->total);
    t->total += n + 2;
    free(p);
}

static inline double tecw_gauss(double x, double scale) { return tecw_normal_cdf(x / scale); }
static inline double tecw_laplace(double x, double b)
{
    return x < 0 ? 0.5 * exp(x / b) : 1.0 - 0.5 * exp(-x / b);
}

static inline void tecw_put_tables(TecwBuf *b, const char *family, TecwTables *t)
{
    char name[64];
    snprintf(name, sizeof(name), "%s.lo", family);
    tecw_i32_array(b, name, t->count, t->lo);
    snprintf(name, sizeof(name), "%s.n", family);
    tecw_i32_array(b, name, t->count, t->n);
    snprintf(name, sizeof(name), "%s.offset", family);
    tecw_i32_array(b, name, t->count, t->offset);
    snprintf(name, sizeof(name), "%s.cdf", family);
    tecw_i32_array(b, name, t->total, t->cdf);
    free(t->lo);
    free(t->n);
    free(t->offset);
    free(t->cdf);
}

static inline void tecw_alloc_tables(TecwTables *t, int count)
{
    memset(t, 0, sizeof(*t));
    t->count = count;
    t->lo = calloc(count, sizeof(int32_t));
    t->n = calloc(count, sizeof(int32_t));
    t->offset = calloc(count, sizeof(int32_t));
}

/* The whole file; returns a malloc'ed buffer. */
static inline uint8_t *tecw_generate(const TecwGenParams *p, size_t *size)
{
    const int S = 13, N = p->n, M = p->m, NH = p->nh, NMID = p->nmid, Q = p->qualities;
    unsigned seed = p->seed * 2654435761u + 12345u;
    TecwBuf b = { 0 };
    int entries = 0;

    tecw_u32(&b, 0);  /* entry count, patched below */
    char meta[640], extra[160] = "", ctx[80] = "", calib[64] = "";
    const int L = p->levels, D = 1 << L;
    if (p->ctx_groups)
        snprintf(ctx, sizeof(ctx), "ctx_groups=%d\nctx_hidden=%d\n%s", p->ctx_groups,
                 p->ctx_hidden, p->ctx_spatial ? "ctx_spatial=1\n" : "");
    if (L != 4 || p->frame_norm || p->skip || p->ctx_groups)
        snprintf(extra, sizeof(extra), "levels=%d\nframe_norm=%d\n%s%s", L, p->frame_norm,
                 p->skip ? "skip=1\n" : "", ctx);
    if (p->quality_spread)
        snprintf(calib, sizeof(calib), "quality_spread=%d\nlambda_ratio_milli=2250\n",
                 p->quality_spread);
    int len = snprintf(meta, sizeof(meta),
                       "arch=tec-img\narch_version=%d\nname=%s\n"
                       "slots=B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12\n"
                       "n=%d\nm=%d\nnh=%d\nnmid=%d\nqualities=%d\ndefault_quality=%d\n"
                       "%s%strained=no\ncard=test model\n",
                       p->arch_version ? p->arch_version : p->ctx_spatial ? 4 : p->ctx_groups ? 3 : p->skip ? 2 : 1, p->name, N, M, NH, NMID, Q, p->default_quality, extra, calib);
    tecw_entry(&b, "meta", 4, 1, &len);
    tecw_put(&b, meta, (size_t)len);
    entries++;

    for (int i = 0; i < L; i++) {
        char name[16];
        snprintf(name, sizeof(name), "a%d", i);
        tecw_conv(&b, &seed, name, i == L - 1 ? M : N, i == 0 ? S : N, 5, 1.0f);
    }
    for (int i = 0; i < L; i++) {
        char name[16];
        const int last = 4 * S + (p->bad_shape ? 1 : 0);
        snprintf(name, sizeof(name), "s%d", i);
        tecw_conv(&b, &seed, name, i == L - 1 ? last : 4 * N, i == 0 ? M : N, 3, 1.0f);
    }
    tecw_conv(&b, &seed, "h0", NH, M, 3, 1.0f);
    tecw_conv(&b, &seed, "h1", NH, NH, 5, 1.0f);
    tecw_conv(&b, &seed, "h2", NH, NH, 5, 1.0f);
    entries += 4 * L + 6;
    {
        int dims[2] = { N, S };
        tecw_entry(&b, "a0_mask.weight", 2, 2, dims);
        for (int i = 0; i < N * S; i++)
            tecw_u16(&b, tecw_f16(0.1f * tecw_rand(&seed)));
        entries++;
    }
    if (p->skip) {
        int da[4] = { M, S, D, D }, ds[4] = { S * D * D, M, 1, 1 };
        tecw_entry(&b, "skip_a.weight", 2, 4, da);
        for (int i = 0; i < M * S * D * D; i++)
            tecw_u16(&b, tecw_f16(0.05f * tecw_rand(&seed)));
        tecw_entry(&b, "skip_s.weight", 2, 4, ds);
        for (int i = 0; i < M * S * D * D; i++)
            tecw_u16(&b, tecw_f16(0.05f * tecw_rand(&seed)));
        entries += 2;
    }
    for (int i = 0; i < L - 1; i++) {
        char name[16];
        snprintf(name, sizeof(name), "gdn%d", i);
        tecw_gdn(&b, name, N);
        snprintf(name, sizeof(name), "igdn%d", i);
        tecw_gdn(&b, name, N);
    }
    entries += 4 * (L - 1);
    tecw_int_conv(&b, &seed, "hs.t0", 4 * NH, NH, 3, 0.0f);
    tecw_int_conv(&b, &seed, "hs.t1", 4 * NMID, NH, 3, 0.2f);
    tecw_int_conv(&b, &seed, "hs.t2", 2 * M, NMID, 3, 0.0f);
    entries += 6;
    for (int k = 1; k < p->ctx_groups; k++) {
        const int gs = M / p->ctx_groups;
        char name[32];
        snprintf(name, sizeof(name), "ctx%d.l0", k);
        tecw_int_conv(&b, &seed, name, p->ctx_hidden, (k + 2) * gs, 1, 0.0f);
        snprintf(name, sizeof(name), "ctx%d.l1", k);
        tecw_int_conv(&b, &seed, name, 2 * gs, p->ctx_hidden, 1, 0.0f);
        entries += 4;
    }
    for (int k = 0; k < (p->ctx_spatial ? p->ctx_groups : 0); k++) {
        const int gs = M / p->ctx_groups;
        char name[32];
        snprintf(name, sizeof(name), "sp%d.l0", k);
        tecw_int_conv(&b, &seed, name, p->ctx_hidden, 6 * gs, 1, 0.0f);
        snprintf(name, sizeof(name), "sp%d.l1", k);
        tecw_int_conv(&b, &seed, name, 2 * gs, p->ctx_hidden, 1, 0.0f);
        entries += 4;
    }

    float *gain = malloc(sizeof(float) * Q * M), *igain = malloc(sizeof(float) * Q * M);
    for (int q = 0; q < Q; q++)
        for (int c = 0; c < M; c++) {
            float g = expf(logf(12.0f) * (Q > 1 ? (float)q / (Q - 1) : 0.0f)) * (1.0f + 0.01f * c);
            gain[q * M + c] = g;
            igain[q * M + c] = 1.0f / g;
        }
    int qm[2] = { Q, M };
    tecw_f32_array(&b, "gain", 2, qm, gain);
    tecw_f32_array(&b, "igain", 2, qm, igain);
    free(gain);
    free(igain);
    float mean[13], std[13];
    for (int s = 0; s < S; s++) {
        mean[s] = 1500.0f + 100.0f * s;
        std[s] = 900.0f + 50.0f * s;
    }
    tecw_f32_array(&b, "band_mean", 1, &S, mean);
    tecw_f32_array(&b, "band_std", 1, &S, std);
    entries += 4;

    /* Raw scales (1/256 units) map onto the 64 levels in steps of 16. */
    int32_t thr[63];
    for (int i = 0; i < 63; i++)
        thr[i] = (i - 31) * 16;
    tecw_i32_array(&b, "gauss.thresholds", 63, thr);
    entries++;
    TecwTables t;
    tecw_alloc_tables(&t, 64);
    for (int i = 0; i < 64; i++) {
        double scale = exp(log(0.11) + i * (log(256.0) - log(0.11)) / 63);
        int L = (int)ceil(7 * scale);
        tecw_table(&t, i, -L, 2 * L + 1, tecw_gauss, scale);
    }
    tecw_put_tables(&b, "gauss", &t);
    tecw_alloc_tables(&t, NH);
    for (int c = 0; c < NH; c++)
        tecw_table(&t, c, -12, 25, tecw_laplace, 1.0 + 0.1 * c);
    tecw_put_tables(&b, "prior", &t);
    entries += 8;
    {
        int d = 5;  /* training-only state is ignored */
        float v[5] = { 0 };
        tecw_f32_array(&b, "train.prior_mats", 1, &d, v);
        entries++;
    }
    b.p[0] = (uint8_t)entries;
    b.p[1] = (uint8_t)(entries >> 8);

    /* FNV-1a 64 of the body, then the zstd frame. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < b.size; i++) {
        h ^= b.p[i];
        h *= 0x100000001b3ull;
    }
    size_t bound = ZSTD_compressBound(b.size);
    uint8_t *file = malloc(24 + bound);
    memcpy(file, "TECW", 4);
    file[4] = 1; file[5] = 0; file[6] = 0; file[7] = 0;
    for (int i = 0; i < 8; i++) {
        file[8 + i] = (uint8_t)((uint64_t)b.size >> (8 * i));
        file[16 + i] = (uint8_t)(h >> (8 * i));
    }
    size_t z = ZSTD_compress(file + 24, bound, b.p, b.size, 3);
    free(b.p);
    if (ZSTD_isError(z)) {
        free(file);
        return NULL;
    }
    *size = 24 + z;
    return file;
}

/* Writes DIR/NAME.tecw; returns 0 on success. */
static inline int tecw_write(const char *dir, const TecwGenParams *p)
{
    size_t size;
    uint8_t *data = tecw_generate(p, &size);
    if (!data)
        return -1;
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.tecw", dir, p->name);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, size, f) == size;
    if (f && fclose(f))
        ok = 0;
    free(data);
    return ok ? 0 : -1;
}

#endif
