/* json_out.c: the --json object of every command (see json_out.h). */
#include <stdlib.h>
#include <string.h>

#include "suture/audit.h"
#include "suture/format.h"
#include "suture/model.h"
#include "suture/plan.h"
#include "suture/recipe.h"
#include "suture/verify.h"
#include "common/util.h"
#include "json_out.h"

/* inspect */

void cli_inspect_count(const model *m, struct cli_totals *s)
{
    const char *head = model_arch(m)->head_name;
    bool none = strcmp(model_arch(m)->name, "none") == 0;
    size_t i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < model_tensor_count(m); i++) {
        const model_tensor *t = model_tensor_at(m, i);
        uint64_t n = t->t->elements;

        s->dtypes[t->t->dtype]++;
        if (t->role == MODEL_LAYER)
            s->layers += n;
        else if (t->role == MODEL_PRE && !none)
            s->embed += n;
        else if (head && strcmp(t->t->name, head) == 0)
            s->head += n;
        else
            s->other += n;
    }
}

/* The name users know the architecture by: config model_type, else the
 * family's. */
const char *cli_inspect_arch(const model *m)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(model_config(m), "model_type");

    return cJSON_IsString(mt) ? mt->valuestring : model_arch(m)->name;
}

static cJSON *tensor_json(const model *m, const model_tensor *t)
{
    cJSON *o = cJSON_CreateObject(), *shape = cJSON_AddArrayToObject(o, "shape");
    size_t d;

    cJSON_AddStringToObject(o, "name", t->t->name);
    cJSON_AddStringToObject(o, "dtype", st_dtype_name(t->t->dtype));
    for (d = 0; d < t->t->ndim; d++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->t->shape[d]));
    cJSON_AddStringToObject(o, "file", model_shard_name(m, t->shard));
    cJSON_AddNumberToObject(o, "bytes", (double)st_tensor_bytes(t->t));
    return o;
}

static cJSON *files_json(const model *m)
{
    cJSON *files = cJSON_CreateArray();
    size_t i;

    for (i = 0; i < model_shard_count(m); i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", model_shard_name(m, i));
        cJSON_AddNumberToObject(f, "tensors", (double)st_count(model_shard(m, i)));
        cJSON_AddNumberToObject(f, "bytes", (double)st_data_size(model_shard(m, i)));
        cJSON_AddItemToArray(files, f);
    }
    return files;
}

/* "issues": [{"code", "message"}] of the n issues of model m. */
static void issues_json(cJSON *o, const model_issue *(*at)(const void *, size_t),
                        const void *m, size_t n)
{
    cJSON *issues = cJSON_AddArrayToObject(o, "issues");
    size_t i;

    for (i = 0; i < n; i++) {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "code", at(m, i)->code);
        cJSON_AddStringToObject(it, "message", at(m, i)->message);
        cJSON_AddItemToArray(issues, it);
    }
}

static const model_issue *model_issue_of(const void *m, size_t i)
{
    return model_issue_at(m, i);
}

static const model_issue *gmodel_issue_of(const void *m, size_t i)
{
    return gmodel_issue_at(m, i);
}

cJSON *cli_json_inspect(const model *m, bool tensors)
{
    struct cli_totals s;
    cJSON *o = cJSON_CreateObject(), *p, *dt, *list;
    long cfg_layers = arch_config_layers(model_arch(m), model_config(m));
    size_t i;

    cli_inspect_count(m, &s);
    cJSON_AddStringToObject(o, "path", model_path(m));
    cJSON_AddStringToObject(o, "architecture", cli_inspect_arch(m));
    cJSON_AddStringToObject(o, "family", model_arch(m)->name);
    cJSON_AddBoolToObject(o, "family_inferred", model_arch(m)->inferred);
    cJSON_AddNumberToObject(o, "layer_count", model_layer_count(m));
    if (cfg_layers >= 0)
        cJSON_AddNumberToObject(o, "config_layer_count", (double)cfg_layers);
    else
        cJSON_AddNullToObject(o, "config_layer_count");
    cJSON_AddNumberToObject(o, "tensor_count", (double)model_tensor_count(m));
    cJSON_AddNumberToObject(o, "parameter_count", (double)model_parameter_count(m));
    p = cJSON_AddObjectToObject(o, "parameters");
    cJSON_AddNumberToObject(p, "embeddings", (double)s.embed);
    cJSON_AddNumberToObject(p, "layers", (double)s.layers);
    cJSON_AddNumberToObject(p, "head", (double)s.head);
    cJSON_AddNumberToObject(p, "other", (double)s.other);
    cJSON_AddNumberToObject(o, "data_bytes", (double)model_data_bytes(m));
    dt = cJSON_AddObjectToObject(o, "dtypes");
    for (i = 0; i < ST_DTYPE_COUNT; i++)
        if (s.dtypes[i])
            cJSON_AddNumberToObject(dt, st_dtype_name((st_dtype)i), (double)s.dtypes[i]);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", model_tied(m));
    if (model_index_name(m))
        cJSON_AddStringToObject(o, "index", model_index_name(m));
    else
        cJSON_AddNullToObject(o, "index");
    cJSON_AddItemToObject(o, "files", files_json(m));
    issues_json(o, model_issue_of, m, model_issue_count(m));
    if (tensors) {
        list = cJSON_AddArrayToObject(o, "tensors");
        for (i = 0; i < model_tensor_count(m); i++)
            cJSON_AddItemToArray(list, tensor_json(m, model_tensor_at(m, i)));
    }
    return o;
}

