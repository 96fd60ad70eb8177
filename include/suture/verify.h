/* verify.h: proves that a checkpoint written by suture build holds what
 * its recipe said.
 *
 * Each output shard's __metadata__ records (see build.h) the source models
 * ("suture.models": name -> absolute path) and, for every tensor of the
 * shard, its source ("suture.sources": name -> {model, tensor, scale,
 * dtype}). verify_run re-opens every source model and checks every output
 * tensor against its source: byte-identical (XXH3-128 of both) when it was
 * copied, else equal to cv_apply(source dtype, output dtype, (float)scale)
 * of the source, recomputed in bounded chunks and compared byte for byte.
 * Several threads work on different tensors. */
#ifndef SUTURE_VERIFY_H
#define SUTURE_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "suture/error.h"
#include "suture/arch.h"
#include "suture/progress.h"

typedef struct verify_options {
    unsigned threads;     /* 0: the number of cores, at most 8 */
    sut_progress_fn progress; /* or NULL: the bytes read so far, output
                                 and source, of every tensor checked */
    void *progress_ctx;
} verify_options;

/* One output tensor (or shard, or index entry) that does not check out. */
typedef struct verify_problem {
    char *shard;          /* the output shard, or NULL */
    char *tensor;         /* the output tensor, or NULL */
    char *message;        /* one line naming the shard, tensor and source */
} verify_problem;

typedef struct verify_report verify_report;

/* Verifies the model folder at path. NULL with err set when it cannot be
 * verified: no model there, no shard carrying "suture.sources" (not
 * written by suture build), provenance that does not parse or is over
 * 16 MiB in one shard (its tree is built in memory), or a source
 * model that cannot be opened. Otherwise a report (free with
 * verify_free) whose problems list every tensor that differs. */
verify_report *verify_run(const char *path, arch_table *arches,
                          const verify_options *opt, sut_error *err);
void verify_free(verify_report *r);

/* Tensors checked, how many were copies (hash compared) and how many
 * scaled or converted (recomputed). */
size_t verify_checked(const verify_report *r);
size_t verify_copied(const verify_report *r);
size_t verify_recomputed(const verify_report *r);
/* The number of source models. */
size_t verify_sources(const verify_report *r);

size_t verify_problem_count(const verify_report *r);
const verify_problem *verify_problem_at(const verify_report *r, size_t i);

/* The path verified, as given (owned by r). */
const char *verify_path(const verify_report *r);

#endif
