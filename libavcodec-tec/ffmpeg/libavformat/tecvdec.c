/*
 * TerraCodec .tecv demuxer (doc/bitstream.md, section 6; doc/ffmpeg.md).
 *
 * The header (stream geometry, sequence header, zstd-compressed key/value
 * metadata) is parsed by libtec itself, so FFmpeg and the tec tool accept
 * exactly the same files.  Packets are read here through AVIOContext: a
 * 24-byte header ("TECP", size, acquisition time, flags, CRC-32) and the
 * payload.  A packet that fails its checks is reported and skipped; reading
 * resumes at the next "TECP" whose packet passes its CRC.
 *
 * This file is part of TerraCodec's FFmpeg glue; it is LGPL-2.1-or-later
 * like the FFmpeg files it is built with.
 */

#include <tec/tec.h>

#include "libavutil/avstring.h"
#include "libavutil/bprint.h"
#include "libavutil/dict.h"
#include "libavutil/imgutils.h"
#include "libavutil/intreadwrite.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"
#include "libavcodec/tec_common.h"
#include "avformat.h"
#include "avio_internal.h"
#include "internal.h"
#include "libavcodec/tec_compat.h"

#define TECV_FIXED      16
#define TECV_MIN_HEADER 26
#define TECV_MAX_HEADER (32u << 20)
#define TECP_SIZE       24
#define SEEKBACK_MAX    (64 << 20)

enum { TIMELINE_INDEX, TIMELINE_NATIVE };

typedef struct TecvDemuxContext {
    const AVClass *class;
    int timeline;
    AVRational framerate;

    int codec;                /* TEC_CODEC_* */
    int bands, width, height;
    int64_t raw_size;         /* codec raw: the payload size of every packet */
    int64_t file_size;        /* -1 when unknown */
    int64_t next_index;       /* frame-index timeline */
    int64_t data_start;       /* offset of the first packet */
    int lost;                 /* corrupt packets skipped since the last good one */
    char *radiometric_offset; /* the container's, passed on with every packet */
    AVDictionary *layout;     /* codec raw: the stacked-bands tag of every packet */
} TecvDemuxContext;

static int tecv_probe(const AVProbeData *p)
{
    uint32_t header_size;

    if (p->buf_size < TECV_FIXED || memcmp(p->buf, "TECV", 4))
        return 0;
    header_size = AV_RL32(p->buf + 8);
    if (p->buf[4] != 2 || p->buf[6] > TEC_CODEC_TEC ||
        header_size < TECV_MIN_HEADER || header_size > TECV_MAX_HEADER)
        return AVPROBE_SCORE_MAX / 4;
    return AVPROBE_SCORE_MAX;
}

static int tec_error_to_av(int err)
{
    switch (err) {
    case TEC_ENOMEM:       return AVERROR(ENOMEM);
    case TEC_EIO:          return AVERROR(EIO);
    case TEC_EUNSUPPORTED: return AVERROR_PATCHWELCOME;
    case TEC_EINVAL:       return AVERROR(EINVAL);
    default:               return AVERROR_INVALIDDATA;
    }
}

/* Stream metadata that describes the stream (ffprobe -show_streams); the
 * container's own key/value list goes to the format metadata verbatim. */
