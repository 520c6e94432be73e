/*
 * TerraCodec decoder through libtec (doc/ffmpeg.md).
 *
 * output=rgb (default): a true-colour GBRP16 composite of the bands named
 * B04/B03/B02 with a brightness stretch, so that ffplay shows the
 * time-lapse and any encoder can make a video of it; the first band as gray
 * when those are missing.
 * output=bands: GRAY16 with the C bands stacked vertically (W x C*H),
 * bit-identical to `tec decode`.
 *
 * The band count and geometry come from the extradata (the sequence
 * header), never from the stream's width/height.  The weights are loaded
 * with the first packet, so that probing never needs them.  A packet that
 * fails to decode is an error for that frame only; frames that depend on a
 * lost one are dropped until the next keyframe, each one logged with why,
 * and the next keyframe says which frames were lost.
 *
 * This file is part of TerraCodec's FFmpeg glue; it is LGPL-2.1-or-later
 * like the FFmpeg files it is built with.
 */

#include <math.h>

#include <tec/tec.h>

#include "libavutil/avstring.h"
#include "libavutil/common.h"
#include "libavutil/dict.h"
#include "libavutil/imgutils.h"
#include "libavutil/intreadwrite.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"
#include "libavutil/pixdesc.h"

#include "avcodec.h"
#include "codec_internal.h"
#include "decode.h"
#include "internal.h"
#include "tec_common.h"
#include "tec_compat.h"

enum { OUTPUT_RGB, OUTPUT_BANDS };

/* Why inter frames are being dropped (TecDecContext.need_key). */
enum { KEY_OK, KEY_START, KEY_SEEK, KEY_LOST, KEY_FAILED };

typedef struct TecDecContext {
    const AVClass *class;
    int output;
    char *weights_dir;
    int rgb_black, rgb_white;
    double rgb_gamma;
    int fill_clouds;

    TecStreamInfo info;
    TecDecoder *dec;
    int open_failed;
    int need_key;           /* KEY_*: no keyframe yet, or a frame was lost */
    int64_t lost_frame;     /* KEY_LOST, KEY_FAILED: the frame that was lost */
    int64_t dropped_first;  /* the inter frames dropped since, or -1 */
    int64_t dropped_last;
    int eof_sent;
    int band_r, band_g, band_b;
    uint16_t *lut;          /* output=rgb: sample -> display value */
    AVPacket *pkt;          /* a packet libtec did not take yet */
    int have_pkt;
    int64_t frames;
} TecDecContext;

static int tec_error_to_av(int err)
{
    switch (err) {
    case TEC_ENOMEM:       return AVERROR(ENOMEM);
    case TEC_EINVAL:       return AVERROR(EINVAL);
    case TEC_EUNSUPPORTED: return AVERROR_PATCHWELCOME;
    case TEC_EIO:          return AVERROR(EIO);
    case TEC_EMODEL:       return AVERROR_EXTERNAL;
    default:               return AVERROR_INVALIDDATA;
    }
}

/* A band name of the sequence header: NUL-padded, not always terminated. */
static void band_name(char dst[TEC_MAX_BAND_NAME + 1], const TecStreamInfo *info, int b)
{
    size_t n = 0;
    while (n < TEC_MAX_BAND_NAME && info->band_names[b][n])
        n++;
    memcpy(dst, info->band_names[b], n);
    dst[n] = '\0';
}

static int find_band(const TecStreamInfo *info, const char *a, const char *b)
{
    for (int i = 0; i < info->bands; i++) {
        char name[TEC_MAX_BAND_NAME + 1];
        band_name(name, info, i);
        if (!av_strcasecmp(name, a) || !av_strcasecmp(name, b))
            return i;
    }
    return -1;
}

