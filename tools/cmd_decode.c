/* tec decode: a .tecv stream back to a .npy cube of the input's shape, or GeoTIFFs. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "cube_output.h"
#include "progress.h"
#include "tec_cli.h"

/* ------------------------------------------------------------------ decode */

void usage_decode(FILE *f)
{
    fprintf(f,
"usage: tec decode IN.tecv -o OUT.npy|OUT.tif [options]\n"
"\n"
"Writes every band of every frame as uint16, shaped like the encoder's input:\n"
"(T, C, H, W), or (C, H, W) for a single acquisition encoded from (C, H, W).\n"
"OUT.tif: a tiled, compressed GeoTIFF per frame (OUT_000.tif, OUT_001.tif, ...;\n"
"OUT.tif itself for one frame or --frame N) with the stream's CRS, geotransform,\n"
"nodata, band names and dates.\n"
"A damaged frame is reported on stderr with its index and left as zeros; the\n"
"other frames are written, and tec exits with status 1.\n"
"\n"
"  -o, --output FILE        output .npy, or .tif / .tiff (GeoTIFF)\n"
"  -t, --threads N          worker threads, 0 = one per core (default)\n"
"      --weights-dir DIR    look for the stream's weights in DIR first\n"
"                           (then $TEC_WEIGHTS, the install and source trees)\n"
"      --frame N            only frame N (0-based): one multi-band GeoTIFF, or a\n"
"                           (C, H, W) .npy\n"
"      --cog                GeoTIFF output as Cloud-Optimized GeoTIFF (with overviews)\n"
"      --fill-clouds        replace the cloudy pixels of each frame (the cloud mask\n"
"                           of tec encode --cloud-mask) by what the frames before\n"
"                           it predict; a frame with no earlier frame stays as coded\n"
"      --fill-mask MASK.npy with --fill-clouds: fill these pixels instead, uint8\n"
"                           (T, H, W), or (H, W) for one frame (not 0 = fill)\n"
"      --write-mask F.npy   with --fill-clouds: which pixels were filled, uint8\n"
"                           (T, H, W), 1 = filled\n"
"  -v, --verbose            one line per frame on stderr\n"
"      --quiet              no progress bar (it is drawn only on a terminal)\n"
"  -h, --help               this text\n");
}

enum {
    D_OUTPUT = 1, D_THREADS, D_WDIR, D_VERBOSE, D_HELP, D_FRAME, D_COG, D_QUIET, D_FILL,
    D_FILL_MASK, D_WRITE_MASK
};

static const OptDef decode_opts[] = {
    { "output", 'o', 1, D_OUTPUT }, { "threads", 't', 1, D_THREADS },
    { "weights-dir", 0, 1, D_WDIR }, { "verbose", 'v', 0, D_VERBOSE },
    { "help", 'h', 0, D_HELP }, { "frame", 0, 1, D_FRAME }, { "cog", 0, 0, D_COG },
    { "quiet", 0, 0, D_QUIET }, { "fill-clouds", 0, 0, D_FILL },
    { "fill-mask", 0, 1, D_FILL_MASK }, { "write-mask", 0, 1, D_WRITE_MASK },
    { NULL, 0, 0, 0 }
};

enum { FRAME_MISSING, FRAME_DONE, FRAME_BAD };

/* The decoder's row_sink: stripes straight into the .npy or the GeoTIFFs. */
typedef struct RowWriter {
    CubeOutput *out;
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
        ret = cube_output_write_rows(rw->out, rw->map[frame], y0, rows, data, stride,
                                     band_stride, rw->err, sizeof(rw->err));
        rw->written = rw->map[frame];
        progress_update(rw->map[frame], y0 + rows);
    }
    if (ret < 0)
        rw->failed = 1;
    return ret;
}

typedef struct DecodeJob {
    const char *input, *output, *weights_dir;
    int threads, verbose, quiet, cog;
    int64_t only_frame;  /* --frame, -1: every frame */
    /* Cloud filling: the masks given (--fill-mask) and the one written. */
    int fill;
    const char *fill_mask_path, *write_mask_path;
    NpyFile fill_masks, filled;
    int fill_masks_open, filled_open;
    uint8_t *mask_frame;

    TecvReader *r;
    const TecvInfo *info;
    Walk walk;
    TecDecoder *dec;
    CubeOutput out;
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
    cli_error("%s: frame %" PRId64 ": %s", j->input, idx, why);
    j->problems++;
    if (idx < 0 || idx >= j->frames)
        return;
    j->state[idx] = FRAME_BAD;
    if (!j->out_open || j->rw.written != idx)
        return;
    uint16_t *zeros = calloc((size_t)j->info->bands * j->info->width, 2);
    char err[MSG_SIZE];
    for (int y = 0; zeros && y < j->info->height; y++)
        if (cube_output_write_rows(&j->out, idx, y, 1, zeros, j->info->width, j->info->width,
                                   err, sizeof(err)) < 0) {
            cli_error("%s", err);
            break;
        }
    free(zeros);
}

