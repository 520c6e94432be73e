/* Interpolated bands: finding them stripe by stripe, the packet section's
 * round trip and its damage, the decoder's projection. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "interpolation.h"
#include "tec/tec.h"
#include "test.h"

enum { BANDS = 6, W = 50, H = 37, STRIPE = 16 };

static uint64_t rng_state = 7;

static uint32_t rng_next(void)
{
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(rng_state >> 33);
}

typedef struct Axis {
    int factor, phase2;      /* factor 0: every pixel its own value */
} Axis;

/* Positions (in pixels) of the knot below pixel i and the weight of the
 * knot above, for knots at phase2 / 2 + k * factor. */
static void knot_of(const Axis *a, int i, int *k, double *t)
{
    const double pos = (i - a->phase2 / 2.0) / a->factor;
    const int below = (int)(pos + 8.0) - 8;      /* floor for pos > -8 */
    *k = below + 4;                              /* index into the knot grid */
    *t = pos - below;
}

/* A band resampled bilinearly from a random coarse grid, rounded; or
 * random noise when the axes have no factor. */
static void make_band(uint16_t *band, Axis ay, Axis ax, int lo, int hi)
{
    double coarse[64][64];
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 64; j++)
            coarse[i][j] = lo + (double)(rng_next() % (unsigned)(hi - lo));
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            if (!ay.factor) {
                band[y * W + x] = (uint16_t)(lo + rng_next() % (unsigned)(hi - lo));
                continue;
            }
            int ky, kx;
            double ty, tx;
            knot_of(&ay, y, &ky, &ty);
            knot_of(&ax, x, &kx, &tx);
            const double top = coarse[ky][kx] * (1 - tx) + coarse[ky][kx + 1] * tx;
            const double bottom = coarse[ky + 1][kx] * (1 - tx) + coarse[ky + 1][kx + 1] * tx;
            band[y * W + x] = (uint16_t)(top * (1 - ty) + bottom * ty + 0.5);
        }
}

static const Axis layout[BANDS][2] = {
    { { 6, 7 }, { 6, 1 } },      /* 60 m, phases as in SSL4EO-S12 */
    { { 0, 0 }, { 0, 0 } },      /* 10 m: not interpolated */
    { { 2, 3 }, { 2, 1 } },      /* 20 m */
    { { 2, 3 }, { 2, 1 } },      /* the same as band 2 */
    { { 3, 4 }, { 3, 0 } },      /* 60 m on a 20 m grid, knots on pixels */
    { { 2, 0 }, { 2, 2 } },      /* 20 m, knots on pixels */
};

static void make_frame(uint16_t *frame)
{
    for (int b = 0; b < BANDS; b++)
        make_band(frame + (size_t)b * H * W, layout[b][0], layout[b][1], 200, 9000);
}

static void scan(TecInterpolation *r, const uint16_t *frame)
{
    tec_interp_scan_begin(r);
    for (int y0 = 0; y0 < H; y0 += STRIPE)
        tec_interp_scan_stripe(r, frame + (size_t)y0 * W, W, (ptrdiff_t)H * W, y0,
                               H - y0 < STRIPE ? H - y0 : STRIPE);
    tec_interp_scan_end(r);
}

