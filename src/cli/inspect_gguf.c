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
#include "json_out.h"

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
           fmt_text(cli_gguf_file_name(m, t->file), file, sizeof(file)));
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
    struct cli_gguf_totals s;
    char a[40], b[40], c[40], d[40], e[40], file[512];
    uint32_t i;
    size_t k;

    cli_gguf_count(m, &s);
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
               fmt_text(cli_gguf_file_name(m, k), file, sizeof(file)), gguf_version(g),
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
        rc = cli_print_json(cli_json_gguf_inspect(m, tensors));
    } else {
        print_text(m, tensors);
        rc = EXIT_OK;
    }
    gmodel_free(m);
    return rc;
}
