/* recipe_json.c: the JSON recipe reader. Every error names the file and
 * the field path ("recipe.json: slices[1]: unknown key 'layer'"). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recipe_int.h"
#include "common/util.h"

typedef struct jctx {
    const char *label;
    const char *base_dir;
    recipe *r;
    sut_error *err;
} jctx;

static const char *const top_keys[] = {
    "comment", "models", "slices", "embed_from", "head_from", "config_from",
    "tokenizer_from", "output", NULL};
static const char *const slice_keys[] = {"model", "layers", "scale", NULL};
static const char *const scale_keys[] = {"match", "value", NULL};
static const char *const output_keys[] = {"shard_size", "dtype", NULL};

/* Refuses a key of obj not in allowed. */
static int check_keys(const jctx *c, const cJSON *obj, const char *where,
                      const char *const *allowed)
{
    const cJSON *it;
    size_t i;

    cJSON_ArrayForEach(it, obj) {
        for (i = 0; allowed[i] && strcmp(allowed[i], it->string) != 0; i++)
            ;
        if (!allowed[i])
            return rc_fail(c->err, c->label, where, "unknown key '%s'", it->string);
    }
    return 0;
}

/* The model index named by a string item, or -1 with err set. */
static long model_ref(const jctx *c, const cJSON *item, const char *where)
{
    long m;

    if (!cJSON_IsString(item))
        return rc_fail(c->err, c->label, where, "expected a model name");
    m = recipe_model_index(c->r, item->valuestring);
    if (m < 0)
        return rc_fail(c->err, c->label, where, "unknown model '%s' (not in models)",
                    item->valuestring);
    return m;
}

static int parse_models(const jctx *c, const cJSON *models)
{
    const cJSON *it;
    char where[300];

    if (!cJSON_IsObject(models))
        return rc_fail(c->err, c->label, "models", models ? "expected an object of NAME: PATH"
                                        : "missing");
    if (!models->child)
        return rc_fail(c->err, c->label, "models", "empty");
    cJSON_ArrayForEach(it, models) {
        if (!rc_valid_name(it->string))
            return rc_fail(c->err, c->label, "models", "invalid model name '%s' (use letters, "
                        "digits, '_', '.' and '-')", it->string);
        snprintf(where, sizeof(where), "models.%s", it->string);
        if (!cJSON_IsString(it) || !*it->valuestring)
            return rc_fail(c->err, c->label, where, "expected a path");
        if (rc_add_model(c->r, it->string, it->valuestring, c->base_dir) < 0)
            return rc_oom(c->err, c->label);
    }
    return 0;
}

/* A layer number in [0, RECIPE_LAYER_MAX]. */
static int layer_number(const jctx *c, const cJSON *item, const char *where,
                        size_t i, unsigned *out)
{
    char at[320];
    uint64_t v;

    snprintf(at, sizeof(at), "%s[%zu]", where, i);
    if (sut_json_u64(item, &v) != 0 || v > RECIPE_LAYER_MAX)
        return rc_fail(c->err, c->label, at, "expected a whole number from 0 to %u",
                    RECIPE_LAYER_MAX);
    *out = (unsigned)v;
    return 0;
}

static int parse_layers(const jctx *c, const cJSON *layers, const char *where,
                        unsigned *start, unsigned *end)
{
    if (!layers)
        return rc_fail(c->err, c->label, where, "missing");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) != 2)
        return rc_fail(c->err, c->label, where, "expected [start, end]");
    if (layer_number(c, layers->child, where, 0, start) != 0 ||
        layer_number(c, layers->child->next, where, 1, end) != 0)
        return -1;
    if (*start > *end)
        return rc_fail(c->err, c->label, where, "start %u is after end %u", *start, *end);
    return 0;
}

/* Reads a finite number or a non-empty list of them into a new array
 * (caller frees); NULL with err set. */
