/* Replicated pixels: finding the blocks, the packet section's round trip
 * and its damage, the averaging over blocks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replication.h"
#include "tec/tec.h"
#include "test.h"

enum { BANDS = 5, W = 50, H = 37 };

static uint64_t rng_state = 1;

static uint32_t rng_next(void)
{
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(rng_state >> 33);
}

/* Source line of each line: runs of `period` lines from `phase`, or the
 * irregular runs below when period is 0, or every line its own (period 1). */
static void line_source(int n, int period, int phase, int *src)
{
    static const int runs[] = { 1, 3, 2, 1, 4, 2, 2, 1, 3 };
    for (int i = 0, k = 0, left = runs[0]; i < n; i++) {
        if (period)
            src[i] = (i + phase) / period;
        else {
            src[i] = k;
            if (--left == 0) {
                k++;
                left = runs[k % 9];
            }
        }
    }
}

typedef struct Layout {
    int row_period, row_phase, col_period, col_phase;
} Layout;

/* Band b of the frame follows layout[b]: samples random per block. */
static void make_frame(uint16_t *frame, const Layout *layout)
{
    for (int b = 0; b < BANDS; b++) {
        int rs[H], cs[W];
        line_source(H, layout[b].row_period, layout[b].row_phase, rs);
        line_source(W, layout[b].col_period, layout[b].col_phase, cs);
        uint16_t blocks[H][W];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                blocks[y][x] = (uint16_t)(rng_next() % 5000);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                frame[((size_t)b * H + y) * W + x] = blocks[rs[y]][cs[x]];
    }
}

/* The maps the scan must find: line i continues when its source line is
 * the one before's. */
static int expect_same(int period, int phase, int n, int i)
{
    int src[64];
    line_source(n, period, phase, src);
    return i > 0 && src[i] == src[i - 1];
}

static void test_scan_and_section(void)
{
    const Layout layout[BANDS] = {
        { 6, 3, 6, 1 },      /* 60 m: periodic, odd phase */
        { 1, 0, 1, 0 },      /* 10 m: nothing */
        { 2, 1, 2, 0 },      /* 20 m */
        { 0, 0, 0, 0 },      /* irregular: explicit maps */
        { 2, 1, 2, 0 },      /* the same as band 2 */
    };
    static uint16_t frame[BANDS * H * W];
    make_frame(frame, layout);

    TecReplication r, back;
    CHECK(tec_repl_init(&r, BANDS, W, H) == 0);
    CHECK(tec_repl_init(&back, BANDS, W, H) == 0);
    /* In stripes of uneven height, with a repeated row range: as a row
     * source delivers them. */
    tec_repl_scan_begin(&r);
    for (int y0 = 0; y0 < H; y0 += 7) {
        const int rows = H - y0 < 11 ? H - y0 : 11;
        tec_repl_scan_rows(&r, frame + (size_t)y0 * W, W, (ptrdiff_t)H * W, y0, rows);
    }
    tec_repl_scan_end(&r);
    int maps_ok = 1;
    for (int b = 0; b < BANDS; b++) {
        for (int y = 0; y < H; y++)
            maps_ok &= r.row_same[b * H + y] ==
                       expect_same(layout[b].row_period, layout[b].row_phase, H, y);
        for (int x = 0; x < W; x++)
            maps_ok &= r.col_same[b * W + x] ==
                       expect_same(layout[b].col_period, layout[b].col_phase, W, x);
    }
    CHECK(maps_ok);
    CHECK(r.active[0] && !r.active[1] && r.active[2] && r.active[3] && r.active[4]);
    CHECK(tec_repl_any(&r));

    /* Band 0: kind + two periodic maps; band 1: kind; band 2: periodic;
     * band 3: explicit maps; band 4: a reference to band 2. */
    const size_t size = tec_repl_size(&r);
    CHECK_EQ_INT(size, 7 + 1 + 7 + (1 + 1 + (H + 7) / 8 + 1 + (W + 7) / 8) + 1);
    uint8_t buf[256];
    memset(buf, 0xAA, sizeof(buf));
    tec_repl_write(&r, buf);
    CHECK_EQ_INT(buf[size], 0xAA);
    CHECK_EQ_INT(buf[size - 1], 2 + 2);
    size_t used = 0;
    CHECK(tec_repl_read(&back, buf, size + 10, &used, NULL, 0) == 0);
    CHECK_EQ_INT(used, size);
    CHECK(!memcmp(back.row_same, r.row_same, BANDS * H));
    CHECK(!memcmp(back.col_same, r.col_same, BANDS * W));
    CHECK(!memcmp(back.active, r.active, BANDS));

    /* Every truncation is an error, never a read past the end. */
    int truncated_ok = 1;
    for (size_t n = 0; n < size; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        truncated_ok &= tec_repl_read(&back, copy, n, &used, NULL, 0) == TEC_EBITSTREAM;
        free(copy);
    }
    CHECK(truncated_ok);

    /* Malformed sections. */
    char err[128];
    const uint8_t bad_period[] = { 1, 1, 1, 0, 0 };          /* period 1 */
    const uint8_t bad_phase[] = { 1, 1, 4, 4, 0 };           /* phase >= period */
    const uint8_t bad_form[] = { 1, 3, 0 };
    const uint8_t one_pixel[] = { 1, 0, 0, 0, 0, 0, 0 };     /* maps without blocks */
    const uint8_t forward_ref[] = { 3, 0, 0, 0, 0 };         /* band 0 refers to band 1 */
    const uint8_t none_ref[] = { 0, 2, 0, 0, 0 };            /* refers to a band without */
    const uint8_t all_none[] = { 0, 0, 0, 0, 0 };
    CHECK(tec_repl_read(&back, bad_period, sizeof(bad_period), &used, err, sizeof(err)) < 0);
    CHECK(tec_repl_read(&back, bad_phase, sizeof(bad_phase), &used, err, sizeof(err)) < 0);
    CHECK(tec_repl_read(&back, bad_form, sizeof(bad_form), &used, err, sizeof(err)) < 0);
    CHECK(tec_repl_read(&back, one_pixel, sizeof(one_pixel), &used, err, sizeof(err)) < 0);
    CHECK(tec_repl_read(&back, forward_ref, sizeof(forward_ref), &used, err, sizeof(err)) < 0);
    CHECK(tec_repl_read(&back, none_ref, sizeof(none_ref), &used, err, sizeof(err)) < 0);
    CHECK(tec_repl_read(&back, all_none, sizeof(all_none), &used, err, sizeof(err)) < 0);
    /* An explicit map with line 0 marked, or bits past the last line. */
    uint8_t explicit_map[64] = { 1, 2 };
    explicit_map[2] = 1;
    CHECK(tec_repl_read(&back, explicit_map, sizeof(explicit_map), &used, err, sizeof(err)) < 0);
    explicit_map[2] = 2;
    explicit_map[2 + (H + 7) / 8 - 1] = 0x80;
    CHECK(tec_repl_read(&back, explicit_map, sizeof(explicit_map), &used, err, sizeof(err)) < 0);

    /* Random bytes: an answer either way, and a valid one reads back. */
    int random_ok = 1;
    for (int t = 0; t < 2000; t++) {
        uint8_t junk[40];
        for (size_t i = 0; i < sizeof(junk); i++)
            junk[i] = (uint8_t)(rng_next() % (t & 1 ? 4 : 256));
        const int ret = tec_repl_read(&back, junk, sizeof(junk), &used, NULL, 0);
        random_ok &= ret == 0 ? used <= sizeof(junk) : ret == TEC_EBITSTREAM;
    }
    CHECK(random_ok);
    tec_repl_free(&back);
    tec_repl_free(&r);
}

