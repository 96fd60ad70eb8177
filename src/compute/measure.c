/* measure.c: a recipe's output measured from its sources (see
 * suture/measure.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "suture/measure.h"
#include "suture/safetensors.h"
#include "common/checked.h"
#include "common/util.h"

/* ---- the stack of a plan ------------------------------------------------ */

/* Refuses a tensor the plan writes in another dtype than its source's. */
static int check_dtype(const plan *p, const plan_tensor *t, sut_error *err)
{
    if (t->dtype == t->src->t->dtype)
        return 0;
    sut_error_set(err, "%s: the plan converts %s from %s to %s, and the forward "
                  "pass reads the sources as they are: measure without --dtype",
                  model_dir(plan_model(p, t->model)), t->name,
                  st_dtype_name(t->src->t->dtype), st_dtype_name(t->dtype));
    return -1;
}

int measure_stack_of_plan(const plan *p, fw_stack *s, sut_error *err)
{
    size_t nl, nt, i, scaled = 0, *fill;
    const plan_layer *pl = plan_layers(p, &nl);
    const plan_tensor *pt = plan_tensors(p, &nt);
    plan_donors d = plan_get_donors(p);
    fw_slot *slots;
    fw_scale *sc;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < nt; i++) {
        if (check_dtype(p, &pt[i], err))
            return -1;
        scaled += pt[i].layer >= 0 && pt[i].scale != 1.0;
    }
    /* One block: the slots, then every scale grouped by layer. */
    slots = calloc(1, (nl ? nl : 1) * sizeof(*slots) + (scaled ? scaled : 1) * sizeof(*sc));
    fill = calloc(nl ? nl : 1, sizeof(*fill));
    if (!slots || !fill) {
        free(slots);
        free(fill);
        sut_error_set(err, "out of memory for a stack of %zu layers", nl);
        return -1;
    }
    sc = (fw_scale *)(slots + (nl ? nl : 1));
    for (i = 0; i < nl; i++)
        slots[i] = (fw_slot){plan_model(p, pl[i].model), pl[i].source_layer, NULL, 0};
    for (i = 0; i < nt; i++)
        if (pt[i].layer >= 0 && (size_t)pt[i].layer < nl && pt[i].scale != 1.0)
            slots[pt[i].layer].n_scales++;
    for (i = 0, scaled = 0; i < nl; i++) {
        slots[i].scales = slots[i].n_scales ? sc + scaled : NULL;
        scaled += slots[i].n_scales;
    }
    for (i = 0; i < nt; i++)
        if (pt[i].layer >= 0 && (size_t)pt[i].layer < nl && pt[i].scale != 1.0) {
            size_t l = (size_t)pt[i].layer;
            ((fw_scale *)slots[l].scales)[fill[l]++] =
                (fw_scale){pt[i].src->local, (float)pt[i].scale};
        }
    free(fill);
    *s = (fw_stack){plan_model(p, d.config), plan_model(p, d.embed),
                    plan_model(p, d.head), slots, nl, NULL};
    return 0;
}

void measure_stack_release(fw_stack *s)
{
    free((void *)s->layers);
    memset(s, 0, sizeof(*s));
}

/* ---- seams ---------------------------------------------------------------- */

typedef struct seam_ref {
    measure_seam *m;
    size_t K;                              /* healed layers followed */
    float *ref[MEASURE_HEAL_MAX + 1];      /* the source model's h_(to + j) */
    size_t cap;                            /* floats each ref holds */
    double sum[MEASURE_HEAL_MAX + 1];
} seam_ref;

typedef struct seam_ctx {
    const plan *p;
    unsigned threads;
    seam_ref *s;
    size_t n;
    size_t hidden;         /* set by the first model_refs */
    uint64_t tokens;
} seam_ctx;

static double angular(const float *x, const float *y, size_t d)
{
    double xy = 0, xx = 0, yy = 0, c;
    size_t i;

    for (i = 0; i < d; i++) {
        xy += (double)x[i] * y[i];
        xx += (double)x[i] * x[i];
        yy += (double)y[i] * y[i];
    }
    if (xx == 0 || yy == 0)
        c = xx == yy ? 1.0 : 0.0;
    else {
        c = xy / (sqrt(xx) * sqrt(yy));
        c = c > 1 ? 1 : c < -1 ? -1 : c;
    }
    return acos(c) / M_PI;
}

