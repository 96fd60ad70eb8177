/* cmd_trim.c: suture trim PATH (-o OUT | --in-place) [--force] [--json]
 * [--quiet] [--arch-file F] */
#include <stdio.h>
#include <string.h>

#include "suture/format.h"
#include "suture/trim.h"
#include "cli.h"
#include "gguf_cmds.h"
#include "inspect_gguf.h"
#include "progress.h"

static const char usage[] =
    "usage: suture trim PATH (-o OUT | --in-place) [--force] [--json] [--quiet]\n"
    "                  [--arch-file F]\n"
    "Removes the lm_head a tied model stores for nothing (byte-identical to the\n"
    "embeddings; --force also drops one that differs). Only the shard that held\n"
    "it is rewritten and the index fixed; every other file is kept as it is.\n"
    "-o OUT writes a new folder (OUT must not exist); --in-place replaces the\n"
    "files atomically. Exit 0 when trimmed or when there is nothing to trim,\n"
    "2 when refused.\n\n"
    "  -o, --output OUT  write the trimmed model to the new folder OUT\n"
    "  --in-place        replace the model's files\n"
    "  --force           also drop a head that differs from the embeddings\n"
    "  --json            print the result as one JSON object\n"
    "  --quiet           no progress bar; print nothing when it succeeds\n"
    "  --arch-file F     more architectures (a JSON family file)\n";

struct args {
    const char *path, *arch_file;
    trim_options opt;
    bool in_place, json, quiet;
};

static int parse(int argc, char **argv, struct args *a)
{
    int i, rc = 0;

    for (i = 1; i < argc && rc == 0; i++) {
        const char *s = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(s, "--in-place") == 0)
            a->in_place = true;
        else if (strcmp(s, "--force") == 0)
            a->opt.force = true;
        else if (strcmp(s, "--json") == 0)
            a->json = true;
        else if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0)
            a->quiet = true;
        else if ((strcmp(s, "-o") == 0 || strcmp(s, "--output") == 0) && more)
            a->opt.out = argv[++i];
        else if (strcmp(s, "--arch-file") == 0 && more)
            a->arch_file = argv[++i];
        else if (s[0] == '-' && s[1])
            rc = cli_usage_error("trim", "unknown or incomplete option '%s'", s);
        else if (a->path)
            rc = cli_usage_error("trim", "one PATH only ('%s' and '%s')", a->path, s);
        else
            a->path = s;
    }
    if (rc != 0)
        return rc;
    if (!a->path)
        return cli_usage_error("trim", "no PATH given (see 'suture trim --help')");
    if (!a->opt.out == !a->in_place)
        return cli_usage_error("trim", "give exactly one of -o OUT and --in-place");
    return 0;
}

static void print_result(const trim_result *res, const struct args *a)
{
    char params[32], bytes[32];

    if (!res->trimmed) {
        printf("nothing to trim: %s%s\n", res->reason,
               a->opt.out ? " (no output written)" : "");
        return;
    }
    if (res->stale)
        printf("removed %u temporary file%s of an interrupted run\n", res->stale,
               res->stale == 1 ? "" : "s");
    if (!res->identical)
        printf("dropped '%s' although it differs from the embeddings (--force): "
               "loaders were ignoring it\n", res->tensor);
    printf("removed '%s' from %s%s: %s parameters, %s\n", res->tensor, res->shard,
           res->shard_dropped ? " (the shard held nothing else and is gone)" : "",
           fmt_count(res->parameters, params, sizeof(params)),
           fmt_bytes(res->bytes, bytes, sizeof(bytes)));
    printf("%s %s\n", a->opt.out ? "wrote" : "trimmed in place:",
           a->opt.out ? a->opt.out : a->path);
}

/* Adds key: s, or null when s is empty. */
static bool add_text(cJSON *o, const char *key, const char *s)
{
    return *s ? cJSON_AddStringToObject(o, key, s) != NULL
              : cJSON_AddNullToObject(o, key) != NULL;
}

/* {"path", "output", "trimmed", "reason", "tensor", "shard",
 *  "shard_dropped", "identical", "parameters", "bytes", "stale_removed"};
 * NULL when out of memory. */
static cJSON *result_json(const trim_result *res, const struct args *a)
{
    cJSON *o = cJSON_CreateObject();
    bool t = res->trimmed;
    bool ok = o && cJSON_AddStringToObject(o, "path", a->path) &&
              add_text(o, "output", a->opt.out ? a->opt.out : "") &&
              cJSON_AddBoolToObject(o, "trimmed", t) &&
              add_text(o, "reason", t ? "" : res->reason) &&
              add_text(o, "tensor", t ? res->tensor : "") &&
              add_text(o, "shard", t ? res->shard : "") &&
              cJSON_AddBoolToObject(o, "shard_dropped", t && res->shard_dropped) &&
              cJSON_AddBoolToObject(o, "identical", t && res->identical) &&
              cJSON_AddNumberToObject(o, "parameters", t ? (double)res->parameters : 0) &&
              cJSON_AddNumberToObject(o, "bytes", t ? (double)res->bytes : 0) &&
              cJSON_AddNumberToObject(o, "stale_removed", res->stale);

    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* trim_run with a progress bar on a terminal (unless --quiet). */
static int trim_with_bar(struct args *a, arch_table *t, trim_result *res, sut_error *err)
{
    cli_progress *bar = cli_progress_new("trim", a->quiet);
    int rc;

    a->opt.progress = bar ? cli_progress_update : NULL;
    a->opt.progress_ctx = bar;
    rc = trim_run(a->path, t, &a->opt, res, err);
    cli_progress_free(bar);
    return rc;
}

int cmd_trim(int argc, char **argv)
{
    struct args a = {0};
    trim_result res;
    sut_error err;
    arch_table *t;
    int i, rc = EXIT_USAGE;

    for (i = 1; i < argc; i++)
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
    if (parse(argc, argv, &a) != 0)
        return EXIT_USAGE;
    if (inspect_is_gguf(a.path))
        return gguf_cli_trim(a.path, a.opt.out, a.in_place, a.opt.force, a.json, a.quiet);
    if (!(t = cli_arch_table(a.arch_file, &err)) ||
        trim_with_bar(&a, t, &res, &err) != 0) {
        cli_fail("trim", &err);
        goto out;
    }
    if (a.json)
        rc = cli_print_json(result_json(&res, &a));
    else {
        if (!a.quiet)
            print_result(&res, &a);
        rc = EXIT_OK;
    }
out:
    arch_table_free(t);
    return rc;
}
