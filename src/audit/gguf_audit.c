/* gguf_audit.c: audit and trim for GGUF models (gguf_audit.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suture/gguf_audit.h"
#include "suture/xfer.h"
#include "common/util.h"

/* A model with the hash of every tensor and of every layer. */
typedef struct hashed {
    gmodel *m;
    xfer_hash *tensors;   /* per gmodel_tensor_at */
    xfer_hash *layers;    /* per layer: hash of (local, type, shape, hash)s */
} hashed;

struct gaudit_report {
    hashed model;
    hashed *bases;
    char **base_names;
    size_t nbases;
    audit_finding *findings;
    size_t nfindings;
    audit_origin *origins;
    size_t norigins;
};

static void hashed_free(hashed *h)
{
    gmodel_free(h->m);
    free(h->tensors);
    free(h->layers);
}

void gaudit_free(gaudit_report *r)
{
    size_t i;

    if (!r)
        return;
    hashed_free(&r->model);
    for (i = 0; i < r->nbases; i++) {
        hashed_free(&r->bases[i]);
        free(r->base_names[i]);
    }
    for (i = 0; i < r->nfindings; i++) {
        free(r->findings[i].message);
        free(r->findings[i].place);
    }
    free(r->bases);
    free(r->base_names);
    free(r->findings);
    free(r->origins);
    free(r);
}

const gmodel *gaudit_model(const gaudit_report *r) { return r->model.m; }
size_t gaudit_finding_count(const gaudit_report *r) { return r->nfindings; }
size_t gaudit_origin_count(const gaudit_report *r) { return r->norigins; }
size_t gaudit_base_count(const gaudit_report *r) { return r->nbases; }

const audit_finding *gaudit_finding_at(const gaudit_report *r, size_t i)
{
    return i < r->nfindings ? &r->findings[i] : NULL;
}

const audit_origin *gaudit_origin_at(const gaudit_report *r, size_t i)
{
    return i < r->norigins ? &r->origins[i] : NULL;
}

const char *gaudit_base_name(const gaudit_report *r, size_t i)
{
    return i < r->nbases ? r->base_names[i] : NULL;
}

size_t gaudit_count(const gaudit_report *r, audit_severity s)
{
    size_t i, n = 0;

    for (i = 0; i < r->nfindings; i++)
        n += r->findings[i].severity == s;
    return n;
}

