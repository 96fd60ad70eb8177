/* gguf_model.c: a GGUF model as a layer stack (see gguf_model.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/gguf_model.h"
#include "common/util.h"
#include "common/checked.h"

struct gmodel {
    char *path;
    gguf_set *set;
    const char *arch;
    long block_count;
    gmodel_tensor *tensors;
    size_t count;
    size_t *by_name;        /* indices sorted by tensor name */
    unsigned layers;
    size_t *layer_start;    /* layers + 1 offsets into layer_idx */
    size_t *layer_idx;      /* tensor indices grouped by layer */
    model_issue *issues;
    size_t nissues;
};

void gmodel_free(gmodel *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->nissues; i++)
        free(m->issues[i].message);
    free(m->issues);
    free(m->tensors);
    free(m->by_name);
    free(m->layer_start);
    free(m->layer_idx);
    gguf_set_free(m->set);
    free(m->path);
    free(m);
}

const char *gmodel_path(const gmodel *m) { return m->path; }
const gguf_set *gmodel_set(const gmodel *m) { return m->set; }
const gguf_file *gmodel_meta(const gmodel *m) { return gguf_set_meta(m->set); }
const char *gmodel_arch(const gmodel *m) { return m->arch; }
long gmodel_block_count(const gmodel *m) { return m->block_count; }
size_t gmodel_tensor_count(const gmodel *m) { return m->count; }
unsigned gmodel_layer_count(const gmodel *m) { return m->layers; }
size_t gmodel_issue_count(const gmodel *m) { return m->nissues; }

const gmodel_tensor *gmodel_tensor_at(const gmodel *m, size_t i)
{
    return i < m->count ? &m->tensors[i] : NULL;
}

const model_issue *gmodel_issue_at(const gmodel *m, size_t i)
{
    return i < m->nissues ? &m->issues[i] : NULL;
}

const gmodel_tensor *gmodel_find(const gmodel *m, const char *name)
{
    size_t lo = 0, hi = m->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gmodel_tensor *t = &m->tensors[m->by_name[mid]];
        int c = strcmp(name, t->t->name);
        if (c == 0)
            return t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const size_t *gmodel_layer_tensors(const gmodel *m, unsigned i, size_t *n)
{
    if (i >= m->layers) {
        *n = 0;
        return NULL;
    }
    *n = m->layer_start[i + 1] - m->layer_start[i];
    return m->layer_idx + m->layer_start[i];
}

bool gmodel_tied(const gmodel *m)
{
    return !gmodel_find(m, "output.weight") &&
           gmodel_find(m, "token_embd.weight") != NULL;
}

bool gmodel_layer_name(const char *name, long *layer, const char **local)
{
    const char *p = name + 4;
    long v = 0;

    if (strncmp(name, "blk.", 4) != 0 || *p < '0' || *p > '9' ||
        (p[0] == '0' && p[1] != '.'))
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > 999999)
            return false;
    }
    if (*p != '.' || !p[1])
        return false;
    *layer = v;
    *local = p + 1;
    return true;
}

bool gmodel_per_layer(const gmodel *m, const gguf_kv *kv)
{
    size_t n = m->arch ? strlen(m->arch) : 0;

    return m->arch && m->block_count > 0 && kv->type == GGUF_V_ARRAY &&
           gguf_vtype_size(kv->elem) != 0 &&
           kv->count == (uint64_t)m->block_count &&
           strncmp(kv->key, m->arch, n) == 0 && kv->key[n] == '.';
}

uint64_t gmodel_parameter_count(const gmodel *m)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < m->count; i++)
        n += m->tensors[i].t->elements;
    return n;
}

uint64_t gmodel_data_bytes(const gmodel *m)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < m->count; i++)
        n += m->tensors[i].t->bytes;
    return n;
}

/* ---- opening ---------------------------------------------------------- */

