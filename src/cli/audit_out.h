/* audit_out.h: the lines of `suture audit`'s text report that a
 * safetensors audit (cmd_audit.c) and a GGUF audit (gguf_audit_cmds.c)
 * print alike. Names and messages are escaped with cli_text. */
#ifndef SUTURE_CLI_AUDIT_OUT_H
#define SUTURE_CLI_AUDIT_OUT_H

#include <stddef.h>

#include "suture/audit.h"

/* Origin i of report r, and the name of base i. */
typedef const audit_origin *(*audit_out_origin_fn)(const void *r, size_t i);
typedef const char *(*audit_out_name_fn)(const void *r, size_t i);

/* "SEVERITY CODE: MESSAGE" */
void audit_out_finding(const audit_finding *f);
/* "provenance: 0-7 <- base 0-7; 8-11 <- base 4-7; 12 unmatched" from the
 * n origins of r; nothing when n is 0. */
void audit_out_trace(const void *r, size_t n, audit_out_origin_fn at,
                     audit_out_name_fn name);
/* "N errors, N warnings, N notes" and the newline. */
void audit_out_counts(size_t errors, size_t warnings, size_t notes);

#endif
