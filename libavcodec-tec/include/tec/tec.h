/*
 * libtec: the TerraCodec learned codec for multispectral Earth-observation
 * image time series.  This is the only header applications include.
 *
 * Model: opaque encoder/decoder contexts, a settings struct filled with
 * defaults, send/receive calls in the style of libavcodec and dav1d, and
 * every failure reported as a negative TEC_E* code with a message.
 *
 * Growing without breaking: the settings structs end in reserved space
 * that new fields take (the default_settings calls zero it, the open calls
 * refuse it non-zero), tec_version_api() says at run time which API the
 * loaded library implements, and libtec.so exports only what is declared
 * here (TEC_API).
 */
#ifndef TEC_TEC_H
#define TEC_TEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef TEC_API
#if defined(__GNUC__) || defined(__clang__)
#define TEC_API __attribute__((visibility("default")))
#else
#define TEC_API
#endif
#endif

/* The release. */
#define TEC_VERSION_MAJOR 0
#define TEC_VERSION_MINOR 3
#define TEC_VERSION_PATCH 0

/* The API and ABI: MAJOR changes when a program built against an older
 * header may no longer work (it is the soname, libtec.so.MAJOR), MINOR when
 * calls or fields are added, PATCH for fixes.  0.2.0: settings' reserved
 * space, user_data, tec_decoder_send, tec_model_default_quality.  0.3.0:
 * inter frames (context_frames, TecPacketInfo gop_index .. n_chunks).
 * 0.4.0: .tecv written to memory (tec_tecv_open_write_mem,
 * tec_tecv_writer_data).  0.5.0: nodata (has_nodata, nodata_value;
 * TecPacketInfo nodata, mask_offset, mask_bytes,
 * tec_packet_masked_samples).  0.8.0: effort (encoder-side latent
 * refinement).  0.9.0: plain_spreads (band weighting, on by default).
 * 0.10.0: no_prediction (predicted frames, on by default). */
#define TEC_API_VERSION_MAJOR 0
#define TEC_API_VERSION_MINOR 10
#define TEC_API_VERSION_PATCH 0
#define TEC_API_VERSION \
    ((TEC_API_VERSION_MAJOR << 16) | (TEC_API_VERSION_MINOR << 8) | TEC_API_VERSION_PATCH)
#define TEC_API_MAJOR(v) ((v) >> 16)
#define TEC_API_MINOR(v) (((v) >> 8) & 0xff)
#define TEC_API_PATCH(v) ((v) & 0xff)

/* Return codes.  0 is success; every error is negative. */
enum {
    TEC_OK = 0,
    TEC_EAGAIN = -1,      /* no output yet: send more input */
    TEC_EOF = -2,         /* flushed: no more output */
    TEC_EINVAL = -3,      /* invalid argument or settings */
    TEC_ENOMEM = -4,      /* out of memory */
    TEC_EBITSTREAM = -5,  /* corrupt, truncated or unsupported stream */
    TEC_EMODEL = -6,      /* weights missing, corrupt or not the ones the stream needs */
    TEC_EIO = -7,         /* file could not be read or written */
    TEC_EUNSUPPORTED = -8 /* valid but not supported by this build */
};

/* Short static description of a return code. */
TEC_API const char *tec_strerror(int err);
/* The release, "0.3.0". */
TEC_API const char *tec_version(void);
/* TEC_API_VERSION of the library actually loaded (the header may be
 * another's): a program needing a call of API 0.x checks
 * TEC_API_MAJOR(v) == 0 && TEC_API_MINOR(v) >= x. */
TEC_API unsigned tec_version_api(void);

#define TEC_MAX_BANDS 64
#define TEC_MAX_BAND_NAME 16
#define TEC_MAX_MODEL_NAME 64
/* Frame size limits (pixels per side); a Sentinel-2 tile is 10980. */
#define TEC_MAX_DIM 65535

/*
 * One acquisition: `bands` planes of uint16 samples.
 * Sample (b, y, x) is data[b * band_stride + y * stride + x] (in elements).
 */
typedef struct TecPicture {
    uint16_t *data;
    ptrdiff_t stride;
    ptrdiff_t band_stride;
    int bands, width, height;
    int64_t time_ms;  /* acquisition time, ms since 1970-01-01 UTC */
    int has_time;     /* 0: the acquisition time is unknown */
    /* The caller's own: never read or freed by the library.  Sent to the
     * encoder, it comes back in the frame's TecPacket (and reconstruction);
     * given to tec_decoder_send, it comes back in the frame's picture. */
    void *user_data;
} TecPicture;

