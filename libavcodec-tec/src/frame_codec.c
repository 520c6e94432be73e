/* Per-chunk coding and tiled synthesis shared by the encoder and decoder. */
#include "frame_codec.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "bytes.h"
#include "errors.h"

/* Clamps on what the encoder codes: far beyond any real latent, and they keep
 * z * 256 and every escape distance within range. */
#define Z_LIMIT 32768.0f
#define SYMBOL_LIMIT 1073741824.0f
/* rans.c starts encoding from the state's lower bound, so a complete
 * stream leaves the decoder there. */
#define RANS_FINAL_STATE (1u << 23)
/* Memory all workers' workspaces may take together. */
#define WORK_BUDGET ((size_t)1 << 30)

/* ---- geometry ------------------------------------------------------------ */

void tec_geometry_init(TecGeometry *g, int width, int height, int downscale)
{
    g->width = width;
    g->height = height;
    g->downscale = downscale;
    g->lat_h = (height + downscale - 1) / downscale;
    g->lat_w = (width + downscale - 1) / downscale;
    g->stripe_rows = TEC_BLOCK * downscale;
    g->block_rows = (g->lat_h + TEC_BLOCK - 1) / TEC_BLOCK;
    g->block_cols = (g->lat_w + TEC_BLOCK - 1) / TEC_BLOCK;
    g->n_blocks = g->block_rows * g->block_cols;
}

TecBlockRect tec_geometry_block(const TecGeometry *g, int block)
{
    TecBlockRect r;
    r.y0 = block / g->block_cols * TEC_BLOCK;
    r.x0 = block % g->block_cols * TEC_BLOCK;
    r.h = imin(TEC_BLOCK, g->lat_h - r.y0);
    r.w = imin(TEC_BLOCK, g->lat_w - r.x0);
    return r;
}

/* ---- one chunk ----------------------------------------------------------- */

/* round(v) as an int32 for any float, NaN included. */
static int32_t round_clamped(float v, float limit)
{
    if (v != v)
        return 0;
    v = v < -limit ? -limit : v > limit ? limit : v;
    return (int32_t)floorf(v + 0.5f);
}

/* The symbol coded for a latent at distance d from its predicted mean:
 * rounding, except that distances up to 0.5 + ZERO_BIAS still code 0.  The
 * Gaussian is centred on the mean, so 0 is the cheapest symbol, and the
 * slightly larger error of these few latents costs less than the bits it
 * saves (about 1.3% of rate at equal PSNR on training places, doc/design.md).
 * Encoder-only: the decoder reads symbols. */
#define ZERO_BIAS 0.04f
static int32_t quantise_latent(float d)
{
    if (d > -0.5f - ZERO_BIAS && d < 0.5f + ZERO_BIAS)
        return 0;
    return round_clamped(d, SYMBOL_LIMIT);
}

int32_t tec_fc_quantise_latent(float d) { return quantise_latent(d); }

/* A block's entropy parameters as dense [m][n] planes, n = h x w, the
 * input rows of the channel context (doc/model.md): the decoded values of
 * the slices so far, then the next slice's hyperprior parameters, and those
 * of the spatial context, gathered at the non-anchor positions. */
typedef struct BlockParams {
    int32_t *mean, *scale, *ctx_in, *sp_in;
    int n, slice;                /* positions, channels per slice */
    int h, w;
    /* Inter blocks (doc/model.md, TEC-TT): the temporal model, the block's
     * references and the attention output [dv][n]; NULL for intra. */
    const TecTemporalModel *tt;
    const TecTtBlock *refs;
    int32_t *attention;
    int16_t *refs_out;           /* [m][n] what the block leaves for later frames, or NULL */
    const int8_t *lean;          /* [m] inter: the chunk's leans, or NULL */
    TecLeanSums *lean_sums;      /* [m] encoder: gathered for choosing them, or NULL */
} BlockParams;

