/*
 * tec: the TerraCodec command line tool.
 *
 *   tec encode IN.npy -o OUT.tecv [options]   .npy uint16 cube -> .tecv
 *   tec decode IN.tecv -o OUT.npy [options]   .tecv -> .npy, the input's shape
 *   tec info IN.tecv [--json]                 stream description, rate per frame
 *   tec compare ...                           tools/compare.py
 *
 * Samples move between the .npy files and the codec in stripes (the
 * encoder's row_source, the decoder's row_sink), so memory stays bounded
 * for a full Sentinel-2 tile.  Every failure prints one line "tec: ..." on
 * stderr and exits non-zero.
 */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tec/tec.h"
#include "npy.h"
#include "tec_util.h"
#include "weights.h"

#define EXIT_USAGE 2
#define MAX_META 256
#define MAX_THREADS 256
/* The model the encoder picks for Sentinel-2 bands when none is named. */
#define DEFAULT_MODEL "tec-s2"
/* Metadata key of the input's rank, so decode gives back (C,H,W) or (T,C,H,W). */
#define KEY_RANK "input_rank"

#define MSG_SIZE 1024

/* ------------------------------------------------------------------ messages */

static void vmessage(const char *prefix, const char *fmt, va_list ap)
{
    char buf[MSG_SIZE];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    /* One line per problem, whatever the library's message looks like. */
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "tec: %s%s\n", prefix, buf);
}

static void error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("", fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ options */

typedef struct OptDef {
    const char *name;
    char short_name;
    int has_arg;
    int id;
} OptDef;

typedef struct ArgIter {
    int argc;
    char **argv;
    int i;
    int positional_only;
    const char *cmd;
} ArgIter;

enum { OPT_DONE = -100, OPT_POSITIONAL, OPT_ERROR };

/* Next option id, OPT_POSITIONAL (the word in *val), OPT_DONE or OPT_ERROR
 * (reported).  An option's value is the next word even when it starts with
 * '-', so "--nodata -1" and "--dates --09,--10" work. */
static int next_option(ArgIter *it, const OptDef *defs, const char **val)
{
    *val = NULL;
    while (it->i < it->argc) {
        const char *a = it->argv[it->i++];
        if (it->positional_only || a[0] != '-' || !a[1]) {
            *val = a;
            return OPT_POSITIONAL;
        }
        if (!strcmp(a, "--")) {
            it->positional_only = 1;
            continue;
        }
        const OptDef *d;
        const char *inline_val = NULL;
        if (a[1] == '-') {
            const char *name = a + 2;
            size_t len = strcspn(name, "=");
            for (d = defs; d->name; d++)
                if (strlen(d->name) == len && !strncmp(d->name, name, len))
                    break;
            if (name[len] == '=')
                inline_val = name + len + 1;
        } else {
            for (d = defs; d->name; d++)
                if (d->short_name && d->short_name == a[1])
                    break;
            if (a[2])
                inline_val = a + 2;
        }
        if (!d->name) {
            error("%s: unknown option '%s' (see 'tec %s --help')", it->cmd, a, it->cmd);
            return OPT_ERROR;
        }
        if (inline_val && !d->has_arg) {
            error("%s: option --%s takes no value", it->cmd, d->name);
            return OPT_ERROR;
        }
        if (d->has_arg) {
            if (inline_val) {
                *val = inline_val;
            } else if (it->i < it->argc) {
                *val = it->argv[it->i++];
            } else {
                error("%s: option --%s needs a value", it->cmd, d->name);
                return OPT_ERROR;
            }
        }
        return d->id;
    }
    return OPT_DONE;
}

static int parse_quality(const char *v, int *q)
{
    long x;
    if (tec_parse_int(v, TEC_QUALITY_MIN, TEC_QUALITY_MAX, &x)) {
        error("--quality '%s': need an integer from %d to %d", v, TEC_QUALITY_MIN,
              TEC_QUALITY_MAX);
        return -1;
    }
    *q = (int)x;
    return 0;
}

static int parse_threads(const char *v, int *threads)
{
    long x;
    if (tec_parse_int(v, 0, MAX_THREADS, &x)) {
        error("--threads '%s': need an integer from 0 (one per core) to %d", v, MAX_THREADS);
        return -1;
    }
    *threads = (int)x;
    return 0;
}

/* ------------------------------------------------------------------ files */

static int is_stdio(const char *path)
{
    return !strcmp(path, "-");
}

/* Writing the output over the input would destroy the input before it is read. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return !is_stdio(a) && !is_stdio(b) && !stat(a, &sa) && !stat(b, &sb) &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Raw .tecv payloads are little-endian whatever the host. */
static void swap_to_le16(uint16_t *p, size_t n)
{
    if (host_is_little_endian())
        return;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint16_t)(p[i] << 8 | p[i] >> 8);
}

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
        error("--meta '%s': need KEY=VALUE with a non-empty key", arg);
        return -1;
    }
    size_t klen = (size_t)(eq - arg);
    if (*used + klen + 1 > store_size || m->n >= MAX_META) {
        error("--meta: too many or too long keys (at most %d)", MAX_META);
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
            error("--meta %s=...: use %s for this key", key, option_keys[i][1]);
        else
            error("--meta %s=...: this key is written by tec itself", key);
        return -1;
    }
    for (const char *p = key; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            error("--meta: key '%s' has control characters", key);
            return -1;
        }
    }
    if (!tec_utf8_valid(key) || !tec_utf8_valid(eq + 1)) {
        error("--meta '%s': not valid UTF-8", arg);
        return -1;
    }
    if (meta_get(m, key)) {
        error("--meta: key '%s' given twice", key);
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
    char path[4096], err[512];
    TecWeights *w = NULL;
    long q;
    buf[0] = '\0';
    if (tec_weights_find(DEFAULT_MODEL, NULL, path, sizeof(path), err, sizeof(err)) < 0 ||
        tec_weights_load(path, &w, err, sizeof(err)) < 0)
        return;
    if (!tec_weights_meta_int(w, "default_quality", &q))
        snprintf(buf, size, " (%s: %ld)", DEFAULT_MODEL, q);
    tec_weights_free(&w);
}

/* ------------------------------------------------------------------ encode */

static void usage_encode(FILE *f)
{
    char dq[128];
    default_quality_text(dq, sizeof(dq));
    fprintf(f,
"usage: tec encode IN.npy -o OUT.tecv [options]\n"
"\n"
"IN.npy holds uint16 samples shaped (T, C, H, W) (a time series of T\n"
"acquisitions) or (C, H, W) (one acquisition); decode gives the same shape back.\n"
"\n"
"  -o, --output FILE        output .tecv ('-' = stdout)\n"
"  -q, --quality Q          %d (smallest file) .. %d (best); default: the model's\n"
"                           default quality%s, 47-50 dB PSNR on\n"
"                           typical Sentinel-2\n"
"      --fixed-quality      code every frame at the quality position Q names; by\n"
"                           default each frame's position follows its band spreads\n"
"                           so that one Q is one trade-off in reflectance units\n"
"      --model NAME         weights NAME.tecw (default: " DEFAULT_MODEL ")\n"
"      --weights-dir DIR    look for weights in DIR first (then $TEC_WEIGHTS)\n"
"  -t, --threads N          worker threads, 0 = one per core (default)\n"
"      --raw                store the samples uncompressed (codec raw)\n"
"metadata, kept in the .tecv header:\n"
"      --dates D1,D2,..     one per frame: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[Z]\n"
"                           set the acquisition time; other labels are kept as text\n"
"      --bands B01,B02,..   band names; Sentinel-2 names (B01..B12, B8A) use the\n"
"                           spectral model, others are coded band by band\n"
"                           (default for 13, 12 or 10 bands: Sentinel-2 order)\n"
"      --nodata V           nodata sample value (0..65535)\n"
"      --crs STR            coordinate reference system, e.g. EPSG:32633\n"
"      --geotransform a,b,c,d,e,f   GDAL geotransform (6 numbers)\n"
"      --meta KEY=VALUE     any other key (repeatable), e.g. source=..., attribution=...\n"
"  -v, --verbose            one line per frame on stderr\n"
"  -h, --help               this text\n",
            TEC_QUALITY_MIN, TEC_QUALITY_MAX, dq);
}

