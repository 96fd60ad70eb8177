/* audit.c: the audit's driver: opens the model, runs the checks in order
 * (see audit.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/audit.h"
#include "audit_int.h"
#include "common/checked.h"
#include "common/util.h"

/* Opens the model leniently; when that fails, diagnoses the files. 1 when
 * opened, 0 when damage stopped it (findings say why), -1 when path holds
 * no checkpoint. */
static int open_model(audit_report *r, arch_table *arches, sut_error *err)
{
    sut_error why;
    int found;

    r->self.m = model_open(r->path, arches, MODEL_LENIENT, &why);
    if (r->self.m) {
        r->m = r->self.m;
        return 1;
    }
    found = audit_check_files(r, r->path, err);
    if (found < 0)
        return -1;
    if (found == 0)
        audit_add(r, strstr(why.msg, "is stored in both") ? "duplicate-tensor" : "unreadable",
                  AUDIT_ERROR, NULL, "%s", why.msg);
    return 0;
}

/* Sets up r->meter for the data of the model and of the opened bases. */
static int start_meter(audit_report *r, const audit_options *opt, sut_error *err)
{
    uint64_t total = model_data_bytes(r->m);
    size_t i;

    for (i = 0; i < r->nbases; i++)
        if (ck_add(total, model_data_bytes(r->bases[i].m), &total) != 0)
            total = UINT64_MAX;
    return work_meter_init(&r->meter, total, opt->progress, opt->progress_ctx, err);
}

/* The hash-based checks. 0 or -1 (err set). */
static int check_hashes(audit_report *r, arch_table *arches,
                        const audit_options *opt, sut_error *err)
{
    if (audit_hash_fill(&r->self, opt->threads, &r->meter, err) != 0)
        return -1;
    if (audit_check_head(r) != 0)
        return -1;
    audit_check_params(r);
    if (audit_find_duplicates(r) != 0) {
        sut_error_oom(err, r->path);
        return -1;
    }
    if (opt->nbases > 0 && audit_trace(r, arches, opt, err) != 0)
        return -1;
    return 0;
}

/* The checks that need the opened model. 0 or -1 (err set). */
static int check_model(audit_report *r, arch_table *arches,
                       const audit_options *opt, sut_error *err)
{
    int rc;

    audit_check_issues(r);
    audit_check_layers(r);
    if ((opt->nbases > 0 && audit_open_bases(r, arches, opt, err) != 0) ||
        start_meter(r, opt, err) != 0)
        return -1;
    rc = check_hashes(r, arches, opt, err);
    work_meter_destroy(&r->meter);
    return rc;
}

audit_report *audit_run(const char *path, arch_table *arches,
                        const audit_options *opt, sut_error *err)
{
    static const audit_options defaults;
    audit_report *r = calloc(1, sizeof(*r));
    int opened;

    if (!opt)
        opt = &defaults;
    if (!r || !(r->path = strdup(path))) {
        sut_error_oom(err, path);
        goto fail;
    }
    opened = open_model(r, arches, err);
    if (opened < 0)
        goto fail;
    if (opened > 0 && check_model(r, arches, opt, err) != 0)
        goto fail;
    audit_add_unlisted(r);
    if (r->oom) {
        sut_error_oom(err, path);
        goto fail;
    }
    return r;
fail:
    audit_free(r);
    return NULL;
}
