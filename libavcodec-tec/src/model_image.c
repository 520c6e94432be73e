/* tec-img v1: loading and checking the weights, and the four transforms. */
#include "model_image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "errors.h"
#include "repro_math.h"
#include "seqheader.h"

/* Hyper-parameters beyond these are no model anyone trains; the bound keeps
 * every size computation far from overflow. */
#define MAX_CHANNELS 1024
#define MAX_QUALITIES 256      /* positions must fit the packet's u16 */
/* GDN scratch per call: pixels are processed in runs that fit. */
#define GDN_CHUNK_FLOATS (1 << 20)

/* ---- workspaces -------------------------------------------------------- */

void *tec_ws_get(TecWorkspace *ws, int slot, size_t bytes)
{
    if (bytes > ws->size[slot]) {
        /* Grow by a quarter more than asked so that slightly larger tiles
         * later do not reallocate every time. */
        size_t want = bytes + bytes / 4;
        free(ws->buf[slot]);
        ws->buf[slot] = malloc(want);
        ws->size[slot] = ws->buf[slot] ? want : 0;
    }
    return ws->buf[slot];
}

void tec_ws_free(TecWorkspace *ws)
{
    for (int i = 0; i < TEC_WS_SLOTS; i++)
        free(ws->buf[i]);
    memset(ws, 0, sizeof(*ws));
}

/* ---- loading ----------------------------------------------------------- */

void tec_img_free(TecImageModel **pm)
{
    TecImageModel *m = pm ? *pm : NULL;
    if (!m)
        return;
    for (int i = 0; i < TEC_IMG_MAX_LEVELS; i++) {
        free(m->a[i].weight); free(m->a[i].bias);
        free(m->s[i].weight); free(m->s[i].bias);
    }
    for (int i = 0; i < TEC_IMG_MAX_LEVELS - 1; i++) {
        free(m->gdn[i].beta); free(m->gdn[i].gamma);
        free(m->igdn[i].beta); free(m->igdn[i].gamma);
    }
    for (int i = 0; i < 3; i++) {
        free(m->h[i].weight); free(m->h[i].bias);
        free(m->t[i].weight); free(m->t[i].bias);
    }
    for (int k = 0; k < TEC_IMG_MAX_SLICES; k++)
        for (int i = 0; i < 2; i++) {
            free(m->ctx[k][i].weight); free(m->ctx[k][i].bias);
            free(m->sp[k][i].weight); free(m->sp[k][i].bias);
        }
    free(m->a0_mask);
    free(m->skip_a);
    free(m->skip_s);
    free(m->gain);
    free(m->igain);
    free(m->band_mean);
    free(m->band_std);
    free(m->prior);
    free(m->gauss_cdf);
    free(m->prior_cdf);
    free(m);
    *pm = NULL;
}

static float *load_f32(TecLoader *l, const char *name, int ndim, int d0, int d1, int d2, int d3)
{
    const int dims[4] = { d0, d1, d2, d3 };
    if (l->failed)
        return NULL;
    float *p = tec_weights_f32(l->w, name, ndim, dims, l->err, l->errlen);
    if (!p)
        l->failed = 1;
    return p;
}

int32_t *tec_load_i32(TecLoader *l, const char *name, int ndim, int d0, int d1, int d2, int d3)
{
    const int dims[4] = { d0, d1, d2, d3 };
    if (l->failed)
        return NULL;
    int32_t *p = tec_weights_i32(l->w, name, ndim, dims, l->err, l->errlen);
    if (!p)
        l->failed = 1;
    return p;
}

static void load_conv(TecLoader *l, TecConv *c, const char *prefix, int cout, int cin, int k)
{
    char name[32];
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    snprintf(name, sizeof(name), "%s.weight", prefix);
    c->weight = load_f32(l, name, 4, cout, cin, k, k);
    snprintf(name, sizeof(name), "%s.bias", prefix);
    c->bias = load_f32(l, name, 1, cout, 0, 0, 0);
}

static void load_gdn(TecLoader *l, TecGdn *g, const char *prefix, int c)
{
    char name[32];
    snprintf(name, sizeof(name), "%s.beta", prefix);
    g->beta = load_f32(l, name, 1, c, 0, 0, 0);
    snprintf(name, sizeof(name), "%s.gamma", prefix);
    g->gamma = load_f32(l, name, 2, c, c, 0, 0);
}

void tec_load_int_conv(TecLoader *l, TecIntConv *c, const char *prefix, int cout, int cin, int k)
{
    char name[32];
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    snprintf(name, sizeof(name), "%s.weight", prefix);
    c->weight = k == 1 ? tec_load_i32(l, name, 2, cout, cin, 0, 0) : tec_load_i32(l, name, 4, cout, cin, k, k);
    snprintf(name, sizeof(name), "%s.bias", prefix);
    c->bias = tec_load_i32(l, name, 1, cout, 0, 0, 0);
}

