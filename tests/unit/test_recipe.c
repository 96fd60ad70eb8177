/* test_recipe.c: compact specs (a table of spec -> slices, and column
 * errors), sizes, JSON recipe errors (one per defect), mergekit configs
 * (SOLAR, interleaved, LLaMA Pro filters, gradients) and the shipped
 * recipes (JSON and YAML agree). */
#include <math.h>

#include "testutil.h"
#include "suture/recipe.h"

/* "name[a:b]*match=v/v,..." for comparing slices in tables. */
static void render(const recipe *r, char *buf, size_t size)
{
    size_t i, j, k, o = 0;
    const recipe_slice *s;

    buf[0] = '\0';
    for (i = 0; i < r->nslices && o < size; i++) {
        s = &r->slices[i];
        o += (size_t)snprintf(buf + o, size - o, "%s%s[%u:%u]", i ? "," : "",
                              r->models[s->model].name, s->start, s->end);
        for (j = 0; j < s->nscales && o < size; j++) {
            o += (size_t)snprintf(buf + o, size - o, "*%s%s",
                                  s->scales[j].match ? s->scales[j].match : "",
                                  s->scales[j].match ? "=" : "");
            for (k = 0; k < s->scales[j].nvalues && o < size; k++)
                o += (size_t)snprintf(buf + o, size - o, "%s%g", k ? "/" : "",
                                      s->scales[j].values[k]);
        }
    }
}

static recipe *json(const char *text, sut_error *err)
{
    return recipe_parse_json(text, strlen(text), "r.json", NULL, err);
}

static recipe *yml(const char *text, sut_error *err)
{
    return recipe_parse_mergekit(text, strlen(text), "c.yml", NULL, err);
}

/* True when some note of r contains text. */
static bool has_note(const recipe *r, const char *text)
{
    size_t i;

    for (i = 0; r->notes && r->notes[i]; i++)
        if (strstr(r->notes[i], text))
            return true;
    return false;
}

/* Compact spec ------------------------------------------------------------ */

static const char *const spec_models[] = {"base=/m/base", "inst=../inst"};

static const struct {
    const char *spec, *want;
} spec_ok[] = {
    {"base[0:24], inst[8:32]", "base[0:24],inst[8:32]"},
    {"  base [ 0 : 24 ] ,inst[8:32]  ", "base[0:24],inst[8:32]"},
    {"base[0:24],base[8:32]", "base[0:24],base[8:32]"},
    {"inst[8:32],base[0:8],inst[0:4]", "inst[8:32],base[0:8],inst[0:4]"},
    {"base[4:4]", "base[4:4]"},
    {"base[0:1048576]", "base[0:1048576]"},
    {"inst[8:32]*o_proj|down_proj=0", "inst[8:32]*o_proj|down_proj=0"},
    {"inst[8:32] * 0.5", "inst[8:32]*0.5"},
    {"inst[0:2]*o_proj=0*down_proj=-1.5e-1,base[0:1]",
     "inst[0:2]*o_proj=0*down_proj=-0.15,base[0:1]"},
    {"inst[0:2]*self_attn\\.o=2", "inst[0:2]*self_attn\\.o=2"},
};

START_TEST(spec_table)
{
    sut_error err = {""};
    char got[512];
    recipe *r = recipe_parse_spec(spec_ok[_i].spec, spec_models, 2, &err);

    ck_assert_msg(r != NULL, "%s: %s", spec_ok[_i].spec, err.msg);
    render(r, got, sizeof(got));
    ck_assert_str_eq(got, spec_ok[_i].want);
    ck_assert_int_eq(r->format, RECIPE_SPEC);
    ck_assert_ptr_null(r->path);
    ck_assert_str_eq(r->models[0].path, "/m/base");
    ck_assert_str_eq(r->models[1].path, "../inst");
    ck_assert_int_eq(r->embed_from, -1);
    recipe_free(r);
}
END_TEST

static const struct {
    const char *spec, *want;
} spec_bad[] = {
    {"", "slices: column 1: expected a model name"},
    {"   ", "slices: column 4: expected a model name"},
    {"base[0:24", "slices: column 10: expected ']'"},
    {"base[0 24]", "slices: column 8: expected ':'"},
    {"base 0:24]", "slices: column 6: expected '['"},
    {"base[a:24]", "slices: column 6: expected a layer number"},
    {"base[0:-1]", "slices: column 8: expected a layer number"},
    {"base[0:24] inst[8:32]", "slices: column 12: expected ',' or the end"},
    {"base[0:24],", "slices: column 12: expected a model name"},
    {"base[0:24],,inst[0:1]", "slices: column 12: expected a model name"},
    {"base[24:8]", "slices: column 6: start 24 is after end 8"},
    {"nope[0:1]", "slices: column 1: unknown model 'nope' (give it with -m "
                  "nope=PATH)"},
    {"base[0:1048577]", "slices: column 8: layer number 1048577 is over the "
                        "limit of 1048576"},
    {"base[0:99999999999999999999999]", "slices: column 8: layer number "},
    {"base[0:4]*o_proj=x", "slices: column 18: expected a number"},
    {"base[0:4]*", "slices: column 11: expected a number"},
    {"base[0:4]*inf", "slices: column 11: expected a number"},
    {"base[0:4]*o_proj=1e999", "slices: column 18: expected a number"},
    {"base[0:4]*(=1", "slices: column 11: invalid pattern at offset 1"},
    {"base[0:1048576],base[0:1]", "slices: the output would have more than "
                                  "1048576 layers"},
};

START_TEST(spec_errors)
{
    sut_error err = {""};
    recipe *r = recipe_parse_spec(spec_bad[_i].spec, spec_models, 2, &err);

    ck_assert_msg(r == NULL, "%s: accepted", spec_bad[_i].spec);
    tu_assert_contains(err.msg, spec_bad[_i].want);
}
END_TEST

START_TEST(spec_model_args)
{
    static const struct {
        const char *args[2];
        const char *want;
    } cases[] = {
        {{"base", NULL}, "models: 'base': expected NAME=PATH"},
        {{"=x", NULL}, "models: '=x': expected NAME=PATH"},
        {{"base=", NULL}, "models: 'base=': expected NAME=PATH"},
        {{"b@d=x", NULL}, "models: invalid model name 'b@d'"},
        {{"base=a", "base=b"}, "models: 'base' is given twice"},
    };
    sut_error err;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err.msg[0] = '\0';
        ck_assert_ptr_null(recipe_parse_spec("base[0:1]", cases[i].args,
                                             cases[i].args[1] ? 2 : 1, &err));
        tu_assert_contains(err.msg, cases[i].want);
    }
}
END_TEST

