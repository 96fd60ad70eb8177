/* gguf_model.h: a GGUF model (one file or a split set) seen as a layer
 * stack, the GGUF counterpart of model.h.
 *
 *  - the architecture is general.architecture (NULL when absent);
 *  - tensors named blk.N.REST are layer N with local name REST
 *    ("attn_output.weight"); N is decimal without leading zeros;
 *  - other tensors are MODEL_POST when named output.* or output_norm.*,
 *    else MODEL_PRE (token_embd.*, rope_freqs.*, anything else);
 *  - the layer count is 1 + the highest N; {arch}.block_count is the
 *    stored count (a mismatch is an issue "block-count-mismatch");
 *  - the output is tied when output.weight is absent and token_embd.weight
 *    present (llama.cpp then uses the embeddings);
 *  - a metadata key {arch}.X holding an array of numbers with one entry
 *    per block (block_count entries) is per-layer, e.g.
 *    {arch}.attention.head_count_kv or {arch}.feed_forward_length.
 * A model without layers (a vocab-only file, a test file) opens too; only
 * plan and build need layers. Opening reads headers only. */
#ifndef SUTURE_GGUF_MODEL_H
#define SUTURE_GGUF_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "suture/error.h"
#include "suture/gguf.h"
#include "suture/model.h"

typedef struct gmodel_tensor {
    const gguf_tensor *t;  /* in file `file` of the set */
    size_t file;
    model_role role;
    long layer;            /* >= 0 for MODEL_LAYER, else -1 */
    const char *local;     /* name within the layer (into t->name), or NULL */
} gmodel_tensor;

typedef struct gmodel gmodel;

/* Opens a .gguf file or split set (gguf_set_open). NULL with err set. */
gmodel *gmodel_open(const char *path, sut_error *err);
void gmodel_free(gmodel *m);   /* NULL is a no-op */

const char *gmodel_path(const gmodel *m);
const gguf_set *gmodel_set(const gmodel *m);
const gguf_file *gmodel_meta(const gmodel *m);   /* the metadata file */
const char *gmodel_arch(const gmodel *m);        /* or NULL */
/* {arch}.block_count, or -1 when absent. */
long gmodel_block_count(const gmodel *m);
bool gmodel_tied(const gmodel *m);

size_t gmodel_tensor_count(const gmodel *m);
/* Tensors in file order, files in split order. */
const gmodel_tensor *gmodel_tensor_at(const gmodel *m, size_t i);
const gmodel_tensor *gmodel_find(const gmodel *m, const char *name);

/* 1 + the highest blk.N found (0 when there are no layers). */
unsigned gmodel_layer_count(const gmodel *m);
/* The tensors of layer i (indices into gmodel_tensor_at), count in *n. */
const size_t *gmodel_layer_tensors(const gmodel *m, unsigned i, size_t *n);

/* True when kv is a per-layer metadata array (see above). */
bool gmodel_per_layer(const gmodel *m, const gguf_kv *kv);

uint64_t gmodel_parameter_count(const gmodel *m);
uint64_t gmodel_data_bytes(const gmodel *m);

/* Parses "blk.N.REST": the layer in *layer and REST in *local. True when
 * name has that form. */
bool gmodel_layer_name(const char *name, long *layer, const char **local);

size_t gmodel_issue_count(const gmodel *m);
const model_issue *gmodel_issue_at(const gmodel *m, size_t i);

#endif
