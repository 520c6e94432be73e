/* Tensor kernels: the fixed-order GEMM, im2col convolution, GDN, pixel
 * shuffle and the bit-exact integer convolution of the hyper-synthesis.
 *
 * Determinism of the GEMM: every output element is computed by one
 * accumulator that starts at 0 (or at C when accumulating) and adds
 * a[i][p] * b[p][j] for p = 0, 1, ..., k-1 in that order, the product
 * rounded to float and then the sum (never a fused multiply-add, which
 * rounds once and is not on every CPU).  SIMD lanes hold different output
 * columns, never parts of one sum, and a partial sum that crosses a k block
 * goes through C as a float, which is exact.  So an element's value depends
 * neither on the blocking, nor on which rows or columns a call covers, nor
 * on the path (portable C, AVX2, whatever the compiler vectorises for
 * aarch64): a matrix computed in pieces (tiles, threads) or on another
 * machine is bit-identical to one computed whole here.  Measured on this
 * machine's AVX2 kernel, giving up FMA costs no decoding time
 * (doc/results.md). */

/* The portable path must not be contracted into FMAs behind our back. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off", "vect-cost-model=dynamic")
#endif

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define TEC_X86_SIMD 1
#include <immintrin.h>
#else
#define TEC_X86_SIMD 0
#endif

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* Paths of the GEMM; part of the testing hook below. */
enum { GEMM_PATH_PORTABLE = 0, GEMM_PATH_AVX2 = 1 };

static int cpu_has_avx2(void) { return !!(tec_cpu_flags() & TEC_CPU_AVX2); }

/* ------------------------------------------------------------------ GEMM */

/* Micro-tile MR x NR (AVX2: 12 accumulators of 8 floats), depth block KC
 * (a KC x NR panel of B stays in L1), MC rows of A per block (L2) and NC
 * columns of B per block. */
enum { MR = 6, NR = 16, KC = 256, MC = 144, NC = 1024 };

/* c[MR][NR] (row stride ldc) = (load_c ? c : 0) + sum over the kc packed
 * steps, in order. */
typedef void (*MicroKernel)(int kc, const float *ap, const float *bp,
                            float *c, ptrdiff_t ldc, int load_c);

#if defined(__GNUC__)
/* The portable kernel in GCC's generic vectors: SSE2 on any x86-64, NEON on
 * aarch64, plain code elsewhere.  Lane-wise mul and add are the same IEEE
 * operations as the AVX2 kernel's. */
typedef float Vec4 __attribute__((vector_size(16)));

