/*
 * tec encode: rasters read through GDAL (gdal_input.h).
 *
 * Every input becomes one Frame: a list of bands, each a band of some file
 * GDAL opens, with the factor by which its pixels are larger than the
 * frame's grid (1 for a GeoTIFF's bands; 2 and 6 for a SAFE's 20 m and 60 m
 * bands on the 10 m grid).  Coarse bands are replicated onto the fine grid
 * row by row as they are read (nearest neighbour; libtec finds the
 * replication and codes those bands on their coarse grid again).
 *
 * SAFE products are read by file name (GRANULE/<tile>/IMG_DATA[/R<res>]/
 * *_B<nn>[_<res>].jp2) and their MTD_MSIL1C.xml / MTD_MSIL2A.xml through
 * GDAL's XML parser, rather than through GDAL's SENTINEL2 driver: that
 * driver splits the bands into one subdataset per resolution and needs the
 * product's full layout, while this needs only the band images and the
 * product metadata (doc/cli.md).
 */
#define _XOPEN_SOURCE 700
#define _FILE_OFFSET_BITS 64

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "gdal_input.h"

#ifdef TEC_HAVE_GDAL

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_minixml.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "gdal_common.h"
#include "json.h"
#include "tec/tec.h"
#include "tec_cli.h"

#define MAX_ITEMS 16
#define DATE_SIZE 40

/* ------------------------------------------------------------------ frames */

typedef struct BandRef {
    char *path;        /* the GDAL name of its file (/vsizip/... inside a zip) */
    int index;         /* 1-based band of that file */
    char name[TEC_MAX_BAND_NAME];  /* "" when unnamed */
    int factor;        /* one of its pixels is factor x factor pixels of the frame */
    int width, height;
    int block_rows;    /* rows of the file's blocks (tiles or strips) */
    int has_gt;
    double gt[6];
    int has_nodata;
    double nodata;
} BandRef;

typedef struct Frame {
    char *source;      /* as the user named it */
    int n_bands;
    BandRef band[TEC_MAX_BANDS];
    int width, height;
    int has_gt;
    double gt[6];
    char *wkt;         /* NULL: no CRS */
    char date[DATE_SIZE];  /* "" when the files give none */
    int64_t time_ms;
    int timed;
    int order;         /* position on the command line, for a stable sort */
    int n_items;
    char *item_key[MAX_ITEMS], *item_value[MAX_ITEMS];
} Frame;

struct GdalSeries {
    int n_frames;
    Frame *frame;
    GdalMeta meta;
    /* The datasets of the frame being read (one handle per file). */
    int64_t open_frame;
    GDALDatasetH ds[TEC_MAX_BANDS];
    int owns[TEC_MAX_BANDS];
    uint16_t *coarse;  /* rows of a coarse band before replication */
    size_t coarse_size;
};

static const char *const s2_bands[] = {
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
};
#define N_S2 13


static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* The canonical Sentinel-2 name of s ("b4", "B04", "B8a" -> "B04", "B8A"),
 * its index in s2_bands, or -1. */
static int s2_band_index(const char *s)
{
    if ((s[0] != 'B' && s[0] != 'b') || !s[1])
        return -1;
    if ((s[1] == '8' && (s[2] == 'A' || s[2] == 'a') && !s[3]) ||
        (s[1] == '0' && s[2] == '8' && (s[3] == 'A' || s[3] == 'a') && !s[4]))
        return 8;
    long n;
    if (tec_parse_int(s[1] == '0' ? s + 2 : s + 1, 1, 12, &n))
        return -1;
    return n <= 8 ? (int)n - 1 : (int)n;  /* B8A sits between B08 and B09 */
}

/* A name usable as a band name of the stream: 1 to 15 printable ASCII
 * characters, no spaces or commas (the list separator). */
static int valid_band_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n >= TEC_MAX_BAND_NAME)
        return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 0x7f || *s == ',')
            return 0;
    return 1;
}

static int frame_set_item(Frame *f, const char *key, const char *value)
{
    for (int i = 0; i < f->n_items; i++)
        if (!strcmp(f->item_key[i], key))
            return 0;  /* the first source of a key wins */
    if (f->n_items >= MAX_ITEMS)
        return 0;
    f->item_key[f->n_items] = dup_str(key);
    f->item_value[f->n_items] = dup_str(value);
    if (!f->item_key[f->n_items] || !f->item_value[f->n_items])
        return -1;
    f->n_items++;
    return 0;
}

static void frame_free(Frame *f)
{
    free(f->source);
    free(f->wkt);
    for (int b = 0; b < f->n_bands; b++)
        free(f->band[b].path);
    for (int i = 0; i < f->n_items; i++) {
        free(f->item_key[i]);
        free(f->item_value[i]);
    }
}

/* A date as the files write it ("2017:06:20 10:00:31" from TIFFTAG_DATETIME,
 * "2017-06-20T10:00:31.026000Z" from STAC) in the form tec's dates take,
 * at most millisecond precision.  1: a time; 0: not a date (kept as a
 * label); -1: shaped like a date but impossible. */
static int frame_set_date(Frame *f, const char *in)
{
    char d[DATE_SIZE];
    while (*in == ' ')
        in++;
    size_t n = strlen(in);
    while (n && in[n - 1] == ' ')
        n--;
    if (!n || n >= sizeof(d) || memchr(in, ',', n))  /* a comma would split the dates list */
        return 0;
    memcpy(d, in, n);
    d[n] = '\0';
    if (n >= 19 && d[4] == ':' && d[7] == ':' && d[10] == ' ')
        d[4] = d[7] = '-';
    if (n >= 19 && d[4] == '-' && d[7] == '-' && d[10] == ' ')
        d[10] = 'T';
    /* Keep three digits of a fraction of a second. */
    char *dot = n > 19 && d[10] == 'T' ? strchr(d + 19, '.') : NULL;
    if (dot == d + 19) {
        char *digits_end = dot + 1;
        while (isdigit((unsigned char)*digits_end))
            digits_end++;
        if (digits_end - dot > 4)
            memmove(dot + 4, digits_end, strlen(digits_end) + 1);
    }
    int ret = tec_parse_date(d, &f->time_ms);
    if (ret < 0)
        return -1;
    /* One spelling for every source: UTC, "Z", no zero milliseconds. */
    if (ret == 1)
        tec_format_time(f->time_ms, f->date, sizeof(f->date));
    else
        snprintf(f->date, sizeof(f->date), "%s", d);
    f->timed = ret == 1;
    return ret;
}

/* ------------------------------------------------------------------ set-up */

int gdal_available(void)
{
    return 1;
}

