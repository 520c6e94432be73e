/* What the encoder and the decoder share for a frame: the block geometry,
 * the coding of one (group, block) chunk and the tiled synthesis.  The
 * encoder's reconstruction goes through the same functions as the decoder,
 * so the two agree bit for bit. */
#ifndef TEC_FRAME_CODEC_H
#define TEC_FRAME_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "lean.h"
#include "model_image.h"
#include "model_temporal.h"
#include "rans.h"
#include "seqheader.h"
#include "threads.h"

#define TEC_BLOCK 32             /* latents per block side; also the synthesis tile */
#define TEC_SYNTH_HALO 2         /* latents: covers the synthesis' receptive field */

/* Workspace slots used here (the model uses those below TEC_WS_USER). */
enum {
    TEC_WS_PIXELS = TEC_WS_USER, /* analysis input / synthesis output */
    TEC_WS_LATENTS,              /* analysis output / synthesis input */
    TEC_WS_GAINED,               /* a block's gained latents */
    TEC_WS_HYPER,                /* float hyper-latent */
    TEC_WS_HYPER_INT,            /* integer hyper-latent */
    TEC_WS_PARAMS,               /* hyper-synthesis output */
    TEC_WS_CONTEXT,              /* a block's entropy parameters, channel context input */
    TEC_WS_TEMPORAL,             /* an inter block's references and what it leaves */
};

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

typedef struct TecGeometry {
    int width, height;
    int downscale;               /* pixels per latent */
    int lat_h, lat_w;            /* ceil(H / downscale), ceil(W / downscale) */
    int block_rows, block_cols, n_blocks;
    int stripe_rows;             /* pixel rows per block row */
} TecGeometry;

typedef struct TecBlockRect {
    int y0, x0, h, w;            /* in latents */
} TecBlockRect;

void tec_geometry_init(TecGeometry *g, int width, int height, int downscale);
TecBlockRect tec_geometry_block(const TecGeometry *g, int block);
/* Hyper-latent size for a block side: ceil(ceil(n / 2) / 2). */
static inline int tec_hyper_size(int latents) { return (latents + 3) / 4; }

/* The decoder-side latent: y = (s + mu) * igain, mu = mean / 256. */
static inline float tec_latent_value(int32_t symbol, int32_t mean, float igain)
{
    return ((float)symbol + (float)mean / 256.0f) * igain;
}

/* Rows [row0, row0 + h) of a group's latents, [m][h][w]: the whole frame
 * (row0 = 0, h = lat_h) or the decoder's window of a few block rows. */
typedef struct TecLatentGrid {
    float *y;
    int h, w;
    int row0;
} TecLatentGrid;

/* Row y of channel c of the grid, y in frame latents. */
static inline float *tec_grid_row(const TecLatentGrid *g, int c, int y)
{
    return g->y + ((size_t)c * g->h + (y - g->row0)) * g->w;
}

/* How a block is coded: intra (inter == NULL or inter->tt == NULL: the
 * image model's contexts) or inter (the temporal model with the block's
 * references).  refs_out, when set, receives what the block leaves for
 * later frames ([m][bh][bw], tec_tt_reference_value), intra or inter. */
typedef struct TecFcInter {
    const TecTemporalModel *tt;
    const TecTtBlock *refs;
    int16_t *refs_out;
    /* Encoder: latents coded as symbol 0, their prediction (clouds left to
     * the decoder), where zero[y * zero_stride + x] of the block is set;
     * NULL: none. */
    const uint8_t *zero;
    int zero_stride;
    /* Inter blocks: each channel's lean ([m], lean.h) applied to its final
     * means, or NULL for none; the encoder's sums for choosing them, or
     * NULL.  A decoded chunk holds its table when lean_table is set. */
    const int8_t *lean;
    TecLeanSums *lean_sums;
    int lean_table;
    /* Encoder (latent refinement, refine.h): what each latent was coded
     * with, [m][bh][bw] each, or NULL: its final mean (Q8) and raw scale,
     * and its decoded gained value (symbol + mean). */
    int32_t *mean_out, *scale_out;
    float *value_out;
} TecFcInter;

