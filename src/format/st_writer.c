/* st_writer.c: the streaming safetensors writer (see safetensors.h).
 * The header text is built here (numbers printed as exact integers) and,
 * before it is written, parsed back with st_parse_header so that every file
 * written is one the reader accepts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "suture/safetensors.h"
#include "suture/xfer.h"
#include "common/util.h"
#include "common/checked.h"

typedef struct wtensor {
    char *name;
    st_dtype dtype;
    size_t ndim;
    uint64_t *shape;
    uint64_t begin, end;  /* relative to the data section */
} wtensor;

struct st_writer {
    char *path;
    const char *label;    /* base name of path */
    int fd;
    wtensor *tensors;
    size_t count, cap;
    size_t *slots;        /* open-addressing set of tensor index + 1 */
    size_t nslots;
    char **meta;          /* key, value, key, value ... */
    size_t meta_count, meta_cap;
    uint64_t data_start, data_size, written;
    size_t cur;           /* tensor the next data byte belongs to */
    uint64_t phase, align;  /* data start % align == phase; align 0: none */
    xfer_stats stats;
    int begun, done;
};

/* A growable text buffer; a failed append sets oom and drops the rest. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    size_t need;

    if (b->oom)
        return;
    if (__builtin_add_overflow(b->len, n + 1, &need) || n + 1 == 0) {
        b->oom = 1;
        return;
    }
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < need)
            cap *= 2;
        if (!(p = realloc(b->s, cap))) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_u64(sbuf *b, uint64_t v)
{
    char num[24];

    snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
    sb_str(b, num);
}

/* Appends s as a JSON string: quotes, backslashes and control characters
 * escaped, other bytes as they are. */
static void sb_json_str(sbuf *b, const char *s)
{
    const char *run = s;
    char esc[8];

    sb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sb_add(b, run, (size_t)(s - run));
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof(esc), "\\%c", c);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", c);
        sb_str(b, esc);
        run = s + 1;
    }
    sb_add(b, run, (size_t)(s - run));
    sb_add(b, "\"", 1);
}

/* ---- create / free --------------------------------------------------- */

st_writer *st_writer_create(const char *path, sut_error *err)
{
    st_writer *w = calloc(1, sizeof(*w));

    if (!w || !(w->path = strdup(path))) {
        sut_error_oom(err, sut_basename(path));
        free(w);
        return NULL;
    }
    w->label = sut_basename(w->path);
    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        sut_error_set(err, "%s: cannot create: %s", w->label, strerror(errno));
        free(w->path);
        free(w);
        return NULL;
    }
    return w;
}

st_writer *st_writer_dry(const char *label, sut_error *err)
{
    st_writer *w = calloc(1, sizeof(*w));

    if (!w || !(w->path = strdup(label))) {
        sut_error_oom(err, label);
        free(w);
        return NULL;
    }
    w->label = sut_basename(w->path);
    w->fd = -1;
    return w;
}

void st_writer_free(st_writer *w)
{
    size_t i;

    if (!w)
        return;
    if (!w->done && w->fd >= 0) {
        close(w->fd);
        unlink(w->path);
    }
    for (i = 0; i < w->count; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].shape);
    }
    for (i = 0; i < 2 * w->meta_count; i++)
        free(w->meta[i]);
    free(w->tensors);
    free(w->slots);
    free(w->meta);
    free(w->path);
    free(w);
}

int st_writer_fd(const st_writer *w)
{
    return w->fd;
}

uint64_t st_writer_tensor_offset(const st_writer *w, size_t i)
{
    return i < w->count ? w->data_start + w->tensors[i].begin : 0;
}

void st_writer_align(st_writer *w, uint64_t phase, uint64_t align)
{
    if (align >= 8 && (align & (align - 1)) == 0 && phase % 8 == 0) {
        w->phase = phase % align;
        w->align = align;
    }
}

void st_writer_stats(const st_writer *w, uint64_t *shared, uint64_t *copied)
{
    *shared = w->stats.shared;
    *copied = w->stats.copied;
}

/* ---- declarations ---------------------------------------------------- */

