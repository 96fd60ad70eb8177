/* cfgedit.c: rewriting a config.json for a new stack of layers (see
 * cfgedit.h). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/cfgedit.h"
#include "common/util.h"

#define LIST_SHOWN 16 /* lists longer than this are shown by their length */
#define VALUE_SHOWN 40

/* The rewrite under way. */
typedef struct rw {
    const arch_family *f;
    const cJSON *donor;
    const long *src;
    size_t n;
    cfg_change *ch;
    size_t nch;
    sut_error *err;
} rw;

/* An object whose keys are rewritten: the config, or its text_config. */
typedef struct scope {
    cJSON *obj;
    const char *prefix; /* "" or "text_config." */
    long layers;        /* its layer count (else the donor's), -1: none */
    bool has_count;
} scope;

void cfg_changes_free(cfg_change *changes, size_t n)
{
    size_t i;

    for (i = 0; changes && i < n; i++) {
        free(changes[i].key);
        free(changes[i].line);
    }
    free(changes);
}

const char *cfg_dtype_name(st_dtype dt)
{
    switch (dt) {
    case ST_F32: return "float32";
    case ST_F16: return "float16";
    case ST_BF16: return "bfloat16";
    case ST_F64: return "float64";
    case ST_F8_E4M3: return "float8_e4m3fn";
    case ST_F8_E5M2: return "float8_e5m2";
    case ST_F8_E8M0: return "float8_e8m0fnu";
    case ST_BOOL: return "bool";
    case ST_I8: return "int8";
    case ST_U8: return "uint8";
    case ST_I16: return "int16";
    case ST_U16: return "uint16";
    case ST_I32: return "int32";
    case ST_U32: return "uint32";
    case ST_I64: return "int64";
    case ST_U64: return "uint64";
    case ST_C64: return "complex64";
    default: return NULL;
    }
}

/* ---- recording ---- */

static int oom(rw *w)
{
    sut_error_oom(w->err, NULL);
    return -1;
}

/* Records the change "PREFIXKEY: <fmt>". 0, or -1 when out of memory. */
__attribute__((format(printf, 5, 6)))
static int note(rw *w, const scope *s, const char *key, bool assumed,
                const char *fmt, ...)
{
    cfg_change *grown = realloc(w->ch, (w->nch + 1) * sizeof(*grown));
    char text[512];
    cfg_change *c;
    va_list ap;

    if (!grown)
        return oom(w);
    w->ch = grown;
    c = &w->ch[w->nch];
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    c->assumed = assumed;
    if (asprintf(&c->key, "%s%s", s->prefix, key) < 0)
        return oom(w);
    if (asprintf(&c->line, "%s%s: %s", s->prefix, key, text) < 0) {
        free(c->key);
        return oom(w);
    }
    sut_one_line(c->line);
    w->nch++;
    return 0;
}

/* A short text for a JSON value into buf: strings bare, others as JSON. */
static const char *value_text(const cJSON *v, char *buf, size_t size)
{
    char *json;

    if (!v)
        snprintf(buf, size, "(absent)");
    else if (cJSON_IsString(v))
        snprintf(buf, size, "%s", v->valuestring);
    else if ((json = cJSON_PrintUnformatted(v))) {
        snprintf(buf, size, "%s", json);
        free(json);
    } else {
        snprintf(buf, size, "?");
    }
    return buf;
}

/* A list of layer indices as "[1, 3]", or "N entries" when long. */
static const char *list_text(const cJSON *list, char *buf, size_t size)
{
    int n = cJSON_GetArraySize(list);

    if (n > LIST_SHOWN) {
        snprintf(buf, size, "%d entries", n);
        return buf;
    }
    return value_text(list, buf, size);
}

/* Replaces the item key of s with v (taking it), or adds it at the end. */
static int put(rw *w, const scope *s, const char *key, cJSON *v)
{
    bool ok;

    if (!v)
        return oom(w);
    if (cJSON_GetObjectItemCaseSensitive(s->obj, key))
        ok = cJSON_ReplaceItemInObjectCaseSensitive(s->obj, key, v);
    else
        ok = cJSON_AddItemToObject(s->obj, key, v);
    if (!ok) {
        cJSON_Delete(v);
        return oom(w);
    }
    return 0;
}

