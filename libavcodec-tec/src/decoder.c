/* The decoder: sequence header -> model, packets -> pictures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "bytes.h"
#include "cloud_fill.h"
#include "error_bound.h"
#include "errors.h"
#include "frame_codec.h"
#include "model_image.h"
#include "model_temporal.h"
#include "prediction.h"
#include "interpolation.h"
#include "mask.h"
#include "refs.h"
#include "replication.h"
#include "seqheader.h"
#include "weights.h"

#define ERR_SIZE 512

struct TecDecoder {
    TecSeqHeader hdr;
    TecImageModel *model;
    TecGeometry geom;
    TecFrameNorm norm;         /* standardisation of the current frame */
    TecReplication repl;       /* replicated blocks of the current frame */
    TecInterpolation interp;   /* interpolated bands of the current frame */
    TecMask mask;              /* nodata samples of the current frame */
    TecErrorBound eb;          /* its residual layer, if it has one */
    TecWorkers workers;
    TecRowSink sink;
    void *sink_opaque;

    /* [n_groups]: a window of latent rows, enough for one block row and its
     * halo (doc/design.md, decoder memory); allocated on the first packet. */
    TecLatentGrid *grids;
    int task_row;              /* the block row whose chunks are being decoded */
    float *gain, *igain;
    uint16_t *samples;         /* the whole frame, or one stripe with a sink */

    /* The packet being decoded. */
    const uint8_t **chunk_data;
    size_t *chunk_size;
    int *chunk_status;

    /* Inter frames: the temporal model, the references, the keyframes seen
     * (references are looked up within the group of the last one) and the
     * current packet's inter section. */
    TecTemporalModel *tt;
    int refs_on;
    TecRefStore refs;
    int gop_index;
    TecInterHeader inter;
    int is_inter, position;
    TecTtFactor *factors;
    int32_t tau[TEC_TT_MAX_REFS][TEC_TT_TAU];

    /* Predicted frames (streams whose header allows them): the last frame's
     * samples before the nodata mask and filling, and its packet's CRC.
     * A predicted frame stays outside the temporal model's references. */
    int is_predicted;
    TecPrediction pred;
    uint16_t *prev;
    int has_prev;
    uint32_t prev_crc;

    /* Cloud filling (fill_clouds): the last frame given out, filled, and
     * the current frame's mask. */
    int fill_on;
    TecFill fill;

    TecPicture pic;
    int has_frame, flushed;
    int64_t frame_index;
    char err[ERR_SIZE];
};

static _Thread_local char open_error[ERR_SIZE];

static char *err_buf(TecDecoder *dec)
{
    return dec ? dec->err : open_error;
}

#define fail(dec, code, ...) tec_err(err_buf(dec), ERR_SIZE, code, __VA_ARGS__)

void tec_decoder_default_settings(TecDecoderSettings *s)
{
    memset(s, 0, sizeof(*s));
}

const char *tec_decoder_error(const TecDecoder *dec)
{
    return dec ? dec->err : open_error;
}

const TecStreamInfo *tec_decoder_info(const TecDecoder *dec)
{
    return dec ? &dec->hdr.info : NULL;
}

/* ---- opening ------------------------------------------------------------- */

static int load_model(TecDecoder *dec, const char *weights_dir)
{
    const TecStreamInfo *info = &dec->hdr.info;
    char path[4096], msg[ERR_SIZE];
    int ret = tec_weights_find(info->model, weights_dir, path, sizeof(path), msg, sizeof(msg));
    if (ret < 0)
        return fail(NULL, TEC_EMODEL, "%s", msg);
    TecWeights *w;
    ret = tec_weights_load(path, &w, msg, sizeof(msg));
    if (ret < 0)
        return fail(NULL, ret, "%s", msg);
    if (tec_weights_checksum(w) != info->model_checksum) {
        fail(NULL, TEC_EMODEL, "the stream needs model '%s' with checksum %016llx, but %s has "
             "checksum %016llx", info->model, (unsigned long long)info->model_checksum, path,
             (unsigned long long)tec_weights_checksum(w));
        tec_weights_free(&w);
        return TEC_EMODEL;
    }
    ret = tec_img_load(&dec->model, w, msg, sizeof(msg));
    if (ret >= 0)
        ret = tec_tt_load(&dec->tt, w, dec->model, msg, sizeof(msg));
    tec_weights_free(&w);
    if (ret < 0)
        return fail(NULL, ret, "%s: %s", path, msg);
    return 0;
}