/* Grows an array of *cap elements of size sz to hold n + 1. 0 or -1. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    size_t ncap, bytes;
    void *p;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 16;
    if (ck_array(ncap, sz, &bytes) != 0 || !(p = realloc(*arr, bytes)))
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int check_open(const st_writer *w, const char *what, sut_error *err)
{
    if (!w->begun)
        return 0;
    sut_error_set(err, "%s: %s after the header was written", w->label, what);
    return -1;
}

int st_writer_meta(st_writer *w, const char *key, const char *value,
                   sut_error *err)
{
    size_t i;
    char *k = NULL, *v = NULL;

    if (check_open(w, "metadata added", err) != 0)
        return -1;
    if (strcmp(key, "format") == 0) {
        sut_error_set(err, "%s: __metadata__: key 'format' is reserved", w->label);
        return -1;
    }
    for (i = 0; i < w->meta_count; i++) {
        if (strcmp(w->meta[2 * i], key) == 0) {
            sut_error_set(err, "%s: __metadata__: duplicate key '%.*s'",
                          w->label, SUT_CUT(key));
            return -1;
        }
    }
    if (grow((void **)&w->meta, &w->meta_cap, 2 * w->meta_count + 1,
             sizeof(char *)) != 0 || !(k = strdup(key)) || !(v = strdup(value))) {
        free(k);
        sut_error_oom(err, w->label);
        return -1;
    }
    w->meta[2 * w->meta_count] = k;
    w->meta[2 * w->meta_count + 1] = v;
    w->meta_count++;
    return 0;
}

/* The slot of name in the set: where it is, or the empty one where it
 * would go. nslots is a power of two. */
static size_t find_slot(const st_writer *w, const char *name)
{
    size_t mask = w->nslots - 1;
    size_t i = (size_t)XXH3_64bits(name, strlen(name)) & mask;

    while (w->slots[i] && strcmp(w->tensors[w->slots[i] - 1].name, name) != 0)
        i = (i + 1) & mask;
    return i;
}

/* Keeps the set at most half full. 0 or -1. */
static int grow_set(st_writer *w)
{
    size_t *old = w->slots, n = w->nslots, i, bytes;

    if (2 * (w->count + 1) <= w->nslots)
        return 0;
    w->nslots = n ? 2 * n : 64;
    if (ck_array(w->nslots, sizeof(size_t), &bytes) != 0 ||
        !(w->slots = calloc(1, bytes))) {
        w->slots = old;
        w->nslots = n;
        return -1;
    }
    for (i = 0; i < n; i++)
        if (old[i])
            w->slots[find_slot(w, w->tensors[old[i] - 1].name)] = old[i];
    free(old);
    return 0;
}

/* The byte size of a tensor, checked: 0 or -1 with err set. */
static int tensor_bytes(const st_writer *w, const char *name, st_dtype dtype,
                        size_t ndim, const uint64_t *shape, uint64_t *out,
                        sut_error *err)
{
    uint64_t n = 1;
    size_t i;

    if (st_dtype_bits(dtype) == 0) {
        sut_error_set(err, "%s: tensor '%.*s': dtype: invalid value %d",
                      w->label, SUT_CUT(name), (int)dtype);
        return -1;
    }
    for (i = 0; i < ndim; i++) {
        if (shape[i] > SUT_JSON_INT_MAX || ck_mul(n, shape[i], &n) != 0) {
            sut_error_set(err, "%s: tensor '%.*s': shape: too large", w->label,
                          SUT_CUT(name));
            return -1;
        }
    }
    if (ck_mul(n, st_dtype_bits(dtype), &n) != 0 || n / 8 > SUT_JSON_INT_MAX) {
        sut_error_set(err, "%s: tensor '%.*s': shape: too large", w->label, SUT_CUT(name));
        return -1;
    }
    if (n % 8 != 0) {
        sut_error_set(err, "%s: tensor '%.*s': %llu bits of %s are not a whole "
                      "number of bytes", w->label, SUT_CUT(name), (unsigned long long)n,
                      st_dtype_name(dtype));
        return -1;
    }
    *out = n / 8;
    return 0;
}

