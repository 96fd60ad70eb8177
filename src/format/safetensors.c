/* safetensors.c: the dtype table and the header reader (see safetensors.h).
 * The reader follows the reference implementation (huggingface/safetensors,
 * tensor.rs) and is stricter where the format leaves room: unknown fields in
 * an entry, numbers not written as integers, control characters and \u0000
 * in strings are errors. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suture/format.h"
#include "suture/safetensors.h"
#include "suture/xfer.h"
#include "common/util.h"
#include "common/checked.h"
#include "common/jscan.h"

/* Tensor names in messages are cut to this many bytes. */
#define NAME_MAX_SHOWN 200
#define SHAPE_TEXT 96

/* Compact for headers of a million tensors: every name and metadata string
 * lives in one arena, every shape in one array of dims. */
struct st_file {
    char *path;
    st_tensor *tensors;   /* header order */
    size_t count, cap;
    size_t *by_name;      /* indices of tensors sorted by name */
    char *arena;          /* names, metadata keys and values, NUL-terminated */
    size_t arena_len, arena_cap;
    uint64_t *dims;       /* the shapes, one after the other */
    size_t ndims, dims_cap;
    size_t *meta_off;     /* arena offsets of key i and value i at 2i, 2i+1 */
    size_t meta_cap;
    char **meta_keys, **meta_values;
    size_t meta_count;
    uint64_t data_start, data_size;
};

/* ---- dtypes ---------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned bits;
} dtypes[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 8},       [ST_U8] = {"U8", 8},
    [ST_I8] = {"I8", 8},           [ST_F8_E5M2] = {"F8_E5M2", 8},
    [ST_F8_E4M3] = {"F8_E4M3", 8}, [ST_F8_E8M0] = {"F8_E8M0", 8},
    [ST_I16] = {"I16", 16},        [ST_U16] = {"U16", 16},
    [ST_F16] = {"F16", 16},        [ST_BF16] = {"BF16", 16},
    [ST_I32] = {"I32", 32},        [ST_U32] = {"U32", 32},
    [ST_F32] = {"F32", 32},        [ST_F64] = {"F64", 64},
    [ST_I64] = {"I64", 64},        [ST_U64] = {"U64", 64},
    [ST_C64] = {"C64", 64},        [ST_F4] = {"F4", 4},
    [ST_F6_E2M3] = {"F6_E2M3", 6}, [ST_F6_E3M2] = {"F6_E3M2", 6},
    [ST_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
    [ST_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
};

const char *st_dtype_name(st_dtype dt)
{
    return (unsigned)dt < ST_DTYPE_COUNT ? dtypes[dt].name : "?";
}

int st_dtype_parse(const char *name, st_dtype *out)
{
    int i;

    for (i = 0; i < ST_DTYPE_COUNT; i++) {
        if (strcmp(dtypes[i].name, name) == 0) {
            *out = (st_dtype)i;
            return 0;
        }
    }
    return -1;
}

unsigned st_dtype_bits(st_dtype dt)
{
    return (unsigned)dt < ST_DTYPE_COUNT ? dtypes[dt].bits : 0;
}

/* ---- accessors ------------------------------------------------------- */

void st_free(st_file *f)
{

    if (!f)
        return;
    free(f->arena);
    free(f->dims);
    free(f->meta_off);
    free(f->tensors);
    free(f->by_name);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->path);
    free(f);
}

const char *st_path(const st_file *f) { return f->path; }
size_t st_count(const st_file *f) { return f->count; }
uint64_t st_data_start(const st_file *f) { return f->data_start; }
uint64_t st_data_size(const st_file *f) { return f->data_size; }
size_t st_meta_count(const st_file *f) { return f->meta_count; }

const st_tensor *st_at(const st_file *f, size_t i)
{
    return i < f->count ? &f->tensors[i] : NULL;
}