int tec_decoder_open(TecDecoder **out, const TecDecoderSettings *s,
                     const uint8_t *header, size_t header_size)
{
    TecDecoderSettings defaults;
    if (!out)
        return fail(NULL, TEC_EINVAL, "no decoder pointer");
    *out = NULL;
    if (!s) {
        tec_decoder_default_settings(&defaults);
        s = &defaults;
    }
    for (size_t i = 0; i < sizeof(s->reserved) / sizeof(s->reserved[0]); i++)
        if (s->reserved[i])
            return fail(NULL, TEC_EINVAL, "reserved settings field %zu is not zero (settings "
                        "from a newer libtec? start from tec_decoder_default_settings)", i);
    if (s->threads < 0)
        return fail(NULL, TEC_EINVAL, "threads must be >= 0, got %d", s->threads);
    if (s->fill_clouds != 0 && s->fill_clouds != 1)
        return fail(NULL, TEC_EINVAL, "fill_clouds must be 0 or 1, got %d", s->fill_clouds);
    if (s->reserved_i32)
        return fail(NULL, TEC_EINVAL, "reserved settings field is not zero (settings from a "
                    "newer libtec? start from tec_decoder_default_settings)");
    TecDecoder *dec = calloc(1, sizeof(*dec));
    if (!dec)
        return fail(NULL, TEC_ENOMEM, "out of memory");

    int ret = tec_seq_parse(header, header_size, &dec->hdr, open_error, sizeof(open_error));
    if (ret < 0)
        goto fail;
    for (int i = 0; i < dec->hdr.n_groups; i++)
        for (int j = 0; j < dec->hdr.groups[i].count; j++)
            if (dec->hdr.groups[i].slot[j] >= TEC_S2_SLOTS) {
                ret = fail(NULL, TEC_EBITSTREAM, "sequence header: slot %d beyond the model's %d",
                           dec->hdr.groups[i].slot[j], TEC_S2_SLOTS);
                goto fail;
            }
    if ((ret = load_model(dec, s->weights_dir)) < 0)
        goto fail;
    dec->fill_on = s->fill_clouds;

    tec_geometry_init(&dec->geom, dec->hdr.info.width, dec->hdr.info.height,
                      dec->model->downscale);
    tec_norm_from_model(dec->model, &dec->hdr, &dec->norm);
    dec->sink = s->row_sink;
    dec->sink_opaque = s->row_opaque;
    if ((ret = tec_workers_init(&dec->workers, s->threads)) < 0) {
        fail(NULL, ret, "cannot start %d threads", s->threads);
        goto fail;
    }
    dec->gain = malloc((size_t)dec->model->m * sizeof(float));
    dec->igain = malloc((size_t)dec->model->m * sizeof(float));
    if (!dec->gain || !dec->igain) {
        ret = fail(NULL, TEC_ENOMEM, "out of memory");
        goto fail;
    }
    snprintf(dec->err, sizeof(dec->err), "no error");
    *out = dec;
    return 0;
fail:
    tec_decoder_close(&dec);
    return ret;
}

static void free_frame_state(TecDecoder *dec)
{
    for (int i = 0; dec->grids && i < dec->hdr.n_groups; i++)
        free(dec->grids[i].y);
    free(dec->grids);
    free(dec->samples);
    free(dec->prev);
    dec->prev = NULL;
    dec->has_prev = 0;
    free(dec->chunk_data);
    free(dec->chunk_size);
    free(dec->chunk_status);
    tec_repl_free(&dec->repl);
    tec_interp_free(&dec->interp);
    tec_mask_free(&dec->mask);
    tec_eb_free(&dec->eb);
    if (dec->refs_on)
        tec_refs_free(&dec->refs);
    dec->refs_on = 0;
    tec_fill_free(&dec->fill);
    free(dec->factors);
    dec->factors = NULL;
    dec->grids = NULL;
    dec->samples = NULL;
    dec->chunk_data = NULL;
    dec->chunk_size = NULL;
    dec->chunk_status = NULL;
}

void tec_decoder_close(TecDecoder **pdec)
{
    TecDecoder *dec = pdec ? *pdec : NULL;
    if (!dec)
        return;
    free_frame_state(dec);
    free(dec->gain);
    free(dec->igain);
    tec_workers_free(&dec->workers);
    tec_tt_free(&dec->tt);
    tec_img_free(&dec->model);
    free(dec);
    *pdec = NULL;
}