static int grow_refs(seam_ref *s, size_t floats, sut_error *err)
{
    size_t j;

    if (s->cap >= floats)
        return 0;
    for (j = 0; j <= s->K; j++) {
        float *r = realloc(s->ref[j], floats * sizeof(float));
        if (!r) {
            sut_error_set(err, "out of memory for the hidden states of a seam");
            return -1;
        }
        s->ref[j] = r;
    }
    s->cap = floats;
    return 0;
}

/* Runs model m alone over the batch's ids and keeps, for every seam into
 * m, its hidden states at boundaries to .. to + K. */
static int model_refs(seam_ctx *c, size_t mi, const int32_t *ids,
                      const size_t *lens, size_t nw, sut_error *err)
{
    const model *m = plan_model(c->p, mi);
    size_t T = 0, maxw = 0, last = 0, i, l, D;
    fw_stack st;
    fw_model *f = NULL;
    fw_batch *b = NULL;
    int rc = -1;

    for (i = 0; i < nw; i++) {
        T += lens[i];
        maxw = lens[i] > maxw ? lens[i] : maxw;
    }
    for (i = 0; i < c->n; i++)
        if (c->s[i].m->to_model == mi && c->s[i].m->to_layer + c->s[i].K > last)
            last = c->s[i].m->to_layer + c->s[i].K;
    if (fw_stack_of_model(&st, m, err))
        return -1;
    if (!(f = fw_open(&st, c->threads, err)) ||
        !(b = fw_batch_new(f, T, maxw, err)) ||
        fw_batch_set(b, ids, lens, nw, err) || fw_embed(f, b, err))
        goto out;
    D = c->hidden = fw_model_dims(f)->hidden;
    for (l = 0; l <= last; l++) {
        for (i = 0; i < c->n; i++) {
            seam_ref *s = &c->s[i];
            if (s->m->to_model != mi || l < s->m->to_layer || l > s->m->to_layer + s->K)
                continue;
            if (grow_refs(s, T * D, err))
                goto out;
            memcpy(s->ref[l - s->m->to_layer], fw_batch_hidden(b), T * D * sizeof(float));
        }
        if (l < last && fw_layer(f, b, l, err))
            goto out;
    }
    rc = 0;
out:
    fw_batch_free(b);
    fw_free(f);
    fw_stack_release(&st);
    return rc;
}

/* probe_options.hidden_fn: at boundary 0 computes the references of the
 * batch; at every boundary adds the distances of the seams it concerns. */
static int seam_hook(void *ctx, size_t k, const float *h, const int32_t *ids,
                     const size_t *lens, size_t nw, sut_error *err)
{
    seam_ctx *c = ctx;
    size_t i, j, t, T = 0, D = c->hidden;

    for (i = 0; i < nw; i++)
        T += lens[i];
    if (k == 0) {
        c->tokens += T;
        for (i = 0; i < c->n; i++) {
            for (j = 0; j < i; j++)
                if (c->s[j].m->to_model == c->s[i].m->to_model)
                    break;
            if (j == i && model_refs(c, c->s[i].m->to_model, ids, lens, nw, err))
                return -1;
        }
    }
    for (i = 0; i < c->n; i++) {
        seam_ref *s = &c->s[i];
        if (k < s->m->index || k > s->m->index + s->K)
            continue;
        j = k - s->m->index;
        for (t = 0; t < T; t++)
            s->sum[j] += angular(h + t * D, s->ref[j] + t * D, D);
    }
    return 0;
}

