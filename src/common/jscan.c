/* jscan.c: a pull reader of JSON text (see jscan.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"

void js_init(jscan *js, const char *s, size_t n, const char *label,
             sut_error *err)
{
    memset(js, 0, sizeof(*js));
    js->s = s;
    js->n = n;
    js->label = label;
    js->err = err;
}

void js_release(jscan *js)
{
    free(js->str);
    js->str = NULL;
    js->str_cap = js->str_len = 0;
}

int js_fail(jscan *js)
{
    size_t at = js->pos < js->n ? js->pos : js->n ? js->n - 1 : 0;

    sut_error_set(js->err, "%s: invalid JSON at byte %zu", js->label, at);
    return -1;
}

static void skip_ws(jscan *js)
{
    while (js->pos < js->n && (unsigned char)js->s[js->pos] <= 32)
        js->pos++;
}

js_kind js_peek(jscan *js)
{
    char c;

    skip_ws(js);
    if (js->pos >= js->n) {
        js_fail(js);
        return JS_ERROR;
    }
    c = js->s[js->pos];
    if (c == '{')
        return JS_OBJECT;
    if (c == '[')
        return JS_ARRAY;
    if (c == '"')
        return JS_STRING;
    if (c == '-' || (c >= '0' && c <= '9'))
        return JS_NUMBER;
    if (c == 't')
        return JS_TRUE;
    if (c == 'f')
        return JS_FALSE;
    if (c == 'n')
        return JS_NULL;
    js_fail(js);
    return JS_ERROR;
}

int js_open(jscan *js)
{
    skip_ws(js);
    if (js->pos >= js->n || (js->s[js->pos] != '{' && js->s[js->pos] != '['))
        return js_fail(js);
    if (js->depth >= JS_DEPTH_MAX) {
        sut_error_set(js->err, "%s: invalid JSON: nested deeper than %d levels "
                      "at byte %zu", js->label, JS_DEPTH_MAX, js->pos);
        return -1;
    }
    js->depth++;
    js->pos++;
    return 0;
}

/* The separator or end of a container: 1 more follows, 0 ended, -1. */
static int next(jscan *js, int *first, char close)
{
    skip_ws(js);
    if (js->pos < js->n && js->s[js->pos] == close) {
        js->pos++;
        js->depth--;
        return 0;
    }
    if (!*first) {
        if (js->pos >= js->n || js->s[js->pos] != ',')
            return js_fail(js);
        js->pos++;
    }
    *first = 0;
    return 1;
}

int js_next_key(jscan *js, int *first)
{
    int r = next(js, first, '}');

    if (r != 1)
        return r;
    skip_ws(js);
    if (js->pos >= js->n || js->s[js->pos] != '"')
        return js_fail(js);
    if (js_string(js) != 0)
        return -1;
    skip_ws(js);
    if (js->pos >= js->n || js->s[js->pos] != ':')
        return js_fail(js);
    js->pos++;
    return 1;
}

int js_next_item(jscan *js, int *first)
{
    return next(js, first, ']');
}

