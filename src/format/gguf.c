/* gguf.c: the ggml type table, the value types and the GGUF header reader
 * (see gguf.h). The reader follows ggml's gguf.cpp (c392e509) and the GGUF
 * spec (ggml docs/gguf.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suture/gguf.h"
#include "suture/xfer.h"
#include "common/util.h"
#include "common/checked.h"

/* ---- the ggml type table ---------------------------------------------- */

static const struct {
    const char *name;
    unsigned block, size;
} types[GGUF_TYPE_COUNT] = {
    [GGUF_F32] = {"F32", 1, 4},          [GGUF_F16] = {"F16", 1, 2},
    [GGUF_Q4_0] = {"Q4_0", 32, 18},      [GGUF_Q4_1] = {"Q4_1", 32, 20},
    [GGUF_Q5_0] = {"Q5_0", 32, 22},      [GGUF_Q5_1] = {"Q5_1", 32, 24},
    [GGUF_Q8_0] = {"Q8_0", 32, 34},      [GGUF_Q8_1] = {"Q8_1", 32, 36},
    [GGUF_Q2_K] = {"Q2_K", 256, 84},     [GGUF_Q3_K] = {"Q3_K", 256, 110},
    [GGUF_Q4_K] = {"Q4_K", 256, 144},    [GGUF_Q5_K] = {"Q5_K", 256, 176},
    [GGUF_Q6_K] = {"Q6_K", 256, 210},    [GGUF_Q8_K] = {"Q8_K", 256, 292},
    [GGUF_IQ2_XXS] = {"IQ2_XXS", 256, 66},
    [GGUF_IQ2_XS] = {"IQ2_XS", 256, 74},
    [GGUF_IQ3_XXS] = {"IQ3_XXS", 256, 98},
    [GGUF_IQ1_S] = {"IQ1_S", 256, 50},   [GGUF_IQ4_NL] = {"IQ4_NL", 32, 18},
    [GGUF_IQ3_S] = {"IQ3_S", 256, 110},  [GGUF_IQ2_S] = {"IQ2_S", 256, 82},
    [GGUF_IQ4_XS] = {"IQ4_XS", 256, 136},
    [GGUF_I8] = {"I8", 1, 1},            [GGUF_I16] = {"I16", 1, 2},
    [GGUF_I32] = {"I32", 1, 4},          [GGUF_I64] = {"I64", 1, 8},
    [GGUF_F64] = {"F64", 1, 8},          [GGUF_IQ1_M] = {"IQ1_M", 256, 56},
    [GGUF_BF16] = {"BF16", 1, 2},        [GGUF_TQ1_0] = {"TQ1_0", 256, 54},
    [GGUF_TQ2_0] = {"TQ2_0", 256, 66},   [GGUF_MXFP4] = {"MXFP4", 32, 17},
};

const char *gguf_type_name(uint32_t type)
{
    return type < GGUF_TYPE_COUNT && types[type].name ? types[type].name : "?";
}

unsigned gguf_type_block(uint32_t type)
{
    return type < GGUF_TYPE_COUNT ? types[type].block : 0;
}

unsigned gguf_type_size(uint32_t type)
{
    return type < GGUF_TYPE_COUNT ? types[type].size : 0;
}

