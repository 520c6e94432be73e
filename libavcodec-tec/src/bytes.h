/* Little-endian byte access and the checksums of the formats. */
#ifndef TEC_BYTES_H
#define TEC_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t tec_rl16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t tec_rl32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t tec_rl64(const uint8_t *p) { return tec_rl32(p) | (uint64_t)tec_rl32(p + 4) << 32; }
static inline void tec_wl16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void tec_wl32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void tec_wl64(uint8_t *p, uint64_t v) { tec_wl32(p, (uint32_t)v); tec_wl32(p + 4, (uint32_t)(v >> 32)); }

/* zlib-compatible CRC-32; pass 0 as crc to start. */
uint32_t tec_crc32(uint32_t crc, const void *data, size_t size);
/* FNV-1a 64 of a buffer. */
uint64_t tec_fnv1a64(const void *data, size_t size);

/* Bounds-checked reader: every read past the end sets err and returns 0. */
typedef struct TecByteReader {
    const uint8_t *p, *end;
    int err;
} TecByteReader;

static inline int tec_br_need(TecByteReader *r, size_t n)
{
    if (r->err || (size_t)(r->end - r->p) < n) { r->err = 1; return 0; }
    return 1;
}
static inline uint8_t tec_br_u8(TecByteReader *r) { return tec_br_need(r, 1) ? *r->p++ : 0; }
static inline uint16_t tec_br_u16(TecByteReader *r)
{
    uint16_t v = 0; if (tec_br_need(r, 2)) { v = tec_rl16(r->p); r->p += 2; } return v;
}
static inline uint32_t tec_br_u32(TecByteReader *r)
{
    uint32_t v = 0; if (tec_br_need(r, 4)) { v = tec_rl32(r->p); r->p += 4; } return v;
}
static inline uint64_t tec_br_u64(TecByteReader *r)
{
    uint64_t v = 0; if (tec_br_need(r, 8)) { v = tec_rl64(r->p); r->p += 8; } return v;
}
static inline const uint8_t *tec_br_bytes(TecByteReader *r, size_t n)
{
    const uint8_t *q = NULL; if (tec_br_need(r, n)) { q = r->p; r->p += n; } return q;
}

#endif
