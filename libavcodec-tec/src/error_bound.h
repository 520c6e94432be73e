/* The error-bounded layer of a packet (doc/bitstream.md, section 3,
 * "Residual"): what the learned reconstruction left, coded so that every
 * decoded sample lies within max_error of the source (lossless at 0).
 *
 * It is coded per stripe of the frame (a block row, as the decoder outputs
 * them) and band, each piece one residual plane (residual.h) over the
 * band's cells in the stripe: a replicated band's blocks (where the source
 * and the reconstruction are both constant) or every sample.  A piece
 * continues the band's piece above it (its last row of cells), so a
 * decoder holds one row of cells per band between stripes. */
#ifndef TEC_ERROR_BOUND_H
#define TEC_ERROR_BOUND_H

#include <stddef.h>
#include <stdint.h>

#include "replication.h"

typedef struct TecErrorBound {
    int max_error;          /* -1: no layer in this packet */
    int bands, width, height, stripe_rows, n_stripes;
    /* [n_stripes][bands]: each piece's predictor and bytes in the packet */
    uint8_t *predictor;
    const uint8_t **data;
    uint32_t *size;
    /* [bands][width]: the last row of cells above the current stripe, and
     * its number of cells (0 at the top of the frame). */
    int32_t *above;
    int *above_cells;
    /* scratch: one stripe of cells, their decoded values (the encoder's
     * second predictor's in trial), their column starts and row starts */
    int32_t *cells, *decoded, *trial;
    int *col_start, *row_start;
    /* encoder: the coded pieces of the frame, in order */
    uint8_t *coded;
    size_t coded_size, coded_cap;
} TecErrorBound;

int tec_eb_init(TecErrorBound *e, int bands, int width, int height, int stripe_rows);
void tec_eb_free(TecErrorBound *e);
/* A frame without the layer; and the start of a frame with it. */
void tec_eb_clear(TecErrorBound *e);
void tec_eb_begin(TecErrorBound *e, int max_error);

/* Encoder: codes stripe s from the source rows and the reconstruction's
 * (both rows [y0, y0 + rows) of every band, the reconstruction after the
 * replicated blocks' and interpolated bands' steps), choosing per piece
 * the cheaper predictor, and adds the decoded residual to recon.  Returns
 * 0 or TEC_ENOMEM. */
int tec_eb_encode_stripe(TecErrorBound *e, const TecReplication *repl, int s,
                         const uint16_t *src, ptrdiff_t src_stride, ptrdiff_t src_band_stride,
                         uint16_t *recon, ptrdiff_t stride, ptrdiff_t band_stride);
/* The section's bytes once every stripe is coded, and writing them. */
size_t tec_eb_size(const TecErrorBound *e);
void tec_eb_write(const TecErrorBound *e, uint8_t *p);

/* Decoder: reads the section, exactly size bytes at p.  Returns 0 or
 * TEC_EBITSTREAM with a message. */
int tec_eb_read(TecErrorBound *e, const uint8_t *p, size_t size, char *err, size_t errlen);
/* Adds stripe s's decoded residuals to the reconstruction's rows.  Returns
 * 0, TEC_EBITSTREAM (a damaged piece) or TEC_ENOMEM. */
int tec_eb_apply_stripe(TecErrorBound *e, const TecReplication *repl, int s, uint16_t *recon,
                        ptrdiff_t stride, ptrdiff_t band_stride);

#endif
