/* Kernels against plain references: float ones to a tolerance, the
 * GEMM's fixed summation order bit for bit on every path, the integer
 * convolution exactly. */

/* The fixed-order references below must not be contracted into FMAs. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"
#include "threads.h"
#include "test.h"

/* Testing hook of kernels.c (not in kernels.h): the GEMM on path 0
 * (portable) or 1 (AVX2), both mul then add; returns the path it ran. */
int tec_gemm_own_path(int path, int m, int n, int k,
                      const float *a, int lda, const float *b, int ldb,
                      float *c, int ldc, int accumulate);

/* Testing hook of kernels.c: the integer convolution on at most path 0
 * (portable), 1 (AVX2, 64-bit sums) or 2 (AVX2, 16-bit pairs, 32-bit sums
 * when they cannot overflow); returns the path it ran. */
int tec_conv3x3_i32_path(int path, const int32_t *in, int cin, int h, int w,
                         const int32_t *weight, const int32_t *bias, int cout,
                         int32_t *out);

int tec_dense_i32_path(int path, const int32_t *in, int cin, int n, const int32_t *weight,
                       const int32_t *bias, int cout, int32_t *out);

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float rnd_f(void) { return (float)((rnd() & 0xFFFFFF) / 8388608.0 - 1.0); }

static float *new_floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(*p));
    for (size_t i = 0; i < n; i++)
        p[i] = rnd_f();
    return p;
}

/* |got - want| within rel of the magnitude the sum went through */
static int close_to(double got, double want, double magnitude, double rel)
{
    return fabs(got - want) <= rel * magnitude + 1e-30;
}

/* ------------------------------------------------------------------ GEMM */

typedef struct Shape { int m, n, k; } Shape;

static const Shape shapes[] = {
    { 1, 1, 1 }, { 1, 17, 3 }, { 5, 1, 9 }, { 6, 16, 8 }, { 7, 17, 5 },
    { 13, 31, 1 }, { 12, 32, 256 }, { 19, 45, 257 }, { 33, 100, 600 },
    { 150, 40, 70 }, { 52, 300, 576 }, { 4, 2100, 20 }, { 64, 64, 64 },
};

/* Reference in double; also returns sum |terms| for the tolerance. */
static void gemm_ref(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                     const float *c0, int ldc, int accumulate, double *ref, double *mag)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = accumulate ? c0[i * ldc + j] : 0.0, t = fabs(s);
            for (int p = 0; p < k; p++) {
                const double prod = (double)a[i * lda + p] * b[p * ldb + j];
                s += prod;
                t += fabs(prod);
            }
            ref[i * n + j] = s;
            mag[i * n + j] = t;
        }
}

static void test_gemm_accuracy(void)
{
    for (size_t s = 0; s < sizeof(shapes) / sizeof(*shapes); s++)
        for (int acc = 0; acc <= 1; acc++) {
            const int m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
            const int lda = k + 3, ldb = n + 5, ldc = n + 2;
            float *a = new_floats((size_t)m * lda), *b = new_floats((size_t)k * ldb);
            float *c = new_floats((size_t)m * ldc), *c0 = malloc((size_t)m * ldc * sizeof(*c));
            double *ref = malloc((size_t)m * n * sizeof(*ref));
            double *mag = malloc((size_t)m * n * sizeof(*mag));
            int bad = 0, untouched = 1;

            memcpy(c0, c, (size_t)m * ldc * sizeof(*c));
            gemm_ref(m, n, k, a, lda, b, ldb, c0, ldc, acc, ref, mag);
            tec_gemm_f32(m, n, k, a, lda, b, ldb, c, ldc, acc);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++)
                    bad += !close_to(c[i * ldc + j], ref[i * n + j], mag[i * n + j], 1e-5);
                for (int j = n; j < ldc; j++)
                    untouched &= c[i * ldc + j] == c0[i * ldc + j];
            }
            if (bad || !untouched)
                fprintf(stderr, "gemm %dx%dx%d acc %d: %d off, untouched %d\n",
                        m, n, k, acc, bad, untouched);
            CHECK(!bad);
            CHECK(untouched);
            free(a); free(b); free(c); free(c0); free(ref); free(mag);
        }
}