/* build */

static cJSON *strings_json(char **v, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    size_t i;

    for (i = 0; arr && i < n; i++)
        if (!cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]))) {
            cJSON_Delete(arr);
            return NULL;
        }
    return arr;
}

/* {"path", "layer_count", "tensor_count", "parameter_count", "data_bytes",
 *  "bytes_shared", "bytes_copied", "shards": [{"name", "bytes", "tensors"}], "tokenizer_files", "notes":
 *  [text], "warnings": [{"code", "message"}]}; NULL when out of memory. */
cJSON *cli_json_build(const plan *p, const build_report *rep, const char *out)
{
    cJSON *o = cJSON_CreateObject(), *arr, *e;
    size_t n, i;
    const plan_shard *sh;
    const plan_warning *w;
    bool ok = o && cJSON_AddStringToObject(o, "path", out);

    plan_layers(p, &n);
    ok = ok && cJSON_AddNumberToObject(o, "layer_count", (double)n);
    plan_tensors(p, &n);
    ok = ok && cJSON_AddNumberToObject(o, "tensor_count", (double)n) &&
         cJSON_AddNumberToObject(o, "parameter_count", (double)plan_parameters(p)) &&
         cJSON_AddNumberToObject(o, "data_bytes", (double)rep->bytes) &&
         cJSON_AddNumberToObject(o, "bytes_shared", (double)rep->bytes_shared) &&
         cJSON_AddNumberToObject(o, "bytes_copied", (double)rep->bytes_copied) &&
         (arr = cJSON_AddArrayToObject(o, "shards"));
    sh = plan_shards(p, &n);
    for (i = 0; ok && i < n; i++)
        ok = (e = cJSON_CreateObject()) && cJSON_AddItemToArray(arr, e) &&
             cJSON_AddStringToObject(e, "name", sh[i].name) &&
             cJSON_AddNumberToObject(e, "bytes", (double)sh[i].bytes) &&
             cJSON_AddNumberToObject(e, "tensors", (double)sh[i].count);
    ok = ok && cJSON_AddNumberToObject(o, "tokenizer_files", (double)rep->files_copied) &&
         cJSON_AddItemToObject(o, "notes", strings_json(rep->notes, rep->nnotes)) &&
         (arr = cJSON_AddArrayToObject(o, "warnings"));
    w = plan_warnings(p, &n);
    for (i = 0; ok && i < n; i++)
        ok = (e = cJSON_CreateObject()) && cJSON_AddItemToArray(arr, e) &&
             cJSON_AddStringToObject(e, "code", w[i].code) &&
             cJSON_AddStringToObject(e, "message", w[i].message);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* trim */

/* Adds key: s, or null when s is empty. */
static bool add_text(cJSON *o, const char *key, const char *s)
{
    return *s ? cJSON_AddStringToObject(o, key, s) != NULL
              : cJSON_AddNullToObject(o, key) != NULL;
}

/* {"path", "output", "trimmed", "reason", "tensor", "shard",
 *  "shard_dropped", "identical", "parameters", "bytes", "bytes_shared",
 *  "bytes_copied", "stale_removed"};
 * NULL when out of memory. */
cJSON *cli_json_trim(const trim_result *res, const char *path, const char *out)
{
    cJSON *o = cJSON_CreateObject();
    bool t = res->trimmed;
    bool ok = o && cJSON_AddStringToObject(o, "path", path) &&
              add_text(o, "output", out ? out : "") &&
              cJSON_AddBoolToObject(o, "trimmed", t) &&
              add_text(o, "reason", t ? "" : res->reason) &&
              add_text(o, "tensor", t ? res->tensor : "") &&
              add_text(o, "shard", t ? res->shard : "") &&
              cJSON_AddBoolToObject(o, "shard_dropped", t && res->shard_dropped) &&
              cJSON_AddBoolToObject(o, "identical", t && res->identical) &&
              cJSON_AddNumberToObject(o, "parameters", t ? (double)res->parameters : 0) &&
              cJSON_AddNumberToObject(o, "bytes", t ? (double)res->bytes : 0) &&
              cJSON_AddNumberToObject(o, "bytes_shared", (double)res->bytes_shared) &&
              cJSON_AddNumberToObject(o, "bytes_copied", (double)res->bytes_copied) &&
              cJSON_AddNumberToObject(o, "stale_removed", res->stale);

    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* plan */

static void add_num(cJSON *obj, const char *key, double v, bool *ok)
{
    if (!cJSON_AddNumberToObject(obj, key, v))
        *ok = false;
}

/* Adds key: s, or null when s is NULL. */
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

static void plan_models_json(const plan *p, cJSON *root, bool *ok)
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

static void plan_layers_json(const plan *p, cJSON *root, bool *ok)
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

static void plan_seams_json(const plan *p, cJSON *root, bool *ok)
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

static void plan_shards_json(const plan *p, cJSON *root, bool *ok)
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

static void plan_tensors_json(const plan *p, cJSON *root, bool *ok)
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

static void plan_tail_json(const plan *p, cJSON *root, bool *ok)
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

cJSON *cli_json_plan(const plan *p)
{
    cJSON *root = cJSON_CreateObject();
    size_t n;
    bool ok = root != NULL;

    if (!root)
        return NULL;
    add_str(root, "recipe", plan_recipe(p)->path, &ok);
    plan_layers(p, &n);
    add_num(root, "layer_count", (double)n, &ok);
    add_num(root, "layer_count_before",
            model_layer_count(plan_model(p, plan_get_donors(p).config)), &ok);
    add_num(root, "parameter_count", (double)plan_parameters(p), &ok);
    add_num(root, "data_bytes", (double)plan_bytes(p), &ok);
    add_num(root, "parameters_before", (double)plan_parameters_before(p), &ok);
    add_num(root, "data_bytes_before", (double)plan_bytes_before(p), &ok);
    add_num(root, "shard_size", (double)plan_shard_limit(p), &ok);
    plan_models_json(p, root, &ok);
    plan_layers_json(p, root, &ok);
    plan_seams_json(p, root, &ok);
    plan_shards_json(p, root, &ok);
    plan_tensors_json(p, root, &ok);
    plan_tail_json(p, root, &ok);
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* audit */

/* The base name of a slice or origin, or NULL for the model itself. */
static const char *base_label(const audit_report *r, long base)
{
    return base >= 0 && (size_t)base < audit_base_count(r)
           ? audit_base_name(r, (size_t)base) : NULL;
}

/* {"code", "severity", "message", "place"} of each finding. */
static void findings_json(cJSON *o, const audit_finding *(*at)(const void *, size_t),
                          const void *r, size_t n, bool *ok)
{
    cJSON *arr = add_node(o, "findings", true, ok), *e;
    size_t i;

    for (i = 0; arr && i < n; i++) {
        const audit_finding *f = at(r, i);
        if (!(e = add_node(arr, NULL, false, ok)))
            return;
        add_str(e, "code", f->code, ok);
        add_str(e, "severity", audit_severity_name(f->severity), ok);
        add_str(e, "message", f->message, ok);
        add_str(e, "place", f->place, ok);
    }
}

static const audit_finding *finding_of(const void *r, size_t i)
{
    return audit_finding_at(r, i);
}

static void groups_json(cJSON *o, const audit_report *r, bool *ok)
{
    cJSON *arr = add_node(o, "duplicates", true, ok), *g;
    size_t i, j, n;

    for (i = 0; arr && i < audit_duplicate_count(r); i++) {
        const unsigned *layers = audit_duplicate_at(r, i, &n);
        if (!(g = add_node(arr, NULL, true, ok)))
            return;
        for (j = 0; j < n; j++)
            if (!cJSON_AddItemToArray(g, cJSON_CreateNumber(layers[j])))
                *ok = false;
    }
}

static void slices_json(cJSON *o, const audit_report *r, bool *ok)
{
    cJSON *arr = add_node(o, "slices", true, ok), *e, *layers;
    size_t i;

    for (i = 0; arr && i < audit_slice_count(r); i++) {
        const audit_slice *s = audit_slice_at(r, i);
        if (!(e = add_node(arr, NULL, false, ok)))
            return;
        add_str(e, "model", base_label(r, s->base), ok);
        if (!(layers = add_node(e, "layers", true, ok)))
            return;
        if (!cJSON_AddItemToArray(layers, cJSON_CreateNumber(s->start)) ||
            !cJSON_AddItemToArray(layers, cJSON_CreateNumber(s->end)))
            *ok = false;
    }
}

/* {"layer", "model", "source_layer"} of each origin; model and
 * source_layer null when unmatched. */
static void origins_json(cJSON *o, const audit_origin *(*at)(const void *, size_t),
                         const char *(*name)(const void *, size_t),
                         const void *r, size_t n, bool *ok)
{
    cJSON *arr = add_node(o, "provenance", true, ok), *e;
    size_t i;

    for (i = 0; arr && i < n; i++) {
        const audit_origin *g = at(r, i);
        if (!(e = add_node(arr, NULL, false, ok)))
            return;
        add_num(e, "layer", g->layer, ok);
        add_str(e, "model", g->base >= 0 ? name(r, (size_t)g->base) : NULL, ok);
        if (g->base >= 0)
            add_num(e, "source_layer", (double)g->source_layer, ok);
        else if (!cJSON_AddNullToObject(e, "source_layer"))
            *ok = false;
    }
}

static const audit_origin *origin_of(const void *r, size_t i)
{
    return audit_origin_at(r, i);
}

static const char *base_of(const void *r, size_t i)
{
    return base_label(r, (long)i);
}

static void seams_json(cJSON *o, const audit_report *r, bool *ok)
{
    cJSON *arr = add_node(o, "seams", true, ok), *e, *end;
    size_t i;

    for (i = 0; arr && i < audit_seam_count(r); i++) {
        const audit_seam *s = audit_seam_at(r, i);
        if (!(e = add_node(arr, NULL, false, ok)))
            return;
        add_num(e, "index", s->index, ok);
        if ((end = add_node(e, "from", false, ok))) {
            add_str(end, "model", audit_base_name(r, s->from_base), ok);
            add_num(end, "layer", s->from_layer, ok);
        }
        if ((end = add_node(e, "to", false, ok))) {
            add_str(end, "model", audit_base_name(r, s->to_base), ok);
            add_num(end, "layer", s->to_layer, ok);
        }
        add_num(e, "jump", (double)s->jump, ok);
    }
}

cJSON *cli_json_audit(const audit_report *r)
{
    cJSON *o = cJSON_CreateObject();
    const model *m = audit_model(r);
    bool ok = o != NULL;

    if (!o)
        return NULL;
    add_str(o, "path", audit_path(r), &ok);
    if (m)
        add_num(o, "layer_count", model_layer_count(m), &ok);
    else
        add_str(o, "layer_count", NULL, &ok);
    add_num(o, "parameter_count", (double)audit_parameter_count(r), &ok);
    if (audit_expected_parameters(r))
        add_num(o, "expected_parameters", (double)audit_expected_parameters(r), &ok);
    else
        add_str(o, "expected_parameters", NULL, &ok);
    add_num(o, "data_bytes", m ? (double)model_data_bytes(m) : 0, &ok);
    add_num(o, "errors", (double)audit_count(r, AUDIT_ERROR), &ok);
    add_num(o, "warnings", (double)audit_count(r, AUDIT_WARNING), &ok);
    findings_json(o, finding_of, r, audit_finding_count(r), &ok);
    groups_json(o, r, &ok);
    slices_json(o, r, &ok);
    if (audit_base_count(r) > 0) {
        origins_json(o, origin_of, base_of, r, audit_origin_count(r), &ok);
        seams_json(o, r, &ok);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* verify */

cJSON *cli_json_verify(const verify_report *r)
{
    cJSON *o = cJSON_CreateObject(), *arr, *e;
    bool ok = o != NULL;
    size_t i;

    if (!o)
        return NULL;
    add_str(o, "path", verify_path(r), &ok);
    add_num(o, "tensors", (double)verify_checked(r), &ok);
    add_num(o, "copied", (double)verify_copied(r), &ok);
    add_num(o, "recomputed", (double)verify_recomputed(r), &ok);
    add_num(o, "sources", (double)verify_sources(r), &ok);
    if (!cJSON_AddBoolToObject(o, "ok", verify_problem_count(r) == 0))
        ok = false;
    arr = add_node(o, "mismatches", true, &ok);
    for (i = 0; arr && i < verify_problem_count(r); i++) {
        const verify_problem *p = verify_problem_at(r, i);
        if (!(e = add_node(arr, NULL, false, &ok)))
            break;
        add_str(e, "shard", p->shard, &ok);
        add_str(e, "tensor", p->tensor, &ok);
        add_str(e, "message", p->message, &ok);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* convert-recipe: the library's builder, which build also writes into
 * suture-recipe.json */

cJSON *cli_json_recipe(const recipe *r)
{
    return recipe_to_json(r);
}

/* probe */

cJSON *cli_json_probe(const probe_result *r, const char *path)
{
    cJSON *o = cJSON_CreateObject(), *layers = cJSON_CreateArray(),
          *blocks = cJSON_CreateArray();
    bool ok = o && layers && blocks &&
              cJSON_AddStringToObject(o, "path", path) &&
              cJSON_AddNumberToObject(o, "tokens", (double)r->tokens) &&
              cJSON_AddNumberToObject(o, "predicted", (double)r->predicted) &&
              cJSON_AddNumberToObject(o, "windows", (double)r->windows) &&
              cJSON_AddNumberToObject(o, "ctx", (double)r->ctx) &&
              cJSON_AddNumberToObject(o, "nll", r->nll) &&
              cJSON_AddNumberToObject(o, "perplexity", r->perplexity);
    size_t i;

    for (i = 0; ok && i < r->n_layers; i++) {
        cJSON *l = cJSON_CreateObject();
        ok = l && cJSON_AddItemToArray(layers, l) &&
             cJSON_AddNumberToObject(l, "index", (double)i) &&
             cJSON_AddNumberToObject(l, "angular_distance", r->layers[i].angular_distance) &&
             cJSON_AddNumberToObject(l, "angular_distance_last",
                                     r->layers[i].angular_distance_last) &&
             cJSON_AddNumberToObject(l, "block_influence", r->layers[i].block_influence);
    }
    for (i = 0; ok && i < r->n_blocks; i++) {
        cJSON *b = cJSON_CreateObject();
        ok = b && cJSON_AddItemToArray(blocks, b) &&
             cJSON_AddNumberToObject(b, "length", (double)r->blocks[i].length) &&
             cJSON_AddNumberToObject(b, "start", (double)r->blocks[i].start) &&
             cJSON_AddNumberToObject(b, "angular_distance", r->blocks[i].angular_distance);
    }
    if (ok && cJSON_AddItemToObject(o, "layers", layers)) {
        layers = NULL;
        ok = cJSON_AddItemToObject(o, "blocks", blocks);
        blocks = ok ? NULL : blocks;
    } else
        ok = false;
    cJSON_Delete(layers);
    cJSON_Delete(blocks);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* GGUF: inspect */

void cli_gguf_count(const gmodel *m, struct cli_gguf_totals *s)
{
    size_t i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < gmodel_tensor_count(m); i++) {
        const gmodel_tensor *t = gmodel_tensor_at(m, i);
        uint64_t n = t->t->elements;

        s->types[t->t->type]++;
        if (t->role == MODEL_LAYER)
            s->layers += n;
        else if (strcmp(t->t->name, "output.weight") == 0)
            s->head += n;
        else if (strncmp(t->t->name, "token_embd.", 11) == 0)
            s->embed += n;
        else
            s->other += n;
    }
}

const char *cli_gguf_file_name(const gmodel *m, size_t i)
{
    return sut_basename(gguf_path(gguf_set_file(gmodel_set(m), i)));
}

static cJSON *gguf_scalar_json(const gguf_kv *kv)
{
    uint64_t u;
    double d;

    if (kv->type == GGUF_V_STRING)
        return cJSON_CreateString(gguf_kv_str(kv, NULL));
    if (kv->type == GGUF_V_BOOL)
        return cJSON_CreateBool(kv->raw[0] != 0);
    if (gguf_kv_u64(kv, &u) == 0)
        return cJSON_CreateNumber((double)u);
    gguf_kv_f64(kv, &d);
    return cJSON_CreateNumber(d);
}

static cJSON *gguf_array_json(const gmodel *m, const gguf_kv *kv)
{
    cJSON *o = cJSON_CreateObject(), *vals;
    uint64_t i;
    double d;

    cJSON_AddStringToObject(o, "type", "array");
    cJSON_AddStringToObject(o, "element_type", gguf_vtype_name(kv->elem));
    cJSON_AddNumberToObject(o, "count", (double)kv->count);
    cJSON_AddBoolToObject(o, "per_layer", gmodel_per_layer(m, kv));
    if (!gguf_vtype_size(kv->elem) || kv->count > CLI_GGUF_SHOW_VALUES)
        return o;
    vals = cJSON_AddArrayToObject(o, "values");
    for (i = 0; i < kv->count; i++) {
        gguf_kv_arr_f64(kv, i, &d);
        cJSON_AddItemToArray(vals, cJSON_CreateNumber(d));
    }
    return o;
}

static cJSON *gguf_metadata_json(const gmodel *m)
{
    const gguf_file *f = gmodel_meta(m);
    cJSON *o = cJSON_CreateObject();
    size_t i;

    for (i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        cJSON_AddItemToObject(o, kv->key, kv->type == GGUF_V_ARRAY
                              ? gguf_array_json(m, kv) : gguf_scalar_json(kv));
    }
    return o;
}

static cJSON *gguf_tensor_json(const gmodel *m, const gmodel_tensor *t)
{
    cJSON *o = cJSON_CreateObject(), *shape = cJSON_AddArrayToObject(o, "shape");
    size_t d;

    cJSON_AddStringToObject(o, "name", t->t->name);
    cJSON_AddStringToObject(o, "type", gguf_type_name(t->t->type));
    for (d = 0; d < t->t->ndim; d++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->t->ne[d]));
    cJSON_AddStringToObject(o, "file", cli_gguf_file_name(m, t->file));
    cJSON_AddNumberToObject(o, "offset", (double)t->t->offset);
    cJSON_AddNumberToObject(o, "bytes", (double)t->t->bytes);
    return o;
}

static cJSON *gguf_files_json(const gmodel *m)
{
    cJSON *files = cJSON_CreateArray();
    size_t i;

    for (i = 0; i < gguf_set_count(gmodel_set(m)); i++) {
        const gguf_file *g = gguf_set_file(gmodel_set(m), i);
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", cli_gguf_file_name(m, i));
        cJSON_AddNumberToObject(f, "version", gguf_version(g));
        cJSON_AddNumberToObject(f, "alignment", gguf_alignment(g));
        cJSON_AddNumberToObject(f, "data_start", (double)gguf_data_start(g));
        cJSON_AddNumberToObject(f, "tensors", (double)gguf_tensor_count(g));
        cJSON_AddNumberToObject(f, "metadata_keys", (double)gguf_kv_count(g));
        cJSON_AddItemToArray(files, f);
    }
    return files;
}

static void gguf_add_counts(cJSON *o, const gmodel *m, const struct cli_gguf_totals *s)
{
    cJSON *p = cJSON_AddObjectToObject(o, "parameters"), *ty;
    uint32_t i;

    cJSON_AddNumberToObject(p, "embeddings", (double)s->embed);
    cJSON_AddNumberToObject(p, "layers", (double)s->layers);
    cJSON_AddNumberToObject(p, "head", (double)s->head);
    cJSON_AddNumberToObject(p, "other", (double)s->other);
    cJSON_AddNumberToObject(o, "data_bytes", (double)gmodel_data_bytes(m));
    ty = cJSON_AddObjectToObject(o, "types");
    for (i = 0; i < GGUF_TYPE_COUNT; i++)
        if (s->types[i])
            cJSON_AddNumberToObject(ty, gguf_type_name(i), (double)s->types[i]);
}

cJSON *cli_json_gguf_inspect(const gmodel *m, bool tensors)
{
    struct cli_gguf_totals s;
    cJSON *o = cJSON_CreateObject(), *list;
    size_t i;

    cli_gguf_count(m, &s);
    cJSON_AddStringToObject(o, "path", gmodel_path(m));
    cJSON_AddStringToObject(o, "format", "gguf");
    if (gmodel_arch(m))
        cJSON_AddStringToObject(o, "architecture", gmodel_arch(m));
    else
        cJSON_AddNullToObject(o, "architecture");
    cJSON_AddNumberToObject(o, "layer_count", gmodel_layer_count(m));
    if (gmodel_block_count(m) >= 0)
        cJSON_AddNumberToObject(o, "config_layer_count", (double)gmodel_block_count(m));
    else
        cJSON_AddNullToObject(o, "config_layer_count");
    cJSON_AddNumberToObject(o, "tensor_count", (double)gmodel_tensor_count(m));
    cJSON_AddNumberToObject(o, "parameter_count", (double)gmodel_parameter_count(m));
    gguf_add_counts(o, m, &s);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", gmodel_tied(m));
    cJSON_AddItemToObject(o, "files", gguf_files_json(m));
    cJSON_AddItemToObject(o, "metadata", gguf_metadata_json(m));
    issues_json(o, gmodel_issue_of, m, gmodel_issue_count(m));
    if (tensors) {
        list = cJSON_AddArrayToObject(o, "tensors");
        for (i = 0; i < gmodel_tensor_count(m); i++)
            cJSON_AddItemToArray(list, gguf_tensor_json(m, gmodel_tensor_at(m, i)));
    }
    return o;
}

/* GGUF: plan and build */

static const char *gguf_mname(const gbuild_plan *p, size_t i)
{
    return gbuild_plan_recipe(p)->models[i].name;
}

cJSON *cli_json_gguf_plan(const gbuild_plan *p)
{
    cJSON *o = cJSON_CreateObject(), *arr, *e;
    size_t i, nl, nt, nn;
    const gbuild_layer *l = gbuild_plan_layers(p, &nl);
    const gbuild_tensor *t = gbuild_plan_tensors(p, &nt);
    const char *const *notes = gbuild_plan_notes(p, &nn);

    cJSON_AddStringToObject(o, "format", "gguf");
    cJSON_AddStringToObject(o, "architecture",
                            gmodel_arch(gbuild_plan_model(p, gbuild_plan_config(p))));
    cJSON_AddNumberToObject(o, "layer_count", (double)nl);
    cJSON_AddNumberToObject(o, "tensor_count", (double)nt);
    cJSON_AddNumberToObject(o, "parameter_count", (double)gbuild_plan_parameters(p));
    cJSON_AddNumberToObject(o, "data_bytes", (double)gbuild_plan_bytes(p));
    cJSON_AddNumberToObject(o, "files", (double)gbuild_plan_files(p));
    arr = cJSON_AddArrayToObject(o, "layers");
    for (i = 0; i < nl; i++) {
        e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "index", l[i].index);
        cJSON_AddStringToObject(e, "model", gguf_mname(p, l[i].model));
        cJSON_AddNumberToObject(e, "source_layer", l[i].source_layer);
        cJSON_AddItemToArray(arr, e);
    }
    arr = cJSON_AddArrayToObject(o, "tensors");
    for (i = 0; i < nt; i++) {
        e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", t[i].name);
        cJSON_AddStringToObject(e, "model", gguf_mname(p, t[i].model));
        cJSON_AddStringToObject(e, "source", t[i].src->t->name);
        cJSON_AddStringToObject(e, "type", gguf_type_name(t[i].src->t->type));
        cJSON_AddNumberToObject(e, "scale", t[i].scale);
        cJSON_AddNumberToObject(e, "file", (double)t[i].file);
        cJSON_AddItemToArray(arr, e);
    }
    arr = cJSON_AddArrayToObject(o, "notes");
    for (i = 0; i < nn; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(notes[i]));
    return o;
}

cJSON *cli_json_gguf_build(const gbuild_plan *p, const char *out)
{
    cJSON *o = cJSON_CreateObject();
    size_t nl, nt;

    gbuild_plan_layers(p, &nl);
    gbuild_plan_tensors(p, &nt);
    cJSON_AddStringToObject(o, "path", out);
    cJSON_AddStringToObject(o, "format", "gguf");
    cJSON_AddNumberToObject(o, "layer_count", (double)nl);
    cJSON_AddNumberToObject(o, "tensor_count", (double)nt);
    cJSON_AddNumberToObject(o, "parameter_count", (double)gbuild_plan_parameters(p));
    cJSON_AddNumberToObject(o, "data_bytes", (double)gbuild_plan_bytes(p));
    cJSON_AddNumberToObject(o, "files", (double)gbuild_plan_files(p));
    return o;
}

/* GGUF: audit, trim, verify */

static const audit_finding *gfinding_of(const void *r, size_t i)
{
    return gaudit_finding_at(r, i);
}

static const audit_origin *gorigin_of(const void *r, size_t i)
{
    return gaudit_origin_at(r, i);
}

static const char *gbase_of(const void *r, size_t i)
{
    return gaudit_base_name(r, i);
}

cJSON *cli_json_gguf_audit(const gaudit_report *r)
{
    cJSON *o = cJSON_CreateObject();
    const gmodel *m = gaudit_model(r);
    bool ok = o != NULL;

    if (!o)
        return NULL;
    add_str(o, "path", gmodel_path(m), &ok);
    add_str(o, "format", "gguf", &ok);
    add_num(o, "layer_count", gmodel_layer_count(m), &ok);
    add_num(o, "parameter_count", (double)gmodel_parameter_count(m), &ok);
    add_num(o, "data_bytes", (double)gmodel_data_bytes(m), &ok);
    findings_json(o, gfinding_of, r, gaudit_finding_count(r), &ok);
    add_num(o, "errors", (double)gaudit_count(r, AUDIT_ERROR), &ok);
    add_num(o, "warnings", (double)gaudit_count(r, AUDIT_WARNING), &ok);
    if (gaudit_base_count(r) > 0)
        origins_json(o, gorigin_of, gbase_of, r, gaudit_origin_count(r), &ok);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *cli_json_gguf_trim(const gaudit_trim_result *res, const char *path,
                          const char *out)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "output", out);
    cJSON_AddBoolToObject(o, "trimmed", res->trimmed);
    if (res->trimmed)
        cJSON_AddNullToObject(o, "reason");
    else
        cJSON_AddStringToObject(o, "reason", res->reason);
    cJSON_AddStringToObject(o, "tensor", "output.weight");
    cJSON_AddBoolToObject(o, "identical", res->identical);
    cJSON_AddNumberToObject(o, "parameters", (double)res->parameters);
    cJSON_AddNumberToObject(o, "bytes", (double)res->bytes);
    return o;
}

cJSON *cli_json_gguf_verify(const gbuild_verify_result *res, const char *path)
{
    cJSON *o = cJSON_CreateObject(), *arr;
    size_t i;

    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddNumberToObject(o, "checked", (double)res->checked);
    cJSON_AddNumberToObject(o, "copies", (double)res->copies);
    cJSON_AddNumberToObject(o, "recomputed", (double)res->recomputed);
    arr = cJSON_AddArrayToObject(o, "problems");
    for (i = 0; i < res->nproblems; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(res->problems[i]));
    return o;
}

/* {"model": NAME, "layer": L} */
static cJSON *json_model_layer(const plan *p, size_t mi, unsigned layer)
{
    cJSON *o = cJSON_CreateObject();

    if (!o || !cJSON_AddStringToObject(o, "model", plan_recipe(p)->models[mi].name) ||
        !cJSON_AddNumberToObject(o, "layer", layer)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *json_seam(const measure_seam *s, const plan *p)
{
    cJSON *o = cJSON_CreateObject(), *h = cJSON_CreateArray();
    bool ok = o && h &&
              cJSON_AddNumberToObject(o, "index", s->index) &&
              cJSON_AddItemToObject(o, "from", json_model_layer(p, s->from_model,
                                                                s->from_layer)) &&
              cJSON_AddItemToObject(o, "to", json_model_layer(p, s->to_model,
                                                              s->to_layer)) &&
              cJSON_AddNumberToObject(o, "angular_distance", s->angular_distance);
    size_t i;

    for (i = 0; ok && i < s->n_healed; i++)
        ok = cJSON_AddItemToArray(h, cJSON_CreateNumber(s->healed[i]));
    if (ok && cJSON_AddItemToObject(o, "healed", h))
        return o;
    cJSON_Delete(h);
    cJSON_Delete(o);
    return NULL;
}

cJSON *cli_json_seams(const measure_result *m, const plan *p)
{
    cJSON *seams = cJSON_CreateArray();
    size_t i;

    for (i = 0; seams && i < m->n_seams; i++)
        if (!cJSON_AddItemToArray(seams, json_seam(&m->seams[i], p))) {
            cJSON_Delete(seams);
            return NULL;
        }
    return seams;
}

cJSON *cli_json_plan_measure(const measure_result *m, const plan *p, const char *path,
                             size_t base)
{
    cJSON *o = cJSON_CreateObject(), *seams = cli_json_seams(m, p);

    if (o && seams &&
        cJSON_AddStringToObject(o, "path", path) &&
        cJSON_AddNumberToObject(o, "tokens", (double)m->out.tokens) &&
        cJSON_AddNumberToObject(o, "predicted", (double)m->out.predicted) &&
        cJSON_AddNumberToObject(o, "ctx", (double)m->out.ctx) &&
        cJSON_AddStringToObject(o, "base", plan_recipe(p)->models[base].name) &&
        cJSON_AddNumberToObject(o, "nll_before", m->base.nll) &&
        cJSON_AddNumberToObject(o, "perplexity_before", m->base.perplexity) &&
        cJSON_AddNumberToObject(o, "nll", m->out.nll) &&
        cJSON_AddNumberToObject(o, "perplexity", m->out.perplexity) &&
        cJSON_AddItemToObject(o, "seams", seams))
        return o;
    cJSON_Delete(seams);
    cJSON_Delete(o);
    return NULL;
}

cJSON *cli_json_measure(const measure_result *m, const plan *p, const char *label,
                        size_t base)
{
    cJSON *o = cli_json_probe(&m->out, label), *b = cJSON_CreateObject(),
          *seams = cli_json_seams(m, p);
    bool ok = o && b && seams &&
              cJSON_AddStringToObject(b, "path", model_path(plan_model(p, base))) &&
              cJSON_AddNumberToObject(b, "nll", m->base.nll) &&
              cJSON_AddNumberToObject(b, "perplexity", m->base.perplexity);

    if (ok && cJSON_AddItemToObject(o, "base", b)) {
        b = NULL;
        if (cJSON_AddItemToObject(o, "seams", seams))
            return o;
    }
    cJSON_Delete(b);
    cJSON_Delete(seams);
    cJSON_Delete(o);
    return NULL;
}
