/*
 * TerraCodec encoder through libtec (doc/ffmpeg.md).
 *
 * Input: GRAY16 frames holding the C bands of one acquisition stacked
 * vertically (frame height = C x band height).  No FFmpeg pixel format has
 * more than four components, so this is how bands travel through FFmpeg.
 *
 * The stacked-bands rule: a frame is encoded only when its layout is known
 * to be stacked bands, that is when
 *   - its metadata carries the tag tec_layout=stacked_bands with a band
 *     count and band size that match the frame (the .tecv demuxer tags raw
 *     frames, the libtec decoder with output=bands tags its frames), or
 *   - the user declared the layout with -bands C (e.g. -f rawvideo input).
 * A tag that contradicts -bands or the frame size is an error too.  So a
 * picture converted from RGB to gray (untagged) is never encoded as data.
 *
 * Without -bands, the band layout is learnt from the first frame's tag; the
 * sequence header (extradata) is then known only when that frame arrives
 * and is handed to the muxer as AV_PKT_DATA_NEW_EXTRADATA on the first
 * packet (the .tecv muxer waits for it; for other containers pass -bands).
 *
 * Acquisition times: from the frame metadata tec_time_ms/tec_flags (as the
 * .tecv demuxer sets them), else from pts when the time base is 1/1000
 * (the demuxer's -timeline native), else unknown.
 *
 * This file is part of TerraCodec's FFmpeg glue; it is LGPL-2.1-or-later
 * like the FFmpeg files it is built with.
 */

#include <tec/tec.h>

#include "libavutil/avstring.h"
#include "libavutil/common.h"
#include "libavutil/dict.h"
#include "libavutil/fifo.h"
#include "libavutil/frame.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"
#include "libavutil/pixdesc.h"

#include "avcodec.h"
#include "codec_internal.h"
#include "encode.h"
#include "internal.h"
#include "tec_common.h"
#include "tec_compat.h"

typedef struct TecEncContext {
    const AVClass *class;
    int bands_opt;
    char *band_names_opt;
    int quality;
    int fixed_quality;
    char *model;
    char *weights_dir;
    int keyint;
    int context;
    int nodata;             /* -1: none */
    int max_error;          /* -1: none; else every sample within it (0 = lossless) */
    int effort;             /* encoder-side latent refinement, 0: none */
    int plain_spreads;      /* 1: no band weighting */
    int no_prediction;      /* 1: no predicted frames */

    TecEncoder *enc;
    int bands, band_height;
    char names[TEC_MAX_BANDS][TEC_MAX_BAND_NAME];
    int n_names;
    int header_pending;     /* the first packet carries the sequence header */
    int eof_sent;
    int64_t frames_in;
    AVFrame *frame;
    AVFifo *queue;          /* AVFrame *: frames libtec holds, in order */
} TecEncContext;

static int tec_error_to_av(int err)
{
    switch (err) {
    case TEC_ENOMEM:       return AVERROR(ENOMEM);
    case TEC_EINVAL:       return AVERROR(EINVAL);
    case TEC_EUNSUPPORTED: return AVERROR_PATCHWELCOME;
    case TEC_EIO:          return AVERROR(EIO);
    case TEC_EMODEL:       return AVERROR_EXTERNAL;
    default:               return AVERROR_EXTERNAL;
    }
}

