/* format.c: numbers, sizes and shapes for people (see format.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The length (1 to 4) of the well-formed UTF-8 character at s, with its
 * code point in *cp; 0 when the bytes at s are not one (a stray
 * continuation byte, an overlong form, a surrogate, past U+10FFFF, or cut
 * short by the end of the string). */
static size_t utf8_char(const unsigned char *s, uint32_t *cp)
{
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n, i;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (n == 0 || s[0] > 0xf4)
        return 0;
    *cp = s[0] & (0x7fu >> n);
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3fu);
    }
    if (*cp < least[n] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
        return 0;
    return n;
}

/* True for what a terminal may act on or that reorders text: C0 controls,
 * DEL, C1 controls (U+0080-009F, U+009B is a CSI), bidi embeddings and
 * overrides (U+202A-202E) and isolates (U+2066-2069). */
static bool unsafe_char(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* The text that stands for one character (or one invalid byte, cp ==
 * UINT32_MAX) under flags, in out (at least 8 bytes); its length. 0 when
 * the character is kept as it is. */
static size_t replacement(uint32_t cp, int flags, char *out)
{
    if (cp == '\n' && (flags & FMT_LINES))
        return 0;
    if (flags & FMT_JSON) {
        if (cp < 0x20)
            return 0;   /* cJSON escaped these in strings; outside, whitespace */
        if (cp == UINT32_MAX)
            cp = 0xfffd;
        else if (!unsafe_char(cp))
            return 0;
        return (size_t)snprintf(out, 8, "\\u%04x", (unsigned)cp);
    }
    if (cp != UINT32_MAX && !unsafe_char(cp))
        return 0;
    out[0] = '?';
    return 1;
}

size_t fmt_escape(const char *s, char *buf, size_t size, int flags)
{
    const unsigned char *in = (const unsigned char *)s;
    size_t used = 0, kept = 0, n, k;
    uint32_t cp;
    char rep[8];

    while (*in) {
        if ((n = utf8_char(in, &cp)) == 0) {
            n = 1;
            cp = UINT32_MAX;
        }
        k = replacement(cp, flags, rep);
        if (kept == used && used + (k ? k : n) < size) {
            memmove(buf + used, k ? rep : (const char *)in, k ? k : n);
            kept += k ? k : n;
        }
        used += k ? k : n;
        in += n;
    }
    if (size)
        buf[kept] = '\0';
    return used;
}

char *fmt_escape_dup(const char *s, int flags)
{
    size_t n = fmt_escape(s, NULL, 0, flags);
    char *out = malloc(n + 1);

    if (out)
        fmt_escape(s, out, n + 1, flags);
    return out;
}

const char *fmt_text(const char *s, char *buf, size_t size)
{
    fmt_escape(s, buf, size, 0);
    return buf;
}
