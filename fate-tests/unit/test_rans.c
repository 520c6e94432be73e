/* rANS coder: round trips, escapes, raw bits, corrupt input, cost model. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rans.h"
#include "tec/tec.h"
#include "test.h"

#define ONE (1u << TEC_RANS_PREC)

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state;

static void rng_seed(uint64_t seed) { rng_state = seed * 0x9E3779B97F4A7C15u + 1; }

/* splitmix64 */
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint32_t rng_below(uint32_t n) { return (uint32_t)(rng_next() % n); }

enum { SHAPE_RANDOM, SHAPE_SKEWED, SHAPE_UNIFORM, SHAPE_PEAKED, SHAPE_COUNT };

/* A table of n values (and the escape) whose frequencies follow shape. */
typedef struct Table {
    TecRansTable t;
    uint32_t *cdf;
} Table;

static void table_from_freqs(Table *tab, const uint32_t *freq, int32_t n, int32_t lo)
{
    tab->cdf = malloc((size_t)(n + 2) * sizeof(*tab->cdf));
    tab->cdf[0] = 0;
    for (int32_t s = 0; s <= n; s++)
        tab->cdf[s + 1] = tab->cdf[s] + freq[s];
    tab->t.cdf = tab->cdf;
    tab->t.n = n;
    tab->t.lo = lo;
}

static void table_make(Table *tab, int32_t n, int32_t lo, int shape)
{
    int32_t syms = n + 1;
    uint32_t *freq = malloc((size_t)syms * sizeof(*freq));
    uint32_t spare = ONE - (uint32_t)syms;  /* beyond the minimum of 1 each */

    for (int32_t s = 0; s < syms; s++)
        freq[s] = 1;
    if (shape == SHAPE_SKEWED) {
        freq[rng_below((uint32_t)syms)] += spare;  /* 65536 - n for one */
    } else {
        double *w = malloc((size_t)syms * sizeof(*w)), sum = 0;
        int32_t peak = (int32_t)rng_below((uint32_t)syms);
        double width = 1 + rng_below(20);
        for (int32_t s = 0; s < syms; s++) {
            if (shape == SHAPE_UNIFORM)
                w[s] = 1;
            else if (shape == SHAPE_PEAKED)
                w[s] = exp(-fabs((double)(s - peak)) / width);
            else
                w[s] = (double)rng_below(1000);
            sum += w[s];
        }
        uint32_t given = 0;
        for (int32_t s = 0; s < syms && sum > 0; s++) {
            uint32_t f = (uint32_t)(w[s] / sum * spare);
            freq[s] += f;
            given += f;
        }
        while (given < spare) {  /* rounding leftovers */
            freq[rng_below((uint32_t)syms)]++;
            given++;
        }
        free(w);
    }
    table_from_freqs(tab, freq, n, lo);
    free(freq);
}

static void table_free(Table *tab) { free(tab->cdf); }

/* A value outside t's range at a random distance that fits in int32. */
static int32_t random_escape(const TecRansTable *t)
{
    int64_t hi = (int64_t)t->lo + t->n - 1;
    for (;;) {
        int nbits = 1 + (int)rng_below(31);
        int64_t d = (int64_t)1 << (nbits - 1) | (int64_t)(rng_next() & (((uint64_t)1 << (nbits - 1)) - 1));
        int64_t v = rng_below(2) ? t->lo - d : hi + d;
        if (v >= INT32_MIN && v <= INT32_MAX)
            return (int32_t)v;
    }
}

/* A value distributed as the table says, escapes included. */
static int32_t random_value(const TecRansTable *t)
{
    uint32_t u = rng_below(ONE);
    int32_t s = 0;
    while (t->cdf[s + 1] <= u)
        s++;
    return s == t->n ? random_escape(t) : t->lo + s;
}

/* One coded item: a value with a table or k raw bits. */
typedef struct Item {
    const TecRansTable *t;
    int32_t value;
    int bits;
} Item;

static void put_item(TecRansEncoder *e, const Item *it)
{
    if (it->t)
        tec_rans_enc_put(e, it->t, it->value);
    else
        tec_rans_enc_put_bits(e, (uint32_t)it->value, it->bits);
}

static int32_t get_item(TecRansDecoder *d, const Item *it)
{
    if (it->t)
        return tec_rans_dec_get(d, it->t);
    return (int32_t)tec_rans_dec_get_bits(d, it->bits);
}