enum {
    E_OUTPUT = 1, E_QUALITY, E_MODEL, E_WDIR, E_THREADS, E_RAW, E_DATES, E_BANDS, E_NODATA,
    E_CRS, E_GEO, E_META, E_RECON, E_VERBOSE, E_HELP, E_FIXED
};

static const OptDef encode_opts[] = {
    { "output", 'o', 1, E_OUTPUT },   { "quality", 'q', 1, E_QUALITY },
    { "model", 0, 1, E_MODEL },       { "weights-dir", 0, 1, E_WDIR },
    { "threads", 't', 1, E_THREADS }, { "raw", 0, 0, E_RAW },
    { "fixed-quality", 0, 0, E_FIXED },
    { "dates", 0, 1, E_DATES },       { "bands", 0, 1, E_BANDS },
    { "nodata", 0, 1, E_NODATA },     { "crs", 0, 1, E_CRS },
    { "geotransform", 0, 1, E_GEO },  { "meta", 0, 1, E_META },
    /* Hidden: the encoder's own reconstruction, for the bit-exactness tests. */
    { "recon", 0, 1, E_RECON },
    { "verbose", 'v', 0, E_VERBOSE }, { "help", 'h', 0, E_HELP },
    { NULL, 0, 0, 0 }
};

typedef struct EncodeJob {
    const char *input, *output, *recon_path;
    const char *model, *weights_dir;
    const char *dates, *bands, *nodata, *crs, *geotransform;
    int quality, fixed_quality, threads, raw, verbose;

    NpyFile in, recon;
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

/* The encoder's row_source: stripes straight from the .npy. */
typedef struct RowReader {
    const NpyFile *npy;
    int failed;
    char err[MSG_SIZE];
} RowReader;

static int read_rows(void *opaque, int64_t frame, int y0, int rows, uint16_t *data,
                     ptrdiff_t stride, ptrdiff_t band_stride)
{
    RowReader *rr = opaque;
    int ret;
    if (frame < 0 || frame >= rr->npy->frames) {
        snprintf(rr->err, sizeof(rr->err), "the encoder asked for frame %" PRId64 " of %" PRId64,
                 frame, rr->npy->frames);
        ret = TEC_EINVAL;
    } else {
        ret = npy_read_rows(rr->npy, frame, y0, rows, data, stride, band_stride, rr->err,
                            sizeof(rr->err));
    }
    if (ret < 0)
        rr->failed = 1;
    return ret;
}

/* Checks the metadata options against the input and builds the key/value list. */
static int encode_prepare_meta(EncodeJob *j)
{
    const NpyFile *in = &j->in;
    Meta *m = &j->meta;

    j->times = calloc((size_t)in->frames, sizeof(*j->times));
    j->timed = calloc((size_t)in->frames, 1);
    if (!j->times || !j->timed) {
        error("out of memory");
        return -1;
    }
    if (j->bands) {
        if (tec_list_split(&j->band_list, j->bands) < 0) {
            error("out of memory");
            return -1;
        }
        if (j->band_list.count != in->bands) {
            error("--bands: %d name%s for the %" PRId64 " bands of %s", j->band_list.count,
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
                error("--bands: '%s' is not a band name (1 to %d printable ASCII characters, "
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
            error("out of memory");
            return -1;
        }
        if (j->date_list.count != in->frames) {
            error("--dates: %d date%s for the %" PRId64 " frame%s of %s", j->date_list.count,
                  j->date_list.count == 1 ? "" : "s", in->frames, in->frames == 1 ? "" : "s",
                  j->input);
            return -1;
        }
        for (int i = 0; i < j->date_list.count; i++) {
            const char *d = j->date_list.item[i];
            if (!*d) {
                error("--dates: date %d is empty", i + 1);
                return -1;
            }
            int ret = tec_parse_date(d, &j->times[i]);
            if (ret < 0) {
                error("--dates: '%s' is not a valid date (YYYY-MM-DD or "
                      "YYYY-MM-DDTHH:MM:SS[Z])", d);
                return -1;
            }
            j->timed[i] = ret == 1;
        }
        if (!tec_utf8_valid(j->dates)) {
            error("--dates: not valid UTF-8");
            return -1;
        }
        m->key[m->n] = "dates";
        m->value[m->n++] = j->dates;
    }
    if (j->nodata) {
        long v;
        if (tec_parse_int(j->nodata, 0, 65535, &v)) {
            error("--nodata '%s': need an integer sample value from 0 to 65535", j->nodata);
            return -1;
        }
        m->key[m->n] = "nodata";
        m->value[m->n++] = j->nodata;
    }
    if (j->crs) {
        if (!*j->crs || !tec_utf8_valid(j->crs)) {
            error("--crs: need a non-empty UTF-8 string such as EPSG:32633");
            return -1;
        }
        m->key[m->n] = "crs";
        m->value[m->n++] = j->crs;
    }
    if (j->geotransform) {
        TecList g;
        if (tec_list_split(&g, j->geotransform) < 0) {
            error("out of memory");
            return -1;
        }
        int ok = g.count == 6;
        for (int i = 0; ok && i < g.count; i++) {
            double v;
            ok = !tec_parse_double(g.item[i], &v);
        }
        tec_list_free(&g);
        if (!ok) {
            error("--geotransform '%s': need 6 comma-separated numbers", j->geotransform);
            return -1;
        }
        m->key[m->n] = "geotransform";
        m->value[m->n++] = j->geotransform;
    }
    /* The dedicated keys first, then --meta in the order given. */
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
        error("%s", tec_tecv_writer_error(j->w));
        return -1;
    }
    if (j->verbose) {
        const NpyFile *in = &j->in;
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
    const NpyFile *in = &j->in;
    size_t count = (size_t)(in->bands * in->height * in->width);
    char err[MSG_SIZE];
    if ((uint64_t)count * 2 > (UINT64_C(1) << 31)) {
        error("%s: a frame of %" PRId64 " x %" PRId64 " x %" PRId64 " is too large for a raw "
              "packet (2 GiB at most)", j->input, in->bands, in->height, in->width);
        return -1;
    }
    uint16_t *buf = malloc(count * 2);
    if (!buf) {
        error("out of memory for a %zu-byte frame", count * 2);
        return -1;
    }
    int ret = tec_tecv_open_write(&j->w, j->output, info);
    if (ret < 0)
        error("%s", tec_tecv_writer_error(j->w));
    for (int64_t t = 0; ret >= 0 && t < in->frames; t++) {
        ret = npy_read_frame(in, t, buf, err, sizeof(err));
        if (ret < 0) {
            error("%s", err);
            break;
        }
        if (j->recon_open && (ret = npy_write_frame(&j->recon, t, buf, err, sizeof(err))) < 0) {
            error("%s", err);
            break;
        }
        swap_to_le16(buf, count);
        ret = write_packet(j, (const uint8_t *)buf, count * 2, j->times[t], j->timed[t], 1);
    }
    free(buf);
    return ret < 0 ? -1 : 0;
}

static int encoder_failed(EncodeJob *j, const RowReader *rr, const char *what)
{
    if (rr->failed)
        error("%s", rr->err);
    else
        error("%s: %s", what, tec_encoder_error(j->enc));
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
                error("the reconstruction of frame %" PRId64 " does not match the input",
                      pkt.frame_index);
                return -1;
            }
            ret = npy_write_rows(&j->recon, pkt.frame_index, 0, rec.height, rec.data,
                                 rec.stride, rec.band_stride, err, sizeof(err));
            if (ret < 0) {
                error("%s", err);
                return -1;
            }
        }
        if (write_packet(j, pkt.data, pkt.size, pkt.time_ms, pkt.has_time, pkt.keyframe) < 0)
            return -1;
    }
}

