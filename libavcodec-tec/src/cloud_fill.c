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
    f->near = malloc(pixels);
    f->run = malloc(pixels * sizeof(*f->run));
    if (!ok || !f->last || !f->seen || !f->user_mask || !f->pixels || !f->filled || !f->near ||
        !f->run) {
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
    free(f->near);
    free(f->run);
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
    for (int y = 0; y < f->height; y++)
        for (int x = 0; x < f->width; x++)
            f->user_mask[(size_t)y * f->width + x] = mask[(ptrdiff_t)y * stride + x] != 0;
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

/* near[] = 1 within TEC_FILL_MARGIN pixels (a square) of a masked pixel:
 * counts of masked pixels in a sliding window, along rows, then columns. */
static void mark_near(TecFill *f)
{
    const int W = f->width, H = f->height, r = TEC_FILL_MARGIN;
    uint32_t *run = f->run;
    for (int y = 0; y < H; y++) {
        const uint8_t *m = f->pixels + (size_t)y * W;
        uint32_t inside = 0;
        for (int x = 0; x < r && x < W; x++)
            inside += m[x];
        for (int x = 0; x < W; x++) {
            if (x + r < W)
                inside += m[x + r];
            if (x - r - 1 >= 0)
                inside -= m[x - r - 1];
            run[(size_t)y * W + x] = inside;
        }
    }
    for (int x = 0; x < W; x++) {
        uint32_t inside = 0;
        for (int y = 0; y < r && y < H; y++)
            inside += run[(size_t)y * W + x] > 0;
        for (int y = 0; y < H; y++) {
            if (y + r < H)
                inside += run[(size_t)(y + r) * W + x] > 0;
            if (y - r - 1 >= 0)
                inside -= run[(size_t)(y - r - 1) * W + x] > 0;
            f->near[(size_t)y * W + x] = inside > 0;
        }
    }
}

/* Least squares x = a p + b over the pixels that `skip` leaves and the last
 * frame saw clear, from exact integer sums, so the line is the same on every
 * machine; 0 when too few pixels remain. */
static int fit_band(const uint16_t *x, const uint16_t *p, const uint8_t *skip,
                    const uint8_t *seen, size_t n, double *a, double *b)
{
    uint64_t count = 0, sx = 0, sp = 0, spp = 0, spx = 0;
    for (size_t i = 0; i < n; i++)
        if (!skip[i] && seen[i]) {
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
        /* The line is fitted away from the cloud's edge, where the coding
         * spreads a coded cloud into the clear pixels (and real masks miss
         * shadows and haze), unless too little is left. */
        if (count)
            mark_near(f);
        for (int b = 0; count && b < f->bands; b++) {
            uint16_t *x = samples + (size_t)b * n;
            const uint16_t *p = f->last + (size_t)b * n;
            double a, off;
            if (!fit_band(x, p, f->near, f->seen, n, &a, &off))
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
