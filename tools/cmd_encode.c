/* tec encode: a .npy uint16 cube, or rasters read through GDAL, to a .tecv stream. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tec/tec.h"
#include "cube_input.h"
#include "progress.h"
#include "tec_cli.h"

/* ------------------------------------------------------------------ metadata */

typedef struct Meta {
    const char *key[MAX_META + 8];
    const char *value[MAX_META + 8];
    int n;
} Meta;

/* Keys that have their own option (or belong to tec itself). */
static const char *const option_keys[][2] = {
    { "bands", "--bands" }, { "dates", "--dates" }, { "nodata", "--nodata" },
    { "crs", "--crs" }, { "geotransform", "--geotransform" }, { KEY_RANK, NULL },
};

static const char *meta_get(const Meta *m, const char *key)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->key[i], key))
            return m->value[i];
    return NULL;
}

/* --meta KEY=VALUE: value points into arg, the key is copied. */
static int add_user_meta(Meta *m, char *keys_store, size_t store_size, size_t *used,
                         const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        cli_error("--meta '%s': need KEY=VALUE with a non-empty key", arg);
        return -1;
    }
    size_t klen = (size_t)(eq - arg);
    if (*used + klen + 1 > store_size || m->n >= MAX_META) {
        cli_error("--meta: too many or too long keys (at most %d)", MAX_META);
        return -1;
    }
    char *key = keys_store + *used;
    memcpy(key, arg, klen);
    key[klen] = '\0';
    *used += klen + 1;
    for (size_t i = 0; i < sizeof(option_keys) / sizeof(option_keys[0]); i++) {
        if (strcmp(key, option_keys[i][0]))
            continue;
        if (option_keys[i][1])
            cli_error("--meta %s=...: use %s for this key", key, option_keys[i][1]);
        else
            cli_error("--meta %s=...: this key is written by tec itself", key);
        return -1;
    }
    for (const char *p = key; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            cli_error("--meta: key '%s' has control characters", key);
            return -1;
        }
    }
    if (!tec_utf8_valid(key) || !tec_utf8_valid(eq + 1)) {
        cli_error("--meta '%s': not valid UTF-8", arg);
        return -1;
    }
    if (meta_get(m, key)) {
        cli_error("--meta: key '%s' given twice", key);
        return -1;
    }
    m->key[m->n] = key;
    m->value[m->n++] = eq + 1;
    return 0;
}

/* ------------------------------------------------------------------ weights */

/* "the shipped tec-s2: 17", for the help text; quietly "" when no model is found. */
static void default_quality_text(char *buf, size_t size)
{
    const int q = tec_model_default_quality(DEFAULT_MODEL, cli_weights_dir(NULL));
    buf[0] = '\0';
    if (q > 0)
        snprintf(buf, size, " (%s: %d)", DEFAULT_MODEL, q);
}

/* ------------------------------------------------------------------ encode */