static int block_params_init(const TecImageModel *m, const int32_t *params, int ph, int pw,
                             const TecBlockRect *r, const TecFcInter *inter, TecWorkspace *ws,
                             BlockParams *bp)
{
    const size_t n = (size_t)r->h * r->w;
    bp->n = (int)n;
    bp->h = r->h;
    bp->w = r->w;
    bp->slice = m->m / m->slices;
    bp->tt = inter ? inter->tt : NULL;
    bp->refs = inter ? inter->refs : NULL;
    bp->refs_out = inter ? inter->refs_out : NULL;
    bp->lean = bp->tt ? inter->lean : NULL;
    bp->lean_sums = bp->tt ? inter->lean_sums : NULL;
    /* Context input rows: every slice's decoded values, then (intra) the
     * next slice's mean and scale or (inter) those and the temporal rows. */
    size_t ctx_rows = (size_t)m->m + 2 * bp->slice;
    if (bp->tt)
        ctx_rows += (size_t)tec_tt_extra_rows(bp->tt);
    const size_t ctx_size = (2 * (size_t)m->m + ctx_rows) * n;
    const size_t sp_size = m->spatial ? (size_t)6 * bp->slice * ((n + 1) / 2) : 0;
    const size_t att_size = bp->tt ? (size_t)bp->tt->dv * n : 0;
    int32_t *buf = tec_ws_get(ws, TEC_WS_CONTEXT, (ctx_size + sp_size + att_size) * sizeof(*buf));
    if (!buf)
        return TEC_ENOMEM;
    bp->mean = buf;
    bp->scale = buf + (size_t)m->m * n;
    bp->ctx_in = buf + (size_t)2 * m->m * n;
    bp->sp_in = buf + ctx_size;
    bp->attention = bp->tt ? buf + ctx_size + sp_size : NULL;
    for (int c = 0; c < m->m; c++)
        for (int y = 0; y < r->h; y++) {
            const size_t src = (size_t)c * ph * pw + (size_t)y * pw, dst = (size_t)c * n + y * r->w;
            memcpy(bp->mean + dst, params + src, r->w * sizeof(*buf));
            memcpy(bp->scale + dst, params + (size_t)m->m * ph * pw + src, r->w * sizeof(*buf));
        }
    if (bp->tt)
        return tec_tt_attention(bp->tt, bp->refs, bp->mean, bp->scale, r->h, r->w, bp->attention, ws);
    return 0;
}

/* Slice k's temporal rows after its mean and scale (doc/model.md): the
 * latest reference's channels of the slice, the attention output and the
 * latest reference's time features. */
static void temporal_rows(const BlockParams *bp, int k, int32_t *rows)
{
    const size_t n = (size_t)bp->n;
    const int w2 = bp->w + 2;
    const int32_t *latest = bp->refs->ref[0];
    for (int c = 0; c < bp->slice; c++) {
        const int32_t *src = latest + (size_t)(k * bp->slice + c) * (bp->h + 2) * w2;
        for (int y = 0; y < bp->h; y++)
            memcpy(rows + c * n + (size_t)y * bp->w, src + (size_t)(y + 1) * w2 + 1,
                   (size_t)bp->w * sizeof(*rows));
    }
    rows += (size_t)bp->slice * n;
    memcpy(rows, bp->attention, (size_t)bp->tt->dv * n * sizeof(*rows));
    rows += (size_t)bp->tt->dv * n;
    for (int t = 0; t < TEC_TT_TAU; t++)
        for (size_t i = 0; i < n; i++)
            rows[t * n + i] = bp->refs->tau[0][t];
}

/* Before slice k is coded: its parameters refined from the slices before. */
static int slice_context(const TecImageModel *m, BlockParams *bp, int k, TecWorkspace *ws)
{
    if (k == 0 && !bp->tt)
        return 0;
    const size_t plane = (size_t)bp->slice * bp->n, first = (size_t)k * plane;
    memcpy(bp->ctx_in + first, bp->mean + first, plane * sizeof(int32_t));
    memcpy(bp->ctx_in + first + plane, bp->scale + first, plane * sizeof(int32_t));
    if (bp->tt) {
        temporal_rows(bp, k, bp->ctx_in + first + 2 * plane);
        return tec_tt_slice_context(bp->tt, k, bp->ctx_in, bp->n, bp->mean + first,
                                    bp->scale + first, ws);
    }
    return tec_img_channel_context(m, k, bp->ctx_in, bp->n, bp->mean + first,
                                   bp->scale + first, ws);
}