static double *scale_values(const jctx *c, const cJSON *v, const char *where,
                            size_t *n)
{
    const cJSON *it;
    double *vals = NULL;
    size_t i = 0;

    if (!v) {
        rc_fail(c->err, c->label, where, "missing");
        return NULL;
    }
    *n = cJSON_IsNumber(v) ? 1
         : cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 0;
    if (*n == 0)
        goto bad;
    if (!(vals = calloc(*n, sizeof(*vals)))) {
        rc_oom(c->err, c->label);
        return NULL;
    }
    if (cJSON_IsNumber(v))
        vals[i++] = v->valuedouble;
    else
        cJSON_ArrayForEach(it, v) {
            if (!cJSON_IsNumber(it))
                goto bad;
            vals[i++] = it->valuedouble;
        }
    for (i = 0; i < *n; i++)
        if (!isfinite(vals[i]))
            goto bad;
    return vals;
bad:
    free(vals);
    rc_fail(c->err, c->label, where, "expected a number or a non-empty list of numbers");
    return NULL;
}

static int parse_rule(const jctx *c, recipe_slice *s, const cJSON *rule,
                      const char *where)
{
    const cJSON *match = cJSON_GetObjectItemCaseSensitive(rule, "match");
    char at[340];
    double *vals;
    size_t n;
    int rc;

    if (!cJSON_IsObject(rule))
        return rc_fail(c->err, c->label, where, "expected {\"match\": PATTERN, \"value\": V}");
    if (check_keys(c, rule, where, scale_keys) != 0)
        return -1;
    snprintf(at, sizeof(at), "%s.match", where);
    if (match && !cJSON_IsString(match))
        return rc_fail(c->err, c->label, at, "expected a pattern string");
    snprintf(at, sizeof(at), "%s.value", where);
    vals = scale_values(c, cJSON_GetObjectItemCaseSensitive(rule, "value"),
                        at, &n);
    if (!vals)
        return -1;
    rc = rc_add_scale(s, match ? match->valuestring : NULL, vals, n, c->err);
    free(vals);
    if (rc != 0)
        sut_error_prefix(c->err, "%s: %s.match", c->label, where);
    return rc;
}

static int parse_scale(const jctx *c, recipe_slice *s, const cJSON *scale,
                       const char *where)
{
    const cJSON *it;
    char at[330];
    size_t i = 0;

    if (!scale)
        return 0;
    if (!cJSON_IsArray(scale))
        return rc_fail(c->err, c->label, where, "expected a list of {\"match\", \"value\"}");
    cJSON_ArrayForEach(it, scale) {
        snprintf(at, sizeof(at), "%s[%zu]", where, i++);
        if (parse_rule(c, s, it, at) != 0)
            return -1;
    }
    return 0;
}

static int parse_slice(const jctx *c, const cJSON *sl, size_t i)
{
    char where[64], at[300];
    unsigned start, end;
    recipe_slice *s;
    long m;

    snprintf(where, sizeof(where), "slices[%zu]", i);
    if (!cJSON_IsObject(sl))
        return rc_fail(c->err, c->label, where, "expected an object");
    if (check_keys(c, sl, where, slice_keys) != 0)
        return -1;
    snprintf(at, sizeof(at), "%s.model", where);
    if (!cJSON_GetObjectItemCaseSensitive(sl, "model"))
        return rc_fail(c->err, c->label, at, "missing");
    m = model_ref(c, cJSON_GetObjectItemCaseSensitive(sl, "model"), at);
    if (m < 0)
        return -1;
    snprintf(at, sizeof(at), "%s.layers", where);
    if (parse_layers(c, cJSON_GetObjectItemCaseSensitive(sl, "layers"), at,
                     &start, &end) != 0)
        return -1;
    if (!(s = rc_add_slice(c->r, (size_t)m, start, end)))
        return rc_oom(c->err, c->label);
    snprintf(at, sizeof(at), "%s.scale", where);
    return parse_scale(c, s, cJSON_GetObjectItemCaseSensitive(sl, "scale"),
                       at);
}