static int export_stream_info(AVFormatContext *s, AVStream *st, const TecvInfo *info,
                              const TecStreamInfo *si)
{
    TecvDemuxContext *c = s->priv_data;
    AVBPrint names;

    av_dict_set_int(&st->metadata, "band_count", c->bands, 0);
    av_bprint_init(&names, 0, AV_BPRINT_SIZE_UNLIMITED);
    if (si) {
        for (int b = 0; b < si->bands; b++)
            av_bprintf(&names, "%s%.*s", b ? "," : "", TEC_MAX_BAND_NAME, si->band_names[b]);
    } else {
        const char *list = tec_tecv_meta(info, "bands");
        if (list)
            av_bprintf(&names, "%s", list);
    }
    if (!av_bprint_is_complete(&names)) {
        av_bprint_finalize(&names, NULL);
        return AVERROR(ENOMEM);
    }
    if (names.len)
        av_dict_set(&st->metadata, "band_names", names.str, 0);
    av_dict_set_int(&st->metadata, "band_width", c->width, 0);
    av_dict_set_int(&st->metadata, "band_height", c->height, 0);
    if (info->frame_count > 0)
        av_dict_set_int(&st->metadata, "frame_count", info->frame_count, 0);
    if (si) {
        char hex[17];
        snprintf(hex, sizeof(hex), "%016"PRIx64, si->model_checksum);
        av_dict_set(&st->metadata, "model", si->model, 0);
        av_dict_set(&st->metadata, "model_checksum", hex, 0);
        av_dict_set_int(&st->metadata, "keyframe_interval", si->keyframe_interval, 0);
    } else {
        /* The tag every raw packet carries (see tec_common.h). */
        av_dict_set(&c->layout, TEC_KEY_LAYOUT, TEC_LAYOUT_STACKED, 0);
        av_dict_set_int(&c->layout, TEC_KEY_BANDS, c->bands, 0);
        av_dict_set_int(&c->layout, TEC_KEY_BAND_WIDTH, c->width, 0);
        av_dict_set_int(&c->layout, TEC_KEY_BAND_HEIGHT, c->height, 0);
        if (names.len)
            av_dict_set(&c->layout, TEC_KEY_BAND_NAMES, names.str, 0);
    }
    av_bprint_finalize(&names, NULL);
    return 0;
}

