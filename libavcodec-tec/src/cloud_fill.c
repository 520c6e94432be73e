/* Cloud filling: the last filled frame, the frame's mask and the
 * radiometric line that carries the last frame onto it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "cloud_fill.h"

int tec_fill_init(TecFill *f, int bands, int width, int height)
{
    memset(f, 0, sizeof(*f));
    f->bands = bands;
    f->width = width;
    f->height = height;
    const size_t pixels = (size_t)width * height;
    int ok = tec_mask_init(&f->cloud, 0, width, height) == 0;
    f->last = malloc((size_t)bands * pixels * sizeof(uint16_t));
    f->seen = malloc(pixels);
    f->user_mask = malloc(pixels);
    f->pixels = calloc(pixels, 1);
    f->filled = malloc(pixels);
    if (!ok || !f->last || !f->seen || !f->user_mask || !f->pixels || !f->filled) {
        tec_fill_free(f);
        return TEC_ENOMEM;
    }
    return 0;
}

void tec_fill_free(TecFill *f)
{
    tec_mask_free(&f->cloud);
    free(f->last);
    free(f->seen);
    free(f->user_mask);
    free(f->pixels);
    free(f->filled);
    memset(f, 0, sizeof(*f));
}

void tec_fill_reset(TecFill *f)
{
    f->have_last = 0;
    f->user_set = 0;
}

int tec_fill_set_mask(TecFill *f, const uint8_t *mask, ptrdiff_t stride)
{
    if (!mask) {
        f->user_set = 0;
        return 0;
    }
    if (stride < f->width)
        return TEC_EINVAL;
    tec_mask_copy_pixels(f->user_mask, mask, stride, f->width, f->height);
    f->user_set = 1;
    return 0;
}

void tec_fill_begin(TecFill *f)
{
    const size_t pixels = (size_t)f->width * f->height;
    f->why = NULL;
    f->masked = 0;
    f->filled_count = 0;
    if (f->user_set) {
        memcpy(f->pixels, f->user_mask, pixels);
        for (size_t i = 0; i < pixels; i++)
            f->masked += f->pixels[i];
        f->user_set = 0;
    } else if (f->cloud.on) {
        f->masked = tec_mask_pixels(&f->cloud, f->pixels);
    } else {
        memset(f->pixels, 0, pixels);
    }
}

/* Least squares x = a p + b over the pixels the mask leaves clear and the
 * last frame saw clear, from exact integer sums, so the line is the same on
 * every machine; 0 (a = 1, b = 0) when too few remain. */
static int fit_band(const uint16_t *x, const uint16_t *p, const uint8_t *masked,
                    const uint8_t *seen, size_t n, double *a, double *b)
{
    uint64_t count = 0, sx = 0, sp = 0, spp = 0, spx = 0;
    for (size_t i = 0; i < n; i++)
        if (!masked[i] && seen[i]) {
            count++;
            sx += x[i];
            sp += p[i];
            spp += (uint64_t)p[i] * p[i];
            spx += (uint64_t)p[i] * x[i];
        }
    *a = 1.0;
    *b = 0.0;
    if (count < TEC_FILL_MIN_CLEAR || count < n / 100)
        return 0;
    const double N = (double)count, mp = (double)sp / N, mx = (double)sx / N;
    const double var = (double)spp / N - mp * mp, cov = (double)spx / N - mp * mx;
    /* A flat prediction carries only the level; a line that turns the
     * prediction upside down is noise, not phenology. */
    *a = var > 0.25 ? cov / var : 1.0;
    if (*a < 0.0)
        *a = 0.0;
    if (*a > 8.0)
        *a = 8.0;
    *b = mx - *a * mp;
    return 1;
}

static uint16_t to_sample(double v)
{
    if (!(v > 0.0))
        return 0;
    return v >= 65535.0 ? 65535 : (uint16_t)(v + 0.5);
}

void tec_fill_finish(TecFill *f, uint16_t *samples)
{
    const size_t n = (size_t)f->width * f->height;
    if (f->masked && !f->have_last)
        f->why = "no earlier frame to predict it from (the first frame decoded, or the first "
                 "after a seek or a lost frame)";
    if (f->masked && f->have_last) {
        /* Only pixels seen clear before can be filled. */
        int64_t count = 0, unseen = 0;
        for (size_t i = 0; i < n; i++) {
            f->filled[i] = f->pixels[i] && f->seen[i];
            count += f->filled[i];
            unseen += f->pixels[i] && !f->seen[i];
        }
        for (int b = 0; count && b < f->bands; b++) {
            uint16_t *x = samples + (size_t)b * n;
            const uint16_t *p = f->last + (size_t)b * n;
            double a, off;
            fit_band(x, p, f->pixels, f->seen, n, &a, &off);
            for (size_t i = 0; i < n; i++)
                if (f->filled[i])
                    x[i] = to_sample(a * p[i] + off);
        }
        f->filled_count = count;
        if (unseen) {
            snprintf(f->why_buf, sizeof(f->why_buf), "%lld of its masked pixels were never "
                     "seen clear before", (long long)unseen);
            f->why = f->why_buf;
        }
    }
    /* What the next frame predicts from: this one as given out; a pixel is
     * seen once it was clear, or filled from a pixel that was. */
    memcpy(f->last, samples, (size_t)f->bands * n * sizeof(uint16_t));
    if (!f->have_last)
        memset(f->seen, 0, n);
    for (size_t i = 0; i < n; i++)
        f->seen[i] = !f->pixels[i] || (f->seen[i] && f->have_last);
    f->have_last = 1;
}
