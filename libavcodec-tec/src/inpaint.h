/* Smooth filling of unknown samples (the encoder's input under clouds it
 * leaves to the decoder): a plane keeps its known samples, and the unknown
 * ones take values that join them without an edge, which the analysis
 * transform codes in almost no bits. */
#ifndef TEC_INPAINT_H
#define TEC_INPAINT_H

#include <stddef.h>
#include <stdint.h>

/* Floats of scratch tec_inpaint needs for an h x w plane. */
size_t tec_inpaint_scratch(int h, int w);
/* Fills v[h][w] where known[h][w] is 0 (known is left as it was); with no
 * known sample, the plane becomes 0.  Deterministic: fixed order. */
void tec_inpaint(float *v, const uint8_t *known, int h, int w, float *scratch);

#endif