static int tecv_read_header(AVFormatContext *s)
{
    TecvDemuxContext *c = s->priv_data;
    AVIOContext *pb = s->pb;
    uint8_t fixed[TECV_FIXED], *buf = NULL;
    TecvReader *r = NULL;
    const TecvInfo *info;
    TecStreamInfo si;
    AVStream *st;
    uint32_t header_size;
    size_t total;
    int ret;

    ret = ffio_read_size(pb, fixed, TECV_FIXED);
    if (ret < 0)
        return ret == AVERROR_EOF ? AVERROR_INVALIDDATA : ret;
    header_size = AV_RL32(fixed + 8);
    if (memcmp(fixed, "TECV", 4) || header_size < TECV_MIN_HEADER ||
        header_size > TECV_MAX_HEADER) {
        av_log(s, AV_LOG_ERROR, "not a .tecv file or header_size %"PRIu32" out of range\n",
               header_size);
        return AVERROR_INVALIDDATA;
    }
    c->file_size = avio_size(pb);
    if (c->file_size >= 0 && c->file_size < TECV_FIXED + (int64_t)header_size) {
        av_log(s, AV_LOG_ERROR, "file ends inside the %"PRIu32"-byte header\n", header_size);
        return AVERROR_INVALIDDATA;
    }
    total = TECV_FIXED + (size_t)header_size;
    buf = av_malloc(total);
    if (!buf)
        return AVERROR(ENOMEM);
    memcpy(buf, fixed, TECV_FIXED);
    ret = ffio_read_size(pb, buf + TECV_FIXED, header_size);
    if (ret < 0) {
        av_log(s, AV_LOG_ERROR, "file ends inside the header\n");
        ret = ret == AVERROR_EOF ? AVERROR_INVALIDDATA : ret;
        goto end;
    }
    c->data_start = avio_tell(pb);

    /* libtec checks the CRC, versions, geometry and metadata. */
    ret = tec_tecv_open_read_mem(&r, buf, total);
    if (ret < 0) {
        av_log(s, AV_LOG_ERROR, "%s\n", tec_tecv_reader_error(r));
        ret = tec_error_to_av(ret);
        goto end;
    }
    info = tec_tecv_info(r);
    c->codec  = info->codec;
    c->bands  = info->bands;
    c->width  = info->width;
    c->height = info->height;

    if (c->codec == TEC_CODEC_TEC) {
        ret = tec_parse_header(info->seq_header, info->seq_header_size, &si);
        if (ret < 0) {
            av_log(s, AV_LOG_ERROR, "invalid sequence header: %s\n", tec_strerror(ret));
            ret = AVERROR_INVALIDDATA;
            goto end;
        }
        if (si.bands != c->bands || si.width != c->width || si.height != c->height) {
            av_log(s, AV_LOG_ERROR, "container geometry %dx%dx%d differs from the sequence "
                   "header's %dx%dx%d\n", c->bands, c->height, c->width,
                   si.bands, si.height, si.width);
            ret = AVERROR_INVALIDDATA;
            goto end;
        }
    }

    st = avformat_new_stream(s, NULL);
    if (!st) {
        ret = AVERROR(ENOMEM);
        goto end;
    }
    st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
    if (c->codec == TEC_CODEC_TEC) {
        st->codecpar->codec_id = AV_CODEC_ID_TEC;
        /* What the decoder gives by default (output=rgb); the decoder takes
         * the real geometry from the extradata. */
        st->codecpar->format = AV_PIX_FMT_GBRP16;
        st->codecpar->width  = c->width;
        st->codecpar->height = c->height;
        st->codecpar->extradata = av_mallocz(info->seq_header_size + AV_INPUT_BUFFER_PADDING_SIZE);
        if (!st->codecpar->extradata) {
            ret = AVERROR(ENOMEM);
            goto end;
        }
        memcpy(st->codecpar->extradata, info->seq_header, info->seq_header_size);
        st->codecpar->extradata_size = info->seq_header_size;
    } else {
        int64_t h = (int64_t)c->bands * c->height;
        if (h > INT_MAX || av_image_check_size(c->width, (int)h, 0, s) < 0) {
            av_log(s, AV_LOG_ERROR, "%d bands of %dx%d stacked are too large for an FFmpeg "
                   "frame (%dx%"PRId64"); use the tec tool or smaller tiles\n",
                   c->bands, c->width, c->height, c->width, h);
            ret = AVERROR_PATCHWELCOME;
            goto end;
        }
        c->raw_size = 2 * h * c->width;
        if (c->raw_size > INT_MAX - AV_INPUT_BUFFER_PADDING_SIZE) {
            ret = AVERROR_PATCHWELCOME;
            goto end;
        }
        st->codecpar->codec_id = AV_CODEC_ID_RAWVIDEO;
        st->codecpar->format   = AV_PIX_FMT_GRAY16LE;
        st->codecpar->width    = c->width;
        st->codecpar->height   = (int)h;
        st->codecpar->bits_per_coded_sample = 16;
    }

    if (c->timeline == TIMELINE_NATIVE) {
        avpriv_set_pts_info(st, 64, 1, 1000);
    } else {
        avpriv_set_pts_info(st, 64, c->framerate.den, c->framerate.num);
        st->avg_frame_rate = st->r_frame_rate = c->framerate;
        if (info->frame_count > 0) {
            st->duration = info->frame_count;
            st->nb_frames = info->frame_count;
        }
    }
    if (info->frame_count > 0 && c->timeline == TIMELINE_NATIVE)
        st->nb_frames = info->frame_count;

    /* The container's key/value list, verbatim and in file order. */
    for (int i = 0; i < info->n_meta; i++) {
        ret = av_dict_set(&s->metadata, info->meta_keys[i], info->meta_values[i],
                          AV_DICT_MULTIKEY);
        if (ret < 0)
            goto end;
    }
    ret = export_stream_info(s, st, info, c->codec == TEC_CODEC_TEC ? &si : NULL);
    if (ret >= 0 && tec_tecv_meta(info, "radiometric_offset")) {
        c->radiometric_offset = av_strdup(tec_tecv_meta(info, "radiometric_offset"));
        if (!c->radiometric_offset)
            ret = AVERROR(ENOMEM);
    }

end:
    if (ret < 0) {
        av_dict_free(&c->layout);
        av_freep(&c->radiometric_offset);
    }
    tec_tecv_close_read(&r);
    av_free(buf);
    return ret;
}

