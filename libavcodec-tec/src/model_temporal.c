/* TEC-TT, the temporal entropy model (doc/model.md, doc/bitstream.md 4):
 * loading and the bit-exact integer attention and slice contexts. */
#include "model_temporal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "kernels.h"
#include "tec/tec.h"

static const int gap_knots[TEC_TT_GAP_KNOTS] = { 0, 5, 10, 20, 40, 80, 160, 320, 640 };
#define DOY_STEP 61
/* Queries, keys and values are clamped to +-2^20 (Q8: +-4096) before the
 * products, so no stream can overflow the 64-bit sums. */
#define QKV_LIMIT (1 << 20)
#define SCORE_SHIFT 10
#define TEC_TT_MAX_KEYS 256

void tec_tt_free(TecTemporalModel **ptt)
{
    TecTemporalModel *tt = *ptt;
    if (!tt)
        return;
    TecIntConv *convs[] = { &tt->kv, &tt->tk, &tt->q };
    for (int i = 0; i < 3; i++) {
        free(convs[i]->weight);
        free(convs[i]->bias);
    }
    for (int k = 0; k < TEC_IMG_MAX_SLICES; k++)
        for (int i = 0; i < 2; i++) {
            free(tt->c[k][i].weight); free(tt->c[k][i].bias);
            free(tt->sp[k][i].weight); free(tt->sp[k][i].bias);
        }
    for (int k = 0; k < TEC_IMG_MAX_SLICES; k++) {
        free(tt->lin[k].weight);
        free(tt->lin[k].bias);
    }
    free(tt->pos);
    free(tt->exp_table);
    free(tt->exp2_table);
    free(tt->log_gain);
    free(tt);
    *ptt = NULL;
}

static int meta_positive(const TecWeights *w, const char *key, long max, int *v,
                         char *err, size_t errlen)
{
    long x;
    if (tec_weights_meta_int(w, key, &x) < 0 || x < 1 || x > max)
        return tec_err(err, errlen, TEC_EMODEL, "temporal model: meta '%s' missing or not in 1..%ld",
                       key, max);
    *v = (int)x;
    return 0;
}

