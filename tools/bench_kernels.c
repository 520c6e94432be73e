/* Benchmark, not a test: GFLOP/s of the fixed-order GEMM on its AVX2 and
 * portable paths for the convolution shapes of doc/model.md (N=64, M=160,
 * S=13) at 64x64 output positions, whole conv2d timings and the integer
 * kernels.
 *
 *   bench_kernels [seconds per figure, default 0.3]
 *
 * TEC_CPU_FLAGS=none runs the conv2d and integer figures on the portable
 * paths too.  Figures are the best of several timed runs of thread CPU
 * time, so that a busy machine perturbs them less; they remain noisy on
 * shared cores. */

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cpu.h"
#include "kernels.h"

/* Testing hook of kernels.c: the GEMM on path 0 (portable) or 1 (AVX2). */
int tec_gemm_own_path(int path, int m, int n, int k,
                      const float *a, int lda, const float *b, int ldb,
                      float *c, int ldc, int accumulate);

/* Thread CPU time: the machine may be shared, and wall time would count
 * the time others hold the core. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *random_floats(size_t n)
{
    float *p = malloc(n * sizeof(*p));
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (float)((s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
    }
    return p;
}

typedef void (*Work)(void *arg);

/* Best seconds per call over runs of about budget / 5 seconds each. */
static double best_time(Work work, void *arg, double budget)
{
    double best = 1e30;
    work(arg);  /* warm-up: caches, page faults, lazy init */
    for (int run = 0; run < 5; run++) {
        int calls = 0;
        const double t0 = now();
        double t;
        do {
            work(arg);
            calls++;
        } while ((t = now() - t0) < budget / 5);
        if (t / calls < best)
            best = t / calls;
    }
    return best;
}

typedef struct GemmArgs {
    int m, n, k;
    const float *a, *b;
    float *c;
    int path;  /* 0 portable, 1 AVX2 */
    int ran;   /* the path that ran (AVX2 falls back where the CPU lacks it) */
} GemmArgs;

static void run_gemm(void *arg)
{
    GemmArgs *g = arg;
    g->ran = tec_gemm_own_path(g->path, g->m, g->n, g->k, g->a, g->k, g->b, g->n, g->c, g->n, 0);
}

typedef struct ConvArgs {
    int cin, h, w, cout, k, stride, pad;
    const float *in, *weight, *bias;
    float *out, *scratch;
} ConvArgs;

static void run_conv(void *arg)
{
    const ConvArgs *c = arg;
    tec_conv2d_f32(c->in, c->cin, c->h, c->w, c->weight, c->bias, c->cout, c->k,
                   c->stride, c->pad, c->out, c->scratch);
}

typedef struct IntConvArgs {
    int cin, h, w, cout;
    const int32_t *in, *weight, *bias;
    int32_t *out;
} IntConvArgs;

typedef struct DenseArgs {
    int cin, n, cout;
    const int32_t *in, *weight, *bias;
    int32_t *out;
} DenseArgs;

static void run_dense(void *arg)
{
    DenseArgs *d = arg;
    tec_dense_i32(d->in, d->cin, d->n, d->weight, d->bias, d->cout, d->out);
}

static void run_int_conv(void *arg)
{
    const IntConvArgs *c = arg;
    tec_conv3x3_i32(c->in, c->cin, c->h, c->w, c->weight, c->bias, c->cout, c->out);
}

