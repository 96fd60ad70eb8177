/* tmodel.h: small synthetic model folders for the plan and build tests
 * (config.json + model.safetensors, or shards with an index), with
 * deterministic values so every tensor of every layer differs. */
#ifndef SUTURE_TMODEL_H
#define SUTURE_TMODEL_H

#include <stdint.h>
#include <stdbool.h>

#include "testutil.h"
#include "suture/safetensors.h"
#include "suture/convert.h"

typedef struct tmodel {
    const char *type;      /* "llama", "mistral", "gemma2" */
    unsigned layers;
    unsigned hidden;       /* default 8 */
    unsigned inter;        /* intermediate size, default 16 */
    unsigned vocab;        /* default 16 */
    st_dtype dtype;        /* F32 (0 means F32), F16, BF16, F64 */
    bool tied;             /* no lm_head, tie_word_embeddings true */
    bool extra0;           /* rotary_emb.inv_freq in layer 0 only */
    bool no_o_proj;        /* layers lack self_attn.o_proj.weight */
    const char *extra_cfg; /* more config keys: "\"k\": v, ..." or NULL */
    unsigned seed;
} tmodel;

struct tm_tensor {
    char name[128];
    uint64_t shape[2];
    size_t ndim;
};

/* The tensors of m in file order. Returns the count. */
static inline size_t tm_list(const tmodel *m, struct tm_tensor *out, size_t max)
{
    unsigned h = m->hidden ? m->hidden : 8, in = m->inter ? m->inter : 16;
    unsigned v = m->vocab ? m->vocab : 16, l;
    bool g2 = strcmp(m->type, "gemma2") == 0;
    size_t n = 0;

#define TM_ADD(nm, a, b, nd)                                                  \
    do {                                                                      \
        ck_assert_uint_lt(n, max);                                            \
        snprintf(out[n].name, sizeof(out[n].name), "%s", nm);                 \
        out[n].shape[0] = a;                                                  \
        out[n].shape[1] = b;                                                  \
        out[n].ndim = nd;                                                     \
        n++;                                                                  \
    } while (0)
    TM_ADD("model.embed_tokens.weight", v, h, 2);
    for (l = 0; l < m->layers; l++) {
        char nm[128];
#define TM_L(local, a, b, nd)                                                 \
        do {                                                                  \
            snprintf(nm, sizeof(nm), "model.layers.%u.%s", l, local);         \
            TM_ADD(nm, a, b, nd);                                             \
        } while (0)
        TM_L("input_layernorm.weight", h, 0, 1);
        TM_L("self_attn.q_proj.weight", h, h, 2);
        if (!m->no_o_proj)
            TM_L("self_attn.o_proj.weight", h, h, 2);
        TM_L("post_attention_layernorm.weight", h, 0, 1);
        if (g2) {
            TM_L("pre_feedforward_layernorm.weight", h, 0, 1);
            TM_L("post_feedforward_layernorm.weight", h, 0, 1);
        }
        TM_L("mlp.down_proj.weight", h, in, 2);
        if (m->extra0 && l == 0)
            TM_L("self_attn.rotary_emb.inv_freq", h / 4 ? h / 4 : 1, 0, 1);
#undef TM_L
    }
    TM_ADD("model.norm.weight", h, 0, 1);
    if (!m->tied)
        TM_ADD("lm_head.weight", v, h, 2);
#undef TM_ADD
    return n;
}

/* The value of element i of tensor k of a model with seed s. */
static inline float tm_value(unsigned s, size_t k, uint64_t i)
{
    uint64_t x = (s + 1) * 2654435761u + k * 40503u + i * 2246822519u;

    x ^= x >> 13;
    return (float)(int)(x % 2001) / 1000.0f - 1.0f;
}

static inline void tm_write_tensor(st_writer *w, const tmodel *m, size_t k,
                                   const struct tm_tensor *t)
{
    st_dtype dt = m->dtype ? m->dtype : ST_F32;
    uint64_t n = t->ndim == 2 ? t->shape[0] * t->shape[1] : t->shape[0], i;
    size_t es = st_dtype_bits(dt) / 8;
    unsigned char *buf = malloc(n * es);
    sut_error err;

    ck_assert_ptr_nonnull(buf);
    for (i = 0; i < n; i++) {
        float f = tm_value(m->seed, k, i);
        if (dt == ST_F64) {
            double d = f;
            memcpy(buf + i * 8, &d, 8);
        } else {
            cv_apply(ST_F32, dt, 1.0f, &f, buf + i * es, 1);
        }
    }
    ck_assert_msg(st_writer_write(w, buf, n * es, &err) == 0, "%s", err.msg);
    free(buf);
}