/* The per-frame buffers, allocated once on the first packet so that opening
 * (e.g. to probe a stream) stays cheap. */
static int alloc_frame_state(TecDecoder *dec)
{
    const TecGeometry *g = &dec->geom;
    const int groups = dec->hdr.n_groups;
    const size_t n_chunks = (size_t)groups * g->n_blocks;
    /* Filling needs the whole frame: its line is fitted on every clear pixel. */
    const size_t rows = dec->sink && !dec->fill_on
                            ? (size_t)(g->height < g->stripe_rows ? g->height : g->stripe_rows)
                            : (size_t)g->height;
    if (dec->grids)
        return 0;
    dec->grids = calloc((size_t)groups, sizeof(*dec->grids));
    dec->samples = malloc((size_t)dec->hdr.info.bands * rows * g->width * sizeof(uint16_t));
    dec->chunk_data = calloc(n_chunks, sizeof(*dec->chunk_data));
    dec->chunk_size = calloc(n_chunks, sizeof(*dec->chunk_size));
    dec->chunk_status = calloc(n_chunks, sizeof(*dec->chunk_status));
    if (dec->hdr.predicted_allowed)
        dec->prev = malloc((size_t)dec->hdr.info.bands * g->height * g->width * sizeof(uint16_t));
    int ok = dec->grids && dec->samples && dec->chunk_data && dec->chunk_size && dec->chunk_status;
    ok = ok && (dec->prev || !dec->hdr.predicted_allowed);
    ok = ok && tec_repl_init(&dec->repl, dec->hdr.info.bands, g->width, g->height) == 0;
    ok = ok && tec_interp_init(&dec->interp, dec->hdr.info.bands, g->width, g->height, 0) == 0;
    ok = ok && tec_mask_init(&dec->mask, dec->hdr.info.bands, g->width, g->height) == 0;
    ok = ok && tec_eb_init(&dec->eb, dec->hdr.info.bands, g->width, g->height,
                           g->stripe_rows) == 0;
    /* Synthesising block row r needs latent rows [32 r - halo, 32 r + 32 + halo);
     * the window keeps those and the rest of block row r + 1, decoded ahead. */
    const int window = imin(g->lat_h, 2 * TEC_BLOCK + TEC_SYNTH_HALO);
    if (ok && dec->tt && dec->hdr.inter_allowed) {
        dec->factors = calloc(TEC_TT_MAX_REFS, sizeof(*dec->factors));
        ok = dec->factors && tec_refs_init(&dec->refs, dec->model->m, groups, g->lat_h,
                                           g->lat_w) == 0;
        dec->refs_on = 1;
    }
    ok = ok && (!dec->fill_on || tec_fill_init(&dec->fill, dec->hdr.info.bands, g->width,
                                               g->height) == 0);
    for (int i = 0; ok && i < groups; i++) {
        dec->grids[i].h = window;
        dec->grids[i].w = g->lat_w;
        dec->grids[i].y = malloc((size_t)dec->model->m * window * g->lat_w * sizeof(float));
        ok = dec->grids[i].y != NULL;
    }
    if (!ok) {
        free_frame_state(dec);
        return fail(dec, TEC_ENOMEM, "out of memory for a %dx%dx%d frame", g->width, g->height,
                    dec->hdr.info.bands);
    }
    return 0;
}

/* ---- one packet ---------------------------------------------------------- */

