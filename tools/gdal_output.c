/* tec decode: GeoTIFF and COG output through GDAL (gdal_output.h). */
#define _XOPEN_SOURCE 700
#define _FILE_OFFSET_BITS 64

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gdal_output.h"

int geotiff_is_path(const char *path)
{
    size_t n = strlen(path);
    return (n > 4 && !strcasecmp(path + n - 4, ".tif")) ||
           (n > 5 && !strcasecmp(path + n - 5, ".tiff"));
}

#ifdef TEC_HAVE_GDAL

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "gdal_common.h"
#include "tec_cli.h"

/* Tiles of the GeoTIFF; COG's own default is 512. */
#define TILE 256

struct GeoTiffWriter {
    GeoTiffSpec spec;
    char band_name[TEC_MAX_BANDS][TEC_MAX_BAND_NAME];  /* spec's, copied */
    char *path;
    int64_t n_files;
    char **file;        /* final name of each file */
    uint8_t *created;   /* per file: 0 not yet, 1 open now, 2 finished */
    int64_t cur;        /* file open now, -1: none */
    GDALDatasetH ds;
    char *wkt;          /* the stream's CRS as WKT, NULL when it has none */
    int has_gt;
    double gt[6];
    int has_nodata;
    double nodata;
    TecList dates;
};


/* Item t of a comma-separated value that has one per item (count items),
 * else the whole value; into buf. */
static const char *pick(const char *value, int64_t t, int64_t count, char *buf, size_t size)
{
    if (count < 2 || !strchr(value, ','))
        return value;
    TecList l;
    if (tec_list_split(&l, value) < 0)
        return value;
    const char *r = value;
    if (l.count == count) {
        snprintf(buf, size, "%s", l.item[t]);
        r = buf;
    }
    tec_list_free(&l);
    return r;
}

static const char *meta(const GeoTiffWriter *w, const char *key)
{
    return tec_tecv_meta(w->spec.info, key);
}

int geotiff_open(GeoTiffWriter **out, const char *path, const GeoTiffSpec *spec, char *err,
                 size_t errlen)
{
    tec_gdal_setup();
    *out = NULL;
    if (!GDALGetDriverByName("GTiff") || (spec->cog && !GDALGetDriverByName("COG")))
        return tec_seterr(err, errlen, "%s: this GDAL has no %s driver", path,
                      spec->cog ? "COG" : "GTiff");
    GeoTiffWriter *w = calloc(1, sizeof(*w));
    if (!w)
        return tec_seterr(err, errlen, "out of memory");
    w->spec = *spec;
    for (int b = 0; b < spec->bands && b < TEC_MAX_BANDS; b++) {
        snprintf(w->band_name[b], sizeof(w->band_name[b]), "%s",
                 spec->band_names[b] ? spec->band_names[b] : "");
        w->spec.band_names[b] = w->band_name[b];
    }
    w->cur = -1;
    w->n_files = spec->only_frame >= 0 || spec->frames == 1 ? 1 : spec->frames;
    w->path = malloc(strlen(path) + 1);
    w->file = calloc((size_t)w->n_files, sizeof(*w->file));
    w->created = calloc((size_t)w->n_files, 1);
    if (!w->path || !w->file || !w->created)
        goto oom;
    strcpy(w->path, path);
    /* out.tif, or out_000.tif, out_001.tif, ... for a series. */
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        dot = path + strlen(path);
    int digits = 3;
    for (int64_t n = w->n_files - 1; n >= 1000; n /= 10)
        digits++;
    for (int64_t t = 0; t < w->n_files; t++) {
        size_t size = strlen(path) + 32;
        if (!(w->file[t] = malloc(size)))
            goto oom;
        if (w->n_files == 1)
            snprintf(w->file[t], size, "%s", path);
        else {
            char num[24];
            int len = snprintf(num, sizeof(num), "%lld", (long long)t);
            snprintf(w->file[t], size, "%.*s_%.*s%s%s", (int)(dot - path), path,
                     len < digits ? digits - len : 0, "0000000000000000000", num, dot);
        }
    }
    const char *crs = meta(w, "crs");
    if (crs) {
        OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
        char *wkt = NULL;
        if (srs && OSRSetFromUserInput(srs, crs) == OGRERR_NONE &&
            OSRExportToWkt(srs, &wkt) == OGRERR_NONE && wkt)
            w->wkt = strdup(wkt);
        else
            cli_warning("%s: the stream's crs '%.60s' is not one GDAL reads; the GeoTIFF has "
                        "no CRS", path, crs);
        CPLFree(wkt);
        OSRDestroySpatialReference(srs);
    }
    const char *gt = meta(w, "geotransform");
    if (gt) {
        TecList l;
        if (tec_list_split(&l, gt) < 0)
            goto oom;
        w->has_gt = l.count == 6;
        for (int i = 0; w->has_gt && i < 6; i++)
            w->has_gt = !tec_parse_double(l.item[i], &w->gt[i]);
        tec_list_free(&l);
        if (!w->has_gt)
            cli_warning("%s: the stream's geotransform '%s' is not 6 numbers; not set", path, gt);
    }
    const char *nd = meta(w, "nodata");
    if (nd)
        w->has_nodata = !tec_parse_double(nd, &w->nodata);
    const char *dates = meta(w, "dates");
    if (dates && tec_list_split(&w->dates, dates) < 0)
        goto oom;
    /* A row of tiles of every band must fit in GDAL's block cache: a tile
     * written out before it is full would be compressed twice. */
    GIntBig need = (GIntBig)spec->width * TILE * 2 * spec->bands * 2;
    if (GDALGetCacheMax64() < need)
        GDALSetCacheMax64(need);
    *out = w;
    return 0;
oom:
    *out = w;
    geotiff_close(out, 0, err, errlen);
    return tec_seterr(err, errlen, "out of memory");
}