static int32_t expected(const Item *it)
{
    return it->t ? it->value : (int32_t)((uint32_t)it->value & ((1u << it->bits) - 1));
}

/* Encodes items, decodes them back and checks every value, that the
 * decoder consumed the whole stream and ended in the initial state.
 * Returns the coded size. */
static size_t round_trip(const Item *items, size_t count)
{
    TecRansEncoder e;
    TecRansDecoder d;
    const uint8_t *data;
    size_t size, bad = 0;

    tec_rans_enc_init(&e);
    for (size_t i = 0; i < count; i++)
        put_item(&e, &items[i]);
    CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);
    CHECK_EQ_INT(tec_rans_dec_init(&d, data, size), 0);
    for (size_t i = 0; i < count; i++) {
        int32_t v = get_item(&d, &items[i]);
        if (v != expected(&items[i]) && !bad++)
            fprintf(stderr, "item %zu of %zu: got %d, want %d\n", i, count, v, expected(&items[i]));
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(d.error, 0);
    CHECK(d.p == d.end);
    CHECK_EQ_INT(d.x, 1u << 23);
    tec_rans_enc_free(&e);
    return size;
}

/* ---- tests ------------------------------------------------------------ */

static void test_table_check(void)
{
    static const uint32_t ok[] = { 0, 100, 65535, 65536 };
    static const uint32_t one_value[] = { 0, 1, 65536 };
    static const uint32_t bad_first[] = { 1, 100, 65536 };
    static const uint32_t bad_last[] = { 0, 100, 65535 };
    static const uint32_t flat[] = { 0, 100, 100, 65536 };
    static const uint32_t falling[] = { 0, 200, 100, 65536 };
    TecRansTable t = { ok, 2, -5 };

    CHECK_EQ_INT(tec_rans_table_check(&t), 0);
    t = (TecRansTable){ one_value, 1, 7 };
    CHECK_EQ_INT(tec_rans_table_check(&t), 0);
    t = (TecRansTable){ one_value, 0, 7 };
    CHECK_EQ_INT(tec_rans_table_check(&t), TEC_EMODEL);
    t = (TecRansTable){ one_value, -3, 7 };
    CHECK_EQ_INT(tec_rans_table_check(&t), TEC_EMODEL);
    t = (TecRansTable){ bad_first, 1, 0 };
    CHECK_EQ_INT(tec_rans_table_check(&t), TEC_EMODEL);
    t = (TecRansTable){ bad_last, 1, 0 };
    CHECK_EQ_INT(tec_rans_table_check(&t), TEC_EMODEL);
    t = (TecRansTable){ flat, 2, 0 };
    CHECK_EQ_INT(tec_rans_table_check(&t), TEC_EMODEL);
    t = (TecRansTable){ falling, 2, 0 };
    CHECK_EQ_INT(tec_rans_table_check(&t), TEC_EMODEL);
    t = (TecRansTable){ NULL, 2, 0 };
    CHECK_EQ_INT(tec_rans_table_check(&t), TEC_EMODEL);

    /* The largest table: every symbol frequency 1. */
    Table big;
    uint32_t *freq = malloc(ONE * sizeof(*freq));
    for (uint32_t s = 0; s < ONE; s++)
        freq[s] = 1;
    table_from_freqs(&big, freq, (int32_t)ONE - 1, 0);
    CHECK_EQ_INT(tec_rans_table_check(&big.t), 0);
    big.t.n = (int32_t)ONE;  /* n + 1 symbols cannot all fit */
    CHECK_EQ_INT(tec_rans_table_check(&big.t), TEC_EMODEL);
    table_free(&big);
    free(freq);

    rng_seed(1);
    for (int shape = 0; shape < SHAPE_COUNT; shape++) {
        Table tab;
        table_make(&tab, 1 + (int32_t)rng_below(4000), 0, shape);
        CHECK_EQ_INT(tec_rans_table_check(&tab.t), 0);
        table_free(&tab);
    }
}

