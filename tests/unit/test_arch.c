/* test_arch.c: the architecture table. */
#include <pthread.h>
#include <cjson/cJSON.h>

#include "archutil.h"
#include "suture/arch.h"
#include "suture/safetensors.h"
#include "common/util.h"

/* ---- names: (family, tensor) -> (layer, local, head?) ---- */

typedef struct name_row {
    const char *family, *name;
    long layer;         /* -1 non-layer, -2 bad index */
    const char *local;  /* expected local name when layer >= 0 */
    bool head;
} name_row;

static const name_row NAMES[] = {
    { "llama", "model.layers.0.self_attn.q_proj.weight", 0, "self_attn.q_proj.weight", false },
    { "llama", "model.layers.31.mlp.down_proj.weight", 31, "mlp.down_proj.weight", false },
    { "llama", "model.layers.0.self_attn.rotary_emb.inv_freq", 0, "self_attn.rotary_emb.inv_freq", false },
    { "llama", "model.embed_tokens.weight", -1, NULL, false },
    { "llama", "model.norm.weight", -1, NULL, true },
    { "llama", "lm_head.weight", -1, NULL, true },
    { "llama", "model.layers.07.mlp.up_proj.weight", -2, NULL, false },
    { "llama", "model.layers.2147483647.x", 2147483647L, "x", false },
    { "llama", "model.layers.2147483648.x", -2, NULL, false },
    { "llama", "model.layers.99999999999.x", -2, NULL, false },
    { "llama", "model.layers.3", -1, NULL, false },
    { "llama", "model.layers..x", -1, NULL, false },
    { "llama", "xmodel.layers.1.x", -1, NULL, false },
    { "llama", "model.norm.weight.extra", -1, NULL, false },
    { "mistral", "model.layers.5.input_layernorm.weight", 5, "input_layernorm.weight", false },
    { "mixtral", "model.layers.3.block_sparse_moe.experts.7.w1.weight", 3, "block_sparse_moe.experts.7.w1.weight", false },
    { "mixtral", "model.layers.3.block_sparse_moe.gate.weight", 3, "block_sparse_moe.gate.weight", false },
    { "qwen2", "model.layers.1.self_attn.k_proj.bias", 1, "self_attn.k_proj.bias", false },
    { "qwen2_moe", "model.layers.5.mlp.shared_expert_gate.weight", 5, "mlp.shared_expert_gate.weight", false },
    { "qwen2_moe", "model.layers.5.mlp.experts.59.down_proj.weight", 5, "mlp.experts.59.down_proj.weight", false },
    { "qwen3", "model.layers.0.self_attn.q_norm.weight", 0, "self_attn.q_norm.weight", false },
    { "gemma", "model.layers.17.mlp.gate_proj.weight", 17, "mlp.gate_proj.weight", false },
    { "gemma2", "model.layers.41.post_feedforward_layernorm.weight", 41, "post_feedforward_layernorm.weight", false },
    { "gemma2", "model.norm.weight", -1, NULL, true },
    { "gemma3", "language_model.model.layers.33.mlp.up_proj.weight", 33, "mlp.up_proj.weight", false },
    { "gemma3", "model.language_model.layers.2.self_attn.q_proj.weight", 2, "self_attn.q_proj.weight", false },
    { "gemma3", "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight", -1, NULL, false },
    { "gemma3", "multi_modal_projector.mm_input_projection_weight", -1, NULL, false },
    { "gemma3", "language_model.model.embed_tokens.weight", -1, NULL, false },
    { "gemma3", "language_model.model.norm.weight", -1, NULL, true },
    { "gemma3", "model.language_model.norm.weight", -1, NULL, true },
    { "gemma3", "language_model.lm_head.weight", -1, NULL, true },
    { "gemma3", "lm_head.weight", -1, NULL, true },
    { "gemma3", "model.layers.0.mlp.up_proj.weight", -1, NULL, false },
    { "gemma3_text", "model.layers.0.self_attn.k_norm.weight", 0, "self_attn.k_norm.weight", false },
    { "gemma3_text", "model.norm.weight", -1, NULL, true },
    { "phi3", "model.layers.1.self_attn.qkv_proj.weight", 1, "self_attn.qkv_proj.weight", false },
    { "phi3", "model.layers.1.mlp.gate_up_proj.weight", 1, "mlp.gate_up_proj.weight", false },
    { "gpt2", "transformer.h.11.attn.c_attn.weight", 11, "attn.c_attn.weight", false },
    { "gpt2", "h.0.mlp.c_fc.bias", 0, "mlp.c_fc.bias", false },
    { "gpt2", "h.3.attn.bias", 3, "attn.bias", false },
    { "gpt2", "transformer.ln_f.weight", -1, NULL, true },
    { "gpt2", "ln_f.bias", -1, NULL, true },
    { "gpt2", "lm_head.weight", -1, NULL, true },
    { "gpt2", "transformer.wte.weight", -1, NULL, false },
    { "gpt2", "wpe.weight", -1, NULL, false },
    { "gpt_neox", "gpt_neox.layers.5.attention.query_key_value.weight", 5, "attention.query_key_value.weight", false },
    { "gpt_neox", "gpt_neox.embed_in.weight", -1, NULL, false },
    { "gpt_neox", "gpt_neox.final_layer_norm.bias", -1, NULL, true },
    { "gpt_neox", "embed_out.weight", -1, NULL, true },
    { "falcon", "transformer.h.0.self_attention.query_key_value.weight", 0, "self_attention.query_key_value.weight", false },
    { "falcon", "transformer.h.59.ln_mlp.bias", 59, "ln_mlp.bias", false },
    { "falcon", "transformer.word_embeddings.weight", -1, NULL, false },
    { "falcon", "transformer.ln_f.bias", -1, NULL, true },
    { "falcon", "lm_head.weight", -1, NULL, true },
    { "starcoder2", "model.layers.2.mlp.c_fc.bias", 2, "mlp.c_fc.bias", false },
    { "starcoder2", "model.norm.bias", -1, NULL, true },
    { "olmo2", "model.layers.9.post_feedforward_layernorm.weight", 9, "post_feedforward_layernorm.weight", false },
    { "cohere", "model.layers.0.self_attn.q_norm.weight", 0, "self_attn.q_norm.weight", false },
    { "cohere2", "model.layers.3.mlp.down_proj.weight", 3, "mlp.down_proj.weight", false },
    { "granite", "model.layers.39.self_attn.o_proj.weight", 39, "self_attn.o_proj.weight", false },
    { "granite", "model.embed_tokens.weight", -1, NULL, false },
};