/*
 * The brightness stretch of output=rgb: samples black..white (reflectance x
 * 10000) to the full range, with a gamma.  By default black is 0, or the
 * radiometric offset the file declares (Sentinel-2 products from
 * processing baseline 04.00 on add 1000 to every sample), and white is
 * black + 2500: natural-looking colours for land; bright snow and clouds
 * saturate.
 */
static int build_lut(AVCodecContext *avctx, const AVPacket *pkt)
{
    TecDecContext *s = avctx->priv_data;
    int black = s->rgb_black, white = s->rgb_white;
    double range;

    if (black < 0) {
        AVDictionary *d = NULL;
        const AVDictionaryEntry *e;
        size_t size;
        const uint8_t *sd = av_packet_get_side_data(pkt, AV_PKT_DATA_STRINGS_METADATA, &size);
        int64_t off;

        black = 0;
        if (sd && av_packet_unpack_dictionary(sd, size, &d) >= 0 &&
            (e = av_dict_get(d, TEC_KEY_RADIOMETRIC_OFFSET, NULL, 0)) &&
            !tec_parse_int(e->value, -60000, 60000, &off))
            black = (int)FFABS(off);
        av_dict_free(&d);
    }
    if (white < 0)
        white = FFMIN(black + 2500, 65535);
    range = white - black;
    if (range <= 0) {
        av_log(avctx, AV_LOG_ERROR, "rgb_white (%d) must exceed rgb_black (%d)\n", white, black);
        return AVERROR(EINVAL);
    }
    av_log(avctx, AV_LOG_VERBOSE, "rgb: bands %d/%d/%d, samples %d..%d, gamma %g\n",
           s->band_r, s->band_g, s->band_b, black, white, s->rgb_gamma);
    s->lut = av_malloc_array(65536, sizeof(*s->lut));
    if (!s->lut)
        return AVERROR(ENOMEM);
    for (int v = 0; v < 65536; v++) {
        double x = av_clipd((v - black) / range, 0.0, 1.0);
        s->lut[v] = (uint16_t)lrint(65535.0 * pow(x, 1.0 / s->rgb_gamma));
    }
    return 0;
}

static av_cold int libtec_decode_init(AVCodecContext *avctx)
{
    TecDecContext *s = avctx->priv_data;
    int ret;

    if (!avctx->extradata || avctx->extradata_size <= 0) {
        av_log(avctx, AV_LOG_ERROR, "no extradata: a tec stream needs its sequence header\n");
        return AVERROR_INVALIDDATA;
    }
    ret = tec_parse_header(avctx->extradata, avctx->extradata_size, &s->info);
    if (ret < 0) {
        av_log(avctx, AV_LOG_ERROR, "invalid sequence header: %s\n", tec_strerror(ret));
        return AVERROR_INVALIDDATA;
    }

    if (s->output == OUTPUT_BANDS) {
        int64_t h = (int64_t)s->info.bands * s->info.height;
        avctx->pix_fmt = AV_PIX_FMT_GRAY16;
        if (h > INT_MAX || (ret = ff_set_dimensions(avctx, s->info.width, (int)h)) < 0) {
            av_log(avctx, AV_LOG_ERROR, "%d bands of %dx%d stacked exceed FFmpeg's frame size "
                   "limit; decode with the tec tool, or output=rgb\n",
                   s->info.bands, s->info.width, s->info.height);
            return AVERROR_PATCHWELCOME;
        }
    } else {
        avctx->pix_fmt = AV_PIX_FMT_GBRP16;
        ret = ff_set_dimensions(avctx, s->info.width, s->info.height);
        if (ret < 0)
            return ret;
        s->band_r = find_band(&s->info, "B04", "B4");
        s->band_g = find_band(&s->info, "B03", "B3");
        s->band_b = find_band(&s->info, "B02", "B2");
        if (s->band_r < 0 || s->band_g < 0 || s->band_b < 0) {
            av_log(avctx, AV_LOG_VERBOSE, "no B04/B03/B02: showing band %.*s as gray\n",
                   TEC_MAX_BAND_NAME, s->info.band_names[0]);
            s->band_r = s->band_g = s->band_b = 0;
        }
    }
    avctx->color_range = AVCOL_RANGE_JPEG;

    s->pkt = av_packet_alloc();
    if (!s->pkt)
        return AVERROR(ENOMEM);
    return 0;
}