static inline Vec4 load4(const float *p)
{
    Vec4 v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static void kernel_6x16_c(int kc, const float *ap, const float *bp,
                          float *c, ptrdiff_t ldc, int load_c)
{
    Vec4 acc[MR][NR / 4];

    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR / 4; j++)
            acc[i][j] = load_c ? load4(c + i * ldc + 4 * j) : (Vec4){ 0, 0, 0, 0 };
    for (int p = 0; p < kc; p++, ap += MR, bp += NR) {
        const Vec4 b0 = load4(bp), b1 = load4(bp + 4), b2 = load4(bp + 8), b3 = load4(bp + 12);
        for (int i = 0; i < MR; i++) {
            const Vec4 a = { ap[i], ap[i], ap[i], ap[i] };
            acc[i][0] = acc[i][0] + a * b0;
            acc[i][1] = acc[i][1] + a * b1;
            acc[i][2] = acc[i][2] + a * b2;
            acc[i][3] = acc[i][3] + a * b3;
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR / 4; j++)
            memcpy(c + i * ldc + 4 * j, &acc[i][j], sizeof(acc[i][j]));
}
#else
static void kernel_6x16_c(int kc, const float *ap, const float *bp,
                          float *c, ptrdiff_t ldc, int load_c)
{
    float acc[MR][NR];

    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            acc[i][j] = load_c ? c[i * ldc + j] : 0.0f;
    for (int p = 0; p < kc; p++, ap += MR, bp += NR)
        for (int i = 0; i < MR; i++) {
            const float a = ap[i];
            for (int j = 0; j < NR; j++)
                acc[i][j] = acc[i][j] + a * bp[j];
        }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            c[i * ldc + j] = acc[i][j];
}
#endif

#if TEC_X86_SIMD
#define ROW_LOAD(i) \
    c##i##l = _mm256_loadu_ps(c + (i) * ldc); c##i##h = _mm256_loadu_ps(c + (i) * ldc + 8)
#define ROW_ZERO(i) c##i##l = c##i##h = _mm256_setzero_ps()
#define ROW_STORE(i) \
    _mm256_storeu_ps(c + (i) * ldc, c##i##l); _mm256_storeu_ps(c + (i) * ldc + 8, c##i##h)
/* mul then add: the portable kernel's two roundings, lane by lane */
#define ROW_MUL_ADD(i) do { \
    const __m256 a = _mm256_broadcast_ss(ap + (i)); \
    c##i##l = _mm256_add_ps(c##i##l, _mm256_mul_ps(a, b0)); \
    c##i##h = _mm256_add_ps(c##i##h, _mm256_mul_ps(a, b1)); \
} while (0)

__attribute__((target("avx2")))
static void kernel_6x16_avx2(int kc, const float *ap, const float *bp,
                             float *c, ptrdiff_t ldc, int load_c)
{
    __m256 c0l, c0h, c1l, c1h, c2l, c2h, c3l, c3h, c4l, c4h, c5l, c5h;

    if (load_c) {
        ROW_LOAD(0); ROW_LOAD(1); ROW_LOAD(2); ROW_LOAD(3); ROW_LOAD(4); ROW_LOAD(5);
    } else {
        ROW_ZERO(0); ROW_ZERO(1); ROW_ZERO(2); ROW_ZERO(3); ROW_ZERO(4); ROW_ZERO(5);
    }
    for (int p = 0; p < kc; p++, ap += MR, bp += NR) {
        const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        ROW_MUL_ADD(0); ROW_MUL_ADD(1); ROW_MUL_ADD(2);
        ROW_MUL_ADD(3); ROW_MUL_ADD(4); ROW_MUL_ADD(5);
    }
    ROW_STORE(0); ROW_STORE(1); ROW_STORE(2); ROW_STORE(3); ROW_STORE(4); ROW_STORE(5);
}
#undef ROW_LOAD
#undef ROW_ZERO
#undef ROW_STORE
#undef ROW_MUL_ADD
#endif

/* A block (mc x kc) as MR-row micro-panels, k-major inside a panel; rows
 * past mc are zero. */
static void pack_a(int mc, int kc, const float *a, ptrdiff_t lda, float *dst)
{
    for (int i0 = 0; i0 < mc; i0 += MR, dst += MR * kc)
        for (int r = 0; r < MR; r++) {
            if (i0 + r < mc) {
                const float *src = a + (i0 + r) * lda;
                for (int p = 0; p < kc; p++)
                    dst[p * MR + r] = src[p];
            } else {
                for (int p = 0; p < kc; p++)
                    dst[p * MR + r] = 0.0f;
            }
        }
}

/* One micro-panel of B (kc x cols, cols <= NR), k-major; columns past
 * cols are zero. */
static void pack_b(int kc, int cols, const float *b, ptrdiff_t ldb, float *dst)
{
    if (cols == NR) {  /* fixed-size copies, which compilers inline */
        for (int p = 0; p < kc; p++) {
            __builtin_prefetch(b + p * ldb + 2 * NR);
            memcpy(dst + p * NR, b + p * ldb, NR * sizeof(*dst));
        }
        return;
    }
    for (int p = 0; p < kc; p++)
        for (int j = 0; j < NR; j++)
            dst[p * NR + j] = j < cols ? b[p * ldb + j] : 0.0f;
}

/* One micro-tile; a partial tile at an edge goes through a full-size
 * buffer so it runs the very same kernel (and arithmetic). */
static void micro_tile(MicroKernel kernel, int rows, int cols, int kc,
                       const float *ap, const float *bp,
                       float *c, ptrdiff_t ldc, int load_c)
{
    if (rows == MR && cols == NR) {
        kernel(kc, ap, bp, c, ldc, load_c);
        return;
    }
    float tile[MR * NR] = { 0 };
    if (load_c)
        for (int i = 0; i < rows; i++)
            memcpy(tile + i * NR, c + i * ldc, cols * sizeof(*c));
    kernel(kc, ap, bp, tile, NR, load_c);
    for (int i = 0; i < rows; i++)
        memcpy(c + i * ldc, tile + i * NR, cols * sizeof(*c));
}

/* B as the GEMM reads it: row-major (packed on the fly), or already packed
 * as NR-column panels of the full depth, panel j at packed + j * NR * k
 * (what im2col writes for the convolution). */
typedef struct MatrixB {
    const float *b;
    ptrdiff_t ldb;
    const float *packed;
} MatrixB;

static float b_at(const MatrixB *b, int k, int p, int j)
{
    return b->packed ? b->packed[(ptrdiff_t)(j / NR) * NR * k + p * NR + j % NR]
                     : b->b[p * b->ldb + j];
}

/* The blocked loops: column blocks of B, depth blocks, row blocks of A,
 * then micro-tiles.  abuf and bbuf hold packed blocks (32-byte aligned). */
static void gemm_blocked(MicroKernel kernel, int m, int n, int k,
                         const float *a, ptrdiff_t lda, const MatrixB *b,
                         float *c, ptrdiff_t ldc, int accumulate,
                         float *abuf, float *bbuf)
{
    for (int jc = 0; jc < n; jc += NC) {
        const int nc = imin(NC, n - jc);
        for (int pc = 0; pc < k; pc += KC) {
            const int kc = imin(KC, k - pc);
            const int load_c = accumulate || pc > 0;
            for (int ic = 0; ic < m; ic += MC) {
                const int mc = imin(MC, m - ic);
                pack_a(mc, kc, a + ic * lda + pc, lda, abuf);
                for (int jr = 0; jr < nc; jr += NR) {
                    const float *bp = bbuf + jr * kc;
                    /* B is packed on first use, while it is hot for the
                     * kernel; later row blocks reuse it. */
                    if (b->packed)
                        bp = b->packed + (ptrdiff_t)(jc + jr) * k + pc * NR;
                    else if (ic == 0)
                        pack_b(kc, imin(NR, nc - jr), b->b + pc * b->ldb + jc + jr, b->ldb,
                               bbuf + jr * kc);
                    for (int ir = 0; ir < mc; ir += MR)
                        micro_tile(kernel, imin(MR, mc - ir), imin(NR, nc - jr), kc,
                                   abuf + ir * kc, bp,
                                   c + (ic + ir) * ldc + jc + jr, ldc, load_c);
                }
            }
        }
    }
}

/* Unblocked, same order and arithmetic: used when packing memory is not
 * available. */
static void gemm_unblocked(int m, int n, int k, const float *a, ptrdiff_t lda,
                           const MatrixB *b, float *c, ptrdiff_t ldc, int accumulate)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float acc = accumulate ? c[i * ldc + j] : 0.0f;
            for (int p = 0; p < k; p++)
                acc = acc + a[i * lda + p] * b_at(b, k, p, j);
            c[i * ldc + j] = acc;
        }
}

static size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

