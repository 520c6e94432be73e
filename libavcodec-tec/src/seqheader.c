/* Sequence header: serialisation, strict parsing and the band groups. */
#include "seqheader.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "errors.h"
#include "mask.h"

#define SEQ_MAGIC "TECS"
#define SEQ_VERSION 1
#define SEQ_FLAG_INTER 1
#define SEQ_FLAG_PREDICTED 2

const char *const tec_s2_slot_names[TEC_S2_SLOTS] = {
    "B01", "B02", "B03", "B04", "B05", "B06", "B07",
    "B08", "B8A", "B09", "B10", "B11", "B12",
};

static const char *const l1c_names[13] = {
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
};
static const char *const l2a_names[12] = {
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12",
};
static const char *const ten_names[10] = {
    "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12",
};

const char *const *tec_s2_default_names(int bands)
{
    switch (bands) {
    case 13: return l1c_names;
    case 12: return l2a_names;
    case 10: return ten_names;
    default: return NULL;
    }
}

int tec_s2_slot(const char *name)
{
    char canon[4];
    size_t len = strlen(name);

    /* Accept any case and a missing leading zero ("b4" = "B04"). */
    if (len == 2 && toupper((unsigned char)name[0]) == 'B' && isdigit((unsigned char)name[1])) {
        canon[0] = 'B';
        canon[1] = '0';
        canon[2] = name[1];
    } else if (len == 3) {
        for (int i = 0; i < 3; i++)
            canon[i] = (char)toupper((unsigned char)name[i]);
    } else {
        return -1;
    }
    canon[3] = '\0';
    for (int s = 0; s < TEC_S2_SLOTS; s++)
        if (!strcmp(canon, tec_s2_slot_names[s]))
            return s;
    return -1;
}

void tec_seq_plan_groups(TecSeqHeader *h)
{
    const TecStreamInfo *info = &h->info;
    int slot_band[TEC_S2_SLOTS];
    int alone[TEC_MAX_BANDS], n_alone = 0;

    for (int s = 0; s < TEC_S2_SLOTS; s++)
        slot_band[s] = -1;
    for (int b = 0; b < info->bands; b++) {
        int s = tec_s2_slot(info->band_names[b]);
        if (s >= 0 && slot_band[s] < 0)
            slot_band[s] = b;
        else
            alone[n_alone++] = b;  /* unknown, or a repeat of an earlier band */
    }

    h->n_groups = 0;
    TecBandGroup *g = &h->groups[0];
    g->count = 0;
    /* The shared group lists its bands in band order. */
    for (int b = 0; b < info->bands; b++)
        for (int s = 0; s < TEC_S2_SLOTS; s++)
            if (slot_band[s] == b) {
                g->band[g->count] = (uint8_t)b;
                g->slot[g->count] = (uint8_t)s;
                g->count++;
            }
    if (g->count)
        h->n_groups++;
    for (int i = 0; i < n_alone; i++) {
        g = &h->groups[h->n_groups++];
        g->count = 1;
        g->band[0] = (uint8_t)alone[i];
        g->slot[0] = TEC_GENERIC_SLOT;
    }
}

int tec_seq_model_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len < 1 || len >= TEC_MAX_MODEL_NAME || strstr(name, ".."))
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '+' && c != '-')
            return 0;
    }
    return 1;
}

size_t tec_seq_write(const TecSeqHeader *h, uint8_t *buf)
{
    const TecStreamInfo *info = &h->info;
    size_t name_len = strlen(info->model);
    uint8_t *p = buf;

    memcpy(p, SEQ_MAGIC, 4);
    p[4] = SEQ_VERSION;
    p[5] = (h->inter_allowed ? SEQ_FLAG_INTER : 0) | (h->predicted_allowed ? SEQ_FLAG_PREDICTED : 0);
    tec_wl16(p + 6, (uint16_t)info->bands);
    tec_wl32(p + 8, (uint32_t)info->width);
    tec_wl32(p + 12, (uint32_t)info->height);
    tec_wl16(p + 16, (uint16_t)info->keyframe_interval);
    p[18] = (uint8_t)name_len;
    p += 19;
    memcpy(p, info->model, name_len);
    p += name_len;
    tec_wl64(p, info->model_checksum);
    p += 8;
    for (int b = 0; b < info->bands; b++, p += TEC_MAX_BAND_NAME) {
        memset(p, 0, TEC_MAX_BAND_NAME);
        for (int i = 0; i < TEC_MAX_BAND_NAME - 1 && info->band_names[b][i]; i++)
            p[i] = (uint8_t)info->band_names[b][i];
    }
    *p++ = (uint8_t)h->n_groups;
    for (int i = 0; i < h->n_groups; i++) {
        const TecBandGroup *g = &h->groups[i];
        *p++ = (uint8_t)g->count;
        for (int j = 0; j < g->count; j++) {
            *p++ = g->band[j];
            *p++ = g->slot[j];
        }
    }
    tec_wl32(p, tec_crc32(0, buf, (size_t)(p - buf)));
    p += 4;
    return (size_t)(p - buf);
}