void tec_gdal_setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    GDALAllRegister();
    /* GDAL's messages come back through CPLGetLastErrorMsg into tec's own. */
    CPLSetErrorHandler(CPLQuietErrorHandler);
    /* Bounded memory: the block cache must not grow with the tile
     * (gdal_series_open sizes it to the inputs' blocks). */
    if (!getenv("GDAL_CACHEMAX"))
        GDALSetCacheMax64((GIntBig)16 << 20);
}

const char *tec_gdal_why(void)
{
    const char *m = CPLGetLastErrorMsg();
    return m && *m ? m : "unknown GDAL error";
}

void tec_format_double(double v, char *buf, size_t size)
{
    /* The shortest text that reads back as the same number. */
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* ------------------------------------------------------------------ one file */

static const char *type_name(GDALDataType t)
{
    const char *n = GDALGetDataTypeName(t);
    return n ? n : "unknown";
}

/* Appends the bands of a file to the frame: all of them, or only band
 * `only` (1-based) when only > 0.  name: the band's name when the caller
 * knows it, else the file's band description. */
static int frame_add_file(Frame *f, const char *path, const char *shown, int only,
                          const char *name, char *err, size_t errlen)
{
    CPLErrorReset();
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR,
                                 NULL, NULL, NULL);
    if (!ds)
        return tec_seterr(err, errlen, "%s: GDAL cannot open it as a raster: %s", shown,
                      tec_gdal_why());
    int ret = 0, count = GDALGetRasterCount(ds);
    if (count < 1) {
        ret = tec_seterr(err, errlen, "%s: no raster bands (a file of subdatasets? name one of "
                     "them, as gdalinfo lists them)", shown);
        goto done;
    }
    double gt[6];
    int has_gt = GDALGetGeoTransform(ds, gt) == CE_None;
    const char *wkt = GDALGetProjectionRef(ds);
    if (wkt && *wkt && !f->wkt && !(f->wkt = dup_str(wkt))) {
        ret = tec_seterr(err, errlen, "out of memory");
        goto done;
    }
    for (int i = only > 0 ? only : 1; i <= (only > 0 ? only : count); i++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, i);
        if (!band) {
            ret = tec_seterr(err, errlen, "%s: no band %d", shown, i);
            goto done;
        }
        GDALDataType t = GDALGetRasterDataType(band);
        if (t != GDT_UInt16 && t != GDT_Byte) {
            ret = tec_seterr(err, errlen, "%s: band %d holds %s samples: tec codes unsigned "
                         "integers (UInt16 or Byte); convert first, e.g. gdal_translate -ot "
                         "UInt16 -scale ...", shown, i, type_name(t));
            goto done;
        }
        if (f->n_bands >= TEC_MAX_BANDS) {
            ret = tec_seterr(err, errlen, "%s: more than %d bands", f->source, TEC_MAX_BANDS);
            goto done;
        }
        BandRef *b = &f->band[f->n_bands];
        memset(b, 0, sizeof(*b));
        if (!(b->path = dup_str(path))) {
            ret = tec_seterr(err, errlen, "out of memory");
            goto done;
        }
        f->n_bands++;
        b->index = i;
        b->width = GDALGetRasterXSize(ds);
        b->height = GDALGetRasterYSize(ds);
        int block_cols;
        GDALGetBlockSize(band, &block_cols, &b->block_rows);
        b->has_gt = has_gt;
        memcpy(b->gt, gt, sizeof(gt));
        const char *n = name;
        if (!n || !*n)
            n = GDALGetDescription(band);
        if (!n || !*n)
            n = GDALGetMetadataItem(band, "BANDNAME", NULL);
        if (n && valid_band_name(n))
            snprintf(b->name, sizeof(b->name), "%s", n);
        b->nodata = GDALGetRasterNoDataValue(band, &b->has_nodata);
        if (i == (only > 0 ? only : 1)) {
            int has_scale = 0, has_offset = 0;
            double scale = GDALGetRasterScale(band, &has_scale);
            double offset = GDALGetRasterOffset(band, &has_offset);
            if ((has_scale && scale != 1.0) || (has_offset && offset != 0.0)) {
                char sv[40], ov[40];
                tec_format_double(has_scale ? scale : 1.0, sv, sizeof(sv));
                tec_format_double(has_offset ? offset : 0.0, ov, sizeof(ov));
                if (frame_set_item(f, "offset", ov) < 0 || frame_set_item(f, "scale", sv) < 0) {
                    ret = tec_seterr(err, errlen, "out of memory");
                    goto done;
                }
            }
        }
    }
done:
    GDALClose(ds);
    return ret;
}

/* Dataset metadata items GDAL exposes (GeoTIFF tags, the SENTINEL2 driver's
 * items, or those tec decode writes) and the .tecv keys they become. */
static const char *const item_keys[][2] = {
    { "BOA_ADD_OFFSET", "boa_add_offset" },
    { "RADIO_ADD_OFFSET", "radio_add_offset" },
    { "QUANTIFICATION_VALUE", "quantification_value" },
    { "BOA_QUANTIFICATION_VALUE", "quantification_value" },
    { "PROCESSING_BASELINE", "processing_baseline" },
    { "PROCESSING_LEVEL", "processing_level" },
    { "SPACECRAFT_NAME", "spacecraft" },
    { "SPACECRAFT", "spacecraft" },
    { "PRODUCT_URI", "product" },
    { "PRODUCT", "product" },
};

/* Acquisition dates, most specific first: TIFFTAG_DATETIME is the file's
 * own date, which tools that write one image per date use for it. */
static const char *const date_items[] = {
    "ACQUISITION_DATE", "ACQUISITION_DATETIME", "ACQUISITIONDATE", "DATE_ACQUIRED",
    "SENSING_TIME", "PRODUCT_START_TIME", "DATATAKE_1_DATATAKE_SENSING_START", "DATETIME",
    "TIFFTAG_DATETIME",
};

static int frame_read_items(Frame *f, const char *path, char *err, size_t errlen)
{
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!ds)
        return tec_seterr(err, errlen, "%s: %s", f->source, tec_gdal_why());
    for (size_t i = 0; i < sizeof(date_items) / sizeof(date_items[0]) && !f->date[0]; i++) {
        const char *v = GDALGetMetadataItem(ds, date_items[i], NULL);
        if (v && frame_set_date(f, v) < 0)
            cli_warning("%s: %s '%s' is not a possible date; ignored", f->source,
                        date_items[i], v);
    }
    int ret = 0;
    for (size_t i = 0; i < sizeof(item_keys) / sizeof(item_keys[0]) && !ret; i++) {
        const char *v = GDALGetMetadataItem(ds, item_keys[i][0], NULL);
        if (v && *v && tec_utf8_valid(v))
            ret = frame_set_item(f, item_keys[i][1], v);
    }
    GDALClose(ds);
    return ret < 0 ? tec_seterr(err, errlen, "out of memory") : 0;
}

