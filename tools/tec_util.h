/* Small pieces of the tec command line tool that need no codec: option
 * values, comma-separated lists, ISO dates and JSON strings. */
#ifndef TEC_TOOLS_TEC_UTIL_H
#define TEC_TOOLS_TEC_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Formats a message into err[errlen] and returns -1, so that a failing
 * path reads `return tec_seterr(err, errlen, "...", ...)`. */
int tec_seterr(char *err, size_t errlen, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Strict decimal integer in [min, max]: no sign games, no trailing text.
 * Returns 0 or -1. */
int tec_parse_int(const char *s, long min, long max, long *v);
/* A finite number as strtod reads it, the whole string.  0 or -1. */
int tec_parse_double(const char *s, double *v);

/* A comma-separated list, split into its own copy.  Empty items are kept
 * (as "") so that callers can complain about them. */
typedef struct TecList {
    char *store;
    char **item;
    int count;
} TecList;

/* 0, or -1 when out of memory. */
int tec_list_split(TecList *l, const char *s);
void tec_list_free(TecList *l);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t tec_days_from_civil(int64_t y, int m, int d);
void tec_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* An acquisition date: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM].
 * 1: parsed into *ms (since 1970-01-01 UTC); 0: not shaped like an ISO date
 * (the caller keeps it as a label); -1: shaped like one but impossible
 * (month 13, 30 February, hour 24, ...). */
int tec_parse_date(const char *s, int64_t *ms);
/* "2017-06-20" at midnight UTC, else "2017-06-20T10:31:05Z" (".123" when
 * the milliseconds are not zero). */
void tec_format_time(int64_t ms, char *buf, size_t size);

/* 1 when s is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
int tec_utf8_valid(const char *s);
/* s as a JSON string, quotes included; bytes that are not UTF-8 become
 * U+FFFD so the output always parses. */
void tec_json_string(FILE *f, const char *s);
/* s for a terminal: control characters become '?'. */
void tec_print_clean(FILE *f, const char *s);

#endif
