/* amodel.h: model folders written tensor by tensor for the audit, trim and
 * verify tests. Every tensor's values follow from its seed, so two tensors
 * with the same seed, dtype and shape hold the same bytes: a layer copied
 * from another is the other's seeds under its own names. A test builds the
 * list (am_decoder), breaks what it wants (remove a tensor, change a seed,
 * a shape, the config), writes it (am_write), and edits the index after. */
#ifndef SUTURE_AMODEL_H
#define SUTURE_AMODEL_H

#include <stdint.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "testutil.h"
#include "suture/safetensors.h"
#include "suture/convert.h"

#define AM_MAX 800
#define AM_VOCAB 16
#define AM_HIDDEN 8
#define AM_INTER 12

typedef struct am_tensor {
    char name[128];
    st_dtype dtype;
    size_t ndim;
    uint64_t shape[2];
    unsigned seed;
    unsigned shard;            /* 0-based */
    float scale;               /* 0 or 1: none; else values are the F32
                                  value times scale, as cv_apply scales */
} am_tensor;

typedef struct am_model {
    am_tensor t[AM_MAX];
    size_t n;
    unsigned shards;           /* 1: model.safetensors; more: an index */
    char config[2048];         /* config.json, or "" for none */
    const char *meta_key;      /* one more __metadata__ entry per shard */
    const char *meta_value[8]; /* its value for each shard (NULL: none) */
    const char *meta_key2;
    const char *meta_value2[8];
} am_model;

static inline am_tensor *am_add(am_model *m, const char *name, st_dtype dt,
                                size_t ndim, uint64_t a, uint64_t b,
                                unsigned seed)
{
    am_tensor *t = &m->t[m->n++];

    ck_assert_uint_le(m->n, AM_MAX);
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->dtype = dt;
    t->ndim = ndim;
    t->shape[0] = a;
    t->shape[1] = b;
    t->seed = seed;
    t->shard = 0;
    t->scale = 0;
    return t;
}

static inline am_tensor *am_find(am_model *m, const char *name)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        if (strcmp(m->t[i].name, name) == 0)
            return &m->t[i];
    return NULL;
}

static inline void am_remove(am_model *m, const char *name)
{
    am_tensor *t = am_find(m, name);

    ck_assert_msg(t != NULL, "no tensor %s", name);
    memmove(t, t + 1, (size_t)(&m->t[m->n] - (t + 1)) * sizeof(*t));
    m->n--;
}

/* The seed of tensor k of layer l in am_decoder. */
static inline unsigned am_layer_seed(unsigned l, unsigned k)
{
    return 1000 + l * 16 + k;
}

/* The names within a layer of am_decoder, NULL-terminated. */
static const char *const am_locals[] = {
    "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight",
    "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
    "mlp.down_proj.weight", NULL
};

static inline void am_layer_shape(unsigned k, size_t *ndim, uint64_t *a, uint64_t *b)
{
    static const uint64_t shapes[][2] = {
        {AM_HIDDEN, 0}, {AM_HIDDEN, AM_HIDDEN}, {4, AM_HIDDEN}, {4, AM_HIDDEN},
        {AM_HIDDEN, AM_HIDDEN}, {AM_HIDDEN, 0}, {AM_INTER, AM_HIDDEN},
        {AM_INTER, AM_HIDDEN}, {AM_HIDDEN, AM_INTER}
    };

    *a = shapes[k][0];
    *b = shapes[k][1];
    *ndim = *b ? 2 : 1;
}

/* Layer `out` holds layer `src`'s values (a copy of it). */
static inline void am_copy_layer(am_model *m, unsigned out, unsigned src)
{
    size_t i, k;
    char prefix[48];

    snprintf(prefix, sizeof(prefix), "model.layers.%u.", out);
    for (i = 0; i < m->n; i++) {
        if (strncmp(m->t[i].name, prefix, strlen(prefix)) != 0)
            continue;
        for (k = 0; am_locals[k]; k++)
            if (strcmp(m->t[i].name + strlen(prefix), am_locals[k]) == 0)
                m->t[i].seed = am_layer_seed(src, (unsigned)k);
    }
}

