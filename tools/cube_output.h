/* tec decode's output: a .npy cube (npy.h) or GeoTIFFs written through GDAL
 * (gdal_output.h), behind one interface.  Functions return 0 or a negative
 * code with a message in err. */
#ifndef TEC_TOOLS_CUBE_OUTPUT_H
#define TEC_TOOLS_CUBE_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "gdal_output.h"
#include "npy.h"

typedef struct CubeOutput {
    NpyFile npy;
    int npy_open;
    GeoTiffWriter *tif;
    int64_t only_frame;  /* -1: every frame */
} CubeOutput;

/* The stream's shape is in spec; ndim (3 or 4) is the .npy's rank.  With
 * spec->only_frame >= 0 only that frame is written (a .npy of rank 3). */
int cube_output_open(CubeOutput *o, const char *path, int ndim, const GeoTiffSpec *spec,
                     char *err, size_t errlen);
/* Rows of frame (the stream's index); other frames than only_frame are
 * dropped. */
int cube_output_write_rows(CubeOutput *o, int64_t frame, int64_t y0, int64_t rows,
                           const uint16_t *data, ptrdiff_t stride, ptrdiff_t band_stride,
                           char *err, size_t errlen);
int cube_output_close(CubeOutput *o, char *err, size_t errlen);

#endif