/* A context's two 1x1 layers, {family}{k}.l0 (cin -> hidden) and .l1
 * (hidden -> 2 gs: corrections of gs means and gs raw scales). */
static void load_context_layers(TecLoader *l, TecIntConv layer[2], const char *family, int k,
                                int cin, int hidden, int gs)
{
    char name[24];
    snprintf(name, sizeof(name), "%s%d.l0", family, k);
    tec_load_int_conv(l, &layer[0], name, hidden, cin, 1);
    snprintf(name, sizeof(name), "%s%d.l1", family, k);
    tec_load_int_conv(l, &layer[1], name, 2 * gs, hidden, 1);
}

/* Every value finite and above min (or at least min when inclusive). */
static int all_finite(const float *v, size_t n, float min, int inclusive)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]) || v[i] < min || (!inclusive && v[i] == min))
            return 0;
    return 1;
}

static int meta_range(const TecWeights *w, const char *key, long lo, long hi, int *out,
                      char *err, size_t errlen)
{
    long v;
    if (tec_weights_meta_int(w, key, &v) < 0)
        return tec_err(err, errlen, TEC_EMODEL, "meta '%s' missing or not an integer", key);
    if (v < lo || v > hi)
        return tec_err(err, errlen, TEC_EMODEL, "meta %s=%ld outside %ld..%ld", key, v, lo, hi);
    *out = (int)v;
    return 0;
}

static int check_meta(TecImageModel *m, const TecWeights *w, char *err, size_t errlen)
{
    const char *arch = tec_weights_meta(w, "arch");
    if (!arch || strcmp(arch, TEC_IMG_ARCH))
        return tec_err(err, errlen, TEC_EMODEL, "architecture '%s', expected '%s'",
                       arch ? arch : "(none)", TEC_IMG_ARCH);
    int version, ret;
    if ((ret = meta_range(w, "arch_version", 0, 1 << 30, &version, err, errlen)) < 0)
        return ret;
    if (version < 1 || version > TEC_IMG_ARCH_VERSION)
        return tec_err(err, errlen, TEC_EMODEL, "%s version %d, this build runs versions 1-%d",
                       TEC_IMG_ARCH, version, TEC_IMG_ARCH_VERSION);

    /* v1 has the 13 Sentinel-2 slots in their fixed order. */
    const char *slots = tec_weights_meta(w, "slots");
    char expect[TEC_S2_SLOTS * 4] = "";
    for (int s = 0; s < TEC_S2_SLOTS; s++) {
        strcat(expect, tec_s2_slot_names[s]);
        if (s + 1 < TEC_S2_SLOTS)
            strcat(expect, ",");
    }
    if (!slots || strcmp(slots, expect))
        return tec_err(err, errlen, TEC_EMODEL, "slots '%s', expected '%s'",
                       slots ? slots : "(none)", expect);
    m->slots = TEC_S2_SLOTS;

    if ((ret = meta_range(w, "n", 1, MAX_CHANNELS, &m->n, err, errlen)) < 0 ||
        (ret = meta_range(w, "m", 1, MAX_CHANNELS, &m->m, err, errlen)) < 0 ||
        (ret = meta_range(w, "nh", 1, MAX_CHANNELS, &m->nh, err, errlen)) < 0 ||
        (ret = meta_range(w, "nmid", 1, MAX_CHANNELS, &m->nmid, err, errlen)) < 0 ||
        (ret = meta_range(w, "qualities", 1, MAX_QUALITIES, &m->qualities, err, errlen)) < 0 ||
        (ret = meta_range(w, "default_quality", TEC_QUALITY_MIN, TEC_QUALITY_MAX,
                          &m->default_quality, err, errlen)) < 0)
        return ret;
    /* Optional keys: models from before they existed have 4 levels and
     * fixed band statistics. */
    m->levels = TEC_IMG_MAX_LEVELS;
    m->frame_norm = 0;
    m->skip = 0;
    if ((tec_weights_meta(w, "levels") &&
         (ret = meta_range(w, "levels", 2, TEC_IMG_MAX_LEVELS, &m->levels, err, errlen)) < 0) ||
        (tec_weights_meta(w, "frame_norm") &&
         (ret = meta_range(w, "frame_norm", 0, 1, &m->frame_norm, err, errlen)) < 0))
        return ret;
    /* A version 1 reader would ignore the key and decode garbage: version 2
     * is what makes old builds refuse such a model. */
    if (tec_weights_meta(w, "skip")) {
        if (version < 2)
            return tec_err(err, errlen, TEC_EMODEL, "meta skip needs %s version 2", TEC_IMG_ARCH);
        if ((ret = meta_range(w, "skip", 0, 1, &m->skip, err, errlen)) < 0)
            return ret;
    }
    /* Version 3: the latents coded in slices, each but the first with
     * parameters refined from the slices before it. */
    m->slices = 1;
    m->ctx_hidden = 0;
    if (tec_weights_meta(w, "ctx_groups")) {
        if (version < 3)
            return tec_err(err, errlen, TEC_EMODEL, "meta ctx_groups needs %s version 3",
                           TEC_IMG_ARCH);
        if ((ret = meta_range(w, "ctx_groups", 1, TEC_IMG_MAX_SLICES, &m->slices, err, errlen)) < 0 ||
            (ret = meta_range(w, "ctx_hidden", 1, MAX_CHANNELS, &m->ctx_hidden, err, errlen)) < 0)
            return ret;
        if (m->m % m->slices)
            return tec_err(err, errlen, TEC_EMODEL, "ctx_groups=%d does not divide m=%d",
                           m->slices, m->m);
    }
    /* Version 4: every slice coded in two checkerboard passes. */
    m->spatial = 0;
    if (tec_weights_meta(w, "ctx_spatial")) {
        if (version < 4 || !m->ctx_hidden)
            return tec_err(err, errlen, TEC_EMODEL,
                           "meta ctx_spatial needs %s version 4 and ctx_groups", TEC_IMG_ARCH);
        if ((ret = meta_range(w, "ctx_spatial", 0, 1, &m->spatial, err, errlen)) < 0)
            return ret;
    }
    /* Encoder-only keys: a model without them codes every frame at the
     * position --quality names. */
    m->quality_spread = 0;
    m->lambda_ratio_milli = 0;
    if (tec_weights_meta(w, "quality_spread") &&
        ((ret = meta_range(w, "quality_spread", 1, 65535, &m->quality_spread, err, errlen)) < 0 ||
         (ret = meta_range(w, "lambda_ratio_milli", 1001, 1000000, &m->lambda_ratio_milli, err,
                           errlen)) < 0))
        return ret;
    m->downscale = 1 << m->levels;
    return 0;
}