START_TEST(spec_path_models)
{
    const char *dir = tu_tmpdir();
    char spec[1024], want[600], got[600], folder[300];
    sut_error err = {""};
    recipe *r;

    /* a path of its own (it holds a '/'), the same path twice, and a path
     * whose base name is taken by a -m model */
    snprintf(folder, sizeof(folder), "%s/base", dir);
    snprintf(spec, sizeof(spec), "%s[0:2], base[0:1], %s[1:2]", folder, folder);
    r = recipe_parse_spec(spec, spec_models, 2, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_uint_eq(r->nmodels, 3);
    ck_assert_str_eq(r->models[2].name, "base-2");
    ck_assert_str_eq(r->models[2].path, folder);
    render(r, got, sizeof(got));
    snprintf(want, sizeof(want), "base-2[0:2],base[0:1],base-2[1:2]");
    ck_assert_str_eq(got, want);
    recipe_free(r);
}
END_TEST

/* Sizes ------------------------------------------------------------------ */

static const struct {
    const char *s;
    int rc;
    uint64_t v;
} sizes[] = {
    {"5GB", 0, 5000000000ULL}, {"500MB", 0, 500000000ULL},
    {"2GiB", 0, 2147483648ULL}, {"4.5GiB", 0, 4831838208ULL},
    {"1000000", 0, 1000000}, {"5gb", 0, 5000000000ULL},
    {"5 GB", 0, 5000000000ULL}, {"0.5kB", 0, 500}, {"1.50MB", 0, 1500000},
    {"2TB", 0, 2000000000000ULL}, {"3KiB", 0, 3072}, {"7B", 0, 7},
    {"18446744073709551615", 0, UINT64_MAX}, {"0", 0, 0},
    {"1.5", -1, 0}, {"1.5B", -1, 0}, {"1.0001kB", -1, 0}, {"-5GB", -1, 0},
    {"", -1, 0}, {"GB", -1, 0}, {"5XB", -1, 0}, {"5.", -1, 0},
    {".5GB", -1, 0}, {"1e9", -1, 0}, {"18446744073709551616", -1, 0},
    {"20000000TB", -1, 0}, {"5  GB", -1, 0}, {"5GB ", -1, 0},
};

START_TEST(size_table)
{
    uint64_t v = 12345;

    ck_assert_msg(recipe_parse_size(sizes[_i].s, &v) == sizes[_i].rc,
                  "'%s'", sizes[_i].s);
    if (sizes[_i].rc == 0)
        ck_assert_uint_eq(v, sizes[_i].v);
}
END_TEST

/* JSON recipes --------------------------------------------------------- */

static const char full_json[] =
    "{\n"
    "  \"comment\": \"what it does\",\n"
    "  \"models\": {\"base\": \"Meta-Llama-3-8B\", \"inst\": "
    "\"../models/Llama-3-8B-Instruct\", \"abs\": \"/abs/m\"},\n"
    "  \"slices\": [\n"
    "    {\"model\": \"base\", \"layers\": [0, 24]},\n"
    "    {\"model\": \"inst\", \"layers\": [8, 32], \"scale\": [{\"match\": "
    "\"o_proj|down_proj\", \"value\": 0}]}\n"
    "  ],\n"
    "  \"embed_from\": \"base\", \"head_from\": \"inst\", \"config_from\": "
    "\"base\", \"tokenizer_from\": \"base\",\n"
    "  \"output\": {\"shard_size\": \"5GB\", \"dtype\": \"BFloat16\"}\n"
    "}\n";

START_TEST(json_full)
{
    sut_error err = {""};
    recipe *r = recipe_parse_json(full_json, strlen(full_json), "r.json",
                                  "/recipes", &err);
    char got[256];

    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(r->format, RECIPE_JSON);
    ck_assert_str_eq(r->comment, "what it does");
    ck_assert_uint_eq(r->nmodels, 3);
    ck_assert_str_eq(r->models[0].path, "/recipes/Meta-Llama-3-8B");
    ck_assert_str_eq(r->models[1].path,
                     "/recipes/../models/Llama-3-8B-Instruct");
    ck_assert_str_eq(r->models[1].given, "../models/Llama-3-8B-Instruct");
    ck_assert_str_eq(r->models[2].path, "/abs/m");
    render(r, got, sizeof(got));
    ck_assert_str_eq(got, "base[0:24],inst[8:32]*o_proj|down_proj=0");
    ck_assert_int_eq(r->embed_from, 0);
    ck_assert_int_eq(r->head_from, 1);
    ck_assert_int_eq(r->config_from, 0);
    ck_assert_int_eq(r->tokenizer_from, 0);
    ck_assert_uint_eq(r->shard_size, 5000000000ULL);
    ck_assert(r->has_dtype);
    ck_assert_int_eq(r->dtype, ST_BF16);
    ck_assert(has_note(r, "model 'abs' is not used by any slice or donor"));
    ck_assert_double_eq(recipe_scale_for(&r->slices[1],
                                         "self_attn.o_proj.weight", 3, 24), 0);
    ck_assert_double_eq(recipe_scale_for(&r->slices[1], "mlp.down_proj.weight",
                                         0, 24), 0);
    ck_assert_double_eq(recipe_scale_for(&r->slices[1], "mlp.up_proj.weight",
                                         0, 24), 1);
    ck_assert_double_eq(recipe_scale_for(&r->slices[0],
                                         "self_attn.o_proj.weight", 0, 24), 1);
    ck_assert_int_eq(recipe_model_index(r, "inst"), 1);
    ck_assert_int_eq(recipe_model_index(r, "nope"), -1);
    recipe_free(r);
}
END_TEST

#define M "\"models\": {\"a\": \"x\"}"
#define S0 "{\"model\": \"a\", \"layers\": [0, 1]}"
#define S(x) "\"slices\": [" x "]"

static const struct {
    const char *text, *want;
} json_bad[] = {
    {"[]", "r.json: expected a JSON object"},
    {"{", "r.json: invalid JSON at byte"},
    {"{" M ", " M ", " S(S0) "}", "r.json: duplicate key 'models'"},
    {"{" M ", " S(S0) ", \"extra\": 1}", "r.json: unknown key 'extra'"},
    {"{" M ", " S(S0 ", {\"model\": \"a\", \"layer\": [0, 1]}") "}",
     "r.json: slices[1]: unknown key 'layer'"},
    {"{" S(S0) "}", "r.json: models: missing"},
    {"{\"models\": [], " S(S0) "}", "r.json: models: expected an object"},
    {"{\"models\": {}, " S(S0) "}", "r.json: models: empty"},
    {"{\"models\": {\"a\": 1}, " S(S0) "}", "r.json: models.a: expected a path"},
    {"{\"models\": {\"a\": \"\"}, " S(S0) "}", "r.json: models.a: expected a path"},
    {"{\"models\": {\"a b\": \"x\"}, " S(S0) "}",
     "r.json: models: invalid model name 'a b'"},
    {"{" M "}", "r.json: slices: missing"},
    {"{" M ", \"slices\": {}}", "r.json: slices: expected a list of slices"},
    {"{" M ", " S("") "}", "r.json: slices: empty"},
    {"{" M ", " S("1") "}", "r.json: slices[0]: expected an object"},
    {"{" M ", " S("{\"layers\": [0, 1]}") "}", "r.json: slices[0].model: missing"},
    {"{" M ", " S("{\"model\": \"b\", \"layers\": [0, 1]}") "}",
     "r.json: slices[0].model: unknown model 'b' (not in models)"},
    {"{" M ", " S("{\"model\": 3, \"layers\": [0, 1]}") "}",
     "r.json: slices[0].model: expected a model name"},
    {"{" M ", " S("{\"model\": \"a\"}") "}", "r.json: slices[0].layers: missing"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [1]}") "}",
     "r.json: slices[0].layers: expected [start, end]"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 1.5]}") "}",
     "r.json: slices[0].layers[1]: expected a whole number from 0 to 1048576"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [-1, 2]}") "}",
     "r.json: slices[0].layers[0]: expected a whole number"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [\"0\", 2]}") "}",
     "r.json: slices[0].layers[0]: expected a whole number"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 2000000]}") "}",
     "r.json: slices[0].layers[1]: expected a whole number"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [5, 2]}") "}",
     "r.json: slices[0].layers: start 5 is after end 2"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 1048576]}, "
                  "{\"model\": \"a\", \"layers\": [0, 1]}") "}",
     "r.json: slices: the output would have more than 1048576 layers"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 1], \"scale\": 1}") "}",
     "r.json: slices[0].scale: expected a list"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 1], \"scale\": "
                  "[{\"filter\": \"x\", \"value\": 1}]}") "}",
     "r.json: slices[0].scale[0]: unknown key 'filter'"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 1], \"scale\": [1]}") "}",
     "r.json: slices[0].scale[0]: expected {\"match\""},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 1], \"scale\": "
                  "[{\"match\": \"x\"}]}") "}",
     "r.json: slices[0].scale[0].value: missing"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 1], \"scale\": "
                  "[{\"value\": \"0\"}]}") "}",
     "r.json: slices[0].scale[0].value: expected a number or a non-empty list"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 1], \"scale\": "
                  "[{\"value\": []}]}") "}",
     "r.json: slices[0].scale[0].value: expected a number"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 1], \"scale\": "
                  "[{\"value\": [1, \"a\"]}]}") "}",
     "r.json: slices[0].scale[0].value: expected a number"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 1], \"scale\": "
                  "[{\"value\": 1e999}]}") "}",
     "r.json: slices[0].scale[0].value: expected a number"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 1], \"scale\": "
                  "[{\"match\": 5, \"value\": 0}]}") "}",
     "r.json: slices[0].scale[0].match: expected a pattern string"},
    {"{" M ", " S("{\"model\": \"a\", \"layers\": [0, 1], \"scale\": "
                  "[{\"match\": \"(\", \"value\": 0}]}") "}",
     "r.json: slices[0].scale[0].match: invalid pattern at offset 1: missing "
     "closing parenthesis"},
    {"{" M ", " S(S0) ", \"embed_from\": \"zz\"}",
     "r.json: embed_from: unknown model 'zz' (not in models)"},
    {"{" M ", " S(S0) ", \"head_from\": 0}", "r.json: head_from: expected a "
                                             "model name"},
    {"{" M ", " S(S0) ", \"tokenizer_from\": \"b\"}",
     "r.json: tokenizer_from: unknown model 'b'"},
    {"{" M ", " S(S0) ", \"output\": 1}", "r.json: output: expected an object"},
    {"{" M ", " S(S0) ", \"output\": {\"shards\": 1}}",
     "r.json: output: unknown key 'shards'"},
    {"{" M ", " S(S0) ", \"output\": {\"dtype\": \"int8\"}}",
     "r.json: output.dtype: unknown dtype 'int8' (use f32, f16 or bf16)"},
    {"{" M ", " S(S0) ", \"output\": {\"dtype\": 16}}",
     "r.json: output.dtype: unknown dtype"},
    {"{" M ", " S(S0) ", \"output\": {\"shard_size\": \"5XB\"}}",
     "r.json: output.shard_size: invalid size '5XB'"},
    {"{" M ", " S(S0) ", \"output\": {\"shard_size\": 0}}",
     "r.json: output.shard_size: must be at least 1 byte"},
    {"{" M ", " S(S0) ", \"output\": {\"shard_size\": -1}}",
     "r.json: output.shard_size: expected a size"},
    {"{" M ", " S(S0) ", \"output\": {\"shard_size\": 1.5}}",
     "r.json: output.shard_size: expected a size"},
    {"{\"comment\": 1, " M ", " S(S0) "}", "r.json: comment: expected a string"},
};