void usage_encode(FILE *f)
{
    char dq[128];
    default_quality_text(dq, sizeof(dq));
    fprintf(f,
"usage: tec encode IN.npy -o OUT.tecv [options]\n"
"       tec encode IN.tif|IN.SAFE|IN.zip|ITEM.json|LIST.txt ... -o OUT.tecv [options]\n"
"\n"
"IN.npy holds uint16 samples shaped (T, C, H, W) (a time series of T\n"
"acquisitions) or (C, H, W) (one acquisition); decode gives the same shape back.\n"
"Through GDAL: a multi-band GeoTIFF/COG is one frame, several (or a text list of\n"
"them) a time series sorted by date; a Sentinel-2 SAFE folder or .zip and a STAC\n"
"item with local assets are one frame of every band on the 10 m grid.  Band\n"
"names, dates, CRS, geotransform, nodata, offset and scale come from the files;\n"
"the options below override them (with a warning when they differ).\n"
"\n"
"  -o, --output FILE        output .tecv ('-' = stdout)\n"
"  -q, --quality Q          %d (smallest file) .. %d (best); default: the model's\n"
"                           default quality%s, 47-50 dB PSNR on\n"
"                           typical Sentinel-2\n"
"                           Q gives every frame about the reflectance error a\n"
"                           frame of the model's reference spread gets at Q:\n"
"                           brighter frames get more bits and, past the top\n"
"                           anchor, a residual layer (no quality ceiling)\n"
"      --fixed-quality      code every frame at the quality position Q names,\n"
"                           without that rule\n"
"      --model NAME         weights NAME.tecw (default: " DEFAULT_MODEL ")\n"
"      --weights-dir DIR    look for weights in DIR first (then $TEC_WEIGHTS)\n"
"  -t, --threads N          worker threads, 0 = one per core (default)\n"
"  -g, --keyframe-interval G  a keyframe (intra, decodable alone: where seeking\n"
"                           lands) every G frames, the frames between coded with\n"
"                           the temporal model (models that have one, such as\n"
"                           tec-s2-tt); 1 = every frame intra; default %d\n"
"      --context K          frames an inter frame may reference, 1..%d (default %d)\n"
"      --no-prediction      never code an inter frame as its difference from the\n"
"                           frame before (mapped by a line per band); by default\n"
"                           the encoder does where that costs less\n"
"      --plain-spreads      no band weighting: each band by its own spread\n"
"      --max-error E        every decoded sample within E of the source, 0..%d\n"
"                           (0 = lossless), by a residual layer after the learned\n"
"                           one; --quality sets the learned layer's share\n"
"      --cloud-mask MASK.npy  uint8 (T, H, W), or (H, W) for one frame: the\n"
"                           cloudy pixels of each frame (not 0), kept\n"
"                           losslessly in its packet, for tec decode\n"
"                           --fill-clouds\n"
"      --skip-clouds        with --cloud-mask: spend almost no bits under the\n"
"                           clouds (the decoder predicts them; without\n"
"                           --fill-clouds they decode flat)\n"
"      --effort E           0..%d: refine each block's latents by 10 x E steps\n"
"                           on its rate + distortion (smaller files at equal\n"
"                           quality on smooth scenes; encoding several times\n"
"                           slower; decoding unchanged); default 0\n"
"      --raw                store the samples uncompressed (codec raw)\n"
"metadata, kept in the .tecv header:\n"
"      --dates D1,D2,..     one per frame: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[Z]\n"
"                           set the acquisition time; other labels are kept as text\n"
"      --bands B01,B02,..   band names; Sentinel-2 names (B01..B12, B8A) use the\n"
"                           spectral model, others are coded band by band\n"
"                           (default for 13, 12 or 10 bands: Sentinel-2 order)\n"
"      --nodata V           nodata sample value (0..65535): exactly those samples\n"
"                           decode to V (a lossless mask in each packet)\n"
"      --crs STR            coordinate reference system, e.g. EPSG:32633\n"
"      --geotransform a,b,c,d,e,f   GDAL geotransform (6 numbers)\n"
"      --meta KEY=VALUE     any other key (repeatable), e.g. source=..., attribution=...\n"
"  -v, --verbose            one line per frame on stderr\n"
"      --quiet              no progress bar (it is drawn only on a terminal)\n"
"  -h, --help               this text\n",
            TEC_QUALITY_MIN, TEC_QUALITY_MAX, dq, TEC_DEFAULT_KEYFRAME_INTERVAL, TEC_MAX_CONTEXT,
            TEC_DEFAULT_CONTEXT, TEC_MAX_ERROR, TEC_MAX_EFFORT);
}

enum {
    E_OUTPUT = 1, E_QUALITY, E_MODEL, E_WDIR, E_THREADS, E_RAW, E_DATES, E_BANDS, E_NODATA,
    E_CRS, E_GEO, E_META, E_RECON, E_VERBOSE, E_HELP, E_FIXED, E_KEYINT, E_CONTEXT, E_QUIET,
    E_MAX_ERROR, E_CLOUD_MASK, E_SKIP_CLOUDS, E_EFFORT, E_PLAIN_SPREADS,
    E_NO_PREDICTION
};

