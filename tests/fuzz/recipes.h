/* recipes.h: what the recipe fuzzers share. A folder holds two small
 * models, "a" (llama, 2 layers, two shards) and "b" (llama, 4 layers, one
 * file); a recipe that parses is turned back into JSON and parsed again,
 * asked for its scales, and planned against them. */
#ifndef SUTURE_FUZZ_RECIPES_H
#define SUTURE_FUZZ_RECIPES_H

#include <math.h>

#include "folder.h"
#include "suture/recipe.h"
#include "suture/plan.h"

static arch_table *fz_table;

/* The folder holding models a and b (made on the first call). */
static inline const char *fz_models(void)
{
    static char dir[512];
    static char a[600], b[600];
    static const char cfg_b[] =
        "{\"model_type\":\"llama\",\"hidden_size\":2,\"intermediate_size\":2,"
        "\"num_attention_heads\":1,\"num_hidden_layers\":4,\"vocab_size\":2,"
        "\"layer_types\":[\"x0\",\"x1\",\"x2\",\"x3\"]}";

    if (dir[0])
        return dir;
    snprintf(dir, sizeof(dir), "%s", fz_folder());
    snprintf(a, sizeof(a), "%s/a", dir);
    snprintf(b, sizeof(b), "%s/b", dir);
    if (mkdir(a, 0755) != 0 || mkdir(b, 0755) != 0)
        abort();
    fz_model_files(a, 1);
    fz_shard(b, "model.safetensors",
             "{" FZ_F32("model.embed_tokens.weight", "[2,2]", 0, 16) ","
             FZ_F32("model.layers.0.mlp.up_proj.weight", "[2]", 16, 24) ","
             FZ_F32("model.layers.1.mlp.up_proj.weight", "[2]", 24, 32) ","
             FZ_F32("model.layers.2.mlp.up_proj.weight", "[2]", 32, 40) ","
             FZ_F32("model.layers.3.mlp.up_proj.weight", "[2]", 40, 48) ","
             FZ_F32("model.norm.weight", "[2]", 48, 56) "}",
             56);
    fz_write(b, "config.json", cfg_b, sizeof(cfg_b) - 1);
    FZ_CHECK((fz_table = arch_table_new(NULL)) != NULL);
    return dir;
}

static inline void fz_check_scales(const recipe *r)
{
    size_t i, j, v;

    for (i = 0; i < r->nslices; i++) {
        const recipe_slice *s = &r->slices[i];
        unsigned n = s->end - s->start, k;
        int finite = 1;

        FZ_CHECK(s->model < r->nmodels && s->start <= s->end);
        FZ_CHECK(s->end <= RECIPE_LAYER_MAX);
        for (j = 0; j < s->nscales; j++)
            for (v = 0; v < s->scales[j].nvalues; v++)
                finite &= isfinite(s->scales[j].values[v]) != 0;
        for (k = 0; k < n && k < 16; k++) {
            double x = recipe_scale_for(s, "self_attn.o_proj.weight", k, n);
            FZ_CHECK(!finite || isfinite(x));
            (void)recipe_scale_for(s, "mlp.up_proj.weight", k, n);
        }
    }
}

static inline void fz_plan(const recipe *r)
{
    sut_error err = {{0}};
    plan *p = plan_make(r, fz_table, NULL, &err);
    size_t i, n;

    if (!p) {
        FZ_CHECK_MSG(err.msg);
        return;
    }
    fz_note("planned", "ok");
    cJSON_Delete(cli_json_plan(p));
    free(plan_text(p));
    (void)plan_warnings(p, &n);
    for (i = 0; i < n; i++)
        FZ_CHECK_MSG(plan_warnings(p, &n)[i].message);
    plan_free(p);
}

/* Checks a parsed recipe: its JSON parses back to the same slices. */
static inline void fz_check_recipe(const recipe *r, const char *base)
{
    cJSON *j = recipe_to_json(r);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    sut_error err = {{0}};
    recipe *back;
    size_t i;

    FZ_CHECK(text != NULL);
    fz_note("parsed", text);
    back = recipe_parse_json(text, strlen(text), "round-trip.json", base, &err);
    if (!back)
        fprintf(stderr, "round trip refused: %s\n%s\n", err.msg, text);
    FZ_CHECK(back != NULL);
    FZ_CHECK(back->nslices == r->nslices && back->nmodels == r->nmodels);
    for (i = 0; i < r->nslices; i++) {
        FZ_CHECK(back->slices[i].start == r->slices[i].start);
        FZ_CHECK(back->slices[i].end == r->slices[i].end);
        FZ_CHECK(back->slices[i].model == r->slices[i].model);
        FZ_CHECK(back->slices[i].nscales == r->slices[i].nscales);
    }
    recipe_free(back);
    cJSON_free(text);
    cJSON_Delete(j);
    fz_check_scales(r);
    fz_plan(r);
}

#endif