static int own_path(void)
{
    return cpu_has_avx2() ? GEMM_PATH_AVX2 : GEMM_PATH_PORTABLE;
}

/* The GEMM on a path; returns the path run (a path the CPU lacks, or
 * TEC_CPU_FLAGS masks, falls back to the portable one). */
static int gemm_own(int path, int m, int n, int k, const float *a, ptrdiff_t lda,
                    const MatrixB *b, float *c, ptrdiff_t ldc, int accumulate)
{
    MicroKernel kernel = kernel_6x16_c;
#if TEC_X86_SIMD
    if (path == GEMM_PATH_AVX2 && cpu_has_avx2())
        kernel = kernel_6x16_avx2;
    else
#endif
        path = GEMM_PATH_PORTABLE;

    if (m <= 0 || n <= 0)
        return path;
    if (k <= 0) {
        for (int i = 0; i < m && !accumulate; i++)
            memset(c + i * ldc, 0, n * sizeof(*c));
        return path;
    }

    const size_t kc = (size_t)imin(k, KC);
    const size_t asize = round_up(round_up(imin(m, MC), MR) * kc * sizeof(float), 64);
    const size_t bsize = b->packed ? 0 : round_up(round_up(imin(n, NC), NR) * kc * sizeof(float), 64);
    float *buf = aligned_alloc(64, asize + bsize);
    if (!buf) {
        gemm_unblocked(m, n, k, a, lda, b, c, ldc, accumulate);
        return path;
    }
    gemm_blocked(kernel, m, n, k, a, lda, b, c, ldc, accumulate, buf, buf + asize / sizeof(float));
    free(buf);
    return path;
}

/* Testing hook, not in kernels.h: the GEMM on a chosen path (0 portable,
 * 1 AVX2).  Returns the path run. */
int tec_gemm_own_path(int path, int m, int n, int k,
                      const float *a, int lda, const float *b, int ldb,
                      float *c, int ldc, int accumulate);

int tec_gemm_own_path(int path, int m, int n, int k,
                      const float *a, int lda, const float *b, int ldb,
                      float *c, int ldc, int accumulate)
{
    const MatrixB mb = { b, ldb, NULL };
    return gemm_own(path, m, n, k, a, lda, &mb, c, ldc, accumulate);
}

