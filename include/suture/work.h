/* work.h: the shared work layer of the long calls (build, trim, verify,
 * audit): a thread pool, a progress meter fed from several threads, and
 * hashing of file ranges that counts into the meter. */
#ifndef SUTURE_WORK_H
#define SUTURE_WORK_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <signal.h>
#include <pthread.h>

#include "suture/error.h"
#include "suture/progress.h"
#include "suture/xfer.h"

#define WORK_THREADS_MAX 1024
#define WORK_STEP (64u << 20)   /* bytes copied between progress reports */

/* Bytes of work done by several threads, reported to fn (or nowhere when
 * fn is NULL) one call at a time: done never decreases nor passes total.
 * failed is set by work_parallel when a job fails (other jobs may stop
 * early); cancel (or NULL), when nonzero, stops work_meter_add's callers. */
typedef struct work_meter {
    pthread_mutex_t lock;    /* set up only when fn is not NULL */
    uint64_t done, total;
    sut_progress_fn fn;
    void *ctx;
    volatile bool failed;
    const volatile sig_atomic_t *cancel;
} work_meter;

/* Sets up m for total bytes. 0, or -1 with err set. */
int work_meter_init(work_meter *m, uint64_t total, sut_progress_fn fn, void *ctx,
                    sut_error *err);
/* Counts n more bytes and reports the sum; a NULL m or a zero n only
 * checks. Returns 0, or -1 with err "interrupted" once *m->cancel is
 * nonzero (err may be NULL). */
int work_meter_add(work_meter *m, uint64_t n, sut_error *err);
void work_meter_destroy(work_meter *m);

/* The default number of threads: the cores online, 1 to 8. */
unsigned work_default_threads(void);

/* Runs fn(ctx, i, err) for every i in [0, n) on up to `threads` threads
 * (0: work_default_threads(); at most WORK_THREADS_MAX). Stops taking jobs
 * at the first failure, whose err is kept, and sets meter->failed (meter
 * may be NULL). 0 or -1. */
typedef int (*work_job_fn)(void *ctx, size_t i, sut_error *err);
int work_parallel(size_t n, unsigned threads, work_job_fn fn, void *ctx,
                  work_meter *meter, sut_error *err);

/* Calls fn(ctx, off, n, err) over [off, off + len) in pieces of at most
 * WORK_STEP bytes that end on XFER_BLOCK boundaries of the offsets (so a
 * copy kept at its source phase clones whole blocks), counting each into
 * meter (or NULL) after it. 0, or -1
 * when fn or work_meter_add fails. */
typedef int (*work_step_fn)(void *ctx, uint64_t off, uint64_t n, sut_error *err);
int work_steps(uint64_t off, uint64_t len, work_step_fn fn, void *ctx, work_meter *meter,
               sut_error *err);

/* The XXH3-128 of [off, off + len) of fd (as xfer_hash_range), counting
 * the bytes into meter (or NULL) as they are read. 0 or -1. */
int work_hash_range(int fd, uint64_t off, uint64_t len, work_meter *meter,
                    xfer_hash *out, sut_error *err);

/* The XXH3-128 of len zero bytes (what a hole of a sparse file reads as),
 * counted into meter (or NULL). 0 or -1. */
int work_hash_zeros(uint64_t len, work_meter *meter, xfer_hash *out, sut_error *err);

#endif
