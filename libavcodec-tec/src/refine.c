/* Encoder-side latent refinement (refine.h).  The constants are those of
 * the PyTorch prototype that measured it (tools/train/refine.py: Adam at
 * learning rate 0.003 on the per-sample objective, the rate of the
 * unrounded latents under their Gaussian, the true cost every 2 steps). */
#include "refine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "errors.h"
#include "repro_math.h"

#define LEARNING_RATE 0.003
#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8
#define CHECK_EVERY 2
#define SCALE_MIN 0.11           /* the smallest scale of the Gaussian tables */
#define LIKELIHOOD_MIN 1e-9      /* as training clamps it */
/* tools/train/train.py: anchor i's lambda is 1500 x ratio^(i - 3). */
#define LAMBDA_ANCHOR3 1500.0
#define LN2 0.69314718055994530942
#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

/* The encoder writes the same bytes on every machine (fate-tests/
 * test_aarch64.sh), so what moves a symbol uses no libm function whose
 * last bit may vary: exp and log from repro_math, erfc below. */
static double power(double base, double e) { return tec_repro_exp(e * tec_repro_log(base)); }

/* erfc(x), relative error below about 1.2e-7 (a Chebyshev-fitted rational
 * form in t = 1 / (1 + |x| / 2) times exp(-x^2)): plenty for a gradient. */
static double erfc_approx(double x)
{
    static const double c[10] = { -1.26551223, 1.00002368, 0.37409196, 0.09678418,
                                  -0.18628806, 0.27886807, -1.13520398, 1.48851587,
                                  -0.82215223, 0.17087277 };
    const double z = fabs(x), t = 1.0 / (1.0 + 0.5 * z);
    double poly = c[9];
    for (int i = 8; i >= 0; i--)
        poly = c[i] + t * poly;
    const double r = t * tec_repro_exp(-z * z + poly);
    return x >= 0 ? r : 2.0 - r;
}

double tec_refine_lambda(const TecImageModel *m, int position, double spread)
{
    const double ratio = m->lambda_ratio_milli ? m->lambda_ratio_milli / 1000.0 : 2.25;
    double lambda = LAMBDA_ANCHOR3 * power(ratio, position / 256.0 - 3.0);
    if (m->quality_spread && spread > 0) {
        const double f = (m->quality_spread / spread) * (m->quality_spread / spread);
        const double lo = power(ratio, -5.0), hi = power(ratio, 5.0);
        lambda *= f < lo ? lo : f > hi ? hi : f;
    }
    return lambda;
}

typedef struct Refiner {
    const TecRefineJob *j;
    int bh, bw, lh, lw, ph, pw, top;   /* top: the block's first pixel row (and column) in the patch */
    size_t n;                          /* latents of the block, per channel */
    float *patch;                      /* [m][lh][lw] the synthesis input */
    float *xhat, *grad_xn;             /* [slots][ph][pw] */
    float *grad_y;                     /* [m][lh][lw] */
    float *tape;
    float *mu, *sigma;                 /* [m][n] the first coding's parameters, held fixed */
    int32_t *mean_out, *scale_out;
    float *value_out;
    float *adam_m, *adam_v, *best;     /* [m][n] */
} Refiner;

static void refiner_free(Refiner *R)
{
    free(R->patch);
    free(R->xhat);
    free(R->grad_xn);
    free(R->grad_y);
    free(R->tape);
    free(R->mu);
    free(R->sigma);
    free(R->mean_out);
    free(R->scale_out);
    free(R->value_out);
    free(R->adam_m);
    free(R->adam_v);
    free(R->best);
}

/* What coding the block needs, and with `steps` what refining it needs. */
static int refiner_init(Refiner *R, const TecRefineJob *j, int steps)
{
    const TecImageModel *m = j->m;
    const int D = m->downscale;
    memset(R, 0, sizeof(*R));
    R->j = j;
    R->bh = j->r->h;
    R->bw = j->r->w;
    R->lh = R->bh + 2 * j->halo;
    R->lw = R->bw + 2 * j->halo;
    R->ph = R->lh * D;
    R->pw = R->lw * D;
    R->top = j->halo * D;
    R->n = (size_t)R->bh * R->bw;
    const size_t nl = (size_t)m->m * R->lh * R->lw, npx = (size_t)m->slots * R->ph * R->pw;
    const size_t nm = (size_t)m->m * R->n;
    R->patch = malloc(nl * sizeof(float));
    R->xhat = malloc(npx * sizeof(float));
    R->grad_xn = malloc(npx * sizeof(float));
    R->mean_out = malloc(nm * sizeof(int32_t));
    R->scale_out = malloc(nm * sizeof(int32_t));
    R->value_out = malloc(nm * sizeof(float));
    if (!R->patch || !R->xhat || !R->grad_xn || !R->mean_out || !R->scale_out || !R->value_out)
        return TEC_ENOMEM;
    if (steps) {
        R->grad_y = malloc(nl * sizeof(float));
        R->tape = malloc((tec_sgrad_tape_floats(m, R->lh, R->lw) + 1) * sizeof(float));
        R->mu = malloc(nm * sizeof(float));
        R->sigma = malloc(nm * sizeof(float));
        R->adam_m = calloc(nm, sizeof(float));
        R->adam_v = calloc(nm, sizeof(float));
        R->best = malloc(nm * sizeof(float));
        if (!R->grad_y || !R->tape || !R->mu || !R->sigma || !R->adam_m || !R->adam_v || !R->best)
            return TEC_ENOMEM;
    }
    /* The halo: the analysis' latents, a stand-in for the neighbours'
     * decoded ones; zero beyond the frame's grid, where the decoder's
     * synthesis pads with zeros. */
    for (int c = 0; c < m->m; c++)
        for (int i = 0; i < R->lh; i++)
            for (int k = 0; k < R->lw; k++) {
                const int gy = j->r->y0 - j->halo + i, gx = j->r->x0 - j->halo + k;
                const size_t p = ((size_t)c * R->lh + i) * R->lw + k;
                R->patch[p] = gy >= 0 && gy < j->lat_h && gx >= 0 && gx < j->lat_w
                                  ? j->y[p] : 0.0f;
            }
    return 0;
}

