/* plan.c: from a recipe to a plan (see plan.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/format.h"
#include "suture/plan.h"
#include "suture/cfgedit.h"
#include "suture/convert.h"
#include "common/checked.h"
#include "common/util.h"
#include "layout.h"

#define OUT_LAYER_MAX 65536u
#define LIST_MAX 8 /* layers named in one aggregated warning */
#define SPLIT_MIN (1u << 20) /* see follow_source */

struct plan {
    const recipe *r;
    model **models;
    bool *used;              /* per model: in a slice or a donor */
    plan_donors donors;
    bool allow_mixed;
    bool has_dtype;
    st_dtype dtype;
    uint64_t limit;
    plan_layer *layers;
    size_t nlayers;
    plan_seam *seams;
    size_t nseams;
    plan_run *runs;
    size_t nruns;
    plan_tensor *tensors;
    size_t ntensors, cap_tensors;
    plan_shard *shards;
    size_t nshards;
    plan_warning *warnings;
    size_t nwarnings;
    cJSON *config;
    cfg_change *changes;
    size_t nchanges;
    uint64_t params_before, bytes_before, params, bytes;
    uint64_t shareable;      /* the shards' shareable bytes */
    char where[300];         /* "recipe.json: ", or "" for a spec */
};

/* ---- small helpers ---- */

static const char *mname(const plan *p, size_t i)
{
    return p->r->models[i].name;
}

/* What messages start with: "recipe.json: ", or "" (a spec has no file). */
static const char *where(const plan *p)
{
    return p->where;
}

static int oom(const plan *p, sut_error *err)
{
    sut_error_set(err, "%sout of memory", where(p));
    return -1;
}

