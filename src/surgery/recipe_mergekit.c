/* recipe_mergekit.c: mergekit passthrough YAML configs (libyaml).
 *
 * Read as mergekit does (mergekit/config.py, plan.py, merge.py):
 *  - each entry of slices has exactly one source; layer_range [a, b] is the
 *    half-open range a..b-1 of that model;
 *  - parameters.scale at the source, the slice and the top level, looked up
 *    in that order; a setting is a number, a list of numbers (a gradient
 *    over the slice) or a list of {filter, value} where the first entry
 *    whose filter is a substring of the tensor name wins, and an entry
 *    without filter (or "*") matches all;
 *  - embeddings come from the first slice's model and the final norm and
 *    lm_head from the last slice's (suture's defaults too); config.json and
 *    the tokenizer from base_model, else from one of the models;
 *  - the output dtype is out_dtype, else dtype.
 * Where suture differs, a note says so. Model paths are taken relative to
 * the config's folder; a hub id that is not a local folder is refused. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "recipe_int.h"
#include "common/util.h"

#define YAML_DEPTH_MAX 64
#define WORK_MAX 4000000  /* items visited, aliases expanded */

/* A scale rule before compiling: match NULL means every tensor. */
typedef struct rule {
    char *match;
    double *values;
    size_t n;
} rule;

typedef struct rules {
    rule *v;
    size_t n;
} rules;

/* What to do with a mapping key: handled by the caller (both NULL),
 * refused (error "WHERE.KEY: refuse"), or ignored with a note. */
typedef struct keyrule {
    const char *key;
    const char *refuse;
    const char *ignore;
} keyrule;

typedef struct mctx {
    const char *label;
    const char *base_dir;
    recipe *r;
    sut_error *err;
    yaml_document_t *doc;
    size_t work;
    bool relative;   /* some model path is relative */
    rules top;       /* the top-level scale rules */
} mctx;

static const keyrule top_keys[] = {
    {"merge_method", NULL, NULL}, {"slices", NULL, NULL},
    {"base_model", NULL, NULL}, {"dtype", NULL, NULL},
    {"out_dtype", NULL, NULL}, {"tokenizer_source", NULL, NULL},
    {"tokenizer", NULL, NULL}, {"parameters", NULL, NULL},
    {"chat_template", NULL, "suture copies the tokenizer files as they are"},
    {"models", "not supported: list the layers with slices and layer_range",
     NULL},
    {"modules", "not supported: suture reads one stack of slices", NULL},
    {NULL, NULL, NULL}};
static const keyrule slice_keys[] = {
    {"sources", NULL, NULL}, {"parameters", NULL, NULL},
    {"base_model", NULL, "passthrough does not use it"},
    {"residual_weight", NULL, "passthrough does not use it"},
    {NULL, NULL, NULL}};
static const keyrule source_keys[] = {
    {"model", NULL, NULL}, {"layer_range", NULL, NULL},
    {"parameters", NULL, NULL}, {NULL, NULL, NULL}};
static const keyrule cond_keys[] = {
    {"filter", NULL, NULL}, {"value", NULL, NULL}, {NULL, NULL, NULL}};
static const keyrule tokenizer_keys[] = {
    {"source", NULL, NULL},
    {"tokens", "not supported: suture does not add or change tokens", NULL},
    {"pad_to_multiple_of", "not supported: suture keeps the vocabulary size",
     NULL},
    {NULL, NULL, NULL}};

/* Errors and notes ----------------------------------------------------- */

/* Counts n items of work; fails once the total passes WORK_MAX. */
static int spend(mctx *c, size_t n)
{
    c->work += n;
    if (c->work > WORK_MAX)
        return rc_fail(c->err, c->label, "", "too large: over %u items once aliases are "
                    "expanded", WORK_MAX);
    return 0;
}

/* Nodes ---------------------------------------------------------------- */

static yaml_node_t *node(const mctx *c, int i)
{
    return yaml_document_get_node(c->doc, i);
}

/* The text of a scalar node, or NULL for another kind or one holding a
 * NUL byte. */
static const char *scalar(const yaml_node_t *n)
{
    const char *s;

    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    s = (const char *)n->data.scalar.value;
    return strlen(s) == n->data.scalar.length ? s : NULL;
}