/* Between the checkerboard passes of slice k: the parameters of its
 * non-anchor positions (y + x odd) refined from the anchors just decoded. */
static int slice_spatial(const TecImageModel *m, BlockParams *bp, int k, TecWorkspace *ws)
{
    const int gs = bp->slice, h = bp->h, w = bp->w;
    const size_t n2 = (size_t)bp->n / 2;   /* y + x odd: floor(h w / 2) */
    if (!n2)
        return 0;
    for (int c = 0; c < gs; c++) {
        const size_t plane = (size_t)(k * gs + c) * bp->n;
        const int32_t *val = bp->ctx_in + plane;
        int32_t *row[6];
        for (int g = 0; g < 6; g++)
            row[g] = bp->sp_in + ((size_t)g * gs + c) * n2;
        size_t j = 0;
        for (int y = 0; y < h; y++)
            for (int x = (y + 1) & 1; x < w; x += 2, j++) {
                const size_t i = (size_t)y * w + x;
                row[0][j] = bp->mean[plane + i];
                row[1][j] = bp->scale[plane + i];
                row[2][j] = y > 0 ? val[i - w] : 0;
                row[3][j] = y + 1 < h ? val[i + w] : 0;
                row[4][j] = x > 0 ? val[i - 1] : 0;
                row[5][j] = x + 1 < w ? val[i + 1] : 0;
            }
    }
    int ret = bp->tt ? tec_tt_spatial_context(bp->tt, k, bp->sp_in, (int)n2, ws)
                     : tec_img_spatial_context(m, k, bp->sp_in, (int)n2, ws);
    if (ret < 0)
        return ret;
    for (int c = 0; c < gs; c++) {
        const size_t plane = (size_t)(k * gs + c) * bp->n;
        const int32_t *mean = bp->sp_in + (size_t)c * n2, *scale = bp->sp_in + ((size_t)gs + c) * n2;
        size_t j = 0;
        for (int y = 0; y < h; y++)
            for (int x = (y + 1) & 1; x < w; x += 2, j++) {
                bp->mean[plane + (size_t)y * w + x] = mean[j];
                bp->scale[plane + (size_t)y * w + x] = scale[j];
            }
    }
    return 0;
}

/* Coding passes over a slice: one over every position, or with the spatial
 * context the anchors (y + x even), then the rest. */
static int pass_count(const TecImageModel *m) { return m->spatial ? 2 : 1; }
static int pass_first_column(const TecImageModel *m, int pass, int y)
{
    return m->spatial ? (y + pass) & 1 : 0;
}

/* The latest reference's latent (Q8) at position (y, x) of channel c. */
static int32_t latest_reference(const BlockParams *bp, int c, int y, int x)
{
    return bp->refs->ref[0][((size_t)c * (bp->h + 2) + y + 1) * (bp->w + 2) + x + 1];
}

/* The mean a latent is coded with: the model's, moved by the channel's lean
 * (lean.h) in inter blocks that have one.  Stored back, so that what the
 * latent leaves (slice_value) follows it. */
static int32_t final_mean(BlockParams *bp, size_t i, int c, int y, int x)
{
    if (bp->lean && bp->lean[c])
        bp->mean[i] = tec_lean_mean(bp->mean[i], latest_reference(bp, c, y, x), bp->lean[c]);
    return bp->mean[i];
}

/* Encoder: what choosing the leans needs of a latent y coded without them. */
static void gather_lean(BlockParams *bp, int c, int y, int x, float value, int32_t mu,
                        int32_t raw_scale)
{
    double s = raw_scale / 256.0;
    if (s < 0.11)                /* the smallest scale of the tables */
        s = 0.11;
    const double w = 1.0 / (s * s);
    const double e = (double)value - mu / 256.0;
    const double d = (latest_reference(bp, c, y, x) - (double)mu) / 256.0;
    bp->lean_sums[c].ed += w * e * d;
    bp->lean_sums[c].dd += w * d * d;
}

