/* The encoder: settings -> sequence header, frames -> packets. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "band_weights.h"
#include "bytes.h"
#include "errors.h"
#include "error_bound.h"
#include "frame_codec.h"
#include "inpaint.h"
#include "model_image.h"
#include "model_temporal.h"
#include "interpolation.h"
#include "mask.h"
#include "prediction.h"
#include "refine.h"
#include "refs.h"
#include "repro_math.h"
#include "replication.h"
#include "seqheader.h"
#include "synthesis_grad.h"
#include "weights.h"

#define DEFAULT_MODEL "tec-s2-tt"
/* Latents of context around a block for the analysis: covers the
 * receptive field of every supported depth. */
#define ANALYSIS_HALO_LATENTS 2
#define ERR_SIZE 512

typedef struct Chunk {
    uint8_t *data;
    size_t size, capacity;
} Chunk;

/* Rows [y0, y1) of all bands: row y of band b at data[b*band_stride + (y-y0)*stride]. */
typedef struct PixelView {
    const uint16_t *data;
    ptrdiff_t stride, band_stride;
    int y0;
} PixelView;

struct TecEncoder {
    TecSeqHeader hdr;
    uint8_t header[TEC_SEQ_MAX_SIZE];
    size_t header_size;
    TecImageModel *model;
    TecGeometry geom;
    TecWorkers workers;

    int base_position;         /* the position --quality names */
    int adapt;                 /* move it per frame by the frame's spreads */
    /* Band weighting (band_weights.h): the spreads are written narrowed by
     * alpha_milli, chosen at each keyframe and kept by its inter frames;
     * plain_spread holds the frame's own. */
    int weigh_bands, alpha_milli;
    uint16_t plain_spread[TEC_MAX_BANDS];
    int position;              /* quality position of the current packet */
    float *gain, *igain;       /* [m] */
    float *input_bias;         /* [n_groups][n] */
    int halo;                  /* analysis context in pixels */
    TecFrameNorm norm;         /* standardisation of the current frame */
    uint16_t stat_mean[TEC_MAX_BANDS], stat_spread[TEC_MAX_BANDS];
    TecReplication repl;       /* replicated blocks of the current frame */
    TecInterpolation interp;   /* interpolated bands of the current frame */
    int has_nodata;            /* code a nodata mask in every packet */
    uint16_t nodata;
    TecMask mask;              /* nodata samples of the current frame */
    /* Clouds: the mask given for the next frame (cloud_set), coded in its
     * packet; with skip_clouds its pixels count as missing, and the latents
     * wholly under it (skip[lat_h][lat_w]) code as their prediction. */
    TecMask cloud;
    uint8_t *cloud_px;         /* [H][W] 0/1 */
    int cloud_set, skip_clouds, skipping;
    int clouded;               /* skipping clouds that cover a pixel: statistics of the rest */
    uint8_t *skip;

    TecRowSource source;
    void *source_opaque;
    uint16_t *window;          /* rows read from the source */
    int window_cap, window_y0, window_y1;

    Chunk *chunks;             /* [n_groups][n_blocks] */
    uint8_t *packet_buf[2];    /* alternate, so a packet outlives the next send */
    size_t packet_cap[2];
    int packet_cur;
    TecPacket pending;
    int has_pending, flushed;
    int64_t frame_index;

    /* Inter coding (doc/model.md, TEC-TT): on when the model has a temporal
     * model and keyframes are more than one frame apart. */
    TecTemporalModel *tt;
    int inter_on, keyframe_interval, context;
    TecRefStore refs;
    uint64_t gop;              /* keyframes so far */
    int gop_index;             /* of the frame being coded: 0 = keyframe */
    int n_refs;                /* of the frame being coded */
    int ref_slot;              /* where it is stored */
    TecInterHeader inter;      /* its inter section */
    TecTtFactor *factors;      /* [TEC_TT_MAX_REFS] */
    int32_t tau[TEC_TT_MAX_REFS][TEC_TT_TAU];
    uint8_t *chunk_inter;      /* [n_chunks]: 1 = coded with the temporal model */
    TecRansEncoder *rans_inter; /* one per worker */

    int want_recon;            /* a reconstruction of each frame is made */
    int recon_asked;           /* the caller asked for it (want_reconstruction) */
    int keep_latents;          /* this frame's: for the reconstruction or the residual layer */
    TecLatentGrid *grids;      /* decoder-side latents of the pending frame */
    uint16_t *recon;
    TecPicture recon_pic;
    int has_recon;

    /* The residual layer (error_bound = max error + 1, 0 = none; without
     * one, frames past the top anchor get their own, frame_bound): the
     * reconstruction of one stripe and, for a row source, its source rows. */
    int error_bound, frame_bound;
    TecErrorBound eb;
    uint16_t *eb_recon, *eb_src;
    int residual_ready;        /* eb, eb_recon and eb_src allocated */

    /* Latent refinement (refine.h): steps per block, 0 = off, and the
     * synthesis' backward weights. */
    int refine_steps;
    TecSynthGrad sgrad;
    double lambda;             /* the current frame's trade-off */

    /* Predicted frames (prediction.h): each inter frame is coded both with
     * the temporal model and as the residual of a prediction from the last
     * frame's reconstruction (prev), and the cheaper kept.  A predicted
     * frame takes no place among the temporal model's references. */
    int predict_on;
    int predicting;            /* the frame being coded is such a residual */
    int predicted;             /* the pending packet is a predicted frame */
    TecPrediction pred;
    uint16_t *prev, *residual_pic, *other_recon;
    uint16_t *whole;           /* a row source's frame, read whole */
    int has_prev;
    uint32_t prev_crc;
    uint8_t *other_packet;     /* the temporal model's packet while the other is tried */
    size_t other_cap;
    int since_key;             /* frames since the last keyframe */

    char err[ERR_SIZE];
};

static _Thread_local char open_error[ERR_SIZE];

static char *err_buf(TecEncoder *enc)
{
    return enc ? enc->err : open_error;
}

#define fail(enc, code, ...) tec_err(err_buf(enc), ERR_SIZE, code, __VA_ARGS__)

void tec_encoder_default_settings(TecEncoderSettings *s)
{
    memset(s, 0, sizeof(*s));
}

const char *tec_encoder_error(const TecEncoder *enc)
{
    return enc ? enc->err : open_error;
}

const TecStreamInfo *tec_encoder_info(const TecEncoder *enc)
{
    return enc ? &enc->hdr.info : NULL;
}

int tec_encoder_get_header(TecEncoder *enc, const uint8_t **data, size_t *size)
{
    if (!enc || !data || !size)
        return TEC_EINVAL;
    *data = enc->header;
    *size = enc->header_size;
    return 0;
}

/* ---- opening ------------------------------------------------------------- */

static int check_settings(const TecEncoderSettings *s)
{
    for (size_t i = 0; i < sizeof(s->reserved) / sizeof(s->reserved[0]); i++)
        if (s->reserved[i])
            return fail(NULL, TEC_EINVAL, "reserved settings field %zu is not zero (settings "
                        "from a newer libtec? start from tec_encoder_default_settings)", i);
    if (s->bands < 1 || s->bands > TEC_MAX_BANDS)
        return fail(NULL, TEC_EINVAL, "bands must be 1..%d, got %d", TEC_MAX_BANDS, s->bands);
    if (s->width < 1 || s->width > TEC_MAX_DIM || s->height < 1 || s->height > TEC_MAX_DIM)
        return fail(NULL, TEC_EINVAL, "frame size %dx%d outside 1..%d", s->width, s->height,
                    TEC_MAX_DIM);
    if (s->quality != 0 && (s->quality < TEC_QUALITY_MIN || s->quality > TEC_QUALITY_MAX))
        return fail(NULL, TEC_EINVAL, "quality must be %d..%d (0 = default), got %d",
                    TEC_QUALITY_MIN, TEC_QUALITY_MAX, s->quality);
    if (s->threads < 0)
        return fail(NULL, TEC_EINVAL, "threads must be >= 0, got %d", s->threads);
    if (s->keyframe_interval < 0 || s->keyframe_interval > 65535)
        return fail(NULL, TEC_EINVAL, "keyframe interval must be 0..65535, got %d",
                    s->keyframe_interval);
    if (s->context_frames < 0 || s->context_frames > TEC_MAX_CONTEXT)
        return fail(NULL, TEC_EINVAL, "context must be 1..%d frames (0 = default %d), got %d",
                    TEC_MAX_CONTEXT, TEC_DEFAULT_CONTEXT, s->context_frames);
    if (s->error_bound < 0 || s->error_bound > TEC_MAX_ERROR + 1)
        return fail(NULL, TEC_EINVAL, "error_bound must be 0 (none) or 1..%d (max error + 1), "
                    "got %d", TEC_MAX_ERROR + 1, s->error_bound);
    if (s->reserved_u16)
        return fail(NULL, TEC_EINVAL, "reserved settings field is not zero (settings from a "
                    "newer libtec? start from tec_encoder_default_settings)");
    if (s->has_nodata != 0 && s->has_nodata != 1)
        return fail(NULL, TEC_EINVAL, "has_nodata must be 0 or 1, got %d", s->has_nodata);
    if (s->skip_clouds != 0 && s->skip_clouds != 1)
        return fail(NULL, TEC_EINVAL, "skip_clouds must be 0 or 1, got %d", s->skip_clouds);
    if (s->skip_clouds && s->error_bound)
        return fail(NULL, TEC_EINVAL, "skip_clouds leaves the cloudy samples to the decoder's "
                    "prediction: it cannot keep an error bound");
    if (s->plain_spreads != 0 && s->plain_spreads != 1)
        return fail(NULL, TEC_EINVAL, "plain_spreads must be 0 or 1, got %d", s->plain_spreads);
    if (s->no_prediction != 0 && s->no_prediction != 1)
        return fail(NULL, TEC_EINVAL, "no_prediction must be 0 or 1, got %d", s->no_prediction);
    if (s->effort < 0 || s->effort > TEC_MAX_EFFORT)
        return fail(NULL, TEC_EINVAL, "effort must be 0..%d, got %d", TEC_MAX_EFFORT, s->effort);
    if (s->model && !tec_seq_model_name_ok(s->model))
        return fail(NULL, TEC_EINVAL, "invalid model name '%s'", s->model);
    for (int b = 0; b < s->bands; b++) {
        const char *name = s->band_names[b];
        if (!name)
            continue;
        size_t len = strlen(name);
        if (len >= TEC_MAX_BAND_NAME)
            return fail(NULL, TEC_EINVAL, "band %d: name '%s' longer than %d characters", b,
                        name, TEC_MAX_BAND_NAME - 1);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e)
                return fail(NULL, TEC_EINVAL, "band %d: name is not printable ASCII", b);
    }
    return 0;
}

