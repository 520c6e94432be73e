/* Reproducible exp and log (repro_math.h). */

/* Contraction into FMAs would make the results depend on the compiler. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>

#include "repro_math.h"

static const double LN2 = 0.693147180559945309417232121458176568;

double tec_repro_log(double x)
{
    if (!(x > 0) || isinf(x))
        return NAN;
    int e;
    double m = frexp(x, &e);  /* x = m 2^e, m in [0.5, 1): exact */
    if (m < 0.70710678118654752440) {
        m *= 2;
        e--;
    }
    /* log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172: the odd
     * series to s^21 leaves an error below 1e-17. */
    const double s = (m - 1) / (m + 1), s2 = s * s;
    double p = 1.0 / 21;
    for (int k = 19; k >= 1; k -= 2)
        p = p * s2 + 1.0 / k;
    return 2 * s * p + e * LN2;
}

double tec_repro_exp(double x)
{
    if (x != x)
        return x;
    x = x > 700 ? 700 : x < -700 ? -700 : x;
    /* x = k ln 2 + r with |r| <= ln 2 / 2 (about): e^r by its Taylor series
     * to r^17, whose remainder is below 1e-19. */
    const double k = floor(x / LN2 + 0.5);
    const double r = x - k * LN2;
    double p = 1.0;
    for (int j = 17; j >= 1; j--)
        p = p * r / j + 1.0;
    return ldexp(p, (int)k);
}