/* "B02,B03,..." into s->names; 0 or an error. */
static int parse_names(AVCodecContext *avctx, const char *list)
{
    TecEncContext *s = avctx->priv_data;
    const char *p = list;

    s->n_names = 0;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (s->n_names == TEC_MAX_BANDS || !n || n >= TEC_MAX_BAND_NAME) {
            av_log(avctx, AV_LOG_ERROR, "invalid band name list '%s': at most %d names of "
                   "1..%d characters\n", list, TEC_MAX_BANDS, TEC_MAX_BAND_NAME - 1);
            return AVERROR(EINVAL);
        }
        memcpy(s->names[s->n_names], p, n);
        s->names[s->n_names][n] = '\0';
        s->n_names++;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int open_encoder(AVCodecContext *avctx, int bands)
{
    TecEncContext *s = avctx->priv_data;
    TecEncoderSettings set;
    const uint8_t *hdr;
    size_t hdr_size;
    int ret;

    if (avctx->height % bands) {
        av_log(avctx, AV_LOG_ERROR, "frame height %d is not a multiple of %d bands\n",
               avctx->height, bands);
        return AVERROR(EINVAL);
    }
    if (s->n_names && s->n_names != bands) {
        av_log(avctx, AV_LOG_ERROR, "%d band names for %d bands\n", s->n_names, bands);
        return AVERROR(EINVAL);
    }
    s->bands = bands;
    s->band_height = avctx->height / bands;

    tec_encoder_default_settings(&set);
    set.bands  = bands;
    set.width  = avctx->width;
    set.height = s->band_height;
    for (int i = 0; i < s->n_names; i++)
        set.band_names[i] = s->names[i];
    set.quality = s->quality;
    set.fixed_quality = s->fixed_quality;
    set.model = s->model;
    set.weights_dir = s->weights_dir;
    set.threads = avctx->thread_count;
    set.keyframe_interval = s->keyint > 0 ? s->keyint : FFMAX(avctx->gop_size, 0);
    set.context_frames = s->context;
    set.error_bound = s->max_error + 1;
    set.effort = s->effort;
    set.plain_spreads = s->plain_spreads;
    set.no_prediction = s->no_prediction;
    if (s->nodata >= 0) {
        set.has_nodata = 1;
        set.nodata_value = (uint16_t)s->nodata;
    }

    ret = tec_encoder_open(&s->enc, &set);
    if (ret < 0) {
        av_log(avctx, AV_LOG_ERROR, "cannot open the encoder for %d bands of %dx%d: %s\n",
               bands, avctx->width, s->band_height,
               s->enc ? tec_encoder_error(s->enc) : tec_strerror(ret));
        tec_encoder_close(&s->enc);
        return tec_error_to_av(ret);
    }
    ret = tec_encoder_get_header(s->enc, &hdr, &hdr_size);
    if (ret < 0 || !hdr_size || hdr_size > INT_MAX - AV_INPUT_BUFFER_PADDING_SIZE) {
        av_log(avctx, AV_LOG_ERROR, "libtec gave no sequence header\n");
        return AVERROR_EXTERNAL;
    }
    av_freep(&avctx->extradata);
    avctx->extradata = av_mallocz(hdr_size + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!avctx->extradata)
        return AVERROR(ENOMEM);
    memcpy(avctx->extradata, hdr, hdr_size);
    avctx->extradata_size = (int)hdr_size;
    {
        const TecStreamInfo *info = tec_encoder_info(s->enc);
        av_log(avctx, AV_LOG_VERBOSE, "%d bands of %dx%d, model %s, keyframe interval %d\n",
               bands, avctx->width, s->band_height, info ? info->model : "?",
               info ? info->keyframe_interval : 0);
    }
    return 0;
}

static av_cold int libtec_encode_init(AVCodecContext *avctx)
{
    TecEncContext *s = avctx->priv_data;
    int ret;

    if (s->band_names_opt && (ret = parse_names(avctx, s->band_names_opt)) < 0)
        return ret;
    s->frame = av_frame_alloc();
    s->queue = av_fifo_alloc2(4, sizeof(AVFrame *), AV_FIFO_FLAG_AUTO_GROW);
    if (!s->frame || !s->queue)
        return AVERROR(ENOMEM);
    if (s->bands_opt > 0)
        return open_encoder(avctx, s->bands_opt);
    /* Opened on the first frame, from its stacked-bands tag. */
    s->header_pending = 1;
    return 0;
}

static int64_t meta_int(const AVFrame *f, const char *key, int64_t min, int64_t max,
                        int *found)
{
    const AVDictionaryEntry *e = av_dict_get(f->metadata, key, NULL, 0);
    int64_t v = 0;
    *found = e && !tec_parse_int(e->value, min, max, &v);
    return v;
}

/* The stacked-bands rule (see the top of this file). */
static int check_frame(AVCodecContext *avctx, const AVFrame *f)
{
    TecEncContext *s = avctx->priv_data;
    const AVDictionaryEntry *layout = av_dict_get(f->metadata, TEC_KEY_LAYOUT, NULL, 0);
    int64_t tb, tw, th;
    int fb, fw, fh;

    if (f->format != AV_PIX_FMT_GRAY16) {
        av_log(avctx, AV_LOG_ERROR, "frame %"PRId64" is %s: libtec takes native-endian "
               "gray16 stacked bands\n", s->frames_in, av_get_pix_fmt_name(f->format));
        return AVERROR(EINVAL);
    }
    if (f->width != avctx->width || f->height != avctx->height) {
        av_log(avctx, AV_LOG_ERROR, "frame %"PRId64" is %dx%d, the stream %dx%d: the frame "
               "size cannot change within a stream\n", s->frames_in, f->width, f->height,
               avctx->width, avctx->height);
        return AVERROR(EINVAL);
    }
    if (!layout) {
        if (s->bands_opt > 0)
            return 0;   /* declared by the user */
        av_log(avctx, AV_LOG_ERROR, "frame %"PRId64" is not tagged as stacked bands "
               "(tec_layout=%s): refusing to encode what may be a converted picture. "
               "Frames from a raw .tecv or from the libtec decoder with -output bands are "
               "tagged; for -f rawvideo input give the band count with -bands C\n",
               s->frames_in, TEC_LAYOUT_STACKED);
        return AVERROR(EINVAL);
    }
    tb = meta_int(f, TEC_KEY_BANDS, 1, TEC_MAX_BANDS, &fb);
    tw = meta_int(f, TEC_KEY_BAND_WIDTH, 1, TEC_MAX_DIM, &fw);
    th = meta_int(f, TEC_KEY_BAND_HEIGHT, 1, TEC_MAX_DIM, &fh);
    if (strcmp(layout->value, TEC_LAYOUT_STACKED) || !fb || !fw || !fh ||
        tw != f->width || tb * th != f->height) {
        av_log(avctx, AV_LOG_ERROR, "frame %"PRId64" (%dx%d) does not match its layout tag "
               "(%s, %"PRId64" bands of %"PRId64"x%"PRId64"): was it scaled or filtered?\n",
               s->frames_in, f->width, f->height, layout->value, tb, tw, th);
        return AVERROR(EINVAL);
    }
    if ((s->bands_opt > 0 && tb != s->bands_opt) || (s->enc && tb != s->bands)) {
        av_log(avctx, AV_LOG_ERROR, "frame %"PRId64" holds %"PRId64" bands, the stream %d\n",
               s->frames_in, tb, s->bands_opt > 0 ? s->bands_opt : s->bands);
        return AVERROR(EINVAL);
    }
    return 0;
}

/* Open libtec from the first frame's tag (no -bands given). */
static int open_from_frame(AVCodecContext *avctx, const AVFrame *f)
{
    TecEncContext *s = avctx->priv_data;
    const AVDictionaryEntry *names = av_dict_get(f->metadata, TEC_KEY_BAND_NAMES, NULL, 0);
    int found, ret;
    int64_t bands = meta_int(f, TEC_KEY_BANDS, 1, TEC_MAX_BANDS, &found);

    if (!s->band_names_opt && names && (ret = parse_names(avctx, names->value)) < 0)
        return ret;
    if (s->n_names && s->n_names != bands) {
        av_log(avctx, AV_LOG_WARNING, "ignoring %d band names for %"PRId64" bands\n",
               s->n_names, bands);
        s->n_names = 0;
    }
    return open_encoder(avctx, (int)bands);
}

static void frame_time(AVCodecContext *avctx, const AVFrame *f, int64_t *t, int *has_time)
{
    int found_t, found_f;
    int64_t ms = meta_int(f, TEC_KEY_TIME_MS, INT64_MIN, INT64_MAX, &found_t);
    int64_t flags = meta_int(f, TEC_KEY_FLAGS, 0, 255, &found_f);

    if (found_t && found_f) {
        *t = ms;
        *has_time = !!(flags & TEC_PKT_FLAG_TIME);
    } else if (f->pts != AV_NOPTS_VALUE && avctx->time_base.num == 1 &&
               avctx->time_base.den == 1000) {
        *t = f->pts;
        *has_time = 1;
    } else {
        *t = 0;
        *has_time = 0;
    }
}

static int send_frame(AVCodecContext *avctx, AVFrame *f)
{
    TecEncContext *s = avctx->priv_data;
    TecPicture pic = { 0 };
    AVFrame *held;
    int ret;

    ret = check_frame(avctx, f);
    if (ret < 0)
        return ret;
    if (!s->enc && (ret = open_from_frame(avctx, f)) < 0)
        return ret;
    if (f->linesize[0] % 2)
        return AVERROR_BUG;

    pic.data = (uint16_t *)f->data[0];
    pic.stride = f->linesize[0] / 2;
    pic.band_stride = (ptrdiff_t)s->band_height * pic.stride;
    pic.bands = s->bands;
    pic.width = avctx->width;
    pic.height = s->band_height;
    frame_time(avctx, f, &pic.time_ms, &pic.has_time);

    ret = tec_encoder_send_frame(s->enc, &pic);
    if (ret < 0) {
        av_log(avctx, AV_LOG_ERROR, "frame %"PRId64": %s\n", s->frames_in,
               tec_encoder_error(s->enc));
        return tec_error_to_av(ret);
    }
    s->frames_in++;
    /* libtec may keep pointing at the samples until the packet is out. */
    held = av_frame_alloc();
    if (!held)
        return AVERROR(ENOMEM);
    av_frame_move_ref(held, f);
    ret = av_fifo_write(s->queue, &held, 1);
    if (ret < 0)
        av_frame_free(&held);
    return ret;
}

static int output_packet(AVCodecContext *avctx, AVPacket *pkt, const TecPacket *tp)
{
    TecEncContext *s = avctx->priv_data;
    AVDictionary *d = NULL;
    AVFrame *src = NULL;
    uint8_t *sd;
    size_t sd_size;
    int flags = 0, ret;

    /* The frame this packet codes: the oldest one libtec holds. */
    if (av_fifo_read(s->queue, &src, 1) < 0) {
        av_log(avctx, AV_LOG_ERROR, "libtec returned more packets than frames\n");
        return AVERROR_BUG;
    }
    ret = ff_get_encode_buffer(avctx, pkt, tp->size, 0);
    if (ret < 0)
        goto end;
    memcpy(pkt->data, tp->data, tp->size);
    pkt->pts = pkt->dts = src->pts;
    pkt->duration = TEC_FRAME_DURATION(src);
    if (tp->keyframe) {
        pkt->flags |= AV_PKT_FLAG_KEY;
        flags |= TEC_PKT_FLAG_KEY;
    }

    /* The .tecv packet fields, for the muxer and for ffprobe. */
    if (tp->has_time) {
        char iso[48];
        flags |= TEC_PKT_FLAG_TIME;
        tec_format_time(iso, sizeof(iso), tp->time_ms);
        av_dict_set(&d, TEC_KEY_TIME, iso, 0);
    }
    av_dict_set_int(&d, TEC_KEY_TIME_MS, tp->time_ms, 0);
    av_dict_set_int(&d, TEC_KEY_FLAGS, flags, 0);
    sd = av_packet_pack_dictionary(d, &sd_size);
    av_dict_free(&d);
    if (!sd || (ret = av_packet_add_side_data(pkt, AV_PKT_DATA_STRINGS_METADATA,
                                              sd, sd_size)) < 0) {
        av_free(sd);
        ret = AVERROR(ENOMEM);
        goto end;
    }

    if (s->header_pending) {
        uint8_t *x = av_packet_new_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA,
                                             avctx->extradata_size);
        if (!x) {
            ret = AVERROR(ENOMEM);
            goto end;
        }
        memcpy(x, avctx->extradata, avctx->extradata_size);
        s->header_pending = 0;
    }
    ret = 0;
end:
    av_frame_free(&src);
    if (ret < 0)
        av_packet_unref(pkt);
    return ret;
}