static double band_sse(const uint16_t *a, const uint16_t *b)
{
    double s = 0;
    for (int i = 0; i < H * W; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s;
}

static void test_scan_and_section(void)
{
    static uint16_t frame[BANDS * H * W];
    make_frame(frame);
    TecInterpolation enc, dec;
    CHECK_EQ_INT(tec_interp_init(&enc, BANDS, W, H, STRIPE), 0);
    CHECK_EQ_INT(tec_interp_init(&dec, BANDS, W, H, 0), 0);
    scan(&enc, frame);
    for (int b = 0; b < BANDS; b++) {
        const uint8_t *p = enc.params + 4 * b;
        CHECK_EQ_INT(p[0], layout[b][0].factor);
        if (layout[b][0].factor) {
            CHECK_EQ_INT(p[1], layout[b][0].phase2);
            CHECK_EQ_INT(p[2], layout[b][1].factor);
            CHECK_EQ_INT(p[3], layout[b][1].phase2);
        }
    }
    /* Band 3 refers to band 2: 1 byte; the others 1 + 4 or 1. */
    const size_t size = tec_interp_size(&enc);
    CHECK_EQ_INT(size, 6 + 4 * 4);
    uint8_t sec[64];
    tec_interp_write(&enc, sec);
    CHECK_EQ_INT(sec[11], 2 + 2);   /* after band 0 (5 bytes), 1 (1), 2 (5) */
    size_t used = 0;
    char err[128];
    CHECK_EQ_INT(tec_interp_read(&dec, sec, size, NULL, &used, err, sizeof(err)), 0);
    CHECK_EQ_INT(used, size);
    CHECK(!memcmp(dec.params, enc.params, BANDS * 4));
    for (size_t cut = 0; cut < size; cut++)
        CHECK_EQ_INT(tec_interp_read(&dec, sec, cut, NULL, &used, err, sizeof(err)), TEC_EBITSTREAM);

    /* Malformed sections. */
    static const struct { int at; uint8_t value; } damage[] = {
        { 1, 1 },       /* band 0's row factor 1 */
        { 1, 17 },      /* above the largest factor */
        { 2, 12 },      /* phase 6 pixels with factor 6 */
        { 4, 16 },      /* column phase past 2 * 6 */
        { 0, 3 },       /* band 0 refers to band 1 */
        { 5, 3 },       /* band 1 refers to band 1 */
        { 0, 9 },       /* unknown kind (a band after it) */
    };
    for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
        uint8_t bad[64];
        memcpy(bad, sec, size);
        bad[damage[i].at] = damage[i].value;
        CHECK_EQ_INT(tec_interp_read(&dec, bad, size, NULL, &used, err, sizeof(err)), TEC_EBITSTREAM);
    }
    const uint8_t none[BANDS] = { 0 };
    CHECK_EQ_INT(tec_interp_read(&dec, none, BANDS, NULL, &used, err, sizeof(err)), TEC_EBITSTREAM);
    uint8_t replicated[BANDS] = { 0 };
    replicated[4] = 1;
    CHECK_EQ_INT(tec_interp_read(&dec, sec, size, replicated, &used, err, sizeof(err)), TEC_EBITSTREAM);
    replicated[4] = 0;
    replicated[1] = 1;   /* band 1 is not interpolated: no conflict */
    CHECK_EQ_INT(tec_interp_read(&dec, sec, size, replicated, &used, err, sizeof(err)), 0);

    /* Random bytes: a clean accept or reject, never a read past size. */
    for (int trial = 0; trial < 2000; trial++) {
        uint8_t junk[32];
        const size_t n = rng_next() % sizeof(junk);
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)(rng_next() % 4 == 0 ? rng_next() : rng_next() % 8);
        uint8_t *exact = malloc(n ? n : 1);
        memcpy(exact, junk, n);
        int ret = tec_interp_read(&dec, exact, n, NULL, &used, err, sizeof(err));
        CHECK(ret == 0 ? used <= n : ret == TEC_EBITSTREAM);
        free(exact);
    }

    /* An incomplete scan finds nothing. */
    tec_interp_scan_begin(&enc);
    tec_interp_scan_stripe(&enc, frame, W, (ptrdiff_t)H * W, 0, STRIPE);
    tec_interp_scan_end(&enc);
    CHECK(!tec_interp_any(&enc));
    /* Stripes out of order are ignored, so the scan is incomplete. */
    tec_interp_scan_begin(&enc);
    tec_interp_scan_stripe(&enc, frame + STRIPE * W, W, (ptrdiff_t)H * W, STRIPE, STRIPE);
    tec_interp_scan_end(&enc);
    CHECK(!tec_interp_any(&enc));
    tec_interp_free(&enc);
    tec_interp_free(&dec);
}

/* The projection keeps an interpolated band (up to its rounding), and
 * removes most of added noise, stripe by stripe. */
static void test_projection(void)
{
    static uint16_t frame[BANDS * H * W], noisy[BANDS * H * W];
    make_frame(frame);
    TecInterpolation r;
    CHECK_EQ_INT(tec_interp_init(&r, BANDS, W, H, STRIPE), 0);
    scan(&r, frame);
    for (int i = 0; i < BANDS * H * W; i++)
        noisy[i] = (uint16_t)(frame[i] + (int)(rng_next() % 401) - 200);
    uint16_t *kept = malloc(sizeof(frame));
    memcpy(kept, frame, sizeof(frame));
    for (int b = 0; b < BANDS; b++)
        for (int y0 = 0; y0 < H; y0 += STRIPE) {
            const int rows = H - y0 < STRIPE ? H - y0 : STRIPE;
            tec_interp_apply(&r, b, kept + ((size_t)b * H + y0) * W, W, y0, rows);
            tec_interp_apply(&r, b, noisy + ((size_t)b * H + y0) * W, W, y0, rows);
        }
    for (int b = 0; b < BANDS; b++) {
        const uint16_t *src = frame + (size_t)b * H * W;
        int moved = 0;
        for (int i = 0; i < H * W; i++) {
            const int d = abs((int)kept[(size_t)b * H * W + i] - src[i]);
            moved = d > moved ? d : moved;
        }
        CHECK(moved <= 1);
        /* Noise variance 401^2/12; kept after the projection: about 1/4 of
         * it for factor 2, less for 3 and 6 (more near the stripes' edges). */
        const double after = band_sse(noisy + (size_t)b * H * W, src) / (H * W);
        if (layout[b][0].factor)
            CHECK(after < 0.5 * 401.0 * 401.0 / 12);
        else
            CHECK(after > 0.9 * 401.0 * 401.0 / 12);
    }
    free(kept);
    tec_interp_free(&r);
}

int main(void)
{
    test_scan_and_section();
    test_projection();
    return test_report("test_interpolation");
}
