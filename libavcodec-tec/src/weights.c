/* .tecw weight files (doc/bitstream.md, section 1): loading, verification,
 * tensor lookup and the model search path. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include "weights.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zstd.h>

#include "tec/tec.h"
#include "bytes.h"
#include "errors.h"

#ifndef TEC_WEIGHTS_INSTALL_DIR
#define TEC_WEIGHTS_INSTALL_DIR "/usr/local/share/tec/weights"
#endif

#define TECW_HEADER_SIZE 24
#define TECW_VERSION     1
#define TECW_MAX_BODY    ((uint64_t)256 << 20)
#define TECW_MAX_NDIM    4
/* Smallest possible entry: name_len, a 1-byte name, dtype, ndim. */
#define TECW_MIN_ENTRY   5

struct TecWeights {
    uint8_t *body;
    size_t body_size;
    uint64_t checksum;
    TecTensorEntry *entries;        /* in file order */
    const TecTensorEntry **by_name; /* sorted, for lookup */
    int n_entries;
    char *names;                    /* the names, each NUL-terminated */
    char *meta_text;                /* copy of `meta`, split in place */
    const char **meta_keys, **meta_values;
    int n_meta;
};

#define set_err(err, errlen, ...) ((void)tec_err(err, errlen, 0, __VA_ARGS__))

static size_t dtype_size(int dtype)
{
    switch (dtype) {
    case TEC_DT_F32: return 4;
    case TEC_DT_F16: return 2;
    case TEC_DT_I32: return 4;
    case TEC_DT_U8:  return 1;
    default:         return 0;
    }
}

void tec_weights_free(TecWeights **pw)
{
    TecWeights *w = pw ? *pw : NULL;
    if (!w)
        return;
    free(w->body);
    free(w->entries);
    free(w->by_name);
    free(w->names);
    free(w->meta_text);
    free(w->meta_keys);
    free(w->meta_values);
    free(w);
    *pw = NULL;
}

/* ---- body parsing ------------------------------------------------------ */

static int name_is_valid(const uint8_t *name, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (name[i] < 0x20 || name[i] > 0x7e)
            return 0;
    return 1;
}

/* Parses one entry at the reader's position into e; the name is copied to
 * *names_out (advanced past its NUL). */
static int parse_entry(TecByteReader *br, TecTensorEntry *e, char **names_out, int index,
                       char *err, size_t errlen)
{
    uint16_t name_len = tec_br_u16(br);
    const uint8_t *name = tec_br_bytes(br, name_len);
    if (br->err) {
        set_err(err, errlen, "entry %d: name runs past the end of the body", index);
        return TEC_EMODEL;
    }
    if (!name_is_valid(name, name_len)) {
        set_err(err, errlen, "entry %d: empty or non-ASCII tensor name", index);
        return TEC_EMODEL;
    }
    memcpy(*names_out, name, name_len);
    (*names_out)[name_len] = '\0';
    e->name = *names_out;
    *names_out += name_len + 1;

    e->dtype = tec_br_u8(br);
    e->ndim = tec_br_u8(br);
    if (br->err) {
        set_err(err, errlen, "tensor '%s': header runs past the end of the body", e->name);
        return TEC_EMODEL;
    }
    size_t esize = dtype_size(e->dtype);
    if (!esize) {
        set_err(err, errlen, "tensor '%s': unknown dtype %d", e->name, e->dtype);
        return TEC_EMODEL;
    }
    if (e->ndim > TECW_MAX_NDIM) {
        set_err(err, errlen, "tensor '%s': %d dimensions (at most %d)", e->name, e->ndim,
                TECW_MAX_NDIM);
        return TEC_EMODEL;
    }

    /* The element count must fit in what is left of the body; checking the
     * running product against that bound also rules out overflow. */
    size_t limit = (size_t)(br->end - br->p) / esize;
    size_t count = 1;
    int too_big = 0;
    for (int d = 0; d < e->ndim; d++) {
        e->dims[d] = tec_br_u32(br);
        if (e->dims[d] && count > limit / e->dims[d])
            too_big = 1;
        else
            count *= e->dims[d];
    }
    for (int d = e->ndim; d < TECW_MAX_NDIM; d++)
        e->dims[d] = 1;
    if (br->err) {
        set_err(err, errlen, "tensor '%s': dimensions run past the end of the body", e->name);
        return TEC_EMODEL;
    }
    limit = (size_t)(br->end - br->p) / esize;
    if (too_big || count > limit) {
        set_err(err, errlen, "tensor '%s': data runs past the end of the body", e->name);
        return TEC_EMODEL;
    }
    e->count = count;
    e->data = tec_br_bytes(br, count * esize);
    return 0;
}

