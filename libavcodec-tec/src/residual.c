/* The error-bounded residual coder (residual.h). */
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "residual.h"

/* Halve a context's statistics every RESET samples: it tracks the local
 * statistics, as in JPEG-LS. */
enum { RESET = 64 };
/* Regular contexts: q1 in 0..4 (after the sign merge), q2, q3 in -4..4. */
enum { N_REGULAR = 5 * 9 * 9, CTX_RUN_EQUAL = N_REGULAR, CTX_RUN_EDGE, N_CTX };
/* A Golomb code's unary part stops at ESCAPE zeros; the value then follows
 * in ESCAPE_BITS bits (every mapped error fits: |q| < 2^18). */
enum { ESCAPE = 31, ESCAPE_BITS = 19 };

/* Run lengths come in blocks of 2^RUN_ORDER[index] samples. */
static const uint8_t RUN_ORDER[32] = {
    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
    4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15,
};

typedef struct Context {
    int32_t a, b, n, c;  /* sum |error|, error sum (bias), count, correction */
} Context;

typedef struct State {
    int max_error, step, predictor;
    int t1, t2, t3;
    int run_index;
    Context ctx[N_CTX];
} State;

static void state_init(State *s, int max_error, int predictor)
{
    const int range = 2 * TEC_RESIDUAL_MAX / (2 * max_error + 1) + 1;
    const int a0 = (range + 32) / 64 > 2 ? (range + 32) / 64 : 2;

    s->max_error = max_error;
    s->predictor = predictor;
    s->step = 2 * max_error + 1;
    /* JPEG-LS's default thresholds for samples of more than 12 bits */
    s->t1 = 18 + 3 * max_error;
    s->t2 = 67 + 5 * max_error;
    s->t3 = 276 + 7 * max_error;
    s->run_index = 0;
    for (int i = 0; i < N_CTX; i++)
        s->ctx[i] = (Context){ a0, 0, 1, 0 };
}

static int quantize_gradient(const State *s, int32_t d)
{
    if (d <= -s->t3) return -4;
    if (d <= -s->t2) return -3;
    if (d <= -s->t1) return -2;
    if (d < -s->max_error) return -1;
    if (d <= s->max_error) return 0;
    if (d < s->t1) return 1;
    if (d < s->t2) return 2;
    if (d < s->t3) return 3;
    return 4;
}

static int32_t median_predictor(int32_t a, int32_t b, int32_t c)
{
    const int32_t lo = a < b ? a : b, hi = a < b ? b : a;
    return c >= hi ? lo : c <= lo ? hi : a + b - c;
}

static int32_t clamp_residual(int64_t v)
{
    return v > TEC_RESIDUAL_MAX ? TEC_RESIDUAL_MAX : v < -TEC_RESIDUAL_MAX ? -TEC_RESIDUAL_MAX
                                                                          : (int32_t)v;
}

/* floor(v / 2) without shifting a negative value */
static int32_t halve(int32_t v) { return v >= 0 ? v / 2 : -((1 - v) / 2); }

static int golomb_k(const Context *c)
{
    int k = 0;
    while (k < 24 && ((int64_t)c->n << k) < c->a)
        k++;
    return k;
}

/* After coding quantised error q in context c. */
static void context_update(Context *c, int32_t q, int step)
{
    c->a += q < 0 ? -q : q;
    c->b += q * step;
    if (c->n == RESET) {
        c->a = halve(c->a);
        c->b = halve(c->b);
        c->n = halve(c->n);
    }
    c->n++;
    if (c->b <= -c->n) {
        c->b += c->n;
        if (c->c > -128)
            c->c--;
        if (c->b <= -c->n)
            c->b = -c->n + 1;
    } else if (c->b > 0) {
        c->b -= c->n;
        if (c->c < 127)
            c->c++;
        if (c->b > 0)
            c->b = 0;
    }
}

/* The neighbours of column x: a left, b above, c above-left, d above-right,
 * from the decoded rows; column -1 of a row is column 0 of the row above,
 * column w the last column. */
typedef struct Rows {
    const int32_t *prev;  /* decoded row above (zeros above the frame) */
    const int32_t *cur;   /* decoded row being coded */
    int32_t prev_first_a; /* the a of the row above's column 0 */
    int w;
} Rows;

static void neighbours(const Rows *r, int x, int32_t *a, int32_t *b, int32_t *c, int32_t *d)
{
    *b = r->prev[x];
    *a = x > 0 ? r->cur[x - 1] : r->prev[0];
    *c = x > 0 ? r->prev[x - 1] : r->prev_first_a;
    *d = x + 1 < r->w ? r->prev[x + 1] : r->prev[x];
}

/* A regular sample's context, sign and prediction. */
typedef struct Regular {
    int ctx, sign;
    int32_t pred;
} Regular;

