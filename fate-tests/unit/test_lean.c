/* Leans of inter blocks (lean.h): the mean rule, the table's round trip and
 * what a decoder refuses, the encoder's fit. */
#include <string.h>

#include "lean.h"
#include "tec/tec.h"
#include "test.h"

static void test_mean_rule(void)
{
    /* mu + floor((l (r - mu) + 8) / 16), Q8. */
    CHECK_EQ_INT(tec_lean_mean(0, 1600, 16), 1600);        /* all the way */
    CHECK_EQ_INT(tec_lean_mean(0, 1600, 8), 800);          /* half */
    CHECK_EQ_INT(tec_lean_mean(100, 100, 32), 100);        /* at the reference: no move */
    CHECK_EQ_INT(tec_lean_mean(0, 1, 8), 1);               /* floor((8 + 8) / 16) = 1 */
    CHECK_EQ_INT(tec_lean_mean(0, -1, 8), 0);              /* floor((-8 + 8) / 16) = 0 */
    CHECK_EQ_INT(tec_lean_mean(0, -3, 8), -1);             /* floor((-24 + 8) / 16) = -1 */
    CHECK_EQ_INT(tec_lean_mean(0, 3, -16), -3);            /* away from the reference */
    CHECK_EQ_INT(tec_lean_mean(INT32_MAX, -INT32_MAX, -16), INT32_MAX);   /* clamped */
    CHECK_EQ_INT(tec_lean_mean(-INT32_MAX, INT32_MAX, -16), -INT32_MAX);
}

static void test_table(void)
{
    enum { M = 19 };
    int8_t lean[M] = { 0 }, back[M];
    uint8_t buf[64];
    size_t used;
    char why[128];

    /* No lean: one byte of form 0. */
    CHECK_EQ_INT(tec_lean_table_size(lean, M), 1);
    tec_lean_table_write(lean, M, buf);
    CHECK_EQ_INT(buf[0], 0);
    CHECK_EQ_INT(tec_lean_table_read(buf, 1, M, back, &used, why, sizeof(why)), 0);
    CHECK_EQ_INT(used, 1);

    lean[0] = 5;
    lean[9] = -16;
    lean[18] = 32;
    const size_t n = tec_lean_table_size(lean, M);
    CHECK_EQ_INT(n, 1 + 3 + 3);
    memset(buf, 0xee, sizeof(buf));
    tec_lean_table_write(lean, M, buf);
    memset(back, 7, sizeof(back));
    CHECK_EQ_INT(tec_lean_table_read(buf, sizeof(buf), M, back, &used, why, sizeof(why)), 0);
    CHECK_EQ_INT(used, n);
    CHECK(!memcmp(lean, back, M));

    /* Every cut refuses, never reads past the size. */
    for (size_t cut = 0; cut < n; cut++)
        CHECK_EQ_INT(tec_lean_table_read(buf, cut, M, back, &used, why, sizeof(why)), TEC_EBITSTREAM);

    uint8_t bad[64];
    memcpy(bad, buf, n);
    bad[0] = 2;                                      /* unknown form */
    CHECK_EQ_INT(tec_lean_table_read(bad, n, M, back, &used, why, sizeof(why)), TEC_EBITSTREAM);
    memcpy(bad, buf, n);
    bad[3] |= 0x08;                                  /* bit of channel 19: past the last */
    CHECK_EQ_INT(tec_lean_table_read(bad, n, M, back, &used, why, sizeof(why)), TEC_EBITSTREAM);
    memcpy(bad, buf, n);
    bad[4] = 0;                                      /* a present lean of 0 */
    CHECK_EQ_INT(tec_lean_table_read(bad, n, M, back, &used, why, sizeof(why)), TEC_EBITSTREAM);
    memcpy(bad, buf, n);
    bad[6] = 33;                                     /* out of range */
    CHECK_EQ_INT(tec_lean_table_read(bad, n, M, back, &used, why, sizeof(why)), TEC_EBITSTREAM);
    memcpy(bad, buf, n);
    bad[5] = (uint8_t)-17;
    CHECK_EQ_INT(tec_lean_table_read(bad, n, M, back, &used, why, sizeof(why)), TEC_EBITSTREAM);
    const uint8_t empty_form1[4] = { 1, 0, 0, 0 };  /* form 1 with no channel */
    CHECK_EQ_INT(tec_lean_table_read(empty_form1, 4, M, back, &used, why, sizeof(why)), TEC_EBITSTREAM);
}

static void test_choose(void)
{
    /* Latents y = mu + b d exactly (w = 1): the fit finds b. */
    TecLeanSums s[4];
    const double b[4] = { 0.5, 1.0, -0.25, 0.02 };
    for (int c = 0; c < 4; c++) {
        s[c].ed = s[c].dd = 0;
        for (int i = 1; i <= 200; i++) {
            const double d = (i % 7) - 3.0, e = b[c] * d;
            s[c].ed += e * d;
            s[c].dd += d * d;
        }
    }
    int8_t lean[4];
    double saving;
    CHECK_EQ_INT(tec_lean_choose(s, 4, lean, &saving), 3);
    CHECK_EQ_INT(lean[0], 8);
    CHECK_EQ_INT(lean[1], 16);
    CHECK_EQ_INT(lean[2], -4);
    CHECK_EQ_INT(lean[3], 0);                        /* rounds to 0 */
    CHECK(saving > 0);
    /* Too little to gain: no lean. */
    TecLeanSums tiny = { 0.5, 1.0 };
    CHECK_EQ_INT(tec_lean_choose(&tiny, 1, lean, &saving), 0);
    CHECK_EQ_INT(lean[0], 0);
    TecLeanSums none = { 0, 0 };
    CHECK_EQ_INT(tec_lean_choose(&none, 1, lean, &saving), 0);
}

int main(void)
{
    test_mean_rule();
    test_table();
    test_choose();
    return test_report("lean");
}
