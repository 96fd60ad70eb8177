/* cmd_trim.c: suture trim PATH (-o OUT | --in-place) [--force] [--json]
 * [--quiet] [--arch-file F] */
#include <stdio.h>
#include <string.h>

#include "suture/format.h"
#include "suture/trim.h"
#include "cli.h"
#include "json_out.h"
#include "opts.h"
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
    "  -q, --quiet       no progress bar; print nothing when it succeeds\n"
    "  --arch-file F     more architectures (a JSON family file)\n";

struct args {
    const char *path, *arch_file;
    trim_options opt;
    bool in_place, json, quiet;
};

enum { TRIM_IN_PLACE = CLI_OWN };

static int take(void *ctx, int id, const char *v)
{
    struct args *a = ctx;

    switch (id) {
    case TRIM_IN_PLACE:
        a->in_place = true;
        break;
    case CLI_FORCE:
        a->opt.force = true;
        break;
    case CLI_JSON:
        a->json = true;
        break;
    case CLI_QUIET:
        a->quiet = true;
        break;
    case CLI_OUTPUT:
        a->opt.out = v;
        break;
    case CLI_ARCH_FILE:
        a->arch_file = v;
        break;
    default:
        return cli_take_operand("trim", "PATH", &a->path, v);
    }
    return 0;
}

/* CLI_GO to go on, EXIT_OK after --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, struct args *a)
{
    static const cli_opt opts[] = {{"in-place", 0, false, TRIM_IN_PLACE}, CLI_ROW_FORCE,
                                   CLI_ROW_JSON, CLI_ROW_QUIET, CLI_ROW_OUTPUT,
                                   CLI_ROW_ARCH_FILE};
    cli_parser cp = {"trim", opts, sizeof(opts) / sizeof(opts[0]), NULL, 0, usage, NULL,
                     take, a};
    int rc = cli_opts_parse(&cp, argc, argv);

    if (rc != CLI_GO)
        return rc;
    if (!a->path)
        return cli_usage_error("trim", "no PATH given (see 'suture trim --help')");
    if (!a->opt.out == !a->in_place)
        return cli_usage_error("trim", "give exactly one of -o OUT and --in-place");
    return CLI_GO;
}

static void print_result(const trim_result *res, const struct args *a)
{
    char params[32], bytes[32];

    if (!res->trimmed) {
        printf("nothing to trim: %s%s\n", cli_text(res->reason),
               a->opt.out ? " (no output written)" : "");
        return;
    }
    if (res->stale)
        printf("removed %u temporary file%s of an interrupted run\n", res->stale,
               res->stale == 1 ? "" : "s");
    if (!res->identical)
        printf("dropped '%s' although it differs from the embeddings (--force): "
               "loaders were ignoring it\n", cli_text(res->tensor));
    printf("removed '%s' from %s%s: %s parameters, %s\n", cli_text(res->tensor),
           cli_text(res->shard),
           res->shard_dropped ? " (the shard held nothing else and is gone)" : "",
           fmt_count(res->parameters, params, sizeof(params)),
           fmt_bytes(res->bytes, bytes, sizeof(bytes)));
    printf("%s %s\n", a->opt.out ? "wrote" : "trimmed in place:",
           cli_text(a->opt.out ? a->opt.out : a->path));
}

/* trim_run with a progress bar on a terminal (unless --quiet). */
static int trim_with_bar(struct args *a, arch_table *t, trim_result *res, sut_error *err)
{
    cli_progress *bar = cli_progress_attach("trim", a->quiet, &a->opt.progress,
                                            &a->opt.progress_ctx);
    int rc;

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
    int rc;

    if ((rc = parse(argc, argv, &a)) != CLI_GO)
        return rc;
    rc = EXIT_USAGE;
    if (inspect_is_gguf(a.path))
        return gguf_cli_trim(a.path, a.opt.out, a.in_place, a.opt.force, a.json, a.quiet);
    if (!(t = cli_arch_table(a.arch_file, &err)) ||
        trim_with_bar(&a, t, &res, &err) != 0) {
        cli_fail("trim", &err);
        goto out;
    }
    if (a.json)
        rc = cli_print_json(cli_json_trim(&res, a.path, a.opt.out));
    else {
        if (!a.quiet)
            print_result(&res, &a);
        rc = EXIT_OK;
    }
out:
    arch_table_free(t);
    return rc;
}
