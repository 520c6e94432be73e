/* tec encode's input: a .npy cube (npy.h) or rasters read through GDAL
 * (gdal_input.h), behind one interface.  Functions return 0 or a negative
 * code with a message in err. */
#ifndef TEC_TOOLS_CUBE_INPUT_H
#define TEC_TOOLS_CUBE_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "gdal_input.h"
#include "npy.h"

typedef struct CubeInput {
    int ndim;            /* 3: one acquisition (C,H,W); 4: a series */
    int64_t frames, bands, height, width;
    NpyFile npy;
    int npy_open;
    GdalSeries *gdal;
    const GdalMeta *file_meta;  /* what the files say; NULL for a .npy */
} CubeInput;

/* 1 when path is a .npy cube (by its name). */
int cube_input_is_npy(const char *path);
/* One .npy, or any number of GDAL inputs (a time series). */
int cube_input_open(CubeInput *c, const char *const *paths, int n, char *err, size_t errlen);
int cube_input_read_rows(CubeInput *c, int64_t frame, int64_t y0, int64_t rows, uint16_t *data,
                         ptrdiff_t stride, ptrdiff_t band_stride, char *err, size_t errlen);
/* A whole frame, contiguous C x H x W. */
int cube_input_read_frame(CubeInput *c, int64_t frame, uint16_t *data, char *err,
                          size_t errlen);
void cube_input_close(CubeInput *c);

#endif
