/* Reference frames of inter coding, compressed per block row. */
#include "refs.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "frame_codec.h"
#include "tec/tec.h"

_Static_assert(TEC_BLOCK == 32, "tec_refs_staging assumes 32 latent rows a block row");

/* Most latents are 0 or +-1 (the mean is subtracted before coding, but
 * not here: they are small integers), so the fastest level already packs
 * them to a fraction of their 16 bits. */
#define ZSTD_LEVEL 1

static size_t row_values(const TecRefStore *s)
{
    return (size_t)s->m * TEC_BLOCK * s->lat_w;
}

int tec_refs_init(TecRefStore *s, int m, int groups, int lat_h, int lat_w)
{
    memset(s, 0, sizeof(*s));
    s->m = m;
    s->groups = groups;
    s->lat_h = lat_h;
    s->lat_w = lat_w;
    s->block_rows = (lat_h + TEC_BLOCK - 1) / TEC_BLOCK;
    s->current = -1;
    s->staging = calloc((size_t)groups * row_values(s), sizeof(int16_t));
    s->zctx = ZSTD_createCCtx();
    s->dctx = ZSTD_createDCtx();
    if (!s->staging || !s->zctx || !s->dctx)
        return TEC_ENOMEM;
    for (int i = 0; i < TEC_REF_SLOTS; i++) {
        TecRefFrame *f = &s->frame[i];
        f->rows = calloc((size_t)groups * s->block_rows, sizeof(*f->rows));
        f->sizes = calloc((size_t)groups * s->block_rows, sizeof(*f->sizes));
        if (!f->rows || !f->sizes)
            return TEC_ENOMEM;
    }
    return 0;
}

static void drop_frame(TecRefStore *s, TecRefFrame *f)
{
    for (int i = 0; f->rows && i < s->groups * s->block_rows; i++) {
        s->stored -= f->sizes[i];
        free(f->rows[i]);
        f->rows[i] = NULL;
        f->sizes[i] = 0;
    }
    f->valid = 0;
}

void tec_refs_free(TecRefStore *s)
{
    for (int i = 0; i < TEC_REF_SLOTS; i++) {
        drop_frame(s, &s->frame[i]);
        free(s->frame[i].rows);
        free(s->frame[i].sizes);
    }
    free(s->staging);
    free(s->window);
    ZSTD_freeCCtx(s->zctx);
    ZSTD_freeDCtx(s->dctx);
    memset(s, 0, sizeof(*s));
    s->current = -1;
}

void tec_refs_reset(TecRefStore *s)
{
    for (int i = 0; i < TEC_REF_SLOTS; i++)
        drop_frame(s, &s->frame[i]);
    s->current = -1;
    s->window_refs = 0;
}

int tec_refs_find(const TecRefStore *s, uint64_t gop, int gop_index)
{
    for (int i = 0; i < TEC_REF_SLOTS; i++)
        if (s->frame[i].valid && s->frame[i].gop == gop && s->frame[i].gop_index == gop_index)
            return i;
    return -1;
}

int tec_refs_find_crc(const TecRefStore *s, int gop_index, uint32_t crc)
{
    for (int i = 0; i < TEC_REF_SLOTS; i++)
        if (s->frame[i].valid && s->frame[i].gop_index == gop_index && s->frame[i].crc == crc)
            return i;
    return -1;
}

