/* gguf_split.c: GGUF models in one file or in a split set (gguf.h). The
 * rules are those of llama.cpp's loader (llama_split_path, the split.*
 * keys of gguf-split): files PREFIX-%05d-of-%05d.gguf, numbered from 1,
 * each with split.no (from 0) and split.count; tensor names unique across
 * the set and as many as split.tensors.count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/gguf.h"
#include "common/util.h"

struct gguf_set {
    gguf_file **files;
    size_t count;
};

/* Reads exactly 5 digits at s. */
static bool five_digits(const char *s, unsigned *out)
{
    unsigned v = 0;
    int i;

    for (i = 0; i < 5; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

bool gguf_split_name(const char *path, unsigned *no, unsigned *count,
                     size_t *prefix_len)
{
    /* "-00001-of-00003.gguf" is 20 bytes */
    size_t n = strlen(path);
    const char *s;

    if (n <= 20)
        return false;
    s = path + n - 20;
    if (s[0] != '-' || memcmp(s + 6, "-of-", 4) != 0 ||
        strcmp(s + 15, ".gguf") != 0 || !five_digits(s + 1, no) ||
        !five_digits(s + 10, count) || *no < 1 || *no > *count)
        return false;
    *prefix_len = n - 20;
    return true;
}

void gguf_set_free(gguf_set *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->count; i++)
        gguf_free(s->files[i]);
    free(s->files);
    free(s);
}

size_t gguf_set_count(const gguf_set *s) { return s->count; }

const gguf_file *gguf_set_file(const gguf_set *s, size_t i)
{
    return i < s->count ? s->files[i] : NULL;
}

const gguf_file *gguf_set_meta(const gguf_set *s)
{
    return s->files[0];
}

/* A split key as a number: 0, or -1 with err set. */
static int split_key(const gguf_file *f, const char *key, uint64_t *out,
                     sut_error *err)
{
    const gguf_kv *kv = gguf_kv_find(f, key);

    if (!kv) {
        sut_error_set(err, "%s: key '%s': missing from a split file",
                      sut_basename(gguf_path(f)), key);
        return -1;
    }
    if (gguf_kv_u64(kv, out) != 0) {
        sut_error_set(err, "%s: key '%s': not a whole number",
                      sut_basename(gguf_path(f)), key);
        return -1;
    }
    return 0;
}

/* Checks file i of count holds the matching split keys. */
static int check_split_keys(const gguf_file *f, unsigned i, unsigned count,
                            uint64_t *total, sut_error *err)
{
    const char *label = sut_basename(gguf_path(f));
    uint64_t no, n;

    if (split_key(f, "split.no", &no, err) != 0 ||
        split_key(f, "split.count", &n, err) != 0 ||
        split_key(f, "split.tensors.count", total, err) != 0)
        return -1;
    if (no != i || n != count) {
        sut_error_set(err, "%s: split.no %llu of split.count %llu, but the "
                      "file name says file %u of %u", label,
                      (unsigned long long)no, (unsigned long long)n, i + 1,
                      count);
        return -1;
    }
    return 0;
}

/* Tensor names unique across the set and their number as declared. */
static int check_set_tensors(const gguf_set *s, uint64_t total,
                             sut_error *err)
{
    uint64_t seen = 0;
    size_t i, j, k;

    for (i = 0; i < s->count; i++) {
        const gguf_file *f = s->files[i];
        seen += gguf_tensor_count(f);
        for (j = 0; j < i; j++) {
            for (k = 0; k < gguf_tensor_count(f); k++) {
                const char *name = gguf_tensor_at(f, k)->name;
                if (gguf_tensor_find(s->files[j], name)) {
                    sut_error_set(err, "%s: tensor '%s': also in %s",
                                  sut_basename(gguf_path(f)), name,
                                  sut_basename(gguf_path(s->files[j])));
                    return -1;
                }
            }
        }
    }
    if (seen != total) {
        sut_error_set(err, "%s: split.tensors.count is %llu but the %zu files "
                      "hold %llu tensors", sut_basename(gguf_path(s->files[0])),
                      (unsigned long long)total, s->count,
                      (unsigned long long)seen);
        return -1;
    }
    return 0;
}

/* Opens the files PREFIX-0000i-of-0000N.gguf, i = 1..count. */
static int open_split(gguf_set *s, const char *path, size_t prefix_len,
                      unsigned count, sut_error *err)
{
    uint64_t total = 0, t;
    size_t n = prefix_len + 21;
    char *name = malloc(n);
    unsigned i;
    int rc = -1;

    if (!name || !(s->files = calloc(count, sizeof(gguf_file *)))) {
        sut_error_oom(err, sut_basename(path));
        goto out;
    }
    for (i = 0; i < count; i++) {
        snprintf(name, n, "%.*s-%05u-of-%05u.gguf", (int)prefix_len, path,
                 i + 1, count);
        if (!(s->files[i] = gguf_open(name, err)))
            goto out;
        s->count = i + 1;
        if (check_split_keys(s->files[i], i, count, &t, err) != 0)
            goto out;
        if (i > 0 && t != total) {
            sut_error_set(err, "%s: split.tensors.count %llu differs from the "
                          "first file's %llu", sut_basename(name),
                          (unsigned long long)t, (unsigned long long)total);
            goto out;
        }
        total = t;
    }
    rc = check_set_tensors(s, total, err);
out:
    free(name);
    return rc;
}

gguf_set *gguf_set_open(const char *path, sut_error *err)
{
    gguf_set *s = calloc(1, sizeof(*s));
    unsigned no, count;
    size_t prefix_len;

    if (!s) {
        sut_error_oom(err, sut_basename(path));
        return NULL;
    }
    if (gguf_split_name(path, &no, &count, &prefix_len)) {
        if (open_split(s, path, prefix_len, count, err) != 0)
            goto fail;
        return s;
    }
    if (!(s->files = calloc(1, sizeof(gguf_file *))) ||
        !(s->files[0] = gguf_open(path, err))) {
        if (!s->files)
            sut_error_oom(err, sut_basename(path));
        goto fail;
    }
    s->count = 1;
    if (gguf_get_u64(s->files[0], "split.count", 1) > 1) {
        sut_error_set(err, "%s: holds split.count %llu but its name is not "
                      "NAME-0000i-of-0000N.gguf", sut_basename(path),
                      (unsigned long long)gguf_get_u64(s->files[0],
                                                       "split.count", 1));
        goto fail;
    }
    return s;
fail:
    gguf_set_free(s);
    return NULL;
}
