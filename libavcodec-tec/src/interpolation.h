/* Interpolated bands: many L2A stacks (SSL4EO-S12 among them) bring
 * Sentinel-2's 20 m and 60 m bands to the 10 m grid by bilinear
 * resampling, so along each axis a band is piecewise linear between knots
 * `factor` pixels apart.  The encoder finds such bands per frame and the
 * packet names their factors and phases (doc/bitstream.md, section 3); the
 * decoder projects the reconstruction onto those piecewise-linear
 * functions by least squares, along the rows and then along the columns of
 * each stripe.  The source lies in that space up to its rounding, so the
 * projection removes the part of the coding error outside it.
 * tools/train/interpolation.py is the reference. */
#ifndef TEC_INTERPOLATION_H
#define TEC_INTERPOLATION_H

#include <stddef.h>
#include <stdint.h>

#define TEC_INTERP_MAX_FACTOR 16

typedef struct TecInterpolation {
    int bands, width, height;
    /* [bands][4]: row factor, row phase in half pixels, column factor,
     * column phase; a row factor of 0: the band is not interpolated. */
    uint8_t *params;
    /* Encoder: the candidates of this frame and their squared residual. */
    uint8_t *candidate;
    double *residual;
    int rows_seen;
    uint16_t *scratch;           /* encoder: one band of a stripe */
    /* Line buffers of the least-squares fit. */
    double *line, *w_lo, *w_hi, *off, *piv, *up, *rhs;
    int *lower;
} TecInterpolation;

/* stripe_rows: the encoder's scratch height (0 for a decoder). */
int tec_interp_init(TecInterpolation *r, int bands, int width, int height, int stripe_rows);
void tec_interp_free(TecInterpolation *r);

/* Encoder: call begin, then stripe for each stripe of the frame in order
 * (the decoder's stripes; the first one picks each band's candidate
 * factors and phases, every one checks them), then end. */
void tec_interp_scan_begin(TecInterpolation *r);
void tec_interp_scan_stripe(TecInterpolation *r, const uint16_t *data, ptrdiff_t stride,
                            ptrdiff_t band_stride, int y0, int rows);
void tec_interp_scan_end(TecInterpolation *r);
int tec_interp_any(const TecInterpolation *r);

/* The packet section (written when tec_interp_any). */
size_t tec_interp_size(const TecInterpolation *r);
void tec_interp_write(const TecInterpolation *r, uint8_t *p);
/* Reads the section; `replicated` marks the bands with replicated blocks,
 * which cannot also be interpolated.  TEC_EBITSTREAM with a message when
 * malformed. */
int tec_interp_read(TecInterpolation *r, const uint8_t *p, size_t size, const uint8_t *replicated,
                    size_t *used, char *err, size_t errlen);
void tec_interp_clear(TecInterpolation *r);

/* The decoder's projection of band b on rows [y0, y0 + rows): row y is
 * data[(y - y0) * stride]. */
void tec_interp_apply(TecInterpolation *r, int b, uint16_t *data, ptrdiff_t stride, int y0,
                      int rows);

#endif
