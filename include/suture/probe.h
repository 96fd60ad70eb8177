/* probe.h: measuring a stack of layers with the forward pass.
 *
 * probe_run feeds ids through a stack (suture/forward.h) in windows of
 * ctx tokens, `batch` windows per pass, and reports:
 *  - the mean negative log-likelihood (nats) of every position after a
 *    window's first, and its perplexity;
 *  - per layer, the angular distance arccos(cos(x, y)) / pi between its
 *    input x and output y hidden states, averaged over all tokens and over
 *    the last token of each window, and Block Influence 1 - cos(x, y)
 *    averaged over all tokens (ShortGPT);
 *  - for each block length n = 1 .. L/2, the block [l, l + n) whose input
 *    h_l and output h_(l+n) are closest (angular distance at the last
 *    token of each window, averaged: Gromov et al.), the cheapest to drop.
 *
 * Windows: ids (at most max_tokens of them) are cut into consecutive
 * windows. With bos < 0 they are used exactly as given, ctx ids a window.
 * With bos >= 0 (ids from a tokenizer that put BOS first) each window
 * after the first starts with bos followed by the next ctx - 1 ids. A last
 * window of a single token predicts nothing and is not fed. */
#ifndef SUTURE_PROBE_H
#define SUTURE_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "suture/error.h"
#include "suture/forward.h"
#include "suture/progress.h"

typedef struct probe_options {
    size_t ctx;          /* window length, >= 2 */
    size_t max_tokens;   /* ids used at most (0: all) */
    size_t batch;        /* windows per pass (0: 1) */
    unsigned threads;    /* 0: 1 */
    int bos;             /* see above; -1: none */
    sut_progress_fn progress; /* in bytes of weights read (fw_pass_bytes) */
    void *progress_ctx;
    /* When not NULL, sees the hidden states h (tokens x hidden) at every
     * layer boundary k = 0 .. L of every batch (k: entering stack layer k;
     * L: after the last), with the batch's ids and window lengths. Nonzero
     * stops the run with err as the hook filled it. */
    int (*hidden_fn)(void *ctx, size_t k, const float *h, const int32_t *ids,
                     const size_t *lens, size_t n_windows, sut_error *err);
    void *hidden_ctx;
} probe_options;

typedef struct probe_layer {
    double angular_distance, angular_distance_last, block_influence;
} probe_layer;

typedef struct probe_block {
    size_t length, start;
    double angular_distance;
} probe_block;

typedef struct probe_result {
    uint64_t tokens;     /* ids fed, inserted BOS included */
    uint64_t predicted;  /* positions scored */
    size_t windows, ctx;
    double nll, perplexity;
    size_t n_layers;
    probe_layer *layers;
    size_t n_blocks;     /* n_layers / 2 */
    probe_block *blocks; /* blocks[n - 1] is the best of length n */
} probe_result;

/* Runs the stack over the ids. 0, or -1 with err (a bad stack, an id
 * outside the vocabulary: "token N (id I) is outside the vocabulary of V",
 * ctx above the model's context, nothing to predict). The result's arrays
 * are allocated: free with probe_result_free. */
int probe_run(const fw_stack *s, const int32_t *ids, size_t n,
              const probe_options *o, probe_result *r, sut_error *err);
void probe_result_free(probe_result *r);

/* Reads a --tokens file: a JSON array of ids, or ids separated by white
 * space. *ids is allocated (caller frees). 0, or -1 with err naming the
 * file and the position of the first bad id. */
int probe_read_ids(const char *path, int32_t **ids, size_t *n, sut_error *err);

/* Reads a --text file (UTF-8, at most 256 MiB) and encodes it with the
 * tokenizer at tokenizer_path (a model folder or a tokenizer.json: see
 * tokenizer.h), special tokens added as the tokenizer says. *bos gets the
 * BOS id each later window must start with, or -1 when the tokenizer adds
 * none. *ids is allocated (caller frees). 0, or -1 with err naming the file. */
int probe_read_text(const char *path, const char *tokenizer_path, int32_t **ids,
                    size_t *n, int *bos, sut_error *err);

#endif