/* A coded symbol's decoded value (8 fractional bits), context for the
 * slices after it. */
static void slice_value(BlockParams *bp, size_t i, int32_t symbol, int32_t mean)
{
    bp->ctx_in[i] = tec_saturate_i32((int64_t)symbol * 256 + mean);
    if (bp->refs_out)
        bp->refs_out[i] = tec_tt_reference_value(symbol, mean);
}

int tec_fc_encode_block(const TecImageModel *m, const float *yg, const float *z,
                        const TecBlockRect *r, const float *igain, const TecFcInter *inter,
                        TecRansEncoder *re, TecLatentGrid *grid, TecWorkspace *ws)
{
    const int hz = tec_hyper_size(r->h), wz = tec_hyper_size(r->w);
    const int ph = 4 * hz, pw = 4 * wz;
    const size_t nz = (size_t)m->nh * hz * wz;
    int32_t *zi = tec_ws_get(ws, TEC_WS_HYPER_INT, nz * sizeof(*zi));
    int32_t *params = tec_ws_get(ws, TEC_WS_PARAMS, (size_t)2 * m->m * ph * pw * sizeof(*params));
    if (!zi || !params)
        return TEC_ENOMEM;

    for (size_t i = 0; i < nz; i++)
        zi[i] = round_clamped(z[i], Z_LIMIT);
    int ret = tec_img_hyper_synthesis(m, zi, hz, wz, params, ws);
    BlockParams bp;
    if (ret < 0 || (ret = block_params_init(m, params, ph, pw, r, inter, ws, &bp)) < 0)
        return ret;

    tec_rans_enc_reset(re);
    for (int c = 0; c < m->nh; c++)
        for (int i = 0; i < hz * wz; i++)
            tec_rans_enc_put(re, &m->prior[c], zi[(size_t)c * hz * wz + i]);
    const int step = m->spatial ? 2 : 1;
    for (int k = 0; k < m->slices; k++) {
        if ((ret = slice_context(m, &bp, k, ws)) < 0)
            return ret;
        for (int pass = 0; pass < pass_count(m); pass++) {
            if (pass && (ret = slice_spatial(m, &bp, k, ws)) < 0)
                return ret;
            for (int c = k * bp.slice; c < (k + 1) * bp.slice; c++)
                for (int y = 0; y < r->h; y++) {
                    const float *src = yg + ((size_t)c * r->h + y) * r->w;
                    float *dst = grid ? tec_grid_row(grid, c, r->y0 + y) + r->x0 : NULL;
                    const uint8_t *zero = inter && inter->zero
                                              ? inter->zero + (size_t)y * inter->zero_stride
                                              : NULL;
                    for (int x = pass_first_column(m, pass, y); x < r->w; x += step) {
                        const size_t i = (size_t)c * bp.n + (size_t)y * r->w + x;
                        const int32_t mu = final_mean(&bp, i, c, y, x);
                        /* A latent coded as 0 whatever its mean costs the same
                         * with any lean: it has no say in them. */
                        if (bp.lean_sums && !(zero && zero[x]))
                            gather_lean(&bp, c, y, x, src[x], mu, bp.scale[i]);
                        const int32_t s = zero && zero[x]
                                              ? 0
                                              : quantise_latent(src[x] - (float)mu / 256.0f);
                        tec_rans_enc_put(re, &m->gauss[tec_img_scale_index(m, bp.scale[i])], s);
                        slice_value(&bp, i, s, mu);
                        if (dst)
                            dst[x] = tec_latent_value(s, mu, igain[c]);
                        if (inter && inter->value_out) {
                            inter->mean_out[i] = mu;
                            inter->scale_out[i] = bp.scale[i];
                            inter->value_out[i] = (float)s + (float)mu / 256.0f;
                        }
                    }
                }
        }
    }
    return re->error;
}

