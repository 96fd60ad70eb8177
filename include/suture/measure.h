/* measure.h: measuring a recipe's output without building it.
 *
 * The plan (suture/plan.h) says which model, source layer and scales each
 * output layer has; measure_stack_of_plan turns it into a forward-pass
 * stack (suture/forward.h) that reads straight from the sources, so that
 * probing it gives the numbers, bit for bit, of probing the built output.
 *
 * measure_run probes that stack, probes a base model on the same ids, and
 * measures every seam of the plan: the angular distance arccos(cos) / pi,
 * averaged over all tokens, between the hidden state entering the seam's
 * output layer and the hidden state its source layer receives in its own
 * model on the same ids (the source model's own embedding and layers
 * 0 .. source layer - 1). `healed` follows that distance over the next
 * output layers while they continue the source model's layers in order:
 * up to MEASURE_HEAL_MAX layers, stopping at the next seam or the end of
 * the stack. */
#ifndef SUTURE_MEASURE_H
#define SUTURE_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "suture/error.h"
#include "suture/forward.h"
#include "suture/plan.h"
#include "suture/probe.h"

#define MEASURE_HEAL_MAX 4

typedef struct measure_seam {
    unsigned index;                   /* output layer the seam enters */
    size_t from_model, to_model;      /* indices into the recipe's models */
    unsigned from_layer, to_layer;
    double angular_distance;          /* entering output layer index */
    size_t n_healed;
    double healed[MEASURE_HEAL_MAX];  /* after 1 .. n_healed more layers */
} measure_seam;

typedef struct measure_result {
    probe_result out;                 /* the output stack */
    probe_result base;                /* the base model alone */
    size_t n_seams;
    measure_seam *seams;
} measure_result;

/* Fills s with the plan's output stack: the embed, head and config donors
 * and every output layer with the scales the plan gives its tensors. The
 * forward pass reads the sources' dtypes, so a plan that converts a tensor
 * to another dtype is refused ("the plan converts ... measure without
 * --dtype"). Release with measure_stack_release. 0, or -1 with err. */
int measure_stack_of_plan(const plan *p, fw_stack *s, sut_error *err);
void measure_stack_release(fw_stack *s);

/* Probes the plan's output and recipe model `base` (its whole stack) on
 * the ids with options o (o->hidden_fn must be NULL: the run uses it), and
 * measures the seams. Memory: the output's pass and, at the start of each
 * batch, a reference pass of each seam's source model, one after the
 * other, each with its one-matrix weight buffer (two at most at once);
 * the references keep, per seam, up to MEASURE_HEAL_MAX + 1 hidden states
 * of one batch. 0, or -1 with err; free the result with
 * measure_result_free. */
int measure_run(const plan *p, size_t base, const int32_t *ids, size_t n,
                const probe_options *o, measure_result *r, sut_error *err);
void measure_result_free(measure_result *r);

/* ---- search ---------------------------------------------------------------
 * Every candidate stack of one kind over model m (L layers), one per start
 * a of an n-layer block:
 *   MEASURE_REPEAT: layers [0, a + n) then [a, L)   (a = 0 .. L - n)
 *   MEASURE_DROP:   layers [0, a) then [a + n, L)   (a = 0 .. L - n, n < L)
 * The model runs once; candidate a shares its prefix (layers 0 .. a + n - 1
 * for a repeat, 0 .. a - 1 for a drop) and takes the model's hidden states
 * there, so the layers run are about L^2 / 2 rather than (L - n + 1) x L.
 * Each candidate's NLL is, bit for bit, that of probing its stack.
 * Memory: the model's pass and one candidate's at a time (two weight
 * buffers), and the candidate's copy of the batch's activations. */
typedef enum measure_kind { MEASURE_REPEAT, MEASURE_DROP } measure_kind;

typedef struct measure_candidate {
    unsigned start;                   /* a: the block [a, a + n) */
    double nll, perplexity;
} measure_candidate;

typedef struct measure_search_result {
    probe_result model;               /* m as it is */
    size_t n;
    measure_candidate *c;             /* best (lowest NLL) first; ties by start */
} measure_search_result;

/* Scales of the repeated copy of a repeat: layer k (0 .. n - 1) of the
 * copy gets scales[k] (n_scales[k] entries). NULL: none. */
typedef struct measure_copy_scales {
    const fw_scale *const *scales;
    const size_t *n_scales;
} measure_copy_scales;

/* Fills slots (room for L + n) with candidate a's stack over m (cs: the
 * repeated copy's scales, or NULL); returns the number of layers. */
size_t measure_candidate_stack(const model *m, measure_kind kind, unsigned n,
                               unsigned a, const measure_copy_scales *cs,
                               fw_slot *slots);

/* Runs the search (o as probe_run's; o->hidden_fn must be NULL; cs as
 * above, repeats only, or NULL). 0, or -1 with err (n of 0, above L, or a
 * drop of every layer: "repeat:N ..."). Free the result with
 * measure_search_free. */
int measure_search(const model *m, measure_kind kind, unsigned n,
                   const measure_copy_scales *cs, const int32_t *ids, size_t count,
                   const probe_options *o, measure_search_result *r, sut_error *err);
void measure_search_free(measure_search_result *r);

#endif
