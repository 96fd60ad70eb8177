/* format.h: numbers, sizes and shapes as people read them. Each writes
 * into buf (size bytes, always NUL-terminated) and returns buf. */
#ifndef SUTURE_FORMAT_H
#define SUTURE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* 8030261248 -> "8,030,261,248". */
const char *fmt_count(uint64_t n, char *buf, size_t size);

/* Decimal units as Hugging Face uses: 999 -> "999 B", 16060522496 ->
 * "16.06 GB". */
const char *fmt_bytes(uint64_t n, char *buf, size_t size);

/* A shape as "[11, 8]" ("[]" for a scalar), cut with "...]" when it does
 * not fit. */
const char *fmt_shape(const uint64_t *shape, size_t ndim, char *buf,
                      size_t size);

/* The one escaping of text that came from a file or the command line.
 * Each character a terminal may act on or that reorders text (C0 and C1
 * controls including U+009B, DEL, the bidi overrides U+202A-202E and
 * isolates U+2066-2069) and each byte that is not part of well-formed
 * UTF-8 is replaced: by '?' by default, by a \uXXXX escape (U+FFFD for an
 * invalid byte) with FMT_JSON. Writes at most size - 1 bytes and a NUL
 * into buf, never part of a character or of a replacement; s may equal
 * buf unless FMT_JSON. Returns the length the whole text needs (as
 * snprintf): the result was cut when that is >= size. */
#define FMT_LINES 1 /* keep '\n': text of several lines */
#define FMT_JSON  2 /* JSON text from cJSON_Print: C0 stays (cJSON escaped
                       it in strings; outside them it is layout) */
size_t fmt_escape(const char *s, char *buf, size_t size, int flags);

/* fmt_escape into a new string the caller frees; NULL when out of memory. */
char *fmt_escape_dup(const char *s, int flags);

/* fmt_escape(s, buf, size, 0) on one line; returns buf: text from a
 * stranger's file, safe to print on a terminal. */
const char *fmt_text(const char *s, char *buf, size_t size);

#endif
