/* The image model on a generated tiny model: loading checks, rate control,
 * the integer hyper-synthesis against a direct reference, and tiled
 * synthesis == whole-grid synthesis (bit for bit, floats and samples). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "frame_codec.h"
#include "model_image.h"
#include "test.h"
#include "tecw_gen.h"
#include "weights.h"

static TecImageModel *load(const TecwGenParams *p, int *ret, char *err, size_t errlen)
{
    size_t size;
    uint8_t *file = tecw_generate(p, &size);
    TecWeights *w = NULL;
    TecImageModel *m = NULL;
    *ret = tec_weights_parse(file, size, &w, err, errlen);
    if (!*ret)
        *ret = tec_img_load(&m, w, err, errlen);
    tec_weights_free(&w);
    free(file);
    return m;
}

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (float)(1 << 24) * 2.0f - 1.0f;
}

static void test_load(void)
{
    char err[256];
    int ret;
    TecwGenParams p = tecw_gen_defaults();
    TecImageModel *m = load(&p, &ret, err, sizeof(err));
    CHECK_EQ_INT(ret, 0);
    CHECK(m && m->n == 8 && m->m == 16 && m->nh == 8 && m->nmid == 12 && m->qualities == 8);
    tec_img_free(&m);
    CHECK(m == NULL);

    p.bad_shape = 1;
    m = load(&p, &ret, err, sizeof(err));
    CHECK_EQ_INT(ret, TEC_EMODEL);
    CHECK(m == NULL && strstr(err, "s3.weight") != NULL);
    p.bad_shape = 0;
    p.default_quality = 30;
    m = load(&p, &ret, err, sizeof(err));
    CHECK_EQ_INT(ret, TEC_EMODEL);
    CHECK(strstr(err, "default_quality") != NULL);

    /* Version 2 with the skip transforms; skip in a version 1 file (which
     * a version 1 reader would ignore) and unknown versions are refused. */
    p = tecw_gen_defaults();
    p.levels = 2;
    p.skip = 1;
    m = load(&p, &ret, err, sizeof(err));
    CHECK_EQ_INT(ret, 0);
    CHECK(m && m->skip == 1 && m->skip_a && m->skip_s);
    tec_img_free(&m);
    p.arch_version = 1;
    m = load(&p, &ret, err, sizeof(err));
    CHECK(ret == TEC_EMODEL && !m && strstr(err, "skip") != NULL);
    p.arch_version = 5;
    m = load(&p, &ret, err, sizeof(err));
    CHECK(ret == TEC_EMODEL && !m && strstr(err, "version 5") != NULL);

    /* Version 3 with the channel context; the keys in a version 2 file,
     * and slices that do not divide m, are refused. */
    p = tecw_gen_defaults();
    p.ctx_groups = 4;
    p.ctx_hidden = 6;
    m = load(&p, &ret, err, sizeof(err));
    CHECK_EQ_INT(ret, 0);
    CHECK(m && m->slices == 4 && m->ctx_hidden == 6 && m->ctx[3][0].cin == 5 * 4 &&
          m->ctx[3][1].cout == 2 * 4);
    tec_img_free(&m);
    p.arch_version = 2;
    m = load(&p, &ret, err, sizeof(err));
    CHECK(ret == TEC_EMODEL && !m && strstr(err, "ctx_groups") != NULL);
    p.arch_version = 0;
    p.ctx_groups = 3;
    m = load(&p, &ret, err, sizeof(err));
    CHECK(ret == TEC_EMODEL && !m && strstr(err, "divide") != NULL);

    /* Version 4 adds the spatial context to every slice; the key in a
     * version 3 file is refused. */
    p.ctx_groups = 4;
    p.ctx_spatial = 1;
    m = load(&p, &ret, err, sizeof(err));
    CHECK_EQ_INT(ret, 0);
    CHECK(m && m->spatial == 1 && m->sp[0][0].cin == 6 * 4 && m->sp[3][0].cout == 6 &&
          m->sp[3][1].cout == 2 * 4);
    tec_img_free(&m);
    p.arch_version = 3;
    m = load(&p, &ret, err, sizeof(err));
    CHECK(ret == TEC_EMODEL && !m && strstr(err, "ctx_spatial") != NULL);
}

/* The skip transforms against a direct reference: with and without them,
 * analysis and synthesis differ by exactly the block transform. */
