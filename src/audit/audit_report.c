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

/* The base name of a slice or origin, or NULL for the model itself. */
static const char *base_label(const audit_report *r, long base)
{
    return base >= 0 && (size_t)base < r->nbases ? r->bases[base].name : NULL;
}

static cJSON *json_u64(uint64_t v)
{
    return cJSON_CreateNumber((double)v);
}

static cJSON *findings_json(const audit_report *r)
{
    cJSON *arr = cJSON_CreateArray();
    size_t i;

    for (i = 0; arr && i < r->nfindings; i++) {
        const audit_finding *f = &r->findings[i];
        cJSON *o = cJSON_CreateObject();
        if (!cJSON_AddItemToArray(arr, o) ||
            !cJSON_AddStringToObject(o, "code", f->code) ||
            !cJSON_AddStringToObject(o, "severity", audit_severity_name(f->severity)) ||
            !cJSON_AddStringToObject(o, "message", f->message) ||
            !(f->place ? cJSON_AddStringToObject(o, "place", f->place)
                       : cJSON_AddNullToObject(o, "place"))) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

static cJSON *groups_json(const audit_report *r)
{
    cJSON *arr = cJSON_CreateArray();
    size_t i, j;

    for (i = 0; arr && i < r->ngroups; i++) {
        cJSON *g = cJSON_CreateArray();
        if (!cJSON_AddItemToArray(arr, g)) {
            cJSON_Delete(arr);
            return NULL;
        }
        for (j = 0; j < r->group_sizes[i]; j++)
            if (!cJSON_AddItemToArray(g, json_u64(r->groups[i][j]))) {
                cJSON_Delete(arr);
                return NULL;
            }
    }
    return arr;
}

/* Adds "model": NAME (or null) to o. */
static bool add_model(cJSON *o, const char *key, const char *name)
{
    return name ? cJSON_AddStringToObject(o, key, name) != NULL
                : cJSON_AddNullToObject(o, key) != NULL;
}

static cJSON *slices_json(const audit_report *r)
{
    cJSON *arr = cJSON_CreateArray();
    size_t i;

    for (i = 0; arr && i < r->nslices; i++) {
        const audit_slice *s = &r->slices[i];
        cJSON *o = cJSON_CreateObject();
        cJSON *layers = NULL;
        if (!cJSON_AddItemToArray(arr, o) || !add_model(o, "model", base_label(r, s->base)) ||
            !(layers = cJSON_AddArrayToObject(o, "layers")) ||
            !cJSON_AddItemToArray(layers, json_u64(s->start)) ||
            !cJSON_AddItemToArray(layers, json_u64(s->end))) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

static cJSON *origins_json(const audit_report *r)
{
    cJSON *arr = cJSON_CreateArray();
    size_t i;

    for (i = 0; arr && i < r->norigins; i++) {
        const audit_origin *o = &r->origins[i];
        cJSON *e = cJSON_CreateObject();
        if (!cJSON_AddItemToArray(arr, e) ||
            !cJSON_AddNumberToObject(e, "layer", o->layer) ||
            !add_model(e, "model", base_label(r, o->base)) ||
            !(o->base >= 0 ? cJSON_AddNumberToObject(e, "source_layer", (double)o->source_layer)
                           : cJSON_AddNullToObject(e, "source_layer"))) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* {"model": NAME, "layer": N} */
static cJSON *end_json(const char *name, unsigned layer)
{
    cJSON *o = cJSON_CreateObject();

    if (!o || !cJSON_AddStringToObject(o, "model", name) ||
        !cJSON_AddNumberToObject(o, "layer", layer)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *seams_json(const audit_report *r)
{
    cJSON *arr = cJSON_CreateArray();
    size_t i;

    for (i = 0; arr && i < r->nseams; i++) {
        const audit_seam *s = &r->seams[i];
        cJSON *e = cJSON_CreateObject();
        if (!cJSON_AddItemToArray(arr, e) ||
            !cJSON_AddNumberToObject(e, "index", s->index) ||
            !cJSON_AddItemToObject(e, "from", end_json(r->bases[s->from_base].name, s->from_layer)) ||
            !cJSON_AddItemToObject(e, "to", end_json(r->bases[s->to_base].name, s->to_layer)) ||
            !cJSON_AddNumberToObject(e, "jump", (double)s->jump)) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* Adds item under key, deleting it (and failing) when that cannot be done. */
static bool add_item(cJSON *o, const char *key, cJSON *item)
{
    if (!item)
        return false;
    if (!cJSON_AddItemToObject(o, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

cJSON *audit_to_json(const audit_report *r)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL;

    ok = ok && cJSON_AddStringToObject(o, "path", r->path);
    ok = ok && (r->m ? cJSON_AddNumberToObject(o, "layer_count", model_layer_count(r->m))
                     : cJSON_AddNullToObject(o, "layer_count"));
    ok = ok && add_item(o, "parameter_count", json_u64(audit_parameter_count(r)));
    ok = ok && (r->expected ? add_item(o, "expected_parameters", json_u64(r->expected))
                            : cJSON_AddNullToObject(o, "expected_parameters") != NULL);
    ok = ok && add_item(o, "data_bytes", json_u64(r->m ? model_data_bytes(r->m) : 0));
    ok = ok && add_item(o, "errors", json_u64(audit_count(r, AUDIT_ERROR)));
    ok = ok && add_item(o, "warnings", json_u64(audit_count(r, AUDIT_WARNING)));
    ok = ok && add_item(o, "findings", findings_json(r));
    ok = ok && add_item(o, "duplicates", groups_json(r));
    ok = ok && add_item(o, "slices", slices_json(r));
    if (ok && r->nbases > 0) {
        ok = add_item(o, "provenance", origins_json(r));
        ok = ok && add_item(o, "seams", seams_json(r));
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
