/* gguf_audit.h: audit and trim for GGUF models (a file or split set).
 *
 * gaudit_run hashes every tensor (XXH3-128) and reports, with the codes of
 * audit.h:
 *  - "block-count-mismatch" (warning): {arch}.block_count differs from the
 *    blk.N layers stored;
 *  - "redundant-lm-head" (warning): output.weight is byte-identical to
 *    token_embd.weight (same type and shape): llama.cpp ties the head when
 *    output.weight is absent, so `suture trim` can drop it;
 *  - "duplicate-layers" (info): layers whose tensors are all byte-identical
 *    (same local names, types, shapes and bytes);
 *  - with bases, where each layer comes from (a base layer with the same
 *    tensors) and the seams between runs. */
#ifndef SUTURE_GGUF_AUDIT_H
#define SUTURE_GGUF_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "suture/error.h"
#include "suture/audit.h"
#include "suture/gguf_model.h"

typedef struct gaudit_report gaudit_report;

/* Audits the GGUF model at path against bases (nbases, may be 0; their
 * paths are GGUF too). NULL with err set when a model cannot be opened or
 * read. */
gaudit_report *gaudit_run(const char *path, const audit_base *bases,
                          size_t nbases, sut_error *err);
void gaudit_free(gaudit_report *r);

const gmodel *gaudit_model(const gaudit_report *r);
size_t gaudit_finding_count(const gaudit_report *r);
const audit_finding *gaudit_finding_at(const gaudit_report *r, size_t i);
size_t gaudit_count(const gaudit_report *r, audit_severity s);
/* With bases: one origin per layer (base -1 when unmatched). */
size_t gaudit_origin_count(const gaudit_report *r);
const audit_origin *gaudit_origin_at(const gaudit_report *r, size_t i);
/* The number of bases, and the name of base i (NULL past the last). */
size_t gaudit_base_count(const gaudit_report *r);
const char *gaudit_base_name(const gaudit_report *r, size_t i);

/* What gaudit_trim did. */
typedef struct gaudit_trim_result {
    bool trimmed;
    bool identical;       /* the dropped head equalled the embeddings */
    char reason[256];     /* why nothing was trimmed */
    uint64_t parameters, bytes;
} gaudit_trim_result;

/* Writes path without output.weight to out (a new .gguf file, staged and
 * renamed; with in_place, out == path and the file is replaced). Only a
 * head byte-identical to token_embd.weight is dropped unless force. A
 * split set is written as one file. 0 (res says whether anything was
 * trimmed; nothing is written when not), or -1 with err set. */
int gaudit_trim(const char *path, const char *out, bool in_place, bool force,
                gaudit_trim_result *res, sut_error *err);

#endif
