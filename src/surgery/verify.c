/* verify.c: checks a built checkpoint against the sources its shards
 * record (see verify.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suture/verify.h"
#include "suture/model.h"
#include "suture/convert.h"
#include "suture/xfer.h"
#include "suture/work.h"
#include "common/checked.h"
#include "common/util.h"

#define KEY_SOURCES "suture.sources"
#define KEY_MODELS "suture.models"
/* The most bytes of one shard's KEY_SOURCES text verify parses (about
 * 100,000 tensors; the largest real shards hold a few thousand), so that
 * its tree stays small. */
#define SOURCES_MAX (16u << 20)

struct source {
    char *name;
    char *path;
    model *m;              /* opened on first use */
};

/* One output tensor and where it comes from. */
struct item {
    const model_tensor *out;
    const struct source *src;
    const model_tensor *from;
    float scale;
    bool recompute;        /* scaled or converted, not copied */
    char *problem;         /* set by the check */
};

struct verify_report {
    char *path;
    model *m;
    struct source *sources;
    size_t nsources;
    struct item *items;
    size_t nitems;
    verify_problem *problems;
    size_t nproblems;
    bool oom;
    work_meter meter;     /* bytes read, output and source */
};

/* ---- the report ---- */

static void add_problem(verify_report *r, const char *shard, const char *tensor,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_problem(verify_report *r, const char *shard, const char *tensor,
                        const char *fmt, ...)
{
    char buf[SUT_ERROR_MAX];
    verify_problem *grown, *p;
    va_list ap;

    va_start(ap, fmt);
    sut_vline(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (!(grown = realloc(r->problems, (r->nproblems + 1) * sizeof(*grown)))) {
        r->oom = true;
        return;
    }
    r->problems = grown;
    p = &grown[r->nproblems];
    p->shard = sut_strdup(shard);
    p->tensor = sut_strdup(tensor);
    p->message = strdup(buf);
    if ((shard && !p->shard) || (tensor && !p->tensor) || !p->message) {
        free(p->shard);
        free(p->tensor);
        free(p->message);
        r->oom = true;
        return;
    }
    r->nproblems++;
}

void verify_free(verify_report *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->nproblems; i++) {
        free(r->problems[i].shard);
        free(r->problems[i].tensor);
        free(r->problems[i].message);
    }
    for (i = 0; i < r->nitems; i++)
        free(r->items[i].problem);
    for (i = 0; i < r->nsources; i++) {
        free(r->sources[i].name);
        free(r->sources[i].path);
        model_free(r->sources[i].m);
    }
    free(r->problems);
    free(r->items);
    free(r->sources);
    model_free(r->m);
    free(r->path);
    free(r);
}

size_t verify_checked(const verify_report *r) { return r->nitems; }
size_t verify_sources(const verify_report *r) { return r->nsources; }
const char *verify_path(const verify_report *r) { return r->path; }
size_t verify_problem_count(const verify_report *r) { return r->nproblems; }
const verify_problem *verify_problem_at(const verify_report *r, size_t i) { return &r->problems[i]; }

static size_t count_items(const verify_report *r, bool recompute)
{
    size_t i, n = 0;

    for (i = 0; i < r->nitems; i++)
        n += r->items[i].recompute == recompute;
    return n;
}

size_t verify_copied(const verify_report *r) { return count_items(r, false); }
size_t verify_recomputed(const verify_report *r) { return count_items(r, true); }

/* ---- provenance ---- */

static struct source *find_source(verify_report *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nsources; i++)
        if (strcmp(r->sources[i].name, name) == 0)
            return &r->sources[i];
    return NULL;
}

