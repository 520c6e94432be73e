/*
 * TerraCodec .tecv muxer (doc/bitstream.md, section 6; doc/ffmpeg.md).
 *
 * The header is built from the stream's extradata (the sequence header,
 * codec tec) or from the band count (codec raw: rawvideo GRAY16LE, the
 * bands stacked vertically), and the format metadata, which is the
 * container's key/value list (the demuxer exports it there verbatim).
 * Packet times and flags come from the packets' "tec_time_ms"/"tec_flags"
 * metadata when present (stream copy, libtec encoder), so that
 * `-c copy` reproduces a file byte for byte; the frame count is patched
 * when the output is seekable.
 *
 * This file is part of TerraCodec's FFmpeg glue; it is LGPL-2.1-or-later
 * like the FFmpeg files it is built with.
 */

#include <zstd.h>

#include <tec/tec.h>

#include "libavutil/avstring.h"
#include "libavutil/crc.h"
#include "libavutil/dict.h"
#include "libavutil/intreadwrite.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"
#include "libavutil/pixdesc.h"
#include "libavcodec/tec_common.h"
#include "avformat.h"
#include "internal.h"
#include "libavcodec/tec_compat.h"

#define TECV_FIXED      16
#define TECV_MIN_HEADER 26
#define TECV_COUNT_END  34          /* fixed part + bands, width, height, frame_count */
#define TECV_MAX_META   (16u << 20)
/* The level libtec writes with, so that both produce the same bytes. */
#define TECV_META_LEVEL 19
#define TECP_SIZE       24

enum { TIMELINE_AUTO, TIMELINE_NATIVE };

typedef struct TecvMuxContext {
    const AVClass *class;
    int timeline;
    int bands_opt;

    int codec;
    int bands, width, height;
    int64_t raw_size;
    uint8_t *header;          /* fixed part + header, kept for the patch */
    size_t header_len;
    int64_t header_pos;       /* -1: the output cannot be patched */
    int header_written;
    int64_t frame_count;
} TecvMuxContext;

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    return av_crc(av_crc_get_table(AV_CRC_32_IEEE_LE), UINT32_MAX, p, n) ^ UINT32_MAX;
}

static int tecv_query_codec(enum AVCodecID id, int std_compliance)
{
    return id == AV_CODEC_ID_TEC || id == AV_CODEC_ID_RAWVIDEO;
}

/* Is this format metadata entry one FFmpeg added rather than the file? */
static int is_ffmpeg_tag(const AVDictionaryEntry *e)
{
    return !strcmp(e->key, "encoder") && av_strstart(e->value, "Lavf", NULL);
}

/* Is e the "bands" key naming exactly the bands of the sequence header?
 * Then it says nothing the header does not: a tec stream stores its band
 * names once, as the tec tool writes it. */
static int names_header_bands(const AVDictionaryEntry *e, const TecStreamInfo *si)
{
    const char *p = e->value;

    if (!si || strcmp(e->key, "bands"))
        return 0;
    for (int b = 0; b < si->bands; b++) {
        size_t n = 0;
        while (n < TEC_MAX_BAND_NAME && si->band_names[b][n])
            n++;
        if ((b && *p++ != ',') || strncmp(p, si->band_names[b], n))
            return 0;
        p += n;
    }
    return !*p;
}

/* The key/value list, zstd-compressed as libtec does (doc/bitstream.md);
 * si: the sequence header of a tec stream, NULL for raw. */