START_TEST(json_errors)
{
    sut_error err = {""};
    recipe *r = json(json_bad[_i].text, &err);

    ck_assert_msg(r == NULL, "accepted: %s", json_bad[_i].text);
    tu_assert_contains(err.msg, json_bad[_i].want);
}
END_TEST

START_TEST(json_dtypes_and_sizes)
{
    static const struct {
        const char *out;
        st_dtype dt;
        uint64_t size;
    } cases[] = {
        {"{\"dtype\": \"f32\", \"shard_size\": 1000}", ST_F32, 1000},
        {"{\"dtype\": \"FLOAT32\", \"shard_size\": \"2GiB\"}", ST_F32,
         2147483648ULL},
        {"{\"dtype\": \"f16\"}", ST_F16, 0},
        {"{\"dtype\": \"float16\"}", ST_F16, 0},
        {"{\"dtype\": \"bf16\"}", ST_BF16, 0},
    };
    char text[512];
    sut_error err = {""};
    recipe *r;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "{" M ", " S(S0) ", \"output\": %s}",
                 cases[i].out);
        r = json(text, &err);
        ck_assert_msg(r != NULL, "%s: %s", text, err.msg);
        ck_assert(r->has_dtype);
        ck_assert_int_eq(r->dtype, cases[i].dt);
        ck_assert_uint_eq(r->shard_size, cases[i].size);
        ck_assert_ptr_null(r->notes);
        recipe_free(r);
    }
}
END_TEST

