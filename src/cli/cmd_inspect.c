/* cmd_inspect.c: `suture inspect PATH [--json] [--tensors] [--arch-file F]`. */
#include <stdio.h>
#include <string.h>

#include "suture/format.h"
#include "cli.h"
#include "suture/arch.h"
#include "suture/model.h"
#include "inspect_gguf.h"

static const char usage_text[] =
    "usage: suture inspect PATH [--json] [--tensors] [--arch-file FILE]\n"
    "\n"
    "Shows a checkpoint (a model folder, a .safetensors file, or a .gguf file\n"
    "or split set): architecture, layers, tensors, parameters, dtypes, shards,\n"
    "tied embeddings, data size (for GGUF also the metadata).\n"
    "Reads headers only.\n"
    "\n"
    "  --json            print one JSON object\n"
    "  --tensors         list every tensor (name, dtype, shape, file)\n"
    "  --arch-file FILE  add architecture families from a JSON file\n";

struct totals {
    uint64_t embed, layers, head, other;
    size_t dtypes[ST_DTYPE_COUNT];
};

static void count(const model *m, struct totals *s)
{
    const char *head = model_arch(m)->head_name;
    size_t i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < model_tensor_count(m); i++) {
        const model_tensor *t = model_tensor_at(m, i);
        uint64_t n = t->t->elements;

        s->dtypes[t->t->dtype]++;
        if (t->role == MODEL_LAYER)
            s->layers += n;
        else if (t->role == MODEL_PRE)
            s->embed += n;
        else if (head && strcmp(t->t->name, head) == 0)
            s->head += n;
        else
            s->other += n;
    }
}

/* The name users know the architecture by: config model_type, else the
 * family's. */
static const char *arch_name(const model *m)
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

static int print_json(const model *m, bool tensors)
{
    struct totals s;
    cJSON *o = cJSON_CreateObject(), *p, *dt, *issues, *list;
    long cfg_layers = arch_config_layers(model_arch(m), model_config(m));
    size_t i;

    count(m, &s);
    cJSON_AddStringToObject(o, "path", model_path(m));
    cJSON_AddStringToObject(o, "architecture", arch_name(m));
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
    return cli_print_json(o);
}

static void print_tensor_line(const model *m, const model_tensor *t)
{
    char shape[256], name[1024], file[512];

    printf("  %-60s %-5s %s  %s\n", fmt_text(t->t->name, name, sizeof(name)),
           st_dtype_name(t->t->dtype), fmt_shape(t->t->shape, t->t->ndim, shape, sizeof(shape)),
           fmt_text(model_shard_name(m, t->shard), file, sizeof(file)));
}

static void print_text(const model *m, bool tensors)
{
    struct totals s;
    char a[40], b[40], c[40], d[40], e[40], file[512];
    long cfg_layers = arch_config_layers(model_arch(m), model_config(m));
    size_t i;

    count(m, &s);
    printf("%s: %s%s, %u layer%s", model_path(m), arch_name(m),
           model_arch(m)->inferred ? " (layers inferred from tensor names)" : "",
           model_layer_count(m), model_layer_count(m) == 1 ? "" : "s");
    if (cfg_layers >= 0 && (unsigned long)cfg_layers != model_layer_count(m))
        printf(" (config says %ld)", cfg_layers);
    printf("\n  tensors     %zu in %zu file%s%s%s\n", model_tensor_count(m),
           model_shard_count(m), model_shard_count(m) == 1 ? "" : "s",
           model_index_name(m) ? ", index " : "",
           model_index_name(m) ? model_index_name(m) : "");
    printf("  parameters  %s (embeddings %s, layers %s, head %s, other %s)\n",
           fmt_count(model_parameter_count(m), a, sizeof(a)),
           fmt_count(s.embed, b, sizeof(b)), fmt_count(s.layers, c, sizeof(c)),
           fmt_count(s.head, d, sizeof(d)), fmt_count(s.other, e, sizeof(e)));
    printf("  dtypes     ");
    for (i = 0; i < ST_DTYPE_COUNT; i++)
        if (s.dtypes[i])
            printf(" %s %zu", st_dtype_name((st_dtype)i), s.dtypes[i]);
    printf("\n  data        %s (%s bytes)\n", fmt_bytes(model_data_bytes(m), a, sizeof(a)),
           fmt_count(model_data_bytes(m), b, sizeof(b)));
    printf("  tied        %s\n", model_tied(m) ? "yes" : "no");
    for (i = 0; i < model_shard_count(m); i++)
        printf("  file        %s  %zu tensors, %s\n",
               fmt_text(model_shard_name(m, i), file, sizeof(file)),
               st_count(model_shard(m, i)),
               fmt_bytes(st_data_size(model_shard(m, i)), a, sizeof(a)));
    for (i = 0; i < model_issue_count(m); i++)
        printf("  issue       %s: %s\n", model_issue_at(m, i)->code,
               model_issue_at(m, i)->message);
    if (tensors)
        for (i = 0; i < model_tensor_count(m); i++)
            print_tensor_line(m, model_tensor_at(m, i));
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL, *arch_file = NULL;
    bool json = false, tensors = false;
    arch_table *arches = NULL;
    model *m = NULL;
    sut_error err;
    int i, rc = EXIT_USAGE;

    for (i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--tensors") == 0) {
            tensors = true;
        } else if (strcmp(argv[i], "--arch-file") == 0 && i + 1 < argc) {
            arch_file = argv[++i];
        } else if (argv[i][0] == '-' || path) {
            return cli_usage_error(argv[0], "unexpected argument '%s' (see --help)", argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return cli_usage_error(argv[0], "missing PATH (see --help)");
    if (inspect_is_gguf(path))
        return inspect_gguf(argv[0], path, json, tensors);
    if (!(arches = cli_arch_table(arch_file, &err)) ||
        !(m = model_open(path, arches, MODEL_STRICT, &err))) {
        rc = cli_fail(argv[0], &err);
        goto out;
    }
    if (json)
        rc = print_json(m, tensors);
    else {
        print_text(m, tensors);
        rc = EXIT_OK;
    }
out:
    model_free(m);
    arch_table_free(arches);
    return rc;
}