int tec_refs_begin(TecRefStore *s, uint64_t gop, int gop_index, int position, int64_t day,
                   const int *refs, int n)
{
    /* Only this frame's references stay: the next frame references this one
     * and at most those (doc/bitstream.md, 3), so a decoder holds K + 1
     * frames, not TEC_REF_SLOTS.  Then a free slot, else the one written
     * longest ago; never a reference. */
    int slot = -1;
    for (int i = 0; i < TEC_REF_SLOTS; i++) {
        int used = 0;
        for (int j = 0; j < n; j++)
            used |= refs[j] == i;
        if (used)
            continue;
        drop_frame(s, &s->frame[i]);
        const TecRefFrame *a = &s->frame[i], *b = slot >= 0 ? &s->frame[slot] : NULL;
        if (!b || (b->valid && (!a->valid || a->gop < b->gop ||
                                (a->gop == b->gop && a->gop_index < b->gop_index))))
            slot = i;
    }
    if (slot < 0)
        return TEC_EINVAL;
    TecRefFrame *f = &s->frame[slot];
    drop_frame(s, f);
    f->gop = gop;
    f->gop_index = gop_index;
    f->position = position;
    f->day = day;
    s->current = slot;
    s->window_refs = n;
    for (int j = 0; j < n; j++) {
        s->refs[j] = refs[j];
        for (int k = 0; k < 3; k++)
            s->window_row[j][k] = -1;
    }
    if (n) {
        const size_t need = (size_t)n * s->groups * 3 * row_values(s);
        int16_t *w = realloc(s->window, need * sizeof(int16_t));
        if (!w)
            return TEC_ENOMEM;
        s->window = w;
    }
    return 0;
}

int tec_refs_store_row(TecRefStore *s, int row)
{
    TecRefFrame *f = &s->frame[s->current];
    const int rows = imin(TEC_BLOCK, s->lat_h - row * TEC_BLOCK);
    for (int g = 0; g < s->groups; g++) {
        /* Only the rows the block row has, channel by channel. */
        const int16_t *src = s->staging + (size_t)g * row_values(s);
        const size_t plane = (size_t)rows * s->lat_w;
        const size_t bytes = (size_t)s->m * plane * sizeof(int16_t);
        int16_t *tmp = malloc(bytes);
        if (!tmp)
            return TEC_ENOMEM;
        for (int c = 0; c < s->m; c++)
            memcpy(tmp + c * plane, src + (size_t)c * TEC_BLOCK * s->lat_w, plane * sizeof(int16_t));
        const size_t cap = ZSTD_compressBound(bytes);
        uint8_t *out = malloc(cap);
        if (!out) {
            free(tmp);
            return TEC_ENOMEM;
        }
        const size_t size = ZSTD_compressCCtx(s->zctx, out, cap, tmp, bytes, ZSTD_LEVEL);
        free(tmp);
        if (ZSTD_isError(size)) {
            free(out);
            return TEC_ENOMEM;
        }
        uint8_t *shrunk = realloc(out, size ? size : 1);
        const size_t i = (size_t)g * s->block_rows + row;
        f->rows[i] = shrunk ? shrunk : out;
        f->sizes[i] = size;
        s->stored += size;
    }
    return 0;
}

void tec_refs_end(TecRefStore *s, int ok, uint32_t crc)
{
    if (s->current < 0)
        return;
    if (ok) {
        s->frame[s->current].valid = 1;
        s->frame[s->current].crc = crc;
    }
    else
        drop_frame(s, &s->frame[s->current]);
    s->current = -1;
}

void tec_refs_forget(TecRefStore *s, int slot)
{
    if (slot >= 0 && slot < TEC_REF_SLOTS)
        drop_frame(s, &s->frame[slot]);
}

void tec_refs_keep_only(TecRefStore *s, int slot, uint64_t gop, int gop_index)
{
    for (int i = 0; i < TEC_REF_SLOTS; i++)
        if (i != slot)
            drop_frame(s, &s->frame[i]);
    s->frame[slot].gop = gop;
    s->frame[slot].gop_index = gop_index;
}

static int16_t *window_row(const TecRefStore *s, int ref, int group, int row)
{
    return s->window + (((size_t)ref * s->groups + group) * 3 + (size_t)(row % 3)) * row_values(s);
}

