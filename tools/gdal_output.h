/*
 * tec decode: GeoTIFF output through GDAL.  A tiled, DEFLATE-compressed
 * GeoTIFF (or a Cloud-Optimized GeoTIFF) per frame, or the one frame asked
 * for, with the stream's CRS, geotransform, nodata, band names, date and
 * other metadata set.  Rows come in stripes (the decoder's row sink);
 * frames that never got rows are written as zeros when the output closes.
 * Functions return 0 or -1 with a message in err.
 */
#ifndef TEC_TOOLS_GDAL_OUTPUT_H
#define TEC_TOOLS_GDAL_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "tec/tec.h"

typedef struct GeoTiffSpec {
    int bands, width, height;
    int64_t frames;       /* of the stream */
    int64_t only_frame;   /* -1: every frame, a file each when there are several */
    int cog;              /* Cloud-Optimized GeoTIFF (COG driver) instead of GTiff */
    const char *band_names[TEC_MAX_BANDS];  /* NULL or "": unnamed */
    const TecvInfo *info; /* the metadata; must outlive the writer */
    int filled_clouds;    /* tec decode --fill-clouds: said in each file's metadata */
} GeoTiffSpec;

typedef struct GeoTiffWriter GeoTiffWriter;

/* 1 when path names a GeoTIFF by its extension (.tif, .tiff). */
int geotiff_is_path(const char *path);
int geotiff_open(GeoTiffWriter **w, const char *path, const GeoTiffSpec *spec, char *err,
                 size_t errlen);
/* The file frame t goes to (for messages). */
const char *geotiff_frame_path(GeoTiffWriter *w, int64_t t);
int geotiff_write_rows(GeoTiffWriter *w, int64_t frame, int64_t y0, int64_t rows,
                       const uint16_t *data, ptrdiff_t stride, ptrdiff_t band_stride, char *err,
                       size_t errlen);
/* Finishes every file (zeros for frames never written); keep 0 removes them. */
int geotiff_close(GeoTiffWriter **w, int keep, char *err, size_t errlen);

#endif
