/* gguf_writer.c: writing GGUF v3 files (see gguf.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suture/gguf.h"
#include "suture/xfer.h"
#include "common/util.h"
#include "common/checked.h"

typedef struct wbuf {
    unsigned char *b;
    size_t n, cap;
} wbuf;

typedef struct wtensor {
    char *name;
    uint64_t offset, bytes;   /* data-relative */
} wtensor;

struct gguf_writer {
    char *path;
    int fd;
    uint32_t alignment;
    wbuf kvs, infos;
    char **keys;
    size_t nkeys;
    wtensor *tensors;
    size_t ntensors;
    uint64_t data_size;       /* end of the last tensor, padded */
    uint64_t data_start;      /* absolute, after begin */
    size_t cur;               /* tensor being written */
    uint64_t done;            /* its bytes written */
    uint64_t written, declared; /* tensor bytes */
    int begun, finished, failed;
};

static int grow(wbuf *w, size_t n)
{
    unsigned char *nb;
    size_t cap;

    if (w->n + n <= w->cap)
        return 0;
    cap = (w->n + n) * 2 + 256;
    if (!(nb = realloc(w->b, cap)))
        return -1;
    w->b = nb;
    w->cap = cap;
    return 0;
}

static int put(wbuf *w, const void *p, size_t n)
{
    if (grow(w, n) != 0)
        return -1;
    if (n)
        memcpy(w->b + w->n, p, n);
    w->n += n;
    return 0;
}

static int put_le(wbuf *w, uint64_t v, unsigned n)
{
    unsigned char b[8];
    unsigned i;

    for (i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return put(w, b, n);
}

static int put_str(wbuf *w, const char *s, size_t n)
{
    return put_le(w, n, 8) || put(w, s, n) ? -1 : 0;
}

static const char *label(const gguf_writer *w)
{
    return sut_basename(w->path);
}

gguf_writer *gguf_writer_create(const char *path, uint32_t alignment,
                                sut_error *err)
{
    gguf_writer *w = calloc(1, sizeof(*w));

    if (!w || !(w->path = strdup(path))) {
        sut_error_oom(err, sut_basename(path));
        free(w);
        return NULL;
    }
    w->alignment = alignment ? alignment : GGUF_DEFAULT_ALIGNMENT;
    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        sut_error_set(err, "%s: cannot create: %s", label(w), strerror(errno));
        free(w->path);
        free(w);
        return NULL;
    }
    return w;
}

static int oom(const gguf_writer *w, sut_error *err)
{
    sut_error_oom(err, label(w));
    return -1;
}

int gguf_writer_kv(gguf_writer *w, const char *key, uint32_t type,
                   uint32_t elem, uint64_t count, const void *raw,
                   size_t raw_len, sut_error *err)
{
    char **keys;
    size_t i, n = strlen(key);

    if (w->begun || n == 0 || n > GGUF_KEY_MAX || type >= GGUF_V_COUNT) {
        sut_error_set(err, "%s: key '%.*s': cannot be added", label(w), SUT_CUT(key));
        return -1;
    }
    for (i = 0; i < w->nkeys; i++) {
        if (strcmp(w->keys[i], key) == 0) {
            sut_error_set(err, "%s: key '%.*s': added twice", label(w), SUT_CUT(key));
            return -1;
        }
    }
    if (!(keys = realloc(w->keys, (w->nkeys + 1) * sizeof(char *))))
        return oom(w, err);
    w->keys = keys;
    if (!(keys[w->nkeys] = strdup(key)))
        return oom(w, err);
    w->nkeys++;
    if (put_str(&w->kvs, key, n) || put_le(&w->kvs, type, 4) ||
        (type == GGUF_V_ARRAY &&
         (put_le(&w->kvs, elem, 4) || put_le(&w->kvs, count, 8))) ||
        put(&w->kvs, raw, raw_len))
        return oom(w, err);
    return 0;
}