static int open_decoder(AVCodecContext *avctx)
{
    TecDecContext *s = avctx->priv_data;
    TecDecoderSettings set;
    int ret;

    if (s->open_failed)
        return s->open_failed;
    tec_decoder_default_settings(&set);
    set.weights_dir = s->weights_dir;
    set.threads = avctx->thread_count;
    set.fill_clouds = s->fill_clouds;
    ret = tec_decoder_open(&s->dec, &set, avctx->extradata, avctx->extradata_size);
    if (ret < 0) {
        av_log(avctx, AV_LOG_ERROR, "cannot open the decoder (model %s): %s\n", s->info.model,
               tec_decoder_error(s->dec));  /* NULL: why the open failed */
        tec_decoder_close(&s->dec);
        s->open_failed = tec_error_to_av(ret);
        return s->open_failed;
    }
    s->need_key = KEY_START;
    s->dropped_first = -1;
    return 0;
}

/* The frame `frame` is lost: inter frames wait for the next keyframe. */
static void lose_frame(TecDecContext *s, int why, int64_t frame)
{
    if (s->need_key == KEY_OK || s->need_key == KEY_SEEK || s->need_key == KEY_START) {
        s->need_key = why;
        s->lost_frame = frame;
    }
}

/* An inter packet whose references were not decoded: say which frame goes
 * and why (the first frame lost, a stream that starts inside a group of
 * frames, a seek). */
static void drop_frame(AVCodecContext *avctx, const AVPacket *pkt, int has_time, int64_t t)
{
    TecDecContext *s = avctx->priv_data;
    TecPacketInfo pi;
    char date[48] = "", pos[64] = "", why[96];

    if (has_time) {
        tec_format_time(date, sizeof(date), t);
        memcpy(date + 10, ", ", 3);  /* the day */
    }
    const int parsed = !tec_parse_packet(pkt->data, pkt->size, &pi);
    if (parsed && !pi.intra && !pi.predicted)
        snprintf(pos, sizeof(pos), ", %d after its keyframe", pi.gop_index);
    if (s->need_key == KEY_START)
        snprintf(why, sizeof(why), "the stream starts after its keyframe (a cut stream)");
    else if (s->need_key == KEY_SEEK)
        snprintf(why, sizeof(why), "decoding started after its keyframe (a seek)");
    else
        snprintf(why, sizeof(why), "frame %"PRId64" %s", s->lost_frame,
                 s->need_key == KEY_LOST ? "was lost" : "failed");
    av_log(avctx, AV_LOG_ERROR, "frame %"PRId64" (%s%s%s) lost: %s; dropped until the "
           "next keyframe\n", s->frames, date, parsed && pi.predicted ? "predicted" : "inter",
           pos, why);
    if (s->dropped_first < 0)
        s->dropped_first = s->frames;
    s->dropped_last = s->frames;
}

/* A packet's properties (an AVPacket without data) ride with it through
 * libtec as the user_data of the packet and then of its picture; a picture
 * not yet received holds one, so take it before a flush or close. */
static void drop_pending(TecDecContext *s)
{
    TecPicture pic;
    if (s->dec && tec_decoder_receive_frame(s->dec, &pic) == TEC_OK) {
        AVPacket *props = pic.user_data;
        av_packet_free(&props);
    }
}

