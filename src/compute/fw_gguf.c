/* fw_gguf.c: the forward pass's reading of GGUF models (see fw_int.h):
 * llama.cpp's hyperparameter keys as a configuration, its tensor names,
 * and Q8_0 blocks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suture/convert.h"
#include "suture/safetensors.h"
#include "fw_int.h"

/* Local names of each role in a llama.cpp layer (blk.N.). phi3's fused
 * gate and up projection is ffn_up, gate rows first as in transformers. */
static const char *const gguf_names[W_COUNT] = {
    [W_ATTN_NORM] = "attn_norm.weight", [W_Q] = "attn_q.weight",
    [W_K] = "attn_k.weight", [W_V] = "attn_v.weight",
    [W_QKV] = "attn_qkv.weight", [W_QB] = "attn_q.bias",
    [W_KB] = "attn_k.bias", [W_VB] = "attn_v.bias",
    [W_O] = "attn_output.weight", [W_ATTN_POST] = "post_attention_norm.weight",
    [W_FFN_NORM] = "ffn_norm.weight", [W_GATE] = "ffn_gate.weight",
    [W_UP] = "ffn_up.weight", [W_GATE_UP] = "ffn_up.weight",
    [W_DOWN] = "ffn_down.weight", [W_FFN_POST] = "post_ffw_norm.weight",
};

/* llama.cpp's architectures the pass runs (its model_type is the same). */
static const char *const gguf_arches[] = {"llama", "qwen2", "gemma", "gemma2",
                                          "phi3"};

const char *fw_gguf_local(const fw_cfg *c, int r)
{
    return c->fam->names[r] ? gguf_names[r] : NULL;
}

int fw_gguf_dtype(uint32_t type, int *dt)
{
    switch (type) {
    case GGUF_F32: *dt = ST_F32; return 0;
    case GGUF_F16: *dt = ST_F16; return 0;
    case GGUF_BF16: *dt = ST_BF16; return 0;
    case GGUF_Q8_0: *dt = FW_Q8_0; return 0;
    default: return -1;
    }
}

void fw_q8_0_f32(const unsigned char *src, float *dst, size_t blocks,
                 float scale)
{
    size_t b, i;

    for (b = 0; b < blocks; b++, src += FW_Q8_0_BYTES, dst += FW_Q8_0_BLOCK) {
        float d = cv_f16_to_f32((uint16_t)(src[0] | src[1] << 8));
        if (scale != 1.0f)   /* the block scale rounded to F16, as a build does */
            d = cv_f16_to_f32(cv_f32_to_f16(d * scale));
        for (i = 0; i < FW_Q8_0_BLOCK; i++)
            dst[i] = d * (float)(int8_t)src[2 + i];
    }
}

/* ---- metadata -------------------------------------------------------- */

typedef struct meta {
    const gguf_file *f;
    const char *arch, *label;
    cJSON *cfg;
    double rot;        /* rope.dimension_count, or the head size */
} meta;

static const gguf_kv *akv(const meta *m, const char *key, char *name,
                          size_t cap)
{
    snprintf(name, cap, "%s.%s", m->arch, key);
    return gguf_kv_find(m->f, name);
}

/* {arch}.key, a whole number (or an array of equal ones: per-layer keys)
 * into the config as ckey. required: absent is an error. 0 or -1. */
static int put_dim(meta *m, const char *key, const char *ckey, bool required,
                   sut_error *err)
{
    char name[160];
    const gguf_kv *kv = akv(m, key, name, sizeof(name));
    uint64_t v = 0, e, i;

    if (!kv) {
        if (required)
            sut_error_set(err, "%s: '%s' is missing", m->label, name);
        return required ? -1 : 0;
    }
    if (kv->type == GGUF_V_ARRAY) {
        for (i = 0; i < kv->count; i++) {
            if (gguf_kv_arr_u64(kv, i, &e) != 0)
                goto bad;
            if (i > 0 && e != v) {
                sut_error_set(err, "%s: '%s' differs between layers: not "
                              "implemented by the forward pass", m->label, name);
                return -1;
            }
            v = e;
        }
        if (kv->count == 0)
            goto bad;
    } else if (gguf_kv_u64(kv, &v) != 0)
        goto bad;
    if (v > (1ull << 40))
        goto bad;
    cJSON_AddNumberToObject(m->cfg, ckey, (double)v);
    return 0;
bad:
    sut_error_set(err, "%s: '%s' is not a whole number", m->label, name);
    return -1;
}

