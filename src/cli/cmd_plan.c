/* cmd_plan.c: suture plan RECIPE [--json] [--measure FILE |
 * --measure-tokens FILE] [--arch-file F] [--allow-mixed] [--shard-size S]
 * [--dtype D], or -m NAME=PATH... --slices SPEC instead of RECIPE (the
 * shared options are in plan_args.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suture/build.h"
#include "suture/plan.h"
#include "cli.h"
#include "json_out.h"
#include "measure_out.h"
#include "plan_args.h"
#include "gguf_cmds.h"

static const char usage[] =
    "usage: suture plan RECIPE [--json] [OPTIONS]\n"
    "       suture plan -m NAME=PATH... --slices SPEC [--json] [OPTIONS]\n"
    "Shows what a build would write, reading headers only: the layer map,\n"
    "seams, parameters and bytes before -> after, shards, config changes and\n"
    "warnings. Exit 0 (warnings do not fail), 2 when the recipe is refused.\n\n"
    "  --json              one JSON object instead of text\n"
    "  --measure FILE      also run the output and the config donor over the\n"
    "                      text (as suture probe RECIPE --text FILE): NLL and\n"
    "                      perplexity before and after, and the seams\n"
    "  --measure-tokens FILE  the same over token ids (as probe --tokens)\n";

struct args {
    struct plan_args pa;
    bool json;
    const char *measure, *measure_tokens;
};

enum { OPT_MEASURE = CLI_OWN, OPT_MEASURE_TOKENS };

static int take(void *ctx, int id, const char *v)
{
    struct args *a = ctx;

    if (id == CLI_JSON) {
        a->json = true;
        return 0;
    }
    if (id == OPT_MEASURE || id == OPT_MEASURE_TOKENS) {
        if (a->measure || a->measure_tokens)
            return cli_usage_error("plan", "one --measure or --measure-tokens only");
        *(id == OPT_MEASURE ? &a->measure : &a->measure_tokens) = v;
        return 0;
    }
    return plan_args_take("plan", id, v, &a->pa);
}

/* The output and the config donor over the --measure ids. 0, or -1 with err. */
static int measure(const struct args *a, const plan *p, measure_result *res,
                   sut_error *err)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    probe_options o = {0};

    o.batch = 1;
    o.threads = cpus > 0 ? (unsigned)cpus : 1;
    return cli_measure_plan(p, a->measure_tokens, a->measure,
                            plan_get_donors(p).config, false, &o, res, err);
}

static void print_measure(const struct args *a, const measure_result *m,
                          const plan *p)
{
    printf("\nmeasured on %s: %llu tokens in windows of %zu (%llu predicted)\n",
           cli_text(a->measure ? a->measure : a->measure_tokens),
           (unsigned long long)m->out.tokens, m->out.ctx,
           (unsigned long long)m->out.predicted);
    printf("nll %.5f -> %.5f  perplexity %.4f -> %.4f (before: %s alone)\n",
           m->base.nll, m->out.nll, m->base.perplexity, m->out.perplexity,
           cli_text(plan_recipe(p)->models[plan_get_donors(p).config].name));
    cli_print_seams(m, p);
}

int cmd_plan(int argc, char **argv)
{
    static const cli_opt opts[] = {
        CLI_ROW_JSON, {"measure", 0, true, OPT_MEASURE},
        {"measure-tokens", 0, true, OPT_MEASURE_TOKENS},
    };
    struct args a;
    cli_parser cp = {"plan", opts, sizeof(opts) / sizeof(opts[0]), plan_args_opts,
                     plan_args_nopts, usage, plan_args_usage, take, &a};
    measure_result m = {0};
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
    } else if ((a.measure || a.measure_tokens) && measure(&a, p, &m, &err) != 0) {
        rc = cli_fail("plan", &err);
    } else if (a.json) {
        cJSON *root = cli_json_plan(p);
        if (root && (a.measure || a.measure_tokens) &&
            !cJSON_AddItemToObject(root, "measure", cli_json_plan_measure(
                &m, p, a.measure ? a.measure : a.measure_tokens,
                plan_get_donors(p).config))) {
            cJSON_Delete(root);
            root = NULL;
        }
        rc = cli_print_json(root);
    } else {
        char *text = plan_text(p);
        rc = text ? cli_print_text(text) : cli_usage_error("plan", "out of memory");
        free(text);
        if (text && (a.measure || a.measure_tokens))
            print_measure(&a, &m, p);
    }
    measure_result_free(&m);
    plan_free(p);
    recipe_free(r);
    arch_table_free(t);
    return rc;
}
