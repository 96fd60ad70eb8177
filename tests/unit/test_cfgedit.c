/* test_cfgedit.c: rewriting config.json for a new layer stack. */
#include <cjson/cJSON.h>

#include "archutil.h"
#include "suture/cfgedit.h"
#include "common/util.h"

/* The result of one rewrite. */
typedef struct result {
    cJSON *out;
    cfg_change *ch;
    size_t n;
    sut_error err;
} result;

/* Rewrites donor, checking the donor is left as it was. */
static result rewrite(const cJSON *donor, const char *family, const long *src,
                      size_t n, const char *dtype)
{
    result r = { NULL, NULL, 0, { "" } };
    cJSON *before = cJSON_Duplicate(donor, true);

    r.out = cfg_rewrite(donor, fam(family), src, n, dtype, &r.ch, &r.n, &r.err);
    ck_assert(cJSON_Compare(before, donor, true));
    cJSON_Delete(before);
    if (!r.out) {
        ck_assert_ptr_null(r.ch);
        ck_assert_uint_eq(r.n, 0);
    }
    return r;
}

static void result_free(result *r)
{
    cJSON_Delete(r->out);
    cfg_changes_free(r->ch, r->n);
}

/* The changes' lines joined by " | ". */
static const char *lines(const result *r)
{
    static char buf[8192];
    size_t i, len = 0;

    buf[0] = '\0';
    for (i = 0; i < r->n; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
                                i ? " | " : "", r->ch[i].line);
    return buf;
}

/* The keys of an object joined by ",". */
static const char *keys(const cJSON *obj)
{
    static char buf[4096];
    const cJSON *it;
    size_t len = 0;

    buf[0] = '\0';
    cJSON_ArrayForEach(it, obj)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
                                len ? "," : "", it->string);
    return buf;
}

static const char *print(const cJSON *item)
{
    static char buf[4096];
    char *s = cJSON_PrintUnformatted(item);

    snprintf(buf, sizeof(buf), "%s", s ? s : "(null)");
    free(s);
    return buf;
}

static const cJSON *get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* ---- the layer count and dtype ---- */

START_TEST(test_llama_count_and_dtype)
{
    cJSON *d = json("{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\","
                    " \"hidden_size\": 8, \"num_hidden_layers\": 2, \"rope_scaling\": null,"
                    " \"eos_token_id\": [1, 2], \"vocab_size\": 11}");
    long src[] = { 0, 1, 0, 1 };
    result r = rewrite(d, "llama", src, 4, "float16");

    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_str_eq(lines(&r), "num_hidden_layers: 2 -> 4 | torch_dtype: (absent) -> float16");
    ck_assert_str_eq(keys(r.out), "architectures,model_type,hidden_size,num_hidden_layers,"
                     "rope_scaling,eos_token_id,vocab_size,torch_dtype");
    ck_assert_int_eq(arch_config_layers(fam("llama"), r.out), 4);
    ck_assert_str_eq(print(get(r.out, "eos_token_id")), "[1,2]");
    ck_assert_str_eq(r.ch[0].key, "num_hidden_layers");
    ck_assert(!r.ch[0].assumed);
    result_free(&r);
    cJSON_Delete(d);
}
END_TEST

START_TEST(test_same_depth_no_changes)
{
    cJSON *d = json("{\"num_hidden_layers\": 2, \"torch_dtype\": \"bfloat16\"}");
    long src[] = { 0, 1 };
    result r = rewrite(d, "llama", src, 2, "bfloat16");

    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_uint_eq(r.n, 0);
    ck_assert(cJSON_Compare(d, r.out, true));
    result_free(&r);
    r = rewrite(d, "llama", src, 2, NULL);
    ck_assert_uint_eq(r.n, 0);
    result_free(&r);
    cJSON_Delete(d);
}
END_TEST

