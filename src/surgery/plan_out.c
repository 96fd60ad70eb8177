/* plan_out.c: a plan as JSON and as text (see plan.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/format.h"
#include "suture/plan.h"
#include "common/util.h"

/* ---- JSON ---- */

static void add_num(cJSON *obj, const char *key, double v, bool *ok)
{
    if (!cJSON_AddNumberToObject(obj, key, v))
        *ok = false;
}

static void add_str(cJSON *obj, const char *key, const char *s, bool *ok)
{
    if (!(s ? cJSON_AddStringToObject(obj, key, s) : cJSON_AddNullToObject(obj, key)))
        *ok = false;
}

/* Adds a new object (or array) to obj (or to an array when key is NULL). */
static cJSON *add_node(cJSON *parent, const char *key, bool array, bool *ok)
{
    cJSON *node = array ? cJSON_CreateArray() : cJSON_CreateObject();

    if (!node) {
        *ok = false;
        return NULL;
    }
    if (key ? !cJSON_AddItemToObject(parent, key, node)
            : !cJSON_AddItemToArray(parent, node)) {
        cJSON_Delete(node);
        *ok = false;
        return NULL;
    }
    return node;
}

static const char *mname(const plan *p, size_t i)
{
    return plan_recipe(p)->models[i].name;
}

static void json_models(const plan *p, cJSON *root, bool *ok)
{
    const recipe *r = plan_recipe(p);
    cJSON *arr = add_node(root, "models", true, ok), *o;
    plan_donors d = plan_get_donors(p);
    size_t i;

    for (i = 0; arr && i < r->nmodels; i++) {
        const model *m = plan_model(p, i);
        if (!(o = add_node(arr, NULL, false, ok)))
            return;
        add_str(o, "name", r->models[i].name, ok);
        add_str(o, "path", r->models[i].path, ok);
        add_str(o, "architecture", model_arch(m)->name, ok);
        add_num(o, "layers", model_layer_count(m), ok);
        add_num(o, "parameter_count", (double)model_parameter_count(m), ok);
    }
    if (!(o = add_node(root, "donors", false, ok)))
        return;
    add_str(o, "embed", mname(p, d.embed), ok);
    add_str(o, "head", mname(p, d.head), ok);
    add_str(o, "config", mname(p, d.config), ok);
    add_str(o, "tokenizer", mname(p, d.tokenizer), ok);
}

static void json_layers(const plan *p, cJSON *root, bool *ok)
{
    size_t n, nt, i;
    const plan_layer *l = plan_layers(p, &n);
    const plan_tensor *t = plan_tensors(p, &nt);
    cJSON *arr = add_node(root, "layers", true, ok);
    cJSON **objs = calloc(n ? n : 1, sizeof(*objs));

    if (!objs)
        *ok = false;
    for (i = 0; arr && objs && i < n; i++) {
        if (!(objs[i] = add_node(arr, NULL, false, ok)))
            break;
        add_num(objs[i], "index", l[i].index, ok);
        add_str(objs[i], "model", mname(p, l[i].model), ok);
        add_num(objs[i], "source_layer", l[i].source_layer, ok);
        add_num(objs[i], "slice", (double)l[i].slice, ok);
    }
    for (i = 0; *ok && i < nt; i++) {
        cJSON *sc;
        if (t[i].layer < 0 || t[i].scale == 1)
            continue;
        sc = cJSON_GetObjectItemCaseSensitive(objs[t[i].layer], "scale");
        if (!sc && !(sc = add_node(objs[t[i].layer], "scale", false, ok)))
            break;
        add_num(sc, t[i].src->local, t[i].scale, ok);
    }
    free(objs);
}

