/* Benchmark, not a test: bits per sample of the residual coder on a cube.
 *
 *   bench_residual SOURCE.npy [BASE.npy] [max_error]
 *
 * Each band of each frame is coded alone, the source minus BASE (a learned
 * reconstruction, `tec encode --recon`) or the source itself, with both
 * predictors; a band whose samples repeat in exact 2 x 2 or 6 x 6 blocks
 * (Sentinel-2's 20 m and 60 m bands on the 10 m grid) is coded on its own
 * grid.  Prints, per predictor and for the better of the two per band, the
 * bits per sample of the whole cube (all bands at the 10 m grid). */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"
#include "residual.h"

/* The block size (6, 2, or 1 for none) and phase the plane repeats in
 * exactly: blocks of f x f samples starting at rows oy + k f and columns
 * ox + k f (partial blocks at the edges). */
static int replication(const uint16_t *p, int w, int h, int *oy, int *ox)
{
    static const int factors[] = { 6, 2 };
    for (int i = 0; i < 2; i++) {
        const int f = factors[i];
        for (int py = 0; py < f; py++)
            for (int px = 0; px < f; px++) {
                int same = w >= 2 * f && h >= 2 * f;
                for (int y = 0; y < h && same; y++)
                    for (int x = 0; x < w && same; x++) {
                        const int by = y < py ? 0 : py + (y - py) / f * f;
                        const int bx = x < px ? 0 : px + (x - px) / f * f;
                        same = p[y * w + x] == p[by * w + bx];
                    }
                if (same) {
                    *oy = py;
                    *ox = px;
                    return f;
                }
            }
    }
    *oy = *ox = 0;
    return 1;
}

/* Block starts along an axis of n samples: 0, then phase + k f. */
static int block_starts(int n, int f, int phase, int *start)
{
    int count = 0;
    if (f == 1) {
        for (int i = 0; i < n; i++)
            start[count++] = i;
        return count;
    }
    if (phase > 0)
        start[count++] = 0;
    for (int i = phase; i < n; i += f)
        start[count++] = i;
    return count;
}

int main(int argc, char **argv)
{
    NpyFile src, base;
    char err[256];
    const int have_base = argc > 2 && strcmp(argv[2], "-");
    const int max_error = argc > 3 ? atoi(argv[3]) : 0;

    if (argc < 2 || npy_open_read(&src, argv[1], err, sizeof(err)) ||
        (have_base && npy_open_read(&base, argv[2], err, sizeof(err)))) {
        fprintf(stderr, "usage: bench_residual SOURCE.npy [BASE.npy|-] [max_error]%s%s\n",
                argc < 2 ? "" : ": ", argc < 2 ? "" : err);
        return 1;
    }
    const int w = (int)src.width, h = (int)src.height, c = (int)src.bands;
    const size_t plane = (size_t)w * h;
    uint16_t *x = malloc(plane * c * sizeof(*x)), *r = malloc(plane * c * sizeof(*r));
    int32_t *u = malloc(plane * sizeof(*u)), *dec = malloc(plane * sizeof(*dec));
    double bits[3] = { 0 };

    for (int64_t t = 0; t < src.frames; t++) {
        if (npy_read_frame(&src, t, x, err, sizeof(err)) ||
            (have_base && npy_read_frame(&base, t, r, err, sizeof(err)))) {
            fprintf(stderr, "bench_residual: %s\n", err);
            return 1;
        }
        for (int b = 0; b < c; b++) {
            const uint16_t *xb = x + b * plane, *rb = r + b * plane;
            int oy, ox;
            const int f = replication(xb, w, h, &oy, &ox);
            static int ys[65536], xs[65536];
            const int ph = block_starts(h, f, oy, ys), pw = block_starts(w, f, ox, xs);
            for (int y = 0; y < ph; y++)
                for (int i = 0; i < pw; i++) {
                    const int y1 = y + 1 < ph ? ys[y + 1] : h, x1 = i + 1 < pw ? xs[i + 1] : w;
                    /* the learned reconstruction averages replicated
                     * blocks; take the block's mean of it */
                    int64_t mean = 0, n = 0;
                    for (int yy = ys[y]; yy < y1 && have_base; yy++)
                        for (int xx = xs[i]; xx < x1; xx++, n++)
                            mean += rb[(size_t)yy * w + xx];
                    mean = n ? (mean + n / 2) / n : 0;
                    u[y * pw + i] = (int32_t)xb[(size_t)ys[y] * w + xs[i]] - (int32_t)mean;
                }
            size_t size[2];
            for (int pred = 0; pred <= 1; pred++) {
                TecBitBuffer out = { 0 };
                if (tec_residual_encode(u, pw, ph, pw, max_error, pred, NULL, &out, dec)) {
                    fprintf(stderr, "bench_residual: coding failed\n");
                    return 1;
                }
                size[pred] = out.size;
                bits[pred] += out.size * 8.0;
                free(out.data);
            }
            bits[2] += 8.0 * (size[0] < size[1] ? size[0] : size[1]);
            if (getenv("BENCH_VERBOSE"))
                printf("frame %d band %2d grid %d: %.3f / %.3f bits per value (zero / median)\n",
                       (int)t, b, f, size[0] * 8.0 / (pw * ph), size[1] * 8.0 / (pw * ph));
        }
    }
    const double samples = (double)src.frames * c * plane;
    printf("%s%s E=%d: bits per sample: zero %.3f, median %.3f, best per band %.3f\n",
           argv[1], have_base ? " (residual of the base)" : "", max_error, bits[0] / samples,
           bits[1] / samples, bits[2] / samples);
    return 0;
}