static int attach_packet_metadata(TecvDemuxContext *c, AVPacket *pkt, int64_t time_ms,
                                  int flags)
{
    AVDictionary *d = NULL;
    uint8_t *data;
    size_t size;
    int ret;

    if (flags & TEC_PKT_FLAG_TIME) {
        char iso[48];
        tec_format_time(iso, sizeof(iso), time_ms);
        av_dict_set(&d, TEC_KEY_TIME, iso, 0);
    }
    av_dict_set_int(&d, TEC_KEY_TIME_MS, time_ms, 0);
    av_dict_set_int(&d, TEC_KEY_FLAGS, flags, 0);
    if (c->lost)
        av_dict_set_int(&d, TEC_KEY_LOST, c->lost, 0);
    if (c->radiometric_offset)
        av_dict_set(&d, TEC_KEY_RADIOMETRIC_OFFSET, c->radiometric_offset, 0);
    if (c->layout)
        av_dict_copy(&d, c->layout, 0);
    data = av_packet_pack_dictionary(d, &size);
    av_dict_free(&d);
    if (!data)
        return AVERROR(ENOMEM);
    ret = av_packet_add_side_data(pkt, AV_PKT_DATA_STRINGS_METADATA, data, size);
    if (ret < 0)
        av_free(data);
    return ret;
}

/*
 * Try to read the packet at the current position.  1: pkt holds it; 0:
 * the packet is corrupt (why in *why), the position is unspecified; <0:
 * EOF or an I/O error.
 */
static int read_one(AVFormatContext *s, AVPacket *pkt, int64_t *time_ms, int *flags,
                    const char **why)
{
    TecvDemuxContext *c = s->priv_data;
    AVIOContext *pb = s->pb;
    uint8_t head[TECP_SIZE];
    int64_t pos = avio_tell(pb);
    uint32_t size;
    int ret;

    ret = avio_read(pb, head, TECP_SIZE);
    if (ret == AVERROR_EOF || ret == 0)
        return AVERROR_EOF;
    if (ret < 0)
        return ret;
    if (ret < TECP_SIZE) {
        *why = "truncated packet header at the end of the file";
        return AVERROR_EOF;
    }
    if (memcmp(head, "TECP", 4)) {
        *why = "bad packet sync";
        return 0;
    }
    size = AV_RL32(head + 4);
    if (size > INT_MAX - AV_INPUT_BUFFER_PADDING_SIZE) {
        *why = "packet size out of range";
        return 0;
    }
    if (!size) {
        /* Valid in the container, but no frame: FFmpeg has no use for it. */
        *why = "empty packet";
        return 0;
    }
    if (c->codec == TEC_CODEC_RAW && size != c->raw_size) {
        *why = "raw packet size differs from the frame size";
        return 0;
    }
    if (c->file_size >= 0 && pos + TECP_SIZE + (int64_t)size > c->file_size) {
        *why = "packet runs past the end of the file";
        return 0;
    }
    /* On a pipe, keep the bytes so that a failed candidate can be rescanned
     * (up to a sane size: a lying size field must not cost its claim). */
    if (!(pb->seekable & AVIO_SEEKABLE_NORMAL) && size <= SEEKBACK_MAX)
        ffio_ensure_seekback(pb, TECP_SIZE + (int64_t)size);
    ret = av_get_packet(pb, pkt, size);
    if (ret < 0)
        return ret;
    if (ret < (int)size) {
        av_packet_unref(pkt);
        *why = "truncated packet at the end of the file";
        return 0;
    }
    if (tec_packet_crc(head, pkt->data, size) != AV_RL32(head + 20)) {
        av_packet_unref(pkt);
        *why = "packet CRC mismatch";
        return 0;
    }
    *time_ms = (int64_t)AV_RL64(head + 8);
    *flags = head[16];
    pkt->pos = pos;
    return 1;
}