/* True for an absent value: a plain "", "~" or "null". */
static bool is_null(const yaml_node_t *n)
{
    const char *s = scalar(n);

    return !n || (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                  (!*s || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0));
}

static size_t seq_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_at(const mctx *c, const yaml_node_t *n, size_t i)
{
    return node(c, n->data.sequence.items.start[i]);
}

/* The value of key in mapping n, or NULL when absent or null. */
static yaml_node_t *map_get(const mctx *c, const yaml_node_t *n,
                            const char *key)
{
    yaml_node_pair_t *p;
    const char *k;

    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
        if ((k = scalar(node(c, p->key))) && strcmp(k, key) == 0)
            return is_null(node(c, p->value)) ? NULL : node(c, p->value);
    return NULL;
}

/* Formats a field path into buf, truncating when it is too long. */
static void pathf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void pathf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static void join(char *buf, size_t size, const char *where, const char *key)
{
    pathf(buf, size, "%s%s%s", where, *where ? "." : "", key);
}

/* Applies table to one key of a mapping: refuses, notes or accepts it. */
static int check_key(mctx *c, const char *where, const char *key,
                     const keyrule *table)
{
    char at[512];

    join(at, sizeof(at), where, key);
    for (; table->key && strcmp(table->key, key) != 0; table++)
        ;
    if (table->refuse)
        return rc_fail(c->err, c->label, at, "%s", table->refuse);
    if (table->ignore &&
        rc_note(c->r, "%s: %s is ignored: %s", c->label, at, table->ignore))
        return rc_oom(c->err, c->label);
    if (!table->key &&
        rc_note(c->r, "%s: %s is ignored: not a mergekit setting", c->label,
                at))
        return rc_oom(c->err, c->label);
    return 0;
}

/* Checks that n is a mapping of scalar keys, none twice, each known. */
static int check_map(mctx *c, const yaml_node_t *n, const char *where,
                     const keyrule *table)
{
    yaml_node_pair_t *p, *q;
    const char *k;

    if (!n || n->type != YAML_MAPPING_NODE)
        return rc_fail(c->err, c->label, where, "expected a mapping");
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        if (spend(c, 1) != 0)
            return -1;
        if (!(k = scalar(node(c, p->key))))
            return rc_fail(c->err, c->label, where, "expected text keys");
        for (q = n->data.mapping.pairs.start; q < p; q++)
            if (strcmp(scalar(node(c, q->key)), k) == 0)
                return rc_fail(c->err, c->label, where, "duplicate key '%s'", k);
        if (check_key(c, where, k, table) != 0)
            return -1;
    }
    return 0;
}

/* Numbers ------------------------------------------------------------ */

static int number(mctx *c, const yaml_node_t *n, const char *where,
                  double *out)
{
    const char *s = scalar(n);
    char *end;

    if (s && *s && strspn(s, "0123456789.eE+-") == strlen(s)) {
        errno = 0;
        *out = strtod(s, &end);
        if (end != s && !*end && errno == 0 && isfinite(*out))
            return 0;
    }
    return rc_fail(c->err, c->label, where, "expected a number");
}

/* A layer number: decimal digits, at most RECIPE_LAYER_MAX. */
static int layer_number(mctx *c, const yaml_node_t *n, const char *where,
                        unsigned *out)
{
    const char *s = scalar(n);
    unsigned long v;
    char *end;

    if (s && isdigit((unsigned char)*s) && strspn(s, "0123456789") == strlen(s)) {
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno == 0 && v <= RECIPE_LAYER_MAX) {
            *out = (unsigned)v;
            return 0;
        }
    }
    return rc_fail(c->err, c->label, where, "expected a whole number from 0 to %u",
                RECIPE_LAYER_MAX);
}

/* Scale settings ------------------------------------------------------- */

static void rules_free(rules *rs)
{
    size_t i;

    for (i = 0; i < rs->n; i++) {
        free(rs->v[i].match);
        free(rs->v[i].values);
    }
    free(rs->v);
    rs->v = NULL;
    rs->n = 0;
}