/* Hand-computed streams pin the byte format. */
static void test_known_streams(void)
{
    TecRansEncoder e;
    const uint8_t *data;
    size_t size;

    tec_rans_enc_init(&e);
    CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);
    {   /* no symbols: the initial state 2^23 */
        static const uint8_t want[] = { 0x00, 0x00, 0x80, 0x00 };
        CHECK_EQ_INT(size, sizeof(want));
        CHECK(size == sizeof(want) && !memcmp(data, want, size));
    }

    tec_rans_enc_reset(&e);
    tec_rans_enc_put_bits(&e, 1, 1);  /* x = (2^23 / 2^15) << 16 + 2^15 */
    CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);
    {
        static const uint8_t want[] = { 0x00, 0x80, 0x00, 0x01 };
        CHECK(size == sizeof(want) && !memcmp(data, want, size));
    }

    tec_rans_enc_reset(&e);
    tec_rans_enc_put_bits(&e, 0xAB, 8);  /* renormalises one byte first */
    CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);
    {
        static const uint8_t want[] = { 0x00, 0xAB, 0x80, 0x00, 0x00 };
        CHECK(size == sizeof(want) && !memcmp(data, want, size));
    }
    tec_rans_enc_free(&e);
}

/* Raw pieces are symbols of frequency 2^(16-k): a one-value table with two
 * equal halves codes its value as raw bit 0 and its escape as raw bit 1,
 * and an escape's payload is the documented raw fields. */
static void test_escape_layout(void)
{
    static const uint32_t halves[] = { 0, 32768, 65536 };
    const TecRansTable t = { halves, 1, 10 };
    TecRansEncoder a, b;
    const uint8_t *da, *db;
    size_t sa, sb;

    tec_rans_enc_init(&a);
    tec_rans_enc_init(&b);
    /* 10 in range; 11 is d = 1 above; 7 is d = 3 below; 10 + 0x1234 is
     * d = 0x1234: nbits 13, low bits 8 then 4. */
    tec_rans_enc_put(&a, &t, 10);
    tec_rans_enc_put(&a, &t, 11);
    tec_rans_enc_put(&a, &t, 7);
    tec_rans_enc_put(&a, &t, 10 + 0x1234);

    tec_rans_enc_put_bits(&b, 0, 1);
    tec_rans_enc_put_bits(&b, 1, 1);   /* escape */
    tec_rans_enc_put_bits(&b, 1, 5);   /* nbits 1, no low bits */
    tec_rans_enc_put_bits(&b, 0, 1);   /* above */
    tec_rans_enc_put_bits(&b, 1, 1);
    tec_rans_enc_put_bits(&b, 2, 5);   /* nbits 2 */
    tec_rans_enc_put_bits(&b, 1, 1);   /* low bit of 3 */
    tec_rans_enc_put_bits(&b, 1, 1);   /* below */
    tec_rans_enc_put_bits(&b, 1, 1);
    tec_rans_enc_put_bits(&b, 13, 5);
    tec_rans_enc_put_bits(&b, 0x23, 8);  /* bits 11..4 of 0x1234 */
    tec_rans_enc_put_bits(&b, 0x4, 4);   /* bits 3..0 */
    tec_rans_enc_put_bits(&b, 0, 1);

    CHECK_EQ_INT(tec_rans_enc_finish(&a, &da, &sa), 0);
    CHECK_EQ_INT(tec_rans_enc_finish(&b, &db, &sb), 0);
    CHECK_EQ_INT(sa, sb);
    CHECK(sa == sb && !memcmp(da, db, sa));
    tec_rans_enc_free(&a);
    tec_rans_enc_free(&b);
}

static void test_random_round_trips(void)
{
    static const int32_t sizes[] = { 1, 2, 3, 17, 255, 4000 };
    for (uint64_t seed = 1; seed <= 300; seed++) {
        rng_seed(seed);
        int ntab = 1 + (int)rng_below(4);
        Table tabs[4];
        for (int i = 0; i < ntab; i++) {
            int32_t n = rng_below(3) ? sizes[rng_below(6)] : 1 + (int32_t)rng_below(600);
            int32_t lo = (int32_t)rng_below(4001) - 2000;
            table_make(&tabs[i], n, lo, (int)rng_below(SHAPE_COUNT));
        }
        size_t count = seed % 10 == 0 ? 0 : rng_below(seed % 7 == 0 ? 50000 : 3000);
        Item *items = malloc((count + 1) * sizeof(*items));
        for (size_t i = 0; i < count; i++) {
            Item *it = &items[i];
            uint32_t kind = rng_below(100);
            it->t = NULL;
            if (kind < 8) {
                it->bits = 1 + (int)rng_below(16);
                it->value = (int32_t)(uint32_t)rng_next();
                continue;
            }
            it->t = &tabs[rng_below((uint32_t)ntab)].t;
            it->value = kind < 12 ? random_escape(it->t) : random_value(it->t);
        }
        round_trip(items, count);
        free(items);
        for (int i = 0; i < ntab; i++)
            table_free(&tabs[i]);
    }
}

