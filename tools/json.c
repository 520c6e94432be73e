/* tec: a small recursive-descent JSON reader (json.h). */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Deeper documents are refused rather than risking the stack. */
#define JSON_MAX_DEPTH 64

typedef struct Parser {
    const char *p, *end, *start;
    char *err;
    size_t errlen;
    int failed;
} Parser;

static void fail(Parser *ps, const char *what)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    int line = 1;
    for (const char *q = ps->start; q < ps->p && q < ps->end; q++)
        line += *q == '\n';
    snprintf(ps->err, ps->errlen, "line %d: %s", line, what);
}

static void skip_space(Parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(Parser *ps, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        if (ps->p >= ps->end) {
            fail(ps, "truncated \\u escape");
            return -1;
        }
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else {
            fail(ps, "bad \\u escape");
            return -1;
        }
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* At the opening quote; a new NUL-terminated string. */
static char *parse_string(Parser *ps)
{
    ps->p++;
    /* The decoded text is never longer than the escaped one. */
    const char *q = ps->p;
    while (q < ps->end && *q != '"')
        q += *q == '\\' && q + 1 < ps->end ? 2 : 1;
    if (q >= ps->end) {
        fail(ps, "unterminated string");
        return NULL;
    }
    char *s = malloc((size_t)(q - ps->p) + 4), *o = s;
    if (!s) {
        fail(ps, "out of memory");
        return NULL;
    }
    while (*ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p++;
        if (c < 0x20) {
            fail(ps, "control character in a string");
            free(s);
            return NULL;
        }
        if (c != '\\') {
            *o++ = (char)c;
            continue;
        }
        char e = *ps->p++;
        unsigned cp;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            if (hex4(ps, &cp) < 0) {
                free(s);
                return NULL;
            }
            /* A surrogate pair is one code point; a lone half becomes U+FFFD. */
            if (cp >= 0xd800 && cp < 0xdc00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
                ps->p[1] == 'u') {
                unsigned lo;
                ps->p += 2;
                if (hex4(ps, &lo) < 0) {
                    free(s);
                    return NULL;
                }
                cp = lo >= 0xdc00 && lo < 0xe000 ? 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00)
                                                 : 0xfffd;
            } else if (cp >= 0xd800 && cp < 0xe000) {
                cp = 0xfffd;
            }
            o += put_utf8(o, cp);
            break;
        default:
            fail(ps, "bad escape in a string");
            free(s);
            return NULL;
        }
    }
    ps->p++;
    *o = '\0';
    return s;
}

static JsonValue *parse_value(Parser *ps, int depth);

static int append(Parser *ps, JsonValue *v, char *key, JsonValue *item)
{
    if ((v->count & (v->count - 1)) == 0) {  /* grow at powers of two */
        size_t cap = v->count ? (size_t)v->count * 2 : 4;
        JsonValue **items = realloc(v->items, cap * sizeof(*items));
        if (items)
            v->items = items;
        char **keys = v->type == JSON_OBJECT ? realloc(v->keys, cap * sizeof(*keys)) : NULL;
        if (keys)
            v->keys = keys;
        if (!items || (v->type == JSON_OBJECT && !keys)) {
            fail(ps, "out of memory");
            return -1;
        }
    }
    if (v->type == JSON_OBJECT)
        v->keys[v->count] = key;
    v->items[v->count++] = item;
    return 0;
}

static JsonValue *parse_container(Parser *ps, JsonValue *v, int depth)
{
    const char close = v->type == JSON_OBJECT ? '}' : ']';
    ps->p++;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_space(ps);
        if (v->type == JSON_OBJECT) {
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, "expected a member name");
                break;
            }
            if (!(key = parse_string(ps)))
                break;
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                fail(ps, "expected ':'");
                break;
            }
            ps->p++;
        }
        JsonValue *item = parse_value(ps, depth + 1);
        if (!item || append(ps, v, key, item) < 0) {
            free(key);
            json_free(item);
            break;
        }
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return v;
        }
        fail(ps, v->type == JSON_OBJECT ? "expected ',' or '}'" : "expected ',' or ']'");
        break;
    }
    json_free(v);
    return NULL;
}

static int literal(Parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, word, n)) {
        ps->p += n;
        return 1;
    }
    return 0;
}

static JsonValue *parse_value(Parser *ps, int depth)
{
    skip_space(ps);
    if (depth > JSON_MAX_DEPTH) {
        fail(ps, "nested too deeply");
        return NULL;
    }
    if (ps->p >= ps->end) {
        fail(ps, "unexpected end of the text");
        return NULL;
    }
    JsonValue *v = calloc(1, sizeof(*v));
    if (!v) {
        fail(ps, "out of memory");
        return NULL;
    }
    char c = *ps->p;
    if (c == '{' || c == '[') {
        v->type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
        return parse_container(ps, v, depth);
    }
    if (c == '"') {
        v->type = JSON_STRING;
        if ((v->string = parse_string(ps)))
            return v;
    } else if (literal(ps, "true")) {
        v->type = JSON_TRUE;
        return v;
    } else if (literal(ps, "false")) {
        v->type = JSON_FALSE;
        return v;
    } else if (literal(ps, "null")) {
        v->type = JSON_NULL;
        return v;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char buf[64];
        size_t n = 0;
        while (ps->p < ps->end && n < sizeof(buf) - 1 && strchr("+-.eE0123456789", *ps->p))
            buf[n++] = *ps->p++;
        buf[n] = '\0';
        char *endp;
        v->type = JSON_NUMBER;
        v->number = strtod(buf, &endp);
        if (n && !*endp)
            return v;
        fail(ps, "bad number");
    } else {
        fail(ps, "unexpected character");
    }
    free(v);
    return NULL;
}

JsonValue *json_parse(const char *text, size_t size, char *err, size_t errlen)
{
    Parser ps = { text, text + size, text, err, errlen, 0 };
    JsonValue *v = parse_value(&ps, 0);
    skip_space(&ps);
    if (v && ps.p != ps.end) {
        fail(&ps, "text after the end of the document");
        json_free(v);
        v = NULL;
    }
    return v;
}

void json_free(JsonValue *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->count; i++) {
        if (v->keys)
            free(v->keys[i]);
        json_free(v->items[i]);
    }
    free(v->keys);
    free(v->items);
    free(v->string);
    free(v);
}

const JsonValue *json_get(const JsonValue *v, const char *key)
{
    if (!v || v->type != JSON_OBJECT)
        return NULL;
    for (int i = 0; i < v->count; i++)
        if (!strcmp(v->keys[i], key))
            return v->items[i];
    return NULL;
}

const char *json_get_string(const JsonValue *v, const char *key)
{
    const JsonValue *m = json_get(v, key);
    return m && m->type == JSON_STRING ? m->string : NULL;
}
