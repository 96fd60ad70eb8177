/* gguf-gen: writes a llama-layout GGUF file for benchmarks and tests.
 *
 *   gguf-gen [--layers N] [--hidden H] [--intermediate I] [--heads A]
 *            [--kv-heads K] [--vocab V] [--type T] [--sparse] [--seed S]
 *            -o OUT.gguf
 *
 * Tensors as llama.cpp names them (token_embd, blk.N.attn_*, ffn_*,
 * output_norm, output) with the 2-D ones in type T (default Q4_K; output in
 * Q6_K for K types, as Q4_K_M does), norms in F32; metadata as a converted
 * Llama has it, including a vocabulary of V tokens and V merges (so the
 * header is as large as a real one). Data is seeded random bytes, or with
 * --sparse a hole (no disk used): a header-accurate layout of any size.
 * Exit status: 0 done, 1 writing failed, 2 bad arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/gguf.h"

struct opts {
    unsigned layers, hidden, inter, heads, kv, vocab;
    uint32_t type;
    int sparse;
    uint64_t seed;
    const char *out;
};

static int usage(void)
{
    fprintf(stderr, "usage: gguf-gen [--layers N] [--hidden H] [--intermediate I] "
            "[--heads A] [--kv-heads K] [--vocab V] [--type T] [--sparse] "
            "[--seed S] -o OUT.gguf\n");
    return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned *u = !strcmp(a, "--layers") ? &o->layers
                    : !strcmp(a, "--hidden") ? &o->hidden
                    : !strcmp(a, "--intermediate") ? &o->inter
                    : !strcmp(a, "--heads") ? &o->heads
                    : !strcmp(a, "--kv-heads") ? &o->kv
                    : !strcmp(a, "--vocab") ? &o->vocab : NULL;
        if (!strcmp(a, "--sparse")) {
            o->sparse = 1;
            continue;
        }
        if (!v)
            return -1;
        if (u)
            *u = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--type") && gguf_type_parse(v, &o->type) == 0)
            ;
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "-o"))
            o->out = v;
        else
            return -1;
        i++;
    }
    return o->out && o->layers && o->hidden && o->heads && o->kv && o->vocab &&
           o->hidden % o->heads == 0 ? 0 : -1;
}

/* A string array of n entries made by fn(i, buf). */
static int string_array(gguf_writer *w, const char *key, unsigned n,
                        void (*fn)(unsigned, char *), sut_error *err)
{
    size_t cap = (size_t)n * 24 + 16, len = 0, k;
    unsigned char *raw = malloc(cap);
    char s[32];
    unsigned i;
    int rc;

    if (!raw)
        return -1;
    for (i = 0; i < n; i++) {
        fn(i, s);
        k = strlen(s);
        for (int b = 0; b < 8; b++)
            raw[len + (size_t)b] = (unsigned char)((uint64_t)k >> (8 * b));
        memcpy(raw + len + 8, s, k);
        len += 8 + k;
    }
    rc = gguf_writer_kv(w, key, GGUF_V_ARRAY, GGUF_V_STRING, n, raw, len, err);
    free(raw);
    return rc;
}

static void token(unsigned i, char *s) { snprintf(s, 32, "tok%u", i); }
static void merge(unsigned i, char *s) { snprintf(s, 32, "t%u m%u", i % 977, i); }

static int metadata(gguf_writer *w, const struct opts *o, sut_error *err)
{
    const float eps = 1e-5f;   /* little-endian hosts, as the writer */

    return gguf_writer_kv_str(w, "general.architecture", "llama", err) ||
           gguf_writer_kv(w, "llama.attention.layer_norm_rms_epsilon", GGUF_V_F32,
                          GGUF_V_F32, 1, &eps, sizeof(eps), err) ||
           gguf_writer_kv_str(w, "general.name", "gguf-gen", err) ||
           gguf_writer_kv_u32(w, "llama.block_count", o->layers, err) ||
           gguf_writer_kv_u32(w, "llama.context_length", 8192, err) ||
           gguf_writer_kv_u32(w, "llama.embedding_length", o->hidden, err) ||
           gguf_writer_kv_u32(w, "llama.feed_forward_length", o->inter, err) ||
           gguf_writer_kv_u32(w, "llama.attention.head_count", o->heads, err) ||
           gguf_writer_kv_u32(w, "llama.attention.head_count_kv", o->kv, err) ||
           gguf_writer_kv_u32(w, "llama.vocab_size", o->vocab, err) ||
           gguf_writer_kv_u32(w, "llama.rope.dimension_count", o->hidden / o->heads, err) ||
           gguf_writer_kv_str(w, "tokenizer.ggml.model", "gpt2", err) ||
           string_array(w, "tokenizer.ggml.tokens", o->vocab, token, err) ||
           string_array(w, "tokenizer.ggml.merges", o->vocab, merge, err) ? -1 : 0;
}