static void test_every_symbol(void)
{
    rng_seed(2);
    for (int shape = 0; shape < SHAPE_COUNT; shape++) {
        Table tab;
        int32_t n = shape == SHAPE_SKEWED ? 4000 : 300;
        table_make(&tab, n, -123, shape);
        size_t count = 2 * (size_t)n;
        Item *items = malloc(count * sizeof(*items));
        for (int32_t s = 0; s < n; s++) {
            items[s] = (Item){ &tab.t, tab.t.lo + s, 0 };
            items[count - 1 - s] = (Item){ &tab.t, tab.t.lo + s, 0 };
        }
        round_trip(items, count);
        free(items);
        table_free(&tab);
    }
}

static void test_extreme_tables(void)
{
    rng_seed(3);
    /* One value whose symbol has 65535, the escape 1, and the reverse. */
    static const uint32_t sure[] = { 0, 65535, 65536 };
    static const uint32_t never[] = { 0, 1, 65536 };
    const TecRansTable ts = { sure, 1, 0 }, tn = { never, 1, 0 };
    Item items[3000];
    for (int i = 0; i < 3000; i++) {
        const TecRansTable *t = i % 3 ? &ts : &tn;
        items[i] = (Item){ t, rng_below(50) ? 0 : random_escape(t), 0 };
    }
    round_trip(items, 3000);

    /* A long run of near-certain symbols compresses to almost nothing. */
    Item *run = malloc(200000 * sizeof(*run));
    for (int i = 0; i < 200000; i++)
        run[i] = (Item){ &ts, 0, 0 };
    size_t size = round_trip(run, 200000);
    CHECK(size < 16);
    for (int i = 0; i < 200000; i++)
        run[i] = (Item){ &tn, 0, 0 };  /* 16 bits each */
    size = round_trip(run, 200000);
    CHECK(size >= 400000 && size <= 400008);
    free(run);
}

/* Distance of v outside t's range (0 inside). */
static int64_t escape_distance(const TecRansTable *t, int32_t v)
{
    int64_t hi = (int64_t)t->lo + t->n - 1;
    return v < t->lo ? t->lo - (int64_t)v : v > hi ? v - hi : 0;
}

static void test_escape_extremes(void)
{
    static const uint32_t cdf3[] = { 0, 20000, 40000, 60000, 65536 };
    const TecRansTable mid = { cdf3, 3, -1 };           /* -1 .. 1 */
    const TecRansTable top = { cdf3, 3, INT32_MAX - 2 };
    const TecRansTable bottom = { cdf3, 3, INT32_MIN };
    static const uint32_t halves[] = { 0, 32768, 65536 };
    const TecRansTable one_neg = { halves, 1, -1 };     /* only -1 */
    const TecRansTable one_pos = { halves, 1, 0 };      /* only 0 */
    Item items[512];
    size_t n = 0;

    static const int32_t specials[] = {
        INT32_MIN, INT32_MIN + 1, INT32_MIN + 2, INT32_MAX, INT32_MAX - 1,
        INT32_MAX - 2, INT32_MAX - 3, -3, -2, -1, 0, 1, 2, 3,
    };
    const TecRansTable *ranges[] = { &mid, &top, &bottom };
    size_t refused = 0;
    for (size_t i = 0; i < sizeof(specials) / sizeof(*specials); i++)
        for (int r = 0; r < 3; r++) {
            if (escape_distance(ranges[r], specials[i]) < ((int64_t)1 << 31))
                items[n++] = (Item){ ranges[r], specials[i], 0 };
            else
                refused++;
        }
    CHECK_EQ_INT(refused, 10);  /* v <= -3 against top, v >= 2 against bottom */
    /* Every escape bit length on both sides. */
    for (int k = 0; k < 31; k++) {
        int32_t d = (int32_t)(((int64_t)1 << k) + (k > 1 ? 1 : 0));
        items[n++] = (Item){ &mid, -1 - d, 0 };
        items[n++] = (Item){ &mid, 1 + d, 0 };
        items[n++] = (Item){ &mid, (int32_t)(-1 - (((int64_t)1 << (k + 1)) - 1)), 0 };
    }
    items[n++] = (Item){ &one_neg, INT32_MIN, 0 };  /* d = 2^31 - 1 */
    items[n++] = (Item){ &one_pos, INT32_MAX, 0 };  /* d = 2^31 - 1 */
    round_trip(items, n);

    /* d = 2^31 and more cannot be coded: the encoder refuses. */
    const TecRansTable tables[] = { one_pos, top, bottom };
    const int32_t values[] = { INT32_MIN, INT32_MIN, INT32_MAX };
    for (int i = 0; i < 3; i++) {
        TecRansEncoder e;
        const uint8_t *data;
        size_t size;
        tec_rans_enc_init(&e);
        tec_rans_enc_put(&e, &mid, 0);
        tec_rans_enc_put(&e, &tables[i], values[i]);
        CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), TEC_EINVAL);
        CHECK(data == NULL);
        tec_rans_enc_reset(&e);  /* and recovers after a reset */
        tec_rans_enc_put(&e, &mid, 0);
        CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);
        tec_rans_enc_free(&e);
    }
}