/* Checks the packet header and the chunk table; sets the chunk pointers. */
static int parse_packet(TecDecoder *dec, const uint8_t *data, size_t size, int *position)
{
    const size_t n_chunks = (size_t)dec->hdr.n_groups * dec->geom.n_blocks;
    TecPacketHeader ph;
    if (size < TEC_PACKET_HEADER || tec_packet_header_read(data, size, &ph) < 0)
        return fail(dec, TEC_EBITSTREAM, "packet of %zu bytes is too short", size);
    if (ph.frame_type == TEC_FRAME_INTER) {
        if (!dec->hdr.inter_allowed)
            return fail(dec, TEC_EBITSTREAM, "inter frame in a stream whose header has none");
        if (!dec->tt)
            return fail(dec, TEC_EBITSTREAM, "inter frame, but model '%s' has no temporal model",
                        dec->hdr.info.model);
    } else if (ph.frame_type == TEC_FRAME_PREDICTED) {
        if (!dec->hdr.predicted_allowed)
            return fail(dec, TEC_EBITSTREAM, "predicted frame in a stream whose header has none");
    } else if (ph.frame_type != TEC_FRAME_INTRA) {
        return fail(dec, TEC_EBITSTREAM, "unknown frame type %d", ph.frame_type);
    }
    dec->is_inter = ph.frame_type == TEC_FRAME_INTER;
    dec->is_predicted = ph.frame_type == TEC_FRAME_PREDICTED;
    const int flags = ph.flags;
    if (flags & ~(TEC_PACKET_REPLICATION | TEC_PACKET_INTERPOLATION | TEC_PACKET_MASK |
                  TEC_PACKET_RESIDUAL))
        return fail(dec, TEC_EBITSTREAM, "unknown packet flags 0x%02x", flags);
    *position = ph.position;
    if (*position > (dec->model->qualities - 1) * 256)
        return fail(dec, TEC_EBITSTREAM, "quality position %d beyond the model's %d anchors",
                    *position, dec->model->qualities);
    if (ph.n_chunks != n_chunks)
        return fail(dec, TEC_EBITSTREAM, "packet has %u chunks, the geometry needs %zu",
                    ph.n_chunks, n_chunks);
    size_t head = TEC_PACKET_HEADER;
    if (dec->is_inter) {
        char why[128];
        size_t used;
        if (tec_inter_header_read(data + head, size - head, n_chunks, &dec->inter, &used, why,
                                  sizeof(why)) < 0)
            return fail(dec, TEC_EBITSTREAM, "%s", why);
        head += used;
    }
    tec_mask_clear(&dec->mask);
    TecMask *cloud = dec->fill_on ? &dec->fill.cloud : NULL;
    if (cloud)
        tec_mask_clear(cloud);
    if (flags & TEC_PACKET_MASK) {
        char why[128];
        size_t used;
        int ret = tec_mask_read_section(&dec->mask, cloud, data + head, size - head, &used, why,
                                        sizeof(why));
        if (ret < 0)
            return fail(dec, ret, "%s", why);
        head += used;
    }
    if (dec->is_predicted) {
        char why[128];
        size_t used;
        if (tec_pred_read(&dec->pred, dec->hdr.info.bands, data + head, size - head, &used, why,
                          sizeof(why)) < 0)
            return fail(dec, TEC_EBITSTREAM, "%s", why);
        head += used;
        if (!dec->has_prev || dec->prev_crc != dec->pred.crc)
            return fail(dec, TEC_EBITSTREAM, "predicted frame: the frame before it was not "
                        "decoded, or is not the packet it names (a cut stream, a seek, a lost or "
                        "replaced frame); frames resume at the next keyframe");
    }
    const size_t stats = tec_norm_packet_size(dec->model, &dec->hdr);
    if (size - head < stats)
        return fail(dec, TEC_EBITSTREAM, "packet truncated in the band statistics");
    if (stats && tec_norm_read(&dec->hdr, data + head, &dec->norm) < 0)
        return fail(dec, TEC_EBITSTREAM, "band statistics with a zero spread");
    head += stats;
    tec_repl_clear(&dec->repl);
    if (flags & TEC_PACKET_REPLICATION) {
        char why[128];
        size_t used;
        if (tec_repl_read(&dec->repl, data + head, size - head, &used, why, sizeof(why)) < 0)
            return fail(dec, TEC_EBITSTREAM, "%s", why);
        head += used;
    }
    tec_interp_clear(&dec->interp);
    if (flags & TEC_PACKET_INTERPOLATION) {
        char why[128];
        size_t used;
        if (tec_interp_read(&dec->interp, data + head, size - head, dec->repl.active, &used, why,
                            sizeof(why)) < 0)
            return fail(dec, TEC_EBITSTREAM, "%s", why);
        head += used;
    }
    if ((size - head) / 4 < n_chunks)
        return fail(dec, TEC_EBITSTREAM, "packet truncated in the chunk table");
    const uint8_t *table = data + head, *body = table + 4 * n_chunks;
    size_t left = size - head - 4 * n_chunks;
    for (size_t i = 0; i < n_chunks; i++) {
        size_t chunk = tec_rl32(table + 4 * i);
        if (chunk > left)
            return fail(dec, TEC_EBITSTREAM, "chunk %zu runs past the end of the packet", i);
        dec->chunk_data[i] = body;
        dec->chunk_size[i] = chunk;
        body += chunk;
        left -= chunk;
    }
    tec_eb_clear(&dec->eb);
    if (flags & TEC_PACKET_RESIDUAL) {
        char why[128];
        if (tec_eb_read(&dec->eb, body, left, why, sizeof(why)) < 0)
            return fail(dec, TEC_EBITSTREAM, "%s", why);
    } else if (left) {
        return fail(dec, TEC_EBITSTREAM, "%zu stray bytes after the last chunk", left);
    }
    return 0;
}

