/* Cloud filling: the chain of filled latents, the prediction of a frame's
 * masked latents and the radiometric line that maps it onto the frame. */
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "cloud_fill.h"

int tec_fill_init(TecFill *f, int m, int groups, int bands, const TecGeometry *g, int window)
{
    memset(f, 0, sizeof(*f));
    f->on = 1;
    f->m = m;
    f->groups = groups;
    f->bands = bands;
    f->geom = *g;
    f->latest = -1;
    const size_t pixels = (size_t)g->width * g->height;
    int ok = tec_refs_init(&f->chain, m, groups, g->lat_h, g->lat_w) == 0;
    ok = ok && tec_mask_init(&f->cloud, 0, g->width, g->height) == 0;
    f->user_mask = malloc(pixels);
    f->pixels = calloc(pixels, 1);
    f->filled = malloc(pixels);
    f->latent = malloc((size_t)g->lat_h * g->lat_w);
    f->forecast = malloc((size_t)bands * pixels * sizeof(uint16_t));
    f->grids = calloc((size_t)groups, sizeof(*f->grids));
    ok = ok && f->user_mask && f->pixels && f->filled && f->latent && f->forecast && f->grids;
    for (int i = 0; ok && i < groups; i++) {
        f->grids[i].h = window;
        f->grids[i].w = g->lat_w;
        f->grids[i].y = malloc((size_t)m * window * g->lat_w * sizeof(float));
        ok = f->grids[i].y != NULL;
    }
    if (!ok) {
        tec_fill_free(f);
        return TEC_ENOMEM;
    }
    return 0;
}

void tec_fill_free(TecFill *f)
{
    if (f->chain.frame[0].rows)
        tec_refs_free(&f->chain);
    tec_mask_free(&f->cloud);
    for (int i = 0; f->grids && i < f->groups; i++)
        free(f->grids[i].y);
    free(f->grids);
    free(f->user_mask);
    free(f->pixels);
    free(f->filled);
    free(f->latent);
    free(f->forecast);
    memset(f, 0, sizeof(*f));
}

void tec_fill_reset(TecFill *f)
{
    tec_refs_reset(&f->chain);
    f->chain_frames = 0;
    f->latest = -1;
    f->user_set = 0;
}

int tec_fill_set_mask(TecFill *f, const uint8_t *mask, ptrdiff_t stride)
{
    if (!mask) {
        f->user_set = 0;
        return 0;
    }
    const int W = f->geom.width, H = f->geom.height;
    if (stride < W)
        return TEC_EINVAL;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            f->user_mask[(size_t)y * W + x] = mask[(ptrdiff_t)y * stride + x] != 0;
    f->user_set = 1;
    return 0;
}

/* The latents whose pixels the mask touches, and their neighbours: the
 * analysis saw the cloud from there too. */
static void latent_mask(TecFill *f)
{
    const TecGeometry *g = &f->geom;
    const int D = g->downscale, lw = g->lat_w, lh = g->lat_h;
    uint8_t *touched = f->latent;
    memset(touched, 0, (size_t)lh * lw);
    for (int y = 0; y < g->height; y++) {
        const uint8_t *row = f->pixels + (size_t)y * g->width;
        for (int x = 0; x < g->width; x++)
            if (row[x])
                touched[(size_t)(y / D) * lw + x / D] = 1;
    }
    /* Dilation by one, rows then columns (2 marks a new neighbour). */
    for (int y = 0; y < lh; y++)
        for (int x = 0; x < lw; x++)
            if (touched[(size_t)y * lw + x] == 1) {
                if (x > 0 && !touched[(size_t)y * lw + x - 1])
                    touched[(size_t)y * lw + x - 1] = 2;
                if (x + 1 < lw && !touched[(size_t)y * lw + x + 1])
                    touched[(size_t)y * lw + x + 1] = 2;
            }
    for (int y = 0; y < lh; y++)
        for (int x = 0; x < lw; x++)
            if (touched[(size_t)y * lw + x] && touched[(size_t)y * lw + x] != 3) {
                if (y > 0 && !touched[(size_t)(y - 1) * lw + x])
                    touched[(size_t)(y - 1) * lw + x] = 3;
                if (y + 1 < lh && !touched[(size_t)(y + 1) * lw + x])
                    touched[(size_t)(y + 1) * lw + x] = 3;
            }
}

int tec_fill_begin(TecFill *f, const TecTemporalModel *tt, int position)
{
    const size_t pixels = (size_t)f->geom.width * f->geom.height;
    f->why = NULL;
    f->active = 0;
    f->masked = 0;
    f->filled_count = 0;
    if (f->user_set) {
        memcpy(f->pixels, f->user_mask, pixels);
        for (size_t i = 0; i < pixels; i++)
            f->masked += f->pixels[i];
        f->user_set = 0;
    } else if (f->cloud.on) {
        f->masked = tec_mask_pixels(&f->cloud, f->pixels);
    }
    /* The chain's latest frame is the one reference of this frame's entry. */
    const int latest = f->latest;
    const int n = f->chain_frames > 0 && latest >= 0 && f->chain.frame[latest].valid;
    int ret = tec_refs_begin(&f->chain, 0, 0, position, TEC_REF_NO_DAY, &latest, n);
    if (ret < 0)
        return ret;
    if (!f->masked)
        return 0;
    if (!n) {
        f->why = "no earlier frame to predict it from (the first frame decoded, or the first "
                 "after a seek or a lost frame)";
        return 0;
    }
    tec_tt_factors(tt, position, f->chain.frame[latest].position, &f->factor);
    latent_mask(f);
    f->active = 1;
    return 0;
}