static int decoder_fatal(DecodeJob *j)
{
    if (j->rw.failed)
        cli_error("%s", j->rw.err);
    else
        cli_error("%s: decoding failed: %s", j->input, tec_decoder_error(j->dec));
    return -1;
}

/* What the decoder filled in the frame just received: why it could not,
 * on stderr, and the mask into --write-mask. */
static int report_filled(DecodeJob *j, int64_t idx, int64_t *count)
{
    const uint8_t *mask;
    const char *why;
    *count = tec_decoder_get_filled(j->dec, &mask, &why);
    if (why)
        fprintf(stderr, "tec: %s: frame %" PRId64 ": cloud pixels left as coded: %s\n",
                j->input, idx, why);
    if (!j->filled_open || !mask)
        return 0;
    char err[MSG_SIZE];
    if (npy_write_mask_frame(&j->filled, j->only_frame >= 0 ? 0 : idx, mask, err,
                             sizeof(err)) < 0) {
        cli_error("%s", err);
        return -1;
    }
    return 0;
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
            cli_error("%s: the decoder returned more frames than it was sent", j->input);
            return -1;
        }
        if (pic.bands != info->bands || pic.width != info->width ||
            pic.height != info->height) {
            frame_failed(j, idx, "decoded picture of the wrong size");
            continue;
        }
        if (pic.data) {  /* the decoder kept the frame instead of using the sink */
            char err[MSG_SIZE];
            if (cube_output_write_rows(&j->out, idx, 0, pic.height, pic.data, pic.stride,
                                       pic.band_stride, err, sizeof(err)) < 0) {
                cli_error("%s", err);
                return -1;
            }
        }
        j->state[idx] = FRAME_DONE;
        int64_t filled = 0;
        if (j->fill && report_filled(j, idx, &filled) < 0)
            return -1;
        if (j->verbose && j->fill)
            fprintf(stderr, "tec: frame %" PRId64 " decoded, %" PRId64 " pixels filled\n", idx,
                    filled);
        else if (j->verbose)
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
    cli_swap_to_le16(buf, count);
    progress_update(idx, j->info->height);
    if (cube_output_write_rows(&j->out, idx, 0, j->info->height, buf, j->info->width,
                               (ptrdiff_t)j->info->width * j->info->height, err,
                               sizeof(err)) < 0) {
        cli_error("%s", err);
        return -1;
    }
    j->state[idx] = FRAME_DONE;
    return 0;
}

/* Why a rejected inter packet failed, in the stream's frame numbers, when
 * one of the frames it references (the n_refs frames before it) was lost
 * or lies before the start of the stream; "" otherwise. */
static void missing_reference(const DecodeJob *j, int64_t idx, const uint8_t *data, size_t size,
                              char *why, size_t why_size)
{
    TecPacketInfo pi;
    why[0] = 0;
    if (tec_parse_packet(data, size, &pi) < 0 || pi.intra)
        return;
    if (pi.predicted) {
        if (idx == 0)
            snprintf(why, why_size, "missing reference: a predicted frame first in the stream "
                     "(a cut stream); frames resume at the next keyframe");
        else if (idx - 1 < j->frames && j->state[idx - 1] != FRAME_DONE)
            snprintf(why, why_size, "missing reference: frame %" PRId64 ", which this "
                     "predicted frame is predicted from, was not decoded; frames resume at the "
                     "next keyframe", idx - 1);
        return;
    }
    for (int r = 1; r <= pi.n_refs; r++) {
        if (idx - r < 0) {
            snprintf(why, why_size, "missing reference: the stream starts %d frame%s after the "
                     "keyframe this inter frame refers to (a cut stream); frames resume at the "
                     "next keyframe", pi.gop_index - (int)idx, pi.gop_index - idx > 1 ? "s" : "");
            return;
        }
        if (idx - r < j->frames && j->state[idx - r] != FRAME_DONE) {
            snprintf(why, why_size, "missing reference: frame %" PRId64 " was not decoded; "
                     "frames resume at the next keyframe", idx - r);
            return;
        }
    }
}