START_TEST(test_names)
{
    const name_row *r = &NAMES[_i];
    const arch_family *f = fam(r->family);
    size_t b = 0, e = 0, local = 0;
    long layer = arch_layer_of(f, r->name, &b, &e, &local);

    ck_assert_msg(layer == r->layer, "%s %s: layer %ld, want %ld", r->family,
                  r->name, layer, r->layer);
    if (layer >= 0) {
        char digits[24];

        snprintf(digits, sizeof(digits), "%ld", layer);
        ck_assert_uint_eq(e - b, strlen(digits));
        ck_assert_int_eq(strncmp(r->name + b, digits, e - b), 0);
        ck_assert_str_eq(r->name + local, r->local);
    } else {
        ck_assert_msg(arch_is_head(f, r->name) == r->head, "%s %s: head %d",
                      r->family, r->name, !r->head);
    }
}
END_TEST

/* ---- the table itself ---- */

static const char *const BUILTIN_NAMES[] = {
    "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "gemma",
    "gemma2", "gemma3", "gemma3_text", "phi3", "gpt2", "gpt_neox", "falcon",
    "starcoder2", "olmo2", "cohere", "cohere2", "granite",
};

START_TEST(test_builtins)
{
    size_t n = sizeof(BUILTIN_NAMES) / sizeof(BUILTIN_NAMES[0]), i;

    ck_assert_uint_eq(arch_table_count(T), n);
    for (i = 0; i < n; i++) {
        const arch_family *f = arch_table_at(T, i);

        ck_assert_str_eq(f->name, BUILTIN_NAMES[i]);
        ck_assert_ptr_eq(arch_by_name(T, BUILTIN_NAMES[i]), f);
        ck_assert_ptr_nonnull(f->classes[0]);
        ck_assert_ptr_nonnull(f->layer_arrays);
        ck_assert_ptr_nonnull(f->layer_lists);
        ck_assert(!f->inferred);
    }
    ck_assert_ptr_null(arch_table_at(T, n));
    ck_assert_ptr_null(arch_by_name(T, "minicpm3"));
    ck_assert_ptr_null(arch_by_name(T, NULL));
}
END_TEST

/* family -> (tie default, sliding period, per-layer array, layer list) */
typedef struct defaults_row {
    const char *family;
    bool tie;
    unsigned period;
    const char *array, *list, *count_key;
} defaults_row;

static const defaults_row DEFAULTS[] = {
    { "llama", false, 0, NULL, NULL, "num_hidden_layers" },
    { "mistral", false, 0, NULL, NULL, "num_hidden_layers" },
    { "mixtral", false, 0, NULL, NULL, "num_hidden_layers" },
    { "qwen2", false, 0, "layer_types", NULL, "num_hidden_layers" },
    { "qwen2_moe", false, 0, "layer_types", "mlp_only_layers", "num_hidden_layers" },
    { "qwen3", false, 0, "layer_types", NULL, "num_hidden_layers" },
    { "gemma", true, 0, NULL, NULL, "num_hidden_layers" },
    { "gemma2", true, 2, "layer_types", NULL, "num_hidden_layers" },
    { "gemma3", true, 6, "layer_types", NULL, "num_hidden_layers" },
    { "gemma3_text", true, 6, "layer_types", NULL, "num_hidden_layers" },
    { "phi3", false, 0, NULL, NULL, "num_hidden_layers" },
    { "gpt2", true, 0, NULL, NULL, "n_layer" },
    { "gpt_neox", false, 0, NULL, NULL, "num_hidden_layers" },
    { "falcon", true, 0, NULL, NULL, "num_hidden_layers" },
    { "starcoder2", true, 0, NULL, NULL, "num_hidden_layers" },
    { "olmo2", false, 0, NULL, NULL, "num_hidden_layers" },
    { "cohere", true, 0, NULL, NULL, "num_hidden_layers" },
    { "cohere2", true, 4, "layer_types", NULL, "num_hidden_layers" },
    { "granite", false, 0, NULL, NULL, "num_hidden_layers" },
};