const char *geotiff_frame_path(GeoTiffWriter *w, int64_t t)
{
    return w->file[w->n_files == 1 ? 0 : t];
}

/* Frame t's date as a TIFF date ("2017:06:20 10:00:31"), or "" */
static void tiff_datetime(const char *date, char *buf, size_t size)
{
    int64_t ms, y;
    int m, d;
    buf[0] = '\0';
    if (tec_parse_date(date, &ms) != 1)
        return;
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rest = (ms - days * 86400000) / 1000;
    tec_civil_from_days(days, &y, &m, &d);
    snprintf(buf, size, "%04lld:%02d:%02d %02d:%02d:%02d", (long long)y, m, d, (int)(rest / 3600),
             (int)(rest / 60 % 60), (int)(rest % 60));
}

/* The keys set by their own GDAL calls, not as metadata items. */
static int own_key(const char *k)
{
    static const char *const keys[] = { "bands", "dates", "crs", "geotransform", "nodata",
                                        "offset", "scale", KEY_RANK };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!strcmp(k, keys[i]))
            return 1;
    return 0;
}

static int set_metadata(GeoTiffWriter *w, int64_t t, char *err, size_t errlen)
{
    const GeoTiffSpec *sp = &w->spec;
    GDALDatasetH ds = w->ds;
    char buf[4096];
    if (w->wkt && GDALSetProjection(ds, w->wkt) != CE_None)
        return tec_seterr(err, errlen, "%s: cannot set the CRS: %s", w->file[0], tec_gdal_why());
    if (w->has_gt && GDALSetGeoTransform(ds, w->gt) != CE_None)
        return tec_seterr(err, errlen, "%s: cannot set the geotransform: %s", w->file[0],
                      tec_gdal_why());
    if (w->dates.count == sp->frames && t < w->dates.count) {
        const char *date = w->dates.item[t];
        char tiff[32];
        tiff_datetime(date, tiff, sizeof(tiff));
        GDALSetMetadataItem(ds, "ACQUISITION_DATE", date, NULL);
        if (tiff[0])
            GDALSetMetadataItem(ds, "TIFFTAG_DATETIME", tiff, NULL);
    }
    /* Every other key as an item named in capitals (BOA_ADD_OFFSET, ...),
     * the item of this frame where the value has one per frame. */
    const TecvInfo *info = sp->info;
    for (int i = 0; i < info->n_meta; i++) {
        const char *k = info->meta_keys[i];
        if (own_key(k))
            continue;
        char name[128];
        size_t n = 0;
        for (; k[n] && n < sizeof(name) - 1; n++)
            name[n] = isalnum((unsigned char)k[n]) ? (char)toupper((unsigned char)k[n]) : '_';
        name[n] = '\0';
        const char *v = pick(info->meta_values[i], t, sp->frames, buf, sizeof(buf));
        if (*v)  /* "": this frame has no such value */
            GDALSetMetadataItem(ds, name, v, NULL);
    }
    /* Nothing filled silently: the pixels are predictions, which ones the
     * --write-mask file says. */
    if (sp->filled_clouds)
        GDALSetMetadataItem(ds, "TEC_FILLED_CLOUDS",
                            "cloudy pixels replaced by the decoder's prediction", NULL);
    const char *offset = meta(w, "offset"), *scale = meta(w, "scale");
    for (int b = 0; b < sp->bands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);
        if (sp->band_names[b] && sp->band_names[b][0])
            GDALSetDescription(band, sp->band_names[b]);
        if (w->has_nodata)
            GDALSetRasterNoDataValue(band, w->nodata);
        double v;
        char per_band[256];
        if (offset &&
            !tec_parse_double(pick(pick(offset, t, sp->frames, buf, sizeof(buf)), b, sp->bands,
                                   per_band, sizeof(per_band)), &v))
            GDALSetRasterOffset(band, v);
        if (scale &&
            !tec_parse_double(pick(pick(scale, t, sp->frames, buf, sizeof(buf)), b, sp->bands,
                                   per_band, sizeof(per_band)), &v))
            GDALSetRasterScale(band, v);
    }
    return 0;
}