/* Merges one shard's "suture.models" into r->sources. */
static int read_models(verify_report *r, const char *shard, const char *text,
                       sut_error *err)
{
    cJSON *root = sut_json_parse(text, strlen(text), shard, err);
    const cJSON *it;
    int rc = -1;

    if (!root)
        goto out;
    if (!cJSON_IsObject(root)) {
        sut_error_set(err, "%s: __metadata__ %s: not an object", shard, KEY_MODELS);
        goto out;
    }
    cJSON_ArrayForEach(it, root) {
        struct source *s = find_source(r, it->string), *grown;
        if (!cJSON_IsString(it)) {
            sut_error_set(err, "%s: __metadata__ %s: model '%s': not a path string",
                          shard, KEY_MODELS, it->string);
            goto out;
        }
        if (s && strcmp(s->path, it->valuestring) != 0) {
            sut_error_set(err, "%s: __metadata__ %s: model '%s' is '%s' here but '%s' "
                          "in another shard", shard, KEY_MODELS, it->string,
                          it->valuestring, s->path);
            goto out;
        }
        if (s)
            continue;
        if (!(grown = realloc(r->sources, (r->nsources + 1) * sizeof(*grown)))) {
            sut_error_oom(err, shard);
            goto out;
        }
        r->sources = grown;
        s = &grown[r->nsources];
        *s = (struct source){strdup(it->string), strdup(it->valuestring), NULL};
        r->nsources++;
        if (!s->name || !s->path) {
            sut_error_oom(err, shard);
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

static int open_source(struct source *s, arch_table *arches, sut_error *err)
{
    if (s->m)
        return 0;
    if ((s->m = model_open(s->path, arches, MODEL_LENIENT, err)))
        return 0;
    sut_error_prefix(err, "source model '%s'", s->name);
    return -1;
}

/* The parsed fields of one "suture.sources" entry. */
struct origin {
    const char *model, *tensor;
    double scale;
    st_dtype dtype;
};

static int read_origin(const cJSON *e, const char *shard, struct origin *o,
                       sut_error *err)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "model");
    const cJSON *tensor = cJSON_GetObjectItemCaseSensitive(e, "tensor");
    const cJSON *scale = cJSON_GetObjectItemCaseSensitive(e, "scale");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const char *field = !cJSON_IsObject(e) ? "entry"
                        : !cJSON_IsString(name) ? "model"
                        : !cJSON_IsString(tensor) ? "tensor"
                        : scale && !cJSON_IsNumber(scale) ? "scale"
                        : !cJSON_IsString(dtype) || st_dtype_parse(dtype->valuestring, &o->dtype) != 0
                        ? "dtype" : NULL;

    if (field) {
        sut_error_set(err, "%s: __metadata__ %s: tensor '%s': %s: missing or invalid",
                      shard, KEY_SOURCES, e->string, field);
        return -1;
    }
    o->model = name->valuestring;
    o->tensor = tensor->valuestring;
    o->scale = scale ? scale->valuedouble : 1.0;
    return 0;
}

/* Checks what can be told from headers; 0 when the item is to be read. */
static int plan_item(verify_report *r, struct item *it, const struct origin *o,
                     const char *shard)
{
    const st_tensor *out = it->out->t;

    it->from = model_find(it->src->m, o->tensor);
    if (!it->from) {
        add_problem(r, shard, out->name, "%s: tensor '%s': its source '%s' is not in "
                    "model '%s' (%s)", shard, out->name, o->tensor, it->src->name,
                    it->src->path);
        return -1;
    }
    if (it->from->t->dtype != o->dtype || !st_same_shape(it->from->t, out)) {
        add_problem(r, shard, out->name, "%s: tensor '%s': source %s '%s' is %s now, "
                    "recorded as %s, output %s", shard, out->name, it->src->name,
                    o->tensor, st_dtype_name(it->from->t->dtype), st_dtype_name(o->dtype),
                    st_dtype_name(out->dtype));
        return -1;
    }
    it->scale = (float)o->scale;
    it->recompute = o->scale != 1.0 || o->dtype != out->dtype;
    if (it->recompute && (!cv_supported(o->dtype) || !cv_supported(out->dtype))) {
        add_problem(r, shard, out->name, "%s: tensor '%s': %s -> %s with scale %g cannot "
                    "be recomputed", shard, out->name, st_dtype_name(o->dtype),
                    st_dtype_name(out->dtype), o->scale);
        return -1;
    }
    return 0;
}

/* Adds the item of one output tensor (a problem when it has no usable
 * provenance). -1 only when the run cannot go on (err set). */
static int add_item(verify_report *r, const model_tensor *t, const cJSON *sources,
                    const char *shard, arch_table *arches, sut_error *err)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(sources, t->t->name);
    struct item *it = &r->items[r->nitems];
    struct origin o;

    if (!e) {
        add_problem(r, shard, t->t->name, "%s: tensor '%s': no provenance recorded in %s",
                    shard, t->t->name, KEY_SOURCES);
        return 0;
    }
    if (read_origin(e, shard, &o, err) != 0)
        return -1;
    *it = (struct item){.out = t, .src = find_source(r, o.model)};
    if (!it->src) {
        sut_error_set(err, "%s: __metadata__ %s: tensor '%s': model '%s' is not in %s",
                      shard, KEY_SOURCES, t->t->name, o.model, KEY_MODELS);
        return -1;
    }
    if (open_source((struct source *)it->src, arches, err) != 0)
        return -1;
    if (plan_item(r, it, &o, shard) == 0)
        r->nitems++;
    return 0;
}

