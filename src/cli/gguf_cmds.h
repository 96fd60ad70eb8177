/* gguf_cmds.h: `suture plan` and `suture build` on GGUF models
 * (gguf_cmds.c), called first by cmd_plan.c and cmd_build.c. */
#ifndef SUTURE_CLI_GGUF_CMDS_H
#define SUTURE_CLI_GGUF_CMDS_H

#include <stdbool.h>

#include "suture/build.h"
#include "plan_args.h"

/* When the recipe names GGUF models, plans (text or JSON) and returns the
 * exit status; -1 when it names none (the caller goes on). */
int gguf_cli_plan(const struct plan_args *a, bool json);
/* The same for build: writes bo->out (a .gguf file; --shard-size splits). */
int gguf_cli_build(const struct plan_args *a, const build_options *bo,
                   bool quiet, bool json);

#endif
