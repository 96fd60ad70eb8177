/* build.c: writes the model folder a plan describes (see build.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suture/build.h"
#include "suture/convert.h"
#include "suture/xfer.h"
#include "common/checked.h"
#include "common/util.h"

#ifndef SUTURE_VERSION
#define SUTURE_VERSION "unknown"
#endif

#define COPY_STEP (64u << 20)   /* bytes copied between progress calls */
#define CONV_BUF (1u << 20)     /* the conversion buffer of a thread */
#define JSON_MAX (100u << 20)
#define INDEX_NAME "model.safetensors.index.json"

const char *const build_tokenizer_files[] = {
    "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
    "special_tokens_map.json", "generation_config.json", "added_tokens.json",
    "vocab.json", "merges.txt", NULL
};

/* Where the output goes. */
struct place {
    char *parent;      /* OUT's parent folder, real path */
    char *base;        /* OUT's last component */
    char *out;         /* parent/base */
    char *stage;       /* parent/.base.suture-tmp-PID */
    char *old;         /* parent/.base.suture-old-PID */
    bool exists;
};

/* The state the shard writers share. */
struct job {
    const plan *p;
    const struct place *pl;
    int **fds;                  /* [model][shard] source files, or -1 */
    char *models_meta;          /* "suture.models" */
    pthread_mutex_t lock;
    size_t next;                /* the next shard to write */
    bool failed;
    sut_error err;              /* the first failure */
    uint64_t done, total;
    build_progress_fn progress;
    void *progress_ctx;
    const volatile sig_atomic_t *cancel;
};