/* ---- the layer count ---- */

static int check_sources(rw *w, long donor_layers)
{
    size_t i;

    if (w->n == 0 || w->n > INT_MAX) {
        sut_error_set(w->err, "output layer count %zu is out of range", w->n);
        return -1;
    }
    for (i = 0; i < w->n; i++) {
        long s = w->src[i];

        if (s < -1) {
            sut_error_set(w->err, "output layer %zu: source layer %ld is not "
                          "a layer index", i, s);
            return -1;
        }
        if (donor_layers >= 0 && s >= donor_layers) {
            sut_error_set(w->err, "output layer %zu: source layer %ld, but the "
                          "config donor states %ld layers", i, s, donor_layers);
            return -1;
        }
    }
    return 0;
}

/* Every output layer has a source layer of s, for the entries of key:
 * 0, or -1 with err set. */
static int check_range(rw *w, const scope *s, const char *key)
{
    size_t i;

    for (i = 0; i < w->n; i++) {
        if (w->src[i] < 0) {
            sut_error_set(w->err, "key '%s%s': output layer %zu has no source "
                          "layer in the config donor", s->prefix, key, i);
            return -1;
        }
        if (w->src[i] >= s->layers) {
            sut_error_set(w->err, "key '%s%s': output layer %zu: source layer "
                          "%ld is past the config's %ld layers", s->prefix,
                          key, i, w->src[i], s->layers);
            return -1;
        }
    }
    return 0;
}

/* Reads the layer count of s (its own key, else the donor's). */
static int read_count(rw *w, scope *s, long donor_layers)
{
    const char *key = arch_count_key(w->f, s->obj);
    uint64_t v;

    s->layers = donor_layers;
    if (!(s->has_count = key != NULL))
        return 0;
    if (sut_json_u64(cJSON_GetObjectItemCaseSensitive(s->obj, key), &v) != 0 ||
        v > INT_MAX) {
        sut_error_set(w->err, "key '%s%s': not a whole number of layers",
                      s->prefix, key);
        return -1;
    }
    s->layers = (long)v;
    return 0;
}

static int set_count(rw *w, const scope *s)
{
    const char *key = arch_count_key(w->f, s->obj);

    if ((size_t)s->layers == w->n)
        return 0;
    if (put(w, s, key, cJSON_CreateNumber((double)w->n)) != 0)
        return -1;
    return note(w, s, key, false, "%ld -> %zu", s->layers, w->n);
}

/* Adds the count key to s (the donor states none). */
static int add_count(rw *w, scope *s)
{
    const char *key = w->f->layer_count_key;

    if (put(w, s, key, cJSON_CreateNumber((double)w->n)) != 0)
        return -1;
    s->has_count = true;
    return note(w, s, key, false, "(absent) -> %zu", w->n);
}

/* ---- per-layer arrays ---- */