/* GDALClose reports nothing in GDAL 3.6: a failed write shows as an error
 * raised while it flushes. */
static int close_checked(GDALDatasetH ds)
{
    CPLErrorReset();
    GDALClose(ds);
    return CPLGetLastErrorType() >= CE_Failure ? -1 : 0;
}

static char *temp_name(const char *final)
{
    size_t n = strlen(final) + 16;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s.tmp-tec.tif", final);
    return s;
}

static int create_file(GeoTiffWriter *w, int64_t f, int64_t frame, char *err, size_t errlen)
{
    const GeoTiffSpec *sp = &w->spec;
    char *tmp = sp->cog ? temp_name(w->file[f]) : NULL;
    if (sp->cog && !tmp)
        return tec_seterr(err, errlen, "out of memory");
    char **opt = NULL;
    opt = CSLSetNameValue(opt, "TILED", "YES");
    opt = CSLSetNameValue(opt, "BLOCKXSIZE", "256");
    opt = CSLSetNameValue(opt, "BLOCKYSIZE", "256");
    opt = CSLSetNameValue(opt, "COMPRESS", "DEFLATE");
    opt = CSLSetNameValue(opt, "PREDICTOR", "2");
    opt = CSLSetNameValue(opt, "INTERLEAVE", "BAND");
    opt = CSLSetNameValue(opt, "BIGTIFF", "IF_SAFER");
    w->ds = GDALCreate(GDALGetDriverByName("GTiff"), tmp ? tmp : w->file[f], sp->width,
                       sp->height, sp->bands, GDT_UInt16, opt);
    CSLDestroy(opt);
    free(tmp);
    if (!w->ds)
        return tec_seterr(err, errlen, "%s: cannot create it: %s", w->file[f], tec_gdal_why());
    w->cur = f;
    w->created[f] = 1;
    return set_metadata(w, frame, err, errlen);
}

/* Closes the open file; a COG is written from it now. */
static int finish_file(GeoTiffWriter *w, char *err, size_t errlen)
{
    if (w->cur < 0)
        return 0;
    int64_t f = w->cur;
    int ret = 0;
    w->cur = -1;
    w->created[f] = 2;
    if (!w->spec.cog) {
        if (close_checked(w->ds) < 0)
            ret = tec_seterr(err, errlen, "%s: cannot finish it: %s", w->file[f], tec_gdal_why());
        w->ds = NULL;
        return ret;
    }
    char **opt = NULL;
    opt = CSLSetNameValue(opt, "COMPRESS", "DEFLATE");
    opt = CSLSetNameValue(opt, "PREDICTOR", "YES");
    opt = CSLSetNameValue(opt, "BIGTIFF", "IF_SAFER");
    /* Overviews by nearest neighbour: decoded samples, never new values. */
    opt = CSLSetNameValue(opt, "OVERVIEW_RESAMPLING", "NEAREST");
    GDALDatasetH cog = GDALCreateCopy(GDALGetDriverByName("COG"), w->file[f], w->ds, FALSE, opt,
                                      NULL, NULL);
    CSLDestroy(opt);
    if (!cog || close_checked(cog) < 0)
        ret = tec_seterr(err, errlen, "%s: cannot write the COG: %s", w->file[f], tec_gdal_why());
    char *tmp = temp_name(w->file[f]);
    GDALClose(w->ds);
    w->ds = NULL;
    if (tmp)
        VSIUnlink(tmp);
    free(tmp);
    return ret;
}

static int select_file(GeoTiffWriter *w, int64_t frame, int64_t *f, char *err, size_t errlen)
{
    *f = w->n_files == 1 ? 0 : frame;
    if (w->cur == *f)
        return 0;
    if (w->created[*f])
        return tec_seterr(err, errlen, "%s: rows of frame %lld came after the file was finished",
                      w->file[*f], (long long)frame);
    if (finish_file(w, err, errlen) < 0)
        return -1;
    return create_file(w, *f, frame, err, errlen);
}

