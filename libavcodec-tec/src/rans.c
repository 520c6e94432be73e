/* 32-bit rANS with 16-bit probabilities and byte-wise renormalisation
 * (doc/bitstream.md, section 5). */
#include "rans.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"

#define RANS_ONE     (1u << TEC_RANS_PREC)
#define RANS_LOW     (1u << 23)     /* lower bound of the normalised state */
#define RANS_HIGH    (1u << 31)     /* upper bound (exclusive) */
#define RAW_PIECE    8              /* escape distance bits per raw symbol */
#define NBITS_BITS   5              /* width of the escape's nbits field */

int tec_rans_table_check(const TecRansTable *t)
{
    if (!t || !t->cdf || t->n < 1 || t->n > (int32_t)RANS_ONE - 1)
        return TEC_EMODEL;
    if (t->cdf[0] != 0 || t->cdf[t->n + 1] != RANS_ONE)
        return TEC_EMODEL;
    for (int32_t s = 0; s <= t->n; s++)
        if (t->cdf[s + 1] <= t->cdf[s])
            return TEC_EMODEL;
    return 0;
}

/* Bit length of d >= 1. */
static int bit_length(uint64_t d)
{
    int n = 0;
    while (d) {
        n++;
        d >>= 1;
    }
    return n;
}

/* Where value falls relative to the table's range: 0 inside (*sym set),
 * otherwise the escape distance *dist >= 1 and *below. */
static int classify(const TecRansTable *t, int32_t value, int32_t *sym,
                    uint64_t *dist, int *below)
{
    int64_t lo = t->lo, hi = (int64_t)t->lo + t->n - 1;
    if (value < lo) {
        *dist = (uint64_t)(lo - value);
        *below = 1;
        return 1;
    }
    if (value > hi) {
        *dist = (uint64_t)(value - hi);
        *below = 0;
        return 1;
    }
    *sym = (int32_t)(value - lo);
    return 0;
}

/* ---- encoder ---------------------------------------------------------- */

void tec_rans_enc_init(TecRansEncoder *e)
{
    memset(e, 0, sizeof(*e));
}

void tec_rans_enc_reset(TecRansEncoder *e)
{
    e->count = 0;
    e->out_size = 0;
    e->error = 0;
}

void tec_rans_enc_free(TecRansEncoder *e)
{
    free(e->syms);
    free(e->out);
    tec_rans_enc_init(e);
}

/* Queues a symbol of the given start and frequency (1..2^16). */
static void enc_push(TecRansEncoder *e, uint32_t start, uint32_t freq)
{
    if (e->error)
        return;
    if (e->count == e->capacity) {
        size_t cap = e->capacity ? 2 * e->capacity : 1024;
        uint32_t *syms = NULL;
        if (cap <= SIZE_MAX / sizeof(*syms))
            syms = realloc(e->syms, cap * sizeof(*syms));
        if (!syms) {
            e->error = TEC_ENOMEM;
            return;
        }
        e->syms = syms;
        e->capacity = cap;
    }
    e->syms[e->count++] = start << 16 | (freq - 1);
}

static void enc_raw(TecRansEncoder *e, uint32_t v, int k)
{
    uint32_t shift = TEC_RANS_PREC - k;
    enc_push(e, (v & ((1u << k) - 1)) << shift, 1u << shift);
}

void tec_rans_enc_put_bits(TecRansEncoder *e, uint32_t v, int k)
{
    if (k < 1 || k > TEC_RANS_PREC) {
        if (!e->error)
            e->error = TEC_EINVAL;
        return;
    }
    enc_raw(e, v, k);
}

/* The escape's payload: nbits, the bits of dist below its leading one
 * (top piece first, every piece but the last RAW_PIECE wide), the side. */
static void enc_escape_payload(TecRansEncoder *e, uint64_t dist, int below)
{
    int nbits = bit_length(dist);
    enc_raw(e, (uint32_t)nbits, NBITS_BITS);
    for (int left = nbits - 1; left > 0;) {
        int k = left < RAW_PIECE ? left : RAW_PIECE;
        left -= k;
        enc_raw(e, (uint32_t)(dist >> left), k);
    }
    enc_raw(e, (uint32_t)below, 1);
}

void tec_rans_enc_put(TecRansEncoder *e, const TecRansTable *t, int32_t value)
{
    int32_t sym = t->n;
    uint64_t dist = 0;
    int below = 0;
    int escape = classify(t, value, &sym, &dist, &below);

    if (escape && dist >= RANS_HIGH) {
        /* nbits would be 32: the format cannot carry this value. */
        if (!e->error)
            e->error = TEC_EINVAL;
        return;
    }
    uint32_t start = t->cdf[sym], next = t->cdf[sym + 1];
    if (next <= start || next > RANS_ONE) {
        if (!e->error)
            e->error = TEC_EINVAL;
        return;
    }
    enc_push(e, start, next - start);
    if (escape)
        enc_escape_payload(e, dist, below);
}

/* Each symbol emits at most two bytes (the state drops below freq << 15
 * < 2^31 after two shifts), plus four for the final state. */
static int enc_reserve_output(TecRansEncoder *e)
{
    if (e->count > (SIZE_MAX - 4) / 2)
        return TEC_ENOMEM;
    size_t need = 2 * e->count + 4;
    if (need > e->out_capacity) {
        uint8_t *out = realloc(e->out, need);
        if (!out)
            return TEC_ENOMEM;
        e->out = out;
        e->out_capacity = need;
    }
    return 0;
}

