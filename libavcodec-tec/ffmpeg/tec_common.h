/*
 * TerraCodec glue: names and helpers shared by the libtec encoder/decoder
 * and the .tecv muxer/demuxer (doc/ffmpeg.md).
 */
#ifndef TEC_COMMON_H
#define TEC_COMMON_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libavutil/crc.h"

/*
 * Per-packet and per-frame metadata (AV_PKT_DATA_STRINGS_METADATA on
 * packets; the decoders turn it into AVFrame.metadata, which ffprobe
 * -show_frames prints and filters pass on).
 */
/* acquisition time, ISO 8601 UTC with milliseconds; only when known */
#define TEC_KEY_TIME        "acquisition_time"
/* the container's packet fields, verbatim: time in ms since the epoch
 * (also when not flagged as known) and the flags byte */
#define TEC_KEY_TIME_MS     "tec_time_ms"
#define TEC_KEY_FLAGS       "tec_flags"
/* corrupt packets skipped by the demuxer just before this one */
#define TEC_KEY_LOST        "tec_lost"
/* the container's radiometric_offset, when it has one (for output=rgb) */
#define TEC_KEY_RADIOMETRIC_OFFSET "radiometric_offset"
/* decoded with fill_clouds: how many pixels of the frame were filled */
#define TEC_KEY_FILLED      "tec_filled_pixels"

/*
 * The stacked-bands tag.  A GRAY16 frame whose metadata has
 * tec_layout=stacked_bands holds tec_bands bands of tec_band_width x
 * tec_band_height samples stacked vertically (frame height = bands x band
 * height).  The .tecv demuxer tags raw frames, the libtec decoder tags
 * output=bands frames; the libtec encoder refuses untagged frames unless
 * the user declared the layout with -bands.
 */
#define TEC_KEY_LAYOUT      "tec_layout"
#define TEC_LAYOUT_STACKED  "stacked_bands"
#define TEC_KEY_BANDS       "tec_bands"
#define TEC_KEY_BAND_NAMES  "tec_band_names"
#define TEC_KEY_BAND_WIDTH  "tec_band_width"
#define TEC_KEY_BAND_HEIGHT "tec_band_height"

/* .tecv packet flags (doc/bitstream.md, 6). */
#define TEC_PKT_FLAG_KEY  1
#define TEC_PKT_FLAG_TIME 2

/* The .tecv packet CRC (doc/bitstream.md, 6): bytes 8-19 of the packet
 * header (time, flags, reserved), then the payload. */
static inline uint32_t tec_packet_crc(const uint8_t *head, const uint8_t *payload, size_t size)
{
    const AVCRC *t = av_crc_get_table(AV_CRC_32_IEEE_LE);
    return av_crc(t, av_crc(t, UINT32_MAX, head + 8, 12), payload, size) ^ UINT32_MAX;
}

/* Days since 1970-01-01 to a proleptic Gregorian date. */
static inline void tec_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;
    z  += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;                          /* 0..146096 */
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);   /* 0..365 */
    mp  = (5 * doy + 2) / 153;                       /* 0..11 */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* "2021-06-03T10:20:31.024Z" for a time in ms since the epoch. */
static inline void tec_format_time(char *buf, size_t size, int64_t ms)
{
    int64_t days = ms / 86400000, rem = ms % 86400000, y;
    int m, d;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    tec_civil_from_days(days, &y, &m, &d);
    snprintf(buf, size, "%04"PRId64"-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
             (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
             (int)(rem % 1000));
}

/* A whole decimal integer in [min, max]; 0 on success. */
static inline int tec_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;
    if (!s || !*s)
        return -1;
    v = strtoll(s, &end, 10);
    if (*end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

#endif /* TEC_COMMON_H */
