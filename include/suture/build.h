/* build.h: writes the model folder a plan describes.
 *
 * Every tensor is streamed from its source into its output shard under its
 * new name: unchanged tensors through the copy engine (no bytes through
 * user space where the kernel allows; runs of tensors contiguous in their
 * source copied as one range, sharing the source's blocks where the file
 * system clones and the plan's layout keeps them at their source offset
 * modulo XFER_BLOCK, see plan_shard), scaled or converted ones through a
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
 * Safety (see staging.h): everything is written into a staging folder
 * beside OUT, every file and the folder are fsynced, then it is renamed into
 * place. OUT is refused when it is, lies inside, or holds an input model's
 * folder, or holds the real file of anything in one (devices and inodes
 * compared). An existing OUT is refused unless force; then it must be a
 * folder holding only files build writes (shards, index, config.json,
 * tokenizer and generation files, README.md, suture-recipe.json) and no
 * subfolder. It is swapped with the new one in one rename (a crash leaves
 * one or the other at OUT) and removed; where the file system cannot swap,
 * it is renamed aside first. A live build of the same OUT (holding its
 * lock) is refused; what a dead one left is removed first (and reported).
 * On failure the staging folder is removed. */
#ifndef SUTURE_BUILD_H
#define SUTURE_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <signal.h>

#include "suture/error.h"
#include "suture/plan.h"
#include "suture/progress.h"
#include "suture/safetensors.h"
#include "suture/work.h"

/* Called with the data bytes written so far and the total; from worker
 * threads, one call at a time (see progress.h). */
typedef sut_progress_fn build_progress_fn;

typedef struct build_options {
    const char *out;            /* the output folder */
    bool force;                 /* replace an existing OUT */
    unsigned jobs;              /* threads; 0: the cores online, at most 8 */
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
    uint64_t bytes_shared;      /* of those, sharing a source's blocks */
    uint64_t bytes_copied;      /* of those, written anew */
    size_t shards;
    size_t files_copied;        /* tokenizer and generation files */
} build_report;

/* Builds the plan into opt->out. 0, or -1 with err naming the file (and
 * tensor) concerned; nothing is left at OUT on failure (an existing OUT is
 * kept). report may be NULL; else free it with build_report_clear. */
int build_run(const plan *p, const build_options *opt, build_report *report,
              sut_error *err);
void build_report_clear(build_report *report);

/* Copies len bytes at off of fd into w's current tensor data (through the
 * copy engine), WORK_STEP bytes at a time, counting each step into meter
 * (or NULL; its cancel flag stops the copy with "interrupted"). 0 or -1
 * with err set. Used by trim too. */
int build_copy_range(st_writer *w, int fd, uint64_t off, uint64_t len, work_meter *meter,
                     sut_error *err);

/* Makes and checks every output header as build_run would write it (size
 * limit, duplicate names, sizes), writing nothing: the refusals a build
 * would make from headers, before anything is written. build_run calls it
 * first; plan calls it to predict them. 0, or -1 with build's message. */
int build_check_headers(const plan *p, sut_error *err);

/* The names of the files copied from the tokenizer donor (those that
 * exist), besides chat_template.*: NULL-terminated. */
extern const char *const build_tokenizer_files[];

#endif