int tec_fc_decode_chunk(const TecImageModel *m, const uint8_t *data, size_t size,
                        const TecBlockRect *r, const float *igain, const TecFcInter *inter,
                        TecLatentGrid *grid, TecWorkspace *ws, char *err, size_t errlen)
{
    const int hz = tec_hyper_size(r->h), wz = tec_hyper_size(r->w);
    const int ph = 4 * hz, pw = 4 * wz;
    const size_t nz = (size_t)m->nh * hz * wz;
    int32_t *zi = tec_ws_get(ws, TEC_WS_HYPER_INT, nz * sizeof(*zi));
    int32_t *params = tec_ws_get(ws, TEC_WS_PARAMS, (size_t)2 * m->m * ph * pw * sizeof(*params));
    if (!zi || !params)
        return TEC_ENOMEM;

    int8_t lean[TEC_TT_MAX_M];
    TecFcInter with_lean;
    if (inter && inter->tt && inter->lean_table) {
        size_t used;
        int ret = tec_lean_table_read(data, size, m->m, lean, &used, err, errlen);
        if (ret < 0)
            return ret;
        data += used;
        size -= used;
        with_lean = *inter;
        with_lean.lean = lean;
        inter = &with_lean;
    }
    TecRansDecoder d;
    if (tec_rans_dec_init(&d, data, size) < 0)
        return tec_err(err, errlen, TEC_EBITSTREAM, "bad rANS stream start (%zu bytes)", size);
    for (int c = 0; c < m->nh; c++)
        for (int i = 0; i < hz * wz; i++)
            zi[(size_t)c * hz * wz + i] = tec_rans_dec_get(&d, &m->prior[c]);
    if (d.error)
        return tec_err(err, errlen, TEC_EBITSTREAM, "corrupt hyper-latents");
    int ret = tec_img_hyper_synthesis(m, zi, hz, wz, params, ws);
    BlockParams bp;
    if (ret < 0 || (ret = block_params_init(m, params, ph, pw, r, inter, ws, &bp)) < 0)
        return ret;

    const int step = m->spatial ? 2 : 1;
    for (int k = 0; k < m->slices; k++) {
        if ((ret = slice_context(m, &bp, k, ws)) < 0)
            return ret;
        for (int pass = 0; pass < pass_count(m); pass++) {
            if (pass && (ret = slice_spatial(m, &bp, k, ws)) < 0)
                return ret;
            for (int c = k * bp.slice; c < (k + 1) * bp.slice; c++)
                for (int y = 0; y < r->h; y++) {
                    float *dst = tec_grid_row(grid, c, r->y0 + y) + r->x0;
                    for (int x = pass_first_column(m, pass, y); x < r->w; x += step) {
                        const size_t i = (size_t)c * bp.n + (size_t)y * r->w + x;
                        const TecRansTable *t = &m->gauss[tec_img_scale_index(m, bp.scale[i])];
                        const int32_t s = tec_rans_dec_get(&d, t);
                        const int32_t mu = final_mean(&bp, i, c, y, x);
                        slice_value(&bp, i, s, mu);
                        dst[x] = tec_latent_value(s, mu, igain[c]);
                    }
                }
        }
    }
    if (d.error)
        return tec_err(err, errlen, TEC_EBITSTREAM, "corrupt latents");
    if (d.p != d.end)
        return tec_err(err, errlen, TEC_EBITSTREAM, "%zu bytes left over", (size_t)(d.end - d.p));
    if (d.x != RANS_FINAL_STATE)
        return tec_err(err, errlen, TEC_EBITSTREAM, "rANS final state mismatch");
    return 0;
}

/* ---- band statistics ----------------------------------------------------- */

void tec_norm_from_model(const TecImageModel *m, const TecSeqHeader *h, TecFrameNorm *norm)
{
    for (int i = 0; i < h->n_groups; i++)
        for (int j = 0; j < h->groups[i].count; j++) {
            const int band = h->groups[i].band[j], slot = h->groups[i].slot[j];
            norm->mean[band] = m->band_mean[slot];
            norm->spread[band] = m->band_std[slot];
        }
}

size_t tec_norm_packet_size(const TecImageModel *m, const TecSeqHeader *h)
{
    return m->frame_norm ? 4 * (size_t)h->info.bands : 0;
}

