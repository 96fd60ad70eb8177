/* gguf_verify.c: checks a GGUF written by suture build against its
 * sources (gbuild_verify in gguf_build.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suture/gguf_build.h"
#include "suture/xfer.h"
#include "common/util.h"
#include "gguf_int.h"

void gbuild_verify_clear(gbuild_verify_result *res)
{
    size_t i;

    for (i = 0; i < res->nproblems; i++)
        free(res->problems[i]);
    free(res->problems);
    memset(res, 0, sizeof(*res));
}

static int problem(gbuild_verify_result *res, sut_error *err,
                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int problem(gbuild_verify_result *res, sut_error *err,
                   const char *fmt, ...)
{
    char buf[SUT_ERROR_MAX], **g;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sut_one_line(buf);
    if (!(g = realloc(res->problems, (res->nproblems + 1) * sizeof(char *))) ||
        !(g[res->nproblems] = strdup(buf))) {
        if (g)
            res->problems = g;
        sut_error_oom(err, NULL);
        return -1;
    }
    res->problems = g;
    res->nproblems++;
    return 0;
}

/* The recipe of the output's suture.recipe with the model paths of
 * suture.models. */
static recipe *stored_recipe(const gmodel *out, sut_error *err)
{
    const gguf_file *f = gmodel_meta(out);
    const char *label = sut_basename(gmodel_path(out));
    const char *text = gguf_get_str(f, "suture.recipe");
    const char *models = gguf_get_str(f, "suture.models");
    cJSON *m = NULL;
    recipe *r;
    size_t i;

    if (!text || !models) {
        sut_error_set(err, "%s: no suture.recipe and suture.models (not written "
                      "by suture build)", label);
        return NULL;
    }
    if (!(r = recipe_parse_json(text, strlen(text), label, NULL, err)) ||
        !(m = sut_json_parse(models, strlen(models), label, err)))
        goto fail;
    for (i = 0; i < r->nmodels; i++) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, r->models[i].name);
        char *copy;
        if (!cJSON_IsString(p) || !(copy = strdup(p->valuestring))) {
            sut_error_set(err, "%s: suture.models: no path for model '%s'", label,
                          r->models[i].name);
            goto fail;
        }
        free(r->models[i].path);
        r->models[i].path = copy;
    }
    cJSON_Delete(m);
    return r;
fail:
    cJSON_Delete(m);
    recipe_free(r);
    return NULL;
}

typedef struct cmp_ctx {
    int fd;                /* the output file */
    uint64_t off;          /* where the next chunk of it is */
    uint32_t type;
    float scale;
    unsigned char *want, *have;
    bool same;
} cmp_ctx;

/* A chunk of the source: what the output must hold there. */
static int compare_chunk(void *ctx, const void *buf, size_t n, sut_error *err)
{
    cmp_ctx *c = ctx;

    if (c->scale == 0)
        memset(c->want, 0, n);
    else if (c->scale == 1)
        memcpy(c->want, buf, n);
    else
        gbuild_scale(c->type, c->scale, buf, c->want, n);
    if (xfer_pread_exact(c->fd, c->have, n, c->off) != 0) {
        sut_error_set(err, "read failed: %s", errno ? strerror(errno) : "end of file");
        return -1;
    }
    c->off += n;
    if (memcmp(c->want, c->have, n) != 0)
        c->same = false;
    return 0;
}

static const gmodel_tensor *source_file_fd(const gbuild_plan *p,
                                           const gbuild_tensor *t, int *fd,
                                           uint64_t *off)
{
    const gguf_file *f = gguf_set_file(gmodel_set(p->models[t->model]),
                                       t->src->file);

    *fd = open(gguf_path(f), O_RDONLY | O_CLOEXEC);
    *off = gguf_data_start(f) + t->src->t->offset;
    return t->src;
}