START_TEST(test_count_absent_and_synonyms)
{
    cJSON *d = json("{\"model_type\": \"llama\"}");
    long src[] = { -1, -1, -1 };
    result r = rewrite(d, "llama", src, 3, NULL);

    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_str_eq(lines(&r), "num_hidden_layers: (absent) -> 3");
    ck_assert_str_eq(keys(r.out), "model_type,num_hidden_layers");
    result_free(&r);
    cJSON_Delete(d);

    d = json("{\"model_type\": \"falcon\", \"n_layer\": 2, \"dtype\": \"bfloat16\"}");
    r = rewrite(d, "falcon", src, 3, "float32");
    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_str_eq(lines(&r), "n_layer: 2 -> 3 | dtype: bfloat16 -> float32");
    ck_assert_str_eq(keys(r.out), "model_type,n_layer,dtype");
    result_free(&r);
    cJSON_Delete(d);

    d = json("{\"n_layer\": 12, \"n_embd\": 768}");
    r = rewrite(d, "gpt2", (long[]){ 0, 11 }, 2, NULL);
    ck_assert_str_eq(lines(&r), "n_layer: 12 -> 2");
    result_free(&r);
    cJSON_Delete(d);
}
END_TEST

/* ---- per-layer arrays ---- */

START_TEST(test_gemma2_layer_types)
{
    cJSON *d = json("{\"model_type\": \"gemma2\", \"num_hidden_layers\": 4, \"layer_types\":"
                    " [\"sliding_attention\", \"full_attention\", \"sliding_attention\","
                    " \"full_attention\"], \"sliding_window\": 4096, \"torch_dtype\": \"bfloat16\"}");
    long src[] = { 0, 1, 1, 2, 3 };
    const char want[] = "sggsg";
    result r = rewrite(d, "gemma2", src, 5, NULL);
    unsigned i;

    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_str_eq(lines(&r), "num_hidden_layers: 4 -> 5 | layer_types: spliced to 5 entries");
    ck_assert_str_eq(keys(r.out), keys(d));
    for (i = 0; i < 5; i++)
        ck_assert_int_eq(arch_attention_kind(fam("gemma2"), r.out, i), want[i]);
    result_free(&r);
    cJSON_Delete(d);
}
END_TEST

/* A gemma2 config without layer_types of n layers. */
static cJSON *gemma2_plain(int n)
{
    char text[256];

    snprintf(text, sizeof(text), "{\"model_type\": \"gemma2\", \"num_hidden_layers\": %d,"
             " \"sliding_window\": 4096}", n);
    return json(text);
}

START_TEST(test_gemma2_parity_kept)
{
    cJSON *d = gemma2_plain(8);
    long src[] = { 0, 1, 2, 3, 2, 3, 4, 5, 6, 7 };
    result r = rewrite(d, "gemma2", src, 10, NULL);

    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_str_eq(lines(&r), "num_hidden_layers: 8 -> 10");
    ck_assert_ptr_null(get(r.out, "layer_types"));
    result_free(&r);
    cJSON_Delete(d);
}
END_TEST

START_TEST(test_gemma2_parity_broken)
{
    cJSON *d = gemma2_plain(8);
    long src[] = { 0, 1, 2, 3, 3, 4, 5, 6, 7 };
    result r = rewrite(d, "gemma2", src, 9, NULL);
    unsigned i;

    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    tu_assert_contains(lines(&r), "num_hidden_layers: 8 -> 9 | layer_types: added with 9 "
                       "entries: the layers' attention kinds no longer follow the period of 2");
    ck_assert_str_eq(keys(r.out), "model_type,num_hidden_layers,sliding_window,layer_types");
    for (i = 0; i < 9; i++)
        ck_assert_int_eq(arch_attention_kind(fam("gemma2"), r.out, i),
                         arch_attention_kind(fam("gemma2"), d, (unsigned)src[i]));
    result_free(&r);
    cJSON_Delete(d);
}
END_TEST