void tec_norm_write(const TecSeqHeader *h, const uint16_t *mean, const uint16_t *spread,
                    uint8_t *p)
{
    for (int i = 0; i < h->n_groups; i++)
        for (int j = 0; j < h->groups[i].count; j++, p += 4) {
            tec_wl16(p, mean[h->groups[i].band[j]]);
            tec_wl16(p + 2, spread[h->groups[i].band[j]]);
        }
}

int tec_norm_read(const TecSeqHeader *h, const uint8_t *p, TecFrameNorm *norm)
{
    for (int i = 0; i < h->n_groups; i++)
        for (int j = 0; j < h->groups[i].count; j++, p += 4) {
            const int band = h->groups[i].band[j];
            norm->mean[band] = tec_rl16(p);
            norm->spread[band] = tec_rl16(p + 2);
            if (norm->spread[band] == 0.0f)
                return TEC_EBITSTREAM;
        }
    return 0;
}

/* ---- synthesis ----------------------------------------------------------- */

/* Nearest integer in [0, 65535]; NaN gives 0. */
static uint16_t to_sample(float v)
{
    if (!(v > 0.0f))
        return 0;
    if (v >= 65535.0f)
        return 65535;
    return (uint16_t)(v + 0.5f);
}

int tec_fc_synthesize_tile(const TecImageModel *m, const TecGeometry *g,
                           const TecLatentGrid *grid, const TecBandGroup *group,
                           const TecFrameNorm *norm, int block_row, int block_col,
                           const TecSampleTarget *out, TecWorkspace *ws)
{
    const TecBlockRect r = tec_geometry_block(g, block_row * g->block_cols + block_col);
    /* The halo stops at the grid's edge: there the layers' own zero padding
     * is what a whole-grid synthesis sees too. */
    const int hy0 = imax(0, r.y0 - TEC_SYNTH_HALO), hy1 = imin(g->lat_h, r.y0 + r.h + TEC_SYNTH_HALO);
    const int hx0 = imax(0, r.x0 - TEC_SYNTH_HALO), hx1 = imin(g->lat_w, r.x0 + r.w + TEC_SYNTH_HALO);
    const int th = hy1 - hy0, tw = hx1 - hx0;
    const int D = g->downscale, xw = tw * D;
    const size_t xplane = (size_t)th * D * xw;

    float *y = tec_ws_get(ws, TEC_WS_LATENTS, (size_t)m->m * th * tw * sizeof(float));
    float *x = tec_ws_get(ws, TEC_WS_PIXELS, (size_t)m->slots * xplane * sizeof(float));
    if (!y || !x)
        return TEC_ENOMEM;
    for (int c = 0; c < m->m; c++)
        for (int i = 0; i < th; i++)
            memcpy(y + ((size_t)c * th + i) * tw,
                   tec_grid_row(grid, c, hy0 + i) + hx0, tw * sizeof(float));
    int ret = tec_img_synthesis(m, y, th, tw, x, ws);
    if (ret < 0)
        return ret;

    const int py0 = r.y0 * D, py1 = imin(g->height, (r.y0 + r.h) * D);
    const int px0 = r.x0 * D, px1 = imin(g->width, (r.x0 + r.w) * D);
    for (int j = 0; j < group->count; j++) {
        const int s = group->slot[j];
        const float std = norm->spread[group->band[j]], mean = norm->mean[group->band[j]];
        for (int py = py0; py < py1; py++) {
            const float *src = x + s * xplane + (size_t)(py - hy0 * D) * xw + (px0 - hx0 * D);
            uint16_t *dst = out->data + group->band[j] * out->band_stride +
                            (py - out->y0) * out->stride + px0;
            for (int px = 0; px < px1 - px0; px++)
                dst[px] = to_sample(src[px] * std + mean);
        }
    }
    return 0;
}