/* The GEMM's order, element by element: each product rounded, then each
 * sum. */
static void gemm_ordered(int m, int n, int k, const float *a, int lda,
                         const float *b, int ldb, float *c, int ldc, int accumulate)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = accumulate ? c[i * ldc + j] : 0.0f;
            for (int p = 0; p < k; p++)
                s = s + a[i * lda + p] * b[p * ldb + j];
            c[i * ldc + j] = s;
        }
}

/* Bit-exact against the sequential order on both paths, so the paths agree
 * with each other (and with any other machine's) bit for bit. */
static void test_gemm_fixed_order(void)
{
    for (int path = 0; path <= 1; path++)
        for (size_t s = 0; s < sizeof(shapes) / sizeof(*shapes); s++)
            for (int acc = 0; acc <= 1; acc++) {
                const int m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
                const size_t size = (size_t)m * n * sizeof(float);
                float *a = new_floats((size_t)m * k), *b = new_floats((size_t)k * n);
                float *c = new_floats((size_t)m * n), *want = malloc(size);

                memcpy(want, c, size);
                const int ran = tec_gemm_own_path(path, m, n, k, a, k, b, n, c, n, acc);
                gemm_ordered(m, n, k, a, k, b, n, want, n, acc);
                if (memcmp(c, want, size))
                    fprintf(stderr, "gemm path %d %dx%dx%d acc %d: order differs\n",
                            ran, m, n, k, acc);
                CHECK(!memcmp(c, want, size));
                free(a); free(b); free(c); free(want);
            }
}

/* Computing a product whole or in pieces (rows, columns, depth) gives the
 * same bits: what makes tiled decoding seamless. */
static void test_gemm_pieces(void)
{
    const int m = 61, n = 203, k = 300;
    const size_t size = (size_t)m * n * sizeof(float);
    float *a = new_floats((size_t)m * k), *b = new_floats((size_t)k * n);
    float *full = malloc(size), *part = malloc(size);
    static const int splits[] = { 1, 5, 6, 7, 17, 31, 40 };

    tec_gemm_f32(m, n, k, a, k, b, n, full, n, 0);
    for (size_t s = 0; s < sizeof(splits) / sizeof(*splits); s++) {
        const int step = splits[s];

        memset(part, 0, size);
        for (int i = 0; i < m; i += step)
            tec_gemm_f32(step < m - i ? step : m - i, n, k,
                         a + i * k, k, b, n, part + i * n, n, 0);
        CHECK(!memcmp(full, part, size));

        memset(part, 0, size);
        for (int j = 0; j < n; j += step)
            tec_gemm_f32(m, step < n - j ? step : n - j, k,
                         a, k, b + j, n, part + j, n, 0);
        CHECK(!memcmp(full, part, size));

        /* depth pieces, the later ones accumulating into C */
        memset(part, 0, size);
        for (int p = 0; p < k; p += step * 3)
            tec_gemm_f32(m, n, step * 3 < k - p ? step * 3 : k - p,
                         a + p, k, b + p * n, n, part, n, p > 0);
        CHECK(!memcmp(full, part, size));
    }
    free(a); free(b); free(full); free(part);
}

typedef struct TileJob {
    int m, n, k, tile_m, tile_n, tiles_n;
    const float *a, *b;
    float *c;
} TileJob;

static int gemm_tile_job(void *ctx, int job, int worker)
{
    const TileJob *t = ctx;
    const int i = job / t->tiles_n * t->tile_m, j = job % t->tiles_n * t->tile_n;
    const int rows = t->m - i < t->tile_m ? t->m - i : t->tile_m;
    const int cols = t->n - j < t->tile_n ? t->n - j : t->tile_n;

    (void)worker;
    tec_gemm_f32(rows, cols, t->k, t->a + i * t->k, t->k, t->b + j, t->n,
                 t->c + i * t->n + j, t->n, 0);
    return 0;
}