/* A Llama-named decoder (types llama, gemma, gemma2...) of `layers`
 * layers: embeddings (seed 1), layers, final norm (seed 2), and lm_head
 * (seed 3) when head. F32, vocab 16, hidden 8, 2 heads of 4, 1 KV head,
 * intermediate 12. The config states tie_word_embeddings = tied. */
static inline void am_decoder(am_model *m, const char *type, unsigned layers,
                              bool head, bool tied)
{
    unsigned l, k;

    memset(m, 0, sizeof(*m));
    m->shards = 1;
    am_add(m, "model.embed_tokens.weight", ST_F32, 2, AM_VOCAB, AM_HIDDEN, 1);
    for (l = 0; l < layers; l++)
        for (k = 0; am_locals[k]; k++) {
            char name[128];
            size_t nd;
            uint64_t a, b;
            am_layer_shape(k, &nd, &a, &b);
            snprintf(name, sizeof(name), "model.layers.%u.%s", l, am_locals[k]);
            am_add(m, name, ST_F32, nd, a, b, am_layer_seed(l, k));
        }
    am_add(m, "model.norm.weight", ST_F32, 1, AM_HIDDEN, 0, 2);
    if (head)
        am_add(m, "lm_head.weight", ST_F32, 2, AM_VOCAB, AM_HIDDEN, 3);
    snprintf(m->config, sizeof(m->config),
             "{\"architectures\": [\"%s\"], \"model_type\": \"%s\", "
             "\"hidden_size\": %d, \"intermediate_size\": %d, "
             "\"num_hidden_layers\": %u, \"num_attention_heads\": 2, "
             "\"num_key_value_heads\": 1, \"head_dim\": 4, \"vocab_size\": %d, "
             "\"tie_word_embeddings\": %s}",
             strcmp(type, "llama") == 0 ? "LlamaForCausalLM"
             : strcmp(type, "gemma") == 0 ? "GemmaForCausalLM"
             : strcmp(type, "gemma2") == 0 ? "Gemma2ForCausalLM" : "Unknown",
             type, AM_HIDDEN, AM_INTER, layers, AM_VOCAB, tied ? "true" : "false");
}

/* Puts the tensors of the second half of the list in shard 1 (of 2). */
static inline void am_two_shards(am_model *m)
{
    size_t i;

    m->shards = 2;
    for (i = 0; i < m->n; i++)
        m->t[i].shard = i >= m->n / 2;
}

/* Element i of a tensor with seed s, as a float in [-0.1, 0.1]. */
static inline float am_value(unsigned s, uint64_t i)
{
    uint64_t x = (uint64_t)s * 0x9E3779B97F4A7C15ULL + i * 0xBF58476D1CE4E5B9ULL + 1;

    x ^= x >> 31;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 29;
    return (float)((int)(x % 2001) - 1000) / 10000.0f;
}

static inline uint64_t am_elements(const am_tensor *t)
{
    return t->ndim == 1 ? t->shape[0] : t->ndim == 2 ? t->shape[0] * t->shape[1] : 1;
}

static inline void am_write_data(st_writer *w, const am_tensor *t)
{
    sut_error err;
    uint64_t i, n = am_elements(t);
    unsigned char buf[8];

    for (i = 0; i < n; i++) {
        float f = am_value(t->seed, i);
        size_t size = t->dtype == ST_F32 ? 4 : 2;
        uint16_t h;
        if (t->scale != 0 && t->scale != 1)
            f = f * t->scale;
        h = t->dtype == ST_BF16 ? cv_f32_to_bf16(f) : cv_f32_to_f16(f);
        if (size == 4)
            memcpy(buf, &f, 4);
        else
            memcpy(buf, &h, 2);
        ck_assert_msg(st_writer_write(w, buf, size, &err) == 0, "%s", err.msg);
    }
}

