/* jscan.h: a pull reader of JSON text held in memory, for inputs too large
 * to hold as a cJSON tree (safetensors headers, shard indexes). The caller
 * walks the document value by value and keeps only what it needs; nothing
 * is allocated but one buffer for the string last read.
 *
 * It accepts what cJSON's parser accepts (white space is any byte <= 32,
 * numbers are read by strtod over [0-9+-.eE], strings may hold any byte)
 * except that \u0000 in a string is an error, and reports errors the same
 * way as sut_json_parse: "LABEL: invalid JSON at byte N", "LABEL: invalid
 * JSON: nested deeper than 1000 levels at byte N", "LABEL: unexpected data
 * after the JSON value at byte N". Duplicate keys are the caller's to
 * detect (it knows which objects it keeps). */
#ifndef SUTURE_JSCAN_H
#define SUTURE_JSCAN_H

#include <stddef.h>

#include "suture/error.h"

#define JS_DEPTH_MAX 1000

typedef enum js_kind {
    JS_ERROR = -1, JS_OBJECT, JS_ARRAY, JS_STRING, JS_NUMBER, JS_TRUE,
    JS_FALSE, JS_NULL
} js_kind;

typedef struct jscan {
    const char *s;        /* the text (not NUL-terminated) */
    size_t n, pos;
    const char *label;    /* names the input in messages */
    sut_error *err;
    char *str;            /* the string last read, NUL-terminated */
    size_t str_len, str_cap;
    double num;           /* the number last read */
    unsigned depth;
} jscan;

/* True for the bytes a number's text is read from: [0-9+-.eE]. */
static inline int js_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
           c == 'e' || c == 'E';
}

/* Starts reading n bytes of text. Free the string buffer with js_release. */
void js_init(jscan *js, const char *s, size_t n, const char *label,
             sut_error *err);
void js_release(jscan *js);

/* The kind of the next value (white space skipped; nothing consumed), or
 * JS_ERROR with err set when no value can start there. */
js_kind js_peek(jscan *js);

/* Consumes the '{' or '[' of the next value. 0, or -1 with err set. */
int js_open(jscan *js);

/* In an object just opened: 1 when a key follows (read into js->str, and
 * its ':' consumed), 0 when the object ended ('}' consumed), -1 with err
 * set on a syntax error. *first is 1 before the first call, then 0. */
int js_next_key(jscan *js, int *first);

/* In an array just opened: 1 when an element follows, 0 when the array
 * ended (']' consumed), -1 with err set. */
int js_next_item(jscan *js, int *first);

/* Read the next value of their kind into js->str / js->num, or check the
 * literal. 0, or -1 with err set. */
int js_string(jscan *js);
int js_number(jscan *js);
int js_literal(jscan *js);

/* Consumes the next value whatever it is (checking its syntax). 0 or -1. */
int js_skip(jscan *js);

/* After the top value: only white space may follow. 0 or -1. */
int js_finish(jscan *js);

/* Sets err to "LABEL: invalid JSON at byte N" (N the current position, or
 * the last byte at the end of the text); returns -1. */
int js_fail(jscan *js);

#endif
