/* plan_out.c: a plan as text (see plan.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/format.h"
#include "suture/plan.h"
#include "common/util.h"

static const char *mname(const plan *p, size_t i)
{
    return plan_recipe(p)->models[i].name;
}

/* ---- text ---- */

/* "a-b" or "a" */
static void span(char *buf, size_t size, unsigned a, unsigned b)
{
    if (a == b)
        snprintf(buf, size, "%u", a);
    else
        snprintf(buf, size, "%u-%u", a, b);
}

static void text_models(const plan *p, FILE *f)
{
    const recipe *r = plan_recipe(p);
    plan_donors d = plan_get_donors(p);
    char b[64];
    size_t i;

    if (r->path)
        fprintf(f, "recipe: %s\n", r->path);
    if (r->comment)
        fprintf(f, "comment: %s\n", r->comment);
    fprintf(f, "models:\n");
    for (i = 0; i < r->nmodels; i++) {
        const model *m = plan_model(p, i);
        fprintf(f, "  %s: %s (%s, %u layers, %s)\n", r->models[i].name, r->models[i].path,
                model_arch(m)->name, model_layer_count(m),
                fmt_bytes(model_data_bytes(m), b, sizeof(b)));
    }
    fprintf(f, "donors: embed %s, head %s, config %s, tokenizer %s\n", mname(p, d.embed),
            mname(p, d.head), mname(p, d.config), mname(p, d.tokenizer));
}

static void text_layers(const plan *p, FILE *f)
{
    size_t nl, nr, ns, i;
    const plan_run *run = plan_runs(p, &nr);
    const plan_seam *s = plan_seams(p, &ns);
    char a[32], b[32];
    int w = 0;

    plan_layers(p, &nl);
    fprintf(f, "layers: %u -> %zu\n",
            model_layer_count(plan_model(p, plan_get_donors(p).config)), nl);
    for (i = 0; i < nr; i++) {
        span(a, sizeof(a), run[i].out_first, run[i].out_last);
        if ((int)strlen(a) > w)
            w = (int)strlen(a);
    }
    for (i = 0; i < nr; i++) {
        span(a, sizeof(a), run[i].out_first, run[i].out_last);
        span(b, sizeof(b), run[i].src_first, run[i].src_last);
        fprintf(f, "  %-*s <- %s %s%s\n", w, a, mname(p, run[i].model), b,
                run[i].scaled ? " (scaled)" : "");
    }
    fprintf(f, "seams: %zu\n", ns);
    for (i = 0; i < ns; i++)
        fprintf(f, "  %u: %s %u -> %s %u (jump %+ld%s)\n", s[i].index,
                mname(p, s[i].from_model), s[i].from_layer, mname(p, s[i].to_model),
                s[i].to_layer, s[i].jump,
                s[i].from_model != s[i].to_model ? ", donor switch" : "");
}

static void text_sizes(const plan *p, FILE *f)
{
    size_t ns, i;
    const plan_shard *s = plan_shards(p, &ns);
    char a[64], b[64];

    fprintf(f, "parameters: %s -> ", fmt_count(plan_parameters_before(p), a, sizeof(a)));
    fprintf(f, "%s\n", fmt_count(plan_parameters(p), b, sizeof(b)));
    fprintf(f, "bytes: %s -> ", fmt_bytes(plan_bytes_before(p), a, sizeof(a)));
    fprintf(f, "%s\n", fmt_bytes(plan_bytes(p), b, sizeof(b)));
    fprintf(f, "shards: %zu (limit %s)\n", ns, fmt_bytes(plan_shard_limit(p), a, sizeof(a)));
    for (i = 0; i < ns; i++)
        fprintf(f, "  %s  %s  %zu tensors\n", s[i].name, fmt_bytes(s[i].bytes, a, sizeof(a)),
                s[i].count);
}

static void text_tail(const plan *p, FILE *f)
{
    size_t n, i;
    const cfg_change *c = plan_config_changes(p, &n);
    const plan_warning *w;

    fprintf(f, "config changes:%s\n", n ? "" : " none");
    for (i = 0; i < n; i++)
        fprintf(f, "  %s\n", c[i].line);
    w = plan_warnings(p, &n);
    fprintf(f, "warnings: %zu\n", n);
    for (i = 0; i < n; i++)
        fprintf(f, "  %s: %s\n", w[i].code, w[i].message);
}

char *plan_text(const plan *p)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return NULL;
    text_models(p, f);
    text_layers(p, f);
    text_sizes(p, f);
    text_tail(p, f);
    if (ferror(f)) {
        fclose(f);
        free(buf);
        return NULL;
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
