/* recipe.h: slice specs. Three ways to say which layers make the output:
 * a JSON recipe, a compact command-line spec ("base[0:24], inst[8:32]"),
 * and a mergekit passthrough YAML config. All three load into one struct. */
#ifndef SUTURE_RECIPE_H
#define SUTURE_RECIPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "suture/error.h"
#include "suture/safetensors.h"

/* The most layers a slice may name and an output may have. */
#define RECIPE_LAYER_MAX (1u << 20)

typedef struct recipe_model {
    char *name;   /* the key in "models" */
    char *path;   /* resolved: relative paths are joined to the recipe's
                     folder (or the current folder for a compact spec) */
    char *given;  /* the path as written in the recipe */
} recipe_model;

/* A scale rule of a slice. It applies to the layer tensors whose name
 * within the layer (e.g. "self_attn.o_proj.weight") matches `match` (a
 * PCRE2 pattern; NULL matches everything). The first rule that matches
 * wins. nvalues == 1: a constant; nvalues > 1: a gradient, interpolated
 * linearly across the slice's layers as mergekit does. */
typedef struct recipe_scale {
    char *match;
    double *values;
    size_t nvalues;
    void *priv;         /* compiled pattern */
} recipe_scale;

typedef struct recipe_slice {
    size_t model;       /* index into recipe.models */
    unsigned start, end;/* half-open layer range [start, end) */
    recipe_scale *scales;
    size_t nscales;
} recipe_slice;

typedef enum recipe_format {
    RECIPE_JSON, RECIPE_SPEC, RECIPE_MERGEKIT
} recipe_format;

typedef struct recipe {
    recipe_format format;
    char *path;               /* the file, or NULL for a spec */
    char *comment;            /* "comment", or NULL */
    recipe_model *models;
    size_t nmodels;
    recipe_slice *slices;
    size_t nslices;
    /* Donors: indices into models, or -1 for the default (embeddings,
     * config and tokenizer from the first slice's model; final norm and
     * lm_head from the last slice's). */
    long embed_from, head_from, config_from, tokenizer_from;
    uint64_t shard_size;      /* bytes; 0 means the default (5 GB) */
    bool has_dtype;
    st_dtype dtype;           /* output dtype when has_dtype */
    char **notes;             /* NULL-terminated remarks made while loading
                                 (e.g. where mergekit's defaults differ) */
} recipe;

/* Loads a recipe file: JSON when it starts with '{' (after white space),
 * else a mergekit YAML config. NULL with err naming the file and field. */
recipe *recipe_load(const char *path, sut_error *err);

/* Parses a JSON recipe held in memory. base_dir resolves relative model
 * paths (NULL: keep them as they are). label names it in messages. Unknown
 * keys are an error. */
recipe *recipe_parse_json(const char *text, size_t len, const char *label,
                          const char *base_dir, sut_error *err);

/* Parses a mergekit passthrough YAML config held in memory (libyaml). */
recipe *recipe_parse_mergekit(const char *text, size_t len,
                              const char *label, const char *base_dir,
                              sut_error *err);

/* Parses a compact spec such as "base[0:24], inst[8:32]" with models given
 * as "NAME=PATH" strings (a spec may also name a model by a path of its
 * own when no -m defines it). An error says "slices: column N: ...". */
recipe *recipe_parse_spec(const char *spec, const char *const *model_args,
                          size_t nmodel_args, sut_error *err);

/* Parses a size such as "5GB", "500MB", "4.5GiB" or "1000000" (decimal
 * units as Hugging Face uses; KiB/MiB/GiB binary). 0 or -1. */
int recipe_parse_size(const char *s, uint64_t *out);

/* The recipe as a JSON recipe object (models with their paths as given,
 * slices, donors, output). Caller cJSON_Deletes. NULL when out of memory. */
cJSON *recipe_to_json(const recipe *r);

/* The scale of in-layer tensor `local` at position k (0-based) of a slice
 * of n layers (n = end - start): the first matching rule's value, or 1.0
 * when no rule matches. A gradient of m values is read as mergekit does:
 * t = k / (n - 1) (t = 1 when n == 1), x = t * (m - 1), and the value is
 * interpolated linearly between values[floor(x)] and the next one. */
double recipe_scale_for(const recipe_slice *s, const char *local,
                        unsigned k, unsigned n);

/* The index of the model named name, or -1. */
long recipe_model_index(const recipe *r, const char *name);

void recipe_free(recipe *r);

#endif
