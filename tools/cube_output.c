/* tec decode: a .npy cube or GeoTIFFs (cube_output.h). */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <string.h>

#include "cube_output.h"
#include "tec/tec.h"

int cube_output_open(CubeOutput *o, const char *path, int ndim, const GeoTiffSpec *spec,
                     char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->npy.fd = -1;
    o->only_frame = spec->only_frame;
    if (geotiff_is_path(path))
        return geotiff_open(&o->tif, path, spec, err, errlen) < 0 ? TEC_EIO : 0;
    int64_t frames = spec->only_frame >= 0 ? 1 : spec->frames;
    int ret = npy_create(&o->npy, path, spec->only_frame >= 0 ? 3 : ndim, frames, spec->bands,
                         spec->height, spec->width, err, errlen);
    if (ret < 0)
        return ret;
    o->npy_open = 1;
    return 0;
}

int cube_output_write_rows(CubeOutput *o, int64_t frame, int64_t y0, int64_t rows,
                           const uint16_t *data, ptrdiff_t stride, ptrdiff_t band_stride,
                           char *err, size_t errlen)
{
    if (o->tif)
        return geotiff_write_rows(o->tif, frame, y0, rows, data, stride, band_stride, err,
                                  errlen) < 0 ? TEC_EIO : 0;
    if (o->only_frame >= 0) {
        if (frame != o->only_frame)
            return 0;
        frame = 0;
    }
    return npy_write_rows(&o->npy, frame, y0, rows, data, stride, band_stride, err, errlen);
}

int cube_output_close(CubeOutput *o, char *err, size_t errlen)
{
    int ret = 0;
    if (o->tif)
        ret = geotiff_close(&o->tif, 1, err, errlen) < 0 ? TEC_EIO : 0;
    if (o->npy_open) {
        o->npy_open = 0;
        ret = npy_close(&o->npy, err, errlen);
    }
    return ret;
}