/* Band names from the settings, Sentinel-2 defaults filling the gaps. */
static void fill_band_names(TecStreamInfo *info, const TecEncoderSettings *s)
{
    const char *const *defaults = tec_s2_default_names(s->bands);
    for (int b = 0; b < s->bands; b++) {
        const char *name = s->band_names[b] ? s->band_names[b] : defaults ? defaults[b] : "";
        snprintf(info->band_names[b], TEC_MAX_BAND_NAME, "%s", name);
    }
}

static int load_model(TecEncoder *enc, const TecEncoderSettings *s, const char *name)
{
    char path[4096], msg[ERR_SIZE];
    int ret = tec_weights_find(name, s->weights_dir, path, sizeof(path), msg, sizeof(msg));
    if (ret < 0)
        return fail(NULL, ret, "%s", msg);
    TecWeights *w;
    ret = tec_weights_load(path, &w, msg, sizeof(msg));
    if (ret < 0)
        return fail(NULL, ret, "%s", msg);
    ret = tec_img_load(&enc->model, w, msg, sizeof(msg));
    if (ret >= 0)
        ret = tec_tt_load(&enc->tt, w, enc->model, msg, sizeof(msg));
    tec_weights_free(&w);
    if (ret < 0)
        return fail(NULL, ret, "%s: %s", path, msg);
    return 0;
}

int tec_model_default_quality(const char *model, const char *weights_dir)
{
    char path[4096], msg[ERR_SIZE];
    const char *name = model ? model : DEFAULT_MODEL;
    if (!tec_seq_model_name_ok(name))
        return fail(NULL, TEC_EINVAL, "invalid model name '%s'", name);
    int ret = tec_weights_find(name, weights_dir, path, sizeof(path), msg, sizeof(msg));
    if (ret < 0)
        return fail(NULL, ret, "%s", msg);
    TecWeights *w;
    if ((ret = tec_weights_load(path, &w, msg, sizeof(msg))) < 0)
        return fail(NULL, ret, "%s", msg);
    /* The key the image model reads, with the same bounds. */
    long q;
    if (tec_weights_meta_int(w, "default_quality", &q) < 0 || q < TEC_QUALITY_MIN ||
        q > TEC_QUALITY_MAX)
        ret = fail(NULL, TEC_EMODEL, "%s: meta default_quality missing or outside %d..%d",
                   path, TEC_QUALITY_MIN, TEC_QUALITY_MAX);
    else
        ret = (int)q;
    tec_weights_free(&w);
    return ret;
}

/* The decoder-side latents of a frame: at open for a reconstruction or an
 * error bound, else for the first frame that goes past the top anchor. */
static int alloc_latent_grids(TecEncoder *enc)
{
    const TecGeometry *g = &enc->geom;
    const int groups = enc->hdr.n_groups;

    if (enc->grids)
        return 0;
    enc->grids = calloc((size_t)groups, sizeof(*enc->grids));
    if (!enc->grids)
        return TEC_ENOMEM;
    for (int i = 0; i < groups; i++) {
        enc->grids[i].h = g->lat_h;
        enc->grids[i].w = g->lat_w;
        enc->grids[i].y = malloc((size_t)enc->model->m * g->lat_h * g->lat_w * sizeof(float));
        if (!enc->grids[i].y) {
            /* all or nothing: a later frame may try again */
            for (int j = 0; j < i; j++)
                free(enc->grids[j].y);
            free(enc->grids);
            enc->grids = NULL;
            return TEC_ENOMEM;
        }
    }
    return 0;
}

/* The residual layer's buffers and the latents it synthesises from: at open
 * for an error bound, else for the first frame past the top anchor. */
static int alloc_residual_state(TecEncoder *enc)
{
    const TecGeometry *g = &enc->geom;
    const int bands = enc->hdr.info.bands;
    const size_t stripe = (size_t)bands * g->stripe_rows * g->width;

    if (enc->residual_ready)
        return 0;
    enc->eb_recon = malloc(stripe * sizeof(uint16_t));
    enc->eb_src = enc->source ? malloc(stripe * sizeof(uint16_t)) : NULL;
    if (!enc->eb_recon || (enc->source && !enc->eb_src) ||
        tec_eb_init(&enc->eb, bands, g->width, g->height, g->stripe_rows) < 0)
        return TEC_ENOMEM;
    enc->residual_ready = 1;
    return alloc_latent_grids(enc);
}

static int alloc_state(TecEncoder *enc, const TecEncoderSettings *s)
{
    const TecImageModel *m = enc->model;
    const TecGeometry *g = &enc->geom;
    const int groups = enc->hdr.n_groups;

    enc->gain = malloc((size_t)m->m * sizeof(float));
    enc->igain = malloc((size_t)m->m * sizeof(float));
    enc->input_bias = malloc((size_t)groups * m->n * sizeof(float));
    enc->chunks = calloc((size_t)groups * g->n_blocks, sizeof(*enc->chunks));
    if (!enc->gain || !enc->igain || !enc->input_bias || !enc->chunks)
        return TEC_ENOMEM;
    if (tec_repl_init(&enc->repl, s->bands, g->width, g->height) < 0 ||
        tec_interp_init(&enc->interp, s->bands, g->width, g->height, g->stripe_rows) < 0 ||
        (enc->has_nodata && tec_mask_init(&enc->mask, s->bands, g->width, g->height) < 0) ||
        tec_mask_init(&enc->cloud, 0, g->width, g->height) < 0)
        return TEC_ENOMEM;
    tec_img_gains(m, enc->position, enc->gain, enc->igain);
    for (int i = 0; i < groups; i++) {
        float mask[TEC_S2_SLOTS] = { 0 };
        for (int j = 0; j < enc->hdr.groups[i].count; j++)
            mask[enc->hdr.groups[i].slot[j]] = 1.0f;
        tec_img_input_bias(m, mask, enc->input_bias + (size_t)i * m->n);
    }

    if (s->row_source) {
        enc->window_cap = g->stripe_rows + 2 * enc->halo;
        if (enc->window_cap > g->height)
            enc->window_cap = g->height;
        enc->window = malloc((size_t)s->bands * enc->window_cap * g->width * sizeof(uint16_t));
        if (!enc->window)
            return TEC_ENOMEM;
    }
    if (enc->inter_on) {
        const size_t n_chunks = (size_t)groups * g->n_blocks;
        enc->factors = calloc(TEC_TT_MAX_REFS, sizeof(*enc->factors));
        enc->chunk_inter = calloc(n_chunks, sizeof(*enc->chunk_inter));
        enc->rans_inter = calloc((size_t)enc->workers.count, sizeof(*enc->rans_inter));
        if (!enc->factors || !enc->chunk_inter || !enc->rans_inter ||
            tec_refs_init(&enc->refs, m->m, groups, g->lat_h, g->lat_w) < 0)
            return TEC_ENOMEM;
        for (int i = 0; i < enc->workers.count; i++)
            tec_rans_enc_init(&enc->rans_inter[i]);
    }
    const size_t frame_bytes = (size_t)s->bands * g->height * g->width * sizeof(uint16_t);
    if (enc->want_recon && !(enc->recon = malloc(frame_bytes)))
        return TEC_ENOMEM;
    if (enc->predict_on && (!(enc->prev = malloc(frame_bytes)) ||
                            !(enc->residual_pic = malloc(frame_bytes)) ||
                            !(enc->other_recon = malloc(frame_bytes)) ||
                            (s->row_source && !(enc->whole = malloc(frame_bytes)))))
        return TEC_ENOMEM;
    if (enc->error_bound)
        return alloc_residual_state(enc);
    return enc->want_recon ? alloc_latent_grids(enc) : 0;
}

int tec_encoder_open(TecEncoder **out, const TecEncoderSettings *s)
{
    if (!out)
        return fail(NULL, TEC_EINVAL, "no encoder pointer");
    *out = NULL;
    if (!s)
        return fail(NULL, TEC_EINVAL, "no settings");
    int ret = check_settings(s);
    if (ret < 0)
        return ret;
    TecEncoder *enc = calloc(1, sizeof(*enc));
    if (!enc)
        return fail(NULL, TEC_ENOMEM, "out of memory");

    const char *model_name = s->model ? s->model : DEFAULT_MODEL;
    if ((ret = load_model(enc, s, model_name)) < 0)
        goto fail;

    TecStreamInfo *info = &enc->hdr.info;
    info->bands = s->bands;
    info->width = s->width;
    info->height = s->height;
    enc->keyframe_interval = s->keyframe_interval ? s->keyframe_interval
                                                  : TEC_DEFAULT_KEYFRAME_INTERVAL;
    enc->context = s->context_frames ? s->context_frames : TEC_DEFAULT_CONTEXT;
    enc->inter_on = enc->tt && enc->keyframe_interval > 1;
    /* A model without a temporal model codes every frame intra: the header
     * says so, whatever interval was asked for. */
    info->keyframe_interval = enc->inter_on ? enc->keyframe_interval : 1;
    enc->hdr.inter_allowed = enc->inter_on;
    /* The decoder keeps a whole frame for them, and the encoder three more. */
    enc->predict_on = enc->inter_on && !s->no_prediction && !s->has_nodata &&
                      !s->error_bound && !s->skip_clouds &&
                      (int64_t)s->bands * s->width * s->height <= TEC_MAX_PREDICTED_SAMPLES;
    enc->hdr.predicted_allowed = enc->predict_on;
    snprintf(info->model, sizeof(info->model), "%s", model_name);
    info->model_checksum = enc->model->checksum;
    fill_band_names(info, s);
    tec_seq_plan_groups(&enc->hdr);
    enc->header_size = tec_seq_write(&enc->hdr, enc->header);

    tec_geometry_init(&enc->geom, s->width, s->height, enc->model->downscale);
    enc->halo = ANALYSIS_HALO_LATENTS * enc->model->downscale;
    tec_norm_from_model(enc->model, &enc->hdr, &enc->norm);
    enc->base_position = tec_img_quality_position(enc->model, s->quality);
    enc->position = enc->base_position;
    enc->adapt = !s->fixed_quality && enc->model->frame_norm && enc->model->quality_spread;
    enc->weigh_bands = enc->adapt && !s->plain_spreads && s->bands > 1;
    enc->alpha_milli = 1000;
    enc->source = s->row_source;
    enc->source_opaque = s->row_opaque;
    enc->recon_asked = s->want_reconstruction;
    enc->want_recon = s->want_reconstruction || enc->predict_on;
    enc->error_bound = s->error_bound;
    enc->keep_latents = enc->want_recon || enc->error_bound;
    enc->has_nodata = s->has_nodata;
    enc->nodata = s->nodata_value;
    enc->skip_clouds = s->skip_clouds;
    enc->refine_steps = 10 * s->effort;
    if (enc->refine_steps && (ret = tec_sgrad_init(&enc->sgrad, enc->model)) < 0) {
        fail(NULL, ret, "out of memory for the latent refinement");
        goto fail;
    }
    if ((ret = tec_workers_init(&enc->workers, s->threads)) < 0) {
        fail(NULL, ret, "cannot start %d threads", s->threads);
        goto fail;
    }
    if ((ret = alloc_state(enc, s)) < 0) {
        fail(NULL, ret, "out of memory for a %dx%dx%d frame", s->width, s->height, s->bands);
        goto fail;
    }
    snprintf(enc->err, sizeof(enc->err), "no error");
    *out = enc;
    return 0;
fail:
    tec_encoder_close(&enc);
    return ret;
}

