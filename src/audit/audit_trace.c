/* audit_trace.c: provenance. Each layer is traced to the base layer whose
 * tensors are all byte-identical to it; seams are where the trace jumps;
 * a layer whose attention kind differs from its source's is flagged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/audit.h"
#include "audit_int.h"

int audit_open_bases(audit_report *r, arch_table *arches, const audit_options *opt,
                     sut_error *err)
{
    size_t i;

    if (!(r->bases = calloc(opt->nbases, sizeof(*r->bases)))) {
        sut_error_oom(err, NULL);
        return -1;
    }
    for (i = 0; i < opt->nbases; i++) {
        audit_hashed *b = &r->bases[r->nbases++];
        if (!(b->name = strdup(opt->bases[i].name))) {
            sut_error_oom(err, NULL);
            return -1;
        }
        if (!(b->m = model_open(opt->bases[i].path, arches, MODEL_LENIENT, err))) {
            sut_error_prefix(err, "base '%s'", b->name);
            return -1;
        }
    }
    return 0;
}

static int hash_bases(audit_report *r, const audit_options *opt, sut_error *err)
{
    size_t i;

    for (i = 0; i < r->nbases; i++)
        if (audit_hash_fill(&r->bases[i], opt->threads, &r->meter, err) != 0) {
            sut_error_prefix(err, "base '%s'", r->bases[i].name);
            return -1;
        }
    return 0;
}

/* True when layer j of base b holds layer i's tensors. */
static bool matches(const audit_report *r, unsigned i, size_t b, unsigned j)
{
    return j < model_layer_count(r->bases[b].m) &&
           audit_layers_equal(&r->self, i, &r->bases[b], j);
}

/* The base layer layer i comes from, preferring the layer after the
 * previous layer's source, then the previous layer's base. */
static audit_origin trace_layer(const audit_report *r, unsigned i,
                                const audit_origin *prev)
{
    audit_origin o = {i, -1, -1};
    size_t b, pass;
    unsigned j;

    if (prev && prev->base >= 0 &&
        matches(r, i, (size_t)prev->base, (unsigned)prev->source_layer + 1))
        return (audit_origin){i, prev->base, prev->source_layer + 1};
    for (pass = 0; pass < 2; pass++)
        for (b = 0; b < r->nbases; b++) {
            bool same = prev && prev->base == (long)b;
            if ((pass == 0) != same)
                continue;
            for (j = 0; j < model_layer_count(r->bases[b].m); j++)
                if (matches(r, i, b, j))
                    return (audit_origin){i, (long)b, (long)j};
        }
    return o;
}

static void report_unmatched(audit_report *r)
{
    size_t i = 0, j;

    while (i < r->norigins) {
        char range[32], place[48];
        if (r->origins[i].base >= 0) {
            i++;
            continue;
        }
        for (j = i; j + 1 < r->norigins && r->origins[j + 1].base < 0; j++)
            ;
        audit_range((unsigned)i, (unsigned)j, range, sizeof(range));
        snprintf(place, sizeof(place), "layer %s", range);
        audit_add(r, "unmatched-layer", AUDIT_INFO, place,
                  "layer%s %s match%s no layer of the bases byte for byte",
                  i == j ? "" : "s", range, i == j ? "es" : "");
        i = j + 1;
    }
}

static void add_seam(audit_report *r, const audit_origin *a, const audit_origin *b)
{
    audit_seam *s = &r->seams[r->nseams++];
    char place[32];

    *s = (audit_seam){b->layer, (size_t)a->base, (size_t)b->base,
                      (unsigned)a->source_layer, (unsigned)b->source_layer,
                      b->source_layer - a->source_layer};
    snprintf(place, sizeof(place), "layer %u", b->layer);
    if (a->base != b->base)
        audit_add(r, "seam", AUDIT_INFO, place,
                  "layer %u: %s layer %u -> %s layer %u (donor switch)", b->layer,
                  r->bases[a->base].name, s->from_layer, r->bases[b->base].name,
                  s->to_layer);
    else
        audit_add(r, "seam", AUDIT_INFO, place,
                  "layer %u: %s layer %u -> %u (jump %+ld)", b->layer,
                  r->bases[a->base].name, s->from_layer, s->to_layer, s->jump);
}