/* Metadata of a packet: the time fields from the demuxer or encoder. */
static int64_t packet_time(const AVPacket *pkt, int *has_time, int64_t *lost)
{
    AVDictionary *d = NULL;
    const AVDictionaryEntry *e;
    size_t size;
    const uint8_t *sd = av_packet_get_side_data(pkt, AV_PKT_DATA_STRINGS_METADATA, &size);
    int64_t t = 0, v;

    *has_time = 0;
    *lost = 0;
    if (!sd || av_packet_unpack_dictionary(sd, size, &d) < 0) {
        av_dict_free(&d);
        return 0;
    }
    e = av_dict_get(d, TEC_KEY_TIME_MS, NULL, 0);
    if (e && !tec_parse_int(e->value, INT64_MIN, INT64_MAX, &v))
        t = v;
    e = av_dict_get(d, TEC_KEY_FLAGS, NULL, 0);
    if (e && !tec_parse_int(e->value, 0, 255, &v))
        *has_time = !!(v & TEC_PKT_FLAG_TIME);
    e = av_dict_get(d, TEC_KEY_LOST, NULL, 0);
    if (e && !tec_parse_int(e->value, 0, INT_MAX, &v))
        *lost = v;
    av_dict_free(&d);
    return t;
}

static int set_frame_props(AVCodecContext *avctx, AVFrame *frame, const AVPacket *props,
                           const TecPicture *pic)
{
    TecDecContext *s = avctx->priv_data;
    size_t size;
    const uint8_t *sd;
    int ret;

    frame->pts     = props->pts;
    frame->pkt_dts = props->dts;
    TEC_FRAME_DURATION(frame) = props->duration;
    TEC_FRAME_SET_POS(frame, props->pos, props->size);
    TEC_FRAME_SET_KEY(frame, props->flags & AV_PKT_FLAG_KEY);
    frame->pict_type = (props->flags & AV_PKT_FLAG_KEY) ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_P;

    sd = av_packet_get_side_data(props, AV_PKT_DATA_STRINGS_METADATA, &size);
    if (sd && (ret = av_packet_unpack_dictionary(sd, size, &frame->metadata)) < 0)
        return ret;
    /* A layout tag from upstream never describes what we output. */
    av_dict_set(&frame->metadata, TEC_KEY_LAYOUT, NULL, 0);
    av_dict_set(&frame->metadata, TEC_KEY_BANDS, NULL, 0);
    av_dict_set(&frame->metadata, TEC_KEY_BAND_NAMES, NULL, 0);
    av_dict_set(&frame->metadata, TEC_KEY_BAND_WIDTH, NULL, 0);
    av_dict_set(&frame->metadata, TEC_KEY_BAND_HEIGHT, NULL, 0);
    av_dict_set(&frame->metadata, TEC_KEY_FILLED, NULL, 0);
    if (s->fill_clouds) {
        /* nothing filled silently: the count in the frame, why not in the log */
        const char *why = NULL;
        int64_t filled = tec_decoder_get_filled(s->dec, NULL, &why);
        if (filled >= 0)
            av_dict_set_int(&frame->metadata, TEC_KEY_FILLED, filled, 0);
        if (why)
            av_log(avctx, AV_LOG_WARNING, "frame %"PRId64": cloud mask not filled: %s\n",
                   s->frames - 1, why);
        else if (filled > 0)
            av_log(avctx, AV_LOG_VERBOSE, "frame %"PRId64": %"PRId64" pixels filled\n",
                   s->frames - 1, filled);
    }
    if (pic->has_time && !av_dict_get(frame->metadata, TEC_KEY_TIME, NULL, 0)) {
        char iso[48];
        tec_format_time(iso, sizeof(iso), pic->time_ms);
        av_dict_set(&frame->metadata, TEC_KEY_TIME, iso, 0);
    }
    if (s->output == OUTPUT_BANDS) {
        char names[TEC_MAX_BANDS * (TEC_MAX_BAND_NAME + 1) + 1] = "";
        for (int b = 0; b < s->info.bands; b++) {
            char name[TEC_MAX_BAND_NAME + 1];
            band_name(name, &s->info, b);
            if (b)
                av_strlcat(names, ",", sizeof(names));
            av_strlcat(names, name, sizeof(names));
        }
        av_dict_set(&frame->metadata, TEC_KEY_LAYOUT, TEC_LAYOUT_STACKED, 0);
        av_dict_set_int(&frame->metadata, TEC_KEY_BANDS, s->info.bands, 0);
        av_dict_set(&frame->metadata, TEC_KEY_BAND_NAMES, names, 0);
        av_dict_set_int(&frame->metadata, TEC_KEY_BAND_WIDTH, s->info.width, 0);
        av_dict_set_int(&frame->metadata, TEC_KEY_BAND_HEIGHT, s->info.height, 0);
    }
    return 0;
}