static int compare_entry_names(const void *a, const void *b)
{
    const TecTensorEntry *ea = *(const TecTensorEntry *const *)a;
    const TecTensorEntry *eb = *(const TecTensorEntry *const *)b;
    return strcmp(ea->name, eb->name);
}

static int index_entries(TecWeights *w, char *err, size_t errlen)
{
    w->by_name = malloc((size_t)(w->n_entries ? w->n_entries : 1) * sizeof(*w->by_name));
    if (!w->by_name) {
        set_err(err, errlen, "out of memory");
        return TEC_ENOMEM;
    }
    for (int i = 0; i < w->n_entries; i++)
        w->by_name[i] = &w->entries[i];
    qsort(w->by_name, (size_t)w->n_entries, sizeof(*w->by_name), compare_entry_names);
    for (int i = 1; i < w->n_entries; i++) {
        if (!strcmp(w->by_name[i - 1]->name, w->by_name[i]->name)) {
            set_err(err, errlen, "tensor '%s' appears twice", w->by_name[i]->name);
            return TEC_EMODEL;
        }
    }
    return 0;
}

static int parse_body(TecWeights *w, char *err, size_t errlen)
{
    TecByteReader br = { w->body, w->body + w->body_size, 0 };
    uint32_t n = tec_br_u32(&br);
    if (br.err) {
        set_err(err, errlen, "body too short for the entry count");
        return TEC_EMODEL;
    }
    /* Bound the allocations by what the body could possibly hold. */
    if (n > (w->body_size - 4) / TECW_MIN_ENTRY || n > INT_MAX) {
        set_err(err, errlen, "%u entries cannot fit in a body of %zu bytes", n, w->body_size);
        return TEC_EMODEL;
    }
    w->entries = calloc(n ? n : 1, sizeof(*w->entries));
    /* All names together are shorter than the body; +1 per NUL. */
    w->names = malloc(w->body_size + n);
    if (!w->entries || !w->names) {
        set_err(err, errlen, "out of memory");
        return TEC_ENOMEM;
    }
    char *names = w->names;
    for (uint32_t i = 0; i < n; i++) {
        int ret = parse_entry(&br, &w->entries[i], &names, (int)i, err, errlen);
        if (ret < 0)
            return ret;
        w->n_entries++;
    }
    if (br.p != br.end) {
        set_err(err, errlen, "%zu stray bytes after the last entry", (size_t)(br.end - br.p));
        return TEC_EMODEL;
    }
    return index_entries(w, err, errlen);
}

/* Splits the `meta` text into key=value lines.  Empty lines are skipped;
 * any other line without '=' or a repeated key is an error. */
static int parse_meta(TecWeights *w, char *err, size_t errlen)
{
    const TecTensorEntry *e = tec_weights_get(w, "meta");
    if (!e)
        return 0;
    if (e->dtype != TEC_DT_U8 || e->ndim != 1) {
        set_err(err, errlen, "tensor 'meta' must be 1-D u8 text");
        return TEC_EMODEL;
    }
    if (memchr(e->data, '\0', e->count)) {
        set_err(err, errlen, "meta text contains a NUL byte");
        return TEC_EMODEL;
    }
    w->meta_text = malloc(e->count + 1);
    if (!w->meta_text) {
        set_err(err, errlen, "out of memory");
        return TEC_ENOMEM;
    }
    memcpy(w->meta_text, e->data, e->count);
    w->meta_text[e->count] = '\0';

    size_t lines = 1;
    for (size_t i = 0; i < e->count; i++)
        lines += w->meta_text[i] == '\n';
    w->meta_keys = malloc(lines * sizeof(*w->meta_keys));
    w->meta_values = malloc(lines * sizeof(*w->meta_values));
    if (!w->meta_keys || !w->meta_values) {
        set_err(err, errlen, "out of memory");
        return TEC_ENOMEM;
    }

    char *line = w->meta_text;
    for (size_t i = 0; i < lines; i++) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len) {
            char *eq = strchr(line, '=');
            if (!eq || eq == line) {
                set_err(err, errlen, "meta line %zu is not key=value", i + 1);
                return TEC_EMODEL;
            }
            *eq = '\0';
            if (tec_weights_meta(w, line)) {
                set_err(err, errlen, "meta key '%s' appears twice", line);
                return TEC_EMODEL;
            }
            w->meta_keys[w->n_meta] = line;
            w->meta_values[w->n_meta] = eq + 1;
            w->n_meta++;
        }
        if (!next)
            break;
        line = next;
    }
    return 0;
}