START_TEST(test_gemma3_text_config)
{
    cJSON *d = json("{\"architectures\": [\"Gemma3ForConditionalGeneration\"],"
                    " \"model_type\": \"gemma3\", \"text_config\": {\"model_type\": \"gemma3_text\","
                    " \"num_hidden_layers\": 6, \"sliding_window_pattern\": 6,"
                    " \"torch_dtype\": \"bfloat16\"}, \"torch_dtype\": \"bfloat16\","
                    " \"vision_config\": {\"num_hidden_layers\": 27}}");
    long twice[] = { 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5 };
    long tail[] = { 0, 1, 2, 3, 4, 5, 3, 4, 5 };
    const cJSON *tc;
    result r = rewrite(d, "gemma3", twice, 12, "float32");
    unsigned i;

    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_str_eq(lines(&r), "text_config.num_hidden_layers: 6 -> 12 | torch_dtype: "
                     "bfloat16 -> float32 | text_config.torch_dtype: bfloat16 -> float32");
    ck_assert_str_eq(keys(r.out), keys(d));
    ck_assert_int_eq(arch_config_layers(fam("gemma3"), r.out), 12);
    ck_assert_int_eq(cJSON_GetObjectItem(get(r.out, "vision_config"), "num_hidden_layers")->valueint, 27);
    result_free(&r);

    r = rewrite(d, "gemma3", tail, 9, NULL);
    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    tc = get(r.out, "text_config");
    ck_assert_str_eq(keys(tc), "model_type,num_hidden_layers,sliding_window_pattern,"
                     "torch_dtype,layer_types");
    ck_assert_str_eq(r.ch[1].key, "text_config.layer_types");
    for (i = 0; i < 9; i++)
        ck_assert_int_eq(arch_attention_kind(fam("gemma3"), r.out, i), i == 5 || i == 8 ? 'g' : 's');
    result_free(&r);
    cJSON_Delete(d);
}
END_TEST

START_TEST(test_assumed_arrays)
{
    cJSON *d = json("{\"num_hidden_layers\": 3, \"no_rope_layers\": [1, 0, 1],"
                    " \"eos_token_id\": [7, 8, 9], \"architectures\": [\"A\", \"B\", \"C\"],"
                    " \"bad_words_ids\": [[1], [2], [3]], \"short\": [1, 2],"
                    " \"nested\": {\"x\": [1, 2, 3]}}");
    long src[] = { 1, 1, 2, 0 };
    result r = rewrite(d, "llama", src, 4, NULL);

    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_str_eq(lines(&r), "num_hidden_layers: 3 -> 4 | no_rope_layers: spliced to 4 "
                     "entries (its length was the layer count, so it was taken as one "
                     "entry per layer)");
    ck_assert(r.ch[1].assumed);
    ck_assert_str_eq(print(get(r.out, "no_rope_layers")), "[0,0,1,1]");
    ck_assert_str_eq(print(get(r.out, "eos_token_id")), "[7,8,9]");
    ck_assert_str_eq(print(get(r.out, "architectures")), "[\"A\",\"B\",\"C\"]");
    ck_assert_str_eq(print(get(r.out, "nested")), "{\"x\":[1,2,3]}");
    result_free(&r);
    cJSON_Delete(d);
}
END_TEST

/* ---- lists of layer indices ---- */

START_TEST(test_qwen2_moe_mlp_only)
{
    cJSON *d = json("{\"model_type\": \"qwen2_moe\", \"num_hidden_layers\": 4,"
                    " \"mlp_only_layers\": [1, 3], \"decoder_sparse_step\": 1,"
                    " \"num_experts\": 60, \"use_sliding_window\": false}");
    long src[] = { 0, 1, 2, 3, 3, 1 };
    result r = rewrite(d, "qwen2_moe", src, 6, NULL);

    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_str_eq(lines(&r), "num_hidden_layers: 4 -> 6 | mlp_only_layers: [1,3] -> [1,3,4,5]");
    ck_assert_str_eq(print(get(r.out, "mlp_only_layers")), "[1,3,4,5]");
    ck_assert_str_eq(keys(r.out), keys(d));
    result_free(&r);
    cJSON_Delete(d);
}
END_TEST

