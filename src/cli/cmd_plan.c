/* cmd_plan.c: suture plan RECIPE [--json] [--arch-file F] [--allow-mixed]
 * [--shard-size S] [--dtype D], or -m NAME=PATH... --slices SPEC instead of
 * RECIPE. Also the option parsing `suture build` shares (plan_args.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "suture/plan.h"
#include "cli.h"
#include "plan_args.h"
#include "gguf_cmds.h"

const char plan_args_usage[] =
    "  RECIPE              a JSON recipe or a mergekit passthrough YAML config\n"
    "  -m NAME=PATH        a model for --slices (repeat for each model)\n"
    "  --slices SPEC       the layers instead of a recipe, e.g. 'base[0:24], inst[8:32]'\n"
    "  --arch-file F       more architectures (a JSON family file)\n"
    "  --allow-mixed       allow models of different architectures\n"
    "  --shard-size S      the shard size limit, e.g. 5GB, 500MB (default: the\n"
    "                      recipe's, else 5GB)\n"
    "  --dtype D           output dtype: f32, f16 or bf16 (default: the recipe's,\n"
    "                      else each tensor's own)\n";

static const char usage[] =
    "usage: suture plan RECIPE [--json] [OPTIONS]\n"
    "       suture plan -m NAME=PATH... --slices SPEC [--json] [OPTIONS]\n"
    "Shows what a build would write, reading headers only: the layer map,\n"
    "seams, parameters and bytes before -> after, shards, config changes and\n"
    "warnings. Exit 0 (warnings do not fail), 2 when the recipe is refused.\n\n"
    "  --json              one JSON object instead of text\n";

static int parse_dtype(const char *verb, const char *s, plan_options *o)
{
    static const struct { const char *name; st_dtype dt; } names[] = {
        {"f32", ST_F32}, {"float32", ST_F32}, {"f16", ST_F16}, {"float16", ST_F16},
        {"bf16", ST_BF16}, {"bfloat16", ST_BF16},
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0) {
            o->has_dtype = true;
            o->dtype = names[i].dt;
            return 1;
        }
    return cli_usage_error(verb, "--dtype wants f32, f16 or bf16, not '%s'", s);
}

/* The value of option name at argv[*i]: "--name=V" or "--name V". */
static const char *value_of(const char *name, int argc, char **argv, int *i)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int take_value(const char *verb, const char *opt, const char *v,
                      struct plan_args *a)
{
    if (strcmp(opt, "-m") == 0) {
        if (a->nmodels == PLAN_ARGS_MODELS_MAX)
            return cli_usage_error(verb, "at most %d -m models", PLAN_ARGS_MODELS_MAX);
        a->models[a->nmodels++] = v;
    } else if (strcmp(opt, "--slices") == 0) {
        a->slices = v;
    } else if (strcmp(opt, "--arch-file") == 0) {
        a->arch_file = v;
    } else if (strcmp(opt, "--shard-size") == 0) {
        if (recipe_parse_size(v, &a->opt.shard_size) != 0 || a->opt.shard_size == 0)
            return cli_usage_error(verb, "--shard-size wants a size such as 5GB or "
                                   "500MB, not '%s'", v);
    } else {
        return parse_dtype(verb, v, &a->opt);
    }
    return 1;
}

int plan_args_take(const char *verb, int argc, char **argv, int *i,
                   struct plan_args *a)
{
    static const char *with_value[] = {"-m", "--slices", "--arch-file", "--shard-size",
                                       "--dtype"};
    const char *s = argv[*i], *v;
    size_t k;

    if (strcmp(s, "--allow-mixed") == 0) {
        a->opt.allow_mixed = true;
        return 1;
    }
    for (k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
        if ((v = value_of(with_value[k], argc, argv, i)))
            return take_value(verb, with_value[k], v, a);
    if (s[0] == '-' && s[1])
        return 0;
    if (a->recipe_path)
        return cli_usage_error(verb, "one RECIPE only ('%s' and '%s')", a->recipe_path, s);
    a->recipe_path = s;
    return 1;
}

recipe *plan_args_recipe(const char *verb, const struct plan_args *a, sut_error *err)
{
    if (a->recipe_path && (a->slices || a->nmodels)) {
        cli_usage_error(verb, "give a RECIPE or -m/--slices, not both");
        return NULL;
    }
    if (!a->recipe_path && !a->slices) {
        cli_usage_error(verb, "no RECIPE and no --slices given (see 'suture %s --help')",
                        verb);
        return NULL;
    }
    if (a->recipe_path) {
        recipe *r = recipe_load(a->recipe_path, err);
        if (!r)
            cli_fail(verb, err);
        return r;
    }
    {
        recipe *r = recipe_parse_spec(a->slices, a->models, a->nmodels, err);
        if (!r)
            cli_fail(verb, err);
        return r;
    }
}

int plan_args_open(const char *verb, const struct plan_args *a, plan **p,
                   recipe **r, arch_table **t)
{
    sut_error err;

    *p = NULL;
    *t = NULL;
    if (!(*r = plan_args_recipe(verb, a, &err)))
        return EXIT_USAGE;
    if (!(*t = cli_arch_table(a->arch_file, &err)) ||
        !(*p = plan_make(*r, *t, &a->opt, &err))) {
        arch_table_free(*t);
        recipe_free(*r);
        *t = NULL;
        *r = NULL;
        return cli_fail(verb, &err);
    }
    return 0;
}

int cmd_plan(int argc, char **argv)
{
    struct plan_args a;
    plan *p;
    recipe *r;
    arch_table *t;
    bool json = false;
    int i, rc = 0;

    memset(&a, 0, sizeof(a));
    for (i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("%s%s", usage, plan_args_usage);
            return EXIT_OK;
        }
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
            continue;
        }
        rc = plan_args_take("plan", argc, argv, &i, &a);
        if (rc == 0)
            return cli_usage_error("plan", "unknown or incomplete option '%s'", argv[i]);
        if (rc != 1)
            return rc;
    }
    if ((rc = gguf_cli_plan(&a, json)) >= 0)
        return rc;
    if ((rc = plan_args_open("plan", &a, &p, &r, &t)) != 0)
        return rc;
    if (json) {
        rc = cli_print_json(plan_to_json(p));
    } else {
        char *text = plan_text(p);
        if (text)
            fputs(text, stdout);
        else
            rc = cli_usage_error("plan", "out of memory");
        free(text);
    }
    plan_free(p);
    recipe_free(r);
    arch_table_free(t);
    return rc;
}