static int add_finding(gaudit_report *r, const char *code, audit_severity s,
                       const char *place, sut_error *err, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int add_finding(gaudit_report *r, const char *code, audit_severity s,
                       const char *place, sut_error *err, const char *fmt, ...)
{
    char buf[SUT_ERROR_MAX];
    audit_finding *g;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sut_one_line(buf);
    if (!(g = realloc(r->findings, (r->nfindings + 1) * sizeof(*g)))) {
        sut_error_oom(err, NULL);
        return -1;
    }
    r->findings = g;
    g = &r->findings[r->nfindings];
    g->code = code;
    g->severity = s;
    g->message = strdup(buf);
    g->place = place ? strdup(place) : NULL;
    r->nfindings++;
    if (!g->message || (place && !g->place)) {
        sut_error_oom(err, NULL);
        return -1;
    }
    return 0;
}

/* ---- hashing ---------------------------------------------------------- */

static int hash_tensors(hashed *h, sut_error *err)
{
    const gguf_set *s = gmodel_set(h->m);
    size_t i, n = gmodel_tensor_count(h->m);
    int *fds = calloc(gguf_set_count(s), sizeof(int));
    int rc = -1;

    h->tensors = calloc(n ? n : 1, sizeof(xfer_hash));
    if (!fds || !h->tensors) {
        free(fds);
        sut_error_oom(err, NULL);
        return -1;
    }
    for (i = 0; i < gguf_set_count(s); i++)
        fds[i] = -1;
    for (i = 0; i < gguf_set_count(s); i++) {
        const char *p = gguf_path(gguf_set_file(s, i));
        if ((fds[i] = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
            sut_error_set(err, "%s: cannot open: %s", sut_basename(p), strerror(errno));
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        const gmodel_tensor *t = gmodel_tensor_at(h->m, i);
        const gguf_file *f = gguf_set_file(s, t->file);
        if (xfer_hash_range(fds[t->file], gguf_data_start(f) + t->t->offset,
                            t->t->bytes, &h->tensors[i], err) != 0) {
            sut_error_prefix(err, "%s: tensor '%s'", sut_basename(gguf_path(f)),
                             t->t->name);
            goto out;
        }
    }
    rc = 0;
out:
    for (i = 0; i < gguf_set_count(s); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    return rc;
}

static _Thread_local const hashed *sort_h;

static int cmp_local(const void *a, const void *b)
{
    return strcmp(gmodel_tensor_at(sort_h->m, *(const size_t *)a)->local,
                  gmodel_tensor_at(sort_h->m, *(const size_t *)b)->local);
}

/* The hash of a layer: its tensors by local name, each with its type,
 * shape and data hash. */
static int hash_layer(hashed *h, unsigned l, sut_error *err)
{
    size_t n, i, k = 0;
    const size_t *idx = gmodel_layer_tensors(h->m, l, &n);
    size_t *order = malloc((n ? n : 1) * sizeof(size_t));
    unsigned char *buf = malloc((n ? n : 1) * (GGUF_NAME_MAX + 1 + 4 + 32 + 16));

    if (!order || !buf) {
        free(order);
        free(buf);
        sut_error_oom(err, NULL);
        return -1;
    }
    memcpy(order, idx, n * sizeof(size_t));
    sort_h = h;
    qsort(order, n, sizeof(size_t), cmp_local);
    for (i = 0; i < n; i++) {
        const gmodel_tensor *t = gmodel_tensor_at(h->m, order[i]);
        size_t len = strlen(t->local) + 1;
        memcpy(buf + k, t->local, len);
        k += len;
        memcpy(buf + k, &t->t->type, 4);
        memcpy(buf + k + 4, t->t->ne, 32);
        memcpy(buf + k + 36, &h->tensors[order[i]], 16);
        k += 52;
    }
    h->layers[l] = xfer_hash_mem(buf, k);
    free(order);
    free(buf);
    return 0;
}

static int open_hashed(hashed *h, const char *path, sut_error *err)
{
    unsigned l;

    if (!(h->m = gmodel_open(path, err)) || hash_tensors(h, err) != 0)
        return -1;
    if (!(h->layers = calloc(gmodel_layer_count(h->m) + 1, sizeof(xfer_hash)))) {
        sut_error_oom(err, NULL);
        return -1;
    }
    for (l = 0; l < gmodel_layer_count(h->m); l++)
        if (hash_layer(h, l, err) != 0)
            return -1;
    return 0;
}

static bool same_hash(xfer_hash a, xfer_hash b)
{
    return a.lo == b.lo && a.hi == b.hi;
}

/* ---- findings --------------------------------------------------------- */

static const char *label(const gaudit_report *r)
{
    return sut_basename(gmodel_path(r->model.m));
}

/* The index of tensor t in the model (t points into its table). */
static size_t tindex(const gmodel *m, const gmodel_tensor *t)
{
    return (size_t)(t - gmodel_tensor_at(m, 0));
}

static bool head_identical(const hashed *h)
{
    const gmodel_tensor *o = gmodel_find(h->m, "output.weight");
    const gmodel_tensor *e = gmodel_find(h->m, "token_embd.weight");

    return o && e && o->t->type == e->t->type &&
           memcmp(o->t->ne, e->t->ne, sizeof(o->t->ne)) == 0 &&
           same_hash(h->tensors[tindex(h->m, o)], h->tensors[tindex(h->m, e)]);
}

static int find_model_issues(gaudit_report *r, sut_error *err)
{
    size_t i;

    for (i = 0; i < gmodel_issue_count(r->model.m); i++) {
        const model_issue *is = gmodel_issue_at(r->model.m, i);
        if (add_finding(r, is->code, AUDIT_WARNING, NULL, err, "%s",
                        is->message) != 0)
            return -1;
    }
    if (head_identical(&r->model) &&
        add_finding(r, "redundant-lm-head", AUDIT_WARNING, "output.weight", err,
                    "%s: output.weight is byte-identical to token_embd.weight: "
                    "llama.cpp ties the head when output.weight is absent "
                    "('suture trim' drops it)", label(r)) != 0)
        return -1;
    return 0;
}

static int find_duplicates(gaudit_report *r, sut_error *err)
{
    unsigned n = gmodel_layer_count(r->model.m), a, b;
    char list[SUT_ERROR_MAX];
    bool *seen = calloc(n + 1, sizeof(bool));
    int rc = 0;

    if (!seen) {
        sut_error_oom(err, NULL);
        return -1;
    }
    for (a = 0; a < n && rc == 0; a++) {
        size_t len = 0, count = 1;
        if (seen[a])
            continue;
        len += (size_t)snprintf(list, sizeof(list), "%u", a);
        for (b = a + 1; b < n; b++) {
            if (!seen[b] && same_hash(r->model.layers[a], r->model.layers[b])) {
                seen[b] = true;
                count++;
                if (len < sizeof(list) - 16)
                    len += (size_t)snprintf(list + len, sizeof(list) - len, ", %u", b);
            }
        }
        if (count > 1)
            rc = add_finding(r, "duplicate-layers", AUDIT_INFO, NULL, err,
                             "%s: layers %s are byte-identical", label(r), list);
    }
    free(seen);
    return rc;
}

static int trace(gaudit_report *r, sut_error *err)
{
    unsigned n = gmodel_layer_count(r->model.m), l, k;
    size_t b;

    if (r->nbases == 0)
        return 0;
    if (!(r->origins = calloc(n + 1, sizeof(audit_origin)))) {
        sut_error_oom(err, NULL);
        return -1;
    }
    for (l = 0; l < n; l++) {
        audit_origin *o = &r->origins[r->norigins++];
        o->layer = l;
        o->base = -1;
        o->source_layer = -1;
        for (b = 0; b < r->nbases && o->base < 0; b++)
            for (k = 0; k < gmodel_layer_count(r->bases[b].m); k++)
                if (same_hash(r->model.layers[l], r->bases[b].layers[k])) {
                    o->base = (long)b;
                    o->source_layer = k;
                    break;
                }
    }
    return 0;
}

gaudit_report *gaudit_run(const char *path, const audit_base *bases,
                          size_t nbases, sut_error *err)
{
    gaudit_report *r = calloc(1, sizeof(*r));
    size_t i;

    if (!r || !(r->bases = calloc(nbases + 1, sizeof(hashed))) ||
        !(r->base_names = calloc(nbases + 1, sizeof(char *)))) {
        sut_error_oom(err, NULL);
        gaudit_free(r);
        return NULL;
    }
    if (open_hashed(&r->model, path, err) != 0)
        goto fail;
    for (i = 0; i < nbases; i++) {
        r->nbases = i + 1;
        if (!(r->base_names[i] = strdup(bases[i].name))) {
            sut_error_oom(err, NULL);
            goto fail;
        }
        if (open_hashed(&r->bases[i], bases[i].path, err) != 0) {
            sut_error_prefix(err, "base '%s'", bases[i].name);
            goto fail;
        }
    }
    if (find_model_issues(r, err) != 0 || find_duplicates(r, err) != 0 ||
        trace(r, err) != 0)
        goto fail;
    return r;
fail:
    gaudit_free(r);
    return NULL;
}

/* ---- trim ------------------------------------------------------------- */

static int write_trimmed(const hashed *h, const char *stage, sut_error *err)
{
    const gguf_set *s = gmodel_set(h->m);
    const gguf_file *meta = gmodel_meta(h->m);
    gguf_writer *w = gguf_writer_create(stage, gguf_alignment(meta), err);
    size_t i;
    int fd = -1, cur = -1, rc = -1;

    if (!w)
        return -1;
    for (i = 0; i < gguf_kv_count(meta); i++) {
        const gguf_kv *kv = gguf_kv_at(meta, i);
        if (strncmp(kv->key, "split.", 6) != 0 &&
            gguf_writer_kv(w, kv->key, kv->type, kv->elem, kv->count, kv->raw,
                           kv->raw_len, err) != 0)
            goto out;
    }
    for (i = 0; i < gmodel_tensor_count(h->m); i++) {
        const gguf_tensor *t = gmodel_tensor_at(h->m, i)->t;
        if (strcmp(t->name, "output.weight") != 0 &&
            gguf_writer_add(w, t->name, t->type, t->ndim, t->ne, err) != 0)
            goto out;
    }
    if (gguf_writer_begin(w, err) != 0)
        goto out;
    for (i = 0; i < gmodel_tensor_count(h->m); i++) {
        const gmodel_tensor *t = gmodel_tensor_at(h->m, i);
        const gguf_file *f = gguf_set_file(s, t->file);
        if (strcmp(t->t->name, "output.weight") == 0)
            continue;
        if ((int)t->file != cur) {
            if (fd >= 0)
                close(fd);
            cur = (int)t->file;
            if ((fd = open(gguf_path(f), O_RDONLY | O_CLOEXEC)) < 0) {
                sut_error_set(err, "%s: cannot open: %s",
                              sut_basename(gguf_path(f)), strerror(errno));
                goto out;
            }
        }
        if (gguf_writer_copy(w, fd, gguf_data_start(f) + t->t->offset,
                             t->t->bytes, err) != 0)
            goto out;
    }
    rc = gguf_writer_finish(w, err);
out:
    if (fd >= 0)
        close(fd);
    gguf_writer_free(w);
    return rc;
}

static int check_out(const char *path, const char *out, bool in_place,
                     sut_error *err)
{
    struct stat st;

    if (!sut_ends_with(out, ".gguf")) {
        sut_error_set(err, "%s: a GGUF output is a file named NAME.gguf", out);
        return -1;
    }
    if (!in_place && lstat(out, &st) == 0) {
        sut_error_set(err, "%s: already exists", out);
        return -1;
    }
    if (in_place && strcmp(path, out) != 0) {
        sut_error_set(err, "%s: --in-place rewrites a single GGUF file", path);
        return -1;
    }
    return 0;
}

static void why_not(const hashed *h, gaudit_trim_result *res, bool force)
{
    const gmodel_tensor *o = gmodel_find(h->m, "output.weight");

    if (!o)
        snprintf(res->reason, sizeof(res->reason),
                 "no output.weight (the head is already tied)");
    else if (!gmodel_find(h->m, "token_embd.weight"))
        snprintf(res->reason, sizeof(res->reason),
                 "no token_embd.weight to tie the head to");
    else if (!head_identical(h) && !force)
        snprintf(res->reason, sizeof(res->reason),
                 "output.weight differs from token_embd.weight (an untied "
                 "head; --force drops it)");
}

int gaudit_trim(const char *path, const char *out, bool in_place, bool force,
                gaudit_trim_result *res, sut_error *err)
{
    hashed h = {0};
    const gmodel_tensor *o;
    char *stage = NULL;
    int rc = -1;

    memset(res, 0, sizeof(*res));
    if (check_out(path, out, in_place, err) != 0 ||
        open_hashed(&h, path, err) != 0)
        goto out;
    if (in_place && gguf_set_count(gmodel_set(h.m)) > 1) {
        sut_error_set(err, "%s: --in-place rewrites a single GGUF file, not a "
                      "split set (use -o OUT.gguf)", sut_basename(path));
        goto out;
    }
    why_not(&h, res, force);
    if (res->reason[0]) {
        rc = 0;
        goto out;
    }
    o = gmodel_find(h.m, "output.weight");
    res->identical = head_identical(&h);
    res->parameters = o->t->elements;
    res->bytes = o->t->bytes;
    if (!(stage = malloc(strlen(out) + 64))) {
        sut_error_oom(err, NULL);
        goto out;
    }
    sprintf(stage, "%s.suture-tmp-%ld", out, (long)getpid());
    if (write_trimmed(&h, stage, err) != 0)
        goto out;
    if (rename(stage, out) != 0) {
        sut_error_set(err, "%s: cannot rename into place: %s", out, strerror(errno));
        unlink(stage);
        goto out;
    }
    res->trimmed = true;
    rc = 0;
out:
    free(stage);
    hashed_free(&h);
    return rc;
}