void tec_encoder_close(TecEncoder **penc)
{
    TecEncoder *enc = penc ? *penc : NULL;
    if (!enc)
        return;
    const int groups = enc->hdr.n_groups;
    for (int i = 0; enc->chunks && i < groups * enc->geom.n_blocks; i++)
        free(enc->chunks[i].data);
    for (int i = 0; enc->grids && i < groups; i++)
        free(enc->grids[i].y);
    free(enc->grids);
    free(enc->recon);
    free(enc->prev);
    free(enc->residual_pic);
    free(enc->other_recon);
    free(enc->whole);
    free(enc->other_packet);
    free(enc->eb_recon);
    free(enc->eb_src);
    tec_eb_free(&enc->eb);
    tec_repl_free(&enc->repl);
    tec_interp_free(&enc->interp);
    tec_mask_free(&enc->mask);
    tec_mask_free(&enc->cloud);
    free(enc->cloud_px);
    free(enc->skip);
    free(enc->chunks);
    free(enc->packet_buf[0]);
    free(enc->packet_buf[1]);
    free(enc->window);
    free(enc->gain);
    free(enc->igain);
    free(enc->input_bias);
    if (enc->rans_inter)
        for (int i = 0; i < enc->workers.count; i++)
            tec_rans_enc_free(&enc->rans_inter[i]);
    free(enc->rans_inter);
    free(enc->factors);
    free(enc->chunk_inter);
    if (enc->inter_on)
        tec_refs_free(&enc->refs);
    tec_workers_free(&enc->workers);
    tec_sgrad_free(&enc->sgrad);
    tec_tt_free(&enc->tt);
    tec_img_free(&enc->model);
    free(enc);
    *penc = NULL;
}

/* ---- one frame ----------------------------------------------------------- */

/* Whether the frame being coded goes through the temporal model's
 * references (a predicted frame's residual does not). */
static int tt_active(const TecEncoder *enc) { return enc->inter_on && !enc->predicting; }

typedef struct RowJob {
    TecEncoder *enc;
    const PixelView *view;
    int row;
} RowJob;

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The standardised input of a block plus its halo, xn[slots][ph][pw]: the
 * frame, edge-replicated up to the latent grid's extent (those samples are
 * cropped by the decoder), and zero beyond it, as the training saw the
 * zero padding of a crop's edge.  `inside` gets the part within the grid. */
/* With skip_clouds: the block's cloudy samples joined smoothly to the
 * clear ones around them, so that the cloud costs no edge.  The decoder
 * replaces them; what matters is that they are cheap. */
static int inpaint_clouds(const TecEncoder *enc, const TecBandGroup *group, int py0, int px0,
                          int ph, int pw, const TecInside *inside, float *xn)
{
    const TecGeometry *g = &enc->geom;
    const int W = g->width, H = g->height;
    const size_t plane = (size_t)ph * pw;
    uint8_t *known = malloc(plane);
    if (!known)
        return TEC_ENOMEM;
    int any = 0;
    for (int i = 0; i < ph; i++)
        for (int k = 0; k < pw; k++) {
            const int in = i >= inside->y0 && i < inside->y1 && k >= inside->x0 && k < inside->x1;
            const uint8_t cloud = in && enc->cloud_px[(size_t)imin(py0 + i, H - 1) * W +
                                                      imin(px0 + k, W - 1)];
            known[(size_t)i * pw + k] = !cloud;
            any |= cloud;
        }
    float *scratch = any ? malloc(tec_inpaint_scratch(ph, pw) * sizeof(float)) : NULL;
    if (any && !scratch) {
        free(known);
        return TEC_ENOMEM;
    }
    for (int j = 0; any && j < group->count; j++)
        tec_inpaint(xn + group->slot[j] * plane, known, ph, pw, scratch);
    free(scratch);
    free(known);
    return 0;
}

static int fill_input(const TecEncoder *enc, const PixelView *view, const TecBandGroup *group,
                      const TecBlockRect *r, float *xn, TecInside *inside)
{
    const TecImageModel *m = enc->model;
    const TecGeometry *g = &enc->geom;
    const int D = g->downscale, W = g->width, H = g->height;
    const int ph = r->h * D + 2 * enc->halo, pw = r->w * D + 2 * enc->halo;
    const int py0 = r->y0 * D - enc->halo, px0 = r->x0 * D - enc->halo;
    const size_t plane = (size_t)ph * pw;

    inside->y0 = clampi(-py0, 0, ph);
    inside->y1 = clampi(g->lat_h * D - py0, 0, ph);
    inside->x0 = clampi(-px0, 0, pw);
    inside->x1 = clampi(g->lat_w * D - px0, 0, pw);
    memset(xn, 0, (size_t)m->slots * plane * sizeof(*xn));
    for (int j = 0; j < group->count; j++) {
        const int s = group->slot[j];
        const float mean = enc->norm.mean[group->band[j]], std = enc->norm.spread[group->band[j]];
        const uint16_t *band = view->data + group->band[j] * view->band_stride;
        for (int i = inside->y0; i < inside->y1; i++) {
            const int y = imin(py0 + i, H - 1);
            const uint16_t *src = band + (y - view->y0) * view->stride;
            float *dst = xn + s * plane + (size_t)i * pw;
            for (int k = inside->x0; k < inside->x1; k++)
                dst[k] = ((float)src[imin(px0 + k, W - 1)] - mean) / std;
            /* Nodata samples are set by the mask whatever the model makes of
             * them: the band's mean there costs fewer bits than an edge. */
            if (enc->has_nodata)
                for (int k = inside->x0; k < inside->x1; k++)
                    if (src[imin(px0 + k, W - 1)] == enc->nodata)
                        dst[k] = 0.0f;
        }
    }
    return enc->skipping ? inpaint_clouds(enc, group, py0, px0, ph, pw, inside, xn) : 0;
}

/* A chunk is its head (an inter chunk's lean table, or nothing), then its
 * rANS stream. */
static int store_chunk_parts(Chunk *c, const uint8_t *head, size_t head_size,
                             const uint8_t *data, size_t size)
{
    if (head_size + size > c->capacity) {
        uint8_t *p = realloc(c->data, head_size + size);
        if (!p)
            return TEC_ENOMEM;
        c->data = p;
        c->capacity = head_size + size;
    }
    if (head_size)
        memcpy(c->data, head, head_size);
    memcpy(c->data + head_size, data, size);
    c->size = head_size + size;
    return 0;
}

static int store_chunk(Chunk *c, const uint8_t *data, size_t size)
{
    return store_chunk_parts(c, NULL, 0, data, size);
}

/* An inter block coded without leans, gathering what choosing them needs,
 * then, when the fit promises at least 1%, with the leans chosen, kept when
 * smaller.  On return ri holds the chosen coding (data, size), lean the
 * leans it used and table its lean table (table_size bytes). */
static int encode_inter_block(TecEncoder *enc, const float *yg, const float *z,
                              const TecBlockRect *r, TecFcInter *inter, TecRansEncoder *ri,
                              TecWorkspace *ws, int8_t *lean, uint8_t *table, size_t *table_size,
                              const uint8_t **data, size_t *size)
{
    const int m = enc->model->m;
    TecLeanSums sums[TEC_TT_MAX_M];
    memset(sums, 0, (size_t)m * sizeof(*sums));
    memset(lean, 0, (size_t)m);
    inter->lean = NULL;
    inter->lean_sums = sums;
    int ret = tec_fc_encode_block(enc->model, yg, z, r, enc->igain, inter, ri, NULL, ws);
    inter->lean_sums = NULL;
    if (ret < 0 || (ret = tec_rans_enc_finish(ri, data, size)) < 0)
        return ret;
    const size_t plain = *size;
    *table_size = tec_lean_table_size(lean, m);
    /* Coding the block again costs time: not for under 1% of it. */
    double saving;
    if (!tec_lean_choose(sums, m, lean, &saving) || saving < 0.01 * 8.0 * (double)plain) {
        memset(lean, 0, (size_t)m);
        goto no_leans;
    }
    inter->lean = lean;
    if ((ret = tec_fc_encode_block(enc->model, yg, z, r, enc->igain, inter, ri, NULL, ws)) < 0 ||
        (ret = tec_rans_enc_finish(ri, data, size)) < 0)
        return ret;
    const size_t leaned = tec_lean_table_size(lean, m);
    if (leaned + *size < *table_size + plain) {
        *table_size = leaned;
        tec_lean_table_write(lean, m, table);
        return 0;
    }
    /* The fit misjudged this block: code it again without. */
    memset(lean, 0, (size_t)m);
    inter->lean = NULL;
    if ((ret = tec_fc_encode_block(enc->model, yg, z, r, enc->igain, inter, ri, NULL, ws)) < 0 ||
        (ret = tec_rans_enc_finish(ri, data, size)) < 0)
        return ret;
no_leans:
    tec_lean_table_write(lean, m, table);
    return 0;
}

/* The refinement's view of a block (refine.h): its analysis (y and xn with
 * their halo, z), the frame's geometry and standardisation, and the coding
 * `how`; steps, lambda and the replication maps are the caller's. */