static const OptDef encode_opts[] = {
    { "output", 'o', 1, E_OUTPUT },   { "quality", 'q', 1, E_QUALITY },
    { "model", 0, 1, E_MODEL },       { "weights-dir", 0, 1, E_WDIR },
    { "threads", 't', 1, E_THREADS }, { "raw", 0, 0, E_RAW },
    { "max-error", 0, 1, E_MAX_ERROR },
    { "cloud-mask", 0, 1, E_CLOUD_MASK }, { "skip-clouds", 0, 0, E_SKIP_CLOUDS },
    { "fixed-quality", 0, 0, E_FIXED }, { "effort", 0, 1, E_EFFORT },
    { "plain-spreads", 0, 0, E_PLAIN_SPREADS }, { "no-prediction", 0, 0, E_NO_PREDICTION },
    { "keyframe-interval", 'g', 1, E_KEYINT }, { "context", 0, 1, E_CONTEXT },
    { "dates", 0, 1, E_DATES },       { "bands", 0, 1, E_BANDS },
    { "nodata", 0, 1, E_NODATA },     { "crs", 0, 1, E_CRS },
    { "geotransform", 0, 1, E_GEO },  { "meta", 0, 1, E_META },
    /* Hidden: the encoder's own reconstruction, for the bit-exactness tests. */
    { "recon", 0, 1, E_RECON },
    { "verbose", 'v', 0, E_VERBOSE }, { "help", 'h', 0, E_HELP },
    { "quiet", 0, 0, E_QUIET },
    { NULL, 0, 0, 0 }
};

#define MAX_INPUTS 4096

typedef struct EncodeJob {
    const char *input, *output, *recon_path;
    const char *model, *weights_dir;
    const char *dates, *bands, *nodata, *crs, *geotransform;
    int quality, fixed_quality, threads, raw, verbose, quiet, keyframe_interval, context;
    int max_error;  /* -1: none */
    const char *cloud_path;
    int skip_clouds;
    int effort;
    int plain_spreads;
    int no_prediction;
    NpyFile clouds;
    int clouds_open;
    uint8_t *cloud_frame;
    const char *inputs[MAX_INPUTS];
    int n_inputs;

    CubeInput in;
    NpyFile recon;
    int in_open, recon_open;
    TecList date_list, band_list;
    int64_t *times;
    uint8_t *timed;
    Meta meta, user_meta;   /* all keys; the --meta ones */
    char user_keys[8192];
    size_t user_keys_used;
    char rank_text[4];

    TecvWriter *w;
    TecEncoder *enc;
    int64_t packets;
    uint64_t payload_bytes;
} EncodeJob;

/* The encoder's row_source: stripes straight from the .npy or through GDAL. */
typedef struct RowReader {
    CubeInput *cube;
    int failed;
    char err[MSG_SIZE];
} RowReader;

static int read_rows(void *opaque, int64_t frame, int y0, int rows, uint16_t *data,
                     ptrdiff_t stride, ptrdiff_t band_stride)
{
    RowReader *rr = opaque;
    int ret;
    if (frame < 0 || frame >= rr->cube->frames) {
        snprintf(rr->err, sizeof(rr->err), "the encoder asked for frame %" PRId64 " of %" PRId64,
                 frame, rr->cube->frames);
        ret = TEC_EINVAL;
    } else {
        ret = cube_input_read_rows(rr->cube, frame, y0, rows, data, stride, band_stride, rr->err,
                                   sizeof(rr->err));
        progress_update(frame, y0 + rows);
    }
    if (ret < 0)
        rr->failed = 1;
    return ret;
}

/* 1 when two values of a metadata key mean different things. */
static int values_differ(const char *key, const char *a, const char *b)
{
    if (!strcmp(a, b))
        return 0;
    if (!strcmp(key, "crs")) {
        int same = gdal_crs_same(a, b);
        return same != 1;
    }
    if (!strcmp(key, "geotransform") || !strcmp(key, "nodata")) {
        TecList la, lb;
        int differ = 1;
        if (tec_list_split(&la, a) < 0)
            return 1;
        if (tec_list_split(&lb, b) == 0) {
            differ = la.count != lb.count;
            for (int i = 0; !differ && i < la.count; i++) {
                double x, y;
                differ = tec_parse_double(la.item[i], &x) || tec_parse_double(lb.item[i], &y) ||
                         x != y;
            }
            tec_list_free(&lb);
        }
        tec_list_free(&la);
        return differ;
    }
    return 1;
}

/* The files' band names, dates, CRS, geotransform and nodata, where the
 * command line gives none; a value given there wins, with a warning when
 * the files say otherwise. */
