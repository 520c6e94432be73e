/* The synthesis' backward pass (synthesis_grad.h).  Each stage of the
 * synthesis is a 3x3 convolution (stride 1, zero padding 1) to 4c channels,
 * a pixel shuffle and, but for the last, an inverse GDN; beside them the
 * linear skip scatters one matrix product into each latent's d x d block.
 * Backwards: the shuffle's inverse, the convolution's adjoint (the same
 * convolution with input and output channels swapped and the taps
 * reversed), the inverse GDN's Jacobian, and the skip's matrix transposed. */
#include "synthesis_grad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "errors.h"

void tec_sgrad_free(TecSynthGrad *g)
{
    for (int i = 0; i < TEC_IMG_MAX_LEVELS; i++)
        free(g->flipped[i]);
    for (int i = 0; i < TEC_IMG_MAX_LEVELS - 1; i++)
        free(g->gamma_t[i]);
    free(g->skip_t);
    memset(g, 0, sizeof(*g));
}

int tec_sgrad_init(TecSynthGrad *g, const TecImageModel *m)
{
    memset(g, 0, sizeof(*g));
    g->m = m;
    for (int i = 0; i < m->levels; i++) {
        const TecConv *c = &m->s[i];
        const int k = c->k, kk = k * k;
        if (!(g->flipped[i] = malloc((size_t)c->cin * c->cout * kk * sizeof(float))))
            goto nomem;
        for (int o = 0; o < c->cout; o++)
            for (int in = 0; in < c->cin; in++)
                for (int t = 0; t < kk; t++)
                    g->flipped[i][((size_t)in * c->cout + o) * kk + (kk - 1 - t)] =
                        c->weight[((size_t)o * c->cin + in) * kk + t];
    }
    for (int i = 0; i < m->levels - 1; i++) {
        const int n = m->n;
        if (!(g->gamma_t[i] = malloc((size_t)n * n * sizeof(float))))
            goto nomem;
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
                g->gamma_t[i][(size_t)b * n + a] = m->igdn[i].gamma[(size_t)a * n + b];
    }
    if (m->skip) {
        const int k = m->slots * m->downscale * m->downscale;
        if (!(g->skip_t = malloc((size_t)m->m * k * sizeof(float))))
            goto nomem;
        for (int r = 0; r < k; r++)
            for (int c = 0; c < m->m; c++)
                g->skip_t[(size_t)c * k + r] = m->skip_s[(size_t)r * m->m + c];
    }
    return 0;
nomem:
    tec_sgrad_free(g);
    return TEC_ENOMEM;
}

/* Floats of stage i's inverse GDN input over h x w latents. */
static size_t igdn_floats(const TecImageModel *m, int h, int w, int i)
{
    return (size_t)m->n * ((size_t)h << (i + 1)) * ((size_t)w << (i + 1));
}

size_t tec_sgrad_tape_floats(const TecImageModel *m, int h, int w)
{
    size_t floats = 0;
    for (int i = 0; i < m->levels - 1; i++)
        floats += igdn_floats(m, h, w, i);
    return floats;
}

void tec_sgrad_tape_split(const TecImageModel *m, int h, int w, float *tape,
                          float *parts[TEC_IMG_MAX_LEVELS - 1])
{
    for (int i = 0; i < m->levels - 1; i++) {
        parts[i] = tape;
        tape += igdn_floats(m, h, w, i);
    }
}

/* The inverse of tec_pixel_shuffle2_f32: in[c][2h][2w] -> out[4c][h][w]. */
static void pixel_unshuffle2(const float *in, int c, int h, int w, float *out)
{
    for (int ch = 0; ch < c; ch++)
        for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++) {
                float *dst = out + (size_t)(4 * ch + 2 * dy + dx) * h * w;
                for (int y = 0; y < h; y++) {
                    const float *src = in + ((size_t)ch * 2 * h + 2 * y + dy) * 2 * w + dx;
                    for (int x = 0; x < w; x++)
                        dst[(size_t)y * w + x] = src[2 * x];
                }
            }
}

/* Through v = u sqrt(beta + gamma u^2), in place on grad[c][n] (the
 * gradient at v on entry, at u on return), u the tape:
 * du_k = dv_k s_k + u_k sum_i gamma_ik dv_i u_i / s_i. */
