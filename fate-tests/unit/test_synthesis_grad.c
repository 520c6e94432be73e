/* The synthesis' backward pass (synthesis_grad.h) against central finite
 * differences of the forward one, on generated models with a random
 * inverse GDN: with and without the linear skip, 2 and 3 stages.  And the
 * refinement's rate gradient and lambda (refine.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "model_image.h"
#include "refine.h"
#include "synthesis_grad.h"
#include "test.h"
#include "tecw_gen.h"
#include "weights.h"

static TecImageModel *load(const TecwGenParams *p)
{
    char err[256];
    size_t size = 0;
    uint8_t *file = tecw_generate(p, &size);
    TecWeights *w = NULL;
    TecImageModel *m = NULL;
    if (tec_weights_parse(file, size, &w, err, sizeof(err)) || tec_img_load(&m, w, err, sizeof(err)))
        fprintf(stderr, "model: %s\n", err);
    tec_weights_free(&w);
    free(file);
    return m;
}

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (float)(1 << 24) * 2.0f - 1.0f;
}

/* sum c . synthesis(y), in double. */
static double functional(const TecImageModel *m, const float *y, int h, int w, const float *c,
                         float *xn, size_t nx, TecWorkspace *ws)
{
    if (tec_img_synthesis(m, y, h, w, xn, ws) < 0)
        return NAN;
    double sum = 0;
    for (size_t i = 0; i < nx; i++)
        sum += (double)c[i] * xn[i];
    return sum;
}

static void check_gradient(int levels, int skip)
{
    TecwGenParams p = tecw_gen_defaults();
    p.levels = levels;
    p.skip = skip;
    TecImageModel *m = load(&p);
    CHECK(m != NULL);
    if (!m)
        return;
    unsigned seed = 11u + (unsigned)levels * 7u + (unsigned)skip;
    /* The generator's GDN is close to the identity: make it bite. */
    for (int i = 0; i < m->levels - 1; i++)
        for (int a = 0; a < m->n; a++) {
            m->igdn[i].beta[a] = 0.5f + 0.5f * fabsf(frand(&seed));
            for (int b = 0; b < m->n; b++)
                m->igdn[i].gamma[a * m->n + b] = 0.2f * fabsf(frand(&seed));
        }
    enum { H = 3, W = 4 };
    const int D = m->downscale;
    const size_t ny = (size_t)m->m * H * W, nx = (size_t)m->slots * H * D * W * D;
    float *y = malloc(ny * sizeof(float)), *grad = malloc(ny * sizeof(float));
    float *c = malloc(nx * sizeof(float)), *xn = malloc(nx * sizeof(float));
    float *tape = malloc((tec_sgrad_tape_floats(m, H, W) + 1) * sizeof(float));
    float *parts[TEC_IMG_MAX_LEVELS - 1];
    TecWorkspace ws = { 0 };
    TecSynthGrad g;
    CHECK_EQ_INT(tec_sgrad_init(&g, m), 0);
    for (size_t i = 0; i < ny; i++)
        y[i] = 2.0f * frand(&seed);
    for (size_t i = 0; i < nx; i++)
        c[i] = frand(&seed);
    tec_sgrad_tape_split(m, H, W, tape, parts);
    CHECK_EQ_INT(tec_img_synthesis_taped(m, y, H, W, xn, parts, &ws), 0);
    CHECK_EQ_INT(tec_sgrad_backward(&g, tape, H, W, c, grad, &ws), 0);

    /* Every latent of one channel and a spread of the others. */
    double worst = 0, scale = 0;
    int tried = 0;
    for (size_t i = 0; i < ny; i += (i < (size_t)H * W ? 1 : 7)) {
        const float h = 1e-2f, keep = y[i];
        y[i] = keep + h;
        const double up = functional(m, y, H, W, c, xn, nx, &ws);
        y[i] = keep - h;
        const double down = functional(m, y, H, W, c, xn, nx, &ws);
        y[i] = keep;
        const double fd = (up - down) / (2.0 * h);
        worst = fmax(worst, fabs(fd - grad[i]));
        scale = fmax(scale, fabs(fd));
        tried++;
    }
    if (!(worst <= 1e-2 * scale + 1e-3))
        fprintf(stderr, "levels %d skip %d: backward off by %g (largest derivative %g, %d tried)\n",
                levels, skip, worst, scale, tried);
    CHECK(scale > 0);
    CHECK(worst <= 1e-2 * scale + 1e-3);
    tec_sgrad_free(&g);
    tec_ws_free(&ws);
    free(y); free(grad); free(c); free(xn); free(tape);
    tec_img_free(&m);
}

static void test_lambda(void)
{
    TecwGenParams p = tecw_gen_defaults();
    p.levels = 2;
    TecImageModel *m = load(&p);
    CHECK(m != NULL);
    if (!m)
        return;
    m->lambda_ratio_milli = 2250;
    m->quality_spread = 0;
    /* train.py: anchor i is 1500 x 2.25^(i - 3). */
    CHECK(fabs(tec_refine_lambda(m, 3 * 256, 500) - 1500.0) < 1e-9);
    CHECK(fabs(tec_refine_lambda(m, 4 * 256, 500) - 1500.0 * 2.25) < 1e-9);
    CHECK(fabs(tec_refine_lambda(m, 3 * 256 + 128, 500) - 1500.0 * 1.5) < 1e-9);
    /* Scaled by (reference spread / spread)^2, within 2.25^+-5. */
    m->quality_spread = 404;
    CHECK(fabs(tec_refine_lambda(m, 3 * 256, 808) - 1500.0 / 4) < 1e-9);
    CHECK(fabs(tec_refine_lambda(m, 3 * 256, 1) - 1500.0 * pow(2.25, 5)) < 1e-6);
    tec_img_free(&m);
}

/* -log2 P(round(v)) under N(0, s), with libm's erfc. */
static double bits_of(double v, double s)
{
    const double up = 0.5 * erfc(-(0.5 - fabs(v)) / (s * sqrt(2.0)));
    const double lo = 0.5 * erfc(-(-0.5 - fabs(v)) / (s * sqrt(2.0)));
    return -log2(up - lo);
}

static void test_rate_gradient(void)
{
    static const double vs[] = { 0.0, 0.1, -0.3, 0.49, 0.8, -1.7, 3.2, 6.0 };
    static const double ss[] = { 0.11, 0.5, 1.0, 4.0, 40.0 };
    double worst = 0;
    for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
        for (size_t k = 0; k < sizeof(ss) / sizeof(ss[0]); k++) {
            const double v = vs[i], s = ss[k], h = 1e-5;
            if (bits_of(fabs(v) + 1, s) > 29)  /* past the clamp */
                continue;
            const double fd = v == 0 ? 0 : (bits_of(v + h, s) - bits_of(v - h, s)) / (2 * h);
            const double g = tec_refine_rate_gradient(v, s);
            worst = fmax(worst, fabs(g - fd) / fmax(1.0, fabs(fd)));
            /* It always points away from the mean. */
            CHECK(v == 0 ? g == 0 : (g > 0) == (v > 0));
        }
    if (!(worst < 1e-3))
        fprintf(stderr, "rate gradient off by %g (relative)\n", worst);
    CHECK(worst < 1e-3);
    /* Far past the Gaussian: the clamped likelihood has no gradient. */
    CHECK(tec_refine_rate_gradient(100.0, 0.11) == 0.0);
}

int main(void)
{
    test_rate_gradient();
    check_gradient(2, 1);    /* the shipped architecture */
    check_gradient(2, 0);
    check_gradient(3, 1);
    test_lambda();
    return test_report("test_synthesis_grad");
}
