/* forward.h: a streaming CPU forward pass over a stack of layers.
 *
 * The stack need not exist as a checkpoint: the embedding comes from one
 * model, each layer from any (model, layer index) with optional per-tensor
 * scales, the final norm and head from another; a recipe is evaluated
 * without building it. The family, dimensions and options (rope, sliding
 * window, softcaps) come from the config model's config.json; every layer
 * must have that family's tensors with those shapes.
 *
 * A pass runs one step at a time over every token of a batch of windows:
 * fw_embed, then fw_layer for each stack index, then fw_head. Each step
 * reads its weights, converts them to F32, applies them to every token and
 * drops them: memory is one weight matrix in F32 (plus a 4 MiB read
 * buffer) and the batch's activations, never the model. The embedding is
 * read row by row for the ids present, the head in chunks of rows with a
 * running log-sum-exp.
 *
 * Families: llama (rope_scaling llama3, linear), mistral, qwen2, gemma,
 * gemma2, phi3.
 *
 * GGUF models (llama.cpp's names: llama, qwen2, gemma, gemma2, phi3) in
 * F32, F16, BF16 and Q8_0 (dequantized as read, a chunk at a time): the
 * hyperparameters are the {arch}.* keys, the tensors blk.N.attn_q.weight
 * and so on. llama.cpp's llama GGUFs hold q and k rows permuted for its
 * interleaved rope: they are put back in transformers' order as read.
 * llama.cpp's gemma norms are stored as w + 1: no offset is added. Any other family, or a config value the pass does not
 * implement (another rope_scaling type, qwen2's use_sliding_window, an
 * unknown activation), is refused by name.
 *
 * Threads: matrix products run in OpenBLAS's threads, the other loops in
 * the pass's own; never both at once, so `threads` bounds the busy
 * threads. The thread count is process-wide (OpenBLAS's setting): run one
 * pass at a time. */
#ifndef SUTURE_FORWARD_H
#define SUTURE_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "suture/error.h"
#include "suture/gguf_model.h"
#include "suture/model.h"

/* Multiplies the in-layer tensor named local ("self_attn.o_proj.weight")
 * by scale as it is read, rounding in the source dtype first exactly as
 * cv_apply (and so suture build) does. */
typedef struct fw_scale {
    const char *local;
    float scale;
} fw_scale;

typedef struct fw_slot {
    const model *m;
    unsigned layer;            /* layer index within m */
    const fw_scale *scales;    /* n_scales entries, or NULL */
    size_t n_scales;
} fw_slot;

typedef struct fw_stack {
    const model *config;       /* config.json: family, dimensions, options */
    const model *embed;        /* the input embedding */
    const model *head;         /* final norm and lm_head (or the tied
                                  embedding) */
    const fw_slot *layers;     /* n_layers slots, in order */
    size_t n_layers;
    /* When not NULL, a GGUF model is the weight source of the whole stack:
     * config, embed, head and every slot's m are unused (NULL), each slot's
     * layer is a blk.N of gguf and its scales name GGUF local tensors
     * ("attn_output.weight"). The family and dimensions come from its
     * metadata (general.architecture, {arch}.*). */
    const gmodel *gguf;
} fw_stack;

/* Fills s with the stack of m as it is: every layer in order. The layer
 * array is allocated; free it with fw_stack_release. 0, or -1 with err. */
int fw_stack_of_model(fw_stack *s, const model *m, sut_error *err);
/* The same for a GGUF model (see fw_stack.gguf). */
int fw_stack_of_gguf(fw_stack *s, const gmodel *g, sut_error *err);
void fw_stack_release(fw_stack *s);

typedef struct fw_dims {
    size_t hidden, layers, vocab;
    size_t heads, kv_heads, head_dim, intermediate;
    size_t max_ctx;            /* max_position_embeddings (0: not given) */
    int bos;                   /* bos_token_id, or -1 */
} fw_dims;

typedef struct fw_model fw_model;

/* Checks the stack (family, config values, every tensor's presence, dtype
 * and shape) and opens the shard files. threads >= 1. The models must
 * outlive the handle; the stack is copied. NULL with err naming the
 * file, the tensor or the config key. */
fw_model *fw_open(const fw_stack *s, unsigned threads, sut_error *err);
void fw_free(fw_model *f);                 /* NULL is a no-op */
const fw_dims *fw_model_dims(const fw_model *f);
/* Bytes of the largest matrix of the pass in F32 (the weight buffer). */
uint64_t fw_weight_bytes(const fw_model *f);
/* Bytes of the tensors one pass (fw_layer over the stack and fw_head)
 * reads, and the bytes of those read so far: for progress. The embedding
 * rows fw_embed reads are not counted. */
uint64_t fw_pass_bytes(const fw_model *f);
uint64_t fw_bytes_read(const fw_model *f);

/* Activations of a batch: up to max_tokens tokens in windows. A batch
 * works with any fw_model of the same dimensions as the one it was made
 * for: hidden states computed through one stack's prefix can go on
 * through another stack's layers (a search over candidate stacks sharing
 * a prefix), and fw_batch_hidden between steps is the hidden state
 * entering the next layer (the measure of a seam). Layer i's options (its
 * sliding window, in gemma2's pattern) follow its index in the stack. */
typedef struct fw_batch fw_batch;

/* NULL with err when out of memory. */
fw_batch *fw_batch_new(const fw_model *f, size_t max_tokens, size_t max_window,
                       sut_error *err);
void fw_batch_free(fw_batch *b);           /* NULL is a no-op */

/* Sets the batch's tokens: n_windows windows of lens[w] ids each, one
 * after the other in ids; each window starts at position 0. Ids are
 * checked against the vocabulary. 0, or -1 with err. */
int fw_batch_set(fw_batch *b, const int32_t *ids, const size_t *lens,
                 size_t n_windows, sut_error *err);
size_t fw_batch_tokens(const fw_batch *b);
/* The hidden states, tokens x hidden, row-major; writable so a caller can
 * save and restore them between steps. */
float *fw_batch_hidden(fw_batch *b);

/* Hidden states = the embedding rows of the ids (times sqrt(hidden) for
 * gemma). 0, or -1 with err naming the file and tensor. */
int fw_embed(fw_model *f, fw_batch *b, sut_error *err);

/* Applies stack layer i (< dims.layers) to the hidden states. 0 or -1. */
int fw_layer(fw_model *f, fw_batch *b, size_t i, sut_error *err);

/* Receives the logits of rows [row0, row0 + n) of the head for every
 * token: logits[t * n + r] (after the final softcap). */
typedef void (*fw_logits_fn)(void *ctx, size_t row0, size_t n,
                             const float *logits);

/* Final norm and head. For every token but the last of each window, adds
 * -log p(next id) to *nll_sum and 1 to *predicted (both accumulate over
 * calls). logits_fn, when not NULL, sees every chunk of logits. 0 or -1. */
int fw_head(fw_model *f, fw_batch *b, fw_logits_fn logits_fn, void *ctx,
            double *nll_sum, uint64_t *predicted, sut_error *err);

#endif
