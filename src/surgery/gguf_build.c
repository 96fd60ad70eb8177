/* gguf_build.c: writing the GGUF a plan describes (gguf_build.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suture/gguf_build.h"
#include "suture/convert.h"
#include "suture/xfer.h"
#include "common/util.h"
#include "common/checked.h"
#include "gguf_int.h"

#ifndef SUTURE_VERSION
#define SUTURE_VERSION "unknown"
#endif

/* The state of one build. */
typedef struct job {
    const gbuild_plan *p;
    const char *out;
    int **fds;               /* per model, per file of its set */
    gguf_writer **w;         /* per output file */
    char **stage, **final;   /* per output file */
    unsigned char *buf, *buf2;
    const build_options *opt;
} job;

static const char *mname(const gbuild_plan *p, size_t i)
{
    return p->r->models[i].name;
}

/* ---- metadata --------------------------------------------------------- */

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Element i of a per-layer array, or the scalar, of key in model m, as
 * `size` bytes into out. 0, or -1 when m has no such value. */
static int layer_value(const gmodel *m, const gguf_kv *want, unsigned layer,
                       unsigned char *out)
{
    const gguf_kv *kv = gguf_kv_find(gmodel_meta(m), want->key);
    unsigned size = gguf_vtype_size(want->elem);

    if (!kv)
        return -1;
    if (kv->type == GGUF_V_ARRAY && kv->elem == want->elem && layer < kv->count) {
        memcpy(out, kv->raw + (size_t)layer * size, size);
        return 0;
    }
    if (kv->type == want->elem) {
        memcpy(out, kv->raw, size);
        return 0;
    }
    return -1;
}

/* The per-layer array kv rebuilt from the output layers' models. */
static int write_per_layer(job *j, const gguf_kv *kv, sut_error *err)
{
    const gbuild_plan *p = j->p;
    unsigned size = gguf_vtype_size(kv->elem);
    unsigned char *raw = malloc(p->nlayers * size + 1);
    size_t i;
    int rc = -1;

    if (!raw) {
        sut_error_oom(err, NULL);
        return -1;
    }
    for (i = 0; i < p->nlayers; i++) {
        const gbuild_layer *l = &p->layers[i];
        if (layer_value(p->models[l->model], kv, l->source_layer,
                        raw + i * size) != 0) {
            sut_error_set(err, "model '%s': key '%s': no %s value for layer %u",
                          mname(p, l->model), kv->key,
                          gguf_vtype_name(kv->elem), l->source_layer);
            goto out;
        }
    }
    rc = gguf_writer_kv(j->w[0], kv->key, GGUF_V_ARRAY, kv->elem, p->nlayers,
                        raw, p->nlayers * size, err);
out:
    free(raw);
    return rc;
}

/* {arch}.block_count in the donor's integer type. */
static int write_block_count(job *j, const char *key, uint32_t type,
                             sut_error *err)
{
    unsigned char b[8] = {0};
    unsigned size = gguf_vtype_size(type), i;
    uint64_t n = j->p->nlayers;

    if (type == GGUF_V_F32 || type == GGUF_V_F64 || type == GGUF_V_BOOL ||
        size == 0)
        type = GGUF_V_U32, size = 4;
    for (i = 0; i < size; i++)
        b[i] = (unsigned char)(n >> (8 * i));
    return gguf_writer_kv(j->w[0], key, type, type, 1, b, size, err);
}

static int write_donor_keys(job *j, sut_error *err)
{
    const gbuild_plan *p = j->p;
    const gmodel *d = p->models[p->config];
    const gguf_file *f = gmodel_meta(d);
    char bc[300];
    bool had_bc = false;
    size_t i;

    snprintf(bc, sizeof(bc), "%.250s.block_count", gmodel_arch(d));
    for (i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        int rc;
        if (has_prefix(kv->key, "split.") || has_prefix(kv->key, "suture.") ||
            has_prefix(kv->key, "tokenizer."))
            continue;
        if (strcmp(kv->key, bc) == 0) {
            had_bc = true;
            rc = write_block_count(j, bc, kv->type, err);
        } else if (gmodel_per_layer(d, kv)) {
            rc = write_per_layer(j, kv, err);
        } else {
            rc = gguf_writer_kv(j->w[0], kv->key, kv->type, kv->elem, kv->count,
                                kv->raw, kv->raw_len, err);
        }
        if (rc != 0)
            return -1;
    }
    return had_bc ? 0 : write_block_count(j, bc, GGUF_V_U32, err);
}

static int write_tokenizer_keys(job *j, sut_error *err)
{
    const gguf_file *f = gmodel_meta(j->p->models[j->p->tokenizer]);
    size_t i;

    for (i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        if (has_prefix(kv->key, "tokenizer.") &&
            gguf_writer_kv(j->w[0], kv->key, kv->type, kv->elem, kv->count,
                           kv->raw, kv->raw_len, err) != 0)
            return -1;
    }
    return 0;
}