static int output_picture(AVCodecContext *avctx, AVFrame *frame, const TecPicture *pic)
{
    TecDecContext *s = avctx->priv_data;
    int W = s->info.width, H = s->info.height, ret;

    if (!pic->data || pic->bands != s->info.bands || pic->width != W || pic->height != H) {
        av_log(avctx, AV_LOG_ERROR, "libtec returned a %dx%dx%d picture, the stream is "
               "%dx%dx%d\n", pic->bands, pic->height, pic->width, s->info.bands, H, W);
        return AVERROR_BUG;
    }
    ret = ff_get_buffer(avctx, frame, 0);
    if (ret < 0)
        return ret;

    if (s->output == OUTPUT_BANDS) {
        for (int b = 0; b < s->info.bands; b++)
            for (int y = 0; y < H; y++)
                memcpy(frame->data[0] + (ptrdiff_t)(b * H + y) * frame->linesize[0],
                       pic->data + b * pic->band_stride + y * pic->stride, 2 * W);
    } else {
        /* GBRP: plane 0 is green, 1 blue, 2 red. */
        const int band[3] = { s->band_g, s->band_b, s->band_r };
        for (int p = 0; p < 3; p++) {
            for (int y = 0; y < H; y++) {
                const uint16_t *src = pic->data + band[p] * pic->band_stride + y * pic->stride;
                uint16_t *dst = (uint16_t *)(frame->data[p] + (ptrdiff_t)y * frame->linesize[p]);
                for (int x = 0; x < W; x++)
                    dst[x] = s->lut[src[x]];
            }
        }
    }
    return 0;
}