/* Appends a rule taking ownership of match and values (freed on error). */
static int rules_add(mctx *c, rules *rs, char *match, double *values, size_t n)
{
    rule *v = realloc(rs->v, (rs->n + 1) * sizeof(*v));

    if (!v) {
        free(match);
        free(values);
        return rc_oom(c->err, c->label);
    }
    rs->v = v;
    rs->v[rs->n++] = (rule){match, values, n};
    return 0;
}

/* A filter as a PCRE2 pattern matching it literally (every character but
 * letters, digits, '_' and non-ASCII bytes escaped), or NULL for "" and
 * "*" which match every tensor. *oom is set when out of memory. */
static char *literal_pattern(const char *filter, bool *oom_)
{
    char *out, *o;
    const char *p;

    *oom_ = false;
    if (!*filter || strcmp(filter, "*") == 0)
        return NULL;
    if (!(out = o = malloc(2 * strlen(filter) + 1))) {
        *oom_ = true;
        return NULL;
    }
    for (p = filter; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && !(*p & 0x80))
            *o++ = '\\';
        *o++ = *p;
    }
    *o = '\0';
    return out;
}

/* Reads a number or a non-empty list of numbers (a gradient). */
static double *values_of(mctx *c, const yaml_node_t *v, const char *where,
                         size_t *n)
{
    char at[512];
    double *vals;
    size_t i;

    *n = v && v->type == YAML_SEQUENCE_NODE ? seq_len(v) : 1;
    if (!v || v->type == YAML_MAPPING_NODE || *n == 0) {
        rc_fail(c->err, c->label, where, "expected a number or a list of numbers");
        return NULL;
    }
    if (spend(c, *n) != 0)
        return NULL;
    if (!(vals = calloc(*n, sizeof(*vals)))) {
        rc_oom(c->err, c->label);
        return NULL;
    }
    for (i = 0; i < *n; i++) {
        pathf(at, sizeof(at), "%s[%zu]", where, i);
        if (number(c, v->type == YAML_SEQUENCE_NODE ? seq_at(c, v, i) : v,
                   v->type == YAML_SEQUENCE_NODE ? at : where, &vals[i]) != 0) {
            free(vals);
            return NULL;
        }
    }
    return vals;
}

/* Notes a filter that names more than the part within a layer. */
static int note_filter(mctx *c, const char *filter, const char *where)
{
    if (!strstr(filter, "layers") && strncmp(filter, "model.", 6) != 0 &&
        strncmp(filter, "transformer.", 12) != 0)
        return 0;
    if (rc_note(c->r, "%s: %s: suture matches filter '%s' against the name "
                "within the layer (e.g. 'self_attn.o_proj.weight'); mergekit "
                "matches the full source name (e.g. "
                "'model.layers.8.self_attn.o_proj.weight')", c->label, where,
                filter))
        return rc_oom(c->err, c->label);
    return 0;
}

/* One {filter, value} entry of a scale list. */
static int condition(mctx *c, const yaml_node_t *n, const char *where,
                     rules *out)
{
    const yaml_node_t *f;
    const char *filter = "";
    char at[512], *match;
    double *vals;
    size_t nv;
    bool no_mem;

    if (check_map(c, n, where, cond_keys) != 0)
        return -1;
    if ((f = map_get(c, n, "filter")) && !(filter = scalar(f))) {
        join(at, sizeof(at), where, "filter");
        return rc_fail(c->err, c->label, at, "expected text");
    }
    join(at, sizeof(at), where, "value");
    if (!(vals = values_of(c, map_get(c, n, "value"), at, &nv)))
        return -1;
    match = literal_pattern(filter, &no_mem);
    if (no_mem) {
        free(vals);
        return rc_oom(c->err, c->label);
    }
    if (note_filter(c, filter, where) != 0) {
        free(match);
        free(vals);
        return -1;
    }
    return rules_add(c, out, match, vals, nv);
}

/* A scale setting: a number, a list of numbers, or a list of
 * {filter, value}. */