int tec_tt_load(TecTemporalModel **out, const TecWeights *w, const TecImageModel *img,
                char *err, size_t errlen)
{
    *out = NULL;
    long version;
    if (tec_weights_meta_int(w, "tt_version", &version) < 0)
        return 0;   /* an image-only model */
    if (version != TEC_TT_VERSION)
        return tec_err(err, errlen, TEC_EMODEL,
                       "temporal model version %ld not supported (this build reads %d)",
                       version, TEC_TT_VERSION);
    if (img->slices < 1 || !img->ctx_hidden || img->m > TEC_TT_MAX_M)
        return tec_err(err, errlen, TEC_EMODEL,
                       "temporal model needs an image model with a channel context");
    TecTemporalModel *tt = calloc(1, sizeof(*tt));
    if (!tt)
        return TEC_ENOMEM;
    int ret;
    if ((ret = meta_positive(w, "tt_heads", 64, &tt->heads, err, errlen)) < 0 ||
        (ret = meta_positive(w, "tt_key", 256, &tt->key, err, errlen)) < 0 ||
        (ret = meta_positive(w, "tt_value", 256, &tt->value, err, errlen)) < 0 ||
        (ret = meta_positive(w, "tt_hidden", 4096, &tt->hidden, err, errlen)) < 0) {
        tec_tt_free(&tt);
        return ret;
    }
    tt->m = img->m;
    tt->slices = img->slices;
    tt->gs = img->m / img->slices;
    tt->spatial = img->spatial;
    tt->qualities = img->qualities;
    tt->dk = tt->heads * tt->key;
    tt->dv = tt->heads * tt->value;
    if (tt->dk > TEC_TT_MAX_KEYS) {
        tec_tt_free(&tt);
        return tec_err(err, errlen, TEC_EMODEL, "temporal model: more than %d key values",
                       TEC_TT_MAX_KEYS);
    }

    TecLoader l = { w, err, errlen, 0 };
    tec_load_int_conv(&l, &tt->kv, "tt.kv", tt->dk + tt->dv, tt->m, 1);
    tec_load_int_conv(&l, &tt->tk, "tt.tk", tt->dk, TEC_TT_TAU, 1);
    tec_load_int_conv(&l, &tt->q, "tt.q", tt->dk, 2 * tt->m, 1);
    tt->pos = tec_load_i32(&l, "tt.pos", 2, TEC_TT_WINDOW, tt->dk, 0, 0);
    tt->exp_table = tec_load_i32(&l, "tt.exp", 1, TEC_TT_EXP_SIZE, 0, 0, 0);
    tt->exp2_table = tec_load_i32(&l, "tt.exp2", 1, 256, 0, 0, 0);
    tt->log_gain = tec_load_i32(&l, "tt.log_gain", 2, tt->qualities, tt->m, 0, 0);
    const int extra = tec_tt_extra_rows(tt);
    for (int k = 0; k < tt->slices; k++) {
        char name[24];
        snprintf(name, sizeof(name), "tt.c%d.l0", k);
        tec_load_int_conv(&l, &tt->c[k][0], name, tt->hidden, (k + 2) * tt->gs + extra, 1);
        snprintf(name, sizeof(name), "tt.c%d.l1", k);
        tec_load_int_conv(&l, &tt->c[k][1], name, 2 * tt->gs, tt->hidden, 1);
        snprintf(name, sizeof(name), "tt.c%d.lin", k);
        tec_load_int_conv(&l, &tt->lin[k], name, 2 * tt->gs, 2 * tt->gs + extra, 1);
        if (tt->spatial) {
            snprintf(name, sizeof(name), "tt.sp%d.l0", k);
            tec_load_int_conv(&l, &tt->sp[k][0], name, img->ctx_hidden, 6 * tt->gs, 1);
            snprintf(name, sizeof(name), "tt.sp%d.l1", k);
            tec_load_int_conv(&l, &tt->sp[k][1], name, 2 * tt->gs, img->ctx_hidden, 1);
        }
    }
    if (l.failed) {
        tec_tt_free(&tt);
        return TEC_EMODEL;
    }
    int bounded = tec_int_conv_bounded(&tt->kv) && tec_int_conv_bounded(&tt->tk) &&
                  tec_int_conv_bounded(&tt->q);
    for (int k = 0; k < tt->slices; k++)
        for (int i = 0; i < 2; i++)
            bounded = bounded && tec_int_conv_bounded(&tt->c[k][i]) &&
                      tec_int_conv_bounded(&tt->lin[k]) &&
                      (!tt->spatial || tec_int_conv_bounded(&tt->sp[k][i]));
    for (int i = 0; i < TEC_TT_EXP_SIZE; i++)
        if (tt->exp_table[i] < 0 || tt->exp_table[i] > 65536 ||
            (i && tt->exp_table[i] > tt->exp_table[i - 1]))
            bounded = 0;
    /* The largest weight must be 65536, so a softmax's sum is never 0. */
    if (tt->exp_table[0] != 65536)
        bounded = 0;
    for (int i = 0; i < 256; i++)
        if (tt->exp2_table[i] < (1 << 15) || tt->exp2_table[i] > (1 << 16))
            bounded = 0;
    if (!bounded) {
        tec_tt_free(&tt);
        return tec_err(err, errlen, TEC_EMODEL, "temporal model: weights or tables out of range");
    }
    *out = tt;
    return 0;
}

/* ---- gains ---------------------------------------------------------------- */

static int64_t log_gain_at(const int32_t *lg, int qualities, int m, int c, int pos)
{
    int a = pos >> 8, t = pos & 255;
    if (a >= qualities - 1) {
        a = qualities - 1;
        t = 0;
    }
    const int64_t lo = lg[(size_t)a * m + c];
    if (!t)
        return lo;
    const int64_t hi = lg[(size_t)(a + 1) * m + c];
    return lo + (((hi - lo) * t) >> 8);   /* arithmetic shift: floor */
}

int tec_tt_factors(const TecTemporalModel *tt, int cur_pos, int ref_pos, TecTtFactor *f)
{
    const int64_t limit = (int64_t)20 << 16;
    for (int c = 0; c < tt->m; c++) {
        int64_t d = log_gain_at(tt->log_gain, tt->qualities, tt->m, c, cur_pos) +
                    -log_gain_at(tt->log_gain, tt->qualities, tt->m, c, ref_pos);
        d = d < -limit ? -limit : d > limit ? limit : d;
        const int e = (int)(d >> 16);          /* floor */
        f->mant[c] = tt->exp2_table[(d >> 8) & 255];
        f->shift[c] = (int8_t)(7 - e);
    }
    return 0;
}

/* ---- time ----------------------------------------------------------------- */

