/* libFuzzer target for the rANS decoder.
 *
 * Input: u8 mode, u16 n-1 (mod 1024), i16 lo, n+1 frequency weights (one
 * byte each), then the stream.  The weights become a valid table; the
 * stream is decoded (values and raw bits interleaved) until the error flag
 * or a step limit.  What decoded cleanly is encoded again and must decode
 * to the same values.  Mode bit 0 instead decodes with the raw weights as
 * an unchecked cdf, which must not crash either.
 *
 * clang -fsanitize=fuzzer,address,undefined -Ilibavcodec-tec/include \
 *     -Ilibavcodec-tec/src libavcodec-tec/src/rans.c fate-tests/fuzz/fuzz_rans.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rans.h"

#define MAX_STEPS 20000
#define ONE       (1u << TEC_RANS_PREC)

/* Frequencies proportional to weight + 1, each >= 1, summing to 2^16. */
static void build_cdf(uint32_t *cdf, const uint8_t *weight, int32_t syms)
{
    uint32_t total = 0;
    for (int32_t s = 0; s < syms; s++)
        total += weight[s] + 1u;
    uint32_t spare = ONE - (uint32_t)syms, given = 0;
    cdf[0] = 0;
    for (int32_t s = 0; s < syms; s++) {
        uint32_t f = 1 + (uint32_t)((uint64_t)(weight[s] + 1u) * spare / total);
        given += f - 1;
        cdf[s + 1] = cdf[s] + f;
    }
    cdf[syms] += spare - given;  /* rounding leftovers go to the escape */
}

/* Whether step i reads raw bits, and how many. */
static int raw_width(size_t i) { return i % 7 == 3 ? 1 + (int)(i % 16) : 0; }

static int32_t decode_step(TecRansDecoder *d, const TecRansTable *t, size_t i)
{
    int k = raw_width(i);
    return k ? (int32_t)tec_rans_dec_get_bits(d, k) : tec_rans_dec_get(d, t);
}

/* Encodes what decoded cleanly and checks it decodes to the same. */
static void check_reencode(const TecRansTable *t, const int32_t *vals, size_t count)
{
    TecRansEncoder e;
    TecRansDecoder d;
    const uint8_t *data;
    size_t size;

    tec_rans_enc_init(&e);
    for (size_t i = 0; i < count; i++) {
        int k = raw_width(i);
        if (k)
            tec_rans_enc_put_bits(&e, (uint32_t)vals[i], k);
        else
            tec_rans_enc_put(&e, t, vals[i]);
    }
    if (tec_rans_enc_finish(&e, &data, &size) || tec_rans_dec_init(&d, data, size))
        abort();
    for (size_t i = 0; i < count; i++)
        if (decode_step(&d, t, i) != vals[i])
            abort();
    if (d.error || d.p != d.end)
        abort();
    tec_rans_enc_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    int unchecked = data[0] & 1;
    int32_t n = 1 + (int32_t)((data[1] | data[2] << 8) % 1024);
    int32_t lo = (int16_t)(data[3] | data[4] << 8);
    data += 5;
    size -= 5;
    if (size < (size_t)n + 1)
        return 0;

    static uint32_t cdf[1026];
    static int32_t vals[MAX_STEPS];
    if (unchecked) {
        for (int32_t s = 0; s <= n + 1; s++)  /* arbitrary, maybe not increasing */
            cdf[s] = (uint32_t)(s > 0 ? data[s - 1] : 0) << 9;
    } else {
        build_cdf(cdf, data, n + 1);
    }
    const TecRansTable t = { cdf, n, lo };
    if (!unchecked && tec_rans_table_check(&t))
        abort();
    data += n + 1;
    size -= (size_t)n + 1;

    TecRansDecoder d;
    tec_rans_dec_init(&d, data, size);
    size_t count = 0;
    while (!d.error && count < MAX_STEPS) {
        int32_t v = decode_step(&d, &t, count);
        if (!d.error)
            vals[count++] = v;
        else if (v != 0)
            abort();
    }
    if (tec_rans_dec_get(&d, &t) != 0 && d.error)
        abort();
    if (!unchecked)
        check_reencode(&t, vals, count);
    return 0;
}
