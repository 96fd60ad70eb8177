/* format.c: numbers, sizes and shapes for people (see format.h). */
#include <stdio.h>
#include <string.h>

#include "suture/format.h"

const char *fmt_count(uint64_t n, char *buf, size_t size)
{
    char digits[32];
    size_t len, i, o = 0;

    if (size == 0)
        return buf;
    snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n);
    len = strlen(digits);
    for (i = 0; i < len && o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

const char *fmt_bytes(uint64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    double v = (double)n;
    int u = 0;

    while (v >= 1000 && u < 6) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, size, "%.2f %s", v, units[u]);
    return buf;
}

const char *fmt_shape(const uint64_t *shape, size_t ndim, char *buf,
                      size_t size)
{
    size_t i, used = 1;

    if (size < 8) {
        if (size)
            buf[0] = '\0';
        return buf;
    }
    snprintf(buf, size, "[");
    for (i = 0; i < ndim; i++) {
        int w = snprintf(buf + used, size - used, "%s%llu", i ? ", " : "",
                         (unsigned long long)shape[i]);
        if (w < 0 || (size_t)w + 5 >= size - used) {
            snprintf(buf + used, size - used, "...");
            used = strlen(buf);
            break;
        }
        used += (size_t)w;
    }
    snprintf(buf + used, size - used, "]");
    return buf;
}

const char *fmt_text(const char *s, char *buf, size_t size)
{
    size_t i;

    if (size == 0)
        return buf;
    for (i = 0; s[i] && i + 1 < size; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = '\0';
    return buf;
}