/* Tiles on 1 and 4 threads match the single call. */
static void test_gemm_threads(void)
{
    TileJob t = { .m = 100, .n = 333, .k = 129, .tile_m = 23, .tile_n = 50 };
    const size_t size = (size_t)t.m * t.n * sizeof(float);
    float *a = new_floats((size_t)t.m * t.k), *b = new_floats((size_t)t.k * t.n);
    float *full = malloc(size), *tiled = malloc(size);

    t.a = a;
    t.b = b;
    t.c = tiled;
    t.tiles_n = (t.n + t.tile_n - 1) / t.tile_n;
    tec_gemm_f32(t.m, t.n, t.k, a, t.k, b, t.n, full, t.n, 0);
    for (int threads = 1; threads <= 4; threads += 3) {
        TecPool *pool;
        CHECK_EQ_INT(tec_pool_create(&pool, threads), 0);
        memset(tiled, 0, size);
        CHECK_EQ_INT(tec_pool_run(pool, (t.m + t.tile_m - 1) / t.tile_m * t.tiles_n,
                                  gemm_tile_job, &t), 0);
        CHECK(!memcmp(full, tiled, size));
        tec_pool_free(&pool);
    }
    free(a); free(b); free(full); free(tiled);
}

/* ----------------------------------------------------------- convolution */

static void conv_ref(const float *in, int cin, int h, int w, const float *weight,
                     const float *bias, int cout, int k, int stride, int pad,
                     double *ref, double *mag)
{
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;

    for (int o = 0; o < cout; o++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                double s = bias ? bias[o] : 0.0, t = fabs(s);
                for (int ci = 0; ci < cin; ci++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            const int iy = y * stride + ky - pad, ix = x * stride + kx - pad;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            const double prod = (double)weight[((o * cin + ci) * k + ky) * k + kx] *
                                                in[(ci * h + iy) * w + ix];
                            s += prod;
                            t += fabs(prod);
                        }
                ref[(o * oh + y) * ow + x] = s;
                mag[(o * oh + y) * ow + x] = t;
            }
}

/* The own convolution is bit for bit the own GEMM of the weights with the
 * im2col matrix, the bias starting each sum. */
static int conv_is_gemm(const float *in, int cin, int h, int w, const float *weight,
                        const float *bias, int cout, int k, int stride, int pad, const float *out)
{
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    const int npos = oh * ow, depth = cin * k * k;
    float *col = malloc((size_t)depth * npos * sizeof(float));
    float *want = malloc((size_t)cout * npos * sizeof(float));
    int same;

    for (int r = 0; r < depth; r++)
        for (int p = 0; p < npos; p++) {
            const int ci = r / (k * k), ky = r / k % k, kx = r % k;
            const int iy = p / ow * stride + ky - pad, ix = p % ow * stride + kx - pad;
            col[r * npos + p] = iy >= 0 && iy < h && ix >= 0 && ix < w ? in[(ci * h + iy) * w + ix] : 0.0f;
        }
    for (int i = 0; i < cout * npos; i++)
        want[i] = bias ? bias[i / npos] : 0.0f;
    tec_gemm_f32(cout, npos, depth, weight, depth, col, npos, want, npos, bias != NULL);
    same = !memcmp(want, out, (size_t)cout * npos * sizeof(float));
    free(col);
    free(want);
    return same;
}

typedef struct ConvShape { int cin, h, w, cout, k, stride, pad; } ConvShape;