static int libtec_receive_packet(AVCodecContext *avctx, AVPacket *pkt)
{
    TecEncContext *s = avctx->priv_data;
    TecPacket tp;
    int ret;

    for (;;) {
        if (s->enc) {
            ret = tec_encoder_receive_packet(s->enc, &tp);
            if (ret == TEC_OK) {
                if (!tp.size) {
                    AVFrame *src;
                    av_log(avctx, AV_LOG_WARNING, "libtec returned an empty packet\n");
                    if (av_fifo_read(s->queue, &src, 1) >= 0)
                        av_frame_free(&src);
                    continue;
                }
                return output_packet(avctx, pkt, &tp);
            }
            if (ret == TEC_EOF)
                return AVERROR_EOF;
            if (ret != TEC_EAGAIN) {
                av_log(avctx, AV_LOG_ERROR, "%s\n", tec_encoder_error(s->enc));
                return tec_error_to_av(ret);
            }
            if (s->eof_sent)
                return AVERROR_EOF;
        }

        ret = ff_encode_get_frame(avctx, s->frame);
        if (ret == AVERROR_EOF) {
            if (!s->enc || s->eof_sent)
                return AVERROR_EOF;
            ret = tec_encoder_send_frame(s->enc, NULL);
            if (ret < 0 && ret != TEC_EOF) {
                av_log(avctx, AV_LOG_ERROR, "flush: %s\n", tec_encoder_error(s->enc));
                return tec_error_to_av(ret);
            }
            s->eof_sent = 1;
            continue;
        }
        if (ret < 0)
            return ret;
        ret = send_frame(avctx, s->frame);
        av_frame_unref(s->frame);
        if (ret < 0)
            return ret;
    }
}

