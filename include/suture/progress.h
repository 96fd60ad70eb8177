/* progress.h: the progress callback of the library's long calls (build,
 * audit, trim, verify), set through their options as `progress` and
 * `progress_ctx`. */
#ifndef SUTURE_PROGRESS_H
#define SUTURE_PROGRESS_H

#include <stdint.h>

/* Called with the bytes processed so far and the total the call will
 * process. done never decreases and never exceeds total; when the work
 * runs to its end the last call has done == total (a call that fails
 * stops short). Calls may come from worker threads, but one at a time,
 * never concurrently. No call is made when there is nothing to process. */
typedef void (*sut_progress_fn)(void *ctx, uint64_t done, uint64_t total);

#endif