/* Mean of v[0], v[stride], ... over each run of `same` (1: continues the
 * run before), in place. */
static void average_runs(float *v, ptrdiff_t stride, int len, const uint8_t *same)
{
    int start = 0;
    for (int i = 1; i <= len; i++) {
        if (i < len && same[i])
            continue;
        double sum = 0;
        for (int k = start; k < i; k++)
            sum += v[(ptrdiff_t)k * stride];
        const float mean = (float)(sum / (i - start));
        for (int k = start; k < i; k++)
            v[(ptrdiff_t)k * stride] = mean;
        start = i;
    }
}

/* The block's distortion sum w_b (P (x^ - x))^2 over its pixels inside the
 * frame, w_b = (spread_b / 10^4)^2 (xhat and xn are standardised), P the
 * decoder's averaging of replicated blocks (cut at the block's edges here).
 * grad_xn is the scratch; with grad set it receives the gradient at xhat,
 * 2 w_b P (x^ - x), P being a symmetric projection that the source already
 * lies in (zero outside the block). */
static double distortion(Refiner *R, int grad)
{
    const TecRefineJob *j = R->j;
    const size_t plane = (size_t)R->ph * R->pw;
    float *res = R->grad_xn;
    double total = 0;
    if (grad)
        memset(res, 0, (size_t)j->m->slots * plane * sizeof(float));
    for (int g = 0; g < j->group->count; g++) {
        const int s = j->group->slot[g], b = j->group->band[g];
        const double std = j->norm->spread[b], w = std * std * 1e-8;
        float *rs = res + s * plane;
        for (int y = 0; y < j->rows; y++) {
            const size_t o = (size_t)(R->top + y) * R->pw + R->top;
            for (int x = 0; x < j->cols; x++)
                rs[o + x] = R->xhat[s * plane + o + x] - j->xn[s * plane + o + x];
        }
        const TecReplication *rp = j->repl;
        /* The maps as scanned so far: the band's activity is only known
         * at the frame's end, and a band without blocks has no run. */
        if (rp) {
            const uint8_t *row_same = rp->row_same + (size_t)b * rp->height + j->py0;
            const uint8_t *col_same = rp->col_same + (size_t)b * rp->width + j->px0;
            for (int y = 0; y < j->rows; y++)
                average_runs(rs + (size_t)(R->top + y) * R->pw + R->top, 1, j->cols, col_same);
            for (int x = 0; x < j->cols; x++)
                average_runs(rs + (size_t)R->top * R->pw + R->top + x, R->pw, j->rows, row_same);
        }
        double sum = 0;
        for (int y = 0; y < j->rows; y++) {
            float *row = rs + (size_t)(R->top + y) * R->pw + R->top;
            for (int x = 0; x < j->cols; x++) {
                sum += (double)row[x] * row[x];
                if (grad)
                    row[x] = (float)(2.0 * w * row[x]);
            }
        }
        total += w * sum;
    }
    return total;
}

/* The block's interior of the synthesis input from gained values. */
static void set_interior(Refiner *R, const float *gained)
{
    const TecRefineJob *j = R->j;
    for (int c = 0; c < j->m->m; c++)
        for (int y = 0; y < R->bh; y++) {
            float *dst = R->patch + ((size_t)c * R->lh + j->halo + y) * R->lw + j->halo;
            const float *src = gained + ((size_t)c * R->bh + y) * R->bw;
            for (int x = 0; x < R->bw; x++)
                dst[x] = src[x] * j->igain[c];
        }
}

