/* inspect_gguf.c: `suture inspect FILE.gguf` (called by cmd_inspect for a
 * GGUF file or split set): architecture, layers, tensors, parameters,
 * types, files and a metadata summary, as text or JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "suture/format.h"
#include "suture/gguf_model.h"
#include "common/util.h"
#include "cli.h"
#include "inspect_gguf.h"

/* Arrays of numbers up to this many entries are shown whole. */
#define SHOW_VALUES 256

struct totals {
    uint64_t embed, layers, head, other;
    size_t types[GGUF_TYPE_COUNT];
};

static void count(const gmodel *m, struct totals *s)
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

static const char *file_name(const gmodel *m, size_t i)
{
    return sut_basename(gguf_path(gguf_set_file(gmodel_set(m), i)));
}

/* ---- JSON ------------------------------------------------------------- */

static cJSON *scalar_json(const gguf_kv *kv)
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

static cJSON *array_json(const gmodel *m, const gguf_kv *kv)
{
    cJSON *o = cJSON_CreateObject(), *vals;
    uint64_t i;
    double d;

    cJSON_AddStringToObject(o, "type", "array");
    cJSON_AddStringToObject(o, "element_type", gguf_vtype_name(kv->elem));
    cJSON_AddNumberToObject(o, "count", (double)kv->count);
    cJSON_AddBoolToObject(o, "per_layer", gmodel_per_layer(m, kv));
    if (!gguf_vtype_size(kv->elem) || kv->count > SHOW_VALUES)
        return o;
    vals = cJSON_AddArrayToObject(o, "values");
    for (i = 0; i < kv->count; i++) {
        gguf_kv_arr_f64(kv, i, &d);
        cJSON_AddItemToArray(vals, cJSON_CreateNumber(d));
    }
    return o;
}

static cJSON *metadata_json(const gmodel *m)
{
    const gguf_file *f = gmodel_meta(m);
    cJSON *o = cJSON_CreateObject();
    size_t i;

    for (i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        cJSON_AddItemToObject(o, kv->key, kv->type == GGUF_V_ARRAY
                              ? array_json(m, kv) : scalar_json(kv));
    }
    return o;
}

static cJSON *tensor_json(const gmodel *m, const gmodel_tensor *t)
{
    cJSON *o = cJSON_CreateObject(), *shape = cJSON_AddArrayToObject(o, "shape");
    size_t d;

    cJSON_AddStringToObject(o, "name", t->t->name);
    cJSON_AddStringToObject(o, "type", gguf_type_name(t->t->type));
    for (d = 0; d < t->t->ndim; d++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->t->ne[d]));
    cJSON_AddStringToObject(o, "file", file_name(m, t->file));
    cJSON_AddNumberToObject(o, "offset", (double)t->t->offset);
    cJSON_AddNumberToObject(o, "bytes", (double)t->t->bytes);
    return o;
}

static cJSON *files_json(const gmodel *m)
{
    cJSON *files = cJSON_CreateArray();
    size_t i;

    for (i = 0; i < gguf_set_count(gmodel_set(m)); i++) {
        const gguf_file *g = gguf_set_file(gmodel_set(m), i);
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", file_name(m, i));
        cJSON_AddNumberToObject(f, "version", gguf_version(g));
        cJSON_AddNumberToObject(f, "alignment", gguf_alignment(g));
        cJSON_AddNumberToObject(f, "data_start", (double)gguf_data_start(g));
        cJSON_AddNumberToObject(f, "tensors", (double)gguf_tensor_count(g));
        cJSON_AddNumberToObject(f, "metadata_keys", (double)gguf_kv_count(g));
        cJSON_AddItemToArray(files, f);
    }
    return files;
}

static void add_counts(cJSON *o, const gmodel *m, const struct totals *s)
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

static int print_json(const gmodel *m, bool tensors)
{
    struct totals s;
    cJSON *o = cJSON_CreateObject(), *issues, *list;
    size_t i;

    count(m, &s);
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
    add_counts(o, m, &s);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", gmodel_tied(m));
    cJSON_AddItemToObject(o, "files", files_json(m));
    cJSON_AddItemToObject(o, "metadata", metadata_json(m));
    issues = cJSON_AddArrayToObject(o, "issues");
    for (i = 0; i < gmodel_issue_count(m); i++) {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "code", gmodel_issue_at(m, i)->code);
        cJSON_AddStringToObject(it, "message", gmodel_issue_at(m, i)->message);
        cJSON_AddItemToArray(issues, it);
    }
    if (tensors) {
        list = cJSON_AddArrayToObject(o, "tensors");
        for (i = 0; i < gmodel_tensor_count(m); i++)
            cJSON_AddItemToArray(list, tensor_json(m, gmodel_tensor_at(m, i)));
    }
    return cli_print_json(o);
}

/* ---- text ------------------------------------------------------------- */

