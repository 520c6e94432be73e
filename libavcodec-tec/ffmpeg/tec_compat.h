/*
 * TerraCodec glue: the FFmpeg version differences in one place.
 *
 * Our files are written against FFmpeg 5.1 (the oldest supported: it is
 * the first with FFCodec).  Every construct whose spelling changed later is
 * reached through a macro here.  Which versions were actually built is said
 * in doc/ffmpeg.md; the branches for later versions follow FFmpeg's public
 * history and were not all compiled.
 *
 * Version boundaries (release numbers and library majors):
 *   5.1: lavu 57.28, lavc 59.37, lavf 59.27
 *   6.0: lavu 58, lavc 60, lavf 60: FFOutputFormat; AVFrame.duration
 *        (lavu 57.30); FF_CODEC_CAP_INIT_THREADSAFE gone (init is assumed
 *        thread-safe); CODEC_LONG_NAME
 *   6.1: lavu 58.29: AV_FRAME_FLAG_KEY replaces key_frame
 *   7.0: lavu 59, lavc 61, lavf 61: FFInputFormat; frame->pkt_pos,
 *        pkt_duration, key_frame removed
 *   7.1: CODEC_PIXFMTS replaces .p.pix_fmts
 */
#ifndef TEC_COMPAT_H
#define TEC_COMPAT_H

#include "libavutil/version.h"
#include "libavutil/frame.h"

#if LIBAVUTIL_VERSION_INT < AV_VERSION_INT(57, 28, 100)
#error "the TerraCodec glue needs FFmpeg 5.1 or later"
#endif

/* ---------------------------------------------------------------- frames */

#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
#define TEC_FRAME_DURATION(f) ((f)->duration)
#else
#define TEC_FRAME_DURATION(f) ((f)->pkt_duration)
#endif

#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(58, 29, 100)
#define TEC_FRAME_SET_KEY(f, key) \
    do { if (key) (f)->flags |= AV_FRAME_FLAG_KEY; else (f)->flags &= ~AV_FRAME_FLAG_KEY; } while (0)
#else
#define TEC_FRAME_SET_KEY(f, key) ((f)->key_frame = !!(key))
#endif

/* frame->pkt_pos, pkt_size: deprecated in 6.x, gone in 7.0; only set
 * where they are not deprecated yet. */
#if LIBAVUTIL_VERSION_MAJOR < 58
#define TEC_FRAME_SET_POS(f, pos, size) ((f)->pkt_pos = (pos), (f)->pkt_size = (size))
#else
#define TEC_FRAME_SET_POS(f, pos, size) ((void)(f), (void)(pos), (void)(size))
#endif

/* ---------------------------------------------------------------- codecs
 * Only meaningful after "codec_internal.h" (libavcodec files). */
#ifdef AVCODEC_CODEC_INTERNAL_H

#ifdef FF_CODEC_CAP_INIT_THREADSAFE
#define TEC_CAP_INIT_THREADSAFE FF_CODEC_CAP_INIT_THREADSAFE
#else
#define TEC_CAP_INIT_THREADSAFE 0
#endif

#ifdef FF_CODEC_CAP_SETS_FRAME_PROPS
#define TEC_CAP_SETS_FRAME_PROPS FF_CODEC_CAP_SETS_FRAME_PROPS
#else
#define TEC_CAP_SETS_FRAME_PROPS 0
#endif

#ifdef CODEC_LONG_NAME
#define TEC_CODEC_LONG_NAME(s) CODEC_LONG_NAME(s)
#else
#define TEC_CODEC_LONG_NAME(s) .p.long_name = NULL_IF_CONFIG_SMALL(s)
#endif

#ifdef CODEC_PIXFMTS
#define TEC_CODEC_PIXFMTS(...) CODEC_PIXFMTS(__VA_ARGS__)
#else
#define TEC_CODEC_PIXFMTS(...) \
    .p.pix_fmts = (const enum AVPixelFormat[]){ __VA_ARGS__, AV_PIX_FMT_NONE }
#endif

#endif /* AVCODEC_CODEC_INTERNAL_H */

/* ---------------------------------------------------------------- formats
 * Only meaningful in libavformat files (after "avformat.h").
 * Usage:
 *   const TEC_OUTPUT_FORMAT ff_x_muxer = { TEC_OFMT(name) = "x",
 *       .priv_data_size = ..., .write_header = ..., };
 * TEC_OFMT(f) names a field of the public AVOutputFormat (TEC_IFMT(f) of
 * AVInputFormat).  priv_data_size and the callbacks are spelled plainly:
 * they sit at the top level both in the old public structs and in
 * FFOutputFormat/FFInputFormat. */
#ifdef AVFORMAT_AVFORMAT_H
#include "libavformat/version.h"

#if LIBAVFORMAT_VERSION_MAJOR >= 60
#include "libavformat/mux.h"
#define TEC_OUTPUT_FORMAT FFOutputFormat
#define TEC_OFMT(f) .p.f
#else
#define TEC_OUTPUT_FORMAT AVOutputFormat
#define TEC_OFMT(f) .f
#endif

#if LIBAVFORMAT_VERSION_MAJOR >= 61
#include "libavformat/demux.h"
#define TEC_INPUT_FORMAT FFInputFormat
#define TEC_IFMT(f) .p.f
#else
#define TEC_INPUT_FORMAT AVInputFormat
#define TEC_IFMT(f) .f
#endif

#endif /* AVFORMAT_AVFORMAT_H */

#endif /* TEC_COMPAT_H */