/* Chunk index of task t of the block row being decoded: groups, then columns. */
static int row_chunk(const TecDecoder *dec, int t)
{
    const TecGeometry *g = &dec->geom;
    return t / g->block_cols * g->n_blocks + dec->task_row * g->block_cols + t % g->block_cols;
}

static int decode_chunk(TecDecoder *dec, int chunk, int slot, char *err, size_t errlen)
{
    const int group = chunk / dec->geom.n_blocks, block = chunk % dec->geom.n_blocks;
    const TecBlockRect r = tec_geometry_block(&dec->geom, block);
    TecWorkspace *ws = &dec->workers.ws[slot];
    if (!dec->refs_on || dec->is_predicted)
        return tec_fc_decode_chunk(dec->model, dec->chunk_data[chunk], dec->chunk_size[chunk],
                                   &r, dec->igain, NULL, &dec->grids[group], ws, err, errlen);
    /* What the block leaves for later frames, and (inter chunks) the
     * references around it, as the encoder built them. */
    const TecImageModel *m = dec->model;
    const int inter = dec->is_inter && tec_inter_chunk(&dec->inter, (size_t)chunk);
    const int n_refs = inter ? dec->inter.n_refs : 0;
    const size_t n = (size_t)r.h * r.w;
    uint8_t *buf = tec_ws_get(ws, TEC_WS_TEMPORAL, m->m * n * sizeof(int16_t) +
                              tec_refs_gather_size(&dec->refs, n_refs, r.h, r.w));
    if (!buf)
        return TEC_ENOMEM;
    int16_t *left = (int16_t *)buf;
    TecTtBlock tb;
    if (n_refs)
        tec_refs_gather(&dec->refs, group, r.y0, r.x0, r.h, r.w, n_refs, dec->factors,
                        (const int32_t (*)[TEC_TT_TAU])dec->tau, left + (size_t)m->m * n, &tb);
    const TecFcInter how = { .tt = inter ? dec->tt : NULL, .refs = inter ? &tb : NULL,
                             .refs_out = left,
                             .lean_table = inter && (dec->inter.flags & TEC_INTER_LEANS) };
    int ret = tec_fc_decode_chunk(m, dec->chunk_data[chunk], dec->chunk_size[chunk], &r,
                                  dec->igain, &how, &dec->grids[group], ws, err, errlen);
    if (ret < 0)
        return ret;
    tec_refs_stage(&dec->refs, group, r.x0, r.h, r.w, left);
    return 0;
}

static int chunk_task(void *ctx, int task, int slot)
{
    TecDecoder *dec = ctx;
    /* Every chunk runs and keeps its status, so the error reported is the
     * first one in stream order, whatever the threads did. */
    const int chunk = row_chunk(dec, task);
    dec->chunk_status[chunk] = decode_chunk(dec, chunk, slot, NULL, 0);
    return 0;
}

/* Decodes block row `row` of every group into the window. */
static int decode_block_row(TecDecoder *dec, int row)
{
    const int tasks = dec->hdr.n_groups * dec->geom.block_cols;
    dec->task_row = row;
    int ret;
    if (dec->refs_on && dec->is_inter && (ret = tec_refs_load_rows(&dec->refs, row)) < 0)
        return fail(dec, ret, "reference frames unreadable at block row %d", row);
    ret = tec_workers_run(&dec->workers, dec->workers.count, tasks, chunk_task, dec);
    if (ret < 0)
        return fail(dec, ret, "chunk decoding failed (%s)", tec_strerror(ret));
    for (int t = 0; t < tasks; t++) {
        const int i = row_chunk(dec, t);
        if (dec->chunk_status[i] == TEC_ENOMEM)
            return fail(dec, TEC_ENOMEM, "out of memory decoding chunk %d", i);
        if (dec->chunk_status[i] < 0) {
            char why[128] = "";
            decode_chunk(dec, i, 0, why, sizeof(why));  /* again, for the message */
            return fail(dec, TEC_EBITSTREAM, "chunk %d (group %d, block %d): %s", i,
                        i / dec->geom.n_blocks, i % dec->geom.n_blocks, why);
        }
    }
    if (dec->refs_on && !dec->is_predicted && (ret = tec_refs_store_row(&dec->refs, row)) < 0)
        return fail(dec, ret, "out of memory for the reference frames");
    return 0;
}