/* The frame's grid is its finest band's; every band must tile it whole. */
static int frame_fit_grid(Frame *f, char *err, size_t errlen)
{
    int fine = 0;
    for (int b = 1; b < f->n_bands; b++) {
        if (!f->band[b].has_gt || !f->band[0].has_gt)
            break;
        if (fabs(f->band[b].gt[1]) < fabs(f->band[fine].gt[1]))
            fine = b;
    }
    const BandRef *fb = &f->band[fine];
    f->width = fb->width;
    f->height = fb->height;
    f->has_gt = fb->has_gt;
    memcpy(f->gt, fb->gt, sizeof(f->gt));
    for (int b = 0; b < f->n_bands; b++) {
        BandRef *r = &f->band[b];
        const char *what = r->name[0] ? r->name : "a band";
        r->factor = 1;
        if (r->width == f->width && r->height == f->height)
            continue;
        if (!r->has_gt || !f->has_gt)
            return tec_seterr(err, errlen, "%s: %s is %d x %d, the others %d x %d, and without a "
                          "geotransform tec cannot place it", f->source, what, r->width,
                          r->height, f->width, f->height);
        double k = r->gt[1] / f->gt[1];
        int factor = (int)lround(k);
        if (factor < 2 || fabs(k - factor) > 1e-6 * k ||
            (long)r->width * factor != f->width || (long)r->height * factor != f->height ||
            fabs(r->gt[0] - f->gt[0]) > 1e-3 * fabs(f->gt[1]) ||
            fabs(r->gt[3] - f->gt[3]) > 1e-3 * fabs(f->gt[5]))
            return tec_seterr(err, errlen, "%s: %s (%d x %d, %g m pixels) does not tile the "
                          "%d x %d grid of %g m pixels", f->source, what, r->width, r->height,
                          r->gt[1], f->width, f->height, f->gt[1]);
        r->factor = factor;
    }
    return 0;
}

static int frame_from_raster(Frame *f, const char *path, char *err, size_t errlen)
{
    if (frame_add_file(f, path, path, 0, NULL, err, errlen) < 0 ||
        frame_read_items(f, path, err, errlen) < 0)
        return -1;
    return frame_fit_grid(f, err, errlen);
}

/* ------------------------------------------------------------------ SAFE */

/* The element's own name without its namespace prefix ("n1:Level-1C..."). */
static int xml_name_is(const CPLXMLNode *n, const char *name)
{
    const char *v = n->pszValue, *colon = strchr(v, ':');
    return !strcmp(colon ? colon + 1 : v, name);
}

static const char *xml_text(const CPLXMLNode *n)
{
    for (const CPLXMLNode *c = n->psChild; c; c = c->psNext)
        if (c->eType == CXT_Text)
            return c->pszValue;
    return NULL;
}

/* Calls fn on every element named name, depth first. */
typedef void (*XmlVisit)(const CPLXMLNode *n, void *opaque);
static void xml_each(const CPLXMLNode *n, const char *name, XmlVisit fn, void *opaque)
{
    for (; n; n = n->psNext) {
        if (n->eType != CXT_Element)
            continue;
        if (xml_name_is(n, name))
            fn(n, opaque);
        xml_each(n->psChild, name, fn, opaque);
    }
}

static void visit_first(const CPLXMLNode *n, void *opaque)
{
    const CPLXMLNode **first = opaque;
    if (!*first)
        *first = n;
}

static const char *xml_find_text(const CPLXMLNode *root, const char *name)
{
    const CPLXMLNode *n = NULL;
    xml_each(root, name, visit_first, &n);
    return n ? xml_text(n) : NULL;
}

/* RADIO_ADD_OFFSET / BOA_ADD_OFFSET band_id="i": the offset of s2_bands[i]. */
typedef struct Offsets {
    double value[N_S2];
    int has[N_S2];
} Offsets;

static void visit_offset(const CPLXMLNode *n, void *opaque)
{
    Offsets *o = opaque;
    const char *id = CPLGetXMLValue(n, "band_id", NULL), *v = xml_text(n);
    long i;
    double d;
    if (id && v && !tec_parse_int(id, 0, N_S2 - 1, &i) && !tec_parse_double(v, &d)) {
        o->value[i] = d;
        o->has[i] = 1;
    }
}

static void visit_special(const CPLXMLNode *n, void *opaque)
{
    long *nodata = opaque;
    const char *text = CPLGetXMLValue(n, "SPECIAL_VALUE_TEXT", NULL);
    const char *index = CPLGetXMLValue(n, "SPECIAL_VALUE_INDEX", NULL);
    long v;
    if (text && index && !strcmp(text, "NODATA") && !tec_parse_int(index, 0, 65535, &v))
        *nodata = v;
}

static int safe_read_mtd(Frame *f, const char *mtd_path, char *err, size_t errlen)
{
    CPLXMLNode *root = CPLParseXMLFile(mtd_path);
    if (!root)
        return tec_seterr(err, errlen, "%s: cannot read %s: %s", f->source, CPLGetFilename(mtd_path),
                      tec_gdal_why());
    int ret = 0;
    const char *start = xml_find_text(root, "PRODUCT_START_TIME");
    if (start && frame_set_date(f, start) < 0)
        cli_warning("%s: PRODUCT_START_TIME '%s' is not a possible date; ignored", f->source,
                    start);
    static const char *const plain[][2] = {
        { "PROCESSING_BASELINE", "processing_baseline" },
        { "PROCESSING_LEVEL", "processing_level" },
        { "SPACECRAFT_NAME", "spacecraft" },
        { "PRODUCT_URI", "product" },
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]) && !ret; i++) {
        const char *v = xml_find_text(root, plain[i][0]);
        if (v && *v && tec_utf8_valid(v))
            ret = frame_set_item(f, plain[i][1], v);
    }
    const char *q = xml_find_text(root, "QUANTIFICATION_VALUE");
    if (!q)
        q = xml_find_text(root, "BOA_QUANTIFICATION_VALUE");
    double quant = 0;
    if (q && !tec_parse_double(q, &quant) && quant > 0 && !ret)
        ret = frame_set_item(f, "quantification_value", q);
    /* The offset of the frame's bands: one number when they agree (every
     * processing baseline so far), else one per band. */
    int l2a = 0;
    Offsets off = { { 0 }, { 0 } };
    xml_each(root, "RADIO_ADD_OFFSET", visit_offset, &off);
    Offsets boa = { { 0 }, { 0 } };
    xml_each(root, "BOA_ADD_OFFSET", visit_offset, &boa);
    for (int i = 0; i < N_S2; i++)
        l2a |= boa.has[i];
    const Offsets *o = l2a ? &boa : &off;
    int any = 0, same = 1;
    double first = 0;
    char list[TEC_MAX_BANDS * 24] = "", scaled[TEC_MAX_BANDS * 24] = "";
    for (int b = 0; b < f->n_bands; b++) {
        int i = s2_band_index(f->band[b].name);
        double v = i >= 0 && o->has[i] ? o->value[i] : 0;
        if (i >= 0 && o->has[i])
            any = 1;
        if (b == 0)
            first = v;
        same &= v == first;
        char num[40];
        tec_format_double(v, num, sizeof(num));
        size_t len = strlen(list);
        snprintf(list + len, sizeof(list) - len, "%s%s", b ? "," : "", num);
        tec_format_double(quant > 0 ? v / quant : 0, num, sizeof(num));
        len = strlen(scaled);
        snprintf(scaled + len, sizeof(scaled) - len, "%s%s", b ? "," : "", num);
    }
    if (any && !ret) {
        char num[40];
        tec_format_double(first, num, sizeof(num));
        ret = frame_set_item(f, l2a ? "boa_add_offset" : "radio_add_offset", same ? num : list);
    }
    /* GDAL's meaning, for the decoded GeoTIFF: reflectance = (DN + add
     * offset) / Q = DN x scale + offset (one offset per band when they
     * differ, as the add offsets). */
    if (quant > 0 && !ret) {
        char sv[40], ov[40];
        tec_format_double(1.0 / quant, sv, sizeof(sv));
        tec_format_double(first / quant, ov, sizeof(ov));
        ret = frame_set_item(f, "offset", same ? ov : scaled);
        if (!ret)
            ret = frame_set_item(f, "scale", sv);
    }
    long nodata = -1;
    xml_each(root, "Special_Values", visit_special, &nodata);
    for (int b = 0; b < f->n_bands && nodata >= 0; b++) {
        if (!f->band[b].has_nodata) {
            f->band[b].has_nodata = 1;
            f->band[b].nodata = (double)nodata;
        }
    }
    CPLDestroyXMLNode(root);
    return ret < 0 ? tec_seterr(err, errlen, "out of memory") : 0;
}

