/* plan.h: what a recipe builds, worked out from headers only.
 *
 * plan_make opens every model of a recipe and lays out the output: the
 * layer map (output layer <- model, source layer), its seams, every output
 * tensor with its source, dtype and scale, the shards, the rewritten
 * config, and warnings. Anything that would make a broken model is refused
 * with an error; things worth a look are warnings. */
#ifndef SUTURE_PLAN_H
#define SUTURE_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "suture/error.h"
#include "suture/safetensors.h"
#include "suture/arch.h"
#include "suture/model.h"
#include "suture/recipe.h"
#include "suture/cfgedit.h"

#define PLAN_SHARD_DEFAULT 5000000000ULL /* 5 GB, decimal as Hugging Face */

typedef struct plan_options {
    bool allow_mixed;    /* allow models of different architectures */
    uint64_t shard_size; /* bytes; 0: the recipe's, else PLAN_SHARD_DEFAULT */
    bool has_dtype;      /* output dtype given here (overrides the recipe) */
    st_dtype dtype;
} plan_options;

/* One output layer. */
typedef struct plan_layer {
    unsigned index;        /* output layer index */
    size_t model;          /* index into the recipe's models */
    unsigned source_layer;
    size_t slice;          /* the recipe slice it comes from */
    unsigned k;            /* its position within that slice */
    bool scaled;           /* some tensor of it has a scale other than 1 */
} plan_layer;

/* Output layer `index` does not continue output layer index - 1: another
 * model, or a source layer other than the next one. */
typedef struct plan_seam {
    unsigned index;
    size_t from_model, to_model;
    unsigned from_layer, to_layer;
    long jump;             /* to_layer - from_layer */
} plan_seam;

/* A run of the layer map for display: output layers [out_first, out_last]
 * are source layers [src_first, src_last] of one model, one slice's scale
 * rules. */
typedef struct plan_run {
    unsigned out_first, out_last;
    size_t model;
    unsigned src_first, src_last;
    bool scaled;
} plan_run;

typedef struct plan_warning {
    const char *code;      /* "sliding-parity-shift", "edge-layer-repeat",
                              "scale-cancelled", "empty-slice",
                              "layer-extra-tensor", "recipe-note", ... */
    char *message;
} plan_warning;

/* One output tensor, in output order (pre, layers, post). */
typedef struct plan_tensor {
    char *name;               /* output name */
    size_t model;             /* source model (index into recipe models) */
    const model_tensor *src;  /* source tensor (owned by the plan's model) */
    model_role role;
    long layer;               /* output layer, or -1 */
    st_dtype dtype;           /* output dtype */
    uint64_t bytes;           /* output data bytes */
    double scale;             /* 1.0: not scaled */
    size_t shard;             /* output shard */
} plan_tensor;

/* An output shard holds tensors [first, first + count) in output order.
 * Its data section holds them in the order `order` gives: the tensors
 * copied from one source shard in runs that keep the source's order and,
 * where they can, its offsets modulo XFER_BLOCK, so that on a file system
 * that clones (XFS, btrfs) the shard shares the source's blocks; the
 * header is padded so that the data starts at `phase` (when aligned). The
 * layout is the same whatever the file system. */
typedef struct plan_shard {
    char *name;               /* "model.safetensors" or
                                 "model-00001-of-00004.safetensors" */
    uint64_t bytes;           /* data bytes */
    size_t first, count;
    size_t *order;            /* count indices into the plan's tensors */
    bool aligned;             /* the header puts the data at phase */
    uint64_t phase;           /* data start modulo XFER_BLOCK */
    uint64_t shareable;       /* data bytes that can share source blocks */
} plan_shard;

/* Which model gives what (indices into the recipe's models). */
typedef struct plan_donors {
    size_t embed, head, config, tokenizer;
} plan_donors;

typedef struct plan plan;

/* Opens the recipe's models (read-only, headers only) and plans the
 * output. opt may be NULL (defaults). The recipe and the table must outlive
 * the plan. NULL with err set naming the recipe, slice, model and tensor
 * concerned on any refusal. */
plan *plan_make(const recipe *r, arch_table *arches, const plan_options *opt,
                sut_error *err);
void plan_free(plan *p);

const recipe *plan_recipe(const plan *p);
/* The opened model for recipe model i. */
const model *plan_model(const plan *p, size_t i);
plan_donors plan_get_donors(const plan *p);

const plan_layer *plan_layers(const plan *p, size_t *n);
const plan_seam *plan_seams(const plan *p, size_t *n);
const plan_run *plan_runs(const plan *p, size_t *n);
const plan_tensor *plan_tensors(const plan *p, size_t *n);
/* A qsort comparator of (const plan_tensor *) elements by name. */
int plan_tensor_cmp_name(const void *a, const void *b);
const plan_shard *plan_shards(const plan *p, size_t *n);
const plan_warning *plan_warnings(const plan *p, size_t *n);

/* The shard size limit used, in bytes. */
uint64_t plan_shard_limit(const plan *p);

/* The output config.json (the config donor's, rewritten), or NULL when the
 * config donor has none. Owned by the plan. */
const cJSON *plan_config(const plan *p);
/* What the rewrite changed, in order (each with its line, e.g.
 * "num_hidden_layers: 2 -> 4"). */
const cfg_change *plan_config_changes(const plan *p, size_t *n);

/* Parameters and data bytes of the config donor, and of the output. */
uint64_t plan_parameters_before(const plan *p);
uint64_t plan_bytes_before(const plan *p);
uint64_t plan_parameters(const plan *p);
uint64_t plan_bytes(const plan *p);
/* The data bytes the shards can share with their sources where the file
 * system clones (the sum of the shards' shareable). */
uint64_t plan_shareable(const plan *p);

/* The plan as text for people: models, the layer map in runs
 * ("0-11 <- base 0-11"), seams, parameters and bytes before -> after,
 * shards, config changes, warnings. A new string (caller frees), or NULL
 * when out of memory. */
char *plan_text(const plan *p);

#endif