static av_cold int libtec_encode_close(AVCodecContext *avctx)
{
    TecEncContext *s = avctx->priv_data;
    AVFrame *f;

    tec_encoder_close(&s->enc);
    if (s->queue) {
        while (av_fifo_read(s->queue, &f, 1) >= 0)
            av_frame_free(&f);
        av_fifo_freep2(&s->queue);
    }
    av_frame_free(&s->frame);
    return 0;
}

#define OFFSET(x) offsetof(TecEncContext, x)
#define VE AV_OPT_FLAG_VIDEO_PARAM | AV_OPT_FLAG_ENCODING_PARAM
static const AVOption libtec_enc_options[] = {
    { "bands", "bands stacked in each frame (frame height = bands x band height); "
      "declares untagged input, e.g. -f rawvideo, as stacked bands", OFFSET(bands_opt),
      AV_OPT_TYPE_INT, { .i64 = 0 }, 0, TEC_MAX_BANDS, VE },
    { "band_names", "comma-separated band names (B01,B02,...,B8A,...); default: the "
      "input's names, else the Sentinel-2 set for 13, 12 or 10 bands",
      OFFSET(band_names_opt), AV_OPT_TYPE_STRING, { .str = NULL }, 0, 0, VE },
    { "quality", "quality, " AV_STRINGIFY(TEC_QUALITY_MIN) " (smallest) to "
      AV_STRINGIFY(TEC_QUALITY_MAX) " (best); 0: the model's default", OFFSET(quality),
      AV_OPT_TYPE_INT, { .i64 = 0 }, 0, TEC_QUALITY_MAX, VE },
    { "fixed_quality", "code every frame at the position quality names, not moved by the "
      "frame's band spreads", OFFSET(fixed_quality), AV_OPT_TYPE_BOOL, { .i64 = 0 }, 0, 1, VE },
    { "model", "weights to code with (a name, NAME.tecw on the search path); "
      "default: chosen from the bands", OFFSET(model), AV_OPT_TYPE_STRING,
      { .str = NULL }, 0, 0, VE },
    { "weights_dir", "directory searched first for the model", OFFSET(weights_dir),
      AV_OPT_TYPE_STRING, { .str = NULL }, 0, 0, VE },
    { "keyint", "keyframe interval (1: every frame intra); 0: -g, else libtec's default",
      OFFSET(keyint), AV_OPT_TYPE_INT, { .i64 = 0 }, 0, 65535, VE },
    { "context", "frames an inter frame may reference (temporal model); 0: libtec's default",
      OFFSET(context), AV_OPT_TYPE_INT, { .i64 = 0 }, 0, TEC_MAX_CONTEXT, VE },
    { "nodata", "nodata sample value: exactly the samples equal to it decode to it (a "
      "lossless mask in each packet); -1: none", OFFSET(nodata), AV_OPT_TYPE_INT,
      { .i64 = -1 }, -1, 65535, VE },
    { "max_error", "every decoded sample within this of the source (0: lossless), by a "
      "residual layer; -1: none", OFFSET(max_error), AV_OPT_TYPE_INT, { .i64 = -1 }, -1,
      TEC_MAX_ERROR, VE },
    { "effort", "encoder-side latent refinement: 10 x effort steps per block (smaller "
      "files at equal quality, slower encoding, the same decoder); 0: none",
      OFFSET(effort), AV_OPT_TYPE_INT, { .i64 = 0 }, 0, TEC_MAX_EFFORT, VE },
    { "plain_spreads", "no band weighting: every band standardised by its own spread (by "
      "default each keyframe tries narrowing the spreads, giving red edge and NIR more bits)",
      OFFSET(plain_spreads), AV_OPT_TYPE_BOOL, { .i64 = 0 }, 0, 1, VE },
    { "no_prediction", "no predicted frames: every inter frame through the temporal model "
      "alone (by default an inter frame may be coded as its difference from the frame before, "
      "mapped by a line per band, where that costs less)",
      OFFSET(no_prediction), AV_OPT_TYPE_BOOL, { .i64 = 0 }, 0, 1, VE },
    { NULL },
};