/* Finds the frames an inter packet references in the group of the last
 * keyframe; a frame lost or cut away since then stops here, with the
 * frame named, until the next keyframe. */
static int select_references(TecDecoder *dec)
{
    int slots[TEC_TT_MAX_REFS];
    TecRefStore *rs = &dec->refs;
    if (!dec->is_inter) {
        tec_refs_reset(rs);
        dec->gop_index = 0;
        return tec_refs_begin(rs, 0, 0, dec->position, TEC_REF_NO_DAY, NULL, 0);
    }
    const TecInterHeader *ih = &dec->inter;
    for (int j = 0; j < ih->n_refs; j++) {
        const int want = ih->gop_index - 1 - j;
        slots[j] = tec_refs_find_crc(rs, want, ih->crc[j]);
        if (slots[j] < 0)
            return fail(dec, TEC_EBITSTREAM, "inter frame %d after its keyframe: the frame %d "
                        "after the keyframe it refers to was not decoded, or is not the packet it "
                        "names (a cut stream, a seek, a lost or replaced frame); frames resume at "
                        "the next keyframe", ih->gop_index, want);
    }
    dec->gop_index = ih->gop_index;
    for (int j = 0; j < ih->n_refs; j++) {
        const int ref_pos = rs->frame[slots[j]].position;
        tec_tt_factors(dec->tt, dec->position, ref_pos, &dec->factors[j]);
        tec_tt_time_features(ih->gap[j], ih->doy, dec->position, ref_pos, j, dec->tau[j]);
    }
    int ret = tec_refs_begin(rs, 0, ih->gop_index, dec->position, TEC_REF_NO_DAY, slots,
                             ih->n_refs);
    return ret < 0 ? fail(dec, ret, "out of memory for the reference frames") : 0;
}

/* Moves every group's window to start at latent row row0, keeping the rows
 * below `filled` (decoded so far) that it already holds. */
static void slide_window(TecDecoder *dec, int row0, int filled)
{
    for (int i = 0; i < dec->hdr.n_groups; i++) {
        TecLatentGrid *grid = &dec->grids[i];
        const int shift = row0 - grid->row0, keep = filled - row0;
        if (shift <= 0)
            continue;
        for (int c = 0; keep > 0 && c < dec->model->m; c++)
            memmove(grid->y + (size_t)c * grid->h * grid->w,
                    grid->y + ((size_t)c * grid->h + shift) * grid->w,
                    (size_t)keep * grid->w * sizeof(float));
        grid->row0 = row0;
    }
}

/* Where the samples of block row `row` go: the whole frame, or with a sink
 * (and no filling) the one stripe. */
static TecSampleTarget stripe_target(const TecDecoder *dec, int row)
{
    const TecGeometry *g = &dec->geom;
    const int stripe = g->stripe_rows;
    TecSampleTarget t = { dec->samples, g->width, (ptrdiff_t)g->width * g->height, 0 };
    if (dec->sink && !dec->fill_on) {
        t.band_stride = (ptrdiff_t)g->width * (g->height < stripe ? g->height : stripe);
        t.y0 = row * stripe;
    }
    return t;
}

/* Synthesis of block row `row` and the layers on top of it, but the nodata
 * mask. */