START_TEST(test_defaults)
{
    const defaults_row *r = &DEFAULTS[_i];
    const arch_family *f = fam(r->family);
    cJSON *empty = json("{}");

    ck_assert_msg(arch_tied(f, empty) == r->tie, "%s tie", r->family);
    ck_assert_uint_eq(f->sliding_period, r->period);
    ck_assert_str_eq(f->layer_count_key, r->count_key);
    if (r->array) {
        ck_assert_str_eq(f->layer_arrays[0], r->array);
        ck_assert_ptr_null(f->layer_arrays[1]);
    } else {
        ck_assert_ptr_null(f->layer_arrays[0]);
    }
    if (r->list)
        ck_assert_str_eq(f->layer_lists[0], r->list);
    else
        ck_assert_ptr_null(f->layer_lists[0]);
    ck_assert_int_eq(arch_config_layers(f, empty), -1);
    ck_assert_int_eq(arch_attention_kind(f, empty, 0), r->period ? 's' : '?');
    cJSON_Delete(empty);
}
END_TEST

START_TEST(test_rename)
{
    char *s;

    s = arch_rename(fam("llama"), "model.layers.7.mlp.up_proj.weight", 123);
    ck_assert_str_eq(s, "model.layers.123.mlp.up_proj.weight");
    free(s);
    s = arch_rename(fam("gpt2"), "h.10.attn.c_attn.bias", 3);
    ck_assert_str_eq(s, "h.3.attn.c_attn.bias");
    free(s);
    s = arch_rename(fam("gemma3"), "language_model.model.layers.5.mlp.up_proj.weight", 0);
    ck_assert_str_eq(s, "language_model.model.layers.0.mlp.up_proj.weight");
    free(s);
    s = arch_rename(fam("mixtral"), "model.layers.3.block_sparse_moe.experts.7.w1.weight", 4294967295u);
    ck_assert_str_eq(s, "model.layers.4294967295.block_sparse_moe.experts.7.w1.weight");
    free(s);
    ck_assert_ptr_null(arch_rename(fam("llama"), "model.norm.weight", 1));
    ck_assert_ptr_null(arch_rename(fam("llama"), "model.layers.01.x", 1));
}
END_TEST

START_TEST(test_embed_output)
{
    ck_assert(arch_is_embed(fam("llama"), "model.embed_tokens.weight"));
    ck_assert(!arch_is_embed(fam("llama"), "lm_head.weight"));
    ck_assert(arch_is_output(fam("llama"), "lm_head.weight"));
    ck_assert(arch_is_embed(fam("gpt2"), "transformer.wte.weight"));
    ck_assert(arch_is_embed(fam("gpt2"), "wte.weight"));
    ck_assert(!arch_is_embed(fam("gpt2"), "wpe.weight"));
    ck_assert(arch_is_embed(fam("gemma3"), "language_model.model.embed_tokens.weight"));
    ck_assert(arch_is_embed(fam("gemma3"), "model.language_model.embed_tokens.weight"));
    ck_assert(arch_is_output(fam("gemma3"), "language_model.lm_head.weight"));
    ck_assert(arch_is_output(fam("gemma3"), "lm_head.weight"));
    ck_assert(arch_is_embed(fam("gpt_neox"), "gpt_neox.embed_in.weight"));
    ck_assert(arch_is_output(fam("gpt_neox"), "embed_out.weight"));
    ck_assert(arch_is_embed(fam("falcon"), "transformer.word_embeddings.weight"));
}
END_TEST

START_TEST(test_scale_cancelled)
{
    ck_assert(arch_scale_cancelled(fam("gemma2"), "self_attn.o_proj.weight"));
    ck_assert(arch_scale_cancelled(fam("gemma2"), "mlp.down_proj.weight"));
    ck_assert(arch_scale_cancelled(fam("gemma3"), "mlp.down_proj.weight"));
    ck_assert(arch_scale_cancelled(fam("gemma3_text"), "self_attn.o_proj.weight"));
    ck_assert(arch_scale_cancelled(fam("olmo2"), "self_attn.o_proj.weight"));
    ck_assert(!arch_scale_cancelled(fam("gemma2"), "self_attn.q_proj.weight"));
    ck_assert(!arch_scale_cancelled(fam("gemma2"), "mlp.down_proj.weight.x"));
    ck_assert(!arch_scale_cancelled(fam("llama"), "self_attn.o_proj.weight"));
    ck_assert(!arch_scale_cancelled(fam("gemma"), "mlp.down_proj.weight"));
}
END_TEST

/* ---- configs ---- */

START_TEST(test_for_config)
{
    cJSON *c;

    c = json("{\"model_type\": \"qwen2\", \"architectures\": [\"LlamaForCausalLM\"]}");
    ck_assert_ptr_eq(arch_for_config(T, c), fam("qwen2"));
    cJSON_Delete(c);
    c = json("{\"model_type\": \"RefinedWebModel\", \"architectures\": [\"RWForCausalLM\"]}");
    ck_assert_ptr_eq(arch_for_config(T, c), fam("falcon"));
    cJSON_Delete(c);
    c = json("{\"architectures\": [\"Foo\", \"GPT2LMHeadModel\"]}");
    ck_assert_ptr_eq(arch_for_config(T, c), fam("gpt2"));
    cJSON_Delete(c);
    c = json("{\"model_type\": \"gemma3\", \"text_config\": {\"model_type\": \"gemma3_text\"}}");
    ck_assert_ptr_eq(arch_for_config(T, c), fam("gemma3"));
    cJSON_Delete(c);
    c = json("{\"model_type\": \"wrapper\", \"text_config\": {\"model_type\": \"gemma3_text\"}}");
    ck_assert_ptr_eq(arch_for_config(T, c), fam("gemma3_text"));
    cJSON_Delete(c);
    c = json("{\"model_type\": \"minicpm3\", \"architectures\": [\"MiniCPM3ForCausalLM\"]}");
    ck_assert_ptr_null(arch_for_config(T, c));
    cJSON_Delete(c);
    c = json("[1]");
    ck_assert_ptr_null(arch_for_config(T, c));
    cJSON_Delete(c);
    ck_assert_ptr_null(arch_for_config(T, NULL));
}
END_TEST