/* Entries of "suture.sources" naming tensors the shard does not hold. */
static void check_listed(verify_report *r, const cJSON *sources, size_t shard)
{
    const st_file *f = model_shard(r->m, shard);
    const char *name = model_shard_name(r->m, shard);
    const cJSON *e;

    cJSON_ArrayForEach(e, sources)
        if (!st_find(f, e->string))
            add_problem(r, name, e->string, "%s: tensor '%s' is listed in %s but not stored",
                        name, e->string, KEY_SOURCES);
}

static int read_shard(verify_report *r, size_t shard, const cJSON *sources,
                      arch_table *arches, sut_error *err)
{
    const char *name = model_shard_name(r->m, shard);
    size_t i;

    if (!sources) {
        add_problem(r, name, NULL, "%s: no %s in __metadata__: its tensors cannot be "
                    "checked", name, KEY_SOURCES);
        return 0;
    }
    for (i = 0; i < model_tensor_count(r->m); i++)
        if (model_tensor_at(r->m, i)->shard == shard &&
            add_item(r, model_tensor_at(r->m, i), sources, name, arches, err) != 0)
            return -1;
    check_listed(r, sources, shard);
    return 0;
}

/* Parses every shard's provenance, then lists the items. */
static int read_provenance(verify_report *r, arch_table *arches, sut_error *err)
{
    size_t i, ns = model_shard_count(r->m), with = 0;
    cJSON **sources = calloc(ns ? ns : 1, sizeof(*sources));
    int rc = -1;

    r->items = calloc(model_tensor_count(r->m) + 1, sizeof(*r->items));
    if (!sources || !r->items) {
        sut_error_oom(err, r->path);
        goto out;
    }
    for (i = 0; i < ns; i++) {
        const st_file *f = model_shard(r->m, i);
        const char *name = model_shard_name(r->m, i), *text = st_meta_get(f, KEY_SOURCES);
        const char *models = st_meta_get(f, KEY_MODELS);
        if (!text)
            continue;
        with++;
        if (strlen(text) > SOURCES_MAX) {
            sut_error_set(err, "%s: __metadata__ %s is %zu bytes, over the %u MiB verify "
                          "reads", name, KEY_SOURCES, strlen(text), SOURCES_MAX >> 20);
            goto out;
        }
        if (!models) {
            sut_error_set(err, "%s: __metadata__ has %s but no %s", name, KEY_SOURCES, KEY_MODELS);
            goto out;
        }
        if (read_models(r, name, models, err) != 0 ||
            !(sources[i] = sut_json_parse(text, strlen(text), name, err)))
            goto out;
        if (!cJSON_IsObject(sources[i])) {
            sut_error_set(err, "%s: __metadata__ %s: not an object", name, KEY_SOURCES);
            goto out;
        }
    }
    if (with == 0) {
        sut_error_set(err, "%s: no shard records its sources (__metadata__ %s): not "
                      "written by suture build", r->path, KEY_SOURCES);
        goto out;
    }
    for (i = 0; i < ns; i++)
        if (read_shard(r, i, sources[i], arches, err) != 0)
            goto out;
    rc = 0;
out:
    for (i = 0; sources && i < ns; i++)
        cJSON_Delete(sources[i]);
    free(sources);
    return rc;
}

