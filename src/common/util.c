/* util.c: small internal helpers (see util.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "checked.h"

char *sut_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

bool sut_plain_name(const char *name)
{
    return *name && !strchr(name, '/') && !strchr(name, '\\') &&
           strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int sut_cut(const char *s, int max)
{
    size_t n = strnlen(s, (size_t)max), back = 0;

    while (n > 0 && back < 3 && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--;
        back++;
    }
    return (int)n;
}

char *sut_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *out = malloc(a + b + 2);

    if (!out)
        return NULL;
    memcpy(out, dir, a);
    if (a > 0 && dir[a - 1] != '/')
        out[a++] = '/';
    memcpy(out + a, name, b + 1);
    return out;
}

bool sut_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);

    return a >= b && strcmp(s + a - b, suffix) == 0;
}

bool sut_is_file(const char *dir, const char *name)
{
    struct stat st;
    char *p = sut_path_join(dir, name);
    bool ok = p && stat(p, &st) == 0 && S_ISREG(st.st_mode);

    free(p);
    return ok;
}

static const char *kind_name(mode_t mode)
{
    return S_ISFIFO(mode) ? "a FIFO" : S_ISCHR(mode) ? "a character device"
           : S_ISBLK(mode) ? "a block device" : S_ISSOCK(mode) ? "a socket"
           : S_ISDIR(mode) ? "a folder" : "not a file";
}

int sut_file_kind(const char *dir, const char *name, sut_error *err)
{
    struct stat st;
    char *p = sut_path_join(dir, name);
    int rc = -1;

    if (!p) {
        sut_error_oom(err, name);
        return -1;
    }
    if (stat(p, &st) != 0) {
        int e = errno;
        if (e == ENOENT && lstat(p, &st) != 0)
            rc = 0;
        else if (e == ENOENT)
            sut_error_set(err, "%s: is a symbolic link to nothing", p);
        else
            sut_error_set(err, "%s: %s", p, strerror(e));
    } else if (S_ISREG(st.st_mode)) {
        rc = 1;
    } else {
        sut_error_set(err, "%s: is %s, not a regular file", p, kind_name(st.st_mode));
    }
    free(p);
    return rc;
}

const char *sut_basename(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash && slash[1] ? slash + 1 : path;
}

static int read_all(int fd, char *buf, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = read(fd, buf + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

char *sut_read_file(const char *path, size_t max, size_t *len, sut_error *err)
{
    struct stat st;
    char *buf = NULL;
    /* O_NONBLOCK: a FIFO must not hang the open */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0) {
        sut_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        sut_error_set(err, "%s: not a regular file", path);
        goto fail;
    }
    if ((uint64_t)st.st_size > max) {
        sut_error_set(err, "%s: file is %lld bytes, over the limit of %zu",
                      path, (long long)st.st_size, max);
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        sut_error_oom(err, path);
        goto fail;
    }
    if (read_all(fd, buf, (size_t)st.st_size) != 0) {
        sut_error_set(err, "%s: read failed: %s", path,
                      errno ? strerror(errno) : "unexpected end of file");
        goto fail;
    }
    buf[st.st_size] = '\0';
    *len = (size_t)st.st_size;
    close(fd);
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *sut_json_duplicate_key(const cJSON *obj)
{
    const cJSON *it;
    const char **keys;
    const char *dup = NULL;
    size_t n = 0, i;

    cJSON_ArrayForEach(it, obj)
        n++;
    if (n < 2)
        return NULL;
    keys = malloc(n * sizeof(*keys));
    if (!keys)
        return NULL;
    n = 0;
    cJSON_ArrayForEach(it, obj)
        keys[n++] = it->string ? it->string : "";
    qsort(keys, n, sizeof(*keys), cmp_str_ptr);
    for (i = 1; i < n && !dup; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            dup = keys[i];
    /* dup points into obj's strings, which outlive keys */
    free(keys);
    return dup;
}

/* Finds a duplicate key anywhere in the tree; returns it or NULL. */
static const char *find_duplicate(const cJSON *node)
{
    const cJSON *child;
    const char *dup;

    if (cJSON_IsObject(node) && (dup = sut_json_duplicate_key(node)))
        return dup;
    for (child = node->child; child; child = child->next)
        if ((cJSON_IsObject(child) || cJSON_IsArray(child)) &&
            (dup = find_duplicate(child)))
            return dup;
    return NULL;
}

/* The nesting depth of arrays and objects just before text[at] (strings
 * skipped). */
static size_t depth_at(const char *text, size_t at)
{
    size_t i, depth = 0;
    bool in_string = false;

    for (i = 0; i < at; i++) {
        if (in_string && text[i] == '\\')
            i++;
        else if (text[i] == '"')
            in_string = !in_string;
        else if (!in_string && (text[i] == '[' || text[i] == '{'))
            depth++;
        else if (!in_string && (text[i] == ']' || text[i] == '}') && depth)
            depth--;
    }
    return depth;
}

cJSON *sut_json_parse(const char *text, size_t len, const char *label,
                      sut_error *err)
{
    const char *end = NULL;
    const char *dup;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);

    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        if (at < len && (text[at] == '[' || text[at] == '{') &&
            depth_at(text, at) >= CJSON_NESTING_LIMIT)
            sut_error_set(err, "%s: invalid JSON: nested deeper than %d "
                          "levels at byte %zu", label, CJSON_NESTING_LIMIT, at);
        else
            sut_error_set(err, "%s: invalid JSON at byte %zu", label, at);
        return NULL;
    }
    while (end < text + len &&
           (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end != text + len) {
        sut_error_set(err, "%s: unexpected data after the JSON value at byte %zu",
                      label, (size_t)(end - text));
        cJSON_Delete(root);
        return NULL;
    }
    if ((dup = find_duplicate(root))) {
        sut_error_set(err, "%s: duplicate key '%s'", label, dup);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

cJSON *sut_json_read_file(const char *path, size_t max, sut_error *err)
{
    size_t len;
    cJSON *root;
    char *text = sut_read_file(path, max, &len, err);

    if (!text)
        return NULL;
    root = sut_json_parse(text, len, path, err);
    free(text);
    return root;
}

int sut_json_u64(const cJSON *item, uint64_t *out)
{
    double d;

    if (!cJSON_IsNumber(item))
        return -1;
    d = item->valuedouble;
    if (!(d >= 0) || d > (double)SUT_JSON_INT_MAX || d != (double)(uint64_t)d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

int sut_write_file(const char *path, const void *data, size_t len,
                   sut_error *err)
{
    const char *p = data;
    size_t done = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0) {
        sut_error_set(err, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            sut_error_set(err, "%s: write failed: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        sut_error_set(err, "%s: write failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int sut_fsync_dir(const char *path, sut_error *err)
{
    int rc, fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        sut_error_set(err, "%s: cannot open folder: %s", path, strerror(errno));
        return -1;
    }
    rc = fsync(fd);
    close(fd);
    if (rc != 0) {
        sut_error_set(err, "%s: fsync failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