static void test_apply(void)
{
    const Layout layout[BANDS] = {
        { 6, 3, 6, 1 }, { 1, 0, 1, 0 }, { 2, 1, 2, 0 }, { 0, 0, 0, 0 }, { 1, 0, 3, 2 },
    };
    static uint16_t frame[BANDS * H * W], decoded[BANDS * H * W];
    make_frame(frame, layout);
    TecReplication r;
    CHECK(tec_repl_init(&r, BANDS, W, H) == 0);
    tec_repl_scan_begin(&r);
    tec_repl_scan_rows(&r, frame, W, (ptrdiff_t)H * W, 0, H);
    tec_repl_scan_end(&r);

    /* A "reconstruction": the source plus noise, then averaged in stripes
     * of 16 rows.  The error only falls, blocks come out constant, and
     * each holds the rounded mean of its noisy samples. */
    int64_t err_before = 0, err_after = 0;
    for (size_t i = 0; i < sizeof(frame) / sizeof(frame[0]); i++) {
        const int v = frame[i] + (int)(rng_next() % 201) - 100;
        decoded[i] = (uint16_t)(v < 0 ? 0 : v);
        err_before += (int64_t)(decoded[i] - frame[i]) * (decoded[i] - frame[i]);
    }
    static uint16_t noisy[BANDS * H * W];
    memcpy(noisy, decoded, sizeof(noisy));
    enum { STRIPE = 16 };
    for (int y0 = 0; y0 < H; y0 += STRIPE)
        for (int b = 0; b < BANDS; b++)
            tec_repl_apply(&r, b, decoded + ((size_t)b * H + y0) * W, W, y0,
                           H - y0 < STRIPE ? H - y0 : STRIPE);
    for (size_t i = 0; i < sizeof(frame) / sizeof(frame[0]); i++)
        err_after += (int64_t)(decoded[i] - frame[i]) * (decoded[i] - frame[i]);
    CHECK(err_after < err_before);
    CHECK(!memcmp(decoded + W * H, noisy + W * H, (size_t)W * H * sizeof(uint16_t)));  /* band 1 */

    /* Band 0, the block of rows 3..8 (period 6, phase 3: cuts at 3, 9, ...)
     * and columns 5..10 (phase 1: cuts at 5, 11, ...): rows 3..8 lie in
     * stripe 0, columns 5..10. */
    uint64_t sum = 0;
    int constant = 1;
    for (int y = 3; y < 9; y++)
        for (int x = 5; x < 11; x++) {
            sum += noisy[y * W + x];
            constant &= decoded[y * W + x] == decoded[3 * W + 5];
        }
    CHECK(constant);
    CHECK_EQ_INT(decoded[3 * W + 5], (sum + 18) / 36);
    /* The block of rows 15..20 is cut by the stripe edge at row 16. */
    CHECK_EQ_INT(decoded[15 * W + 5], decoded[15 * W + 10]);
    sum = 0;
    for (int x = 5; x < 11; x++)
        sum += noisy[15 * W + x];
    CHECK_EQ_INT(decoded[15 * W + 5], (sum + 3) / 6);
    tec_repl_free(&r);
}

static void test_unscanned_rows(void)
{
    /* A frame whose rows did not all arrive has no blocks. */
    static uint16_t frame[BANDS * H * W];
    TecReplication r;
    CHECK(tec_repl_init(&r, BANDS, W, H) == 0);
    tec_repl_scan_begin(&r);
    tec_repl_scan_rows(&r, frame, W, (ptrdiff_t)H * W, 0, H - 1);
    tec_repl_scan_end(&r);
    CHECK(!tec_repl_any(&r));
    tec_repl_free(&r);
}

int main(void)
{
    test_scan_and_section();
    test_apply();
    test_unscanned_rows();
    return test_report("test_replication");
}