static int libtec_receive_frame(AVCodecContext *avctx, AVFrame *frame)
{
    TecDecContext *s = avctx->priv_data;
    TecPicture pic;
    TecPacket tpkt;
    AVPacket *props;
    int ret, stalled = 0;

    for (;;) {
        if (s->dec) {
            ret = tec_decoder_receive_frame(s->dec, &pic);
            if (ret == TEC_OK || (ret != TEC_EAGAIN && ret != TEC_EOF)) {
                s->frames++;
                if (ret < 0) {
                    av_log(avctx, AV_LOG_ERROR, "frame %"PRId64": %s\n", s->frames - 1,
                           tec_decoder_error(s->dec));
                    lose_frame(s, KEY_FAILED, s->frames - 1);
                    return tec_error_to_av(ret);
                }
                props = pic.user_data;
                if (!props) {
                    av_log(avctx, AV_LOG_ERROR, "libtec returned a frame without its packet\n");
                    return AVERROR_BUG;
                }
                ret = output_picture(avctx, frame, &pic);
                if (ret >= 0)
                    ret = set_frame_props(avctx, frame, props, &pic);
                av_packet_free(&props);
                if (ret < 0)
                    av_frame_unref(frame);
                return ret;
            }
            if (ret == TEC_EOF || s->eof_sent)
                return AVERROR_EOF;
            if (stalled) {
                av_log(avctx, AV_LOG_ERROR, "libtec takes no packet and gives no frame\n");
                return AVERROR_BUG;
            }
        }

        if (!s->have_pkt) {
            ret = ff_decode_get_packet(avctx, s->pkt);
            if (ret == AVERROR_EOF) {
                if (!s->dec)
                    return AVERROR_EOF;
                ret = tec_decoder_send_packet(s->dec, NULL, 0, 0, 0);
                if (ret < 0 && ret != TEC_EOF) {
                    av_log(avctx, AV_LOG_ERROR, "flush: %s\n", tec_decoder_error(s->dec));
                    return tec_error_to_av(ret);
                }
                s->eof_sent = 1;
                continue;
            }
            if (ret < 0)
                return ret;
            if (!s->pkt->size) {
                av_packet_unref(s->pkt);
                continue;
            }
            s->have_pkt = 1;
        }

        {
            int has_time, key = !!(s->pkt->flags & AV_PKT_FLAG_KEY);
            int64_t lost, t = packet_time(s->pkt, &has_time, &lost);

            if (s->output == OUTPUT_RGB && !s->lut && (ret = build_lut(avctx, s->pkt)) < 0) {
                s->have_pkt = 0;
                av_packet_unref(s->pkt);
                return ret;
            }
            if (!s->dec && (ret = open_decoder(avctx)) < 0) {
                s->have_pkt = 0;
                av_packet_unref(s->pkt);
                return ret;
            }
            if (lost) {
                /* the demuxer skipped corrupt packets: they keep their numbers */
                lose_frame(s, KEY_LOST, s->frames);
                s->frames += lost;
            }
            if (s->need_key != KEY_OK && !key) {
                drop_frame(avctx, s->pkt, has_time, t);
                s->frames++;
                s->have_pkt = 0;
                av_packet_unref(s->pkt);
                return AVERROR_INVALIDDATA;
            }
            if (key)
                s->need_key = KEY_OK;  /* a keyframe that fails sets it again */
            if (key && s->dropped_first >= 0) {
                if (s->dropped_first == s->dropped_last)
                    av_log(avctx, AV_LOG_WARNING, "frame %"PRId64" was lost; resuming at the "
                           "keyframe %"PRId64"\n", s->dropped_first, s->frames);
                else
                    av_log(avctx, AV_LOG_WARNING, "frames %"PRId64"..%"PRId64" were lost; "
                           "resuming at the keyframe %"PRId64"\n", s->dropped_first,
                           s->dropped_last, s->frames);
                s->dropped_first = -1;
            }
            props = av_packet_alloc();
            ret = props ? av_packet_copy_props(props, s->pkt) : AVERROR(ENOMEM);
            if (ret < 0) {
                av_packet_free(&props);
                return ret;
            }
            props->size = s->pkt->size;   /* for frame->pkt_size; no data */
            tpkt = (TecPacket){ .data = s->pkt->data, .size = s->pkt->size, .time_ms = t,
                                .has_time = has_time, .user_data = props };
            ret = tec_decoder_send(s->dec, &tpkt);
            if (ret < 0)
                av_packet_free(&props);   /* libtec keeps it only with a picture */
            if (ret == TEC_EAGAIN) {
                stalled = 1;  /* a frame is waiting: take it first, keep the packet */
                continue;
            }
            s->have_pkt = 0;
            if (ret < 0) {
                av_log(avctx, AV_LOG_ERROR, "frame %"PRId64": %s\n", s->frames,
                       tec_decoder_error(s->dec));
                lose_frame(s, KEY_FAILED, s->frames);
                s->frames++;
                av_packet_unref(s->pkt);
                return tec_error_to_av(ret);
            }
            av_packet_unref(s->pkt);
        }
    }
}

static av_cold void libtec_decode_flush(AVCodecContext *avctx)
{
    TecDecContext *s = avctx->priv_data;
    /* After a seek: the same decoder and weights, nothing pending; the next
     * frame to decode is a keyframe (libtec has forgotten the references). */
    drop_pending(s);
    tec_decoder_flush(s->dec);
    if (s->dec) {
        s->need_key = KEY_SEEK;
        s->dropped_first = -1;
    }
    av_packet_unref(s->pkt);
    s->have_pkt = 0;
    s->eof_sent = 0;
}