/* Fills t as a copy of the declaration, starting at offset begin. */
static int fill_tensor(wtensor *t, const char *name, st_dtype dtype,
                       size_t ndim, const uint64_t *shape, uint64_t begin,
                       uint64_t bytes)
{
    size_t size;

    memset(t, 0, sizeof(*t));
    if (ck_array(ndim ? ndim : 1, sizeof(uint64_t), &size) != 0 ||
        !(t->shape = malloc(size)) || !(t->name = strdup(name))) {
        free(t->shape);
        return -1;
    }
    if (ndim)
        memcpy(t->shape, shape, ndim * sizeof(uint64_t));
    t->dtype = dtype;
    t->ndim = ndim;
    t->begin = begin;
    t->end = begin + bytes;
    return 0;
}

int st_writer_add(st_writer *w, const char *name, st_dtype dtype,
                  size_t ndim, const uint64_t *shape, sut_error *err)
{
    uint64_t bytes, end;
    size_t slot;

    if (check_open(w, "tensor added", err) != 0 ||
        tensor_bytes(w, name, dtype, ndim, shape, &bytes, err) != 0)
        return -1;
    if (strcmp(name, "__metadata__") == 0) {
        sut_error_set(err, "%s: tensor '__metadata__': the name is reserved",
                      w->label);
        return -1;
    }
    if (ck_add(w->data_size, bytes, &end) != 0 || end > SUT_JSON_INT_MAX) {
        sut_error_set(err, "%s: tensor '%.*s': data would pass 2^53 bytes",
                      w->label, SUT_CUT(name));
        return -1;
    }
    if (grow_set(w) != 0 ||
        grow((void **)&w->tensors, &w->cap, w->count, sizeof(wtensor)) != 0)
        goto oom;
    slot = find_slot(w, name);
    if (w->slots[slot]) {
        sut_error_set(err, "%s: tensor '%.*s': declared twice", w->label, SUT_CUT(name));
        return -1;
    }
    if (fill_tensor(&w->tensors[w->count], name, dtype, ndim, shape,
                    w->data_size, bytes) != 0)
        goto oom;
    w->slots[slot] = ++w->count;
    w->data_size = end;
    return 0;
oom:
    sut_error_oom(err, w->label);
    return -1;
}

/* ---- the header ------------------------------------------------------ */

static void header_entry(sbuf *b, const wtensor *t)
{
    size_t i;

    sb_add(b, ",", 1);
    sb_json_str(b, t->name);
    sb_str(b, ":{\"dtype\":\"");
    sb_str(b, st_dtype_name(t->dtype));
    sb_str(b, "\",\"shape\":[");
    for (i = 0; i < t->ndim; i++) {
        if (i)
            sb_add(b, ",", 1);
        sb_u64(b, t->shape[i]);
    }
    sb_str(b, "],\"data_offsets\":[");
    sb_u64(b, t->begin);
    sb_add(b, ",", 1);
    sb_u64(b, t->end);
    sb_str(b, "]}");
}

/* The header text, padded with spaces to a multiple of 8. */
static void header_text(const st_writer *w, sbuf *b)
{
    size_t i;

    sb_str(b, "{\"__metadata__\":{\"format\":\"pt\"");
    for (i = 0; i < w->meta_count; i++) {
        sb_add(b, ",", 1);
        sb_json_str(b, w->meta[2 * i]);
        sb_add(b, ":", 1);
        sb_json_str(b, w->meta[2 * i + 1]);
    }
    sb_add(b, "}", 1);
    for (i = 0; i < w->count; i++)
        header_entry(b, &w->tensors[i]);
    sb_add(b, "}", 1);
    while (b->len % 8 != 0)
        sb_add(b, " ", 1);
    while (w->align && (8 + b->len) % w->align != w->phase && !b->oom)
        sb_add(b, "        ", 8);
}

/* Writes n bytes at off. 0, or -1 with err set to "write failed: ...". */
static int write_at(int fd, const void *buf, size_t n, uint64_t off,
                    sut_error *err)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t r = pwrite(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            sut_error_set(err, "write failed: %s",
                          r < 0 ? strerror(errno) : "no progress");
            return -1;
        }
        p += r;
        off += (uint64_t)r;
        n -= (size_t)r;
    }
    return 0;
}

/* Parses the header back by the reader's rules. 0 or -1 with err set. */
static int self_check(const st_writer *w, const sbuf *b, sut_error *err)
{
    st_file *f = st_parse_header(b->s, b->len, w->data_size, w->label, err);

    if (!f)
        return -1;
    st_free(f);
    return 0;
}