int main(int argc, char **argv)
{
    static const struct { const char *name; int m, k; } shapes[] = {
        { "a0  5x5 S->N", 64, 13 * 25 },
        { "a1  5x5 N->N", 64, 64 * 25 },
        { "a3  5x5 N->M", 160, 64 * 25 },
        { "s0  3x3 M->4N", 256, 160 * 9 },
        { "s1  3x3 N->4N", 256, 64 * 9 },
        { "s3  3x3 N->4S", 52, 64 * 9 },
        { "gdn 1x1 N->N", 64, 64 },
    };
    const double budget = argc > 1 ? atof(argv[1]) : 0.3;
    const int n = 64 * 64;
    float *a = random_floats((size_t)256 * 1600), *b = random_floats((size_t)1600 * n);
    float *c = random_floats((size_t)256 * n);

    printf("kernel paths in use: %s (TEC_CPU_FLAGS masks them)\n\n",
           tec_cpu_flags_name(tec_cpu_flags()));
    printf("GEMM C[m x n] = A[m x k] B[k x n], n = 64*64 positions, single thread,\n"
           "GFLOP/s (best of 5); both paths give the same bits\n");
    printf("%-15s %4s %5s %9s %9s\n", "layer", "m", "k", "avx2", "portable");
    for (size_t s = 0; s < sizeof(shapes) / sizeof(*shapes); s++) {
        GemmArgs g = { shapes[s].m, n, shapes[s].k, a, b, c, 0, 0 };
        const double flops = 2.0 * g.m * g.n * g.k;
        double gf[2];
        int avx2_ran = 0;
        for (int path = 1; path >= 0; path--) {
            g.path = path;
            gf[path] = flops / best_time(run_gemm, &g, budget) * 1e-9;
            if (path)
                avx2_ran = g.ran == 1;
        }
        if (avx2_ran)
            printf("%-15s %4d %5d %9.1f %9.1f\n", shapes[s].name, g.m, g.k, gf[1], gf[0]);
        else
            printf("%-15s %4d %5d %9s %9.1f\n", shapes[s].name, g.m, g.k, "-", gf[0]);
    }
    printf("\n");

    static const struct { const char *name; int cin, h, w, cout, k, stride, pad; } convs[] = {
        { "s1 3x3 64->256 64x64", 64, 64, 64, 256, 3, 1, 1 },
        { "a1 5x5/2 64->64 128x128", 64, 128, 128, 64, 5, 2, 2 },
        { "gdn-like 1x1 64->64 64x64", 64, 64, 64, 64, 1, 1, 0 },
    };
    printf("conv2d (im2col + GEMM, single thread), ms per call (best of 5)\n");
    for (size_t s = 0; s < sizeof(convs) / sizeof(*convs); s++) {
        ConvArgs cv = { convs[s].cin, convs[s].h, convs[s].w, convs[s].cout,
                        convs[s].k, convs[s].stride, convs[s].pad, NULL, NULL, NULL, NULL, NULL };
        const size_t oh = (cv.h + 2 * cv.pad - cv.k) / cv.stride + 1;
        const size_t ow = (cv.w + 2 * cv.pad - cv.k) / cv.stride + 1;
        float *in = random_floats((size_t)cv.cin * cv.h * cv.w);
        float *weight = random_floats((size_t)cv.cout * cv.cin * cv.k * cv.k);
        float *bias = random_floats(cv.cout);
        float *out = malloc(oh * ow * cv.cout * sizeof(float));
        float *scratch = malloc((tec_conv2d_scratch(cv.cin, cv.h, cv.w, cv.k, cv.stride, cv.pad) + 1) *
                                sizeof(float));
        cv.in = in;
        cv.weight = weight;
        cv.bias = bias;
        cv.out = out;
        cv.scratch = scratch;
        printf("%-27s %9.2f\n", convs[s].name, best_time(run_conv, &cv, budget) * 1e3);
        free(in); free(weight); free(bias); free(out); free(scratch);
    }

    static const struct { int cin, h, w, cout; } iconvs[] = {
        { 64, 16, 16, 256 }, { 96, 32, 32, 384 },
    };
    printf("\nconv3x3_i32 (exact, single thread), ms per call (best of 5)\n");
    for (size_t s = 0; s < sizeof(iconvs) / sizeof(*iconvs); s++) {
        const int cin = iconvs[s].cin, h = iconvs[s].h, w = iconvs[s].w, cout = iconvs[s].cout;
        int32_t *in = calloc((size_t)cin * h * w, sizeof(int32_t));
        int32_t *weight = calloc((size_t)cout * cin * 9, sizeof(int32_t));
        int32_t *bias = calloc(cout, sizeof(int32_t));
        int32_t *out = malloc((size_t)cout * h * w * sizeof(int32_t));
        /* magnitudes of a real model (activations below 16.0, weights
         * below 0.125) so that the 16-bit path applies, as in decoding */
        for (size_t i = 0; i < (size_t)cin * h * w; i++)
            in[i] = (int32_t)(i * 2654435761u % 4096);
        for (size_t i = 0; i < (size_t)cout * cin * 9; i++)
            weight[i] = (int32_t)(i * 40503u % 1024) - 512;
        IntConvArgs ic = { cin, h, w, cout, in, weight, bias, out };
        const double ms = best_time(run_int_conv, &ic, budget) * 1e3;
        printf("%3d->%3d %2dx%2d: %8.2f ms  (%.2f G MAC/s)\n", cin, cout, h, w, ms,
               (double)cin * cout * 9 * h * w / (ms * 1e-3) * 1e-9);
        free(in); free(weight); free(bias); free(out);
    }

    /* The channel context's layers: the last slice of the shipped model
     * (4 slices of 48 channels, hidden 96) over a 32 x 32 block. */
    static const struct { int cin, n, cout; } dense[] = { { 240, 1024, 96 }, { 96, 1024, 96 } };
    printf("\ndense_i32 (exact 1x1, single thread), ms per call (best of 5)\n");
    for (size_t s = 0; s < sizeof(dense) / sizeof(*dense); s++) {
        const int cin = dense[s].cin, n = dense[s].n, cout = dense[s].cout;
        int32_t *in = calloc((size_t)cin * n, sizeof(int32_t));
        int32_t *weight = calloc((size_t)cout * cin, sizeof(int32_t));
        int32_t *bias = calloc(cout, sizeof(int32_t));
        int32_t *out = malloc((size_t)cout * n * sizeof(int32_t));
        for (size_t i = 0; i < (size_t)cin * n; i++)
            in[i] = (int32_t)(i * 2654435761u % 65536) - 32768;
        for (size_t i = 0; i < (size_t)cout * cin; i++)
            weight[i] = (int32_t)(i * 40503u % 1024) - 512;
        DenseArgs da = { cin, n, cout, in, weight, bias, out };
        const double ms = best_time(run_dense, &da, budget) * 1e3;
        printf("%3d->%3d x %4d: %8.2f ms  (%.2f G MAC/s)\n", cin, cout, n, ms,
               (double)cin * cout * n / (ms * 1e-3) * 1e-9);
        free(in); free(weight); free(bias); free(out);
    }
    free(a); free(b); free(c);
    return 0;
}
