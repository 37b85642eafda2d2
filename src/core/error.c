/* The sticky error status: the first failure wins, so callers check once. */
#include "mytorch/core.h"

#include <stdio.h>
#include <string.h>

mt_status mt_error_set(mt_error *err, mt_status code, const char *fmt, ...) {
    if (!err || err->code != MT_OK) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void mt_error_clear(mt_error *err) {
    err->code = MT_OK;
    err->msg[0] = '\0';
}

const char *mt_status_str(mt_status code) {
    switch (code) {
    case MT_OK: return "ok";
    case MT_ERR_ARG: return "bad argument";
    case MT_ERR_IO: return "I/O error";
    case MT_ERR_FORMAT: return "invalid file";
    case MT_ERR_NOMEM: return "out of memory";
    case MT_ERR_STATE: return "invalid state";
    }
    return "unknown error";
}