static int regular_context(const State *s, int32_t a, int32_t b, int32_t c, int32_t d,
                           Regular *out)
{
    int q1 = quantize_gradient(s, d - b), q2 = quantize_gradient(s, b - c);
    int q3 = quantize_gradient(s, c - a);

    if (!q1 && !q2 && !q3)
        return 0;  /* flat: run mode */
    out->sign = 1;
    if (q1 < 0 || (!q1 && (q2 < 0 || (!q2 && q3 < 0)))) {
        q1 = -q1;
        q2 = -q2;
        q3 = -q3;
        out->sign = -1;
    }
    out->ctx = q1 * 81 + (q2 + 4) * 9 + (q3 + 4);
    const int32_t corr = s->ctx[out->ctx].c;
    const int32_t base = s->predictor == TEC_RESIDUAL_PREDICT_MEDIAN ? median_predictor(a, b, c) : 0;
    out->pred = clamp_residual((int64_t)base + out->sign * corr);
    return 1;
}

/* The interruption of a run: predicted from a (the run's value) or b. */
static void run_end_context(const State *s, int32_t a, int32_t b, Regular *out)
{
    const int32_t diff = a > b ? a - b : b - a;
    out->sign = 1;
    out->ctx = diff <= s->max_error ? CTX_RUN_EQUAL : CTX_RUN_EDGE;
    out->pred = diff <= s->max_error ? a : b;
}

/* Checks a plane's parameters; a fresh state and a row of zeros (the row
 * above the frame), both freed by the caller. */
static int plane_begin(int w, int h, int max_error, int predictor, State **s, int32_t **zeros)
{
    if (w <= 0 || h <= 0 || max_error < 0 || max_error > TEC_RESIDUAL_MAX_ERROR ||
        (predictor != TEC_RESIDUAL_PREDICT_ZERO && predictor != TEC_RESIDUAL_PREDICT_MEDIAN))
        return TEC_EINVAL;
    *s = malloc(sizeof(**s));
    *zeros = calloc((size_t)w, sizeof(**zeros));
    if (!*s || !*zeros) {
        free(*s);
        free(*zeros);
        return TEC_ENOMEM;
    }
    state_init(*s, max_error, predictor);
    return 0;
}

/* ------------------------------------------------------------- encoder */

static void put_bits(TecBitBuffer *o, uint32_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        o->acc = o->acc << 1 | ((v >> i) & 1);
        if (++o->nacc == 8) {
            if (o->size == o->capacity) {
                const size_t cap = o->capacity ? 2 * o->capacity : 4096;
                uint8_t *p = realloc(o->data, cap);
                if (!p) {
                    o->oom = 1;
                    o->nacc = 0;
                    continue;
                }
                o->data = p;
                o->capacity = cap;
            }
            o->data[o->size++] = (uint8_t)o->acc;
            o->nacc = 0;
            o->acc = 0;
        }
    }
}

static void put_zeros(TecBitBuffer *o, int n)
{
    while (n-- > 0)
        put_bits(o, 0, 1);
}

/* Quantises the error of u against r's prediction, codes it and returns
 * the decoded value. */
static int32_t encode_sample(State *s, TecBitBuffer *o, const Regular *r, int32_t u)
{
    Context *c = &s->ctx[r->ctx];
    const int64_t err = (int64_t)r->sign * ((int64_t)u - r->pred);
    const int64_t q = err > 0 ? (err + s->max_error) / s->step : -((s->max_error - err) / s->step);
    const uint32_t mapped = q >= 0 ? (uint32_t)(2 * q) : (uint32_t)(-2 * q - 1);
    const int k = golomb_k(c);
    const uint32_t high = mapped >> k;

    if (high < ESCAPE) {
        put_zeros(o, (int)high);
        put_bits(o, 1, 1);
        put_bits(o, mapped & ((1u << k) - 1), k);
    } else {
        put_zeros(o, ESCAPE);
        put_bits(o, 1, 1);
        put_bits(o, mapped, ESCAPE_BITS);
    }
    context_update(c, (int32_t)q, s->step);
    return clamp_residual(r->pred + (int64_t)r->sign * q * s->step);
}