/* The seams of the plan with the layers each one's healing follows. */
static int make_seams(const plan *p, measure_result *r, seam_ref **refs,
                      sut_error *err)
{
    size_t ns, nl, i;
    const plan_seam *ps = plan_seams(p, &ns);

    plan_layers(p, &nl);
    r->n_seams = ns;
    r->seams = calloc(ns ? ns : 1, sizeof(*r->seams));
    *refs = calloc(ns ? ns : 1, sizeof(**refs));
    if (!r->seams || !*refs) {
        sut_error_set(err, "out of memory for %zu seams", ns);
        return -1;
    }
    for (i = 0; i < ns; i++) {
        size_t next = i + 1 < ns ? ps[i + 1].index : nl, K = next - ps[i].index;
        r->seams[i] = (measure_seam){ps[i].index, ps[i].from_model, ps[i].to_model,
                                     ps[i].from_layer, ps[i].to_layer, 0, 0, {0}};
        (*refs)[i].m = &r->seams[i];
        (*refs)[i].K = K < MEASURE_HEAL_MAX ? K : MEASURE_HEAL_MAX;
        r->seams[i].n_healed = (*refs)[i].K;
    }
    return 0;
}

static void finish_seams(seam_ctx *c)
{
    size_t i, j;

    for (i = 0; i < c->n; i++) {
        measure_seam *m = c->s[i].m;
        double toks = c->tokens ? (double)c->tokens : 1;
        m->angular_distance = c->s[i].sum[0] / toks;
        for (j = 1; j <= c->s[i].K; j++)
            m->healed[j - 1] = c->s[i].sum[j] / toks;
    }
}

int measure_run(const plan *p, size_t base, const int32_t *ids, size_t n,
                const probe_options *o, measure_result *r, sut_error *err)
{
    probe_options po = *o;
    seam_ctx c = {p, o->threads ? o->threads : 1, NULL, 0, 0, 0};
    fw_stack out = {0}, bs = {0};
    size_t i, j;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    if (make_seams(p, r, &c.s, err) || measure_stack_of_plan(p, &out, err))
        goto done;
    c.n = r->n_seams;
    po.hidden_fn = c.n ? seam_hook : NULL;
    po.hidden_ctx = &c;
    if (probe_run(&out, ids, n, &po, &r->out, err))
        goto done;
    finish_seams(&c);
    if (fw_stack_of_model(&bs, plan_model(p, base), err) ||
        probe_run(&bs, ids, n, o, &r->base, err))
        goto done;
    rc = 0;
done:
    for (i = 0; c.s && i < r->n_seams; i++)
        for (j = 0; j <= MEASURE_HEAL_MAX; j++)
            free(c.s[i].ref[j]);
    free(c.s);
    fw_stack_release(&bs);
    measure_stack_release(&out);
    if (rc)
        measure_result_free(r);
    return rc;
}

void measure_result_free(measure_result *r)
{
    probe_result_free(&r->out);
    probe_result_free(&r->base);
    free(r->seams);
    r->seams = NULL;
    r->n_seams = 0;
}

/* ---- search ---------------------------------------------------------------- */

typedef struct cand_sum {
    double nll;
    uint64_t predicted;
} cand_sum;

typedef struct search_ctx {
    const model *m;
    measure_kind kind;
    unsigned n, L, threads;
    const measure_copy_scales *cs;
    cand_sum *sums;            /* by start */
    fw_slot *slots;            /* room for L + n */
} search_ctx;

size_t measure_candidate_stack(const model *m, measure_kind kind, unsigned n,
                               unsigned a, const measure_copy_scales *cs,
                               fw_slot *slots)
{
    unsigned L = model_layer_count(m), i, k = 0;

    for (i = 0; i < (kind == MEASURE_REPEAT ? a + n : a); i++)
        slots[k++] = (fw_slot){m, i, NULL, 0};
    for (i = kind == MEASURE_REPEAT ? a : a + n; i < L; i++) {
        slots[k] = (fw_slot){m, i, NULL, 0};
        if (kind == MEASURE_REPEAT && cs && i < a + n) {
            slots[k].scales = cs->scales[i - a];
            slots[k].n_scales = cs->n_scales[i - a];
        }
        k++;
    }
    return k;
}

/* Candidate a from boundary k on: the model's hidden states h there, the
 * candidate's own layers k .. and its head. */
