/* Reference frames of inter coding: what each decoded frame leaves for the
 * frames after it (its latents as 16-bit integers, doc/model.md), kept per
 * band group and block row, compressed with zstd, so the references of a
 * full Sentinel-2 tile stay far below its float latents (5.8 GB each). */
#ifndef TEC_REFS_H
#define TEC_REFS_H

#include <stddef.h>
#include <stdint.h>

#include "model_temporal.h"

#define TEC_REF_SLOTS (TEC_TT_MAX_REFS + 1)  /* the references and the frame being coded */
#define TEC_REF_NO_DAY INT64_MIN

typedef struct TecRefFrame {
    int valid;                 /* every block row stored */
    uint64_t gop;              /* which keyframe it follows */
    int gop_index;             /* frames since that keyframe */
    int position;              /* quality position it was coded at */
    int64_t day;               /* acquisition day since 1970, or TEC_REF_NO_DAY */
    uint32_t crc;              /* CRC-32 of its packet, which inter packets name */
    uint8_t **rows;            /* [groups][block_rows] compressed int16 [m][rows][lat_w] */
    size_t *sizes;
} TecRefFrame;

typedef struct TecRefStore {
    int m, groups, lat_h, lat_w, block_rows;
    TecRefFrame frame[TEC_REF_SLOTS];
    int current;               /* slot of the frame being coded, -1 none */
    int16_t *staging;          /* [groups][m][TEC_BLOCK][lat_w]: the block row being coded */
    /* Decompressed block rows of the references of the frame being coded:
     * [refs][groups][3 block rows][m][TEC_BLOCK][lat_w], by row % 3. */
    int16_t *window;
    int window_row[TEC_TT_MAX_REFS][3];
    int window_refs;
    int refs[TEC_TT_MAX_REFS]; /* their slots, latest first */
    void *zctx, *dctx;
    size_t stored;             /* compressed bytes held, for the benchmarks */
} TecRefStore;

int tec_refs_init(TecRefStore *s, int m, int groups, int lat_h, int lat_w);
void tec_refs_free(TecRefStore *s);
/* Forgets every reference (a seek, a keyframe's start, a lost frame). */
void tec_refs_reset(TecRefStore *s);

/* The slot that holds gop_index of gop, or -1. */
int tec_refs_find(const TecRefStore *s, uint64_t gop, int gop_index);
/* The slot that holds gop_index with that packet CRC, or -1. */
int tec_refs_find_crc(const TecRefStore *s, int gop_index, uint32_t crc);
/* Starts storing a frame (in the slot of the oldest one) and selects its
 * references (slots, latest first; n may be 0). */
int tec_refs_begin(TecRefStore *s, uint64_t gop, int gop_index, int position, int64_t day,
                   const int *refs, int n);
/* Copies what a block of the current block row leaves, left[m][h][w] (its
 * columns from x0), into the staged row.  Blocks of a row write disjoint
 * columns, so workers may call it at once. */
void tec_refs_stage(TecRefStore *s, int group, int x0, int h, int w, const int16_t *left);
/* Compresses the staged block row `row` into the current frame. */
int tec_refs_store_row(TecRefStore *s, int row);
/* Marks the current frame complete (valid, with its packet's CRC) or lost. */
void tec_refs_end(TecRefStore *s, int ok, uint32_t crc);

/* Forgets the frame in slot (the encoder coded it another way). */
void tec_refs_forget(TecRefStore *s, int slot);

/* Makes slot the only reference, as frame gop_index of gop (an inter
 * frame that coded every block intra becomes a keyframe). */
void tec_refs_keep_only(TecRefStore *s, int slot, uint64_t gop, int gop_index);

/* Makes block rows row-1 .. row+1 of every reference readable. */
int tec_refs_load_rows(TecRefStore *s, int row);
/* Bytes tec_refs_gather needs for n references of an h x w block. */
static inline size_t tec_refs_gather_size(const TecRefStore *s, int n, int h, int w)
{
    const size_t nh = (size_t)(h + 2) * (w + 2);
    return (size_t)n * s->m * nh * sizeof(int32_t) + nh;
}
/* The temporal model's view of a block (rows y0.., columns x0..): each of
 * the n references with a halo of one position, converted by its factor to
 * the current frame's domain, and their time features, in tb; the latents
 * and the in-frame mask live in buf (tec_refs_gather_size bytes). */
void tec_refs_gather(const TecRefStore *s, int group, int y0, int x0, int h, int w, int n,
                     const TecTtFactor *factors, const int32_t (*tau)[TEC_TT_TAU], void *buf,
                     TecTtBlock *tb);

#endif
