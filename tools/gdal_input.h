/*
 * Rasters read through GDAL for tec encode: GeoTIFF / COG files (any
 * single-file raster GDAL opens), text lists of them, Sentinel-2 SAFE
 * products (folders or .zip) and STAC items with local assets.  Every
 * input is one frame; several are a time series, sorted by their
 * acquisition dates.  Samples are read one stripe of rows at a time, so a
 * full Sentinel-2 tile is never whole in memory.  Functions return 0 or -1
 * with a message naming the file in err.
 *
 * Built without GDAL (configure found none), gdal_series_open says so.
 */
#ifndef TEC_TOOLS_GDAL_INPUT_H
#define TEC_TOOLS_GDAL_INPUT_H

#include <stddef.h>
#include <stdint.h>

#define GDAL_MAX_EXTRA 24

/* The inputs' metadata as .tecv metadata values; NULL where the files say
 * nothing.  Extra keys: offset, scale (GDAL's meaning: physical value =
 * sample x scale + offset), boa_add_offset / radio_add_offset and
 * quantification_value (the SAFE's own numbers), processing_baseline,
 * processing_level, spacecraft, product.  A value that differs between
 * frames is a comma-separated list with one item per frame. */
typedef struct GdalMeta {
    char *bands, *dates, *crs, *geotransform, *nodata;
    int n_extra;
    char *extra_key[GDAL_MAX_EXTRA], *extra_value[GDAL_MAX_EXTRA];
} GdalMeta;

typedef struct GdalSeries GdalSeries;

/* 1 when this build has GDAL. */
int gdal_available(void);
/* Opens the inputs (paths as the user named them) and checks that every
 * frame has the same grid, CRS and bands, of unsigned integer samples. */
int gdal_series_open(GdalSeries **s, const char *const *paths, int n, char *err, size_t errlen);
void gdal_series_shape(const GdalSeries *s, int64_t *frames, int64_t *bands, int64_t *height,
                       int64_t *width);
const GdalMeta *gdal_series_meta(const GdalSeries *s);
/* Rows [y0, y0 + rows) of every band of a frame, in the TecRowSource layout;
 * bands on a coarser grid are replicated onto the frame's grid. */
int gdal_series_read_rows(GdalSeries *s, int64_t frame, int64_t y0, int64_t rows, uint16_t *data,
                          ptrdiff_t stride, ptrdiff_t band_stride, char *err, size_t errlen);
void gdal_series_close(GdalSeries **s);

/* Whether two CRS strings (WKT, EPSG:n, PROJ) name the same system: 1, 0, or
 * -1 when either cannot be read (or without GDAL). */
int gdal_crs_same(const char *a, const char *b);

#endif