int tec_residual_encode(const int32_t *u, int w, int h, ptrdiff_t stride, int max_error,
                        int predictor, const int32_t *above, TecBitBuffer *out, int32_t *dec)
{
    State *s;
    int32_t *zeros;
    int ret = plane_begin(w, h, max_error, predictor, &s, &zeros);
    if (ret < 0)
        return ret;
    Rows rows = { above ? above : zeros, NULL, above ? above[0] : 0, w };

    for (int y = 0; y < h; y++) {
        const int32_t *src = u + y * stride;
        int32_t *row = dec + y * stride;
        rows.cur = row;
        for (int x = 0; x < w;) {
            int32_t a, b, c, d;
            Regular r;
            neighbours(&rows, x, &a, &b, &c, &d);
            if (regular_context(s, a, b, c, d, &r)) {
                row[x] = encode_sample(s, out, &r, src[x]);
                x++;
                continue;
            }
            /* run mode: samples within max_error of a decode to a */
            int run = 0;
            while (x + run < w && llabs((long long)src[x + run] - a) <= s->max_error) {
                row[x + run] = a;
                run++;
            }
            x += run;
            while (run >= 1 << RUN_ORDER[s->run_index]) {
                put_bits(out, 1, 1);
                run -= 1 << RUN_ORDER[s->run_index];
                if (s->run_index < 31)
                    s->run_index++;
            }
            if (x == w) {
                if (run > 0)
                    put_bits(out, 1, 1);
                continue;
            }
            put_bits(out, 0, 1);
            put_bits(out, (uint32_t)run, RUN_ORDER[s->run_index]);
            neighbours(&rows, x, &a, &b, &c, &d);
            run_end_context(s, a, b, &r);
            row[x] = encode_sample(s, out, &r, src[x]);
            x++;
            if (s->run_index > 0)
                s->run_index--;
        }
        rows.prev_first_a = rows.prev[0];
        rows.prev = row;
    }
    if (out->nacc)
        put_bits(out, 0, 8 - out->nacc);
    free(s);
    free(zeros);
    return out->oom ? TEC_ENOMEM : 0;
}

/* ------------------------------------------------------------- decoder */

/* MSB-first bits; past the end every bit is 0 and overrun is set, so a
 * damaged stream still takes a bounded path through the loops below. */
typedef struct BitReader {
    const uint8_t *p, *end;
    int bit;  /* next bit of *p, 7 = the top */
    int overrun;
} BitReader;

static uint32_t get_bit(BitReader *br)
{
    if (br->p >= br->end) {
        br->overrun = 1;
        return 0;
    }
    const uint32_t v = *br->p >> br->bit & 1;
    if (--br->bit < 0) {
        br->bit = 7;
        br->p++;
    }
    return v;
}

static uint32_t get_bits(BitReader *br, int n)
{
    uint32_t v = 0;
    while (n-- > 0)
        v = v << 1 | get_bit(br);
    return v;
}

static int32_t decode_sample(State *s, BitReader *br, const Regular *r)
{
    Context *c = &s->ctx[r->ctx];
    const int k = golomb_k(c);
    uint32_t high = 0, mapped;

    while (high < ESCAPE && !get_bit(br))
        high++;
    if (high == ESCAPE) {
        if (!get_bit(br))
            br->overrun = 1;  /* more zeros than any code has */
        mapped = get_bits(br, ESCAPE_BITS);
    } else {
        mapped = high << k | get_bits(br, k);
    }
    const int32_t q = mapped & 1 ? -(int32_t)((mapped + 1) / 2) : (int32_t)(mapped / 2);
    context_update(c, q, s->step);
    return clamp_residual(r->pred + (int64_t)r->sign * q * s->step);
}

int tec_residual_decode(const uint8_t *data, size_t size, int w, int h, ptrdiff_t stride,
                        int max_error, int predictor, const int32_t *above, int32_t *dec)
{
    State *s;
    int32_t *zeros;
    int ret = plane_begin(w, h, max_error, predictor, &s, &zeros);
    if (ret < 0)
        return ret;
    BitReader br = { data, data + size, 7, 0 };
    Rows rows = { above ? above : zeros, NULL, above ? above[0] : 0, w };

    for (int y = 0; y < h && !br.overrun; y++) {
        int32_t *row = dec + y * stride;
        rows.cur = row;
        for (int x = 0; x < w;) {
            int32_t a, b, c, d;
            Regular r;
            neighbours(&rows, x, &a, &b, &c, &d);
            if (regular_context(s, a, b, c, d, &r)) {
                row[x++] = decode_sample(s, &br, &r);
                continue;
            }
            int ended_row = 0;
            while (get_bit(&br)) {
                const int block = 1 << RUN_ORDER[s->run_index];
                const int n = block < w - x ? block : w - x;
                for (int i = 0; i < n; i++)
                    row[x++] = a;
                if (n == block && s->run_index < 31)
                    s->run_index++;
                if (x == w) {
                    ended_row = 1;
                    break;
                }
            }
            if (ended_row)
                continue;
            const int run = (int)get_bits(&br, RUN_ORDER[s->run_index]);
            if (run >= w - x) {  /* a run must stop inside the row */
                br.overrun = 1;
                break;
            }
            for (int i = 0; i < run; i++)
                row[x++] = a;
            neighbours(&rows, x, &a, &b, &c, &d);
            run_end_context(s, a, b, &r);
            row[x++] = decode_sample(s, &br, &r);
            if (s->run_index > 0)
                s->run_index--;
        }
        rows.prev_first_a = rows.prev[0];
        rows.prev = row;
    }
    free(s);
    free(zeros);
    return br.overrun ? TEC_EBITSTREAM : 0;
}
