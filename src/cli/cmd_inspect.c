/* cmd_inspect.c: `suture inspect PATH [--json] [--tensors] [--arch-file F]`. */
#include <stdio.h>
#include <string.h>

#include "suture/format.h"
#include "cli.h"
#include "json_out.h"
#include "opts.h"
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

static void print_tensor_line(const model *m, const model_tensor *t)
{
    char shape[256];

    printf("  %-60s %-5s %s  %s\n", cli_text(t->t->name),
           st_dtype_name(t->t->dtype), fmt_shape(t->t->shape, t->t->ndim, shape, sizeof(shape)),
           cli_text(model_shard_name(m, t->shard)));
}

static void print_text(const model *m, bool tensors)
{
    struct cli_totals s;
    char a[40], b[40], c[40], d[40], e[40];
    long cfg_layers = arch_config_layers(model_arch(m), model_config(m));
    size_t i;

    cli_inspect_count(m, &s);
    if (model_layer_count(m) == 0 && strcmp(model_arch(m)->name, "none") == 0)
        printf("%s: %s%sno layer stack", cli_text(model_path(m)),
               model_config(m) ? cli_text(cli_inspect_arch(m)) : "",
               model_config(m) ? ", " : "");
    else
        printf("%s: %s%s, %u layer%s", cli_text(model_path(m)), cli_text(cli_inspect_arch(m)),
               model_arch(m)->inferred ? " (layers inferred from tensor names)" : "",
               model_layer_count(m), model_layer_count(m) == 1 ? "" : "s");
    if (cfg_layers >= 0 && (unsigned long)cfg_layers != model_layer_count(m))
        printf(" (config says %ld)", cfg_layers);
    printf("\n  tensors     %zu in %zu file%s%s%s\n", model_tensor_count(m),
           model_shard_count(m), model_shard_count(m) == 1 ? "" : "s",
           model_index_name(m) ? ", index " : "",
           model_index_name(m) ? cli_text(model_index_name(m)) : "");
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
               cli_text(model_shard_name(m, i)),
               st_count(model_shard(m, i)),
               fmt_bytes(st_data_size(model_shard(m, i)), a, sizeof(a)));
    for (i = 0; i < model_issue_count(m); i++)
        printf("  issue       %s: %s\n", model_issue_at(m, i)->code,
               cli_text(model_issue_at(m, i)->message));
    if (tensors)
        for (i = 0; i < model_tensor_count(m); i++)
            print_tensor_line(m, model_tensor_at(m, i));
}

enum { INSPECT_TENSORS = CLI_OWN };

struct args {
    const char *path, *arch_file;
    bool json, tensors;
};

static int take(void *ctx, int id, const char *v)
{
    struct args *a = ctx;

    switch (id) {
    case CLI_JSON:
        a->json = true;
        return 0;
    case INSPECT_TENSORS:
        a->tensors = true;
        return 0;
    case CLI_ARCH_FILE:
        a->arch_file = v;
        return 0;
    default:
        if (a->path)
            return cli_usage_error("inspect", "unexpected argument '%s' (see --help)",
                                   cli_text(v));
        a->path = v;
        return 0;
    }
}

int cmd_inspect(int argc, char **argv)
{
    static const cli_opt opts[] = {CLI_ROW_JSON, {"tensors", 0, false, INSPECT_TENSORS},
                                   CLI_ROW_ARCH_FILE};
    struct args a = {0};
    cli_parser cp = {"inspect", opts, sizeof(opts) / sizeof(opts[0]), NULL, 0,
                     usage_text, NULL, take, &a};
    arch_table *arches = NULL;
    model *m = NULL;
    sut_error err;
    int rc;

    if ((rc = cli_opts_parse(&cp, argc, argv)) != CLI_GO)
        return rc;
    if (!a.path)
        return cli_usage_error("inspect", "missing PATH (see --help)");
    if (inspect_is_gguf(a.path))
        return inspect_gguf("inspect", a.path, a.json, a.tensors);
    if (!(arches = cli_arch_table(a.arch_file, &err)) ||
        !(m = model_open(a.path, arches, MODEL_STRICT, &err))) {
        rc = cli_fail("inspect", &err);
        goto out;
    }
    if (a.json)
        rc = cli_print_json(cli_json_inspect(m, a.tensors));
    else {
        print_text(m, a.tensors);
        rc = EXIT_OK;
    }
out:
    model_free(m);
    arch_table_free(arches);
    return rc;
}
