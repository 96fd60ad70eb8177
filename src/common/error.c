/* error.c: the per-call error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "suture/error.h"
#include "suture/format.h"

void sut_one_line(char *s)
{
    fmt_escape(s, s, strlen(s) + 1, 0);
}

void sut_vline(char *buf, size_t size, const char *fmt, va_list ap)
{
    vsnprintf(buf, size, fmt, ap);
    sut_one_line(buf);
}

void sut_error_set(sut_error *err, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    sut_vline(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
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
    sut_vline(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    n = strlen(err->msg);
    if (strncmp(old, err->msg, n) == 0 && old[n] == ':' && old[n + 1] == ' ') {
        memcpy(err->msg, old, sizeof(old)); /* already says it */
        return;
    }
    if (n + 2 < sizeof(err->msg))
        snprintf(err->msg + n, sizeof(err->msg) - n, ": %.*s",
                 (int)(sizeof(err->msg) - n - 3), old);
    sut_one_line(err->msg);     /* old may have been cut inside a character */
}

void sut_error_oom(sut_error *err, const char *what)
{
    if (what)
        sut_error_set(err, "%s: out of memory", what);
    else
        sut_error_set(err, "out of memory");
}
