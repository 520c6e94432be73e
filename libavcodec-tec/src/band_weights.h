/* Band weighting (doc/design.md, *Band weighting*): the spreads an encoder
 * writes in a packet, narrowed towards their geometric mean.
 *
 * The model codes each band standardised by the spread its packet carries,
 * so a band's reflectance error grows with that spread, and the frame's
 * quality position rises with their RMS.  On a frame whose spreads lie far
 * apart (red edge and NIR ten times the visible bands) the bands of large
 * spread then get far less PSNR than the rest, and the frame sits too high.
 * The decoder only reads the spreads, so the encoder may write others:
 * s' = g (s / g)^alpha, g the geometric mean of the frame's spreads, weighs
 * the bands of large spread more and lowers the position.  alpha = 1 is the
 * plain standardisation; the encoder tries the candidates below in turn. */
#ifndef TEC_BAND_WEIGHTS_H
#define TEC_BAND_WEIGHTS_H

#include <stdint.h>

/* The exponents tried, in thousandths, in the order tried (the first is
 * the plain standardisation).  Chosen on the 4 training places of
 * doc/results/band-weighting, never on the validation places. */
#define TEC_BW_CANDIDATES 5
extern const int tec_bw_alpha_milli[TEC_BW_CANDIDATES];

/* The smallest spread written (as the frame statistics floor it). */
#define TEC_BW_SPREAD_MIN 8

/* out[b] = round(g (plain[b] / g)^(alpha_milli / 1000)), clamped to
 * TEC_BW_SPREAD_MIN..65535; g the geometric mean of plain[0..bands).  The
 * same bits on every machine (repro_math); alpha_milli = 1000 copies. */
void tec_bw_narrow(const uint16_t *plain, int bands, int alpha_milli, uint16_t *out);

#endif
