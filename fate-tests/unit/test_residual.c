/* The error-bounded residual coder: every decoded value within max_error
 * of the source (exactly the source at 0), the decoder reproducing the
 * encoder's decoded plane, rows handed over between stripes, flat and
 * replicated areas in few bits, and damaged data refused without reading
 * or writing out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "residual.h"
#include "test.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* Laplacian-ish noise of scale s around a slow ramp, or the extremes. */
static void make_plane(int32_t *u, int w, int h, int kind)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int32_t v;
            switch (kind) {
            case 0: v = (int32_t)(rnd() % 41) - 20 + (int32_t)(rnd() % 41) - 20; break;
            case 1: v = (x / 6) * 3 - (y / 6) * 2 + (int32_t)((x / 6 * 7919u + y / 6 * 104729u) % 7) - 3; break;  /* smooth 6 x 6 blocks */
            case 2: v = 0; break;
            case 3: v = rnd() & 1 ? TEC_RESIDUAL_MAX : -TEC_RESIDUAL_MAX; break;
            default: v = (int32_t)(rnd() % (2 * TEC_RESIDUAL_MAX + 1)) - TEC_RESIDUAL_MAX; break;
            }
            u[y * w + x] = v;
        }
}

/* Codes and decodes one plane; returns the coded bits per value (or -1). */
static double round_trip(const int32_t *u, int w, int h, int e, int pred, const int32_t *above,
                         int32_t *dec_out)
{
    TecBitBuffer bits = { 0 };
    int32_t *enc = calloc((size_t)w * h, sizeof(*enc)), *dec = calloc((size_t)w * h, sizeof(*dec));
    int bad = 0;

    CHECK_EQ_INT(tec_residual_encode(u, w, h, w, e, pred, above, &bits, enc), 0);
    CHECK_EQ_INT(tec_residual_decode(bits.data, bits.size, w, h, w, e, pred, above, dec), 0);
    for (int i = 0; i < w * h; i++)
        bad += llabs((long long)enc[i] - u[i]) > e || enc[i] != dec[i];
    CHECK_EQ_INT(bad, 0);
    /* one byte short: refused (or, if the last byte held only padding,
     * the same plane), never out of bounds */
    if (bits.size > 0) {
        int32_t *cut = calloc((size_t)w * h, sizeof(*cut));
        const int ret = tec_residual_decode(bits.data, bits.size - 1, w, h, w, e, pred, above, cut);
        CHECK(ret == TEC_EBITSTREAM || (ret == 0 && !memcmp(cut, dec, (size_t)w * h * 4)));
        free(cut);
    }
    if (dec_out)
        memcpy(dec_out, dec, (size_t)w * h * sizeof(*dec));
    const double bpv = bits.size * 8.0 / (w * h);
    free(bits.data);
    free(enc);
    free(dec);
    return bpv;
}

int main(void)
{
    static const int sizes[][2] = { { 1, 1 }, { 1, 9 }, { 9, 1 }, { 2, 2 }, { 37, 23 }, { 96, 64 } };
    static const int errors[] = { 0, 1, 2, 4, 16, TEC_RESIDUAL_MAX_ERROR };

    for (int k = 0; k < 5; k++)
        for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++)
            for (size_t e = 0; e < sizeof(errors) / sizeof(*errors); e++)
                for (int pred = 0; pred <= 1; pred++) {
                    const int w = sizes[s][0], h = sizes[s][1];
                    int32_t *u = malloc((size_t)w * h * sizeof(*u));
                    make_plane(u, w, h, k);
                    round_trip(u, w, h, errors[e], pred, NULL, NULL);
                    free(u);
                }

    /* Compactness: zeros and 6 x 6 blocks cost far less than noise. */
    {
        const int w = 192, h = 120;
        int32_t *u = malloc((size_t)w * h * sizeof(*u));
        make_plane(u, w, h, 2);
        const double flat = round_trip(u, w, h, 0, 1, NULL, NULL);
        make_plane(u, w, h, 1);
        const double blocks = round_trip(u, w, h, 0, 1, NULL, NULL);
        make_plane(u, w, h, 0);
        const double noise_med = round_trip(u, w, h, 0, 1, NULL, NULL);
        const double noise = round_trip(u, w, h, 0, 0, NULL, NULL);
        const double noise4 = round_trip(u, w, h, 4, 0, NULL, NULL);
        printf("bits per value: zeros %.3f, smooth 6x6 blocks %.3f, noise %.2f (median "
               "predictor %.2f, E=4: %.2f)\n", flat, blocks, noise, noise_med, noise4);
        CHECK(flat < 0.01);
        /* two uniform(-20..20): entropy 6.1 bits; a neighbour's prediction
         * adds its noise */
        CHECK(noise > 6.0 && noise < 6.8);
        CHECK(noise < noise_med);
        CHECK(noise4 < noise - 2);  /* step 9: about log2(9) bits less */
        free(u);
    }

    /* A plane coded in two stripes, the second given the first's last
     * decoded row, decodes like that. */
    {
        const int w = 50, h = 40, h1 = 17;
        int32_t *u = malloc((size_t)w * h * sizeof(*u)), *top = malloc((size_t)w * h1 * 4);
        make_plane(u, w, h, 0);
        round_trip(u, w, h1, 1, 1, NULL, top);
        round_trip(u + w * h1, w, h - h1, 1, 1, top + w * (h1 - 1), NULL);
        free(u);
        free(top);
    }

    /* Garbage: any bytes decode or fail, within bounds (ASan checks). */
    for (int t = 0; t < 200; t++) {
        const int w = 1 + rnd() % 40, h = 1 + rnd() % 20, e = rnd() % 3, pred = rnd() % 2;
        const size_t n = rnd() % 64;
        uint8_t *junk = malloc(n ? n : 1);
        int32_t *dec = malloc((size_t)w * h * sizeof(*dec));
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)rnd();
        const int ret = tec_residual_decode(junk, n, w, h, w, e, pred, NULL, dec);
        CHECK(ret == 0 || ret == TEC_EBITSTREAM);
        free(junk);
        free(dec);
    }
    CHECK_EQ_INT(tec_residual_encode(NULL, 0, 1, 1, 0, 0, NULL, NULL, NULL), TEC_EINVAL);
    CHECK_EQ_INT(tec_residual_decode(NULL, 0, 4, 4, 4, TEC_RESIDUAL_MAX_ERROR + 1, 0, NULL, NULL),
                 TEC_EINVAL);
    CHECK_EQ_INT(tec_residual_decode(NULL, 0, 4, 4, 4, 0, 2, NULL, NULL), TEC_EINVAL);
    return test_report("residual");
}