/* ---- checking data ---- */

static int open_ro(const model *m, const model_tensor *t, sut_error *err)
{
    const char *p = st_path(model_shard(m, t->shard));
    int fd = open(p, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        sut_error_set(err, "%s: cannot open: %s", p, strerror(errno));
    return fd;
}

static uint64_t data_offset(const model *m, const model_tensor *t)
{
    return st_data_start(model_shard(m, t->shard)) + t->t->begin;
}

/* Hashes a tensor's data, counting the bytes into meter. */
static int hash_of(const model *m, const model_tensor *t, work_meter *meter, xfer_hash *h,
                   sut_error *err)
{
    int fd = open_ro(m, t, err), rc;

    if (fd < 0)
        return -1;
    rc = work_hash_range(fd, data_offset(m, t), st_tensor_bytes(t->t), meter, h, err);
    close(fd);
    if (rc != 0)
        sut_error_prefix(err, "%s: tensor '%s'", model_shard_name(m, t->shard), t->t->name);
    return rc;
}

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *format(const char *fmt, ...)
{
    char buf[SUT_ERROR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return strdup(buf);
}

struct recompute {
    const struct item *it;
    work_meter *meter;
    uint64_t counted;      /* bytes read so far, source and output */
    int fd;                /* the output shard */
    uint64_t off;          /* where the next output bytes are */
    uint64_t done;         /* elements compared so far */
    size_t in_size, out_size;
    char *want, *got;      /* XFER_CHUNK / in_size elements each */
    long long bad;         /* first differing element, or -1 */
};

static int compare_chunk(void *ctx, const void *buf, size_t n, sut_error *err)
{
    struct recompute *c = ctx;
    size_t elems = n / c->in_size, bytes = elems * c->out_size, i;

    cv_apply(c->it->from->t->dtype, c->it->out->t->dtype, c->it->scale, buf, c->want, elems);
    errno = 0;
    if (xfer_pread(c->fd, c->got, bytes, c->off) != (ssize_t)bytes) {
        sut_error_set(err, "read failed: %s", errno ? strerror(errno) : "unexpected end of file");
        return -1;
    }
    if (memcmp(c->want, c->got, bytes) != 0) {
        for (i = 0; memcmp(c->want + i * c->out_size, c->got + i * c->out_size,
                           c->out_size) == 0; i++)
            ;
        c->bad = (long long)(c->done + i);
        sut_error_set(err, "differs");
        return -1;
    }
    c->off += bytes;
    c->done += elems;
    c->counted += n + bytes;
    work_meter_add(c->meter, n + bytes, NULL);
    return 0;
}

/* The bytes checking an item reads, output and source. */
static uint64_t item_bytes(const struct item *it)
{
    return st_tensor_bytes(it->out->t) + st_tensor_bytes(it->from->t);
}

/* Recomputes a scaled or converted tensor and compares it. */
static int check_recomputed(struct item *it, const model *out, work_meter *meter,
                            sut_error *err)
{
    struct recompute c = {.it = it, .meter = meter, .fd = -1, .bad = -1};
    size_t elems;
    int src = -1, rc = -1;

    c.in_size = st_dtype_bits(it->from->t->dtype) / 8;
    c.out_size = st_dtype_bits(it->out->t->dtype) / 8;
    elems = XFER_CHUNK / c.in_size;
    c.want = malloc(elems * c.out_size);
    c.got = malloc(elems * c.out_size);
    if (!c.want || !c.got) {
        sut_error_oom(err, NULL);
        goto out;
    }
    if ((c.fd = open_ro(out, it->out, err)) < 0 || (src = open_ro(it->src->m, it->from, err)) < 0)
        goto out;
    c.off = data_offset(out, it->out);
    rc = xfer_read(src, data_offset(it->src->m, it->from), st_tensor_bytes(it->from->t),
                   c.in_size, compare_chunk, &c, err);
    if (rc != 0 && c.bad >= 0) {
        rc = (it->problem = format("%s: tensor '%s': element %lld differs from the value "
                                   "recomputed from %s '%s' (%s -> %s, scale %g)",
                                   model_shard_name(out, it->out->shard), it->out->t->name,
                                   c.bad, it->src->name,
                                   it->from->t->name, st_dtype_name(it->from->t->dtype),
                                   st_dtype_name(it->out->t->dtype), (double)it->scale))
             ? 0 : -1;
    } else if (rc != 0) {
        sut_error_prefix(err, "%s: tensor '%s'", model_shard_name(it->src->m, it->from->shard),
                         it->from->t->name);
    }
    if (rc == 0)
        work_meter_add(meter, item_bytes(it) - c.counted, NULL);
out:
    if (c.fd >= 0)
        close(c.fd);
    if (src >= 0)
        close(src);
    free(c.want);
    free(c.got);
    return rc;
}

static int check_copied(struct item *it, const model *out, work_meter *meter,
                        sut_error *err)
{
    xfer_hash a, b;
    char ha[33], hb[33];

    if (hash_of(out, it->out, meter, &a, err) != 0 ||
        hash_of(it->src->m, it->from, meter, &b, err) != 0)
        return -1;
    if (a.lo == b.lo && a.hi == b.hi)
        return 0;
    xfer_hash_hex(a, ha);
    xfer_hash_hex(b, hb);
    it->problem = format("%s: tensor '%s': bytes differ from its source %s '%s' "
                         "(XXH3-128 %s, source %s)", model_shard_name(out, it->out->shard),
                         it->out->t->name, it->src->name, it->from->t->name, ha, hb);
    if (!it->problem)
        sut_error_oom(err, NULL);
    return it->problem ? 0 : -1;
}

static int check_item(void *ctx, size_t i, sut_error *err)
{
    verify_report *r = ctx;
    struct item *it = &r->items[i];

    return it->recompute ? check_recomputed(it, r->m, &r->meter, err)
                         : check_copied(it, r->m, &r->meter, err);
}

/* Checks every item on opt's threads, reporting progress to opt's
 * callback. 0 or -1 (err set). */
static int check_items(verify_report *r, const verify_options *opt, sut_error *err)
{
    uint64_t total = 0;
    size_t i;
    int rc;

    for (i = 0; i < r->nitems; i++)
        if (ck_add(total, item_bytes(&r->items[i]), &total) != 0)
            total = UINT64_MAX;
    if (work_meter_init(&r->meter, total, opt ? opt->progress : NULL,
                         opt ? opt->progress_ctx : NULL, err) != 0)
        return -1;
    rc = work_parallel(r->nitems, opt ? opt->threads : 0, check_item, r, NULL, err);
    work_meter_destroy(&r->meter);
    return rc;
}

static void collect(verify_report *r)
{
    size_t i;

    for (i = 0; i < r->nitems; i++) {
        const struct item *it = &r->items[i];
        if (it->problem)
            add_problem(r, model_shard_name(r->m, it->out->shard), it->out->t->name,
                        "%s", it->problem);
    }
}

verify_report *verify_run(const char *path, arch_table *arches,
                          const verify_options *opt, sut_error *err)
{
    verify_report *r = calloc(1, sizeof(*r));
    size_t i;

    if (!r || !(r->path = strdup(path))) {
        sut_error_oom(err, path);
        goto fail;
    }
    if (!(r->m = model_open(path, arches, MODEL_LENIENT, err)) ||
        read_provenance(r, arches, err) != 0)
        goto fail;
    for (i = 0; i < model_issue_count(r->m); i++)
        if (strcmp(model_issue_at(r->m, i)->code, "unknown-architecture") != 0)
            add_problem(r, model_index_name(r->m), NULL, "%s", model_issue_at(r->m, i)->message);
    if (check_items(r, opt, err) != 0)
        goto fail;
    collect(r);
    if (r->oom) {
        sut_error_oom(err, path);
        goto fail;
    }
    return r;
fail:
    verify_free(r);
    return NULL;
}