/* A compressed frame.  The library owns `data` until the next call. */
typedef struct TecPacket {
    const uint8_t *data;
    size_t size;
    int64_t time_ms;
    int has_time;
    int keyframe;         /* decodable without earlier frames */
    int64_t frame_index;  /* position in the stream, from 0 */
    void *user_data;      /* the frame's TecPicture.user_data (encoder), or
                           * what the decoder hands to the picture */
} TecPacket;

/*
 * The description of a stream that does not change from frame to frame.
 * It is serialised as the "sequence header" (FFmpeg extradata, the codec
 * part of a .tecv file header); see doc/bitstream.md.
 */
typedef struct TecStreamInfo {
    int bands, width, height;
    char band_names[TEC_MAX_BANDS][TEC_MAX_BAND_NAME];
    char model[TEC_MAX_MODEL_NAME];  /* weights the stream was coded with */
    uint64_t model_checksum;
    int keyframe_interval;           /* 1: every frame is intra */
} TecStreamInfo;

/*
 * Rows for very large frames.  When set, the encoder reads and the decoder
 * writes a frame one horizontal stripe at a time, so a full Sentinel-2 tile
 * never sits in memory whole.  The stripe holds all bands of rows
 * [y0, y0 + rows); sample (b, y, x) is at data[b*band_stride + (y-y0)*stride + x].
 * A callback returns 0 or a negative TEC_E* code, which aborts the frame.
 */
typedef int (*TecRowSource)(void *opaque, int64_t frame_index, int y0, int rows,
                            uint16_t *data, ptrdiff_t stride, ptrdiff_t band_stride);
typedef int (*TecRowSink)(void *opaque, int64_t frame_index, int y0, int rows,
                          const uint16_t *data, ptrdiff_t stride, ptrdiff_t band_stride);

/* Inter coding: a keyframe (intra, decodable alone) every keyframe_interval
 * frames, the frames between coded with the temporal model against up to
 * context_frames frames before them (doc/model.md, TEC-TT). */
#define TEC_DEFAULT_KEYFRAME_INTERVAL 16
#define TEC_DEFAULT_CONTEXT 2
#define TEC_MAX_CONTEXT 4

/* The largest error bound (TecEncoderSettings.error_bound - 1). */
#define TEC_MAX_ERROR 255

/* The largest TecEncoderSettings.effort. */
#define TEC_MAX_EFFORT 5
/* Largest picture (bands x width x height) coded with predicted frames. */
#define TEC_MAX_PREDICTED_SAMPLES (1 << 26)

#define TEC_QUALITY_MIN 1
#define TEC_QUALITY_MAX 29

