/* test_plan.c: layer maps, seams, refusals, warnings, tensors, shards. */
#include <limits.h>

#include "testutil.h"
#include "common/util.h"
#include "tmodel.h"
#include "suture/plan.h"
#include "cli/json_out.h"

static char root[256];
static arch_table *arches;
static recipe *cur_recipe;

static void setup(void)
{
    sut_error err;
    tmodel a = {.type = "llama", .layers = 6, .seed = 1};
    tmodel b = {.type = "llama", .layers = 6, .seed = 2};

    snprintf(root, sizeof(root), "%s", tu_tmpdir());
    arches = arch_table_new(&err);
    ck_assert_ptr_nonnull(arches);
    tm_folder(root, "a", &a, 1);
    tm_folder(root, "b", &b, 1);
    cur_recipe = NULL;
}

static void teardown(void)
{
    char cmd[300];

    recipe_free(cur_recipe);
    arch_table_free(arches);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

/* Plans a JSON recipe written to root/recipe.json. Model paths in the
 * recipe are relative to root. */
static plan *plan_json(const char *json, const plan_options *opt, sut_error *err)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/recipe.json", root);
    tu_write(path, json, strlen(json));
    recipe_free(cur_recipe);
    cur_recipe = recipe_load(path, err);
    ck_assert_msg(cur_recipe != NULL, "%s", err->msg);
    return plan_make(cur_recipe, arches, opt, err);
}

static plan *plan_ok(const char *json, const plan_options *opt)
{
    sut_error err;
    plan *p = plan_json(json, opt, &err);

    ck_assert_msg(p != NULL, "%s", err.msg);
    return p;
}

/* Asserts the plan is refused with a message containing want. */
static void refused(const char *json, const plan_options *opt, const char *want)
{
    sut_error err = {""};
    plan *p = plan_json(json, opt, &err);

    ck_assert_msg(p == NULL, "planned, expected: %s", want);
    tu_assert_contains(err.msg, want);
}

/* "a0 a1 b4 ..." */
static void map_text(const plan *p, char *buf, size_t size)
{
    size_t n, i, o = 0;
    const plan_layer *l = plan_layers(p, &n);

    buf[0] = '\0';
    for (i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s%u", i ? " " : "",
                              plan_recipe(p)->models[l[i].model].name, l[i].source_layer);
}

/* "4:a3>a0/-3 ..." */
static void seams_text(const plan *p, char *buf, size_t size)
{
    size_t n, i, o = 0;
    const plan_seam *s = plan_seams(p, &n);
    const recipe *r = plan_recipe(p);

    buf[0] = '\0';
    for (i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%u:%s%u>%s%u/%ld", i ? " " : "",
                              s[i].index, r->models[s[i].from_model].name, s[i].from_layer,
                              r->models[s[i].to_model].name, s[i].to_layer, s[i].jump);
}

static const plan_warning *find_warning(const plan *p, const char *code)
{
    size_t n, i;
    const plan_warning *w = plan_warnings(p, &n);

    for (i = 0; i < n; i++)
        if (strcmp(w[i].code, code) == 0)
            return &w[i];
    return NULL;
}

static size_t count_warnings(const plan *p, const char *code)
{
    size_t n, i, c = 0;
    const plan_warning *w = plan_warnings(p, &n);

    for (i = 0; i < n; i++)
        c += strcmp(w[i].code, code) == 0;
    return c;
}