static TecRefineJob refine_job(TecEncoder *enc, const TecBlockRect *r, int group,
                               const float *y, const float *xn, const float *z,
                               const TecFcInter *how, TecRansEncoder *re, TecWorkspace *ws)
{
    const TecGeometry *g = &enc->geom;
    const int D = g->downscale;
    return (TecRefineJob){
        .m = enc->model, .r = r, .lat_h = g->lat_h, .lat_w = g->lat_w, .y = y, .xn = xn,
        .halo = ANALYSIS_HALO_LATENTS,
        .rows = imin(r->h * D, g->height - r->y0 * D), .cols = imin(r->w * D, g->width - r->x0 * D),
        .py0 = r->y0 * D, .px0 = r->x0 * D, .group = &enc->hdr.groups[group], .norm = &enc->norm,
        .gain = enc->gain, .igain = enc->igain, .z = z, .how = how, .re = re, .ws = ws,
    };
}

/* With an effort: the block's gained latents refined for the coding `how`
 * (refine.h).  y and xn: the analysis' latents and input with their halo. */
static int refine_block(TecEncoder *enc, const TecBlockRect *r, int group, const float *y,
                        const float *xn, float *yg, const float *z, const TecFcInter *how,
                        TecRansEncoder *re, TecWorkspace *ws)
{
    if (!enc->refine_steps || enc->skipping)
        return 0;
    const TecFcInter intra = { 0 };
    TecRefineJob job = refine_job(enc, r, group, y, xn, z, how ? how : &intra, re, ws);
    job.sg = &enc->sgrad;
    job.steps = enc->refine_steps;
    job.lambda = enc->lambda;
    job.repl = &enc->repl;
    return tec_refine_block(&job, yg);
}

/* Codes a block one way and stores its chunk. */
static int code_block(TecEncoder *enc, const float *yg, const float *z, const TecBlockRect *r,
                      const TecFcInter *inter, TecRansEncoder *re, TecLatentGrid *grid,
                      TecWorkspace *ws, size_t chunk)
{
    int ret = tec_fc_encode_block(enc->model, yg, z, r, enc->igain, inter, re, grid, ws);
    const uint8_t *data;
    size_t size;
    if (ret < 0 || (ret = tec_rans_enc_finish(re, &data, &size)) < 0)
        return ret;
    return store_chunk(&enc->chunks[chunk], data, size);
}

/* A block's analysis with its halo: its standardised input xn, latents y
 * (ungained, with the halo), gained latents yg and hyper-latents z, in the
 * worker's workspace. */
typedef struct Analysed {
    float *xn, *y, *yg, *z;
} Analysed;

static int analyse_block(const TecEncoder *enc, const PixelView *view, int group,
                         const TecBlockRect *r, TecWorkspace *ws, Analysed *a)
{
    const TecImageModel *m = enc->model;
    const int D = enc->geom.downscale, ph = r->h * D + 2 * enc->halo, pw = r->w * D + 2 * enc->halo;
    const int lh = ph / D, lw = pw / D, halo = ANALYSIS_HALO_LATENTS;
    const int hz = tec_hyper_size(r->h), wz = tec_hyper_size(r->w);

    a->xn = tec_ws_get(ws, TEC_WS_PIXELS, (size_t)m->slots * ph * pw * sizeof(float));
    a->y = tec_ws_get(ws, TEC_WS_LATENTS, (size_t)m->m * lh * lw * sizeof(float));
    a->yg = tec_ws_get(ws, TEC_WS_GAINED, (size_t)m->m * r->h * r->w * sizeof(float));
    a->z = tec_ws_get(ws, TEC_WS_HYPER, (size_t)m->nh * hz * wz * sizeof(float));
    if (!a->xn || !a->y || !a->yg || !a->z)
        return TEC_ENOMEM;

    TecInside inside;
    int ret = fill_input(enc, view, &enc->hdr.groups[group], r, a->xn, &inside);
    if (ret < 0)
        return ret;
    ret = tec_img_analysis(m, a->xn, ph, pw, &inside, enc->input_bias + (size_t)group * m->n,
                           a->y, ws);
    if (ret < 0)
        return ret;
    for (int c = 0; c < m->m; c++)
        for (int i = 0; i < r->h; i++) {
            const float *src = a->y + ((size_t)c * lh + i + halo) * lw + halo;
            float *dst = a->yg + ((size_t)c * r->h + i) * r->w;
            for (int k = 0; k < r->w; k++)
                dst[k] = src[k] * enc->gain[c];
        }
    return tec_img_hyper_analysis(m, a->yg, r->h, r->w, a->z, ws);
}

/* Analysis, hyper-analysis and coding of one (group, block) of a block row. */
static int block_task(void *ctx, int task, int slot)
{
    RowJob *job = ctx;
    TecEncoder *enc = job->enc;
    const TecImageModel *m = enc->model;
    const TecGeometry *g = &enc->geom;
    const int group = task / g->block_cols, block = job->row * g->block_cols + task % g->block_cols;
    const TecBlockRect r = tec_geometry_block(g, block);
    TecWorkspace *ws = &enc->workers.ws[slot];
    Analysed a;
    int ret = analyse_block(enc, job->view, group, &r, ws, &a);
    if (ret < 0)
        return ret;
    float *xn = a.xn, *y = a.y, *yg = a.yg, *z = a.z;

    const size_t chunk = (size_t)group * g->n_blocks + block;
    TecLatentGrid *grid = enc->keep_latents ? &enc->grids[group] : NULL;
    TecRansEncoder *re = &enc->workers.rans[slot];
    const uint8_t *zero = enc->skipping ? enc->skip + (size_t)r.y0 * g->lat_w + r.x0 : NULL;
    const TecFcInter plain = { NULL, NULL, NULL, zero, g->lat_w, NULL, NULL, 0, NULL, NULL, NULL };
    if (!tt_active(enc)) {
        if ((ret = refine_block(enc, &r, group, y, xn, yg, z, NULL, re, ws)) < 0)
            return ret;
        return code_block(enc, yg, z, &r, zero ? &plain : NULL, re, grid, ws, chunk);
    }
    /* What the block leaves for later frames, intra and inter, then (inter
     * frames) the references around it. */
    const size_t n = (size_t)r.h * r.w;
    uint8_t *buf = tec_ws_get(ws, TEC_WS_TEMPORAL, 2 * m->m * n * sizeof(int16_t) +
                              tec_refs_gather_size(&enc->refs, enc->n_refs, r.h, r.w));
    if (!buf)
        return TEC_ENOMEM;
    int16_t *left_intra = (int16_t *)buf, *left_inter = left_intra + (size_t)m->m * n;
    TecFcInter intra = { NULL, NULL, left_intra, zero, g->lat_w, NULL, NULL, 0, NULL, NULL, NULL };
    if (!enc->n_refs) {
        if ((ret = refine_block(enc, &r, group, y, xn, yg, z, &intra, re, ws)) < 0 ||
            (ret = code_block(enc, yg, z, &r, &intra, re, grid, ws, chunk)) < 0)
            return ret;
        tec_refs_stage(&enc->refs, group, r.x0, r.h, r.w, left_intra);
        return 0;
    }
    TecTtBlock tb;
    tec_refs_gather(&enc->refs, group, r.y0, r.x0, r.h, r.w, enc->n_refs, enc->factors,
                    (const int32_t (*)[TEC_TT_TAU])enc->tau, left_inter + (size_t)m->m * n, &tb);
    TecFcInter inter = { enc->tt, &tb, left_inter, zero, g->lat_w, NULL, NULL, 0, NULL, NULL, NULL };
    /* Refined for the temporal model's parameters; the choice between the
     * two codings below then sees the refined latents. */
    if ((ret = refine_block(enc, &r, group, y, xn, yg, z, &inter, re, ws)) < 0)
        return ret;
    /* Both ways; the smaller chunk wins (a cloud that came or went, a
     * changed field: the image model alone may predict better). */
    TecRansEncoder *ri = &enc->rans_inter[slot];
    const uint8_t *d_intra, *d_inter;
    size_t s_intra, s_inter, s_table;
    int8_t lean[TEC_TT_MAX_M];
    uint8_t table[1 + TEC_TT_MAX_M / 8 + TEC_TT_MAX_M];
    if ((ret = encode_inter_block(enc, yg, z, &r, &inter, ri, ws, lean, table, &s_table,
                                  &d_inter, &s_inter)) < 0 ||
        (ret = tec_fc_encode_block(m, yg, z, &r, enc->igain, &intra, re, NULL, ws)) < 0 ||
        (ret = tec_rans_enc_finish(re, &d_intra, &s_intra)) < 0)
        return ret;
    const int use_inter = s_table + s_inter < s_intra;
    enc->chunk_inter[chunk] = (uint8_t)use_inter;
    if ((ret = use_inter ? store_chunk_parts(&enc->chunks[chunk], table, s_table, d_inter, s_inter)
                         : store_chunk(&enc->chunks[chunk], d_intra, s_intra)) < 0)
        return ret;
    tec_refs_stage(&enc->refs, group, r.x0, r.h, r.w, use_inter ? left_inter : left_intra);
    /* The reconstruction takes the latents of the chosen coding: code it
     * once more with the grid (only when a reconstruction is asked for). */
    if (grid && (ret = tec_fc_encode_block(m, yg, z, &r, enc->igain, use_inter ? &inter : &intra,
                                           re, grid, ws)) < 0)
        return ret;
    return 0;
}

/* Slides the row window to cover block row `row` and its halo, reading each
 * row from the source exactly once. */
static int read_rows(TecEncoder *enc, int row, PixelView *view)
{
    const int W = enc->geom.width, H = enc->geom.height, bands = enc->hdr.info.bands;
    const int stripe = enc->geom.stripe_rows;
    const int lo = clampi(row * stripe - enc->halo, 0, H);
    const int hi = clampi((row + 1) * stripe + enc->halo, 0, H);
    const ptrdiff_t band_stride = (ptrdiff_t)enc->window_cap * W;

    if (row == 0 || enc->window_y1 <= lo) {
        enc->window_y0 = enc->window_y1 = lo;
    } else if (lo > enc->window_y0) {
        const size_t keep = (size_t)(enc->window_y1 - lo) * W;
        for (int b = 0; b < bands; b++)
            memmove(enc->window + b * band_stride,
                    enc->window + b * band_stride + (size_t)(lo - enc->window_y0) * W,
                    keep * sizeof(uint16_t));
        enc->window_y0 = lo;
    }
    if (hi > enc->window_y1) {
        const int y0 = enc->window_y1, rows = hi - y0;
        int ret = enc->source(enc->source_opaque, enc->frame_index, y0, rows,
                              enc->window + (size_t)(y0 - enc->window_y0) * W, W, band_stride);
        if (ret < 0)
            return fail(enc, ret < TEC_EUNSUPPORTED ? TEC_EIO : ret,
                        "row source failed on rows %d..%d (%d)", y0, hi - 1, ret);
        tec_repl_scan_rows(&enc->repl, enc->window + (size_t)(y0 - enc->window_y0) * W, W,
                           band_stride, y0, rows);
        if (enc->has_nodata &&
            tec_mask_scan_rows(&enc->mask, enc->window + (size_t)(y0 - enc->window_y0) * W, W,
                               band_stride, y0, rows) < 0)
            return fail(enc, TEC_ENOMEM, "out of memory for the nodata mask");
        enc->window_y1 = hi;
    }
    view->data = enc->window;
    view->stride = W;
    view->band_stride = band_stride;
    view->y0 = enc->window_y0;
    return 0;
}