static void print_value(const gmodel *m, const gguf_kv *kv)
{
    char buf[128];
    uint64_t u;
    double d;

    if (kv->type == GGUF_V_STRING)
        printf("%s%s", fmt_text(gguf_kv_str(kv, NULL), buf, 61),
               kv->raw_len - 8 > 60 ? "..." : "");
    else if (kv->type == GGUF_V_ARRAY)
        printf("[%" PRIu64 " x %s]%s", kv->count, gguf_vtype_name(kv->elem),
               gmodel_per_layer(m, kv) ? " per layer" : "");
    else if (kv->type == GGUF_V_BOOL)
        printf("%s", kv->raw[0] ? "true" : "false");
    else if (gguf_kv_u64(kv, &u) == 0)
        printf("%" PRIu64, u);
    else if (gguf_kv_f64(kv, &d) == 0)
        printf("%.9g", d);
}

static void print_metadata(const gmodel *m)
{
    const gguf_file *f = gmodel_meta(m);
    char key[128];
    size_t i;

    for (i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        printf("  %-11s %s = ", i == 0 ? "metadata" : "",
               fmt_text(kv->key, key, sizeof(key)));
        print_value(m, kv);
        putchar('\n');
    }
}

static void print_tensor_line(const gmodel *m, const gmodel_tensor *t)
{
    char shape[256], name[256], file[512];

    printf("  %-60s %-7s %s  %s\n", fmt_text(t->t->name, name, sizeof(name)),
           gguf_type_name(t->t->type),
           fmt_shape(t->t->ne, t->t->ndim, shape, sizeof(shape)),
           fmt_text(file_name(m, t->file), file, sizeof(file)));
}

static void print_head(const gmodel *m)
{
    char arch[128];
    unsigned n = gmodel_layer_count(m);

    printf("%s: %s, %u layer%s", gmodel_path(m),
           gmodel_arch(m) ? fmt_text(gmodel_arch(m), arch, sizeof(arch))
                          : "(no general.architecture)", n, n == 1 ? "" : "s");
    if (gmodel_block_count(m) >= 0 &&
        (unsigned long)gmodel_block_count(m) != n)
        printf(" (block_count says %ld)", gmodel_block_count(m));
    printf("\n  tensors     %zu in %zu GGUF file%s\n", gmodel_tensor_count(m),
           gguf_set_count(gmodel_set(m)),
           gguf_set_count(gmodel_set(m)) == 1 ? "" : "s");
}

static void print_text(const gmodel *m, bool tensors)
{
    struct totals s;
    char a[40], b[40], c[40], d[40], e[40], file[512];
    uint32_t i;
    size_t k;

    count(m, &s);
    print_head(m);
    printf("  parameters  %s (embeddings %s, layers %s, head %s, other %s)\n",
           fmt_count(gmodel_parameter_count(m), a, sizeof(a)),
           fmt_count(s.embed, b, sizeof(b)), fmt_count(s.layers, c, sizeof(c)),
           fmt_count(s.head, d, sizeof(d)), fmt_count(s.other, e, sizeof(e)));
    printf("  types      ");
    for (i = 0; i < GGUF_TYPE_COUNT; i++)
        if (s.types[i])
            printf(" %s %zu", gguf_type_name(i), s.types[i]);
    printf("\n  data        %s (%s bytes)\n", fmt_bytes(gmodel_data_bytes(m), a, sizeof(a)),
           fmt_count(gmodel_data_bytes(m), b, sizeof(b)));
    printf("  tied        %s\n", gmodel_tied(m) ? "yes (no output.weight)" : "no");
    for (k = 0; k < gguf_set_count(gmodel_set(m)); k++) {
        const gguf_file *g = gguf_set_file(gmodel_set(m), k);
        printf("  file        %s  GGUF v%u, alignment %u, %zu tensors, %zu keys\n",
               fmt_text(file_name(m, k), file, sizeof(file)), gguf_version(g),
               gguf_alignment(g), gguf_tensor_count(g), gguf_kv_count(g));
    }
    print_metadata(m);
    for (k = 0; k < gmodel_issue_count(m); k++)
        printf("  issue       %s: %s\n", gmodel_issue_at(m, k)->code,
               gmodel_issue_at(m, k)->message);
    if (tensors)
        for (k = 0; k < gmodel_tensor_count(m); k++)
            print_tensor_line(m, gmodel_tensor_at(m, k));
}

bool inspect_is_gguf(const char *path)
{
    size_t n = strlen(path);

    return gguf_is_gguf(path) || (n > 5 && strcmp(path + n - 5, ".gguf") == 0);
}

int inspect_gguf(const char *verb, const char *path, bool json, bool tensors)
{
    sut_error err;
    gmodel *m = gmodel_open(path, &err);
    int rc;

    if (!m)
        return cli_fail(verb, &err);
    if (json) {
        rc = print_json(m, tensors);
    } else {
        print_text(m, tensors);
        rc = EXIT_OK;
    }
    gmodel_free(m);
    return rc;
}
