/* arch.h: the architecture table. For each model family: how its tensors
 * are named (which belong to a layer, which come after the layers), which
 * config keys hold the layer count and per-layer data, whether embeddings
 * are tied by default, and its sliding-window attention pattern. */
#ifndef SUTURE_ARCH_H
#define SUTURE_ARCH_H

#include <stddef.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "suture/error.h"

/* Every pattern is PCRE2 matched against the whole name (compiled
 * anchored at both ends). Every list is NULL-terminated and never NULL
 * (empty lists hold just the NULL). */
typedef struct arch_family {
    char *name;            /* model_type, e.g. "gemma2" */
    char **classes;        /* NULL-terminated architectures[] class names,
                              e.g. "Gemma2ForCausalLM" */
    char *layer_pattern;   /* PCRE2, anchored: group 1 is the layer index
                              (decimal digits), group 2 the name within the
                              layer, e.g. ^model\.layers\.(\d+)\.(.+)$ */
    char *head_pattern;    /* PCRE2 of the non-layer tensors that come after
                              the layers (final norm, lm_head); every other
                              non-layer tensor comes before them */
    char *embed_name;      /* the input embedding, "model.embed_tokens.weight" */
    char *head_name;       /* the output head, "lm_head.weight" */
    char *layer_count_key; /* "num_hidden_layers" */
    char **layer_arrays;   /* NULL-terminated config keys holding one entry
                              per layer ("layer_types") */
    char **layer_lists;    /* NULL-terminated config keys holding lists of
                              layer indices ("mlp_only_layers") */
    char *post_norm_pattern; /* PCRE2 of names within a layer whose output a
                              following norm rescales (a scale on them is
                              undone), or NULL */
    bool tie_default;      /* tie_word_embeddings when the config omits it */
    unsigned sliding_period; /* 0: no pattern; else layer i uses global
                              attention when (i + 1) % period == 0 and
                              sliding-window attention otherwise */
    char *embed_pattern;   /* PCRE2 of every name the input embedding goes
                              by (gpt2 "wte.weight" without "transformer."),
                              or NULL: exactly embed_name */
    char *output_pattern;  /* the same for the output head, or NULL:
                              exactly head_name */
    bool inferred;         /* made by arch_infer, not from a table */
    void *priv;            /* compiled patterns; owned by the table */
} arch_family;

typedef struct arch_table arch_table;

/* A table holding the built-in families (llama, mistral, mixtral, qwen2,
 * qwen2_moe, qwen3, gemma, gemma2, gemma3, gemma3_text, phi3, gpt2,
 * gpt_neox, falcon, starcoder2, olmo2, cohere, cohere2, granite). NULL with
 * err set only when out of memory. Free with arch_table_free. */
arch_table *arch_table_new(sut_error *err);
void arch_table_free(arch_table *t);

/* Adds the families of a JSON file (an object {"families": [ {...} ]} whose
 * entries have the fields above by name; unknown keys are an error). A
 * family whose name exists replaces it (the replaced one stays valid until
 * the table is freed). Required: name, layer_pattern (exactly 2 capture
 * groups), head_pattern, embed_name, head_name; defaults: layer_count_key
 * "num_hidden_layers", empty lists, tie_default true (transformers'
 * default), sliding_period 0, patterns NULL. Nothing is added unless every
 * family is valid. 0, or -1 with err naming the file, the family and the
 * field. */
int arch_table_load(arch_table *t, const char *path, sut_error *err);
int arch_table_load_json(arch_table *t, const cJSON *root, const char *label,
                         sut_error *err);

/* The built-in and loaded families (not the inferred ones). */
size_t arch_table_count(const arch_table *t);
const arch_family *arch_table_at(const arch_table *t, size_t i);

/* The family named name (a model_type), or NULL. */
const arch_family *arch_by_name(const arch_table *t, const char *name);

/* The family of a config.json: by "model_type", else by a class name in
 * "architectures"; gemma3's nested "text_config" is looked into. NULL when
 * unknown or config is NULL. */
const arch_family *arch_for_config(const arch_table *t, const cJSON *config);

