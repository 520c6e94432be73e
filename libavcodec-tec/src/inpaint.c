/* Smooth filling of unknown samples: a pyramid of the known samples' means
 * gives each unknown one a coarse value, then sweeps of neighbour averages
 * at every level smooth it into its surroundings (a multigrid solution of
 * the Laplace equation over the unknown region). */
#include <string.h>

#include "inpaint.h"

#define SWEEPS 4

static size_t pyramid_floats(int h, int w)
{
    size_t n = 0;
    while (h > 1 || w > 1) {
        h = (h + 1) / 2;
        w = (w + 1) / 2;
        n += 2 * (size_t)h * w;   /* values and weights */
    }
    return n + 2;
}

size_t tec_inpaint_scratch(int h, int w)
{
    return pyramid_floats(h, w) + (size_t)h * w;
}

/* Unknown samples of v (weight 0) become the average of their neighbours,
 * row by row, a few times. */
static void smooth(float *v, const float *weight, int h, int w)
{
    for (int s = 0; s < SWEEPS; s++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const size_t i = (size_t)y * w + x;
                if (weight[i] > 0.0f)
                    continue;
                float sum = 0.0f;
                int n = 0;
                if (y > 0) { sum += v[i - w]; n++; }
                if (y + 1 < h) { sum += v[i + w]; n++; }
                if (x > 0) { sum += v[i - 1]; n++; }
                if (x + 1 < w) { sum += v[i + 1]; n++; }
                if (n)
                    v[i] = sum / (float)n;
            }
}

/* v and weight [h][w]: weight > 0 marks a known value (the mean of the
 * known samples it stands for). */
static void fill_level(float *v, float *weight, int h, int w, float *scratch)
{
    if (h <= 1 && w <= 1) {
        if (!(weight[0] > 0.0f))
            v[0] = 0.0f;
        return;
    }
    const int h2 = (h + 1) / 2, w2 = (w + 1) / 2;
    float *cv = scratch, *cw = scratch + (size_t)h2 * w2, *next = cw + (size_t)h2 * w2;
    for (int y = 0; y < h2; y++)
        for (int x = 0; x < w2; x++) {
            float sum = 0.0f, wsum = 0.0f;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    const int yy = 2 * y + dy, xx = 2 * x + dx;
                    if (yy < h && xx < w) {
                        const size_t i = (size_t)yy * w + xx;
                        sum += v[i] * weight[i];
                        wsum += weight[i];
                    }
                }
            cv[(size_t)y * w2 + x] = wsum > 0.0f ? sum / wsum : 0.0f;
            cw[(size_t)y * w2 + x] = wsum;
        }
    fill_level(cv, cw, h2, w2, next);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const size_t i = (size_t)y * w + x;
            if (!(weight[i] > 0.0f))
                v[i] = cv[(size_t)(y / 2) * w2 + x / 2];
        }
    smooth(v, weight, h, w);
}

void tec_inpaint(float *v, const uint8_t *known, int h, int w, float *scratch)
{
    /* The finest level's weights live after the pyramid's scratch. */
    const size_t n = (size_t)h * w;
    float *weight = scratch + pyramid_floats(h, w);
    for (size_t i = 0; i < n; i++)
        weight[i] = known[i] ? 1.0f : 0.0f;
    fill_level(v, weight, h, w, scratch);
}