START_TEST(test_tied_and_layers)
{
    cJSON *c;

    c = json("{\"tie_word_embeddings\": false, \"num_hidden_layers\": 42}");
    ck_assert(!arch_tied(fam("gemma2"), c));
    ck_assert_int_eq(arch_config_layers(fam("gemma2"), c), 42);
    cJSON_Delete(c);
    c = json("{\"tie_word_embeddings\": null, \"n_layer\": 12}");
    ck_assert(arch_tied(fam("gpt2"), c));
    ck_assert_int_eq(arch_config_layers(fam("gpt2"), c), 12);
    ck_assert_int_eq(arch_config_layers(fam("falcon"), c), 12);
    ck_assert_str_eq(arch_count_key(fam("falcon"), c), "n_layer");
    cJSON_Delete(c);
    c = json("{\"model_type\": \"gemma3\", \"text_config\": {\"num_hidden_layers\": 34,"
             " \"tie_word_embeddings\": false}}");
    ck_assert(!arch_tied(fam("gemma3"), c));
    ck_assert_int_eq(arch_config_layers(fam("gemma3"), c), 34);
    ck_assert_ptr_null(arch_count_key(fam("gemma3"), c));
    cJSON_Delete(c);
    c = json("{\"model_type\": \"gemma3\", \"text_config\": {\"num_hidden_layers\": 34}}");
    ck_assert(arch_tied(fam("gemma3"), c));
    cJSON_Delete(c);
    c = json("{\"num_hidden_layers\": 32.5}");
    ck_assert_int_eq(arch_config_layers(fam("llama"), c), -1);
    cJSON_Delete(c);
    c = json("{\"num_hidden_layers\": -3}");
    ck_assert_int_eq(arch_config_layers(fam("llama"), c), -1);
    cJSON_Delete(c);
    c = json("{\"num_hidden_layers\": \"32\"}");
    ck_assert_int_eq(arch_config_layers(fam("llama"), c), -1);
    cJSON_Delete(c);
}
END_TEST

START_TEST(test_attention_kind)
{
    const arch_family *g2 = fam("gemma2"), *g3 = fam("gemma3_text"), *c2 = fam("cohere2");
    cJSON *c = json("{}");
    unsigned i;

    for (i = 0; i < 12; i++) {
        ck_assert_int_eq(arch_attention_kind(g2, c, i), i % 2 ? 'g' : 's');
        ck_assert_int_eq(arch_attention_kind(g3, c, i), i % 6 == 5 ? 'g' : 's');
        ck_assert_int_eq(arch_attention_kind(c2, c, i), i % 4 == 3 ? 'g' : 's');
        ck_assert_int_eq(arch_attention_kind(fam("llama"), c, i), '?');
    }
    cJSON_Delete(c);
    c = json("{\"sliding_window_pattern\": 3}");
    ck_assert_uint_eq(arch_sliding_period(g3, c), 3);
    ck_assert_uint_eq(arch_sliding_period(fam("llama"), c), 0);
    ck_assert_int_eq(arch_attention_kind(g3, c, 2), 'g');
    ck_assert_int_eq(arch_attention_kind(g3, c, 3), 's');
    cJSON_Delete(c);
    c = json("{\"sliding_window_pattern\": 0}");
    ck_assert_uint_eq(arch_sliding_period(g3, c), 6);
    cJSON_Delete(c);
    c = json("{\"text_config\": {\"layer_types\": [\"full_attention\", \"sliding_attention\","
             " \"chunked_attention\"]}}");
    ck_assert_int_eq(arch_attention_kind(fam("llama"), c, 0), 'g');
    ck_assert_int_eq(arch_attention_kind(fam("llama"), c, 1), 's');
    ck_assert_int_eq(arch_attention_kind(fam("llama"), c, 2), 'g');
    ck_assert_int_eq(arch_attention_kind(g2, c, 3), '?');
    ck_assert_int_eq(arch_attention_kind(g2, c, 4000000000u), '?');
    cJSON_Delete(c);
}
END_TEST

/* ---- real configs: folder -> (family, tied, layers, kinds of 0, 1) ---- */

typedef struct config_row {
    const char *dir, *family;
    bool tied;
    long layers;
    const char *kinds; /* attention kinds of the first layers */
} config_row;

static const config_row CONFIGS[] = {
    { "hf/stories260K", "llama", true, 5, "??" },
    { "hf/tiny-gemma", "gemma", true, 2, "??" },
    { "hf/tiny-gemma2", "gemma2", true, 2, "sg" },
    { "hf/tiny-gemma3", "gemma3_text", true, 3, "ssg" },
    { "hf/tiny-llama", "llama", false, 2, "??" },
    { "hf/tiny-llama-bf16", "llama", false, 2, "??" },
    { "hf/tiny-llama-sharded", "llama", false, 2, "??" },
    { "hf/tiny-llama2-tokenizer", "llama", false, 2, "??" },
    { "hf/tiny-mistral", "mistral", false, 2, "??" },
    { "hf/tiny-phi3", "phi3", true, 2, "??" },
    { "hf/tiny-qwen2", "qwen2", false, 2, "??" },
    { "hf/tiny-qwen3", "qwen3", true, 2, "??" },
    { "headers/Llama-3.1-8B", "llama", false, 32, "??" },
    { "headers/Mistral-7B-v0.1", "mistral", false, 32, "??" },
    { "headers/Qwen2.5-7B", "qwen2", false, 28, "??" },
    /* the config omits tie_word_embeddings: gemma2's default (true) */
    { "headers/gemma-2-9b-it", "gemma2", true, 42, "sgsg" },
};

