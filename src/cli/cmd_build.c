/* cmd_build.c: suture build RECIPE -o OUT [--force] [-j N] [--shard-size S]
 * [--dtype D] [--quiet] [--json] [--arch-file F] [--allow-mixed], or
 * -m NAME=PATH... --slices SPEC instead of RECIPE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/format.h"
#include "suture/build.h"
#include "cli.h"
#include "plan_args.h"
#include "gguf_cmds.h"
#include "progress.h"

static const char usage[] =
    "usage: suture build RECIPE -o OUT [--force] [-j N] [--quiet] [--json] [OPTIONS]\n"
    "       suture build -m NAME=PATH... --slices SPEC -o OUT [...]\n"
    "Writes the model folder the recipe describes: shards, index, config.json,\n"
    "tokenizer files, README.md and suture-recipe.json. Tensors are streamed\n"
    "from their sources; nothing appears at OUT unless the build succeeds.\n\n"
    "  -o OUT              the output folder (refused when it exists)\n"
    "  --force             replace an existing OUT\n"
    "  -j N                shards written in parallel (default: the cores)\n"
    "  --quiet             no progress bar, warnings or summary\n"
    "  --json              the summary, warnings and notes as one JSON object\n";

struct args {
    struct plan_args pa;
    build_options bo;
    bool quiet, json;
};

static int parse_jobs(const char *s, unsigned *out)
{
    char *end;
    long n = strtol(s, &end, 10);

    if (!*s || *end || n < 1 || n > 1024)
        return cli_usage_error("build", "-j wants a thread count from 1 to 1024, not '%s'",
                               s);
    *out = (unsigned)n;
    return 0;
}

/* 0 to go on, EXIT_OK after --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, struct args *a, bool *help)
{
    int i, rc;

    for (i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool more = i + 1 < argc;
        if (cli_is_help(s)) {
            *help = true;
            return EXIT_OK;
        }
        if (strcmp(s, "-o") == 0 && more)
            a->bo.out = argv[++i];
        else if (strcmp(s, "--force") == 0)
            a->bo.force = true;
        else if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0)
            a->quiet = true;
        else if (strcmp(s, "--json") == 0)
            a->json = true;
        else if (strcmp(s, "-j") == 0 && more) {
            if (parse_jobs(argv[++i], &a->bo.jobs) != 0)
                return EXIT_USAGE;
        } else if ((rc = plan_args_take("build", argc, argv, &i, &a->pa)) != 1)
            return rc ? rc : cli_usage_error("build", "unknown or incomplete option '%s'", s);
    }
    if (!a->bo.out)
        return cli_usage_error("build", "no output folder: -o OUT (see 'suture build --help')");
    return 0;
}

static void warnings(const plan *p)
{
    size_t n, i;
    const plan_warning *w = plan_warnings(p, &n);

    for (i = 0; i < n; i++)
        fprintf(stderr, "suture build: warning: %s: %s\n", w[i].code, w[i].message);
}

static void tell(const plan *p, const build_report *rep, const char *out)
{
    char b[32];
    size_t nl, nt, i;

    for (i = 0; i < rep->nnotes; i++)
        fprintf(stderr, "suture build: note: %s\n", rep->notes[i]);
    plan_layers(p, &nl);
    plan_tensors(p, &nt);
    printf("built %s: %zu layers, %zu tensors, %zu shard%s, %s, %zu tokenizer file%s\n",
           out, nl, nt, rep->shards, rep->shards == 1 ? "" : "s",
           fmt_bytes(rep->bytes, b, sizeof(b)), rep->files_copied,
           rep->files_copied == 1 ? "" : "s");
}

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
 *  "shards": [{"name", "bytes", "tensors"}], "tokenizer_files", "notes":
 *  [text], "warnings": [{"code", "message"}]}; NULL when out of memory. */
static cJSON *build_json(const plan *p, const build_report *rep, const char *out)
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

int cmd_build(int argc, char **argv)
{
    struct args a;
    cli_progress *bar;
    build_report rep;
    sut_error err;
    plan *p;
    recipe *r;
    arch_table *t;
    bool help = false;
    int rc;

    memset(&a, 0, sizeof(a));
    if ((rc = parse(argc, argv, &a, &help)) != 0 || help) {
        if (help)
            printf("%s%s", usage, plan_args_usage);
        return rc;
    }
    if ((rc = gguf_cli_build(&a.pa, &a.bo, a.quiet, a.json)) >= 0)
        return rc;
    if ((rc = plan_args_open("build", &a.pa, &p, &r, &t)) != 0)
        return rc;
    if (!a.quiet && !a.json)
        warnings(p);
    if ((bar = cli_progress_new("build", a.quiet))) {
        a.bo.progress = cli_progress_update;
        a.bo.progress_ctx = bar;
    }
    cli_catch_signals();
    a.bo.cancel = &cli_interrupted;
    rc = build_run(p, &a.bo, &rep, &err);
    cli_progress_free(bar);
    if (rc != 0 && cli_interrupted)
        rc = cli_usage_error("build", "interrupted: nothing was written to %s", a.bo.out);
    else if (rc != 0)
        rc = cli_fail("build", &err);
    else if (a.json)
        rc = cli_print_json(build_json(p, &rep, a.bo.out));
    else if (!a.quiet)
        tell(p, &rep, a.bo.out);
    build_report_clear(&rep);
    plan_free(p);
    recipe_free(r);
    arch_table_free(t);
    return rc;
}