static int igdn_backward(const TecGdn *gdn, const float *gamma_t, int c, size_t n,
                         const float *u, float *grad, TecWorkspace *ws)
{
    const size_t size = (size_t)c * n;
    float *s = tec_ws_get(ws, TEC_WS_GDN, 3 * size * sizeof(float));
    if (!s)
        return TEC_ENOMEM;
    float *t = s + size, *r = t + size;
    for (size_t i = 0; i < size; i++)
        t[i] = u[i] * u[i];
    for (int i = 0; i < c; i++)
        for (size_t p = 0; p < n; p++)
            s[(size_t)i * n + p] = gdn->beta[i];
    tec_gemm_f32(c, (int)n, c, gdn->gamma, c, t, (int)n, s, (int)n, 1);
    for (size_t i = 0; i < size; i++) {
        s[i] = sqrtf(s[i]);
        t[i] = grad[i] * u[i] / s[i];
    }
    tec_gemm_f32(c, (int)n, c, gamma_t, c, t, (int)n, r, (int)n, 0);
    for (size_t i = 0; i < size; i++)
        grad[i] = grad[i] * s[i] + u[i] * r[i];
    return 0;
}

/* grad_y[m][h][w] += skip_s^T applied to each latent's d x d block of
 * grad_xn. */
static int skip_backward(const TecSynthGrad *g, int h, int w, const float *grad_xn,
                         float *grad_y, TecWorkspace *ws)
{
    const TecImageModel *m = g->m;
    const int d = m->downscale, k = m->slots * d * d, n = h * w;
    float *cols = tec_ws_get(ws, TEC_WS_CONV, (size_t)k * n * sizeof(float));
    if (!cols)
        return TEC_ENOMEM;
    for (int s = 0; s < m->slots; s++)
        for (int dy = 0; dy < d; dy++)
            for (int dx = 0; dx < d; dx++) {
                float *dst = cols + (size_t)((s * d + dy) * d + dx) * n;
                for (int py = 0; py < h; py++) {
                    const float *src = grad_xn + ((size_t)s * h * d + (size_t)py * d + dy) * w * d + dx;
                    for (int px = 0; px < w; px++)
                        dst[py * w + px] = src[(size_t)px * d];
                }
            }
    tec_gemm_f32(m->m, n, k, g->skip_t, k, cols, n, grad_y, n, 1);
    return 0;
}

int tec_sgrad_backward(const TecSynthGrad *g, const float *tape, int h, int w,
                       const float *grad_xn, float *grad_y, TecWorkspace *ws)
{
    const TecImageModel *m = g->m;
    size_t unshuffled = 0, stage_in = 0;
    for (int i = 0; i < m->levels; i++) {
        const size_t px = ((size_t)h << i) * ((size_t)w << i);
        if ((size_t)m->s[i].cout * px > unshuffled)
            unshuffled = (size_t)m->s[i].cout * px;
        if (i > 0 && (size_t)m->s[i].cin * px > stage_in)
            stage_in = (size_t)m->s[i].cin * px;
    }
    float *a = tec_ws_get(ws, TEC_WS_ACT0, unshuffled * sizeof(float));
    float *b = tec_ws_get(ws, TEC_WS_ACT1, (stage_in ? stage_in : 1) * sizeof(float));
    if (!a || !b)
        return TEC_ENOMEM;
    float *parts[TEC_IMG_MAX_LEVELS - 1];
    tec_sgrad_tape_split(m, h, w, (float *)tape, parts);

    const float *cur = grad_xn;
    for (int i = m->levels - 1; i >= 0; i--) {
        const TecConv *c = &m->s[i];
        const int hi = h << i, wi = w << i;
        pixel_unshuffle2(cur, c->cout / 4, hi, wi, a);
        float *out = i == 0 ? grad_y : b;
        const size_t scratch_size = tec_conv2d_scratch(c->cout, hi, wi, c->k, 1, c->k / 2);
        float *scratch = tec_ws_get(ws, TEC_WS_CONV, (scratch_size ? scratch_size : 1) * sizeof(float));
        if (!scratch)
            return TEC_ENOMEM;
        tec_conv2d_f32(a, c->cout, hi, wi, g->flipped[i], NULL, c->cin, c->k, 1, c->k / 2, out,
                       scratch);
        if (i > 0) {
            int ret = igdn_backward(&m->igdn[i - 1], g->gamma_t[i - 1], m->n, (size_t)hi * wi,
                                    parts[i - 1], b, ws);
            if (ret < 0)
                return ret;
            cur = b;
        }
    }
    return m->skip ? skip_backward(g, h, w, grad_xn, grad_y, ws) : 0;
}