/* The byte size of each tensor added, in order. */
static uint64_t *sizes;
static size_t nsizes;

static int add2(gguf_writer *w, const char *name, uint32_t type, uint64_t a,
                uint64_t b, sut_error *err)
{
    uint64_t ne[2] = {a, b}, bytes, *grown;

    if (gguf_writer_add(w, name, type, b ? 2 : 1, ne, err) != 0 ||
        gguf_type_bytes(type, ne, b ? 2 : 1, &bytes) != 0 ||
        !(grown = realloc(sizes, (nsizes + 1) * sizeof(uint64_t))))
        return -1;
    sizes = grown;
    sizes[nsizes++] = bytes;
    return 0;
}

static int tensors(gguf_writer *w, const struct opts *o, sut_error *err)
{
    uint64_t h = o->hidden, kvd = (uint64_t)o->hidden / o->heads * o->kv;
    uint32_t out_type = o->type >= GGUF_Q2_K && o->type <= GGUF_Q6_K ? GGUF_Q6_K : o->type;
    char n[64];
    unsigned l;

    if (add2(w, "token_embd.weight", o->type, h, o->vocab, err))
        return -1;
    for (l = 0; l < o->layers; l++) {
#define T(name, type, a, b) (snprintf(n, sizeof(n), "blk.%u." name, l), add2(w, n, type, a, b, err))
        if (T("attn_norm.weight", GGUF_F32, h, 0) || T("attn_q.weight", o->type, h, h) ||
            T("attn_k.weight", o->type, h, kvd) || T("attn_v.weight", o->type, h, kvd) ||
            T("attn_output.weight", o->type, h, h) || T("ffn_norm.weight", GGUF_F32, h, 0) ||
            T("ffn_gate.weight", o->type, h, o->inter) || T("ffn_up.weight", o->type, h, o->inter) ||
            T("ffn_down.weight", o->type, o->inter, h))
            return -1;
#undef T
    }
    return add2(w, "output_norm.weight", GGUF_F32, h, 0, err) ||
           add2(w, "output.weight", out_type, h, o->vocab, err) ? -1 : 0;
}

/* Seeded random bytes for every tensor (xorshift64*), or holes. */
static int data(gguf_writer *w, const struct opts *o, sut_error *err)
{
    static uint64_t buf[1 << 17];
    uint64_t x = o->seed * 2 + 1, left, k;
    size_t i, t;

    for (t = 0; t < nsizes; t++) {
        if (o->sparse) {
            if (gguf_writer_zero(w, sizes[t], err) != 0)
                return -1;
            continue;
        }
        for (left = sizes[t]; left > 0; left -= k) {
            for (i = 0; i < sizeof(buf) / 8; i++) {
                x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
                buf[i] = x * 2685821657736338717ULL;
            }
            k = left < sizeof(buf) ? left : sizeof(buf);
            if (gguf_writer_write(w, buf, (size_t)k, err) != 0)
                return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {32, 4096, 14336, 32, 8, 128256, GGUF_Q4_K, 0, 1, NULL};
    sut_error err = {{0}};
    gguf_writer *w;

    if (parse(argc, argv, &o) != 0)
        return usage();
    if (!(w = gguf_writer_create(o.out, 32, &err)) || metadata(w, &o, &err) ||
        tensors(w, &o, &err) || gguf_writer_begin(w, &err) || data(w, &o, &err) ||
        gguf_writer_finish(w, &err)) {
        fprintf(stderr, "gguf-gen: %s\n", err.msg[0] ? err.msg : "out of memory");
        gguf_writer_free(w);
        return 1;
    }
    gguf_writer_free(w);
    return 0;
}