static int merge_file_meta(EncodeJob *j)
{
    const GdalMeta *fm = j->in.file_meta;
    if (!fm)
        return 0;
    struct { const char *key, *option, **user, *file; } f[] = {
        { "bands", "--bands", &j->bands, fm->bands },
        { "dates", "--dates", &j->dates, fm->dates },
        { "nodata", "--nodata", &j->nodata, fm->nodata },
        { "crs", "--crs", &j->crs, fm->crs },
        { "geotransform", "--geotransform", &j->geotransform, fm->geotransform },
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (!f[i].file)
            continue;
        if (!*f[i].user)
            *f[i].user = f[i].file;
        else if (values_differ(f[i].key, *f[i].user, f[i].file))
            cli_warning("%s '%.80s' overrides the input's %s '%.80s'", f[i].option, *f[i].user,
                        f[i].key, f[i].file);
    }
    return 0;
}

/* Checks the metadata options against the input and builds the key/value list. */
static int encode_prepare_meta(EncodeJob *j)
{
    const CubeInput *in = &j->in;
    Meta *m = &j->meta;

    if (merge_file_meta(j) < 0)
        return -1;

    j->times = calloc((size_t)in->frames, sizeof(*j->times));
    j->timed = calloc((size_t)in->frames, 1);
    if (!j->times || !j->timed) {
        cli_error("out of memory");
        return -1;
    }
    if (j->bands) {
        if (tec_list_split(&j->band_list, j->bands) < 0) {
            cli_error("out of memory");
            return -1;
        }
        if (j->band_list.count != in->bands) {
            cli_error("--bands: %d name%s for the %" PRId64 " bands of %s", j->band_list.count,
                  j->band_list.count == 1 ? "" : "s", in->bands, j->input);
            return -1;
        }
        for (int i = 0; i < j->band_list.count; i++) {
            const char *b = j->band_list.item[i];
            size_t len = strlen(b);
            int ok = len >= 1 && len < TEC_MAX_BAND_NAME;
            for (const char *p = b; ok && *p; p++)
                ok = *p > ' ' && *p < 0x7f;
            if (!ok) {
                cli_error("--bands: '%s' is not a band name (1 to %d printable ASCII characters, "
                      "no spaces)", b, TEC_MAX_BAND_NAME - 1);
                return -1;
            }
        }
        /* A tec stream's sequence header holds the names; only a raw
         * stream needs them in the metadata. */
        if (j->raw) {
            m->key[m->n] = "bands";
            m->value[m->n++] = j->bands;
        }
    }
    if (j->dates) {
        if (tec_list_split(&j->date_list, j->dates) < 0) {
            cli_error("out of memory");
            return -1;
        }
        if (j->date_list.count != in->frames) {
            cli_error("--dates: %d date%s for the %" PRId64 " frame%s of %s", j->date_list.count,
                  j->date_list.count == 1 ? "" : "s", in->frames, in->frames == 1 ? "" : "s",
                  j->input);
            return -1;
        }
        for (int i = 0; i < j->date_list.count; i++) {
            const char *d = j->date_list.item[i];
            if (!*d) {
                cli_error("--dates: date %d is empty", i + 1);
                return -1;
            }
            int ret = tec_parse_date(d, &j->times[i]);
            if (ret < 0) {
                cli_error("--dates: '%s' is not a valid date (YYYY-MM-DD or "
                      "YYYY-MM-DDTHH:MM:SS[Z])", d);
                return -1;
            }
            j->timed[i] = ret == 1;
        }
        if (!tec_utf8_valid(j->dates)) {
            cli_error("--dates: not valid UTF-8");
            return -1;
        }
        m->key[m->n] = "dates";
        m->value[m->n++] = j->dates;
    }
    if (j->nodata) {
        long v;
        if (tec_parse_int(j->nodata, 0, 65535, &v)) {
            cli_error("--nodata '%s': need an integer sample value from 0 to 65535", j->nodata);
            return -1;
        }
        m->key[m->n] = "nodata";
        m->value[m->n++] = j->nodata;
    }
    if (j->crs) {
        if (!*j->crs || !tec_utf8_valid(j->crs)) {
            cli_error("--crs: need a non-empty UTF-8 string such as EPSG:32633");
            return -1;
        }
        m->key[m->n] = "crs";
        m->value[m->n++] = j->crs;
    }
    if (j->geotransform) {
        TecList g;
        if (tec_list_split(&g, j->geotransform) < 0) {
            cli_error("out of memory");
            return -1;
        }
        int ok = g.count == 6;
        for (int i = 0; ok && i < g.count; i++) {
            double v;
            ok = !tec_parse_double(g.item[i], &v);
        }
        tec_list_free(&g);
        if (!ok) {
            cli_error("--geotransform '%s': need 6 comma-separated numbers", j->geotransform);
            return -1;
        }
        m->key[m->n] = "geotransform";
        m->value[m->n++] = j->geotransform;
    }
    /* The dedicated keys first, then the files' other keys, then --meta in
     * the order given. */
    const GdalMeta *fm = in->file_meta;
    for (int i = 0; fm && i < fm->n_extra; i++) {
        const char *user = meta_get(&j->user_meta, fm->extra_key[i]);
        if (user) {
            if (strcmp(user, fm->extra_value[i]))
                cli_warning("--meta %s=%s overrides the value '%s' from the input", 
                            fm->extra_key[i], user, fm->extra_value[i]);
            continue;
        }
        if (m->n + j->user_meta.n >= MAX_META + 6 || !tec_utf8_valid(fm->extra_value[i]))
            continue;
        m->key[m->n] = fm->extra_key[i];
        m->value[m->n++] = fm->extra_value[i];
    }
    for (int i = 0; i < j->user_meta.n; i++) {
        m->key[m->n] = j->user_meta.key[i];
        m->value[m->n++] = j->user_meta.value[i];
    }
    snprintf(j->rank_text, sizeof(j->rank_text), "%d", in->ndim);
    m->key[m->n] = KEY_RANK;
    m->value[m->n++] = j->rank_text;
    return 0;
}

