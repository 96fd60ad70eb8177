/* fw_config.c: the forward pass's family table and config.json parsing
 * (see fw_int.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "fw_int.h"

#define DIM_MAX (1u << 24)

#define LLAMA_ATTN \
    [W_ATTN_NORM] = "input_layernorm.weight", \
    [W_Q] = "self_attn.q_proj.weight", [W_K] = "self_attn.k_proj.weight", \
    [W_V] = "self_attn.v_proj.weight", [W_O] = "self_attn.o_proj.weight"
#define LLAMA_MLP \
    [W_GATE] = "mlp.gate_proj.weight", [W_UP] = "mlp.up_proj.weight", \
    [W_DOWN] = "mlp.down_proj.weight"

static const fw_family families[] = {
    {"llama", 0, false, false, false, false, 0, "silu",
     {LLAMA_ATTN, LLAMA_MLP, [W_FFN_NORM] = "post_attention_layernorm.weight"}},
    {"mistral", 0, false, false, false, false, 1, "silu",
     {LLAMA_ATTN, LLAMA_MLP, [W_FFN_NORM] = "post_attention_layernorm.weight"}},
    {"qwen2", 0, false, true, false, false, 0, "silu",
     {LLAMA_ATTN, LLAMA_MLP, [W_FFN_NORM] = "post_attention_layernorm.weight",
      [W_QB] = "self_attn.q_proj.bias", [W_KB] = "self_attn.k_proj.bias",
      [W_VB] = "self_attn.v_proj.bias"}},
    {"gemma", 1, true, false, false, false, 0, "gelu_pytorch_tanh",
     {LLAMA_ATTN, LLAMA_MLP, [W_FFN_NORM] = "post_attention_layernorm.weight"}},
    {"gemma2", 1, true, false, true, true, 2, "gelu_pytorch_tanh",
     {LLAMA_ATTN, LLAMA_MLP,
      [W_ATTN_POST] = "post_attention_layernorm.weight",
      [W_FFN_NORM] = "pre_feedforward_layernorm.weight",
      [W_FFN_POST] = "post_feedforward_layernorm.weight"}},
    {"phi3", 0, false, false, false, false, 1, "silu",
     {[W_ATTN_NORM] = "input_layernorm.weight",
      [W_QKV] = "self_attn.qkv_proj.weight", [W_O] = "self_attn.o_proj.weight",
      [W_FFN_NORM] = "post_attention_layernorm.weight",
      [W_GATE_UP] = "mlp.gate_up_proj.weight", [W_DOWN] = "mlp.down_proj.weight"}},
};

static const fw_family *family_named(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        if (strcmp(families[i].name, name) == 0)
            return &families[i];
    return NULL;
}

/* ---- reading keys ------------------------------------------------------ */

