/* fw_int.h: the forward pass's family table and parsed configuration
 * (private to src/compute). */
#ifndef SUTURE_COMPUTE_FW_INT_H
#define SUTURE_COMPUTE_FW_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "suture/forward.h"
#include "suture/gguf_model.h"
#include "kernels.h"

/* The tensors of a layer, by role. */
enum fw_w {
    W_ATTN_NORM, W_Q, W_K, W_V, W_QKV, W_QB, W_KB, W_VB, W_O, W_ATTN_POST,
    W_FFN_NORM, W_GATE, W_UP, W_GATE_UP, W_DOWN, W_FFN_POST, W_COUNT
};

/* What sets a family apart: data, read by one pass for all families. */
typedef struct fw_family {
    const char *name;          /* model_type */
    float norm_offset;         /* RMSNorm multiplies by (w + offset) */
    bool embed_scale;          /* embeddings times sqrt(hidden) */
    bool qkv_bias;             /* q/k/v projections have biases */
    bool softcaps;             /* attn_/final_logit_softcapping apply */
    bool query_scalar;         /* query_pre_attn_scalar sets the scale */
    unsigned sliding;          /* sliding_window: 0 not used, 1 every layer,
                                  2 layers with an even index */
    const char *act;           /* activation when the config names none */
    const char *names[W_COUNT]; /* local tensor names; NULL: not used */
} fw_family;

/* A configuration, checked. */
typedef struct fw_cfg {
    const fw_family *fam;
    fw_dims d;
    float eps;
    kn_act act;
    size_t rot;                /* rotary dimensions per head (even) */
    float *inv_freq;           /* rot / 2 frequencies, rope scaling done */
    float attn_scale, attn_cap, final_cap; /* caps 0: none */
    size_t window;             /* sliding window, 0: none */
    float norm_offset;         /* RMSNorm weight offset (the family's, 0
                                  for GGUF: stored as w + 1 already) */
    bool unpermute;            /* q/k rows in llama.cpp's llama order */
} fw_cfg;

/* Parses config (label names the file in messages) into c. 0, or -1
 * with err naming the file and the key. Free with fw_cfg_release. */
int fw_cfg_parse(fw_cfg *c, const cJSON *config, const char *label,
                 sut_error *err);
void fw_cfg_release(fw_cfg *c);

/* True when stack layer i uses the sliding window. */
bool fw_cfg_sliding(const fw_cfg *c, size_t i);

/* ---- GGUF (fw_gguf.c) ---------------------------------------------------- */

#define FW_Q8_0 (-2)   /* a wref dtype: ggml's Q8_0 (else an st_dtype) */
#define FW_Q8_0_BLOCK 32
#define FW_Q8_0_BYTES 34

/* Parses g's metadata ({arch}.* keys, the embedding's shape) into c, as
 * fw_cfg_parse does a config.json. 0, or -1 with err naming the file and
 * the key. Free with fw_cfg_release. */
int fw_gguf_cfg(fw_cfg *c, const gmodel *g, sut_error *err);
/* The GGUF name within a layer of role r ("attn_q.weight"), or NULL when
 * c's family does not use the role. */
const char *fw_gguf_local(const fw_cfg *c, int r);
/* The wref dtype of a GGUF tensor type (ST_F32, ST_F16, ST_BF16 or
 * FW_Q8_0). 0, or -1 when the pass does not read the type. */
int fw_gguf_dtype(uint32_t type, int *dt);
/* Dequantizes `blocks` Q8_0 blocks at src into dst (32 floats a block),
 * each block's F16 scale times scale rounded to F16 first, exactly as a
 * suture build of the scaled tensor stores it. */
void fw_q8_0_f32(const unsigned char *src, float *dst, size_t blocks,
                 float scale);

#endif