/* A band image's file name: "T33TUG_20170620T100031_B8A.jp2" (L1C) or
 * "..._B8A_20m.jp2" (L2A).  The band's index in s2_bands and its
 * resolution in metres (0 when the name has none), or -1. */
static int safe_band_of(const char *file, int *res)
{
    char name[256];
    size_t n = strlen(file);
    if (n < 8 || n >= sizeof(name) || strcasecmp(file + n - 4, ".jp2"))
        return -1;
    memcpy(name, file, n - 4);
    name[n - 4] = '\0';
    n -= 4;
    *res = 0;
    char *us = strrchr(name, '_');
    if (us && us[1] >= '0' && us[1] <= '9' && n >= 4 && name[n - 1] == 'm') {
        name[n - 1] = '\0';
        long r;
        if (tec_parse_int(us + 1, 1, 1000, &r))
            return -1;
        *res = (int)r;
        *us = '\0';
        us = strrchr(name, '_');
    }
    if (!us || strlen(us + 1) != 3)
        return -1;
    return s2_band_index(us + 1);
}

static int frame_from_safe(Frame *f, const char *path, int zipped, char *err, size_t errlen)
{
    char root[4096];
    if (zipped) {
        char *abs = realpath(path, NULL);
        snprintf(root, sizeof(root), "/vsizip/%s", abs ? abs : path);
        free(abs);
    } else {
        snprintf(root, sizeof(root), "%s", path);
    }
    CPLErrorReset();
    char **files = VSIReadDirRecursive(root);
    if (!files && (zipped || CPLGetLastErrorType() >= CE_Failure))
        return tec_seterr(err, errlen, "%s: cannot list its files: %s", path, tec_gdal_why());
    const char *mtd = NULL, *band_file[N_S2] = { 0 };
    int band_res[N_S2] = { 0 };
    const char *granule = NULL;
    size_t granule_len = 0;
    int ret = 0;
    for (char **p = files; p && *p; p++) {
        const char *rel = *p, *base = strrchr(rel, '/');
        base = base ? base + 1 : rel;
        if (!strcmp(base, "MTD_MSIL1C.xml") || !strcmp(base, "MTD_MSIL2A.xml")) {
            /* The product's, not a granule's: the one nearest the top. */
            if (!mtd || strlen(rel) < strlen(mtd))
                mtd = rel;
            continue;
        }
        const char *img = strstr(rel, "IMG_DATA/"), *gr = strstr(rel, "GRANULE/");
        int res, i;
        if (!img || !gr || (i = safe_band_of(base, &res)) < 0)
            continue;
        /* Older products hold several tiles, one GRANULE each. */
        const char *tile = gr + 8, *slash = strchr(tile, '/');
        size_t tile_len = slash ? (size_t)(slash - tile) : strlen(tile);
        if (!granule) {
            granule = tile;
            granule_len = tile_len;
        } else if (tile_len != granule_len || strncmp(tile, granule, tile_len)) {
            ret = tec_seterr(err, errlen, "%s: holds more than one tile (GRANULE/%.*s and "
                         "GRANULE/%.*s); tec codes one tile: extract it first", path,
                         (int)granule_len, granule, (int)tile_len, tile);
            goto done;
        }
        /* L2A has most bands at several resolutions: keep the finest. */
        if (!band_file[i] || (res && res < band_res[i])) {
            band_file[i] = rel;
            band_res[i] = res;
        }
    }
    for (int i = 0; i < N_S2 && !ret; i++) {
        if (!band_file[i])
            continue;
        char full[8192];
        snprintf(full, sizeof(full), "%s/%s", root, band_file[i]);
        ret = frame_add_file(f, full, band_file[i], 1, s2_bands[i], err, errlen);
    }
    if (ret)
        goto done;
    if (!f->n_bands) {
        ret = tec_seterr(err, errlen, "%s: no band images (GRANULE/*/IMG_DATA/*_B??.jp2) in this "
                     "SAFE product", path);
        goto done;
    }
    if ((ret = frame_fit_grid(f, err, errlen)))
        goto done;
    if (mtd) {
        char full[8192];
        snprintf(full, sizeof(full), "%s/%s", root, mtd);
        ret = safe_read_mtd(f, full, err, errlen);
    } else {
        cli_warning("%s: no MTD_MSIL1C.xml or MTD_MSIL2A.xml: no date, offset or scale from "
                    "the product", path);
    }
done:
    CSLDestroy(files);
    return ret;
}

/* ------------------------------------------------------------------ STAC */

static int is_remote(const char *href)
{
    return !strncmp(href, "http://", 7) || !strncmp(href, "https://", 8) ||
           !strncmp(href, "s3://", 5) || !strncmp(href, "gs://", 5) || !strncmp(href, "/vsi", 4);
}