static int send_packet(DecodeJob *j, int64_t idx, const uint8_t *data, size_t size,
                       int64_t time_ms, int has_time)
{
    int ret;
    j->map[j->n_sent] = idx;
    if (j->fill_masks_open) {
        char err[MSG_SIZE];
        if (npy_read_mask_frame(&j->fill_masks, idx, j->mask_frame, err, sizeof(err)) < 0) {
            cli_error("%s", err);
            return -1;
        }
        if (tec_decoder_set_fill_mask(j->dec, j->mask_frame, j->info->width) < 0)
            return decoder_fatal(j);
    }
    for (;;) {
        ret = tec_decoder_send_packet(j->dec, data, size, time_ms, has_time);
        if (ret != TEC_EAGAIN)
            break;
        /* Full: take frames out, then send again. */
        int drained = drain_frames(j);
        if (drained < 0)
            return -1;
        if (drained) {
            cli_error("%s: the decoder ended early", j->input);
            return -1;
        }
    }
    j->n_sent++;
    if (ret == TEC_EBITSTREAM && !j->rw.failed) {
        char why[MSG_SIZE];
        missing_reference(j, idx, data, size, why, sizeof(why));
        frame_failed(j, idx, why[0] ? why : tec_decoder_error(j->dec));
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
    /* With --frame N, the frames after N were never wanted. */
    int64_t end = j->only_frame >= 0 ? j->only_frame + 1 : j->frames;
    for (int64_t i = 0; i < end; i++) {
        if (j->state[i] != FRAME_MISSING)
            continue;
        int64_t k = i;
        while (k + 1 < end && j->state[k + 1] == FRAME_MISSING)
            k++;
        if (k == i)
            cli_error("%s: frame %" PRId64 ": no packet (file truncated?)", j->input, i);
        else
            cli_error("%s: frames %" PRId64 "-%" PRId64 ": no packets (file truncated?)",
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
            cli_error("out of memory");
            return -1;
        }
    }
    int ret = 0;
    for (;;) {
        const uint8_t *data;
        size_t size;
        int64_t time_ms, idx;
        int flags;
        ret = cli_walk_next(&j->walk, &data, &size, &time_ms, &flags, &idx);
        if (ret == TEC_EOF) {
            ret = 0;
            break;
        }
        if (ret < 0) {
            cli_error("%s", tec_tecv_reader_error(j->r));
            break;
        }
        if (idx >= j->frames) {
            cli_error("%s: more packets than the %" PRId64 " frames of the header; the rest is "
                  "ignored", j->input, j->frames);
            j->problems++;
            ret = 0;
            break;
        }
        if (j->only_frame >= 0 && idx > j->only_frame)
            break;  /* no later frame is needed for it */
        if (ret == 1) {
            frame_failed(j, idx, tec_tecv_reader_error(j->r));
            continue;
        }
        if (j->state[idx] != FRAME_MISSING) {
            cli_error("%s: frame %" PRId64 ": a second packet, ignored", j->input, idx);
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
    s.weights_dir = cli_weights_dir(j->weights_dir);
    s.threads = j->threads;
    s.row_sink = write_rows;
    s.row_opaque = &j->rw;
    s.fill_clouds = j->fill;
    int ret = tec_decoder_open(&j->dec, &s, info->seq_header, info->seq_header_size);
    if (ret < 0) {
        const char *why = tec_decoder_error(NULL);
        TecStreamInfo si;
        /* Name the model the stream needs, unless the library did. */
        if (ret == TEC_EMODEL && !tec_parse_header(info->seq_header, info->seq_header_size, &si) &&
            !strstr(why, si.model))
            cli_error("%s needs model '%s' (checksum %016" PRIx64 "): %s", j->input, si.model,
                  si.model_checksum, why);
        else
            cli_error("%s: %s", j->input, why);
        return -1;
    }
    const TecStreamInfo *si = tec_decoder_info(j->dec);
    if (si->bands != info->bands || si->width != info->width || si->height != info->height) {
        cli_error("%s: the container header (%d bands, %d x %d) and the sequence header (%d bands, "
              "%d x %d) disagree", j->input, info->bands, info->width, info->height,
              si->bands, si->width, si->height);
        return -1;
    }
    return 0;
}

int cmd_decode(int argc, char **argv)
{
    DecodeJob j = { .out = { .npy = { .fd = -1 } }, .only_frame = -1,
                    .fill_masks = { .fd = -1 }, .filled = { .fd = -1 } };
    ArgIter it = { argc, argv, 1, 0, "decode" };
    const char *v;
    int id, rc = EXIT_USAGE;
    char err[MSG_SIZE];

    while ((id = cli_next_option(&it, decode_opts, &v)) != OPT_DONE) {
        switch (id) {
        case OPT_ERROR: goto end;
        case OPT_POSITIONAL:
            if (j.input) {
                cli_error("decode: more than one input ('%s' and '%s')", j.input, v);
                goto end;
            }
            j.input = v;
            break;
        case D_OUTPUT: j.output = v; break;
        case D_THREADS: if (cli_parse_threads(v, &j.threads) < 0) goto end; break;
        case D_WDIR: j.weights_dir = v; break;
        case D_VERBOSE: j.verbose = 1; break;
        case D_QUIET: j.quiet = 1; break;
        case D_COG: j.cog = 1; break;
        case D_FILL: j.fill = 1; break;
        case D_FILL_MASK: j.fill_mask_path = v; break;
        case D_WRITE_MASK: j.write_mask_path = v; break;
        case D_FRAME: {
            long f;
            if (tec_parse_int(v, 0, LONG_MAX, &f)) {
                cli_error("--frame '%s': need a frame index, 0 or more", v);
                goto end;
            }
            j.only_frame = f;
            break;
        }
        case D_HELP: usage_decode(stdout); rc = EXIT_SUCCESS; goto end;
        }
    }
    if (!j.input) {
        cli_error("decode: no input file (usage: tec decode IN.tecv -o OUT.npy)");
        goto end;
    }
    if (!j.output) {
        cli_error("decode: no output file (-o OUT.npy)");
        goto end;
    }
    if (cli_is_stdio(j.output)) {
        cli_error("decode: the output must be a file (.npy is written in place)");
        goto end;
    }
    if (j.cog && !geotiff_is_path(j.output)) {
        cli_error("decode: --cog needs a GeoTIFF output (-o OUT.tif)");
        goto end;
    }
    if (cli_same_file(j.input, j.output)) {
        cli_error("decode: the output file is the input");
        goto end;
    }
    if ((j.fill_mask_path || j.write_mask_path) && !j.fill) {
        cli_error("decode: --%s needs --fill-clouds",
                  j.fill_mask_path ? "fill-mask" : "write-mask");
        goto end;
    }

    rc = EXIT_FAILURE;
    if (cli_open_reader(&j.r, j.input) < 0)
        goto end;
    j.info = tec_tecv_info(j.r);
    j.frames = j.info->frame_count;
    if (!j.frames) {
        if (cli_is_stdio(j.input)) {
            cli_error("decode: the piped stream does not say how many frames it has; save it to "
                  "a file first");
            goto end;
        }
        if (cli_count_packets(j.input, &j.frames) < 0)
            goto end;
        if (!j.frames) {
            cli_error("%s: the stream has no frames", j.input);
            goto end;
        }
    }
    if (cli_walk_init(&j.walk, j.r) < 0) {
        cli_error("out of memory");
        goto end;
    }
    j.map = calloc((size_t)j.frames, sizeof(*j.map));
    j.accepted = calloc((size_t)j.frames, sizeof(*j.accepted));
    j.state = calloc((size_t)j.frames, 1);
    if (!j.map || !j.accepted || !j.state) {
        cli_error("out of memory for %" PRId64 " frames", j.frames);
        goto end;
    }
    if (j.fill && j.info->codec != TEC_CODEC_TEC) {
        cli_error("%s: --fill-clouds: a raw stream has no prediction to fill from", j.input);
        goto end;
    }
    if (j.fill_mask_path) {
        if (npy_open_read_mask(&j.fill_masks, j.fill_mask_path, err, sizeof(err)) < 0) {
            cli_error("--fill-mask %s", err);
            goto end;
        }
        j.fill_masks_open = 1;
        if (j.fill_masks.frames != j.frames || j.fill_masks.height != j.info->height ||
            j.fill_masks.width != j.info->width) {
            cli_error("--fill-mask %s: %" PRId64 " frame%s of %" PRId64 " x %" PRId64 ", the "
                      "stream has %" PRId64 " of %d x %d (need (T, H, W), or (H, W) for one "
                      "frame)", j.fill_mask_path, j.fill_masks.frames,
                      j.fill_masks.frames == 1 ? "" : "s", j.fill_masks.height,
                      j.fill_masks.width, j.frames, j.info->height, j.info->width);
            goto end;
        }
        if (!(j.mask_frame = malloc((size_t)j.info->width * j.info->height))) {
            cli_error("out of memory for the fill mask");
            goto end;
        }
    }
    /* Weights first: a missing model must not leave an empty output behind. */
    if (j.info->codec == TEC_CODEC_TEC && open_decoder(&j) < 0)
        goto end;
    if (j.write_mask_path) {
        if (cli_same_file(j.write_mask_path, j.input) || cli_same_file(j.write_mask_path, j.output)) {
            cli_error("decode: --write-mask is the input or the output");
            goto end;
        }
        if (npy_create_mask(&j.filled, j.write_mask_path, j.only_frame >= 0 ? 1 : j.frames,
                            j.info->height, j.info->width, err, sizeof(err)) < 0) {
            cli_error("--write-mask %s", err);
            goto end;
        }
        j.filled_open = 1;
    }

    if (j.only_frame >= j.frames) {
        cli_error("--frame %" PRId64 ": %s has frames 0 to %" PRId64, j.only_frame, j.input,
                  j.frames - 1);
        goto end;
    }
    const char *rank = tec_tecv_meta(j.info, KEY_RANK);
    int ndim = rank && !strcmp(rank, "3") && j.frames == 1 ? 3 : 4;
    GeoTiffSpec spec = {
        .bands = j.info->bands, .width = j.info->width, .height = j.info->height,
        .frames = j.frames, .only_frame = j.only_frame, .cog = j.cog, .info = j.info,
        .filled_clouds = j.fill,
    };
    TecList names = { 0 };
    const char *names_key = tec_tecv_meta(j.info, "bands");
    if (names_key && tec_list_split(&names, names_key) == 0 && names.count == j.info->bands) {
        for (int b = 0; b < j.info->bands; b++)
            spec.band_names[b] = names.item[b];
    } else if (j.dec) {
        for (int b = 0; b < j.info->bands; b++)
            spec.band_names[b] = tec_decoder_info(j.dec)->band_names[b];
    }
    int out_ret = cube_output_open(&j.out, j.output, ndim, &spec, err, sizeof(err));
    tec_list_free(&names);  /* the writer copies what it keeps of them */
    if (out_ret < 0) {
        cli_error("%s", err);
        goto end;
    }
    j.out_open = 1;
    j.rw.out = &j.out;
    j.rw.map = j.map;
    j.rw.n_map = &j.n_sent;
    j.rw.size = j.frames;
    j.rw.written = -1;

    /* --frame N decodes the frames up to N. */
    int64_t shown = j.only_frame >= 0 ? j.only_frame + 1 : j.frames;
    progress_start("decode", shown, j.info->height, j.info->width, !j.quiet && !j.verbose);
    int ret = decode_stream(&j);
    progress_end();
    if (ret >= 0)
        report_missing(&j);
    j.out_open = 0;
    if (cube_output_close(&j.out, err, sizeof(err)) < 0 && ret >= 0) {
        cli_error("%s", err);
        ret = -1;
    }
    if (ret < 0)
        goto end;
    if (j.problems) {
        int64_t done = 0;
        for (int64_t i = 0; i < j.frames; i++)
            done += j.state[i] == FRAME_DONE;
        cli_error("%s: %" PRId64 " of %" PRId64 " frames decoded; %s has zeros for the others",
              j.input, done, j.frames, j.output);
        goto end;
    }
    rc = EXIT_SUCCESS;

end:
    tec_decoder_close(&j.dec);
    if (j.out_open)
        cube_output_close(&j.out, err, sizeof(err));
    cli_walk_free(&j.walk);
    tec_tecv_close_read(&j.r);
    free(j.map);
    free(j.accepted);
    free(j.state);
    if (j.fill_masks_open)
        npy_close(&j.fill_masks, err, sizeof(err));
    if (j.filled_open && npy_close(&j.filled, err, sizeof(err)) < 0 && rc == EXIT_SUCCESS) {
        cli_error("%s", err);
        rc = EXIT_FAILURE;
    }
    free(j.mask_frame);
    return rc;
}