/* Layer i is sparse under a qwen2_moe config (transformers' rule). */
static bool sparse(const cJSON *c, long i)
{
    const cJSON *e;
    int step = get(c, "decoder_sparse_step")->valueint;

    cJSON_ArrayForEach(e, get(c, "mlp_only_layers"))
        if (e->valueint == i)
            return false;
    return (i + 1) % step == 0;
}

START_TEST(test_qwen2_moe_sparse_step)
{
    cJSON *d = json("{\"model_type\": \"qwen2_moe\", \"num_hidden_layers\": 6,"
                    " \"decoder_sparse_step\": 2, \"mlp_only_layers\": [3], \"num_experts\": 8}");
    long src[] = { 0, 1, 2, 3, 1, 5, 4, 5 };
    result r = rewrite(d, "qwen2_moe", src, 8, NULL);
    long i;

    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_str_eq(lines(&r), "num_hidden_layers: 6 -> 8 | mlp_only_layers: [3] -> "
                     "[0,2,3,6] | decoder_sparse_step: 2 -> 1 (which layers are sparse is "
                     "now in mlp_only_layers)");
    for (i = 0; i < 8; i++)
        ck_assert_msg(sparse(r.out, i) == sparse(d, src[i]), "layer %ld", i);
    result_free(&r);
    cJSON_Delete(d);

    d = json("{\"num_hidden_layers\": 2, \"decoder_sparse_step\": 2}");
    r = rewrite(d, "qwen2_moe", (long[]){ 1, 0, 1 }, 3, NULL);
    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_str_eq(lines(&r), "num_hidden_layers: 2 -> 3 | mlp_only_layers: (absent) -> [1] | "
                     "decoder_sparse_step: 2 -> 1 (which layers are sparse is now in mlp_only_layers)");
    ck_assert_str_eq(keys(r.out), "num_hidden_layers,decoder_sparse_step,mlp_only_layers");
    result_free(&r);
    cJSON_Delete(d);

    d = json("{\"num_hidden_layers\": 2, \"decoder_sparse_step\": 2, \"num_experts\": 0}");
    r = rewrite(d, "qwen2_moe", (long[]){ 1, 0, 1 }, 3, NULL);
    ck_assert_str_eq(lines(&r), "num_hidden_layers: 2 -> 3");
    result_free(&r);
    cJSON_Delete(d);
}
END_TEST

START_TEST(test_empty_list_with_foreign_layers)
{
    cJSON *d = json("{\"num_hidden_layers\": 2, \"mlp_only_layers\": []}");
    result r = rewrite(d, "qwen2_moe", (long[]){ 0, -1, 1 }, 3, NULL);

    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_str_eq(lines(&r), "num_hidden_layers: 2 -> 3");
    result_free(&r);
    cJSON_Delete(d);
}
END_TEST

/* ---- errors: (family, config, layer map) -> message ---- */

typedef struct bad_row {
    const char *family, *config;
    long src[4];
    size_t n;
    const char *msg;
} bad_row;