int tec_rans_enc_finish(TecRansEncoder *e, const uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    if (e->error)
        return e->error;
    int ret = enc_reserve_output(e);
    if (ret < 0) {
        e->error = ret;
        return ret;
    }

    /* Encode backwards, writing bytes backwards from the buffer's end. */
    uint8_t *end = e->out + e->out_capacity, *p = end;
    uint32_t x = RANS_LOW;
    for (size_t i = e->count; i-- > 0;) {
        uint32_t sym = e->syms[i];
        uint32_t start = sym >> 16, freq = (sym & 0xffff) + 1;
        uint32_t x_max = freq << (31 - TEC_RANS_PREC);
        while (x >= x_max) {
            *--p = (uint8_t)x;
            x >>= 8;
        }
        x = ((x / freq) << TEC_RANS_PREC) + x % freq + start;
    }
    /* Least significant byte first, so the decoder reads the state first. */
    p -= 4;
    for (int b = 0; b < 4; b++)
        p[b] = (uint8_t)(x >> (8 * b));

    e->out_size = (size_t)(end - p);
    *data = p;
    *size = e->out_size;
    return 0;
}

double tec_rans_cost_bits(const TecRansTable *t, int32_t value)
{
    int32_t sym = t->n;
    uint64_t dist = 0;
    int below = 0;
    int escape = classify(t, value, &sym, &dist, &below);
    uint32_t freq = t->cdf[sym + 1] - t->cdf[sym];
    double bits = TEC_RANS_PREC - log2((double)freq);
    if (escape)
        bits += NBITS_BITS + (bit_length(dist) - 1) + 1;
    return bits;
}

/* ---- decoder ---------------------------------------------------------- */

int tec_rans_dec_init(TecRansDecoder *d, const uint8_t *data, size_t size)
{
    d->p = d->end = data;
    d->x = 0;
    d->error = 1;
    if (!data || size < 4)
        return TEC_EBITSTREAM;
    uint32_t x = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
                 (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
    /* The encoder's state never leaves [2^23, 2^31). */
    if (x < RANS_LOW || x >= RANS_HIGH)
        return TEC_EBITSTREAM;
    d->p = data + 4;
    d->end = data + size;
    d->x = x;
    d->error = 0;
    return 0;
}

/* Advances the state past a symbol [start, start + freq) and refills it;
 * a stream that runs dry while the state is low is corrupt. */
static void dec_advance(TecRansDecoder *d, uint32_t start, uint32_t freq)
{
    uint32_t x = d->x;
    x = freq * (x >> TEC_RANS_PREC) + (x & (RANS_ONE - 1)) - start;
    while (x < RANS_LOW) {
        if (d->p == d->end) {
            d->error = 1;
            return;
        }
        x = x << 8 | *d->p++;
    }
    d->x = x;
}

/* Index s with cdf[s] <= slot < cdf[s + 1], or -1 if the table's ends are
 * broken.  The search keeps cdf[lo] <= slot < cdf[hi], so the symbol found
 * never has a zero frequency, even in a table that is not increasing. */
static int32_t find_symbol(const TecRansTable *t, uint32_t slot)
{
    int32_t lo = 0, hi = t->n + 1;
    if (t->n < 1 || t->cdf[0] > slot || t->cdf[hi] <= slot)
        return -1;
    while (hi - lo > 1) {
        int32_t mid = lo + (hi - lo) / 2;
        if (t->cdf[mid] <= slot)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static uint32_t dec_raw(TecRansDecoder *d, int k)
{
    if (d->error)
        return 0;
    uint32_t shift = TEC_RANS_PREC - k;
    uint32_t v = (d->x & (RANS_ONE - 1)) >> shift;
    dec_advance(d, v << shift, 1u << shift);
    return d->error ? 0 : v;
}

uint32_t tec_rans_dec_get_bits(TecRansDecoder *d, int k)
{
    if (k < 1 || k > TEC_RANS_PREC) {
        d->error = 1;
        return 0;
    }
    return dec_raw(d, k);
}

/* Reads the escape payload and returns the value it stands for. */
static int32_t dec_escape(TecRansDecoder *d, const TecRansTable *t)
{
    int nbits = (int)dec_raw(d, NBITS_BITS);
    if (d->error || nbits < 1 || nbits > 31) {
        d->error = 1;
        return 0;
    }
    uint64_t dist = 1;
    for (int left = nbits - 1; left > 0;) {
        int k = left < RAW_PIECE ? left : RAW_PIECE;
        left -= k;
        dist = dist << k | dec_raw(d, k);
    }
    int below = (int)dec_raw(d, 1);
    if (d->error)
        return 0;

    int64_t v = below ? (int64_t)t->lo - (int64_t)dist
                      : (int64_t)t->lo + t->n - 1 + (int64_t)dist;
    if (v < INT32_MIN || v > INT32_MAX) {
        d->error = 1;
        return 0;
    }
    return (int32_t)v;
}

int32_t tec_rans_dec_get(TecRansDecoder *d, const TecRansTable *t)
{
    if (d->error)
        return 0;
    uint32_t slot = d->x & (RANS_ONE - 1);
    int32_t s = find_symbol(t, slot);
    if (s < 0) {
        d->error = 1;
        return 0;
    }
    dec_advance(d, t->cdf[s], t->cdf[s + 1] - t->cdf[s]);
    if (d->error)
        return 0;
    if (s == t->n)
        return dec_escape(d, t);
    return (int32_t)((int64_t)t->lo + s);
}