int gguf_type_parse(const char *name, uint32_t *out)
{
    uint32_t i;

    for (i = 0; i < GGUF_TYPE_COUNT; i++) {
        if (types[i].name && strcmp(types[i].name, name) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

int gguf_type_bytes(uint32_t type, const uint64_t *ne, size_t ndim,
                    uint64_t *bytes)
{
    unsigned block = gguf_type_block(type);
    uint64_t row = ndim ? ne[0] : 1, total;
    size_t i;

    if (!block || row % block != 0 ||
        ck_mul(row / block, gguf_type_size(type), &total) != 0)
        return -1;
    for (i = 1; i < ndim; i++)
        if (ck_mul(total, ne[i], &total) != 0)
            return -1;
    *bytes = total;
    return 0;
}

/* ---- value types ------------------------------------------------------ */

static const struct {
    const char *name;
    unsigned size;
} vtypes[GGUF_V_COUNT] = {
    [GGUF_V_U8] = {"uint8", 1},     [GGUF_V_I8] = {"int8", 1},
    [GGUF_V_U16] = {"uint16", 2},   [GGUF_V_I16] = {"int16", 2},
    [GGUF_V_U32] = {"uint32", 4},   [GGUF_V_I32] = {"int32", 4},
    [GGUF_V_F32] = {"float32", 4},  [GGUF_V_BOOL] = {"bool", 1},
    [GGUF_V_STRING] = {"string", 0}, [GGUF_V_ARRAY] = {"array", 0},
    [GGUF_V_U64] = {"uint64", 8},   [GGUF_V_I64] = {"int64", 8},
    [GGUF_V_F64] = {"float64", 8},
};

const char *gguf_vtype_name(uint32_t vt)
{
    return vt < GGUF_V_COUNT ? vtypes[vt].name : "?";
}

unsigned gguf_vtype_size(uint32_t vt)
{
    return vt < GGUF_V_COUNT ? vtypes[vt].size : 0;
}

/* ---- the handle ------------------------------------------------------- */

struct gguf_file {
    char *path;
    unsigned char *hdr;   /* the header bytes read (raw values point here) */
    size_t hdr_len;
    uint32_t version, alignment;
    uint64_t file_size, data_start, data_size;
    gguf_kv *kvs;
    size_t kv_count;
    size_t *kv_sorted;    /* indices sorted by key */
    gguf_tensor *tensors;
    size_t tensor_count;
    size_t *t_sorted;     /* indices sorted by name */
};

void gguf_free(gguf_file *f)
{
    size_t i;

    if (!f)
        return;
    for (i = 0; i < f->kv_count; i++) {
        free(f->kvs[i].key);
        free(f->kvs[i].text);
    }
    for (i = 0; i < f->tensor_count; i++)
        free(f->tensors[i].name);
    free(f->kvs);
    free(f->kv_sorted);
    free(f->tensors);
    free(f->t_sorted);
    free(f->hdr);
    free(f->path);
    free(f);
}

const char *gguf_path(const gguf_file *f) { return f->path; }
uint32_t gguf_version(const gguf_file *f) { return f->version; }
uint32_t gguf_alignment(const gguf_file *f) { return f->alignment; }
uint64_t gguf_file_size(const gguf_file *f) { return f->file_size; }
uint64_t gguf_data_start(const gguf_file *f) { return f->data_start; }
uint64_t gguf_data_size(const gguf_file *f) { return f->data_size; }
size_t gguf_kv_count(const gguf_file *f) { return f->kv_count; }
size_t gguf_tensor_count(const gguf_file *f) { return f->tensor_count; }

const gguf_kv *gguf_kv_at(const gguf_file *f, size_t i)
{
    return i < f->kv_count ? &f->kvs[i] : NULL;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i)
{
    return i < f->tensor_count ? &f->tensors[i] : NULL;
}

const gguf_kv *gguf_kv_find(const gguf_file *f, const char *key)
{
    size_t lo = 0, hi = f->kv_count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gguf_kv *kv = &f->kvs[f->kv_sorted[mid]];
        int c = strcmp(key, kv->key);
        if (c == 0)
            return kv;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const gguf_tensor *gguf_tensor_find(const gguf_file *f, const char *name)
{
    size_t lo = 0, hi = f->tensor_count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gguf_tensor *t = &f->tensors[f->t_sorted[mid]];
        int c = strcmp(name, t->name);
        if (c == 0)
            return t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* ---- values ----------------------------------------------------------- */

static uint64_t le(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;

    while (n-- > 0)
        v = v << 8 | p[n];
    return v;
}

/* The fixed-size value of type vt at p as an integer (sign-extended for
 * signed types): 0, or -1 when vt is not an integer type or bool. */
static int int_at(uint32_t vt, const unsigned char *p, int64_t *out,
                  uint64_t *uout, int *is_signed)
{
    uint64_t v;

    if (vt >= GGUF_V_COUNT || vt == GGUF_V_F32 || vt == GGUF_V_F64 ||
        !vtypes[vt].size)
        return -1;
    v = le(p, vtypes[vt].size);
    *uout = v;
    *is_signed = vt == GGUF_V_I8 || vt == GGUF_V_I16 || vt == GGUF_V_I32 ||
                 vt == GGUF_V_I64;
    if (*is_signed) {
        unsigned bits = 8 * vtypes[vt].size;
        *out = bits < 64 && (v >> (bits - 1)) ? (int64_t)(v | (~0ULL << bits))
                                              : (int64_t)v;
    }
    return 0;
}

static int u64_at(uint32_t vt, const unsigned char *p, uint64_t *out)
{
    int64_t s = 0;
    uint64_t u;
    int is_signed;

    if (int_at(vt, p, &s, &u, &is_signed) != 0 || (is_signed && s < 0))
        return -1;
    *out = is_signed ? (uint64_t)s : u;
    return 0;
}

static int f64_at(uint32_t vt, const unsigned char *p, double *out)
{
    int64_t s = 0;
    uint64_t u;
    int is_signed;

    if (vt == GGUF_V_F32) {
        uint32_t b = (uint32_t)le(p, 4);
        float x;
        memcpy(&x, &b, 4);
        *out = x;
        return 0;
    }
    if (vt == GGUF_V_F64) {
        uint64_t b = le(p, 8);
        memcpy(out, &b, 8);
        return 0;
    }
    if (int_at(vt, p, &s, &u, &is_signed) != 0)
        return -1;
    *out = is_signed ? (double)s : (double)u;
    return 0;
}

int gguf_kv_u64(const gguf_kv *kv, uint64_t *out)
{
    return kv->type == GGUF_V_ARRAY ? -1 : u64_at(kv->type, kv->raw, out);
}

int gguf_kv_f64(const gguf_kv *kv, double *out)
{
    return kv->type == GGUF_V_ARRAY ? -1 : f64_at(kv->type, kv->raw, out);
}

const char *gguf_kv_str(const gguf_kv *kv, size_t *len)
{
    if (kv->type != GGUF_V_STRING)
        return NULL;
    if (len)
        *len = kv->raw_len - 8;
    return kv->text;
}

int gguf_kv_arr_u64(const gguf_kv *kv, uint64_t i, uint64_t *out)
{
    unsigned sz = gguf_vtype_size(kv->elem);

    if (kv->type != GGUF_V_ARRAY || !sz || i >= kv->count)
        return -1;
    return u64_at(kv->elem, kv->raw + i * sz, out);
}

int gguf_kv_arr_f64(const gguf_kv *kv, uint64_t i, double *out)
{
    unsigned sz = gguf_vtype_size(kv->elem);

    if (kv->type != GGUF_V_ARRAY || !sz || i >= kv->count)
        return -1;
    return f64_at(kv->elem, kv->raw + i * sz, out);
}

const char *gguf_kv_arr_str(const gguf_kv *kv, uint64_t i, size_t *len)
{
    const unsigned char *p = kv->raw;
    uint64_t k;

    if (kv->type != GGUF_V_ARRAY || kv->elem != GGUF_V_STRING ||
        i >= kv->count)
        return NULL;
    for (k = 0; k < i; k++)
        p += 8 + le(p, 8);
    *len = (size_t)le(p, 8);
    return (const char *)p + 8;
}

uint64_t gguf_get_u64(const gguf_file *f, const char *key, uint64_t dflt)
{
    const gguf_kv *kv = gguf_kv_find(f, key);
    uint64_t v;

    return kv && gguf_kv_u64(kv, &v) == 0 ? v : dflt;
}

const char *gguf_get_str(const gguf_file *f, const char *key)
{
    const gguf_kv *kv = gguf_kv_find(f, key);

    return kv ? gguf_kv_str(kv, NULL) : NULL;
}

/* ---- the bounded cursor ----------------------------------------------- */

/* Reads the header from a file descriptor (fd >= 0) in growing chunks, or
 * from memory; every read is checked against the file size first. */
typedef struct cursor {
    int fd;
    unsigned char *buf;   /* bytes [0, have) of the file */
    size_t have, cap;
    uint64_t pos, size;   /* position, file size */
    uint64_t limit;       /* bytes that may be held (header limit) */
    const char *label;
    sut_error *err;
} cursor;

static uint64_t left(const cursor *c)
{
    return c->size - c->pos;
}

/* Holds at least `end` bytes of the file in c->buf. 0 or -1 (err set). */
static int fill(cursor *c, uint64_t end)
{
    size_t want;
    unsigned char *nb;

    if (end <= c->have)
        return 0;
    if (end > c->limit || c->fd < 0) {
        sut_error_set(c->err, "%s: header is larger than %llu bytes", c->label,
                      (unsigned long long)c->limit);
        return -1;
    }
    want = c->cap ? c->cap : 65536;
    while (want < end)
        want = want > SIZE_MAX / 2 ? SIZE_MAX : want * 2;
    if (want > c->size)
        want = (size_t)c->size;
    if (want > c->limit)
        want = (size_t)c->limit;
    if (want > c->cap) {
        if (!(nb = realloc(c->buf, want))) {
            sut_error_set(c->err, "%s: out of memory for a %zu-byte header",
                          c->label, want);
            return -1;
        }
        c->buf = nb;
        c->cap = want;
    }
    if (xfer_pread_exact(c->fd, c->buf + c->have, want - c->have, c->have) != 0) {
        sut_error_set(c->err, "%s: read failed: %s", c->label,
                      errno ? strerror(errno) : "unexpected end of file");
        return -1;
    }
    c->have = want;
    return 0;
}

/* Points *p at the next n bytes and moves past them. The caller has
 * checked n <= left(c). 0 or -1. */
static int take(cursor *c, uint64_t n, const unsigned char **p)
{
    if (fill(c, c->pos + n) != 0)
        return -1;
    *p = c->buf + c->pos;
    c->pos += n;
    return 0;
}

/* Reads an n-byte little-endian number; `what` names it in the message
 * when the file ends first. */
static int get(cursor *c, unsigned n, uint64_t *v, const char *what)
{
    const unsigned char *p;

    if (left(c) < n) {
        sut_error_set(c->err, "%s: file ends inside %s (offset %llu)",
                      c->label, what, (unsigned long long)c->pos);
        return -1;
    }
    if (take(c, n, &p) != 0)
        return -1;
    *v = le(p, n);
    return 0;
}

/* ---- metadata --------------------------------------------------------- */

#define KFMT "%s: key '%.*s': "

/* True when the n bytes at s hold a control character (or NUL). */
static bool has_control(const unsigned char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

static int skip_value(cursor *c, uint32_t vt, unsigned depth, const char *key);

/* A string value (length and bytes). */
static int skip_string(cursor *c, const char *key)
{
    const unsigned char *p;
    uint64_t n;

    if (get(c, 8, &n, "a string length") != 0)
        return -1;
    if (n > left(c)) {
        sut_error_set(c->err, KFMT "string of %llu bytes exceeds the %llu "
                      "bytes left in the file", c->label, SUT_CUT(key),
                      (unsigned long long)n, (unsigned long long)left(c));
        return -1;
    }
    return take(c, n, &p);
}

static int skip_bools(cursor *c, uint64_t n, const char *key)
{
    const unsigned char *p;
    uint64_t i;

    if (take(c, n, &p) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (p[i] > 1) {
            sut_error_set(c->err, KFMT "bool value %u is not 0 or 1", c->label,
                          SUT_CUT(key), p[i]);
            return -1;
        }
    }
    return 0;
}

/* Checks count elements of at least min bytes each fit in what is left. */
static int check_count(cursor *c, uint64_t count, unsigned min,
                       uint32_t elem, const char *key)
{
    if (count > left(c) / min) {
        sut_error_set(c->err, KFMT "array of %llu %s values cannot fit in the "
                      "%llu bytes left in the file", c->label, SUT_CUT(key),
                      (unsigned long long)count, gguf_vtype_name(elem),
                      (unsigned long long)left(c));
        return -1;
    }
    return 0;
}

/* An array's element type and count (already read) and its elements. */
static int skip_elements(cursor *c, uint32_t elem, uint64_t count,
                         unsigned depth, const char *key)
{
    unsigned sz = gguf_vtype_size(elem);
    const unsigned char *p;
    uint64_t i;

    if (elem >= GGUF_V_COUNT) {
        sut_error_set(c->err, KFMT "array of unknown value type %u", c->label,
                      SUT_CUT(key), elem);
        return -1;
    }
    if (elem == GGUF_V_ARRAY && depth >= GGUF_DEPTH_MAX) {
        sut_error_set(c->err, KFMT "arrays nested more than %d deep",
                      c->label, SUT_CUT(key), GGUF_DEPTH_MAX);
        return -1;
    }
    if (check_count(c, count, sz ? sz : elem == GGUF_V_STRING ? 8 : 12, elem,
                    key) != 0)
        return -1;
    if (elem == GGUF_V_BOOL)
        return skip_bools(c, count, key);
    if (sz)
        return take(c, count * sz, &p);
    for (i = 0; i < count; i++)
        if (skip_value(c, elem, depth + 1, key) != 0)
            return -1;
    return 0;
}

/* Moves past one value of type vt, checking it. depth counts arrays. */
static int skip_value(cursor *c, uint32_t vt, unsigned depth, const char *key)
{
    uint64_t elem, count;
    const unsigned char *p;

    if (vt >= GGUF_V_COUNT) {
        sut_error_set(c->err, KFMT "unknown value type %u", c->label, SUT_CUT(key), vt);
        return -1;
    }
    if (vt == GGUF_V_STRING)
        return skip_string(c, key);
    if (vt == GGUF_V_ARRAY) {
        if (get(c, 4, &elem, "an array type") != 0 ||
            get(c, 8, &count, "an array length") != 0)
            return -1;
        return skip_elements(c, (uint32_t)elem, count, depth, key);
    }
    if (left(c) < vtypes[vt].size) {
        sut_error_set(c->err, KFMT "file ends inside its %s value", c->label,
                      SUT_CUT(key), vtypes[vt].name);
        return -1;
    }
    return vt == GGUF_V_BOOL ? skip_bools(c, 1, key)
                             : take(c, vtypes[vt].size, &p);
}

/* What a length-prefixed key or tensor name is called in messages, and
 * its longest length. */
struct name_rule {
    const char *length;    /* "a key length" */
    const char *place;     /* "metadata entry" */
    const char *thing;     /* "key" */
    const char *limit;     /* "over the limit of 65535 bytes" */
    uint64_t max;
};

static const struct name_rule key_rule = {
    "a key length", "metadata entry", "key", "over the limit of 65535 bytes", GGUF_KEY_MAX};
static const struct name_rule name_rule = {
    "a tensor name length", "tensor", "name", "over ggml's limit of 63 bytes", GGUF_NAME_MAX};

/* Reads entry i's key or name (a length and bytes, no control character)
 * into a new NUL-terminated string. 0 or -1 (err set). */
static int read_string_name(cursor *c, size_t i, const struct name_rule *r, char **out)
{
    const unsigned char *p;
    uint64_t n;

    if (get(c, 8, &n, r->length) != 0)
        return -1;
    if (n == 0 || n > r->max || n > left(c)) {
        sut_error_set(c->err, "%s: %s %zu: %s length %llu is %s", c->label, r->place, i,
                      r->thing, (unsigned long long)n,
                      n == 0 ? "empty" : n > r->max ? r->limit : "past the end of the file");
        return -1;
    }
    if (take(c, n, &p) != 0)
        return -1;
    if (has_control(p, (size_t)n)) {
        sut_error_set(c->err, "%s: %s %zu: %s holds a control character", c->label,
                      r->place, i, r->thing);
        return -1;
    }
    if (!(*out = strndup((const char *)p, (size_t)n))) {
        sut_error_oom(c->err, c->label);
        return -1;
    }
    return 0;
}

static int read_key(cursor *c, size_t i, char **out)
{
    return read_string_name(c, i, &key_rule, out);
}

/* Reads one metadata entry; raw is recorded as an offset into the header
 * (kv->raw_len set; kv->raw fixed once the header stops moving). */
static int read_kv(cursor *c, gguf_kv *kv, size_t i, size_t *raw_off)
{
    uint64_t type, elem, count;
    uint64_t start;

    if (read_key(c, i, &kv->key) != 0 ||
        get(c, 4, &type, "a value type") != 0)
        return -1;
    kv->type = kv->elem = (uint32_t)type;
    kv->count = 1;
    if (type >= GGUF_V_COUNT) {
        sut_error_set(c->err, KFMT "unknown value type %llu", c->label,
                      SUT_CUT(kv->key), (unsigned long long)type);
        return -1;
    }
    if (type == GGUF_V_ARRAY) {
        if (get(c, 4, &elem, "an array type") != 0 ||
            get(c, 8, &count, "an array length") != 0)
            return -1;
        kv->elem = (uint32_t)elem;
        kv->count = count;
        start = c->pos;
        if (skip_elements(c, (uint32_t)elem, count, 1, kv->key) != 0)
            return -1;
    } else {
        start = c->pos;
        if (skip_value(c, (uint32_t)type, 0, kv->key) != 0)
            return -1;
    }
    *raw_off = (size_t)start;
    kv->raw_len = (size_t)(c->pos - start);
    return 0;
}

/* qsort has no context argument: the names being sorted, per thread. */
static _Thread_local const gguf_file *sort_file;
static _Thread_local int sort_tensors;

static const char *sort_name(size_t i)
{
    return sort_tensors ? sort_file->tensors[i].name : sort_file->kvs[i].key;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(sort_name(*(const size_t *)a), sort_name(*(const size_t *)b));
}

/* Indices 0..n-1 sorted by key or tensor name; NULL when out of memory. */
static size_t *sort_by_name(const gguf_file *f, size_t n, int tensors)
{
    size_t i, bytes, *order;

    if (ck_array(n ? n : 1, sizeof(size_t), &bytes) != 0 ||
        !(order = malloc(bytes)))
        return NULL;
    for (i = 0; i < n; i++)
        order[i] = i;
    sort_file = f;
    sort_tensors = tensors;
    qsort(order, n, sizeof(size_t), cmp_names);
    sort_file = NULL;
    return order;
}

/* The first name that occurs twice in sorted order, or NULL. */
static const char *duplicate(const gguf_file *f, const size_t *order,
                             size_t n, int tensors)
{
    size_t i;

    sort_file = f;
    sort_tensors = tensors;
    for (i = 1; i < n; i++) {
        if (strcmp(sort_name(order[i - 1]), sort_name(order[i])) == 0) {
            const char *name = sort_name(order[i]);
            sort_file = NULL;
            return name;
        }
    }
    sort_file = NULL;
    return NULL;
}

static int read_metadata(gguf_file *f, cursor *c, uint64_t n, size_t *offs)
{
    const char *dup;
    size_t i;

    for (i = 0; i < n; i++) {
        f->kv_count = i + 1;
        if (read_kv(c, &f->kvs[i], i, &offs[i]) != 0)
            return -1;
    }
    if (!(f->kv_sorted = sort_by_name(f, f->kv_count, 0))) {
        sut_error_oom(c->err, c->label);
        return -1;
    }
    if ((dup = duplicate(f, f->kv_sorted, f->kv_count, 0))) {
        sut_error_set(c->err, KFMT "occurs twice in the metadata", c->label,
                      SUT_CUT(dup));
        return -1;
    }
    return 0;
}

/* general.alignment: absent (32) or a uint32 power of two. */
static int read_alignment(gguf_file *f, cursor *c)
{
    const gguf_kv *kv = gguf_kv_find(f, "general.alignment");
    uint64_t a;

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!kv)
        return 0;
    if (kv->type != GGUF_V_U32) {
        sut_error_set(c->err, KFMT "is a %s, not a uint32", c->label,
                      SUT_CUT(kv->key), gguf_vtype_name(kv->type));
        return -1;
    }
    a = le(kv->raw, 4);
    if (a == 0 || (a & (a - 1)) != 0) {
        sut_error_set(c->err, KFMT "%llu is not a power of two", c->label,
                      SUT_CUT(kv->key), (unsigned long long)a);
        return -1;
    }
    f->alignment = (uint32_t)a;
    return 0;
}

/* ---- tensor infos ----------------------------------------------------- */

#define TFMT "%s: tensor '%.*s': "

static int read_name(cursor *c, size_t i, char **out)
{
    return read_string_name(c, i, &name_rule, out);
}

static int read_shape(cursor *c, gguf_tensor *t)
{
    uint64_t nd, v;
    size_t d;

    if (get(c, 4, &nd, "a tensor's dimension count") != 0)
        return -1;
    if (nd > GGUF_MAX_DIMS) {
        sut_error_set(c->err, TFMT "%llu dimensions (ggml allows at most %d)",
                      c->label, SUT_CUT(t->name), (unsigned long long)nd, GGUF_MAX_DIMS);
        return -1;
    }
    t->ndim = (size_t)nd;
    t->elements = 1;
    for (d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (d = 0; d < t->ndim; d++) {
        if (get(c, 8, &v, "a tensor dimension") != 0)
            return -1;
        if (v > INT64_MAX) {
            sut_error_set(c->err, TFMT "dimension %zu is negative (%lld)",
                          c->label, SUT_CUT(t->name), d, (long long)v);
            return -1;
        }
        t->ne[d] = v;
        if (ck_mul(t->elements, v, &t->elements) != 0 ||
            t->elements > INT64_MAX) {
            sut_error_set(c->err, TFMT "element count overflows 63 bits",
                          c->label, SUT_CUT(t->name));
            return -1;
        }
    }
    return 0;
}

static int read_type(cursor *c, gguf_tensor *t)
{
    uint64_t type;

    if (get(c, 4, &type, "a tensor type") != 0)
        return -1;
    t->type = (uint32_t)type;
    if (!gguf_type_block(t->type)) {
        sut_error_set(c->err, TFMT "unknown ggml type %llu", c->label, SUT_CUT(t->name),
                      (unsigned long long)type);
        return -1;
    }
    if (gguf_type_bytes(t->type, t->ne, t->ndim, &t->bytes) != 0) {
        if (t->ne[0] % gguf_type_block(t->type) != 0)
            sut_error_set(c->err, TFMT "row of %llu elements is not a whole "
                          "number of %s blocks (%u elements)", c->label,
                          SUT_CUT(t->name), (unsigned long long)t->ne[0],
                          gguf_type_name(t->type), gguf_type_block(t->type));
        else
            sut_error_set(c->err, TFMT "size in bytes overflows 64 bits",
                          c->label, SUT_CUT(t->name));
        return -1;
    }
    return 0;
}

static int read_tensors(gguf_file *f, cursor *c, uint64_t n)
{
    const char *dup;
    size_t i;

    for (i = 0; i < n; i++) {
        gguf_tensor *t = &f->tensors[i];
        f->tensor_count = i + 1;
        if (read_name(c, i, &t->name) != 0 || read_shape(c, t) != 0 ||
            read_type(c, t) != 0 ||
            get(c, 8, &t->offset, "a tensor offset") != 0)
            return -1;
    }
    if (!(f->t_sorted = sort_by_name(f, f->tensor_count, 1))) {
        sut_error_oom(c->err, c->label);
        return -1;
    }
    if ((dup = duplicate(f, f->t_sorted, f->tensor_count, 1))) {
        sut_error_set(c->err, TFMT "occurs twice in the tensor infos",
                      c->label, SUT_CUT(dup));
        return -1;
    }
    return 0;
}

/* ---- the data section ------------------------------------------------- */

static _Thread_local const gguf_tensor *sort_t;

static int cmp_offsets(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;

    if (sort_t[i].offset != sort_t[j].offset)
        return sort_t[i].offset < sort_t[j].offset ? -1 : 1;
    return i < j ? -1 : i > j;
}

#define SPAN(t) (unsigned long long)(t)->offset, \
                (unsigned long long)((t)->offset + (t)->bytes)

static int check_tensor_span(const gguf_file *f, const gguf_tensor *t,
                             cursor *c)
{
    if (t->offset % f->alignment != 0) {
        sut_error_set(c->err, TFMT "offset %llu is not a multiple of the "
                      "alignment %u", c->label, SUT_CUT(t->name),
                      (unsigned long long)t->offset, f->alignment);
        return -1;
    }
    if (t->offset > f->data_size || t->bytes > f->data_size - t->offset) {
        sut_error_set(c->err, TFMT "data at offset %llu (%llu bytes) extends "
                      "past the end of the data section (%llu bytes)",
                      c->label, SUT_CUT(t->name), (unsigned long long)t->offset,
                      (unsigned long long)t->bytes,
                      (unsigned long long)f->data_size);
        return -1;
    }
    return 0;
}

/* Places the data section and checks every tensor lies in it, aligned,
 * without overlap. */
static int check_data(gguf_file *f, cursor *c)
{
    uint64_t start;
    size_t i, bytes, *order = NULL;
    int rc = -1;

    if (ck_add(c->pos, f->alignment - 1, &start) != 0)
        goto overflow;
    start -= start % f->alignment;
    if (start > f->file_size && f->tensor_count > 0) {
        sut_error_set(c->err, "%s: the data section would start at %llu, past "
                      "the end of the file (%llu bytes)", c->label,
                      (unsigned long long)start,
                      (unsigned long long)f->file_size);
        return -1;
    }
    f->data_start = start;
    f->data_size = start < f->file_size ? f->file_size - start : 0;
    for (i = 0; i < f->tensor_count; i++)
        if (check_tensor_span(f, &f->tensors[i], c) != 0)
            return -1;
    if (ck_array(f->tensor_count ? f->tensor_count : 1, sizeof(size_t),
                 &bytes) != 0 || !(order = malloc(bytes)))
        goto overflow;
    for (i = 0; i < f->tensor_count; i++)
        order[i] = i;
    sort_t = f->tensors;
    qsort(order, f->tensor_count, sizeof(size_t), cmp_offsets);
    for (i = 1; i < f->tensor_count; i++) {
        const gguf_tensor *p = &f->tensors[order[i - 1]];
        const gguf_tensor *t = &f->tensors[order[i]];
        if (t->offset < p->offset + p->bytes) {
            sut_error_set(c->err, TFMT "data [%llu, %llu) overlaps tensor "
                          "'%.*s' [%llu, %llu)", c->label, SUT_CUT(t->name), SPAN(t),
                          SUT_CUT(p->name), SPAN(p));
            goto out;
        }
    }
    rc = 0;
    goto out;
overflow:
    sut_error_oom(c->err, c->label);
out:
    free(order);
    return rc;
}

/* ---- the whole header ------------------------------------------------- */

static int read_preamble(gguf_file *f, cursor *c, uint64_t *nt, uint64_t *nkv)
{
    const unsigned char *p;
    uint64_t v;

    if (left(c) < 4) {
        sut_error_set(c->err, "%s: file is %llu bytes, too short for a GGUF "
                      "header", c->label, (unsigned long long)c->size);
        return -1;
    }
    if (take(c, 4, &p) != 0)
        return -1;
    if (memcmp(p, "GGUF", 4) != 0) {
        sut_error_set(c->err, "%s: not a GGUF file (magic %02x %02x %02x %02x, "
                      "expected \"GGUF\")", c->label, p[0], p[1], p[2], p[3]);
        return -1;
    }
    if (get(c, 4, &v, "the version") != 0)
        return -1;
    f->version = (uint32_t)v;
    if (v == 0x02000000 || v == 0x03000000) {
        sut_error_set(c->err, "%s: big-endian GGUF files are not supported",
                      c->label);
        return -1;
    }
    if (v != 2 && v != 3) {
        sut_error_set(c->err, "%s: GGUF version %llu is not supported (only 2 "
                      "and 3)", c->label, (unsigned long long)v);
        return -1;
    }
    return get(c, 8, nt, "the tensor count") != 0 ||
           get(c, 8, nkv, "the metadata count") != 0 ? -1 : 0;
}

/* Smallest encodings: a key of 1 byte with a 1-byte value; a tensor info
 * with a 1-byte name and no dimension. */
#define KV_MIN 14
#define TENSOR_MIN 25

static int alloc_tables(gguf_file *f, cursor *c, uint64_t nt, uint64_t nkv,
                        size_t **offs)
{
    size_t bytes;

    if (nkv > left(c) / KV_MIN) {
        sut_error_set(c->err, "%s: %llu metadata entries cannot fit in the "
                      "%llu bytes left in the file", c->label,
                      (unsigned long long)nkv, (unsigned long long)left(c));
        return -1;
    }
    if (nt > (left(c) - nkv * KV_MIN) / TENSOR_MIN) {
        sut_error_set(c->err, "%s: %llu tensor infos cannot fit in the %llu "
                      "bytes left in the file", c->label,
                      (unsigned long long)nt, (unsigned long long)left(c));
        return -1;
    }
    if (!(f->kvs = calloc(nkv ? (size_t)nkv : 1, sizeof(gguf_kv))) ||
        !(*offs = calloc(nkv ? (size_t)nkv : 1, sizeof(size_t))) ||
        ck_array(nt ? (size_t)nt : 1, sizeof(gguf_tensor), &bytes) != 0 ||
        !(f->tensors = calloc(1, bytes))) {
        sut_error_oom(c->err, c->label);
        return -1;
    }
    return 0;
}

/* A NUL-terminated copy of each string scalar (kv->text). */
static int copy_strings(gguf_file *f, cursor *c)
{
    size_t i;

    for (i = 0; i < f->kv_count; i++) {
        gguf_kv *kv = &f->kvs[i];
        if (kv->type != GGUF_V_STRING)
            continue;
        if (!(kv->text = strndup((const char *)kv->raw + 8, kv->raw_len - 8))) {
            sut_error_oom(c->err, c->label);
            return -1;
        }
    }
    return 0;
}

/* Parses the header through cursor c; f->path and f->file_size are set. */
static int parse(gguf_file *f, cursor *c)
{
    uint64_t nt, nkv;
    size_t i, *offs = NULL;
    int rc = -1;

    if (read_preamble(f, c, &nt, &nkv) != 0 ||
        alloc_tables(f, c, nt, nkv, &offs) != 0 ||
        read_metadata(f, c, nkv, offs) != 0)
        goto out;
    for (i = 0; i < f->kv_count; i++)
        f->kvs[i].raw = c->buf + offs[i];
    if (read_alignment(f, c) != 0 || read_tensors(f, c, nt) != 0)
        goto out;
    /* the header buffer stops moving here: point the raw values into it */
    for (i = 0; i < f->kv_count; i++)
        f->kvs[i].raw = c->buf + offs[i];
    if (copy_strings(f, c) != 0 || check_data(f, c) != 0)
        goto out;
    rc = 0;
out:
    f->hdr = c->buf;
    f->hdr_len = c->have;
    c->buf = NULL;
    free(offs);
    return rc;
}

static gguf_file *new_file(const char *path, uint64_t size, sut_error *err,
                           const char *label)
{
    gguf_file *f = calloc(1, sizeof(*f));

    if (!f || !(f->path = strdup(path))) {
        sut_error_oom(err, label);
        free(f);
        return NULL;
    }
    f->file_size = size;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    return f;
}

gguf_file *gguf_parse(const void *buf, size_t len, uint64_t file_size,
                      const char *label, sut_error *err)
{
    cursor c = { .fd = -1, .size = file_size < len ? len : file_size,
                 .limit = len, .label = label, .err = err };
    gguf_file *f = new_file(label, c.size, err, label);

    if (!f)
        return NULL;
    if (!(c.buf = malloc(len ? len : 1))) {
        sut_error_oom(err, label);
        gguf_free(f);
        return NULL;
    }
    if (len)
        memcpy(c.buf, buf, len);
    c.have = c.cap = len;
    if (parse(f, &c) != 0) {
        gguf_free(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_open(const char *path, sut_error *err)
{
    const char *label = sut_basename(path);
    struct stat sb;
    gguf_file *f = NULL;
    cursor c = { .label = label, .err = err, .limit = GGUF_HEADER_MAX };
    /* O_NONBLOCK: a FIFO in a stranger's folder must not hang the open */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0) {
        sut_error_set(err, "%s: cannot open: %s", label, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        sut_error_set(err, "%s: not a regular file", label);
        goto out;
    }
    c.fd = fd;
    c.size = (uint64_t)sb.st_size;
    if (!(f = new_file(path, c.size, err, label)))
        goto out;
    if (parse(f, &c) != 0) {
        gguf_free(f);
        f = NULL;
    }
out:
    free(c.buf);
    close(fd);
    return f;
}

bool gguf_is_gguf(const char *path)
{
    unsigned char magic[4];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    bool yes;

    if (fd < 0)
        return false;
    yes = xfer_pread_exact(fd, magic, 4, 0) == 0 && memcmp(magic, "GGUF", 4) == 0;
    close(fd);
    return yes;
}
