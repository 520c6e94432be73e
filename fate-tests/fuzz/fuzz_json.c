/* libFuzzer target for tec's JSON reader (tools/json.c), which reads the
 * STAC items tec encode is given: any bytes must parse or fail with a
 * message, never crash, leak or read out of bounds.  What parses is walked
 * whole (every member looked up by its key) so that the tree is checked too.
 *
 * clang -fsanitize=fuzzer,address,undefined -Itools tools/json.c \
 *     fate-tests/fuzz/fuzz_json.c
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json.h"

static size_t walk(const JsonValue *v, int depth)
{
    size_t n = 1;
    if (v->type == JSON_STRING)
        n += strlen(v->string);
    for (int i = 0; i < v->count; i++) {
        if (v->type == JSON_OBJECT && !json_get(v, v->keys[i]))
            __builtin_trap();  /* a key that is there must be found */
        n += walk(v->items[i], depth + 1);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    JsonValue *v = json_parse((const char *)data, size, err, sizeof(err));
    if (v) {
        (void)walk(v, 0);
        (void)json_get_string(v, "type");
        json_free(v);
    } else if (!err[0]) {
        __builtin_trap();  /* a failure always says why */
    }
    return 0;
}
