/* util.h: small internal helpers shared by the library's modules
 * (not part of the public API). */
#ifndef SUTURE_UTIL_H
#define SUTURE_UTIL_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "suture/error.h"

/* strdup that returns NULL on NULL. Caller frees. */
char *sut_strdup(const char *s);

/* True for a plain file name of a folder: not empty, no '/' or '\\', not
 * "." or "..". (A shard name from an index must be one.) */
bool sut_plain_name(const char *name);

/* For "%.*s": the length of s cut to at most max bytes, shortened so that
 * it does not end inside a UTF-8 character. */
int sut_cut(const char *s, int max);
/* The "%.*s" arguments that print at most 200 bytes of s, whole
 * characters only: printf("'%.*s'", SUT_CUT(name)). s is evaluated twice. */
#define SUT_CUT(s) sut_cut((s), 200), (s)

/* Joins a folder and a name with one '/'. Returns a new string (caller frees)
 * or NULL when out of memory. */
char *sut_path_join(const char *dir, const char *name);

/* True when s ends with suffix. */
bool sut_ends_with(const char *s, const char *suffix);

/* True when dir/name is a regular file (symlinks followed). */
bool sut_is_file(const char *dir, const char *name);

/* What dir/name is: 0 nothing there, 1 a regular file (symlinks
 * followed), -1 anything else, with err set to "DIR/NAME: is a FIFO, not a
 * regular file" (a character device, a folder, a link to nothing...) or
 * the stat error. Never opens the file. */
int sut_file_kind(const char *dir, const char *name, sut_error *err);

/* The last component of a path (a pointer into path, not a copy). */
const char *sut_basename(const char *path);

/* Reads a whole file of at most max bytes into a new NUL-terminated buffer
 * (caller frees) and stores its length in *len. NULL with err set on
 * failure; err names the file. */
char *sut_read_file(const char *path, size_t max, size_t *len, sut_error *err);

/* Parses len bytes of JSON text (not NUL-terminated) that must hold exactly
 * one value and nothing after it but white space. Rejects object nesting
 * deeper than cJSON's limit and duplicate object keys at any depth.
 * Returns a new cJSON tree (caller cJSON_Deletes) or NULL with err set to
 * "LABEL: <what is wrong>". */
cJSON *sut_json_parse(const char *text, size_t len, const char *label,
                      sut_error *err);

/* Reads a JSON file with sut_json_parse (at most max bytes). */
cJSON *sut_json_read_file(const char *path, size_t max, sut_error *err);

/* The first key that occurs twice in object obj (not recursive), or NULL.
 * O(n log n). */
const char *sut_json_duplicate_key(const cJSON *obj);

/* Stores a JSON number that is a whole number in [0, 2^53] in *out.
 * Returns 0, or -1 when item is not such a number. */
int sut_json_u64(const cJSON *item, uint64_t *out);

/* Writes len bytes to a new file at path (mode 0644), fsyncs it.
 * Returns 0, or -1 with err naming the file. */
int sut_write_file(const char *path, const void *data, size_t len,
                   sut_error *err);

/* fsyncs the folder at path so a rename inside it is durable. */
int sut_fsync_dir(const char *path, sut_error *err);

#endif