static int kv_int(gguf_writer *w, const char *key, uint32_t type, uint64_t v,
                  unsigned n, sut_error *err)
{
    unsigned char b[8];
    unsigned i;

    for (i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return gguf_writer_kv(w, key, type, type, 1, b, n, err);
}

int gguf_writer_kv_u32(gguf_writer *w, const char *key, uint32_t v,
                       sut_error *err)
{
    return kv_int(w, key, GGUF_V_U32, v, 4, err);
}

int gguf_writer_kv_u16(gguf_writer *w, const char *key, uint16_t v,
                       sut_error *err)
{
    return kv_int(w, key, GGUF_V_U16, v, 2, err);
}

int gguf_writer_kv_i32(gguf_writer *w, const char *key, int32_t v,
                       sut_error *err)
{
    return kv_int(w, key, GGUF_V_I32, (uint32_t)v, 4, err);
}

int gguf_writer_kv_str(gguf_writer *w, const char *key, const char *s,
                       sut_error *err)
{
    wbuf b = {0};
    int rc;

    if (put_str(&b, s, strlen(s)) != 0) {
        free(b.b);
        return oom(w, err);
    }
    rc = gguf_writer_kv(w, key, GGUF_V_STRING, GGUF_V_STRING, 1, b.b, b.n, err);
    free(b.b);
    return rc;
}

static uint64_t pad_to(uint64_t n, uint32_t a)
{
    return (n + a - 1) / a * a;
}

static int check_name(gguf_writer *w, const char *name, sut_error *err)
{
    size_t i, n = strlen(name);

    if (w->begun || n == 0 || n > GGUF_NAME_MAX) {
        sut_error_set(err, "%s: tensor '%.*s': name must be 1 to 63 bytes",
                      label(w), SUT_CUT(name));
        return -1;
    }
    for (i = 0; i < w->ntensors; i++) {
        if (strcmp(w->tensors[i].name, name) == 0) {
            sut_error_set(err, "%s: tensor '%s': added twice", label(w), name);
            return -1;
        }
    }
    return 0;
}

int gguf_writer_add(gguf_writer *w, const char *name, uint32_t type,
                    size_t ndim, const uint64_t *ne, sut_error *err)
{
    wtensor *t;
    uint64_t bytes, end;
    size_t d;

    if (check_name(w, name, err) != 0)
        return -1;
    if (ndim > GGUF_MAX_DIMS || gguf_type_bytes(type, ne, ndim, &bytes) != 0 ||
        ck_add(w->data_size, bytes, &end) != 0 ||
        pad_to(end, w->alignment) < end) {
        sut_error_set(err, "%s: tensor '%s': shape and type %s do not make a "
                      "valid size", label(w), name, gguf_type_name(type));
        return -1;
    }
    if (!(t = realloc(w->tensors, (w->ntensors + 1) * sizeof(*t))))
        return oom(w, err);
    w->tensors = t;
    t = &w->tensors[w->ntensors];
    if (!(t->name = strdup(name)))
        return oom(w, err);
    t->offset = w->data_size;
    t->bytes = bytes;
    w->declared += bytes;
    w->ntensors++;
    w->data_size = pad_to(end, w->alignment);
    if (put_str(&w->infos, name, strlen(name)) || put_le(&w->infos, ndim, 4))
        return oom(w, err);
    for (d = 0; d < ndim; d++)
        if (put_le(&w->infos, ne[d], 8))
            return oom(w, err);
    if (put_le(&w->infos, type, 4) || put_le(&w->infos, t->offset, 8))
        return oom(w, err);
    return 0;
}

uint64_t gguf_writer_data_size(const gguf_writer *w)
{
    return w->data_size;
}

/* Writes n bytes at the absolute offset at. */
static int pwrite_all(gguf_writer *w, const void *buf, size_t n, uint64_t at,
                      sut_error *err)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t r = pwrite(w->fd, p, n, (off_t)at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            sut_error_set(err, "%s: write failed: %s", label(w), strerror(errno));
            return -1;
        }
        p += r;
        at += (uint64_t)r;
        n -= (size_t)r;
    }
    return 0;
}