static int stac_is_data(const JsonValue *asset)
{
    const JsonValue *roles = json_get(asset, "roles");
    if (roles && roles->type == JSON_ARRAY) {
        int data = 0;
        for (int i = 0; i < roles->count; i++)
            data |= roles->items[i]->type == JSON_STRING && !strcmp(roles->items[i]->string,
                                                                     "data");
        if (!data)
            return 0;
    }
    const char *type = json_get_string(asset, "type"), *href = json_get_string(asset, "href");
    if (type)
        return strstr(type, "image/tiff") || strstr(type, "image/jp2") ||
               strstr(type, "geotiff");
    size_t n = href ? strlen(href) : 0;
    return n > 4 && (!strcasecmp(href + n - 4, ".tif") || !strcasecmp(href + n - 4, ".jp2") ||
                     (n > 5 && !strcasecmp(href + n - 5, ".tiff")));
}

/* The asset's band name: eo:bands[0].name, else the asset's key. */
static const char *stac_band_name(const char *key, const JsonValue *asset)
{
    const JsonValue *eo = json_get(asset, "eo:bands");
    if (eo && eo->type == JSON_ARRAY && eo->count == 1) {
        const char *n = json_get_string(eo->items[0], "name");
        if (n && s2_band_index(n) >= 0)
            return n;
        if (n && s2_band_index(key) < 0)
            return n;
    }
    return key;
}

static int frame_from_stac(Frame *f, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return tec_seterr(err, errlen, "%s: cannot open it", path);
    char *text = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? cap * 2 : 65536;
            char *t = cap <= ((size_t)64 << 20) ? realloc(text, cap) : NULL;
            if (!t) {
                free(text);
                fclose(fp);
                return tec_seterr(err, errlen, "%s: too large for a STAC item", path);
            }
            text = t;
        }
        size_t got = fread(text + size, 1, cap - size, fp);
        size += got;
        if (!got)
            break;
    }
    fclose(fp);
    char why[256];
    JsonValue *item = json_parse(text, size, why, sizeof(why));
    free(text);
    if (!item)
        return tec_seterr(err, errlen, "%s: not valid JSON: %s", path, why);
    int ret = 0;
    const JsonValue *assets = json_get(item, "assets");
    const char *type = json_get_string(item, "type");
    if (!assets || assets->type != JSON_OBJECT || (type && strcmp(type, "Feature"))) {
        ret = tec_seterr(err, errlen, "%s: not a STAC item (a \"Feature\" with \"assets\")", path);
        goto done;
    }
    const JsonValue *props = json_get(item, "properties");
    const char *dt = json_get_string(props, "datetime");
    if (!dt)
        dt = json_get_string(props, "start_datetime");
    if (dt && frame_set_date(f, dt) < 0)
        cli_warning("%s: datetime '%s' is not a possible date; ignored", path, dt);
    static const char *const props_keys[][2] = {
        { "s2:processing_baseline", "processing_baseline" },
        { "processing:level", "processing_level" },
        { "platform", "spacecraft" },
        { "s2:product_uri", "product" },
    };
    for (size_t i = 0; i < sizeof(props_keys) / sizeof(props_keys[0]) && !ret; i++) {
        const char *v = json_get_string(props, props_keys[i][0]);
        if (v && *v && tec_utf8_valid(v))
            ret = frame_set_item(f, props_keys[i][1], v);
    }
    /* Sentinel-2 bands when the item has any (its SCL, AOT, WVP and true
     * colour assets are not bands), in band order; else every raster. */
    int any_s2 = 0;
    for (int a = 0; a < assets->count; a++)
        any_s2 |= stac_is_data(assets->items[a]) &&
                  s2_band_index(stac_band_name(assets->keys[a], assets->items[a])) >= 0;
    int order[256], n = 0;
    for (int a = 0; a < assets->count && n < 256; a++) {
        const JsonValue *as = assets->items[a];
        if (stac_is_data(as) &&
            (!any_s2 || s2_band_index(stac_band_name(assets->keys[a], as)) >= 0))
            order[n++] = a;
    }
    if (any_s2) {  /* insertion sort by band, few items */
        for (int i = 1; i < n; i++)
            for (int k = i; k > 0; k--) {
                int x = order[k - 1], y = order[k];
                if (s2_band_index(stac_band_name(assets->keys[x], assets->items[x])) <=
                    s2_band_index(stac_band_name(assets->keys[y], assets->items[y])))
                    break;
                order[k - 1] = y;
                order[k] = x;
            }
    }
    if (!n) {
        ret = tec_seterr(err, errlen, "%s: no raster data assets (GeoTIFF or JPEG 2000)", path);
        goto done;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    for (int i = 0; i < n && !ret; i++) {
        const char *key = assets->keys[order[i]];
        const JsonValue *as = assets->items[order[i]];
        const char *href = json_get_string(as, "href");
        if (!href || !*href) {
            ret = tec_seterr(err, errlen, "%s: asset '%s' has no href", path, key);
            break;
        }
        if (!strncmp(href, "file://", 7))
            href += 7;
        if (is_remote(href)) {
            ret = tec_seterr(err, errlen, "%s: asset '%s' is not a local file (%s); tec reads local "
                         "files only: download the assets first", path, key, href);
            break;
        }
        char full[8192];
        snprintf(full, sizeof(full), "%s%s", href[0] == '/' ? "" : dir, href);
        const char *name = stac_band_name(key, as);
        int before = f->n_bands;
        ret = frame_add_file(f, full, full, 0, NULL, err, errlen);
        /* A one-band asset is named by the item; a multi-band one by its
         * eo:bands when they list every band, else by its file. */
        const JsonValue *eo = json_get(as, "eo:bands");
        if (!ret && f->n_bands == before + 1 && valid_band_name(name)) {
            snprintf(f->band[before].name, sizeof(f->band[before].name), "%s", name);
        } else if (!ret && eo && eo->type == JSON_ARRAY && eo->count == f->n_bands - before) {
            for (int b = 0; b < eo->count; b++) {
                const char *n = json_get_string(eo->items[b], "name");
                if (n && valid_band_name(n))
                    snprintf(f->band[before + b].name, sizeof(f->band[before + b].name), "%s", n);
            }
        }
        const JsonValue *rb = json_get(as, "raster:bands");
        if (!ret && i == 0 && rb && rb->type == JSON_ARRAY && rb->count >= 1) {
            const JsonValue *sc = json_get(rb->items[0], "scale"),
                            *of = json_get(rb->items[0], "offset");
            char sv[40] = "1", ov[40] = "0";
            if (sc && sc->type == JSON_NUMBER)
                tec_format_double(sc->number, sv, sizeof(sv));
            if (of && of->type == JSON_NUMBER)
                tec_format_double(of->number, ov, sizeof(ov));
            if ((sc && sc->type == JSON_NUMBER) || (of && of->type == JSON_NUMBER)) {
                ret = frame_set_item(f, "offset", ov);
                if (!ret)
                    ret = frame_set_item(f, "scale", sv);
                if (ret)
                    tec_seterr(err, errlen, "out of memory");
            }
        }
    }
    if (!ret)
        ret = frame_fit_grid(f, err, errlen);
done:
    json_free(item);
    return ret;
}

