/* The error-bounded residual coder (issue 23; not yet in the bitstream).
 *
 * It codes a plane of integer residuals u (the source minus the learned
 * reconstruction, or the source itself) so that each decoded value lies
 * within max_error of u: lossless at 0, near-lossless above.  The scheme is
 * that of JPEG-LS (ITU-T T.87, LOCO-I): the median edge detector predicts
 * each value from its decoded neighbours, the prediction error is
 * quantised with step 2 max_error + 1 and coded with Golomb-Rice codes
 * whose parameter adapts per context of local gradients, with a bias
 * correction per context and a run mode for flat areas (a replicated
 * 20 m or 60 m band is flat inside its blocks).  Integer arithmetic only,
 * so it is the same on every machine.
 *
 * A plane is coded in rows; `above` is the decoded row before the first
 * (a stripe's neighbour), or NULL at the top of the frame. */
#ifndef TEC_RESIDUAL_H
#define TEC_RESIDUAL_H

#include <stddef.h>
#include <stdint.h>

/* How a value is predicted from its decoded neighbours: by the median edge
 * detector (for a plane with structure: the source itself), or as 0 (for
 * what is left after the learned reconstruction, close to white noise,
 * where any neighbour adds its own noise); both with the contexts' bias
 * correction. */
enum { TEC_RESIDUAL_PREDICT_ZERO = 0, TEC_RESIDUAL_PREDICT_MEDIAN = 1 };

/* Residuals the coder accepts: a uint16 sample minus a uint16 base. */
#define TEC_RESIDUAL_MAX 65535
#define TEC_RESIDUAL_MAX_ERROR 255

typedef struct TecBitBuffer {
    uint8_t *data;
    size_t size, capacity;
    uint64_t acc;  /* bits not yet written, MSB first */
    int nacc;
    int oom;
} TecBitBuffer;

/* Codes u[h][w] (row stride `stride`), |u| <= TEC_RESIDUAL_MAX, appending
 * whole bytes to out (whose data the caller frees); writes the decoded
 * residuals, which the decoder will reproduce, to dec (same layout).
 * Returns 0, TEC_EINVAL or TEC_ENOMEM. */
int tec_residual_encode(const int32_t *u, int w, int h, ptrdiff_t stride, int max_error,
                        int predictor, const int32_t *above, TecBitBuffer *out, int32_t *dec);

/* Decodes a plane coded by tec_residual_encode from data[size].  Returns 0,
 * or TEC_EBITSTREAM when the data end early or hold an impossible code;
 * dec is then partly written but always within bounds. */
int tec_residual_decode(const uint8_t *data, size_t size, int w, int h, ptrdiff_t stride,
                        int max_error, int predictor, const int32_t *above, int32_t *dec);

#endif
