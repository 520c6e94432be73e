/* Error messages of the library's internal functions. */
#ifndef TEC_ERRORS_H
#define TEC_ERRORS_H

#include <stddef.h>

/* Formats the message into err (if err and errlen) and returns code, so a
 * failing path reads `return tec_err(err, errlen, TEC_E..., "...")`. */
int tec_err(char *err, size_t errlen, int code, const char *fmt, ...);

#endif