void tec_gemm_f32(int m, int n, int k,
                  const float *a, int lda, const float *b, int ldb,
                  float *c, int ldc, int accumulate)
{
    tec_gemm_own_path(own_path(), m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

/* ----------------------------------------------------------- convolution */

/* Output positions per im2col chunk: bounds the scratch and keeps the
 * column block near the caches; results do not depend on it (see top).
 * A multiple of NR. */
enum { CONV_CHUNK = 1024 };
/* Floats of slack that let the scratch be aligned to 64 bytes. */
enum { SCRATCH_ALIGN = 16 };

static int conv_out_size(int in, int k, int stride, int pad)
{
    return in + 2 * pad < k ? 0 : (in + 2 * pad - k) / stride + 1;
}

static int is_pointwise(int k, int stride, int pad) { return k == 1 && stride == 1 && pad == 0; }

size_t tec_conv2d_scratch(int cin, int h, int w, int k, int stride, int pad)
{
    const size_t npos = (size_t)conv_out_size(h, k, stride, pad) * conv_out_size(w, k, stride, pad);

    if (is_pointwise(k, stride, pad) || !npos)
        return 0;
    return (size_t)cin * k * k * round_up(npos < CONV_CHUNK ? npos : CONV_CHUNK, NR) + SCRATCH_ALIGN;
}

/* dst[i] = src[2 i] for i < NR, reading src[0 .. 2 NR - 1]: the inner
 * copy of stride-2 convolutions. */
static void gather16_stride2(float *dst, const float *src)
{
#if TEC_X86_SIMD && defined(__SSE2__)
    for (int i = 0; i < NR; i += 4, src += 8)
        _mm_storeu_ps(dst + i, _mm_shuffle_ps(_mm_loadu_ps(src), _mm_loadu_ps(src + 4),
                                              _MM_SHUFFLE(2, 0, 2, 0)));
#else
    for (int i = 0; i < NR; i++)
        dst[i] = src[2 * i];
#endif
}

/* dst[i] = src[x0 + i * stride] for i < count, 0 where outside [0, w). */
static void gather_row(float *dst, const float *src, int w, int x0, int count, int stride)
{
    if (x0 >= 0 && x0 + (count - 1) * stride < w) {  /* all inside: the common case */
        src += x0;
        if (stride == 1)
            memcpy(dst, src, count * sizeof(*dst));
        else if (stride == 2 && count == NR && x0 + 2 * NR <= w)
            gather16_stride2(dst, src);
        else
            for (int i = 0; i < count; i++)
                dst[i] = src[i * stride];
        return;
    }
    /* inside for lo <= i < hi */
    const int lo = imin(x0 >= 0 ? 0 : (-x0 + stride - 1) / stride, count);
    const int hi = x0 >= w ? lo : imin(imax((w - 1 - x0) / stride + 1, lo), count);

    memset(dst, 0, lo * sizeof(*dst));
    if (stride == 1)
        memcpy(dst + lo, src + x0 + lo, (hi - lo) * sizeof(*dst));
    else if (stride == 2)
        for (int i = lo; i < hi; i++)
            dst[i] = src[x0 + 2 * i];
    else
        for (int i = lo; i < hi; i++)
            dst[i] = src[x0 + i * stride];
    memset(dst + hi, 0, (count - hi) * sizeof(*dst));
}

/* The im2col matrix of a chunk (rows (ci, ky, kx) matching the weight
 * layout, one column per output position pos0 .. pos0 + npos - 1), laid out
 * as the GEMM's full-depth NR-column panels and written panel by panel so
 * that the writes stay in cache. */
static void im2col_packed(const float *in, int cin, int h, int w, int k, int stride, int pad,
                          int ow, int pos0, int npos, float *col)
{
    const int depth = cin * k * k;

    for (int j0 = 0; j0 < npos; j0 += NR, col += (size_t)NR * depth) {
        const int cols = imin(NR, npos - j0);
        for (int r = 0; r < depth; r++)
            memset(col + r * NR + cols, 0, (NR - cols) * sizeof(*col));
        /* a panel's positions, split where output rows end */
        for (int j = 0; j < cols;) {
            const int pos = pos0 + j0 + j, oy = pos / ow, ox = pos % ow;
            const int count = imin(ow - ox, cols - j);
            float *dst = col + j;
            for (int ci = 0; ci < cin; ci++)
                for (int ky = 0; ky < k; ky++) {
                    const int iy = oy * stride + ky - pad;
                    if (iy < 0 || iy >= h) {
                        for (int kx = 0; kx < k; kx++, dst += NR)
                            memset(dst, 0, count * sizeof(*dst));
                        continue;
                    }
                    const float *src = in + ((size_t)ci * h + iy) * w;
                    for (int kx = 0; kx < k; kx++, dst += NR)
                        gather_row(dst, src, w, ox * stride + kx - pad, count, stride);
                }
            j += count;
        }
    }
}

void tec_conv2d_f32(const float *in, int cin, int h, int w,
                    const float *weight, const float *bias, int cout, int k,
                    int stride, int pad, float *out, float *scratch)
{
    const int oh = conv_out_size(h, k, stride, pad), ow = conv_out_size(w, k, stride, pad);
    const int npos = oh * ow, depth = cin * k * k, path = own_path();

    if (npos <= 0 || cout <= 0)
        return;
    /* The bias starts each sum, so it takes part in the fixed order too. */
    for (int o = 0; o < cout && bias; o++)
        for (int p = 0; p < npos; p++)
            out[(size_t)o * npos + p] = bias[o];

    if (is_pointwise(k, stride, pad)) {
        tec_gemm_f32(cout, npos, cin, weight, cin, in, npos, out, npos, bias != NULL);
        return;
    }
    /* the kernel reads packed panels with aligned loads */
    float *col = scratch + (64 - (uintptr_t)scratch % 64) % 64 / sizeof(float);
    for (int pos0 = 0; pos0 < npos; pos0 += CONV_CHUNK) {
        const int n = imin(CONV_CHUNK, npos - pos0);
        const MatrixB b = { NULL, 0, col };
        im2col_packed(in, cin, h, w, k, stride, pad, ow, pos0, n, col);
        gemm_own(path, cout, n, depth, weight, depth, &b, out + pos0, npos, bias != NULL);
    }
}

/* --------------------------------------------------- shuffle, GDN, ReLU */

void tec_pixel_shuffle2_f32(const float *in, int c, int h, int w, float *out)
{
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int dy = 0; dy < 2; dy++) {
                const float *s0 = in + (((size_t)ch * 4 + 2 * dy) * h + y) * w;
                const float *s1 = s0 + (size_t)h * w;
                float *d = out + ((size_t)ch * 2 * h + 2 * y + dy) * 2 * w;
                for (int x = 0; x < w; x++) {
                    d[2 * x] = s0[x];
                    d[2 * x + 1] = s1[x];
                }
            }
}

void tec_pixel_shuffle2_i32(const int32_t *in, int c, int h, int w, int32_t *out)
{
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int dy = 0; dy < 2; dy++) {
                const int32_t *s0 = in + (((size_t)ch * 4 + 2 * dy) * h + y) * w;
                const int32_t *s1 = s0 + (size_t)h * w;
                int32_t *d = out + ((size_t)ch * 2 * h + 2 * y + dy) * 2 * w;
                for (int x = 0; x < w; x++) {
                    d[2 * x] = s0[x];
                    d[2 * x + 1] = s1[x];
                }
            }
}

void tec_gdn_f32(float *x, int c, int n, const float *beta, const float *gamma,
                 int inverse, float *scratch)
{
    const size_t size = (size_t)c * n;
    float *sq = scratch, *norm = scratch + size;

    if (c <= 0 || n <= 0)
        return;
    for (size_t i = 0; i < size; i++)
        sq[i] = x[i] * x[i];
    for (int i = 0; i < c; i++)
        for (int p = 0; p < n; p++)
            norm[(size_t)i * n + p] = beta[i];
    /* norm_i = beta_i + sum_j gamma_ij x_j^2, in the GEMM's fixed order */
    tec_gemm_f32(c, n, c, gamma, c, sq, n, norm, n, 1);
    if (inverse)
        for (size_t i = 0; i < size; i++)
            x[i] = x[i] * sqrtf(norm[i]);
    else
        for (size_t i = 0; i < size; i++)
            x[i] = x[i] / sqrtf(norm[i]);
}

void tec_relu_f32(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void tec_relu_i32(int32_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] < 0 ? 0 : x[i];
}

/* ------------------------------------------------- integer convolution */

/* Accumulators wrap modulo 2^64 (unsigned) so that an overflowing, hence
 * invalid, stream is still defined behaviour and the same on every path;
 * within range this is exactly the spec's i64 arithmetic. */
static int64_t u64_to_i64(uint64_t u)
{
    return u <= INT64_MAX ? (int64_t)u : -(int64_t)(UINT64_MAX - u) - 1;
}

/* floor((acc + 2^11) / 2^12) saturated to [-2^31 + 1, 2^31 - 1], written
 * so that no step overflows and no negative value is shifted. */
