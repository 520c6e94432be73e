/* A small JSON reader for the tec tool (STAC items): the whole text parsed
 * into a tree of values.  Enough for documents of a few megabytes; numbers
 * are kept as doubles, strings as UTF-8 with their escapes resolved. */
#ifndef TEC_TOOLS_JSON_H
#define TEC_TOOLS_JSON_H

#include <stddef.h>

typedef enum JsonType {
    JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT
} JsonType;

typedef struct JsonValue JsonValue;
struct JsonValue {
    JsonType type;
    double number;
    char *string;       /* JSON_STRING */
    /* JSON_ARRAY and JSON_OBJECT: count children, with their keys for an object */
    int count;
    char **keys;
    JsonValue **items;
};

/* Parses text (size bytes, need not be NUL-terminated).  NULL on a syntax
 * error, with "line L: what" in err. */
JsonValue *json_parse(const char *text, size_t size, char *err, size_t errlen);
void json_free(JsonValue *v);

/* Member key of an object, or NULL (also when v is not an object). */
const JsonValue *json_get(const JsonValue *v, const char *key);
/* The string of member key, or NULL when absent or not a string. */
const char *json_get_string(const JsonValue *v, const char *key);

#endif