static int warn(plan *p, const char *code, sut_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int warn(plan *p, const char *code, sut_error *err, const char *fmt, ...)
{
    char buf[SUT_ERROR_MAX];
    plan_warning *grown;
    va_list ap;

    va_start(ap, fmt);
    sut_vline(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    grown = realloc(p->warnings, (p->nwarnings + 1) * sizeof(*grown));
    if (!grown)
        return oom(p, err);
    p->warnings = grown;
    if (!(grown[p->nwarnings].message = strdup(buf)))
        return oom(p, err);
    grown[p->nwarnings++].code = code;
    return 0;
}

static bool is_float(st_dtype dt)
{
    switch (dt) {
    case ST_F16: case ST_BF16: case ST_F32: case ST_F64:
    case ST_F8_E5M2: case ST_F8_E4M3: case ST_F8_E8M0:
    case ST_F4: case ST_F6_E2M3: case ST_F6_E3M2:
    case ST_F8_E4M3FNUZ: case ST_F8_E5M2FNUZ:
        return true;
    default:
        return false;
    }
}

/* ---- models and donors ---- */

static int open_models(plan *p, arch_table *arches, sut_error *err)
{
    size_t i, j;

    p->models = calloc(p->r->nmodels ? p->r->nmodels : 1, sizeof(*p->models));
    p->used = calloc(p->r->nmodels ? p->r->nmodels : 1, sizeof(*p->used));
    if (!p->models || !p->used)
        return oom(p, err);
    for (i = 0; i < p->r->nmodels; i++) {
        p->models[i] = model_open(p->r->models[i].path, arches, MODEL_STRICT | MODEL_NEED_LAYERS, err);
        if (!p->models[i]) {
            sut_error_prefix(err, "%smodel '%s'", where(p), mname(p, i));
            return -1;
        }
        for (j = 0; j < model_issue_count(p->models[i]); j++) {
            const model_issue *is = model_issue_at(p->models[i], j);
            if (warn(p, is->code, err, "model '%s': %s", mname(p, i), is->message) != 0)
                return -1;
        }
    }
    return 0;
}

static size_t donor(long chosen, size_t fallback)
{
    return chosen >= 0 ? (size_t)chosen : fallback;
}

static int choose_donors(plan *p, sut_error *err)
{
    const recipe *r = p->r;
    size_t i;

    if (r->nslices == 0) {
        sut_error_set(err, "%sthe recipe has no slices", where(p));
        return -1;
    }
    p->donors.embed = donor(r->embed_from, r->slices[0].model);
    p->donors.config = donor(r->config_from, r->slices[0].model);
    p->donors.tokenizer = donor(r->tokenizer_from, r->slices[0].model);
    p->donors.head = donor(r->head_from, r->slices[r->nslices - 1].model);
    for (i = 0; i < r->nslices; i++)
        p->used[r->slices[i].model] = true;
    p->used[p->donors.embed] = p->used[p->donors.head] = true;
    p->used[p->donors.config] = p->used[p->donors.tokenizer] = true;
    return 0;
}

static int check_archs(plan *p, sut_error *err)
{
    const arch_family *first = NULL;
    size_t i, first_i = 0;

    for (i = 0; i < p->r->nmodels; i++) {
        const arch_family *f = model_arch(p->models[i]);
        if (!p->used[i])
            continue;
        if (!first) {
            first = f;
            first_i = i;
            continue;
        }
        if (strcmp(first->name, f->name) == 0)
            continue;
        if (!p->allow_mixed) {
            sut_error_set(err, "%smodels '%s' (%s) and '%s' (%s) have different "
                          "architectures (--allow-mixed to combine them)", where(p),
                          mname(p, first_i), first->name, mname(p, i), f->name);
            return -1;
        }
        if (warn(p, "mixed-architectures", err, "models '%s' (%s) and '%s' (%s) have "
                 "different architectures", mname(p, first_i), first->name,
                 mname(p, i), f->name) != 0)
            return -1;
    }
    return 0;
}

/* ---- the layer map ---- */

static int check_range(plan *p, size_t si, sut_error *err)
{
    const recipe_slice *s = &p->r->slices[si];
    unsigned count = model_layer_count(p->models[s->model]);
    size_t k, n;

    if (s->end > count) {
        char range[64] = "no layers";
        if (count > 0)
            snprintf(range, sizeof(range), "%u layer%s (0-%u)", count, count == 1 ? "" : "s",
                     count - 1);
        sut_error_set(err, "%sslices[%zu]: layers [%u, %u) of model '%s' are out of "
                      "range: it has %s", where(p), si, s->start, s->end,
                      mname(p, s->model), range);
        return -1;
    }
    for (k = s->start; k < s->end; k++) {
        model_layer_tensors(p->models[s->model], (unsigned)k, &n);
        if (n == 0) {
            sut_error_set(err, "%sslices[%zu]: layer %zu of model '%s' has no tensors",
                          where(p), si, k, mname(p, s->model));
            return -1;
        }
    }
    if (s->start == s->end)
        return warn(p, "empty-slice", err, "slices[%zu]: layers [%u, %u) of '%s' is "
                    "empty", si, s->start, s->end, mname(p, s->model));
    return 0;
}

static int map_layers(plan *p, sut_error *err)
{
    const recipe *r = p->r;
    uint64_t total = 0;
    size_t si, o = 0;
    unsigned k;

    for (si = 0; si < r->nslices; si++) {
        if (check_range(p, si, err) != 0)
            return -1;
        total += r->slices[si].end - r->slices[si].start;
        if (total > OUT_LAYER_MAX) {
            sut_error_set(err, "%sthe output would have over %u layers", where(p),
                          OUT_LAYER_MAX);
            return -1;
        }
    }
    if (total == 0) {
        sut_error_set(err, "%sthe output has no layers (every slice is empty)", where(p));
        return -1;
    }
    if (!(p->layers = calloc(total, sizeof(*p->layers))))
        return oom(p, err);
    for (si = 0; si < r->nslices; si++)
        for (k = r->slices[si].start; k < r->slices[si].end; k++, o++) {
            p->layers[o].index = (unsigned)o;
            p->layers[o].model = r->slices[si].model;
            p->layers[o].source_layer = k;
            p->layers[o].slice = si;
            p->layers[o].k = k - r->slices[si].start;
        }
    p->nlayers = total;
    return 0;
}

static bool continues(const plan_layer *a, const plan_layer *b)
{
    return a->model == b->model && b->source_layer == a->source_layer + 1;
}

static int find_seams(plan *p, sut_error *err)
{
    size_t i;

    if (!(p->seams = calloc(p->nlayers, sizeof(*p->seams))))
        return oom(p, err);
    for (i = 1; i < p->nlayers; i++) {
        const plan_layer *a = &p->layers[i - 1], *b = &p->layers[i];
        plan_seam *s;
        if (continues(a, b))
            continue;
        s = &p->seams[p->nseams++];
        s->index = b->index;
        s->from_model = a->model;
        s->to_model = b->model;
        s->from_layer = a->source_layer;
        s->to_layer = b->source_layer;
        s->jump = (long)b->source_layer - (long)a->source_layer;
    }
    return 0;
}

static int make_runs(plan *p, sut_error *err)
{
    size_t i;

    if (!(p->runs = calloc(p->nlayers, sizeof(*p->runs))))
        return oom(p, err);
    for (i = 0; i < p->nlayers; i++) {
        const plan_layer *l = &p->layers[i];
        plan_run *run = p->nruns ? &p->runs[p->nruns - 1] : NULL;
        if (run && continues(&p->layers[i - 1], l) &&
            (l->slice == p->layers[i - 1].slice || (!run->scaled && !l->scaled))) {
            run->out_last = l->index;
            run->src_last = l->source_layer;
            run->scaled |= l->scaled;
            continue;
        }
        run = &p->runs[p->nruns++];
        run->out_first = run->out_last = l->index;
        run->model = l->model;
        run->src_first = run->src_last = l->source_layer;
        run->scaled = l->scaled;
    }
    return 0;
}

/* ---- layer tensor sets ---- */

/* The names within a layer that most layers of a model have (sorted);
 * a tensor only some layers have is an extra that travels with its layer. */
struct common {
    const char **names;
    size_t n;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool in_common(const struct common *c, const char *local)
{
    return bsearch(&local, c->names, c->n, sizeof(*c->names), cmp_str) != NULL;
}

static int common_names(const model *m, struct common *c, sut_error *err)
{
    size_t total = 0, i, j, n, filled = 0, nonempty = 0;
    const char **all;
    unsigned l;

    for (l = 0; l < model_layer_count(m); l++) {
        model_layer_tensors(m, l, &n);
        total += n;
        nonempty += n > 0;
    }
    if (!(all = malloc((total ? total : 1) * sizeof(*all))) ||
        !(c->names = malloc((total ? total : 1) * sizeof(*c->names)))) {
        free(all);
        sut_error_oom(err, model_path(m));
        return -1;
    }
    for (l = 0; l < model_layer_count(m); l++) {
        const size_t *idx = model_layer_tensors(m, l, &n);
        for (j = 0; j < n; j++)
            all[filled++] = model_tensor_at(m, idx[j])->local;
    }
    qsort(all, total, sizeof(*all), cmp_str);
    for (i = 0; i < total; i = j) {
        for (j = i + 1; j < total && strcmp(all[i], all[j]) == 0; j++)
            ;
        if (2 * (j - i) > nonempty)
            c->names[c->n++] = all[i];
    }
    free(all);
    return 0;
}

/* Which common tensor of a used layer is missing, or NULL. */
static const char *missing_in_layer(const model *m, unsigned layer,
                                    const struct common *c)
{
    size_t n, i, j;
    const size_t *idx = model_layer_tensors(m, layer, &n);

    for (i = 0; i < c->n; i++) {
        for (j = 0; j < n; j++)
            if (strcmp(model_tensor_at(m, idx[j])->local, c->names[i]) == 0)
                break;
        if (j == n)
            return c->names[i];
    }
    return NULL;
}

/* The first name of a that b lacks, or NULL. */
static const char *first_missing(const struct common *a, const struct common *b)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        if (!in_common(b, a->names[i]))
            return a->names[i];
    return NULL;
}

/* The common sets of two slice models must name the same tensors. */
static int compare_sets(plan *p, size_t a, const struct common *ca, size_t b,
                        const struct common *cb, sut_error *err)
{
    const char *miss;

    if ((miss = first_missing(ca, cb))) {
        sut_error_set(err, "%slayer tensor '%s' is in the layers of '%s' but not in those "
                      "of '%s'", where(p), miss, mname(p, a), mname(p, b));
        return -1;
    }
    if ((miss = first_missing(cb, ca))) {
        sut_error_set(err, "%slayer tensor '%s' is in the layers of '%s' but not in those "
                      "of '%s'", where(p), miss, mname(p, b), mname(p, a));
        return -1;
    }
    return 0;
}

/* The source tensor named local in a layer, or NULL. */
static const model_tensor *layer_tensor(const model *m, unsigned layer,
                                        const char *local)
{
    size_t n, j;
    const size_t *idx = model_layer_tensors(m, layer, &n);

    for (j = 0; j < n; j++)
        if (strcmp(model_tensor_at(m, idx[j])->local, local) == 0)
            return model_tensor_at(m, idx[j]);
    return NULL;
}

/* Every used layer has the common tensors with the shapes of output
 * layer 0; extras are warned about. */
static int check_layer(plan *p, const plan_layer *l, const struct common *cs,
                       sut_error *err)
{
    const plan_layer *ref = &p->layers[0];
    const model *m = p->models[l->model], *rm = p->models[ref->model];
    const arch_family *f = model_arch(m);
    const char *miss = missing_in_layer(m, l->source_layer, &cs[l->model]);
    const size_t *idx;
    size_t n, j;

    /* a family whose config lists layers of another kind (qwen2_moe's
     * mlp_only_layers) may differ between layers; cfg_rewrite remaps it */
    if (miss && !(f->layer_lists && f->layer_lists[0])) {
        sut_error_set(err, "%sslices[%zu]: layer %u of '%s' lacks layer tensor '%s' that "
                      "its other layers have", where(p), l->slice, l->source_layer,
                      mname(p, l->model), miss);
        return -1;
    }
    idx = model_layer_tensors(m, l->source_layer, &n);
    for (j = 0; j < n; j++) {
        const model_tensor *t = model_tensor_at(m, idx[j]), *rt;
        char sa[256], sb[256];
        if (!in_common(&cs[l->model], t->local)) {
            if (warn(p, "layer-extra-tensor", err, "output layer %u carries '%s' of '%s' "
                     "layer %u, which most layers lack", l->index, t->local,
                     mname(p, l->model), l->source_layer) != 0)
                return -1;
            continue;
        }
        rt = layer_tensor(rm, ref->source_layer, t->local);
        if (!rt || st_same_shape(rt->t, t->t))
            continue;
        fmt_shape(rt->t->shape, rt->t->ndim, sa, sizeof(sa));
        fmt_shape(t->t->shape, t->t->ndim, sb, sizeof(sb));
        sut_error_set(err, "%slayer tensor '%s': shape %s in '%s' layer %u but %s in '%s' "
                      "layer %u", where(p), t->local, sa, mname(p, ref->model),
                      ref->source_layer, sb, mname(p, l->model), l->source_layer);
        return -1;
    }
    return 0;
}

static int check_layer_sets(plan *p, sut_error *err)
{
    size_t nm = p->r->nmodels, i, first = SIZE_MAX;
    struct common *cs = calloc(nm ? nm : 1, sizeof(*cs));
    bool *in_slice = calloc(nm ? nm : 1, sizeof(*in_slice));
    int rc = -1;

    if (!cs || !in_slice) {
        oom(p, err);
        goto out;
    }
    for (i = 0; i < p->r->nslices; i++)
        in_slice[p->r->slices[i].model] = true;
    for (i = 0; i < nm; i++) {
        if (!in_slice[i])
            continue;
        if (common_names(p->models[i], &cs[i], err) != 0)
            goto out;
        if (first == SIZE_MAX)
            first = i;
        else if (compare_sets(p, first, &cs[first], i, &cs[i], err) != 0)
            goto out;
    }
    for (i = 0; i < p->nlayers; i++)
        if (check_layer(p, &p->layers[i], cs, err) != 0)
            goto out;
    rc = 0;
out:
    for (i = 0; cs && i < nm; i++)
        free(cs[i].names);
    free(cs);
    free(in_slice);
    return rc;
}

/* ---- donors' sizes ---- */

/* A model's input embedding (head false) or output head (head true), or
 * NULL. */
static const model_tensor *find_edge(const model *m, bool head)
{
    const arch_family *f = model_arch(m);
    size_t i;

    for (i = 0; i < model_tensor_count(m); i++) {
        const model_tensor *t = model_tensor_at(m, i);
        if (t->role != MODEL_LAYER &&
            (head ? arch_is_output(f, t->t->name) : arch_is_embed(f, t->t->name)))
            return t;
    }
    return NULL;
}

/* [vocab, hidden] of a 2-D tensor, or false. */
static bool dims_of(const model_tensor *t, uint64_t *vocab, uint64_t *hidden)
{
    if (!t || t->t->ndim != 2)
        return false;
    *vocab = t->t->shape[0];
    *hidden = t->t->shape[1];
    return true;
}

/* The head of a model: its head tensor, else (tied) its embeddings. */
static bool head_dims(const model *m, uint64_t *vocab, uint64_t *hidden)
{
    return dims_of(find_edge(m, true), vocab, hidden) ||
           dims_of(find_edge(m, false), vocab, hidden);
}

static int compare_dims(plan *p, const char *what_a, size_t a, uint64_t va, uint64_t ha,
                        const char *what_b, size_t b, uint64_t vb, uint64_t hb,
                        sut_error *err)
{
    if (va != vb) {
        sut_error_set(err, "%s%s donor '%s' and %s donor '%s' differ in vocabulary size: "
                      "%llu vs %llu", where(p), what_a, mname(p, a), what_b, mname(p, b),
                      (unsigned long long)va, (unsigned long long)vb);
        return -1;
    }
    if (ha != hb) {
        sut_error_set(err, "%s%s donor '%s' and %s donor '%s' differ in hidden size: "
                      "%llu vs %llu", where(p), what_a, mname(p, a), what_b, mname(p, b),
                      (unsigned long long)ha, (unsigned long long)hb);
        return -1;
    }
    return 0;
}

/* Each slice model's own embeddings have the embed donor's hidden size. */
static int check_layer_hidden(plan *p, uint64_t hidden, sut_error *err)
{
    size_t i;
    uint64_t v, h;

    for (i = 0; i < p->r->nslices; i++) {
        size_t mi = p->r->slices[i].model;
        if (!dims_of(find_edge(p->models[mi], false), &v, &h) || h == hidden)
            continue;
        sut_error_set(err, "%sembed donor '%s' and layer donor '%s' differ in hidden size: "
                      "%llu vs %llu", where(p), mname(p, p->donors.embed), mname(p, mi),
                      (unsigned long long)hidden, (unsigned long long)h);
        return -1;
    }
    return 0;
}

static int check_donor_dims(plan *p, sut_error *err)
{
    const model *e = p->models[p->donors.embed], *h = p->models[p->donors.head];
    const model *c = p->models[p->donors.config];
    uint64_t ev, eh, hv, hh, cv, ch;

    if (!dims_of(find_edge(e, false), &ev, &eh))
        return 0;
    if (head_dims(h, &hv, &hh) &&
        compare_dims(p, "embed", p->donors.embed, ev, eh, "head", p->donors.head, hv, hh,
                     err) != 0)
        return -1;
    if (p->donors.config != p->donors.embed &&
        dims_of(find_edge(c, false), &cv, &ch) &&
        compare_dims(p, "embed", p->donors.embed, ev, eh, "config", p->donors.config, cv,
                     ch, err) != 0)
        return -1;
    return check_layer_hidden(p, eh, err);
}

/* ---- output tensors ---- */

static int push_tensor(plan *p, char *name, size_t mi, const model_tensor *src,
                       long layer, double scale, sut_error *err)
{
    plan_tensor *t;

    if (p->ntensors == p->cap_tensors) {
        size_t cap = p->cap_tensors ? 2 * p->cap_tensors : 64;
        plan_tensor *grown = realloc(p->tensors, cap * sizeof(*grown));
        if (!grown) {
            free(name);
            return oom(p, err);
        }
        p->tensors = grown;
        p->cap_tensors = cap;
    }
    t = &p->tensors[p->ntensors++];
    memset(t, 0, sizeof(*t));
    t->name = name;
    t->model = mi;
    t->src = src;
    t->role = layer >= 0 ? MODEL_LAYER : src->role;
    t->layer = layer;
    t->scale = scale;
    return 0;
}

static int push_copy(plan *p, const char *name, size_t mi, const model_tensor *src,
                     long layer, double scale, sut_error *err)
{
    char *dup = strdup(name);

    if (!dup)
        return oom(p, err);
    return push_tensor(p, dup, mi, src, layer, scale, err);
}

static int add_role(plan *p, size_t mi, model_role role, sut_error *err)
{
    const model *m = p->models[mi];
    size_t i;

    for (i = 0; i < model_tensor_count(m); i++) {
        const model_tensor *t = model_tensor_at(m, i);
        if (t->role == role && push_copy(p, t->t->name, mi, t, -1, 1.0, err) != 0)
            return -1;
    }
    return 0;
}

static bool warned_cancel(const plan *p, size_t slice, const char *local, size_t upto)
{
    size_t i;

    for (i = 0; i < upto; i++) {
        const plan_tensor *t = &p->tensors[i];
        if (t->layer >= 0 && p->layers[t->layer].slice == slice && t->scale != 0 &&
            t->scale != 1 && strcmp(t->src->local, local) == 0)
            return true;
    }
    return false;
}

static int note_scale(plan *p, plan_layer *l, const model_tensor *t, double s,
                      sut_error *err)
{
    const arch_family *f = model_arch(p->models[l->model]);

    if (s == 1)
        return 0;
    l->scaled = true;
    if (s == 0 || !arch_scale_cancelled(f, t->local) ||
        warned_cancel(p, l->slice, t->local, p->ntensors - 1))
        return 0;
    return warn(p, "scale-cancelled", err, "slices[%zu]: scale %g on '%s' of '%s' is "
                "undone by the norm that follows it in %s (%s)", l->slice, s, t->local,
                mname(p, l->model), f->name,
                s < 0 ? "only its sign survives" : "only 0 and 1 survive");
}

static int add_layer(plan *p, plan_layer *l, const arch_family *out_f, sut_error *err)
{
    const model *m = p->models[l->model];
    const arch_family *f = model_arch(m);
    const recipe_slice *s = &p->r->slices[l->slice];
    size_t n, j;
    const size_t *idx = model_layer_tensors(m, l->source_layer, &n);

    for (j = 0; j < n; j++) {
        const model_tensor *t = model_tensor_at(m, idx[j]);
        char *name = arch_rename(f, t->t->name, l->index);
        double sc = recipe_scale_for(s, t->local, l->k, s->end - s->start);
        if (!name)
            return oom(p, err);
        if (f != out_f && arch_layer_of(out_f, name, NULL, NULL, NULL) != (long)l->index) {
            sut_error_set(err, "%stensor '%s' of '%s' does not fit the layer names of %s "
                          "(the config donor's family)", where(p), t->t->name,
                          mname(p, l->model), out_f->name);
            free(name);
            return -1;
        }
        if (push_tensor(p, name, l->model, t, l->index, sc, err) != 0 ||
            note_scale(p, l, t, sc, err) != 0)
            return -1;
    }
    return 0;
}

/* True when the output config ties the head to the embeddings. */
static bool out_tied(const plan *p)
{
    const model *c = p->models[p->donors.config];

    return arch_tied(model_arch(c), model_config(c));
}

/* A head the output stores although its config ties it to the embeddings:
 * loaders never read it. */
static int redundant_head(plan *p, const model_tensor *head, sut_error *err)
{
    char n[32];

    return warn(p, "redundant-lm-head", err, "the output stores '%s' of '%s' although its "
                "config ties the head to the embeddings: %s parameters no loader reads "
                "(suture trim removes it after the build)", head->t->name,
                mname(p, p->donors.head), fmt_count(head->t->elements, n, sizeof(n)));
}

/* The head donor's head: its post tensors, plus, when it is tied and the
 * output is not, its embeddings as the head. */
static int add_head(plan *p, sut_error *err)
{
    size_t hi = p->donors.head;
    const model *h = p->models[hi];
    const arch_family *f = model_arch(h);
    const model_tensor *head = find_edge(h, true), *emb = find_edge(h, false);

    if (add_role(p, hi, MODEL_POST, err) != 0)
        return -1;
    if (head && out_tied(p) && hi != p->donors.embed)
        return warn(p, "head-ignored", err, "the output config ties the head to the "
                    "embeddings (config of '%s'), so loaders use the embeddings of '%s' and "
                    "ignore the %s of '%s'", mname(p, p->donors.config),
                    mname(p, p->donors.embed), head->t->name, mname(p, hi));
    if (head && out_tied(p))
        return redundant_head(p, head, err);
    if (head || !emb || !f->head_name || !*f->head_name || out_tied(p))
        return 0;
    if (push_copy(p, f->head_name, hi, emb, -1, 1.0, err) != 0)
        return -1;
    p->tensors[p->ntensors - 1].role = MODEL_POST;
    return warn(p, "head-from-embeddings", err, "'%s' ties its head to its embeddings but "
                "the output config does not: %s is written from its %s",
                mname(p, hi), f->head_name, emb->t->name);
}

/* Output dtype and bytes of each tensor; refuses what cv_apply cannot do. */
static int set_dtype(plan *p, plan_tensor *t, sut_error *err)
{
    st_dtype in = t->src->t->dtype;
    uint64_t bits;

    t->dtype = p->has_dtype && is_float(in) ? p->dtype : in;
    if (t->scale != 1 && !cv_supported(in)) {
        sut_error_set(err, "%stensor '%s' of '%s' is %s: a scale needs F32, F16 or BF16",
                      where(p), t->src->t->name, mname(p, t->model), st_dtype_name(in));
        return -1;
    }
    if (t->dtype != in && !cv_supported(in)) {
        sut_error_set(err, "%stensor '%s' of '%s' is %s: converting to %s needs F32, F16 "
                      "or BF16", where(p), t->src->t->name, mname(p, t->model),
                      st_dtype_name(in), st_dtype_name(t->dtype));
        return -1;
    }
    if (t->dtype == in) {
        t->bytes = st_tensor_bytes(t->src->t);
        return 0;
    }
    if (ck_mul(t->src->t->elements, st_dtype_bits(t->dtype), &bits) != 0) {
        sut_error_set(err, "%stensor '%s' of '%s': size overflows", where(p),
                      t->src->t->name, mname(p, t->model));
        return -1;
    }
    t->bytes = bits / 8;
    return 0;
}

static int add_tensors(plan *p, sut_error *err)
{
    const arch_family *out_f = model_arch(p->models[p->donors.config]);
    size_t i;

    if (add_role(p, p->donors.embed, MODEL_PRE, err) != 0)
        return -1;
    for (i = 0; i < p->nlayers; i++)
        if (add_layer(p, &p->layers[i], out_f, err) != 0)
            return -1;
    if (add_head(p, err) != 0)
        return -1;
    for (i = 0; i < p->ntensors; i++) {
        if (set_dtype(p, &p->tensors[i], err) != 0)
            return -1;
        if (ck_add(p->bytes, p->tensors[i].bytes, &p->bytes) != 0 ||
            ck_add(p->params, p->tensors[i].src->t->elements, &p->params) != 0) {
            sut_error_set(err, "%sthe output size overflows", where(p));
            return -1;
        }
    }
    return 0;
}

int plan_tensor_cmp_name(const void *a, const void *b)
{
    return strcmp((*(const plan_tensor *const *)a)->name,
                  (*(const plan_tensor *const *)b)->name);
}

/* No two output tensors may share a name (a user family file could make
 * a non-layer name look like a renamed layer tensor). */
static int check_names(plan *p, sut_error *err)
{
    const plan_tensor **by = malloc((p->ntensors ? p->ntensors : 1) * sizeof(*by));
    size_t i;
    int rc = 0;

    if (!by)
        return oom(p, err);
    for (i = 0; i < p->ntensors; i++)
        by[i] = &p->tensors[i];
    qsort(by, p->ntensors, sizeof(*by), plan_tensor_cmp_name);
    for (i = 1; i < p->ntensors && rc == 0; i++)
        if (strcmp(by[i - 1]->name, by[i]->name) == 0) {
            sut_error_set(err, "%soutput tensor '%s' would be written twice (from '%s' "
                          "of '%s' and '%s' of '%s')", where(p), by[i]->name,
                          by[i - 1]->src->t->name, mname(p, by[i - 1]->model),
                          by[i]->src->t->name, mname(p, by[i]->model));
            rc = -1;
        }
    free(by);
    return rc;
}

/* ---- shards ---- */

struct packer {
    uint64_t limit, cur;
    size_t shard;
    bool open;
    uint64_t home;           /* the source file the shard copies from first */
};

/* The source file a tensor's bytes are copied from (model and shard), or
 * LAYOUT_WRITTEN when they are converted or scaled. */
static uint64_t source_key(const plan_tensor *t)
{
    if (t->scale != 1 || t->dtype != t->src->t->dtype)
        return LAYOUT_WRITTEN;
    return (uint64_t)t->model << 32 ^ (uint64_t)t->src->shard;
}

/* The shard for the next item of n bytes: the current one when it fits,
 * else a new one (an item over the limit gets a shard of its own). */
static size_t place(struct packer *k, uint64_t n)
{
    uint64_t sum;

    if (k->open && (ck_add(k->cur, n, &sum) != 0 || sum > k->limit)) {
        k->shard++;
        k->cur = 0;
        k->home = LAYOUT_WRITTEN;
    }
    k->open = true;
    k->cur += n;
    return k->shard;
}

/* Starts a new shard before tensors copied from another source file than
 * the one the current shard copies from, once the current one holds
 * SPLIT_MIN bytes or a quarter of the limit: two source shards rarely
 * agree modulo XFER_BLOCK, so only one of them could share blocks. */
static void follow_source(struct packer *k, uint64_t key)
{
    uint64_t enough = k->limit / 4 < SPLIT_MIN ? k->limit / 4 : SPLIT_MIN;

    if (key == LAYOUT_WRITTEN)
        return;
    if (k->open && k->home != LAYOUT_WRITTEN && k->home != key && k->cur >= enough) {
        k->shard++;
        k->cur = 0;
        k->open = false;
        k->home = LAYOUT_WRITTEN;
    }
}

/* End of the group starting at i: a whole output layer, or one tensor;
 * a group's tensors come from one source file (or are all converted). */
static size_t group_end(const plan *p, size_t i)
{
    size_t j = i + 1;
    uint64_t key = source_key(&p->tensors[i]);

    if (p->tensors[i].layer < 0)
        return j;
    while (j < p->ntensors && p->tensors[j].layer == p->tensors[i].layer &&
           source_key(&p->tensors[j]) == key)
        j++;
    return j;
}

static void assign_shards(plan *p)
{
    struct packer k = {p->limit, 0, 0, false, LAYOUT_WRITTEN};
    size_t i = 0, j, t;

    while (i < p->ntensors) {
        uint64_t sum = 0, key;
        bool whole = true;
        j = group_end(p, i);
        key = source_key(&p->tensors[i]);
        follow_source(&k, key);
        for (t = i; t < j && whole; t++)
            whole = ck_add(sum, p->tensors[t].bytes, &sum) == 0 && sum <= p->limit;
        if (whole) {
            size_t s = place(&k, sum);
            for (t = i; t < j; t++)
                p->tensors[t].shard = s;
        } else {
            for (t = i; t < j; t++)
                p->tensors[t].shard = place(&k, p->tensors[t].bytes);
        }
        if (k.home == LAYOUT_WRITTEN)
            k.home = key;
        i = j;
    }
    p->nshards = p->ntensors ? k.shard + 1 : 0;
}

/* Orders the shard's data so that its copies can share blocks. 0 or -1. */
static int lay_out(plan *p, plan_shard *s)
{
    layout_item *items = calloc(s->count + 1, sizeof(*items));
    layout_result res;
    size_t i;
    int rc = -1;

    if (!items || !(s->order = calloc(s->count + 1, sizeof(size_t))))
        goto out;
    for (i = 0; i < s->count; i++) {
        const plan_tensor *t = &p->tensors[s->first + i];
        const st_file *f = model_shard(p->models[t->model], t->src->shard);
        items[i].key = source_key(t);
        items[i].off = st_data_start(f) + t->src->t->begin;
        items[i].bytes = t->bytes;
    }
    if (layout_order(items, s->count, s->order, &res) != 0)
        goto out;
    for (i = 0; i < s->count; i++)
        s->order[i] += s->first;
    s->aligned = res.aligned;
    s->phase = res.phase;
    s->shareable = res.shareable;
    p->shareable += res.shareable;
    rc = 0;
out:
    free(items);
    return rc;
}

static int make_shards(plan *p, sut_error *err)
{
    size_t i;

    assign_shards(p);
    if (!(p->shards = calloc(p->nshards ? p->nshards : 1, sizeof(*p->shards))))
        return oom(p, err);
    for (i = 0; i < p->nshards; i++) {
        char name[64];
        if (p->nshards == 1)
            snprintf(name, sizeof(name), "model.safetensors");
        else
            snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1,
                     p->nshards);
        if (!(p->shards[i].name = strdup(name)))
            return oom(p, err);
    }
    for (i = 0; i < p->ntensors; i++) {
        plan_shard *s = &p->shards[p->tensors[i].shard];
        if (s->count++ == 0)
            s->first = i;
        s->bytes += p->tensors[i].bytes;
    }
    for (i = 0; i < p->nshards; i++)
        if (lay_out(p, &p->shards[i]) != 0)
            return oom(p, err);
    return 0;
}

/* ---- config ---- */

/* The dtype holding most output bytes among F32/F16/BF16, or -1. */
static int main_dtype(const plan *p)
{
    uint64_t by[ST_DTYPE_COUNT] = {0};
    size_t i;
    int best = -1;

    for (i = 0; i < p->ntensors; i++)
        if (cv_supported(p->tensors[i].dtype))
            by[p->tensors[i].dtype] += p->tensors[i].bytes;
    for (i = 0; i < ST_DTYPE_COUNT; i++)
        if (by[i] && (best < 0 || by[i] > by[best]))
            best = (int)i;
    return best;
}

static int rewrite_config(plan *p, sut_error *err)
{
    const model *c = p->models[p->donors.config];
    const cJSON *donor_cfg = model_config(c);
    long count = (long)model_layer_count(c), *src;
    const char *dtype = NULL;
    int md = main_dtype(p);
    size_t i;

    if (!donor_cfg)
        return warn(p, "no-config", err, "model '%s' (the config donor) has no "
                    "config.json: the output will have none", mname(p, p->donors.config));
    if (arch_config_layers(model_arch(c), donor_cfg) >= 0)
        count = arch_config_layers(model_arch(c), donor_cfg);
    if (!(src = calloc(p->nlayers, sizeof(*src))))
        return oom(p, err);
    for (i = 0; i < p->nlayers; i++) {
        const plan_layer *l = &p->layers[i];
        src[i] = l->model == p->donors.config || (long)l->source_layer < count
                     ? (long)l->source_layer : -1;
    }
    if (md >= 0)
        dtype = cfg_dtype_name((st_dtype)md);
    p->config = cfg_rewrite(donor_cfg, model_arch(c), src, p->nlayers, dtype,
                            &p->changes, &p->nchanges, err);
    free(src);
    if (!p->config) {
        sut_error_prefix(err, "%smodel '%s'", where(p), mname(p, p->donors.config));
        return -1;
    }
    return 0;
}

/* ---- warnings that need the whole map ---- */

/* The output layers whose attention kind under cfg is not their source
 * layer's: returns how many, and lists the first few into list. */
static size_t kind_shifts(const plan *p, const cJSON *cfg, char *list, size_t size)
{
    const arch_family *out_f = model_arch(p->models[p->donors.config]);
    size_t i, n = 0, o = 0;

    list[0] = '\0';
    for (i = 0; i < p->nlayers; i++) {
        const plan_layer *l = &p->layers[i];
        const model *m = p->models[l->model];
        char ks = arch_attention_kind(model_arch(m), model_config(m), l->source_layer);
        char ko = arch_attention_kind(out_f, cfg, l->index);
        if (ks == '?' || ko == '?' || ks == ko)
            continue;
        if (n++ < LIST_MAX && o < size)
            o += (size_t)snprintf(list + o, size - o, "%s%u (%s layer %u: %s -> %s)",
                                  n > 1 ? ", " : "", l->index, mname(p, l->model),
                                  l->source_layer, ks == 's' ? "sliding" : "global",
                                  ko == 's' ? "sliding" : "global");
    }
    if (n > LIST_MAX && o < size)
        snprintf(list + o, size - o, " and %zu more", n - LIST_MAX);
    return n;
}

static bool has_layer_types(const cJSON *cfg)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(cfg, "text_config");

    return cJSON_GetObjectItemCaseSensitive(cfg, "layer_types") ||
           (cJSON_IsObject(text) && cJSON_GetObjectItemCaseSensitive(text, "layer_types"));
}

