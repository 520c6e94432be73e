/* Benchmark, not a test: GFLOP/s of the own fixed-order GEMM against
 * OpenBLAS sgemm on the convolution shapes of doc/model.md (N=64, M=160,
 * S=13) at 64x64 output positions, and whole conv2d timings.
 *
 *   bench_kernels [seconds per figure, default 0.3]
 *
 * Figures are the best of several timed runs of thread CPU time (wall
 * time for multi-threaded OpenBLAS), so that a busy machine perturbs them
 * less; they remain noisy on shared cores. */

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "kernels.h"

/* Single-threaded figures use the thread's CPU time: the machine may be
 * shared, and wall time would count the time others hold the core. */
static clockid_t clock_used = CLOCK_THREAD_CPUTIME_ID;

static double now(void)
{
    struct timespec ts;
    clock_gettime(clock_used, &ts);
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
    int how;  /* 0 own, 1 BLAS through tec_gemm_f32 (1 thread), 2 cblas direct */
} GemmArgs;

static void run_gemm(void *arg)
{
    const GemmArgs *g = arg;
    if (g->how == 2)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->m, g->n, g->k,
                    1.0f, g->a, g->k, g->b, g->n, 0.0f, g->c, g->n);
    else
        tec_gemm_f32(g->how ? TEC_GEMM_BLAS : TEC_GEMM_OWN, g->m, g->n, g->k,
                     g->a, g->k, g->b, g->n, g->c, g->n, 0);
}

typedef struct ConvArgs {
    TecGemmKind kind;
    int cin, h, w, cout, k, stride, pad;
    const float *in, *weight, *bias;
    float *out, *scratch;
} ConvArgs;

static void run_conv(void *arg)
{
    const ConvArgs *c = arg;
    tec_conv2d_f32(c->kind, c->in, c->cin, c->h, c->w, c->weight, c->bias, c->cout, c->k,
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
    const int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    float *a = random_floats((size_t)256 * 1600), *b = random_floats((size_t)1600 * n);
    float *c = random_floats((size_t)256 * n);

    printf("GEMM C[m x n] = A[m x k] B[k x n], n = 64*64 positions, GFLOP/s (best of 5)\n");
    printf("%-15s %4s %5s %9s %11s %11s\n", "layer", "m", "k", "own", "blas 1thr", "blas nthr");
    for (size_t s = 0; s < sizeof(shapes) / sizeof(*shapes); s++) {
        GemmArgs g = { shapes[s].m, n, shapes[s].k, a, b, c, 0 };
        const double flops = 2.0 * g.m * g.n * g.k;
        double gf[3];
        for (int how = 0; how < 3; how++) {
            g.how = how;
            if (how == 2) {  /* tec_gemm_f32 pinned OpenBLAS to 1 thread; undo here */
                openblas_set_num_threads(cores);
                clock_used = CLOCK_MONOTONIC;
            }
            gf[how] = flops / best_time(run_gemm, &g, budget) * 1e-9;
            openblas_set_num_threads(1);
            clock_used = CLOCK_THREAD_CPUTIME_ID;
        }
        printf("%-15s %4d %5d %9.1f %11.1f %11.1f\n", shapes[s].name, g.m, g.k, gf[0], gf[1], gf[2]);
    }
    printf("(own and blas 1thr: thread CPU time; blas nthr: OpenBLAS with %d threads\n"
           " on %d online cores, wall time, so only meaningful on an idle machine)\n\n",
           cores, cores);

    static const struct { const char *name; int cin, h, w, cout, k, stride, pad; } convs[] = {
        { "s1 3x3 64->256 64x64", 64, 64, 64, 256, 3, 1, 1 },
        { "a1 5x5/2 64->64 128x128", 64, 128, 128, 64, 5, 2, 2 },
        { "gdn-like 1x1 64->64 64x64", 64, 64, 64, 64, 1, 1, 0 },
    };
    printf("conv2d (im2col + GEMM, single thread), ms per call (best of 5)\n");
    printf("%-27s %9s %9s\n", "layer", "own", "blas");
    for (size_t s = 0; s < sizeof(convs) / sizeof(*convs); s++) {
        ConvArgs cv = { TEC_GEMM_OWN, convs[s].cin, convs[s].h, convs[s].w, convs[s].cout,
                        convs[s].k, convs[s].stride, convs[s].pad, NULL, NULL, NULL, NULL, NULL };
        const size_t oh = (cv.h + 2 * cv.pad - cv.k) / cv.stride + 1;
        const size_t ow = (cv.w + 2 * cv.pad - cv.k) / cv.stride + 1;
        float *in = random_floats((size_t)cv.cin * cv.h * cv.w);
        float *weight = random_floats((size_t)cv.cout * cv.cin * cv.k * cv.k);
        float *bias = random_floats(cv.cout);
        float *out = malloc(oh * ow * cv.cout * sizeof(float));
        float *scratch = malloc((tec_conv2d_scratch(cv.cin, cv.h, cv.w, cv.k, cv.stride, cv.pad) + 1) *
                                sizeof(float));
        double ms[2];
        cv.in = in;
        cv.weight = weight;
        cv.bias = bias;
        cv.out = out;
        cv.scratch = scratch;
        for (int kind = 0; kind < 2; kind++) {
            cv.kind = kind ? TEC_GEMM_BLAS : TEC_GEMM_OWN;
            ms[kind] = best_time(run_conv, &cv, budget) * 1e3;
        }
        printf("%-27s %9.2f %9.2f\n", convs[s].name, ms[0], ms[1]);
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
