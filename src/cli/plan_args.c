/* plan_args.c: the options plan and build share (see plan_args.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "suture/format.h"
#include "cli.h"
#include "plan_args.h"

enum { PA_MODEL = CLI_OWN + 50, PA_SLICES, PA_SHARD_SIZE, PA_DTYPE, PA_ALLOW_MIXED };

const cli_opt plan_args_opts[] = {
    {"model", 'm', true, PA_MODEL},
    {"slices", 0, true, PA_SLICES},
    {"shard-size", 0, true, PA_SHARD_SIZE},
    {"dtype", 0, true, PA_DTYPE},
    {"allow-mixed", 0, false, PA_ALLOW_MIXED},
    CLI_ROW_ARCH_FILE,
};
const size_t plan_args_nopts = sizeof(plan_args_opts) / sizeof(plan_args_opts[0]);

const char plan_args_usage[] =
    "  RECIPE              a JSON recipe or a mergekit passthrough YAML config\n"
    "  -m, --model NAME=PATH  a model for --slices (repeat for each model)\n"
    "  --slices SPEC       the layers instead of a recipe, e.g. 'base[0:24], inst[8:32]'\n"
    "  --arch-file F       more architectures (a JSON family file)\n"
    "  --allow-mixed       allow models of different architectures\n"
    "  --shard-size S      the shard size limit, e.g. 5GB, 500MB (default: the\n"
    "                      recipe's, else 5GB)\n"
    "  --dtype D           output dtype: f32, f16 or bf16 (default: the recipe's,\n"
    "                      else each tensor's own)\n";

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
            return 0;
        }
    return cli_usage_error(verb, "--dtype wants f32, f16 or bf16, not '%s'",
                           cli_text(s));
}

static int take_recipe(const char *verb, const char *s, struct plan_args *a)
{

    if (a->recipe_path)
        return cli_usage_error(verb, "one RECIPE only ('%s' and '%s')",
                               cli_text(a->recipe_path),
                               cli_text(s));
    a->recipe_path = s;
    return 0;
}

int plan_args_take(const char *verb, int id, const char *v, struct plan_args *a)
{

    switch (id) {
    case CLI_OPERAND:
        return take_recipe(verb, v, a);
    case PA_MODEL:
        if (a->nmodels == PLAN_ARGS_MODELS_MAX)
            return cli_usage_error(verb, "at most %d -m models", PLAN_ARGS_MODELS_MAX);
        a->models[a->nmodels++] = v;
        return 0;
    case PA_SLICES:
        a->slices = v;
        return 0;
    case CLI_ARCH_FILE:
        a->arch_file = v;
        return 0;
    case PA_SHARD_SIZE:
        if (recipe_parse_size(v, &a->opt.shard_size) != 0 || a->opt.shard_size == 0)
            return cli_usage_error(verb, "--shard-size wants a size such as 5GB or "
                                   "500MB, not '%s'", cli_text(v));
        return 0;
    case PA_DTYPE:
        return parse_dtype(verb, v, &a->opt);
    case PA_ALLOW_MIXED:
        a->opt.allow_mixed = true;
        return 0;
    default:
        return cli_usage_error(verb, "option %d is not handled", id);
    }
}

recipe *plan_args_recipe(const char *verb, const struct plan_args *a, sut_error *err)
{
    recipe *r;

    if (a->recipe_path && (a->slices || a->nmodels)) {
        cli_usage_error(verb, "give a RECIPE or -m/--slices, not both");
        return NULL;
    }
    if (!a->recipe_path && !a->slices) {
        cli_usage_error(verb, "no RECIPE and no --slices given (see 'suture %s --help')",
                        verb);
        return NULL;
    }
    if (a->recipe_path)
        r = recipe_load(a->recipe_path, err);
    else
        r = recipe_parse_spec(a->slices, a->models, a->nmodels, err);
    if (!r)
        cli_fail(verb, err);
    return r;
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
