/* gguf_build.h: plan and build a GGUF model from GGUF models (a recipe
 * whose models are .gguf files or split sets).
 *
 * The plan (headers only): output layer i is layer `source_layer` of a
 * model, its tensors renamed blk.i.LOCAL; the tensors before the layers
 * (token_embd.* and others) come from the embedding donor, output.* and
 * output_norm.* from the head donor. Refused: a model that is not GGUF,
 * models of different general.architecture, different tokenizers
 * (tokenizer.ggml.model or .tokens differ), {arch}.* hyperparameters that
 * differ between models (except block_count and per-layer arrays), a layer
 * range past a model's layers, a scale on a type that cannot take it.
 *
 * An output dtype in the recipe (mergekit's `dtype`) is ignored, with a
 * note: GGUF tensors keep their types.
 *
 * Scales: 1 copies the bytes (quantized blocks byte for byte, through the
 * copy engine); 0 writes zero bytes (a zero block of every type is the
 * value 0); another scale multiplies F32/F16/BF16 elements (as safetensors
 * builds do) or, for types whose blocks carry linear F16 scales (Q4_0,
 * Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K..Q6_K), those scales (d, and m/dmin:
 * exact up to rounding the new F16 scale). Other types are refused.
 *
 * The output metadata: the config donor's keys in order with
 * {arch}.block_count set to the output layer count and every per-layer
 * array rebuilt from the layers' models; split.* and suture.* keys
 * dropped; tokenizer.* keys from the tokenizer donor; then
 * suture.version, suture.recipe (the recipe as JSON text), suture.models
 * (JSON text: {"NAME": "/absolute/path"}) and suture.layer_sources (one
 * "MODEL:LAYER" string per output layer).
 * The alignment is the config donor's. */
#ifndef SUTURE_GGUF_BUILD_H
#define SUTURE_GGUF_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <signal.h>
#include <cjson/cJSON.h>

#include "suture/error.h"
#include "suture/recipe.h"
#include "suture/gguf_model.h"
#include "suture/build.h"

typedef struct gbuild_layer {
    unsigned index;
    size_t model;          /* index into the recipe's models */
    unsigned source_layer;
    size_t slice;
    unsigned k;            /* position within the slice */
} gbuild_layer;

typedef struct gbuild_tensor {
    char name[GGUF_NAME_MAX + 1];
    size_t model;
    const gmodel_tensor *src;
    long layer;            /* output layer or -1 */
    double scale;
    size_t file;           /* output file of a split set */
} gbuild_tensor;

typedef struct gbuild_plan gbuild_plan;

/* True when the recipe names a GGUF model (by magic or .gguf name). */
bool gbuild_is_gguf(const recipe *r);

/* Opens the models and plans the output. shard_size 0: one file. The
 * recipe must outlive the plan. NULL with err set on a refusal. */
gbuild_plan *gbuild_plan_make(const recipe *r, uint64_t shard_size,
                              sut_error *err);
void gbuild_plan_free(gbuild_plan *p);

const gmodel *gbuild_plan_model(const gbuild_plan *p, size_t i);
const gbuild_layer *gbuild_plan_layers(const gbuild_plan *p, size_t *n);
const gbuild_tensor *gbuild_plan_tensors(const gbuild_plan *p, size_t *n);
/* Output files (1 unless split) and the data bytes of each. */
size_t gbuild_plan_files(const gbuild_plan *p);
uint64_t gbuild_plan_file_bytes(const gbuild_plan *p, size_t i);
uint64_t gbuild_plan_parameters(const gbuild_plan *p);
uint64_t gbuild_plan_bytes(const gbuild_plan *p);
/* Notes for people (e.g. scaled quantized tensors), count in *n. */
const char *const *gbuild_plan_notes(const gbuild_plan *p, size_t *n);

/* The recipe planned, and the index of its metadata (config) donor. */
const recipe *gbuild_plan_recipe(const gbuild_plan *p);
size_t gbuild_plan_config(const gbuild_plan *p);

/* The plan as text (caller frees). */
char *gbuild_plan_text(const gbuild_plan *p);

/* The name of output file i of n for out ("X.gguf" -> "X-00001-of-00003.gguf"
 * when n > 1). A new string (caller frees) or NULL. */
char *gbuild_file_name(const char *out, size_t i, size_t n);

/* Writes the plan to opt->out (a .gguf path): every file is staged beside
 * it (".NAME.suture-tmp-PID"), fsynced, then renamed into place. An
 * existing output is refused unless opt->force, and then only when it is a
 * GGUF file; an output naming an input file is refused. opt->progress (per
 * tensor written) and opt->cancel as in build.h; opt->jobs is not used.
 * 0, or -1 with err set; nothing is left at the output on failure. */
int gbuild_run(const gbuild_plan *p, const build_options *opt,
               sut_error *err);

/* What gbuild_verify found. */
typedef struct gbuild_verify_result {
    size_t checked, copies, recomputed;
    char **problems;       /* nproblems lines naming the tensor */
    size_t nproblems;
} gbuild_verify_result;

/* Verifies a GGUF written by gbuild_run: re-plans its suture.recipe with
 * the models of suture.models and checks every output tensor against its
 * source (type and shape; bytes by hash for copies, zero for scale 0,
 * recomputed for other scales), and that the output holds exactly the
 * planned tensors. 0 (problems listed in res; free with
 * gbuild_verify_clear), or -1 with err set when it cannot run (no
 * provenance, a source missing). */
int gbuild_verify(const char *path, gbuild_verify_result *res,
                  sut_error *err);
void gbuild_verify_clear(gbuild_verify_result *res);

#endif