static int32_t descale_i32(uint64_t acc_bits)
{
    const int64_t acc = u64_to_i64(acc_bits);
    int64_t q = acc / 4096, r = acc % 4096;  /* truncated toward zero */

    if (r < 0) {
        q -= 1;
        r += 4096;
    }
    q += r >= 2048;
    return tec_saturate_i32(q);
}

static uint64_t mul_i32(int32_t a, int32_t b) { return (uint64_t)((int64_t)a * b); }

/* Direct form with bounds tests: the portable path. */
static void conv3x3_i32_c(const int32_t *in, int cin, int h, int w,
                          const int32_t *weight, const int32_t *bias, int cout,
                          int32_t *out)
{
    for (int o = 0; o < cout; o++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint64_t acc = (uint64_t)(int64_t)bias[o];
                for (int ci = 0; ci < cin; ci++) {
                    const int32_t *wt = weight + ((size_t)o * cin + ci) * 9;
                    const int32_t *src = in + (size_t)ci * h * w;
                    for (int ky = 0; ky < 3; ky++) {
                        const int iy = y + ky - 1;
                        if (iy < 0 || iy >= h)
                            continue;
                        for (int kx = 0; kx < 3; kx++) {
                            const int ix = x + kx - 1;
                            if (ix >= 0 && ix < w)
                                acc += mul_i32(wt[ky * 3 + kx], src[iy * w + ix]);
                        }
                    }
                }
                out[((size_t)o * h + y) * w + x] = descale_i32(acc);
            }
}

/* Narrow path: when every activation and weight fits in 16 bits and no
 * output's sum can leave 32 bits (sum of |weight| times the largest
 * |activation|, plus nothing else, below 2^31), 32-bit accumulation of the
 * same products gives the i64 result exactly, whatever the order.  AVX2's
 * madd then multiplies 16 pairs per instruction instead of 4.  Real models
 * keep their activations small, so this is the path a valid stream takes;
 * anything else falls back to the 64-bit path above. */
enum { I16_LIMIT = 32767 };

static int32_t max_abs_i32(const int32_t *v, size_t n)
{
    int64_t m = 0;

    for (size_t i = 0; i < n; i++) {
        const int64_t a = v[i] < 0 ? -(int64_t)v[i] : v[i];
        m = a > m ? a : m;
    }
    return m > INT32_MAX ? INT32_MAX : (int32_t)m;
}

/* Whether every output's sum fits in 32 bits: taps weights per output
 * (cin x 9 for the 3x3 convolution, cin for a 1x1 layer), all of them and
 * every input within 16 bits. */
static int narrow_sums_fit(const int32_t *in, size_t nin, const int32_t *weight, int taps,
                           int cout)
{
    const int64_t amax = max_abs_i32(in, nin);

    if (amax > I16_LIMIT)
        return 0;
    for (int o = 0; o < cout; o++) {
        const int32_t *wt = weight + (size_t)o * taps;
        int64_t l1 = 0;
        for (int k = 0; k < taps; k++) {
            const int64_t a = wt[k] < 0 ? -(int64_t)wt[k] : wt[k];
            if (a > I16_LIMIT)
                return 0;
            l1 += a;
        }
        if (l1 * amax > INT32_MAX)
            return 0;
    }
    return 1;
}

/* The narrow form in portable C: 16-bit samples and weights, 32-bit sums,
 * over rows of a zero-bordered copy of the input, so that compilers
 * vectorise the inner loop (widening multiplies on SSE2 and NEON).  The
 * bias joins in 64 bits at the end, as in the AVX2 narrow path.  Returns
 * -1 without memory (the caller falls back to the direct form). */
static int conv3x3_i16_c(const int32_t *in, int cin, int h, int w,
                         const int32_t *weight, const int32_t *bias, int cout,
                         int32_t *out)
{
    const int ws = w + 2;
    const size_t plane = (size_t)(h + 2) * ws, taps = (size_t)cout * cin * 9;
    int16_t *pad = calloc(plane * cin, sizeof(*pad));
    int16_t *wt16 = malloc(taps * sizeof(*wt16));
    int32_t *acc = malloc((size_t)w * sizeof(*acc));

    if (!pad || !wt16 || !acc) {
        free(pad);
        free(wt16);
        free(acc);
        return -1;
    }
    for (int c = 0; c < cin; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                pad[c * plane + (size_t)(y + 1) * ws + x + 1] = (int16_t)in[((size_t)c * h + y) * w + x];
    for (size_t t = 0; t < taps; t++)
        wt16[t] = (int16_t)weight[t];
    for (int o = 0; o < cout; o++)
        for (int y = 0; y < h; y++) {
            memset(acc, 0, (size_t)w * sizeof(*acc));
            for (int ci = 0; ci < cin; ci++) {
                const int16_t *wt = wt16 + ((size_t)o * cin + ci) * 9;
                const int16_t *src = pad + ci * plane + (size_t)y * ws;
                for (int t = 0; t < 9; t++) {
                    const int16_t *row = src + (t / 3) * ws + t % 3;
                    const int32_t wv = wt[t];
                    for (int x = 0; x < w; x++)
                        acc[x] += wv * row[x];
                }
            }
            int32_t *dst = out + ((size_t)o * h + y) * w;
            const uint64_t b = (uint64_t)(int64_t)bias[o];
            for (int x = 0; x < w; x++)
                dst[x] = descale_i32(b + (uint64_t)(int64_t)acc[x]);
        }
    free(pad);
    free(wt16);
    free(acc);
    return 0;
}

#if TEC_X86_SIMD
/* One output row segment of 8 pixels for 4 output channels, fully in
 * registers.  pad is the zero-bordered input (row stride ws); _mm256_mul_epi32
 * multiplies the even 32-bit lanes into 64 bits, so the odd pixels are
 * shifted down into even lanes: acc_e holds pixels 0,2,4,6, acc_o 1,3,5,7. */
#define TAP(j, k) do { \
    const __m256i wv = _mm256_set1_epi32(wt[j][k]); \
    e##j = _mm256_add_epi64(e##j, _mm256_mul_epi32(v, wv)); \
    d##j = _mm256_add_epi64(d##j, _mm256_mul_epi32(vo, wv)); \
} while (0)