static int parse_slices(const jctx *c, const cJSON *slices)
{
    const cJSON *it;
    char where[SUT_ERROR_MAX];
    size_t i = 0;

    if (!cJSON_IsArray(slices))
        return rc_fail(c->err, c->label, "slices", slices ? "expected a list of slices"
                                        : "missing");
    if (!slices->child)
        return rc_fail(c->err, c->label, "slices", "empty");

    cJSON_ArrayForEach(it, slices)
        if (parse_slice(c, it, i++) != 0)
            return -1;
    snprintf(where, sizeof(where), "%s: slices", c->label);
    return rc_check_total(c->r, where, c->err);
}

static int parse_donor(const jctx *c, const cJSON *root, const char *key,
                       long *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);

    if (!item)
        return 0;
    *out = model_ref(c, item, key);
    return *out < 0 ? -1 : 0;
}

static int parse_shard_size(const jctx *c, const cJSON *v)
{
    const char *where = "output.shard_size";
    uint64_t n;

    if (cJSON_IsString(v)) {
        if (recipe_parse_size(v->valuestring, &n) != 0)
            return rc_fail(c->err, c->label, where, "invalid size '%s' (e.g. \"5GB\", \"500MB\","
                        " \"2GiB\" or a number of bytes)", v->valuestring);
    } else if (sut_json_u64(v, &n) != 0) {
        return rc_fail(c->err, c->label, where, "expected a size such as \"5GB\" or a whole "
                    "number of bytes");
    }
    if (n == 0)
        return rc_fail(c->err, c->label, where, "must be at least 1 byte");
    c->r->shard_size = n;
    return 0;
}

static int parse_output(const jctx *c, const cJSON *out)
{
    const cJSON *v;

    if (!out)
        return 0;
    if (!cJSON_IsObject(out))
        return rc_fail(c->err, c->label, "output", "expected an object");
    if (check_keys(c, out, "output", output_keys) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(out, "shard_size");
    if (v && parse_shard_size(c, v) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(out, "dtype");
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || rc_parse_dtype(v->valuestring, &c->r->dtype) != 0)
        return rc_fail(c->err, c->label, "output.dtype", "unknown dtype '%s' (use f32, f16 or "
                    "bf16)", cJSON_IsString(v) ? v->valuestring : "?");
    c->r->has_dtype = true;
    return 0;
}

static int parse_root(const jctx *c, const cJSON *root)
{
    recipe *r = c->r;
    const cJSON *comment;

    if (!cJSON_IsObject(root))
        return rc_fail(c->err, c->label, "", "expected a JSON object");
    if (check_keys(c, root, "", top_keys) != 0)
        return -1;
    comment = cJSON_GetObjectItemCaseSensitive(root, "comment");
    if (comment && !cJSON_IsString(comment))
        return rc_fail(c->err, c->label, "comment", "expected a string");
    if (comment && !(r->comment = strdup(comment->valuestring)))
        return rc_oom(c->err, c->label);
    if (parse_models(c, cJSON_GetObjectItemCaseSensitive(root, "models")) ||
        parse_slices(c, cJSON_GetObjectItemCaseSensitive(root, "slices")) ||
        parse_donor(c, root, "embed_from", &r->embed_from) ||
        parse_donor(c, root, "head_from", &r->head_from) ||
        parse_donor(c, root, "config_from", &r->config_from) ||
        parse_donor(c, root, "tokenizer_from", &r->tokenizer_from) ||
        parse_output(c, cJSON_GetObjectItemCaseSensitive(root, "output")))
        return -1;
    return rc_note_unused(r) == 0 ? 0 : rc_oom(c->err, c->label);
}

recipe *recipe_parse_json(const char *text, size_t len, const char *label,
                          const char *base_dir, sut_error *err)
{
    jctx c = {label, base_dir, NULL, err};
    cJSON *root = sut_json_parse(text, len, label, err);

    if (!root)
        return NULL;
    if (!(c.r = rc_new(RECIPE_JSON)))
        rc_oom(c.err, c.label);
    else if (parse_root(&c, root) != 0) {
        recipe_free(c.r);
        c.r = NULL;
    }
    cJSON_Delete(root);
    return c.r;
}
