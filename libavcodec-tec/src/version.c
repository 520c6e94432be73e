/* Version string, error descriptions and messages. */
#include <stdarg.h>
#include <stdio.h>

#include "tec/tec.h"
#include "errors.h"

#define STR2(x) #x
#define STR(x) STR2(x)

const char *tec_version(void)
{
    return STR(TEC_VERSION_MAJOR) "." STR(TEC_VERSION_MINOR) "." STR(TEC_VERSION_PATCH);
}

unsigned tec_version_api(void)
{
    return TEC_API_VERSION;
}

const char *tec_strerror(int err)
{
    switch (err) {
    case TEC_OK:           return "success";
    case TEC_EAGAIN:       return "no output yet, send more input";
    case TEC_EOF:          return "end of stream";
    case TEC_EINVAL:       return "invalid argument";
    case TEC_ENOMEM:       return "out of memory";
    case TEC_EBITSTREAM:   return "corrupt or unsupported bitstream";
    case TEC_EMODEL:       return "model weights missing or mismatched";
    case TEC_EIO:          return "input/output error";
    case TEC_EUNSUPPORTED: return "not supported by this build";
    default:               return "unknown error";
    }
}

int tec_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