int st_writer_begin(st_writer *w, sut_error *err)
{
    unsigned char len[8];
    sbuf b = {0};
    int i, rc = -1;

    if (check_open(w, "header written again", err) != 0)
        return -1;
    header_text(w, &b);
    if (b.oom) {
        sut_error_set(err, "%s: out of memory for the header", w->label);
        goto out;
    }
    if (b.len > ST_HEADER_MAX) {
        sut_error_set(err, "%s: header of %zu bytes exceeds the limit of %llu",
                      w->label, b.len, ST_HEADER_MAX);
        goto out;
    }
    if (self_check(w, &b, err) != 0)
        goto out;
    if (w->fd < 0) {
        rc = 0; /* a dry writer: checked, nothing to write */
        goto out;
    }
    for (i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)b.len >> (8 * i));
    if (write_at(w->fd, len, 8, 0, err) != 0 ||
        write_at(w->fd, b.s, b.len, 8, err) != 0) {
        sut_error_prefix(err, "%s", w->label);
        goto out;
    }
    w->data_start = 8 + (uint64_t)b.len;
    w->begun = 1;
    rc = 0;
out:
    free(b.s);
    return rc;
}

/* ---- data ------------------------------------------------------------ */

/* Checks n more bytes fit the declared data. 0 or -1. */
static int check_room(const st_writer *w, uint64_t n, sut_error *err)
{
    if (!w->begun || w->done) {
        sut_error_set(err, "%s: data written %s", w->label,
                      w->done ? "after finish" : "before the header");
        return -1;
    }
    if (n > w->data_size - w->written) {
        sut_error_set(err, "%s: %llu bytes written past the declared data "
                      "(%llu of %llu bytes were written)", w->label,
                      (unsigned long long)(n - (w->data_size - w->written)),
                      (unsigned long long)w->written,
                      (unsigned long long)w->data_size);
        return -1;
    }
    return 0;
}

/* The name of the tensor the next data byte belongs to. */
static const char *current_name(st_writer *w)
{
    while (w->cur < w->count && w->tensors[w->cur].end <= w->written &&
           w->cur + 1 < w->count)
        w->cur++;
    return w->cur < w->count ? w->tensors[w->cur].name : "";
}

int st_writer_write(st_writer *w, const void *buf, size_t n, sut_error *err)
{
    if (check_room(w, n, err) != 0)
        return -1;
    if (write_at(w->fd, buf, n, w->data_start + w->written, err) != 0) {
        sut_error_prefix(err, "%s: tensor '%.*s'", w->label, SUT_CUT(current_name(w)));
        return -1;
    }
    w->written += n;
    w->stats.copied += n;
    return 0;
}

int st_writer_copy(st_writer *w, int src_fd, uint64_t src_off, uint64_t n,
                   sut_error *err)
{
    if (check_room(w, n, err) != 0)
        return -1;
    if (xfer_copy_shared(src_fd, src_off, w->fd, w->data_start + w->written, n,
                         &w->stats, err) != 0) {
        sut_error_prefix(err, "%s: tensor '%.*s'", w->label, SUT_CUT(current_name(w)));
        return -1;
    }
    w->written += n;
    return 0;
}

int st_writer_finish(st_writer *w, sut_error *err)
{
    if (!w->begun || w->done) {
        sut_error_set(err, "%s: finish %s", w->label,
                      w->done ? "called twice" : "before the header was written");
        return -1;
    }
    if (w->written != w->data_size) {
        sut_error_set(err, "%s: tensor '%.*s': only %llu of %llu data bytes "
                      "were written", w->label, SUT_CUT(current_name(w)),
                      (unsigned long long)w->written,
                      (unsigned long long)w->data_size);
        return -1;
    }
    if (fsync(w->fd) != 0) {
        sut_error_set(err, "%s: fsync failed: %s", w->label, strerror(errno));
        return -1;
    }
    w->done = 1;
    if (close(w->fd) != 0) {
        sut_error_set(err, "%s: close failed: %s", w->label, strerror(errno));
        unlink(w->path);
        return -1;
    }
    return 0;
}