/* One family of coding tables (doc/model.md): count tables laid out in one
 * cdf array, table i at offset[i] with n[i] + 2 entries. */
static int load_tables(TecLoader *l, const char *family, int count, TecRansTable *tables,
                       uint32_t **cdf_out)
{
    char name[32];
    int ret = TEC_EMODEL;
    snprintf(name, sizeof(name), "%s.lo", family);
    int32_t *lo = tec_load_i32(l, name, 1, count, 0, 0, 0);
    snprintf(name, sizeof(name), "%s.n", family);
    int32_t *n = tec_load_i32(l, name, 1, count, 0, 0, 0);
    snprintf(name, sizeof(name), "%s.offset", family);
    int32_t *offset = tec_load_i32(l, name, 1, count, 0, 0, 0);
    int32_t *cdf = NULL;
    if (l->failed)
        goto done;

    int64_t total = 0;
    for (int i = 0; i < count; i++) {
        if (n[i] < 1 || n[i] > (1 << TEC_RANS_PREC) - 1 ||
            (int64_t)lo[i] + n[i] - 1 > INT32_MAX) {
            tec_err(l->err, l->errlen, TEC_EMODEL, "%s table %d: %d values from %d", family, i,
                    n[i], lo[i]);
            goto done;
        }
        total += n[i] + 2;
    }
    snprintf(name, sizeof(name), "%s.cdf", family);
    cdf = tec_load_i32(l, name, 1, (int)total, 0, 0, 0);
    if (!cdf)
        goto done;
    *cdf_out = malloc((size_t)total * sizeof(**cdf_out));
    if (!*cdf_out) {
        ret = tec_err(l->err, l->errlen, TEC_ENOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < total; i++)
        (*cdf_out)[i] = (uint32_t)cdf[i];
    for (int i = 0; i < count; i++) {
        if (offset[i] < 0 || (int64_t)offset[i] + n[i] + 2 > total) {
            tec_err(l->err, l->errlen, TEC_EMODEL, "%s table %d: offset %d out of range",
                    family, i, offset[i]);
            goto done;
        }
        tables[i].cdf = *cdf_out + offset[i];
        tables[i].n = n[i];
        tables[i].lo = lo[i];
        if (tec_rans_table_check(&tables[i]) < 0) {
            tec_err(l->err, l->errlen, TEC_EMODEL, "%s table %d: invalid cdf", family, i);
            goto done;
        }
    }
    ret = 0;
done:
    if (ret < 0)
        l->failed = 1;
    free(lo);
    free(n);
    free(offset);
    free(cdf);
    return ret;
}

/* Each output's |bias| + sum |w| * (2^31 - 1) must stay below 2^63, so that
 * no stream, however corrupt, can overflow the i64 accumulators. */
int tec_int_conv_bounded(const TecIntConv *c)
{
    const size_t taps = (size_t)c->cin * c->k * c->k;
    for (int o = 0; o < c->cout; o++) {
        uint64_t sum = 0;
        for (size_t i = 0; i < taps; i++) {
            int64_t v = c->weight[o * taps + i];
            sum += (uint64_t)(v < 0 ? -v : v);
        }
        if (sum >= (UINT64_C(1) << 31))
            return 0;
    }
    return 1;
}

static int check_values(const TecImageModel *m, char *err, size_t errlen)
{
    const size_t qm = (size_t)m->qualities * m->m;
    if (!all_finite(m->gain, qm, 0.0f, 0) || !all_finite(m->igain, qm, 0.0f, 0))
        return tec_err(err, errlen, TEC_EMODEL, "gains must be finite and positive");
    if (!all_finite(m->band_std, (size_t)m->slots, 0.0f, 0) ||
        !all_finite(m->band_mean, (size_t)m->slots, -INFINITY, 0))
        return tec_err(err, errlen, TEC_EMODEL, "band statistics must be finite, std > 0");
    /* beta > 0 and gamma >= 0 keep every GDN norm positive. */
    for (int i = 0; i < m->levels - 1; i++) {
        const TecGdn *g[2] = { &m->gdn[i], &m->igdn[i] };
        for (int j = 0; j < 2; j++)
            if (!all_finite(g[j]->beta, (size_t)m->n, 0.0f, 0) ||
                !all_finite(g[j]->gamma, (size_t)m->n * m->n, 0.0f, 1))
                return tec_err(err, errlen, TEC_EMODEL,
                               "%sgdn%d: beta must be > 0 and gamma >= 0", j ? "i" : "", i);
    }
    for (int i = 0; i < 3; i++)
        if (!tec_int_conv_bounded(&m->t[i]))
            return tec_err(err, errlen, TEC_EMODEL, "hs.t%d weights too large", i);
    for (int k = 1; k < m->slices; k++)
        for (int i = 0; i < 2; i++)
            if (!tec_int_conv_bounded(&m->ctx[k][i]))
                return tec_err(err, errlen, TEC_EMODEL, "ctx%d.l%d weights too large", k, i);
    for (int k = 0; k < (m->spatial ? m->slices : 0); k++)
        for (int i = 0; i < 2; i++)
            if (!tec_int_conv_bounded(&m->sp[k][i]))
                return tec_err(err, errlen, TEC_EMODEL, "sp%d.l%d weights too large", k, i);
    for (int i = 1; i < TEC_IMG_SCALES - 1; i++)
        if (m->thresholds[i] < m->thresholds[i - 1])
            return tec_err(err, errlen, TEC_EMODEL, "gauss.thresholds not ascending");
    return 0;
}

int tec_img_load(TecImageModel **out, const TecWeights *w, char *err, size_t errlen)
{
    *out = NULL;
    TecImageModel *m = calloc(1, sizeof(*m));
    if (!m)
        return tec_err(err, errlen, TEC_ENOMEM, "out of memory");
    int ret = check_meta(m, w, err, errlen);
    if (ret < 0)
        goto fail;
    m->checksum = tec_weights_checksum(w);

    const int S = m->slots, N = m->n, M = m->m, NH = m->nh, NMID = m->nmid;
    TecLoader l = { w, err, errlen, 0 };
    const int L = m->levels;
    for (int i = 0; i < L; i++) {
        char name[16];
        snprintf(name, sizeof(name), "a%d", i);
        load_conv(&l, &m->a[i], name, i == L - 1 ? M : N, i == 0 ? S : N, 5);
        snprintf(name, sizeof(name), "s%d", i);
        load_conv(&l, &m->s[i], name, 4 * (i == L - 1 ? S : N), i == 0 ? M : N, 3);
    }
    m->a0_mask = load_f32(&l, "a0_mask.weight", 2, N, S, 0, 0);
    if (m->skip) {
        const int D = m->downscale;
        m->skip_a = load_f32(&l, "skip_a.weight", 4, M, S, D, D);
        m->skip_s = load_f32(&l, "skip_s.weight", 4, S * D * D, M, 1, 1);
    }
    load_conv(&l, &m->h[0], "h0", NH, M, 3);
    load_conv(&l, &m->h[1], "h1", NH, NH, 5);
    load_conv(&l, &m->h[2], "h2", NH, NH, 5);
    for (int i = 0; i < L - 1; i++) {
        char name[16];
        snprintf(name, sizeof(name), "gdn%d", i);
        load_gdn(&l, &m->gdn[i], name, N);
        snprintf(name, sizeof(name), "igdn%d", i);
        load_gdn(&l, &m->igdn[i], name, N);
    }
    tec_load_int_conv(&l, &m->t[0], "hs.t0", 4 * NH, NH, 3);
    tec_load_int_conv(&l, &m->t[1], "hs.t1", 4 * NMID, NH, 3);
    tec_load_int_conv(&l, &m->t[2], "hs.t2", 2 * M, NMID, 3);
    const int gs = M / m->slices;
    for (int k = 1; k < m->slices; k++)
        load_context_layers(&l, m->ctx[k], "ctx", k, (k + 2) * gs, m->ctx_hidden, gs);
    for (int k = 0; k < (m->spatial ? m->slices : 0); k++)
        load_context_layers(&l, m->sp[k], "sp", k, 6 * gs, m->ctx_hidden, gs);
    m->gain = load_f32(&l, "gain", 2, m->qualities, M, 0, 0);
    m->igain = load_f32(&l, "igain", 2, m->qualities, M, 0, 0);
    m->band_mean = load_f32(&l, "band_mean", 1, S, 0, 0, 0);
    m->band_std = load_f32(&l, "band_std", 1, S, 0, 0, 0);
    int32_t *thr = tec_load_i32(&l, "gauss.thresholds", 1, TEC_IMG_SCALES - 1, 0, 0, 0);
    if (thr)
        memcpy(m->thresholds, thr, sizeof(m->thresholds));
    free(thr);
    if (l.failed) {
        ret = TEC_EMODEL;
        goto fail;
    }

    if ((ret = load_tables(&l, "gauss", TEC_IMG_SCALES, m->gauss, &m->gauss_cdf)) < 0)
        goto fail;
    m->prior = calloc((size_t)NH, sizeof(*m->prior));
    if (!m->prior) {
        ret = tec_err(err, errlen, TEC_ENOMEM, "out of memory");
        goto fail;
    }
    if ((ret = load_tables(&l, "prior", NH, m->prior, &m->prior_cdf)) < 0)
        goto fail;
    if ((ret = check_values(m, err, errlen)) < 0)
        goto fail;
    *out = m;
    return 0;
fail:
    tec_img_free(&m);
    return ret < 0 ? ret : TEC_EMODEL;
}

/* ---- rate control -------------------------------------------------------- */

int tec_img_quality_position(const TecImageModel *m, int quality)
{
    if (quality == 0)
        quality = m->default_quality;
    /* Quality 1 is the lowest anchor, TEC_QUALITY_MAX the highest, linear in
     * the anchors between (quarter steps with 8 anchors). */
    return (quality - 1) * (m->qualities - 1) * 256 / (TEC_QUALITY_MAX - TEC_QUALITY_MIN);
}

int tec_img_adapted_position(const TecImageModel *m, int base, double spread)
{
    const double top = (m->qualities - 1) * 256.0;
    const double p = tec_img_wanted_position(m, base, spread);
    return p <= 0 ? 0 : p >= top ? (int)top : (int)floor(p + 0.5);
}

double tec_img_wanted_position(const TecImageModel *m, int base, double spread)
{
    if (!m->quality_spread || !(spread > 0))
        return base;
    /* The model quantises standardised values, so at one position a frame's
     * squared error in reflectance grows with its spread squared.  Moving
     * the lambda by that factor keeps one --quality one trade-off between
     * bits and reflectance error, which is what spends the bits of a
     * sequence where they pay (hazy frames, bright deserts). */
    const double ratio = spread / m->quality_spread;
    const double shift = 256.0 * tec_repro_log(ratio * ratio) /
                         tec_repro_log(m->lambda_ratio_milli / 1000.0);
    return base + shift;
}

void tec_img_gains(const TecImageModel *m, int position, float *gain, float *igain)
{
    int a = position >> 8, frac = position & 255;
    if (a >= m->qualities - 1) {
        a = m->qualities - 1;
        frac = 0;
    }
    const float *g0 = m->gain + (size_t)a * m->m, *i0 = m->igain + (size_t)a * m->m;
    if (!frac) {
        memcpy(gain, g0, (size_t)m->m * sizeof(*gain));
        memcpy(igain, i0, (size_t)m->m * sizeof(*igain));
        return;
    }
    /* Geometric interpolation in double, rounded once, with our own exp and
     * log: igain scales every latent before the synthesis, so it must be
     * the same bits on every machine, whatever its libm. */
    const double t = frac / 256.0;
    for (int c = 0; c < m->m; c++) {
        gain[c] = (float)tec_repro_exp((1 - t) * tec_repro_log(g0[c]) +
                                       t * tec_repro_log(g0[c + m->m]));
        igain[c] = (float)tec_repro_exp((1 - t) * tec_repro_log(i0[c]) +
                                        t * tec_repro_log(i0[c + m->m]));
    }
}

int tec_img_scale_index(const TecImageModel *m, int32_t raw_scale)
{
    /* Number of thresholds <= raw_scale; they are ascending. */
    int lo = 0, hi = TEC_IMG_SCALES - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (m->thresholds[mid] <= raw_scale)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- float layers -------------------------------------------------------- */

static int conv(const TecConv *c, const float *in, int h, int w, int stride,
                const float *bias, float *out, TecWorkspace *ws)
{
    const int pad = c->k / 2;
    size_t scratch_size = tec_conv2d_scratch(c->cin, h, w, c->k, stride, pad);
    float *scratch = tec_ws_get(ws, TEC_WS_CONV, (scratch_size ? scratch_size : 1) * sizeof(float));
    if (!scratch)
        return TEC_ENOMEM;
    tec_conv2d_f32(in, c->cin, h, w, c->weight, bias ? bias : c->bias, c->cout, c->k,
                   stride, pad, out, scratch);
    return 0;
}

/* GDN over x[c][n] in runs of pixels, so the scratch stays bounded.  Each
 * pixel's result does not depend on the run it is in (fixed-order GEMM). */
static int gdn(const TecGdn *g, int c, float *x, size_t n, int inverse, TecWorkspace *ws)
{
    size_t run = GDN_CHUNK_FLOATS / (3 * (size_t)c);
    if (run < 1)
        run = 1;
    if (run >= n) {
        float *scratch = tec_ws_get(ws, TEC_WS_GDN, 2 * (size_t)c * n * sizeof(float));
        if (!scratch)
            return TEC_ENOMEM;
        tec_gdn_f32(x, c, (int)n, g->beta, g->gamma, inverse, scratch);
        return 0;
    }
    float *tmp = tec_ws_get(ws, TEC_WS_GDN, 3 * (size_t)c * run * sizeof(float));
    if (!tmp)
        return TEC_ENOMEM;
    for (size_t p0 = 0; p0 < n; p0 += run) {
        size_t len = n - p0 < run ? n - p0 : run;
        for (int ch = 0; ch < c; ch++)
            memcpy(tmp + ch * len, x + ch * n + p0, len * sizeof(float));
        tec_gdn_f32(tmp, c, (int)len, g->beta, g->gamma, inverse, tmp + c * len);
        for (int ch = 0; ch < c; ch++)
            memcpy(x + ch * n + p0, tmp + ch * len, len * sizeof(float));
    }
    return 0;
}

void tec_img_input_bias(const TecImageModel *m, const float *mask, float *bias)
{
    for (int o = 0; o < m->n; o++) {
        float extra = 0.0f;
        for (int s = 0; s < m->slots; s++)
            extra += m->a0_mask[o * m->slots + s] * mask[s];
        bias[o] = m->a[0].bias[o] + extra;
    }
}

/* y[m][h][w] += skip_a applied to each latent's d x d block of
 * xn[slots][dh][dw]: a d x d convolution with stride d and no padding. */
static int skip_analysis(const TecImageModel *m, const float *xn, int h, int w, float *y,
                         TecWorkspace *ws)
{
    const int d = m->downscale;
    const size_t n = (size_t)m->m * h * w;
    const size_t scratch_size = tec_conv2d_scratch(m->slots, h * d, w * d, d, d, 0);
    float *skip = tec_ws_get(ws, TEC_WS_ACT0, n * sizeof(float));
    float *scratch = tec_ws_get(ws, TEC_WS_CONV, (scratch_size ? scratch_size : 1) * sizeof(float));
    if (!skip || !scratch)
        return TEC_ENOMEM;
    tec_conv2d_f32(xn, m->slots, h * d, w * d, m->skip_a, NULL, m->m, d, d, 0,
                   skip, scratch);
    for (size_t i = 0; i < n; i++)
        y[i] += skip[i];
    return 0;
}

/* xn[slots][dh][dw] += skip_s . y[m][h][w], scattered back into the d x d
 * block of each latent.  The fixed-order GEMM keeps it bit-exact across machines. */
static int skip_synthesis(const TecImageModel *m, const float *y, int h, int w, float *xn,
                          TecWorkspace *ws)
{
    const int d = m->downscale, k = m->slots * d * d, n = h * w;
    float *cols = tec_ws_get(ws, TEC_WS_CONV, (size_t)k * n * sizeof(float));
    if (!cols)
        return TEC_ENOMEM;
    tec_gemm_f32(k, n, m->m, m->skip_s, m->m, y, n, cols, n, 0);
    for (int s = 0; s < m->slots; s++)
        for (int dy = 0; dy < d; dy++)
            for (int dx = 0; dx < d; dx++) {
                const float *src = cols + (size_t)((s * d + dy) * d + dx) * n;
                for (int py = 0; py < h; py++) {
                    float *dst = xn + ((size_t)s * h * d + (size_t)py * d + dy) * w * d + dx;
                    for (int px = 0; px < w; px++)
                        dst[(size_t)px * d] += src[py * w + px];
                }
            }
    return 0;
}

/* Zeroes x[c][h][w] outside rows [y0, y1) and columns [x0, x1). */
static void zero_outside(float *x, int c, int h, int w, int y0, int y1, int x0, int x1)
{
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < h; i++) {
            float *row = x + ((size_t)ch * h + i) * w;
            if (i < y0 || i >= y1) {
                memset(row, 0, (size_t)w * sizeof(*row));
                continue;
            }
            for (int k = 0; k < x0 && k < w; k++)
                row[k] = 0.0f;
            for (int k = x1 < 0 ? 0 : x1; k < w; k++)
                row[k] = 0.0f;
        }
}

int tec_img_analysis(const TecImageModel *m, const float *xn, int h, int w,
                     const TecInside *inside, const float *input_bias, float *y,
                     TecWorkspace *ws)
{
    const size_t n = (size_t)m->n;
    float *act[2];
    act[0] = tec_ws_get(ws, TEC_WS_ACT0, n * (h / 2) * (w / 2) * sizeof(float));
    act[1] = tec_ws_get(ws, TEC_WS_ACT1, n * (h / 4) * (w / 4) * sizeof(float));
    if (!act[0] || !act[1])
        return TEC_ENOMEM;
    /* Stage i reads the previous stage's buffer and halves the size; the
     * last one writes y. */
    const float *in = xn;
    for (int i = 0; i < m->levels; i++) {
        float *out = i == m->levels - 1 ? y : act[i & 1];
        int ret = conv(&m->a[i], in, h, w, 2, i == 0 ? input_bias : NULL, out, ws);
        if (ret < 0)
            return ret;
        h /= 2;
        w /= 2;
        if (i == m->levels - 1)
            break;
        /* The next layer zero-pads this one at the frame's edge. */
        const int f = 2 << i;
        zero_outside(out, m->n, h, w, inside->y0 / f, inside->y1 / f, inside->x0 / f,
                     inside->x1 / f);
        if ((ret = gdn(&m->gdn[i], m->n, out, (size_t)h * w, 0, ws)) < 0)
            return ret;
        in = out;
    }
    return m->skip ? skip_analysis(m, xn, h, w, y, ws) : 0;
}

static int half_up(int v) { return (v + 1) / 2; }

int tec_img_hyper_analysis(const TecImageModel *m, const float *y, int h, int w,
                           float *z, TecWorkspace *ws)
{
    const int h1 = half_up(h), w1 = half_up(w);
    const size_t nh = (size_t)m->nh;
    float *act0 = tec_ws_get(ws, TEC_WS_ACT0, nh * h * w * sizeof(float));
    float *act1 = tec_ws_get(ws, TEC_WS_ACT1, nh * h1 * w1 * sizeof(float));
    if (!act0 || !act1)
        return TEC_ENOMEM;
    int ret;
    if ((ret = conv(&m->h[0], y, h, w, 1, NULL, act0, ws)) < 0)
        return ret;
    tec_relu_f32(act0, nh * h * w);
    if ((ret = conv(&m->h[1], act0, h, w, 2, NULL, act1, ws)) < 0)
        return ret;
    tec_relu_f32(act1, nh * h1 * w1);
    return conv(&m->h[2], act1, h1, w1, 2, NULL, z, ws);
}

/* One subpixel layer: 3x3 conv to 4c channels into tmp, shuffled into out. */
static int subpixel(const TecConv *c, const float *in, int h, int w, float *tmp, float *out,
                    TecWorkspace *ws)
{
    int ret = conv(c, in, h, w, 1, NULL, tmp, ws);
    if (ret < 0)
        return ret;
    tec_pixel_shuffle2_f32(tmp, c->cout / 4, h, w, out);
    return 0;
}

int tec_img_synthesis(const TecImageModel *m, const float *y, int h, int w,
                      float *xn, TecWorkspace *ws)
{
    return tec_img_synthesis_taped(m, y, h, w, xn, NULL, ws);
}

int tec_img_synthesis_taped(const TecImageModel *m, const float *y, int h, int w,
                            float *xn, float *const *igdn_in, TecWorkspace *ws)
{
    /* The widest activations are those of the last GDN stage: n channels at
     * 2^(levels-1) times the latent size per side; the last layer's
     * pre-shuffle output has 4 * slots channels there. */
    const size_t hw = (size_t)h * w, n = (size_t)m->n, up = (size_t)1 << (2 * (m->levels - 1));
    const size_t big = up * n * hw, last = up * 4 * (size_t)m->slots * hw;
    float *act0 = tec_ws_get(ws, TEC_WS_ACT0, big * sizeof(float));
    float *act1 = tec_ws_get(ws, TEC_WS_ACT1, (big > last ? big : last) * sizeof(float));
    if (!act0 || !act1)
        return TEC_ENOMEM;
    const float *in = y;
    const int hy = h, wy = w;
    for (int i = 0; i < m->levels; i++) {
        const int last_stage = i == m->levels - 1;
        float *out = last_stage ? xn : act0;
        int ret = subpixel(&m->s[i], in, h, w, act1, out, ws);
        if (ret < 0)
            return ret;
        h *= 2;
        w *= 2;
        if (!last_stage && igdn_in)
            memcpy(igdn_in[i], out, n * h * w * sizeof(float));
        if (!last_stage && (ret = gdn(&m->igdn[i], m->n, out, (size_t)h * w, 1, ws)) < 0)
            return ret;
        in = out;
    }
    return m->skip ? skip_synthesis(m, y, hy, wy, xn, ws) : 0;
}

/* ---- integer hyper-synthesis and channel context ------------------------ */

/* Two integer 1x1 layers, ReLU between, over n positions; the output's first
 * gs rows are added to mean[gs][n], the next gs to scale (saturated). */
int tec_img_context_layers(const TecIntConv layer[2], int gs, const int32_t *in, int n,
                           int32_t *mean, int32_t *scale, TecWorkspace *ws)
{
    const TecIntConv *l0 = &layer[0], *l1 = &layer[1];
    int32_t *hidden = tec_ws_get(ws, TEC_WS_ACT0, (size_t)l0->cout * n * sizeof(int32_t));
    int32_t *out = tec_ws_get(ws, TEC_WS_ACT1, (size_t)l1->cout * n * sizeof(int32_t));
    if (!hidden || !out)
        return TEC_ENOMEM;
    tec_dense_i32(in, l0->cin, n, l0->weight, l0->bias, l0->cout, hidden);
    tec_relu_i32(hidden, (size_t)l0->cout * n);
    tec_dense_i32(hidden, l1->cin, n, l1->weight, l1->bias, l1->cout, out);
    for (size_t i = 0; i < (size_t)gs * n; i++) {
        mean[i] = tec_saturate_i32((int64_t)mean[i] + out[i]);
        scale[i] = tec_saturate_i32((int64_t)scale[i] + out[(size_t)gs * n + i]);
    }
    return 0;
}

int tec_img_channel_context(const TecImageModel *m, int k, const int32_t *in, int n,
                            int32_t *mean, int32_t *scale, TecWorkspace *ws)
{
    return tec_img_context_layers(m->ctx[k], m->m / m->slices, in, n, mean, scale, ws);
}

int tec_img_spatial_context(const TecImageModel *m, int k, int32_t *in, int n,
                            TecWorkspace *ws)
{
    const size_t gs = (size_t)(m->m / m->slices);
    /* in is read whole before the first row group is written. */
    return tec_img_context_layers(m->sp[k], (int)gs, in, n, in, in + gs * n, ws);
}

int tec_img_hyper_synthesis(const TecImageModel *m, const int32_t *z, int hz, int wz,
                            int32_t *out, TecWorkspace *ws)
{
    const size_t hw = (size_t)hz * wz, nh = (size_t)m->nh, nmid = (size_t)m->nmid;
    const size_t size_a = nh > 16 * nmid ? nh : 16 * nmid;
    const size_t size_b = 4 * nh > 16 * nmid ? 4 * nh : 16 * nmid;
    int32_t *a = tec_ws_get(ws, TEC_WS_ACT0, size_a * hw * sizeof(int32_t));
    int32_t *b = tec_ws_get(ws, TEC_WS_ACT1, size_b * hw * sizeof(int32_t));
    int32_t *c = tec_ws_get(ws, TEC_WS_GDN, 4 * nh * hw * sizeof(int32_t));
    if (!a || !b || !c)
        return TEC_ENOMEM;

    /* a = z * 256, saturated like every activation of the chain. */
    for (size_t i = 0; i < nh * hw; i++)
        a[i] = tec_saturate_i32((int64_t)z[i] * 256);
    tec_conv3x3_i32(a, m->nh, hz, wz, m->t[0].weight, m->t[0].bias, m->t[0].cout, b);
    tec_pixel_shuffle2_i32(b, m->nh, hz, wz, c);
    tec_relu_i32(c, 4 * nh * hw);
    tec_conv3x3_i32(c, m->nh, 2 * hz, 2 * wz, m->t[1].weight, m->t[1].bias, m->t[1].cout, b);
    tec_pixel_shuffle2_i32(b, m->nmid, 2 * hz, 2 * wz, a);
    tec_relu_i32(a, 16 * nmid * hw);
    tec_conv3x3_i32(a, m->nmid, 4 * hz, 4 * wz, m->t[2].weight, m->t[2].bias, m->t[2].cout, out);
    return 0;
}