/* ---- container --------------------------------------------------------- */

static int decompress_body(TecWeights *w, const uint8_t *frame, size_t frame_size,
                           char *err, size_t errlen)
{
    unsigned long long content = ZSTD_getFrameContentSize(frame, frame_size);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN) {
        set_err(err, errlen, "body is not a zstd frame with a known size");
        return TEC_EMODEL;
    }
    if (content != w->body_size) {
        set_err(err, errlen, "zstd frame holds %llu bytes, header says %zu", content,
                w->body_size);
        return TEC_EMODEL;
    }
    size_t frame_len = ZSTD_findFrameCompressedSize(frame, frame_size);
    if (ZSTD_isError(frame_len)) {
        set_err(err, errlen, "truncated or corrupt zstd frame (%s)", ZSTD_getErrorName(frame_len));
        return TEC_EMODEL;
    }
    if (frame_len != frame_size) {
        set_err(err, errlen, "%zu stray bytes after the zstd frame", frame_size - frame_len);
        return TEC_EMODEL;
    }
    w->body = malloc(w->body_size);
    if (!w->body) {
        set_err(err, errlen, "out of memory for a %zu-byte body", w->body_size);
        return TEC_ENOMEM;
    }
    size_t got = ZSTD_decompress(w->body, w->body_size, frame, frame_size);
    if (ZSTD_isError(got)) {
        set_err(err, errlen, "zstd: %s", ZSTD_getErrorName(got));
        return TEC_EMODEL;
    }
    if (got != w->body_size) {
        set_err(err, errlen, "body decompressed to %zu bytes, expected %zu", got, w->body_size);
        return TEC_EMODEL;
    }
    return 0;
}

static int parse_file(TecWeights *w, const uint8_t *file, size_t size, char *err, size_t errlen)
{
    if (size < TECW_HEADER_SIZE) {
        set_err(err, errlen, "file too short for a .tecw header (%zu bytes)", size);
        return TEC_EMODEL;
    }
    if (memcmp(file, "TECW", 4)) {
        set_err(err, errlen, "not a .tecw file (bad magic)");
        return TEC_EMODEL;
    }
    unsigned version = tec_rl16(file + 4);
    if (version != TECW_VERSION) {
        set_err(err, errlen, "unsupported .tecw version %u (this build reads %d)", version,
                TECW_VERSION);
        return TEC_EMODEL;
    }
    uint64_t body_size = tec_rl64(file + 8);
    if (body_size < 4 || body_size > TECW_MAX_BODY) {
        set_err(err, errlen, "body size %llu outside 4..%llu", (unsigned long long)body_size,
                (unsigned long long)TECW_MAX_BODY);
        return TEC_EMODEL;
    }
    w->body_size = (size_t)body_size;
    w->checksum = tec_rl64(file + 16);

    int ret = decompress_body(w, file + TECW_HEADER_SIZE, size - TECW_HEADER_SIZE, err, errlen);
    if (ret < 0)
        return ret;
    uint64_t sum = tec_fnv1a64(w->body, w->body_size);
    if (sum != w->checksum) {
        set_err(err, errlen, "checksum mismatch (file says %016llx, body hashes to %016llx)",
                (unsigned long long)w->checksum, (unsigned long long)sum);
        return TEC_EMODEL;
    }
    ret = parse_body(w, err, errlen);
    if (ret < 0)
        return ret;
    return parse_meta(w, err, errlen);
}

int tec_weights_parse(const uint8_t *file, size_t size, TecWeights **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!file && size) {
        set_err(err, errlen, "no data");
        return TEC_EINVAL;
    }
    TecWeights *w = calloc(1, sizeof(*w));
    if (!w) {
        set_err(err, errlen, "out of memory");
        return TEC_ENOMEM;
    }
    int ret = parse_file(w, file, size, err, errlen);
    if (ret < 0) {
        tec_weights_free(&w);
        return ret;
    }
    *out = w;
    return 0;
}