size_t st_name_order(const st_file *f, size_t i)
{
    return i < f->count ? f->by_name[i] : 0;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    size_t lo = 0, hi = f->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const st_tensor *t = &f->tensors[f->by_name[mid]];
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

const char *st_meta_key(const st_file *f, size_t i)
{
    return i < f->meta_count ? f->meta_keys[i] : NULL;
}

const char *st_meta_value(const st_file *f, size_t i)
{
    return i < f->meta_count ? f->meta_values[i] : NULL;
}

/* Linear: metadata is a handful of entries. */
const char *st_meta_get(const st_file *f, const char *key)
{
    size_t i;

    for (i = 0; i < f->meta_count; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_values[i];
    return NULL;
}

/* ---- the header text ------------------------------------------------- */

/* The first number in the header that is not written as a plain integer
 * of at most 2^53 (1.0, 1e2, -0, 01, 9007199254740993). */
typedef struct num_issue {
    size_t at;
    char text[32];
    int found;
} num_issue;

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t need, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 2;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 3;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n <= need || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i <= need; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return need + 1;
}

/* True when the n bytes at s are a JSON integer in [0, 2^53]. */
static int plain_integer(const char *s, size_t n)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0 || n > 16 || (s[0] == '0' && n > 1))
        return 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v <= SUT_JSON_INT_MAX;
}

/* Scans the number starting at s[i]; records it in num when it is the first
 * one not written as a plain integer. Returns its length. */
static size_t scan_number(const char *s, size_t n, size_t i, num_issue *num)
{
    size_t j = i;

    while (j < n && js_number_char(s[j]))
        j++;
    if (!num->found && !plain_integer(s + i, j - i)) {
        size_t k = j - i < sizeof(num->text) - 1 ? j - i : sizeof(num->text) - 1;
        memcpy(num->text, s + i, k);
        num->text[k] = '\0';
        num->at = i;
        num->found = 1;
    }
    return j - i;
}

/* A backslash escape at s[i] inside a string: 0, or -1 with err set for
 * \u0000 (cJSON would cut the string there). *len gets its length. */
static int check_escape(const char *s, size_t n, size_t i, size_t *len,
                        const char *label, sut_error *err)
{
    if (i + 5 < n && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) {
        sut_error_set(err, "%s: header: string holds \\u0000 at byte %zu",
                      label, i);
        return -1;
    }
    *len = i + 1 < n && (unsigned char)s[i + 1] < 0x80 ? 2 : 1;
    return 0;
}

/* Checks the header is UTF-8 without control characters (outside strings,
 * only JSON white space) and without \u0000; notes odd numbers in num.
 * 0, or -1 with err set. */
static int check_text(const char *s, size_t n, num_issue *num,
                      const char *label, sut_error *err)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, len;
    int in_string = 0;

    while (i < n) {
        unsigned char c = u[i];
        if (!(len = utf8_len(u + i, n - i))) {
            sut_error_set(err, "%s: header is not valid UTF-8 (byte %zu)",
                          label, i);
            return -1;
        }
        if (c < 0x20 && (in_string || (c != '\t' && c != '\n' && c != '\r'))) {
            sut_error_set(err, "%s: header: control character 0x%02x at byte %zu",
                          label, c, i);
            return -1;
        }
        if (in_string && c == '\\') {
            if (check_escape(s, n, i, &len, label, err) != 0)
                return -1;
        } else if (c == '"') {
            in_string = !in_string;
        } else if (!in_string && (c == '-' || (c >= '0' && c <= '9'))) {
            len = scan_number(s, n, i, num);
        }
        i += len;
    }
    return 0;
}

/* ---- one tensor entry ------------------------------------------------ */

/* A JSON value as far as a message needs it. */
typedef struct vdesc {
    js_kind kind;
    double num;
    char text[48];       /* a string's first 40 bytes */
} vdesc;

/* Consumes any value and describes it. 0 or -1 (syntax, err set). */
static int read_value(jscan *js, vdesc *d)
{
    d->kind = js_peek(js);
    d->text[0] = '\0';
    switch (d->kind) {
    case JS_NUMBER:
        if (js_number(js) != 0)
            return -1;
        d->num = js->num;
        return 0;
    case JS_STRING:
        if (js_string(js) != 0)
            return -1;
        d->text[0] = '\0';
        strncat(d->text, js->str, 40);
        return 0;
    case JS_ERROR:
        return -1;
    default:
        return js_skip(js);
    }
}