static bool in_list(char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static bool never_per_layer(const char *key)
{
    return strcmp(key, "architectures") == 0 || sut_ends_with(key, "_token_id") ||
           sut_ends_with(key, "_token_ids") || sut_ends_with(key, "_tokens") ||
           sut_ends_with(key, "_ids");
}

/* How item of s is treated: 0 left alone, 1 a known per-layer array, 2 an
 * array assumed per-layer by its length; -1 with err set when a known one
 * is not an array. */
static int array_kind(rw *w, const scope *s, const cJSON *item)
{
    const char *key = item->string;
    bool known = strcmp(key, "layer_types") == 0 || in_list(w->f->layer_arrays, key);

    if (in_list(w->f->layer_lists, key) || cJSON_IsNull(item))
        return 0;
    if (known && !cJSON_IsArray(item)) {
        sut_error_set(w->err, "key '%s%s': not a list", s->prefix, key);
        return -1;
    }
    if (known)
        return 1;
    if (!cJSON_IsArray(item) || never_per_layer(key) || s->layers <= 0)
        return 0;
    return cJSON_GetArraySize(item) == s->layers ? 2 : 0;
}

/* A new array of the n items of old, for random access (caller frees). */
static const cJSON **items_of(const cJSON *arr, int *n)
{
    const cJSON **v, *e;
    int i = 0;

    *n = cJSON_GetArraySize(arr);
    if (!(v = malloc(((size_t)*n + 1) * sizeof(*v))))
        return NULL;
    cJSON_ArrayForEach(e, arr)
        v[i++] = e;
    return v;
}

static int splice(rw *w, const scope *s, const cJSON *old, bool assumed)
{
    const char *key = old->string;
    const cJSON **v = NULL;
    cJSON *out = NULL;
    size_t i;
    int n;

    if (s->layers < 0) {
        sut_error_set(w->err, "key '%s%s': cannot splice: the config states no "
                      "layer count", s->prefix, key);
        return -1;
    }
    if (cJSON_GetArraySize(old) != s->layers) {
        sut_error_set(w->err, "key '%s%s': %d entries, but the config states %ld layers",
                      s->prefix, key, cJSON_GetArraySize(old), s->layers);
        return -1;
    }
    if (check_range(w, s, key) != 0)
        return -1;
    if (!(v = items_of(old, &n)) || !(out = cJSON_CreateArray()))
        goto nomem;
    for (i = 0; i < w->n; i++)
        if (!cJSON_AddItemToArray(out, cJSON_Duplicate(v[w->src[i]], true)))
            goto nomem;
    free(v);
    if (cJSON_Compare(old, out, true)) {
        cJSON_Delete(out);
        return 0;
    }
    /* note first: key belongs to old, which put frees */
    if (note(w, s, key, assumed, "spliced to %zu entries%s", w->n,
             assumed ? " (its length was the layer count, so it was taken "
                       "as one entry per layer)" : "") != 0) {
        cJSON_Delete(out);
        return -1;
    }
    return put(w, s, key, out);
nomem:
    free(v);
    cJSON_Delete(out);
    return oom(w);
}

static int splice_arrays(rw *w, const scope *s)
{
    cJSON *item, *next;

    for (item = s->obj->child; item; item = next) {
        int kind = array_kind(w, s, item);

        next = item->next; /* splice replaces item in place */
        if (kind < 0 || (kind > 0 && splice(w, s, item, kind == 2) != 0))
            return -1;
    }
    return 0;
}

/* ---- lists of layer indices ---- */

/* Marks in member (s->layers entries) the indices listed in list. */
static int read_list(rw *w, const scope *s, const cJSON *list, bool *member)
{
    const cJSON *e;
    int i = 0;

    if (!cJSON_IsArray(list)) {
        sut_error_set(w->err, "key '%s%s': not a list", s->prefix, list->string);
        return -1;
    }
    cJSON_ArrayForEach(e, list) {
        uint64_t v;

        if (sut_json_u64(e, &v) != 0 || s->layers < 0 || v >= (uint64_t)s->layers) {
            sut_error_set(w->err, "key '%s%s': entry %d is not a layer index "
                          "below the config's %ld layers", s->prefix,
                          list->string, i, s->layers);
            return -1;
        }
        member[v] = true;
        i++;
    }
    return 0;
}

/* The sparse step of qwen2_moe to fold into mlp_only_layers: > 1 only when
 * it decides which layers are sparse. */
static unsigned long sparse_step(const scope *s, const char *list_key)
{
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(s->obj, "decoder_sparse_step");
    const cJSON *experts = cJSON_GetObjectItemCaseSensitive(s->obj, "num_experts");
    uint64_t v, e;

    if (strcmp(list_key, "mlp_only_layers") != 0 || sut_json_u64(step, &v) != 0 ||
        v <= 1 || v > INT_MAX)
        return 1;
    if (experts && sut_json_u64(experts, &e) == 0 && e == 0)
        return 1;
    return (unsigned long)v;
}

/* The new list: output layer i is in it when its source is (or, with a
 * sparse step, when its source is dense). NULL with err set. */
static cJSON *remapped(rw *w, const scope *s, const char *key,
                       const bool *member, bool listed, unsigned long step)
{
    cJSON *out = cJSON_CreateArray();
    size_t i;

    if (!out) {
        oom(w);
        return NULL;
    }
    if (!listed && step <= 1)
        return out; /* an empty list stays empty */
    if (check_range(w, s, key) != 0) {
        cJSON_Delete(out);
        return NULL;
    }
    for (i = 0; i < w->n; i++) {
        long src = w->src[i];

        if ((member[src] || (unsigned long)(src + 1) % step != 0) &&
            !cJSON_AddItemToArray(out, cJSON_CreateNumber((double)i))) {
            cJSON_Delete(out);
            oom(w);
            return NULL;
        }
    }
    return out;
}

static int fold_step(rw *w, const scope *s, unsigned long step)
{
    if (step <= 1)
        return 0;
    if (put(w, s, "decoder_sparse_step", cJSON_CreateNumber(1)) != 0)
        return -1;
    return note(w, s, "decoder_sparse_step", false,
                "%lu -> 1 (which layers are sparse is now in mlp_only_layers)", step);
}

static int remap_list(rw *w, const scope *s, const char *key)
{
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(s->obj, key);
    unsigned long step = sparse_step(s, key);
    char before[256], after[256];
    bool *member = NULL;
    cJSON *out = NULL;
    bool listed;

    if ((!old || cJSON_IsNull(old)) && step <= 1)
        return 0;
    listed = old && cJSON_GetArraySize(old) > 0;
    if (s->layers < 0 && (listed || step > 1)) {
        sut_error_set(w->err, "key '%s%s': cannot remap: the config states no "
                      "layer count", s->prefix, key);
        return -1;
    }
    if (!(member = calloc(s->layers > 0 ? (size_t)s->layers : 1, sizeof(*member))))
        return oom(w);
    if ((old && !cJSON_IsNull(old) && read_list(w, s, old, member) != 0) ||
        !(out = remapped(w, s, key, member, listed, step)))
        goto fail;
    free(member);
    if (old && step <= 1 && cJSON_Compare(old, out, true)) {
        cJSON_Delete(out);
        return 0;
    }
    if (old && !cJSON_IsNull(old))
        list_text(old, before, sizeof(before));
    else
        snprintf(before, sizeof(before), "(absent)");
    list_text(out, after, sizeof(after));
    if (put(w, s, key, out) != 0 ||
        note(w, s, key, false, "%s -> %s", before, after) != 0)
        return -1;
    return fold_step(w, s, step);
fail:
    free(member);
    return -1;
}

static int remap_lists(rw *w, const scope *s)
{
    char *const *key;

    for (key = w->f->layer_lists; key && *key; key++)
        if (remap_list(w, s, *key) != 0)
            return -1;
    return 0;
}

/* ---- attention kinds ---- */

/* When the donor has no layer_types, adds it to s if the sources'
 * attention kinds differ from the family's pattern at the new indices. */
static int keep_kinds(rw *w, const scope *s)
{
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(w->donor, "text_config");
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(w->donor, "layer_types");
    unsigned p = arch_sliding_period(w->f, w->donor);
    bool differ = false;
    cJSON *out;
    size_t i;

    if (!types || cJSON_IsNull(types))
        types = cJSON_IsObject(tc) ? cJSON_GetObjectItemCaseSensitive(tc, "layer_types") : NULL;
    if (!p || (types && !cJSON_IsNull(types)))
        return 0;
    for (i = 0; i < w->n; i++)
        if (w->src[i] < 0) {
            sut_error_set(w->err, "key '%slayer_types': output layer %zu has no "
                          "source layer in the config donor, so its attention "
                          "kind is unknown", s->prefix, i);
            return -1;
        }
    for (i = 0; i < w->n; i++)
        differ |= arch_attention_kind(w->f, w->donor, (unsigned)w->src[i]) !=
                  ((i + 1) % p == 0 ? 'g' : 's');
    if (!differ)
        return 0;
    if (!(out = cJSON_CreateArray()))
        return oom(w);
    for (i = 0; i < w->n; i++) {
        char k = arch_attention_kind(w->f, w->donor, (unsigned)w->src[i]);

        if (!cJSON_AddItemToArray(out, cJSON_CreateString(
                k == 's' ? "sliding_attention" : "full_attention"))) {
            cJSON_Delete(out);
            return oom(w);
        }
    }
    if (put(w, s, "layer_types", out) != 0)
        return -1;
    return note(w, s, "layer_types", false,
                "added with %zu entries: the layers' attention kinds no longer "
                "follow the period of %u (transformers versions that ignore "
                "layer_types would use the wrong kinds)", w->n, p);
}

/* ---- dtype ---- */

static int set_dtype_key(rw *w, const scope *s, const char *key, const char *dtype)
{
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(s->obj, key);
    char before[VALUE_SHOWN + 1];

    if (cJSON_IsString(old) && strcmp(old->valuestring, dtype) == 0)
        return 0;
    value_text(old, before, sizeof(before));
    if (put(w, s, key, cJSON_CreateString(dtype)) != 0)
        return -1;
    return note(w, s, key, false, "%s -> %s", before, dtype);
}

static int set_dtype(rw *w, scope *sc, size_t nsc, const char *dtype)
{
    static const char *const keys[] = { "torch_dtype", "dtype" };
    size_t i, k;
    bool root_has = false;

    if (!dtype)
        return 0;
    if (!*dtype) {
        sut_error_set(w->err, "key 'torch_dtype': empty dtype name");
        return -1;
    }
    for (i = 0; i < nsc; i++)
        for (k = 0; k < 2; k++) {
            if (!cJSON_GetObjectItemCaseSensitive(sc[i].obj, keys[k]))
                continue;
            root_has |= i == 0;
            if (set_dtype_key(w, &sc[i], keys[k], dtype) != 0)
                return -1;
        }
    return root_has ? 0 : set_dtype_key(w, &sc[0], "torch_dtype", dtype);
}

/* ---- the whole rewrite ---- */

/* The scopes of out: itself, and its text_config when an object. */
static size_t scopes_of(cJSON *out, scope *sc)
{
    cJSON *tc = cJSON_GetObjectItemCaseSensitive(out, "text_config");

    sc[0] = (scope){ out, "", -1, false };
    if (!cJSON_IsObject(tc))
        return 1;
    sc[1] = (scope){ tc, "text_config.", -1, false };
    return 2;
}

static int rewrite(rw *w, cJSON *out, const char *dtype)
{
    long donor_layers = arch_config_layers(w->f, w->donor);
    scope sc[2];
    size_t nsc = scopes_of(out, sc), i;
    scope *home = NULL;

    if (check_sources(w, donor_layers) != 0)
        return -1;
    for (i = 0; i < nsc; i++) {
        if (read_count(w, &sc[i], donor_layers) != 0)
            return -1;
        if (sc[i].has_count && !home)
            home = &sc[i];
    }
    for (i = 0; i < nsc; i++)
        if ((sc[i].has_count && set_count(w, &sc[i]) != 0) ||
            splice_arrays(w, &sc[i]) != 0 || remap_lists(w, &sc[i]) != 0)
            return -1;
    if (!home && add_count(w, (home = &sc[nsc - 1])) != 0)
        return -1;
    if (keep_kinds(w, home) != 0)
        return -1;
    return set_dtype(w, sc, nsc, dtype);
}

cJSON *cfg_rewrite(const cJSON *donor, const arch_family *f,
                   const long *src_layers, size_t n_out,
                   const char *torch_dtype, cfg_change **changes,
                   size_t *nchanges, sut_error *err)
{
    rw w = { f, donor, src_layers, n_out, NULL, 0, err };
    cJSON *out = NULL;

    if (changes)
        *changes = NULL;
    if (nchanges)
        *nchanges = 0;
    if (!cJSON_IsObject(donor) || !f || (n_out && !src_layers)) {
        sut_error_set(err, "no config object, family or layer map");
        return NULL;
    }
    if (!(out = cJSON_Duplicate(donor, true))) {
        oom(&w);
        return NULL;
    }
    if (rewrite(&w, out, torch_dtype) != 0) {
        cJSON_Delete(out);
        cfg_changes_free(w.ch, w.nch);
        return NULL;
    }
    if (changes) {
        *changes = w.ch;
        *nchanges = w.nch;
    } else {
        cfg_changes_free(w.ch, w.nch);
    }
    return out;
}
