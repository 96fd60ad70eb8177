/* recipe_int.h: helpers shared by the recipe readers (recipe.c,
 * recipe_json.c, recipe_spec.c, recipe_mergekit.c); not public. */
#ifndef SUTURE_RECIPE_INT_H
#define SUTURE_RECIPE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "suture/recipe.h"

/* A new empty recipe (donors -1), or NULL when out of memory. */
recipe *rc_new(recipe_format format);

/* Adds a model. given is the path as written; base_dir (NULL: none)
 * resolves a relative one. Returns its index, or -1 when out of memory. */
long rc_add_model(recipe *r, const char *name, const char *given,
                  const char *base_dir);

/* The index of the model whose path was written as given, or -1. */
long rc_find_given(const recipe *r, const char *given);

/* Appends a slice; NULL when out of memory. */
recipe_slice *rc_add_slice(recipe *r, size_t model, unsigned start,
                           unsigned end);

/* Appends a scale rule (match NULL: every tensor), copying match and the n
 * values and compiling match. 0, or -1 with err set to the bare reason
 * ("invalid pattern at offset 3: ..." or "out of memory"); callers prefix
 * the place. */
int rc_add_scale(recipe_slice *s, const char *match, const double *values,
                 size_t n, sut_error *err);

/* True when the first rule of s that matches name exists and has, at
 * position t in [0, 1], a value other than 1. */
bool rc_scales(const recipe_slice *s, const char *name, double t);

/* Sets err to "LABEL: WHERE: what" ("LABEL: what" when where is "") and
 * returns -1: the one shape of every recipe reader's errors. */
int rc_fail(sut_error *err, const char *label, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets err to "LABEL: out of memory"; returns -1. */
int rc_oom(sut_error *err, const char *label);

/* Appends a formatted note. 0, or -1 when out of memory. */
int rc_note(recipe *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True when name is a valid model name: [A-Za-z0-9_.-]+. */
bool rc_valid_name(const char *name);

/* A model name made from a path: its last component with characters
 * outside [A-Za-z0-9_.-] replaced by '_', made unique among r's models by
 * a "-2", "-3", ... suffix. New string (caller frees), NULL when out of
 * memory. */
char *rc_name_from_path(const recipe *r, const char *path);

/* Output dtype names: f32/float32, f16/float16, bf16/bfloat16, any case,
 * with an optional "torch." prefix. 0, or -1 when unknown. */
int rc_parse_dtype(const char *s, st_dtype *out);

/* Checks the total output layers is at most RECIPE_LAYER_MAX. 0, or -1
 * with err set to "WHERE: the output would have ...". */
int rc_check_total(const recipe *r, const char *where, sut_error *err);

/* Notes each model that no slice and no donor uses. 0, or -1 when out of
 * memory. */
int rc_note_unused(recipe *r);

#endif