static int add_issue(gmodel *m, const char *code, sut_error *err,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int add_issue(gmodel *m, const char *code, sut_error *err,
                     const char *fmt, ...)
{
    char buf[SUT_ERROR_MAX];
    model_issue *grown;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sut_one_line(buf);
    grown = realloc(m->issues, (m->nissues + 1) * sizeof(*grown));
    if (!grown || !(grown[m->nissues].message = strdup(buf))) {
        if (grown)
            m->issues = grown;
        sut_error_oom(err, sut_basename(m->path));
        return -1;
    }
    grown[m->nissues].code = code;
    m->issues = grown;
    m->nissues++;
    return 0;
}

static void classify(gmodel_tensor *t)
{
    const char *name = t->t->name;

    t->layer = -1;
    t->local = NULL;
    if (gmodel_layer_name(name, &t->layer, &t->local))
        t->role = MODEL_LAYER;
    else if (strncmp(name, "output.", 7) == 0 ||
             strncmp(name, "output_norm.", 12) == 0)
        t->role = MODEL_POST;
    else
        t->role = MODEL_PRE;
}

static int collect(gmodel *m, sut_error *err)
{
    size_t i, k, n = 0;

    for (i = 0; i < gguf_set_count(m->set); i++)
        n += gguf_tensor_count(gguf_set_file(m->set, i));
    if (!(m->tensors = calloc(n ? n : 1, sizeof(*m->tensors)))) {
        sut_error_oom(err, sut_basename(m->path));
        return -1;
    }
    for (i = 0; i < gguf_set_count(m->set); i++) {
        const gguf_file *f = gguf_set_file(m->set, i);
        for (k = 0; k < gguf_tensor_count(f); k++) {
            gmodel_tensor *t = &m->tensors[m->count++];
            t->t = gguf_tensor_at(f, k);
            t->file = i;
            classify(t);
            if (t->layer >= 0 && (unsigned)t->layer + 1 > m->layers)
                m->layers = (unsigned)t->layer + 1;
        }
    }
    return 0;
}

static _Thread_local const gmodel *sort_m;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(sort_m->tensors[*(const size_t *)a].t->name,
                  sort_m->tensors[*(const size_t *)b].t->name);
}

/* by_name and the per-layer groups. */
static int index_tensors(gmodel *m, sut_error *err)
{
    size_t i, *fill;

    m->by_name = calloc(m->count ? m->count : 1, sizeof(size_t));
    m->layer_start = calloc((size_t)m->layers + 2, sizeof(size_t));
    m->layer_idx = calloc(m->count ? m->count : 1, sizeof(size_t));
    fill = calloc((size_t)m->layers + 1, sizeof(size_t));
    if (!m->by_name || !m->layer_start || !m->layer_idx || !fill) {
        free(fill);
        sut_error_oom(err, sut_basename(m->path));
        return -1;
    }
    for (i = 0; i < m->count; i++) {
        m->by_name[i] = i;
        if (m->tensors[i].layer >= 0)
            m->layer_start[m->tensors[i].layer + 1]++;
    }
    for (i = 0; i < m->layers; i++)
        m->layer_start[i + 1] += m->layer_start[i];
    for (i = 0; i < m->count; i++) {
        long l = m->tensors[i].layer;
        if (l >= 0)
            m->layer_idx[m->layer_start[l] + fill[l]++] = i;
    }
    free(fill);
    sort_m = m;
    qsort(m->by_name, m->count, sizeof(size_t), cmp_names);
    sort_m = NULL;
    return 0;
}

static int read_arch(gmodel *m, sut_error *err)
{
    const gguf_file *f = gmodel_meta(m);
    char key[300];
    uint64_t v;
    const gguf_kv *kv;

    m->arch = gguf_get_str(f, "general.architecture");
    m->block_count = -1;
    if (!m->arch)
        return 0;
    snprintf(key, sizeof(key), "%.250s.block_count", m->arch);
    kv = gguf_kv_find(f, key);
    if (kv && gguf_kv_u64(kv, &v) == 0 && v <= 999999)
        m->block_count = (long)v;
    if (m->block_count >= 0 && m->layers > 0 &&
        (unsigned long)m->block_count != m->layers)
        return add_issue(m, "block-count-mismatch", err,
                         "%s: %s is %ld but the tensors hold blk.0 to blk.%u",
                         sut_basename(gguf_path(f)), key, m->block_count,
                         m->layers - 1);
    return 0;
}

gmodel *gmodel_open(const char *path, sut_error *err)
{
    gmodel *m = calloc(1, sizeof(*m));

    if (!m || !(m->path = strdup(path))) {
        sut_error_oom(err, sut_basename(path));
        free(m);
        return NULL;
    }
    if (!(m->set = gguf_set_open(path, err)) || collect(m, err) != 0 ||
        index_tensors(m, err) != 0 || read_arch(m, err) != 0) {
        gmodel_free(m);
        return NULL;
    }
    return m;
}
