/* Cloud filling (TecDecoderSettings.fill_clouds, doc/design.md): the pixels
 * of a frame under its cloud mask are replaced by what the frames before it
 * predict.  The decoder keeps a second chain of references beside the one
 * inter frames decode against: every frame's latents, with those under its
 * mask replaced by the prediction, so a place cloudy on several dates in a
 * row is filled from the last date it was seen.  The prediction is the
 * chain's latest frame converted to the current frame's quality position,
 * synthesised, then mapped band by band onto the current frame's radiometry
 * by a least-squares line fitted on its clear pixels (phenology, haze,
 * illumination).  The decoded stream itself never changes: the chain and
 * the prediction live beside it. */
#ifndef TEC_CLOUD_FILL_H
#define TEC_CLOUD_FILL_H

#include <stddef.h>
#include <stdint.h>

#include "frame_codec.h"
#include "mask.h"
#include "refs.h"

/* Fewer clear pixels than this (or than 1% of the frame) fit no line: the
 * prediction keeps the chain's radiometry. */
#define TEC_FILL_MIN_CLEAR 256

typedef struct TecFill {
    int on;
    int m, groups, bands;
    TecGeometry geom;
    TecRefStore chain;             /* the filled latents of the frames decoded so far */
    int chain_frames;              /* frames in the chain (0: nothing to predict from) */
    int latest;                    /* the chain's slot of the last frame, -1 none */
    TecFrameNorm chain_norm;       /* what the chain's latest frame's latents mean */
    TecTtFactor factor;            /* chain's latest -> current quality position */

    uint8_t *user_mask;            /* [H][W] from tec_decoder_set_fill_mask */
    int user_set;
    TecMask cloud;                 /* the packet's cloud mask */
    uint8_t *pixels;               /* [H][W] the current frame's mask to fill, 0/1 */
    uint8_t *latent;               /* [lat_h][lat_w] latents the mask touches, dilated by 1 */
    int active;                    /* this frame is filled (a mask and a chain) */
    uint64_t masked;               /* pixels in the mask */

    TecLatentGrid *grids;          /* [groups] the prediction's latents, as the decoder's window */
    uint16_t *forecast;            /* [bands][H][W] the prediction, synthesised */
    uint8_t *filled;               /* [H][W] what the last frame received had filled */
    int64_t filled_count;
    const char *why;               /* why a frame's mask stayed as coded, or NULL */
} TecFill;

int tec_fill_init(TecFill *f, int m, int groups, int bands, const TecGeometry *g, int window);
void tec_fill_free(TecFill *f);
/* Forgets the chain (a seek, a lost frame). */
void tec_fill_reset(TecFill *f);
/* The mask of the next frame, in place of its packet's. */
int tec_fill_set_mask(TecFill *f, const uint8_t *mask, ptrdiff_t stride);

/* Before a frame's chunks: which pixels it fills (the mask given, else the
 * packet's cloud mask) and the chain's frame for it.  tt gives the
 * conversion between quality positions. */
int tec_fill_begin(TecFill *f, const TecTemporalModel *tt, int position);
/* Bytes tec_fill_block needs (per worker), buf 16-byte aligned. */
size_t tec_fill_block_bytes(const TecFill *f, int h, int w);
/* A decoded block: left[m][h][w] is what it leaves for inter frames; the
 * chain receives it with the masked latents predicted, and (active) the
 * prediction's grid the predicted latents of every position. */
void tec_fill_block(TecFill *f, int group, const TecBlockRect *r, const int16_t *left,
                    const float *igain, void *buf);
int tec_fill_load_rows(TecFill *f, int row);
int tec_fill_store_row(TecFill *f, int row);
/* After the whole frame, samples[bands][H][W] as decoded and the forecast
 * synthesised with chain_norm: fits each band's line on the clear pixels,
 * writes the masked pixels, and moves the chain's radiometry on.  norm is
 * the frame's own standardisation. */
void tec_fill_finish(TecFill *f, uint16_t *samples, const TecFrameNorm *norm);
/* The frame's chain entry is complete (ok) or lost. */
void tec_fill_end(TecFill *f, int ok);

#endif