/* suture.layer_sources: "MODEL:LAYER" per output layer. */
static int write_sources(job *j, sut_error *err)
{
    const gbuild_plan *p = j->p;
    size_t i, cap = 64, n = 0;
    unsigned char *raw = malloc(cap), *grown;
    char s[300];
    int rc;

    for (i = 0; raw && i < p->nlayers; i++) {
        int k = snprintf(s, sizeof(s), "%.*s:%u", SUT_CUT(mname(p, p->layers[i].model)),
                         p->layers[i].source_layer);
        size_t need = n + 8 + (size_t)k, b;
        if (need > cap) {
            cap = need * 2;
            if (!(grown = realloc(raw, cap))) {
                free(raw);
                raw = NULL;
                break;
            }
            raw = grown;
        }
        for (b = 0; b < 8; b++)
            raw[n + b] = (unsigned char)((uint64_t)k >> (8 * b));
        memcpy(raw + n + 8, s, (size_t)k);
        n = need;
    }
    if (!raw) {
        sut_error_oom(err, NULL);
        return -1;
    }
    rc = gguf_writer_kv(j->w[0], "suture.layer_sources", GGUF_V_ARRAY,
                        GGUF_V_STRING, p->nlayers, raw, n, err);
    free(raw);
    return rc;
}