/* Gradients ------------------------------------------------------------ */

START_TEST(scale_gradients)
{
    const char *text =
        "{\"models\": {\"a\": \"x\"}, \"slices\": [{\"model\": \"a\", "
        "\"layers\": [0, 5], \"scale\": ["
        "{\"match\": \"o_proj\", \"value\": [0, 0.5, 1]},"
        "{\"match\": \"^mlp\\\\.\", \"value\": [1, 0]},"
        "{\"match\": \"norm\", \"value\": [2, 4]},"
        "{\"match\": \"k_proj\", \"value\": [0, 1, 0]},"
        "{\"value\": 0.5}]}]}";
    static const double o5[] = {0, 0.25, 0.5, 0.75, 1};
    sut_error err = {""};
    recipe *r = json(text, &err);
    const recipe_slice *s;
    unsigned k;

    ck_assert_msg(r != NULL, "%s", err.msg);
    s = &r->slices[0];
    for (k = 0; k < 5; k++)
        ck_assert_double_eq_tol(recipe_scale_for(s, "self_attn.o_proj.weight",
                                                 k, 5), o5[k], 1e-12);
    /* t = k / (n - 1) */
    ck_assert_double_eq_tol(recipe_scale_for(s, "mlp.up_proj.weight", 0, 3), 1,
                            1e-12);
    ck_assert_double_eq_tol(recipe_scale_for(s, "mlp.up_proj.weight", 1, 3),
                            0.5, 1e-12);
    ck_assert_double_eq_tol(recipe_scale_for(s, "mlp.up_proj.weight", 2, 3), 0,
                            1e-12);
    /* a slice of one layer reads the gradient at t = 1 (mergekit) */
    ck_assert_double_eq(recipe_scale_for(s, "input_layernorm.weight", 0, 1), 4);
    ck_assert_double_eq_tol(recipe_scale_for(s, "self_attn.k_proj.weight", 1,
                                             3), 1, 1e-12);
    ck_assert_double_eq_tol(recipe_scale_for(s, "self_attn.k_proj.weight", 2,
                                             3), 0, 1e-12);
    /* first match wins; the default catches the rest */
    ck_assert_double_eq(recipe_scale_for(s, "self_attn.q_proj.weight", 2, 5),
                        0.5);
    recipe_free(r);
}
END_TEST

/* mergekit ---------------------------------------------------------------- */

static const char solar_yml[] =
    "slices:\n"
    "  - sources:\n"
    "      - model: /m/Mistral-7B-v0.1\n"
    "        layer_range: [0, 24]\n"
    "  - sources:\n"
    "      - model: /m/Mistral-7B-v0.1\n"
    "        layer_range: [8, 32]\n"
    "merge_method: passthrough\n"
    "dtype: bfloat16\n";

START_TEST(mergekit_solar)
{
    sut_error err = {""};
    recipe *r = yml(solar_yml, &err);
    char got[256];

    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(r->format, RECIPE_MERGEKIT);
    ck_assert_uint_eq(r->nmodels, 1);
    ck_assert_str_eq(r->models[0].path, "/m/Mistral-7B-v0.1");
    render(r, got, sizeof(got));
    ck_assert_str_eq(got, "Mistral-7B-v0.1[0:24],Mistral-7B-v0.1[8:32]");
    ck_assert(r->has_dtype);
    ck_assert_int_eq(r->dtype, ST_BF16);
    ck_assert_int_eq(r->embed_from, -1);
    ck_assert_int_eq(r->head_from, -1);
    ck_assert_int_eq(r->config_from, -1);
    ck_assert_int_eq(r->tokenizer_from, -1);
    ck_assert_ptr_null(r->notes);
    tu_assert_contains(r->comment, "c.yml");
    recipe_free(r);
}
END_TEST

START_TEST(mergekit_interleaved)
{
    const char *text =
        "merge_method: passthrough\n"
        "slices:\n"
        "- sources: [{model: /m/Xwin, layer_range: [0, 16]}]\n"
        "- sources: [{model: /m/Euryale, layer_range: [8, 24]}]\n"
        "- sources: [{model: /m/Xwin, layer_range: [17, 32]}]\n"
        "- sources: [{model: /other/Xwin, layer_range: [25, 40]}]\n"
        "dtype: float16\n";
    sut_error err = {""};
    recipe *r = yml(text, &err);
    char got[256];

    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_uint_eq(r->nmodels, 3);
    render(r, got, sizeof(got));
    ck_assert_str_eq(got, "Xwin[0:16],Euryale[8:24],Xwin[17:32],Xwin-2[25:40]");
    ck_assert_str_eq(r->models[2].path, "/other/Xwin");
    ck_assert_int_eq(r->dtype, ST_F16);
    /* no base_model with several models: mergekit's choice is unstable */
    ck_assert(has_note(r, "no base_model: mergekit takes config.json and the "
                          "tokenizer from whichever model"));
    ck_assert(has_note(r, "first slice's model 'Xwin'"));
    recipe_free(r);
}
END_TEST

static const char pro_yml[] =
    "merge_method: passthrough\n"
    "base_model: /m/llama\n"
    "slices:\n"
    "  - sources:\n"
    "    - model: /m/llama\n"
    "      layer_range: [0, 4]\n"
    "  - sources:\n"
    "    - model: /m/llama\n"
    "      layer_range: [3, 4]\n"
    "      parameters:\n"
    "        scale:\n"
    "          - filter: o_proj\n"
    "            value: 0.0\n"
    "          - filter: down_proj\n"
    "            value: 0\n"
    "          - value: 1.0\n"
    "dtype: bfloat16\n";

