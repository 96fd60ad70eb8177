/* audit_layers.c: config vs tensors. The layer count, tensors a layer
 * lacks or has extra, shapes that differ across layers, per-layer config
 * arrays, mixed dtypes, and tensors outside the family's places. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/format.h"
#include "suture/audit.h"
#include "audit_int.h"
#include "common/util.h"

/* One layer tensor in the census. */
struct entry {
    const char *local;
    unsigned layer;
    const st_tensor *t;
};

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->local, y->local);

    return c ? c : (x->layer > y->layer) - (x->layer < y->layer);
}

bool audit_is_buffer(const char *name)
{
    return sut_ends_with(name, "inv_freq") || sut_ends_with(name, ".attn.bias") ||
           sut_ends_with(name, ".attn.masked_bias") || strcmp(name, "attn.bias") == 0 ||
           strcmp(name, "attn.masked_bias") == 0;
}

/* A config key, looked for at the top and in "text_config". */
static const cJSON *cfg_item(const cJSON *cfg, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(cfg, key);

    if (!it)
        it = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cfg, "text_config"), key);
    return it;
}

/* The config's layer count against the layers found; only a warning when
 * the layer pattern was guessed. */
static void check_count(audit_report *r, long cfg_layers, unsigned found)
{
    const arch_family *f = model_arch(r->m);
    audit_severity sev = f->inferred ? AUDIT_WARNING : AUDIT_ERROR;

    if (!model_config(r->m) || (f->inferred && cfg_layers < 0))
        return;
    if (cfg_layers < 0)
        audit_add(r, "layer-count-mismatch", sev, f->layer_count_key,
                  "config.json: %s is absent or not a whole number (loaders use a "
                  "default); the tensors hold %u layers", f->layer_count_key, found);
    else if ((unsigned long)cfg_layers != found)
        audit_add(r, "layer-count-mismatch", sev, f->layer_count_key,
                  "config.json: %s is %ld but the tensors hold %u layer%s%s",
                  f->layer_count_key, cfg_layers, found, found == 1 ? "" : "s",
                  f->inferred ? " (by the layer names guessed for an unknown architecture)" : "");
}

static bool layer_empty(const model *m, unsigned i)
{
    size_t k;

    model_layer_tensors(m, i, &k);
    return k == 0;
}

/* Layers below the highest one that hold no tensor at all, one finding
 * per run. Returns the number of layers that hold tensors. */
static unsigned check_empty(audit_report *r)
{
    unsigned i = 0, j, n = model_layer_count(r->m), full = 0;

    while (i < n) {
        char range[32], place[48];
        if (!layer_empty(r->m, i)) {
            full++;
            i++;
            continue;
        }
        for (j = i; j + 1 < n && layer_empty(r->m, j + 1); j++)
            ;
        audit_range(i, j, range, sizeof(range));
        snprintf(place, sizeof(place), "layer %s", range);
        audit_add(r, "missing-layer", AUDIT_ERROR, place,
                  "layer%s %s hold%s no tensor, though layer %u does", i == j ? "" : "s",
                  range, i == j ? "s" : "", n - 1);
        i = j + 1;
    }
    return full;
}

/* True when layer `layer` is in the group (sorted by layer). */
static bool group_has(const struct entry *g, size_t n, unsigned layer)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (g[i].layer == layer)
            return true;
    return false;
}

static bool is_parameter(const char *local)
{
    return sut_ends_with(local, ".weight") || sut_ends_with(local, ".bias") ||
           strcmp(local, "weight") == 0 || strcmp(local, "bias") == 0;
}

static void report_missing(audit_report *r, const struct entry *g, size_t n,
                           unsigned full)
{
    const arch_family *f = model_arch(r->m);
    unsigned i, nl = model_layer_count(r->m);

    for (i = 0; i < nl; i++) {
        char *name;
        if (group_has(g, n, i) || layer_empty(r->m, i))
            continue;
        name = arch_rename(f, g[0].t->name, i);
        audit_add(r, "missing-tensor", AUDIT_ERROR, name ? name : g[0].local,
                  "layer %u lacks '%s', which %zu of the %u layers hold", i,
                  g[0].local, n, full);
        free(name);
    }
}

static void report_extra(audit_report *r, const struct entry *g, size_t n,
                         unsigned full)
{
    bool buffer = audit_is_buffer(g[0].local);
    size_t i;

    for (i = 0; i < n; i++)
        audit_add(r, "unexpected-tensor", buffer ? AUDIT_INFO : AUDIT_WARNING,
                  g[i].t->name, "'%s': only %zu of the %u layers hold%s '%s'%s",
                  g[i].t->name, n, full, n == 1 ? "s" : "", g[i].local,
                  buffer ? " (a non-persistent buffer loaders ignore)" : "");
}

/* The entry whose shape most entries share (the earliest on a tie). */
static const struct entry *common_shape(const struct entry *g, size_t n)
{
    size_t i, j, best = 0, best_count = 0;

    for (i = 0; i < n; i++) {
        size_t c = 0;
        for (j = 0; j < n; j++)
            c += st_same_shape(g[i].t, g[j].t);
        if (c > best_count) {
            best = i;
            best_count = c;
        }
    }
    return &g[best];
}

static void check_shapes(audit_report *r, const struct entry *g, size_t n)
{
    const struct entry *ref = common_shape(g, n);
    size_t i;

    for (i = 0; i < n; i++) {
        char a[128], b[128];
        if (st_same_shape(g[i].t, ref->t))
            continue;
        audit_add(r, "shape-mismatch", AUDIT_ERROR, g[i].t->name,
                  "'%s' has shape %s where layer %u has %s", g[i].t->name,
                  fmt_shape(g[i].t->shape, g[i].t->ndim, a, sizeof(a)), ref->layer,
                  fmt_shape(ref->t->shape, ref->t->ndim, b, sizeof(b)));
    }
}