static int produce_stripe(TecDecoder *dec, int row)
{
    const TecGeometry *g = &dec->geom;
    const int stripe = g->stripe_rows;
    const int y0 = row * stripe;
    const int rows = g->height - y0 < stripe ? g->height - y0 : stripe;
    const TecSampleTarget t = stripe_target(dec, row);
    int ret = tec_fc_synthesize_stripe(dec->model, &dec->workers, g, &dec->hdr, dec->grids,
                                       &dec->norm, row, &t);
    if (ret < 0)
        return fail(dec, ret, "synthesis failed (%s)", tec_strerror(ret));
    for (int b = 0; b < dec->hdr.info.bands; b++) {
        uint16_t *band = t.data + b * t.band_stride + (ptrdiff_t)(y0 - t.y0) * t.stride;
        tec_repl_apply(&dec->repl, b, band, t.stride, y0, rows);
        tec_interp_apply(&dec->interp, b, band, t.stride, y0, rows);
    }
    ret = tec_eb_apply_stripe(&dec->eb, &dec->repl, row, t.data + (ptrdiff_t)(y0 - t.y0) * t.stride,
                              t.stride, t.band_stride);
    if (ret < 0)
        return fail(dec, ret, ret == TEC_ENOMEM ? "out of memory for the residual layer"
                                                : "residual layer damaged in rows %d..%d",
                    y0, y0 + rows - 1);
    /* Pointwise, so this stripe of the last frame is read before being
     * replaced by this frame's. */
    const ptrdiff_t frame_band = (ptrdiff_t)g->width * g->height;
    for (int b = 0; dec->prev && b < dec->hdr.info.bands; b++) {
        uint16_t *band = t.data + b * t.band_stride + (ptrdiff_t)(y0 - t.y0) * t.stride;
        uint16_t *last = dec->prev + b * frame_band + (ptrdiff_t)y0 * g->width;
        if (dec->is_predicted)
            tec_pred_add(&dec->pred, b, g->width, rows, band, t.stride, last, g->width);
        for (int y = 0; y < rows; y++)
            memcpy(last + (ptrdiff_t)y * g->width, band + y * t.stride,
                   (size_t)g->width * sizeof(uint16_t));
    }
    return 0;
}

/* The nodata mask on block row `row`, then the sink. */
static int deliver_stripe(TecDecoder *dec, int row)
{
    const TecGeometry *g = &dec->geom;
    const int stripe = g->stripe_rows;
    const int y0 = row * stripe;
    const int rows = g->height - y0 < stripe ? g->height - y0 : stripe;
    const TecSampleTarget t = stripe_target(dec, row);
    uint16_t *data = t.data + (ptrdiff_t)(y0 - t.y0) * t.stride;
    /* Last, so that nothing after it moves a sample onto or off nodata. */
    tec_mask_apply(&dec->mask, data, t.stride, t.band_stride, y0, rows);
    if (dec->sink) {
        int ret = dec->sink(dec->sink_opaque, dec->frame_index, y0, rows, data, t.stride,
                            t.band_stride);
        if (ret < 0)
            return fail(dec, ret < TEC_EUNSUPPORTED ? TEC_EIO : ret,
                        "row sink failed on rows %d..%d (%d)", y0, y0 + rows - 1, ret);
    }
    return 0;
}

static int decode_packet(TecDecoder *dec, const uint8_t *data, size_t size)
{
    int position = 0, ret;
    if ((ret = alloc_frame_state(dec)) < 0 || (ret = parse_packet(dec, data, size, &position)) < 0)
        return ret;
    tec_img_gains(dec->model, position, dec->gain, dec->igain);
    dec->position = position;
    if (dec->refs_on && !dec->is_predicted && (ret = select_references(dec)) < 0)
        return ret;
    if (dec->fill_on)
        tec_fill_begin(&dec->fill);

    /* Block rows are entropy-decoded one ahead of the synthesis, so only a
     * window of latents is ever held.  A corrupt chunk stops the frame at its
     * block row; with a row sink, the rows above it have been delivered. */
    const TecGeometry *g = &dec->geom;
    for (int i = 0; i < dec->hdr.n_groups; i++)
        dec->grids[i].row0 = 0;
    int decoded = 0;
    for (int row = 0; row < g->block_rows; row++) {
        slide_window(dec, imax(0, row * TEC_BLOCK - TEC_SYNTH_HALO),
                     imin(g->lat_h, decoded * TEC_BLOCK));
        for (; decoded < imin(g->block_rows, row + 2); decoded++)
            if ((ret = decode_block_row(dec, decoded)) < 0)
                return ret;
        if ((ret = produce_stripe(dec, row)) < 0 ||
            (!dec->fill_on && (ret = deliver_stripe(dec, row)) < 0))
            return ret;
    }
    if (!dec->fill_on)
        return 0;
    tec_fill_finish(&dec->fill, dec->samples);
    for (int row = 0; row < g->block_rows; row++)
        if ((ret = deliver_stripe(dec, row)) < 0)
            return ret;
    return 0;
}

