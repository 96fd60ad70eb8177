/* cmd_verify.c: suture verify OUT [--json] [--quiet] [--arch-file F] [-j N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/format.h"
#include "suture/verify.h"
#include "cli.h"
#include "json_out.h"
#include "opts.h"
#include "gguf_cmds.h"
#include "inspect_gguf.h"
#include "progress.h"

static const char usage[] =
    "usage: suture verify OUT [--json] [--quiet] [--arch-file F] [-j N]\n"
    "Re-reads a checkpoint written by suture build and checks every tensor\n"
    "against the source its shards record: byte-identical copies by hash,\n"
    "scaled or converted tensors by recomputing them. Exit 0 when all match,\n"
    "1 when some differ (each is named), 2 when it cannot run (no provenance,\n"
    "a source model missing).\n\n"
    "  --json         print the result as one JSON object\n"
    "  -q, --quiet    no progress bar\n"
    "  --arch-file F  more architectures (a JSON family file)\n"
    "  -j, --jobs N   threads, 1 to 64 (default: the cores, at most 8)\n";

struct args {
    const char *path, *arch_file;
    verify_options opt;
    bool json;
    bool quiet;           /* no progress bar */
};

static int take(void *ctx, int id, const char *v)
{
    struct args *a = ctx;

    switch (id) {
    case CLI_JSON:
        a->json = true;
        return 0;
    case CLI_QUIET:
        a->quiet = true;
        return 0;
    case CLI_ARCH_FILE:
        a->arch_file = v;
        return 0;
    case CLI_JOBS:
        return cli_parse_jobs("verify", v, 64, &a->opt.threads);
    default:
        return cli_take_operand("verify", "OUT", &a->path, v);
    }
}

/* CLI_GO to go on, EXIT_OK after --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, struct args *a)
{
    static const cli_opt opts[] = {CLI_ROW_JSON, CLI_ROW_QUIET, CLI_ROW_ARCH_FILE,
                                   CLI_ROW_JOBS};
    cli_parser cp = {"verify", opts, sizeof(opts) / sizeof(opts[0]), NULL, 0, usage,
                     NULL, take, a};
    int rc = cli_opts_parse(&cp, argc, argv);

    if (rc == CLI_GO && !a->path)
        return cli_usage_error("verify", "no OUT given (see 'suture verify --help')");
    return rc;
}

static void print_text(const verify_report *r, const char *path)
{
    size_t i, n = verify_problem_count(r);

    for (i = 0; i < n; i++)
        printf("mismatch: %s\n", cli_text(verify_problem_at(r, i)->message));
    printf("%s: %zu tensors checked against %zu source model%s (%zu copied, %zu "
           "recomputed): %s\n", cli_text(path), verify_checked(r), verify_sources(r),
           verify_sources(r) == 1 ? "" : "s", verify_copied(r), verify_recomputed(r),
           n == 0 ? "all match" : "MISMATCH");
}

/* verify_run with a progress bar on a terminal (unless --quiet). */
static verify_report *verify_with_bar(struct args *a, arch_table *t, sut_error *err)
{
    cli_progress *bar = cli_progress_attach("verify", a->quiet, &a->opt.progress,
                                            &a->opt.progress_ctx);
    verify_report *r;

    r = verify_run(a->path, t, &a->opt, err);
    cli_progress_free(bar);
    return r;
}

int cmd_verify(int argc, char **argv)
{
    struct args a = {0};
    sut_error err;
    arch_table *t = NULL;
    verify_report *r = NULL;
    int rc;

    if ((rc = parse(argc, argv, &a)) != CLI_GO)
        return rc;
    rc = EXIT_USAGE;
    if (inspect_is_gguf(a.path))
        return gguf_cli_verify(a.path, a.json, a.quiet);
    if (!(t = cli_arch_table(a.arch_file, &err)) ||
        !(r = verify_with_bar(&a, t, &err))) {
        cli_fail("verify", &err);
        goto out;
    }
    if (a.json) {
        if (cli_print_json(cli_json_verify(r)) != 0)
            goto out;
    } else {
        print_text(r, a.path);
    }
    rc = verify_problem_count(r) ? EXIT_FOUND : EXIT_OK;
out:
    verify_free(r);
    arch_table_free(t);
    return rc;
}