START_TEST(mergekit_llama_pro)
{
    sut_error err = {""};
    recipe *r = yml(pro_yml, &err);
    const recipe_slice *s;
    char got[256];

    ck_assert_msg(r != NULL, "%s", err.msg);
    render(r, got, sizeof(got));
    ck_assert_str_eq(got, "llama[0:4],llama[3:4]*o_proj=0*down_proj=0*1");
    s = &r->slices[1];
    ck_assert_double_eq(recipe_scale_for(s, "self_attn.o_proj.weight", 0, 1), 0);
    ck_assert_double_eq(recipe_scale_for(s, "mlp.down_proj.weight", 0, 1), 0);
    ck_assert_double_eq(recipe_scale_for(s, "self_attn.q_proj.weight", 0, 1), 1);
    ck_assert_double_eq(recipe_scale_for(&r->slices[0],
                                         "self_attn.o_proj.weight", 0, 4), 1);
    ck_assert_int_eq(r->config_from, 0);
    ck_assert_int_eq(r->tokenizer_from, 0);
    ck_assert_int_eq(r->embed_from, -1);
    ck_assert_ptr_null(r->notes);
    recipe_free(r);
}
END_TEST

START_TEST(mergekit_gradients_and_precedence)
{
    const char *text =
        "merge_method: passthrough\n"
        "slices:\n"
        "  - sources:\n"
        "    - model: /m/a\n"
        "      layer_range: [0, 5]\n"
        "      parameters:\n"
        "        scale:\n"
        "          - filter: o_proj\n"
        "            value: [0, 0.5, 1]\n"
        "    parameters:\n"
        "      scale:\n"
        "        - filter: mlp\n"
        "          value: 0.5\n"
        "        - filter: '*'\n"
        "          value: [1, 0]\n"
        "  - sources:\n"
        "    - model: /m/a\n"
        "      layer_range: [5, 8]\n"
        "parameters:\n"
        "  scale:\n"
        "    - filter: self_attn.q\n"
        "      value: 3\n"
        "    - value: 2\n";
    static const double o5[] = {0, 0.25, 0.5, 0.75, 1};
    sut_error err = {""};
    recipe *r = yml(text, &err);
    const recipe_slice *s;
    char got[256];
    unsigned k;

    ck_assert_msg(r != NULL, "%s", err.msg);
    render(r, got, sizeof(got));
    ck_assert_str_eq(got, "a[0:5]*o_proj=0/0.5/1*mlp=0.5*1/0*self_attn\\.q=3*2,"
                          "a[5:8]*self_attn\\.q=3*2");
    s = &r->slices[0];
    for (k = 0; k < 5; k++)
        ck_assert_double_eq_tol(recipe_scale_for(s, "self_attn.o_proj.weight",
                                                 k, 5), o5[k], 1e-12);
    ck_assert_double_eq(recipe_scale_for(s, "mlp.up_proj.weight", 4, 5), 0.5);
    /* the slice's "*" entry comes before the top level */
    ck_assert_double_eq_tol(recipe_scale_for(s, "self_attn.q_proj.weight", 1,
                                             5), 0.75, 1e-12);
    s = &r->slices[1];
    ck_assert_double_eq(recipe_scale_for(s, "self_attn.q_proj.weight", 0, 3), 3);
    /* a literal filter: '.' is not a wildcard */
    ck_assert_double_eq(recipe_scale_for(s, "self_attnXq_proj.weight", 0, 3), 2);
    ck_assert_double_eq(recipe_scale_for(s, "mlp.up_proj.weight", 0, 3), 2);
    /* mergekit applies the first and last slices' scales to the embeddings
     * and the head too: said in notes */
    ck_assert(!has_note(r, "also scale the embeddings"));
    ck_assert(has_note(r, "slices[1]: mergekit would also scale the final norm"));
    recipe_free(r);
}
END_TEST

START_TEST(mergekit_donors_and_dtype)
{
    const char *text =
        "merge_method: passthrough\n"
        "slices:\n"
        "  - sources: [{model: /m/a, layer_range: [0, 2]}]\n"
        "  - sources: [{model: /m/b, layer_range: [0, 2]}]\n"
        "base_model: /m/b\n"
        "tokenizer_source: /m/c\n"
        "dtype: float32\n"
        "out_dtype: torch.float16\n"
        "chat_template: chatml\n"
        "name: my-merge\n";
    sut_error err = {""};
    recipe *r = yml(text, &err);

    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_uint_eq(r->nmodels, 3);
    ck_assert_str_eq(r->models[2].name, "c");
    ck_assert_int_eq(r->config_from, 1);
    ck_assert_int_eq(r->tokenizer_from, 2);
    ck_assert_int_eq(r->dtype, ST_F16);
    ck_assert(has_note(r, "c.yml: chat_template is ignored"));
    ck_assert(has_note(r, "c.yml: name is ignored: not a mergekit setting"));
    ck_assert(has_note(r, "mergekit re-maps the embedding rows to the "
                          "vocabulary of 'c'"));
    recipe_free(r);
}
END_TEST

START_TEST(mergekit_tokenizer_forms)
{
    static const struct {
        const char *tail;
        long want;
    } cases[] = {
        {"base_model: /m/b\ntokenizer_source: base\n", 1},
        {"base_model: /m/b\ntokenizer:\n  source: /m/a\n", 0},
        {"base_model: /m/b\n", 1},
        {"tokenizer_source: /m/b\n", 1},
        {"", -1},
    };
    char text[512];
    sut_error err = {""};
    recipe *r;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "merge_method: passthrough\nslices:\n"
                 "  - sources: [{model: /m/a, layer_range: [0, 2]}]\n%s",
                 cases[i].tail);
        r = yml(text, &err);
        ck_assert_msg(r != NULL, "%s: %s", text, err.msg);
        ck_assert_int_eq(r->tokenizer_from, cases[i].want);
        recipe_free(r);
    }
}
END_TEST

