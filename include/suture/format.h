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

/* s with each control character (below 0x20, and 0x7f) replaced by '?',
 * cut to fit: text from a stranger's file, safe to print on a terminal. */
const char *fmt_text(const char *s, char *buf, size_t size);

#endif
