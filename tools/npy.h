/* .npy files of little-endian uint16 samples, shaped (C,H,W) or (T,C,H,W)
 * (and uint8 masks, (H,W) or (T,H,W)),
 * for the tec command line tool.  Frames and stripes are read and written
 * at their offsets (pread/pwrite), so a multi-gigabyte cube never has to fit
 * in memory.  Functions return 0 or a negative TEC_E* code and, on failure,
 * write a message naming the file into err. */
#ifndef TEC_TOOLS_NPY_H
#define TEC_TOOLS_NPY_H

#include <stddef.h>
#include <stdint.h>

typedef struct NpyFile {
    int fd;               /* -1 when closed */
    int ndim;             /* 3: (C,H,W), 4: (T,C,H,W) */
    int64_t frames;       /* T; 1 for rank 3 */
    int64_t bands, height, width;
    int64_t data_offset;  /* bytes before the first sample */
    int elem;             /* bytes per element: 2 samples, 1 a mask */
    char path[256];       /* for messages (possibly truncated) */
} NpyFile;

/* Open and validate an existing file: format version 1.0, 2.0 or 3.0,
 * dtype uint16 little-endian ('<u2', '|u2', '=u2' or 'u2'), C order, rank
 * 3 or 4, no zero-sized dimension, and enough data for the shape. */
int npy_open_read(NpyFile *f, const char *path, char *err, size_t errlen);

/* Create (truncate) a file for shape (bands, height, width) when ndim is 3
 * (frames must be 1) or (frames, bands, height, width) when ndim is 4.  The
 * file is extended to its full size at once; samples start as zero. */
int npy_create(NpyFile *f, const char *path, int ndim, int64_t frames, int64_t bands,
               int64_t height, int64_t width, char *err, size_t errlen);

/* Rows [y0, y0 + rows) of every band of one frame.  Sample (b, y, x) is
 * data[b * band_stride + (y - y0) * stride + x] (in elements), the layout of
 * TecRowSource / TecRowSink. */
int npy_read_rows(const NpyFile *f, int64_t frame, int64_t y0, int64_t rows, uint16_t *data,
                  ptrdiff_t stride, ptrdiff_t band_stride, char *err, size_t errlen);
int npy_write_rows(const NpyFile *f, int64_t frame, int64_t y0, int64_t rows,
                   const uint16_t *data, ptrdiff_t stride, ptrdiff_t band_stride,
                   char *err, size_t errlen);

/* A whole frame, contiguous C x H x W. */
int npy_read_frame(const NpyFile *f, int64_t frame, uint16_t *data, char *err, size_t errlen);
int npy_write_frame(const NpyFile *f, int64_t frame, const uint16_t *data, char *err,
                    size_t errlen);

/* Masks: uint8 (or bool) shaped (H, W) or (T, H, W), bands 1; written as
 * uint8 (T, H, W).  A frame is H x W bytes. */
int npy_open_read_mask(NpyFile *f, const char *path, char *err, size_t errlen);
int npy_create_mask(NpyFile *f, const char *path, int64_t frames, int64_t height,
                    int64_t width, char *err, size_t errlen);
int npy_read_mask_frame(const NpyFile *f, int64_t frame, uint8_t *mask, char *err,
                        size_t errlen);
int npy_write_mask_frame(const NpyFile *f, int64_t frame, const uint8_t *mask, char *err,
                         size_t errlen);

/* Close the file; for a written file a failing close is reported. */
int npy_close(NpyFile *f, char *err, size_t errlen);

#endif