static size_t analysis_bytes(const TecImageModel *m)
{
    const size_t p = (size_t)(TEC_BLOCK + 2 * ANALYSIS_HALO_LATENTS) * m->downscale, half = p / 2;
    const size_t n = (size_t)m->n, c = n > (size_t)m->slots ? n : (size_t)m->slots;
    size_t floats = (size_t)m->slots * p * p + n * half * half + n * half * half / 4;
    floats += c * 25 * 1024 + (1 << 20);
    return floats * sizeof(float) * 5 / 4;
}

static int assemble_packet(TecEncoder *enc)
{
    const size_t n_chunks = (size_t)enc->hdr.n_groups * enc->geom.n_blocks;
    const size_t stats = tec_norm_packet_size(enc->model, &enc->hdr);
    const int replicated = tec_repl_any(&enc->repl), interpolated = tec_interp_any(&enc->interp);
    const size_t repl = replicated ? tec_repl_size(&enc->repl) : 0;
    const size_t interp = interpolated ? tec_interp_size(&enc->interp) : 0;
    const int inter = tt_active(enc) && enc->n_refs;
    const size_t inter_size = inter ? tec_inter_header_size(enc->n_refs, n_chunks) : 0;
    const size_t pred_size = enc->predicting ? tec_pred_size(enc->hdr.info.bands) : 0;
    const size_t mask = tec_mask_section_size(enc->has_nodata ? &enc->mask : NULL, &enc->cloud);
    const size_t residual = enc->frame_bound >= 0 ? tec_eb_size(&enc->eb) : 0;
    size_t total = TEC_PACKET_HEADER + inter_size + pred_size + mask + stats + repl + interp +
                   4 * n_chunks + residual;
    for (size_t i = 0; i < n_chunks; i++) {
        if (enc->chunks[i].size > UINT32_MAX)
            return fail(enc, TEC_EUNSUPPORTED, "chunk %zu exceeds 4 GiB", i);
        total += enc->chunks[i].size;
    }
    const int cur = enc->packet_cur ^ 1;
    if (total > enc->packet_cap[cur]) {
        uint8_t *p = realloc(enc->packet_buf[cur], total);
        if (!p)
            return fail(enc, TEC_ENOMEM, "out of memory for a %zu-byte packet", total);
        enc->packet_buf[cur] = p;
        enc->packet_cap[cur] = total;
    }
    uint8_t *p = enc->packet_buf[cur];
    const TecPacketHeader ph = {
        .frame_type = inter ? TEC_FRAME_INTER
                    : enc->predicting ? TEC_FRAME_PREDICTED : TEC_FRAME_INTRA,
        .flags = (replicated ? TEC_PACKET_REPLICATION : 0) |
                 (interpolated ? TEC_PACKET_INTERPOLATION : 0) |
                 (mask ? TEC_PACKET_MASK : 0) |
                 (enc->frame_bound >= 0 ? TEC_PACKET_RESIDUAL : 0),
        .position = enc->position,
        .n_chunks = (uint32_t)n_chunks,
    };
    tec_packet_header_write(&ph, p);
    uint8_t *q = p + TEC_PACKET_HEADER;
    if (inter)
        tec_inter_header_write(&enc->inter, enc->chunk_inter, n_chunks, q);
    q += inter_size;
    if (mask)
        tec_mask_section_write(enc->has_nodata ? &enc->mask : NULL, &enc->cloud, q);
    q += mask;
    if (pred_size)
        tec_pred_write(&enc->pred, enc->hdr.info.bands, q);
    q += pred_size;
    if (stats)
        tec_norm_write(&enc->hdr, enc->stat_mean, enc->stat_spread, q);
    if (replicated)
        tec_repl_write(&enc->repl, q + stats);
    if (interpolated)
        tec_interp_write(&enc->interp, q + stats + repl);
    uint8_t *sizes = q + stats + repl + interp, *body = sizes + 4 * n_chunks;
    for (size_t i = 0; i < n_chunks; i++) {
        tec_wl32(sizes + 4 * i, (uint32_t)enc->chunks[i].size);
        memcpy(body, enc->chunks[i].data, enc->chunks[i].size);
        body += enc->chunks[i].size;
    }
    if (residual)
        tec_eb_write(&enc->eb, body);
    enc->packet_cur = cur;
    enc->pending.data = p;
    enc->pending.size = total;
    return 0;
}

/* Adds rows [y0, y0 + rows) of every band to the running sums: the
 * samples that are not nodata (the mask sets those). */
/* Sums of one band's samples: all of them, and those no cloud covers. */
typedef struct BandSums {
    double sum, sum2, count;
    double clear_sum, clear_sum2, clear_count;
} BandSums;

static void accumulate_stats(const TecEncoder *enc, const PixelView *view, int y0, int rows,
                             BandSums *acc)
{
    const int W = enc->geom.width;
    for (int b = 0; b < enc->hdr.info.bands; b++)
        for (int y = y0; y < y0 + rows; y++) {
            const uint16_t *row = view->data + b * view->band_stride + (y - view->y0) * view->stride;
            const uint8_t *cloud = enc->clouded ? enc->cloud_px + (size_t)y * W : NULL;
            double s = 0, s2 = 0, n = 0, cs = 0, cs2 = 0, cn = 0;
            for (int x = 0; x < W; x++) {
                const double v = row[x];
                if (enc->has_nodata && row[x] == enc->nodata)
                    continue;
                s += v;
                s2 += v * v;
                n++;
                if (cloud && !cloud[x]) {
                    cs += v;
                    cs2 += v * v;
                    cn++;
                }
            }
            acc[b].sum += s;
            acc[b].sum2 += s2;
            acc[b].count += n;
            acc[b].clear_sum += cs;
            acc[b].clear_sum2 += cs2;
            acc[b].clear_count += cn;
        }
}

/* A frame with fewer clear samples in a band keeps the whole band's
 * statistics (a frame all cloud). */
#define CLEAR_STATS_MIN 256

/* The frame's band statistics for models with frame_norm: the rounded mean
 * and population standard deviation (floored at 8, as in training), read in
 * stripes when the frame comes from a row source. */
static int frame_statistics(TecEncoder *enc, const TecPicture *pic)
{
    const int H = enc->geom.height, W = enc->geom.width, bands = enc->hdr.info.bands;
    BandSums acc[TEC_MAX_BANDS] = { { 0 } };
    if (!enc->source) {
        const PixelView view = { pic->data, pic->stride, pic->band_stride, 0 };
        accumulate_stats(enc, &view, 0, H, acc);
    } else {
        const ptrdiff_t band_stride = (ptrdiff_t)enc->window_cap * W;
        for (int y0 = 0; y0 < H; y0 += enc->window_cap) {
            const int rows = H - y0 < enc->window_cap ? H - y0 : enc->window_cap;
            int ret = enc->source(enc->source_opaque, enc->frame_index, y0, rows, enc->window, W,
                                  band_stride);
            if (ret < 0)
                return fail(enc, ret < TEC_EUNSUPPORTED ? TEC_EIO : ret,
                            "row source failed on rows %d..%d (%d)", y0, y0 + rows - 1, ret);
            const PixelView view = { enc->window, W, band_stride, y0 };
            accumulate_stats(enc, &view, y0, rows, acc);
        }
    }
    for (int b = 0; b < bands; b++) {
        /* Skipping clouds, the clear samples' statistics: the frame's
         * standardisation and quality position are then those of the land,
         * as on a clear date, not the cloud's.  (Without skipping the cloud
         * is coded, and the frame's own statistics serve it best.) */
        const BandSums *a = &acc[b];
        const int clear = enc->clouded && a->clear_count >= CLEAR_STATS_MIN;
        const double sum = clear ? a->clear_sum : a->sum, sum2 = clear ? a->clear_sum2 : a->sum2;
        const double count = clear ? a->clear_count : a->count;
        /* A band all nodata: the mask gives every sample. */
        const double mean = count > 0 ? sum / count : enc->nodata;
        const double var = count > 0 ? sum2 / count - mean * mean : 0;
        const double spread = floor(sqrt(var > 0 ? var : 0) + 0.5);
        enc->stat_mean[b] = (uint16_t)floor(mean + 0.5);
        enc->stat_spread[b] = (uint16_t)(spread < 8 ? 8 : spread > 65535 ? 65535 : spread);
        enc->norm.mean[b] = enc->stat_mean[b];
        enc->norm.spread[b] = enc->stat_spread[b];
    }
    return 0;
}

/* ---- band weighting (band_weights.h) ---------------------------------- */

/* The position, gains and refinement lambda that the frame's written
 * spreads give; returns how far (1/256 anchors) the frame wanted to go past
 * the top anchor. */
static double apply_spreads(TecEncoder *enc)
{
    double sum2 = 0, past_top = 0;
    for (int b = 0; enc->model->frame_norm && b < enc->hdr.info.bands; b++)
        sum2 += (double)enc->stat_spread[b] * enc->stat_spread[b];
    const double spread = sqrt(sum2 / enc->hdr.info.bands);
    if (enc->adapt) {
        enc->position = tec_img_adapted_position(enc->model, enc->base_position, spread);
        past_top = tec_img_wanted_position(enc->model, enc->base_position, spread) -
                   (enc->model->qualities - 1) * 256.0;
        tec_img_gains(enc->model, enc->position, enc->gain, enc->igain);
    }
    enc->lambda = tec_refine_lambda(enc->model, enc->position, spread);
    return past_top;
}

/* The frame's spreads narrowed by alpha_milli, as written and as the
 * standardisation uses them, and what follows from them. */
static double set_weighting(TecEncoder *enc, int alpha_milli)
{
    tec_bw_narrow(enc->plain_spread, enc->hdr.info.bands, alpha_milli, enc->stat_spread);
    for (int b = 0; b < enc->hdr.info.bands; b++)
        enc->norm.spread[b] = enc->stat_spread[b];
    return apply_spreads(enc);
}