static void test_conv2d(void)
{
    static const ConvShape cs[] = {
        { 1, 1, 1, 1, 1, 1, 0 }, { 3, 1, 1, 5, 3, 1, 1 }, { 2, 1, 1, 3, 5, 2, 2 },
        { 4, 7, 9, 6, 1, 1, 0 }, { 4, 7, 9, 6, 1, 2, 0 }, { 3, 5, 4, 7, 3, 1, 1 },
        { 5, 9, 11, 8, 3, 2, 1 }, { 13, 17, 15, 16, 5, 2, 2 }, { 6, 2, 3, 4, 5, 2, 2 },
        { 8, 33, 35, 20, 3, 1, 1 }, { 3, 1, 40, 2, 3, 1, 1 }, { 3, 40, 1, 2, 5, 2, 2 },
        { 2, 6, 6, 3, 3, 1, 0 }, { 4, 41, 37, 9, 3, 1, 1 }, { 16, 64, 64, 24, 3, 1, 1 },
        { 3, 21, 70, 5, 5, 2, 2 }, { 2, 9, 67, 3, 3, 2, 1 }, { 4, 11, 100, 6, 3, 3, 1 },
    };

    for (size_t s = 0; s < sizeof(cs) / sizeof(*cs); s++)
        for (int with_bias = 0; with_bias <= 1; with_bias++) {
            const ConvShape c = cs[s];
            const int oh = (c.h + 2 * c.pad - c.k) / c.stride + 1;
            const int ow = (c.w + 2 * c.pad - c.k) / c.stride + 1;
            const size_t nout = (size_t)c.cout * oh * ow;
            float *in = new_floats((size_t)c.cin * c.h * c.w);
            float *weight = new_floats((size_t)c.cout * c.cin * c.k * c.k);
            float *bias = with_bias ? new_floats(c.cout) : NULL;
            float *out = new_floats(nout);
            /* exactly the size asked for, so that ASan sees an overrun,
             * and misaligned by one float */
            float *scratch = new_floats(tec_conv2d_scratch(c.cin, c.h, c.w, c.k, c.stride, c.pad) + 1);
            double *ref = malloc(nout * sizeof(*ref)), *mag = malloc(nout * sizeof(*mag));
            int bad = 0;

            conv_ref(in, c.cin, c.h, c.w, weight, bias, c.cout, c.k, c.stride, c.pad, ref, mag);
            tec_conv2d_f32(in, c.cin, c.h, c.w, weight, bias, c.cout, c.k, c.stride,
                           c.pad, out, scratch + 1);
            for (size_t i = 0; i < nout; i++)
                bad += !close_to(out[i], ref[i], mag[i], 1e-5);
            if (bad)
                fprintf(stderr, "conv2d shape %zu bias %d: %d off\n", s, with_bias, bad);
            CHECK(!bad);
            CHECK(conv_is_gemm(in, c.cin, c.h, c.w, weight, bias, c.cout, c.k, c.stride,
                               c.pad, out));
            free(in); free(weight); free(bias); free(out); free(scratch); free(ref); free(mag);
        }
}

/* A tile convolved from its crop (with a 1-pixel halo) equals the same
 * region of the whole image's convolution, bit for bit. */
static void test_conv2d_tiles(void)
{
    const int cin = 7, cout = 12, h = 45, w = 70, k = 3;
    float *in = new_floats((size_t)cin * h * w), *weight = new_floats((size_t)cout * cin * k * k);
    float *bias = new_floats(cout), *full = malloc((size_t)cout * h * w * sizeof(float));
    float *scratch = malloc(tec_conv2d_scratch(cin, h, w, k, 1, 1) * sizeof(float));
    int same = 1;

    tec_conv2d_f32(in, cin, h, w, weight, bias, cout, k, 1, 1, full, scratch);
    for (int ty = 0; ty < h; ty += 16)
        for (int tx = 0; tx < w; tx += 24) {
            const int y0 = ty ? ty - 1 : 0, y1 = ty + 16 + 1 < h ? ty + 16 + 1 : h;
            const int x0 = tx ? tx - 1 : 0, x1 = tx + 24 + 1 < w ? tx + 24 + 1 : w;
            const int ch = y1 - y0, cw = x1 - x0;
            float *crop = malloc((size_t)cin * ch * cw * sizeof(float));
            float *out = malloc((size_t)cout * ch * cw * sizeof(float));
            float *tmp = malloc(tec_conv2d_scratch(cin, ch, cw, k, 1, 1) * sizeof(float));

            for (int ci = 0; ci < cin; ci++)
                for (int y = 0; y < ch; y++)
                    memcpy(crop + ((size_t)ci * ch + y) * cw, in + ((size_t)ci * h + y0 + y) * w + x0,
                           cw * sizeof(float));
            tec_conv2d_f32(crop, cin, ch, cw, weight, bias, cout, k, 1, 1, out, tmp);
            for (int o = 0; o < cout; o++)
                for (int y = ty; y < ty + 16 && y < h; y++)
                    for (int x = tx; x < tx + 24 && x < w; x++)
                        same &= out[((size_t)o * ch + y - y0) * cw + x - x0] ==
                                full[((size_t)o * h + y) * w + x];
            free(crop); free(out); free(tmp);
        }
    CHECK(same);
    free(in); free(weight); free(bias); free(full); free(scratch);
}

