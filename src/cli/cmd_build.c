/* cmd_build.c: suture build RECIPE -o OUT [--force] [-j N] [--shard-size S]
 * [--dtype D] [--quiet] [--json] [--arch-file F] [--allow-mixed], or
 * -m NAME=PATH... --slices SPEC instead of RECIPE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/format.h"
#include "suture/build.h"
#include "cli.h"
#include "json_out.h"
#include "plan_args.h"
#include "gguf_cmds.h"
#include "progress.h"

static const char usage[] =
    "usage: suture build RECIPE -o OUT [--force] [-j N] [--quiet] [--json] [OPTIONS]\n"
    "       suture build -m NAME=PATH... --slices SPEC -o OUT [...]\n"
    "Writes the model folder the recipe describes: shards, index, config.json,\n"
    "tokenizer files, README.md and suture-recipe.json. Tensors are streamed\n"
    "from their sources; nothing appears at OUT unless the build succeeds.\n\n"
    "  -o, --output OUT    the output folder (refused when it exists)\n"
    "  --force             replace an existing OUT\n"
    "  -j, --jobs N        shards written in parallel (default: the cores)\n"
    "  -q, --quiet         no progress bar, warnings or summary\n"
    "  --json              the summary, warnings and notes as one JSON object\n";

struct args {
    struct plan_args pa;
    build_options bo;
    bool quiet, json;
};

static int take(void *ctx, int id, const char *v)
{
    struct args *a = ctx;

    switch (id) {
    case CLI_OUTPUT:
        a->bo.out = v;
        return 0;
    case CLI_FORCE:
        a->bo.force = true;
        return 0;
    case CLI_QUIET:
        a->quiet = true;
        return 0;
    case CLI_JSON:
        a->json = true;
        return 0;
    case CLI_JOBS:
        return cli_parse_jobs("build", v, 1024, &a->bo.jobs);
    default:
        return plan_args_take("build", id, v, &a->pa);
    }
}

/* CLI_GO to go on, EXIT_OK after --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, struct args *a)
{
    static const cli_opt opts[] = {CLI_ROW_OUTPUT, CLI_ROW_FORCE, CLI_ROW_QUIET,
                                   CLI_ROW_JSON, CLI_ROW_JOBS};
    cli_parser cp = {"build", opts, sizeof(opts) / sizeof(opts[0]), plan_args_opts,
                     plan_args_nopts, usage, plan_args_usage, take, a};
    int rc = cli_opts_parse(&cp, argc, argv);

    if (rc == CLI_GO && !a->bo.out)
        return cli_usage_error("build", "no output folder: -o OUT (see 'suture build --help')");
    return rc;
}

static void warnings(const plan *p)
{
    size_t n, i;
    const plan_warning *w = plan_warnings(p, &n);

    for (i = 0; i < n; i++)
        fprintf(stderr, "suture build: warning: %s: %s\n", w[i].code, cli_text(w[i].message));
}

static void tell(const plan *p, const build_report *rep, const char *out)
{
    char b[32];
    size_t nl, nt, i;

    for (i = 0; i < rep->nnotes; i++)
        fprintf(stderr, "suture build: note: %s\n", cli_text(rep->notes[i]));
    plan_layers(p, &nl);
    plan_tensors(p, &nt);
    printf("built %s: %zu layers, %zu tensors, %zu shard%s, %s, %zu tokenizer file%s\n",
           cli_text(out), nl, nt, rep->shards, rep->shards == 1 ? "" : "s",
           fmt_bytes(rep->bytes, b, sizeof(b)), rep->files_copied,
           rep->files_copied == 1 ? "" : "s");
    if (rep->bytes_shared > 0) {
        char c[32];
        printf("%s share the sources' blocks, %s copied\n",
               fmt_bytes(rep->bytes_shared, b, sizeof(b)),
               fmt_bytes(rep->bytes_copied, c, sizeof(c)));
    }
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
    int rc;

    memset(&a, 0, sizeof(a));
    if ((rc = parse(argc, argv, &a)) != CLI_GO)
        return rc;
    if ((rc = gguf_cli_build(&a.pa, &a.bo, a.quiet, a.json)) >= 0)
        return rc;
    if ((rc = plan_args_open("build", &a.pa, &p, &r, &t)) != 0)
        return rc;
    if (!a.quiet && !a.json)
        warnings(p);
    bar = cli_progress_attach("build", a.quiet, &a.bo.progress, &a.bo.progress_ctx);
    cli_catch_signals();
    a.bo.cancel = &cli_interrupted;
    rc = build_run(p, &a.bo, &rep, &err);
    cli_progress_free(bar);
    if (rc != 0 && cli_interrupted)
        rc = cli_usage_error("build", "interrupted: nothing was written to %s",
                             cli_text(a.bo.out));
    else if (rc != 0)
        rc = cli_fail("build", &err);
    else if (a.json)
        rc = cli_print_json(cli_json_build(p, &rep, a.bo.out));
    else if (!a.quiet)
        tell(p, &rep, a.bo.out);
    build_report_clear(&rep);
    plan_free(p);
    recipe_free(r);
    arch_table_free(t);
    return rc;
}