static int build_meta(AVFormatContext *s, const TecStreamInfo *si, uint8_t **out,
                      size_t *out_size)
{
    const AVDictionaryEntry *e = NULL;
    size_t raw_size = 4, bound, n_packed;
    uint32_t n = 0;
    uint8_t *raw, *p, *packed;

    while ((e = av_dict_get(s->metadata, "", e, AV_DICT_IGNORE_SUFFIX))) {
        size_t kl = strlen(e->key), vl = strlen(e->value);
        if (is_ffmpeg_tag(e) || names_header_bands(e, si))
            continue;
        if (!kl || kl > 0xffff) {
            av_log(s, AV_LOG_ERROR, "metadata key of %zu bytes cannot be stored\n", kl);
            return AVERROR(EINVAL);
        }
        raw_size += 6 + kl + vl;
        if (raw_size > TECV_MAX_META) {
            av_log(s, AV_LOG_ERROR, "metadata exceeds %u bytes\n", TECV_MAX_META);
            return AVERROR(EINVAL);
        }
        n++;
    }
    raw = av_malloc(raw_size);
    bound = ZSTD_compressBound(raw_size);
    packed = av_malloc(bound);
    if (!raw || !packed) {
        av_free(raw);
        av_free(packed);
        return AVERROR(ENOMEM);
    }
    p = raw;
    AV_WL32(p, n);
    p += 4;
    while ((e = av_dict_get(s->metadata, "", e, AV_DICT_IGNORE_SUFFIX))) {
        size_t kl = strlen(e->key), vl = strlen(e->value);
        if (is_ffmpeg_tag(e) || names_header_bands(e, si))
            continue;
        AV_WL16(p, kl);
        memcpy(p + 2, e->key, kl);
        p += 2 + kl;
        AV_WL32(p, vl);
        memcpy(p + 4, e->value, vl);
        p += 4 + vl;
    }
    n_packed = ZSTD_compress(packed, bound, raw, raw_size, TECV_META_LEVEL);
    av_free(raw);
    if (ZSTD_isError(n_packed)) {
        av_log(s, AV_LOG_ERROR, "zstd: %s\n", ZSTD_getErrorName(n_packed));
        av_free(packed);
        return AVERROR_EXTERNAL;
    }
    *out = packed;
    *out_size = n_packed;
    return 0;
}

/* Band count of a raw stream: the option, else what the source said. */
static int raw_band_count(AVFormatContext *s, AVStream *st)
{
    TecvMuxContext *c = s->priv_data;
    const AVDictionaryEntry *e;
    int64_t v;

    if (c->bands_opt > 0)
        return c->bands_opt;
    e = av_dict_get(st->metadata, "band_count", NULL, 0);
    if (e && !tec_parse_int(e->value, 1, TEC_MAX_BANDS, &v))
        return (int)v;
    e = av_dict_get(s->metadata, "bands", NULL, 0);
    if (e && *e->value) {
        int n = 1;
        for (const char *q = e->value; *q; q++)
            n += *q == ',';
        return n;
    }
    return 0;
}

static int tecv_init(AVFormatContext *s)
{
    TecvMuxContext *c = s->priv_data;
    AVStream *st;
    AVCodecParameters *par;

    if (s->nb_streams != 1 || s->streams[0]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) {
        av_log(s, AV_LOG_ERROR, "a .tecv file holds exactly one video stream\n");
        return AVERROR(EINVAL);
    }
    st = s->streams[0];
    par = st->codecpar;
    c->header_pos = -1;
    if (par->codec_id == AV_CODEC_ID_TEC) {
        c->codec = TEC_CODEC_TEC;
    } else if (par->codec_id == AV_CODEC_ID_RAWVIDEO) {
        c->codec = TEC_CODEC_RAW;
        if (par->format != AV_PIX_FMT_GRAY16LE) {
            av_log(s, AV_LOG_ERROR, "raw .tecv streams are gray16le stacked bands, not %s\n",
                   av_get_pix_fmt_name(par->format));
            return AVERROR(EINVAL);
        }
        c->bands = raw_band_count(s, st);
        if (c->bands < 1 || c->bands > TEC_MAX_BANDS) {
            av_log(s, AV_LOG_ERROR, "band count of the raw stream unknown: pass -bands C\n");
            return AVERROR(EINVAL);
        }
        if (par->height % c->bands || par->width < 1 || par->width > TEC_MAX_DIM ||
            par->height / c->bands > TEC_MAX_DIM) {
            av_log(s, AV_LOG_ERROR, "a %dx%d frame is not %d stacked bands\n",
                   par->width, par->height, c->bands);
            return AVERROR(EINVAL);
        }
        c->width = par->width;
        c->height = par->height / c->bands;
        c->raw_size = 2LL * par->width * par->height;
    } else {
        av_log(s, AV_LOG_ERROR, "a .tecv file holds codec tec or rawvideo (gray16le)\n");
        return AVERROR(EINVAL);
    }
    /* Acquisition times are milliseconds. */
    avpriv_set_pts_info(st, 64, 1, 1000);
    return 0;
}

