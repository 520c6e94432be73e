/* Error messages of the library's internal functions. */
#ifndef TEC_ERRORS_H
#define TEC_ERRORS_H

#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define TEC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define TEC_PRINTF(fmt, args)
#endif

/* Formats the message into err (if err and errlen) and returns code, so a
 * failing path reads `return tec_err(err, errlen, TEC_E..., "...")`.  The
 * library's one message formatter: each file's shorthand (fail, set_err)
 * is a macro over it. */
int tec_err(char *err, size_t errlen, int code, const char *fmt, ...) TEC_PRINTF(4, 5);

#endif