static inline const char *am_shard_name(const am_model *m, unsigned s, char *buf,
                                        size_t size)
{
    if (m->shards == 1)
        snprintf(buf, size, "model.safetensors");
    else
        snprintf(buf, size, "model-%05u-of-%05u.safetensors", s + 1, m->shards);
    return buf;
}

static inline void am_write_shard(const am_model *m, const char *dir, unsigned s)
{
    char name[64], path[512];
    sut_error err;
    st_writer *w;
    size_t i;

    snprintf(path, sizeof(path), "%s/%s", dir, am_shard_name(m, s, name, sizeof(name)));
    w = st_writer_create(path, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    if (m->meta_key && m->meta_value[s])
        ck_assert_int_eq(st_writer_meta(w, m->meta_key, m->meta_value[s], &err), 0);
    if (m->meta_key2 && m->meta_value2[s])
        ck_assert_int_eq(st_writer_meta(w, m->meta_key2, m->meta_value2[s], &err), 0);
    for (i = 0; i < m->n; i++)
        if (m->t[i].shard == s)
            ck_assert_msg(st_writer_add(w, m->t[i].name, m->t[i].dtype, m->t[i].ndim,
                                        m->t[i].shape, &err) == 0, "%s", err.msg);
    ck_assert_msg(st_writer_begin(w, &err) == 0, "%s", err.msg);
    for (i = 0; i < m->n; i++)
        if (m->t[i].shard == s)
            am_write_data(w, &m->t[i]);
    ck_assert_msg(st_writer_finish(w, &err) == 0, "%s", err.msg);
    st_writer_free(w);
}

static inline void am_write_json(const char *path, cJSON *root)
{
    char *text = cJSON_Print(root);

    ck_assert_ptr_nonnull(text);
    tu_write(path, text, strlen(text));
    free(text);
    cJSON_Delete(root);
}

static inline void am_write_index(const am_model *m, const char *dir)
{
    cJSON *root = cJSON_CreateObject(), *meta, *wm;
    char path[512], name[64];
    uint64_t total = 0;
    size_t i;

    meta = cJSON_AddObjectToObject(root, "metadata");
    wm = cJSON_AddObjectToObject(root, "weight_map");
    for (i = 0; i < m->n; i++) {
        total += am_elements(&m->t[i]) * (m->t[i].dtype == ST_F32 ? 4 : 2);
        cJSON_AddStringToObject(wm, m->t[i].name,
                                am_shard_name(m, m->t[i].shard, name, sizeof(name)));
    }
    cJSON_AddNumberToObject(meta, "total_size", (double)total);
    snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
    am_write_json(path, root);
}

/* Writes the folder dir (which must exist). */
static inline void am_write(const am_model *m, const char *dir)
{
    char path[512];
    unsigned s;

    for (s = 0; s < m->shards; s++)
        am_write_shard(m, dir, s);
    if (m->shards > 1)
        am_write_index(m, dir);
    if (m->config[0]) {
        snprintf(path, sizeof(path), "%s/config.json", dir);
        tu_write(path, m->config, strlen(m->config));
    }
}

/* A new folder holding m. Static buffer, as tu_tmpdir. */
static inline const char *am_folder(const am_model *m)
{
    const char *dir = tu_tmpdir();

    am_write(m, dir);
    return dir;
}

/* Reads dir's index, lets edit change it, writes it back. */
static inline void am_edit_index(const char *dir, void (*edit)(cJSON *root, const void *arg),
                                 const void *arg)
{
    char path[512];
    FILE *f;
    long len;
    char *text;
    cJSON *root;

    snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    text[len] = '\0';
    fclose(f);
    root = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(root);
    edit(root, arg);
    am_write_json(path, root);
}

/* Reads a whole file into a new buffer (caller frees); length in *len. */
static inline unsigned char *am_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

#endif