/* Sample blocks coded with each exponent: at most this many, spread along
 * the middle block row (one row, so that a row source is read once). */
#define TRIAL_BLOCKS 4

typedef struct TrialJob {
    TecEncoder *enc;
    const PixelView *view;
    int blocks[TRIAL_BLOCKS], n_blocks;
    double lambda;
    double cost[TRIAL_BLOCKS * TEC_MAX_BANDS];   /* per (group, block) */
} TrialJob;

/* One (group, sample block) coded intra as the frame's spreads stand: its
 * bits + lambda x reflectance error. */
static int trial_task(void *ctx, int task, int slot)
{
    TrialJob *job = ctx;
    TecEncoder *enc = job->enc;
    const TecGeometry *g = &enc->geom;
    const int group = task / job->n_blocks;
    const TecBlockRect r = tec_geometry_block(g, job->blocks[task % job->n_blocks]);
    TecWorkspace *ws = &enc->workers.ws[slot];
    Analysed a;
    int ret = analyse_block(enc, job->view, group, &r, ws, &a);
    if (ret < 0)
        return ret;
    const uint8_t *zero = enc->skipping ? enc->skip + (size_t)r.y0 * g->lat_w + r.x0 : NULL;
    const TecFcInter how = { .zero = zero, .zero_stride = g->lat_w };
    /* No replicated-block averaging: the frame's maps are not scanned yet. */
    TecRefineJob rj = refine_job(enc, &r, group, a.y, a.xn, a.z, &how, &enc->workers.rans[slot],
                                 ws);
    rj.lambda = job->lambda;
    return tec_refine_cost(&rj, a.yg, &job->cost[task]);
}

/* A keyframe's exponent: the candidates in turn on the sample blocks,
 * until one costs more than the one before.  Every candidate is priced
 * with the one lambda that --quality names, so the choice trades bits
 * against reflectance error at the rate the user asked for. */
static int choose_weighting(TecEncoder *enc, const TecPicture *pic)
{
    const TecGeometry *g = &enc->geom;
    const int row = g->block_rows / 2;
    TrialJob job = { .enc = enc, .n_blocks = imin(TRIAL_BLOCKS, g->block_cols) };
    for (int k = 0; k < job.n_blocks; k++)
        job.blocks[k] = row * g->block_cols + (2 * k + 1) * g->block_cols / (2 * job.n_blocks);
    job.lambda = tec_refine_lambda(enc->model, enc->base_position, enc->model->quality_spread);
    PixelView view = { pic->data, pic->stride, pic->band_stride, 0 };
    if (enc->source) {
        /* The sample row alone, not scanned for replication or nodata
         * (the frame's scan reads it again from row 0). */
        const int W = g->width, H = g->height;
        const int lo = clampi(row * g->stripe_rows - enc->halo, 0, H);
        const int hi = clampi((row + 1) * g->stripe_rows + enc->halo, 0, H);
        const ptrdiff_t band_stride = (ptrdiff_t)enc->window_cap * W;
        int ret = enc->source(enc->source_opaque, enc->frame_index, lo, hi - lo, enc->window, W,
                              band_stride);
        if (ret < 0)
            return fail(enc, ret < TEC_EUNSUPPORTED ? TEC_EIO : ret,
                        "row source failed on rows %d..%d (%d)", lo, hi - 1, ret);
        enc->window_y0 = enc->window_y1 = 0;
        view = (PixelView){ enc->window, W, band_stride, lo };
    }
    job.view = &view;
    const int tasks = enc->hdr.n_groups * job.n_blocks;
    const int parallel = tec_workers_parallel(&enc->workers, analysis_bytes(enc->model));
    int chosen = tec_bw_alpha_milli[0];
    double best = 0;
    for (int i = 0; i < TEC_BW_CANDIDATES; i++) {
        set_weighting(enc, tec_bw_alpha_milli[i]);
        int ret = tec_workers_run(&enc->workers, parallel, tasks, trial_task, &job);
        if (ret < 0)
            return fail(enc, ret, "%s while choosing the band weighting",
                        ret == TEC_ENOMEM ? "out of memory" : tec_strerror(ret));
        double total = 0;
        for (int t = 0; t < tasks; t++)   /* in task order: the same sum on every run */
            total += job.cost[t];
        if (i && total >= best)
            break;
        best = total;
        chosen = tec_bw_alpha_milli[i];
    }
    enc->alpha_milli = chosen;
    return 0;
}

/* Whether the next frame starts a group of pictures (plan_frame may still
 * make an inter frame a keyframe when its references are gone). */
static int starts_group(const TecEncoder *enc)
{
    return !enc->inter_on || enc->frame_index == 0 ||
           enc->since_key + 1 >= enc->keyframe_interval;
}

/* Whether the frame is a keyframe or an inter frame, and if so which
 * frames it references and what it knows of their times (the position is
 * the frame's own, already chosen). */
static int plan_frame(TecEncoder *enc, const TecPicture *pic)
{
    TecRefStore *rs = &enc->refs;
    int idx = starts_group(enc) ? 0 : enc->gop_index + 1;
    int slots[TEC_TT_MAX_REFS], n = 0;
    for (int j = 0; idx && j < imin(enc->context, idx); j++) {
        const int slot = tec_refs_find(rs, enc->gop, idx - 1 - j);
        if (slot < 0)
            break;
        slots[n++] = slot;
    }
    if (!n) {
        idx = 0;
        enc->gop++;
        tec_refs_reset(rs);
    }
    enc->gop_index = idx;
    enc->n_refs = n;
    const int64_t day = pic->has_time ? tec_tt_day(pic->time_ms) : TEC_REF_NO_DAY;
    enc->inter.gop_index = idx;
    enc->inter.n_refs = n;
    enc->inter.flags = TEC_INTER_LEANS;
    enc->inter.doy = day == TEC_REF_NO_DAY ? TEC_INTER_UNKNOWN : tec_tt_day_of_year(day);
    for (int j = 0; j < n; j++) {
        const TecRefFrame *f = &rs->frame[slots[j]];
        int64_t gap = day - f->day;
        gap = gap < 0 ? -gap : gap;
        enc->inter.gap[j] = day == TEC_REF_NO_DAY || f->day == TEC_REF_NO_DAY
                                ? TEC_INTER_UNKNOWN : (int)(gap < 65534 ? gap : 65534);
        enc->inter.crc[j] = f->crc;
        tec_tt_factors(enc->tt, enc->position, f->position, &enc->factors[j]);
        tec_tt_time_features(enc->inter.gap[j], enc->inter.doy, enc->position, f->position, j,
                             enc->tau[j]);
    }
    return tec_refs_begin(rs, enc->gop, idx, enc->position, day, slots, n);
}

/* The residual layer: each stripe synthesised as the decoder will, its
 * residual against the source coded with max_error, and (with a
 * reconstruction asked for) the decoder's final samples kept.  With hist
 * set (65536 counts), it only counts the absolute errors of the samples
 * that are not nodata. */
static int code_error_bound(TecEncoder *enc, const TecPicture *pic, int max_error,
                            uint64_t *hist)
{
    const TecGeometry *g = &enc->geom;
    const int W = g->width, bands = enc->hdr.info.bands;
    const ptrdiff_t stripe_stride = (ptrdiff_t)g->stripe_rows * W;

    if (hist)
        memset(hist, 0, 65536 * sizeof(*hist));
    else
        tec_eb_begin(&enc->eb, max_error);
    if (enc->has_nodata && enc->want_recon && !hist)
        tec_mask_rewind(&enc->mask);
    for (int row = 0; row < g->block_rows; row++) {
        const int y0 = row * g->stripe_rows, rows = imin(g->stripe_rows, g->height - y0);
        const TecSampleTarget target = { enc->eb_recon, W, stripe_stride, y0 };
        int ret = tec_fc_synthesize_stripe(enc->model, &enc->workers, g, &enc->hdr, enc->grids,
                                           &enc->norm, row, &target);
        if (ret < 0)
            return fail(enc, ret, "reconstruction failed (%s)", tec_strerror(ret));
        for (int b = 0; b < bands; b++) {
            uint16_t *band = enc->eb_recon + b * stripe_stride;
            tec_repl_apply(&enc->repl, b, band, W, y0, rows);
            tec_interp_apply(&enc->interp, b, band, W, y0, rows);
        }
        const uint16_t *src = pic->data + (ptrdiff_t)y0 * pic->stride;
        ptrdiff_t src_stride = pic->stride, src_band_stride = pic->band_stride;
        if (enc->source) {
            ret = enc->source(enc->source_opaque, enc->frame_index, y0, rows, enc->eb_src, W,
                              stripe_stride);
            if (ret < 0)
                return fail(enc, ret < TEC_EUNSUPPORTED ? TEC_EIO : ret,
                            "row source failed on rows %d..%d (%d)", y0, y0 + rows - 1, ret);
            src = enc->eb_src;
            src_stride = W;
            src_band_stride = stripe_stride;
        }
        if (hist) {
            for (int b = 0; b < bands; b++)
                for (int y = 0; y < rows; y++) {
                    const uint16_t *s = src + b * src_band_stride + y * src_stride;
                    const uint16_t *r = enc->eb_recon + b * stripe_stride + (ptrdiff_t)y * W;
                    for (int x = 0; x < W; x++)
                        if (!enc->has_nodata || s[x] != enc->nodata)
                            hist[s[x] > r[x] ? s[x] - r[x] : r[x] - s[x]]++;
                }
            continue;
        }
        if ((ret = tec_eb_encode_stripe(&enc->eb, &enc->repl, row, src, src_stride,
                                        src_band_stride, enc->eb_recon, W, stripe_stride)) < 0)
            return fail(enc, ret, "out of memory for the residual layer");
        if (!enc->want_recon)
            continue;
        const ptrdiff_t frame_stride = (ptrdiff_t)W * g->height;
        for (int b = 0; b < bands; b++)
            memcpy(enc->recon + b * frame_stride + (ptrdiff_t)y0 * W,
                   enc->eb_recon + b * stripe_stride, (size_t)rows * W * sizeof(uint16_t));
        if (enc->has_nodata)
            tec_mask_apply(&enc->mask, enc->recon + (ptrdiff_t)y0 * W, W, frame_stride, y0,
                           rows);
    }
    return 0;
}

/* Mean squared error of errors |d| (hist) after the residual layer's
 * quantiser with max error e (step 2e + 1), for a prediction of 0; e < 0:
 * without the layer. */