size_t tec_fc_synthesis_bytes(const TecImageModel *m)
{
    const size_t t = TEC_BLOCK + 2 * TEC_SYNTH_HALO, hw = t * t;
    const size_t n = (size_t)m->n, s = (size_t)m->slots;
    const size_t up = (size_t)1 << (2 * (m->levels - 1)), px = 4 * up;
    size_t floats = up * n * hw;                               /* act0 */
    floats += (up * n > px * s ? up * n : px * s) * hw;       /* act1 */
    floats += (size_t)m->m * hw + px * s * hw;                /* tile in, out */
    floats += (n > (size_t)m->m ? n : (size_t)m->m) * 9 * 1024 + (1 << 20);  /* conv, GDN */
    return floats * sizeof(float) * 5 / 4;
}

typedef struct StripeJob {
    const TecImageModel *m;
    const TecGeometry *g;
    const TecSeqHeader *h;
    TecLatentGrid *grids;
    const TecFrameNorm *norm;
    TecWorkers *w;
    int row;
    const TecSampleTarget *out;
} StripeJob;

static int stripe_task(void *ctx, int task, int slot)
{
    StripeJob *j = ctx;
    const int group = task / j->g->block_cols, col = task % j->g->block_cols;
    return tec_fc_synthesize_tile(j->m, j->g, &j->grids[group], &j->h->groups[group], j->norm,
                                  j->row, col, j->out, &j->w->ws[slot]);
}

int tec_fc_synthesize_stripe(const TecImageModel *m, TecWorkers *w, const TecGeometry *g,
                             const TecSeqHeader *h, TecLatentGrid *grids,
                             const TecFrameNorm *norm, int row, const TecSampleTarget *out)
{
    StripeJob job = { m, g, h, grids, norm, w, row, out };
    return tec_workers_run(w, tec_workers_parallel(w, tec_fc_synthesis_bytes(m)),
                           h->n_groups * g->block_cols, stripe_task, &job);
}

/* ---- workers ------------------------------------------------------------- */

int tec_workers_init(TecWorkers *w, int threads)
{
    memset(w, 0, sizeof(*w));
    int ret = tec_pool_create(&w->pool, threads);
    if (ret < 0)
        return ret;
    w->count = tec_pool_threads(w->pool);
    w->ws = calloc((size_t)w->count, sizeof(*w->ws));
    w->rans = calloc((size_t)w->count, sizeof(*w->rans));
    if (!w->ws || !w->rans) {
        tec_workers_free(w);
        return TEC_ENOMEM;
    }
    for (int i = 0; i < w->count; i++)
        tec_rans_enc_init(&w->rans[i]);
    return 0;
}

void tec_workers_free(TecWorkers *w)
{
    for (int i = 0; w->ws && i < w->count; i++)
        tec_ws_free(&w->ws[i]);
    for (int i = 0; w->rans && i < w->count; i++)
        tec_rans_enc_free(&w->rans[i]);
    free(w->ws);
    free(w->rans);
    tec_pool_free(&w->pool);
    memset(w, 0, sizeof(*w));
}

int tec_workers_parallel(const TecWorkers *w, size_t bytes)
{
    size_t n = bytes ? WORK_BUDGET / bytes : (size_t)w->count;
    return n < 1 ? 1 : n > (size_t)w->count ? w->count : (int)n;
}

typedef struct Runner {
    TecTaskFn fn;
    void *ctx;
    int n;
    atomic_int next;
    atomic_int failed;
} Runner;

/* One job per workspace slot; it takes tasks until none are left. */
static int runner_job(void *ctx, int slot, int worker)
{
    Runner *r = ctx;
    (void)worker;
    while (!atomic_load(&r->failed)) {
        int task = atomic_fetch_add(&r->next, 1);
        if (task >= r->n)
            break;
        int ret = r->fn(r->ctx, task, slot);
        if (ret < 0) {
            atomic_store(&r->failed, 1);
            return ret;
        }
    }
    return 0;
}

int tec_workers_run(TecWorkers *w, int parallel, int n, TecTaskFn fn, void *ctx)
{
    Runner r;
    r.fn = fn;
    r.ctx = ctx;
    r.n = n;
    atomic_init(&r.next, 0);
    atomic_init(&r.failed, 0);
    if (n <= 0)
        return 0;
    return tec_pool_run(w->pool, imin(imin(parallel, w->count), n), runner_job, &r);
}