static const bad_row BAD[] = {
    { "gemma2", "{\"num_hidden_layers\": 4, \"layer_types\": [\"a\", \"b\", \"c\"]}",
      { 0, 1 }, 2, "key 'layer_types': 3 entries, but the config states 4 layers" },
    { "gemma2", "{\"num_hidden_layers\": 2, \"layer_types\": \"sliding_attention\"}",
      { 0, 1 }, 2, "key 'layer_types': not a list" },
    { "qwen2", "{\"layer_types\": [\"full_attention\"]}",
      { 0, 0 }, 2, "key 'layer_types': cannot splice: the config states no layer count" },
    { "qwen2", "{\"num_hidden_layers\": 2, \"layer_types\": [\"a\", \"b\"]}",
      { 0, -1, 1 }, 3, "key 'layer_types': output layer 1 has no source layer in the config donor" },
    { "llama", "{\"num_hidden_layers\": 4}",
      { 0, 1, 4 }, 3, "output layer 2: source layer 4, but the config donor states 4 layers" },
    { "llama", "{\"num_hidden_layers\": 4}",
      { -2 }, 1, "output layer 0: source layer -2 is not a layer index" },
    { "llama", "{\"num_hidden_layers\": 4}",
      { 0 }, 0, "output layer count 0 is out of range" },
    { "llama", "{\"num_hidden_layers\": 4.5}",
      { 0 }, 1, "key 'num_hidden_layers': not a whole number of layers" },
    { "llama", "{\"num_hidden_layers\": \"4\"}",
      { 0 }, 1, "key 'num_hidden_layers': not a whole number of layers" },
    { "gemma3", "{\"text_config\": {\"num_hidden_layers\": -1}}",
      { 0 }, 1, "key 'text_config.num_hidden_layers': not a whole number of layers" },
    { "qwen2_moe", "{\"num_hidden_layers\": 4, \"mlp_only_layers\": [4]}",
      { 0 }, 1, "key 'mlp_only_layers': entry 0 is not a layer index below the config's 4 layers" },
    { "qwen2_moe", "{\"num_hidden_layers\": 4, \"mlp_only_layers\": [1, \"2\"]}",
      { 0 }, 1, "key 'mlp_only_layers': entry 1 is not a layer index below the config's 4 layers" },
    { "qwen2_moe", "{\"num_hidden_layers\": 4, \"mlp_only_layers\": 2}",
      { 0 }, 1, "key 'mlp_only_layers': not a list" },
    { "qwen2_moe", "{\"num_hidden_layers\": 4, \"mlp_only_layers\": [2]}",
      { 0, -1 }, 2, "key 'mlp_only_layers': output layer 1 has no source layer in the config donor" },
    { "qwen2_moe", "{\"mlp_only_layers\": [2]}",
      { 0 }, 1, "key 'mlp_only_layers': cannot remap: the config states no layer count" },
    { "gemma2", "{\"num_hidden_layers\": 4}",
      { 0, -1 }, 2, "key 'layer_types': output layer 1 has no source layer in the config "
                    "donor, so its attention kind is unknown" },
    { "llama", "{\"num_hidden_layers\": 3, \"per_layer\": [1, 2, 3]}",
      { 0, -1 }, 2, "key 'per_layer': output layer 1 has no source layer in the config donor" },
    { "gemma3", "{\"num_hidden_layers\": 4, \"text_config\": {\"num_hidden_layers\": 2,"
                " \"layer_types\": [\"a\", \"b\"]}}",
      { 0, 3 }, 2, "key 'text_config.layer_types': output layer 1: source layer 3 is past "
                   "the config's 2 layers" },
    { "llama", "[]", { 0 }, 1, "no config object, family or layer map" },
};

START_TEST(test_errors)
{
    const bad_row *b = &BAD[_i];
    cJSON *d = json(b->config);
    result r = rewrite(d, b->family, b->src, b->n, NULL);

    ck_assert_msg(r.out == NULL, "%s: no error", b->config);
    tu_assert_contains(r.err.msg, b->msg);
    cJSON_Delete(d);
}
END_TEST

