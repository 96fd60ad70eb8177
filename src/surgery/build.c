/* build.c: writes the model folder a plan describes (see build.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suture/build.h"
#include "suture/convert.h"
#include "suture/staging.h"
#include "suture/work.h"
#include "suture/xfer.h"
#include "common/checked.h"
#include "common/util.h"

#ifndef SUTURE_VERSION
#define SUTURE_VERSION "unknown"
#endif

#define CONV_BUF (1u << 20)     /* the conversion buffer of a thread */
#define JSON_MAX (100u << 20)
#define INDEX_NAME "model.safetensors.index.json"

const char *const build_tokenizer_files[] = {
    "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
    "special_tokens_map.json", "generation_config.json", "added_tokens.json",
    "vocab.json", "merges.txt", NULL
};

/* The state the shard writers share. */
struct job {
    const plan *p;
    const staging *st;
    int **fds;                  /* [model][shard] source files, or -1 */
    char *models_meta;          /* "suture.models" */
    work_meter meter;           /* bytes written; the cancel flag */
    pthread_mutex_t lock;       /* guards stats */
    xfer_stats stats;           /* data bytes shared and copied */
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
        sut_error_oom(err, NULL);
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
        sut_error_oom(err, name);
    else
        rc = sut_write_file(path, text, len, err);
    free(text);
    free(path);
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
    sut_error_oom(err, NULL);
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
            work_meter_add(&c->j->meter, k * c->out_size, err) != 0)
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

/* What a copy step needs. */
struct copy {
    st_writer *w;
    int fd;
};

static int copy_step(void *ctx, uint64_t off, uint64_t n, sut_error *err)
{
    struct copy *c = ctx;

    return st_writer_copy(c->w, c->fd, off, n, err);
}

int build_copy_range(st_writer *w, int fd, uint64_t off, uint64_t len, work_meter *meter,
                     sut_error *err)
{
    struct copy c = {w, fd};

    return work_steps(off, len, copy_step, &c, meter, err);
}

/* Streams tensor t, and when it is copied, the `more` bytes of the
 * tensors that follow it in its source and in the shard's data. */