/* Find the next "TECP" at or after pos; its offset, or <0 at the end. */
static int64_t find_sync(AVIOContext *pb, int64_t pos)
{
    uint32_t state = 0;
    int64_t n = 0;

    if (avio_seek(pb, pos, SEEK_SET) < 0)
        pos = avio_tell(pb);  /* a pipe that cannot go back: scan on from here */
    while (!avio_feof(pb)) {
        state = (state << 8) | avio_r8(pb);
        n++;
        if (n >= 4 && state == MKBETAG('T', 'E', 'C', 'P')) {
            int64_t at = avio_tell(pb) - 4;
            if (avio_seek(pb, at, SEEK_SET) < 0)
                return AVERROR(EIO);
            return at;
        }
    }
    return AVERROR_EOF;
}

static int tecv_read_packet(AVFormatContext *s, AVPacket *pkt)
{
    TecvDemuxContext *c = s->priv_data;
    AVIOContext *pb = s->pb;
    int64_t time_ms = 0, start;
    int flags = 0, ret;
    const char *why = NULL;

    start = avio_tell(pb);
    ret = read_one(s, pkt, &time_ms, &flags, &why);
    if (ret < 0 && why)
        av_log(s, AV_LOG_ERROR, "%s (offset %"PRId64")\n", why, start);
    if (ret == 0) {
        /* Resynchronise: the next "TECP" whose packet passes its checks. */
        av_log(s, AV_LOG_ERROR, "corrupt packet at offset %"PRId64": %s; "
               "resynchronising\n", start, why);
        c->lost++;
        c->next_index++;
        for (int64_t from = start + 1;; ) {
            int64_t at = find_sync(pb, from);
            if (at < 0) {
                av_log(s, AV_LOG_ERROR, "no valid packet after offset %"PRId64"\n", start);
                return at == AVERROR_EOF ? AVERROR_EOF : (int)at;
            }
            ret = read_one(s, pkt, &time_ms, &flags, &why);
            if (ret < 0 && ret != AVERROR_EOF)
                return ret;
            if (ret > 0) {
                av_log(s, AV_LOG_WARNING, "resynchronised at offset %"PRId64
                       " (%"PRId64" bytes skipped)\n", at, at - start);
                break;
            }
            from = at + 1;
        }
    }
    if (ret < 0)
        return ret;

    pkt->stream_index = 0;
    if (flags & TEC_PKT_FLAG_KEY)
        pkt->flags |= AV_PKT_FLAG_KEY;
    if (c->timeline == TIMELINE_NATIVE) {
        pkt->pts = pkt->dts = (flags & TEC_PKT_FLAG_TIME) ? time_ms : AV_NOPTS_VALUE;
    } else {
        pkt->pts = pkt->dts = c->next_index;
        pkt->duration = 1;
    }
    c->next_index++;
    ret = attach_packet_metadata(c, pkt, time_ms, flags);
    c->lost = 0;
    if (ret < 0)
        av_packet_unref(pkt);
    return ret;
}

/*
 * Seek to a keyframe: the packet headers are walked from the first packet
 * (24 bytes each, the payloads are skipped), so that the frame-index
 * timeline stays the frame's number.  (FFmpeg's generic seek would move the
 * file position behind the demuxer's back and shift every later pts.)
 * With AVSEEK_FLAG_BACKWARD the last keyframe at or before ts, else the
 * first at or after it; on the native timeline ts is the acquisition time,
 * with AVSEEK_FLAG_FRAME or on the frame-index timeline the frame number.
 * The walk stops at the first damaged packet header.
 */
