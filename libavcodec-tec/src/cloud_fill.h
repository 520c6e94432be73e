/* Cloud filling (TecDecoderSettings.fill_clouds, doc/design.md): the pixels
 * of a frame under its cloud mask are replaced by what the frames before it
 * predict.  The decoder keeps the last frame it gave out, filled, and which
 * of its pixels were ever seen clear; a masked pixel takes that frame's
 * value mapped band by band onto the current frame's radiometry by a
 * least-squares line fitted on the current frame's clear pixels (phenology,
 * haze, illumination), so a place cloudy on several dates in a row is
 * filled from the last date it was seen.  The decoded stream itself never
 * changes: the filled frame lives beside the references. */
#ifndef TEC_CLOUD_FILL_H
#define TEC_CLOUD_FILL_H

#include <stddef.h>
#include <stdint.h>

#include "mask.h"

/* Fewer clear pixels than this (or than 1% of the frame) fit no line: the
 * prediction keeps the radiometry of the frame before. */
#define TEC_FILL_MIN_CLEAR 256

typedef struct TecFill {
    int bands, width, height;
    uint16_t *last;                /* [bands][H][W] the last frame given out, filled */
    uint8_t *seen;                 /* [H][W] 1 where `last` holds a clear sample */
    int have_last;

    uint8_t *user_mask;            /* [H][W] from tec_decoder_set_fill_mask */
    int user_set;
    TecMask cloud;                 /* the packet's cloud mask */
    uint8_t *pixels;               /* [H][W] the current frame's mask, 0/1 */
    uint64_t masked;               /* pixels in it */

    uint8_t *filled;               /* [H][W] what the last frame received had filled */
    int64_t filled_count;
    const char *why;               /* why masked pixels stayed as coded, or NULL */
    char why_buf[128];
} TecFill;

int tec_fill_init(TecFill *f, int bands, int width, int height);
void tec_fill_free(TecFill *f);
/* Forgets the frames before (a seek, a lost frame). */
void tec_fill_reset(TecFill *f);
/* The mask of the next frame, in place of its packet's. */
int tec_fill_set_mask(TecFill *f, const uint8_t *mask, ptrdiff_t stride);
/* Before a frame: which pixels it fills (the mask given, else the packet's
 * cloud mask, read into `cloud` by the packet parser). */
void tec_fill_begin(TecFill *f);
/* The whole frame decoded, samples[bands][H][W]: fills its masked pixels
 * that were seen clear before, and keeps it for the next frame. */
void tec_fill_finish(TecFill *f, uint16_t *samples);

#endif