static double quantised_mse(const uint64_t *hist, int e)
{
    const int step = 2 * e + 1;
    double sum = 0, n = 0;
    for (int d = 0; d < 65536; d++) {
        if (!hist[d])
            continue;
        const int q = e < 0 ? 0 : (d + e) / step * step;
        sum += (double)hist[d] * (double)(d - q) * (d - q);
        n += (double)hist[d];
    }
    return n > 0 ? sum / n : 0;
}

/* No ceiling: a frame whose spread asks for more than the top anchor (a
 * bright desert, snow, haze at a high quality) would keep the top anchor's
 * error, which grows with the spread.  Its mean squared error at the top
 * anchor, scaled down by the lambda ratio for each anchor it wanted above
 * the top, is what the quality promises (one trade-off in reflectance
 * units): the frame gets a residual layer with the largest max error whose
 * quantiser brings its errors' mean square to that (every sum in a fixed
 * order: the choice is in the stream). */
static int ceiling_bound(TecEncoder *enc, const TecPicture *pic, double past_top)
{
    uint64_t *hist = malloc(65536 * sizeof(*hist));
    if (!hist)
        return fail(enc, TEC_ENOMEM, "out of memory for the residual layer");
    int ret = code_error_bound(enc, pic, 0, hist);
    if (ret < 0) {
        free(hist);
        return ret;
    }
    const double mse = quantised_mse(hist, -1);
    const double target = mse * tec_repro_exp(-past_top / 256.0 *
                                              tec_repro_log(enc->model->lambda_ratio_milli / 1000.0));
    int e = TEC_MAX_ERROR;
    while (e > 0 && quantised_mse(hist, e) > target)
        e--;
    free(hist);
    if (mse > 0)
        enc->frame_bound = e;
    return 0;
}

/* The frame's cloud mask into its packet, and with skip_clouds the latents
 * it leaves to the decoder: those whose pixels and neighbours' pixels are
 * all cloud, so that no clear pixel is synthesised from a skipped latent. */
static int plan_clouds(TecEncoder *enc)
{
    const TecGeometry *g = &enc->geom;
    enc->skipping = 0;
    enc->clouded = 0;
    if (!enc->cloud_set) {
        tec_mask_clear(&enc->cloud);
        return 0;
    }
    enc->cloud_set = 0;
    if (tec_mask_from_pixels(&enc->cloud, enc->cloud_px, g->width) < 0)
        return fail(enc, TEC_ENOMEM, "out of memory for the cloud mask");
    if (!enc->skip_clouds || !enc->cloud.present[0])
        return 0;
    enc->clouded = 1;
    const size_t lat = (size_t)g->lat_h * g->lat_w;
    if (!enc->skip && !(enc->skip = malloc(2 * lat)))
        return fail(enc, TEC_ENOMEM, "out of memory for the cloud mask");
    uint8_t *all = enc->skip + lat;
    const int D = g->downscale;
    for (int ly = 0; ly < g->lat_h; ly++)
        for (int lx = 0; lx < g->lat_w; lx++) {
            int cloudy = 1;
            for (int y = ly * D; cloudy && y < imin(g->height, (ly + 1) * D); y++)
                for (int x = lx * D; x < imin(g->width, (lx + 1) * D); x++)
                    cloudy &= enc->cloud_px[(size_t)y * g->width + x];
            all[(size_t)ly * g->lat_w + lx] = (uint8_t)cloudy;
        }
    for (int ly = 0; ly < g->lat_h; ly++)
        for (int lx = 0; lx < g->lat_w; lx++) {
            int inner = 1;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    const int y = ly + dy, x = lx + dx;
                    if (y >= 0 && y < g->lat_h && x >= 0 && x < g->lat_w)
                        inner &= all[(size_t)y * g->lat_w + x];
                }
            enc->skip[(size_t)ly * g->lat_w + lx] = (uint8_t)inner;
        }
    enc->skipping = 1;
    return 0;
}

int tec_encoder_set_cloud_mask(TecEncoder *enc, const uint8_t *mask, ptrdiff_t stride)
{
    if (!enc)
        return TEC_EINVAL;
    const TecGeometry *g = &enc->geom;
    if (!mask) {
        enc->cloud_set = 0;
        return 0;
    }
    if (stride < g->width)
        return fail(enc, TEC_EINVAL, "cloud mask stride %td is below the width %d", stride,
                    g->width);
    if (!enc->cloud_px && !(enc->cloud_px = malloc((size_t)g->width * g->height)))
        return fail(enc, TEC_ENOMEM, "out of memory for the cloud mask");
    tec_mask_copy_pixels(enc->cloud_px, mask, stride, g->width, g->height);
    enc->cloud_set = 1;
    return 0;
}

static int encode_frame(TecEncoder *enc, const TecPicture *pic)
{
    PixelView view = { pic->data, pic->stride, pic->band_stride, 0 };
    const TecGeometry *g = &enc->geom;
    const int parallel = tec_workers_parallel(&enc->workers, analysis_bytes(enc->model));
    double past_top = 0;  /* 1/256 anchors the frame wanted above the top one */
    int status;
    if ((status = plan_clouds(enc)) < 0)
        return status;
    if (enc->model->frame_norm && (status = frame_statistics(enc, pic)) < 0)
        return status;
    if (enc->weigh_bands) {
        memcpy(enc->plain_spread, enc->stat_spread, sizeof(enc->plain_spread));
        if (starts_group(enc) && (status = choose_weighting(enc, pic)) < 0)
            return status;
        past_top = set_weighting(enc, enc->alpha_milli);
    } else {
        past_top = apply_spreads(enc);
    }
    enc->frame_bound = enc->error_bound - 1;
    /* A frame past the top anchor keeps its decoded latents for the layer
     * that makes up the difference (ceiling_bound). */
    if (enc->frame_bound < 0 && past_top > 0 && (status = alloc_residual_state(enc)) < 0)
        return fail(enc, status, "out of memory for the residual layer");
    enc->keep_latents = enc->want_recon || enc->frame_bound >= 0 || past_top > 0;
    if (tt_active(enc) && (status = plan_frame(enc, pic)) < 0)
        return fail(enc, status, "out of memory for the reference frames");
    tec_repl_scan_begin(&enc->repl);
    tec_interp_scan_begin(&enc->interp);
    if (!enc->source)
        tec_repl_scan_rows(&enc->repl, pic->data, pic->stride, pic->band_stride, 0, g->height);
    if (enc->has_nodata) {
        tec_mask_scan_begin(&enc->mask, enc->nodata);
        if (!enc->source && tec_mask_scan_rows(&enc->mask, pic->data, pic->stride,
                                               pic->band_stride, 0, g->height) < 0)
            return fail(enc, TEC_ENOMEM, "out of memory for the nodata mask");
    }

    for (int row = 0; row < g->block_rows; row++) {
        int ret;
        if (enc->source && (ret = read_rows(enc, row, &view)) < 0)
            return ret;
        const int y0 = row * g->stripe_rows;
        tec_interp_scan_stripe(&enc->interp, view.data + (ptrdiff_t)(y0 - view.y0) * view.stride,
                               view.stride, view.band_stride, y0, imin(g->stripe_rows, g->height - y0));
        RowJob job = { enc, &view, row };
        if (tt_active(enc) && enc->n_refs && (ret = tec_refs_load_rows(&enc->refs, row)) < 0)
            return fail(enc, ret, "reference frames unreadable at block row %d", row);
        ret = tec_workers_run(&enc->workers, parallel, enc->hdr.n_groups * g->block_cols,
                              block_task, &job);
        if (ret >= 0 && tt_active(enc))
            ret = tec_refs_store_row(&enc->refs, row);
        if (ret < 0)
            return fail(enc, ret, "%s while coding block row %d",
                        ret == TEC_ENOMEM ? "out of memory" : tec_strerror(ret), row);
    }
    if (tt_active(enc)) {
        const int slot = enc->ref_slot = enc->refs.current;
        tec_refs_end(&enc->refs, 1, 0);   /* the CRC follows with the packet */
        /* Every block chose intra (a scene that changed, a cloud that
         * cleared): the frame is a keyframe and starts a new group. */
        const size_t n_chunks = (size_t)enc->hdr.n_groups * g->n_blocks;
        int any = 0;
        for (size_t i = 0; enc->n_refs && i < n_chunks; i++)
            any |= enc->chunk_inter[i];
        if (enc->n_refs && !any) {
            enc->n_refs = 0;
            enc->gop_index = 0;
            enc->gop++;
            tec_refs_keep_only(&enc->refs, slot, enc->gop, 0);
        }
    }
    tec_repl_scan_end(&enc->repl);
    tec_interp_scan_end(&enc->interp);
    if (enc->has_nodata && (status = tec_mask_scan_end(&enc->mask)) < 0)
        return fail(enc, status, status == TEC_ENOMEM ? "out of memory for the nodata mask"
                                                      : "nodata mask: rows of the frame not seen");
    /* A band can't be both.  A flat replicated band (cirrus, nodata) also
     * fits the interpolation: keep its blocks, which are exact.  An
     * interpolated band may hold a few equal rows (a nodata edge, a
     * mirrored border): project it, which covers those too. */
    for (int b = 0; b < enc->hdr.info.bands; b++) {
        if (!enc->interp.params[4 * b] || !enc->repl.active[b])
            continue;
        if (4 * tec_repl_continuing(&enc->repl, b) >= g->width + g->height)
            memset(enc->interp.params + 4 * b, 0, 4);
        else
            enc->repl.active[b] = 0;
    }
    if (enc->frame_bound < 0 && past_top > 0 && (status = ceiling_bound(enc, pic, past_top)) < 0)
        return status;
    if (enc->frame_bound >= 0 &&
        (status = code_error_bound(enc, pic, enc->frame_bound, NULL)) < 0)
        return status;
    int ret = assemble_packet(enc);
    if (ret >= 0 && tt_active(enc))
        enc->refs.frame[enc->ref_slot].crc = tec_crc32(0, enc->pending.data, enc->pending.size);
    return ret;
}

/* Squared error of a reconstruction in (reflectance / 10^4)^2, the unit of
 * the refinement's lambda; exact integer sums, the same on every machine. */
static double recon_error(const TecEncoder *enc, const TecPicture *pic, const uint16_t *rec)
{
    const TecGeometry *g = &enc->geom;
    double total = 0;
    for (int b = 0; b < enc->hdr.info.bands; b++) {
        uint64_t sum = 0;
        for (int y = 0; y < g->height; y++) {
            const uint16_t *s = pic->data + b * pic->band_stride + y * pic->stride;
            const uint16_t *r = rec + ((size_t)b * g->height + y) * g->width;
            for (int x = 0; x < g->width; x++) {
                const int64_t d = (int64_t)s[x] - r[x];
                sum += (uint64_t)(d * d);
            }
        }
        total += (double)sum;
    }
    return total * 1e-8;
}

