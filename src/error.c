/* error.c: the per-call error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "suture/error.h"

void sut_error_set(sut_error *err, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

void sut_error_prefix(sut_error *err, const char *fmt, ...)
{
    char prefix[SUT_ERROR_MAX];
    char old[SUT_ERROR_MAX];
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
}
