/* The per-channel leans of inter blocks: choosing them and their table. */
#include "lean.h"

#include <math.h>
#include <string.h>

#include "tec/tec.h"
#include "errors.h"

/* A lean costs its byte and its presence bit; keep it when the fit says it
 * saves more than twice that (the fit is on unquantized latents and
 * overstates a little). */
#define LEAN_MIN_SAVING_BITS 18.0

int tec_lean_choose(const TecLeanSums *sums, int m, int8_t *lean, double *saving_bits)
{
    int count = 0;
    *saving_bits = 0.0;
    for (int c = 0; c < m; c++) {
        lean[c] = 0;
        const double ed = sums[c].ed, dd = sums[c].dd;
        if (!(dd > 0.0))
            continue;
        double l = floor(TEC_LEAN_ONE * ed / dd + 0.5);
        l = l < TEC_LEAN_MIN ? TEC_LEAN_MIN : l > TEC_LEAN_MAX ? TEC_LEAN_MAX : l;
        if (l == 0.0)
            continue;
        /* Gaussian log-likelihood gained by moving the means b = l / 16 of
         * the way: (2 b ed - b^2 dd) / 2, in nats, to bits. */
        const double b = l / TEC_LEAN_ONE;
        const double saving = (2.0 * b * ed - b * b * dd) / (2.0 * log(2.0));
        if (saving > LEAN_MIN_SAVING_BITS) {
            lean[c] = (int8_t)l;
            count++;
            *saving_bits += saving;
        }
    }
    return count;
}

size_t tec_lean_table_size(const int8_t *lean, int m)
{
    size_t n = 0;
    for (int c = 0; c < m; c++)
        n += lean[c] != 0;
    return n ? 1 + ((size_t)m + 7) / 8 + n : 1;
}

void tec_lean_table_write(const int8_t *lean, int m, uint8_t *p)
{
    const size_t nb = ((size_t)m + 7) / 8;
    p[0] = tec_lean_table_size(lean, m) > 1;
    if (!p[0])
        return;
    uint8_t *bits = p + 1, *v = p + 1 + nb;
    memset(bits, 0, nb);
    for (int c = 0; c < m; c++)
        if (lean[c]) {
            bits[c / 8] |= (uint8_t)(1u << (c % 8));
            *v++ = (uint8_t)lean[c];
        }
}

int tec_lean_table_read(const uint8_t *p, size_t size, int m, int8_t *lean, size_t *used,
                        char *why, size_t whylen)
{
    const size_t nb = ((size_t)m + 7) / 8;
    memset(lean, 0, (size_t)m);
    if (size < 1)
        return tec_err(why, whylen, TEC_EBITSTREAM, "chunk cut in its lean table");
    if (p[0] > 1)
        return tec_err(why, whylen, TEC_EBITSTREAM, "lean table form %d", p[0]);
    *used = 1;
    if (!p[0])
        return 0;
    p++;
    size--;
    if (size < nb)
        return tec_err(why, whylen, TEC_EBITSTREAM, "chunk cut in its lean table");
    if (m % 8 && p[m / 8] >> (m % 8))
        return tec_err(why, whylen, TEC_EBITSTREAM, "lean bits past the last channel");
    size_t pos = nb, count = 0;
    for (int c = 0; c < m; c++) {
        if (!((p[c / 8] >> (c % 8)) & 1))
            continue;
        if (pos >= size)
            return tec_err(why, whylen, TEC_EBITSTREAM, "chunk cut in its lean table");
        const int l = (int8_t)p[pos++];
        if (l == 0 || l < TEC_LEAN_MIN || l > TEC_LEAN_MAX)
            return tec_err(why, whylen, TEC_EBITSTREAM, "lean %d of channel %d", l, c);
        lean[c] = (int8_t)l;
        count++;
    }
    if (!count)
        return tec_err(why, whylen, TEC_EBITSTREAM, "lean table of form 1 without a lean");
    *used = 1 + pos;
    return 0;
}