static void test_raw_bits(void)
{
    rng_seed(4);
    for (int k = 1; k <= 16; k++) {
        size_t count = k <= 12 ? (size_t)1 << k : 5000;
        Item *items = malloc((count + 2) * sizeof(*items));
        for (size_t i = 0; i < count; i++) {
            uint32_t v = k <= 12 ? (uint32_t)i : (uint32_t)rng_next();
            items[i] = (Item){ NULL, (int32_t)v, k };
        }
        items[count] = (Item){ NULL, (int32_t)((1u << k) - 1), k };
        items[count + 1] = (Item){ NULL, -1, k };  /* bits above k are ignored */
        size_t size = round_trip(items, count + 2);
        /* Raw bits cost exactly k bits each, plus the final state. */
        double bits = (double)k * (double)(count + 2);
        CHECK(8.0 * (double)size >= bits && 8.0 * (double)size <= bits + 64);
        free(items);
    }

    /* Widths outside 1..16 are errors on both sides. */
    TecRansEncoder e;
    const uint8_t *data;
    size_t size;
    tec_rans_enc_init(&e);
    tec_rans_enc_put_bits(&e, 0, 0);
    CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), TEC_EINVAL);
    tec_rans_enc_reset(&e);
    tec_rans_enc_put_bits(&e, 0, 17);
    CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), TEC_EINVAL);
    tec_rans_enc_reset(&e);
    tec_rans_enc_put_bits(&e, 5, 3);
    CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);

    TecRansDecoder d;
    CHECK_EQ_INT(tec_rans_dec_init(&d, data, size), 0);
    CHECK_EQ_INT(tec_rans_dec_get_bits(&d, 17), 0);
    CHECK_EQ_INT(d.error, 1);
    CHECK_EQ_INT(tec_rans_dec_get_bits(&d, 3), 0);  /* sticky */
    tec_rans_enc_free(&e);
}

static void test_tiny_streams(void)
{
    static const uint32_t cdf[] = { 0, 30000, 60000, 65536 };
    const TecRansTable t = { cdf, 2, 4 };
    TecRansEncoder e;
    TecRansDecoder d;
    const uint8_t *data;
    size_t size;

    /* Zero symbols: 4 bytes; reading a symbol from them is an error. */
    tec_rans_enc_init(&e);
    CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);
    CHECK_EQ_INT(size, 4);
    CHECK_EQ_INT(tec_rans_dec_init(&d, data, size), 0);
    CHECK_EQ_INT(tec_rans_dec_get(&d, &t), 0);
    CHECK_EQ_INT(d.error, 1);

    /* One symbol of each kind. */
    for (int32_t v = 0; v < 10; v++) {
        tec_rans_enc_reset(&e);
        tec_rans_enc_put(&e, &t, v);
        CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);
        CHECK_EQ_INT(tec_rans_dec_init(&d, data, size), 0);
        CHECK_EQ_INT(tec_rans_dec_get(&d, &t), v);
        CHECK_EQ_INT(d.error, 0);
        CHECK(d.p == d.end);
        tec_rans_dec_get(&d, &t);  /* one too many */
        CHECK_EQ_INT(d.error, 1);
    }

    /* Finishing twice gives the same stream; reset reuses the encoder. */
    tec_rans_enc_reset(&e);
    tec_rans_enc_put(&e, &t, 5);
    tec_rans_enc_put(&e, &t, -100);
    CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);
    uint8_t first[64];
    size_t first_size = size;
    memcpy(first, data, size);
    CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);
    CHECK(size == first_size && !memcmp(first, data, size));
    tec_rans_enc_free(&e);

    /* Fewer than 4 bytes, or a state the encoder cannot produce. */
    static const uint8_t low[] = { 0xff, 0xff, 0x7f, 0x00 };   /* 2^23 - 1 */
    static const uint8_t high[] = { 0x00, 0x00, 0x00, 0x80 };  /* 2^31 */
    CHECK_EQ_INT(tec_rans_dec_init(&d, first, 3), TEC_EBITSTREAM);
    CHECK_EQ_INT(d.error, 1);
    CHECK_EQ_INT(tec_rans_dec_get(&d, &t), 0);
    CHECK_EQ_INT(tec_rans_dec_init(&d, NULL, 0), TEC_EBITSTREAM);
    CHECK_EQ_INT(tec_rans_dec_init(&d, low, 4), TEC_EBITSTREAM);
    CHECK_EQ_INT(tec_rans_dec_init(&d, high, 4), TEC_EBITSTREAM);
}

