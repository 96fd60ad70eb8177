/* gguf_cmds.c: plan and build on GGUF models (see gguf_cmds.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/format.h"
#include "suture/gguf_build.h"
#include "cli.h"
#include "gguf_cmds.h"
#include "json_out.h"
#include "progress.h"

/* The recipe when it names GGUF models; NULL with *rc set otherwise (-1:
 * not GGUF; EXIT_USAGE: an error was printed). */
static recipe *gguf_recipe(const char *verb, const struct plan_args *a,
                           int *rc)
{
    sut_error err;
    recipe *r = plan_args_recipe(verb, a, &err);

    *rc = EXIT_USAGE;
    if (!r)
        return NULL;
    if (!gbuild_is_gguf(r)) {
        recipe_free(r);
        *rc = -1;
        return NULL;
    }
    if (a->opt.has_dtype) {
        recipe_free(r);
        cli_usage_error(verb, "--dtype does not apply to GGUF models (their "
                        "blocks are copied as they are)");
        return NULL;
    }
    return r;
}

static gbuild_plan *gguf_plan(const char *verb, const struct plan_args *a,
                              recipe **r, int *rc)
{
    sut_error err;
    gbuild_plan *p;

    if (!(*r = gguf_recipe(verb, a, rc)))
        return NULL;
    if (!(p = gbuild_plan_make(*r, a->opt.shard_size ? a->opt.shard_size
                                                     : (*r)->shard_size, &err))) {
        *rc = cli_fail(verb, &err);
        recipe_free(*r);
        return NULL;
    }
    return p;
}

int gguf_cli_plan(const struct plan_args *a, bool json)
{
    recipe *r;
    gbuild_plan *p;
    char *text;
    int rc;

    if (!(p = gguf_plan("plan", a, &r, &rc)))
        return rc;
    if (json) {
        rc = cli_print_json(cli_json_gguf_plan(p));
    } else if ((text = gbuild_plan_text(p))) {
        fputs(text, stdout);
        free(text);
        rc = EXIT_OK;
    } else {
        rc = cli_usage_error("plan", "out of memory");
    }
    gbuild_plan_free(p);
    recipe_free(r);
    return rc;
}

static void tell(const gbuild_plan *p, const char *out, bool json)
{
    char b[32];
    size_t nl, nt;

    if (json) {
        cli_print_json(cli_json_gguf_build(p, out));
        return;
    }
    gbuild_plan_layers(p, &nl);
    gbuild_plan_tensors(p, &nt);
    printf("built %s: %zu layers, %zu tensors, %zu file%s, %s\n", out, nl, nt,
               gbuild_plan_files(p), gbuild_plan_files(p) == 1 ? "" : "s",
           fmt_bytes(gbuild_plan_bytes(p), b, sizeof(b)));
}

int gguf_cli_build(const struct plan_args *a, const build_options *bo,
                   bool quiet, bool json)
{
    recipe *r;
    gbuild_plan *p;
    sut_error err;
    size_t i, n;
    const char *const *notes;
    build_options o = *bo;
    cli_progress *bar;
    int rc, built;

    if (!(p = gguf_plan("build", a, &r, &rc)))
        return rc;
    notes = gbuild_plan_notes(p, &n);
    for (i = 0; !quiet && !json && i < n; i++)
        fprintf(stderr, "suture build: note: %s\n", notes[i]);
    bar = cli_progress_attach("build", quiet, &o.progress, &o.progress_ctx);
    cli_catch_signals();
    o.cancel = &cli_interrupted;
    built = gbuild_run(p, &o, &err);
    cli_progress_free(bar);
    if (built != 0) {
        rc = cli_interrupted
             ? cli_usage_error("build", "interrupted: nothing was written to %s", bo->out)
             : cli_fail("build", &err);
    } else {
        if (!quiet || json)
            tell(p, bo->out, json);
        rc = EXIT_OK;
    }
    gbuild_plan_free(p);
    recipe_free(r);
    return rc;
}
