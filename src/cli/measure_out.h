/* measure_out.h: measuring a plan from the command line (probe RECIPE and
 * plan --measure share it). */
#ifndef SUTURE_CLI_MEASURE_OUT_H
#define SUTURE_CLI_MEASURE_OUT_H

#include <stdbool.h>
#include <stddef.h>

#include "suture/measure.h"

/* Reads the ids (tokens: a --tokens file; else text: a --text file,
 * tokenized by the plan's tokenizer donor), defaults o->ctx (0) to 512 or
 * the config donor's max_position_embeddings when smaller, sets o->bos,
 * and runs measure_run against recipe model `base`, with a progress bar on
 * a terminal unless quiet. 0, or -1 with err. */
int cli_measure_plan(const plan *p, const char *tokens, const char *text,
                     size_t base, bool quiet, probe_options *o,
                     measure_result *res, sut_error *err);

/* Prints the seam table. */
void cli_print_seams(const measure_result *m, const plan *p);

#endif