int tec_decoder_send_packet(TecDecoder *dec, const uint8_t *data, size_t size,
                            int64_t time_ms, int has_time)
{
    const TecPacket pkt = { .data = data, .size = size, .time_ms = time_ms, .has_time = has_time };
    return tec_decoder_send(dec, data ? &pkt : NULL);
}

int tec_decoder_send(TecDecoder *dec, const TecPacket *pkt)
{
    if (!dec)
        return TEC_EINVAL;
    if (!pkt || !pkt->data) {
        dec->flushed = 1;
        return 0;
    }
    if (dec->flushed)
        return fail(dec, TEC_EINVAL, "packet sent after the flush");
    if (dec->has_frame)
        return fail(dec, TEC_EAGAIN, "receive the pending frame first");

    /* A corrupt packet still takes its place in the stream.  It leaves no
     * reference, so the inter frames after it fail until the next keyframe. */
    dec->is_predicted = 0;
    int ret = decode_packet(dec, pkt->data, pkt->size);
    dec->frame_index++;
    /* The packet's CRC names it for the frames after it (references and
     * predicted frames); a stream with neither never needs it. */
    const int named = dec->refs_on || dec->prev;
    const uint32_t crc = ret >= 0 && named ? tec_crc32(0, pkt->data, pkt->size) : 0;
    /* A lost predicted frame costs the predicted frames after it; the
     * temporal model's references do not hold it. */
    if (dec->refs_on && !dec->is_predicted) {
        tec_refs_end(&dec->refs, ret >= 0, crc);
        if (ret < 0)
            tec_refs_reset(&dec->refs);
    }
    dec->has_prev = dec->prev && ret >= 0;
    dec->prev_crc = crc;
    if (dec->fill_on && dec->grids && ret < 0)
        tec_fill_reset(&dec->fill);
    if (ret < 0)
        return ret;
    const TecGeometry *g = &dec->geom;
    dec->pic.data = dec->sink ? NULL : dec->samples;
    dec->pic.stride = g->width;
    dec->pic.band_stride = (ptrdiff_t)g->width * g->height;
    dec->pic.bands = dec->hdr.info.bands;
    dec->pic.width = g->width;
    dec->pic.height = g->height;
    dec->pic.time_ms = pkt->time_ms;
    dec->pic.has_time = pkt->has_time;
    dec->pic.user_data = pkt->user_data;
    dec->has_frame = 1;
    return 0;
}

void tec_decoder_flush(TecDecoder *dec)
{
    if (!dec)
        return;
    dec->has_frame = 0;
    dec->flushed = 0;
    dec->has_prev = 0;
    if (dec->refs_on)
        tec_refs_reset(&dec->refs);
    if (dec->fill_on && dec->grids)
        tec_fill_reset(&dec->fill);
}

int tec_decoder_receive_frame(TecDecoder *dec, TecPicture *pic)
{
    if (!dec || !pic)
        return TEC_EINVAL;
    if (!dec->has_frame)
        return dec->flushed ? TEC_EOF : TEC_EAGAIN;
    *pic = dec->pic;
    dec->has_frame = 0;
    return 0;
}

/* ---- cloud filling ---------------------------------------------------------- */

int tec_decoder_set_fill_mask(TecDecoder *dec, const uint8_t *mask, ptrdiff_t stride)
{
    if (!dec)
        return TEC_EINVAL;
    if (!dec->fill_on)
        return fail(dec, TEC_EINVAL, "a fill mask needs fill_clouds");
    int ret = alloc_frame_state(dec);
    if (ret < 0)
        return ret;
    if (tec_fill_set_mask(&dec->fill, mask, stride) < 0)
        return fail(dec, TEC_EINVAL, "fill mask stride %td is below the width %d", stride,
                    dec->geom.width);
    return 0;
}

int64_t tec_decoder_get_filled(TecDecoder *dec, const uint8_t **mask, const char **why)
{
    const int on = dec && dec->fill_on && dec->grids;
    if (mask)
        *mask = on && dec->fill.filled_count ? dec->fill.filled : NULL;
    if (why)
        *why = on ? dec->fill.why : NULL;
    return on ? dec->fill.filled_count : 0;
}
