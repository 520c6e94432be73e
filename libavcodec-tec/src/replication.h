/* Replicated pixels: Sentinel-2's 20 m and 60 m bands usually reach users
 * resampled to the 10 m grid by pixel replication, so whole rows equal the
 * row above and whole columns the one to the left.  The encoder finds those
 * blocks per band and frame and the packet carries them (doc/bitstream.md,
 * section 3); the decoder gives every block the mean of its reconstruction.
 * The source is constant on each block, so that can only lower the error. */
#ifndef TEC_REPLICATION_H
#define TEC_REPLICATION_H

#include <stddef.h>
#include <stdint.h>

typedef struct TecReplication {
    int bands, width, height;
    /* [bands][height] and [bands][width]: 1 where a row (column) continues
     * the block of the one before it, 0 where a new block starts. */
    uint8_t *row_same, *col_same;
    uint8_t *active;             /* [bands]: any block larger than one pixel */
    /* Encoder scan: the last row seen of each band, rows seen so far. */
    uint16_t *last_row;
    int rows_seen;
    uint64_t *col_sum;           /* [width]: scratch of tec_repl_apply */
} TecReplication;

int tec_repl_init(TecReplication *r, int bands, int width, int height);
void tec_repl_free(TecReplication *r);

/* Encoder: finds the blocks of a frame from its rows, given in order
 * (all of them, in one or more calls between begin and end).  Row y of
 * band b is data[b * band_stride + (y - y0) * stride]. */
void tec_repl_scan_begin(TecReplication *r);
void tec_repl_scan_rows(TecReplication *r, const uint16_t *data, ptrdiff_t stride,
                        ptrdiff_t band_stride, int y0, int rows);
void tec_repl_scan_end(TecReplication *r);
/* 1 when some band has blocks, i.e. the packet carries the section. */
int tec_repl_any(const TecReplication *r);
/* Rows and columns of band b that continue the block of the one before. */
int tec_repl_continuing(const TecReplication *r, int b);

/* The packet section: its size, and writing it (p holds tec_repl_size bytes). */
size_t tec_repl_size(const TecReplication *r);
void tec_repl_write(const TecReplication *r, uint8_t *p);
/* Reads the section from p (at most size bytes); sets *used.  Returns
 * TEC_EBITSTREAM with a message on a malformed section. */
int tec_repl_read(TecReplication *r, const uint8_t *p, size_t size, size_t *used, char *err,
                  size_t errlen);
/* No band replicated (a packet without the section). */
void tec_repl_clear(TecReplication *r);

/* Gives each block of band b within rows [y0, y0 + rows) the rounded mean
 * of its samples; a block never extends past the rows given, so a decoder
 * that works in stripes cuts the blocks at the stripes' edges.  Row y of the
 * band is data[(y - y0) * stride]. */
void tec_repl_apply(const TecReplication *r, int b, uint16_t *data, ptrdiff_t stride, int y0,
                    int rows);

#endif