typedef struct TecEncoderSettings {
    int bands, width, height;
    /* Band names ("B01", "B8A", ...); NULL entries or a NULL array mean the
     * Sentinel-2 default for 13 (L1C), 12 (L2A) and 10 bands, otherwise
     * bands are coded one by one through the generic path. */
    const char *band_names[TEC_MAX_BANDS];
    int quality;             /* TEC_QUALITY_MIN..TEC_QUALITY_MAX; 0 = model default */
    /* 0: each frame's position moves with its band spreads so that one
     * quality is one trade-off in reflectance units (models that carry the
     * calibration); 1: every frame at the position quality names. */
    int fixed_quality;
    const char *model;       /* weights name; NULL = chosen from the bands */
    const char *weights_dir; /* searched before TEC_WEIGHTS and the built-in path */
    int threads;             /* 0 = one per core */
    int keyframe_interval;   /* 1: every frame intra; 0 = TEC_DEFAULT_KEYFRAME_INTERVAL */
    int want_reconstruction; /* keep the decoder-side picture of each frame */
    TecRowSource row_source; /* optional, see above */
    void *row_opaque;
    /* Inter frames (models with a temporal model, keyframe_interval > 1):
     * how many earlier frames each one may reference, 1..TEC_MAX_CONTEXT;
     * 0 = TEC_DEFAULT_CONTEXT.  (API 0.3.0, from the reserved space.) */
    int context_frames;
    /* Nodata (API 0.5.0, from the reserved space): with has_nodata, the
     * samples equal to nodata_value decode to exactly that value and no
     * other sample does (a lossless mask in each packet). */
    int has_nodata;
    uint16_t nodata_value;
    uint16_t reserved_u16;
    /* Error bound (API 0.6.0, from the reserved space): 0 = none (the
     * learned layer alone, errors like a PSNR); E + 1 = every decoded sample
     * within E of the source (1 = lossless), E <= TEC_MAX_ERROR, by a
     * residual layer coded after the learned one (doc/bitstream.md). */
    int32_t error_bound;
    /* Clouds (API 0.7.0, from the reserved space): with skip_clouds, the
     * latents wholly under a frame's cloud mask (tec_encoder_set_cloud_mask)
     * are coded as their prediction, almost free, for a decoder to fill
     * (TecDecoderSettings.fill_clouds).  Not with error_bound. */
    int32_t skip_clouds;
    /* Effort (API 0.8.0, from the reserved space): 0 = none; 1..TEC_MAX_EFFORT
     * = 10 x effort steps of encoder-side latent refinement per block (the
     * symbols move toward a lower rate + distortion of the block; the
     * decoder and the stream's format are unchanged; each step costs
     * about one analysis-and-coding of the frame).  Frames whose clouds
     * are skipped are coded without it. */
    int32_t effort;
    /* Band weighting (API 0.9.0, from the reserved space): 0 = at each
     * keyframe the encoder tries writing the frame's band spreads narrowed
     * towards their geometric mean (the bands of large spread, red edge and
     * NIR, then get more of the bits) and keeps what codes a few sample
     * blocks best at this quality; 1 = each band's own spread, as before
     * 0.9.0.  Encoder only: the decoder and the format are unchanged.  Only
     * with the position moving per frame (fixed_quality 0). */
    int32_t plain_spreads;
    /* Predicted frames (API 0.10.0, from the reserved space): 0 = an inter
     * frame may also be coded as its difference from the frame before it,
     * each band of that frame's decoded samples mapped by a line, where that
     * costs less at this quality (the decoder then keeps the last frame's
     * samples); 1 = never (the temporal model alone, as before 0.10.0).
     * Only for pictures given whole of at most TEC_MAX_PREDICTED_SAMPLES
     * samples, without nodata, error bound or skip_clouds. */
    int32_t no_prediction;
    /* Room for new fields: zero (tec_encoder_default_settings), or the
     * open fails with TEC_EINVAL, so that a setting this library does not
     * know is refused instead of ignored. */
    int64_t reserved[4];
} TecEncoderSettings;

typedef struct TecDecoderSettings {
    const char *weights_dir;
    int threads;             /* 0 = one per core */
    TecRowSink row_sink;     /* optional, see above */
    void *row_opaque;
    /* Cloud filling (API 0.7.0, from the reserved space): 1 = the cloudy
     * pixels of each frame (its packet's cloud mask, or the one given with
     * tec_decoder_set_fill_mask) are replaced by what the frames before it
     * predict (doc/design.md); 0 = decoded as coded. */
    int32_t fill_clouds;
    int32_t reserved_i32;
    int64_t reserved[7];     /* as in TecEncoderSettings */
} TecDecoderSettings;

typedef struct TecEncoder TecEncoder;
typedef struct TecDecoder TecDecoder;

TEC_API void tec_encoder_default_settings(TecEncoderSettings *s);
TEC_API int tec_encoder_open(TecEncoder **enc, const TecEncoderSettings *s);
/* The stream's sequence header (extradata). Valid until close. */
TEC_API int tec_encoder_get_header(TecEncoder *enc, const uint8_t **data, size_t *size);
TEC_API const TecStreamInfo *tec_encoder_info(const TecEncoder *enc);
/* Queue a frame; pic == NULL flushes.  With a row_source, pic->data may be
 * NULL (the geometry and time are still read from pic). */
TEC_API int tec_encoder_send_frame(TecEncoder *enc, const TecPicture *pic);
/* The cloud mask of the next frame sent (API 0.7.0): pixel (x, y) is cloud
 * (in every band) when mask[y * stride + x] is not 0; width x height of the
 * stream.  Read by the next tec_encoder_send_frame, which then forgets it,
 * and kept losslessly in that frame's packet; NULL (the default): none. */
TEC_API int tec_encoder_set_cloud_mask(TecEncoder *enc, const uint8_t *mask, ptrdiff_t stride);
/* TEC_EAGAIN: send more frames; TEC_EOF: flushed and drained. */
TEC_API int tec_encoder_receive_packet(TecEncoder *enc, TecPacket *pkt);
/* With want_reconstruction: the decoded picture of the packet last received.
 * Library-owned, valid until the next receive call. */