/* ------------------------------------------------------------------ inputs */

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

static int is_dir(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static int frame_open(Frame *f, const char *path, int order, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->order = order;
    if (!(f->source = dup_str(path)))
        return tec_seterr(err, errlen, "out of memory");
    if (is_dir(path))
        return frame_from_safe(f, path, 0, err, errlen);
    if (has_suffix(path, ".zip"))
        return frame_from_safe(f, path, 1, err, errlen);
    if (has_suffix(path, ".json") || has_suffix(path, ".geojson"))
        return frame_from_stac(f, path, err, errlen);
    return frame_from_raster(f, path, err, errlen);
}

/* A text list: one input a line, '#' comments, paths relative to the list. */
static int read_list(const char *path, char ***out, int *n_out, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tec_seterr(err, errlen, "%s: cannot open the list", path);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    char line[4096];
    int n = 0, cap = 0, ret = 0, lineno = 0;
    char **items = NULL;
    while (fgets(line, sizeof(line), fp)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            ret = tec_seterr(err, errlen, "%s: line %d is too long", path, lineno);
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t'))
            line[--len] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **t = realloc(items, (size_t)cap * sizeof(*t));
            if (!t) {
                ret = tec_seterr(err, errlen, "out of memory");
                break;
            }
            items = t;
        }
        size_t need = strlen(dir) + strlen(s) + 1;
        if (!(items[n] = malloc(need))) {
            ret = tec_seterr(err, errlen, "out of memory");
            break;
        }
        snprintf(items[n++], need, "%s%s", s[0] == '/' ? "" : dir, s);
    }
    fclose(fp);
    if (!ret && !n)
        ret = tec_seterr(err, errlen, "%s: the list names no files", path);
    *out = items;
    *n_out = n;
    return ret;
}

static int by_time(const void *a, const void *b)
{
    const Frame *x = a, *y = b;
    if (x->time_ms != y->time_ms)
        return x->time_ms < y->time_ms ? -1 : 1;
    return x->order - y->order;
}

/* Frame t against the first: same grid, CRS and bands (reordered to the
 * first frame's order when both are named). */
static int check_frame(const Frame *ref, Frame *f, char *err, size_t errlen)
{
    if (f->width != ref->width || f->height != ref->height)
        return tec_seterr(err, errlen, "%s is %d x %d pixels, %s %d x %d: every date must share "
                      "one grid", f->source, f->width, f->height, ref->source, ref->width,
                      ref->height);
    if (f->has_gt != ref->has_gt)
        return tec_seterr(err, errlen, "%s has %s geotransform, %s %s", f->source,
                      f->has_gt ? "a" : "no", ref->source, ref->has_gt ? "has one" : "none");
    for (int i = 0; i < 6 && f->has_gt; i++) {
        double tol = 1e-6 * fabs(ref->gt[1]) + 1e-9;
        if (fabs(f->gt[i] - ref->gt[i]) > tol)
            return tec_seterr(err, errlen, "%s and %s have different geotransforms (%.10g,%.10g,"
                          "%.10g,%.10g,%.10g,%.10g and %.10g,%.10g,%.10g,%.10g,%.10g,%.10g): "
                          "every date must share one grid",
                          f->source, ref->source, f->gt[0], f->gt[1], f->gt[2], f->gt[3],
                          f->gt[4], f->gt[5], ref->gt[0], ref->gt[1], ref->gt[2], ref->gt[3],
                          ref->gt[4], ref->gt[5]);
    }
    if (!f->wkt != !ref->wkt)
        return tec_seterr(err, errlen, "%s has %s CRS, %s %s", f->source, f->wkt ? "a" : "no",
                      ref->source, ref->wkt ? "has one" : "none");
    if (f->wkt && gdal_crs_same(f->wkt, ref->wkt) != 1)
        return tec_seterr(err, errlen, "%s and %s are in different coordinate reference systems",
                      f->source, ref->source);
    int named = 1;
    for (int b = 0; b < f->n_bands; b++)
        named &= !!f->band[b].name[0];
    for (int b = 0; b < ref->n_bands; b++)
        named &= !!ref->band[b].name[0];
    if (named) {
        BandRef sorted[TEC_MAX_BANDS];
        for (int b = 0; b < ref->n_bands; b++) {
            int k = 0;
            while (k < f->n_bands && strcmp(f->band[k].name, ref->band[b].name))
                k++;
            if (k == f->n_bands)
                return tec_seterr(err, errlen, "band %s of %s is missing in %s: every date needs "
                              "the same bands", ref->band[b].name, ref->source, f->source);
            sorted[b] = f->band[k];
        }
        for (int k = 0; k < f->n_bands; k++) {
            int b = 0;
            while (b < ref->n_bands && strcmp(f->band[k].name, ref->band[b].name))
                b++;
            if (b == ref->n_bands)
                return tec_seterr(err, errlen, "%s has band %s, which %s lacks: every date needs "
                              "the same bands", f->source, f->band[k].name, ref->source);
        }
        if (f->n_bands != ref->n_bands)
            return tec_seterr(err, errlen, "%s has %d bands, %s %d (a name repeated?)", f->source,
                          f->n_bands, ref->source, ref->n_bands);
        memcpy(f->band, sorted, sizeof(BandRef) * (size_t)ref->n_bands);
    } else if (f->n_bands != ref->n_bands) {
        return tec_seterr(err, errlen, "%s has %d band%s, %s %d: every date needs the same bands",
                      f->source, f->n_bands, f->n_bands == 1 ? "" : "s", ref->source,
                      ref->n_bands);
    }
    return 0;
}

/* "x" when every frame has the same value, else one per frame; NULL when
 * no frame has the key. */
static char *merged_item(const GdalSeries *s, const char *key)
{
    const char *first = NULL;
    int same = 1, any = 0;
    size_t len = 0;
    for (int t = 0; t < s->n_frames; t++) {
        const Frame *f = &s->frame[t];
        const char *v = "";
        for (int i = 0; i < f->n_items; i++)
            if (!strcmp(f->item_key[i], key))
                v = f->item_value[i];
        any |= !!*v;
        if (!t)
            first = v;
        same &= !strcmp(v, first);
        len += strlen(v) + 1;
    }
    if (!any)
        return NULL;
    if (same)
        return dup_str(first);
    char *out = malloc(len + 1), *o = out;
    for (int t = 0; out && t < s->n_frames; t++) {
        const Frame *f = &s->frame[t];
        const char *v = "";
        for (int i = 0; i < f->n_items; i++)
            if (!strcmp(f->item_key[i], key))
                v = f->item_value[i];
        o += sprintf(o, "%s%s", t ? "," : "", v);
    }
    return out;
}