static int stream_tensor(struct job *j, st_writer *w, const plan_tensor *t,
                         uint64_t more, unsigned char *buf, sut_error *err)
{
    const st_file *f = model_shard(plan_model(j->p, t->model), t->src->shard);
    int fd = j->fds[t->model][t->src->shard];
    uint64_t off = st_data_start(f) + t->src->t->begin;
    uint64_t n = st_tensor_bytes(t->src->t) + more;
    struct conv c = {j, w, t->src->t->dtype, t->dtype, (float)t->scale, 0, 0, buf};
    int rc;

    if (t->scale == 1 && t->dtype == t->src->t->dtype)
        rc = build_copy_range(w, fd, off, n, &j->meter, err);
    else
        rc = convert_tensor(&c, fd, off, n, err);
    if (rc != 0 && !(j->meter.cancel && *j->meter.cancel) && strstr(err->msg, st_path(f)) == NULL) {
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
        sut_error_oom(err, s->name);
        return -1;
    }
    if (st_writer_meta(w, "suture.version", SUTURE_VERSION, err) != 0 ||
        st_writer_meta(w, "suture.models", j->models_meta, err) != 0 ||
        st_writer_meta(w, "suture.sources", sources, err) != 0)
        goto out;
    for (i = 0; i < s->count; i++) {
        const plan_tensor *x = &t[s->order[i]];
        if (st_writer_add(w, x->name, x->dtype, x->src->t->ndim, x->src->t->shape, err) != 0)
            goto out;
    }
    if (s->aligned)
        st_writer_align(w, s->phase, XFER_BLOCK);
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
        sut_error_oom(err, NULL);
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

static bool copied(const plan_tensor *t)
{
    return t->scale == 1 && t->dtype == t->src->t->dtype;
}

/* The end of the run of the shard's data that starts at position i:
 * copied tensors that follow one another in one source shard are copied
 * as one range. *more gets the bytes of the run after its first tensor. */
static size_t run_end(const plan *p, const plan_shard *s, size_t i, uint64_t *more)
{
    size_t n;
    const plan_tensor *t = plan_tensors(p, &n), *a = &t[s->order[i]], *b;

    *more = 0;
    for (i++; i < s->count && copied(a); i++, a = b) {
        b = &t[s->order[i]];
        if (!copied(b) || b->model != a->model || b->src->shard != a->src->shard ||
            b->src->t->begin != a->src->t->end)
            break;
        *more += b->bytes;
    }
    return i;
}

static void add_stats(struct job *j, const st_writer *w)
{
    uint64_t shared, copied_bytes;

    st_writer_stats(w, &shared, &copied_bytes);
    pthread_mutex_lock(&j->lock);
    j->stats.shared += shared;
    j->stats.copied += copied_bytes;
    pthread_mutex_unlock(&j->lock);
}

static int write_shard(void *ctx, size_t si, sut_error *err)
{
    struct job *j = ctx;
    size_t ns, n, i;
    const plan_shard *s = &plan_shards(j->p, &ns)[si];
    const plan_tensor *t = plan_tensors(j->p, &n);
    char *path = sut_path_join(stage_dir(j->st), s->name);
    unsigned char *buf = malloc(CONV_BUF);
    st_writer *w = NULL;
    size_t k;
    int rc = -1;

    if (!path || !buf) {
        sut_error_oom(err, s->name);
        goto out;
    }
    if (!(w = st_writer_create(path, err)) || declare(j, w, s, err) != 0)
        goto out;
    for (i = 0; i < s->count; i = k) {
        uint64_t more = 0;
        k = run_end(j->p, s, i, &more);
        if (stream_tensor(j, w, &t[s->order[i]], more, buf, err) != 0)
            goto out;
        if (j->meter.failed) {
            sut_error_set(err, "%s: stopped", s->name);
            goto out;
        }
    }
    rc = st_writer_finish(w, err);
    if (rc == 0)
        add_stats(j, w);
out:
    st_writer_free(w);
    free(buf);
    free(path);
    return rc;
}

/* Writes every shard into the staging folder, in parallel. */
static int write_shards(const plan *p, const build_options *opt, const staging *st,
                        xfer_stats *stats, sut_error *err)
{
    struct job j = {.p = p, .st = st, .lock = PTHREAD_MUTEX_INITIALIZER};
    size_t ns;
    int rc = -1;

    plan_shards(p, &ns);
    if (work_meter_init(&j.meter, plan_bytes(p), opt->progress, opt->progress_ctx, err) != 0)
        return -1;
    j.meter.cancel = opt->cancel;
    if (!(j.fds = open_sources(p, err)))
        goto out;
    if (!(j.models_meta = models_meta(p))) {
        sut_error_oom(err, NULL);
        goto out;
    }
    if (work_parallel(ns, opt->jobs, write_shard, &j, &j.meter, err) != 0 ||
        work_meter_add(&j.meter, 0, err) != 0)
        goto out;
    *stats = j.stats;
    rc = 0;
out:
    close_sources(p, j.fds);
    free(j.models_meta);
    work_meter_destroy(&j.meter);
    pthread_mutex_destroy(&j.lock);
    return rc;
}

/* ---- the other files ---- */

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
        qsort(sorted, n, sizeof(*sorted), plan_tensor_cmp_name);
    for (i = 0; ok && i < n; i++)
        ok = cJSON_AddStringToObject(map, sorted[i]->name, s[sorted[i]->shard].name) != NULL;
    if (ok)
        rc = write_json(dir, INDEX_NAME, root, err);
    else
        sut_error_oom(err, INDEX_NAME);
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
            sut_error_oom(err, NULL);
            rc = -1;
        } else if ((kind = sut_file_kind(from, e->d_name, err)) < 0) {
            rc = -1; /* a FIFO, device or folder is refused, not dropped */
        } else if (kind > 0) {
            rc = stage_copy_file(src, dst, 0644, err);
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
        sut_error_oom(err, "README.md");
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
        sut_error_oom(err, "README.md");
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

static int write_extras(const plan *p, const staging *st, build_report *rep,
                        sut_error *err)
{
    cJSON *rj;
    int rc;

    if (write_index(p, stage_dir(st), err) != 0)
        return -1;
    if (plan_config(p) && write_json(stage_dir(st), "config.json", plan_config(p), err) != 0)
        return -1;
    if (copy_tokenizer(p, stage_dir(st), rep, err) != 0 ||
        write_readme(p, stage_dir(st), stage_name(st), err) != 0)
        return -1;
    if (!(rj = saved_recipe(p))) {
        sut_error_oom(err, "suture-recipe.json");
        return -1;
    }
    rc = write_json(stage_dir(st), "suture-recipe.json", rj, err);
    cJSON_Delete(rj);
    return rc;
}

/* ---- where the output goes ---- */

/* True for a file build writes (what --force may replace). */
static bool ours(const char *name)
{
    size_t i;

    for (i = 0; build_tokenizer_files[i]; i++)
        if (strcmp(name, build_tokenizer_files[i]) == 0)
            return true;
    return sut_ends_with(name, ".safetensors") || strcmp(name, INDEX_NAME) == 0 ||
           strcmp(name, "config.json") == 0 || strcmp(name, "README.md") == 0 ||
           strcmp(name, "suture-recipe.json") == 0 || is_chat_template(name);
}

static int check_out(const plan *p, const staging *st, bool force, sut_error *err)
{
    const recipe *r = plan_recipe(p);
    stage_input *in = calloc(r->nmodels ? r->nmodels : 1, sizeof(*in));
    size_t i;
    int rc;

    if (!in) {
        sut_error_oom(err, stage_out(st));
        return -1;
    }
    for (i = 0; i < r->nmodels; i++)
        in[i] = (stage_input){r->models[i].name, model_dir(plan_model(p, i))};
    rc = stage_check_inputs(st, in, r->nmodels, err);
    free(in);
    if (rc != 0 || !stage_exists(st))
        return rc;
    if (!force) {
        sut_error_set(err, "%s: already exists (--force replaces it)", stage_out(st));
        return -1;
    }
    return stage_check_replaceable(st, ours, err);
}

static int prepare(const plan *p, const build_options *opt, staging **st,
                   build_report *rep, sut_error *err)
{
    size_t i;

    if (!opt || !opt->out || !*opt->out) {
        sut_error_set(err, "no output folder given");
        return -1;
    }
    if (!(*st = stage_new(opt->out, err)) || check_out(p, *st, opt->force, err) != 0 ||
        stage_begin(*st, "building", err) != 0)
        return -1;
    for (i = 0; i < stage_stale_count(*st); i++)
        if (note(rep, err, "removed %s", stage_stale(*st, i)) != 0)
            return -1;
    return 0;
}

/* Renames the staging folder into place; notes what happened besides. */
static int commit(staging *st, bool force, build_report *rep, sut_error *err)
{
    char *notes = NULL, *line, *save = NULL;
    int rc = stage_commit(st, force, &notes, err);

    for (line = notes ? strtok_r(notes, "\n", &save) : NULL; rc == 0 && line;
         line = strtok_r(NULL, "\n", &save))
        rc = note(rep, err, "%s", line);
    free(notes);
    return rc;
}

int build_run(const plan *p, const build_options *opt, build_report *rep,
              sut_error *err)
{
    staging *st = NULL;
    xfer_stats stats = {0, 0};
    size_t ns;
    int rc = -1;

    if (rep)
        memset(rep, 0, sizeof(*rep));
    if (build_check_headers(p, err) != 0 || prepare(p, opt, &st, rep, err) != 0)
        goto out;
    if (write_shards(p, opt, st, &stats, err) != 0 || write_extras(p, st, rep, err) != 0 ||
        commit(st, opt->force, rep, err) != 0)
        goto out;
    plan_shards(p, &ns);
    if (rep) {
        rep->bytes = plan_bytes(p);
        rep->shards = ns;
        rep->bytes_shared = stats.shared;
        rep->bytes_copied = stats.copied;
    }
    rc = 0;
out:
    stage_free(st);
    return rc;
}