/* The symbol the encoder codes for a gained latent at distance d from its
 * final mean. */
int32_t tec_fc_quantise_latent(float d);

/* Codes one block into re (reset first): z (float, [nh][hz][wz]) rounded,
 * then the symbols of the gained latents yg[m][bh][bw].  With a grid, the
 * decoder-side latents of the block land there at (y0, x0). */
int tec_fc_encode_block(const TecImageModel *m, const float *yg, const float *z,
                        const TecBlockRect *r, const float *igain, const TecFcInter *inter,
                        TecRansEncoder *re, TecLatentGrid *grid, TecWorkspace *ws);

/* Decodes one chunk into the grid; TEC_EBITSTREAM with a message on any
 * inconsistency. */
int tec_fc_decode_chunk(const TecImageModel *m, const uint8_t *data, size_t size,
                        const TecBlockRect *r, const float *igain, const TecFcInter *inter,
                        TecLatentGrid *grid, TecWorkspace *ws, char *err, size_t errlen);

/* How the samples of each band of a frame are standardised for the model:
 * xn = (x - mean) / spread.  Models with frame_norm take the frame's own
 * integer statistics, which the packet carries (doc/bitstream.md, 3). */
typedef struct TecFrameNorm {
    float mean[TEC_MAX_BANDS], spread[TEC_MAX_BANDS];
} TecFrameNorm;

/* The model's fixed statistics, by each band's slot. */
void tec_norm_from_model(const TecImageModel *m, const TecSeqHeader *h, TecFrameNorm *norm);
/* Bytes of band statistics in a packet (0 without frame_norm). */
size_t tec_norm_packet_size(const TecImageModel *m, const TecSeqHeader *h);
/* Writes / reads them in group order; the reader rejects a zero spread. */
void tec_norm_write(const TecSeqHeader *h, const uint16_t *mean, const uint16_t *spread,
                    uint8_t *p);
int tec_norm_read(const TecSeqHeader *h, const uint8_t *p, TecFrameNorm *norm);

/* Where the samples of one stripe go: sample (b, y, x) of the frame is at
 * data[b * band_stride + (y - y0) * stride + x]. */
typedef struct TecSampleTarget {
    uint16_t *data;
    ptrdiff_t stride, band_stride;
    int y0;
} TecSampleTarget;

/* Synthesises the tile of block (block_row, block_col) of one group from its
 * grid, with a TEC_SYNTH_HALO halo clipped to the grid, and writes the
 * group's bands. */
int tec_fc_synthesize_tile(const TecImageModel *m, const TecGeometry *g,
                           const TecLatentGrid *grid, const TecBandGroup *group,
                           const TecFrameNorm *norm, int block_row, int block_col,
                           const TecSampleTarget *out, TecWorkspace *ws);

/* Workers of an encoder or decoder: a pool and one workspace (and rANS
 * encoder) per worker. */
typedef struct TecWorkers {
    TecPool *pool;
    int count;
    TecWorkspace *ws;
    TecRansEncoder *rans;
} TecWorkers;

int tec_workers_init(TecWorkers *w, int threads);
void tec_workers_free(TecWorkers *w);

/* Runs fn for tasks 0..n-1 on at most `parallel` workers at a time (so
 * that parallel workspaces fit in memory); slot picks the worker's
 * workspace.  Returns the first error. */
typedef int (*TecTaskFn)(void *ctx, int task, int slot);
int tec_workers_run(TecWorkers *w, int parallel, int n, TecTaskFn fn, void *ctx);
/* How many workers may run at once when each needs about bytes. */
int tec_workers_parallel(const TecWorkers *w, size_t bytes);

/* Memory one synthesis tile needs (per worker). */
size_t tec_fc_synthesis_bytes(const TecImageModel *m);

/* Synthesises block row `row` of every group into out (tiles in parallel). */
int tec_fc_synthesize_stripe(const TecImageModel *m, TecWorkers *w, const TecGeometry *g,
                             const TecSeqHeader *h, TecLatentGrid *grids,
                             const TecFrameNorm *norm, int row, const TecSampleTarget *out);

#endif