static int setting(mctx *c, const yaml_node_t *v, const char *where,
                   rules *out)
{
    const char *what = "expected a number, a list of numbers or a list of "
                       "{filter, value}";
    const yaml_node_t *first;
    char at[512];
    double *vals;
    size_t i, n;

    if (v->type == YAML_MAPPING_NODE)
        return rc_fail(c->err, c->label, where, "%s", what);
    first = v->type == YAML_SEQUENCE_NODE && seq_len(v) ? seq_at(c, v, 0) : v;
    if (first->type != YAML_MAPPING_NODE) {
        if (!(vals = values_of(c, v, where, &n)))
            return -1;
        return rules_add(c, out, NULL, vals, n);
    }
    for (i = 0; i < seq_len(v); i++) {
        pathf(at, sizeof(at), "%s[%zu]", where, i);
        if (spend(c, 1) != 0)
            return -1;
        if (seq_at(c, v, i)->type != YAML_MAPPING_NODE)
            return rc_fail(c->err, c->label, at, "%s", what);
        if (condition(c, seq_at(c, v, i), at, out) != 0)
            return -1;
    }
    return 0;
}

/* A parameters mapping: scale is read into out; others are noted. */
static int parameters(mctx *c, const yaml_node_t *n, const char *where,
                      rules *out)
{
    yaml_node_pair_t *p;
    const char *k;
    char at[512];

    if (!n)
        return 0;
    if (n->type != YAML_MAPPING_NODE)
        return rc_fail(c->err, c->label, where, "expected a mapping");
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        k = scalar(node(c, p->key));
        join(at, sizeof(at), where, k ? k : "?");
        if (!k || strcmp(k, "scale") != 0) {
            if (rc_note(c->r, "%s: %s is ignored: passthrough uses only "
                        "scale", c->label, at))
                return rc_oom(c->err, c->label);
        } else if (!is_null(node(c, p->value)) &&
                   setting(c, node(c, p->value), at, out) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Models ----------------------------------------------------------------- */

static bool is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* True when the n bytes at p are "." or "..". */
static bool dots(const char *p, size_t n)
{
    return (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.');
}

/* True when the len bytes at s are "org/name": two parts of
 * [A-Za-z0-9_.-], neither "." nor "..". */
static bool hub_like(const char *s, size_t len)
{
    const char *slash = memchr(s, '/', len);
    size_t a, i;

    if (!slash)
        return false;
    a = (size_t)(slash - s);
    for (i = 0; i < len; i++)
        if (i != a && !isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return false;
    return a > 0 && a + 1 < len && !dots(s, a) &&
           !dots(slash + 1, len - a - 1);
}

/* Refuses a reference that is not a local folder but a hub id
 * ("org/name" or "org/name@revision") or a LoRA ("model+lora"). */
static int check_local(mctx *c, const char *s, const char *where)
{
    const char *at = strchr(s, '@');
    size_t id = at ? (size_t)(at - s) : strlen(s);
    char *path = s[0] == '/' || !c->base_dir ? strdup(s)
                                             : sut_path_join(c->base_dir, s);
    bool local = path && is_dir(path);
    const char *name;

    free(path);
    if (local)
        return 0;
    if (hub_like(s, id) && !(at && strchr(at + 1, '@'))) {
        name = strchr(s, '/') + 1;
        return rc_fail(c->err, c->label, where, "'%s' is not a local folder (download it first, "
                    "e.g. huggingface-cli download %.*s%s%s --local-dir %.*s)",
                    s, (int)id, s, at ? " --revision " : "", at ? at + 1 : "",
                    (int)(s + id - name), name);
    }
    if (strchr(s, '+'))
        return rc_fail(c->err, c->label, where, "'%s': LoRA adapters ('model+lora') are not "
                    "supported; merge the adapter into the model first", s);
    return 0;
}

/* The model a reference names, added on first sight; -1 with err set. */
static long model_ref(mctx *c, const yaml_node_t *n, const char *where)
{
    const char *s = scalar(n);
    char *name;
    long m;

    if (!s || !*s)
        return rc_fail(c->err, c->label, where, "expected a model path");
    if ((m = rc_find_given(c->r, s)) >= 0)
        return m;
    if (check_local(c, s, where) != 0)
        return -1;
    if (!(name = rc_name_from_path(c->r, s)))
        return rc_oom(c->err, c->label);
    m = rc_add_model(c->r, name, s, c->base_dir);
    free(name);
    if (m < 0)
        return rc_oom(c->err, c->label);
    c->relative |= s[0] != '/';
    return m;
}

/* Slices ----------------------------------------------------------------- */

static int layer_range(mctx *c, const yaml_node_t *n, const char *where,
                       unsigned *start, unsigned *end)
{
    char at[512];

    if (!n)
        return rc_fail(c->err, c->label, where, "missing");
    if (n->type != YAML_SEQUENCE_NODE || seq_len(n) != 2)
        return rc_fail(c->err, c->label, where, "expected [start, end]");
    pathf(at, sizeof(at), "%s[0]", where);
    if (layer_number(c, seq_at(c, n, 0), at, start) != 0)
        return -1;
    pathf(at, sizeof(at), "%s[1]", where);
    if (layer_number(c, seq_at(c, n, 1), at, end) != 0)
        return -1;
    if (*start > *end)
        return rc_fail(c->err, c->label, where, "start %u is after end %u", *start, *end);
    return 0;
}

/* Compiles rules into slice s; errors name where the rules came from. */
static int add_rules(mctx *c, recipe_slice *s, const rules *rs,
                     const char *where)
{
    size_t i;

    for (i = 0; i < rs->n; i++)
        if (rc_add_scale(s, rs->v[i].match, rs->v[i].values, rs->v[i].n,
                         c->err) != 0) {
            sut_error_prefix(c->err, "%s: %s", c->label, where);
            return -1;
        }
    return 0;
}

/* The one source of slice n (at where); its model and range. */
static const yaml_node_t *source_of(mctx *c, const yaml_node_t *n,
                                    const char *where)
{
    const yaml_node_t *srcs = map_get(c, n, "sources");
    char at[512];

    join(at, sizeof(at), where, "sources");
    if (!srcs || srcs->type != YAML_SEQUENCE_NODE) {
        rc_fail(c->err, c->label, at, srcs ? "expected a list" : "missing");
        return NULL;
    }
    if (seq_len(srcs) != 1) {
        rc_fail(c->err, c->label, at, "passthrough takes exactly one source per slice, not %zu",
             seq_len(srcs));
        return NULL;
    }
    join(at, sizeof(at), where, "sources[0]");
    return check_map(c, seq_at(c, srcs, 0), at, source_keys) == 0
           ? seq_at(c, srcs, 0) : NULL;
}

static int slice(mctx *c, const yaml_node_t *n, size_t i)
{
    char where[64], src_at[128], at[512];
    const yaml_node_t *src;
    rules own = {0};
    unsigned start, end;
    recipe_slice *s;
    long m;
    int rc = -1;

    pathf(where, sizeof(where), "slices[%zu]", i);
    pathf(src_at, sizeof(src_at), "%s.sources[0]", where);
    if (check_map(c, n, where, slice_keys) != 0 ||
        !(src = source_of(c, n, where)))
        return -1;
    join(at, sizeof(at), src_at, "model");
    if (!map_get(c, src, "model"))
        return rc_fail(c->err, c->label, at, "missing");
    if ((m = model_ref(c, map_get(c, src, "model"), at)) < 0)
        return -1;
    join(at, sizeof(at), src_at, "layer_range");
    if (layer_range(c, map_get(c, src, "layer_range"), at, &start, &end) != 0)
        return -1;
    if (!(s = rc_add_slice(c->r, (size_t)m, start, end)))
        return rc_oom(c->err, c->label);
    join(at, sizeof(at), src_at, "parameters");
    if (parameters(c, map_get(c, src, "parameters"), at, &own) != 0 ||
        add_rules(c, s, &own, at) != 0)
        goto out;
    rules_free(&own);
    join(at, sizeof(at), where, "parameters");
    if (parameters(c, map_get(c, n, "parameters"), at, &own) != 0 ||
        add_rules(c, s, &own, at) != 0 ||
        add_rules(c, s, &c->top, "parameters") != 0)
        goto out;
    rc = 0;
out:
    rules_free(&own);
    return rc;
}

static int slices(mctx *c, const yaml_node_t *n)
{
    char where[SUT_ERROR_MAX];
    size_t i;

    if (!n)
        return rc_fail(c->err, c->label, "slices", "missing");
    if (n->type != YAML_SEQUENCE_NODE)
        return rc_fail(c->err, c->label, "slices", "expected a list");
    if (!seq_len(n))
        return rc_fail(c->err, c->label, "slices", "empty");
    for (i = 0; i < seq_len(n); i++)
        if (spend(c, 1) != 0 || slice(c, seq_at(c, n, i), i) != 0)
            return -1;
    pathf(where, sizeof(where), "%s: slices", c->label);
    return rc_check_total(c->r, where, c->err);
}

/* Top level ------------------------------------------------------------ */

static int merge_method(mctx *c, const yaml_node_t *root)
{
    const yaml_node_t *n = map_get(c, root, "merge_method");
    const char *s = scalar(n);

    if (!n)
        return rc_fail(c->err, c->label, "merge_method", "missing (suture reads passthrough "
                    "configs)");
    if (!s || strcmp(s, "passthrough") != 0)
        return rc_fail(c->err, c->label, "merge_method", "'%s' is not supported (suture does "
                    "passthrough only)", s ? s : "?");
    return 0;
}

static int dtype(mctx *c, const yaml_node_t *root)
{
    const char *key = map_get(c, root, "out_dtype") ? "out_dtype" : "dtype";
    const yaml_node_t *n = map_get(c, root, key);
    const char *s = scalar(n);

    if (!n)
        return 0;
    if (!s || rc_parse_dtype(s, &c->r->dtype) != 0)
        return rc_fail(c->err, c->label, key, "unknown dtype '%s' (use float32, float16 or "
                    "bfloat16)", s ? s : "?");
    c->r->has_dtype = true;
    return 0;
}

/* The tokenizer donor: tokenizer_source or tokenizer.source. */
static int tokenizer(mctx *c, const yaml_node_t *root, long base)
{
    const yaml_node_t *t = map_get(c, root, "tokenizer");
    const yaml_node_t *n = map_get(c, root, "tokenizer_source");
    const char *where = "tokenizer_source", *s;

    if (t && n)
        return rc_fail(c->err, c->label, "tokenizer", "give tokenizer_source or tokenizer, not "
                    "both");
    if (t) {
        if (check_map(c, t, "tokenizer", tokenizer_keys) != 0)
            return -1;
        n = map_get(c, t, "source");
        where = "tokenizer.source";
    }
    c->r->tokenizer_from = base;
    if (!n)
        return 0;
    s = scalar(n);
    if (s && strcmp(s, "union") == 0)
        return rc_fail(c->err, c->label, where, "'union' is not supported (suture copies one "
                    "model's tokenizer: give base or a model)");
    if (s && strcmp(s, "base") == 0) {
        if (base < 0)
            return rc_fail(c->err, c->label, where, "'base' needs base_model");
        return 0;
    }
    c->r->tokenizer_from = model_ref(c, n, where);
    return c->r->tokenizer_from < 0 ? -1 : 0;
}

/* Notes where mergekit would give another result than suture. */
static int note_differences(mctx *c, long base)
{
    recipe *r = c->r;
    const recipe_slice *first = &r->slices[0], *last = &r->slices[r->nslices - 1];
    size_t i;
    bool many = false;

    for (i = 1; i < r->nslices; i++)
        many |= r->slices[i].model != first->model;
    if (c->relative &&
        rc_note(r, "%s: model paths are read relative to the config's folder "
                "(mergekit reads them relative to the current folder)",
                c->label))
        return -1;
    if (base < 0 && many &&
        rc_note(r, "%s: no base_model: mergekit takes config.json and the "
                "tokenizer from whichever model it lists first (not a stable "
                "choice); suture takes them from the first slice's model '%s'",
                c->label, r->models[first->model].name))
        return -1;
    if (r->tokenizer_from >= 0 &&
        ((size_t)r->tokenizer_from != first->model ||
         (size_t)r->tokenizer_from != last->model) &&
        rc_note(r, "%s: tokenizer: mergekit re-maps the embedding rows to the "
                "vocabulary of '%s'; suture copies that tokenizer as it is "
                "and keeps the embeddings and lm_head unchanged", c->label,
                r->models[r->tokenizer_from].name))
        return -1;
    if (rc_scales(first, "model.embed_tokens.weight", 0) &&
        rc_note(r, "%s: slices[0]: mergekit would also scale the embeddings "
                "(e.g. 'model.embed_tokens.weight') by this slice's scale; "
                "suture scales layer tensors only", c->label))
        return -1;
    if ((rc_scales(last, "lm_head.weight", 0) ||
         rc_scales(last, "model.norm.weight", 0)) &&
        rc_note(r, "%s: slices[%zu]: mergekit would also scale the final norm "
                "and lm_head (e.g. 'lm_head.weight') by this slice's scale; "
                "suture scales layer tensors only", c->label, r->nslices - 1))
        return -1;
    return 0;
}

static int config(mctx *c, const yaml_node_t *root)
{
    const yaml_node_t *b;
    long base = -1;

    if (check_map(c, root, "", top_keys) != 0 || merge_method(c, root) != 0 ||
        parameters(c, map_get(c, root, "parameters"), "parameters",
                   &c->top) != 0 ||
        slices(c, map_get(c, root, "slices")) != 0)
        return -1;
    if ((b = map_get(c, root, "base_model")) &&
        (base = model_ref(c, b, "base_model")) < 0)
        return -1;
    c->r->config_from = base;
    if (dtype(c, root) != 0 || tokenizer(c, root, base) != 0)
        return -1;
    if (asprintf(&c->r->comment, "converted from mergekit config '%s'",
                 sut_basename(c->label)) < 0) {
        c->r->comment = NULL;
        return rc_oom(c->err, c->label);
    }
    return note_differences(c, base) == 0 ? 0 : rc_oom(c->err, c->label);
}

/* Loading -------------------------------------------------------------- */

static int yaml_error(const mctx *c, const yaml_parser_t *p)
{
    return rc_fail(c->err, c->label, "", "invalid YAML at line %zu, column %zu: %s",
                p->problem_mark.line + 1, p->problem_mark.column + 1,
                p->problem ? p->problem : "unreadable");
}

/* Walks the events once to bound nesting before building the tree. */
static int check_depth(const mctx *c, const char *text, size_t len)
{
    yaml_parser_t p;
    yaml_event_t ev;
    size_t depth = 0;
    int rc = 0, done = 0;

    if (!yaml_parser_initialize(&p))
        return rc_oom(c->err, c->label);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done && rc == 0) {
        if (!yaml_parser_parse(&p, &ev)) {
            rc = yaml_error(c, &p);
            break;
        }
        if (ev.type == YAML_SEQUENCE_START_EVENT ||
            ev.type == YAML_MAPPING_START_EVENT)
            depth++;
        else if (ev.type == YAML_SEQUENCE_END_EVENT ||
                 ev.type == YAML_MAPPING_END_EVENT)
            depth--;
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (depth > YAML_DEPTH_MAX)
            rc = rc_fail(c->err, c->label, "", "nested deeper than %d levels", YAML_DEPTH_MAX);
    }
    yaml_parser_delete(&p);
    return rc;
}

/* Loads the one document of text into doc. */
static int load(mctx *c, const char *text, size_t len, yaml_document_t *doc)
{
    yaml_parser_t p;
    yaml_document_t extra;
    int rc = -1;

    if (!yaml_parser_initialize(&p))
        return rc_oom(c->err, c->label);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, doc)) {
        yaml_error(c, &p);
        goto out;
    }
    if (!yaml_document_get_root_node(doc)) {
        rc_fail(c->err, c->label, "", "empty");
    } else if (!yaml_parser_load(&p, &extra)) {
        yaml_error(c, &p);
    } else {
        if (yaml_document_get_root_node(&extra))
            rc_fail(c->err, c->label, "", "more than one YAML document");
        else
            rc = 0;
        yaml_document_delete(&extra);
    }
    if (rc != 0)
        yaml_document_delete(doc);
out:
    yaml_parser_delete(&p);
    return rc;
}

recipe *recipe_parse_mergekit(const char *text, size_t len, const char *label,
                              const char *base_dir, sut_error *err)
{
    mctx c = {label, base_dir, NULL, err, NULL, 0, false, {0}};
    yaml_document_t doc;

    if (check_depth(&c, text, len) != 0 || load(&c, text, len, &doc) != 0)
        return NULL;
    c.doc = &doc;
    if (!(c.r = rc_new(RECIPE_MERGEKIT)))
        rc_oom(c.err, c.label);
    else if (config(&c, yaml_document_get_root_node(&doc)) != 0) {
        recipe_free(c.r);
        c.r = NULL;
    }
    rules_free(&c.top);
    yaml_document_delete(&doc);
    return c.r;
}