TEC_API int tec_encoder_get_reconstruction(TecEncoder *enc, TecPicture *pic);
/* Detail of the last error, never NULL.  enc == NULL: why this thread's last
 * tec_encoder_open (or tec_model_default_quality) failed (a failed open
 * leaves *enc NULL). */
TEC_API const char *tec_encoder_error(const TecEncoder *enc);
TEC_API void tec_encoder_close(TecEncoder **enc);

TEC_API void tec_decoder_default_settings(TecDecoderSettings *s);
/* Parse the sequence header and load the weights it names. */
TEC_API int tec_decoder_open(TecDecoder **dec, const TecDecoderSettings *s,
                             const uint8_t *header, size_t header_size);
TEC_API const TecStreamInfo *tec_decoder_info(const TecDecoder *dec);
/* One packet per frame; data == NULL flushes.  The packet is decoded
 * here: an error is the frame's, and it yields no picture. */
TEC_API int tec_decoder_send_packet(TecDecoder *dec, const uint8_t *data, size_t size,
                                    int64_t time_ms, int has_time);
/* The same from a TecPacket: data, size, time_ms, has_time and user_data
 * are read (user_data comes back in the frame's picture); pkt == NULL
 * flushes.  A picture not received before flush or close takes its
 * user_data with it: receive it first if that owns memory. */
TEC_API int tec_decoder_send(TecDecoder *dec, const TecPacket *pkt);
/* Library-owned picture valid until the next call.  With a row_sink the
 * rows went to the sink and pic->data is NULL. */
TEC_API int tec_decoder_receive_frame(TecDecoder *dec, TecPicture *pic);
/* With fill_clouds (API 0.7.0): the pixels to fill in the next packet sent,
 * in place of its own cloud mask, as in tec_encoder_set_cloud_mask; read
 * by the next send, which then forgets it.  NULL: the packet's mask. */
TEC_API int tec_decoder_set_fill_mask(TecDecoder *dec, const uint8_t *mask, ptrdiff_t stride);
/* With fill_clouds, after tec_decoder_receive_frame: which pixels of that
 * picture were filled (*mask: width x height bytes, row after row, 1 =
 * filled; NULL when none) and, when pixels of its mask were left as coded,
 * why (*why, NULL otherwise; either pointer may be NULL).  Returns the
 * number of filled pixels.  Library-owned, valid until the next receive. */
TEC_API int64_t tec_decoder_get_filled(TecDecoder *dec, const uint8_t **mask, const char **why);
/* Forget the pending frame and the end of stream, keeping the model: the
 * next packet starts decoding afresh (after a seek).  It must be a keyframe
 * once streams have inter frames. */
TEC_API void tec_decoder_flush(TecDecoder *dec);
/* As tec_encoder_error; dec == NULL: the last failed tec_decoder_open. */
TEC_API const char *tec_decoder_error(const TecDecoder *dec);
TEC_API void tec_decoder_close(TecDecoder **dec);

/* The quality a model codes at when TecEncoderSettings.quality is 0
 * (TEC_QUALITY_MIN..TEC_QUALITY_MAX), found as the encoder finds weights:
 * model NULL = the encoder's default, weights_dir searched first.
 * Negative TEC_E* code when the weights are missing or unfit;
 * tec_encoder_error(NULL) then says why. */
TEC_API int tec_model_default_quality(const char *model, const char *weights_dir);

/* Parse a sequence header without loading weights (for tec info, probes). */
TEC_API int tec_parse_header(const uint8_t *header, size_t size, TecStreamInfo *info);

/* What a frame packet's fixed header says, without weights. */
typedef struct TecPacketInfo {
    int intra;     /* frame type 0 */
    int position;  /* quality position in 1/256 anchor units (doc/bitstream.md, 3) */
    /* Inter frames (API 0.3.0): frames since the keyframe, how many frames
     * before it are referenced, how many of the chunks are coded inter. */
    int gop_index, n_refs, inter_chunks, n_chunks;
    /* Nodata (API 0.5.0): the value of the packet's nodata mask, -1 when it
     * has none, and where its mask section starts and its bytes. */
    int nodata, mask_offset, mask_bytes;
    /* Error bound (API 0.6.0): the max error of the packet's residual
     * layer, -1 when it has none (or its section is not well formed). */
    int max_error;
    /* Clouds (API 0.7.0): 1 when the packet carries a cloud mask. */
    int clouds;
    /* Predicted frames (API 0.10.0): 1 for a frame coded as its difference
     * from a prediction made of the frame before it (intra is then 0 and
     * n_refs 0: it references that one frame, by its packet's CRC). */
    int predicted;
    int reserved[2];   /* room to grow; set to 0 */
} TecPacketInfo;
/* 0, or TEC_EBITSTREAM for a packet too short or of an unknown frame type. */
TEC_API int tec_parse_packet(const uint8_t *data, size_t size, TecPacketInfo *info);
/* How many samples (of all bands) a packet's nodata mask covers, with the
 * stream's sequence header and no weights (API 0.5.0): 0 with *samples set
 * (0 without a mask), or TEC_EBITSTREAM / TEC_ENOMEM. */
