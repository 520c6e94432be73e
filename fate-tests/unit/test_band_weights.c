/* Band weighting's narrowed spreads (band_weights.h): what the encoder
 * writes in place of a frame's own spreads, against the formula computed
 * with libm, and the properties the choice relies on. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tec/tec.h"
#include "band_weights.h"
#include "test.h"

/* round(g (s / g)^alpha) with libm, for comparison. */
static double reference(const uint16_t *s, int bands, double alpha, int b)
{
    double log_sum = 0;
    for (int i = 0; i < bands; i++)
        log_sum += log(s[i]);
    const double lg = log_sum / bands;
    return floor(exp(lg + alpha * (log(s[b]) - lg)) + 0.5);
}

int main(void)
{
    /* Spreads like those of a bright SSL4EO-S12 L2A frame (B01..B12, B8A
     * order of the source): red edge and NIR about ten times the visible
     * bands, the kind of frame the weighting is for. */
    static const uint16_t l2a[12] = { 112, 148, 187, 262, 640, 1210, 1390, 1456, 1580, 1012,
                                      731, 1498 };
    uint16_t out[TEC_MAX_BANDS];

    /* The candidates: the plain standardisation first, then narrower. */
    CHECK_EQ_INT(tec_bw_alpha_milli[0], 1000);
    for (int i = 1; i < TEC_BW_CANDIDATES; i++)
        CHECK(tec_bw_alpha_milli[i] < tec_bw_alpha_milli[i - 1] && tec_bw_alpha_milli[i] > 0);

    /* alpha 1: the frame's own spreads, untouched. */
    tec_bw_narrow(l2a, 12, 1000, out);
    CHECK(memcmp(out, l2a, sizeof(l2a)) == 0);

    for (int i = 1; i < TEC_BW_CANDIDATES; i++) {
        const int a = tec_bw_alpha_milli[i];
        tec_bw_narrow(l2a, 12, a, out);
        int off = 0;
        double log_in = 0, log_out = 0;
        for (int b = 0; b < 12; b++) {
            /* libm agrees but for a rounding tie at most */
            const double want = reference(l2a, 12, a / 1000.0, b);
            off += fabs(out[b] - want) > 1.0;
            log_in += log(l2a[b]);
            log_out += log(out[b]);
            /* each spread moves towards the mean, never past it */
            const double g = reference(l2a, 12, 0.0, b);   /* the geometric mean, rounded */
            CHECK(l2a[b] >= g ? out[b] <= l2a[b] && out[b] + 1 >= g
                              : out[b] >= l2a[b] && out[b] <= g + 1);
        }
        CHECK_EQ_INT(off, 0);
        /* the geometric mean stays (rounding moves it by well under 1%) */
        CHECK(fabs(log_out - log_in) / 12 < 0.01);
        /* the widest ratio shrinks to its alpha-th power */
        const double ratio = (double)out[8] / out[0], want = pow(1580.0 / 112.0, a / 1000.0);
        CHECK(fabs(ratio / want - 1) < 0.02);
    }

    /* Narrower exponents narrow more. */
    uint16_t prev[12];
    tec_bw_narrow(l2a, 12, tec_bw_alpha_milli[1], prev);
    for (int i = 2; i < TEC_BW_CANDIDATES; i++) {
        tec_bw_narrow(l2a, 12, tec_bw_alpha_milli[i], out);
        CHECK(out[8] <= prev[8] && out[0] >= prev[0]);
        memcpy(prev, out, sizeof(prev));
    }

    /* Equal spreads, and one band alone, stay as they are. */
    static const uint16_t flat[4] = { 300, 300, 300, 300 };
    tec_bw_narrow(flat, 4, 400, out);
    CHECK(memcmp(out, flat, sizeof(flat)) == 0);
    tec_bw_narrow(l2a + 5, 1, 550, out);
    CHECK_EQ_INT(out[0], l2a[5]);

    /* The floor holds, and the extremes stay in range: a band all nodata
     * (spread 8) beside a saturated one. */
    static const uint16_t edge[3] = { 8, 8, 65535 };
    tec_bw_narrow(edge, 3, 400, out);
    CHECK(out[0] >= TEC_BW_SPREAD_MIN && out[1] == out[0] && out[2] < 65535 && out[2] > out[0]);
    static const uint16_t floor8[2] = { 8, 8 };
    tec_bw_narrow(floor8, 2, 550, out);
    CHECK(out[0] == 8 && out[1] == 8);

    /* In place, as the encoder may call it. */
    uint16_t inplace[12];
    memcpy(inplace, l2a, sizeof(l2a));
    tec_bw_narrow(l2a, 12, 700, out);
    tec_bw_narrow(inplace, 12, 700, inplace);
    CHECK(memcmp(inplace, out, sizeof(out[0]) * 12) == 0);

    return test_report("band_weights");
}