START_TEST(test_bad_args)
{
    sut_error err = { "" };
    cfg_change *ch = (cfg_change *)&err;
    size_t n = 7;
    cJSON *d = json("{\"num_hidden_layers\": 1}");
    long src[] = { 0 };

    ck_assert_ptr_null(cfg_rewrite(NULL, fam("llama"), src, 1, NULL, &ch, &n, &err));
    ck_assert_ptr_null(ch);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(cfg_rewrite(d, NULL, src, 1, NULL, NULL, NULL, &err));
    ck_assert_ptr_null(cfg_rewrite(d, fam("llama"), NULL, 1, NULL, NULL, NULL, &err));
    ck_assert_ptr_null(cfg_rewrite(d, fam("llama"), src, 1, "", NULL, NULL, &err));
    tu_assert_contains(err.msg, "key 'torch_dtype': empty dtype name");
    cfg_changes_free(NULL, 3);
    cJSON_Delete(d);
}
END_TEST

START_TEST(test_dtype_names)
{
    ck_assert_str_eq(cfg_dtype_name(ST_F32), "float32");
    ck_assert_str_eq(cfg_dtype_name(ST_F16), "float16");
    ck_assert_str_eq(cfg_dtype_name(ST_BF16), "bfloat16");
    ck_assert_str_eq(cfg_dtype_name(ST_F8_E4M3), "float8_e4m3fn");
    ck_assert_str_eq(cfg_dtype_name(ST_I64), "int64");
    ck_assert_ptr_null(cfg_dtype_name(ST_F4));
    ck_assert_ptr_null(cfg_dtype_name(ST_DTYPE_COUNT));
}
END_TEST

/* ---- the real gemma-2-9b-it config ---- */

START_TEST(test_gemma2_9b)
{
    char path[8192];
    sut_error err = { "" };
    long src[51];
    cJSON *d;
    result r;
    unsigned i;

    if (!tu_fixtures()) {
        tu_skip("fixtures folder absent");
        return;
    }
    snprintf(path, sizeof(path), "%s/headers/gemma-2-9b-it/config.json", tu_fixtures());
    d = sut_json_read_file(path, 1 << 20, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    for (i = 0; i < 42; i++)
        src[i] = i;
    for (i = 42; i < 51; i++)
        src[i] = 21 + (i - 42); /* layers 21..29 again: parity shifted */
    r = rewrite(d, "gemma2", src, 51, "float16");
    ck_assert_msg(r.out != NULL, "%s", r.err.msg);
    ck_assert_str_eq(r.ch[0].line, "num_hidden_layers: 42 -> 51");
    ck_assert_str_eq(r.ch[1].key, "layer_types");
    ck_assert_str_eq(r.ch[2].line, "torch_dtype: bfloat16 -> float16");
    ck_assert_uint_eq(r.n, 3);
    ck_assert_int_eq(arch_config_layers(fam("gemma2"), r.out), 51);
    ck_assert(arch_tied(fam("gemma2"), r.out));
    for (i = 0; i < 51; i++)
        ck_assert_int_eq(arch_attention_kind(fam("gemma2"), r.out, i),
                         arch_attention_kind(fam("gemma2"), d, (unsigned)src[i]));
    result_free(&r);
    cJSON_Delete(d);
}
END_TEST

static Suite *cfgedit_suite(void)
{
    Suite *s = suite_create("cfgedit");
    TCase *tc = tcase_create("cfgedit");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_llama_count_and_dtype);
    tcase_add_test(tc, test_same_depth_no_changes);
    tcase_add_test(tc, test_count_absent_and_synonyms);
    tcase_add_test(tc, test_gemma2_layer_types);
    tcase_add_test(tc, test_gemma2_parity_kept);
    tcase_add_test(tc, test_gemma2_parity_broken);
    tcase_add_test(tc, test_gemma3_text_config);
    tcase_add_test(tc, test_assumed_arrays);
    tcase_add_test(tc, test_qwen2_moe_mlp_only);
    tcase_add_test(tc, test_qwen2_moe_sparse_step);
    tcase_add_test(tc, test_empty_list_with_foreign_layers);
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof(BAD) / sizeof(BAD[0])));
    tcase_add_test(tc, test_bad_args);
    tcase_add_test(tc, test_dtype_names);
    tcase_add_test(tc, test_gemma2_9b);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(cfgedit_suite)