/* {"NAME": "/absolute/path", ...} as JSON text (caller frees), or NULL. */
static char *models_json(const gbuild_plan *p)
{
    cJSON *o = cJSON_CreateObject();
    char abs[PATH_MAX], *text;
    size_t i;

    for (i = 0; o && i < p->r->nmodels; i++) {
        const char *path = p->r->models[i].path;
        cJSON_AddStringToObject(o, p->r->models[i].name,
                                realpath(path, abs) ? abs : path);
    }
    text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

static int write_provenance(job *j, sut_error *err)
{
    cJSON *r = recipe_to_json(j->p->r);
    char *text = r ? cJSON_PrintUnformatted(r) : NULL, *models = models_json(j->p);
    int rc = -1;

    cJSON_Delete(r);
    if (!text || !models) {
        sut_error_oom(err, NULL);
        goto out;
    }
    rc = gguf_writer_kv_str(j->w[0], "suture.version", SUTURE_VERSION, err) ||
         gguf_writer_kv_str(j->w[0], "suture.recipe", text, err) ||
         gguf_writer_kv_str(j->w[0], "suture.models", models, err) ||
         write_sources(j, err) ? -1 : 0;
out:
    free(text);
    free(models);
    return rc;
}

static int write_split_keys(job *j, size_t i, sut_error *err)
{
    const gbuild_plan *p = j->p;

    if (p->nfiles == 1)
        return 0;
    return gguf_writer_kv_u16(j->w[i], "split.no", (uint16_t)i, err) ||
           gguf_writer_kv_u16(j->w[i], "split.count", (uint16_t)p->nfiles, err) ||
           gguf_writer_kv_i32(j->w[i], "split.tensors.count",
                              (int32_t)p->ntensors, err) ? -1 : 0;
}

static int write_headers(job *j, sut_error *err)
{
    const gbuild_plan *p = j->p;
    size_t i;

    if (write_donor_keys(j, err) != 0 || write_tokenizer_keys(j, err) != 0 ||
        write_provenance(j, err) != 0)
        return -1;
    for (i = 0; i < p->nfiles; i++)
        if (write_split_keys(j, i, err) != 0)
            return -1;
    for (i = 0; i < p->ntensors; i++) {
        const gguf_tensor *t = p->tensors[i].src->t;
        if (gguf_writer_add(j->w[p->tensors[i].file], p->tensors[i].name,
                            t->type, t->ndim, t->ne, err) != 0)
            return -1;
    }
    for (i = 0; i < p->nfiles; i++)
        if (gguf_writer_begin(j->w[i], err) != 0)
            return -1;
    return 0;
}

/* ---- data ------------------------------------------------------------- */

/* Byte offsets of the F16 scales in a block of each scalable quantized
 * type (ggml-common.h), -1 terminated. */
static const int *scale_fields(uint32_t type)
{
    static const int d0[] = {0, -1}, dm0[] = {0, 2, -1}, q2k[] = {80, 82, -1},
                     q3k[] = {108, -1}, q6k[] = {208, -1};

    switch (type) {
    case GGUF_Q4_0: case GGUF_Q5_0: case GGUF_Q8_0:
        return d0;
    case GGUF_Q4_1: case GGUF_Q5_1: case GGUF_Q8_1: case GGUF_Q4_K:
    case GGUF_Q5_K:
        return dm0;
    case GGUF_Q2_K:
        return q2k;
    case GGUF_Q3_K:
        return q3k;
    case GGUF_Q6_K:
        return q6k;
    default:
        return NULL;
    }
}

static void scale_blocks(uint32_t type, float s, unsigned char *buf, size_t n)
{
    const int *fields = scale_fields(type);
    size_t size = gguf_type_size(type), b;
    int k;

    for (b = 0; b + size <= n; b += size)
        for (k = 0; fields[k] >= 0; k++) {
            unsigned char *h = buf + b + fields[k];
            uint16_t v = (uint16_t)(h[0] | h[1] << 8);
            v = cv_f32_to_f16(cv_f16_to_f32(v) * s);
            h[0] = (unsigned char)v;
            h[1] = (unsigned char)(v >> 8);
        }
}

typedef struct scale_ctx {
    job *j;
    gguf_writer *w;
    uint32_t type;
    float scale;
} scale_ctx;

static bool float_type(uint32_t type, st_dtype *dt)
{
    *dt = type == GGUF_F32 ? ST_F32 : type == GGUF_F16 ? ST_F16 : ST_BF16;
    return type == GGUF_F32 || type == GGUF_F16 || type == GGUF_BF16;
}

void gbuild_scale(uint32_t type, float scale, const void *src, void *dst,
                  size_t n)
{
    st_dtype dt;

    if (float_type(type, &dt)) {
        cv_apply(dt, dt, scale, src, dst, n / gguf_type_size(type));
    } else {
        memcpy(dst, src, n);
        scale_blocks(type, scale, dst, n);
    }
}

static int scale_chunk(void *ctx, const void *buf, size_t n, sut_error *err)
{
    scale_ctx *c = ctx;

    gbuild_scale(c->type, c->scale, buf, c->j->buf2, n);
    return gguf_writer_write(c->w, c->j->buf2, n, err);
}

static int write_tensor(job *j, const gbuild_tensor *t, sut_error *err)
{
    const gguf_file *f = gguf_set_file(gmodel_set(j->p->models[t->model]),
                                       t->src->file);
    int fd = j->fds[t->model][t->src->file];
    uint64_t off = gguf_data_start(f) + t->src->t->offset;
    gguf_writer *w = j->w[t->file];
    scale_ctx c = { j, w, t->src->t->type, (float)t->scale };

    if (t->scale == 1)
        return gguf_writer_copy(w, fd, off, t->src->t->bytes, err);
    if (t->scale == 0)
        return gguf_writer_zero(w, t->src->t->bytes, err);
    return xfer_read(fd, off, t->src->t->bytes, gguf_type_size(c.type),
                     scale_chunk, &c, err);
}

static int write_data(job *j, sut_error *err)
{
    uint64_t done = 0, total = gbuild_plan_bytes(j->p);
    size_t i;

    for (i = 0; i < j->p->ntensors; i++) {
        const gbuild_tensor *t = &j->p->tensors[i];
        if (j->opt->cancel && *j->opt->cancel) {
            sut_error_set(err, "interrupted");
            return -1;
        }
        if (write_tensor(j, t, err) != 0) {
            sut_error_prefix(err, "tensor '%s' (from '%s' of model '%s')",
                             t->name, t->src->t->name, mname(j->p, t->model));
            return -1;
        }
        done += t->src->t->bytes;
        if (j->opt->progress && total > 0)
            j->opt->progress(j->opt->progress_ctx, done, total);
    }
    for (i = 0; i < j->p->nfiles; i++)
        if (gguf_writer_finish(j->w[i], err) != 0)
            return -1;
    return 0;
}

/* ---- files and places ------------------------------------------------- */

static int open_sources(job *j, sut_error *err)
{
    const gbuild_plan *p = j->p;
    size_t m, f;

    if (!(j->fds = calloc(p->r->nmodels, sizeof(int *))))
        goto oom;
    for (m = 0; m < p->r->nmodels; m++) {
        const gguf_set *s = gmodel_set(p->models[m]);
        if (!(j->fds[m] = malloc(gguf_set_count(s) * sizeof(int))))
            goto oom;
        for (f = 0; f < gguf_set_count(s); f++)
            j->fds[m][f] = -1;
        for (f = 0; f < gguf_set_count(s); f++) {
            const char *path = gguf_path(gguf_set_file(s, f));
            if ((j->fds[m][f] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
                sut_error_set(err, "%s: cannot open: %s", sut_basename(path),
                              strerror(errno));
                return -1;
            }
            xfer_advise(j->fds[m][f], 0, 0);
        }
    }
    return 0;
oom:
    sut_error_oom(err, NULL);
    return -1;
}

/* out must not be an input file; an existing out only with force, and
 * only when it is a GGUF file. */
static int check_place(const job *j, const char *final, bool force,
                       sut_error *err)
{
    const gbuild_plan *p = j->p;
    char a[PATH_MAX], b[PATH_MAX];
    struct stat st;
    size_t m, f;

    if (lstat(final, &st) != 0)
        return 0;
    if (realpath(final, a)) {
        for (m = 0; m < p->r->nmodels; m++) {
            const gguf_set *s = gmodel_set(p->models[m]);
            for (f = 0; f < gguf_set_count(s); f++)
                if (realpath(gguf_path(gguf_set_file(s, f)), b) &&
                    strcmp(a, b) == 0) {
                    sut_error_set(err, "%s: is an input file of model '%s'",
                                  final, mname(p, m));
                    return -1;
                }
        }
    }
    if (!force) {
        sut_error_set(err, "%s: already exists (--force replaces it)", final);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || !gguf_is_gguf(final)) {
        sut_error_set(err, "%s: is not a GGUF file (--force replaces only a "
                      "GGUF file)", final);
        return -1;
    }
    return 0;
}

/* dir/.NAME.suture-tmp-PID for the output file final. */
static char *stage_name(const char *final)
{
    const char *base = sut_basename(final);
    size_t dlen = (size_t)(base - final), n = strlen(final) + 64;
    char *s = malloc(n);

    if (s)
        snprintf(s, n, "%.*s.%s.suture-tmp-%ld", (int)dlen, final, base,
                 (long)getpid());
    return s;
}

static int prepare(job *j, bool force, sut_error *err)
{
    const gbuild_plan *p = j->p;
    uint32_t align = gguf_alignment(gmodel_meta(p->models[p->config]));
    size_t i;

    j->w = calloc(p->nfiles, sizeof(*j->w));
    j->stage = calloc(p->nfiles, sizeof(char *));
    j->final = calloc(p->nfiles, sizeof(char *));
    j->buf = malloc(XFER_CHUNK);
    j->buf2 = malloc(XFER_CHUNK);
    if (!j->w || !j->stage || !j->final || !j->buf || !j->buf2) {
        sut_error_oom(err, NULL);
        return -1;
    }
    for (i = 0; i < p->nfiles; i++) {
        if (!(j->final[i] = gbuild_file_name(j->out, i, p->nfiles)) ||
            !(j->stage[i] = stage_name(j->final[i]))) {
            sut_error_oom(err, NULL);
            return -1;
        }
        if (check_place(j, j->final[i], force, err) != 0)
            return -1;
        unlink(j->stage[i]); /* our own pid's leftover */
        if (!(j->w[i] = gguf_writer_create(j->stage[i], align, err)))
            return -1;
    }
    return 0;
}

static int put_in_place(job *j, sut_error *err)
{
    char *dir;
    size_t i;
    int rc;

    for (i = 0; i < j->p->nfiles; i++) {
        if (rename(j->stage[i], j->final[i]) != 0) {
            sut_error_set(err, "%s: cannot rename into place: %s", j->final[i],
                          strerror(errno));
            return -1;
        }
    }
    if (!(dir = strdup(j->out))) {
        sut_error_oom(err, NULL);
        return -1;
    }
    *(char *)sut_basename(dir) = '\0';
    rc = sut_fsync_dir(*dir ? dir : ".", err);
    free(dir);
    return rc;
}

static void job_free(job *j)
{
    size_t i, f;

    for (i = 0; j->w && i < j->p->nfiles; i++) {
        gguf_writer_free(j->w[i]);
        if (j->stage && j->stage[i])
            unlink(j->stage[i]);
        if (j->stage)
            free(j->stage[i]);
        if (j->final)
            free(j->final[i]);
    }
    for (i = 0; j->fds && i < j->p->r->nmodels; i++) {
        const gguf_set *s = gmodel_set(j->p->models[i]);
        for (f = 0; j->fds[i] && f < gguf_set_count(s); f++)
            if (j->fds[i][f] >= 0)
                close(j->fds[i][f]);
        free(j->fds[i]);
    }
    free(j->fds);
    free(j->w);
    free(j->stage);
    free(j->final);
    free(j->buf);
    free(j->buf2);
}

int gbuild_run(const gbuild_plan *p, const build_options *opt,
               sut_error *err)
{
    job j = { .p = p, .out = opt->out, .opt = opt };
    int rc = -1;

    if (!sut_ends_with(opt->out, ".gguf")) {
        sut_error_set(err, "%s: a GGUF output is a file named NAME.gguf", opt->out);
        return -1;
    }
    if (open_sources(&j, err) == 0 && prepare(&j, opt->force, err) == 0 &&
        write_headers(&j, err) == 0 && write_data(&j, err) == 0 &&
        put_in_place(&j, err) == 0)
        rc = 0;
    job_free(&j);
    return rc;
}
