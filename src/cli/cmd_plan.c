/* cmd_plan.c: suture plan RECIPE [--json] [--arch-file F] [--allow-mixed]
 * [--shard-size S] [--dtype D], or -m NAME=PATH... --slices SPEC instead of
 * RECIPE (the shared options are in plan_args.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/build.h"
#include "suture/plan.h"
#include "cli.h"
#include "json_out.h"
#include "plan_args.h"
#include "gguf_cmds.h"

static const char usage[] =
    "usage: suture plan RECIPE [--json] [OPTIONS]\n"
    "       suture plan -m NAME=PATH... --slices SPEC [--json] [OPTIONS]\n"
    "Shows what a build would write, reading headers only: the layer map,\n"
    "seams, parameters and bytes before -> after, shards, config changes and\n"
    "warnings. Exit 0 (warnings do not fail), 2 when the recipe is refused.\n\n"
    "  --json              one JSON object instead of text\n";

struct args {
    struct plan_args pa;
    bool json;
};

static int take(void *ctx, int id, const char *v)
{
    struct args *a = ctx;

    if (id == CLI_JSON) {
        a->json = true;
        return 0;
    }
    return plan_args_take("plan", id, v, &a->pa);
}

int cmd_plan(int argc, char **argv)
{
    static const cli_opt opts[] = {CLI_ROW_JSON};
    struct args a;
    cli_parser cp = {"plan", opts, 1, plan_args_opts, plan_args_nopts, usage,
                     plan_args_usage, take, &a};
    plan *p;
    recipe *r;
    arch_table *t;
    sut_error err;
    int rc;

    memset(&a, 0, sizeof(a));
    if ((rc = cli_opts_parse(&cp, argc, argv)) != CLI_GO)
        return rc;
    if ((rc = gguf_cli_plan(&a.pa, a.json)) >= 0)
        return rc;
    if ((rc = plan_args_open("plan", &a.pa, &p, &r, &t)) != 0)
        return rc;
    if (build_check_headers(p, &err) != 0) {
        rc = cli_fail("plan", &err); /* what build would refuse */
    } else if (a.json) {
        rc = cli_print_json(cli_json_plan(p));
    } else {
        char *text = plan_text(p);
        rc = text ? cli_print_text(text) : cli_usage_error("plan", "out of memory");
        free(text);
    }
    plan_free(p);
    recipe_free(r);
    arch_table_free(t);
    return rc;
}