static int leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int tec_tt_day_of_year(int64_t day)
{
    /* Whole 400-year cycles (146097 days) first, so any day is cheap. */
    int64_t y = 1970;
    int64_t cycles = day / 146097;
    day -= cycles * 146097;
    if (day < 0) {
        day += 146097;
        cycles--;
    }
    y += 400 * cycles;
    for (;;) {
        const int len = leap(y) ? 366 : 365;
        if (day < len)
            return (int)day;
        day -= len;
        y++;
    }
}

void tec_tt_time_features(int gap, int doy, int cur_pos, int ref_pos, int order, int32_t *tau)
{
    memset(tau, 0, TEC_TT_TAU * sizeof(*tau));
    if (gap == TEC_TT_UNKNOWN) {
        tau[TEC_TT_GAP_KNOTS] = 256;
    } else {
        const int top = gap_knots[TEC_TT_GAP_KNOTS - 1];
        const int g = gap < 0 ? 0 : gap > top ? top : gap;
        for (int i = 0; i < TEC_TT_GAP_KNOTS - 1; i++) {
            const int a = gap_knots[i], b = gap_knots[i + 1];
            if (g <= b) {
                const int lo = (b - g) * 256 / (b - a);
                tau[i] = lo;
                tau[i + 1] = 256 - lo;
                break;
            }
        }
    }
    int32_t *d = tau + TEC_TT_GAP_KNOTS + 1;
    if (doy == TEC_TT_UNKNOWN) {
        d[TEC_TT_DOY_KNOTS] = 256;
    } else {
        int seg = doy / DOY_STEP;
        seg = seg > TEC_TT_DOY_KNOTS - 1 ? TEC_TT_DOY_KNOTS - 1 : seg;
        int lo = (DOY_STEP * (seg + 1) - doy) * 256 / DOY_STEP;
        lo = lo < 0 ? 0 : lo > 256 ? 256 : lo;
        d[seg] += lo;
        d[(seg + 1) % TEC_TT_DOY_KNOTS] += 256 - lo;
    }
    int32_t *p = d + TEC_TT_DOY_KNOTS + 1;
    p[0] = cur_pos;
    p[1] = ref_pos;
    if (order >= 0 && order < TEC_TT_MAX_REFS)
        p[2 + order] = 256;
}

/* ---- attention ------------------------------------------------------------ */

static inline int64_t clamp_qkv(int64_t v)
{
    return v < -QKV_LIMIT ? -QKV_LIMIT : v > QKV_LIMIT ? QKV_LIMIT : v;
}