static int reconstruct(TecEncoder *enc);

/* The decoder's samples of the frame just coded, its prediction added if
 * it is a predicted frame. */
static int predicted_reconstruction(TecEncoder *enc)
{
    const TecGeometry *g = &enc->geom;
    int ret = reconstruct(enc);
    if (ret < 0 || !enc->predicting)
        return ret;
    const size_t plane = (size_t)g->width * g->height;
    for (int b = 0; b < enc->hdr.info.bands; b++)
        tec_pred_add(&enc->pred, b, g->width, g->height, enc->recon + b * plane, g->width,
                     enc->prev + b * plane, g->width);
    return 0;
}

static void swap_recon(TecEncoder *enc)
{
    uint16_t *t = enc->recon;
    enc->recon = enc->other_recon;
    enc->other_recon = t;
}

/* An inter frame coded with the temporal model, then as the residual of
 * its prediction from the last frame; the one of lower bits + lambda x
 * squared error (lambda as --quality names it, as for band weighting) is
 * kept. */
static int encode_choosing(TecEncoder *enc, const TecPicture *pic)
{
    const TecGeometry *g = &enc->geom;
    const uint64_t gop = enc->gop;
    const int gop_index = enc->gop_index;
    const int cloud_set = enc->cloud_set;  /* the mask goes into both codings */
    int ret = encode_frame(enc, pic);
    if (ret < 0 || (ret = predicted_reconstruction(enc)) < 0)
        return ret;
    const double lambda = tec_refine_lambda(enc->model, enc->base_position,
                                            enc->model->quality_spread);
    const size_t tt_size = enc->pending.size;
    const double tt_cost = 8.0 * tt_size + lambda * recon_error(enc, pic, enc->recon);
    if (tt_size > enc->other_cap) {
        uint8_t *p = realloc(enc->other_packet, tt_size);
        if (!p)
            return fail(enc, TEC_ENOMEM, "out of memory for a %zu-byte packet", tt_size);
        enc->other_packet = p;
        enc->other_cap = tt_size;
    }
    memcpy(enc->other_packet, enc->pending.data, tt_size);
    swap_recon(enc);
    /* The residual's packet goes to the same buffer: the one before stays
     * the caller's until the next send. */
    const int tt_buffer = enc->packet_cur;
    enc->packet_cur ^= 1;

    const ptrdiff_t plane = (ptrdiff_t)g->width * g->height;
    tec_pred_fit(&enc->pred, enc->hdr.info.bands, g->width, g->height, enc->prev, g->width,
                 plane, pic->data, pic->stride, pic->band_stride);
    enc->pred.crc = enc->prev_crc;
    tec_pred_residual(&enc->pred, enc->hdr.info.bands, g->width, g->height, enc->prev,
                      g->width, plane, pic->data, pic->stride, pic->band_stride,
                      enc->residual_pic);
    TecPicture residual = *pic;
    residual.data = enc->residual_pic;
    residual.stride = g->width;
    residual.band_stride = plane;
    enc->predicting = 1;
    enc->cloud_set = cloud_set;
    ret = encode_frame(enc, &residual);
    if (ret >= 0)
        ret = predicted_reconstruction(enc);
    enc->predicting = 0;
    if (ret < 0)
        return ret;
    const double pred_cost = 8.0 * enc->pending.size + lambda * recon_error(enc, pic, enc->recon);
    if (pred_cost < tt_cost) {
        /* The temporal model's references go on as if the frame had not
         * been: the next inter frame refers to the ones before it. */
        tec_refs_forget(&enc->refs, enc->ref_slot);
        enc->gop = gop;
        enc->gop_index = gop_index;
        enc->n_refs = 0;
        enc->predicted = 1;
        return 0;
    }
    swap_recon(enc);
    enc->packet_cur = tt_buffer;
    memcpy(enc->packet_buf[tt_buffer], enc->other_packet, tt_size);
    enc->pending.data = enc->packet_buf[tt_buffer];
    enc->pending.size = tt_size;
    return 0;
}

int tec_encoder_send_frame(TecEncoder *enc, const TecPicture *pic)
{
    if (!enc)
        return TEC_EINVAL;
    if (enc->flushed)
        return fail(enc, TEC_EINVAL, "frame sent after the flush");
    if (!pic) {
        enc->flushed = 1;
        return 0;
    }
    if (enc->has_pending)
        return fail(enc, TEC_EAGAIN, "receive the pending packet first");
    const TecStreamInfo *info = &enc->hdr.info;
    if (pic->bands != info->bands || pic->width != info->width || pic->height != info->height)
        return fail(enc, TEC_EINVAL, "picture is %dx%dx%d, the stream %dx%dx%d", pic->width,
                    pic->height, pic->bands, info->width, info->height, info->bands);
    if (!enc->source && (!pic->data || pic->stride < pic->width || pic->band_stride < 0))
        return fail(enc, TEC_EINVAL, "picture without data or with bad strides");

    enc->pending.time_ms = pic->time_ms;
    enc->pending.has_time = pic->has_time;
    enc->pending.user_data = pic->user_data;
    enc->predicted = 0;
    int ret = 0;
    /* Predicted frames need the frame whole (it is small: at most
     * TEC_MAX_PREDICTED_SAMPLES); the row source is read once. */
    TecPicture whole;
    const TecRowSource source = enc->source;
    if (enc->predict_on && source) {
        const TecGeometry *g = &enc->geom;
        const ptrdiff_t plane = (ptrdiff_t)g->width * g->height;
        ret = source(enc->source_opaque, enc->frame_index, 0, g->height, enc->whole, g->width,
                     plane);
        if (ret < 0)
            return fail(enc, ret < TEC_EUNSUPPORTED ? TEC_EIO : ret,
                        "row source failed on rows 0..%d (%d)", g->height - 1, ret);
        whole = *pic;
        whole.data = enc->whole;
        whole.stride = g->width;
        whole.band_stride = plane;
        pic = &whole;
        enc->source = NULL;
    }
    if (enc->predict_on && enc->has_prev && !starts_group(enc))
        ret = encode_choosing(enc, pic);
    else if ((ret = encode_frame(enc, pic)) >= 0 && enc->predict_on)
        ret = predicted_reconstruction(enc);
    enc->source = source;
    if (ret < 0) {
        /* The next frame starts a new group: this one left no reference. */
        if (enc->inter_on) {
            tec_refs_end(&enc->refs, 0, 0);
            tec_refs_reset(&enc->refs);
            enc->gop_index = enc->since_key = enc->keyframe_interval;
        }
        enc->predicting = 0;
        enc->has_prev = 0;
        return ret;
    }
    if (enc->predict_on) {
        memcpy(enc->prev, enc->recon, (size_t)enc->hdr.info.bands * enc->geom.width *
               enc->geom.height * sizeof(uint16_t));
        enc->has_prev = 1;
        enc->prev_crc = tec_crc32(0, enc->pending.data, enc->pending.size);
        enc->recon_pic.data = enc->recon;
    }
    enc->pending.keyframe = !enc->predicted && !(enc->inter_on && enc->n_refs);
    enc->since_key = enc->pending.keyframe ? 0 : enc->since_key + 1;
    enc->pending.frame_index = enc->frame_index++;
    enc->has_pending = 1;
    return 0;
}

/* The decoder-side picture of the pending frame, through the decoder's own
 * synthesis. */
static int reconstruct(TecEncoder *enc)
{
    const TecGeometry *g = &enc->geom;
    const TecSampleTarget target = { enc->recon, g->width, (ptrdiff_t)g->width * g->height, 0 };
    if (enc->has_nodata && enc->frame_bound < 0)
        tec_mask_rewind(&enc->mask);
    /* With the residual layer the samples were made with it. */
    for (int row = 0; row < g->block_rows && enc->frame_bound < 0; row++) {
        int ret = tec_fc_synthesize_stripe(enc->model, &enc->workers, g, &enc->hdr, enc->grids,
                                           &enc->norm, row, &target);
        if (ret < 0)
            return fail(enc, ret, "reconstruction failed (%s)", tec_strerror(ret));
        const int y0 = row * g->stripe_rows;
        const int rows = imin(g->stripe_rows, g->height - y0);
        for (int b = 0; b < enc->hdr.info.bands; b++) {
            uint16_t *band = enc->recon + b * target.band_stride + (ptrdiff_t)y0 * g->width;
            tec_repl_apply(&enc->repl, b, band, g->width, y0, rows);
            tec_interp_apply(&enc->interp, b, band, g->width, y0, rows);
        }
        if (enc->has_nodata)
            tec_mask_apply(&enc->mask, enc->recon + (ptrdiff_t)y0 * g->width, g->width,
                           target.band_stride, y0, rows);
    }
    enc->recon_pic.data = enc->recon;
    enc->recon_pic.stride = g->width;
    enc->recon_pic.band_stride = (ptrdiff_t)g->width * g->height;
    enc->recon_pic.bands = enc->hdr.info.bands;
    enc->recon_pic.width = g->width;
    enc->recon_pic.height = g->height;
    enc->recon_pic.time_ms = enc->pending.time_ms;
    enc->recon_pic.has_time = enc->pending.has_time;
    enc->recon_pic.user_data = enc->pending.user_data;
    return 0;
}

int tec_encoder_receive_packet(TecEncoder *enc, TecPacket *pkt)
{
    if (!enc || !pkt)
        return TEC_EINVAL;
    enc->has_recon = 0;
    if (!enc->has_pending)
        return enc->flushed ? TEC_EOF : TEC_EAGAIN;
    if (enc->want_recon) {
        /* With predicted frames it was made when the frame was coded. */
        int ret = enc->predict_on ? 0 : reconstruct(enc);
        if (ret < 0)
            return ret;
        enc->has_recon = 1;
    }
    *pkt = enc->pending;
    enc->has_pending = 0;
    return 0;
}

int tec_encoder_get_reconstruction(TecEncoder *enc, TecPicture *pic)
{
    if (!enc || !pic)
        return TEC_EINVAL;
    if (!enc->recon_asked)
        return fail(enc, TEC_EINVAL, "the encoder was opened without want_reconstruction");
    if (!enc->has_recon)
        return fail(enc, TEC_EAGAIN, "no packet received yet");
    *pic = enc->recon_pic;
    return 0;
}
