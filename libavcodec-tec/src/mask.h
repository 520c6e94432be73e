/* Sample masks of a frame, coded losslessly in the packet (doc/bitstream.md,
 * section 3, masks).  Kind 1, nodata: the samples of the source equal to the
 * nodata value.  The decoder sets exactly those samples to the value and
 * moves any other sample that decoded to it by one unit, so nodata survives
 * lossy coding.
 *
 * A mask is a set of planes: plane 0 masks whole pixels (every band), plane
 * 1 + b adds samples of band b alone (nodata in one band only).  Each present
 * plane is coded row by row (a row is its transitions: the columns where the
 * mask changes), through zstd. */
#ifndef TEC_MASK_H
#define TEC_MASK_H

#include <stddef.h>
#include <stdint.h>

#define TEC_MASK_NODATA 1          /* kind: samples equal to the nodata value */
#define TEC_MASK_INFORMATIONAL 128 /* kinds from here on do not change samples */
#define TEC_MASK_CLOUD 128         /* kind: cloudy pixels, a mask of 0 bands (plane 0) */
/* An entry: u8 kind, u16 value, u8 coding, u32 body size, u32 coded size. */
#define TEC_MASK_ENTRY_HEADER 12

/* Row coder state of one plane. */
typedef struct TecMaskPlane {
    uint8_t *buf;                  /* encoder: the plane's row tokens */
    size_t size, cap;
    const uint8_t *p, *end;        /* decoder: the next row token */
    int32_t *t, *next;             /* transitions of the last row, scratch [width] */
    int n, start;                  /* their count, the mask at column 0 */
    uint64_t masked;               /* samples masked in the rows so far */
} TecMaskPlane;

typedef struct TecMask {
    int bands, width, height;
    int on;                        /* the packet carries the section */
    uint16_t value;                /* the nodata value */
    uint8_t *present;              /* [bands + 1] */
    TecMaskPlane *plane;           /* [bands + 1] */
    size_t *plane_start;           /* [bands + 1]: offset of each plane's rows in body */
    uint8_t *body;                 /* presence bits, then each present plane's rows */
    size_t body_size, body_cap;
    uint8_t *coded;                /* what the packet holds: body or its zstd frame */
    size_t coded_size, coded_cap;
    int coding;                    /* 0 stored, 1 zstd */
    uint8_t *row_all, *row_band;   /* scratch rows [width] */
    int rows_seen;                 /* encoder scan / decoder application */
    uint64_t masked;               /* samples masked in the frame (all bands) */
} TecMask;

int tec_mask_init(TecMask *m, int bands, int width, int height);
void tec_mask_free(TecMask *m);
/* No mask section (a packet without it). */
static inline void tec_mask_clear(TecMask *m) { m->on = 0; }

/* Encoder: the nodata mask of a frame from its rows, given in order (rows
 * seen before are skipped).  Row y of band b is data[b * band_stride + (y -
 * y0) * stride].  End codes the section (TEC_ENOMEM, or TEC_EINVAL when
 * rows were skipped) and leaves
 * the mask ready to apply, as a decoder's after tec_mask_read. */
void tec_mask_scan_begin(TecMask *m, uint16_t value);
int tec_mask_scan_rows(TecMask *m, const uint16_t *data, ptrdiff_t stride,
                       ptrdiff_t band_stride, int y0, int rows);
int tec_mask_scan_end(TecMask *m);

/* The packet section: its size and writing it (p holds tec_mask_size bytes). */
size_t tec_mask_size(const TecMask *m);
void tec_mask_write(const TecMask *m, uint8_t *p);
/* The section with a nodata and a cloud entry, each NULL or off when absent
 * (size 0: no section). */
size_t tec_mask_section_size(const TecMask *nodata, const TecMask *cloud);
void tec_mask_section_write(const TecMask *nodata, const TecMask *cloud, uint8_t *p);
/* As tec_mask_read, also reading a cloud entry into cloud (NULL: skipped). */
int tec_mask_read_section(TecMask *nodata, TecMask *cloud, const uint8_t *p, size_t size,
                          size_t *used, char *err, size_t errlen);

/* Pixel masks (bands 0, the cloud kind).  Encoder: the mask of a frame from
 * a caller's bytes (mask[y * stride + x] != 0: masked), ready to write.
 * Decoder: writes it to out[height][width] as 0/1 and returns the count. */
int tec_mask_from_pixels(TecMask *m, const uint8_t *mask, ptrdiff_t stride);
/* A caller's pixel mask (mask[y * stride + x] != 0) as 0/1 bytes, row after row. */
void tec_mask_copy_pixels(uint8_t *dst, const uint8_t *mask, ptrdiff_t stride, int width,
                          int height);
uint64_t tec_mask_pixels(TecMask *m, uint8_t *out);

/* Reads and checks the whole section (every row of every plane) from p, at
 * most size bytes; sets *used.  TEC_EBITSTREAM with a message when it is
 * malformed, cut or unknown; TEC_ENOMEM. */
int tec_mask_read(TecMask *m, const uint8_t *p, size_t size, size_t *used, char *err,
                  size_t errlen);

/* Applies the mask to rows [y0, y0 + rows) of every band, which come in order
 * from row 0 (a decoder's stripes): masked samples become the value, any
 * other sample equal to it moves by one unit (doc/bitstream.md).  Row y of
 * band b is data[b * band_stride + (y - y0) * stride].  Nothing without a
 * section. */
void tec_mask_apply(TecMask *m, uint16_t *data, ptrdiff_t stride, ptrdiff_t band_stride, int y0,
                    int rows);
/* Restarts the application at row 0 (the encoder's reconstruction). */
void tec_mask_rewind(TecMask *m);

/* Coding of one plane, exposed for the unit test: appends the row token of
 * row[width] (0/1 per column), and reads the next row into row (NULL: only
 * parse); -1 on a malformed token. */
int tec_mask_plane_put(TecMaskPlane *pl, const uint8_t *row, int width);
int tec_mask_plane_get(TecMaskPlane *pl, uint8_t *row, int width);
/* Resets a plane's row state (the row before row 0 masks nothing). */
void tec_mask_plane_reset(TecMaskPlane *pl);

#endif
