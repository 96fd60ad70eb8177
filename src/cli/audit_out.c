/* audit_out.c: text lines of an audit report (see audit_out.h). */
#include <stdio.h>

#include "cli.h"
#include "audit_out.h"

void audit_out_finding(const audit_finding *f)
{
    printf("%s %s: %s\n", audit_severity_name(f->severity), f->code, cli_text(f->message));
}

/* The last origin of the run that starts at origin i. */
static size_t run_end(const void *r, size_t n, audit_out_origin_fn at, size_t i)
{
    const audit_origin *o = at(r, i);
    size_t j;

    for (j = i; j + 1 < n; j++) {
        const audit_origin *p = at(r, j), *q = at(r, j + 1);
        if (q->base != o->base || (o->base >= 0 && q->source_layer != p->source_layer + 1))
            break;
    }
    return j;
}

void audit_out_trace(const void *r, size_t n, audit_out_origin_fn at,
                     audit_out_name_fn name)
{
    size_t i = 0, j;

    if (n == 0)
        return;
    printf("provenance:");
    while (i < n) {
        const audit_origin *o = at(r, i);
        j = run_end(r, n, at, i);
        printf("%s %zu", i ? ";" : "", i);
        if (j > i)
            printf("-%zu", j);
        if (o->base < 0)
            printf(" unmatched");
        else if (j > i)
            printf(" <- %s %ld-%ld", cli_text(name(r, (size_t)o->base)), o->source_layer,
                   at(r, j)->source_layer);
        else
            printf(" <- %s %ld", cli_text(name(r, (size_t)o->base)), o->source_layer);
        i = j + 1;
    }
    printf("\n");
}

void audit_out_counts(size_t errors, size_t warnings, size_t notes)
{
    printf("%zu error%s, %zu warning%s, %zu note%s\n", errors, errors == 1 ? "" : "s",
           warnings, warnings == 1 ? "" : "s", notes, notes == 1 ? "" : "s");
}
