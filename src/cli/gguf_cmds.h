/* gguf_cmds.h: `suture plan`, `build`, `audit` and `trim` on GGUF models
 * (gguf_cmds.c, gguf_audit_cmds.c), called first by their cmd_<verb>.c. */
#ifndef SUTURE_CLI_GGUF_CMDS_H
#define SUTURE_CLI_GGUF_CMDS_H

#include <stdbool.h>

#include "suture/build.h"
#include "suture/audit.h"
#include "plan_args.h"

/* When the recipe names GGUF models, plans (text or JSON) and returns the
 * exit status; -1 when it names none (the caller goes on). */
int gguf_cli_plan(const struct plan_args *a, bool json);
/* The same for build: writes bo->out (a .gguf file; --shard-size splits). */
int gguf_cli_build(const struct plan_args *a, const build_options *bo,
                   bool quiet, bool json);

/* `suture audit` on a GGUF model: findings as text or JSON; exit 1 when
 * there are errors (or warnings with strict). */
int gguf_cli_audit(const char *path, const audit_base *bases, size_t nbases,
                   bool json, bool strict);
/* `suture trim` on a GGUF model. */
int gguf_cli_trim(const char *path, const char *out, bool in_place, bool force,
                  bool json, bool quiet);
/* `suture verify` on a GGUF written by suture build: exit 1 when some
 * tensor differs. */
int gguf_cli_verify(const char *path, bool json, bool quiet);

#endif