static void test_skip(void)
{
    char err[256];
    int ret;
    TecwGenParams p = tecw_gen_defaults();
    p.levels = 2;
    p.skip = 1;
    TecImageModel *m = load(&p, &ret, err, sizeof(err));
    CHECK_EQ_INT(ret, 0);
    if (!m)
        return;
    enum { H = 3, W = 5, D = 4, S = 13 };
    const int M = m->m, K = S * D * D, HP = H * D, WP = W * D;
    float *x = malloc(sizeof(float) * S * HP * WP), *y = malloc(sizeof(float) * M * H * W);
    float *with = malloc(sizeof(float) * S * HP * WP), *without = malloc(sizeof(float) * S * HP * WP);
    float *ya = malloc(sizeof(float) * M * H * W), *yb = malloc(sizeof(float) * M * H * W);
    float bias[64];
    const float mask[S] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    TecWorkspace ws = { 0 };
    const TecInside whole = { 0, HP, 0, WP };
    unsigned seed = 7;

    for (int i = 0; i < S * HP * WP; i++)
        x[i] = frand(&seed);
    for (int i = 0; i < M * H * W; i++)
        y[i] = 3.0f * frand(&seed);
    tec_img_input_bias(m, mask, bias);
    CHECK_EQ_INT(tec_img_synthesis(m, y, H, W, with, &ws), 0);
    CHECK_EQ_INT(tec_img_analysis(m, x, HP, WP, &whole, bias, ya, &ws), 0);
    m->skip = 0;
    CHECK_EQ_INT(tec_img_synthesis(m, y, H, W, without, &ws), 0);
    CHECK_EQ_INT(tec_img_analysis(m, x, HP, WP, &whole, bias, yb, &ws), 0);
    m->skip = 1;

    double worst_s = 0, worst_a = 0;
    for (int s = 0; s < S; s++)
        for (int r = 0; r < HP; r++)
            for (int c = 0; c < WP; c++) {
                const int row = (s * D + r % D) * D + c % D, pos = (r / D) * W + c / D;
                double want = 0;
                for (int j = 0; j < M; j++)
                    want += (double)m->skip_s[row * M + j] * y[j * H * W + pos];
                const size_t i = ((size_t)s * HP + r) * WP + c;
                worst_s = fmax(worst_s, fabs(with[i] - without[i] - want));
            }
    for (int j = 0; j < M; j++)
        for (int pos = 0; pos < H * W; pos++) {
            double want = 0;
            for (int k = 0; k < K; k++) {
                const int s = k / (D * D), dy = k / D % D, dx = k % D;
                want += (double)m->skip_a[j * K + k] *
                        x[((size_t)s * HP + pos / W * D + dy) * WP + pos % W * D + dx];
            }
            worst_a = fmax(worst_a, fabs(ya[j * H * W + pos] - yb[j * H * W + pos] - want));
        }
    if (worst_s > 1e-4 || worst_a > 1e-4)
        fprintf(stderr, "skip: synthesis off by %g, analysis by %g\n", worst_s, worst_a);
    CHECK(worst_s <= 1e-4);
    CHECK(worst_a <= 1e-4);
    tec_ws_free(&ws);
    free(x); free(y); free(with); free(without); free(ya); free(yb);
    tec_img_free(&m);
}

static void test_rate_control(void)
{
    char err[256];
    int ret;
    TecwGenParams p = tecw_gen_defaults();
    TecImageModel *m = load(&p, &ret, err, sizeof(err));
    if (!m)
        return;
    CHECK_EQ_INT(tec_img_quality_position(m, 1), 0);
    CHECK_EQ_INT(tec_img_quality_position(m, 5), 256);
    CHECK_EQ_INT(tec_img_quality_position(m, 29), 7 * 256);
    CHECK_EQ_INT(tec_img_quality_position(m, 0), (9 - 1) * 64);
    m->qualities = 4;  /* 1..29 spans the anchors, whatever their count */
    CHECK_EQ_INT(tec_img_quality_position(m, 29), 3 * 256);
    CHECK_EQ_INT(tec_img_quality_position(m, 15), 384);
    m->qualities = 11;
    CHECK_EQ_INT(tec_img_quality_position(m, 29), 10 * 256);
    CHECK_EQ_INT(tec_img_quality_position(m, 18), 17 * 10 * 256 / 28);
    m->qualities = 8;

    float g[16], ig[16];
    tec_img_gains(m, 256, g, ig);
    CHECK(!memcmp(g, m->gain + 16, sizeof(g)));
    tec_img_gains(m, 128, g, ig);
    int ok = 1;
    for (int c = 0; c < 16; c++) {
        double want = sqrt((double)m->gain[c] * m->gain[16 + c]);
        ok &= fabs(g[c] - want) < 1e-5 * want && fabs(ig[c] * g[c] - 1.0) < 1e-5;
    }
    CHECK(ok);

    /* Index = number of thresholds <= raw scale. */
    int good = 1;
    for (int32_t s = -600; s <= 600; s += 7) {
        int count = 0;
        for (int i = 0; i < TEC_IMG_SCALES - 1; i++)
            count += s >= m->thresholds[i];
        good &= tec_img_scale_index(m, s) == count;
    }
    CHECK(good);
    CHECK_EQ_INT(tec_img_scale_index(m, INT32_MIN), 0);
    CHECK_EQ_INT(tec_img_scale_index(m, INT32_MAX), 63);
    tec_img_free(&m);
}