/* Source and output attention kinds differ; or they agree only because
 * the rewrite added layer_types, which a loader may ignore. */
static int parity_shifts(plan *p, sut_error *err)
{
    const cJSON *donor = model_config(p->models[p->donors.config]);
    char list[SUT_ERROR_MAX / 2];
    size_t n;

    if (!p->config)
        return 0;
    if ((n = kind_shifts(p, p->config, list, sizeof(list))) > 0)
        return warn(p, "sliding-parity-shift", err, "%zu output layer%s change%s attention "
                    "kind: %s", n, n == 1 ? "" : "s", n == 1 ? "s" : "", list);
    if (has_layer_types(donor) || !has_layer_types(p->config) ||
        (n = kind_shifts(p, donor, list, sizeof(list))) == 0)
        return 0;
    return warn(p, "sliding-parity-shift", err, "%zu output layer%s keep%s attention kind "
                "only through the layer_types the config now states (a loader that ignores "
                "layer_types goes by index parity): %s", n, n == 1 ? "" : "s",
                n == 1 ? "s" : "", list);
}

static int edge_repeat(plan *p, size_t mi, unsigned layer, const char *which,
                       sut_error *err)
{
    char list[SUT_ERROR_MAX] = "";
    size_t i, n = 0, o = 0;

    for (i = 0; i < p->nlayers; i++)
        if (p->layers[i].model == mi && p->layers[i].source_layer == layer) {
            n++;
            if (n <= LIST_MAX && o < sizeof(list))
                o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%u",
                                      n > 1 ? ", " : "", p->layers[i].index);
        }
    if (n < 2)
        return 0;
    if (n > LIST_MAX && o < sizeof(list))
        snprintf(list + o, sizeof(list) - o, " and %zu more", n - LIST_MAX);
    return warn(p, "edge-layer-repeat", err, "layer %u of '%s' (its %s layer) appears %zu "
                "times (output layers %s)", layer, mname(p, mi), which, n, list);
}