static const plan_tensor *find_tensor(const plan *p, const char *name)
{
    size_t n, i;
    const plan_tensor *t = plan_tensors(p, &n);

    for (i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

#define AB "\"models\": {\"a\": \"a\", \"b\": \"b\"}, "

static const struct map_case {
    const char *name, *slices, *map, *seams;
} MAPS[] = {
    {"contiguous", "{\"model\": \"a\", \"layers\": [0, 3]}, {\"model\": \"a\", \"layers\": [3, 6]}",
     "a0 a1 a2 a3 a4 a5", ""},
    {"repeat", "{\"model\": \"a\", \"layers\": [0, 3]}, {\"model\": \"a\", \"layers\": [0, 3]}",
     "a0 a1 a2 a0 a1 a2", "3:a2>a0/-2"},
    {"overlap", "{\"model\": \"a\", \"layers\": [0, 4]}, {\"model\": \"a\", \"layers\": [2, 6]}",
     "a0 a1 a2 a3 a2 a3 a4 a5", "4:a3>a2/-1"},
    {"backwards", "{\"model\": \"a\", \"layers\": [4, 6]}, {\"model\": \"a\", \"layers\": [0, 2]}",
     "a4 a5 a0 a1", "2:a5>a0/-5"},
    {"skip", "{\"model\": \"a\", \"layers\": [0, 2]}, {\"model\": \"a\", \"layers\": [4, 6]}",
     "a0 a1 a4 a5", "2:a1>a4/3"},
    {"interleave", "{\"model\": \"a\", \"layers\": [0, 2]}, {\"model\": \"b\", \"layers\": [2, 4]}, "
     "{\"model\": \"a\", \"layers\": [4, 6]}",
     "a0 a1 b2 b3 a4 a5", "2:a1>b2/1 4:b3>a4/1"},
    {"empty", "{\"model\": \"a\", \"layers\": [0, 3]}, {\"model\": \"b\", \"layers\": [2, 2]}, "
     "{\"model\": \"a\", \"layers\": [3, 6]}",
     "a0 a1 a2 a3 a4 a5", ""},
    {"single", "{\"model\": \"b\", \"layers\": [5, 6]}", "b5", ""},
};

START_TEST(test_layer_maps)
{
    const struct map_case *c = &MAPS[_i];
    char json[1024], got[512];
    plan *p;

    snprintf(json, sizeof(json), "{" AB "\"slices\": [%s]}", c->slices);
    p = plan_ok(json, NULL);
    map_text(p, got, sizeof(got));
    ck_assert_msg(strcmp(got, c->map) == 0, "%s: map '%s', want '%s'", c->name, got, c->map);
    seams_text(p, got, sizeof(got));
    ck_assert_msg(strcmp(got, c->seams) == 0, "%s: seams '%s', want '%s'", c->name, got,
                  c->seams);
    ck_assert_int_eq(find_warning(p, "empty-slice") != NULL, strcmp(c->name, "empty") == 0);
    plan_free(p);
}
END_TEST

START_TEST(test_runs_and_text)
{
    plan *p = plan_ok("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [0, 4]}, "
                      "{\"model\": \"a\", \"layers\": [4, 6]}, {\"model\": \"b\", \"layers\": [2, 4]}, "
                      "{\"model\": \"a\", \"layers\": [5, 6], \"scale\": [{\"match\": \"o_proj\", "
                      "\"value\": 0}]}]}", NULL);
    size_t n;
    const plan_run *r = plan_runs(p, &n);
    char *text = plan_text(p);

    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(r[0].out_first, 0);
    ck_assert_uint_eq(r[0].out_last, 5);
    ck_assert_uint_eq(r[0].src_last, 5);
    ck_assert_uint_eq(r[1].out_first, 6);
    ck_assert_uint_eq(r[1].src_first, 2);
    ck_assert(r[2].scaled);
    ck_assert_ptr_nonnull(text);
    tu_assert_contains(text, "0-5 <- a 0-5\n");
    tu_assert_contains(text, "6-7 <- b 2-3\n");
    tu_assert_contains(text, "8   <- a 5 (scaled)\n");
    tu_assert_contains(text, "6: a 5 -> b 2 (jump -3, donor switch)");
    tu_assert_contains(text, "layers: 6 -> 9");
    tu_assert_contains(text, "edge-layer-repeat: layer 5 of 'a' (its last layer) appears 2 "
                             "times (output layers 5, 8)");
    free(text);
    plan_free(p);
}
END_TEST

START_TEST(test_refuse_range)
{
    refused("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [0, 2]}, "
            "{\"model\": \"b\", \"layers\": [4, 8]}]}", NULL,
            "recipe.json: slices[1]: layers [4, 8) of model 'b' are out of range: it has 6 "
            "layers (0-5)");
}
END_TEST

START_TEST(test_refuse_tensor_set)
{
    tmodel c = {.type = "llama", .layers = 4, .no_o_proj = true, .seed = 3};

    tm_folder(root, "c", &c, 1);
    refused("{\"models\": {\"a\": \"a\", \"c\": \"c\"}, \"slices\": [{\"model\": \"a\", "
            "\"layers\": [0, 2]}, {\"model\": \"c\", \"layers\": [2, 4]}]}", NULL,
            "recipe.json: layer tensor 'self_attn.o_proj.weight' is in the layers of 'a' but "
            "not in those of 'c'");
}
END_TEST

START_TEST(test_refuse_shape)
{
    tmodel d = {.type = "llama", .layers = 4, .inter = 24, .seed = 4};

    tm_folder(root, "d", &d, 1);
    refused("{\"models\": {\"a\": \"a\", \"d\": \"d\"}, \"slices\": [{\"model\": \"a\", "
            "\"layers\": [0, 2]}, {\"model\": \"d\", \"layers\": [2, 4]}]}", NULL,
            "layer tensor 'mlp.down_proj.weight': shape [8, 16] in 'a' layer 0 but [8, 24] "
            "in 'd' layer 2");
}
END_TEST

START_TEST(test_refuse_mixed)
{
    tmodel m = {.type = "mistral", .layers = 4, .seed = 5};
    plan_options opt = {.allow_mixed = true};
    const char *json = "{\"models\": {\"a\": \"a\", \"m\": \"m\"}, \"slices\": [{\"model\": "
                       "\"a\", \"layers\": [0, 2]}, {\"model\": \"m\", \"layers\": [2, 4]}]}";
    plan *p;

    tm_folder(root, "m", &m, 1);
    refused(json, NULL, "models 'a' (llama) and 'm' (mistral) have different architectures");
    p = plan_ok(json, &opt);
    ck_assert_ptr_nonnull(find_warning(p, "mixed-architectures"));
    plan_free(p);
}
END_TEST

START_TEST(test_refuse_vocab)
{
    tmodel e = {.type = "llama", .layers = 4, .vocab = 20, .seed = 6};

    tm_folder(root, "e", &e, 1);
    refused("{\"models\": {\"a\": \"a\", \"e\": \"e\"}, \"slices\": [{\"model\": \"a\", "
            "\"layers\": [0, 2]}, {\"model\": \"e\", \"layers\": [2, 4]}]}", NULL,
            "embed donor 'a' and head donor 'e' differ in vocabulary size: 16 vs 20");
}
END_TEST

START_TEST(test_refuse_hidden)
{
    tmodel e = {.type = "llama", .layers = 4, .hidden = 4, .seed = 6};

    tm_folder(root, "e", &e, 1);
    refused("{\"models\": {\"a\": \"a\", \"e\": \"e\"}, \"slices\": [{\"model\": \"a\", "
            "\"layers\": [0, 2]}], \"head_from\": \"e\"}", NULL,
            "embed donor 'a' and head donor 'e' differ in hidden size: 8 vs 4");
}
END_TEST

START_TEST(test_refuse_layer_hidden)
{
    tmodel e = {.type = "llama", .layers = 4, .hidden = 4, .seed = 6};

    tm_folder(root, "e", &e, 1);
    refused("{\"models\": {\"a\": \"a\", \"e\": \"e\"}, \"slices\": [{\"model\": \"a\", "
            "\"layers\": [0, 2]}], \"embed_from\": \"e\", \"head_from\": \"e\", "
            "\"config_from\": \"e\"}", NULL,
            "embed donor 'e' and layer donor 'a' differ in hidden size: 4 vs 8");
}
END_TEST

START_TEST(test_refuse_dtypes)
{
    tmodel f = {.type = "llama", .layers = 2, .dtype = ST_F64, .seed = 7};
    plan_options bf16 = {.has_dtype = true, .dtype = ST_BF16};

    tm_folder(root, "f", &f, 1);
    refused("{\"models\": {\"f\": \"f\"}, \"slices\": [{\"model\": \"f\", \"layers\": [0, 2], "
            "\"scale\": [{\"match\": \"o_proj\", \"value\": 0.5}]}]}", NULL,
            "recipe.json: tensor 'model.layers.0.self_attn.o_proj.weight' of 'f' is F64: a "
            "scale needs F32, F16 or BF16");
    refused("{\"models\": {\"f\": \"f\"}, \"slices\": [{\"model\": \"f\", \"layers\": [0, 2]}]}",
            &bf16, "tensor 'model.embed_tokens.weight' of 'f' is F64: converting to BF16 "
            "needs F32, F16 or BF16");
}
END_TEST

START_TEST(test_refuse_duplicate_names)
{
    /* a user family that counts model.norm among the tensors before the
     * layers: with a llama head donor, model.norm.weight comes twice */
    static const char fam[] =
        "{\"families\": [{\"name\": \"llamax\", \"layer_pattern\": "
        "\"^model\\\\.layers\\\\.(\\\\d+)\\\\.(.+)$\", \"head_pattern\": \"^lm_head\\\\.weight$\", "
        "\"embed_name\": \"model.embed_tokens.weight\", \"head_name\": \"lm_head.weight\"}]}";
    tmodel x = {.type = "llamax", .layers = 2, .seed = 12};
    plan_options opt = {.allow_mixed = true};
    sut_error err;
    cJSON *j = cJSON_Parse(fam);

    ck_assert_ptr_nonnull(j);
    ck_assert_msg(arch_table_load_json(arches, j, "fam.json", &err) == 0, "%s", err.msg);
    cJSON_Delete(j);
    tm_folder(root, "x", &x, 1);
    refused("{\"models\": {\"a\": \"a\", \"x\": \"x\"}, \"slices\": [{\"model\": \"x\", "
            "\"layers\": [0, 2]}], \"head_from\": \"a\"}", &opt,
            "output tensor 'model.norm.weight' would be written twice (from "
            "'model.norm.weight' of 'x' and 'model.norm.weight' of 'a')");
}
END_TEST

START_TEST(test_refuse_no_layers)
{
    refused("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [2, 2]}]}", NULL,
            "the output has no layers");
}
END_TEST

START_TEST(test_extra_travels)
{
    tmodel x = {.type = "llama", .layers = 2, .extra0 = true, .seed = 8};
    plan *p;

    tm_folder(root, "x", &x, 1);
    p = plan_ok("{\"models\": {\"x\": \"x\"}, \"slices\": [{\"model\": \"x\", \"layers\": [0, 2]}, "
                "{\"model\": \"x\", \"layers\": [0, 2]}]}", NULL);
    ck_assert_uint_eq(count_warnings(p, "layer-extra-tensor"), 2);
    tu_assert_contains(find_warning(p, "layer-extra-tensor")->message,
                       "output layer 0 carries 'self_attn.rotary_emb.inv_freq' of 'x' layer 0");
    ck_assert_ptr_nonnull(find_tensor(p, "model.layers.0.self_attn.rotary_emb.inv_freq"));
    ck_assert_ptr_nonnull(find_tensor(p, "model.layers.2.self_attn.rotary_emb.inv_freq"));
    ck_assert_ptr_null(find_tensor(p, "model.layers.1.self_attn.rotary_emb.inv_freq"));
    plan_free(p);
}
END_TEST

START_TEST(test_parity_shift)
{
    tmodel g = {.type = "gemma2", .layers = 4, .tied = true, .seed = 9};
    tmodel gl = {.type = "gemma2", .layers = 4, .tied = true, .seed = 10,
                 .extra_cfg = "\"layer_types\": [\"sliding_attention\", \"full_attention\", "
                              "\"sliding_attention\", \"full_attention\"]"};
    plan *p;
    const plan_warning *w;

    tm_folder(root, "g", &g, 1);
    tm_folder(root, "gl", &gl, 1);
    p = plan_ok("{\"models\": {\"g\": \"g\"}, \"slices\": [{\"model\": \"g\", \"layers\": [0, 2]}, "
                "{\"model\": \"g\", \"layers\": [1, 3]}]}", NULL);
    w = find_warning(p, "sliding-parity-shift");
    ck_assert_ptr_nonnull(w);
    /* the rewrite adds layer_types, which keeps the kinds for loaders that
     * read it */
    tu_assert_contains(w->message, "2 output layers keep attention kind only through the "
                                   "layer_types the config now states");
    tu_assert_contains(w->message, "2 (g layer 1: global -> sliding), "
                                   "3 (g layer 2: sliding -> global)");
    plan_free(p);
    /* [0,2]+[0,2] keeps the parity */
    p = plan_ok("{\"models\": {\"g\": \"g\"}, \"slices\": [{\"model\": \"g\", \"layers\": [0, 2]}, "
                "{\"model\": \"g\", \"layers\": [0, 2]}]}", NULL);
    ck_assert_ptr_null(find_warning(p, "sliding-parity-shift"));
    plan_free(p);
    /* with layer_types the config keeps each layer's kind */
    p = plan_ok("{\"models\": {\"gl\": \"gl\"}, \"slices\": [{\"model\": \"gl\", \"layers\": [0, 2]}, "
                "{\"model\": \"gl\", \"layers\": [1, 3]}]}", NULL);
    ck_assert_ptr_null(find_warning(p, "sliding-parity-shift"));
    plan_free(p);
}
END_TEST

START_TEST(test_edge_repeat)
{
    plan *p = plan_ok("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [0, 3]}, "
                      "{\"model\": \"a\", \"layers\": [0, 3]}]}", NULL);
    const plan_warning *w = find_warning(p, "edge-layer-repeat");

    ck_assert_ptr_nonnull(w);
    ck_assert_str_eq(w->message, "layer 0 of 'a' (its first layer) appears 2 times "
                                 "(output layers 0, 3)");
    ck_assert_uint_eq(count_warnings(p, "edge-layer-repeat"), 1);
    plan_free(p);
    p = plan_ok("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [1, 5]}, "
                "{\"model\": \"a\", \"layers\": [1, 5]}]}", NULL);
    ck_assert_ptr_null(find_warning(p, "edge-layer-repeat"));
    plan_free(p);
}
END_TEST

START_TEST(test_scale_cancelled)
{
    tmodel g = {.type = "gemma2", .layers = 4, .tied = true, .seed = 9};
    plan *p;

    tm_folder(root, "g", &g, 1);
    p = plan_ok("{\"models\": {\"g\": \"g\"}, \"slices\": [{\"model\": \"g\", \"layers\": [0, 4]}, "
                "{\"model\": \"g\", \"layers\": [2, 4], \"scale\": [{\"match\": \"o_proj\", "
                "\"value\": 0.5}]}]}", NULL);
    ck_assert_uint_eq(count_warnings(p, "scale-cancelled"), 1);
    tu_assert_contains(find_warning(p, "scale-cancelled")->message,
                       "slices[1]: scale 0.5 on 'self_attn.o_proj.weight' of 'g'");
    ck_assert(find_tensor(p, "model.layers.4.self_attn.o_proj.weight")->scale == 0.5);
    ck_assert(find_tensor(p, "model.layers.4.mlp.down_proj.weight")->scale == 1);
    plan_free(p);
    p = plan_ok("{\"models\": {\"g\": \"g\"}, \"slices\": [{\"model\": \"g\", \"layers\": [0, 4]}, "
                "{\"model\": \"g\", \"layers\": [2, 4], \"scale\": [{\"match\": \"o_proj|down_proj\", "
                "\"value\": 0}]}]}", NULL);
    ck_assert_ptr_null(find_warning(p, "scale-cancelled"));
    ck_assert(find_tensor(p, "model.layers.5.mlp.down_proj.weight")->scale == 0);
    plan_free(p);
    /* llama has no norm after o_proj */
    p = plan_ok("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [0, 4], \"scale\": "
                "[{\"match\": \"o_proj\", \"value\": 0.5}]}]}", NULL);
    ck_assert_ptr_null(find_warning(p, "scale-cancelled"));
    plan_free(p);
}
END_TEST

START_TEST(test_tensors_and_donors)
{
    plan *p = plan_ok("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [0, 2]}, "
                      "{\"model\": \"b\", \"layers\": [4, 6]}], \"embed_from\": \"b\", "
                      "\"head_from\": \"a\"}", NULL);
    size_t n;
    const plan_tensor *t = plan_tensors(p, &n);
    const plan_tensor *x;

    ck_assert_uint_eq(n, 1 + 4 * 5 + 2);
    ck_assert_str_eq(t[0].name, "model.embed_tokens.weight");
    ck_assert_str_eq(plan_recipe(p)->models[t[0].model].name, "b");
    ck_assert_str_eq(t[n - 1].name, "lm_head.weight");
    ck_assert_str_eq(plan_recipe(p)->models[t[n - 1].model].name, "a");
    x = find_tensor(p, "model.layers.3.mlp.down_proj.weight");
    ck_assert_ptr_nonnull(x);
    ck_assert_str_eq(x->src->t->name, "model.layers.5.mlp.down_proj.weight");
    ck_assert_str_eq(plan_recipe(p)->models[x->model].name, "b");
    ck_assert_int_eq(x->layer, 3);
    ck_assert_int_eq(x->dtype, ST_F32);
    ck_assert_uint_eq(x->bytes, 8 * 16 * 4);
    ck_assert_uint_eq(plan_parameters_before(p), 16 * 8 * 2 + 6 * (8 + 64 + 64 + 8 + 128) + 8);
    ck_assert_uint_eq(plan_parameters(p), 16 * 8 * 2 + 4 * (8 + 64 + 64 + 8 + 128) + 8);
    ck_assert_uint_eq(plan_bytes(p), 4 * plan_parameters(p));
    plan_free(p);
}
END_TEST

START_TEST(test_head_from_tied)
{
    tmodel t = {.type = "llama", .layers = 2, .tied = true, .seed = 11};
    plan *p;
    const plan_tensor *h;

    tm_folder(root, "t", &t, 1);
    p = plan_ok("{\"models\": {\"a\": \"a\", \"t\": \"t\"}, \"slices\": [{\"model\": \"a\", "
                "\"layers\": [0, 2]}, {\"model\": \"t\", \"layers\": [0, 2]}]}", NULL);
    h = find_tensor(p, "lm_head.weight");
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(h->src->t->name, "model.embed_tokens.weight");
    ck_assert_str_eq(plan_recipe(p)->models[h->model].name, "t");
    ck_assert_ptr_nonnull(find_warning(p, "head-from-embeddings"));
    plan_free(p);
}
END_TEST

START_TEST(test_dtype_out)
{
    plan_options bf16 = {.has_dtype = true, .dtype = ST_BF16};
    plan *p = plan_ok("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [0, 2]}]}", &bf16);
    size_t n, i;
    const plan_tensor *t = plan_tensors(p, &n);
    const cJSON *dt;

    for (i = 0; i < n; i++) {
        ck_assert_int_eq(t[i].dtype, ST_BF16);
        ck_assert_uint_eq(t[i].bytes, t[i].src->t->elements * 2);
    }
    ck_assert_uint_eq(plan_bytes(p), 2 * plan_parameters(p));
    dt = cJSON_GetObjectItemCaseSensitive(plan_config(p), "torch_dtype");
    ck_assert(cJSON_IsString(dt));
    ck_assert_str_eq(dt->valuestring, "bfloat16");
    plan_free(p);
}
END_TEST

START_TEST(test_config_changes)
{
    plan *p = plan_ok("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [0, 6]}, "
                      "{\"model\": \"a\", \"layers\": [2, 6]}]}", NULL);
    size_t n;
    const cfg_change *c = plan_config_changes(p, &n);
    const cJSON *cfg = plan_config(p);
    uint64_t layers;

    ck_assert_uint_ge(n, 1);
    ck_assert_str_eq(c[0].key, "num_hidden_layers");
    ck_assert_str_eq(c[0].line, "num_hidden_layers: 6 -> 10");
    ck_assert_int_eq(sut_json_u64(cJSON_GetObjectItemCaseSensitive(cfg, "num_hidden_layers"),
                                  &layers), 0);
    ck_assert_uint_eq(layers, 10);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(cfg, "model_type")->valuestring, "llama");
    plan_free(p);
}
END_TEST

/* Per layer 1088 bytes (F32): norm 32, q 256, o 256, norm 32, down 512;
 * embed 512, norm 32, head 512. */
START_TEST(test_shards)
{
    plan_options opt = {.shard_size = 2200};
    plan *p = plan_ok("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [0, 4]}]}", &opt);
    size_t n, nt;
    const plan_shard *s = plan_shards(p, &n);
    const plan_tensor *t = plan_tensors(p, &nt);

    /* embed + layer 0 (1600), layer 1 + layer 2 (2176), layer 3 + norm +
     * head (1632) */
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(s[0].name, "model-00001-of-00003.safetensors");
    ck_assert_str_eq(s[2].name, "model-00003-of-00003.safetensors");
    ck_assert_uint_eq(s[0].bytes, 512 + 1088);
    ck_assert_uint_eq(s[1].bytes, 2 * 1088);
    ck_assert_uint_eq(s[2].bytes, 1088 + 32 + 512);
    ck_assert_uint_eq(s[0].count, 6);
    ck_assert_uint_eq(s[1].first, 6);
    ck_assert_uint_eq(s[1].count, 10);
    ck_assert_uint_eq(t[nt - 1].shard, 2);
    plan_free(p);
}
END_TEST

START_TEST(test_shards_split_layer)
{
    /* a limit under one layer: the layer is split tensor by tensor, and the
     * 512-byte tensors over the limit of 300 get shards of their own */
    plan_options opt = {.shard_size = 300};
    plan *p = plan_ok("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [0, 1]}]}", &opt);
    size_t n;
    const plan_shard *s = plan_shards(p, &n);

    /* embed | norm+q | o+norm | down | norm | head */
    ck_assert_uint_eq(n, 6);
    ck_assert_uint_eq(s[0].bytes, 512);
    ck_assert_uint_eq(s[1].bytes, 32 + 256);
    ck_assert_uint_eq(s[2].bytes, 256 + 32);
    ck_assert_uint_eq(s[3].bytes, 512);
    ck_assert_uint_eq(s[4].bytes, 32);
    ck_assert_uint_eq(s[5].bytes, 512);
    plan_free(p);
}
END_TEST

START_TEST(test_single_shard)
{
    plan *p = plan_ok("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [0, 6]}]}", NULL);
    size_t n;
    const plan_shard *s = plan_shards(p, &n);

    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(s[0].name, "model.safetensors");
    ck_assert_uint_eq(plan_shard_limit(p), 5000000000ULL);
    plan_free(p);
}
END_TEST

START_TEST(test_json)
{
    plan *p = plan_ok("{" AB "\"slices\": [{\"model\": \"a\", \"layers\": [0, 2]}, "
                      "{\"model\": \"b\", \"layers\": [1, 2], \"scale\": [{\"match\": "
                      "\"down_proj\", \"value\": 0}]}]}", NULL);
    cJSON *j = cli_json_plan(p);
    const cJSON *layers, *l2, *seam, *sc;
    uint64_t v;

    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(sut_json_u64(cJSON_GetObjectItemCaseSensitive(j, "layer_count"), &v), 0);
    ck_assert_uint_eq(v, 3);
    ck_assert_int_eq(sut_json_u64(cJSON_GetObjectItemCaseSensitive(j, "parameter_count"), &v), 0);
    ck_assert_uint_eq(v, plan_parameters(p));
    layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
    ck_assert_int_eq(cJSON_GetArraySize(layers), 3);
    l2 = cJSON_GetArrayItem(layers, 2);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(l2, "model")->valuestring, "b");
    sc = cJSON_GetObjectItemCaseSensitive(l2, "scale");
    ck_assert(cJSON_IsObject(sc));
    ck_assert(cJSON_GetObjectItemCaseSensitive(sc, "mlp.down_proj.weight")->valuedouble == 0);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(layers, 0), "scale"));
    seam = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "seams"), 0);
    ck_assert_ptr_nonnull(seam);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(
                         cJSON_GetObjectItemCaseSensitive(seam, "to"), "model")->valuestring, "b");
    ck_assert(cJSON_GetObjectItemCaseSensitive(seam, "jump")->valuedouble == 0);
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "shards")));
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "config_changes")));
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "warnings")));
    cJSON_Delete(j);
    plan_free(p);
}
END_TEST

