/* audit.h: checks a checkpoint for damage and for frankenmerge seams.
 *
 * audit_run opens a model folder (or a lone .safetensors file) leniently and
 * reports findings: broken or missing shards, index disagreements, config
 * vs tensors (layer count, missing, extra and misshapen layer tensors,
 * per-layer arrays, dtype mix), a redundant or conflicting lm_head of a
 * tied model, the parameter count against what the config implies, layers
 * that are byte-identical to each other and, given base models, where each
 * layer comes from. Every tensor is hashed (XXH3-128, several threads). */
#ifndef SUTURE_AUDIT_H
#define SUTURE_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "suture/error.h"
#include "suture/arch.h"
#include "suture/model.h"
#include "suture/xfer.h"
#include "suture/progress.h"

typedef enum audit_severity {
    AUDIT_INFO,
    AUDIT_WARNING,
    AUDIT_ERROR
} audit_severity;

/* "info", "warning" or "error". */
const char *audit_severity_name(audit_severity s);

typedef struct audit_finding {
    const char *code;        /* "index-mismatch", "redundant-lm-head", ... */
    audit_severity severity;
    char *message;           /* one line naming the file, tensor or layer */
    char *place;             /* the file, tensor, layer or config key
                                concerned, or NULL */
} audit_finding;

/* A model to trace layers back to, as given by --base NAME=PATH. */
typedef struct audit_base {
    const char *name;
    const char *path;
} audit_base;

typedef struct audit_options {
    const audit_base *bases; /* nbases entries, or NULL */
    size_t nbases;
    unsigned threads;        /* hashing threads; 0: the number of cores,
                                at most 8 */
    sut_progress_fn progress; /* or NULL: the bytes hashed so far of all
                                 the tensors of the model and the bases */
    void *progress_ctx;
} audit_options;

/* Where layer `layer` of the audited model comes from: layer source_layer
 * of base `base` (all tensors byte-identical), or base == -1 when no base
 * layer matches. */
typedef struct audit_origin {
    unsigned layer;
    long base;
    long source_layer;
} audit_origin;

/* Layer `index` does not continue layer index - 1 (both matched): another
 * base, or a source layer other than the next one. jump is to_layer -
 * from_layer, as plan_seam's. */
typedef struct audit_seam {
    unsigned index;
    size_t from_base, to_base;
    unsigned from_layer, to_layer;
    long jump;
} audit_seam;

/* A reconstructed slice: layers [start, end) of base `base`; base == -1
 * numbers the audited model's distinct layers in order of first
 * appearance (the slices a self-merge was made of). */
typedef struct audit_slice {
    long base;
    unsigned start, end;
} audit_slice;

typedef struct audit_report audit_report;

/* Audits the model at path. The table must outlive the report. Returns the
 * report (free with audit_free), or NULL with err set when the audit could
 * not run: path missing or holding no checkpoint, a base that cannot be
 * opened, out of memory. A checkpoint that is damaged (even unreadable
 * shards) gives a report with error findings. */
audit_report *audit_run(const char *path, arch_table *arches,
                        const audit_options *opt, sut_error *err);
void audit_free(audit_report *r);

size_t audit_finding_count(const audit_report *r);
const audit_finding *audit_finding_at(const audit_report *r, size_t i);
/* The number of findings of severity s. */
size_t audit_count(const audit_report *r, audit_severity s);

/* The opened model, or NULL when damage stopped it from being opened (then
 * only the folder findings exist). */
const model *audit_model(const audit_report *r);
uint64_t audit_parameter_count(const audit_report *r);
/* The parameters the config implies for a known family (a tied head not
 * counted), or 0 when it cannot say. */
uint64_t audit_expected_parameters(const audit_report *r);

/* Groups of byte-identical layers (each ascending, groups by first layer). */
size_t audit_duplicate_count(const audit_report *r);
const unsigned *audit_duplicate_at(const audit_report *r, size_t i, size_t *n);

/* The slices the model appears made of: from provenance when bases were
 * given and every layer matched, else from duplicates (base -1); none when
 * the model has no duplicate layer and no base. */
size_t audit_slice_count(const audit_report *r);
const audit_slice *audit_slice_at(const audit_report *r, size_t i);

/* Provenance, one entry per layer, when bases were given. */
size_t audit_origin_count(const audit_report *r);
const audit_origin *audit_origin_at(const audit_report *r, size_t i);
size_t audit_seam_count(const audit_report *r);
const audit_seam *audit_seam_at(const audit_report *r, size_t i);
/* The number of bases, and the name of base i as given in the options
 * (copied). */
size_t audit_base_count(const audit_report *r);
const char *audit_base_name(const audit_report *r, size_t i);
/* The path audited, as given (owned by r). */
const char *audit_path(const audit_report *r);

/* Hashes the data of every tensor of m with XXH3-128 on `threads` threads
 * (0: the default above). out has model_tensor_count(m) entries, in
 * model_tensor_at order. 0, or -1 with err naming the file and tensor. */
int audit_hash_model(const model *m, unsigned threads, xfer_hash *out,
                     sut_error *err);

#endif