/* --------------------------------------------------- shuffle, GDN, ReLU */

static void test_pixel_shuffle(void)
{
    static const int dims[][3] = { { 1, 1, 1 }, { 2, 3, 5 }, { 3, 4, 1 }, { 1, 7, 8 } };

    for (size_t d = 0; d < sizeof(dims) / sizeof(*dims); d++) {
        const int c = dims[d][0], h = dims[d][1], w = dims[d][2];
        const size_t n = (size_t)4 * c * h * w;
        float *in = new_floats(n), *out = malloc(n * sizeof(float));
        int32_t *ini = malloc(n * sizeof(int32_t)), *outi = malloc(n * sizeof(int32_t));
        int ok = 1, oki = 1;

        for (size_t i = 0; i < n; i++)
            ini[i] = (int32_t)rnd();
        tec_pixel_shuffle2_f32(in, c, h, w, out);
        tec_pixel_shuffle2_i32(ini, c, h, w, outi);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < 2 * h; y++)
                for (int x = 0; x < 2 * w; x++) {
                    const size_t src = ((size_t)(4 * ch + 2 * (y % 2) + x % 2) * h + y / 2) * w + x / 2;
                    const size_t dst = ((size_t)ch * 2 * h + y) * 2 * w + x;
                    ok &= out[dst] == in[src];
                    oki &= outi[dst] == ini[src];
                }
        CHECK(ok);
        CHECK(oki);
        free(in); free(out); free(ini); free(outi);
    }
}

static void test_gdn(void)
{
    static const int dims[][2] = { { 1, 1 }, { 3, 7 }, { 64, 100 }, { 17, 1 } };

    for (size_t d = 0; d < sizeof(dims) / sizeof(*dims); d++)
        for (int inverse = 0; inverse <= 1; inverse++) {
            const int c = dims[d][0], n = dims[d][1];
            float *x = new_floats((size_t)c * n), *x0 = malloc((size_t)c * n * sizeof(float));
            float *beta = malloc(c * sizeof(float)), *gamma = malloc((size_t)c * c * sizeof(float));
            float *scratch = malloc((size_t)2 * c * n * sizeof(float));
            int bad = 0;

            for (int i = 0; i < c; i++)
                beta[i] = 0.5f + fabsf(rnd_f());
            for (int i = 0; i < c * c; i++)
                gamma[i] = 0.1f * fabsf(rnd_f());
            memcpy(x0, x, (size_t)c * n * sizeof(float));
            tec_gdn_f32(x, c, n, beta, gamma, inverse, scratch);
            for (int i = 0; i < c; i++)
                for (int p = 0; p < n; p++) {
                    double norm = beta[i];
                    for (int j = 0; j < c; j++)
                        norm += (double)gamma[i * c + j] * x0[j * n + p] * x0[j * n + p];
                    const double v = x0[i * n + p], want = inverse ? v * sqrt(norm) : v / sqrt(norm);
                    bad += !close_to(x[i * n + p], want, fabs(want), 1e-5);
                }
            CHECK(!bad);
            free(x); free(x0); free(beta); free(gamma); free(scratch);
        }
}