int tec_tt_attention(const TecTemporalModel *tt, const TecTtBlock *b, const int32_t *mean,
                     const int32_t *scale, int h, int w, int32_t *o, TecWorkspace *ws)
{
    const int m = tt->m, dk = tt->dk, dv = tt->dv, heads = tt->heads;
    const size_t n = (size_t)h * w, nh = (size_t)(h + 2) * (w + 2);
    const int tokens = b->n_refs * TEC_TT_WINDOW;
    /* Slots: the query input then the query, the references' keys and
     * values, the scores and weights of one position. */
    int32_t *qin = tec_ws_get(ws, TEC_WS_ACT0, (size_t)2 * m * n * sizeof(int32_t));
    int32_t *query = tec_ws_get(ws, TEC_WS_CONV, (size_t)dk * n * sizeof(int32_t));
    int32_t *kv = tec_ws_get(ws, TEC_WS_ACT1, (size_t)b->n_refs * (dk + dv) * nh * sizeof(int32_t));
    int64_t *score = tec_ws_get(ws, TEC_WS_GDN, (size_t)tokens * heads * 2 * sizeof(int64_t));
    if (!qin || !query || !kv || !score)
        return TEC_ENOMEM;
    int64_t *weight = score + (size_t)tokens * heads;

    memcpy(qin, mean, (size_t)m * n * sizeof(int32_t));
    memcpy(qin + (size_t)m * n, scale, (size_t)m * n * sizeof(int32_t));
    tec_dense_i32(qin, 2 * m, (int)n, tt->q.weight, tt->q.bias, dk, query);
    int32_t tk[TEC_TT_MAX_REFS][TEC_TT_MAX_KEYS];
    for (int j = 0; j < b->n_refs; j++) {
        tec_dense_i32(b->ref[j], m, (int)nh, tt->kv.weight, tt->kv.bias, dk + dv,
                      kv + (size_t)j * (dk + dv) * nh);
        tec_dense_i32(b->tau[j], TEC_TT_TAU, 1, tt->tk.weight, tt->tk.bias, dk, tk[j]);
    }

    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const size_t p = (size_t)y * w + x;
            int valid = 0;
            for (int j = 0; j < b->n_refs; j++) {
                const int32_t *keys = kv + (size_t)j * (dk + dv) * nh;
                for (int t = 0; t < TEC_TT_WINDOW; t++) {
                    const size_t q = (size_t)(y + t / 3) * (w + 2) + (x + t % 3);
                    int64_t *s = score + (size_t)(j * TEC_TT_WINDOW + t) * heads;
                    if (!b->inside[q]) {
                        for (int hd = 0; hd < heads; hd++)
                            s[hd] = INT64_MIN;
                        continue;
                    }
                    valid = 1;
                    for (int hd = 0; hd < heads; hd++) {
                        int64_t dot = 0;
                        for (int d = hd * tt->key; d < (hd + 1) * tt->key; d++) {
                            const int64_t key = clamp_qkv((int64_t)keys[(size_t)d * nh + q] + tk[j][d] +
                                                          tt->pos[(size_t)t * dk + d]);
                            dot += clamp_qkv(query[(size_t)d * n + p]) * key;
                        }
                        s[hd] = (dot + (1 << (SCORE_SHIFT - 1))) >> SCORE_SHIFT;
                    }
                }
            }
            for (int hd = 0; hd < heads; hd++) {
                int64_t top = INT64_MIN, den = 0;
                for (int i = 0; i < tokens; i++)
                    if (score[(size_t)i * heads + hd] > top)
                        top = score[(size_t)i * heads + hd];
                for (int i = 0; i < tokens; i++) {
                    const int64_t s = score[(size_t)i * heads + hd];
                    int64_t e = 0;
                    if (s != INT64_MIN) {
                        const int64_t j = (top - s) >> 2;
                        e = j < TEC_TT_EXP_SIZE ? tt->exp_table[j] : 0;
                    }
                    weight[(size_t)i * heads + hd] = e;
                    den += e;
                }
                for (int d = hd * tt->value; d < (hd + 1) * tt->value; d++) {
                    int64_t num = 0;
                    if (valid)
                        for (int i = 0; i < tokens; i++) {
                            const int64_t e = weight[(size_t)i * heads + hd];
                            if (!e)
                                continue;
                            const int j = i / TEC_TT_WINDOW, t = i % TEC_TT_WINDOW;
                            const size_t q = (size_t)(y + t / 3) * (w + 2) + (x + t % 3);
                            num += e * clamp_qkv(kv[((size_t)j * (dk + dv) + dk + d) * nh + q]);
                        }
                    /* round(num / den), halves up; den >= 65536 when any
                     * token is in the frame (the largest weighs 65536). */
                    int64_t v = 0;
                    if (den > 0) {
                        const int64_t a = 2 * num + den, b2 = 2 * den;
                        v = a >= 0 ? a / b2 : -((-a + b2 - 1) / b2);
                    }
                    o[(size_t)d * n + p] = (int32_t)v;
                }
            }
        }
    return 0;
}

int tec_tt_slice_context(const TecTemporalModel *tt, int k, const int32_t *in, int n,
                         int32_t *mean, int32_t *scale, TecWorkspace *ws)
{
    int ret = tec_img_context_layers(tt->c[k], tt->gs, in, n, mean, scale, ws);
    if (ret < 0)
        return ret;
    const TecIntConv *lin = &tt->lin[k];
    int32_t *out = tec_ws_get(ws, TEC_WS_ACT1, (size_t)lin->cout * n * sizeof(int32_t));
    if (!out)
        return TEC_ENOMEM;
    /* Its input: the slice's mean and scale as they came in, then the
     * temporal rows.  mean and scale were only written above. */
    tec_dense_i32(in + (size_t)k * tt->gs * n, lin->cin, n, lin->weight, lin->bias,
                  lin->cout, out);
    for (size_t i = 0; i < (size_t)tt->gs * n; i++) {
        mean[i] = tec_saturate_i32((int64_t)mean[i] + out[i]);
        scale[i] = tec_saturate_i32((int64_t)scale[i] + out[(size_t)tt->gs * n + i]);
    }
    return 0;
}

int tec_tt_spatial_context(const TecTemporalModel *tt, int k, int32_t *in, int n,
                           TecWorkspace *ws)
{
    const size_t gs = (size_t)tt->gs;
    return tec_img_context_layers(tt->sp[k], tt->gs, in, n, in, in + gs * n, ws);
}
