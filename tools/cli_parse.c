/* tec: messages and command-line options. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "progress.h"
#include "tec_cli.h"

/* ------------------------------------------------------------------ messages */

static void vmessage(const char *prefix, const char *fmt, va_list ap)
{
    char buf[MSG_SIZE];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    /* One line per problem, whatever the library's message looks like. */
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    progress_clear();  /* the message gets its own line, not the bar's */
    fprintf(stderr, "tec: %s%s\n", prefix, buf);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("", fmt, ap);
    va_end(ap);
}

void cli_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("warning: ", fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ options */

int cli_next_option(ArgIter *it, const OptDef *defs, const char **val)
{
    *val = NULL;
    while (it->i < it->argc) {
        const char *a = it->argv[it->i++];
        if (it->positional_only || a[0] != '-' || !a[1]) {
            *val = a;
            return OPT_POSITIONAL;
        }
        if (!strcmp(a, "--")) {
            it->positional_only = 1;
            continue;
        }
        const OptDef *d;
        const char *inline_val = NULL;
        if (a[1] == '-') {
            const char *name = a + 2;
            size_t len = strcspn(name, "=");
            for (d = defs; d->name; d++)
                if (strlen(d->name) == len && !strncmp(d->name, name, len))
                    break;
            if (name[len] == '=')
                inline_val = name + len + 1;
        } else {
            for (d = defs; d->name; d++)
                if (d->short_name && d->short_name == a[1])
                    break;
            if (a[2])
                inline_val = a + 2;
        }
        if (!d->name) {
            cli_error("%s: unknown option '%s' (see 'tec %s --help')", it->cmd, a, it->cmd);
            return OPT_ERROR;
        }
        if (inline_val && !d->has_arg) {
            cli_error("%s: option --%s takes no value", it->cmd, d->name);
            return OPT_ERROR;
        }
        if (d->has_arg) {
            if (inline_val) {
                *val = inline_val;
            } else if (it->i < it->argc) {
                *val = it->argv[it->i++];
            } else {
                cli_error("%s: option --%s needs a value", it->cmd, d->name);
                return OPT_ERROR;
            }
        }
        return d->id;
    }
    return OPT_DONE;
}

int cli_parse_quality(const char *v, int *q)
{
    long x;
    if (tec_parse_int(v, TEC_QUALITY_MIN, TEC_QUALITY_MAX, &x)) {
        cli_error("--quality '%s': need an integer from %d to %d", v, TEC_QUALITY_MIN,
              TEC_QUALITY_MAX);
        return -1;
    }
    *q = (int)x;
    return 0;
}

int cli_parse_range(const char *v, const char *option, int lo, int hi, int *out)
{
    long x;
    if (tec_parse_int(v, lo, hi, &x)) {
        cli_error("%s '%s': need an integer from %d to %d", option, v, lo, hi);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int cli_parse_threads(const char *v, int *threads)
{
    long x;
    if (tec_parse_int(v, 0, MAX_THREADS, &x)) {
        cli_error("--threads '%s': need an integer from 0 (one per core) to %d", v, MAX_THREADS);
        return -1;
    }
    *threads = (int)x;
    return 0;
}