static int build_meta(GdalSeries *s, char *err, size_t errlen)
{
    GdalMeta *m = &s->meta;
    const Frame *f0 = &s->frame[0];
    size_t cap = (size_t)s->n_frames * (DATE_SIZE + 1) + (size_t)TEC_MAX_BANDS * 16 + 64;
    char *buf = malloc(cap);
    if (!buf)
        return tec_seterr(err, errlen, "out of memory");
    /* Band names, when the files name every band. */
    int named = 1;
    buf[0] = '\0';
    for (int b = 0; b < f0->n_bands; b++) {
        named &= !!f0->band[b].name[0];
        strcat(buf, b ? "," : "");
        strcat(buf, f0->band[b].name);
    }
    if (named && !(m->bands = dup_str(buf)))
        goto oom;
    int dated = 1;
    buf[0] = '\0';
    for (int t = 0; t < s->n_frames; t++) {
        dated &= !!s->frame[t].date[0];
        strcat(buf, t ? "," : "");
        strcat(buf, s->frame[t].date);
    }
    if (dated && !(m->dates = dup_str(buf)))
        goto oom;
    if (f0->wkt && !(m->crs = dup_str(f0->wkt)))
        goto oom;
    if (f0->has_gt) {
        buf[0] = '\0';
        for (int i = 0; i < 6; i++) {
            char num[40];
            tec_format_double(f0->gt[i], num, sizeof(num));
            strcat(buf, i ? "," : "");
            strcat(buf, num);
        }
        if (!(m->geotransform = dup_str(buf)))
            goto oom;
    }
    /* Nodata: one value for every band and date. */
    int has = 0;
    double nd = 0;
    for (int t = 0; t < s->n_frames; t++) {
        for (int b = 0; b < s->frame[t].n_bands; b++) {
            const BandRef *r = &s->frame[t].band[b];
            if (!r->has_nodata)
                continue;
            if (has && r->nodata != nd) {
                cli_warning("%s: nodata %g differs from %g elsewhere; %g is kept",
                            s->frame[t].source, r->nodata, nd, nd);
                continue;
            }
            has = 1;
            nd = r->nodata;
        }
    }
    if (has && (nd < 0 || nd > 65535 || nd != floor(nd))) {
        cli_warning("%s: nodata %g is not a sample value (0..65535); not kept", f0->source, nd);
        has = 0;
    }
    if (has) {
        snprintf(buf, cap, "%ld", (long)nd);
        if (!(m->nodata = dup_str(buf)))
            goto oom;
    }
    free(buf);
    /* Extra keys, in the order the first frames that have them give them. */
    for (int t = 0; t < s->n_frames; t++) {
        const Frame *f = &s->frame[t];
        for (int i = 0; i < f->n_items && m->n_extra < GDAL_MAX_EXTRA; i++) {
            int seen = 0;
            for (int k = 0; k < m->n_extra; k++)
                seen |= !strcmp(m->extra_key[k], f->item_key[i]);
            if (seen)
                continue;
            m->extra_key[m->n_extra] = dup_str(f->item_key[i]);
            m->extra_value[m->n_extra] = merged_item(s, f->item_key[i]);
            if (!m->extra_key[m->n_extra] || !m->extra_value[m->n_extra++])
                return tec_seterr(err, errlen, "out of memory");
        }
    }
    return 0;
oom:
    free(buf);
    return tec_seterr(err, errlen, "out of memory");
}