/* Reads a whole .tecw, refusing sizes no valid file can have. */
static int read_file(const char *path, uint8_t **data, size_t *size, char *err, size_t errlen)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return TEC_EIO;
    }
    int ret = TEC_EIO;
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        goto done;
    }
    uint64_t max_size = TECW_HEADER_SIZE + ZSTD_compressBound((size_t)TECW_MAX_BODY);
    if ((uint64_t)st.st_size > max_size) {
        set_err(err, errlen, "%s: %lld bytes is too large for a .tecw file", path,
                (long long)st.st_size);
        ret = TEC_EMODEL;
        goto done;
    }
    *size = (size_t)st.st_size;
    *data = malloc(*size ? *size : 1);
    if (!*data) {
        set_err(err, errlen, "%s: out of memory", path);
        ret = TEC_ENOMEM;
        goto done;
    }
    if (fread(*data, 1, *size, f) != *size) {
        set_err(err, errlen, "%s: read error", path);
        goto done;
    }
    ret = 0;
done:
    fclose(f);
    if (ret < 0) {
        free(*data);
        *data = NULL;
    }
    return ret;
}

int tec_weights_load(const char *path, TecWeights **w, char *err, size_t errlen)
{
    *w = NULL;
    uint8_t *data;
    size_t size = 0;
    int ret = read_file(path, &data, &size, err, errlen);
    if (ret < 0)
        return ret;
    char msg[256] = "";
    ret = tec_weights_parse(data, size, w, msg, sizeof(msg));
    free(data);
    if (ret < 0)
        set_err(err, errlen, "%s: %s", path, msg);
    return ret;
}

/* ---- search path ------------------------------------------------------- */

static int is_regular_file(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISREG(st.st_mode);
}

/* Tries DIR/NAME.tecw (dir of length dirlen) and appends dir to the list of
 * searched directories.  Returns 1 when found. */
static int try_dir(const char *dir, size_t dirlen, const char *name, char *path, size_t pathlen,
                   char *searched, size_t searched_len)
{
    if (!dirlen)
        return 0;
    size_t used = strlen(searched);
    if (used < searched_len)
        snprintf(searched + used, searched_len - used, "%s%.*s", used ? ", " : "", (int)dirlen,
                 dir);
    int n = snprintf(path, pathlen, "%.*s/%s.tecw", (int)dirlen, dir, name);
    return n > 0 && (size_t)n < pathlen && is_regular_file(path);
}

int tec_weights_find(const char *name, const char *dir, char *path, size_t pathlen,
                     char *err, size_t errlen)
{
    if (!name || !*name || strchr(name, '/') || strstr(name, "..")) {
        set_err(err, errlen, "invalid model name '%s'", name ? name : "(null)");
        return TEC_EMODEL;
    }
    if (!path || !pathlen) {
        set_err(err, errlen, "no room for the model path");
        return TEC_EINVAL;
    }
    char searched[1024] = "";
    if (dir && try_dir(dir, strlen(dir), name, path, pathlen, searched, sizeof(searched)))
        return 0;

    const char *env = getenv("TEC_WEIGHTS");
    while (env && *env) {
        const char *colon = strchr(env, ':');
        size_t len = colon ? (size_t)(colon - env) : strlen(env);
        if (try_dir(env, len, name, path, pathlen, searched, sizeof(searched)))
            return 0;
        env = colon ? colon + 1 : NULL;
    }

    /* Never the source tree: an installed library must not depend on where
     * it was built (the in-tree tools pass the tree's weights/ instead). */
    if (try_dir(TEC_WEIGHTS_INSTALL_DIR, strlen(TEC_WEIGHTS_INSTALL_DIR), name, path, pathlen,
                searched, sizeof(searched)))
        return 0;

    path[0] = '\0';
    set_err(err, errlen, "model '%s' not found: no %s.tecw in %s (set TEC_WEIGHTS or pass a "
            "weights directory)", name, name, searched);
    return TEC_EMODEL;
}

/* ---- accessors --------------------------------------------------------- */

uint64_t tec_weights_checksum(const TecWeights *w)
{
    return w->checksum;
}

const char *tec_weights_meta(const TecWeights *w, const char *key)
{
    for (int i = 0; i < w->n_meta; i++)
        if (!strcmp(w->meta_keys[i], key))
            return w->meta_values[i];
    return NULL;
}

