/* .tecw weight files (doc/bitstream.md, 1) and the search path. */
#ifndef TEC_WEIGHTS_H
#define TEC_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

enum { TEC_DT_F32 = 1, TEC_DT_F16 = 2, TEC_DT_I32 = 3, TEC_DT_U8 = 4 };

typedef struct TecTensorEntry {
    const char *name;
    int dtype;
    int ndim;
    uint32_t dims[4];
    size_t count;          /* number of elements */
    const void *data;      /* little-endian raw elements inside the body */
} TecTensorEntry;

typedef struct TecWeights TecWeights;

/* Load and verify a file.  On failure returns TEC_EMODEL/TEC_EIO/TEC_ENOMEM
 * and writes a message naming the file and the problem into err. */
int tec_weights_load(const char *path, TecWeights **w, char *err, size_t errlen);
/* Parse from memory (the fuzzers and tests use this). */
int tec_weights_parse(const uint8_t *file, size_t size, TecWeights **w, char *err, size_t errlen);
/* Find NAME.tecw: dir (may be NULL), $TEC_WEIGHTS (colon-separated), the
 * install directory TEC_WEIGHTS_INSTALL_DIR.  Returns 0 and the path, or TEC_EMODEL with a
 * message listing the directories searched.  Names with '/' or ".." are
 * rejected. */
int tec_weights_find(const char *name, const char *dir, char *path, size_t pathlen,
                     char *err, size_t errlen);
uint64_t tec_weights_checksum(const TecWeights *w);
/* Value of a meta key or NULL. Returned string lives as long as w. */
const char *tec_weights_meta(const TecWeights *w, const char *key);
/* Integer meta value; returns 0 and sets *v, or TEC_EMODEL if absent/invalid. */
int tec_weights_meta_int(const TecWeights *w, const char *key, long *v);
const TecTensorEntry *tec_weights_get(const TecWeights *w, const char *name);
/* Fetch a tensor converted to float32 (from f32 or f16) into a new malloc'ed
 * array, checking ndim/dims (dims entries < 0 are wildcards).  NULL with a
 * message in err when missing or mis-shaped. */
float *tec_weights_f32(const TecWeights *w, const char *name, int ndim, const int *dims,
                       char *err, size_t errlen);
/* Same for i32 tensors (copied). */
int32_t *tec_weights_i32(const TecWeights *w, const char *name, int ndim, const int *dims,
                         char *err, size_t errlen);
void tec_weights_free(TecWeights **w);

#endif
