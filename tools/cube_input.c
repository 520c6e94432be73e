/* tec encode: a .npy cube or GDAL rasters (cube_input.h). */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cube_input.h"
#include "tec/tec.h"

int cube_input_is_npy(const char *path)
{
    size_t n = strlen(path);
    return !strcmp(path, "-") || (n > 4 && !strcasecmp(path + n - 4, ".npy"));
}

int cube_input_open(CubeInput *c, const char *const *paths, int n, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->npy.fd = -1;
    int npys = 0, first_npy = 0;
    for (int i = n - 1; i >= 0; i--)
        if (cube_input_is_npy(paths[i])) {
            npys++;
            first_npy = i;
        }
    if (npys && n > 1) {
        snprintf(err, errlen, "%s: a .npy cube is the whole input; it cannot be combined with "
                 "other files", paths[first_npy]);
        return TEC_EINVAL;
    }
    if (npys) {
        int ret = npy_open_read(&c->npy, paths[0], err, errlen);
        if (ret < 0)
            return ret;
        c->npy_open = 1;
        c->ndim = c->npy.ndim;
        c->frames = c->npy.frames;
        c->bands = c->npy.bands;
        c->height = c->npy.height;
        c->width = c->npy.width;
        return 0;
    }
    if (gdal_series_open(&c->gdal, paths, n, err, errlen) < 0)
        return TEC_EINVAL;
    gdal_series_shape(c->gdal, &c->frames, &c->bands, &c->height, &c->width);
    /* One raster is one acquisition, decoded as (C, H, W) like a 3-D .npy. */
    c->ndim = c->frames == 1 ? 3 : 4;
    c->file_meta = gdal_series_meta(c->gdal);
    return 0;
}

int cube_input_read_rows(CubeInput *c, int64_t frame, int64_t y0, int64_t rows, uint16_t *data,
                         ptrdiff_t stride, ptrdiff_t band_stride, char *err, size_t errlen)
{
    if (c->npy_open)
        return npy_read_rows(&c->npy, frame, y0, rows, data, stride, band_stride, err, errlen);
    return gdal_series_read_rows(c->gdal, frame, y0, rows, data, stride, band_stride, err,
                                 errlen) < 0 ? TEC_EIO : 0;
}

int cube_input_read_frame(CubeInput *c, int64_t frame, uint16_t *data, char *err, size_t errlen)
{
    if (c->npy_open)
        return npy_read_frame(&c->npy, frame, data, err, errlen);
    return cube_input_read_rows(c, frame, 0, c->height, data, c->width, c->width * c->height,
                                err, errlen);
}

void cube_input_close(CubeInput *c)
{
    char err[256];
    if (c->npy_open)
        npy_close(&c->npy, err, sizeof(err));
    c->npy_open = 0;
    gdal_series_close(&c->gdal);
    c->file_meta = NULL;
}