static void json_seams(const plan *p, cJSON *root, bool *ok)
{
    size_t n, i;
    const plan_seam *s = plan_seams(p, &n);
    cJSON *arr = add_node(root, "seams", true, ok), *o, *e;

    for (i = 0; arr && i < n; i++) {
        if (!(o = add_node(arr, NULL, false, ok)))
            return;
        add_num(o, "index", s[i].index, ok);
        if ((e = add_node(o, "from", false, ok))) {
            add_str(e, "model", mname(p, s[i].from_model), ok);
            add_num(e, "layer", s[i].from_layer, ok);
        }
        if ((e = add_node(o, "to", false, ok))) {
            add_str(e, "model", mname(p, s[i].to_model), ok);
            add_num(e, "layer", s[i].to_layer, ok);
        }
        add_num(o, "jump", (double)s[i].jump, ok);
    }
}

static void json_shards(const plan *p, cJSON *root, bool *ok)
{
    size_t n, i;
    const plan_shard *s = plan_shards(p, &n);
    cJSON *arr = add_node(root, "shards", true, ok), *o;

    for (i = 0; arr && i < n; i++) {
        if (!(o = add_node(arr, NULL, false, ok)))
            return;
        add_str(o, "name", s[i].name, ok);
        add_num(o, "bytes", (double)s[i].bytes, ok);
        add_num(o, "tensors", (double)s[i].count, ok);
        add_num(o, "shareable_bytes", (double)s[i].shareable, ok);
    }
}

static void json_tensors(const plan *p, cJSON *root, bool *ok)
{
    size_t n, ns, i;
    const plan_tensor *t = plan_tensors(p, &n);
    const plan_shard *s = plan_shards(p, &ns);
    cJSON *arr = add_node(root, "tensors", true, ok), *o;

    for (i = 0; arr && i < n; i++) {
        if (!(o = add_node(arr, NULL, false, ok)))
            return;
        add_str(o, "name", t[i].name, ok);
        add_str(o, "model", mname(p, t[i].model), ok);
        add_str(o, "source", t[i].src->t->name, ok);
        add_str(o, "dtype", st_dtype_name(t[i].dtype), ok);
        add_num(o, "scale", t[i].scale, ok);
        add_str(o, "shard", s[t[i].shard].name, ok);
    }
}

static void json_tail(const plan *p, cJSON *root, bool *ok)
{
    size_t n, i;
    const cfg_change *c = plan_config_changes(p, &n);
    const plan_warning *w;
    cJSON *arr = add_node(root, "config_changes", true, ok), *o;

    for (i = 0; arr && i < n; i++) {
        cJSON *s = cJSON_CreateString(c[i].line);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            *ok = false;
        }
    }
    w = plan_warnings(p, &n);
    arr = add_node(root, "warnings", true, ok);
    for (i = 0; arr && i < n; i++) {
        if (!(o = add_node(arr, NULL, false, ok)))
            return;
        add_str(o, "code", w[i].code, ok);
        add_str(o, "message", w[i].message, ok);
    }
}

cJSON *plan_to_json(const plan *p)
{
    cJSON *root = cJSON_CreateObject();
    const recipe *r = plan_recipe(p);
    size_t n;
    bool ok = root != NULL;

    if (!root)
        return NULL;
    add_str(root, "recipe", r->path, &ok);
    plan_layers(p, &n);
    add_num(root, "layer_count", (double)n, &ok);
    add_num(root, "layer_count_before",
            model_layer_count(plan_model(p, plan_get_donors(p).config)), &ok);
    add_num(root, "parameter_count", (double)plan_parameters(p), &ok);
    add_num(root, "data_bytes", (double)plan_bytes(p), &ok);
    add_num(root, "parameters_before", (double)plan_parameters_before(p), &ok);
    add_num(root, "data_bytes_before", (double)plan_bytes_before(p), &ok);
    add_num(root, "shard_size", (double)plan_shard_limit(p), &ok);
    json_models(p, root, &ok);
    json_layers(p, root, &ok);
    json_seams(p, root, &ok);
    json_shards(p, root, &ok);
    json_tensors(p, root, &ok);
    json_tail(p, root, &ok);
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
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