static cJSON *fixture_json(const char *rel)
{
    char path[8192];
    sut_error err = { "" };
    cJSON *j;

    snprintf(path, sizeof(path), "%s/%s", tu_fixtures(), rel);
    j = sut_json_read_file(path, 64u << 20, &err);
    ck_assert_msg(j != NULL, "%s", err.msg);
    return j;
}

START_TEST(test_real_configs)
{
    const config_row *r = &CONFIGS[_i];
    char rel[512];
    const arch_family *f;
    cJSON *c;
    size_t i;

    if (!tu_fixtures()) {
        tu_skip("fixtures folder absent");
        return;
    }
    snprintf(rel, sizeof(rel), "%s/config.json", r->dir);
    c = fixture_json(rel);
    f = arch_for_config(T, c);
    ck_assert_msg(f == fam(r->family), "%s: family %s", r->dir, f ? f->name : "none");
    ck_assert_msg(arch_tied(f, c) == r->tied, "%s: tied", r->dir);
    ck_assert_int_eq(arch_config_layers(f, c), r->layers);
    for (i = 0; r->kinds[i]; i++)
        ck_assert_msg(arch_attention_kind(f, c, (unsigned)i) == r->kinds[i],
                      "%s: layer %zu kind", r->dir, i);
    cJSON_Delete(c);
}
END_TEST

START_TEST(test_gemma2_9b_index)
{
    const arch_family *f = NULL;
    const cJSON *map, *e;
    long top = -1;
    size_t layer_tensors = 0, head = 0;
    cJSON *c, *idx;

    if (!tu_fixtures()) {
        tu_skip("fixtures folder absent");
        return;
    }
    c = fixture_json("headers/gemma-2-9b-it/config.json");
    idx = fixture_json("headers/gemma-2-9b-it/model.safetensors.index.json");
    f = arch_for_config(T, c);
    map = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
    cJSON_ArrayForEach(e, map) {
        long l = arch_layer_of(f, e->string, NULL, NULL, NULL);

        ck_assert_int_ge(l, -1);
        if (l > top)
            top = l;
        layer_tensors += l >= 0;
        head += l < 0 && arch_is_head(f, e->string);
        ck_assert(!arch_is_output(f, e->string)); /* tied: no lm_head */
    }
    ck_assert_int_eq(top + 1, arch_config_layers(f, c));
    ck_assert_uint_eq(layer_tensors, 42 * 11);
    ck_assert_uint_eq(head, 1); /* model.norm.weight */
    ck_assert_int_eq(arch_attention_kind(f, c, 41), 'g');
    cJSON_Delete(c);
    cJSON_Delete(idx);
}
END_TEST

/* ---- inference ---- */

static const char *const MINICPM3_NAMES[] = {
    "lm_head.weight", "model.embed_tokens.weight",
    "model.layers.0.input_layernorm.weight", "model.layers.0.mlp.down_proj.weight",
    "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
    "model.layers.0.post_attention_layernorm.weight",
    "model.layers.0.self_attn.kv_a_layernorm.weight",
    "model.layers.0.self_attn.kv_a_proj_with_mqa.weight",
    "model.layers.0.self_attn.kv_b_proj.weight", "model.layers.0.self_attn.o_proj.weight",
    "model.layers.0.self_attn.q_a_layernorm.weight", "model.layers.0.self_attn.q_a_proj.weight",
    "model.layers.0.self_attn.q_b_proj.weight", "model.norm.weight",
};

static void check_minicpm3(const arch_family *f)
{
    ck_assert(f->inferred);
    ck_assert_str_eq(f->name, "inferred");
    ck_assert_str_eq(f->layer_pattern, "^model\\.layers\\.(\\d+)\\.(.+)$");
    ck_assert_int_eq(arch_layer_of(f, "model.layers.0.self_attn.kv_b_proj.weight", NULL, NULL, NULL), 0);
    ck_assert_int_eq(arch_layer_of(f, "model.layers.61.mlp.up_proj.weight", NULL, NULL, NULL), 61);
    ck_assert(arch_is_head(f, "model.norm.weight"));
    ck_assert(arch_is_head(f, "lm_head.weight"));
    ck_assert(!arch_is_head(f, "model.embed_tokens.weight"));
    ck_assert_str_eq(f->embed_name, "model.embed_tokens.weight");
    ck_assert_str_eq(f->head_name, "lm_head.weight");
    ck_assert(!f->tie_default);
    ck_assert_str_eq(f->layer_count_key, "num_hidden_layers");
}

/* Issue 10: 3500 head-like names beside a layer stack and no config:
 * PCRE2 refused the listed pattern ("regular expression is too large");
 * the naming rule takes its place. */
