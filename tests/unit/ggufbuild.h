/* ggufbuild.h: writing GGUF bytes by hand for the tests (one defect at a
 * time). A gb is a growing buffer; the helpers append little-endian
 * numbers, strings, metadata entries and tensor infos. */
#ifndef SUTURE_GGUFBUILD_H
#define SUTURE_GGUFBUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gb {
    unsigned char *b;
    size_t n, cap;
} gb;

static inline void gb_raw(gb *g, const void *p, size_t n)
{
    if (g->n + n > g->cap) {
        g->cap = (g->n + n) * 2 + 64;
        g->b = realloc(g->b, g->cap);
        if (!g->b)
            abort();
    }
    if (n)
        memcpy(g->b + g->n, p, n);
    g->n += n;
}

static inline void gb_le(gb *g, uint64_t v, unsigned n)
{
    unsigned char b[8];
    unsigned i;

    for (i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    gb_raw(g, b, n);
}

#define gb_u8(g, v) gb_le(g, v, 1)
#define gb_u32(g, v) gb_le(g, v, 4)
#define gb_u64(g, v) gb_le(g, v, 8)

static inline void gb_str(gb *g, const char *s)
{
    gb_u64(g, strlen(s));
    gb_raw(g, s, strlen(s));
}

/* "GGUF", version, tensor count, metadata count. */
static inline void gb_head(gb *g, uint32_t version, uint64_t nt, uint64_t nkv)
{
    gb_raw(g, "GGUF", 4);
    gb_u32(g, version);
    gb_u64(g, nt);
    gb_u64(g, nkv);
}

/* A key and its value type (the value follows). */
static inline void gb_key(gb *g, const char *key, uint32_t type)
{
    gb_str(g, key);
    gb_u32(g, type);
}

static inline void gb_kv_u32(gb *g, const char *key, uint32_t v)
{
    gb_key(g, key, 4);
    gb_u32(g, v);
}

static inline void gb_kv_str(gb *g, const char *key, const char *s)
{
    gb_key(g, key, 8);
    gb_str(g, s);
}

/* A tensor info of ndim dimensions (ne[0] first). */
static inline void gb_tensor(gb *g, const char *name, uint32_t type,
                             uint64_t offset, unsigned ndim,
                             const uint64_t *ne)
{
    unsigned i;

    gb_str(g, name);
    gb_u32(g, ndim);
    for (i = 0; i < ndim; i++)
        gb_u64(g, ne[i]);
    gb_u32(g, type);
    gb_u64(g, offset);
}

/* A 1-D tensor of n elements. */
static inline void gb_tensor1(gb *g, const char *name, uint32_t type,
                              uint64_t offset, uint64_t n)
{
    gb_tensor(g, name, type, offset, 1, &n);
}

/* Pads with zeros to a multiple of align, then n data bytes (i & 0xff). */
static inline void gb_data(gb *g, unsigned align, size_t n)
{
    size_t i;

    while (g->n % align)
        gb_u8(g, 0);
    for (i = 0; i < n; i++)
        gb_u8(g, i & 0xff);
}

#endif