/* {arch}.key, a number, into the config as ckey (when present). */
static int put_num(meta *m, const char *key, const char *ckey, bool required,
                   double *out, sut_error *err)
{
    char name[160];
    const gguf_kv *kv = akv(m, key, name, sizeof(name));
    double v;

    if (!kv) {
        if (required)
            sut_error_set(err, "%s: '%s' is missing", m->label, name);
        return required ? -1 : 0;
    }
    if (gguf_kv_f64(kv, &v) != 0) {
        sut_error_set(err, "%s: '%s' is not a number", m->label, name);
        return -1;
    }
    if (ckey)
        cJSON_AddNumberToObject(m->cfg, ckey, v);
    if (out)
        *out = v;
    return 0;
}

static double num_of(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* rope.dimension_count and rope scaling (none, linear; others refused). */
static int put_rope(meta *m, const gmodel *g, sut_error *err)
{
    char name[160];
    const gguf_kv *kv = akv(m, "rope.scaling.type", name, sizeof(name));
    const char *type = kv ? gguf_kv_str(kv, NULL) : NULL;
    double hd = num_of(m->cfg, "head_dim",
                       num_of(m->cfg, "hidden_size", 1) /
                       num_of(m->cfg, "num_attention_heads", 1));
    double rot = hd, factor = 0;

    if (put_num(m, "rope.dimension_count", NULL, false, &rot, err) ||
        put_num(m, "rope.freq_base", "rope_theta", false, NULL, err))
        return -1;
    cJSON_AddNumberToObject(m->cfg, "partial_rotary_factor", rot / hd);
    m->rot = rot;
    if (kv && !type) {
        sut_error_set(err, "%s: '%s' is not a string", m->label, name);
        return -1;
    }
    if (type && strcmp(type, "none") != 0 && strcmp(type, "linear") != 0) {
        sut_error_set(err, "%s: '%s' \"%s\" is not implemented by the forward "
                      "pass (none, linear)", m->label, name, type);
        return -1;
    }
    if (type && strcmp(type, "linear") == 0 &&
        put_num(m, "rope.scaling.factor", NULL, true, &factor, err))
        return -1;
    if (!type && put_num(m, "rope.scale_linear", NULL, false, &factor, err))
        return -1;
    if (factor > 0 && factor != 1) {
        cJSON *rs = cJSON_AddObjectToObject(m->cfg, "rope_scaling");
        cJSON_AddStringToObject(rs, "type", "linear");
        cJSON_AddNumberToObject(rs, "factor", factor);
    }
    return 0;
}

/* gemma2's softcaps, window and query scale as llama.cpp runs them
 * (1/sqrt(head_dim), 1/sqrt(hidden/heads) at 46 layers); phi3's window. */
static int put_family(meta *m, sut_error *err)
{
    double v;

    if (strcmp(m->arch, "gemma2") == 0) {
        if (put_num(m, "attn_logit_softcapping", "attn_logit_softcapping",
                    false, NULL, err) ||
            put_num(m, "final_logit_softcapping", "final_logit_softcapping",
                    false, NULL, err))
            return -1;
        v = num_of(m->cfg, "num_hidden_layers", 0) == 46
            ? num_of(m->cfg, "hidden_size", 1) / num_of(m->cfg, "num_attention_heads", 1)
            : num_of(m->cfg, "head_dim", 1);
        cJSON_AddNumberToObject(m->cfg, "query_pre_attn_scalar", v);
    }
    if (strcmp(m->arch, "gemma2") == 0 || strcmp(m->arch, "phi3") == 0)
        return put_num(m, "attention.sliding_window", "sliding_window", false,
                       NULL, err);
    return 0;
}

/* The pass has one head size: value_length must equal key_length. */
static int refuse_value_length(meta *m, sut_error *err)
{
    char kname[160], vname[160];
    const gguf_kv *kk = akv(m, "attention.key_length", kname, sizeof(kname));
    const gguf_kv *vk = akv(m, "attention.value_length", vname, sizeof(vname));
    uint64_t kl = 0, vl = 0;

    if (kk && vk && (gguf_kv_u64(kk, &kl) || gguf_kv_u64(vk, &vl) || kl != vl)) {
        sut_error_set(err, "%s: '%s' differs from '%s': not implemented by "
                      "the forward pass", m->label, vname, kname);
        return -1;
    }
    return 0;
}

/* The config keys of the metadata. */
static int build_keys(meta *m, const gmodel_tensor *emb, sut_error *err)
{
    const gguf_kv *bos = gguf_kv_find(m->f, "tokenizer.ggml.bos_token_id");
    uint64_t u;

    cJSON_AddStringToObject(m->cfg, "model_type", m->arch);
    cJSON_AddNumberToObject(m->cfg, "vocab_size", (double)emb->t->ne[1]);
    if (bos && gguf_kv_u64(bos, &u) == 0 && u < emb->t->ne[1])
        cJSON_AddNumberToObject(m->cfg, "bos_token_id", (double)u);
    if (put_dim(m, "embedding_length", "hidden_size", true, err) ||
        put_dim(m, "block_count", "num_hidden_layers", true, err) ||
        put_dim(m, "attention.head_count", "num_attention_heads", true, err) ||
        put_dim(m, "attention.head_count_kv", "num_key_value_heads", false, err) ||
        put_dim(m, "attention.key_length", "head_dim", false, err) ||
        put_dim(m, "feed_forward_length", "intermediate_size", true, err) ||
        put_dim(m, "context_length", "max_position_embeddings", false, err) ||
        put_num(m, "attention.layer_norm_rms_epsilon", "rms_norm_eps", true,
                NULL, err))
        return -1;
    return 0;
}

/* The config.json the metadata stands for (put_rope and put_family are
 * applied by the caller). */
static int build(meta *m, const gmodel *g, sut_error *err)
{
    const gmodel_tensor *emb = gmodel_find(g, "token_embd.weight");
    char name[160];

    if (!emb || emb->t->ndim != 2) {
        sut_error_set(err, "%s: tensor 'token_embd.weight' is %s", m->label,
                      emb ? "not a matrix" : "missing");
        return -1;
    }
    if (akv(m, "expert_count", name, sizeof(name)) &&
        gguf_get_u64(m->f, name, 0) > 0) {
        sut_error_set(err, "%s: '%s': mixtures of experts are not implemented "
                      "by the forward pass", m->label, name);
        return -1;
    }
    if (gmodel_find(g, "rope_factors_long.weight") ||
        gmodel_find(g, "rope_factors_short.weight")) {
        sut_error_set(err, "%s: tensors 'rope_factors_long/short.weight' "
                      "(LongRoPE) are not implemented by the forward pass",
                      m->label);
        return -1;
    }
    return refuse_value_length(m, err) ? -1 : build_keys(m, emb, err);
}

/* The config keys build writes and the metadata keys they come from. */
static const char *const key_map[][2] = {
    {"hidden_size", "embedding_length"},
    {"num_hidden_layers", "block_count"},
    {"num_attention_heads", "attention.head_count"},
    {"num_key_value_heads", "attention.head_count_kv"},
    {"head_dim", "attention.key_length"},
    {"intermediate_size", "feed_forward_length"},
    {"max_position_embeddings", "context_length"},
    {"rms_norm_eps", "attention.layer_norm_rms_epsilon"},
    {"rope_theta", "rope.freq_base"},
    {"partial_rotary_factor", "rope.dimension_count"},
    {"sliding_window", "attention.sliding_window"},
    {"attn_logit_softcapping", "attn_logit_softcapping"},
    {"final_logit_softcapping", "final_logit_softcapping"},
};

/* Rewrites fw_cfg_parse's message about config key 'k' to name the
 * metadata key '{arch}.K' it came from. */
static void name_metadata(sut_error *err, const char *arch)
{
    size_t i;

    for (i = 0; err && i < sizeof(key_map) / sizeof(key_map[0]); i++) {
        char from[64], to[160], out[SUT_ERROR_MAX], *at;
        snprintf(from, sizeof(from), "'%s'", key_map[i][0]);
        if (!(at = strstr(err->msg, from)))
            continue;
        snprintf(to, sizeof(to), "'%s.%s'", arch, key_map[i][1]);
        snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - err->msg), err->msg,
                 to, at + strlen(from));
        memcpy(err->msg, out, sizeof(out));
        i--;   /* the same key may appear twice */
    }
}