int gguf_writer_begin(gguf_writer *w, sut_error *err)
{
    wbuf h = {0};
    int rc = -1;

    if (put(&h, "GGUF", 4) || put_le(&h, 3, 4) || put_le(&h, w->ntensors, 8) ||
        put_le(&h, w->nkeys, 8) || put(&h, w->kvs.b, w->kvs.n) ||
        put(&h, w->infos.b, w->infos.n)) {
        oom(w, err);
        goto out;
    }
    w->data_start = pad_to(h.n, w->alignment);
    if (grow(&h, (size_t)(w->data_start - h.n)) != 0) {
        oom(w, err);
        goto out;
    }
    memset(h.b + h.n, 0, (size_t)(w->data_start - h.n));
    h.n = (size_t)w->data_start;
    if (pwrite_all(w, h.b, h.n, 0, err) != 0)
        goto out;
    w->begun = 1;
    rc = 0;
out:
    free(h.b);
    return rc;
}

/* Where the next n bytes go (absolute), checking they belong to the
 * current tensor; advances past them, onto the next tensor when done. */
static int next_span(gguf_writer *w, uint64_t n, uint64_t *at, sut_error *err)
{
    const wtensor *t;

    while (w->cur < w->ntensors && w->done == w->tensors[w->cur].bytes &&
           n > 0) {
        w->cur++;
        w->done = 0;
    }
    if (!w->begun || w->cur >= w->ntensors ||
        n > w->tensors[w->cur].bytes - w->done) {
        sut_error_set(err, "%s: more data than the tensors declared", label(w));
        return -1;
    }
    t = &w->tensors[w->cur];
    *at = w->data_start + t->offset + w->done;
    w->done += n;
    w->written += n;
    return 0;
}

int gguf_writer_write(gguf_writer *w, const void *buf, size_t n,
                      sut_error *err)
{
    uint64_t at;

    if (n == 0)
        return 0;
    return next_span(w, n, &at, err) || pwrite_all(w, buf, n, at, err) ? -1 : 0;
}

int gguf_writer_copy(gguf_writer *w, int src_fd, uint64_t src_off, uint64_t n,
                     sut_error *err)
{
    uint64_t at;

    if (n == 0)
        return 0;
    if (next_span(w, n, &at, err) != 0)
        return -1;
    if (xfer_copy(src_fd, src_off, w->fd, at, n, err) != 0) {
        sut_error_prefix(err, "%s", label(w));
        return -1;
    }
    return 0;
}

int gguf_writer_zero(gguf_writer *w, uint64_t n, sut_error *err)
{
    uint64_t at;

    /* the file is new: what is not written reads as zeros (a hole) */
    return n == 0 ? 0 : next_span(w, n, &at, err);
}

int gguf_writer_finish(gguf_writer *w, sut_error *err)
{
    if (!w->begun || w->written != w->declared) {
        sut_error_set(err, "%s: not every tensor was written", label(w));
        return -1;
    }
    /* padding between tensors is a hole; the file ends at the padded end */
    if (ftruncate(w->fd, (off_t)(w->data_start + w->data_size)) != 0 ||
        fsync(w->fd) != 0) {
        sut_error_set(err, "%s: write failed: %s", label(w), strerror(errno));
        return -1;
    }
    if (close(w->fd) != 0) {
        w->fd = -1;
        sut_error_set(err, "%s: close failed: %s", label(w), strerror(errno));
        return -1;
    }
    w->fd = -1;
    w->finished = 1;
    return 0;
}

void gguf_writer_free(gguf_writer *w)
{
    size_t i;

    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (!w->finished)
        unlink(w->path);
    for (i = 0; i < w->nkeys; i++)
        free(w->keys[i]);
    for (i = 0; i < w->ntensors; i++)
        free(w->tensors[i].name);
    free(w->keys);
    free(w->tensors);
    free(w->kvs.b);
    free(w->infos.b);
    free(w->path);
    free(w);
}