/* ---- hyper-synthesis reference (doc/bitstream.md, 4) -------------------- */

static void ref_conv(const int32_t *in, int cin, int h, int w, const int32_t *wt,
                     const int32_t *bias, int cout, int32_t *out)
{
    for (int o = 0; o < cout; o++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int64_t acc = bias[o];
                for (int i = 0; i < cin; i++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int yy = y + ky - 1, xx = x + kx - 1;
                            if (yy >= 0 && yy < h && xx >= 0 && xx < w)
                                acc += (int64_t)wt[((o * cin + i) * 3 + ky) * 3 + kx] *
                                       in[(i * h + yy) * w + xx];
                        }
                int64_t q = acc >= -2048 ? (acc + 2048) / 4096 : -((-(acc + 2048) + 4095) / 4096);
                if (q > INT32_MAX) q = INT32_MAX;
                if (q < -INT32_MAX) q = -INT32_MAX;
                out[(o * h + y) * w + x] = (int32_t)q;
            }
}

static void ref_shuffle_relu(const int32_t *in, int c, int h, int w, int32_t *out)
{
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < 2 * h; y++)
            for (int x = 0; x < 2 * w; x++) {
                int32_t v = in[((4 * ch + 2 * (y & 1) + (x & 1)) * h + y / 2) * w + x / 2];
                out[(ch * 2 * h + y) * 2 * w + x] = v < 0 ? 0 : v;
            }
}

static void test_hyper_synthesis(void)
{
    char err[256];
    int ret;
    TecwGenParams p = tecw_gen_defaults();
    TecImageModel *m = load(&p, &ret, err, sizeof(err));
    if (!m)
        return;
    const int hz = 3, wz = 5, nh = m->nh, nmid = m->nmid, M = m->m;
    int32_t *z = malloc(sizeof(int32_t) * nh * hz * wz);
    unsigned seed = 5;
    for (int i = 0; i < nh * hz * wz; i++)
        z[i] = (int32_t)lrintf(frand(&seed) * 6);
    z[0] = INT32_MAX;  /* saturates, no overflow */
    z[1] = INT32_MIN;

    int32_t *a = malloc(sizeof(int32_t) * nh * hz * wz);
    int32_t *b = malloc(sizeof(int32_t) * 4 * nmid * 4 * hz * wz * 4);
    int32_t *c = malloc(sizeof(int32_t) * 16 * nmid * hz * wz * 4);
    int32_t *want = malloc(sizeof(int32_t) * 2 * M * 16 * hz * wz);
    int32_t *got = malloc(sizeof(int32_t) * 2 * M * 16 * hz * wz);
    for (int i = 0; i < nh * hz * wz; i++) {
        int64_t v = (int64_t)z[i] * 256;
        a[i] = v > INT32_MAX ? INT32_MAX : v < -INT32_MAX ? -INT32_MAX : (int32_t)v;
    }
    ref_conv(a, nh, hz, wz, m->t[0].weight, m->t[0].bias, 4 * nh, b);
    ref_shuffle_relu(b, nh, hz, wz, c);
    ref_conv(c, nh, 2 * hz, 2 * wz, m->t[1].weight, m->t[1].bias, 4 * nmid, b);
    ref_shuffle_relu(b, nmid, 2 * hz, 2 * wz, c);
    ref_conv(c, nmid, 4 * hz, 4 * wz, m->t[2].weight, m->t[2].bias, 2 * M, want);

    TecWorkspace ws = { 0 };
    CHECK_EQ_INT(tec_img_hyper_synthesis(m, z, hz, wz, got, &ws), 0);
    CHECK(!memcmp(got, want, sizeof(int32_t) * 2 * M * 16 * hz * wz));
    tec_ws_free(&ws);
    free(z); free(a); free(b); free(c); free(want); free(got);
    tec_img_free(&m);
}

/* ---- tiled synthesis ----------------------------------------------------- */

static uint16_t ref_sample(float v)
{
    if (!(v > 0.0f))
        return 0;
    return v >= 65535.0f ? 65535 : (uint16_t)(v + 0.5f);
}