static bool known_arch(const char *a)
{
    size_t i;

    for (i = 0; i < sizeof(gguf_arches) / sizeof(gguf_arches[0]); i++)
        if (strcmp(a, gguf_arches[i]) == 0)
            return true;
    return false;
}

/* rope_freqs.weight, when present (llama.cpp's form of Llama-3.1's
 * rope_scaling): rot / 2 F32 factors each frequency is divided by. */
static int rope_factors(fw_cfg *c, const gmodel *g, sut_error *err)
{
    const gmodel_tensor *gt = gmodel_find(g, "rope_freqs.weight");
    const gguf_file *gf;
    size_t i, n = c->rot / 2;
    float *v;
    ssize_t got = -1;
    int fd;

    if (!gt)
        return 0;
    gf = gguf_set_file(gmodel_set(g), gt->file);
    if (gt->t->type != GGUF_F32 || gt->t->ndim != 1 || gt->t->ne[0] != n) {
        sut_error_set(err, "%s: tensor 'rope_freqs.weight' is not %zu F32 "
                      "factors", gguf_path(gf), n);
        return -1;
    }
    if (!(v = malloc(n * sizeof(float)))) {
        sut_error_set(err, "%s: out of memory", gguf_path(gf));
        return -1;
    }
    if ((fd = open(gguf_path(gf), O_RDONLY | O_CLOEXEC)) >= 0) {
        got = pread(fd, v, n * sizeof(float),
                    (off_t)(gguf_data_start(gf) + gt->t->offset));
        close(fd);
    }
    if (got != (ssize_t)(n * sizeof(float))) {
        sut_error_set(err, "%s: tensor 'rope_freqs.weight': %s", gguf_path(gf),
                      got < 0 ? strerror(errno) : "file ends inside the data");
        free(v);
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (!(v[i] > 0) || v[i] > 1e30f) {
            sut_error_set(err, "%s: tensor 'rope_freqs.weight': factor %zu is "
                          "not a positive number", gguf_path(gf), i);
            free(v);
            return -1;
        }
        c->inv_freq[i] /= v[i];
    }
    free(v);
    return 0;
}