static int write_packet(EncodeJob *j, const uint8_t *data, size_t size, int64_t time_ms,
                        int has_time, int keyframe)
{
    int flags = (keyframe ? TECV_FLAG_KEY : 0) | (has_time ? TECV_FLAG_TIME : 0);
    if (tec_tecv_write_packet(j->w, data, size, time_ms, flags) < 0) {
        cli_error("%s", tec_tecv_writer_error(j->w));
        return -1;
    }
    if (j->verbose) {
        const CubeInput *in = &j->in;
        double px = (double)in->width * (double)in->height;
        fprintf(stderr, "tec: frame %" PRId64 ": %zu bytes, %.4f bpppb, %.3f bpp\n",
                j->packets, size, (double)size * 8 / (px * (double)in->bands),
                (double)size * 8 / px);
    }
    j->packets++;
    j->payload_bytes += size;
    return 0;
}

static int encode_raw(EncodeJob *j, const TecvInfo *info)
{
    CubeInput *in = &j->in;
    size_t count = (size_t)(in->bands * in->height * in->width);
    char err[MSG_SIZE];
    if ((uint64_t)count * 2 > (UINT64_C(1) << 31)) {
        cli_error("%s: a frame of %" PRId64 " x %" PRId64 " x %" PRId64 " is too large for a raw "
              "packet (2 GiB at most)", j->input, in->bands, in->height, in->width);
        return -1;
    }
    uint16_t *buf = malloc(count * 2);
    if (!buf) {
        cli_error("out of memory for a %zu-byte frame", count * 2);
        return -1;
    }
    int ret = tec_tecv_open_write(&j->w, j->output, info);
    if (ret < 0)
        cli_error("%s", tec_tecv_writer_error(j->w));
    for (int64_t t = 0; ret >= 0 && t < in->frames; t++) {
        ret = cube_input_read_frame(in, t, buf, err, sizeof(err));
        if (ret < 0) {
            cli_error("%s", err);
            break;
        }
        if (j->recon_open && (ret = npy_write_frame(&j->recon, t, buf, err, sizeof(err))) < 0) {
            cli_error("%s", err);
            break;
        }
        progress_update(t, in->height);
        cli_swap_to_le16(buf, count);
        ret = write_packet(j, (const uint8_t *)buf, count * 2, j->times[t], j->timed[t], 1);
    }
    free(buf);
    return ret < 0 ? -1 : 0;
}

static int encoder_failed(EncodeJob *j, const RowReader *rr, const char *what)
{
    if (rr->failed)
        cli_error("%s", rr->err);
    else
        cli_error("%s: %s", what, tec_encoder_error(j->enc));
    return -1;
}

/* Moves every packet the encoder has ready into the file.  0: it wants
 * more frames; 1: it is drained after the flush; -1: failed (reported).
 * (Not TEC_E* codes: TEC_EAGAIN is -1.) */