__attribute__((target("avx2")))
static void conv3x3_row8_avx2(const int32_t *pad, int cin, size_t plane, int ws,
                              const int32_t *const wt_base[4], int64_t acc[4][8])
{
    __m256i e0 = _mm256_setzero_si256(), e1 = e0, e2 = e0, e3 = e0;
    __m256i d0 = e0, d1 = e0, d2 = e0, d3 = e0;

    for (int ci = 0; ci < cin; ci++, pad += plane) {
        const int32_t *wt[4] = { wt_base[0] + ci * 9, wt_base[1] + ci * 9,
                                 wt_base[2] + ci * 9, wt_base[3] + ci * 9 };
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
                const int t = ky * 3 + kx;
                const __m256i v = _mm256_loadu_si256((const __m256i *)(pad + ky * ws + kx));
                const __m256i vo = _mm256_srli_epi64(v, 32);
                TAP(0, t); TAP(1, t); TAP(2, t); TAP(3, t);
            }
    }
    const __m256i even[4] = { e0, e1, e2, e3 }, odd[4] = { d0, d1, d2, d3 };
    for (int j = 0; j < 4; j++) {
        int64_t e[4], o[4];
        _mm256_storeu_si256((__m256i *)e, even[j]);
        _mm256_storeu_si256((__m256i *)o, odd[j]);
        for (int l = 0; l < 4; l++) {
            acc[j][2 * l] = e[l];
            acc[j][2 * l + 1] = o[l];
        }
    }
}

/* Zero-bordered copy of the input: (h + 2) rows of ws >= w + 2 values, ws
 * rounded so that 8-pixel segments never read past a row. */
static int32_t *pad_input(const int32_t *in, int cin, int h, int w, int ws)
{
    const size_t plane = (size_t)(h + 2) * ws;
    int32_t *pad = calloc(plane * cin + 8, sizeof(*pad));

    for (int ci = 0; pad && ci < cin; ci++)
        for (int y = 0; y < h; y++)
            memcpy(pad + ci * plane + (size_t)(y + 1) * ws + 1,
                   in + ((size_t)ci * h + y) * w, w * sizeof(*in));
    return pad;
}

static int conv3x3_i32_avx2(const int32_t *in, int cin, int h, int w,
                            const int32_t *weight, const int32_t *bias, int cout,
                            int32_t *out)
{
    const int ws = (w + 7) / 8 * 8 + 2;
    const size_t plane = (size_t)(h + 2) * ws;
    int32_t *pad = pad_input(in, cin, h, w, ws);

    if (!pad)
        return -1;
    for (int o0 = 0; o0 < cout; o0 += 4) {
        const int nout = imin(4, cout - o0);
        const int32_t *wt[4];
        for (int j = 0; j < 4; j++)  /* missing channels repeat the last one */
            wt[j] = weight + (size_t)(o0 + imin(j, nout - 1)) * cin * 9;
        for (int y = 0; y < h; y++)
            for (int x0 = 0; x0 < w; x0 += 8) {
                int64_t acc[4][8];
                conv3x3_row8_avx2(pad + (size_t)y * ws + x0, cin, plane, ws, wt, acc);
                for (int j = 0; j < nout; j++) {
                    int32_t *dst = out + ((size_t)(o0 + j) * h + y) * w;
                    const uint64_t b = (uint64_t)(int64_t)bias[o0 + j];
                    for (int x = x0; x < imin(x0 + 8, w); x++)
                        dst[x] = descale_i32(b + (uint64_t)acc[j][x - x0]);
                }
            }
    }
    free(pad);
    return 0;
}


static uint32_t pack_pair(int32_t lo, int32_t hi)
{
    return (uint32_t)(uint16_t)(int16_t)lo | (uint32_t)(uint16_t)(int16_t)hi << 16;
}

/* 4 output channels x 16 pixels of one row; pad holds channel pairs, one
 * 32-bit word per pixel, and wpk the matching weight pairs [pair][tap][4]
 * of this group of outputs.  Named accumulators stay in registers. */
#define PAIR_TAP(j) do { \
    const __m256i wv = _mm256_set1_epi32((int32_t)wpk[j]); \
    a##j = _mm256_add_epi32(a##j, _mm256_madd_epi16(va, wv)); \
    b##j = _mm256_add_epi32(b##j, _mm256_madd_epi16(vb, wv)); \
} while (0)

__attribute__((target("avx2")))
static void conv3x3_pairs_row16_avx2(const uint32_t *pad, int pairs, size_t plane, int ws,
                                     const uint32_t *wpk, int32_t acc[4][16])
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    __m256i b0 = a0, b1 = a0, b2 = a0, b3 = a0;

    for (int p = 0; p < pairs; p++, pad += plane)
        for (int t = 0; t < 9; t++, wpk += 4) {
            const uint32_t *row = pad + (t / 3) * ws + t % 3;
            const __m256i va = _mm256_loadu_si256((const __m256i *)row);
            const __m256i vb = _mm256_loadu_si256((const __m256i *)(row + 8));
            PAIR_TAP(0); PAIR_TAP(1); PAIR_TAP(2); PAIR_TAP(3);
        }
    const __m256i lo[4] = { a0, a1, a2, a3 }, hi[4] = { b0, b1, b2, b3 };
    for (int j = 0; j < 4; j++) {
        _mm256_storeu_si256((__m256i *)acc[j], lo[j]);
        _mm256_storeu_si256((__m256i *)(acc[j] + 8), hi[j]);
    }
}
#undef PAIR_TAP