static int edge_repeats(plan *p, sut_error *err)
{
    size_t mi;

    for (mi = 0; mi < p->r->nmodels; mi++) {
        unsigned last = model_layer_count(p->models[mi]);
        if (last == 0)
            continue;
        last--;
        if (edge_repeat(p, mi, 0, last == 0 ? "only" : "first", err) != 0 ||
            (last > 0 && edge_repeat(p, mi, last, "last", err) != 0))
            return -1;
    }
    return 0;
}

static int dtype_mix(plan *p, sut_error *err)
{
    size_t i;

    if (p->has_dtype)
        return 0;
    for (i = 1; i < p->nlayers; i++) {
        const plan_layer *a = &p->layers[0], *b = &p->layers[i];
        const model_tensor *ta, *tb;
        size_t n;
        const size_t *idx = model_layer_tensors(p->models[b->model], b->source_layer, &n);
        tb = model_tensor_at(p->models[b->model], idx[0]);
        ta = layer_tensor(p->models[a->model], a->source_layer, tb->local);
        if (ta && ta->t->dtype != tb->t->dtype)
            return warn(p, "dtype-mix", err, "layer tensor '%s' is %s in '%s' but %s in "
                        "'%s': the output mixes dtypes (set an output dtype)", tb->local,
                        st_dtype_name(ta->t->dtype), mname(p, a->model),
                        st_dtype_name(tb->t->dtype), mname(p, b->model));
    }
    return 0;
}