/* Infers a family from tensor names: the one container "<prefix>.N." that
 * holds most tensors becomes the layer pattern (ties: the shorter prefix).
 * Non-layer tensors are the head when their name contains "head",
 * "embed_out", "output" or "ln_f", or contains "norm" (but not "embed")
 * and sorts after the container. embed_name is the first non-layer name
 * containing "embed" (not "embed_out") or "wte", head_name the first head
 * name containing "head", "embed_out" or "output" ("" when none). When
 * the names after the layers are too many to list (over 8 KB of pattern),
 * every non-layer name with those words, or with "norm" but not "embed",
 * comes after the layers;
 * tie_default is true when there is no such output head. Returns a family
 * owned by the table (named "inferred"; an identical earlier one is
 * reused), or NULL with err set when no such container exists. Changes the
 * table: not to be called while other threads use it. */
const arch_family *arch_infer(arch_table *t, const char *const *names,
                              size_t n, sut_error *err);

/* The family of a file without a layer stack (a plain tensor file, scalars,
 * only metadata): named "none", inferred, no tensor is a layer or after
 * the layers. Owned by the table (one per table); NULL with err set when
 * out of memory. Changes the table like arch_infer. */
const arch_family *arch_none(arch_table *t, sut_error *err);

/* If name is a layer tensor, returns its layer index (>= 0) and, when the
 * pointers are non-NULL, the byte span [*idx_begin, *idx_end) of the index
 * digits and the offset *local of the name within the layer. Returns -1
 * for a non-layer tensor, and -2 for an index that does not fit in 31 bits
 * or is not plain decimal ("07", or non-digits caught by a user pattern),
 * or when matching fails (out of memory, match limit). Thread-safe, as are
 * all the functions below that take a const table or family. */
long arch_layer_of(const arch_family *f, const char *name, size_t *idx_begin,
                   size_t *idx_end, size_t *local);

/* name with its layer index replaced by new_index. New string (caller
 * frees), or NULL when name is not a layer tensor or out of memory. */
char *arch_rename(const arch_family *f, const char *name, unsigned new_index);

/* True when a non-layer tensor comes after the layers (head_pattern). */
bool arch_is_head(const arch_family *f, const char *name);

/* True when a scale on the in-layer name local is undone by a following
 * norm (post_norm_pattern). Only a positive scale is: RMSNorm(c*y) is
 * sign(c)*RMSNorm(y) (up to epsilon), and RMSNorm(0) = 0. */
bool arch_scale_cancelled(const arch_family *f, const char *local);

/* True when name is the input embedding (embed_pattern, else embed_name),
 * or the output head (output_pattern, else head_name). */
bool arch_is_embed(const arch_family *f, const char *name);
bool arch_is_output(const arch_family *f, const char *name);

/* tie_word_embeddings of config (also looked for in "text_config"), or the
 * family's default when absent. */
bool arch_tied(const arch_family *f, const cJSON *config);

/* The layer count stated by config (layer_count_key, also in
 * "text_config"), or -1 when absent or not a whole number. When
 * layer_count_key is absent, the synonyms "num_hidden_layers" and
 * "n_layer" are looked for (old falcon configs say n_layer). */
long arch_config_layers(const arch_family *f, const cJSON *config);

/* The key of the object obj itself (text_config not looked into) that
 * states the layer count: layer_count_key, else a synonym as above; NULL
 * when obj has none. */
const char *arch_count_key(const arch_family *f, const cJSON *obj);

/* The sliding period in force: 0 when the family has none; else config's
 * "sliding_window_pattern" (also in text_config; the key gemma3 and
 * cohere2 configs on the Hub still carry) when a whole number >= 1, else
 * the family's sliding_period. */
unsigned arch_sliding_period(const arch_family *f, const cJSON *config);

/* Attention kind of layer i under config: 'g' global, 's' sliding, or '?'
 * when the family has no pattern. An explicit "layer_types" array in config
 * (also in text_config) decides first ("sliding_attention" -> 's', anything
 * else -> 'g'; '?' when i is past its end); else arch_sliding_period. */
char arch_attention_kind(const arch_family *f, const cJSON *config,
                         unsigned i);

#endif