static int write_tecv_header(AVFormatContext *s, const uint8_t *seq, size_t seq_size)
{
    TecvMuxContext *c = s->priv_data;
    AVIOContext *pb = s->pb;
    uint8_t *meta = NULL, *p;
    size_t meta_size = 0, header_size;
    TecStreamInfo si;
    int ret;

    if (c->codec == TEC_CODEC_TEC) {
        ret = tec_parse_header(seq, seq_size, &si);
        if (ret < 0) {
            av_log(s, AV_LOG_ERROR, "invalid tec sequence header (extradata): %s\n",
                   tec_strerror(ret));
            return AVERROR_INVALIDDATA;
        }
        c->bands = si.bands;
        c->width = si.width;
        c->height = si.height;
    }
    ret = build_meta(s, c->codec == TEC_CODEC_TEC ? &si : NULL, &meta, &meta_size);
    if (ret < 0)
        return ret;
    header_size = TECV_MIN_HEADER + seq_size + meta_size;
    c->header = av_malloc(TECV_FIXED + header_size);
    if (!c->header) {
        av_free(meta);
        return AVERROR(ENOMEM);
    }
    c->header_len = TECV_FIXED + header_size;
    p = c->header;
    memcpy(p, "TECV", 4);
    p[4] = 2;                   /* major */
    p[5] = 0;                   /* minor */
    p[6] = c->codec;
    p[7] = 0;
    AV_WL32(p + 8, header_size);
    p += TECV_FIXED;
    AV_WL16(p, c->bands);
    AV_WL32(p + 2, c->width);
    AV_WL32(p + 6, c->height);
    AV_WL64(p + 10, 0);         /* frame_count: patched at the end if possible */
    AV_WL32(p + 18, seq_size);
    p += 22;
    if (seq_size)
        memcpy(p, seq, seq_size);
    p += seq_size;
    AV_WL32(p, meta_size);
    memcpy(p + 4, meta, meta_size);
    av_free(meta);
    AV_WL32(c->header + 12, crc32_ieee(c->header + TECV_FIXED, header_size));

    if (pb->seekable & AVIO_SEEKABLE_NORMAL)
        c->header_pos = avio_tell(pb);
    avio_write(pb, c->header, c->header_len);
    c->header_written = 1;
    return 0;
}

static int tecv_write_header(AVFormatContext *s)
{
    TecvMuxContext *c = s->priv_data;
    AVCodecParameters *par = s->streams[0]->codecpar;

    if (c->codec == TEC_CODEC_RAW)
        return write_tecv_header(s, NULL, 0);
    /* A libtec encoder that learns the band layout from its first frame
     * hands the sequence header over with the first packet. */
    if (par->extradata_size > 0)
        return write_tecv_header(s, par->extradata, par->extradata_size);
    return 0;
}

/* Time and flags from the packet's metadata (stream copy, libtec encoder). */
static int packet_time(AVFormatContext *s, const AVPacket *pkt, int64_t *time_ms, int *flags)
{
    TecvMuxContext *c = s->priv_data;
    AVDictionary *d = NULL;
    const AVDictionaryEntry *t, *f;
    size_t size;
    const uint8_t *sd = av_packet_get_side_data(pkt, AV_PKT_DATA_STRINGS_METADATA, &size);
    int64_t v, fl;
    int found = 0;

    if (sd && av_packet_unpack_dictionary(sd, size, &d) >= 0) {
        t = av_dict_get(d, TEC_KEY_TIME_MS, NULL, 0);
        f = av_dict_get(d, TEC_KEY_FLAGS, NULL, 0);
        if (t && f && !tec_parse_int(t->value, INT64_MIN, INT64_MAX, &v) &&
            !tec_parse_int(f->value, 0, 255, &fl)) {
            *time_ms = v;
            *flags = (int)fl;
            found = 1;
        }
    }
    av_dict_free(&d);
    if (found)
        return 0;
    *flags = (pkt->flags & AV_PKT_FLAG_KEY) || c->codec == TEC_CODEC_RAW ? TEC_PKT_FLAG_KEY : 0;
    *time_ms = 0;
    if (c->timeline == TIMELINE_NATIVE && pkt->pts != AV_NOPTS_VALUE) {
        *time_ms = pkt->pts;    /* the stream time base is 1/1000 */
        *flags |= TEC_PKT_FLAG_TIME;
    }
    return 0;
}