static void find_seams(audit_report *r)
{
    size_t i;

    for (i = 1; i < r->norigins; i++) {
        const audit_origin *a = &r->origins[i - 1], *b = &r->origins[i];
        if (a->base < 0 || b->base < 0)
            continue;
        if (a->base != b->base || b->source_layer != a->source_layer + 1)
            add_seam(r, a, b);
    }
}

static const char *kind_name(char k)
{
    return k == 's' ? "sliding-window" : "global";
}

static void check_parity(audit_report *r)
{
    const model *m = r->m;
    size_t i;

    for (i = 0; i < r->norigins; i++) {
        const audit_origin *o = &r->origins[i];
        const model *src;
        char was, is;
        char place[32];
        if (o->base < 0)
            continue;
        src = r->bases[o->base].m;
        was = arch_attention_kind(model_arch(src), model_config(src),
                                  (unsigned)o->source_layer);
        is = arch_attention_kind(model_arch(m), model_config(m), o->layer);
        if (was == '?' || is == '?' || was == is)
            continue;
        snprintf(place, sizeof(place), "layer %u", o->layer);
        audit_add(r, "sliding-parity-shift", AUDIT_WARNING, place,
                  "layer %u comes from %s layer %ld, which uses %s attention, but "
                  "uses %s attention here", o->layer, r->bases[o->base].name,
                  o->source_layer, kind_name(was), kind_name(is));
    }
}

/* Slices from the trace when every layer matched: runs of consecutive
 * source layers of one base. Replaces slices from duplicates. */
static int trace_slices(audit_report *r)
{
    size_t i;

    for (i = 0; i < r->norigins; i++)
        if (r->origins[i].base < 0)
            return 0;
    free(r->slices);
    r->nslices = 0;
    if (!(r->slices = calloc(r->norigins ? r->norigins : 1, sizeof(*r->slices))))
        return -1;
    for (i = 0; i < r->norigins; i++) {
        const audit_origin *o = &r->origins[i];
        audit_slice *last = r->nslices ? &r->slices[r->nslices - 1] : NULL;
        if (last && last->base == o->base && last->end == (unsigned)o->source_layer)
            last->end++;
        else
            r->slices[r->nslices++] = (audit_slice){o->base, (unsigned)o->source_layer,
                                                    (unsigned)o->source_layer + 1};
    }
    return 0;
}

/* Which base each tensor outside the layers comes from. */
static void report_donors(audit_report *r)
{
    char msg[SUT_ERROR_MAX];
    size_t i, b, o = 0;

    msg[0] = '\0';
    for (i = 0; i < model_tensor_count(r->m) && o < sizeof(msg); i++) {
        const model_tensor *t = model_tensor_at(r->m, i);
        const char *from = NULL;
        if (t->role == MODEL_LAYER)
            continue;
        for (b = 0; b < r->nbases && !from; b++) {
            const model_tensor *s = model_find(r->bases[b].m, t->t->name);
            size_t k = s ? (size_t)(s - model_tensor_at(r->bases[b].m, 0)) : 0;
            if (s && s->t->dtype == t->t->dtype && s->t->elements == t->t->elements &&
                r->bases[b].hashes[k].lo == r->self.hashes[i].lo &&
                r->bases[b].hashes[k].hi == r->self.hashes[i].hi)
                from = r->bases[b].name;
        }
        o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%s'%s' %s%s", o ? ", " : "",
                              t->t->name, from ? "from " : "matches no base",
                              from ? from : "");
    }
    if (o)
        audit_add(r, "donors", AUDIT_INFO, NULL, "outside the layers: %s", msg);
}

int audit_trace(audit_report *r, arch_table *arches, const audit_options *opt,
                sut_error *err)
{
    unsigned i, n = model_layer_count(r->m);

    if (hash_bases(r, opt, err) != 0)
        return -1;
    r->origins = calloc(n ? n : 1, sizeof(*r->origins));
    r->seams = calloc(n ? n : 1, sizeof(*r->seams));
    if (!r->origins || !r->seams) {
        sut_error_oom(err, NULL);
        return -1;
    }
    for (i = 0; i < n; i++) {
        r->origins[i] = trace_layer(r, i, i ? &r->origins[i - 1] : NULL);
        r->norigins++;
    }
    report_unmatched(r);
    find_seams(r);
    check_parity(r);
    report_donors(r);
    if (trace_slices(r) != 0) {
        sut_error_oom(err, NULL);
        return -1;
    }
    return 0;
}
