/* build.h: writes the model folder a plan describes.
 *
 * Every tensor is streamed from its source into its output shard under its
 * new name: unchanged tensors through the copy engine (no bytes through
 * user space where the kernel allows), scaled or converted ones through a
 * bounded buffer; memory stays at a few MB per thread whatever the model
 * size. Shards are written in parallel, one thread per shard.
 *
 * The folder gets the shards, model.safetensors.index.json (when there is
 * more than one shard), config.json (the plan's), the tokenizer donor's
 * tokenizer and generation files, README.md (the recipe and the layer map)
 * and suture-recipe.json. Each shard's __metadata__ holds, besides
 * "format": "pt":
 *   "suture.version": the version that wrote it;
 *   "suture.models":  {"NAME": "/absolute/path/of/the/model", ...};
 *   "suture.sources": {"OUTPUT TENSOR": {"model": NAME, "tensor": SOURCE
 *                      TENSOR, "scale": S, "dtype": SOURCE DTYPE}, ...}
 *                     for every tensor of that shard (compact JSON text).
 * Its data is (scale == 1 and dtype equal to the output dtype) the source
 * bytes, else cv_apply(source dtype, output dtype, (float)scale) of them.
 *
 * Safety: everything is written into a staging folder beside OUT
 * (".NAME.suture-tmp-PID" in OUT's parent), every file and the folder are
 * fsynced, then it is renamed into place. An existing OUT is refused unless
 * force (then it must be a folder that is empty or holds config.json or
 * .safetensors files; the new one is swapped with it in one rename, so a
 * crash leaves one or the other at OUT, and the old one is removed; where
 * the file system cannot swap, the old one is renamed aside first). OUT equal to or inside an input model's folder, or an input
 * inside OUT, is refused (real paths compared). On failure the staging
 * folder is removed. A staging folder of OUT left by a process that no
 * longer runs is removed first (and reported). */
#ifndef SUTURE_BUILD_H
#define SUTURE_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <signal.h>

#include "suture/error.h"
#include "suture/plan.h"
#include "suture/progress.h"

/* Called with the data bytes written so far and the total; from worker
 * threads, one call at a time (see progress.h). */
typedef sut_progress_fn build_progress_fn;

typedef struct build_options {
    const char *out;            /* the output folder */
    bool force;                 /* replace an existing OUT */
    unsigned jobs;              /* threads; 0: the number of cores */
    build_progress_fn progress; /* or NULL */
    void *progress_ctx;
    /* When non-NULL: once *cancel is nonzero (set by a signal handler, or
     * by the progress callback), the build stops at its next step (at
     * most 64 MiB later per thread) and fails with "interrupted"; the
     * staging folder is removed as on any failure. */
    const volatile sig_atomic_t *cancel;
} build_options;

/* What happened besides the build itself. */
typedef struct build_report {
    char **notes;               /* nnotes lines, e.g. a stale staging folder
                                   removed, an old OUT replaced */
    size_t nnotes;
    uint64_t bytes;             /* data bytes written */
    size_t shards;
    size_t files_copied;        /* tokenizer and generation files */
} build_report;

/* Builds the plan into opt->out. 0, or -1 with err naming the file (and
 * tensor) concerned; nothing is left at OUT on failure (an existing OUT is
 * kept). report may be NULL; else free it with build_report_clear. */
int build_run(const plan *p, const build_options *opt, build_report *report,
              sut_error *err);
void build_report_clear(build_report *report);

/* Makes and checks every output header as build_run would write it (size
 * limit, duplicate names, sizes), writing nothing: the refusals a build
 * would make from headers, before anything is written. build_run calls it
 * first; plan calls it to predict them. 0, or -1 with build's message. */
int build_check_headers(const plan *p, sut_error *err);

/* The names of the files copied from the tokenizer donor (those that
 * exist), besides chat_template.*: NULL-terminated. */
extern const char *const build_tokenizer_files[];

#endif