/* Streams that are well-formed rANS but carry an impossible escape. */
static void test_bad_escapes(void)
{
    static const uint32_t halves[] = { 0, 32768, 65536 };
    const TecRansTable t = { halves, 1, 0 };
    TecRansEncoder e;
    TecRansDecoder d;
    const uint8_t *data;
    size_t size;

    /* nbits = 0 (the escape symbol of t is raw bit 1). */
    tec_rans_enc_init(&e);
    tec_rans_enc_put_bits(&e, 1, 1);
    tec_rans_enc_put_bits(&e, 0, 5);
    tec_rans_enc_put_bits(&e, 0, 1);
    CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);
    CHECK_EQ_INT(tec_rans_dec_init(&d, data, size), 0);
    CHECK_EQ_INT(tec_rans_dec_get(&d, &t), 0);
    CHECK_EQ_INT(d.error, 1);

    /* Values that overflow int32 once the table moves: d = 2^31 - 1 below
     * lo = -1 is INT32_MIN; below lo = -2 it is not representable. */
    const TecRansTable enc_lo = { halves, 1, -1 }, enc_hi = { halves, 1, 0 };
    const TecRansTable dec_lo = { halves, 1, -2 }, dec_hi = { halves, 1, 1 };
    tec_rans_enc_reset(&e);
    tec_rans_enc_put(&e, &enc_lo, INT32_MIN);
    tec_rans_enc_put(&e, &enc_hi, INT32_MAX);
    CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);
    CHECK_EQ_INT(tec_rans_dec_init(&d, data, size), 0);
    CHECK_EQ_INT(tec_rans_dec_get(&d, &dec_lo), 0);
    CHECK_EQ_INT(d.error, 1);
    CHECK_EQ_INT(tec_rans_dec_init(&d, data, size), 0);
    CHECK_EQ_INT(tec_rans_dec_get(&d, &enc_lo), INT32_MIN);
    CHECK_EQ_INT(tec_rans_dec_get(&d, &dec_hi), 0);
    CHECK_EQ_INT(d.error, 1);
    tec_rans_enc_free(&e);
}

/* Every truncation of a stream ends in an error, after decoding the same
 * values as the full stream up to that point. */
static void test_truncated(void)
{
    rng_seed(5);
    for (int round = 0; round < 20; round++) {
        Table tab;
        int32_t n = 1 + (int32_t)rng_below(100);
        table_make(&tab, n, -20, (int)rng_below(SHAPE_COUNT));
        size_t count = 1 + rng_below(300);
        Item *items = malloc(count * sizeof(*items));
        for (size_t i = 0; i < count; i++) {
            if (rng_below(10) == 0) {
                int k = 1 + (int)rng_below(16);
                items[i] = (Item){ NULL, (int32_t)rng_below(1u << 16), k };
            } else {
                items[i] = (Item){ &tab.t, random_value(&tab.t), 0 };
            }
        }
        TecRansEncoder e;
        const uint8_t *data;
        size_t size;
        tec_rans_enc_init(&e);
        for (size_t i = 0; i < count; i++)
            put_item(&e, &items[i]);
        CHECK_EQ_INT(tec_rans_enc_finish(&e, &data, &size), 0);

        size_t undetected = 0, wrong = 0;
        for (size_t cut = 4; cut < size; cut++) {
            /* A copy of exactly cut bytes, so ASan sees any overread. */
            uint8_t *part = malloc(cut);
            memcpy(part, data, cut);
            TecRansDecoder d;
            CHECK_EQ_INT(tec_rans_dec_init(&d, part, cut), 0);
            for (size_t i = 0; i < count; i++) {
                int32_t v = get_item(&d, &items[i]);
                if (!d.error && v != expected(&items[i]))
                    wrong++;
                if (d.error && v != 0)
                    wrong++;
            }
            undetected += !d.error;
            free(part);
        }
        CHECK_EQ_INT(undetected, 0);
        CHECK_EQ_INT(wrong, 0);
        tec_rans_enc_free(&e);
        free(items);
        table_free(&tab);
    }
}