static void test_tiled_synthesis(void)
{
    char err[256];
    int ret;
    TecwGenParams p = tecw_gen_defaults();
    TecImageModel *m = load(&p, &ret, err, sizeof(err));
    if (!m)
        return;
    /* 70 x 40 latents: 3 x 2 tiles, the last ones partial. */
    const int W = 630, H = 1110, S = m->slots, D = m->downscale;
    TecGeometry g;
    tec_geometry_init(&g, W, H, D);
    CHECK(g.lat_h == 70 && g.lat_w == 40 && g.block_rows == 3 && g.block_cols == 2);
    TecLatentGrid grid = { malloc(sizeof(float) * m->m * g.lat_h * g.lat_w), g.lat_h, g.lat_w, 0 };
    unsigned seed = 11;
    for (int i = 0; i < m->m * g.lat_h * g.lat_w; i++)
        grid.y[i] = 3.0f * frand(&seed);

    const int XH = g.lat_h * D, XW = g.lat_w * D;
    float *whole = malloc(sizeof(float) * S * XH * XW);
    TecWorkspace ws = { 0 };
    CHECK_EQ_INT(tec_img_synthesis(m, grid.y, g.lat_h, g.lat_w, whole, &ws), 0);

    /* Floats: each tile with its clipped 2-latent halo matches the whole. */
    int mismatched_tiles = 0;
    for (int by = 0; by < g.block_rows; by++)
        for (int bx = 0; bx < g.block_cols; bx++) {
            TecBlockRect r = tec_geometry_block(&g, by * g.block_cols + bx);
            int y0 = r.y0 > 2 ? r.y0 - 2 : 0, y1 = r.y0 + r.h + 2 < g.lat_h ? r.y0 + r.h + 2 : g.lat_h;
            int x0 = r.x0 > 2 ? r.x0 - 2 : 0, x1 = r.x0 + r.w + 2 < g.lat_w ? r.x0 + r.w + 2 : g.lat_w;
            int th = y1 - y0, tw = x1 - x0;
            float *ty = malloc(sizeof(float) * m->m * th * tw);
            float *tx = malloc(sizeof(float) * S * th * D * tw * D);
            for (int c = 0; c < m->m; c++)
                for (int i = 0; i < th; i++)
                    memcpy(ty + (c * th + i) * tw, grid.y + (c * g.lat_h + y0 + i) * g.lat_w + x0,
                           sizeof(float) * tw);
            TecWorkspace tws = { 0 };
            CHECK_EQ_INT(tec_img_synthesis(m, ty, th, tw, tx, &tws), 0);
            int bad = 0;
            for (int s = 0; s < S; s++)
                for (int py = r.y0 * D; py < (r.y0 + r.h) * D; py++)
                    bad |= memcmp(tx + ((size_t)s * th * D + py - y0 * D) * tw * D + (r.x0 - x0) * D,
                                  whole + ((size_t)s * XH + py) * XW + r.x0 * D,
                                  sizeof(float) * r.w * D) != 0;
            mismatched_tiles += bad;
            tec_ws_free(&tws);
            free(ty);
            free(tx);
        }
    CHECK_EQ_INT(mismatched_tiles, 0);

    /* Samples: the stripe synthesis over two threads equals the whole grid. */
    TecSeqHeader h;
    memset(&h, 0, sizeof(h));
    h.info.bands = S;
    h.info.width = W;
    h.info.height = H;
    h.n_groups = 1;
    h.groups[0].count = S;
    for (int s = 0; s < S; s++) {
        h.groups[0].band[s] = (uint8_t)(S - 1 - s);  /* bands in reverse slot order */
        h.groups[0].slot[s] = (uint8_t)s;
    }
    TecWorkers workers;
    CHECK_EQ_INT(tec_workers_init(&workers, 2), 0);
    uint16_t *out = malloc(sizeof(uint16_t) * S * H * W);
    TecSampleTarget t = { out, W, (ptrdiff_t)W * H, 0 };
    TecFrameNorm norm;
    tec_norm_from_model(m, &h, &norm);
    for (int row = 0; row < g.block_rows; row++)
        CHECK_EQ_INT(tec_fc_synthesize_stripe(m, &workers, &g, &h, &grid, &norm, row, &t), 0);
    size_t differ = 0;
    for (int s = 0; s < S; s++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float v = whole[((size_t)s * XH + y) * XW + x] * m->band_std[s] + m->band_mean[s];
                differ += out[((size_t)(S - 1 - s) * H + y) * W + x] != ref_sample(v);
            }
    CHECK_EQ_INT(differ, 0);

    tec_workers_free(&workers);
    tec_ws_free(&ws);
    free(out);
    free(whole);
    free(grid.y);
    tec_img_free(&m);
}

int main(void)
{
    test_load();
    test_rate_control();
    test_hyper_synthesis();
    test_tiled_synthesis();
    test_skip();
    return test_report("test_model_image");
}