static int tecv_write_packet(AVFormatContext *s, AVPacket *pkt)
{
    TecvMuxContext *c = s->priv_data;
    AVIOContext *pb = s->pb;
    uint8_t head[TECP_SIZE] = { 'T', 'E', 'C', 'P' };
    int64_t time_ms;
    int flags, ret;

    if (!c->header_written) {
        size_t size;
        const uint8_t *seq = av_packet_get_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, &size);
        if (!seq || !size) {
            av_log(s, AV_LOG_ERROR, "tec stream without a sequence header (no extradata)\n");
            return AVERROR(EINVAL);
        }
        ret = write_tecv_header(s, seq, size);
        if (ret < 0)
            return ret;
    }
    if (c->codec == TEC_CODEC_RAW && pkt->size != c->raw_size) {
        av_log(s, AV_LOG_ERROR, "raw packet of %d bytes, frames of %d bands of %dx%d have "
               "%"PRId64"\n", pkt->size, c->bands, c->width, c->height, c->raw_size);
        return AVERROR(EINVAL);
    }
    if (pkt->size <= 0) {
        av_log(s, AV_LOG_ERROR, "empty packet\n");
        return AVERROR(EINVAL);
    }
    ret = packet_time(s, pkt, &time_ms, &flags);
    if (ret < 0)
        return ret;
    AV_WL32(head + 4, pkt->size);
    AV_WL64(head + 8, (uint64_t)time_ms);
    head[16] = flags;
    AV_WL32(head + 20, tec_packet_crc(head, pkt->data, pkt->size));
    avio_write(pb, head, TECP_SIZE);
    avio_write(pb, pkt->data, pkt->size);
    c->frame_count++;
    return 0;
}

static int tecv_write_trailer(AVFormatContext *s)
{
    TecvMuxContext *c = s->priv_data;
    AVIOContext *pb = s->pb;
    int64_t end;

    if (!c->header_written) {
        av_log(s, AV_LOG_ERROR, "no packet: the .tecv header could not be written\n");
        return AVERROR(EINVAL);
    }
    if (c->header_pos < 0 || !(pb->seekable & AVIO_SEEKABLE_NORMAL))
        return 0;
    AV_WL64(c->header + TECV_FIXED + 10, c->frame_count);
    AV_WL32(c->header + 12, crc32_ieee(c->header + TECV_FIXED, c->header_len - TECV_FIXED));
    end = avio_tell(pb);
    if (avio_seek(pb, c->header_pos, SEEK_SET) < 0)
        return 0;
    avio_write(pb, c->header, TECV_COUNT_END);
    avio_seek(pb, end, SEEK_SET);
    return 0;
}

static void tecv_deinit(AVFormatContext *s)
{
    TecvMuxContext *c = s->priv_data;
    av_freep(&c->header);
}

#define OFFSET(x) offsetof(TecvMuxContext, x)
#define ENC AV_OPT_FLAG_ENCODING_PARAM
static const AVOption tecv_options[] = {
    { "timeline", "where packets without tec metadata get their acquisition time",
      OFFSET(timeline), AV_OPT_TYPE_INT, { .i64 = TIMELINE_AUTO },
      TIMELINE_AUTO, TIMELINE_NATIVE, ENC, "timeline" },
    { "auto",   "from the packets' metadata only (else unknown)", 0,
      AV_OPT_TYPE_CONST, { .i64 = TIMELINE_AUTO }, 0, 0, ENC, "timeline" },
    { "native", "else from pts: milliseconds since 1970", 0,
      AV_OPT_TYPE_CONST, { .i64 = TIMELINE_NATIVE }, 0, 0, ENC, "timeline" },
    { "bands", "band count of a raw (rawvideo gray16le) stream", OFFSET(bands_opt),
      AV_OPT_TYPE_INT, { .i64 = 0 }, 0, TEC_MAX_BANDS, ENC },
    { NULL },
};

static const AVClass tecv_muxer_class = {
    .class_name = "tecv muxer",
    .item_name  = av_default_item_name,
    .option     = tecv_options,
    .version    = LIBAVUTIL_VERSION_INT,
};

const TEC_OUTPUT_FORMAT ff_tecv_muxer = {
    TEC_OFMT(name)           = "tecv",
    TEC_OFMT(long_name)      = NULL_IF_CONFIG_SMALL("TerraCodec multispectral time series"),
    TEC_OFMT(extensions)     = "tecv",
    TEC_OFMT(audio_codec)    = AV_CODEC_ID_NONE,
    TEC_OFMT(video_codec)    = AV_CODEC_ID_TEC,
    TEC_OFMT(subtitle_codec) = AV_CODEC_ID_NONE,
    TEC_OFMT(flags)          = AVFMT_NOTIMESTAMPS | AVFMT_VARIABLE_FPS,
    TEC_OFMT(priv_class)     = &tecv_muxer_class,
    .priv_data_size          = sizeof(TecvMuxContext),
    .query_codec             = tecv_query_codec,
    .init                    = tecv_init,
    .write_header            = tecv_write_header,
    .write_packet            = tecv_write_packet,
    .write_trailer           = tecv_write_trailer,
    .deinit                  = tecv_deinit,
};
