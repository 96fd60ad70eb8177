/* trim.h: removes the redundant lm_head of a tied model.
 *
 * A model whose config ties the output head to the input embeddings
 * (tie_word_embeddings true, or the family's default) but stores the head
 * anyway carries a copy loaders ignore. trim_run drops it when it is
 * byte-identical to the embeddings (a differing head only with force: the
 * loaders ignore it too, but dropping it changes what is stored). Only the
 * shard that held the head is rewritten (the other tensors streamed through
 * the copy engine, __metadata__ kept, the head's entry taken out of
 * "suture.sources"); a shard left empty is dropped; the index loses the
 * head and gets the right total_size. Every other file is left
 * byte-identical.
 *
 * The rewritten shard keeps the old one's data order and its offsets
 * modulo XFER_BLOCK where it can (its header padded to match), so that on
 * a file system that clones (XFS, btrfs) it shares the old shard's blocks.
 *
 * To OUT (opt->out): OUT must not exist (it is never replaced); the result
 * is assembled in a staging folder beside it (see staging.h; every other
 * file cloned where the file system can, a file of its own sharing the
 * input's blocks; else files of 1 MiB and more hard-linked from the input
 * where the file system allows, smaller ones such as config.json copied,
 * so editing one never edits the other),
 * fsynced, and renamed into place.
 * OUT inside the input folder (devices and inodes compared) is refused.
 *
 * In place (opt->out NULL): the new shard and the new index are written to
 * temporary files in the folder and fsynced; then the index is renamed
 * over the old one and the folder fsynced (so that rename is durable
 * first), then the shard is renamed (a dropped shard removed) and the
 * folder fsynced again. A crash before the first rename leaves the old
 * checkpoint; after the last, the new one. Between the two renames the
 * folder holds the new index with the old shard: every tensor the index
 * names is where it says, plus the head, which loaders read and tie away
 * as before (only total_size and the extra tensor differ). A single-file
 * model is one rename. The folder is locked meanwhile (flock; a second
 * trim of it refuses: "another suture process is trimming PATH");
 * temporary files of a killed run are removed by the next one. */
#ifndef SUTURE_TRIM_H
#define SUTURE_TRIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "suture/error.h"
#include "suture/arch.h"
#include "suture/progress.h"

typedef struct trim_options {
    const char *out;      /* the output folder, or NULL: in place */
    bool force;           /* drop a head that differs from the embeddings */
    sut_progress_fn progress; /* or NULL: the data bytes of the rewritten
                                 shard copied so far (no call when the
                                 shard is dropped) */
    void *progress_ctx;
} trim_options;

typedef struct trim_result {
    bool trimmed;         /* a head was removed (and the output written) */
    bool identical;       /* it was byte-identical to the embeddings */
    uint64_t parameters;  /* its parameters */
    uint64_t bytes;       /* its data bytes */
    char tensor[256];     /* its name */
    char shard[256];      /* the shard that held it */
    bool shard_dropped;   /* that shard held nothing else and is gone */
    unsigned stale;       /* temporary files of killed runs removed */
    uint64_t bytes_shared; /* bytes of the files written that share the
                              input's blocks (cloned, or hard-linked) */
    uint64_t bytes_copied; /* bytes written anew */
    char reason[SUT_ERROR_MAX]; /* when nothing was trimmed: why */
} trim_result;

/* Trims the model folder at path. Returns 0 with *res filled: trimmed, or
 * nothing to trim (res->reason says why: no head stored, or the config
 * unties it; with opt->out, OUT is then not written). Returns -1 with err
 * set when refused (not a folder, an unknown family, a head that differs
 * without force, OUT exists or lies inside the input) or on failure;
 * nothing is changed then (in place) or left at OUT. */
int trim_run(const char *path, arch_table *arches, const trim_options *opt,
             trim_result *res, sut_error *err);

#endif