static int recipe_notes(plan *p, sut_error *err)
{
    char **n;

    for (n = p->r->notes; n && *n; n++)
        if (warn(p, "recipe-note", err, "%s", *n) != 0)
            return -1;
    return 0;
}

/* ---- the plan ---- */

plan *plan_make(const recipe *r, arch_table *arches, const plan_options *opt,
                sut_error *err)
{
    plan *p = calloc(1, sizeof(*p));
    const model *c;

    if (!p) {
        sut_error_oom(err, NULL);
        return NULL;
    }
    p->r = r;
    p->allow_mixed = opt && opt->allow_mixed;
    p->has_dtype = (opt && opt->has_dtype) || r->has_dtype;
    p->dtype = opt && opt->has_dtype ? opt->dtype : r->dtype;
    p->limit = opt && opt->shard_size ? opt->shard_size
               : r->shard_size ? r->shard_size : PLAN_SHARD_DEFAULT;
    if (r->path)
        snprintf(p->where, sizeof(p->where), "%.*s: ", sut_cut(sut_basename(r->path), 250),
                 sut_basename(r->path));
    if (recipe_notes(p, err) != 0 || open_models(p, arches, err) != 0 ||
        choose_donors(p, err) != 0 || check_archs(p, err) != 0 ||
        map_layers(p, err) != 0 || find_seams(p, err) != 0 ||
        check_layer_sets(p, err) != 0 || check_donor_dims(p, err) != 0 ||
        add_tensors(p, err) != 0 || check_names(p, err) != 0 || make_runs(p, err) != 0 ||
        make_shards(p, err) != 0 ||
        rewrite_config(p, err) != 0 || parity_shifts(p, err) != 0 ||
        edge_repeats(p, err) != 0 || dtype_mix(p, err) != 0)
        goto fail;
    c = p->models[p->donors.config];
    p->params_before = model_parameter_count(c);
    p->bytes_before = model_data_bytes(c);
    return p;
fail:
    plan_free(p);
    return NULL;
}