START_TEST(mergekit_local_folders)
{
    const char *dir = tu_tmpdir();
    const char *text = "merge_method: passthrough\nslices:\n"
                       "  - sources: [{model: org/name, layer_range: [0, 2]}]\n"
                       "  - sources: [{model: ../up/x/, layer_range: [0, 2]}]\n";
    char path[512], want[600];
    sut_error err = {""};
    recipe *r;

    /* "org/name" that exists in the config's folder is a local folder */
    snprintf(path, sizeof(path), "%s/org", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/org/name", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    r = recipe_parse_mergekit(text, strlen(text), "c.yml", dir, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_str_eq(r->models[0].path, path);
    ck_assert_str_eq(r->models[0].given, "org/name");
    ck_assert_str_eq(r->models[0].name, "name");
    ck_assert_str_eq(r->models[1].name, "x");
    snprintf(want, sizeof(want), "%s/../up/x/", dir);
    ck_assert_str_eq(r->models[1].path, want);
    ck_assert(has_note(r, "model paths are read relative to the config's "
                          "folder"));
    recipe_free(r);
    /* elsewhere it is a hub id */
    ck_assert_ptr_null(yml(text, &err));
    ck_assert_str_eq(err.msg, "c.yml: slices[0].sources[0].model: 'org/name' "
                     "is not a local folder (download it first, e.g. "
                     "huggingface-cli download org/name --local-dir name)");
}
END_TEST

#define MK "merge_method: passthrough\n"
#define SRC(x) "slices:\n  - sources:\n    - " x "\n"
#define OK_SRC SRC("{model: /m/a, layer_range: [0, 2]}")

static const struct {
    const char *text, *want;
} yml_bad[] = {
    {"merge_method: slerp\n" OK_SRC,
     "c.yml: merge_method: 'slerp' is not supported (suture does passthrough "
     "only)"},
    {OK_SRC, "c.yml: merge_method: missing"},
    {MK, "c.yml: slices: missing"},
    {MK "slices: []\n", "c.yml: slices: empty"},
    {MK "slices: 3\n", "c.yml: slices: expected a list"},
    {MK "models:\n  - model: /m/a\n", "c.yml: models: not supported"},
    {MK OK_SRC "modules: {}\n", "c.yml: modules: not supported"},
    {MK "slices:\n  - sources:\n    - {model: /m/a, layer_range: [0, 2]}\n"
        "    - {model: /m/b, layer_range: [0, 2]}\n",
     "c.yml: slices[0].sources: passthrough takes exactly one source per "
     "slice, not 2"},
    {MK "slices:\n  - parameters: {}\n", "c.yml: slices[0].sources: missing"},
    {MK "slices:\n  - 3\n", "c.yml: slices[0]: expected a mapping"},
    {MK SRC("{layer_range: [0, 2]}"),
     "c.yml: slices[0].sources[0].model: missing"},
    {MK SRC("{model: /m/a}"), "c.yml: slices[0].sources[0].layer_range: missing"},
    {MK SRC("{model: /m/a, layer_range: [24, 8]}"),
     "c.yml: slices[0].sources[0].layer_range: start 24 is after end 8"},
    {MK SRC("{model: /m/a, layer_range: [0]}"),
     "c.yml: slices[0].sources[0].layer_range: expected [start, end]"},
    {MK SRC("{model: /m/a, layer_range: [0, x]}"),
     "c.yml: slices[0].sources[0].layer_range[1]: expected a whole number "
     "from 0 to 1048576"},
    {MK SRC("{model: /m/a, layer_range: [-1, 2]}"),
     "c.yml: slices[0].sources[0].layer_range[0]: expected a whole number"},
    {MK SRC("{model: /m/a, layer_range: [0, 2], model: /m/b}"),
     "c.yml: slices[0].sources[0]: duplicate key 'model'"},
    {MK SRC("{model: [1], layer_range: [0, 2]}"),
     "c.yml: slices[0].sources[0].model: expected a model path"},
    {MK SRC("{model: 'org/name@v1.0', layer_range: [0, 2]}"),
     "c.yml: slices[0].sources[0].model: 'org/name@v1.0' is not a local folder "
     "(download it first, e.g. huggingface-cli download org/name --revision "
     "v1.0 --local-dir name)"},
    {MK SRC("{model: /m/a+/m/lora, layer_range: [0, 2]}"),
     "c.yml: slices[0].sources[0].model: '/m/a+/m/lora': LoRA adapters"},
    {MK OK_SRC "base_model: meta-llama/Llama-2-7b-hf\n",
     "c.yml: base_model: 'meta-llama/Llama-2-7b-hf' is not a local folder"},
    {MK OK_SRC "tokenizer_source: union\n",
     "c.yml: tokenizer_source: 'union' is not supported"},
    {MK OK_SRC "tokenizer_source: base\n",
     "c.yml: tokenizer_source: 'base' needs base_model"},
    {MK OK_SRC "tokenizer:\n  source: base\n  tokens: {}\n",
     "c.yml: tokenizer.tokens: not supported"},
    {MK OK_SRC "tokenizer: {source: base}\ntokenizer_source: base\n",
     "c.yml: tokenizer: give tokenizer_source or tokenizer, not both"},
    {MK OK_SRC "dtype: int64\n", "c.yml: dtype: unknown dtype 'int64'"},
    {MK OK_SRC "out_dtype: [1]\n", "c.yml: out_dtype: unknown dtype"},
    {MK SRC("{model: /m/a, layer_range: [0, 2], parameters: {scale: "
            "{filter: x, value: 1}}}"),
     "c.yml: slices[0].sources[0].parameters.scale: expected a number, a list "
     "of numbers or a list of {filter, value}"},
    {MK SRC("{model: /m/a, layer_range: [0, 2], parameters: {scale: abc}}"),
     "c.yml: slices[0].sources[0].parameters.scale: expected a number"},
    {MK SRC("{model: /m/a, layer_range: [0, 2], parameters: {scale: [1, x]}}"),
     "c.yml: slices[0].sources[0].parameters.scale[1]: expected a number"},
    {MK SRC("{model: /m/a, layer_range: [0, 2], parameters: {scale: "
            "[{value: 1}, 2]}}"),
     "c.yml: slices[0].sources[0].parameters.scale[1]: expected a number, a "
     "list"},
    {MK SRC("{model: /m/a, layer_range: [0, 2], parameters: {scale: "
            "[{filter: x}]}}"),
     "c.yml: slices[0].sources[0].parameters.scale[0].value: expected a "
     "number or a list of numbers"},
    {MK SRC("{model: /m/a, layer_range: [0, 2], parameters: {scale: "
            "[{filter: [x], value: 1}]}}"),
     "c.yml: slices[0].sources[0].parameters.scale[0].filter: expected text"},
    {MK OK_SRC "parameters:\n  scale: .inf\n",
     "c.yml: parameters.scale: expected a number"},
    {MK OK_SRC "parameters: 3\n", "c.yml: parameters: expected a mapping"},
    {"- a\n- b\n", "c.yml: expected a mapping"},
    {"", "c.yml: empty"},
    {"# nothing\n", "c.yml: empty"},
    {MK OK_SRC "---\n" MK, "c.yml: more than one YAML document"},
    {"slices: [\n", "c.yml: invalid YAML at line"},
    {"a: b: c\n", "c.yml: invalid YAML at line 1, column"},
    {"? [a]\n: 1\n", "c.yml: expected text keys"},
};

START_TEST(mergekit_errors)
{
    sut_error err = {""};
    recipe *r = yml(yml_bad[_i].text, &err);

    ck_assert_msg(r == NULL, "accepted: %s", yml_bad[_i].text);
    tu_assert_contains(err.msg, yml_bad[_i].want);
}
END_TEST

START_TEST(mergekit_notes)
{
    const char *text =
        MK "slices:\n"
        "  - sources:\n"
        "    - model: /m/a\n"
        "      layer_range: [0, 2]\n"
        "      parameters: {scale: [{filter: model.layers.1., value: 0}], "
        "weight: 0.5}\n"
        "    residual_weight: 0.1\n"
        "    base_model: /m/a\n"
        "  - sources: [{model: /m/a, layer_range: [2, 4]}]\n"
        "    parameters: {scale: [{filter: lm_head, value: 0}]}\n";
    sut_error err = {""};
    recipe *r = yml(text, &err);

    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert(has_note(r, "c.yml: slices[0].sources[0].parameters.scale[0]: "
                          "suture matches filter 'model.layers.1.' against "
                          "the name within the layer"));
    ck_assert(has_note(r, "c.yml: slices[0].sources[0].parameters.weight is "
                          "ignored: passthrough uses only scale"));
    ck_assert(has_note(r, "c.yml: slices[0].residual_weight is ignored"));
    ck_assert(has_note(r, "c.yml: slices[0].base_model is ignored"));
    ck_assert(has_note(r, "c.yml: slices[1]: mergekit would also scale the "
                          "final norm and lm_head"));
    ck_assert(!has_note(r, "also scale the embeddings"));
    recipe_free(r);
}
END_TEST

START_TEST(mergekit_aliases)
{
    const char *text =
        MK "slices:\n"
        "  - &blk {sources: [{model: /m/a, layer_range: [0, 2]}]}\n"
        "  - *blk\n"
        "  - sources: [{model: /m/a, layer_range: [2, 3]}]\n";
    sut_error err = {""};
    recipe *r = yml(text, &err);
    char got[128];

    ck_assert_msg(r != NULL, "%s", err.msg);
    render(r, got, sizeof(got));
    ck_assert_str_eq(got, "a[0:2],a[0:2],a[2:3]");
    recipe_free(r);
}
END_TEST

/* Untrusted YAML: a gradient of 2000 values, a rule list of 2000 aliases to
 * it and 2000 aliases to the slice expand to 8e9 items; nesting 100 deep. */
START_TEST(mergekit_bombs)
{
    size_t cap = 200000, o = 0, i;
    char *t = malloc(cap);
    sut_error err = {""};

    o += (size_t)snprintf(t + o, cap - o, MK "g: &g [");
    for (i = 0; i < 2000; i++)
        o += (size_t)snprintf(t + o, cap - o, "%s1", i ? "," : "");
    o += (size_t)snprintf(t + o, cap - o, "]\nr: &r [");
    for (i = 0; i < 2000; i++)
        o += (size_t)snprintf(t + o, cap - o, "%s{value: *g}", i ? "," : "");
    o += (size_t)snprintf(t + o, cap - o, "]\nslices:\n- &s {sources: [{model: "
                          "/m/a, layer_range: [0, 1], parameters: {scale: *r}}]}\n");
    for (i = 0; i < 2000; i++)
        o += (size_t)snprintf(t + o, cap - o, "- *s\n");
    ck_assert_uint_lt(o, cap);
    ck_assert_ptr_null(yml(t, &err));
    tu_assert_contains(err.msg, "c.yml: too large: over 4000000 items once "
                                "aliases are expanded");
    o = (size_t)snprintf(t, cap, MK OK_SRC "x: ");
    for (i = 0; i < 100; i++)
        t[o++] = '[';
    for (i = 0; i < 100; i++)
        t[o++] = ']';
    t[o] = '\0';
    ck_assert_ptr_null(yml(t, &err));
    tu_assert_contains(err.msg, "c.yml: nested deeper than 64 levels");
    free(t);
}
END_TEST

/* Output and loading ------------------------------------------------------ */

/* The recipe as compact JSON text (caller frees). */
static char *to_text(const recipe *r)
{
    cJSON *j = recipe_to_json(r);
    char *text;

    ck_assert_ptr_nonnull(j);
    text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    ck_assert_ptr_nonnull(text);
    return text;
}

START_TEST(to_json_round_trip)
{
    sut_error err = {""};
    recipe *a = yml(pro_yml, &err), *b;
    char *ta, *tb;

    ck_assert_msg(a != NULL, "%s", err.msg);
    a->shard_size = 2147483648ULL;
    ta = to_text(a);
    tu_assert_contains(ta, "\"shard_size\":\"2GiB\"");
    tu_assert_contains(ta, "\"dtype\":\"bf16\"");
    tu_assert_contains(ta, "\"config_from\":\"llama\"");
    tu_assert_contains(ta, "{\"match\":\"o_proj\",\"value\":0}");
    b = json(ta, &err);
    ck_assert_msg(b != NULL, "%s: %s", ta, err.msg);
    tb = to_text(b);
    ck_assert_str_eq(ta, tb);
    ck_assert_uint_eq(b->shard_size, 2147483648ULL);
    free(ta);
    free(tb);
    recipe_free(a);
    recipe_free(b);
}
END_TEST

START_TEST(load_files)
{
    const char *dir = tu_tmpdir();
    char path[512], want[600];
    const char *js = "\n  {\"models\": {\"a\": \"../m/a\"}, \"slices\": "
                     "[{\"model\": \"a\", \"layers\": [0, 1]}]}";
    const char *ym = "merge_method: passthrough\nslices:\n  - sources: "
                     "[{model: m/../b, layer_range: [0, 1]}]\n";
    sut_error err = {""};
    recipe *r;

    snprintf(path, sizeof(path), "%s/r.json", dir);
    tu_write(path, js, strlen(js));
    r = recipe_load(path, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(r->format, RECIPE_JSON);
    ck_assert_str_eq(r->path, path);
    snprintf(want, sizeof(want), "%s/../m/a", dir);
    ck_assert_str_eq(r->models[0].path, want);
    recipe_free(r);
    snprintf(path, sizeof(path), "%s/c.yml", dir);
    tu_write(path, ym, strlen(ym));
    r = recipe_load(path, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(r->format, RECIPE_MERGEKIT);
    snprintf(want, sizeof(want), "%s/m/../b", dir);
    ck_assert_str_eq(r->models[0].path, want);
    recipe_free(r);
    snprintf(path, sizeof(path), "%s/none.yml", dir);
    ck_assert_ptr_null(recipe_load(path, &err));
    tu_assert_contains(err.msg, "none.yml: cannot open");
    recipe_free(NULL);
}
END_TEST

/* Shipped recipes ------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned layers;
} shipped[] = {
    {"llama3-8b-to-9b", 36}, {"solar-dus", 48}, {"llama-pro-expand", 40},
    {"interleave-two-models", 137}, {"repeat-middle-block", 39}, {"demo", 12},
};

static const char *const locals[] = {
    "self_attn.q_proj.weight", "self_attn.o_proj.weight",
    "mlp.down_proj.weight", "mlp.up_proj.weight", "input_layernorm.weight",
};

/* The path of the model that gives what donor d says (or default). */
static const char *donor(const recipe *r, long d, bool last)
{
    const recipe_slice *s = &r->slices[last ? r->nslices - 1 : 0];

    return r->models[d >= 0 ? (size_t)d : s->model].path;
}

/* Output layer count; checks every layer of a and b is the same source
 * layer of the same model folder with the same scales. */
static unsigned same_layers(const recipe *a, const recipe *b, const char *name)
{
    size_t i = 0, j = 0, l;
    unsigned ka = 0, kb = 0, count = 0;
    const recipe_slice *sa, *sb;

    for (;;) {
        while (i < a->nslices && ka >= a->slices[i].end - a->slices[i].start) {
            i++;
            ka = 0;
        }
        while (j < b->nslices && kb >= b->slices[j].end - b->slices[j].start) {
            j++;
            kb = 0;
        }
        if (i == a->nslices || j == b->nslices)
            break;
        sa = &a->slices[i];
        sb = &b->slices[j];
        ck_assert_msg(strcmp(a->models[sa->model].path,
                             b->models[sb->model].path) == 0 &&
                      sa->start + ka == sb->start + kb,
                      "%s: output layer %u differs", name, count);
        for (l = 0; l < sizeof(locals) / sizeof(locals[0]); l++)
            ck_assert_msg(recipe_scale_for(sa, locals[l], ka,
                                           sa->end - sa->start) ==
                          recipe_scale_for(sb, locals[l], kb,
                                           sb->end - sb->start),
                          "%s: layer %u: scale of %s differs", name, count,
                          locals[l]);
        ka++;
        kb++;
        count++;
    }
    ck_assert_msg(i == a->nslices && j == b->nslices, "%s: layer counts "
                  "differ", name);
    return count;
}

START_TEST(shipped_recipes)
{
    const char *root = getenv("SUTURE_ROOT");
    char pj[512], py[512];
    sut_error err = {""};
    recipe *a, *b;

    snprintf(pj, sizeof(pj), "%s/recipes/%s.json", root ? root : ".",
             shipped[_i].name);
    snprintf(py, sizeof(py), "%s/recipes/%s.yml", root ? root : ".",
             shipped[_i].name);
    a = recipe_load(pj, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    b = recipe_load(py, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    ck_assert_int_eq(a->format, RECIPE_JSON);
    ck_assert_int_eq(b->format, RECIPE_MERGEKIT);
    ck_assert_msg(a->comment && strlen(a->comment) > 20, "%s: no comment", pj);
    ck_assert_uint_eq(same_layers(a, b, shipped[_i].name), shipped[_i].layers);
    ck_assert_str_eq(donor(a, a->embed_from, false),
                     donor(b, b->embed_from, false));
    ck_assert_str_eq(donor(a, a->head_from, true), donor(b, b->head_from, true));
    ck_assert_str_eq(donor(a, a->config_from, false),
                     donor(b, b->config_from, false));
    ck_assert_str_eq(donor(a, a->tokenizer_from, false),
                     donor(b, b->tokenizer_from, false));
    ck_assert_int_eq(a->has_dtype, b->has_dtype);
    ck_assert_int_eq(a->dtype, b->dtype);
    ck_assert_ptr_null(a->notes);
    recipe_free(a);
    recipe_free(b);
}
END_TEST

static Suite *recipe_suite(void)
{
    Suite *s = suite_create("recipe");
    TCase *tc = tcase_create("spec");

    tcase_add_loop_test(tc, spec_table, 0,
                        sizeof(spec_ok) / sizeof(spec_ok[0]));
    tcase_add_loop_test(tc, spec_errors, 0,
                        sizeof(spec_bad) / sizeof(spec_bad[0]));
    tcase_add_test(tc, spec_model_args);
    tcase_add_test(tc, spec_path_models);
    tcase_add_loop_test(tc, size_table, 0, sizeof(sizes) / sizeof(sizes[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("json");
    tcase_add_test(tc, json_full);
    tcase_add_loop_test(tc, json_errors, 0,
                        sizeof(json_bad) / sizeof(json_bad[0]));
    tcase_add_test(tc, json_dtypes_and_sizes);
    tcase_add_test(tc, scale_gradients);
    tcase_add_test(tc, to_json_round_trip);
    tcase_add_test(tc, load_files);
    suite_add_tcase(s, tc);
    tc = tcase_create("mergekit");
    tcase_add_test(tc, mergekit_solar);
    tcase_add_test(tc, mergekit_interleaved);
    tcase_add_test(tc, mergekit_llama_pro);
    tcase_add_test(tc, mergekit_gradients_and_precedence);
    tcase_add_test(tc, mergekit_donors_and_dtype);
    tcase_add_test(tc, mergekit_tokenizer_forms);
    tcase_add_test(tc, mergekit_local_folders);
    tcase_add_loop_test(tc, mergekit_errors, 0,
                        sizeof(yml_bad) / sizeof(yml_bad[0]));
    tcase_add_test(tc, mergekit_notes);
    tcase_add_test(tc, mergekit_aliases);
    tcase_add_test(tc, mergekit_bombs);
    suite_add_tcase(s, tc);
    tc = tcase_create("shipped");
    tcase_add_loop_test(tc, shipped_recipes, 0,
                        sizeof(shipped) / sizeof(shipped[0]));
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(recipe_suite)