static int run_candidate(search_ctx *c, unsigned a, size_t k, const float *h,
                         const int32_t *ids, const size_t *lens, size_t nw,
                         sut_error *err)
{
    size_t T = 0, maxw = 0, i, len;
    fw_stack st;
    fw_model *f;
    fw_batch *b = NULL;
    int rc = -1;

    for (i = 0; i < nw; i++) {
        T += lens[i];
        maxw = lens[i] > maxw ? lens[i] : maxw;
    }
    len = measure_candidate_stack(c->m, c->kind, c->n, a, c->cs, c->slots);
    st = (fw_stack){c->m, c->m, c->m, c->slots, len, NULL};
    if (!(f = fw_open(&st, c->threads, err)))
        return -1;
    if (!(b = fw_batch_new(f, T, maxw, err)) || fw_batch_set(b, ids, lens, nw, err))
        goto out;
    memcpy(fw_batch_hidden(b), h, T * fw_model_dims(f)->hidden * sizeof(float));
    for (i = k; i < len; i++)
        if (fw_layer(f, b, i, err))
            goto out;
    rc = fw_head(f, b, NULL, NULL, &c->sums[a].nll, &c->sums[a].predicted, err);
out:
    fw_batch_free(b);
    fw_free(f);
    return rc;
}

/* probe_options.hidden_fn: the candidates that leave the model at k. */
static int search_hook(void *ctx, size_t k, const float *h, const int32_t *ids,
                       const size_t *lens, size_t nw, sut_error *err)
{
    search_ctx *c = ctx;
    size_t a;

    if (c->kind == MEASURE_REPEAT) {
        if (k < c->n)
            return 0;
        a = k - c->n;
    } else {
        if (k + c->n > c->L)
            return 0;
        a = k;
    }
    return run_candidate(c, (unsigned)a, k, h, ids, lens, nw, err);
}

static int cand_cmp(const void *x, const void *y)
{
    const measure_candidate *a = x, *b = y;

    if (a->nll != b->nll)
        return a->nll < b->nll ? -1 : 1;
    return a->start < b->start ? -1 : a->start > b->start;
}

int measure_search(const model *m, measure_kind kind, unsigned n,
                   const measure_copy_scales *cs, const int32_t *ids, size_t count,
                   const probe_options *o, measure_search_result *r, sut_error *err)
{
    unsigned L = model_layer_count(m), a;
    const char *what = kind == MEASURE_REPEAT ? "repeat" : "drop";
    search_ctx c = {m, kind, n, L, o->threads ? o->threads : 1,
                    kind == MEASURE_REPEAT ? cs : NULL, NULL, NULL};
    probe_options po = *o;
    fw_stack st = {0};
    int rc = -1;

    memset(r, 0, sizeof(*r));
    if (n == 0 || n > L || (kind == MEASURE_DROP && n == L)) {
        sut_error_set(err, "%s:%u: the model has %u layers (a block of 1 to %u)",
                      what, n, L, kind == MEASURE_DROP ? L - 1 : L);
        return -1;
    }
    r->n = L - n + 1;
    c.sums = calloc(r->n, sizeof(*c.sums));
    c.slots = calloc((size_t)L + n, sizeof(*c.slots));
    r->c = calloc(r->n, sizeof(*r->c));
    if (!c.sums || !c.slots || !r->c) {
        sut_error_set(err, "out of memory for %zu candidates", r->n);
        goto out;
    }
    po.hidden_fn = search_hook;
    po.hidden_ctx = &c;
    if (fw_stack_of_model(&st, m, err) || probe_run(&st, ids, count, &po, &r->model, err))
        goto out;
    for (a = 0; a < r->n; a++) {
        double nll = c.sums[a].nll / (double)c.sums[a].predicted;
        r->c[a] = (measure_candidate){a, nll, exp(nll)};
    }
    qsort(r->c, r->n, sizeof(*r->c), cand_cmp);
    rc = 0;
out:
    fw_stack_release(&st);
    free(c.sums);
    free(c.slots);
    if (rc)
        measure_search_free(r);
    return rc;
}

void measure_search_free(measure_search_result *r)
{
    probe_result_free(&r->model);
    free(r->c);
    r->c = NULL;
    r->n = 0;
}