static void test_relu(void)
{
    float f[] = { -1.5f, 0.0f, 2.0f, -0.0f, -1e-30f, 3e38f };
    int32_t i[] = { -1, 0, 1, INT32_MIN, INT32_MAX };

    tec_relu_f32(f, 6);
    tec_relu_i32(i, 5);
    CHECK(f[0] == 0.0f && f[1] == 0.0f && f[2] == 2.0f && f[3] == 0.0f && f[4] == 0.0f && f[5] == 3e38f);
    CHECK(i[0] == 0 && i[1] == 0 && i[2] == 1 && i[3] == 0 && i[4] == INT32_MAX);
}

/* ------------------------------------------------- integer convolution */

static int32_t descale_ref(int64_t acc)
{
    const int64_t t = acc + 2048;
    int64_t q = t >= 0 ? t / 4096 : -((-t + 4095) / 4096);

    if (q > 2147483647)
        q = 2147483647;
    if (q < -2147483647)
        q = -2147483647;
    return (int32_t)q;
}

static void conv3x3_i32_ref(const int32_t *in, int cin, int h, int w, const int32_t *weight,
                            const int32_t *bias, int cout, int32_t *out)
{
    for (int o = 0; o < cout; o++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int64_t acc = bias[o];
                for (int ci = 0; ci < cin; ci++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            const int iy = y + ky - 1, ix = x + kx - 1;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                acc += (int64_t)weight[((o * cin + ci) * 3 + ky) * 3 + kx] *
                                       in[(ci * h + iy) * w + ix];
                        }
                out[(o * h + y) * w + x] = descale_ref(acc);
            }
}

/* What the kernels may use: the CPU's AVX2 unless TEC_CPU_FLAGS masks it. */
static int cpu_has_avx2(void) { return !!(tec_cpu_flags() & TEC_CPU_AVX2); }

/* Every path against the reference; returns the highest path that ran. */
static int check_conv3x3_paths(const int32_t *in, int cin, int h, int w, const int32_t *weight,
                               const int32_t *bias, int cout, const char *what)
{
    const size_t nout = (size_t)cout * h * w;
    int32_t *out = malloc(nout * sizeof(int32_t)), *want = malloc(nout * sizeof(int32_t));
    int top = 0;

    conv3x3_i32_ref(in, cin, h, w, weight, bias, cout, want);
    for (int path = 0; path <= 2; path++) {
        memset(out, 0x55, nout * sizeof(int32_t));
        const int ran = tec_conv3x3_i32_path(path, in, cin, h, w, weight, bias, cout, out);
        const int same = !memcmp(out, want, nout * sizeof(int32_t));
        if (!same)
            fprintf(stderr, "conv3x3_i32 %s %d->%d %dx%d: path %d (ran %d) differs\n",
                    what, cin, cout, h, w, path, ran);
        CHECK(same);
        CHECK(ran <= path);
        top = ran > top ? ran : top;
    }
    memset(out, 0x55, nout * sizeof(int32_t));
    tec_conv3x3_i32(in, cin, h, w, weight, bias, cout, out);
    CHECK(!memcmp(out, want, nout * sizeof(int32_t)));
    free(out);
    free(want);
    return top;
}

/* Random layers; amp bounds |weight| and |activation| (2^amp).  Returns the
 * highest path that ran. */
static int check_conv3x3_i32(int cin, int h, int w, int cout, int amp)
{
    const size_t nin = (size_t)cin * h * w;
    int32_t *in = malloc(nin * sizeof(int32_t)), *weight = malloc((size_t)cout * cin * 9 * sizeof(int32_t));
    int32_t *bias = calloc(cout, sizeof(int32_t));
    const int32_t mask = (int32_t)((1u << amp) - 1);
    char what[32];

    for (size_t i = 0; i < nin; i++)
        in[i] = (int32_t)(rnd() & mask) - mask / 2;
    for (int i = 0; i < cout * cin * 9; i++)
        weight[i] = (int32_t)(rnd() & mask) - mask / 2;
    for (int i = 0; i < cout; i++)
        bias[i] = (int32_t)rnd();
    snprintf(what, sizeof(what), "amp %d", amp);
    const int top = check_conv3x3_paths(in, cin, h, w, weight, bias, cout, what);
    free(in); free(weight); free(bias);
    return top;
}