static int note(build_report *rep, sut_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int note(build_report *rep, sut_error *err, const char *fmt, ...)
{
    char buf[SUT_ERROR_MAX];
    char **grown;
    va_list ap;

    if (!rep)
        return 0;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    grown = realloc(rep->notes, (rep->nnotes + 1) * sizeof(*grown));
    if (!grown || !(grown[rep->nnotes] = strdup(buf))) {
        if (grown)
            rep->notes = grown;
        sut_error_set(err, "out of memory");
        return -1;
    }
    rep->notes = grown;
    rep->nnotes++;
    return 0;
}

void build_report_clear(build_report *rep)
{
    size_t i;

    if (!rep)
        return;
    for (i = 0; i < rep->nnotes; i++)
        free(rep->notes[i]);
    free(rep->notes);
    memset(rep, 0, sizeof(*rep));
}

/* ---- files and folders ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes a folder and everything in it (symlinks are not followed). */
static int remove_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *fmt_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *fmt_path(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

/* Copies a regular file (symlinks followed) to a new file dst, fsynced. */
static int copy_file(const char *src, const char *dst, sut_error *err)
{
    struct stat st;
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK), out = -1, rc = -1;

    if (in < 0) {
        sut_error_set(err, "%s: cannot open: %s", src, strerror(errno));
        return -1;
    }
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        sut_error_set(err, "%s: not a regular file", src);
        goto out;
    }
    if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
        sut_error_set(err, "%s: cannot create: %s", dst, strerror(errno));
        goto out;
    }
    if (xfer_copy(in, 0, out, 0, (uint64_t)st.st_size, err) != 0) {
        sut_error_prefix(err, "%s -> %s", src, sut_basename(dst));
        goto out;
    }
    if (fsync(out) != 0) {
        sut_error_set(err, "%s: fsync failed: %s", dst, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (out >= 0 && close(out) != 0 && rc == 0) {
        sut_error_set(err, "%s: close failed: %s", dst, strerror(errno));
        rc = -1;
    }
    close(in);
    return rc;
}

/* True for an array of numbers only (printed on one line: "[0, 2]"). */
static bool all_numbers(const cJSON *v)
{
    const cJSON *c;

    if (!cJSON_IsArray(v))
        return false;
    cJSON_ArrayForEach(c, v)
        if (!cJSON_IsNumber(c))
            return false;
    return true;
}

/* Writes v as JSON indented by two spaces per level, as Hugging Face's
 * files are. False when out of memory. */
static bool print_json(FILE *f, const cJSON *v, int depth)
{
    const cJSON *c;
    bool obj = cJSON_IsObject(v), ok = true;
    char *s;

    if ((!obj && !cJSON_IsArray(v)) || !v->child) {
        if (!(s = cJSON_PrintUnformatted(v)))
            return false;
        fputs(s, f);
        free(s);
        return true;
    }
    if (all_numbers(v)) {
        fputc('[', f);
        for (c = v->child; c && ok; c = c->next) {
            ok = print_json(f, c, depth + 1);
            fputs(c->next ? ", " : "]", f);
        }
        return ok;
    }
    fputc(obj ? '{' : '[', f);
    for (c = v->child; c && ok; c = c->next) {
        fprintf(f, "\n%*s", 2 * (depth + 1), "");
        if (obj) {
            cJSON key = {.type = cJSON_String, .valuestring = c->string};
            ok = print_json(f, &key, depth + 1);
            fputs(": ", f);
        }
        ok = ok && print_json(f, c, depth + 1);
        if (c->next)
            fputc(',', f);
    }
    fprintf(f, "\n%*s%c", 2 * depth, "", obj ? '}' : ']');
    return ok;
}

static int write_json(const char *dir, const char *name, const cJSON *root,
                      sut_error *err)
{
    char *text = NULL, *path = sut_path_join(dir, name);
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    bool ok = f && print_json(f, root, 0) && fputc('\n', f) != EOF;
    int rc = -1;

    if ((f && fclose(f) != 0) || !ok || !path)
        sut_error_set(err, "%s: out of memory", name);
    else
        rc = sut_write_file(path, text, len, err);
    free(text);
    free(path);
    return rc;
}

/* ---- where the output goes ---- */

static void place_free(struct place *pl)
{
    free(pl->parent);
    free(pl->base);
    free(pl->out);
    free(pl->stage);
    free(pl->old);
}

static int split_out(const char *out, struct place *pl, sut_error *err)
{
    char *copy = strdup(out), *slash, *parent;
    size_t len;

    if (!copy) {
        sut_error_set(err, "%s: out of memory", out);
        return -1;
    }
    len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    slash = strrchr(copy, '/');
    pl->base = strdup(slash ? slash + 1 : copy);
    parent = slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".";
    pl->parent = realpath(parent, NULL);
    if (!pl->parent)
        sut_error_set(err, "%s: parent folder '%s': %s", out, parent, strerror(errno));
    free(copy);
    if (!pl->parent || !pl->base)
        return -1;
    if (!*pl->base || strcmp(pl->base, ".") == 0 || strcmp(pl->base, "..") == 0 ||
        strcmp(pl->base, "/") == 0) {
        sut_error_set(err, "%s: not a usable output folder name", out);
        return -1;
    }
    pl->out = sut_path_join(pl->parent, pl->base);
    pl->stage = fmt_path("%s/.%s.suture-tmp-%ld", pl->parent, pl->base, (long)getpid());
    pl->old = fmt_path("%s/.%s.suture-old-%ld", pl->parent, pl->base, (long)getpid());
    if (!pl->out || !pl->stage || !pl->old) {
        sut_error_set(err, "%s: out of memory", out);
        return -1;
    }
    return 0;
}

/* a == b, or a inside b. */
static bool within(const char *a, const char *b)
{
    size_t n = strlen(b);

    return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/' || strcmp(b, "/") == 0);
}

static int check_inputs(const plan *p, const struct place *pl, sut_error *err)
{
    const recipe *r = plan_recipe(p);
    char *out_real = realpath(pl->out, NULL);
    const char *outs[2] = {pl->out, out_real};
    size_t i, k;
    int rc = 0;

    for (i = 0; i < r->nmodels && rc == 0; i++) {
        char *in = realpath(model_dir(plan_model(p, i)), NULL);
        for (k = 0; in && k < 2 && rc == 0; k++) {
            if (!outs[k])
                continue;
            if (within(outs[k], in)) {
                sut_error_set(err, "%s: is %sthe folder of input model '%s' (%s)",
                              pl->out, strcmp(outs[k], in) == 0 ? "" : "inside ",
                              r->models[i].name, in);
                rc = -1;
            } else if (within(in, outs[k])) {
                sut_error_set(err, "%s: holds input model '%s' (%s)", pl->out,
                              r->models[i].name, in);
                rc = -1;
            }
        }
        free(in);
    }
    free(out_real);
    return rc;
}

/* A folder --force may replace: empty, or with config.json or shards. */
static bool looks_replaceable(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool empty = true, holds_model = false;

    if (!d)
        return false;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        empty = false;
        if (strcmp(e->d_name, "config.json") == 0 ||
            (n > 12 && strcmp(e->d_name + n - 12, ".safetensors") == 0))
            holds_model = true;
    }
    closedir(d);
    return empty || holds_model;
}