void plan_free(plan *p)
{
    size_t i;

    if (!p)
        return;
    for (i = 0; p->models && i < p->r->nmodels; i++)
        model_free(p->models[i]);
    for (i = 0; i < p->ntensors; i++)
        free(p->tensors[i].name);
    for (i = 0; i < p->nshards && p->shards; i++) {
        free(p->shards[i].name);
        free(p->shards[i].order);
    }
    for (i = 0; i < p->nwarnings; i++)
        free(p->warnings[i].message);
    cfg_changes_free(p->changes, p->nchanges);
    cJSON_Delete(p->config);
    free(p->models);
    free(p->used);
    free(p->layers);
    free(p->seams);
    free(p->runs);
    free(p->tensors);
    free(p->shards);
    free(p->warnings);
    free(p);
}

const recipe *plan_recipe(const plan *p) { return p->r; }
const model *plan_model(const plan *p, size_t i) { return p->models[i]; }
plan_donors plan_get_donors(const plan *p) { return p->donors; }
uint64_t plan_shard_limit(const plan *p) { return p->limit; }
const cJSON *plan_config(const plan *p) { return p->config; }
uint64_t plan_parameters_before(const plan *p) { return p->params_before; }
uint64_t plan_bytes_before(const plan *p) { return p->bytes_before; }
uint64_t plan_parameters(const plan *p) { return p->params; }
uint64_t plan_bytes(const plan *p) { return p->bytes; }
uint64_t plan_shareable(const plan *p) { return p->shareable; }

const plan_layer *plan_layers(const plan *p, size_t *n)
{
    *n = p->nlayers;
    return p->layers;
}

const plan_seam *plan_seams(const plan *p, size_t *n)
{
    *n = p->nseams;
    return p->seams;
}

const plan_run *plan_runs(const plan *p, size_t *n)
{
    *n = p->nruns;
    return p->runs;
}

const plan_tensor *plan_tensors(const plan *p, size_t *n)
{
    *n = p->ntensors;
    return p->tensors;
}

const plan_shard *plan_shards(const plan *p, size_t *n)
{
    *n = p->nshards;
    return p->shards;
}

const plan_warning *plan_warnings(const plan *p, size_t *n)
{
    *n = p->nwarnings;
    return p->warnings;
}

const cfg_change *plan_config_changes(const plan *p, size_t *n)
{
    *n = p->nchanges;
    return p->changes;
}