/* Sums right at the 32-bit limit of the 16-bit path: every product has the
 * same sign, sum |w| * max |a| just below 2^31, then just above it. */
static void test_conv3x3_i16_limit(void)
{
    enum { CIN = 8, H = 5, W = 11, COUT = 3, K = CIN * 9 };
    static int32_t in[CIN * H * W], weight[COUT * K], bias[COUT];
    const int32_t amax = 32767, wfit = (int32_t)(2147483647 / ((int64_t)K * amax));

    for (int sign = -1; sign <= 1; sign += 2)
        for (int over = 0; over <= 1; over++) {
            for (int i = 0; i < CIN * H * W; i++)
                in[i] = sign * amax;
            for (int i = 0; i < COUT * K; i++)
                weight[i] = wfit + over;
            for (int o = 0; o < COUT; o++)
                bias[o] = -sign * 1000 * o;
            const int top = check_conv3x3_paths(in, CIN, H, W, weight, bias, COUT, "limit");
            /* just fitting takes the 16-bit path, one unit more must not */
            if (cpu_has_avx2())
                CHECK(top == (over ? 1 : 2));
        }
}

/* One input pixel, one centre weight: acc = bias + w * a exactly. */
static int32_t conv_single(int32_t bias, int32_t w, int32_t a)
{
    int32_t weight[9] = { 0 }, out;

    weight[4] = w;
    tec_conv3x3_i32(&a, 1, 1, 1, weight, &bias, 1, &out);
    return out;
}

/* The 1x1 layer of the channel context, every path against int64 sums
 * (amp 28 with at most 8 inputs: products near 2^56, saturated outputs). */
static void check_dense_i32(int cin, int n, int cout, int amp)
{
    int32_t *in = malloc((size_t)cin * n * sizeof(int32_t));
    int32_t *weight = malloc((size_t)cout * cin * sizeof(int32_t));
    int32_t *bias = malloc((size_t)cout * sizeof(int32_t));
    int32_t *want = malloc((size_t)cout * n * sizeof(int32_t));
    int32_t *out = malloc((size_t)cout * n * sizeof(int32_t));
    const int32_t mask = (int32_t)((1u << amp) - 1);

    for (int i = 0; i < cin * n; i++)
        in[i] = (int32_t)(rnd() & mask) - mask / 2;
    for (int i = 0; i < cout * cin; i++)
        weight[i] = (int32_t)(rnd() & mask) - mask / 2;
    for (int o = 0; o < cout; o++)
        bias[o] = (int32_t)rnd();
    for (int o = 0; o < cout; o++)
        for (int p = 0; p < n; p++) {
            int64_t acc = bias[o];
            for (int i = 0; i < cin; i++)
                acc += (int64_t)weight[o * cin + i] * in[i * n + p];
            want[o * n + p] = descale_ref(acc);
        }
    for (int path = 0; path <= 1; path++) {
        memset(out, 0x55, (size_t)cout * n * sizeof(int32_t));
        const int ran = tec_dense_i32_path(path, in, cin, n, weight, bias, cout, out);
        CHECK(ran <= path && (path == 0 || ran == !!cpu_has_avx2()));
        CHECK(!memcmp(out, want, (size_t)cout * n * sizeof(int32_t)));
    }
    free(in); free(weight); free(bias); free(want); free(out);
}

static void test_dense_i32(void)
{
    static const int dims[][3] = {
        { 1, 1, 1 }, { 3, 7, 2 }, { 8, 256, 5 }, { 5, 300, 3 }, { 24, 1024, 4 }, { 2, 513, 9 },
    };

    for (size_t d = 0; d < sizeof(dims) / sizeof(*dims); d++) {
        check_dense_i32(dims[d][0], dims[d][1], dims[d][2], 12);
        check_dense_i32(dims[d][0] < 8 ? dims[d][0] : 8, dims[d][1], dims[d][2], 28);
    }
}

