/* Checksums of the formats: zlib's CRC-32 and FNV-1a 64. */
#include "bytes.h"

#include <pthread.h>

#define CRC32_POLY 0xEDB88320u  /* IEEE 802.3, bit-reflected */

/* Slicing-by-8: crc_table[k][b] is the CRC register after byte b followed
 * by k zero bytes, so eight table lookups advance the CRC by eight bytes.
 * Payloads reach hundreds of megabytes, where this is several times faster
 * than one lookup per byte. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int i = 0; i < 8; i++)
            c = c >> 1 ^ (CRC32_POLY & (0u - (c & 1)));
        crc_table[0][b] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int b = 0; b < 256; b++) {
            uint32_t c = crc_table[k - 1][b];
            crc_table[k][b] = c >> 8 ^ crc_table[0][c & 0xff];
        }
}

uint32_t tec_crc32(uint32_t crc, const void *data, size_t size)
{
    const uint8_t *p = data;
    uint32_t (*t)[256] = crc_table;
    uint32_t c = ~crc;

    pthread_once(&crc_table_once, crc_table_init);
    for (; size >= 8; size -= 8, p += 8) {
        uint32_t a = c ^ tec_rl32(p), b = tec_rl32(p + 4);
        c = t[7][a & 0xff] ^ t[6][a >> 8 & 0xff] ^ t[5][a >> 16 & 0xff] ^ t[4][a >> 24] ^
            t[3][b & 0xff] ^ t[2][b >> 8 & 0xff] ^ t[1][b >> 16 & 0xff] ^ t[0][b >> 24];
    }
    while (size--)
        c = c >> 8 ^ t[0][(c ^ *p++) & 0xff];
    return ~c;
}

uint64_t tec_fnv1a64(const void *data, size_t size)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= 0x100000001b3u;
    }
    return h;
}
