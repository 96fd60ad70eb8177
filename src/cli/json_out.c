/* json_out.c: the --json object of every command (see json_out.h). */
#include <string.h>

#include "suture/audit.h"
#include "suture/format.h"
#include "suture/model.h"
#include "suture/plan.h"
#include "suture/recipe.h"
#include "suture/verify.h"
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

cJSON *cli_json_inspect(const model *m, bool tensors)
{
    struct cli_totals s;
    cJSON *o = cJSON_CreateObject(), *p, *dt, *issues, *list;
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
    issues = cJSON_AddArrayToObject(o, "issues");
    for (i = 0; i < model_issue_count(m); i++) {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "code", model_issue_at(m, i)->code);
        cJSON_AddStringToObject(it, "message", model_issue_at(m, i)->message);
        cJSON_AddItemToArray(issues, it);
    }
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

/* plan, audit, verify, convert-recipe: built by the library (see json_out.h) */

cJSON *cli_json_plan(const plan *p)
{
    return plan_to_json(p);
}

cJSON *cli_json_audit(const audit_report *r)
{
    return audit_to_json(r);
}

cJSON *cli_json_verify(const verify_report *r)
{
    return verify_to_json(r);
}

cJSON *cli_json_recipe(const recipe *r)
{
    return recipe_to_json(r);
}

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
