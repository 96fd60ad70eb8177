/* model.h: a Hugging Face model folder (or a lone .safetensors file).
 *
 * A folder holds config.json and either model.safetensors, or
 * model.safetensors.index.json with the shards it names. Shards that are
 * symlinks (the hub cache's snapshots/<rev>/x -> ../../blobs/<sha>) are
 * followed. Opening reads headers and JSON only, never tensor data. */
#ifndef SUTURE_MODEL_H
#define SUTURE_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "suture/error.h"
#include "suture/safetensors.h"
#include "suture/arch.h"

/* Where a tensor belongs in the stack. */
typedef enum model_role {
    MODEL_PRE,    /* before the layers: embeddings and the like */
    MODEL_LAYER,  /* inside layer `layer` */
    MODEL_POST    /* after the layers: final norm, lm_head */
} model_role;

typedef struct model_tensor {
    const st_tensor *t;  /* in shard `shard` */
    size_t shard;
    model_role role;
    long layer;          /* >= 0 for MODEL_LAYER, else -1 */
    const char *local;   /* name within the layer (points into t->name),
                            or NULL */
} model_tensor;

/* Something wrong with the folder that does not stop it being read. */
typedef struct model_issue {
    const char *code;    /* "total-size-mismatch", "index-mismatch", ... */
    char *message;       /* one line naming the file and the tensor */
} model_issue;

typedef enum model_flags {
    MODEL_STRICT = 0,
    /* Index disagreements (a weight_map entry missing from its shard, a
     * tensor in a shard but not in the index, a shard nobody references)
     * become issues instead of errors: for audit. Unsafe paths, missing
     * or invalid shard files stay errors. */
    MODEL_LENIENT = 1,
    /* A file without a layer stack is refused (plan and build need one):
     * "PATH: no layer stack: ..." */
    MODEL_NEED_LAYERS = 2
} model_flags;

/* The largest config.json read (real ones are kilobytes): a larger one is
 * refused with its size and the limit, before it is read. */
#define MODEL_CONFIG_MAX (1u << 20)
/* The largest model.safetensors.index.json (DeepSeek-V3's is about 9 MB);
 * it is read without a JSON tree, into arrays of about its own size. */
#define MODEL_INDEX_MAX (100u << 20)

typedef struct model model;

/* Opens a folder or a .safetensors file. The family comes from config.json
 * through the table; when unknown (or no config), it is inferred from the
 * tensor names and an issue "unknown-architecture" is recorded; when no
 * name has a layer index, the family is arch_none (0 layers) and an issue
 * "no-layer-stack" is recorded. A config.json, index or model.safetensors
 * that exists but is not a regular file (a FIFO, a device, a folder, a
 * link to nothing) is an error naming it. NULL with
 * err set ("PATH/FILE: ...") on failure. The table must outlive the model. */
model *model_open(const char *path, arch_table *arches, int flags,
                  sut_error *err);
void model_free(model *m);

const char *model_path(const model *m);        /* as given */
const char *model_dir(const model *m);         /* the folder holding it */
const cJSON *model_config(const model *m);     /* NULL when no config.json */
const arch_family *model_arch(const model *m);
bool model_tied(const model *m);               /* arch_tied on the config */

size_t model_shard_count(const model *m);
const st_file *model_shard(const model *m, size_t i);
const char *model_shard_name(const model *m, size_t i); /* file name */
/* The index file name, or NULL when the model has a single file. */
const char *model_index_name(const model *m);
/* metadata.total_size of the index (0 when none). */
uint64_t model_index_total_size(const model *m);

/* Tensors in a stable order: shards in index order, then header order. */
size_t model_tensor_count(const model *m);
const model_tensor *model_tensor_at(const model *m, size_t i);
const model_tensor *model_find(const model *m, const char *name);

/* 1 + the highest layer index found (0 when there are no layers). */
unsigned model_layer_count(const model *m);
/* The tensors of layer i (indices into model_tensor_at), count in *n. */
const size_t *model_layer_tensors(const model *m, unsigned i, size_t *n);

/* Totals over all tensors. */
uint64_t model_parameter_count(const model *m);
uint64_t model_data_bytes(const model *m);

/* The first tensor of m that is its output head (output) or its input
 * embedding, by the family's names; NULL when none. */
const model_tensor *model_find_role(const model *m, bool output);

size_t model_issue_count(const model *m);
const model_issue *model_issue_at(const model *m, size_t i);

#endif