static int drain_packets(EncodeJob *j, const RowReader *rr)
{
    for (;;) {
        TecPacket pkt;
        int ret = tec_encoder_receive_packet(j->enc, &pkt);
        if (ret == TEC_EAGAIN)
            return 0;
        if (ret == TEC_EOF)
            return 1;
        if (ret < 0)
            return encoder_failed(j, rr, "encoding failed");
        if (j->recon_open) {
            TecPicture rec;
            char err[MSG_SIZE];
            ret = tec_encoder_get_reconstruction(j->enc, &rec);
            if (ret < 0)
                return encoder_failed(j, rr, "no reconstruction");
            if (rec.width != j->in.width || rec.height != j->in.height ||
                rec.bands != j->in.bands || pkt.frame_index < 0 ||
                pkt.frame_index >= j->in.frames) {
                cli_error("the reconstruction of frame %" PRId64 " does not match the input",
                      pkt.frame_index);
                return -1;
            }
            ret = npy_write_rows(&j->recon, pkt.frame_index, 0, rec.height, rec.data,
                                 rec.stride, rec.band_stride, err, sizeof(err));
            if (ret < 0) {
                cli_error("%s", err);
                return -1;
            }
        }
        if (write_packet(j, pkt.data, pkt.size, pkt.time_ms, pkt.has_time, pkt.keyframe) < 0)
            return -1;
    }
}

static int encode_tec(EncodeJob *j, TecvInfo *info)
{
    CubeInput *in = &j->in;
    RowReader rr = { .cube = in };
    TecEncoderSettings s;
    tec_encoder_default_settings(&s);
    s.bands = (int)in->bands;
    s.width = (int)in->width;
    s.height = (int)in->height;
    for (int i = 0; i < j->band_list.count; i++)
        s.band_names[i] = j->band_list.item[i];
    s.quality = j->quality;
    s.fixed_quality = j->fixed_quality;
    s.model = j->model;
    s.weights_dir = cli_weights_dir(j->weights_dir);
    s.threads = j->threads;
    s.keyframe_interval = j->keyframe_interval;
    s.context_frames = j->context;
    /* Checked with the metadata: the mask makes nodata survive the coding. */
    long nodata;
    if (j->nodata && !tec_parse_int(j->nodata, 0, 65535, &nodata)) {
        s.has_nodata = 1;
        s.nodata_value = (uint16_t)nodata;
    }
    s.error_bound = j->max_error + 1;
    s.skip_clouds = j->skip_clouds;
    s.effort = j->effort;
    s.plain_spreads = j->plain_spreads;
    s.no_prediction = j->no_prediction;
    s.want_reconstruction = j->recon_open;
    s.row_source = read_rows;
    s.row_opaque = &rr;

    int ret = tec_encoder_open(&j->enc, &s);
    if (ret < 0)
        return encoder_failed(j, &rr, "cannot start the encoder");
    const uint8_t *hdr;
    size_t hdr_size;
    ret = tec_encoder_get_header(j->enc, &hdr, &hdr_size);
    if (ret < 0)
        return encoder_failed(j, &rr, "no sequence header");
    info->seq_header = hdr;
    info->seq_header_size = hdr_size;
    if (tec_tecv_open_write(&j->w, j->output, info) < 0) {
        cli_error("%s", tec_tecv_writer_error(j->w));
        return -1;
    }

    int drained = 0;
    for (int64_t t = 0; t <= in->frames; t++) {
        TecPicture pic = {
            .bands = s.bands, .width = s.width, .height = s.height,
            .time_ms = t < in->frames ? j->times[t] : 0,
            .has_time = t < in->frames ? j->timed[t] : 0,
        };
        /* t == frames flushes. */
        const TecPicture *send = t < in->frames ? &pic : NULL;
        if (send && j->clouds_open) {
            char err[MSG_SIZE];
            if (npy_read_mask_frame(&j->clouds, t, j->cloud_frame, err, sizeof(err)) < 0) {
                cli_error("%s", err);
                return -1;
            }
            if (tec_encoder_set_cloud_mask(j->enc, j->cloud_frame, s.width) < 0)
                return encoder_failed(j, &rr, "cloud mask");
        }
        for (;;) {
            ret = tec_encoder_send_frame(j->enc, send);
            if (ret != TEC_EAGAIN)
                break;
            /* The encoder is full: take packets out, then send again. */
            drained = drain_packets(j, &rr);
            if (drained < 0)
                return -1;
            if (drained) {
                cli_error("the encoder ended before frame %" PRId64, t);
                return -1;
            }
        }
        if (ret < 0)
            return encoder_failed(j, &rr, "encoding failed");
        if ((drained = drain_packets(j, &rr)) < 0)
            return -1;
    }
    if (!drained) {
        cli_error("the encoder did not finish after the flush");
        return -1;
    }
    if (j->packets != in->frames) {
        cli_error("the encoder gave %" PRId64 " packets for %" PRId64 " frames", j->packets,
              in->frames);
        return -1;
    }
    return 0;
}