static int tecv_read_seek(AVFormatContext *s, int stream_index, int64_t ts, int flags)
{
    TecvDemuxContext *c = s->priv_data;
    AVIOContext *pb = s->pb;
    const int by_time = c->timeline == TIMELINE_NATIVE && !(flags & AVSEEK_FLAG_FRAME);
    const int64_t back = avio_tell(pb);
    int64_t pos = c->data_start, index = 0, found_pos = -1, found_index = 0;
    uint8_t head[TECP_SIZE];

    if (stream_index > 0 || (flags & AVSEEK_FLAG_BYTE) || !(pb->seekable & AVIO_SEEKABLE_NORMAL))
        return AVERROR(ENOSYS);
    for (;; index++) {
        int64_t t;
        if (avio_seek(pb, pos, SEEK_SET) < 0 || avio_read(pb, head, TECP_SIZE) != TECP_SIZE ||
            memcmp(head, "TECP", 4))
            break;
        t = !by_time ? index : (head[16] & TEC_PKT_FLAG_TIME) ? (int64_t)AV_RL64(head + 8)
                                                              : AV_NOPTS_VALUE;
        if ((head[16] & TEC_PKT_FLAG_KEY) && t != AV_NOPTS_VALUE) {
            if (flags & AVSEEK_FLAG_BACKWARD) {
                if (t <= ts) {
                    found_pos = pos;
                    found_index = index;
                } else if (!by_time) {
                    break;
                }
            } else if (t >= ts) {
                found_pos = pos;
                found_index = index;
                break;
            }
        }
        pos += TECP_SIZE + (int64_t)AV_RL32(head + 4);
    }
    if (found_pos < 0 || avio_seek(pb, found_pos, SEEK_SET) < 0) {
        avio_seek(pb, back, SEEK_SET);
        return AVERROR(EINVAL);
    }
    c->next_index = found_index;
    c->lost = 0;
    return 0;
}

static int tecv_read_close(AVFormatContext *s)
{
    TecvDemuxContext *c = s->priv_data;
    av_dict_free(&c->layout);
    av_freep(&c->radiometric_offset);
    return 0;
}

#define OFFSET(x) offsetof(TecvDemuxContext, x)
#define DEC AV_OPT_FLAG_DECODING_PARAM
static const AVOption tecv_options[] = {
    { "timeline", "timestamps of the packets", OFFSET(timeline), AV_OPT_TYPE_INT,
      { .i64 = TIMELINE_INDEX }, TIMELINE_INDEX, TIMELINE_NATIVE, DEC, "timeline" },
    { "index",  "frame index at -framerate (smooth playback of the time-lapse)", 0,
      AV_OPT_TYPE_CONST, { .i64 = TIMELINE_INDEX }, 0, 0, DEC, "timeline" },
    { "native", "acquisition time, time base 1/1000 s since 1970", 0,
      AV_OPT_TYPE_CONST, { .i64 = TIMELINE_NATIVE }, 0, 0, DEC, "timeline" },
    { "framerate", "frames per second of the frame-index timeline", OFFSET(framerate),
      AV_OPT_TYPE_VIDEO_RATE, { .str = "5" }, 0, INT_MAX, DEC },
    { NULL },
};

static const AVClass tecv_demuxer_class = {
    .class_name = "tecv demuxer",
    .item_name  = av_default_item_name,
    .option     = tecv_options,
    .version    = LIBAVUTIL_VERSION_INT,
};

const TEC_INPUT_FORMAT ff_tecv_demuxer = {
    TEC_IFMT(name)       = "tecv",
    TEC_IFMT(long_name)  = NULL_IF_CONFIG_SMALL("TerraCodec multispectral time series"),
    TEC_IFMT(extensions) = "tecv",
    /* No generic search: it would seek behind the demuxer's back. */
    TEC_IFMT(flags)      = AVFMT_GENERIC_INDEX | AVFMT_NOGENSEARCH | AVFMT_NOBINSEARCH,
    TEC_IFMT(priv_class) = &tecv_demuxer_class,
    .priv_data_size      = sizeof(TecvDemuxContext),
    .read_probe          = tecv_probe,
    .read_header         = tecv_read_header,
    .read_packet         = tecv_read_packet,
    .read_seek           = tecv_read_seek,
    .read_close          = tecv_read_close,
};