/* Codes the block for real: its bits + lambda x distortion. */
static int true_cost(Refiner *R, const float *yg, double *cost)
{
    const TecRefineJob *j = R->j;
    TecFcInter how = *j->how;
    how.lean = NULL;
    how.lean_sums = NULL;
    how.refs_out = NULL;
    how.mean_out = R->mean_out;
    how.scale_out = R->scale_out;
    how.value_out = R->value_out;
    const uint8_t *data;
    size_t size;
    int ret = tec_fc_encode_block(j->m, yg, j->z, j->r, j->igain, &how, j->re, NULL, j->ws);
    if (ret < 0 || (ret = tec_rans_enc_finish(j->re, &data, &size)) < 0)
        return ret;
    set_interior(R, R->value_out);
    if ((ret = tec_img_synthesis(j->m, R->patch, R->lh, R->lw, R->xhat, j->ws)) < 0)
        return ret;
    *cost = 8.0 * (double)size + j->lambda * distortion(R, 0);
    return 0;
}

double tec_refine_rate_gradient(double v, double s)
{
    const double a = (0.5 - fabs(v)) / s, b = (-0.5 - fabs(v)) / s;
    const double p = 0.5 * erfc_approx(-a * SQRT1_2) - 0.5 * erfc_approx(-b * SQRT1_2);
    if (p < LIKELIHOOD_MIN)
        return 0.0;
    const double density = (tec_repro_exp(-0.5 * a * a) - tec_repro_exp(-0.5 * b * b)) *
                           INV_SQRT_2PI;
    const double g = density / (s * p * LN2);
    return v < 0 ? -g : g;
}

int tec_refine_block(const TecRefineJob *j, float *yg)
{
    const TecImageModel *m = j->m;
    Refiner R;
    int ret = refiner_init(&R, j, 1);
    double best_cost;
    if (ret < 0 || (ret = true_cost(&R, yg, &best_cost)) < 0)
        goto done;
    const size_t nm = (size_t)m->m * R.n;
    for (size_t i = 0; i < nm; i++) {
        const double s = R.scale_out[i] / 256.0;
        R.mu[i] = (float)(R.mean_out[i] / 256.0);
        R.sigma[i] = (float)(s < SCALE_MIN ? SCALE_MIN : s);
    }
    memcpy(R.best, yg, nm * sizeof(float));
    float *parts[TEC_IMG_MAX_LEVELS - 1];
    tec_sgrad_tape_split(m, R.lh, R.lw, R.tape, parts);
    /* The objective per sample, as the prototype's Adam saw it. */
    const double per_sample = 1.0 / ((double)j->group->count * j->rows * j->cols);
    double beta1_t = 1.0, beta2_t = 1.0;
    for (int step = 1; step <= j->steps; step++) {
        /* The decoded values under the fixed parameters, the gradient
         * passing the rounding straight through. */
        for (size_t i = 0; i < nm; i++)
            R.value_out[i] = (float)tec_fc_quantise_latent(yg[i] - R.mu[i]) + R.mu[i];
        set_interior(&R, R.value_out);
        if ((ret = tec_img_synthesis_taped(m, R.patch, R.lh, R.lw, R.xhat, parts, j->ws)) < 0)
            goto done;
        distortion(&R, 1);
        if ((ret = tec_sgrad_backward(j->sg, R.tape, R.lh, R.lw, R.grad_xn, R.grad_y, j->ws)) < 0)
            goto done;
        beta1_t *= ADAM_BETA1;
        beta2_t *= ADAM_BETA2;
        for (int c = 0; c < m->m; c++)
            for (int y = 0; y < R.bh; y++)
                for (int x = 0; x < R.bw; x++) {
                    const size_t i = ((size_t)c * R.bh + y) * R.bw + x;
                    const float gd = R.grad_y[((size_t)c * R.lh + j->halo + y) * R.lw + j->halo + x];
                    const double g = (tec_refine_rate_gradient(yg[i] - R.mu[i], R.sigma[i]) +
                                      j->lambda * gd * j->igain[c]) * per_sample;
                    R.adam_m[i] = (float)(ADAM_BETA1 * R.adam_m[i] + (1 - ADAM_BETA1) * g);
                    R.adam_v[i] = (float)(ADAM_BETA2 * R.adam_v[i] + (1 - ADAM_BETA2) * g * g);
                    const double mh = R.adam_m[i] / (1 - beta1_t), vh = R.adam_v[i] / (1 - beta2_t);
                    yg[i] -= (float)(LEARNING_RATE * mh / (sqrt(vh) + ADAM_EPS));
                }
        if (step % CHECK_EVERY == 0 || step == j->steps) {
            double cost;
            if ((ret = true_cost(&R, yg, &cost)) < 0)
                goto done;
            if (cost < best_cost) {
                best_cost = cost;
                memcpy(R.best, yg, nm * sizeof(float));
            }
        }
    }
    memcpy(yg, R.best, nm * sizeof(float));
done:
    refiner_free(&R);
    return ret;
}

int tec_refine_cost(const TecRefineJob *j, const float *yg, double *cost)
{
    Refiner R;
    int ret = refiner_init(&R, j, 0);
    if (ret >= 0)
        ret = true_cost(&R, yg, cost);
    refiner_free(&R);
    return ret;
}