static int check_tensor(const gbuild_plan *p, const gbuild_tensor *t,
                        const gmodel *out, cmp_ctx *c, gbuild_verify_result *res,
                        sut_error *err)
{
    const gmodel_tensor *o = gmodel_find(out, t->name);
    const gguf_file *of;
    uint64_t soff;
    int sfd, rc;

    if (!o)
        return problem(res, err, "tensor '%s': missing from the output", t->name);
    if (o->t->type != t->src->t->type ||
        memcmp(o->t->ne, t->src->t->ne, sizeof(o->t->ne)) != 0)
        return problem(res, err, "tensor '%s': %s shape differs from its source "
                       "'%s' of model '%s' (%s)", t->name, gguf_type_name(o->t->type),
                       t->src->t->name, p->r->models[t->model].name,
                       gguf_type_name(t->src->t->type));
    of = gguf_set_file(gmodel_set(out), o->file);
    c->fd = open(gguf_path(of), O_RDONLY | O_CLOEXEC);
    c->off = gguf_data_start(of) + o->t->offset;
    c->type = o->t->type;
    c->scale = (float)t->scale;
    c->same = true;
    source_file_fd(p, t, &sfd, &soff);
    if (c->fd < 0 || sfd < 0) {
        sut_error_set(err, "tensor '%s': cannot open its file: %s", t->name,
                      strerror(errno));
        rc = -1;
    } else {
        rc = xfer_read(sfd, soff, t->src->t->bytes, gguf_type_size(c->type),
                       compare_chunk, c, err);
    }
    if (c->fd >= 0)
        close(c->fd);
    if (sfd >= 0)
        close(sfd);
    if (rc != 0)
        return -1;
    res->checked++;
    if (t->scale == 1)
        res->copies++;
    else
        res->recomputed++;
    if (!c->same)
        return problem(res, err, "tensor '%s': bytes differ from %s '%s' of model "
                       "'%s'%s", t->name, t->scale == 1 ? "a copy of" : "the scaled",
                       t->src->t->name, p->r->models[t->model].name,
                       t->scale == 1 ? "" : " (recomputed)");
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Output tensors the plan does not have. */
static int check_extra(const gbuild_plan *p, const gmodel *out,
                       gbuild_verify_result *res, sut_error *err)
{
    const char **names = malloc((p->ntensors ? p->ntensors : 1) * sizeof(char *));
    size_t i;
    int rc = 0;

    if (!names) {
        sut_error_oom(err, NULL);
        return -1;
    }
    for (i = 0; i < p->ntensors; i++)
        names[i] = p->tensors[i].name;
    qsort(names, p->ntensors, sizeof(char *), cmp_str);
    for (i = 0; i < gmodel_tensor_count(out) && rc == 0; i++) {
        const char *name = gmodel_tensor_at(out, i)->t->name;
        if (!bsearch(&name, names, p->ntensors, sizeof(char *), cmp_str))
            rc = problem(res, err, "tensor '%s': not in the recipe's output", name);
    }
    free(names);
    return rc;
}

int gbuild_verify(const char *path, gbuild_verify_result *res, sut_error *err)
{
    gmodel *out = NULL;
    recipe *r = NULL;
    gbuild_plan *p = NULL;
    cmp_ctx c = {0};
    size_t i;
    int rc = -1;

    memset(res, 0, sizeof(*res));
    if (!(out = gmodel_open(path, err)) || !(r = stored_recipe(out, err)) ||
        !(p = gbuild_plan_make(r, 0, err)))
        goto out;
    if (!(c.want = malloc(XFER_CHUNK)) || !(c.have = malloc(XFER_CHUNK))) {
        sut_error_oom(err, NULL);
        goto out;
    }
    for (i = 0; i < p->ntensors; i++)
        if (check_tensor(p, &p->tensors[i], out, &c, res, err) != 0)
            goto out;
    rc = check_extra(p, out, res, err);
out:
    free(c.want);
    free(c.have);
    gbuild_plan_free(p);
    recipe_free(r);
    gmodel_free(out);
    if (rc != 0)
        gbuild_verify_clear(res);
    return rc;
}