static int put_byte(jscan *js, unsigned char c)
{
    if (js->str_len + 1 >= js->str_cap) {
        size_t cap = js->str_cap ? js->str_cap * 2 : 64;
        char *grown = realloc(js->str, cap);
        if (!grown) {
            sut_error_oom(js->err, js->label);
            return -1;
        }
        js->str = grown;
        js->str_cap = cap;
    }
    js->str[js->str_len++] = (char)c;
    js->str[js->str_len] = '\0';
    return 0;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static int put_utf8(jscan *js, unsigned cp)
{
    if (cp < 0x80)
        return put_byte(js, (unsigned char)cp);
    if (cp < 0x800)
        return put_byte(js, (unsigned char)(0xC0 | cp >> 6)) ||
               put_byte(js, (unsigned char)(0x80 | (cp & 0x3F)));
    if (cp < 0x10000)
        return put_byte(js, (unsigned char)(0xE0 | cp >> 12)) ||
               put_byte(js, (unsigned char)(0x80 | (cp >> 6 & 0x3F))) ||
               put_byte(js, (unsigned char)(0x80 | (cp & 0x3F)));
    return put_byte(js, (unsigned char)(0xF0 | cp >> 18)) ||
           put_byte(js, (unsigned char)(0x80 | (cp >> 12 & 0x3F))) ||
           put_byte(js, (unsigned char)(0x80 | (cp >> 6 & 0x3F))) ||
           put_byte(js, (unsigned char)(0x80 | (cp & 0x3F)));
}

/* A \u escape at s[pos] (pos at the backslash): the code point (a
 * surrogate pair is one), and the bytes used; -1 when malformed. */
static int unicode_escape(jscan *js, unsigned *cp, size_t *used)
{
    const char *p = js->s + js->pos;
    size_t left = js->n - js->pos;
    unsigned hi, lo;

    if (left < 6 || hex4(p + 2, &hi) != 0 || (hi >= 0xDC00 && hi <= 0xDFFF))
        return -1;
    *used = 6;
    *cp = hi;
    if (hi < 0xD800 || hi > 0xDBFF)
        return 0;
    if (left < 12 || p[6] != '\\' || p[7] != 'u' || hex4(p + 8, &lo) != 0 ||
        lo < 0xDC00 || lo > 0xDFFF)
        return -1;
    *cp = 0x10000 + ((hi & 0x3FF) << 10 | (lo & 0x3FF));
    *used = 12;
    return 0;
}

static int escape(jscan *js)
{
    static const char from[] = "bfnrt\"\\/", to[] = "\b\f\n\r\t\"\\/";
    const char *hit;
    unsigned cp;
    size_t used;

    if (js->pos + 1 >= js->n)
        return js_fail(js);
    if (js->s[js->pos + 1] != 'u') {
        if (!js->s[js->pos + 1] || !(hit = strchr(from, js->s[js->pos + 1])))
            return js_fail(js);
        js->pos += 2;
        return put_byte(js, (unsigned char)to[hit - from]);
    }
    if (unicode_escape(js, &cp, &used) != 0)
        return js_fail(js);
    if (cp == 0) {
        sut_error_set(js->err, "%s: string holds \\u0000 at byte %zu",
                      js->label, js->pos);
        return -1;
    }
    js->pos += used;
    return put_utf8(js, cp);
}

int js_string(jscan *js)
{
    skip_ws(js);
    if (js->pos >= js->n || js->s[js->pos] != '"')
        return js_fail(js);
    js->pos++;
    js->str_len = 0;
    if (put_byte(js, 0) != 0)
        return -1;
    js->str_len = 0;
    while (js->pos < js->n && js->s[js->pos] != '"') {
        const char *run = js->s + js->pos;
        size_t k = 0;

        if (*run == '\\') {
            if (escape(js) != 0)
                return -1;
            continue;
        }
        while (js->pos + k < js->n && run[k] != '"' && run[k] != '\\')
            k++;
        if (js->str_len + k + 1 >= js->str_cap) {
            size_t cap = js->str_len + k + 64;
            char *grown = realloc(js->str, cap);
            if (!grown) {
                sut_error_oom(js->err, js->label);
                return -1;
            }
            js->str = grown;
            js->str_cap = cap;
        }
        memcpy(js->str + js->str_len, run, k);
        js->str_len += k;
        js->str[js->str_len] = '\0';
        js->pos += k;
    }
    if (js->pos >= js->n)
        return js_fail(js);
    js->pos++;
    return 0;
}

/* The k bytes at pos are at most 15 digits (exact in a double, and what
 * strtod would read): reads them without strtod. */
static int plain_digits(jscan *js, size_t k)
{
    const char *p = js->s + js->pos;
    uint64_t v = 0;
    size_t i;

    if (k == 0 || k > 15)
        return 0;
    for (i = 0; i < k; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    js->num = (double)v;
    js->pos += k;
    return 1;
}

int js_number(jscan *js)
{
    char buf[64], *end;
    size_t k = 0;

    skip_ws(js);
    while (k < sizeof(buf) - 1 && js->pos + k < js->n &&
           js_number_char(js->s[js->pos + k]))
        k++;
    if (plain_digits(js, k))
        return 0;
    memcpy(buf, js->s + js->pos, k);
    buf[k] = '\0';
    js->num = strtod(buf, &end);
    if (end == buf)
        return js_fail(js);
    js->pos += (size_t)(end - buf);
    return 0;
}

int js_literal(jscan *js)
{
    static const char *const words[] = {"true", "false", "null"};
    size_t i;

    skip_ws(js);
    for (i = 0; i < 3; i++) {
        size_t k = strlen(words[i]);
        if (js->n - js->pos >= k && memcmp(js->s + js->pos, words[i], k) == 0) {
            js->pos += k;
            return 0;
        }
    }
    return js_fail(js);
}

int js_skip(jscan *js)
{
    int first = 1, r;

    switch (js_peek(js)) {
    case JS_OBJECT:
        if (js_open(js) != 0)
            return -1;
        while ((r = js_next_key(js, &first)) == 1)
            if (js_skip(js) != 0)
                return -1;
        return r;
    case JS_ARRAY:
        if (js_open(js) != 0)
            return -1;
        while ((r = js_next_item(js, &first)) == 1)
            if (js_skip(js) != 0)
                return -1;
        return r;
    case JS_STRING:
        return js_string(js);
    case JS_NUMBER:
        return js_number(js);
    case JS_ERROR:
        return -1;
    default:
        return js_literal(js);
    }
}

int js_finish(jscan *js)
{
    skip_ws(js);
    if (js->pos != js->n) {
        sut_error_set(js->err, "%s: unexpected data after the JSON value at "
                      "byte %zu", js->label, js->pos);
        return -1;
    }
    return 0;
}
