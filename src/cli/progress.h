/* progress.h: a one-line progress bar on stderr for long commands.
 * Drawn only when stderr is a terminal and the user did not ask for
 * --quiet; otherwise cli_progress_new returns NULL and the other calls do
 * nothing. */
#ifndef SUTURE_CLI_PROGRESS_H
#define SUTURE_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "suture/progress.h"

typedef struct cli_progress cli_progress;

/* A bar labelled label ("build"), or NULL when no bar is to be drawn. */
cli_progress *cli_progress_new(const char *label, bool quiet);

/* cli_progress_new, and the library's callback and context for it in
 * *fn and *ctx (NULL, NULL when no bar is drawn). */
cli_progress *cli_progress_attach(const char *label, bool quiet,
                                  sut_progress_fn *fn, void **ctx);

/* The library's progress callback: ctx is a cli_progress (or NULL). Redraws
 * at most ten times a second, and always at done == total. Not
 * thread-safe: the library calls it one call at a time. */
void cli_progress_update(void *ctx, uint64_t done, uint64_t total);

/* Clears the line and frees the bar; NULL is a no-op. */
void cli_progress_free(cli_progress *p);

#endif