static int encode_tec(EncodeJob *j, TecvInfo *info)
{
    const NpyFile *in = &j->in;
    RowReader rr = { .npy = in };
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
    s.weights_dir = j->weights_dir;
    s.threads = j->threads;
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
        error("%s", tec_tecv_writer_error(j->w));
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
        for (;;) {
            ret = tec_encoder_send_frame(j->enc, send);
            if (ret != TEC_EAGAIN)
                break;
            /* The encoder is full: take packets out, then send again. */
            drained = drain_packets(j, &rr);
            if (drained < 0)
                return -1;
            if (drained) {
                error("the encoder ended before frame %" PRId64, t);
                return -1;
            }
        }
        if (ret < 0)
            return encoder_failed(j, &rr, "encoding failed");
        if ((drained = drain_packets(j, &rr)) < 0)
            return -1;
    }
    if (!drained) {
        error("the encoder did not finish after the flush");
        return -1;
    }
    if (j->packets != in->frames) {
        error("the encoder gave %" PRId64 " packets for %" PRId64 " frames", j->packets,
              in->frames);
        return -1;
    }
    return 0;
}

static int cmd_encode(int argc, char **argv)
{
    EncodeJob *j = calloc(1, sizeof(*j));
    if (!j) {
        error("out of memory");
        return EXIT_FAILURE;
    }
    j->in.fd = j->recon.fd = -1;
    ArgIter it = { argc, argv, 1, 0, "encode" };
    const char *v;
    int id, rc = EXIT_USAGE, ret;
    char err[MSG_SIZE];

    while ((id = next_option(&it, encode_opts, &v)) != OPT_DONE) {
        switch (id) {
        case OPT_ERROR: goto end;
        case OPT_POSITIONAL:
            if (j->input) {
                error("encode: more than one input ('%s' and '%s')", j->input, v);
                goto end;
            }
            j->input = v;
            break;
        case E_OUTPUT: j->output = v; break;
        case E_QUALITY: if (parse_quality(v, &j->quality) < 0) goto end; break;
        case E_MODEL: j->model = v; break;
        case E_WDIR: j->weights_dir = v; break;
        case E_THREADS: if (parse_threads(v, &j->threads) < 0) goto end; break;
        case E_RAW: j->raw = 1; break;
        case E_FIXED: j->fixed_quality = 1; break;
        case E_DATES: j->dates = v; break;
        case E_BANDS: j->bands = v; break;
        case E_NODATA: j->nodata = v; break;
        case E_CRS: j->crs = v; break;
        case E_GEO: j->geotransform = v; break;
        case E_META:
            if (add_user_meta(&j->user_meta, j->user_keys, sizeof(j->user_keys),
                              &j->user_keys_used, v) < 0)
                goto end;
            break;
        case E_RECON: j->recon_path = v; break;
        case E_VERBOSE: j->verbose = 1; break;
        case E_HELP: usage_encode(stdout); rc = EXIT_SUCCESS; goto end;
        }
    }
    if (!j->input) {
        error("encode: no input file (usage: tec encode IN.npy -o OUT.tecv)");
        goto end;
    }
    if (!j->output) {
        error("encode: no output file (-o OUT.tecv)");
        goto end;
    }
    if (j->model && !*j->model) {
        error("--model: empty name");
        goto end;
    }
    if (same_file(j->input, j->output) ||
        (j->recon_path && (same_file(j->input, j->recon_path) ||
                           same_file(j->output, j->recon_path)))) {
        error("encode: an output file is also the input");
        goto end;
    }

    rc = EXIT_FAILURE;
    if (npy_open_read(&j->in, j->input, err, sizeof(err)) < 0) {
        error("%s", err);
        goto end;
    }
    j->in_open = 1;
    const NpyFile *in = &j->in;
    if (in->bands > TEC_MAX_BANDS || in->width > TEC_MAX_DIM || in->height > TEC_MAX_DIM) {
        error("%s: %" PRId64 " band%s of %" PRId64 " x %" PRId64 " pixels: tec takes at most "
              "%d bands and %d pixels a side", j->input, in->bands, in->bands == 1 ? "" : "s",
              in->width, in->height, TEC_MAX_BANDS, TEC_MAX_DIM);
        goto end;
    }
    if (encode_prepare_meta(j) < 0)
        goto end;
    if (j->recon_path) {
        if (npy_create(&j->recon, j->recon_path, in->ndim, in->frames, in->bands, in->height,
                       in->width, err, sizeof(err)) < 0) {
            error("%s", err);
            goto end;
        }
        j->recon_open = 1;
    }

    TecvInfo info = {
        .codec = j->raw ? TEC_CODEC_RAW : TEC_CODEC_TEC,
        .bands = (int)in->bands, .width = (int)in->width, .height = (int)in->height,
        .n_meta = j->meta.n, .meta_keys = j->meta.key, .meta_values = j->meta.value,
    };
    ret = j->raw ? encode_raw(j, &info) : encode_tec(j, &info);
    if (j->w) {
        if (tec_tecv_close_write(&j->w) < 0 && ret >= 0) {
            error("%s: cannot finish the file", j->output);
            ret = -1;
        }
    }
    if (j->recon_open) {
        j->recon_open = 0;
        if (npy_close(&j->recon, err, sizeof(err)) < 0 && ret >= 0) {
            error("%s", err);
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
    } else if (!is_stdio(j->output)) {
        unlink(j->output);  /* no half-written stream left behind */
    }

end:
    if (j->w)
        tec_tecv_close_write(&j->w);
    tec_encoder_close(&j->enc);
    if (j->recon_open)
        npy_close(&j->recon, err, sizeof(err));
    if (j->in_open)
        npy_close(&j->in, err, sizeof(err));
    tec_list_free(&j->band_list);
    tec_list_free(&j->date_list);
    free(j->times);
    free(j->timed);
    free(j);
    return rc;
}

/* ------------------------------------------------------------------ packets */

/*
 * Which frame a packet is.  Packets carry no index, so they are counted; a
 * corrupt packet counts as the frame it replaces.  When the header's dates
 * give acquisition times, a packet's time finds its frame even after a
 * damaged stretch swallowed more than one packet.
 */
typedef struct Walk {
    TecvReader *r;
    int64_t next;
    TecList labels;  /* the "dates" metadata, one per frame */
    int64_t *times;  /* their times where they are ISO dates */
    uint8_t *timed;
} Walk;

static int walk_init(Walk *w, TecvReader *r)
{
    memset(w, 0, sizeof(*w));
    w->r = r;
    const TecvInfo *info = tec_tecv_info(r);
    const char *dates = tec_tecv_meta(info, "dates");
    if (!dates)
        return 0;
    if (tec_list_split(&w->labels, dates) < 0)
        return -1;
    if (info->frame_count && w->labels.count != info->frame_count)
        return 0;  /* not one per frame: of no help for placing packets */
    w->times = calloc((size_t)w->labels.count, sizeof(*w->times));
    w->timed = calloc((size_t)w->labels.count, 1);
    if (!w->times || !w->timed)
        return -1;
    for (int i = 0; i < w->labels.count; i++)
        w->timed[i] = tec_parse_date(w->labels.item[i], &w->times[i]) == 1;
    return 0;
}

static void walk_free(Walk *w)
{
    tec_list_free(&w->labels);
    free(w->times);
    free(w->timed);
}

/* 0: a packet, its frame in *idx; 1: a corrupt packet taken as frame *idx;
 * TEC_EOF; another negative code: the file cannot be read on. */
static int walk_next(Walk *w, const uint8_t **data, size_t *size, int64_t *time_ms, int *flags,
                     int64_t *idx)
{
    int ret = tec_tecv_read_packet(w->r, data, size, time_ms, flags);
    if (ret == TEC_EBITSTREAM) {
        *idx = w->next++;
        return 1;
    }
    if (ret < 0)
        return ret;
    int64_t i = w->next;
    if ((*flags & TECV_FLAG_TIME) && w->times) {
        for (int64_t k = w->next; k < w->labels.count; k++) {
            if (w->timed[k] && w->times[k] == *time_ms) {
                i = k;
                break;
            }
        }
    }
    *idx = i;
    w->next = i + 1;
    return 0;
}

/* Frames of a stream written to a pipe (frame_count 0): count the packets. */
static int count_packets(const char *path, int64_t *count)
{
    TecvReader *r = NULL;
    int ret = tec_tecv_open_read(&r, path);
    *count = 0;
    while (ret >= 0) {
        const uint8_t *data;
        size_t size;
        ret = tec_tecv_read_packet(r, &data, &size, NULL, NULL);
        if (ret == 0 || ret == TEC_EBITSTREAM) {
            ++*count;
            ret = 0;
        }
    }
    if (ret != TEC_EOF)
        error("%s", tec_tecv_reader_error(r));
    tec_tecv_close_read(&r);
    return ret == TEC_EOF ? 0 : -1;
}

static int open_reader(TecvReader **r, const char *path)
{
    if (tec_tecv_open_read(r, path) < 0) {
        error("%s", tec_tecv_reader_error(*r));
        tec_tecv_close_read(r);
        return -1;
    }
    const TecvInfo *info = tec_tecv_info(*r);
    if (info->codec != TEC_CODEC_RAW && info->codec != TEC_CODEC_TEC) {
        error("%s: unknown codec %d", path, info->codec);
        tec_tecv_close_read(r);
        return -1;
    }
    /* Every packet takes at least its 24-byte header: a larger count is a
     * made-up header, which would make decode create a vast output file. */
    struct stat st;
    if (!is_stdio(path) && !stat(path, &st) && S_ISREG(st.st_mode) &&
        info->frame_count > st.st_size / 24) {
        error("%s: the header claims %" PRId64 " frames, more than a file of %lld bytes can "
              "hold", path, info->frame_count, (long long)st.st_size);
        tec_tecv_close_read(r);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ decode */

static void usage_decode(FILE *f)
{
    fprintf(f,
"usage: tec decode IN.tecv -o OUT.npy [options]\n"
"\n"
"Writes every band of every frame as uint16, shaped like the encoder's input:\n"
"(T, C, H, W), or (C, H, W) for a single acquisition encoded from (C, H, W).\n"
"A damaged frame is reported on stderr with its index and left as zeros; the\n"
"other frames are written, and tec exits with status 1.\n"
"\n"
"  -o, --output FILE        output .npy\n"
"  -t, --threads N          worker threads, 0 = one per core (default)\n"
"      --weights-dir DIR    look for the stream's weights in DIR first\n"
"                           (then $TEC_WEIGHTS, the install and source trees)\n"
"  -v, --verbose            one line per frame on stderr\n"
"  -h, --help               this text\n");
}

enum { D_OUTPUT = 1, D_THREADS, D_WDIR, D_VERBOSE, D_HELP };

static const OptDef decode_opts[] = {
    { "output", 'o', 1, D_OUTPUT }, { "threads", 't', 1, D_THREADS },
    { "weights-dir", 0, 1, D_WDIR }, { "verbose", 'v', 0, D_VERBOSE },
    { "help", 'h', 0, D_HELP }, { NULL, 0, 0, 0 }
};

enum { FRAME_MISSING, FRAME_DONE, FRAME_BAD };

/* The decoder's row_sink: stripes straight into the .npy. */
typedef struct RowWriter {
    const NpyFile *npy;
    const int64_t *map;  /* decoder frame index -> output frame */
    const int64_t *n_map;  /* packets sent before the current one */
    int64_t size;          /* entries of map */
    int64_t written;       /* output frame that last got rows, -1: none yet */
    int failed;
    char err[MSG_SIZE];
} RowWriter;

static int write_rows(void *opaque, int64_t frame, int y0, int rows, const uint16_t *data,
                      ptrdiff_t stride, ptrdiff_t band_stride)
{
    RowWriter *rw = opaque;
    int ret;
    /* map[*n_map] is the packet being sent right now. */
    if (frame < 0 || frame > *rw->n_map || frame >= rw->size) {
        snprintf(rw->err, sizeof(rw->err), "the decoder gave rows of frame %" PRId64
                 ", only %" PRId64 " were sent", frame, *rw->n_map + 1);
        ret = TEC_EINVAL;
    } else {
        ret = npy_write_rows(rw->npy, rw->map[frame], y0, rows, data, stride, band_stride,
                             rw->err, sizeof(rw->err));
        rw->written = rw->map[frame];
    }
    if (ret < 0)
        rw->failed = 1;
    return ret;
}

typedef struct DecodeJob {
    const char *input, *output, *weights_dir;
    int threads, verbose;

    TecvReader *r;
    const TecvInfo *info;
    Walk walk;
    TecDecoder *dec;
    NpyFile out;
    int out_open;
    int64_t frames;
    /* Output frame of each packet sent (the decoder's frame_index counts
     * rejected packets too), and of each packet accepted (whose frames come
     * out of receive_frame in order). */
    int64_t *map, *accepted;
    int64_t n_sent, n_accepted, n_recv;
    uint8_t *state;
    int64_t problems;
    RowWriter rw;
} DecodeJob;

/* A damaged frame is all zeros in the output (a new file is): where the
 * decoder had delivered the rows above the damage through the sink, they
 * are cleared again. */
static void frame_failed(DecodeJob *j, int64_t idx, const char *why)
{
    error("%s: frame %" PRId64 ": %s", j->input, idx, why);
    j->problems++;
    if (idx < 0 || idx >= j->frames)
        return;
    j->state[idx] = FRAME_BAD;
    if (!j->out_open || j->rw.written != idx)
        return;
    uint16_t *zeros = calloc((size_t)j->info->bands * j->info->width, 2);
    char err[MSG_SIZE];
    for (int y = 0; zeros && y < j->info->height; y++)
        if (npy_write_rows(&j->out, idx, y, 1, zeros, j->info->width, j->info->width, err,
                           sizeof(err)) < 0) {
            error("%s", err);
            break;
        }
    free(zeros);
}

static int decoder_fatal(DecodeJob *j)
{
    if (j->rw.failed)
        error("%s", j->rw.err);
    else
        error("%s: decoding failed: %s", j->input, tec_decoder_error(j->dec));
    return -1;
}

/* Takes every frame the decoder has finished.  0: it wants more packets;
 * 1: it is drained after the flush; -1: failed (reported). */
static int drain_frames(DecodeJob *j)
{
    const TecvInfo *info = j->info;
    for (;;) {
        TecPicture pic;
        int ret = tec_decoder_receive_frame(j->dec, &pic);
        if (ret == TEC_EAGAIN)
            return 0;
        if (ret == TEC_EOF)
            return 1;
        int64_t idx = j->n_recv < j->n_accepted ? j->accepted[j->n_recv] : -1;
        j->n_recv++;
        if (ret == TEC_EBITSTREAM && !j->rw.failed) {
            frame_failed(j, idx, tec_decoder_error(j->dec));
            continue;
        }
        if (ret < 0)
            return decoder_fatal(j);
        if (idx < 0) {
            error("%s: the decoder returned more frames than it was sent", j->input);
            return -1;
        }
        if (pic.bands != info->bands || pic.width != info->width ||
            pic.height != info->height) {
            frame_failed(j, idx, "decoded picture of the wrong size");
            continue;
        }
        if (pic.data) {  /* the decoder kept the frame instead of using the sink */
            char err[MSG_SIZE];
            if (npy_write_rows(&j->out, idx, 0, pic.height, pic.data, pic.stride,
                               pic.band_stride, err, sizeof(err)) < 0) {
                error("%s", err);
                return -1;
            }
        }
        j->state[idx] = FRAME_DONE;
        if (j->verbose)
            fprintf(stderr, "tec: frame %" PRId64 " decoded\n", idx);
    }
}

static int decode_raw_packet(DecodeJob *j, int64_t idx, const uint8_t *data, size_t size,
                             uint16_t *buf)
{
    char err[MSG_SIZE];
    size_t count = (size_t)j->info->bands * (size_t)j->info->width * (size_t)j->info->height;
    if (size != count * 2) {
        frame_failed(j, idx, "raw packet of the wrong size");
        return 0;
    }
    memcpy(buf, data, size);  /* the payload need not be aligned */
    swap_to_le16(buf, count);
    if (npy_write_frame(&j->out, idx, buf, err, sizeof(err)) < 0) {
        error("%s", err);
        return -1;
    }
    j->state[idx] = FRAME_DONE;
    return 0;
}

static int send_packet(DecodeJob *j, int64_t idx, const uint8_t *data, size_t size,
                       int64_t time_ms, int has_time)
{
    int ret;
    j->map[j->n_sent] = idx;
    for (;;) {
        ret = tec_decoder_send_packet(j->dec, data, size, time_ms, has_time);
        if (ret != TEC_EAGAIN)
            break;
        /* Full: take frames out, then send again. */
        int drained = drain_frames(j);
        if (drained < 0)
            return -1;
        if (drained) {
            error("%s: the decoder ended early", j->input);
            return -1;
        }
    }
    j->n_sent++;
    if (ret == TEC_EBITSTREAM && !j->rw.failed) {
        frame_failed(j, idx, tec_decoder_error(j->dec));
        return 0;
    }
    if (ret < 0)
        return decoder_fatal(j);
    j->accepted[j->n_accepted++] = idx;
    return drain_frames(j) < 0 ? -1 : 0;
}

/* The frames that never showed up, as ranges. */
static void report_missing(DecodeJob *j)
{
    for (int64_t i = 0; i < j->frames; i++) {
        if (j->state[i] != FRAME_MISSING)
            continue;
        int64_t k = i;
        while (k + 1 < j->frames && j->state[k + 1] == FRAME_MISSING)
            k++;
        if (k == i)
            error("%s: frame %" PRId64 ": no packet (file truncated?)", j->input, i);
        else
            error("%s: frames %" PRId64 "-%" PRId64 ": no packets (file truncated?)",
                  j->input, i, k);
        j->problems += k - i + 1;
        i = k;
    }
}

static int decode_stream(DecodeJob *j)
{
    const TecvInfo *info = j->info;
    uint16_t *raw_buf = NULL;
    if (info->codec == TEC_CODEC_RAW) {
        raw_buf = malloc((size_t)info->bands * (size_t)info->width * (size_t)info->height * 2);
        if (!raw_buf) {
            error("out of memory");
            return -1;
        }
    }
    int ret = 0;
    for (;;) {
        const uint8_t *data;
        size_t size;
        int64_t time_ms, idx;
        int flags;
        ret = walk_next(&j->walk, &data, &size, &time_ms, &flags, &idx);
        if (ret == TEC_EOF) {
            ret = 0;
            break;
        }
        if (ret < 0) {
            error("%s", tec_tecv_reader_error(j->r));
            break;
        }
        if (idx >= j->frames) {
            error("%s: more packets than the %" PRId64 " frames of the header; the rest is "
                  "ignored", j->input, j->frames);
            j->problems++;
            ret = 0;
            break;
        }
        if (ret == 1) {
            frame_failed(j, idx, tec_tecv_reader_error(j->r));
            continue;
        }
        if (j->state[idx] != FRAME_MISSING) {
            error("%s: frame %" PRId64 ": a second packet, ignored", j->input, idx);
            j->problems++;
            continue;
        }
        if (raw_buf)
            ret = decode_raw_packet(j, idx, data, size, raw_buf);
        else
            ret = send_packet(j, idx, data, size, time_ms, !!(flags & TECV_FLAG_TIME));
        if (ret < 0)
            break;
    }
    if (ret >= 0 && j->dec) {
        ret = tec_decoder_send_packet(j->dec, NULL, 0, 0, 0);
        if (ret < 0)
            ret = decoder_fatal(j);
        else
            ret = drain_frames(j) < 0 ? -1 : 0;
    }
    free(raw_buf);
    return ret;
}

static int open_decoder(DecodeJob *j)
{
    const TecvInfo *info = j->info;
    TecDecoderSettings s;
    tec_decoder_default_settings(&s);
    s.weights_dir = j->weights_dir;
    s.threads = j->threads;
    s.row_sink = write_rows;
    s.row_opaque = &j->rw;
    int ret = tec_decoder_open(&j->dec, &s, info->seq_header, info->seq_header_size);
    if (ret < 0) {
        const char *why = tec_decoder_error(NULL);
        TecStreamInfo si;
        /* Name the model the stream needs, unless the library did. */
        if (ret == TEC_EMODEL && !tec_parse_header(info->seq_header, info->seq_header_size, &si) &&
            !strstr(why, si.model))
            error("%s needs model '%s' (checksum %016" PRIx64 "): %s", j->input, si.model,
                  si.model_checksum, why);
        else
            error("%s: %s", j->input, why);
        return -1;
    }
    const TecStreamInfo *si = tec_decoder_info(j->dec);
    if (si->bands != info->bands || si->width != info->width || si->height != info->height) {
        error("%s: the container header (%d bands, %d x %d) and the sequence header (%d bands, "
              "%d x %d) disagree", j->input, info->bands, info->width, info->height,
              si->bands, si->width, si->height);
        return -1;
    }
    return 0;
}

static int cmd_decode(int argc, char **argv)
{
    DecodeJob j = { .out = { .fd = -1 } };
    ArgIter it = { argc, argv, 1, 0, "decode" };
    const char *v;
    int id, rc = EXIT_USAGE;
    char err[MSG_SIZE];

    while ((id = next_option(&it, decode_opts, &v)) != OPT_DONE) {
        switch (id) {
        case OPT_ERROR: goto end;
        case OPT_POSITIONAL:
            if (j.input) {
                error("decode: more than one input ('%s' and '%s')", j.input, v);
                goto end;
            }
            j.input = v;
            break;
        case D_OUTPUT: j.output = v; break;
        case D_THREADS: if (parse_threads(v, &j.threads) < 0) goto end; break;
        case D_WDIR: j.weights_dir = v; break;
        case D_VERBOSE: j.verbose = 1; break;
        case D_HELP: usage_decode(stdout); rc = EXIT_SUCCESS; goto end;
        }
    }
    if (!j.input) {
        error("decode: no input file (usage: tec decode IN.tecv -o OUT.npy)");
        goto end;
    }
    if (!j.output) {
        error("decode: no output file (-o OUT.npy)");
        goto end;
    }
    if (is_stdio(j.output)) {
        error("decode: the output must be a file (.npy is written in place)");
        goto end;
    }
    if (same_file(j.input, j.output)) {
        error("decode: the output file is the input");
        goto end;
    }

    rc = EXIT_FAILURE;
    if (open_reader(&j.r, j.input) < 0)
        goto end;
    j.info = tec_tecv_info(j.r);
    j.frames = j.info->frame_count;
    if (!j.frames) {
        if (is_stdio(j.input)) {
            error("decode: the piped stream does not say how many frames it has; save it to "
                  "a file first");
            goto end;
        }
        if (count_packets(j.input, &j.frames) < 0)
            goto end;
        if (!j.frames) {
            error("%s: the stream has no frames", j.input);
            goto end;
        }
    }
    if (walk_init(&j.walk, j.r) < 0) {
        error("out of memory");
        goto end;
    }
    j.map = calloc((size_t)j.frames, sizeof(*j.map));
    j.accepted = calloc((size_t)j.frames, sizeof(*j.accepted));
    j.state = calloc((size_t)j.frames, 1);
    if (!j.map || !j.accepted || !j.state) {
        error("out of memory for %" PRId64 " frames", j.frames);
        goto end;
    }
    /* Weights first: a missing model must not leave an empty output behind. */
    if (j.info->codec == TEC_CODEC_TEC && open_decoder(&j) < 0)
        goto end;

    const char *rank = tec_tecv_meta(j.info, KEY_RANK);
    int ndim = rank && !strcmp(rank, "3") && j.frames == 1 ? 3 : 4;
    if (npy_create(&j.out, j.output, ndim, j.frames, j.info->bands, j.info->height,
                   j.info->width, err, sizeof(err)) < 0) {
        error("%s", err);
        goto end;
    }
    j.out_open = 1;
    j.rw.npy = &j.out;
    j.rw.map = j.map;
    j.rw.n_map = &j.n_sent;
    j.rw.size = j.frames;
    j.rw.written = -1;

    int ret = decode_stream(&j);
    if (ret >= 0)
        report_missing(&j);
    j.out_open = 0;
    if (npy_close(&j.out, err, sizeof(err)) < 0 && ret >= 0) {
        error("%s", err);
        ret = -1;
    }
    if (ret < 0)
        goto end;
    if (j.problems) {
        int64_t done = 0;
        for (int64_t i = 0; i < j.frames; i++)
            done += j.state[i] == FRAME_DONE;
        error("%s: %" PRId64 " of %" PRId64 " frames decoded; %s has zeros for the others",
              j.input, done, j.frames, j.output);
        goto end;
    }
    rc = EXIT_SUCCESS;

end:
    tec_decoder_close(&j.dec);
    if (j.out_open)
        npy_close(&j.out, err, sizeof(err));
    walk_free(&j.walk);
    tec_tecv_close_read(&j.r);
    free(j.map);
    free(j.accepted);
    free(j.state);
    return rc;
}

/* ------------------------------------------------------------------ info */

static void usage_info(FILE *f)
{
    fprintf(f,
"usage: tec info IN.tecv [--json]\n"
"\n"
"Describes a stream: codec, bands, size, frames and their acquisition dates,\n"
"the model and its checksum, the metadata, and the bits of every frame\n"
"(bpppb: bits per pixel per band; bpp: bits per pixel of an acquisition).\n"
"Exits with status 1 when packets are damaged or missing.\n"
"\n"
"      --json               machine-readable output\n"
"  -h, --help               this text\n");
}

enum { I_JSON = 1, I_HELP };

static const OptDef info_opts[] = {
    { "json", 0, 0, I_JSON }, { "help", 'h', 0, I_HELP }, { NULL, 0, 0, 0 }
};

enum { REC_NONE, REC_OK, REC_CORRUPT };

typedef struct FrameRec {
    int status;
    int flags;
    int64_t time_ms;
    uint64_t bytes;
    int position;  /* quality position (1/256 anchors); -1: none (raw) */
} FrameRec;

typedef struct InfoJob {
    const char *input;
    int json;
    TecvReader *r;
    const TecvInfo *info;
    TecStreamInfo si;
    int have_si;
    Walk walk;
    FrameRec *rec;
    int64_t n_rec, cap;
    int64_t corrupt, extra;
    int64_t file_size;  /* -1: unknown (stdin) */
    TecList names;      /* band names to show */
    int names_from_meta;
} InfoJob;

static int info_record(InfoJob *j, int64_t idx, const FrameRec *fr)
{
    if (idx >= j->cap) {
        int64_t cap = j->cap ? j->cap : 16;
        while (cap <= idx)
            cap *= 2;
        FrameRec *rec = realloc(j->rec, (size_t)cap * sizeof(*rec));
        if (!rec)
            return -1;
        memset(rec + j->cap, 0, (size_t)(cap - j->cap) * sizeof(*rec));
        j->rec = rec;
        j->cap = cap;
    }
    if (j->rec[idx].status == REC_NONE)
        j->rec[idx] = *fr;
    else
        j->extra++;  /* a second packet for the frame */
    if (idx + 1 > j->n_rec)
        j->n_rec = idx + 1;
    return 0;
}

static int info_scan(InfoJob *j)
{
    for (;;) {
        const uint8_t *data;
        size_t size;
        int64_t idx;
        FrameRec fr = { 0 };
        int ret = walk_next(&j->walk, &data, &size, &fr.time_ms, &fr.flags, &idx);
        if (ret == TEC_EOF)
            return 0;
        if (ret < 0) {
            error("%s", tec_tecv_reader_error(j->r));
            return -1;
        }
        if (ret == 1) {
            error("%s: frame %" PRId64 ": %s", j->input, idx, tec_tecv_reader_error(j->r));
            j->corrupt++;
            fr.status = REC_CORRUPT;
        } else {
            fr.status = REC_OK;
            fr.bytes = size;
            TecPacketInfo pi;
            fr.position = j->info->codec == TEC_CODEC_TEC && !tec_parse_packet(data, size, &pi)
                              ? pi.position : -1;
        }
        if (info_record(j, idx, &fr) < 0) {
            error("out of memory");
            return -1;
        }
    }
}

/* The label of frame i: its entry in "dates", else its packet time. */
static void frame_label(const InfoJob *j, int64_t i, char *buf, size_t size)
{
    const FrameRec *fr = &j->rec[i];
    if (i < j->walk.labels.count)
        snprintf(buf, size, "%s", j->walk.labels.item[i]);
    else if (fr->status == REC_OK && (fr->flags & TECV_FLAG_TIME))
        tec_format_time(fr->time_ms, buf, size);
    else
        snprintf(buf, size, "unknown");
}

static const char *band_name(const InfoJob *j, int b)
{
    if (b < j->names.count)
        return j->names.item[b];
    if (j->have_si && b < j->si.bands)
        return j->si.band_names[b];
    return "";
}

typedef struct Totals {
    int64_t frames_ok;
    uint64_t bytes;
    double px, bits, bpppb, bpp, ratio;
} Totals;

static void info_totals(const InfoJob *j, int64_t frames, Totals *t)
{
    const TecvInfo *info = j->info;
    memset(t, 0, sizeof(*t));
    for (int64_t i = 0; i < j->n_rec; i++) {
        if (j->rec[i].status == REC_OK) {
            t->frames_ok++;
            t->bytes += j->rec[i].bytes;
        }
    }
    t->px = (double)info->width * (double)info->height;
    t->bits = (double)t->bytes * 8;
    if (t->frames_ok) {
        t->bpp = t->bits / (t->px * (double)t->frames_ok);
        t->bpppb = t->bpp / info->bands;
    }
    if (j->file_size > 0)
        t->ratio = t->px * info->bands * 2 * (double)frames / (double)j->file_size;
}

static void info_text(const InfoJob *j, int64_t frames)
{
    const TecvInfo *info = j->info;
    Totals t;
    info_totals(j, frames, &t);
    printf("file          ");
    tec_print_clean(stdout, j->input);
    if (j->file_size >= 0)
        printf(" (%" PRId64 " bytes)", j->file_size);
    printf("\ncodec         %s\n", info->codec == TEC_CODEC_TEC ? "tec" : "raw (uncompressed)");
    if (j->have_si) {
        printf("model         ");
        tec_print_clean(stdout, j->si.model);
        printf(" (checksum %016" PRIx64 ")\nkeyframes     %s", j->si.model_checksum,
               j->si.keyframe_interval == 1 ? "every frame\n" : "every ");
        if (j->si.keyframe_interval != 1)
            printf("%d frames\n", j->si.keyframe_interval);
    }
    printf("size          %d x %d pixels, %d band%s\nbands        ", info->width,
           info->height, info->bands, info->bands == 1 ? "" : "s");
    for (int b = 0; b < info->bands; b++) {
        const char *n = band_name(j, b);
        putchar(' ');
        if (*n)
            tec_print_clean(stdout, n);
        else
            printf("(%d)", b);
    }
    printf("\nframes        %" PRId64, frames);
    if (!info->frame_count)
        printf(" (not in the header: counted)");
    putchar('\n');
    if (info->n_meta)
        printf("metadata\n");
    for (int i = 0; i < info->n_meta; i++) {
        printf("  ");
        tec_print_clean(stdout, info->meta_keys[i]);
        printf("%*s = ", (int)(strlen(info->meta_keys[i]) < 16 ? 16 - strlen(info->meta_keys[i]) : 0), "");
        tec_print_clean(stdout, info->meta_values[i]);
        putchar('\n');
    }
    printf("\n%6s  %-24s %-4s %12s %14s %9s %9s %7s\n", "frame", "date", "key", "bytes", "bits",
           "bpppb", "bpp", "anchor");
    for (int64_t i = 0; i < frames; i++) {
        char label[64];
        const FrameRec *fr = i < j->n_rec ? &j->rec[i] : NULL;
        if (fr)
            frame_label(j, i, label, sizeof(label));
        else if (i < j->walk.labels.count)
            snprintf(label, sizeof(label), "%s", j->walk.labels.item[i]);
        else
            snprintf(label, sizeof(label), "unknown");
        printf("%6" PRId64 "  ", i);
        tec_print_clean(stdout, label);
        printf("%*s", (int)(label[0] && strlen(label) < 24 ? 24 - strlen(label) : 0), "");
        printf(" ");
        if (!fr || fr->status != REC_OK) {
            printf("%s\n", fr && fr->status == REC_CORRUPT ? "corrupt packet" : "missing");
            continue;
        }
        double bits = (double)fr->bytes * 8;
        printf("%-4s %12" PRIu64 " %14.0f %9.5f %9.4f", fr->flags & TECV_FLAG_KEY ? "yes" : "no",
               fr->bytes, bits, bits / (t.px * info->bands), bits / t.px);
        if (fr->position >= 0)
            printf(" %7.2f", fr->position / 256.0);
        else
            printf(" %7s", "-");  /* raw packet: no quality position */
        putchar('\n');
    }
    printf("%6s  %-24s %-4s %12" PRIu64 " %14.0f %9.5f %9.4f\n", "total", "", "", t.bytes,
           t.bits, t.bpppb, t.bpp);
    if (t.ratio > 0)
        printf("\ncompression   %.2f : 1 against raw 16-bit samples (whole file)\n", t.ratio);
}

static void json_key(const char *k, int *first)
{
    printf("%s\n  ", *first ? "" : ",");
    *first = 0;
    tec_json_string(stdout, k);
    printf(": ");
}

static void info_json(const InfoJob *j, int64_t frames)
{
    const TecvInfo *info = j->info;
    Totals t;
    info_totals(j, frames, &t);
    int first = 1;
    putchar('{');
    json_key("file", &first);
    tec_json_string(stdout, j->input);
    json_key("file_size", &first);
    if (j->file_size >= 0)
        printf("%" PRId64, j->file_size);
    else
        printf("null");
    json_key("codec", &first);
    printf("\"%s\"", info->codec == TEC_CODEC_TEC ? "tec" : "raw");
    json_key("model", &first);
    if (j->have_si) {
        printf("{\"name\": ");
        tec_json_string(stdout, j->si.model);
        printf(", \"checksum\": \"%016" PRIx64 "\"}", j->si.model_checksum);
        json_key("keyframe_interval", &first);
        printf("%d", j->si.keyframe_interval);
    } else {
        printf("null");
    }
    json_key("bands", &first);
    printf("%d", info->bands);
    json_key("band_names", &first);
    putchar('[');
    for (int b = 0; b < info->bands; b++) {
        printf(b ? ", " : "");
        tec_json_string(stdout, band_name(j, b));
    }
    putchar(']');
    json_key("width", &first);
    printf("%d", info->width);
    json_key("height", &first);
    printf("%d", info->height);
    json_key("frames", &first);
    printf("%" PRId64, frames);
    json_key("frame_count_in_header", &first);
    printf("%" PRId64, info->frame_count);

    json_key("dates", &first);
    if (j->walk.labels.count) {
        putchar('[');
        for (int i = 0; i < j->walk.labels.count; i++) {
            printf(i ? ", " : "");
            tec_json_string(stdout, j->walk.labels.item[i]);
        }
        putchar(']');
    } else {
        printf("null");
    }
    const char *nodata = tec_tecv_meta(info, "nodata"), *crs = tec_tecv_meta(info, "crs");
    const char *geo = tec_tecv_meta(info, "geotransform");
    long nd;
    json_key("nodata", &first);
    if (nodata && !tec_parse_int(nodata, LONG_MIN, LONG_MAX, &nd))
        printf("%ld", nd);
    else if (nodata)
        tec_json_string(stdout, nodata);
    else
        printf("null");
    json_key("crs", &first);
    if (crs)
        tec_json_string(stdout, crs);
    else
        printf("null");
    json_key("geotransform", &first);
    TecList g = { 0 };
    int geo_ok = geo && !tec_list_split(&g, geo) && g.count == 6;
    double gv[6];
    for (int i = 0; geo_ok && i < 6; i++)
        geo_ok = !tec_parse_double(g.item[i], &gv[i]);
    if (geo_ok)
        printf("[%.17g, %.17g, %.17g, %.17g, %.17g, %.17g]", gv[0], gv[1], gv[2], gv[3], gv[4],
               gv[5]);
    else if (geo)
        tec_json_string(stdout, geo);
    else
        printf("null");
    tec_list_free(&g);

    /* Every key verbatim, the ones above included. */
    json_key("metadata", &first);
    putchar('{');
    for (int i = 0; i < info->n_meta; i++) {
        printf(i ? ", " : "");
        tec_json_string(stdout, info->meta_keys[i]);
        printf(": ");
        tec_json_string(stdout, info->meta_values[i]);
    }
    putchar('}');

    json_key("frame_list", &first);
    putchar('[');
    for (int64_t i = 0; i < frames; i++) {
        const FrameRec *fr = i < j->n_rec ? &j->rec[i] : NULL;
        int ok = fr && fr->status == REC_OK;
        printf("%s\n    {\"index\": %" PRId64 ", \"status\": \"%s\"", i ? "," : "", i,
               ok ? "ok" : fr && fr->status == REC_CORRUPT ? "corrupt" : "missing");
        printf(", \"date\": ");
        if (i < j->walk.labels.count)
            tec_json_string(stdout, j->walk.labels.item[i]);
        else
            printf("null");
        if (ok && (fr->flags & TECV_FLAG_TIME)) {
            char buf[64];
            tec_format_time(fr->time_ms, buf, sizeof(buf));
            printf(", \"time_ms\": %" PRId64 ", \"time\": \"%s\"", fr->time_ms, buf);
        } else {
            printf(", \"time_ms\": null, \"time\": null");
        }
        if (ok) {
            double bits = (double)fr->bytes * 8;
            printf(", \"keyframe\": %s, \"bytes\": %" PRIu64 ", \"bits\": %.0f, "
                   "\"bpppb\": %.6f, \"bpp\": %.6f", fr->flags & TECV_FLAG_KEY ? "true" : "false",
                   fr->bytes, bits, bits / (t.px * info->bands), bits / t.px);
            if (fr->position >= 0)
                printf(", \"anchor\": %.4f}", fr->position / 256.0);
            else
                printf(", \"anchor\": null}");
        } else {
            printf("}");
        }
    }
    printf("%s]", frames ? "\n  " : "");
    json_key("total", &first);
    printf("{\"frames_ok\": %" PRId64 ", \"bytes\": %" PRIu64 ", \"bits\": %.0f, "
           "\"bpppb\": %.6f, \"bpp\": %.6f, \"compression_ratio\": ", t.frames_ok, t.bytes,
           t.bits, t.bpppb, t.bpp);
    if (t.ratio > 0)
        printf("%.4f}", t.ratio);
    else
        printf("null}");
    json_key("corrupt_packets", &first);
    printf("%" PRId64, j->corrupt);
    printf("\n}\n");
}

static int cmd_info(int argc, char **argv)
{
    InfoJob j = { .file_size = -1 };
    ArgIter it = { argc, argv, 1, 0, "info" };
    const char *v;
    int id, rc = EXIT_USAGE;

    while ((id = next_option(&it, info_opts, &v)) != OPT_DONE) {
        switch (id) {
        case OPT_ERROR: goto end;
        case OPT_POSITIONAL:
            if (j.input) {
                error("info: more than one input ('%s' and '%s')", j.input, v);
                goto end;
            }
            j.input = v;
            break;
        case I_JSON: j.json = 1; break;
        case I_HELP: usage_info(stdout); rc = EXIT_SUCCESS; goto end;
        }
    }
    if (!j.input) {
        error("info: no input file (usage: tec info IN.tecv [--json])");
        goto end;
    }
    rc = EXIT_FAILURE;
    if (open_reader(&j.r, j.input) < 0)
        goto end;
    j.info = tec_tecv_info(j.r);
    struct stat st;
    if (!is_stdio(j.input) && !stat(j.input, &st) && S_ISREG(st.st_mode))
        j.file_size = st.st_size;
    if (j.info->codec == TEC_CODEC_TEC) {
        if (tec_parse_header(j.info->seq_header, j.info->seq_header_size, &j.si) < 0) {
            error("%s: the sequence header cannot be read", j.input);
            goto end;
        }
        j.have_si = 1;
    }
    const char *bands = tec_tecv_meta(j.info, "bands");
    if (bands) {
        if (tec_list_split(&j.names, bands) < 0) {
            error("out of memory");
            goto end;
        }
        j.names_from_meta = j.names.count == j.info->bands;
        if (!j.names_from_meta)
            tec_list_free(&j.names);
    }
    if (walk_init(&j.walk, j.r) < 0 || info_scan(&j) < 0) {
        if (!j.n_rec && !j.corrupt)
            goto end;
    }
    int64_t frames = j.info->frame_count > j.n_rec ? j.info->frame_count : j.n_rec;
    if (j.json)
        info_json(&j, frames);
    else
        info_text(&j, frames);
    fflush(stdout);

    int64_t missing = 0;
    for (int64_t i = 0; i < frames; i++)
        missing += i >= j.n_rec || j.rec[i].status == REC_NONE;
    if (missing)
        error("%s: %" PRId64 " frame%s without a packet", j.input, missing,
              missing == 1 ? "" : "s");
    if (j.extra)
        error("%s: %" PRId64 " packet%s beyond the frames", j.input, j.extra,
              j.extra == 1 ? "" : "s");
    rc = missing || j.corrupt || j.extra ? EXIT_FAILURE : EXIT_SUCCESS;

end:
    tec_list_free(&j.names);
    walk_free(&j.walk);
    tec_tecv_close_read(&j.r);
    free(j.rec);
    return rc;
}

/* ------------------------------------------------------------------ compare */

/* tools/compare.py beside this program (tools/tec, build-asan/tec), or
 * under the install prefix. */
static int find_compare(char *script, size_t size, char *exe, size_t exe_size)
{
    ssize_t n = readlink("/proc/self/exe", exe, exe_size - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", exe);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    const char *candidates[] = {
        "%s/compare.py", "%s/../tools/compare.py", "%s/../share/tec/tools/compare.py",
    };
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        snprintf(script, size, candidates[i], dir);
        if (!access(script, R_OK))
            return 0;
    }
#ifdef TEC_TOOLS_DIR
    snprintf(script, size, "%s/compare.py", TEC_TOOLS_DIR);
    if (!access(script, R_OK))
        return 0;
#endif
    return -1;
}

static int cmd_compare(int argc, char **argv)
{
    char script[4200], exe[4096];
    if (find_compare(script, sizeof(script), exe, sizeof(exe)) < 0) {
        error("compare: tools/compare.py not found next to this program or under the "
              "install prefix");
        return EXIT_FAILURE;
    }
    const char *python = getenv("TEC_PYTHON");
    if (!python || !*python)
        python = "/usr/bin/python3";
    if (access(python, X_OK)) {
        error("compare: %s not found (set TEC_PYTHON to a Python 3 with numpy)", python);
        return EXIT_FAILURE;
    }
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    if (!args) {
        error("out of memory");
        return EXIT_FAILURE;
    }
    args[0] = (char *)python;
    args[1] = script;
    for (int i = 1; i < argc; i++)
        args[i + 1] = argv[i];
    setenv("TEC", exe, 0);  /* compare.py runs this very tec */
    fflush(NULL);
    execv(python, args);
    error("compare: cannot run %s: %s", python, strerror(errno));
    free(args);
    return EXIT_FAILURE;
}

/* ------------------------------------------------------------------ main */

static void usage_main(FILE *f)
{
    fprintf(f,
"usage: tec COMMAND [options]\n"
"\n"
"TerraCodec: learned compression of multispectral satellite image time series.\n"
"\n"
"commands:\n"
"  encode IN.npy -o OUT.tecv    compress a uint16 (T,)C,H,W cube (Sentinel-2 bands)\n"
"  decode IN.tecv -o OUT.npy    decompress to the cube's shape\n"
"  info IN.tecv [--json]        bands, size, dates, model, bits of each frame\n"
"  compare ...                  rate-distortion comparison (tools/compare.py)\n"
"  help [COMMAND]               this text, or a command's options\n"
"  --version                    versions of tec and libtec\n"
"\n"
"Weights (NAME.tecw) are looked up in --weights-dir, $TEC_WEIGHTS (colon-\n"
"separated), the install prefix and the source tree.  See doc/cli.md.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage_main(stderr);
        error("no command given");
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "encode"))
        return cmd_encode(argc - 1, argv + 1);
    if (!strcmp(cmd, "decode"))
        return cmd_decode(argc - 1, argv + 1);
    if (!strcmp(cmd, "info"))
        return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "compare"))
        return cmd_compare(argc - 1, argv + 1);
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("tec %d.%d.%d (libtec %s)\n", TEC_VERSION_MAJOR, TEC_VERSION_MINOR,
               TEC_VERSION_PATCH, tec_version());
        return EXIT_SUCCESS;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        const char *topic = argc > 2 ? argv[2] : NULL;
        if (!topic)
            usage_main(stdout);
        else if (!strcmp(topic, "encode"))
            usage_encode(stdout);
        else if (!strcmp(topic, "decode"))
            usage_decode(stdout);
        else if (!strcmp(topic, "info"))
            usage_info(stdout);
        else if (!strcmp(topic, "compare"))
            printf("usage: tec compare ARGS...: runs tools/compare.py ARGS (see "
                   "'tec compare --help')\n");
        else {
            error("help: unknown command '%s'", topic);
            return EXIT_USAGE;
        }
        return EXIT_SUCCESS;
    }
    error("unknown command '%s' (see 'tec help')", cmd);
    return EXIT_USAGE;
}
