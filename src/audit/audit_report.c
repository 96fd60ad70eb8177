/* audit_report.c: the findings store and the report an audit returns
 * (see audit.h); the check files record into it with audit_add. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/audit.h"
#include "audit_int.h"
#include "common/checked.h"
#include "common/util.h"

const char *audit_severity_name(audit_severity s)
{
    switch (s) {
    case AUDIT_INFO: return "info";
    case AUDIT_WARNING: return "warning";
    case AUDIT_ERROR: return "error";
    }
    return "?";
}

/* True when code already has AUDIT_LIST_MAX findings of severity sev:
 * this one is counted in r->unlisted instead. */
static bool count_unlisted(audit_report *r, const char *code, audit_severity sev)
{
    size_t i, n = 0;

    if (r->uncapped)
        return false;
    for (i = 0; i < r->nfindings; i++)
        n += r->findings[i].severity == sev && strcmp(r->findings[i].code, code) == 0;
    if (n < AUDIT_LIST_MAX)
        return false;
    for (i = 0; i < AUDIT_CODES; i++) {
        if (!r->unlisted[i].code ||
            (r->unlisted[i].sev == sev && strcmp(r->unlisted[i].code, code) == 0)) {
            r->unlisted[i].code = code;
            r->unlisted[i].sev = sev;
            r->unlisted[i].count++;
            return true;
        }
    }
    return false;
}

/* One finding per code past AUDIT_LIST_MAX: how many more there were. */
void audit_add_unlisted(audit_report *r)
{
    size_t i;

    r->uncapped = true;
    for (i = 0; i < AUDIT_CODES && r->unlisted[i].code; i++)
        audit_add(r, r->unlisted[i].code, r->unlisted[i].sev, NULL,
                  "%zu more findings like the %d above are not listed",
                  r->unlisted[i].count, AUDIT_LIST_MAX);
}

void audit_add(audit_report *r, const char *code, audit_severity sev,
               const char *place, const char *fmt, ...)
{
    char buf[SUT_ERROR_MAX];
    audit_finding *grown, *f;
    va_list ap;

    if (count_unlisted(r, code, sev))
        return;
    va_start(ap, fmt);
    sut_vline(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    grown = realloc(r->findings, (r->nfindings + 1) * sizeof(*grown));
    if (!grown) {
        r->oom = true;
        return;
    }
    r->findings = grown;
    f = &grown[r->nfindings];
    f->code = code;
    f->severity = sev;
    f->message = strdup(buf);
    f->place = place ? strdup(place) : NULL;
    if (!f->message || (place && !f->place)) {
        free(f->message);
        free(f->place);
        r->oom = true;
        return;
    }
    r->nfindings++;
}

const char *audit_range(unsigned first, unsigned last, char *buf, size_t size)
{
    if (first == last)
        snprintf(buf, size, "%u", first);
    else
        snprintf(buf, size, "%u-%u", first, last);
    return buf;
}

void audit_free(audit_report *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->nfindings; i++) {
        free(r->findings[i].message);
        free(r->findings[i].place);
    }
    free(r->findings);
    audit_hashed_clear(&r->self);
    for (i = 0; i < r->nbases; i++)
        audit_hashed_clear(&r->bases[i]);
    free(r->bases);
    for (i = 0; i < r->ngroups; i++)
        free(r->groups[i]);
    free(r->groups);
    free(r->group_sizes);
    free(r->slices);
    free(r->origins);
    free(r->seams);
    free(r->path);
    free(r);
}

size_t audit_finding_count(const audit_report *r) { return r->nfindings; }
const audit_finding *audit_finding_at(const audit_report *r, size_t i) { return &r->findings[i]; }
const model *audit_model(const audit_report *r) { return r->m; }
uint64_t audit_expected_parameters(const audit_report *r) { return r->expected; }
size_t audit_duplicate_count(const audit_report *r) { return r->ngroups; }
size_t audit_slice_count(const audit_report *r) { return r->nslices; }
const audit_slice *audit_slice_at(const audit_report *r, size_t i) { return &r->slices[i]; }
size_t audit_origin_count(const audit_report *r) { return r->norigins; }
const audit_origin *audit_origin_at(const audit_report *r, size_t i) { return &r->origins[i]; }
size_t audit_seam_count(const audit_report *r) { return r->nseams; }
const audit_seam *audit_seam_at(const audit_report *r, size_t i) { return &r->seams[i]; }
const char *audit_base_name(const audit_report *r, size_t i) { return r->bases[i].name; }
size_t audit_base_count(const audit_report *r) { return r->nbases; }
const char *audit_path(const audit_report *r) { return r->path; }

size_t audit_count(const audit_report *r, audit_severity s)
{
    size_t i, n = 0;

    for (i = 0; i < r->nfindings; i++)
        n += r->findings[i].severity == s;
    return n;
}

uint64_t audit_parameter_count(const audit_report *r)
{
    return r->m ? model_parameter_count(r->m) : 0;
}

const unsigned *audit_duplicate_at(const audit_report *r, size_t i, size_t *n)
{
    *n = r->group_sizes[i];
    return r->groups[i];
}