int tec_refs_load_rows(TecRefStore *s, int row)
{
    for (int j = 0; j < s->window_refs; j++) {
        const TecRefFrame *f = &s->frame[s->refs[j]];
        for (int r = row - 1; r <= row + 1; r++) {
            if (r < 0 || r >= s->block_rows || s->window_row[j][r % 3] == r)
                continue;
            const int rows = imin(TEC_BLOCK, s->lat_h - r * TEC_BLOCK);
            const size_t bytes = (size_t)s->m * rows * s->lat_w * sizeof(int16_t);
            for (int g = 0; g < s->groups; g++) {
                const size_t i = (size_t)g * s->block_rows + r;
                int16_t *dst = window_row(s, j, g, r);
                const size_t got = ZSTD_decompressDCtx(s->dctx, dst, bytes, f->rows[i], f->sizes[i]);
                if (ZSTD_isError(got) || got != bytes)
                    return TEC_EBITSTREAM;  /* only our own compressed rows come here */
            }
            s->window_row[j][r % 3] = r;
        }
    }
    return 0;
}

void tec_refs_stage(TecRefStore *s, int group, int x0, int h, int w, const int16_t *left)
{
    int16_t *row = s->staging + (size_t)group * row_values(s);
    for (int c = 0; c < s->m; c++)
        for (int y = 0; y < h; y++)
            memcpy(row + ((size_t)c * TEC_BLOCK + y) * s->lat_w + x0,
                   left + ((size_t)c * h + y) * w, (size_t)w * sizeof(int16_t));
}

/* Reference `ref` around the block, converted, out[m][h+2][w+2]. */
static void block_reference(const TecRefStore *s, int ref, int group, int y0, int x0, int h, int w,
                            const TecTtFactor *f, int32_t *out, uint8_t *inside)
{
    const int w2 = w + 2, h2 = h + 2;
    for (int y = 0; y < h2; y++)
        for (int x = 0; x < w2; x++) {
            const int ly = y0 + y - 1, lx = x0 + x - 1;
            inside[(size_t)y * w2 + x] = ly >= 0 && ly < s->lat_h && lx >= 0 && lx < s->lat_w;
        }
    for (int y = 0; y < h2; y++) {
        const int ly = y0 + y - 1;
        const int ok = ly >= 0 && ly < s->lat_h;
        const int r = ok ? ly / TEC_BLOCK : 0;
        const int rows = ok ? imin(TEC_BLOCK, s->lat_h - r * TEC_BLOCK) : 0;
        const int16_t *base = ok ? window_row(s, ref, group, r) : NULL;
        for (int c = 0; c < s->m; c++) {
            int32_t *dst = out + ((size_t)c * h2 + y) * w2;
            if (!ok) {
                memset(dst, 0, (size_t)w2 * sizeof(*dst));
                continue;
            }
            const int16_t *src = base + ((size_t)c * rows + (ly - r * TEC_BLOCK)) * s->lat_w;
            for (int x = 0; x < w2; x++) {
                const int lx = x0 + x - 1;
                dst[x] = lx >= 0 && lx < s->lat_w ? tec_tt_convert(f, c, src[lx]) : 0;
            }
        }
    }
}

void tec_refs_gather(const TecRefStore *s, int group, int y0, int x0, int h, int w, int n,
                     const TecTtFactor *factors, const int32_t (*tau)[TEC_TT_TAU], void *buf,
                     TecTtBlock *tb)
{
    const size_t nh = (size_t)(h + 2) * (w + 2);
    int32_t *refs = buf;
    uint8_t *inside = (uint8_t *)(refs + (size_t)n * s->m * nh);
    tb->n_refs = n;
    tb->inside = inside;
    for (int j = 0; j < n; j++) {
        int32_t *rc = refs + (size_t)j * s->m * nh;
        block_reference(s, j, group, y0, x0, h, w, &factors[j], rc, inside);
        tb->ref[j] = rc;
        memcpy(tb->tau[j], tau[j], sizeof(tb->tau[j]));
    }
}