/* The real fixtures folder as an absolute path, or NULL (skip). */
static const char *fixtures(void)
{
    static char abs[PATH_MAX];
    const char *fix = tu_fixtures();

    return fix && realpath(fix, abs) ? abs : NULL;
}

/* The real fixtures (skipped when absent). */
START_TEST(test_fixture_tiny_llama)
{
    const char *fix = fixtures();
    char json[8192];
    plan *p;
    size_t n;

    if (!fix) {
        tu_skip("fixtures absent");
        return;
    }
    snprintf(json, sizeof(json), "{\"models\": {\"t\": \"%s/hf/tiny-llama\"}, \"slices\": "
             "[{\"model\": \"t\", \"layers\": [0, 2]}, {\"model\": \"t\", \"layers\": [0, 2]}]}",
             fix);
    p = plan_ok(json, NULL);
    plan_layers(p, &n);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(count_warnings(p, "layer-extra-tensor"), 2);
    ck_assert_ptr_nonnull(find_tensor(p, "model.layers.2.self_attn.rotary_emb.inv_freq"));
    ck_assert_ptr_nonnull(find_warning(p, "edge-layer-repeat"));
    plan_free(p);
}
END_TEST

START_TEST(test_fixture_gemma2_parity)
{
    const char *fix = fixtures();
    char json[8192];
    plan *p;

    if (!fix) {
        tu_skip("fixtures absent");
        return;
    }
    /* tiny-gemma2's config has no layer_types: the output's kinds follow
     * the period from the output index */
    snprintf(json, sizeof(json), "{\"models\": {\"g\": \"%s/hf/tiny-gemma2\"}, \"slices\": "
             "[{\"model\": \"g\", \"layers\": [0, 2]}, {\"model\": \"g\", \"layers\": [1, 2]}]}",
             fix);
    p = plan_ok(json, NULL);
    ck_assert_ptr_nonnull(find_warning(p, "sliding-parity-shift"));
    /* it stores lm_head although tied: the output would carry it too */
    tu_assert_contains(find_warning(p, "redundant-lm-head")->message,
                       "the output stores 'lm_head.weight' of 'g' although its config ties "
                       "the head to the embeddings: 104 parameters no loader reads");
    plan_free(p);
}
END_TEST