/* One name within the layer, held by n layers. */
static void check_group(audit_report *r, const struct entry *g, size_t n,
                        unsigned full)
{
    bool buffer = audit_is_buffer(g[0].local);

    if (n < full) {
        if (!buffer && (2 * n > full || (2 * n == full && is_parameter(g[0].local))))
            report_missing(r, g, n, full);
        else
            report_extra(r, g, n, full);
    }
    check_shapes(r, g, n);
}

static void check_census(audit_report *r, unsigned full)
{
    size_t i, j, n = 0, total = model_tensor_count(r->m);
    struct entry *e = malloc((total ? total : 1) * sizeof(*e));

    if (!e) {
        r->oom = true;
        return;
    }
    for (i = 0; i < total; i++) {
        const model_tensor *t = model_tensor_at(r->m, i);
        if (t->role == MODEL_LAYER)
            e[n++] = (struct entry){t->local, (unsigned)t->layer, t->t};
    }
    qsort(e, n, sizeof(*e), cmp_entry);
    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && strcmp(e[j].local, e[i].local) == 0; j++)
            ;
        check_group(r, e + i, j - i, full);
    }
    free(e);
}

static bool multimodal_part(const char *name)
{
    static const char *const prefixes[] = {
        "vision_tower.", "vision_model.", "multi_modal_projector.", "visual.",
        "audio_tower.", NULL
    };
    size_t i;

    for (i = 0; prefixes[i]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* A tensor before the layers the family does not place there. */
static bool unexpected_pre(const arch_family *f, const char *name)
{
    return !arch_is_embed(f, name) && !sut_ends_with(name, "wpe.weight") &&
           !multimodal_part(name);
}

static void check_outside(audit_report *r)
{
    const arch_family *f = model_arch(r->m);
    size_t i, n = model_tensor_count(r->m);

    if (f->inferred || !f->embed_name)
        return;
    for (i = 0; i < n; i++) {
        const model_tensor *t = model_tensor_at(r->m, i);
        if (t->role != MODEL_PRE || !unexpected_pre(f, t->t->name))
            continue;
        if (audit_is_buffer(t->t->name))
            audit_add(r, "unexpected-tensor", AUDIT_INFO, t->t->name,
                      "'%s': a non-persistent buffer loaders ignore", t->t->name);
        else
            audit_add(r, "unexpected-tensor", AUDIT_WARNING, t->t->name,
                      "'%s' is outside the places of family %s (embeddings '%s', "
                      "layers, final norm and head)", t->t->name, f->name, f->embed_name);
    }
}

static void check_array(audit_report *r, const char *key, unsigned layers)
{
    const cJSON *it = cfg_item(model_config(r->m), key);
    int n;

    if (!cJSON_IsArray(it))
        return;
    n = cJSON_GetArraySize(it);
    if (n >= 0 && (unsigned)n != layers)
        audit_add(r, "per-layer-array-length", AUDIT_ERROR, key,
                  "config.json: %s has %d entries for %u layers", key, n, layers);
}

static void check_list(audit_report *r, const char *key, unsigned layers)
{
    const cJSON *it = cfg_item(model_config(r->m), key), *e;
    uint64_t v;

    if (!cJSON_IsArray(it))
        return;
    cJSON_ArrayForEach(e, it) {
        if (sut_json_u64(e, &v) == 0 && v < layers)
            continue;
        audit_add(r, "per-layer-array-length", AUDIT_ERROR, key,
                  "config.json: %s names a layer outside 0-%u", key,
                  layers ? layers - 1 : 0);
        return;
    }
}

static void check_arrays(audit_report *r, long cfg_layers)
{
    const arch_family *f = model_arch(r->m);
    unsigned layers = cfg_layers >= 0 ? (unsigned)cfg_layers : model_layer_count(r->m);
    size_t i;

    if (!model_config(r->m))
        return;
    for (i = 0; f->layer_arrays && f->layer_arrays[i]; i++)
        check_array(r, f->layer_arrays[i], layers);
    for (i = 0; f->layer_lists && f->layer_lists[i]; i++)
        check_list(r, f->layer_lists[i], layers);
}

static void check_dtypes(audit_report *r)
{
    size_t count[ST_DTYPE_COUNT] = {0};
    const char *first[ST_DTYPE_COUNT] = {0};
    size_t i, kinds = 0, o = 0, n = model_tensor_count(r->m);
    char msg[512];

    for (i = 0; i < n; i++) {
        const st_tensor *t = model_tensor_at(r->m, i)->t;
        if (audit_is_buffer(t->name) || t->dtype >= ST_DTYPE_COUNT)
            continue;
        if (count[t->dtype]++ == 0) {
            first[t->dtype] = t->name;
            kinds++;
        }
    }
    if (kinds < 2)
        return;
    for (i = 0; i < ST_DTYPE_COUNT && o < sizeof(msg); i++)
        if (count[i])
            o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%s%s %zu (first '%s')",
                                  o ? ", " : "", st_dtype_name((st_dtype)i), count[i],
                                  first[i]);
    audit_add(r, "dtype-mix", AUDIT_WARNING, NULL, "tensors mix dtypes: %s", msg);
}

void audit_check_layers(audit_report *r)
{
    const arch_family *f = model_arch(r->m);
    long cfg_layers = model_config(r->m) ? arch_config_layers(f, model_config(r->m)) : -1;
    unsigned full;

    check_count(r, cfg_layers, model_layer_count(r->m));
    full = check_empty(r);
    check_census(r, full);
    check_outside(r);
    check_arrays(r, cfg_layers);
    check_dtypes(r);
}