/* Writes tensors [first, last) of m's list into path. */
static inline void tm_write_file(const char *path, const tmodel *m,
                                 const struct tm_tensor *t, size_t first,
                                 size_t last)
{
    st_dtype dt = m->dtype ? m->dtype : ST_F32;
    st_writer *w;
    sut_error err;
    size_t k;

    w = st_writer_create(path, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    for (k = first; k < last; k++)
        ck_assert_msg(st_writer_add(w, t[k].name, dt, t[k].ndim, t[k].shape, &err) == 0,
                      "%s", err.msg);
    ck_assert_msg(st_writer_begin(w, &err) == 0, "%s", err.msg);
    for (k = first; k < last; k++)
        tm_write_tensor(w, m, k, &t[k]);
    ck_assert_msg(st_writer_finish(w, &err) == 0, "%s", err.msg);
    st_writer_free(w);
}

static inline const char *tm_class(const char *type)
{
    if (strcmp(type, "gemma2") == 0)
        return "Gemma2ForCausalLM";
    if (strcmp(type, "mistral") == 0)
        return "MistralForCausalLM";
    return "LlamaForCausalLM";
}

static inline void tm_write_config(const char *dir, const tmodel *m)
{
    char path[512], text[2048];
    st_dtype dt = m->dtype ? m->dtype : ST_F32;

    snprintf(path, sizeof(path), "%s/config.json", dir);
    snprintf(text, sizeof(text),
             "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n"
             "  \"hidden_size\": %u,\n  \"num_hidden_layers\": %u,\n"
             "  \"vocab_size\": %u,\n  \"tie_word_embeddings\": %s,\n"
             "  %s%s\"torch_dtype\": \"%s\"\n}\n",
             tm_class(m->type), m->type, m->hidden ? m->hidden : 8, m->layers,
             m->vocab ? m->vocab : 16, m->tied ? "true" : "false",
             m->extra_cfg ? m->extra_cfg : "", m->extra_cfg ? ", " : "",
             dt == ST_BF16 ? "bfloat16" : dt == ST_F16 ? "float16" : "float32");
    tu_write(path, text, strlen(text));
}

/* Writes model m into the existing folder dir, in nshards shards (1: a
 * single model.safetensors). */
static inline void tm_make(const char *dir, const tmodel *m, unsigned nshards)
{
    struct tm_tensor t[512];
    size_t n = tm_list(m, t, 512), k, s;
    char path[512];

    tm_write_config(dir, m);
    if (nshards <= 1) {
        snprintf(path, sizeof(path), "%s/model.safetensors", dir);
        tm_write_file(path, m, t, 0, n);
        return;
    }
    {
        char idx[65536];
        size_t o = 0, per = (n + nshards - 1) / nshards;
        uint64_t total = 0, es = st_dtype_bits(m->dtype ? m->dtype : ST_F32) / 8;
        for (k = 0; k < n; k++)
            total += (t[k].ndim == 2 ? t[k].shape[0] * t[k].shape[1] : t[k].shape[0]) * es;
        o += (size_t)snprintf(idx + o, sizeof(idx) - o,
                              "{\"metadata\": {\"total_size\": %llu}, \"weight_map\": {",
                              (unsigned long long)total);
        for (s = 0; s < nshards; s++) {
            size_t first = s * per, last = first + per > n ? n : first + per;
            snprintf(path, sizeof(path), "%s/part-%zu.safetensors", dir, s);
            tm_write_file(path, m, t, first, last);
            for (k = first; k < last; k++)
                o += (size_t)snprintf(idx + o, sizeof(idx) - o, "%s\"%s\": \"part-%zu.safetensors\"",
                                      k ? ", " : "", t[k].name, s);
        }
        snprintf(idx + o, sizeof(idx) - o, "}}");
        snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
        tu_write(path, idx, strlen(idx));
    }
}

/* A new folder under root named name holding model m. Returns its path
 * (static storage, one per call up to 16). */
static inline const char *tm_folder(const char *root, const char *name,
                                    const tmodel *m, unsigned nshards)
{
    static char paths[16][512];
    static unsigned next;
    char *p = paths[next++ % 16];

    snprintf(p, 512, "%s/%s", root, name);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    tm_make(p, m, nshards);
    return p;
}

#endif