/* Describes a value that should have been a whole number. */
static const char *describe(const vdesc *v, char *buf, size_t size)
{
    static const char *const words[] = {
        [JS_OBJECT] = "an object", [JS_ARRAY] = "an array", [JS_TRUE] = "true",
        [JS_FALSE] = "false", [JS_NULL] = "null"};

    if (v->kind == JS_NUMBER)
        snprintf(buf, size, "%.17g", v->num);
    else if (v->kind == JS_STRING)
        snprintf(buf, size, "\"%s\"", v->text);
    else
        snprintf(buf, size, "%s", words[v->kind]);
    return buf;
}

/* A whole number in [0, 2^53] (as sut_json_u64 reads one). */
static int whole(const vdesc *v, uint64_t *out)
{
    double d = v->num;

    if (v->kind != JS_NUMBER || !(d >= 0) || d > (double)SUT_JSON_INT_MAX ||
        d != (double)(uint64_t)d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

/* An array of whole numbers as read: its length and the first element that
 * is not one (bad < 0: none). */
typedef struct numlist {
    js_kind kind;
    size_t n;
    long bad;
    vdesc bad_value;
} numlist;

/* One entry's fields as read, checked in a fixed order when it ends. */
typedef struct entry_read {
    int has_dtype, has_shape, has_offsets;
    char unknown[48];     /* the first unknown field, or "" */
    vdesc dtype;
    int dtype_ok;
    numlist shape, offsets;
} entry_read;

#define TFMT "%s: tensor '%.*s': "

/* The dims of the tensor being read go at the end of f->dims. */
static int push_dim(st_file *f, uint64_t v, const char *label, sut_error *err)
{
    if (f->ndims == f->dims_cap) {
        size_t cap = f->dims_cap ? f->dims_cap * 2 : 256, bytes;
        uint64_t *grown;
        if (ck_array(cap, sizeof(uint64_t), &bytes) != 0 ||
            !(grown = realloc(f->dims, bytes))) {
            sut_error_oom(err, label);
            return -1;
        }
        f->dims = grown;
        f->dims_cap = cap;
    }
    f->dims[f->ndims++] = v;
    return 0;
}

/* Reads an array of numbers; with dims set, keeps them in f->dims, else
 * the first two in two[]. */
static int read_numbers(jscan *js, st_file *f, int dims, uint64_t two[2],
                        numlist *l, sut_error *err)
{
    int first = 1, r;
    vdesc v;
    uint64_t x = 0;

    l->n = 0;
    l->bad = -1;
    if ((l->kind = js_peek(js)) != JS_ARRAY)
        return read_value(js, &v);
    if (js_open(js) != 0)
        return -1;
    while ((r = js_next_item(js, &first)) == 1) {
        if (read_value(js, &v) != 0)
            return -1;
        if (whole(&v, &x) != 0 && l->bad < 0) {
            l->bad = (long)l->n;
            l->bad_value = v;
        }
        if (dims && push_dim(f, x, js->label, err) != 0)
            return -1;
        if (!dims && l->n < 2)
            two[l->n] = x;
        l->n++;
    }
    return r;
}

/* Reads one entry's fields (the '{' not yet consumed). 0 or -1. */
static int read_entry(jscan *js, st_file *f, st_tensor *t, entry_read *e,
                      sut_error *err)
{
    int first = 1, r;
    const char *key;

    if (js_open(js) != 0)
        return -1;
    while ((r = js_next_key(js, &first)) == 1) {
        int *seen = NULL;
        key = js->str;
        if (strcmp(key, "dtype") == 0)
            seen = &e->has_dtype;
        else if (strcmp(key, "shape") == 0)
            seen = &e->has_shape;
        else if (strcmp(key, "data_offsets") == 0)
            seen = &e->has_offsets;
        if (seen && *seen) {
            sut_error_set(err, "%s: duplicate key '%s'", js->label, key);
            return -1;
        }
        if (!seen) {
            if (!e->unknown[0])
                snprintf(e->unknown, sizeof(e->unknown), "%.*s", sut_cut(key, 40), key);
            r = js_skip(js);
        } else if (seen == &e->has_dtype) {
            r = read_value(js, &e->dtype);
            e->dtype_ok = r == 0 && e->dtype.kind == JS_STRING &&
                          st_dtype_parse(js->str, &t->dtype) == 0;
        } else if (seen == &e->has_shape) {
            r = read_numbers(js, f, 1, NULL, &e->shape, err);
        } else {
            uint64_t two[2] = {0, 0};
            r = read_numbers(js, f, 0, two, &e->offsets, err);
            t->begin = two[0];
            t->end = two[1];
        }
        if (r != 0)
            return -1;
        if (seen)
            *seen = 1;
    }
    return r;
}

static int bad_number(const st_tensor *t, const char *field, const numlist *l,
                      const char *label, sut_error *err)
{
    char buf[64];

    sut_error_set(err, TFMT "%s[%ld]: %s is not a whole number in [0, 2^53]",
                  label, SUT_CUT(t->name), field, l->bad,
                  describe(&l->bad_value, buf, sizeof(buf)));
    return -1;
}

static int check_dtype(const st_tensor *t, const entry_read *e,
                       const char *label, sut_error *err)
{
    if (e->dtype.kind != JS_STRING) {
        sut_error_set(err, TFMT "dtype: not a string", label, SUT_CUT(t->name));
        return -1;
    }
    if (!e->dtype_ok) {
        sut_error_set(err, TFMT "dtype: unknown dtype '%.*s'", label,
                      SUT_CUT(t->name), sut_cut(e->dtype.text, 40), e->dtype.text);
        return -1;
    }
    return 0;
}

static int check_shape(st_tensor *t, const entry_read *e, const char *label,
                       sut_error *err)
{
    size_t i;

    if (e->shape.kind != JS_ARRAY) {
        sut_error_set(err, TFMT "shape: not an array", label, SUT_CUT(t->name));
        return -1;
    }
    if (e->shape.bad >= 0)
        return bad_number(t, "shape", &e->shape, label, err);
    t->elements = 1;
    for (i = 0; i < t->ndim; i++) {
        if (ck_mul(t->elements, t->shape[i], &t->elements) != 0) {
            sut_error_set(err, TFMT "shape: element count overflows 64 bits",
                          label, SUT_CUT(t->name));
            return -1;
        }
    }
    return 0;
}

static int check_offsets(const st_tensor *t, const entry_read *e,
                         const char *label, sut_error *err)
{
    if (e->offsets.kind != JS_ARRAY) {
        sut_error_set(err, TFMT "data_offsets: not an array", label, SUT_CUT(t->name));
        return -1;
    }
    if (e->offsets.n != 2) {
        sut_error_set(err, TFMT "data_offsets: expected [begin, end], got %zu "
                      "entries", label, SUT_CUT(t->name), e->offsets.n);
        return -1;
    }
    if (e->offsets.bad >= 0)
        return bad_number(t, "data_offsets", &e->offsets, label, err);
    if (t->begin > t->end) {
        sut_error_set(err, TFMT "data_offsets [%llu, %llu]: begin is after end",
                      label, SUT_CUT(t->name), (unsigned long long)t->begin,
                      (unsigned long long)t->end);
        return -1;
    }
    return 0;
}

/* Checks elements x bits / 8 is whole and equals end - begin. */
static int check_size(const st_tensor *t, const char *label, sut_error *err)
{
    char sh[SHAPE_TEXT];
    uint64_t bits;
    int over = ck_mul(t->elements, st_dtype_bits(t->dtype), &bits) != 0;

    if (!over && bits % 8 == 0 && bits / 8 == t->end - t->begin)
        return 0;
    fmt_shape(t->shape, t->ndim, sh, sizeof(sh));
    if (over) {
        sut_error_set(err, TFMT "shape %s of %s: size in bits overflows 64 bits",
                      label, SUT_CUT(t->name), sh, st_dtype_name(t->dtype));
        return -1;
    }
    if (bits % 8 != 0) {
        sut_error_set(err, TFMT "shape %s of %s is %llu bits, not a whole "
                      "number of bytes", label, SUT_CUT(t->name), sh,
                      st_dtype_name(t->dtype), (unsigned long long)bits);
        return -1;
    }
    if (bits / 8 != t->end - t->begin) {
        sut_error_set(err, TFMT "data_offsets [%llu, %llu] span %llu bytes but "
                      "%s shape %s needs %llu", label, SUT_CUT(t->name),
                      (unsigned long long)t->begin, (unsigned long long)t->end,
                      (unsigned long long)(t->end - t->begin),
                      st_dtype_name(t->dtype), sh,
                      (unsigned long long)(bits / 8));
        return -1;
    }
    return 0;
}

/* Reads the entry of tensor t (t->name set, pointing into the arena) and
 * checks it: fields, dtype, shape, offsets, size, in that order. The
 * shape goes at the end of f->dims (t->shape points there until the next
 * entry moves the array). 0 or -1. */
static int parse_entry(jscan *js, st_file *f, st_tensor *t, sut_error *err)
{
    entry_read e;
    size_t dims0 = f->ndims;
    const char *label = js->label;

    memset(&e, 0, sizeof(e));
    if (js_peek(js) != JS_OBJECT) {
        if (js_skip(js) != 0)
            return -1;
        sut_error_set(err, TFMT "entry is not a JSON object", label, SUT_CUT(t->name));
        return -1;
    }
    if (read_entry(js, f, t, &e, err) != 0)
        return -1;
    t->ndim = f->ndims - dims0;
    t->shape = f->dims + dims0;
    if (e.unknown[0]) {
        sut_error_set(err, TFMT "unknown field '%s'", label, SUT_CUT(t->name), e.unknown);
        return -1;
    }
    if (!e.has_dtype || !e.has_shape || !e.has_offsets) {
        sut_error_set(err, TFMT "%s: missing", label, SUT_CUT(t->name),
                      !e.has_dtype ? "dtype" : !e.has_shape ? "shape" : "data_offsets");
        return -1;
    }
    if (check_dtype(t, &e, label, err) || check_shape(t, &e, label, err) ||
        check_offsets(t, &e, label, err))
        return -1;
    return check_size(t, label, err);
}

/* ---- the whole header ------------------------------------------------ */

/* Copies s (len bytes and a NUL) into the name arena; its offset in *at. */
static int arena_put(st_file *f, const char *s, size_t len, size_t *at,
                     const char *label, sut_error *err)
{
    if (len + 1 > f->arena_cap - f->arena_len) {
        size_t cap = f->arena_cap ? f->arena_cap : 4096;
        char *grown;
        while (cap - f->arena_len < len + 1) {
            if (cap > SIZE_MAX / 2)
                goto oom;
            cap *= 2;
        }
        if (!(grown = realloc(f->arena, cap)))
            goto oom;
        /* zeroed: word-wise readers (PCRE2's JIT) may look past a name */
        memset(grown + f->arena_len, 0, cap - f->arena_len);
        f->arena = grown;
        f->arena_cap = cap;
    }
    memcpy(f->arena + f->arena_len, s, len + 1);
    *at = f->arena_len;
    f->arena_len += len + 1;
    return 0;
oom:
    sut_error_oom(err, label);
    return -1;
}

/* Room for one more element in an array of *cap elements of size sz. */
static int grow(void *pp, size_t n, size_t *cap, size_t sz, const char *label,
                sut_error *err)
{
    void **p = pp, *grown;
    size_t want = *cap ? *cap * 2 : 64, bytes;

    if (n < *cap)
        return 0;
    if (ck_array(want, sz, &bytes) != 0 || !(grown = realloc(*p, bytes))) {
        sut_error_oom(err, label);
        return -1;
    }
    *p = grown;
    *cap = want;
    return 0;
}

static int read_meta(jscan *js, st_file *f, sut_error *err)
{
    int first = 1, r;
    size_t k, v;

    if (js_peek(js) == JS_NULL)
        return js_literal(js); /* the reference reads null as no metadata */
    if (js_peek(js) != JS_OBJECT) {
        if (js_skip(js) != 0)
            return -1;
        sut_error_set(err, "%s: __metadata__: not a JSON object", js->label);
        return -1;
    }
    if (js_open(js) != 0)
        return -1;
    while ((r = js_next_key(js, &first)) == 1) {
        if (arena_put(f, js->str, js->str_len, &k, js->label, err) != 0)
            return -1;
        if (js_peek(js) != JS_STRING) {
            if (js_skip(js) == 0)
                sut_error_set(err, "%s: __metadata__: '%.*s': not a string",
                              js->label, SUT_CUT(f->arena + k));
            return -1;
        }
        if (js_string(js) != 0 ||
            arena_put(f, js->str, js->str_len, &v, js->label, err) != 0 ||
            grow(&f->meta_off, 2 * f->meta_count, &f->meta_cap,
                 2 * sizeof(size_t), js->label, err) != 0)
            return -1;
        f->meta_off[2 * f->meta_count] = k;
        f->meta_off[2 * f->meta_count + 1] = v;
        f->meta_count++;
    }
    return r;
}

/* Reads one tensor entry whose name is in js->str. */
static int read_tensor(jscan *js, st_file *f, sut_error *err)
{
    st_tensor *t;
    size_t at;

    if (grow(&f->tensors, f->count, &f->cap, sizeof(st_tensor), js->label,
             err) != 0 ||
        arena_put(f, js->str, js->str_len, &at, js->label, err) != 0)
        return -1;
    t = &f->tensors[f->count++];
    memset(t, 0, sizeof(*t));
    t->name = f->arena + at;
    if (parse_entry(js, f, t, err) != 0)
        return -1;
    /* offsets until the arrays stop moving (see fix_pointers) */
    t->name = (char *)(uintptr_t)at;
    t->shape = (uint64_t *)(uintptr_t)(size_t)(t->shape - f->dims);
    return 0;
}

/* The names and shapes stored as offsets become pointers. */
static int fix_pointers(st_file *f, const char *label, sut_error *err)
{
    size_t i, bytes;

    for (i = 0; i < f->count; i++) {
        st_tensor *t = &f->tensors[i];
        t->name = f->arena + (uintptr_t)t->name;
        t->shape = f->dims + (uintptr_t)t->shape;
    }
    if (f->meta_count == 0)
        return 0;
    if (ck_array(f->meta_count, sizeof(char *), &bytes) != 0 ||
        !(f->meta_keys = malloc(bytes)) || !(f->meta_values = malloc(bytes))) {
        sut_error_oom(err, label);
        return -1;
    }
    for (i = 0; i < f->meta_count; i++) {
        f->meta_keys[i] = f->arena + f->meta_off[2 * i];
        f->meta_values[i] = f->arena + f->meta_off[2 * i + 1];
    }
    return 0;
}

/* Reads the header object: tensors in order, __metadata__ aside. */
static int read_header(jscan *js, st_file *f, sut_error *err)
{
    int first = 1, r, meta_seen = 0;

    if (js_peek(js) != JS_OBJECT) {
        if (js_skip(js) != 0 || js_finish(js) != 0)
            return -1;
        sut_error_set(err, "%s: header is not a JSON object", js->label);
        return -1;
    }
    /* dims is never NULL: a scalar's shape points into it too */
    if (grow(&f->dims, 0, &f->dims_cap, sizeof(uint64_t), js->label, err) != 0 ||
        js_open(js) != 0)
        return -1;
    while ((r = js_next_key(js, &first)) == 1) {
        if (strcmp(js->str, "__metadata__") != 0)
            r = read_tensor(js, f, err);
        else if (meta_seen++)
            sut_error_set(err, "%s: duplicate key '__metadata__'", js->label), r = -1;
        else
            r = read_meta(js, f, err);
        if (r != 0)
            return -1;
    }
    if (r != 0 || js_finish(js) != 0)
        return -1;
    return fix_pointers(f, js->label, err);
}

/* qsort has no context argument: the tensors being sorted, per thread. */
static _Thread_local const st_tensor *sort_base;

static int cmp_offsets(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const st_tensor *x = &sort_base[i], *y = &sort_base[j];

    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return i < j ? -1 : i > j;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(sort_base[*(const size_t *)a].name,
                  sort_base[*(const size_t *)b].name);
}

/* Indices 0..count-1 sorted by (begin, end, index) or by name. A new array
 * (caller frees), or NULL when out of memory. */
static size_t *sorted_order(const st_file *f, int by_name)
{
    size_t i, bytes, *order;

    if (ck_array(f->count ? f->count : 1, sizeof(size_t), &bytes) != 0 ||
        !(order = malloc(bytes)))
        return NULL;
    for (i = 0; i < f->count; i++)
        order[i] = i;
    sort_base = f->tensors;
    qsort(order, f->count, sizeof(size_t), by_name ? cmp_names : cmp_offsets);
    sort_base = NULL;
    return order;
}

#define OFFS(t) (unsigned long long)(t)->begin, (unsigned long long)(t)->end

/* Checks one tensor (in offset order) against the running end pos. */
static int check_next(const st_tensor *t, const st_tensor *prev, uint64_t pos,
                      uint64_t data_len, const char *label, sut_error *err)
{
    if (t->begin > pos && !prev) {
        sut_error_set(err, TFMT "data_offsets [%llu, %llu] do not start at 0 "
                      "(the first tensor's data must)", label, SUT_CUT(t->name), OFFS(t));
        return -1;
    }
    if (t->begin > pos) {
        sut_error_set(err, TFMT "data_offsets [%llu, %llu] leave a hole of %llu "
                      "bytes after the previous tensor '%.*s' [%llu, %llu]",
                      label, SUT_CUT(t->name), OFFS(t),
                      (unsigned long long)(t->begin - pos), SUT_CUT(prev->name),
                      OFFS(prev));
        return -1;
    }
    if (t->begin < pos) {
        sut_error_set(err, TFMT "data_offsets [%llu, %llu] overlap the previous "
                      "tensor '%.*s' [%llu, %llu]", label, SUT_CUT(t->name), OFFS(t),
                      SUT_CUT(prev->name), OFFS(prev));
        return -1;
    }
    if (t->end > data_len) {
        sut_error_set(err, TFMT "data_offsets [%llu, %llu] extend past the end "
                      "of the data (%llu bytes)", label, SUT_CUT(t->name), OFFS(t),
                      (unsigned long long)data_len);
        return -1;
    }
    return 0;
}

/* Offsets sorted are contiguous from 0 and end exactly at data_len. */
static int check_layout(const st_file *f, uint64_t data_len, const char *label,
                        sut_error *err)
{
    const st_tensor *prev = NULL;
    uint64_t pos = 0;
    size_t i, *order = sorted_order(f, 0);
    int rc = -1;

    if (!order) {
        sut_error_oom(err, label);
        return -1;
    }
    for (i = 0; i < f->count; i++) {
        const st_tensor *t = &f->tensors[order[i]];
        if (check_next(t, prev, pos, data_len, label, err) != 0)
            goto out;
        pos = t->end;
        prev = t;
    }
    if (pos < data_len && f->count == 0) {
        sut_error_set(err, "%s: %llu bytes of data after a header with no "
                      "tensors", label, (unsigned long long)data_len);
        goto out;
    }
    if (pos < data_len) {
        sut_error_set(err, "%s: %llu bytes after the last tensor (data ends at "
                      "%llu, the data section has %llu)", label,
                      (unsigned long long)(data_len - pos),
                      (unsigned long long)pos, (unsigned long long)data_len);
        goto out;
    }
    rc = 0;
out:
    free(order);
    return rc;
}

static int check_numbers(const num_issue *num, const char *label,
                         sut_error *err)
{
    if (!num->found)
        return 0;
    sut_error_set(err, "%s: header: number %s at byte %zu is not written as "
                  "an integer in [0, 2^53]", label, num->text, num->at);
    return -1;
}

/* Two tensors of one name (adjacent in by_name order). 0 or -1. */
static int check_duplicates(const st_file *f, const char *label,
                            sut_error *err)
{
    size_t i;

    for (i = 1; i < f->count; i++) {
        const char *a = f->tensors[f->by_name[i - 1]].name;
        if (strcmp(a, f->tensors[f->by_name[i]].name) == 0) {
            sut_error_set(err, "%s: duplicate key '%.*s'", label, SUT_CUT(a));
            return -1;
        }
    }
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A metadata key given twice. 0 or -1. */
static int check_meta_duplicates(const st_file *f, const char *label,
                                 sut_error *err)
{
    char **keys;
    size_t i, bytes;
    int rc = 0;

    if (f->meta_count < 2)
        return 0;
    if (ck_array(f->meta_count, sizeof(char *), &bytes) != 0 ||
        !(keys = malloc(bytes))) {
        sut_error_oom(err, label);
        return -1;
    }
    memcpy(keys, f->meta_keys, bytes);
    qsort(keys, f->meta_count, sizeof(char *), cmp_str_ptr);
    for (i = 1; i < f->meta_count && rc == 0; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            sut_error_set(err, "%s: duplicate key '%.*s'", label, SUT_CUT(keys[i]));
            rc = -1;
        }
    }
    free(keys);
    return rc;
}

st_file *st_parse_header(const char *hdr, size_t hdr_len, uint64_t data_len,
                         const char *label, sut_error *err)
{
    num_issue num = {0};
    jscan js;
    st_file *f = calloc(1, sizeof(*f));

    js_init(&js, hdr, hdr_len, label, err);
    if (!f || !(f->path = strdup(label))) {
        sut_error_oom(err, label);
        goto fail;
    }
    if (check_text(hdr, hdr_len, &num, label, err) != 0 ||
        read_header(&js, f, err) != 0)
        goto fail;
    if (!(f->by_name = sorted_order(f, 1))) {
        sut_error_oom(err, label);
        goto fail;
    }
    if (check_meta_duplicates(f, label, err) != 0 ||
        check_duplicates(f, label, err) != 0 ||
        check_layout(f, data_len, label, err) != 0 ||
        check_numbers(&num, label, err) != 0)
        goto fail;
    if (ck_add(8, hdr_len, &f->data_start) != 0) {
        sut_error_set(err, "%s: header length overflows", label);
        goto fail;
    }
    f->data_size = data_len;
    js_release(&js);
    return f;
fail:
    js_release(&js);
    st_free(f);
    return NULL;
}

/* ---- st_open --------------------------------------------------------- */

static uint64_t le64(const unsigned char b[8])
{
    uint64_t v = 0;
    int i;

    for (i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* Checks the header length n against the file size; 0 or -1. */
static int check_header_len(uint64_t n, uint64_t size, const char *label,
                            sut_error *err)
{
    if (n > size - 8) {
        sut_error_set(err, "%s: header length %llu exceeds the file size "
                      "(%llu bytes)", label, (unsigned long long)n,
                      (unsigned long long)size);
        return -1;
    }
    if (n > ST_HEADER_MAX) {
        sut_error_set(err, "%s: header length %llu exceeds the limit of %llu "
                      "bytes", label, (unsigned long long)n, ST_HEADER_MAX);
        return -1;
    }
    return 0;
}

st_file *st_open(const char *path, sut_error *err)
{
    const char *label = sut_basename(path);
    unsigned char lenbuf[8];
    struct stat sb;
    char *hdr = NULL, *copy;
    st_file *f = NULL;
    uint64_t size, n;
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
    size = (uint64_t)sb.st_size;
    if (size < 8) {
        sut_error_set(err, "%s: file is %llu bytes, too short for the 8-byte "
                      "header length", label, (unsigned long long)size);
        goto out;
    }
    if (xfer_pread_exact(fd, lenbuf, 8, 0) != 0)
        goto read_failed;
    if (memcmp(lenbuf, "GGUF", 4) == 0) {
        sut_error_set(err, "%s: is a GGUF file", label);
        goto out;
    }
    n = le64(lenbuf);
    if (check_header_len(n, size, label, err) != 0)
        goto out;
    if (!(hdr = malloc(n ? (size_t)n : 1))) {
        sut_error_set(err, "%s: out of memory for a %llu-byte header", label,
                      (unsigned long long)n);
        goto out;
    }
    if (xfer_pread_exact(fd, hdr, (size_t)n, 8) != 0)
        goto read_failed;
    if (!(f = st_parse_header(hdr, (size_t)n, size - 8 - n, label, err)))
        goto out;
    if (!(copy = strdup(path))) {
        sut_error_oom(err, label);
        st_free(f);
        f = NULL;
        goto out;
    }
    free(f->path);
    f->path = copy;
    goto out;
read_failed:
    sut_error_set(err, "%s: read failed: %s", label,
                  errno ? strerror(errno) : "unexpected end of file");
out:
    free(hdr);
    close(fd);
    return f;
}

bool st_same_shape(const st_tensor *a, const st_tensor *b)
{
    return a->ndim == b->ndim &&
           (a->ndim == 0 || memcmp(a->shape, b->shape, a->ndim * sizeof(*a->shape)) == 0);
}