static int conv3x3_i16_avx2(const int32_t *in, int cin, int h, int w,
                            const int32_t *weight, const int32_t *bias, int cout,
                            int32_t *out)
{
    const int pairs = (cin + 1) / 2, couts = (cout + 3) / 4 * 4;
    const int ws = (w + 15) / 16 * 16 + 2;
    const size_t plane = (size_t)(h + 2) * ws;
    uint32_t *pad = calloc(plane * pairs + 8, sizeof(*pad));
    uint32_t *wpk = calloc((size_t)couts * pairs * 9, sizeof(*wpk));

    if (!pad || !wpk) {
        free(pad);
        free(wpk);
        return -1;
    }
    for (int c = 0; c < cin; c++)
        for (int y = 0; y < h; y++) {
            const int32_t *src = in + ((size_t)c * h + y) * w;
            uint32_t *dst = pad + (size_t)(c / 2) * plane + (size_t)(y + 1) * ws + 1;
            const int shift = c % 2 ? 16 : 0;
            for (int x = 0; x < w; x++)
                dst[x] |= (uint32_t)(uint16_t)(int16_t)src[x] << shift;
        }
    /* [group of 4 outputs][pair][tap][4]; missing outputs keep zero weights */
    for (int o = 0; o < cout; o++)
        for (int p = 0; p < pairs; p++)
            for (int t = 0; t < 9; t++) {
                const int32_t *wo = weight + (size_t)o * cin * 9;
                const int32_t hi = 2 * p + 1 < cin ? wo[(2 * p + 1) * 9 + t] : 0;
                wpk[(((size_t)(o / 4) * pairs + p) * 9 + t) * 4 + o % 4] =
                    pack_pair(wo[2 * p * 9 + t], hi);
            }
    for (int o0 = 0; o0 < cout; o0 += 4) {
        const int nout = imin(4, cout - o0);
        for (int y = 0; y < h; y++)
            for (int x0 = 0; x0 < w; x0 += 16) {
                int32_t acc[4][16];
                conv3x3_pairs_row16_avx2(pad + (size_t)y * ws + x0, pairs, plane, ws,
                                         wpk + (size_t)o0 * pairs * 9, acc);
                for (int j = 0; j < nout; j++) {
                    int32_t *dst = out + ((size_t)(o0 + j) * h + y) * w;
                    const uint64_t b = (uint64_t)(int64_t)bias[o0 + j];
                    for (int x = x0; x < imin(x0 + 16, w); x++)
                        dst[x] = descale_i32(b + (uint64_t)(int64_t)acc[j][x - x0]);
                }
            }
    }
    free(pad);
    free(wpk);
    return 0;
}
#endif

/* ---------------------------------------------- integer 1x1 (dense) layer */

enum { DENSE_SPAN = 256 };  /* positions per pass: the accumulators stay in L1 */

/* out[o][p] = descale(bias[o] + sum_i weight[o][i] in[i][p]) for the
 * positions first <= p < n: the portable path, and the AVX2 path's tail.
 * One output over a span of positions at a time, so that the inner loop runs
 * along contiguous rows. */
static void dense_i32_c(const int32_t *in, int cin, int n, int first, const int32_t *weight,
                        const int32_t *bias, int cout, int32_t *out)
{
    uint64_t acc[DENSE_SPAN];

    for (int p0 = first; p0 < n; p0 += DENSE_SPAN) {
        const int span = imin(DENSE_SPAN, n - p0);
        for (int o = 0; o < cout; o++) {
            const int32_t *wo = weight + (size_t)o * cin;
            for (int p = 0; p < span; p++)
                acc[p] = (uint64_t)(int64_t)bias[o];
            for (int i = 0; i < cin; i++) {
                const int32_t *src = in + (size_t)i * n + p0;
                for (int p = 0; p < span; p++)
                    acc[p] += mul_i32(wo[i], src[p]);
            }
            int32_t *dst = out + (size_t)o * n + p0;
            for (int p = 0; p < span; p++)
                dst[p] = descale_i32(acc[p]);
        }
    }
}

/* dense_i32_c with 32-bit sums, exact when narrow_sums_fit: the portable
 * path's fast form, which compilers vectorise. */
static void dense_i32_narrow_c(const int32_t *in, int cin, int n, const int32_t *weight,
                               const int32_t *bias, int cout, int32_t *out)
{
    int32_t acc[DENSE_SPAN];

    for (int p0 = 0; p0 < n; p0 += DENSE_SPAN) {
        const int span = imin(DENSE_SPAN, n - p0);
        for (int o = 0; o < cout; o++) {
            const int32_t *wo = weight + (size_t)o * cin;
            memset(acc, 0, sizeof(acc));
            for (int i = 0; i < cin; i++) {
                const int32_t *src = in + (size_t)i * n + p0;
                const int32_t wv = wo[i];
                for (int p = 0; p < span; p++)
                    acc[p] += wv * src[p];
            }
            int32_t *dst = out + (size_t)o * n + p0;
            const uint64_t b = (uint64_t)(int64_t)bias[o];
            for (int p = 0; p < span; p++)
                dst[p] = descale_i32(b + (uint64_t)(int64_t)acc[p]);
        }
    }
}

#if TEC_X86_SIMD
/* 4 outputs x 8 positions per pass in registers, with the taps of
 * conv3x3_row8_avx2: e holds positions 0,2,4,6, d positions 1,3,5,7. */