int gdal_series_open(GdalSeries **out, const char *const *paths, int n, char *err,
                     size_t errlen)
{
    tec_gdal_setup();
    *out = NULL;
    /* The inputs, lists expanded. */
    char **names = NULL;
    int n_names = 0, cap = 0, ret = 0;
    for (int i = 0; i < n && !ret; i++) {
        char **list = NULL;
        int n_list = 0;
        if (has_suffix(paths[i], ".txt") || has_suffix(paths[i], ".list")) {
            ret = read_list(paths[i], &list, &n_list, err, errlen);
        } else if ((list = malloc(sizeof(*list))) && (list[0] = dup_str(paths[i]))) {
            n_list = 1;
        } else {
            ret = tec_seterr(err, errlen, "out of memory");
        }
        for (int k = 0; k < n_list; k++) {
            if (!ret && n_names == cap) {
                cap = cap ? cap * 2 : 16;
                char **t = realloc(names, (size_t)cap * sizeof(*t));
                if (t)
                    names = t;
                else
                    ret = tec_seterr(err, errlen, "out of memory");
            }
            if (ret)
                free(list[k]);
            else
                names[n_names++] = list[k];
        }
        free(list);
    }
    GdalSeries *s = ret ? NULL : calloc(1, sizeof(*s));
    if (!ret && (!s || !(s->frame = calloc((size_t)n_names, sizeof(Frame)))))
        ret = tec_seterr(err, errlen, "out of memory");
    for (int i = 0; !ret && i < n_names; i++) {
        ret = frame_open(&s->frame[i], names[i], i, err, errlen);
        s->n_frames = i + 1;
    }
    for (int i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    if (ret)
        goto fail;
    /* A time series in date order, when every frame has a time. */
    int timed = 1, dated = 0;
    for (int t = 0; t < s->n_frames; t++) {
        timed &= s->frame[t].timed;
        dated += !!s->frame[t].date[0];
    }
    if (timed)
        qsort(s->frame, (size_t)s->n_frames, sizeof(Frame), by_time);
    else if (s->n_frames > 1 && dated)
        cli_warning("not every input has an acquisition date: frames are kept in the order "
                    "given%s", dated < s->n_frames ? " and no dates are stored (pass --dates)"
                                                   : "");
    for (int t = 1; t < s->n_frames && !ret; t++)
        ret = check_frame(&s->frame[0], &s->frame[t], err, errlen);
    if (!ret)
        ret = build_meta(s, err, errlen);
    if (ret)
        goto fail;
    /* Stripes move down a frame: one row of blocks of every band must stay
     * in GDAL's cache, or each stripe would decode its tiles (JPEG 2000's
     * 1024-row ones above all) again.  No more: memory follows the width,
     * not the frame. */
    GIntBig need = 0;
    for (int b = 0; b < s->frame[0].n_bands; b++) {
        const BandRef *r = &s->frame[0].band[b];
        need += (GIntBig)r->width * (r->block_rows > 0 ? r->block_rows : 1) * 2;
    }
    need += need / 4 + ((GIntBig)8 << 20);
    if (!getenv("GDAL_CACHEMAX") && GDALGetCacheMax64() < need)
        GDALSetCacheMax64(need);
    s->open_frame = -1;
    *out = s;
    return 0;
fail:
    gdal_series_close(&s);
    return -1;
}

void gdal_series_shape(const GdalSeries *s, int64_t *frames, int64_t *bands, int64_t *height,
                       int64_t *width)
{
    *frames = s->n_frames;
    *bands = s->frame[0].n_bands;
    *height = s->frame[0].height;
    *width = s->frame[0].width;
}

const GdalMeta *gdal_series_meta(const GdalSeries *s)
{
    return &s->meta;
}

static void close_datasets(GdalSeries *s)
{
    for (int b = 0; b < TEC_MAX_BANDS; b++) {
        if (s->owns[b])
            GDALClose(s->ds[b]);
        s->ds[b] = NULL;
        s->owns[b] = 0;
    }
    s->open_frame = -1;
}

/* Only one frame's files are open at a time: a long series of SAFE products
 * would otherwise run out of file descriptors. */
static int open_datasets(GdalSeries *s, int64_t t, char *err, size_t errlen)
{
    if (s->open_frame == t)
        return 0;
    close_datasets(s);
    const Frame *f = &s->frame[t];
    for (int b = 0; b < f->n_bands; b++) {
        for (int k = 0; k < b && !s->ds[b]; k++)
            if (!strcmp(f->band[k].path, f->band[b].path))
                s->ds[b] = s->ds[k];
        if (s->ds[b])
            continue;
        s->ds[b] = GDALOpenEx(f->band[b].path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL,
                              NULL);
        if (!s->ds[b]) {
            close_datasets(s);
            return tec_seterr(err, errlen, "%s: %s", f->source, tec_gdal_why());
        }
        s->owns[b] = 1;
    }
    s->open_frame = t;
    return 0;
}

int gdal_series_read_rows(GdalSeries *s, int64_t t, int64_t y0, int64_t rows, uint16_t *data,
                          ptrdiff_t stride, ptrdiff_t band_stride, char *err, size_t errlen)
{
    if (t < 0 || t >= s->n_frames)
        return tec_seterr(err, errlen, "frame %lld asked for, of %d", (long long)t, s->n_frames);
    const Frame *f = &s->frame[t];
    if (y0 < 0 || rows < 1 || y0 + rows > f->height)
        return tec_seterr(err, errlen, "rows %lld..%lld asked for, of %d", (long long)y0,
                      (long long)(y0 + rows), f->height);
    if (open_datasets(s, t, err, errlen) < 0)
        return -1;
    for (int b = 0; b < f->n_bands; b++) {
        const BandRef *r = &f->band[b];
        GDALRasterBandH band = GDALGetRasterBand(s->ds[b], r->index);
        uint16_t *dst = data + b * band_stride;
        CPLErr e;
        if (r->factor == 1) {
            e = GDALRasterIO(band, GF_Read, 0, (int)y0, f->width, (int)rows, dst, f->width,
                             (int)rows, GDT_UInt16, 0, (GSpacing)(stride * 2));
        } else {
            const int k = r->factor, cw = r->width;
            const int cy0 = (int)(y0 / k), cy1 = (int)((y0 + rows - 1) / k);
            size_t need = (size_t)cw * (size_t)(cy1 - cy0 + 1);
            if (need > s->coarse_size) {
                uint16_t *c = realloc(s->coarse, need * 2);
                if (!c)
                    return tec_seterr(err, errlen, "out of memory");
                s->coarse = c;
                s->coarse_size = need;
            }
            e = GDALRasterIO(band, GF_Read, 0, cy0, cw, cy1 - cy0 + 1, s->coarse, cw,
                             cy1 - cy0 + 1, GDT_UInt16, 0, 0);
            for (int64_t y = 0; e == CE_None && y < rows; y++) {
                const uint16_t *src = s->coarse + (size_t)((y0 + y) / k - cy0) * (size_t)cw;
                uint16_t *d = dst + y * stride;
                for (int x = 0; x < f->width; x++)
                    d[x] = src[x / k];
            }
        }
        if (e != CE_None)
            return tec_seterr(err, errlen, "%s: reading band %s: %s", f->source,
                          r->name[0] ? r->name : "?", tec_gdal_why());
    }
    return 0;
}

void gdal_series_close(GdalSeries **ps)
{
    GdalSeries *s = *ps;
    if (!s)
        return;
    close_datasets(s);
    for (int t = 0; t < s->n_frames; t++)
        frame_free(&s->frame[t]);
    free(s->frame);
    free(s->coarse);
    GdalMeta *m = &s->meta;
    free(m->bands);
    free(m->dates);
    free(m->crs);
    free(m->geotransform);
    free(m->nodata);
    for (int i = 0; i < m->n_extra; i++) {
        free(m->extra_key[i]);
        free(m->extra_value[i]);
    }
    free(s);
    *ps = NULL;
}

int gdal_crs_same(const char *a, const char *b)
{
    tec_gdal_setup();
    OGRSpatialReferenceH sa = OSRNewSpatialReference(NULL), sb = OSRNewSpatialReference(NULL);
    int ret = -1;
    if (sa && sb && OSRSetFromUserInput(sa, a) == OGRERR_NONE &&
        OSRSetFromUserInput(sb, b) == OGRERR_NONE)
        ret = OSRIsSame(sa, sb) ? 1 : 0;
    OSRDestroySpatialReference(sa);
    OSRDestroySpatialReference(sb);
    return ret;
}

#else /* !TEC_HAVE_GDAL */

int gdal_available(void)
{
    return 0;
}

int gdal_series_open(GdalSeries **s, const char *const *paths, int n, char *err, size_t errlen)
{
    *s = NULL;
    snprintf(err, errlen, "%s: this tec was built without GDAL, so it reads only .npy cubes "
             "(install libgdal-dev, e.g. with 'make deps', then rerun ./configure and make)",
             n ? paths[0] : "input");
    return -1;
}

void gdal_series_shape(const GdalSeries *s, int64_t *frames, int64_t *bands, int64_t *height,
                       int64_t *width)
{
    (void)s;
    *frames = *bands = *height = *width = 0;
}

const GdalMeta *gdal_series_meta(const GdalSeries *s)
{
    (void)s;
    return NULL;
}

int gdal_series_read_rows(GdalSeries *s, int64_t frame, int64_t y0, int64_t rows, uint16_t *data,
                          ptrdiff_t stride, ptrdiff_t band_stride, char *err, size_t errlen)
{
    (void)s, (void)frame, (void)y0, (void)rows, (void)data, (void)stride, (void)band_stride;
    snprintf(err, errlen, "this tec was built without GDAL");
    return -1;
}

void gdal_series_close(GdalSeries **s)
{
    *s = NULL;
}

int gdal_crs_same(const char *a, const char *b)
{
    (void)a, (void)b;
    return -1;
}

#endif
