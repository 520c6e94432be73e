/* The sequence header (doc/bitstream.md, 2) and the band -> group plan. */
#ifndef TEC_SEQHEADER_H
#define TEC_SEQHEADER_H

#include <stddef.h>
#include <stdint.h>

#include "tec/tec.h"

/* Sentinel-2 MSI bands in the order of the image model's input slots. */
#define TEC_S2_SLOTS 13
extern const char *const tec_s2_slot_names[TEC_S2_SLOTS];
/* Slot of the generic path: a band of unknown kind is coded as if it were B04. */
#define TEC_GENERIC_SLOT 3

/* Bands coded together: band[i] fills model input slot slot[i]. */
typedef struct TecBandGroup {
    int count;
    uint8_t band[TEC_MAX_BANDS];
    uint8_t slot[TEC_MAX_BANDS];
} TecBandGroup;

typedef struct TecSeqHeader {
    TecStreamInfo info;
    int inter_allowed;  /* frame_kind bit 0 */
    int predicted_allowed; /* frame_kind bit 1: the decoder keeps each frame's samples */
    int n_groups;
    TecBandGroup groups[TEC_MAX_BANDS];
} TecSeqHeader;

/* Largest serialised header: 64 bands in 64 groups and a 63-byte name. */
#define TEC_SEQ_MAX_SIZE (19 + 63 + 8 + TEC_MAX_BANDS * TEC_MAX_BAND_NAME + 1 + \
                          TEC_MAX_BANDS * 3 + 4)

/* The fixed header every frame packet starts with (doc/bitstream.md, 3):
 * u8 frame type, u8 flags, u16 quality position, u32 chunk count. */
#define TEC_PACKET_HEADER 8
#define TEC_PACKET_PREFIX 4        /* the bytes up to the chunk count */
#define TEC_PACKET_REPLICATION 1   /* packet flag: the section of replicated blocks follows */
#define TEC_PACKET_INTERPOLATION 2 /* packet flag: the section of interpolated bands follows */
#define TEC_PACKET_MASK 4          /* packet flag: the mask section (nodata) follows */
#define TEC_PACKET_RESIDUAL 8      /* packet flag: the residual section ends the packet */
/* A predicted frame (prediction.h) has its prediction section after the
 * fixed header and codes every chunk intra. */
enum { TEC_FRAME_INTRA = 0, TEC_FRAME_INTER = 1, TEC_FRAME_PREDICTED = 2 };

typedef struct TecPacketHeader {
    int frame_type;     /* TEC_FRAME_*, or any other value read */
    int flags;          /* TEC_PACKET_* */
    int position;       /* quality position, 1/256 anchor units */
    uint32_t n_chunks;  /* 0 when the packet ends before it */
} TecPacketHeader;

/* The one reader of the fixed packet header: fills *h from the first
 * TEC_PACKET_PREFIX bytes (and the chunk count when all TEC_PACKET_HEADER
 * are there).  TEC_EBITSTREAM, *h untouched, when fewer than
 * TEC_PACKET_PREFIX bytes; the caller judges the values. */
int tec_packet_header_read(const uint8_t *data, size_t size, TecPacketHeader *h);
/* Writes TEC_PACKET_HEADER bytes. */
void tec_packet_header_write(const TecPacketHeader *h, uint8_t *p);

/* The inter section that follows the fixed header of an inter packet
 * (doc/bitstream.md, 3): u16 gop_index, u8 n_refs, u8 reserved, u16 day of
 * year, n_refs x u16 gap in days, n_refs x u32 CRC-32 of each referenced
 * frame's packet, then one bit per chunk (1 = coded with the temporal
 * model).  Flag bit 0: every chunk coded with the temporal model starts with
 * its lean table (lean.h). */
#define TEC_INTER_LEANS 1
#define TEC_INTER_MAX_REFS 4
#define TEC_INTER_UNKNOWN 0xffff
typedef struct TecInterHeader {
    int gop_index;               /* frames since the keyframe, >= 1 */
    int n_refs;                  /* the frames gop_index - 1 .. gop_index - n_refs */
    int flags;                   /* TEC_INTER_LEANS */
    int doy;                     /* 0..365, or TEC_INTER_UNKNOWN */
    int gap[TEC_INTER_MAX_REFS]; /* days to each reference, or TEC_INTER_UNKNOWN */
    uint32_t crc[TEC_INTER_MAX_REFS]; /* of each reference's packet: the right frame */
    const uint8_t *modes;        /* the chunk bits (read: inside the packet) */
} TecInterHeader;
static inline size_t tec_inter_header_size(int n_refs, size_t n_chunks)
{
    return 6 + 6 * (size_t)n_refs + (n_chunks + 7) / 8;
}
/* TEC_EBITSTREAM with a reason for a section that is cut or out of range. */
int tec_inter_header_read(const uint8_t *p, size_t size, size_t n_chunks, TecInterHeader *h,
                          size_t *used, char *why, size_t whylen);
/* Writes tec_inter_header_size bytes; modes holds one byte per chunk. */
void tec_inter_header_write(const TecInterHeader *h, const uint8_t *modes, size_t n_chunks,
                            uint8_t *p);
static inline int tec_inter_chunk(const TecInterHeader *h, size_t chunk)
{
    return (h->modes[chunk / 8] >> (chunk % 8)) & 1;
}

/* Slot of a Sentinel-2 band name ("B04", "b4", "B8A"), or -1. */
int tec_s2_slot(const char *name);
/* Default names for a band count without names (13, 12, 10), or NULL. */
const char *const *tec_s2_default_names(int bands);

/* Groups from info->band_names: every band with a distinct known name in one
 * group at its slot, each other band alone in the generic slot. */
void tec_seq_plan_groups(TecSeqHeader *h);

/* A model name that is safe to look up and to store: 1..63 characters of
 * [A-Za-z0-9._+-], no "..". */
int tec_seq_model_name_ok(const char *name);

/* Serialise h into buf (TEC_SEQ_MAX_SIZE bytes suffice); returns the size. */
size_t tec_seq_write(const TecSeqHeader *h, uint8_t *buf);
/* Strict parse; TEC_EBITSTREAM with a message in err on any defect. */
int tec_seq_parse(const uint8_t *data, size_t size, TecSeqHeader *h, char *err, size_t errlen);

#endif