static int check_existing(struct place *pl, bool force, sut_error *err)
{
    struct stat st;

    if (lstat(pl->out, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        sut_error_set(err, "%s: %s", pl->out, strerror(errno));
        return -1;
    }
    pl->exists = true;
    if (!force) {
        sut_error_set(err, "%s: already exists (--force replaces it)", pl->out);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        sut_error_set(err, "%s: exists and is not a folder; not replacing it", pl->out);
        return -1;
    }
    if (!looks_replaceable(pl->out)) {
        sut_error_set(err, "%s: exists and holds no config.json or .safetensors file; "
                      "not replacing it", pl->out);
        return -1;
    }
    return 0;
}

/* The pid of a staging (or set-aside) folder name of OUT, or 0. */
static long leftover_pid(const char *name, const char *base)
{
    static const char *kinds[] = {".suture-tmp-", ".suture-old-"};
    size_t bl = strlen(base), i;
    char *end;
    long pid;

    if (name[0] != '.' || strncmp(name + 1, base, bl) != 0)
        return 0;
    for (i = 0; i < 2; i++) {
        const char *rest = name + 1 + bl;
        size_t kl = strlen(kinds[i]);
        if (strncmp(rest, kinds[i], kl) != 0 || !rest[kl])
            continue;
        errno = 0;
        pid = strtol(rest + kl, &end, 10);
        if (!*end && errno == 0 && pid > 0 && pid <= INT_MAX)
            return pid;
    }
    return 0;
}

/* Removes leftovers of OUT from runs that no longer exist; refuses when a
 * live process is building the same OUT. */
static int clean_stale(const struct place *pl, build_report *rep, sut_error *err)
{
    DIR *d = opendir(pl->parent);
    struct dirent *e;
    int rc = 0;

    if (!d) {
        sut_error_set(err, "%s: cannot open folder: %s", pl->parent, strerror(errno));
        return -1;
    }
    while (rc == 0 && (e = readdir(d))) {
        long pid = leftover_pid(e->d_name, pl->base);
        char *path;
        if (pid == 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
            sut_error_set(err, "%s/%s: another suture process (pid %ld) is building %s",
                          pl->parent, e->d_name, pid, pl->out);
            rc = -1;
            break;
        }
        if (!(path = sut_path_join(pl->parent, e->d_name))) {
            sut_error_set(err, "out of memory");
            rc = -1;
            break;
        }
        if (remove_tree(path) != 0) {
            sut_error_set(err, "%s: cannot remove a stale staging folder: %s", path,
                          strerror(errno));
            rc = -1;
        } else {
            rc = note(rep, err, "removed %s, left by a run that no longer exists (pid %ld)",
                      path, pid);
        }
        free(path);
    }
    closedir(d);
    return rc;
}

/* ---- source files ---- */

static void close_sources(const plan *p, int **fds)
{
    const recipe *r = plan_recipe(p);
    size_t i, j;

    if (!fds)
        return;
    for (i = 0; i < r->nmodels; i++) {
        for (j = 0; fds[i] && j < model_shard_count(plan_model(p, i)); j++)
            if (fds[i][j] >= 0)
                close(fds[i][j]);
        free(fds[i]);
    }
    free(fds);
}

/* Opens a source shard read-only; it must still be the size it had when
 * the plan read its header. */
static int open_source(const st_file *f, sut_error *err)
{
    struct stat st;
    int fd = open(st_path(f), O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        sut_error_set(err, "%s: cannot open: %s", st_path(f), strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != st_data_start(f) + st_data_size(f)) {
        sut_error_set(err, "%s: changed since its header was read", st_path(f));
        close(fd);
        return -1;
    }
    return fd;
}

/* Opens every source shard that holds an output tensor. */
static int **open_sources(const plan *p, sut_error *err)
{
    const recipe *r = plan_recipe(p);
    int **fds = calloc(r->nmodels ? r->nmodels : 1, sizeof(*fds));
    size_t i, j, n;
    const plan_tensor *t = plan_tensors(p, &n);

    if (!fds)
        goto oom;
    for (i = 0; i < r->nmodels; i++) {
        size_t ns = model_shard_count(plan_model(p, i));
        if (!(fds[i] = malloc((ns ? ns : 1) * sizeof(int))))
            goto oom;
        for (j = 0; j < ns; j++)
            fds[i][j] = -1;
    }
    for (i = 0; i < n; i++) {
        int *slot = &fds[t[i].model][t[i].src->shard];
        if (*slot < 0 &&
            (*slot = open_source(model_shard(plan_model(p, t[i].model), t[i].src->shard),
                                 err)) < 0)
            goto fail;
    }
    return fds;
oom:
    sut_error_set(err, "out of memory");
fail:
    close_sources(p, fds);
    return NULL;
}

/* ---- shard metadata ---- */

static char *models_meta(const plan *p)
{
    const recipe *r = plan_recipe(p);
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    size_t i;
    bool ok = o != NULL;

    for (i = 0; ok && i < r->nmodels; i++) {
        char *abs = realpath(model_path(plan_model(p, i)), NULL);
        ok = cJSON_AddStringToObject(o, r->models[i].name,
                                     abs ? abs : model_path(plan_model(p, i))) != NULL;
        free(abs);
    }
    if (ok)
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static char *sources_meta(const plan *p, const plan_shard *s)
{
    const recipe *r = plan_recipe(p);
    size_t n, i;
    const plan_tensor *t = plan_tensors(p, &n);
    cJSON *root = cJSON_CreateObject(), *e;
    char *text = NULL;
    bool ok = root != NULL;

    for (i = s->first; ok && i < s->first + s->count; i++) {
        ok = (e = cJSON_AddObjectToObject(root, t[i].name)) &&
             cJSON_AddStringToObject(e, "model", r->models[t[i].model].name) &&
             cJSON_AddStringToObject(e, "tensor", t[i].src->t->name) &&
             cJSON_AddNumberToObject(e, "scale", t[i].scale) &&
             cJSON_AddStringToObject(e, "dtype", st_dtype_name(t[i].src->t->dtype));
    }
    if (ok)
        text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

/* ---- streaming ---- */

/* Counts n bytes written. -1 with err set when the build was cancelled. */
static int advance(struct job *j, uint64_t n, sut_error *err)
{
    pthread_mutex_lock(&j->lock);
    j->done += n;
    if (j->progress)
        j->progress(j->progress_ctx, j->done, j->total);
    pthread_mutex_unlock(&j->lock);
    if (j->cancel && *j->cancel) {
        sut_error_set(err, "interrupted");
        return -1;
    }
    return 0;
}

/* What the conversion callback needs. */
struct conv {
    struct job *j;
    st_writer *w;
    st_dtype in, out;
    float scale;
    size_t in_size, out_size;
    unsigned char *buf;      /* CONV_BUF bytes */
};

static int convert_chunk(void *ctx, const void *buf, size_t n, sut_error *err)
{
    struct conv *c = ctx;
    const unsigned char *src = buf;
    size_t elems = n / c->in_size, per = CONV_BUF / c->out_size, k;

    while (elems > 0) {
        k = elems < per ? elems : per;
        cv_apply(c->in, c->out, c->scale, src, c->buf, k);
        if (st_writer_write(c->w, c->buf, k * c->out_size, err) != 0 ||
            advance(c->j, k * c->out_size, err) != 0)
            return -1;
        src += k * c->in_size;
        elems -= k;
    }
    return 0;
}

/* Converts n source bytes at off, reading CONV_BUF bytes at a time so
 * that the read buffer stays as small as the conversion buffer. */
static int convert_tensor(struct conv *c, int fd, uint64_t off, uint64_t n,
                          sut_error *err)
{
    c->in_size = st_dtype_bits(c->in) / 8;
    c->out_size = st_dtype_bits(c->out) / 8;
    while (n > 0) {
        uint64_t step = n < CONV_BUF ? n : CONV_BUF;
        if (xfer_read(fd, off, step, c->in_size, convert_chunk, c, err) != 0)
            return -1;
        off += step;
        n -= step;
    }
    return 0;
}

static int copy_tensor(struct job *j, st_writer *w, int fd, uint64_t off, uint64_t n,
                       sut_error *err)
{
    while (n > 0) {
        uint64_t step = n < COPY_STEP ? n : COPY_STEP;
        if (st_writer_copy(w, fd, off, step, err) != 0 || advance(j, step, err) != 0)
            return -1;
        off += step;
        n -= step;
    }
    return 0;
}

static int stream_tensor(struct job *j, st_writer *w, const plan_tensor *t,
                         unsigned char *buf, sut_error *err)
{
    const st_file *f = model_shard(plan_model(j->p, t->model), t->src->shard);
    int fd = j->fds[t->model][t->src->shard];
    uint64_t off = st_data_start(f) + t->src->t->begin;
    uint64_t n = st_tensor_bytes(t->src->t);
    struct conv c = {j, w, t->src->t->dtype, t->dtype, (float)t->scale, 0, 0, buf};
    int rc;

    if (t->scale == 1 && t->dtype == t->src->t->dtype)
        rc = copy_tensor(j, w, fd, off, n, err);
    else
        rc = convert_tensor(&c, fd, off, n, err);
    if (rc != 0 && !(j->cancel && *j->cancel) && strstr(err->msg, st_path(f)) == NULL) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof(err->msg) - len, " (source %s, tensor '%s')",
                 st_path(f), t->src->t->name);
    }
    return rc;
}

static int declare(struct job *j, st_writer *w, const plan_shard *s, sut_error *err)
{
    size_t n, i;
    const plan_tensor *t = plan_tensors(j->p, &n);
    char *sources = sources_meta(j->p, s);
    int rc = -1;

    if (!sources) {
        sut_error_set(err, "%s: out of memory", s->name);
        return -1;
    }
    if (st_writer_meta(w, "suture.version", SUTURE_VERSION, err) != 0 ||
        st_writer_meta(w, "suture.models", j->models_meta, err) != 0 ||
        st_writer_meta(w, "suture.sources", sources, err) != 0)
        goto out;
    for (i = s->first; i < s->first + s->count; i++)
        if (st_writer_add(w, t[i].name, t[i].dtype, t[i].src->t->ndim, t[i].src->t->shape,
                          err) != 0)
            goto out;
    rc = st_writer_begin(w, err);
out:
    free(sources);
    return rc;
}

/* A lower bound on the header st_writer writes for shard s: each tensor's
 * entry (its name and at least 40 bytes of fields) and its suture.sources
 * entry (its name, its source's name and at least 60 bytes, quotes
 * escaped). Refusing on it spares making a header of gigabytes to measure
 * it. 0, or -1 with err set when even the bound is over the limit. */
static int header_bound(const plan *p, const plan_shard *s, sut_error *err)
{
    size_t n, i;
    const plan_tensor *t = plan_tensors(p, &n);
    uint64_t sum = 0;

    for (i = s->first; i < s->first + s->count; i++) {
        uint64_t one = 2 * (uint64_t)strlen(t[i].name) + strlen(t[i].src->t->name) + 100;
        if (ck_add(sum, one, &sum) != 0)
            sum = UINT64_MAX;
    }
    if (sum <= ST_HEADER_MAX)
        return 0;
    sut_error_set(err, "%s: header of at least %llu bytes exceeds the limit of %llu",
                  s->name, (unsigned long long)sum, ST_HEADER_MAX);
    return -1;
}

int build_check_headers(const plan *p, sut_error *err)
{
    struct job j;
    size_t ns, i;
    const plan_shard *s = plan_shards(p, &ns);
    int rc = 0;

    memset(&j, 0, sizeof(j));
    j.p = p;
    if (!(j.models_meta = models_meta(p))) {
        sut_error_set(err, "out of memory");
        return -1;
    }
    for (i = 0; i < ns && rc == 0; i++)
        rc = header_bound(p, &s[i], err);
    for (i = 0; i < ns && rc == 0; i++) {
        st_writer *w = st_writer_dry(s[i].name, err);
        rc = w ? declare(&j, w, &s[i], err) : -1;
        st_writer_free(w);
    }
    free(j.models_meta);
    return rc;
}

static int write_shard(struct job *j, size_t si, sut_error *err)
{
    size_t ns, n, i;
    const plan_shard *s = &plan_shards(j->p, &ns)[si];
    const plan_tensor *t = plan_tensors(j->p, &n);
    char *path = sut_path_join(j->pl->stage, s->name);
    unsigned char *buf = malloc(CONV_BUF);
    st_writer *w = NULL;
    int rc = -1;

    if (!path || !buf) {
        sut_error_set(err, "%s: out of memory", s->name);
        goto out;
    }
    if (!(w = st_writer_create(path, err)) || declare(j, w, s, err) != 0)
        goto out;
    for (i = s->first; i < s->first + s->count; i++) {
        if (stream_tensor(j, w, &t[i], buf, err) != 0)
            goto out;
        pthread_mutex_lock(&j->lock);
        if (j->failed) {
            pthread_mutex_unlock(&j->lock);
            sut_error_set(err, "%s: stopped", s->name);
            goto out;
        }
        pthread_mutex_unlock(&j->lock);
    }
    rc = st_writer_finish(w, err);
out:
    st_writer_free(w);
    free(buf);
    free(path);
    return rc;
}

static void *worker(void *arg)
{
    struct job *j = arg;
    size_t ns;

    plan_shards(j->p, &ns);
    for (;;) {
        sut_error err;
        size_t si;
        pthread_mutex_lock(&j->lock);
        if (j->failed || j->next >= ns) {
            pthread_mutex_unlock(&j->lock);
            return NULL;
        }
        si = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (write_shard(j, si, &err) == 0)
            continue;
        pthread_mutex_lock(&j->lock);
        if (!j->failed) {
            j->failed = true;
            j->err = err;
        }
        pthread_mutex_unlock(&j->lock);
        return NULL;
    }
}

static unsigned thread_count(const build_options *opt, size_t shards)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = opt->jobs ? opt->jobs : cores > 0 ? (unsigned)cores : 1;

    if (n > shards)
        n = (unsigned)shards;
    return n ? n : 1;
}

/* Writes every shard into the staging folder, in parallel. */
static int write_shards(const plan *p, const build_options *opt, const struct place *pl,
                        sut_error *err)
{
    struct job j;
    pthread_t *th = NULL;
    size_t ns, started = 0, i;
    unsigned nt;
    int rc = -1;

    memset(&j, 0, sizeof(j));
    plan_shards(p, &ns);
    nt = thread_count(opt, ns);
    j.p = p;
    j.pl = pl;
    j.total = plan_bytes(p);
    j.progress = opt->progress;
    j.progress_ctx = opt->progress_ctx;
    j.cancel = opt->cancel;
    if (pthread_mutex_init(&j.lock, NULL) != 0) {
        sut_error_set(err, "cannot create a lock");
        return -1;
    }
    if (!(j.fds = open_sources(p, err)))
        goto out;
    if (!(j.models_meta = models_meta(p)) || !(th = calloc(nt, sizeof(*th)))) {
        sut_error_set(err, "out of memory");
        goto out;
    }
    for (i = 1; i < nt; i++, started++)
        if (pthread_create(&th[i - 1], NULL, worker, &j) != 0)
            break;
    worker(&j);
    for (i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (j.failed) {
        *err = j.err;
        goto out;
    }
    if (j.cancel && *j.cancel) {
        sut_error_set(err, "interrupted");
        goto out;
    }
    rc = 0;
out:
    close_sources(p, j.fds);
    free(j.models_meta);
    free(th);
    pthread_mutex_destroy(&j.lock);
    return rc;
}

/* ---- the other files ---- */

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp((*(const plan_tensor *const *)a)->name,
                  (*(const plan_tensor *const *)b)->name);
}

static int write_index(const plan *p, const char *dir, sut_error *err)
{
    size_t n, ns, i;
    const plan_tensor *t = plan_tensors(p, &n);
    const plan_shard *s = plan_shards(p, &ns);
    const plan_tensor **sorted = NULL;
    cJSON *root = cJSON_CreateObject(), *meta, *map;
    bool ok;
    int rc = -1;

    if (ns < 2) {
        cJSON_Delete(root);
        return 0;
    }
    ok = root && (sorted = malloc(n * sizeof(*sorted))) &&
         (meta = cJSON_AddObjectToObject(root, "metadata")) &&
         cJSON_AddNumberToObject(meta, "total_size", (double)plan_bytes(p)) &&
         (map = cJSON_AddObjectToObject(root, "weight_map"));
    for (i = 0; ok && i < n; i++)
        sorted[i] = &t[i];
    if (ok)
        qsort(sorted, n, sizeof(*sorted), cmp_tensor_name);
    for (i = 0; ok && i < n; i++)
        ok = cJSON_AddStringToObject(map, sorted[i]->name, s[sorted[i]->shard].name) != NULL;
    if (ok)
        rc = write_json(dir, INDEX_NAME, root, err);
    else
        sut_error_set(err, "%s: out of memory", INDEX_NAME);
    free(sorted);
    cJSON_Delete(root);
    return rc;
}

static bool is_chat_template(const char *name)
{
    return strncmp(name, "chat_template.", 14) == 0 && name[14];
}

static int copy_tokenizer(const plan *p, const char *dir, build_report *rep,
                          sut_error *err)
{
    const char *from = model_dir(plan_model(p, plan_get_donors(p).tokenizer));
    DIR *d = opendir(from);
    struct dirent *e;
    size_t i;
    int rc = 0;

    if (!d) {
        sut_error_set(err, "%s: cannot open folder: %s", from, strerror(errno));
        return -1;
    }
    while (rc == 0 && (e = readdir(d))) {
        char *src, *dst;
        int kind;
        bool listed = is_chat_template(e->d_name);
        for (i = 0; !listed && build_tokenizer_files[i]; i++)
            listed = strcmp(e->d_name, build_tokenizer_files[i]) == 0;
        if (!listed)
            continue;
        src = sut_path_join(from, e->d_name);
        dst = sut_path_join(dir, e->d_name);
        if (!src || !dst) {
            sut_error_set(err, "out of memory");
            rc = -1;
        } else if ((kind = sut_file_kind(from, e->d_name, err)) < 0) {
            rc = -1; /* a FIFO, device or folder is refused, not dropped */
        } else if (kind > 0) {
            rc = copy_file(src, dst, err);
            if (rc == 0 && rep)
                rep->files_copied++;
        }
        free(src);
        free(dst);
    }
    closedir(d);
    return rc;
}

/* The recipe as JSON with each model's path made absolute, so that the
 * copy in OUT plans the same wherever it is read from. NULL when out of
 * memory. */
static cJSON *saved_recipe(const plan *p)
{
    const recipe *r = plan_recipe(p);
    cJSON *root = recipe_to_json(r);
    cJSON *models = root ? cJSON_GetObjectItemCaseSensitive(root, "models") : NULL;
    size_t i;

    for (i = 0; models && i < r->nmodels; i++) {
        char *abs = realpath(model_path(plan_model(p, i)), NULL);
        cJSON *s = abs ? cJSON_CreateString(abs) : NULL;
        free(abs);
        if (s && !cJSON_ReplaceItemInObjectCaseSensitive(models, r->models[i].name, s))
            cJSON_Delete(s);
    }
    return root;
}

static int write_readme(const plan *p, const char *dir, const char *base,
                        sut_error *err)
{
    const recipe *r = plan_recipe(p);
    char *text = plan_text(p), *buf = NULL, *path = NULL;
    cJSON *recipe_json = saved_recipe(p);
    size_t len = 0;
    FILE *f = NULL;
    int rc = -1;

    if (!text || !recipe_json || !(f = open_memstream(&buf, &len)) ||
        !(path = sut_path_join(dir, "README.md"))) {
        sut_error_set(err, "README.md: out of memory");
        goto out;
    }
    fprintf(f, "---\nlibrary_name: transformers\ntags:\n- suture\n- merge\n---\n\n");
    fprintf(f, "# %s\n\n", base);
    fprintf(f, "Built by suture %s from %s by copying layers of the models below.\n",
            SUTURE_VERSION, r->path ? sut_basename(r->path) : "a slice spec");
    fprintf(f, "Each shard's `__metadata__` records the source of every tensor "
            "(`suture.sources`); `suture verify` checks them.\n\n");
    if (r->comment)
        fprintf(f, "%s\n\n", r->comment);
    fprintf(f, "## Plan\n\n```text\n%s```\n\n## Recipe\n\n```json\n", text);
    if (!print_json(f, recipe_json, 0) || fprintf(f, "\n```\n") < 0 || fclose(f) != 0) {
        f = NULL;
        sut_error_set(err, "README.md: out of memory");
        goto out;
    }
    f = NULL;
    rc = sut_write_file(path, buf, len, err);
out:
    if (f)
        fclose(f);
    free(buf);
    free(path);
    free(text);
    cJSON_Delete(recipe_json);
    return rc;
}

static int write_extras(const plan *p, const struct place *pl, build_report *rep,
                        sut_error *err)
{
    cJSON *rj;
    int rc;

    if (write_index(p, pl->stage, err) != 0)
        return -1;
    if (plan_config(p) && write_json(pl->stage, "config.json", plan_config(p), err) != 0)
        return -1;
    if (copy_tokenizer(p, pl->stage, rep, err) != 0 ||
        write_readme(p, pl->stage, pl->base, err) != 0)
        return -1;
    if (!(rj = saved_recipe(p))) {
        sut_error_set(err, "suture-recipe.json: out of memory");
        return -1;
    }
    rc = write_json(pl->stage, "suture-recipe.json", rj, err);
    cJSON_Delete(rj);
    return rc;
}

/* ---- into place ---- */

static int rename_new(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    return rename(from, to);
}

/* Puts the staging folder at an existing OUT. Swapped in one step where
 * the file system can (a crash leaves the old folder or the new one at OUT,
 * never neither; the old one ends at the staging name), else moved aside
 * first. *gone gets where the old folder is now. */
static int replace_out(const struct place *pl, const char **gone, sut_error *err)
{
    if (renameat2(AT_FDCWD, pl->stage, AT_FDCWD, pl->out, RENAME_EXCHANGE) == 0) {
        *gone = pl->stage;
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS) {
        sut_error_set(err, "%s: cannot swap the new folder into place: %s", pl->out,
                      strerror(errno));
        return -1;
    }
    if (rename(pl->out, pl->old) != 0) {
        sut_error_set(err, "%s: cannot move the old folder aside: %s", pl->out,
                      strerror(errno));
        return -1;
    }
    *gone = pl->old;
    if (rename_new(pl->stage, pl->out) != 0) {
        sut_error_set(err, "%s: cannot rename the new folder into place: %s", pl->out,
                      strerror(errno));
        rename(pl->old, pl->out);
        return -1;
    }
    return 0;
}

static int move_into_place(const struct place *pl, build_report *rep, sut_error *err)
{
    const char *gone = NULL;

    if (sut_fsync_dir(pl->stage, err) != 0)
        return -1;
    if (pl->exists ? replace_out(pl, &gone, err) != 0 : rename_new(pl->stage, pl->out) != 0) {
        if (!pl->exists)
            sut_error_set(err, "%s: cannot rename the new folder into place: %s", pl->out,
                          strerror(errno));
        return -1;
    }
    if (sut_fsync_dir(pl->parent, err) != 0 &&
        note(rep, err, "%s: the folder could not be synced: %s", pl->parent, err->msg) != 0)
        return -1;
    if (gone) {
        if (remove_tree(gone) != 0)
            return note(rep, err, "could not remove the replaced folder %s: %s", gone,
                        strerror(errno));
        return note(rep, err, "replaced the existing %s", pl->out);
    }
    return 0;
}

static int prepare(const plan *p, const build_options *opt, struct place *pl,
                   build_report *rep, sut_error *err)
{
    if (!opt || !opt->out || !*opt->out) {
        sut_error_set(err, "no output folder given");
        return -1;
    }
    if (split_out(opt->out, pl, err) != 0 || check_inputs(p, pl, err) != 0 ||
        check_existing(pl, opt->force, err) != 0 || clean_stale(pl, rep, err) != 0)
        return -1;
    if (mkdir(pl->stage, 0755) != 0) {
        sut_error_set(err, "%s: cannot create the staging folder: %s", pl->stage,
                      strerror(errno));
        return -1;
    }
    return 0;
}

int build_run(const plan *p, const build_options *opt, build_report *rep,
              sut_error *err)
{
    struct place pl;
    bool staged = false;
    size_t ns;
    int rc = -1;

    memset(&pl, 0, sizeof(pl));
    if (rep)
        memset(rep, 0, sizeof(*rep));
    if (build_check_headers(p, err) != 0 || prepare(p, opt, &pl, rep, err) != 0)
        goto out;
    staged = true;
    if (write_shards(p, opt, &pl, err) != 0 || write_extras(p, &pl, rep, err) != 0 ||
        move_into_place(&pl, rep, err) != 0)
        goto out;
    staged = false;
    plan_shards(p, &ns);
    if (rep) {
        rep->bytes = plan_bytes(p);
        rep->shards = ns;
    }
    rc = 0;
out:
    if (staged)
        remove_tree(pl.stage);
    place_free(&pl);
    return rc;
}
