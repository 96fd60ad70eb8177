/* gguf_int.h: what gguf_plan.c and gguf_build.c share (private). */
#ifndef SUTURE_GGUF_INT_H
#define SUTURE_GGUF_INT_H

#include "suture/gguf_build.h"

struct gbuild_plan {
    const recipe *r;
    gmodel **models;          /* one per recipe model */
    size_t embed, head, config, tokenizer;
    gbuild_layer *layers;
    size_t nlayers;
    gbuild_tensor *tensors;
    size_t ntensors;
    size_t nfiles;
    uint64_t *file_bytes;
    size_t scaled_quant;
    char **notes;
    size_t nnotes;
};

/* True when path is a GGUF file by its magic, or ends in .gguf. */
bool gbuild_path_is_gguf(const char *path);
/* True when a scale other than 0 and 1 can be applied to the type. */
bool gbuild_scalable(uint32_t type);

/* Writes n bytes of tensor data of type `type` scaled by scale (not 0 or
 * 1; gbuild_scalable(type)) from src to dst: elements for F32/F16/BF16,
 * the F16 block scales for quantized types. n is whole elements/blocks. */
void gbuild_scale(uint32_t type, float scale, const void *src, void *dst,
                  size_t n);

#endif
