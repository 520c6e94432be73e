/* Helpers of the tec command line tool (see tec_util.h). */
#define _POSIX_C_SOURCE 200809L

#include "tec_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int tec_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int tec_parse_int(const char *s, long min, long max, long *v)
{
    if (!s || !*s || *s == ' ' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || *end || x < min || x > max)
        return -1;
    *v = x;
    return 0;
}

int tec_parse_double(const char *s, double *v)
{
    if (!s || !*s || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno == ERANGE || *end || !isfinite(x))
        return -1;
    *v = x;
    return 0;
}

int tec_list_split(TecList *l, const char *s)
{
    memset(l, 0, sizeof(*l));
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    l->store = strdup(s);
    l->item = malloc(n * sizeof(*l->item));
    if (!l->store || !l->item) {
        tec_list_free(l);
        return -1;
    }
    char *p = l->store;
    for (;;) {
        l->item[l->count++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    return 0;
}

void tec_list_free(TecList *l)
{
    free(l->store);
    free(l->item);
    memset(l, 0, sizeof(*l));
}

/* Howard Hinnant's days_from_civil: eras of 400 years (146097 days) make
 * the arithmetic exact for any year, without timegm and its time zone. */
int64_t tec_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tec_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[m - 1] + (m == 2 && leap);
}

/* n decimal digits at s; -1 if any is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int tec_parse_date(const char *s, int64_t *ms)
{
    /* The date part decides whether this is meant as an ISO date at all. */
    if (strlen(s) < 10 || s[4] != '-' || s[7] != '-')
        return 0;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 0 || mo < 0 || d < 0)
        return 0;
    if (s[10] && s[10] != 'T')
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;

    int64_t t = tec_days_from_civil(y, mo, d) * 86400000;
    const char *p = s + 10;
    if (*p == 'T') {
        p++;
        if (strlen(p) < 8 || p[2] != ':' || p[5] != ':')
            return -1;
        int h = digits(p, 2), mi = digits(p + 3, 2), se = digits(p + 6, 2);
        if (h < 0 || mi < 0 || se < 0 || h > 23 || mi > 59 || se > 59)
            return -1;
        t += ((int64_t)h * 3600 + mi * 60 + se) * 1000;
        p += 8;
        if (*p == '.') {
            int n = 0, frac = 0;
            for (p++; *p >= '0' && *p <= '9'; p++, n++)
                if (n < 3)
                    frac = frac * 10 + (*p - '0');
            if (n < 1 || n > 3)
                return -1;  /* the time is kept to the millisecond, no finer */
            for (; n < 3; n++)
                frac *= 10;
            t += frac;
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            if (strlen(p) != 6 || p[3] != ':')
                return -1;
            int oh = digits(p + 1, 2), om = digits(p + 4, 2);
            if (oh < 0 || om < 0 || oh > 23 || om > 59)
                return -1;
            int64_t off = ((int64_t)oh * 60 + om) * 60000;
            t += *p == '+' ? -off : off;  /* local time minus its offset is UTC */
            p += 6;
        }
        if (*p)
            return -1;
    }
    *ms = t;
    return 1;
}

void tec_format_time(int64_t ms, char *buf, size_t size)
{
    int64_t days = ms / 86400000, rem = ms % 86400000;
    if (rem < 0) {
        days--;
        rem += 86400000;
    }
    int64_t y;
    int m, d;
    tec_civil_from_days(days, &y, &m, &d);
    if (!rem) {
        snprintf(buf, size, "%04lld-%02d-%02d", (long long)y, m, d);
        return;
    }
    int h = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), s = (int)(rem / 1000 % 60);
    int frac = (int)(rem % 1000);
    if (frac)
        snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d, h, mi,
                 s, frac);
    else
        snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, h, mi, s);
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static int utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    int n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;  /* also stops at the terminating NUL */
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int tec_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = utf8_len(p);
        if (!n)
            return 0;
        p += n;
    }
    return 1;
}

void tec_json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    putc('"', f);
    while (*p) {
        int n = utf8_len(p);
        if (!n) {
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        if (n > 1) {
            fwrite(p, 1, (size_t)n, f);
            p += n;
            continue;
        }
        unsigned c = *p++;
        switch (c) {
        case '"':  fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                putc((int)c, f);
        }
    }
    putc('"', f);
}

void tec_print_clean(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        putc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}
