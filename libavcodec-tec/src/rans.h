/* rANS entropy coder over static quantized CDF tables (doc/bitstream.md, 5). */
#ifndef TEC_RANS_H
#define TEC_RANS_H

#include <stddef.h>
#include <stdint.h>

#define TEC_RANS_PREC 16

/* Values lo .. lo+n-1 plus an escape symbol (index n).
 * cdf has n + 2 entries: cdf[0] = 0, cdf[n + 1] = 1 << TEC_RANS_PREC,
 * strictly increasing (every symbol has frequency >= 1). */
typedef struct TecRansTable {
    const uint32_t *cdf;
    int32_t n;
    int32_t lo;
} TecRansTable;

/* Checks the invariants above; 0 if valid, TEC_EMODEL otherwise. */
int tec_rans_table_check(const TecRansTable *t);

/* The encoder records symbols in coding order and encodes them backwards on
 * finish, so the decoder reads them forwards. */
typedef struct TecRansEncoder {
    uint32_t *syms;   /* (start << 16 | freq-1) per recorded symbol */
    size_t count, capacity;
    int error;        /* TEC_ENOMEM once an allocation failed */
    uint8_t *out;     /* owned by the encoder after finish */
    size_t out_size, out_capacity;
} TecRansEncoder;

void tec_rans_enc_init(TecRansEncoder *e);
/* Queue one value with table t (escape and raw bits added as needed). */
void tec_rans_enc_put(TecRansEncoder *e, const TecRansTable *t, int32_t value);
/* Queue k raw bits (1..16) of v. */
void tec_rans_enc_put_bits(TecRansEncoder *e, uint32_t v, int k);
/* Encode everything queued.  *data points into the encoder's buffer, valid
 * until the next reset/free.  Returns 0 or TEC_ENOMEM. */
int tec_rans_enc_finish(TecRansEncoder *e, const uint8_t **data, size_t *size);
/* Forget queued symbols and output, keep the allocations. */
void tec_rans_enc_reset(TecRansEncoder *e);
void tec_rans_enc_free(TecRansEncoder *e);

/* Cost estimate in bits of coding value with t (escapes included). */
double tec_rans_cost_bits(const TecRansTable *t, int32_t value);

typedef struct TecRansDecoder {
    const uint8_t *p, *end;
    uint32_t x;
    int error;        /* set to 1 on any corruption; values are then 0 */
} TecRansDecoder;

/* Returns 0 or TEC_EBITSTREAM (fewer than 4 bytes). */
int tec_rans_dec_init(TecRansDecoder *d, const uint8_t *data, size_t size);
int32_t tec_rans_dec_get(TecRansDecoder *d, const TecRansTable *t);
uint32_t tec_rans_dec_get_bits(TecRansDecoder *d, int k);

#endif
