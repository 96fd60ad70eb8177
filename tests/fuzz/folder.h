/* folder.h: a small valid model folder for the folder fuzzers: config.json
 * (llama, 2 layers) and two shards; fuzz_index and fuzz_config replace one
 * of its files with the input and open it. */
#ifndef SUTURE_FUZZ_FOLDER_H
#define SUTURE_FUZZ_FOLDER_H

#include "fuzz.h"
#include "suture/model.h"
#include "suture/audit.h"
#include "cli/json_out.h"

#define FZ_SHARD1 "model-00001-of-00002.safetensors"
#define FZ_SHARD2 "model-00002-of-00002.safetensors"
#define FZ_F32(name, shape, b, e)                                             \
    "\"" name "\":{\"dtype\":\"F32\",\"shape\":" shape                        \
    ",\"data_offsets\":[" #b "," #e "]}"

static const char FZ_CONFIG[] =
    "{\"model_type\":\"llama\",\"architectures\":[\"LlamaForCausalLM\"],"
    "\"hidden_size\":2,\"intermediate_size\":2,\"num_attention_heads\":1,"
    "\"num_hidden_layers\":2,\"vocab_size\":2,\"tie_word_embeddings\":false}";

static const char FZ_INDEX[] =
    "{\"metadata\":{\"total_size\":56},\"weight_map\":{"
    "\"model.embed_tokens.weight\":\"" FZ_SHARD1 "\","
    "\"model.layers.0.mlp.up_proj.weight\":\"" FZ_SHARD1 "\","
    "\"model.layers.1.mlp.up_proj.weight\":\"" FZ_SHARD2 "\","
    "\"model.norm.weight\":\"" FZ_SHARD2 "\","
    "\"lm_head.weight\":\"" FZ_SHARD2 "\"}}";

/* Writes the shards and their index (and config.json when with_config)
 * into dir. */
static inline void fz_model_files(const char *dir, int with_config)
{
    fz_shard(dir, FZ_SHARD1,
             "{\"__metadata__\":{\"format\":\"pt\"},"
             FZ_F32("model.embed_tokens.weight", "[2,2]", 0, 16) ","
             FZ_F32("model.layers.0.mlp.up_proj.weight", "[2]", 16, 24) "}",
             24);
    fz_shard(dir, FZ_SHARD2,
             "{" FZ_F32("model.layers.1.mlp.up_proj.weight", "[2]", 0, 8) ","
             FZ_F32("model.norm.weight", "[2]", 8, 16) ","
             FZ_F32("lm_head.weight", "[2,2]", 16, 32) "}",
             32);
    fz_write(dir, "model.safetensors.index.json", FZ_INDEX, sizeof(FZ_INDEX) - 1);
    if (with_config)
        fz_write(dir, "config.json", FZ_CONFIG, sizeof(FZ_CONFIG) - 1);
}

/* The invariants of an opened model. */
static inline void fz_check_model(const model *m)
{
    size_t i, n = model_tensor_count(m), seen = 0;
    unsigned l;

    FZ_CHECK(model_arch(m) != NULL);
    for (i = 0; i < n; i++) {
        const model_tensor *t = model_tensor_at(m, i);
        FZ_CHECK(model_find(m, t->t->name) == t);
        FZ_CHECK(t->shard < model_shard_count(m));
        FZ_CHECK((t->role == MODEL_LAYER) == (t->layer >= 0));
        FZ_CHECK(t->layer < (long)model_layer_count(m));
    }
    for (l = 0; l < model_layer_count(m); l++) {
        size_t k, c;
        const size_t *idx = model_layer_tensors(m, l, &c);
        for (k = 0; k < c; k++)
            FZ_CHECK(idx[k] < n && model_tensor_at(m, idx[k])->layer == (long)l);
        seen += c;
    }
    for (i = 0; i < model_issue_count(m); i++)
        FZ_CHECK_MSG(model_issue_at(m, i)->message);
    (void)seen;
}

/* Audits dir (one hashing thread) and checks the report. */
static inline void fz_audit(const char *dir, arch_table *t)
{
    audit_options opt = { .threads = 1 };
    sut_error err = {{0}};
    audit_report *r = audit_run(dir, t, &opt, &err);
    size_t i;

    if (!r) {
        FZ_CHECK_MSG(err.msg);
        return;
    }
    for (i = 0; i < audit_finding_count(r); i++)
        FZ_CHECK_MSG(audit_finding_at(r, i)->message);
    cJSON_Delete(cli_json_audit(r));
    audit_free(r);
}

#endif