/* The format is always a literal, so the prefix joins it. */
#define fail(err, errlen, ...) \
    tec_err(err, errlen, TEC_EBITSTREAM, "sequence header: " __VA_ARGS__)

/* A band name field: printable ASCII, then NUL padding (at least one NUL). */
static int band_name_ok(const uint8_t *field)
{
    int i = 0;
    while (i < TEC_MAX_BAND_NAME && field[i] >= 0x20 && field[i] <= 0x7e)
        i++;
    if (i == TEC_MAX_BAND_NAME)
        return 0;
    for (; i < TEC_MAX_BAND_NAME; i++)
        if (field[i])
            return 0;
    return 1;
}

static int parse_groups(TecByteReader *br, TecSeqHeader *h, char *err, size_t errlen)
{
    const int bands = h->info.bands;
    uint8_t seen[TEC_MAX_BANDS] = { 0 };
    int covered = 0;

    h->n_groups = tec_br_u8(br);
    if (!br->err && (h->n_groups < 1 || h->n_groups > bands))
        return fail(err, errlen, "%d groups for %d bands", h->n_groups, bands);
    for (int i = 0; i < h->n_groups && !br->err; i++) {
        TecBandGroup *g = &h->groups[i];
        uint8_t slot_used[256] = { 0 };
        g->count = tec_br_u8(br);
        if (!br->err && (g->count < 1 || g->count > bands - covered))
            return fail(err, errlen, "group %d has %d bands", i, g->count);
        for (int j = 0; j < g->count && !br->err; j++) {
            g->band[j] = tec_br_u8(br);
            g->slot[j] = tec_br_u8(br);
            if (br->err)
                break;
            if (g->band[j] >= bands || seen[g->band[j]])
                return fail(err, errlen, "band %d in group %d is out of range or repeated",
                            g->band[j], i);
            if (slot_used[g->slot[j]])
                return fail(err, errlen, "slot %d used twice in group %d", g->slot[j], i);
            seen[g->band[j]] = 1;
            slot_used[g->slot[j]] = 1;
            covered++;
        }
    }
    if (!br->err && covered != bands)
        return fail(err, errlen, "groups cover %d of %d bands", covered, bands);
    return 0;
}

int tec_seq_parse(const uint8_t *data, size_t size, TecSeqHeader *h, char *err, size_t errlen)
{
    TecByteReader br = { data, data ? data + size : data, !data };
    TecStreamInfo *info = &h->info;

    memset(h, 0, sizeof(*h));
    const uint8_t *magic = tec_br_bytes(&br, 4);
    if (!magic || memcmp(magic, SEQ_MAGIC, 4))
        return fail(err, errlen, "bad magic");
    unsigned version = tec_br_u8(&br);
    unsigned flags = tec_br_u8(&br);
    info->bands = tec_br_u16(&br);
    uint32_t width = tec_br_u32(&br), height = tec_br_u32(&br);
    info->keyframe_interval = tec_br_u16(&br);
    unsigned name_len = tec_br_u8(&br);
    if (br.err)
        return fail(err, errlen, "truncated (%zu bytes)", size);
    if (version != SEQ_VERSION)
        return fail(err, errlen, "version %u (this build reads %d)", version, SEQ_VERSION);
    if (flags & ~(SEQ_FLAG_INTER | SEQ_FLAG_PREDICTED))
        return fail(err, errlen, "unknown frame kind flags 0x%02x", flags);
    h->inter_allowed = flags & SEQ_FLAG_INTER;
    h->predicted_allowed = (flags & SEQ_FLAG_PREDICTED) != 0;
    if (info->bands < 1 || info->bands > TEC_MAX_BANDS)
        return fail(err, errlen, "%d bands (1..%d)", info->bands, TEC_MAX_BANDS);
    if (width < 1 || width > TEC_MAX_DIM || height < 1 || height > TEC_MAX_DIM)
        return fail(err, errlen, "frame size %ux%u", width, height);
    info->width = (int)width;
    info->height = (int)height;
    if (info->keyframe_interval < 1)
        return fail(err, errlen, "keyframe interval 0");
    if (name_len < 1 || name_len >= TEC_MAX_MODEL_NAME)
        return fail(err, errlen, "model name length %u", name_len);

    const uint8_t *name = tec_br_bytes(&br, name_len);
    if (!name)
        return fail(err, errlen, "truncated in the model name");
    memcpy(info->model, name, name_len);
    info->model[name_len] = '\0';
    if (memchr(name, '\0', name_len) || !tec_seq_model_name_ok(info->model))
        return fail(err, errlen, "invalid model name");
    info->model_checksum = tec_br_u64(&br);

    for (int b = 0; b < info->bands; b++) {
        const uint8_t *field = tec_br_bytes(&br, TEC_MAX_BAND_NAME);
        if (!field)
            return fail(err, errlen, "truncated in the band names");
        if (!band_name_ok(field))
            return fail(err, errlen, "band %d: bad name field", b);
        memcpy(info->band_names[b], field, TEC_MAX_BAND_NAME);
    }

    int ret = parse_groups(&br, h, err, errlen);
    if (ret < 0)
        return ret;
    size_t body = (size_t)(br.p - data);
    uint32_t crc = tec_br_u32(&br);
    if (br.err)
        return fail(err, errlen, "truncated (%zu bytes)", size);
    if (br.p != br.end)
        return fail(err, errlen, "%zu stray bytes after the CRC", (size_t)(br.end - br.p));
    if (crc != tec_crc32(0, data, body))
        return fail(err, errlen, "CRC mismatch");
    return 0;
}

