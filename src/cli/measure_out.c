/* measure_out.c: measuring a plan from the command line (see
 * measure_out.h). */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "measure_out.h"
#include "progress.h"

#define DEFAULT_CTX 512

static size_t default_ctx(const model *config)
{
    const cJSON *mp = model_config(config)
        ? cJSON_GetObjectItemCaseSensitive(model_config(config), "max_position_embeddings")
        : NULL;

    if (cJSON_IsNumber(mp) && mp->valuedouble >= 2 && mp->valuedouble < DEFAULT_CTX)
        return (size_t)mp->valuedouble;
    return DEFAULT_CTX;
}

int cli_measure_plan(const plan *p, const char *tokens, const char *text,
                     size_t base, bool quiet, probe_options *o,
                     measure_result *res, sut_error *err)
{
    plan_donors d = plan_get_donors(p);
    int32_t *ids = NULL;
    size_t n = 0;
    int bos = -1, rc;
    cli_progress *bar;

    if (tokens ? probe_read_ids(tokens, &ids, &n, err)
               : probe_read_text(text, model_dir(plan_model(p, d.tokenizer)), &ids,
                                 &n, &bos, err))
        return -1;
    if (!o->ctx)
        o->ctx = default_ctx(plan_model(p, d.config));
    o->bos = bos;
    bar = cli_progress_new("measure", quiet);
    o->progress = bar ? cli_progress_update : NULL;
    o->progress_ctx = bar;
    rc = measure_run(p, base, ids, n, o, res, err);
    cli_progress_free(bar);
    o->progress = NULL;
    o->progress_ctx = NULL;
    free(ids);
    return rc;
}

void cli_print_seams(const measure_result *m, const plan *p)
{
    const recipe *r = plan_recipe(p);
    size_t i, j;

    if (!m->n_seams) {
        printf("\nno seams\n");
        return;
    }
    printf("\nseams (angular distance to the input the source layer gets in its "
           "own model;\nhealed: the same after each of the next layers, up to %d):\n",
           MEASURE_HEAL_MAX);
    printf("index  from                 to                   distance  healed\n");
    for (i = 0; i < m->n_seams; i++) {
        const measure_seam *s = &m->seams[i];
        char from[64], to[64];
        snprintf(from, sizeof(from), "%s %u", cli_text(r->models[s->from_model].name),
                 s->from_layer);
        snprintf(to, sizeof(to), "%s %u", cli_text(r->models[s->to_model].name),
                 s->to_layer);
        printf("%5u  %-20s %-20s %8.5f ", s->index, from, to, s->angular_distance);
        for (j = 0; j < s->n_healed; j++)
            printf(" %.5f", s->healed[j]);
        printf("\n");
    }
}
