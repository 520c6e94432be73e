/* libFuzzer target: .tecw parsing and the accessors on what it accepts.
 * Inputs whose first byte is odd are taken as a body and wrapped into a
 * valid file (size, checksum, zstd frame), so that mutations reach the
 * entry parser instead of dying at the checksum. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "bytes.h"
#include "weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const TecWeights *w)
{
    char err[256];
    long v;
    (void)tec_weights_meta(w, "arch");
    (void)tec_weights_meta_int(w, "n", &v);
    (void)tec_weights_checksum(w);
    static const char *const names[] = { "meta", "a", "b", "gain", "hs.t0.weight" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const TecTensorEntry *e = tec_weights_get(w, names[i]);
        if (!e)
            continue;
        free(tec_weights_f32(w, names[i], e->ndim, NULL, err, sizeof(err)));
        free(tec_weights_i32(w, names[i], e->ndim, NULL, err, sizeof(err)));
    }
}

/* Header + zstd frame of `body`, in a new buffer. */
static uint8_t *wrap_body(const uint8_t *body, size_t n, size_t *out_size)
{
    size_t cap = 24 + ZSTD_compressBound(n);
    uint8_t *file = malloc(cap);
    if (!file)
        return NULL;
    memcpy(file, "TECW\x01\0\0\0", 8);
    tec_wl64(file + 8, n);
    tec_wl64(file + 16, tec_fnv1a64(body, n));
    size_t z = ZSTD_compress(file + 24, cap - 24, body, n, 1);
    if (ZSTD_isError(z)) {
        free(file);
        return NULL;
    }
    *out_size = 24 + z;
    return file;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    TecWeights *w = NULL;
    uint8_t *wrapped = NULL;
    if (size && (data[0] & 1)) {
        wrapped = wrap_body(data + 1, size - 1, &size);
        if (!wrapped)
            return 0;
        data = wrapped;
    }
    if (tec_weights_parse(data, size, &w, err, sizeof(err)) == 0)
        exercise(w);
    tec_weights_free(&w);
    free(wrapped);
    return 0;
}
