/* plan_args.h: the options `suture plan` and `suture build` share (the
 * recipe or -m/--slices, --arch-file, --allow-mixed, --shard-size,
 * --dtype) and the plan they make. */
#ifndef SUTURE_CLI_PLAN_ARGS_H
#define SUTURE_CLI_PLAN_ARGS_H

#include <stddef.h>

#include "suture/plan.h"
#include "opts.h"

#define PLAN_ARGS_MODELS_MAX 64

struct plan_args {
    const char *recipe_path;
    const char *models[PLAN_ARGS_MODELS_MAX]; /* "NAME=PATH" */
    size_t nmodels;
    const char *slices;
    const char *arch_file;
    plan_options opt;
};

/* The option rows of the shared options (for cli_parser.more). */
extern const cli_opt plan_args_opts[];
extern const size_t plan_args_nopts;

/* The usage lines of the shared options. */
extern const char plan_args_usage[];

/* Takes a shared option (a plan_args_opts id) or the RECIPE operand.
 * 0, or EXIT_USAGE after printing what is wrong. */
int plan_args_take(const char *verb, int id, const char *value, struct plan_args *a);

/* Loads the recipe (a file, or -m/--slices). NULL after printing the
 * error. */
recipe *plan_args_recipe(const char *verb, const struct plan_args *a,
                         sut_error *err);

/* Loads the recipe and the architectures and makes the plan. 0, or
 * EXIT_USAGE after printing the error. On success the caller frees *p,
 * *r and *t (in that order). */
int plan_args_open(const char *verb, const struct plan_args *a, plan **p,
                   recipe **r, arch_table **t);

#endif
