/* Band weighting (band_weights.h). */
#include "band_weights.h"

#include <math.h>
#include <string.h>

#include "repro_math.h"

const int tec_bw_alpha_milli[TEC_BW_CANDIDATES] = { 1000, 850, 700, 550, 400 };

void tec_bw_narrow(const uint16_t *plain, int bands, int alpha_milli, uint16_t *out)
{
    if (alpha_milli == 1000 || bands < 1) {
        memmove(out, plain, (size_t)(bands > 0 ? bands : 0) * sizeof(*out));
        return;
    }
    /* Logarithms summed in band order: the mean is the same on every
     * machine, and so is every spread derived from it. */
    double log_sum = 0;
    for (int b = 0; b < bands; b++)
        log_sum += tec_repro_log(plain[b] > 0 ? plain[b] : 1);
    const double log_g = log_sum / bands, alpha = alpha_milli / 1000.0;
    for (int b = 0; b < bands; b++) {
        const double l = tec_repro_log(plain[b] > 0 ? plain[b] : 1);
        const double s = floor(tec_repro_exp(log_g + alpha * (l - log_g)) + 0.5);
        out[b] = (uint16_t)(s < TEC_BW_SPREAD_MIN ? TEC_BW_SPREAD_MIN : s > 65535 ? 65535 : s);
    }
}