static const cJSON *key(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* A whole number in [1, DIM_MAX] at k, else def when absent (def 0:
 * required). 0 or -1. */
static int get_dim(const cJSON *o, const char *k, size_t def, size_t *out,
                   const char *label, sut_error *err)
{
    const cJSON *v = key(o, k);
    uint64_t u;

    if (!v) {
        if (def)
            *out = def;
        else
            sut_error_set(err, "%s: '%s' is missing", label, k);
        return def ? 0 : -1;
    }
    if (sut_json_u64(v, &u) != 0 || u < 1 || u > DIM_MAX) {
        sut_error_set(err, "%s: '%s' is not a whole number from 1 to %u",
                      label, k, DIM_MAX);
        return -1;
    }
    *out = (size_t)u;
    return 0;
}

/* A finite number at k (> 0 when positive), else def. 0 or -1. */
static int get_num(const cJSON *o, const char *k, double def, bool positive,
                   double *out, const char *label, sut_error *err)
{
    const cJSON *v = key(o, k);

    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        (positive && v->valuedouble <= 0)) {
        sut_error_set(err, "%s: '%s' is not a %snumber", label, k,
                      positive ? "positive " : "");
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

static bool is_true(const cJSON *o, const char *k)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* ---- sections ---------------------------------------------------------- */

static int parse_dims(fw_cfg *c, const cJSON *o, const char *label,
                      sut_error *err)
{
    fw_dims *d = &c->d;
    const cJSON *bos = key(o, "bos_token_id");
    uint64_t u;
    double eps;

    if (get_dim(o, "hidden_size", 0, &d->hidden, label, err) ||
        get_dim(o, "num_hidden_layers", 0, &d->layers, label, err) ||
        get_dim(o, "num_attention_heads", 0, &d->heads, label, err) ||
        get_dim(o, "num_key_value_heads", d->heads, &d->kv_heads, label, err) ||
        get_dim(o, "head_dim", d->hidden / d->heads ? d->hidden / d->heads : 1,
                &d->head_dim, label, err) ||
        get_dim(o, "intermediate_size", 0, &d->intermediate, label, err) ||
        get_dim(o, "vocab_size", 0, &d->vocab, label, err) ||
        get_num(o, "rms_norm_eps", 1e-6, true, &eps, label, err))
        return -1;
    if (d->heads % d->kv_heads != 0) {
        sut_error_set(err, "%s: 'num_attention_heads' %zu is not a multiple of "
                      "'num_key_value_heads' %zu", label, d->heads, d->kv_heads);
        return -1;
    }
    d->max_ctx = 0;
    if (key(o, "max_position_embeddings") &&
        get_dim(o, "max_position_embeddings", 0, &d->max_ctx, label, err))
        return -1;
    d->bos = bos && sut_json_u64(bos, &u) == 0 && u < d->vocab ? (int)u : -1;
    c->eps = (float)eps;
    return 0;
}

static int parse_act(fw_cfg *c, const cJSON *o, const char *label,
                     sut_error *err)
{
    const char *k = key(o, "hidden_activation") ? "hidden_activation" : "hidden_act";
    const cJSON *v = key(o, k);
    const char *a = v ? cJSON_GetStringValue(v) : c->fam->act;

    if (!a) {
        sut_error_set(err, "%s: '%s' is not a string", label, k);
        return -1;
    }
    if (strcmp(a, "silu") == 0 || strcmp(a, "swish") == 0)
        c->act = KN_SILU;
    else if (strcmp(a, "gelu_pytorch_tanh") == 0 || strcmp(a, "gelu_new") == 0)
        c->act = KN_GELU_TANH;
    else if (strcmp(a, "gelu") == 0)
        c->act = KN_GELU;
    else {
        sut_error_set(err, "%s: '%s' \"%s\" is not implemented by the forward "
                      "pass (silu, gelu, gelu_pytorch_tanh)", label, k, a);
        return -1;
    }
    return 0;
}

/* inv_freq under rope_scaling "linear" or "llama3" (transformers'
 * _compute_llama3_parameters). */
static int scale_rope(fw_cfg *c, const cJSON *rs, const char *label,
                      sut_error *err)
{
    const char *type = cJSON_GetStringValue(key(rs, "rope_type"));
    double factor, lo, hi, orig;
    size_t i;

    if (!type)
        type = cJSON_GetStringValue(key(rs, "type"));
    if (!type) {
        sut_error_set(err, "%s: 'rope_scaling' has no type", label);
        return -1;
    }
    if (strcmp(type, "default") == 0)
        return 0;
    if (strcmp(type, "linear") != 0 && strcmp(type, "llama3") != 0) {
        sut_error_set(err, "%s: 'rope_scaling' type \"%s\" is not implemented "
                      "by the forward pass (linear, llama3)", label, type);
        return -1;
    }
    if (!key(rs, "factor")) {
        sut_error_set(err, "%s: 'rope_scaling' has no factor", label);
        return -1;
    }
    if (get_num(rs, "factor", 1, true, &factor, label, err))
        return -1;
    if (strcmp(type, "linear") == 0) {
        for (i = 0; i < c->rot / 2; i++)
            c->inv_freq[i] = (float)(c->inv_freq[i] / factor);
        return 0;
    }
    if (get_num(rs, "low_freq_factor", 1, true, &lo, label, err) ||
        get_num(rs, "high_freq_factor", 4, true, &hi, label, err) ||
        get_num(rs, "original_max_position_embeddings", 8192, true, &orig,
                label, err))
        return -1;
    if (hi <= lo) {
        sut_error_set(err, "%s: 'rope_scaling' high_freq_factor is not above "
                      "low_freq_factor", label);
        return -1;
    }
    for (i = 0; i < c->rot / 2; i++) {
        double f = c->inv_freq[i], wavelen = 2 * M_PI / f;
        if (wavelen > orig / lo)
            f = f / factor;
        else if (wavelen >= orig / hi) {
            double smooth = (orig / wavelen - lo) / (hi - lo);
            f = (1 - smooth) * f / factor + smooth * f;
        }
        c->inv_freq[i] = (float)f;
    }
    return 0;
}

static int parse_rope(fw_cfg *c, const cJSON *o, const char *label,
                      sut_error *err)
{
    double theta, partial;
    const cJSON *rs = key(o, "rope_scaling");
    size_t i;

    if (get_num(o, "rope_theta", 10000.0, true, &theta, label, err) ||
        get_num(o, "partial_rotary_factor", 1.0, true, &partial, label, err))
        return -1;
    c->rot = (size_t)((double)c->d.head_dim * partial);
    if (partial > 1 || c->rot < 2 || c->rot % 2) {
        sut_error_set(err, "%s: 'partial_rotary_factor' %g of head_dim %zu "
                      "is not an even number of dimensions", label, partial,
                      c->d.head_dim);
        return -1;
    }
    if (!(c->inv_freq = malloc(c->rot / 2 * sizeof(float)))) {
        sut_error_set(err, "%s: out of memory", label);
        return -1;
    }
    for (i = 0; i < c->rot / 2; i++) {
        float e = (float)(2 * i) / (float)c->rot;
        c->inv_freq[i] = (float)(1.0 / pow(theta, (double)e));
    }
    if (rs && !cJSON_IsObject(rs)) {
        sut_error_set(err, "%s: 'rope_scaling' is not an object", label);
        return -1;
    }
    return rs ? scale_rope(c, rs, label, err) : 0;
}

static int parse_attention(fw_cfg *c, const cJSON *o, const char *label,
                           sut_error *err)
{
    double scalar = (double)c->d.head_dim, cap = 0, fcap = 0, window = 0;

    if (c->fam->query_scalar &&
        get_num(o, "query_pre_attn_scalar", 256, true, &scalar, label, err))
        return -1;
    if (c->fam->softcaps &&
        (get_num(o, "attn_logit_softcapping", 0, true, &cap, label, err) ||
         get_num(o, "final_logit_softcapping", 0, true, &fcap, label, err)))
        return -1;
    if (c->fam->sliding &&
        get_num(o, "sliding_window", c->fam->sliding == 2 ? 4096 : 0, true,
                &window, label, err))
        return -1;
    c->attn_scale = (float)(1.0 / sqrt(scalar));
    c->attn_cap = (float)cap;
    c->final_cap = (float)fcap;
    c->window = window >= (double)SIZE_MAX ? 0 : (size_t)window;
    return 0;
}

/* Config values the pass does not implement. 0, or -1 naming the key. */
static int refuse_unknown(const fw_cfg *c, const cJSON *o, const char *label,
                          sut_error *err)
{
    const char *k = NULL;

    if (is_true(o, "use_sliding_window"))
        k = "use_sliding_window";
    else if (!c->fam->qkv_bias && is_true(o, "attention_bias"))
        k = "attention_bias";
    else if (is_true(o, "mlp_bias"))
        k = "mlp_bias";
    if (k) {
        sut_error_set(err, "%s: '%s' true is not implemented by the forward "
                      "pass", label, k);
        return -1;
    }
    return 0;
}

int fw_cfg_parse(fw_cfg *c, const cJSON *config, const char *label,
                 sut_error *err)
{
    const char *type = cJSON_GetStringValue(key(config, "model_type"));

    memset(c, 0, sizeof(*c));
    if (!type) {
        sut_error_set(err, "%s: no 'model_type': the forward pass needs the "
                      "family", label);
        return -1;
    }
    if (!(c->fam = family_named(type))) {
        sut_error_set(err, "%s: model_type '%s' is not implemented by the "
                      "forward pass (llama, mistral, qwen2, gemma, gemma2, phi3)",
                      label, type);
        return -1;
    }
    if (parse_dims(c, config, label, err) || parse_act(c, config, label, err) ||
        parse_rope(c, config, label, err) ||
        parse_attention(c, config, label, err) ||
        refuse_unknown(c, config, label, err)) {
        fw_cfg_release(c);
        return -1;
    }
    c->norm_offset = c->fam->norm_offset;
    return 0;
}

void fw_cfg_release(fw_cfg *c)
{
    free(c->inv_freq);
    c->inv_freq = NULL;
}

bool fw_cfg_sliding(const fw_cfg *c, size_t i)
{
    return c->window && (c->fam->sliding == 1 ||
                         (c->fam->sliding == 2 && i % 2 == 0));
}