int tec_weights_meta_int(const TecWeights *w, const char *key, long *v)
{
    const char *s = tec_weights_meta(w, key);
    if (!s || !*s)
        return TEC_EMODEL;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || *end)
        return TEC_EMODEL;
    *v = x;
    return 0;
}

const TecTensorEntry *tec_weights_get(const TecWeights *w, const char *name)
{
    TecTensorEntry key = { .name = name };
    const TecTensorEntry *pkey = &key;
    const TecTensorEntry **hit = bsearch(&pkey, w->by_name, (size_t)w->n_entries,
                                         sizeof(*w->by_name), compare_entry_names);
    return hit ? *hit : NULL;
}

/* IEEE half to single by hand: no dependence on compiler _Float16 support. */
static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {                 /* inf / NaN */
        bits = sign | 0x7f800000u | mant << 13;
    } else if (exp) {                  /* normal */
        bits = sign | (exp + 112) << 23 | mant << 13;
    } else if (mant) {                 /* subnormal: normalise */
        int e = -1;
        do {
            mant <<= 1;
            e++;
        } while (!(mant & 0x400));
        bits = sign | (uint32_t)(112 - e) << 23 | (mant & 0x3ff) << 13;
    } else {                           /* signed zero */
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

static void format_shape(char *buf, size_t len, int ndim, const uint32_t *dims, const int *want)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && used < len; d++) {
        const char *sep = d ? "," : "";
        if (dims)
            used += (size_t)snprintf(buf + used, len - used, "%s%u", sep, dims[d]);
        else if (want[d] < 0)
            used += (size_t)snprintf(buf + used, len - used, "%s*", sep);
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%d", sep, want[d]);
    }
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

/* Finds a tensor and checks its dtype (one of two) and shape. */
static const TecTensorEntry *get_checked(const TecWeights *w, const char *name, int dt1, int dt2,
                                         int ndim, const int *dims, char *err, size_t errlen)
{
    const TecTensorEntry *e = tec_weights_get(w, name);
    if (!e) {
        set_err(err, errlen, "tensor '%s' missing from the weights", name);
        return NULL;
    }
    if (e->dtype != dt1 && e->dtype != dt2) {
        set_err(err, errlen, "tensor '%s' has dtype %d, expected %d", name, e->dtype, dt1);
        return NULL;
    }
    int ok = e->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++)
        ok = !dims || dims[d] < 0 || (uint32_t)dims[d] == e->dims[d];
    if (!ok) {
        char have[96], want[96] = "(any)";
        format_shape(have, sizeof(have), e->ndim, e->dims, NULL);
        if (dims)
            format_shape(want, sizeof(want), ndim, NULL, dims);
        else
            snprintf(want, sizeof(want), "%d dimensions", ndim);
        set_err(err, errlen, "tensor '%s' has shape %s, expected %s", name, have, want);
        return NULL;
    }
    return e;
}

float *tec_weights_f32(const TecWeights *w, const char *name, int ndim, const int *dims,
                       char *err, size_t errlen)
{
    const TecTensorEntry *e = get_checked(w, name, TEC_DT_F32, TEC_DT_F16, ndim, dims, err,
                                          errlen);
    if (!e)
        return NULL;
    float *out = malloc(e->count ? e->count * sizeof(float) : 1);
    if (!out) {
        set_err(err, errlen, "out of memory for tensor '%s'", name);
        return NULL;
    }
    const uint8_t *p = e->data;
    for (size_t i = 0; i < e->count; i++) {
        if (e->dtype == TEC_DT_F16) {
            out[i] = f16_to_f32(tec_rl16(p + 2 * i));
        } else {
            uint32_t bits = tec_rl32(p + 4 * i);
            memcpy(&out[i], &bits, sizeof(float));
        }
    }
    return out;
}

int32_t *tec_weights_i32(const TecWeights *w, const char *name, int ndim, const int *dims,
                         char *err, size_t errlen)
{
    const TecTensorEntry *e = get_checked(w, name, TEC_DT_I32, TEC_DT_I32, ndim, dims, err,
                                          errlen);
    if (!e)
        return NULL;
    int32_t *out = malloc(e->count ? e->count * sizeof(int32_t) : 1);
    if (!out) {
        set_err(err, errlen, "out of memory for tensor '%s'", name);
        return NULL;
    }
    const uint8_t *p = e->data;
    for (size_t i = 0; i < e->count; i++)
        out[i] = (int32_t)tec_rl32(p + 4 * i);
    return out;
}