int cmd_encode(int argc, char **argv)
{
    EncodeJob *j = calloc(1, sizeof(*j));
    if (!j) {
        cli_error("out of memory");
        return EXIT_FAILURE;
    }
    j->in.npy.fd = j->recon.fd = j->clouds.fd = -1;
    j->max_error = -1;
    ArgIter it = { argc, argv, 1, 0, "encode" };
    const char *v;
    int id, rc = EXIT_USAGE, ret;
    char err[MSG_SIZE];

    while ((id = cli_next_option(&it, encode_opts, &v)) != OPT_DONE) {
        switch (id) {
        case OPT_ERROR: goto end;
        case OPT_POSITIONAL:
            if (j->n_inputs == MAX_INPUTS) {
                cli_error("encode: more than %d inputs (put them in a list file)", MAX_INPUTS);
                goto end;
            }
            if (!j->input)
                j->input = v;
            j->inputs[j->n_inputs++] = v;
            break;
        case E_OUTPUT: j->output = v; break;
        case E_QUALITY: if (cli_parse_quality(v, &j->quality) < 0) goto end; break;
        case E_MODEL: j->model = v; break;
        case E_WDIR: j->weights_dir = v; break;
        case E_THREADS: if (cli_parse_threads(v, &j->threads) < 0) goto end; break;
        case E_RAW: j->raw = 1; break;
        case E_FIXED: j->fixed_quality = 1; break;
        case E_KEYINT:
            if (cli_parse_range(v, "--keyframe-interval", 1, 65535, &j->keyframe_interval) < 0)
                goto end;
            break;
        case E_CONTEXT:
            if (cli_parse_range(v, "--context", 1, TEC_MAX_CONTEXT, &j->context) < 0)
                goto end;
            break;
        case E_DATES: j->dates = v; break;
        case E_BANDS: j->bands = v; break;
        case E_NODATA: j->nodata = v; break;
        case E_MAX_ERROR:
            if (cli_parse_range(v, "--max-error", 0, TEC_MAX_ERROR, &j->max_error) < 0)
                goto end;
            break;
        case E_CLOUD_MASK: j->cloud_path = v; break;
        case E_SKIP_CLOUDS: j->skip_clouds = 1; break;
        case E_EFFORT:
            if (cli_parse_range(v, "--effort", 0, TEC_MAX_EFFORT, &j->effort) < 0)
                goto end;
            break;
        case E_PLAIN_SPREADS: j->plain_spreads = 1; break;
        case E_NO_PREDICTION: j->no_prediction = 1; break;
        case E_CRS: j->crs = v; break;
        case E_GEO: j->geotransform = v; break;
        case E_META:
            if (add_user_meta(&j->user_meta, j->user_keys, sizeof(j->user_keys),
                              &j->user_keys_used, v) < 0)
                goto end;
            break;
        case E_RECON: j->recon_path = v; break;
        case E_VERBOSE: j->verbose = 1; break;
        case E_QUIET: j->quiet = 1; break;
        case E_HELP: usage_encode(stdout); rc = EXIT_SUCCESS; goto end;
        }
    }
    if (!j->input) {
        cli_error("encode: no input file (usage: tec encode IN.npy -o OUT.tecv)");
        goto end;
    }
    if (!j->output) {
        cli_error("encode: no output file (-o OUT.tecv)");
        goto end;
    }
    if (j->model && !*j->model) {
        cli_error("--model: empty name");
        goto end;
    }
    for (int i = 1; i < j->n_inputs; i++) {
        if (cli_same_file(j->inputs[i], j->output)) {
            cli_error("encode: an output file is also the input");
            goto end;
        }
    }
    if (cli_same_file(j->input, j->output) ||
        (j->recon_path && (cli_same_file(j->input, j->recon_path) ||
                           cli_same_file(j->output, j->recon_path)))) {
        cli_error("encode: an output file is also the input");
        goto end;
    }

    rc = EXIT_FAILURE;
    if (cube_input_open(&j->in, j->inputs, j->n_inputs, err, sizeof(err)) < 0) {
        cli_error("%s", err);
        goto end;
    }
    j->in_open = 1;
    const CubeInput *in = &j->in;
    if (in->bands > TEC_MAX_BANDS || in->width > TEC_MAX_DIM || in->height > TEC_MAX_DIM) {
        cli_error("%s: %" PRId64 " band%s of %" PRId64 " x %" PRId64 " pixels: tec takes at most "
              "%d bands and %d pixels a side", j->input, in->bands, in->bands == 1 ? "" : "s",
              in->width, in->height, TEC_MAX_BANDS, TEC_MAX_DIM);
        goto end;
    }
    if (encode_prepare_meta(j) < 0)
        goto end;
    if (j->skip_clouds && !j->cloud_path) {
        cli_error("--skip-clouds needs --cloud-mask");
        goto end;
    }
    if (j->cloud_path) {
        if (j->raw) {
            cli_error("--cloud-mask: a raw stream keeps no masks");
            goto end;
        }
        if (npy_open_read_mask(&j->clouds, j->cloud_path, err, sizeof(err)) < 0) {
            cli_error("--cloud-mask %s", err);
            goto end;
        }
        j->clouds_open = 1;
        if (j->clouds.frames != in->frames || j->clouds.height != in->height ||
            j->clouds.width != in->width) {
            cli_error("--cloud-mask %s: %" PRId64 " frame%s of %" PRId64 " x %" PRId64 ", the "
                      "input has %" PRId64 " of %" PRId64 " x %" PRId64 " (need (T, H, W), or (H, "
                      "W) for one frame)", j->cloud_path, j->clouds.frames,
                      j->clouds.frames == 1 ? "" : "s", j->clouds.height, j->clouds.width,
                      in->frames, in->height, in->width);
            goto end;
        }
        if (!(j->cloud_frame = malloc((size_t)(in->height * in->width)))) {
            cli_error("out of memory for the cloud mask");
            goto end;
        }
    }
    if (j->recon_path) {
        if (npy_create(&j->recon, j->recon_path, in->ndim, in->frames, in->bands, in->height,
                       in->width, err, sizeof(err)) < 0) {
            cli_error("%s", err);
            goto end;
        }
        j->recon_open = 1;
    }

    TecvInfo info = {
        .codec = j->raw ? TEC_CODEC_RAW : TEC_CODEC_TEC,
        .bands = (int)in->bands, .width = (int)in->width, .height = (int)in->height,
        .n_meta = j->meta.n, .meta_keys = j->meta.key, .meta_values = j->meta.value,
    };
    progress_start("encode", in->frames, in->height, in->width, !j->quiet && !j->verbose);
    ret = j->raw ? encode_raw(j, &info) : encode_tec(j, &info);
    progress_end();
    if (j->w) {
        if (tec_tecv_close_write(&j->w) < 0 && ret >= 0) {
            cli_error("%s: cannot finish the file", j->output);
            ret = -1;
        }
    }
    if (j->recon_open) {
        j->recon_open = 0;
        if (npy_close(&j->recon, err, sizeof(err)) < 0 && ret >= 0) {
            cli_error("%s", err);
            ret = -1;
        }
    }
    if (ret >= 0) {
        rc = EXIT_SUCCESS;
        if (j->verbose) {
            double px = (double)in->width * (double)in->height * (double)in->frames;
            fprintf(stderr, "tec: %s: %" PRId64 " frame%s, %" PRIu64 " payload bytes, "
                    "%.4f bpppb\n", j->output, j->packets, j->packets == 1 ? "" : "s",
                    j->payload_bytes, (double)j->payload_bytes * 8 / (px * (double)in->bands));
        }
    } else if (!cli_is_stdio(j->output)) {
        unlink(j->output);  /* no half-written stream left behind */
    }

end:
    if (j->w)
        tec_tecv_close_write(&j->w);
    tec_encoder_close(&j->enc);
    if (j->recon_open)
        npy_close(&j->recon, err, sizeof(err));
    if (j->in_open)
        cube_input_close(&j->in);
    if (j->clouds_open)
        npy_close(&j->clouds, err, sizeof(err));
    free(j->cloud_frame);
    tec_list_free(&j->band_list);
    tec_list_free(&j->date_list);
    free(j->times);
    free(j->timed);
    free(j);
    return rc;
}