int fw_gguf_cfg(fw_cfg *c, const gmodel *g, sut_error *err)
{
    meta m = {gmodel_meta(g), gmodel_arch(g), gmodel_path(g), NULL, 0};
    int rc;

    memset(c, 0, sizeof(*c));
    if (!m.arch) {
        sut_error_set(err, "%s: no 'general.architecture': the forward pass "
                      "needs the family", m.label);
        return -1;
    }
    if (!known_arch(m.arch)) {
        sut_error_set(err, "%s: general.architecture '%s' is not implemented "
                      "by the forward pass (llama, qwen2, gemma, gemma2, phi3)",
                      m.label, m.arch);
        return -1;
    }
    if (!(m.cfg = cJSON_CreateObject())) {
        sut_error_set(err, "%s: out of memory", m.label);
        return -1;
    }
    rc = build(&m, g, err) || put_rope(&m, g, err) || put_family(&m, err) ? -1 : 0;
    if (rc == 0 && fw_cfg_parse(c, m.cfg, m.label, err) != 0) {
        name_metadata(err, m.arch);
        rc = -1;
    }
    cJSON_Delete(m.cfg);
    if (rc)
        return -1;
    c->norm_offset = 0;  /* llama.cpp's converter stores gemma norms + 1 */
    c->unpermute = strcmp(m.arch, "llama") == 0;
    if ((double)c->rot != m.rot) {
        sut_error_set(err, "%s: '%s.rope.dimension_count' %g is not an even "
                      "number of dimensions up to the head size %zu", m.label,
                      m.arch, m.rot, c->d.head_dim);
        fw_cfg_release(c);
        return -1;
    }
    if (c->unpermute && c->rot != c->d.head_dim) {
        sut_error_set(err, "%s: '%s.rope.dimension_count' %zu below the head "
                      "size %zu is not implemented for llama", m.label, m.arch,
                      c->rot, c->d.head_dim);
        fw_cfg_release(c);
        return -1;
    }
    if (rope_factors(c, g, err)) {
        fw_cfg_release(c);
        return -1;
    }
    return 0;
}