__attribute__((target("avx2")))
static void dense_i32_avx2(const int32_t *in, int cin, int n, const int32_t *weight,
                           const int32_t *bias, int cout, int32_t *out)
{
    const int n8 = n / 8 * 8;

    for (int o0 = 0; o0 < cout; o0 += 4) {
        const int nout = imin(4, cout - o0);
        const int32_t *wt[4];
        for (int j = 0; j < 4; j++)  /* missing outputs repeat the last one */
            wt[j] = weight + (size_t)(o0 + imin(j, nout - 1)) * cin;
        for (int p0 = 0; p0 < n8; p0 += 8) {
            __m256i e0 = _mm256_setzero_si256(), e1 = e0, e2 = e0, e3 = e0;
            __m256i d0 = e0, d1 = e0, d2 = e0, d3 = e0;
            for (int i = 0; i < cin; i++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(in + (size_t)i * n + p0));
                const __m256i vo = _mm256_srli_epi64(v, 32);
                TAP(0, i); TAP(1, i); TAP(2, i); TAP(3, i);
            }
            const __m256i even[4] = { e0, e1, e2, e3 }, odd[4] = { d0, d1, d2, d3 };
            for (int j = 0; j < nout; j++) {
                int64_t ev[4], od[4];
                _mm256_storeu_si256((__m256i *)ev, even[j]);
                _mm256_storeu_si256((__m256i *)od, odd[j]);
                const uint64_t b = (uint64_t)(int64_t)bias[o0 + j];
                int32_t *dst = out + (size_t)(o0 + j) * n + p0;
                for (int k = 0; k < 4; k++) {
                    dst[2 * k] = descale_i32(b + (uint64_t)ev[k]);
                    dst[2 * k + 1] = descale_i32(b + (uint64_t)od[k]);
                }
            }
        }
    }
    dense_i32_c(in, cin, n, n8, weight, bias, cout, out);
}
#undef TAP
#endif

/* Testing hook, not in kernels.h: path 0 portable, 1 AVX2 where the CPU
 * has it; returns the path run. */
int tec_dense_i32_path(int path, const int32_t *in, int cin, int n, const int32_t *weight,
                       const int32_t *bias, int cout, int32_t *out);

int tec_dense_i32_path(int path, const int32_t *in, int cin, int n, const int32_t *weight,
                       const int32_t *bias, int cout, int32_t *out)
{
#if TEC_X86_SIMD
    if (path >= 1 && cpu_has_avx2()) {
        dense_i32_avx2(in, cin, n, weight, bias, cout, out);
        return 1;
    }
#else
    (void)path;
#endif
    if (narrow_sums_fit(in, (size_t)cin * n, weight, cin, cout))
        dense_i32_narrow_c(in, cin, n, weight, bias, cout, out);
    else
        dense_i32_c(in, cin, n, 0, weight, bias, cout, out);
    return 0;
}

void tec_dense_i32(const int32_t *in, int cin, int n, const int32_t *weight,
                   const int32_t *bias, int cout, int32_t *out)
{
    tec_dense_i32_path(1, in, cin, n, weight, bias, cout, out);
}

/* Paths of the integer convolution; part of the testing hook below. */
enum { ICONV_PATH_PORTABLE = 0, ICONV_PATH_AVX2_I64 = 1, ICONV_PATH_AVX2_I16 = 2 };

/* Runs the fastest path up to `path` that the CPU and the values allow;
 * every path gives the same bits.  Returns the path run. */
static int conv3x3_i32_on(int path, const int32_t *in, int cin, int h, int w,
                          const int32_t *weight, const int32_t *bias, int cout,
                          int32_t *out)
{
    if (h <= 0 || w <= 0 || cout <= 0)
        return ICONV_PATH_PORTABLE;
#if TEC_X86_SIMD
    if (path >= ICONV_PATH_AVX2_I64 && cpu_has_avx2()) {
        if (path >= ICONV_PATH_AVX2_I16 && cin > 0 &&
            narrow_sums_fit(in, (size_t)cin * h * w, weight, cin * 9, cout) &&
            !conv3x3_i16_avx2(in, cin, h, w, weight, bias, cout, out))
            return ICONV_PATH_AVX2_I16;
        if (!conv3x3_i32_avx2(in, cin, h, w, weight, bias, cout, out))
            return ICONV_PATH_AVX2_I64;
    }
#else
    (void)path;
#endif
    if (cin > 0 && narrow_sums_fit(in, (size_t)cin * h * w, weight, cin * 9, cout) &&
        !conv3x3_i16_c(in, cin, h, w, weight, bias, cout, out))
        return ICONV_PATH_PORTABLE;
    conv3x3_i32_c(in, cin, h, w, weight, bias, cout, out);
    return ICONV_PATH_PORTABLE;
}

/* Testing hook, not in kernels.h: the integer convolution on at most a
 * chosen path (0 portable, 1 AVX2 64-bit, 2 AVX2 16-bit pairs). */
int tec_conv3x3_i32_path(int path, const int32_t *in, int cin, int h, int w,
                         const int32_t *weight, const int32_t *bias, int cout,
                         int32_t *out);

int tec_conv3x3_i32_path(int path, const int32_t *in, int cin, int h, int w,
                         const int32_t *weight, const int32_t *bias, int cout,
                         int32_t *out)
{
    return conv3x3_i32_on(path, in, cin, h, w, weight, bias, cout, out);
}

void tec_conv3x3_i32(const int32_t *in, int cin, int h, int w,
                     const int32_t *weight, const int32_t *bias, int cout,
                     int32_t *out)
{
    conv3x3_i32_on(ICONV_PATH_AVX2_I16, in, cin, h, w, weight, bias, cout, out);
}