static Suite *plan_suite(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_layer_maps, 0, sizeof(MAPS) / sizeof(MAPS[0]));
    tcase_add_test(tc, test_runs_and_text);
    tcase_add_test(tc, test_refuse_range);
    tcase_add_test(tc, test_refuse_tensor_set);
    tcase_add_test(tc, test_refuse_shape);
    tcase_add_test(tc, test_refuse_mixed);
    tcase_add_test(tc, test_refuse_vocab);
    tcase_add_test(tc, test_refuse_hidden);
    tcase_add_test(tc, test_refuse_layer_hidden);
    tcase_add_test(tc, test_refuse_dtypes);
    tcase_add_test(tc, test_refuse_duplicate_names);
    tcase_add_test(tc, test_refuse_no_layers);
    tcase_add_test(tc, test_extra_travels);
    tcase_add_test(tc, test_parity_shift);
    tcase_add_test(tc, test_edge_repeat);
    tcase_add_test(tc, test_scale_cancelled);
    tcase_add_test(tc, test_tensors_and_donors);
    tcase_add_test(tc, test_head_from_tied);
    tcase_add_test(tc, test_dtype_out);
    tcase_add_test(tc, test_config_changes);
    tcase_add_test(tc, test_shards);
    tcase_add_test(tc, test_shards_split_layer);
    tcase_add_test(tc, test_single_shard);
    tcase_add_test(tc, test_json);
    tcase_add_test(tc, test_fixture_tiny_llama);
    tcase_add_test(tc, test_fixture_gemma2_parity);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(plan_suite)
