/* fuzz_config.c: config.json. The input is written as the config of a
 * small valid folder (a single model.safetensors); the folder is opened,
 * every config query of the family is asked, and it is audited. */
#include "folder.h"
#include "suture/cfgedit.h"

static arch_table *table;

/* Rewrites the config for layer maps made from its layer count n: every
 * layer twice, reversed, one layer without a source. */
static void rewrite(const model *m, unsigned n)
{
    long src[128];
    unsigned i, k;

    for (k = 0; k < 3; k++) {
        size_t nout = k == 0 ? 2 * (size_t)n : n, nch = 0, c;
        cfg_change *ch = NULL;
        sut_error err = {{0}};
        cJSON *out;

        for (i = 0; i < nout; i++)
            src[i] = k == 0 ? (long)(i % n) : k == 1 ? (long)(n - 1 - i)
                   : i == 0 ? -1 : (long)i;
        out = cfg_rewrite(model_config(m), model_arch(m), src, nout,
                          k == 1 ? "bfloat16" : NULL, &ch, &nch, &err);
        if (!out)
            FZ_CHECK_MSG(err.msg);
        for (c = 0; c < nch; c++)
            FZ_CHECK(ch[c].key && ch[c].line);
        for (c = 0; c < nch; c++)
            FZ_CHECK_MSG(ch[c].line);
        cfg_changes_free(ch, nch);
        cJSON_Delete(out);
    }
}

static void query(const model *m)
{
    const arch_family *f = model_arch(m);
    const cJSON *cfg = model_config(m);
    long layers = arch_config_layers(f, cfg);
    unsigned i, n = layers > 0 && layers < 64 ? (unsigned)layers : 64;

    (void)model_tied(m);
    (void)arch_count_key(f, cfg);
    (void)arch_sliding_period(f, cfg);
    (void)arch_for_config(table, cfg);
    for (i = 0; i < n; i++) {
        char k = arch_attention_kind(f, cfg, i);
        FZ_CHECK(k == 'g' || k == 's' || k == '?');
    }
    (void)arch_attention_kind(f, cfg, 4294967295u);
    if (cfg && n > 0)
        rewrite(m, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    const char *dir = fz_folder();
    sut_error err = {{0}};
    model *m;

    if (!ready) {
        FZ_CHECK((table = arch_table_new(NULL)) != NULL);
        fz_shard(dir, "model.safetensors",
                 "{" FZ_F32("model.embed_tokens.weight", "[2,2]", 0, 16) ","
                 FZ_F32("model.layers.0.mlp.up_proj.weight", "[2]", 16, 24) ","
                 FZ_F32("model.layers.1.mlp.up_proj.weight", "[2]", 24, 32) ","
                 FZ_F32("model.norm.weight", "[2]", 32, 40) ","
                 FZ_F32("lm_head.weight", "[2,2]", 40, 56) "}",
                 56);
        ready = 1;
    }
    fz_write(dir, "config.json", data, size);
    m = model_open(dir, table, MODEL_STRICT, &err);
    if (m) {
        fz_check_model(m);
        query(m);
    } else {
        FZ_CHECK_MSG(err.msg);
    }
    model_free(m);
    fz_audit(dir, table);
    return 0;
}