TEC_API int tec_packet_masked_samples(const uint8_t *header, size_t header_size,
                                      const uint8_t *packet, size_t size, uint64_t *samples);

/*
 * The .tecv container (doc/bitstream.md, 6): a header with the stream
 * geometry, the sequence header and key/value metadata, then one packet per
 * frame.  Readers keep bounded memory (one packet at a time) and survive
 * damage: a corrupt packet is reported once and reading resumes at the next
 * packet whose CRC passes.
 */
enum { TEC_CODEC_RAW = 0, TEC_CODEC_TEC = 1 };

/* Packet flags. */
#define TECV_FLAG_KEY  1  /* keyframe */
#define TECV_FLAG_TIME 2  /* time_ms is the acquisition time */

typedef struct TecvInfo {
    int codec;                 /* TEC_CODEC_* */
    int bands, width, height;
    int64_t frame_count;       /* 0 = unknown (written to a pipe) */
    const uint8_t *seq_header; /* codec tec: the sequence header; raw: none */
    size_t seq_header_size;
    int n_meta;                /* metadata, UTF-8, in file order */
    const char *const *meta_keys;
    const char *const *meta_values;
} TecvInfo;

/* Value of the first metadata entry named key, or NULL. */
TEC_API const char *tec_tecv_meta(const TecvInfo *info, const char *key);

typedef struct TecvReader TecvReader;

/* Open a file ("-" = stdin) or a memory buffer that must outlive the
 * reader.  On failure other than TEC_ENOMEM, *r is still set so that
 * tec_tecv_reader_error(*r) can say why; close it in any case. */
TEC_API int tec_tecv_open_read(TecvReader **r, const char *path);
TEC_API int tec_tecv_open_read_mem(TecvReader **r, const uint8_t *data, size_t size);
/* Reader-owned, valid until close. */
TEC_API const TecvInfo *tec_tecv_info(const TecvReader *r);
/* Next packet: 0, TEC_EOF at the end, TEC_EBITSTREAM for a corrupt packet
 * (call again to get the next good one), TEC_EIO or TEC_ENOMEM.  *data is
 * reader-owned and valid until the next call. */
TEC_API int tec_tecv_read_packet(TecvReader *r, const uint8_t **data, size_t *size,
                                 int64_t *time_ms, int *flags);
/* Detail of the last error, never NULL (also for r == NULL). */
TEC_API const char *tec_tecv_reader_error(const TecvReader *r);
TEC_API void tec_tecv_close_read(TecvReader **r);

typedef struct TecvWriter TecvWriter;

/* Write the header of info (its frame_count is ignored) to path ("-" =
 * stdout).  Same failure convention as tec_tecv_open_read. */
TEC_API int tec_tecv_open_write(TecvWriter **w, const char *path, const TecvInfo *info);
/* The same into a buffer the writer owns and grows (API 0.4.0): for
 * bindings and stores that keep a whole stream as one byte string (a Zarr
 * chunk).  Failures are TEC_EINVAL or TEC_ENOMEM. */
TEC_API int tec_tecv_open_write_mem(TecvWriter **w, const TecvInfo *info);
/* A memory writer's stream so far, header (frame_count up to date) and
 * every packet: a complete .tecv that tec_tecv_open_read_mem reads.
 * Writer-owned, valid until the next write or close; TEC_EINVAL for a
 * file writer. */
TEC_API int tec_tecv_writer_data(TecvWriter *w, const uint8_t **data, size_t *size);
/* For raw, size must be bands * width * height * 2 (little-endian u16). */
TEC_API int tec_tecv_write_packet(TecvWriter *w, const uint8_t *data, size_t size,
                                  int64_t time_ms, int flags);
TEC_API const char *tec_tecv_writer_error(const TecvWriter *w);
/* Patch frame_count when the output is seekable, then close and free.
 * Returns 0 or TEC_EIO. */
TEC_API int tec_tecv_close_write(TecvWriter **w);

#ifdef __cplusplus
}
#endif

#endif /* TEC_TEC_H */