/* The block's chain values, then (16-byte aligned) the gathered reference. */
static size_t chain_bytes(const TecFill *f, int h, int w)
{
    return ((size_t)f->m * h * w * sizeof(int16_t) + 15) & ~(size_t)15;
}

size_t tec_fill_block_bytes(const TecFill *f, int h, int w)
{
    return chain_bytes(f, h, w) + tec_refs_gather_size(&f->chain, 1, h, w);
}

static int16_t round_q8(int32_t v)
{
    const int64_t r = ((int64_t)v + 128) >> 8;
    return (int16_t)(r > 32767 ? 32767 : r < -32768 ? -32768 : r);
}

void tec_fill_block(TecFill *f, int group, const TecBlockRect *r, const int16_t *left,
                    const float *igain, void *buf)
{
    if (!f->active) {
        tec_refs_stage(&f->chain, group, r->x0, r->h, r->w, left);
        return;
    }
    const size_t n = (size_t)r->h * r->w;
    int16_t *chain_left = buf;
    static const int32_t no_tau[1][TEC_TT_TAU];
    TecTtBlock tb;
    tec_refs_gather(&f->chain, group, r->y0, r->x0, r->h, r->w, 1, &f->factor, no_tau,
                    (uint8_t *)buf + chain_bytes(f, r->h, r->w), &tb);
    const TecLatentGrid *grid = &f->grids[group];
    const int w2 = r->w + 2, lw = f->geom.lat_w;
    for (int c = 0; c < f->m; c++) {
        const int32_t *pred = tb.ref[0] + (size_t)c * (r->h + 2) * w2;
        for (int y = 0; y < r->h; y++) {
            float *dst = tec_grid_row(grid, c, r->y0 + y) + r->x0;
            const uint8_t *masked = f->latent + (size_t)(r->y0 + y) * lw + r->x0;
            const size_t i0 = (size_t)c * n + (size_t)y * r->w;
            for (int x = 0; x < r->w; x++) {
                const int32_t p = pred[(size_t)(y + 1) * w2 + x + 1];
                dst[x] = (float)p / 256.0f * igain[c];
                chain_left[i0 + x] = masked[x] ? round_q8(p) : left[i0 + x];
            }
        }
    }
    tec_refs_stage(&f->chain, group, r->x0, r->h, r->w, chain_left);
}

int tec_fill_load_rows(TecFill *f, int row)
{
    return f->active ? tec_refs_load_rows(&f->chain, row) : 0;
}

int tec_fill_store_row(TecFill *f, int row)
{
    return tec_refs_store_row(&f->chain, row);
}

/* Least squares x = a p + b over the pixels the mask leaves clear, from
 * exact integer sums, so the line is the same on every machine. */
static void fit_band(const uint16_t *x, const uint16_t *p, const uint8_t *masked, size_t n,
                     double *a, double *b)
{
    uint64_t count = 0, sx = 0, sp = 0, spp = 0, spx = 0;
    for (size_t i = 0; i < n; i++)
        if (!masked[i]) {
            count++;
            sx += x[i];
            sp += p[i];
            spp += (uint64_t)p[i] * p[i];
            spx += (uint64_t)p[i] * x[i];
        }
    *a = 1.0;
    *b = 0.0;
    if (count < TEC_FILL_MIN_CLEAR || count < n / 100)
        return;
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
}

static uint16_t to_sample(double v)
{
    if (!(v > 0.0))
        return 0;
    return v >= 65535.0 ? 65535 : (uint16_t)(v + 0.5);
}

void tec_fill_finish(TecFill *f, uint16_t *samples, const TecFrameNorm *norm)
{
    const size_t n = (size_t)f->geom.width * f->geom.height;
    if (!f->active) {
        /* Clear, or left as coded: the chain holds the frame as it is. */
        f->chain_norm = *norm;
        return;
    }
    TecFrameNorm next = f->chain_norm;
    for (int b = 0; b < f->bands; b++) {
        uint16_t *x = samples + (size_t)b * n;
        const uint16_t *p = f->forecast + (size_t)b * n;
        double a, off;
        fit_band(x, p, f->pixels, n, &a, &off);
        for (size_t i = 0; i < n; i++)
            if (f->pixels[i])
                x[i] = to_sample(a * p[i] + off);
        next.spread[b] = (float)(a * f->chain_norm.spread[b]);
        next.mean[b] = (float)(a * f->chain_norm.mean[b] + off);
    }
    /* The chain's latents are mostly the frame's own when it is mostly
     * clear, mostly the prediction's otherwise. */
    f->chain_norm = 2 * f->masked < n ? *norm : next;
    memcpy(f->filled, f->pixels, n);
    f->filled_count = (int64_t)f->masked;
}

void tec_fill_end(TecFill *f, int ok)
{
    const int slot = f->chain.current;
    tec_refs_end(&f->chain, ok, 0);
    if (ok) {
        f->latest = slot;
        f->chain_frames++;
    } else {
        tec_fill_reset(f);
    }
}