int tec_parse_header(const uint8_t *header, size_t size, TecStreamInfo *info)
{
    TecSeqHeader h;
    if (!info)
        return TEC_EINVAL;
    int ret = tec_seq_parse(header, size, &h, NULL, 0);
    if (ret < 0)
        return ret;
    *info = h.info;
    return 0;
}

int tec_packet_header_read(const uint8_t *data, size_t size, TecPacketHeader *h)
{
    if (size < TEC_PACKET_PREFIX)
        return TEC_EBITSTREAM;
    h->frame_type = data[0];
    h->flags = data[1];
    h->position = tec_rl16(data + 2);
    h->n_chunks = size >= TEC_PACKET_HEADER ? tec_rl32(data + 4) : 0;
    return 0;
}

void tec_packet_header_write(const TecPacketHeader *h, uint8_t *p)
{
    p[0] = (uint8_t)h->frame_type;
    p[1] = (uint8_t)h->flags;
    tec_wl16(p + 2, (uint16_t)h->position);
    tec_wl32(p + 4, h->n_chunks);
}

int tec_inter_header_read(const uint8_t *p, size_t size, size_t n_chunks, TecInterHeader *h,
                          size_t *used, char *why, size_t whylen)
{
    if (size < 6)
        return tec_err(why, whylen, TEC_EBITSTREAM, "packet truncated in the inter section");
    h->gop_index = tec_rl16(p);
    h->n_refs = p[2];
    if (h->gop_index < 1)
        return tec_err(why, whylen, TEC_EBITSTREAM, "inter frame with keyframe distance 0");
    if (h->n_refs < 1 || h->n_refs > TEC_INTER_MAX_REFS || h->n_refs > h->gop_index)
        return tec_err(why, whylen, TEC_EBITSTREAM,
                       "inter frame %d frames after its keyframe with %d references",
                       h->gop_index, h->n_refs);
    h->flags = p[3];
    if (h->flags & ~TEC_INTER_LEANS)
        return tec_err(why, whylen, TEC_EBITSTREAM, "unknown inter flags 0x%02x", p[3]);
    const size_t need = tec_inter_header_size(h->n_refs, n_chunks);
    if (size < need)
        return tec_err(why, whylen, TEC_EBITSTREAM, "packet truncated in the inter section");
    h->doy = tec_rl16(p + 4);
    if (h->doy > 365 && h->doy != TEC_INTER_UNKNOWN)
        return tec_err(why, whylen, TEC_EBITSTREAM, "day of year %d", h->doy);
    for (int j = 0; j < h->n_refs; j++) {
        h->gap[j] = tec_rl16(p + 6 + 2 * j);
        h->crc[j] = tec_rl32(p + 6 + 2 * h->n_refs + 4 * j);
    }
    h->modes = p + 6 + 6 * h->n_refs;
    /* The bits past the last chunk are 0, so every packet has one form. */
    if (n_chunks % 8 && h->modes[n_chunks / 8] >> (n_chunks % 8))
        return tec_err(why, whylen, TEC_EBITSTREAM, "chunk mode bits past the last chunk");
    *used = need;
    return 0;
}