static av_cold int libtec_decode_close(AVCodecContext *avctx)
{
    TecDecContext *s = avctx->priv_data;
    drop_pending(s);
    tec_decoder_close(&s->dec);
    av_packet_free(&s->pkt);
    av_freep(&s->lut);
    return 0;
}

#define OFFSET(x) offsetof(TecDecContext, x)
#define VD AV_OPT_FLAG_VIDEO_PARAM | AV_OPT_FLAG_DECODING_PARAM
static const AVOption libtec_dec_options[] = {
    { "output", "what the frames hold", OFFSET(output), AV_OPT_TYPE_INT,
      { .i64 = OUTPUT_RGB }, OUTPUT_RGB, OUTPUT_BANDS, VD, "output" },
    { "rgb",   "true-colour composite of B04/B03/B02 (GBRP16)", 0, AV_OPT_TYPE_CONST,
      { .i64 = OUTPUT_RGB }, 0, 0, VD, "output" },
    { "bands", "every band, stacked vertically (GRAY16, W x bands*H)", 0, AV_OPT_TYPE_CONST,
      { .i64 = OUTPUT_BANDS }, 0, 0, VD, "output" },
    { "weights_dir", "directory searched first for the model", OFFSET(weights_dir),
      AV_OPT_TYPE_STRING, { .str = NULL }, 0, 0, VD },
    { "rgb_black", "output=rgb: sample value shown as black; -1: the file's radiometric "
      "offset, else 0", OFFSET(rgb_black), AV_OPT_TYPE_INT, { .i64 = -1 }, -1, 65534, VD },
    { "rgb_white", "output=rgb: sample value shown as white; -1: black + 2500",
      OFFSET(rgb_white), AV_OPT_TYPE_INT, { .i64 = -1 }, -1, 65535, VD },
    { "rgb_gamma", "output=rgb: gamma of the stretch", OFFSET(rgb_gamma),
      AV_OPT_TYPE_DOUBLE, { .dbl = 1.3 }, 0.1, 10.0, VD },
    { "fill_clouds", "replace the cloudy pixels of each frame (its packet's cloud mask) by "
      "what the frames before it predict", OFFSET(fill_clouds), AV_OPT_TYPE_BOOL,
      { .i64 = 0 }, 0, 1, VD },
    { NULL },
};

static const AVClass libtec_dec_class = {
    .class_name = "libtec decoder",
    .item_name  = av_default_item_name,
    .option     = libtec_dec_options,
    .version    = LIBAVUTIL_VERSION_INT,
};

const FFCodec ff_libtec_decoder = {
    .p.name         = "libtec",
    TEC_CODEC_LONG_NAME("TerraCodec multispectral image time series (libtec)"),
    .p.type         = AVMEDIA_TYPE_VIDEO,
    .p.id           = AV_CODEC_ID_TEC,
    .priv_data_size = sizeof(TecDecContext),
    .init           = libtec_decode_init,
    .close          = libtec_decode_close,
    .flush          = libtec_decode_flush,
    FF_CODEC_RECEIVE_FRAME_CB(libtec_receive_frame),
    .p.capabilities = AV_CODEC_CAP_DELAY | AV_CODEC_CAP_DR1 | AV_CODEC_CAP_OTHER_THREADS,
    .caps_internal  = TEC_CAP_INIT_THREADSAFE | FF_CODEC_CAP_INIT_CLEANUP |
                      FF_CODEC_CAP_AUTO_THREADS | TEC_CAP_SETS_FRAME_PROPS,
    .p.priv_class   = &libtec_dec_class,
    .p.wrapper_name = "libtec",
};
