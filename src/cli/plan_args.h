/* plan_args.h: the options `suture plan` and `suture build` share (the
 * recipe or -m/--slices, --arch-file, --allow-mixed, --shard-size,
 * --dtype), parsed in cmd_plan.c. */
#ifndef SUTURE_CLI_PLAN_ARGS_H
#define SUTURE_CLI_PLAN_ARGS_H

#include <stddef.h>

#include "suture/plan.h"

#define PLAN_ARGS_MODELS_MAX 64

struct plan_args {
    const char *recipe_path;
    const char *models[PLAN_ARGS_MODELS_MAX]; /* "NAME=PATH" */
    size_t nmodels;
    const char *slices;
    const char *arch_file;
    plan_options opt;
};

/* The usage lines of the shared options. */
extern const char plan_args_usage[];

/* Takes the shared option or operand at argv[*i] (and its value, advancing
 * *i). Returns 1 when taken, 0 when it is not a shared one, or EXIT_USAGE
 * after printing what is wrong. */
int plan_args_take(const char *verb, int argc, char **argv, int *i,
                   struct plan_args *a);

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