void tec_inter_header_write(const TecInterHeader *h, const uint8_t *modes, size_t n_chunks,
                            uint8_t *p)
{
    tec_wl16(p, (uint16_t)h->gop_index);
    p[2] = (uint8_t)h->n_refs;
    p[3] = (uint8_t)h->flags;
    tec_wl16(p + 4, (uint16_t)h->doy);
    for (int j = 0; j < h->n_refs; j++) {
        tec_wl16(p + 6 + 2 * j, (uint16_t)h->gap[j]);
        tec_wl32(p + 6 + 2 * h->n_refs + 4 * j, h->crc[j]);
    }
    uint8_t *bits = p + 6 + 6 * h->n_refs;
    memset(bits, 0, (n_chunks + 7) / 8);
    for (size_t i = 0; i < n_chunks; i++)
        bits[i / 8] |= (uint8_t)((modes[i] & 1) << (i % 8));
}

int tec_packet_masked_samples(const uint8_t *header, size_t header_size, const uint8_t *packet,
                              size_t size, uint64_t *samples)
{
    TecSeqHeader h;
    TecPacketInfo pi;
    if (!samples || (!packet && size))
        return TEC_EINVAL;
    *samples = 0;
    int ret = tec_seq_parse(header, header_size, &h, NULL, 0);
    if (ret < 0 || (ret = tec_parse_packet(packet, size, &pi)) < 0)
        return ret;
    if (pi.nodata < 0)
        return 0;
    TecMask m;
    if (tec_mask_init(&m, h.info.bands, h.info.width, h.info.height) < 0)
        return TEC_ENOMEM;
    size_t used;
    ret = tec_mask_read(&m, packet + pi.mask_offset, size - pi.mask_offset, &used, NULL, 0);
    if (ret >= 0)
        *samples = m.masked;
    tec_mask_free(&m);
    return ret;
}

int tec_parse_packet(const uint8_t *data, size_t size, TecPacketInfo *info)
{
    if (!info || (!data && size))
        return TEC_EINVAL;
    TecPacketHeader h;
    if (tec_packet_header_read(data, size, &h) < 0 ||
        (h.frame_type != TEC_FRAME_INTRA && h.frame_type != TEC_FRAME_INTER &&
         h.frame_type != TEC_FRAME_PREDICTED))
        return TEC_EBITSTREAM;
    memset(info, 0, sizeof(*info));
    info->intra = h.frame_type == TEC_FRAME_INTRA;
    info->predicted = h.frame_type == TEC_FRAME_PREDICTED;
    info->position = h.position;
    info->n_chunks = (int)h.n_chunks;
    info->nodata = -1;
    size_t head = TEC_PACKET_HEADER;
    if (h.frame_type == TEC_FRAME_INTER) {
        TecInterHeader ih;
        size_t used;
        if (size < TEC_PACKET_HEADER ||
            tec_inter_header_read(data + TEC_PACKET_HEADER, size - TEC_PACKET_HEADER, h.n_chunks,
                                  &ih, &used, NULL, 0) < 0)
            return TEC_EBITSTREAM;
        info->gop_index = ih.gop_index;
        info->n_refs = ih.n_refs;
        for (uint32_t i = 0; i < h.n_chunks; i++)
            info->inter_chunks += tec_inter_chunk(&ih, i);
        head += used;
    }
    /* The mask section comes before every section whose size needs the
     * sequence header, so it is found here; its entries are not checked. */
    if (h.flags & TEC_PACKET_MASK) {
        if (size < head + 1)
            return TEC_EBITSTREAM;
        size_t pos = head + 1;
        for (int k = 0; k < data[head]; k++) {
            if (size - pos < TEC_MASK_ENTRY_HEADER)
                return TEC_EBITSTREAM;
            const size_t coded = tec_rl32(data + pos + 8);
            if (data[pos] == TEC_MASK_NODATA)
                info->nodata = tec_rl16(data + pos + 1);
            info->clouds |= data[pos] == TEC_MASK_CLOUD;
            pos += TEC_MASK_ENTRY_HEADER;
            if (coded > size - pos)
                return TEC_EBITSTREAM;
            pos += coded;
        }
        info->mask_offset = (int)head;
        info->mask_bytes = (int)(pos - head);
    }
    /* The residual section ends the packet with its own size. */
    info->max_error = -1;
    if ((h.flags & TEC_PACKET_RESIDUAL) && size >= 8) {
        const size_t n = tec_rl32(data + size - 4);
        if (n >= 8 && n <= size - TEC_PACKET_HEADER)
            info->max_error = data[size - n + 1];
    }
    return 0;
}