START_TEST(test_infer_many_heads)
{
    enum { HEADS = 3500 };
    sut_error err = { "" };
    const char **names = calloc(HEADS + 3, sizeof(*names));
    char (*buf)[32] = calloc(HEADS, sizeof(*buf));
    const arch_family *f;
    size_t i;

    ck_assert_ptr_nonnull(names);
    ck_assert_ptr_nonnull(buf);
    names[0] = "model.layers.0.w";
    names[1] = "model.layers.1.w";
    names[2] = "model.embed_tokens.weight";
    for (i = 0; i < HEADS; i++) {
        snprintf(buf[i], sizeof(buf[i]), "lm_head_%zu.weight", i);
        names[3 + i] = buf[i];
    }
    f = arch_infer(T, names, HEADS + 3, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_int_eq(arch_layer_of(f, "model.layers.1.w", NULL, NULL, NULL), 1);
    ck_assert(arch_is_head(f, "lm_head_3499.weight"));
    ck_assert(arch_is_head(f, "final_norm.weight"));
    ck_assert(!arch_is_head(f, "model.embed_tokens.weight"));
    ck_assert(!arch_is_head(f, "model.embed_norm.weight"));
    free(names);
    free(buf);
}
END_TEST

START_TEST(test_none_family)
{
    sut_error err = { "" };
    const arch_family *f = arch_none(T, &err), *g = arch_none(T, &err);

    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_ptr_eq(f, g);
    ck_assert_str_eq(f->name, "none");
    ck_assert(f->inferred);
    ck_assert_int_eq(arch_layer_of(f, "model.layers.0.w", NULL, NULL, NULL), -1);
    ck_assert(!arch_is_head(f, "lm_head.weight"));
}
END_TEST

START_TEST(test_infer_minicpm3_names)
{
    sut_error err = { "" };
    const arch_family *f = arch_infer(T, MINICPM3_NAMES, 15, &err), *g;

    ck_assert_msg(f != NULL, "%s", err.msg);
    check_minicpm3(f);
    g = arch_infer(T, MINICPM3_NAMES, 15, &err);
    ck_assert_ptr_eq(f, g); /* reused */
    ck_assert_uint_eq(arch_table_count(T), 19);
    ck_assert_ptr_null(arch_by_name(T, "inferred"));
}
END_TEST

START_TEST(test_infer_minicpm3_fixture)
{
    char path[8192];
    sut_error err = { "" };
    const arch_family *f;
    const char **names;
    cJSON *c;
    st_file *st;
    size_t i, n;

    if (!tu_fixtures()) {
        tu_skip("fixtures folder absent");
        return;
    }
    snprintf(path, sizeof(path), "%s/odd/minicpm3/model.safetensors", tu_fixtures());
    st = st_open(path, &err);
    ck_assert_msg(st != NULL, "%s", err.msg);
    n = st_count(st);
    names = malloc(n * sizeof(*names));
    for (i = 0; i < n; i++)
        names[i] = st_at(st, i)->name;
    c = fixture_json("odd/minicpm3/config.json");
    ck_assert_ptr_null(arch_for_config(T, c));
    f = arch_infer(T, names, n, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    check_minicpm3(f);
    ck_assert_int_eq(arch_config_layers(f, c), 62);
    ck_assert(!arch_tied(f, c));
    cJSON_Delete(c);
    free(names);
    st_free(st);
}
END_TEST

START_TEST(test_infer_shapes)
{
    static const char *const gpt2[] = {
        "wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.0.mlp.c_fc.weight",
        "h.1.attn.c_attn.weight", "h.1.mlp.c_fc.weight", "ln_f.weight", "ln_f.bias",
    };
    static const char *const moe[] = {
        "embed.weight", "blocks.0.experts.0.w", "blocks.0.experts.1.w",
        "blocks.0.experts.2.w", "blocks.1.experts.0.w", "blocks.1.norm.weight",
        "final_norm.weight",
    };
    static const char *const seq[] = { "0.weight", "0.bias", "2.weight", "2.bias" };
    static const char *const odd[] = { "a+b.0.x", "a+b.1.x", "c.weight" };
    static const char *const none[] = { "embed.weight", "head.weight" };
    sut_error err = { "" };
    const arch_family *f;

    f = arch_infer(T, gpt2, 8, &err);
    ck_assert_str_eq(f->layer_pattern, "^h\\.(\\d+)\\.(.+)$");
    ck_assert(arch_is_head(f, "ln_f.bias"));
    ck_assert(!arch_is_head(f, "wpe.weight"));
    ck_assert_str_eq(f->embed_name, "wte.weight");
    ck_assert_str_eq(f->head_name, "");
    ck_assert(f->tie_default);

    f = arch_infer(T, moe, 7, &err);
    ck_assert_str_eq(f->layer_pattern, "^blocks\\.(\\d+)\\.(.+)$");
    ck_assert_int_eq(arch_layer_of(f, "blocks.0.experts.2.w", NULL, NULL, NULL), 0);
    ck_assert(arch_is_head(f, "final_norm.weight"));

    f = arch_infer(T, seq, 4, &err);
    ck_assert_str_eq(f->layer_pattern, "^(\\d+)\\.(.+)$");
    ck_assert_int_eq(arch_layer_of(f, "2.bias", NULL, NULL, NULL), 2);

    f = arch_infer(T, odd, 3, &err);
    ck_assert_str_eq(f->layer_pattern, "^a\\+b\\.(\\d+)\\.(.+)$");
    ck_assert_int_eq(arch_layer_of(f, "a+b.1.x", NULL, NULL, NULL), 1);
    ck_assert_int_eq(arch_layer_of(f, "aab.1.x", NULL, NULL, NULL), -1);

    ck_assert_ptr_null(arch_infer(T, none, 2, &err));
    tu_assert_contains(err.msg, "cannot infer the architecture");
    ck_assert_ptr_null(arch_infer(T, none, 0, &err));
}
END_TEST

/* ---- family files ---- */

START_TEST(test_load_example)
{
    sut_error err = { "" };
    const arch_family *f;
    cJSON *c;

    ck_assert_msg(arch_table_load(T, "arches/example-family.json", &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(arch_table_count(T), 21);
    f = fam("internlm2");
    ck_assert_int_eq(arch_layer_of(f, "model.layers.4.attention.wqkv.weight", NULL, NULL, NULL), 4);
    ck_assert(arch_is_head(f, "output.weight"));
    ck_assert(arch_is_output(f, "output.weight"));
    ck_assert(arch_is_embed(f, "model.tok_embeddings.weight"));
    ck_assert(!f->tie_default);
    ck_assert_ptr_null(f->layer_arrays[0]);
    c = json("{\"architectures\": [\"MiniCPM3ForCausalLM\"]}");
    ck_assert_ptr_eq(arch_for_config(T, c), fam("minicpm3"));
    cJSON_Delete(c);
}
END_TEST

START_TEST(test_load_replaces)
{
    sut_error err = { "" };
    const arch_family *old = fam("llama"), *now;
    cJSON *j = json("{\"families\": [{\"name\": \"llama\", \"classes\": [\"LlamaForCausalLM\"],"
                    " \"layer_pattern\": \"^blk\\\\.(\\\\d+)\\\\.(.+)$\","
                    " \"head_pattern\": \"^output\\\\.weight$\", \"embed_name\": \"tok.weight\","
                    " \"head_name\": \"output.weight\", \"sliding_period\": 3}]}");

    ck_assert_msg(arch_table_load_json(T, j, "mine.json", &err) == 0, "%s", err.msg);
    now = fam("llama");
    ck_assert_ptr_ne(now, old);
    ck_assert_uint_eq(arch_table_count(T), 19);
    ck_assert_int_eq(arch_layer_of(now, "blk.3.attn.weight", NULL, NULL, NULL), 3);
    ck_assert(now->tie_default);
    ck_assert_uint_eq(now->sliding_period, 3);
    ck_assert_str_eq(now->layer_count_key, "num_hidden_layers");
    /* the replaced family stays usable */
    ck_assert_int_eq(arch_layer_of(old, "model.layers.3.x", NULL, NULL, NULL), 3);
    cJSON_Delete(j);
}
END_TEST

/* A family file with one defect -> the error it must give. */
typedef struct bad_row {
    const char *json, *msg;
} bad_row;

#define OKF "\"name\": \"x\", \"layer_pattern\": \"^l\\\\.(\\\\d+)\\\\.(.+)$\", " \
            "\"head_pattern\": \"^h$\", \"embed_name\": \"e\", \"head_name\": \"h\""

static const bad_row BAD[] = {
    { "[]", "bad.json: not a JSON object" },
    { "{\"families\": [], \"extra\": 1}", "bad.json: unknown key 'extra'" },
    { "{}", "bad.json: field 'families': missing or not a list" },
    { "{\"families\": {}}", "bad.json: field 'families': missing or not a list" },
    { "{\"families\": [3]}", "bad.json: family #1: not an object" },
    { "{\"families\": [{\"layer_pattern\": \"x\"}]}", "bad.json: family #1: field 'name': missing" },
    { "{\"families\": [{\"name\": 5}]}", "bad.json: family #1: field 'name': not a non-empty string" },
    { "{\"families\": [{" OKF ", \"layer_patern\": \"x\"}]}", "bad.json: family 'x': unknown field 'layer_patern'" },
    { "{\"families\": [{" OKF ", \"inferred\": true}]}", "bad.json: family 'x': unknown field 'inferred'" },
    { "{\"families\": [{\"name\": \"x\", \"head_pattern\": \"h\", \"embed_name\": \"e\", \"head_name\": \"h\"}]}",
      "bad.json: family 'x': field 'layer_pattern': missing" },
    { "{\"families\": [{\"name\": \"x\", \"layer_pattern\": \"^(\\\\d+)\\\\.(.+)$\", \"embed_name\": \"e\", \"head_name\": \"h\"}]}",
      "bad.json: family 'x': field 'head_pattern': missing" },
    { "{\"families\": [{" OKF ", \"layer_arrays\": \"layer_types\"}]}",
      "bad.json: family 'x': field 'layer_arrays': not a list of non-empty strings" },
    { "{\"families\": [{" OKF ", \"classes\": [\"A\", 1]}]}",
      "bad.json: family 'x': field 'classes': not a list of non-empty strings" },
    { "{\"families\": [{" OKF ", \"tie_default\": 1}]}", "bad.json: family 'x': field 'tie_default': not true or false" },
    { "{\"families\": [{" OKF ", \"sliding_period\": -2}]}", "bad.json: family 'x': field 'sliding_period': not a whole number" },
    { "{\"families\": [{" OKF ", \"sliding_period\": 1.5}]}", "bad.json: family 'x': field 'sliding_period': not a whole number" },
    { "{\"families\": [{" OKF ", \"post_norm_pattern\": \"(\"}]}",
      "bad.json: family 'x': field 'post_norm_pattern': does not compile at offset 1: missing closing parenthesis" },
    { "{\"families\": [{\"name\": \"x\", \"layer_pattern\": \"^l\\\\.(\\\\d+)\\\\..+$\", \"head_pattern\": \"h\", \"embed_name\": \"e\", \"head_name\": \"h\"}]}",
      "bad.json: family 'x': field 'layer_pattern': has 1 capture groups, not 2" },
    { "{\"families\": [{\"name\": \"x\", \"layer_pattern\": \"^(l)\\\\.(\\\\d+)\\\\.(.+)$\", \"head_pattern\": \"h\", \"embed_name\": \"e\", \"head_name\": \"h\"}]}",
      "bad.json: family 'x': field 'layer_pattern': has 3 capture groups, not 2" },
    { "{\"families\": [{" OKF "}, {" OKF "}]}", "bad.json: family 'x': defined twice" },
    { "{\"families\": [{\"name\": \"a b\", \"layer_pattern\": \"^(\\\\d+)\\\\.(.+)$\", \"head_pattern\": \"h\", \"embed_name\": \"e\", \"head_name\": \"h\"}]}",
      "bad.json: family 'a b': field 'name': only letters" },
    { "{\"families\": [{\"name\": \"inferred\", \"layer_pattern\": \"^(\\\\d+)\\\\.(.+)$\", \"head_pattern\": \"h\", \"embed_name\": \"e\", \"head_name\": \"h\"}]}",
      "bad.json: family 'inferred': field 'name': 'inferred' is reserved" },
};

START_TEST(test_load_errors)
{
    const bad_row *r = &BAD[_i];
    sut_error err = { "" };
    cJSON *j = json(r->json);

    ck_assert_int_eq(arch_table_load_json(T, j, "bad.json", &err), -1);
    tu_assert_contains(err.msg, r->msg);
    ck_assert_uint_eq(arch_table_count(T), 19);
    ck_assert_ptr_null(arch_by_name(T, "x"));
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_load_file_errors)
{
    const char *dir = tu_tmpdir();
    char path[512];
    sut_error err = { "" };

    snprintf(path, sizeof(path), "%s/none.json", dir);
    ck_assert_int_eq(arch_table_load(T, path, &err), -1);
    tu_assert_contains(err.msg, "none.json: cannot open");
    snprintf(path, sizeof(path), "%s/dup.json", dir);
    tu_write(path, "{\"families\": [], \"families\": []}", 32);
    ck_assert_int_eq(arch_table_load(T, path, &err), -1);
    tu_assert_contains(err.msg, "dup.json: duplicate key 'families'");
    snprintf(path, sizeof(path), "%s/one.json", dir);
    tu_write(path, "{\"families\": [{" OKF ", \"layer_lists\": [7]}]}",
             strlen("{\"families\": [{" OKF ", \"layer_lists\": [7]}]}"));
    ck_assert_int_eq(arch_table_load(T, path, &err), -1);
    tu_assert_contains(err.msg, "one.json: family 'x': field 'layer_lists'");
    unlink(path);
    snprintf(path, sizeof(path), "%s/dup.json", dir);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* ---- threads ---- */

typedef struct worker {
    const arch_family *f;
    long sum;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char name[64];
    int i;

    for (i = 0; i < 20000; i++) {
        snprintf(name, sizeof(name), "model.layers.%d.mlp.up_proj.weight", i % 100);
        w->sum += arch_layer_of(w->f, name, NULL, NULL, NULL);
        w->sum += arch_is_head(w->f, "model.norm.weight");
    }
    return NULL;
}

START_TEST(test_threads)
{
    worker w[4];
    pthread_t th[4];
    int i;

    for (i = 0; i < 4; i++) {
        w[i].f = fam("llama");
        w[i].sum = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_int_eq(w[i].sum, 200L * 4950 + 20000);
    }
}
END_TEST

static Suite *arch_suite(void)
{
    Suite *s = suite_create("arch");
    TCase *tc = tcase_create("arch");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_infer_many_heads);
    tcase_add_test(tc, test_none_family);
    tcase_add_loop_test(tc, test_names, 0, (int)(sizeof(NAMES) / sizeof(NAMES[0])));
    tcase_add_test(tc, test_builtins);
    tcase_add_loop_test(tc, test_defaults, 0, (int)(sizeof(DEFAULTS) / sizeof(DEFAULTS[0])));
    tcase_add_test(tc, test_rename);
    tcase_add_test(tc, test_embed_output);
    tcase_add_test(tc, test_scale_cancelled);
    tcase_add_test(tc, test_for_config);
    tcase_add_test(tc, test_tied_and_layers);
    tcase_add_test(tc, test_attention_kind);
    tcase_add_loop_test(tc, test_real_configs, 0, (int)(sizeof(CONFIGS) / sizeof(CONFIGS[0])));
    tcase_add_test(tc, test_gemma2_9b_index);
    tcase_add_test(tc, test_infer_minicpm3_names);
    tcase_add_test(tc, test_infer_minicpm3_fixture);
    tcase_add_test(tc, test_infer_shapes);
    tcase_add_test(tc, test_load_example);
    tcase_add_test(tc, test_load_replaces);
    tcase_add_loop_test(tc, test_load_errors, 0, (int)(sizeof(BAD) / sizeof(BAD[0])));
    tcase_add_test(tc, test_load_file_errors);
    tcase_add_test(tc, test_threads);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(arch_suite)