static void test_conv3x3_i32(void)
{
    static const int dims[][4] = {
        { 1, 1, 1, 1 }, { 2, 1, 9, 3 }, { 3, 9, 1, 5 }, { 4, 7, 13, 4 }, { 5, 8, 8, 7 },
        { 8, 16, 17, 9 }, { 3, 32, 32, 12 }, { 6, 5, 23, 2 }, { 16, 11, 31, 6 },
    };

    for (size_t d = 0; d < sizeof(dims) / sizeof(*dims); d++) {
        /* small values, as in real models: the 16-bit path where there is AVX2 */
        const int top = check_conv3x3_i32(dims[d][0], dims[d][1], dims[d][2], dims[d][3], 10);
        CHECK(top == (cpu_has_avx2() ? 2 : 0));
        check_conv3x3_i32(dims[d][0], dims[d][1], dims[d][2], dims[d][3], 16);
        /* large values: products near 2^56, saturating outputs */
        check_conv3x3_i32(dims[d][0] < 8 ? dims[d][0] : 8, dims[d][1], dims[d][2], dims[d][3], 28);
    }
    test_conv3x3_i16_limit();

    /* round half up, including negative ties and exact multiples */
    static const struct { int32_t acc, out; } cases[] = {
        { 0, 0 }, { 2047, 0 }, { 2048, 1 }, { 4095, 1 }, { 6143, 1 }, { 6144, 2 },
        { -1, 0 }, { -2048, 0 }, { -2049, -1 }, { -4096, -1 }, { -6144, -1 },
        { -6145, -2 }, { INT32_MAX, 524288 }, { INT32_MIN, -524288 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        CHECK_EQ_INT(conv_single(cases[i].acc, 0, 12345), cases[i].out);
        CHECK_EQ_INT(conv_single(0, cases[i].acc, 1), cases[i].out);
    }
    /* saturation to [-2^31 + 1, 2^31 - 1] and its edges */
    CHECK_EQ_INT(conv_single(0, 1 << 30, 1 << 30), INT32_MAX);
    CHECK_EQ_INT(conv_single(0, -(1 << 30), 1 << 30), -INT32_MAX);
    CHECK_EQ_INT(conv_single(0, INT32_MIN, INT32_MIN), INT32_MAX);
    CHECK_EQ_INT(conv_single(0, INT32_MIN, INT32_MAX), -INT32_MAX);
    CHECK_EQ_INT(conv_single(-2048, 1 << 23, 1 << 20), INT32_MAX);                /* 2^31 */
    CHECK_EQ_INT(conv_single(-2049, 1 << 23, 1 << 20), INT32_MAX);
    CHECK_EQ_INT(conv_single(0, -(1 << 23), 1 << 20), -INT32_MAX);            /* -2^31 */
    CHECK_EQ_INT(conv_single(-2049, (1 << 23), -(1 << 20)), -INT32_MAX);
    CHECK_EQ_INT(conv_single(4096 - 2048, -(1 << 23), 1 << 20), -INT32_MAX);  /* -2^31 + 1 */
    CHECK_EQ_INT(conv_single(4096 + 2047, -(1 << 23), 1 << 20), -INT32_MAX);
    CHECK_EQ_INT(conv_single(-4096 - 2048, 1 << 23, 1 << 20), INT32_MAX);     /* 2^31 - 1 */
    CHECK_EQ_INT(conv_single(-4096 - 2049, 1 << 23, 1 << 20), INT32_MAX - 1);
}

int main(void)
{
    test_gemm_accuracy();
    test_gemm_fixed_order();
    test_gemm_pieces();
    test_gemm_threads();
    test_conv2d();
    test_conv2d_tiles();
    test_pixel_shuffle();
    test_gdn();
    test_relu();
    test_conv3x3_i32();
    test_dense_i32();
    return test_report("kernels");
}
