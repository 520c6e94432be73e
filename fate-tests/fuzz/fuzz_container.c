/* libFuzzer target: the .tecv memory reader, header and every packet.
 * Inputs whose first byte is odd get their header and packet CRCs fixed
 * first, so that mutations reach the field checks behind them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fix_crcs(uint8_t *d, size_t size)
{
    if (size < 16)
        return;
    uint32_t header_size = tec_rl32(d + 8);
    if (header_size > size - 16)
        return;
    tec_wl32(d + 12, tec_crc32(0, d + 16, header_size));
    size_t pos = 16 + (size_t)header_size;
    while (size - pos >= 24 && !memcmp(d + pos, "TECP", 4)) {
        uint32_t n = tec_rl32(d + pos + 4);
        if (n > size - pos - 24)
            break;
        tec_wl32(d + pos + 20, tec_crc32(tec_crc32(0, d + pos + 8, 12), d + pos + 24, n));
        pos += 24 + (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *fixed = NULL;
    if (size && (data[0] & 1)) {
        fixed = malloc(size);
        if (!fixed)
            return 0;
        memcpy(fixed, data + 1, size - 1);
        fix_crcs(fixed, --size);
        data = fixed;
    }
    TecvReader *r = NULL;
    if (tec_tecv_open_read_mem(&r, data, size) == 0) {
        const TecvInfo *info = tec_tecv_info(r);
        size_t total = 0;
        for (int i = 0; i < info->n_meta; i++)  /* every string is readable */
            total += strlen(info->meta_keys[i]) + strlen(info->meta_values[i]);
        (void)total;
        (void)tec_tecv_meta(info, "dates");
        /* Each call consumes input or ends the stream; bound it anyway. */
        for (size_t calls = 0; calls <= size + 1; calls++) {
            const uint8_t *pkt;
            size_t n;
            int64_t t;
            int flags;
            int ret = tec_tecv_read_packet(r, &pkt, &n, &t, &flags);
            if (ret == TEC_EOF || (ret < 0 && ret != TEC_EBITSTREAM))
                break;
            if (ret == 0 && n) {
                volatile uint8_t last = pkt[n - 1];  /* the payload is readable */
                (void)last;
            }
        }
    }
    (void)tec_tecv_reader_error(r);
    tec_tecv_close_read(&r);
    free(fixed);
    return 0;
}
