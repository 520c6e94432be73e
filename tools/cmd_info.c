/* tec info: a stream's description and the bits of every frame. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tec/tec.h"
#include "tec_cli.h"

/* ------------------------------------------------------------------ info */

void usage_info(FILE *f)
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
    int inter;     /* 1: coded with the temporal model */
    int predicted; /* 1: coded as its difference from a prediction of the frame before */
    int gop_index, n_refs, inter_chunks, n_chunks;
    int nodata, mask_bytes;  /* the packet's nodata mask: value (-1: none), bytes */
    int64_t masked;          /* samples it covers; -1: unreadable */
    int max_error;           /* its residual layer's bound; -1: none */
    int clouds;              /* 1: it carries a cloud mask */
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
        int ret = cli_walk_next(&j->walk, &data, &size, &fr.time_ms, &fr.flags, &idx);
        if (ret == TEC_EOF)
            return 0;
        if (ret < 0) {
            cli_error("%s", tec_tecv_reader_error(j->r));
            return -1;
        }
        if (ret == 1) {
            cli_error("%s: frame %" PRId64 ": %s", j->input, idx, tec_tecv_reader_error(j->r));
            j->corrupt++;
            fr.status = REC_CORRUPT;
        } else {
            fr.status = REC_OK;
            fr.bytes = size;
            TecPacketInfo pi;
            const int parsed = j->info->codec == TEC_CODEC_TEC && !tec_parse_packet(data, size, &pi);
            fr.position = parsed ? pi.position : -1;
            fr.inter = parsed && !pi.intra && !pi.predicted;
            fr.predicted = parsed && pi.predicted;
            fr.nodata = parsed ? pi.nodata : -1;
            fr.max_error = parsed ? pi.max_error : -1;
            fr.clouds = parsed && pi.clouds;
            if (fr.nodata >= 0) {
                uint64_t masked;
                fr.mask_bytes = pi.mask_bytes;
                fr.masked = tec_packet_masked_samples(j->info->seq_header,
                                                      j->info->seq_header_size, data, size,
                                                      &masked) < 0 ? -1 : (int64_t)masked;
            }
            if (fr.inter) {
                fr.gop_index = pi.gop_index;
                fr.n_refs = pi.n_refs;
                fr.inter_chunks = pi.inter_chunks;
                fr.n_chunks = pi.n_chunks;
            }
        }
        if (info_record(j, idx, &fr) < 0) {
            cli_error("out of memory");
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

/* The frames inter frame i references, latest last: the n_refs frames
 * before it that are not predicted frames (those stay outside the temporal
 * model's references).  Fewer when the file starts after some of them. */
static int inter_references(const InfoJob *j, int64_t i, const FrameRec *fr,
                            int64_t refs[TEC_MAX_CONTEXT])
{
    int64_t found[TEC_MAX_CONTEXT];
    int n = 0;
    for (int64_t k = i - 1; k >= 0 && n < fr->n_refs && n < TEC_MAX_CONTEXT; k--)
        if (!(k < j->n_rec && j->rec[k].predicted))
            found[n++] = k;
    for (int r = 0; r < n; r++)
        refs[r] = found[n - 1 - r];
    return n;
}

static void print_frame_list(const int64_t *refs, int n)
{
    for (int r = 0; r < n; r++)
        printf("%" PRId64 "%s", refs[r], r + 1 < n ? ", " : "");
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
    printf("\n%6s  %-24s %-4s %12s %14s %9s %9s %7s  %s\n", "frame", "date", "key", "bytes", "bits",
           "bpppb", "bpp", "anchor", "type");
    double split_bits[3] = { 0, 0, 0 };        /* intra, inter, predicted */
    int64_t split_frames[3] = { 0, 0, 0 };
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
        int64_t refs[TEC_MAX_CONTEXT];
        const int n = fr->inter ? inter_references(j, i, fr, refs) : 0;
        if (fr->predicted && i == 0) {
            printf("  predicted: from the frame before the file's first (a cut stream)");
        } else if (fr->predicted) {
            printf("  predicted: from frame %" PRId64, i - 1);
        } else if (fr->inter && n < fr->n_refs) {
            printf("  inter: references %d frame%s before the file's first (a cut stream)",
                   fr->n_refs - n, fr->n_refs - n > 1 ? "s" : "");
        } else if (fr->inter) {
            printf("  inter: frame%s ", n > 1 ? "s" : "");
            print_frame_list(refs, n);
            printf("; %d of %d blocks inter", fr->inter_chunks, fr->n_chunks);
        }
        else if (fr->position >= 0)
            printf("  intra");
        if (fr->nodata >= 0 && fr->masked >= 0)
            printf(", nodata %d: %.2f%% of samples (mask %d bytes)", fr->nodata,
                   100.0 * (double)fr->masked / (t.px * info->bands), fr->mask_bytes);
        else if (fr->nodata >= 0)
            printf(", nodata %d: unreadable mask", fr->nodata);
        if (fr->clouds)
            printf(", clouds masked");
        if (fr->max_error == 0)
            printf(", lossless");
        else if (fr->max_error > 0)
            printf(", max error %d", fr->max_error);
        putchar('\n');
        split_bits[fr->inter + 2 * fr->predicted] += bits;
        split_frames[fr->inter + 2 * fr->predicted]++;
    }
    printf("%6s  %-24s %-4s %12" PRIu64 " %14.0f %9.5f %9.4f\n", "total", "", "", t.bytes,
           t.bits, t.bpppb, t.bpp);
    static const char *const kinds[3] = { "intra", "inter", "predicted" };
    for (int k = 0; split_frames[1] + split_frames[2] && k < 3; k++)
        if (split_frames[k])
            printf("%s%-13s %" PRId64 " frames, %.0f bits (%.5f bpppb a frame)\n",
                   k ? "" : "\n", kinds[k], split_frames[k], split_bits[k],
                   split_bits[k] / (t.px * info->bands) / split_frames[k]);
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
                printf(", \"anchor\": %.4f", fr->position / 256.0);
            else
                printf(", \"anchor\": null");
            if (fr->max_error >= 0)
                printf(", \"max_error\": %d", fr->max_error);
            printf(", \"clouds\": %s", fr->clouds ? "true" : "false");
            if (fr->nodata >= 0) {
                printf(", \"nodata_mask\": {\"value\": %d, \"bytes\": %d, ", fr->nodata,
                       fr->mask_bytes);
                if (fr->masked >= 0)
                    printf("\"samples\": %" PRId64 ", \"fraction\": %.6f}", fr->masked,
                           (double)fr->masked / (t.px * info->bands));
                else
                    printf("\"samples\": null, \"fraction\": null}");
            }
            if (fr->inter) {
                printf(", \"type\": \"inter\", \"keyframe_distance\": %d, \"references\": [",
                       fr->gop_index);
                int64_t refs[TEC_MAX_CONTEXT];
                print_frame_list(refs, inter_references(j, i, fr, refs));
                printf("], \"inter_blocks\": %d, \"blocks\": %d}", fr->inter_chunks, fr->n_chunks);
            } else if (fr->predicted) {
                printf(", \"type\": \"predicted\", \"references\": [");
                if (i > 0)
                    printf("%" PRId64, i - 1);
                printf("]}");
            } else
                printf(", \"type\": \"%s\"}", fr->position >= 0 ? "intra" : "raw");
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

int cmd_info(int argc, char **argv)
{
    InfoJob j = { .file_size = -1 };
    ArgIter it = { argc, argv, 1, 0, "info" };
    const char *v;
    int id, rc = EXIT_USAGE;

    while ((id = cli_next_option(&it, info_opts, &v)) != OPT_DONE) {
        switch (id) {
        case OPT_ERROR: goto end;
        case OPT_POSITIONAL:
            if (j.input) {
                cli_error("info: more than one input ('%s' and '%s')", j.input, v);
                goto end;
            }
            j.input = v;
            break;
        case I_JSON: j.json = 1; break;
        case I_HELP: usage_info(stdout); rc = EXIT_SUCCESS; goto end;
        }
    }
    if (!j.input) {
        cli_error("info: no input file (usage: tec info IN.tecv [--json])");
        goto end;
    }
    rc = EXIT_FAILURE;
    if (cli_open_reader(&j.r, j.input) < 0)
        goto end;
    j.info = tec_tecv_info(j.r);
    struct stat st;
    if (!cli_is_stdio(j.input) && !stat(j.input, &st) && S_ISREG(st.st_mode))
        j.file_size = st.st_size;
    if (j.info->codec == TEC_CODEC_TEC) {
        if (tec_parse_header(j.info->seq_header, j.info->seq_header_size, &j.si) < 0) {
            cli_error("%s: the sequence header cannot be read", j.input);
            goto end;
        }
        j.have_si = 1;
    }
    const char *bands = tec_tecv_meta(j.info, "bands");
    if (bands) {
        if (tec_list_split(&j.names, bands) < 0) {
            cli_error("out of memory");
            goto end;
        }
        j.names_from_meta = j.names.count == j.info->bands;
        if (!j.names_from_meta)
            tec_list_free(&j.names);
    }
    if (cli_walk_init(&j.walk, j.r) < 0 || info_scan(&j) < 0) {
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
        cli_error("%s: %" PRId64 " frame%s without a packet", j.input, missing,
              missing == 1 ? "" : "s");
    if (j.extra)
        cli_error("%s: %" PRId64 " packet%s beyond the frames", j.input, j.extra,
              j.extra == 1 ? "" : "s");
    rc = missing || j.corrupt || j.extra ? EXIT_FAILURE : EXIT_SUCCESS;

end:
    tec_list_free(&j.names);
    cli_walk_free(&j.walk);
    tec_tecv_close_read(&j.r);
    free(j.rec);
    return rc;
}