static const AVClass libtec_enc_class = {
    .class_name = "libtec encoder",
    .item_name  = av_default_item_name,
    .option     = libtec_enc_options,
    .version    = LIBAVUTIL_VERSION_INT,
};

static const FFCodecDefault libtec_enc_defaults[] = {
    { "g", "0" },   /* keyint 0 and no -g: libtec's default interval */
    { NULL },
};

const FFCodec ff_libtec_encoder = {
    .p.name         = "libtec",
    TEC_CODEC_LONG_NAME("TerraCodec multispectral image time series (libtec)"),
    .p.type         = AVMEDIA_TYPE_VIDEO,
    .p.id           = AV_CODEC_ID_TEC,
    .priv_data_size = sizeof(TecEncContext),
    .init           = libtec_encode_init,
    .close          = libtec_encode_close,
    FF_CODEC_RECEIVE_PACKET_CB(libtec_receive_packet),
    .p.capabilities = AV_CODEC_CAP_DELAY | AV_CODEC_CAP_DR1 | AV_CODEC_CAP_OTHER_THREADS,
    .caps_internal  = TEC_CAP_INIT_THREADSAFE | FF_CODEC_CAP_INIT_CLEANUP |
                      FF_CODEC_CAP_AUTO_THREADS,
    TEC_CODEC_PIXFMTS(AV_PIX_FMT_GRAY16),
    .p.priv_class   = &libtec_enc_class,
    .defaults       = libtec_enc_defaults,
    .p.wrapper_name = "libtec",
};