/* Random bytes: decoding must stop with the error flag (never crash or
 * hang), and every value after the error is 0. */
static void test_garbage(void)
{
    rng_seed(6);
    for (int round = 0; round < 2000; round++) {
        size_t size = rng_below(200);
        uint8_t *buf = malloc(size ? size : 1);
        for (size_t i = 0; i < size; i++)
            buf[i] = (uint8_t)rng_next();
        if (size >= 4 && rng_below(2))
            buf[3] &= 0x7f;  /* a plausible state, so decoding starts */
        Table tab;
        int32_t n = 1 + (int32_t)rng_below(300), lo = (int32_t)rng_below(100) - 50;
        table_make(&tab, n, lo, rng_below(2) ? SHAPE_RANDOM : SHAPE_PEAKED);

        TecRansDecoder d;
        int init = tec_rans_dec_init(&d, buf, size);
        long steps = 0, nonzero_after_error = 0;
        while (!d.error && steps < 1000000) {
            if (rng_below(8) == 0)
                tec_rans_dec_get_bits(&d, 1 + (int)rng_below(16));
            else
                tec_rans_dec_get(&d, &tab.t);
            steps++;
        }
        CHECK(init == 0 || d.error);
        if (!d.error)
            fprintf(stderr, "garbage round %d: no error after %ld steps\n", round, steps);
        CHECK_EQ_INT(d.error, 1);
        for (int i = 0; i < 10; i++)
            nonzero_after_error += tec_rans_dec_get(&d, &tab.t) != 0;
        CHECK_EQ_INT(nonzero_after_error, 0);
        table_free(&tab);
        free(buf);
    }
}

/* The cost model predicts the coded size of a long stream. */
static void test_cost(void)
{
    static const uint32_t halves[] = { 0, 32768, 65536 };
    const TecRansTable t = { halves, 1, 0 };
    CHECK(fabs(tec_rans_cost_bits(&t, 0) - 1.0) < 1e-12);
    /* escape 1 + nbits 5 + low bits 12 + side 1 */
    CHECK(fabs(tec_rans_cost_bits(&t, 0x1234) - 19.0) < 1e-12);
    CHECK(fabs(tec_rans_cost_bits(&t, -1) - 7.0) < 1e-12);

    rng_seed(7);
    for (int shape = 0; shape < SHAPE_COUNT; shape++) {
        Table tab;
        table_make(&tab, 1 + (int32_t)rng_below(500), -7, shape);
        size_t count = 200000;
        Item *items = malloc(count * sizeof(*items));
        double cost = 0;
        for (size_t i = 0; i < count; i++) {
            items[i] = (Item){ &tab.t, random_value(&tab.t), 0 };
            cost += tec_rans_cost_bits(&tab.t, items[i].value);
        }
        double actual = 8.0 * (double)round_trip(items, count);
        if (!(fabs(actual - cost) <= 0.001 * cost + 48))
            fprintf(stderr, "shape %d: cost %.1f bits, coded %.0f\n", shape, cost, actual);
        CHECK(fabs(actual - cost) <= 0.001 * cost + 48);
        free(items);
        table_free(&tab);
    }
}

int main(void)
{
    test_table_check();
    test_known_streams();
    test_escape_layout();
    test_random_round_trips();
    test_every_symbol();
    test_extreme_tables();
    test_escape_extremes();
    test_raw_bits();
    test_tiny_streams();
    test_bad_escapes();
    test_truncated();
    test_garbage();
    test_cost();
    return test_report("rans");
}
