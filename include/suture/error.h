/* error.h: the per-call error of libsuture.
 *
 * Every fallible library call takes a `sut_error *err` (which may be NULL) and,
 * on failure, fills it with one line that names the place: the file, and where
 * there is one the tensor and the field, e.g.
 *   model-00002-of-00004.safetensors: tensor 'model.layers.7.mlp.up_proj.weight': data_offsets [a, b] overlap the previous tensor
 * Messages are lowercase, with no trailing full stop and no newline.
 * There is no global error state. */
#ifndef SUTURE_ERROR_H
#define SUTURE_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#define SUT_ERROR_MAX 1024

typedef struct sut_error {
    char msg[SUT_ERROR_MAX];
} sut_error;

/* Formats into err->msg (truncating safely). A NULL err is ignored. */
void sut_error_set(sut_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends "PREFIX: " to an error already set (used to add the file name
 * when a lower layer only knew the tensor); nothing when the message
 * already starts with "PREFIX: " (a file is named once). A NULL err is
 * ignored. */
void sut_error_prefix(sut_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Escapes s in place with fmt_escape (format.h): controls, bidi overrides
 * and invalid UTF-8 become '?', so text taken from a file cannot break a
 * message's line or reach a terminal raw. */
void sut_one_line(char *s);

/* vsnprintf into buf (size bytes), then sut_one_line. */
void sut_vline(char *buf, size_t size, const char *fmt, va_list ap);

/* Sets err to "WHAT: out of memory" ("out of memory" when what is NULL). */
void sut_error_oom(sut_error *err, const char *what);

#endif
