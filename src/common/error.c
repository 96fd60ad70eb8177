/* error.c: the per-call error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "suture/error.h"
#include "util.h"

void sut_error_set(sut_error *err, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    sut_one_line(err->msg);
}

void sut_error_prefix(sut_error *err, const char *fmt, ...)
{
    char old[SUT_ERROR_MAX];
    size_t n;
    va_list ap;

    if (!err)
        return;
    memcpy(old, err->msg, sizeof(old));
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    sut_one_line(err->msg);
    n = strlen(err->msg);
    if (strncmp(old, err->msg, n) == 0 && old[n] == ':' && old[n + 1] == ' ') {
        memcpy(err->msg, old, sizeof(old)); /* already says it */
        return;
    }
    if (n + 2 < sizeof(err->msg))
        snprintf(err->msg + n, sizeof(err->msg) - n, ": %.*s",
                 (int)(sizeof(err->msg) - n - 3), old);
}