int geotiff_write_rows(GeoTiffWriter *w, int64_t frame, int64_t y0, int64_t rows,
                       const uint16_t *data, ptrdiff_t stride, ptrdiff_t band_stride, char *err,
                       size_t errlen)
{
    const GeoTiffSpec *sp = &w->spec;
    if (sp->only_frame >= 0 && frame != sp->only_frame)
        return 0;
    int64_t f;
    if (frame < 0 || frame >= sp->frames || select_file(w, frame, &f, err, errlen) < 0)
        return frame < 0 || frame >= sp->frames
                   ? tec_seterr(err, errlen, "frame %lld of %lld", (long long)frame,
                            (long long)sp->frames)
                   : -1;
    for (int b = 0; b < sp->bands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(w->ds, b + 1);
        if (GDALRasterIO(band, GF_Write, 0, (int)y0, sp->width, (int)rows,
                         (void *)(data + b * band_stride), sp->width, (int)rows, GDT_UInt16, 0,
                         (GSpacing)(stride * 2)) != CE_None)
            return tec_seterr(err, errlen, "%s: cannot write: %s", w->file[f], tec_gdal_why());
    }
    return 0;
}

/* A file whose frame never decoded: zeros, like the .npy output. */
static int write_zeros(GeoTiffWriter *w, int64_t f, char *err, size_t errlen)
{
    const GeoTiffSpec *sp = &w->spec;
    int64_t frame = w->n_files == 1 ? (sp->only_frame >= 0 ? sp->only_frame : 0) : f;
    if (create_file(w, f, frame, err, errlen) < 0)
        return -1;
    uint16_t *zeros = calloc((size_t)sp->width * TILE, 2);
    if (!zeros)
        return tec_seterr(err, errlen, "out of memory");
    int ret = 0;
    for (int y = 0; y < sp->height && !ret; y += TILE) {
        int rows = sp->height - y < TILE ? sp->height - y : TILE;
        for (int b = 0; b < sp->bands && !ret; b++)
            if (GDALRasterIO(GDALGetRasterBand(w->ds, b + 1), GF_Write, 0, y, sp->width, rows,
                             zeros, sp->width, rows, GDT_UInt16, 0, 0) != CE_None)
                ret = tec_seterr(err, errlen, "%s: cannot write: %s", w->file[f], tec_gdal_why());
    }
    free(zeros);
    return ret;
}

int geotiff_close(GeoTiffWriter **pw, int keep, char *err, size_t errlen)
{
    GeoTiffWriter *w = *pw;
    if (!w)
        return 0;
    int ret = finish_file(w, err, errlen);
    for (int64_t f = 0; keep && !ret && f < w->n_files; f++)
        if (!w->created[f] && (ret = write_zeros(w, f, err, errlen)) == 0)
            ret = finish_file(w, err, errlen);
    if (w->ds)
        GDALClose(w->ds);
    for (int64_t f = 0; w->file && f < w->n_files; f++) {
        if (!keep && w->created[f] && w->file[f])
            VSIUnlink(w->file[f]);
        free(w->file[f]);
    }
    free(w->file);
    free(w->created);
    free(w->path);
    free(w->wkt);
    tec_list_free(&w->dates);
    free(w);
    *pw = NULL;
    return ret;
}

#else /* !TEC_HAVE_GDAL */

int geotiff_open(GeoTiffWriter **w, const char *path, const GeoTiffSpec *spec, char *err,
                 size_t errlen)
{
    (void)spec;
    *w = NULL;
    snprintf(err, errlen, "%s: this tec was built without GDAL, so it writes only .npy cubes "
             "(install libgdal-dev, e.g. with 'make deps', then rerun ./configure and make)",
             path);
    return -1;
}

const char *geotiff_frame_path(GeoTiffWriter *w, int64_t t)
{
    (void)w, (void)t;
    return "";
}

int geotiff_write_rows(GeoTiffWriter *w, int64_t frame, int64_t y0, int64_t rows,
                       const uint16_t *data, ptrdiff_t stride, ptrdiff_t band_stride, char *err,
                       size_t errlen)
{
    (void)w, (void)frame, (void)y0, (void)rows, (void)data, (void)stride, (void)band_stride;
    snprintf(err, errlen, "this tec was built without GDAL");
    return -1;
}

int geotiff_close(GeoTiffWriter **w, int keep, char *err, size_t errlen)
{
    (void)keep, (void)err, (void)errlen;
    *w = NULL;
    return 0;
}

#endif
