/* gguf_plan.c: planning a GGUF build from GGUF models (gguf_build.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/gguf_build.h"
#include "suture/format.h"
#include "common/util.h"
#include "common/checked.h"
#include "gguf_int.h"

bool gbuild_is_gguf(const recipe *r)
{
    size_t i;

    for (i = 0; i < r->nmodels; i++)
        if (gbuild_path_is_gguf(r->models[i].path))
            return true;
    return false;
}

bool gbuild_path_is_gguf(const char *path)
{
    return gguf_is_gguf(path) || sut_ends_with(path, ".gguf");
}

void gbuild_plan_free(gbuild_plan *p)
{
    size_t i;

    if (!p)
        return;
    for (i = 0; p->models && i < p->r->nmodels; i++)
        gmodel_free(p->models[i]);
    for (i = 0; i < p->nnotes; i++)
        free(p->notes[i]);
    free(p->notes);
    free(p->models);
    free(p->layers);
    free(p->tensors);
    free(p->file_bytes);
    free(p);
}

const gmodel *gbuild_plan_model(const gbuild_plan *p, size_t i)
{
    return i < p->r->nmodels ? p->models[i] : NULL;
}

const gbuild_layer *gbuild_plan_layers(const gbuild_plan *p, size_t *n)
{
    *n = p->nlayers;
    return p->layers;
}

const gbuild_tensor *gbuild_plan_tensors(const gbuild_plan *p, size_t *n)
{
    *n = p->ntensors;
    return p->tensors;
}

size_t gbuild_plan_files(const gbuild_plan *p) { return p->nfiles; }
const recipe *gbuild_plan_recipe(const gbuild_plan *p) { return p->r; }
size_t gbuild_plan_config(const gbuild_plan *p) { return p->config; }

uint64_t gbuild_plan_file_bytes(const gbuild_plan *p, size_t i)
{
    return i < p->nfiles ? p->file_bytes[i] : 0;
}

const char *const *gbuild_plan_notes(const gbuild_plan *p, size_t *n)
{
    *n = p->nnotes;
    return (const char *const *)p->notes;
}

uint64_t gbuild_plan_parameters(const gbuild_plan *p)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < p->ntensors; i++)
        n += p->tensors[i].src->t->elements;
    return n;
}

uint64_t gbuild_plan_bytes(const gbuild_plan *p)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < p->ntensors; i++)
        n += p->tensors[i].src->t->bytes;
    return n;
}

static int add_note(gbuild_plan *p, sut_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int add_note(gbuild_plan *p, sut_error *err, const char *fmt, ...)
{
    char buf[SUT_ERROR_MAX], **grown;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sut_one_line(buf);
    if (!(grown = realloc(p->notes, (p->nnotes + 1) * sizeof(char *))) ||
        !(grown[p->nnotes] = strdup(buf))) {
        if (grown)
            p->notes = grown;
        sut_error_oom(err, NULL);
        return -1;
    }
    p->notes = grown;
    p->nnotes++;
    return 0;
}

/* ---- the models ------------------------------------------------------- */

static const char *mname(const gbuild_plan *p, size_t i)
{
    return p->r->models[i].name;
}

static int open_models(gbuild_plan *p, sut_error *err)
{
    size_t i;

    if (!(p->models = calloc(p->r->nmodels, sizeof(gmodel *)))) {
        sut_error_oom(err, NULL);
        return -1;
    }
    for (i = 0; i < p->r->nmodels; i++) {
        const recipe_model *m = &p->r->models[i];
        if (!gbuild_path_is_gguf(m->path)) {
            sut_error_set(err, "model '%s' (%s) is not a GGUF file: a recipe "
                          "takes GGUF models or safetensors models, not both",
                          m->name, m->given);
            return -1;
        }
        if (!(p->models[i] = gmodel_open(m->path, err))) {
            sut_error_prefix(err, "model '%s'", m->name);
            return -1;
        }
    }
    return 0;
}

/* Same general.architecture everywhere. */
static int check_arch(const gbuild_plan *p, sut_error *err)
{
    const char *a0 = gmodel_arch(p->models[0]);
    size_t i;

    for (i = 0; i < p->r->nmodels; i++) {
        const char *a = gmodel_arch(p->models[i]);
        if (!a) {
            sut_error_set(err, "model '%s': no general.architecture", mname(p, i));
            return -1;
        }
        if (strcmp(a, a0) != 0) {
            sut_error_set(err, "models '%s' (%s) and '%s' (%s) are of different "
                          "architectures", mname(p, 0), a0, mname(p, i), a);
            return -1;
        }
    }
    return 0;
}

/* True when the two entries hold the same type and bytes (both absent
 * counts as the same). */
static bool same_kv(const gguf_kv *a, const gguf_kv *b)
{
    if (!a || !b)
        return !a && !b;
    return a->type == b->type && a->elem == b->elem && a->count == b->count &&
           a->raw_len == b->raw_len && memcmp(a->raw, b->raw, a->raw_len) == 0;
}

static int check_tokenizers(const gbuild_plan *p, sut_error *err)
{
    static const char *const keys[] = {"tokenizer.ggml.model",
                                       "tokenizer.ggml.tokens"};
    const gguf_file *f0 = gmodel_meta(p->models[0]);
    size_t i, k;

    for (i = 1; i < p->r->nmodels; i++) {
        const gguf_file *f = gmodel_meta(p->models[i]);
        for (k = 0; k < 2; k++) {
            if (!same_kv(gguf_kv_find(f0, keys[k]), gguf_kv_find(f, keys[k]))) {
                sut_error_set(err, "models '%s' and '%s' have different "
                              "tokenizers (%s differs)", mname(p, 0),
                              mname(p, i), keys[k]);
                return -1;
            }
        }
    }
    return 0;
}

/* {arch}.* scalars of the config donor agree in every model holding them
 * (block_count aside). */
static int check_hparams(const gbuild_plan *p, sut_error *err)
{
    const gmodel *d = p->models[p->config];
    const gguf_file *fd = gmodel_meta(d);
    size_t n = strlen(gmodel_arch(d)), i, k;

    for (k = 0; k < gguf_kv_count(fd); k++) {
        const gguf_kv *kv = gguf_kv_at(fd, k);
        if (strncmp(kv->key, gmodel_arch(d), n) != 0 || kv->key[n] != '.' ||
            strcmp(kv->key + n, ".block_count") == 0 || gmodel_per_layer(d, kv))
            continue;
        for (i = 0; i < p->r->nmodels; i++) {
            const gguf_kv *o = gguf_kv_find(gmodel_meta(p->models[i]), kv->key);
            if (o && gmodel_per_layer(p->models[i], o)) {
                sut_error_set(err, "model '%s' holds %s per layer but the "
                              "metadata donor '%s' one value for all (make '%s' "
                              "the config donor)", mname(p, i), kv->key,
                              mname(p, p->config), mname(p, i));
                return -1;
            }
            if (o && !same_kv(kv, o)) {
                sut_error_set(err, "models '%s' and '%s' disagree on %s",
                              mname(p, p->config), mname(p, i), kv->key);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- layers and tensors ----------------------------------------------- */

static long donor(long given, size_t dflt)
{
    return given >= 0 ? given : (long)dflt;
}

static int map_layers(gbuild_plan *p, sut_error *err)
{
    const recipe *r = p->r;
    size_t s, n = 0;
    unsigned l;

    for (s = 0; s < r->nslices; s++) {
        const recipe_slice *sl = &r->slices[s];
        unsigned have = gmodel_layer_count(p->models[sl->model]);
        if (sl->end > have) {
            sut_error_set(err, "slice %zu: model '%s' has %u layers, [%u:%u] "
                          "goes past them", s, mname(p, sl->model), have,
                          sl->start, sl->end);
            return -1;
        }
        n += sl->end - sl->start;
    }
    if (n == 0 || n > RECIPE_LAYER_MAX) {
        sut_error_set(err, "the recipe makes %zu layers", n);
        return -1;
    }
    if (!(p->layers = calloc(n, sizeof(*p->layers)))) {
        sut_error_oom(err, NULL);
        return -1;
    }
    for (s = 0; s < r->nslices; s++)
        for (l = r->slices[s].start; l < r->slices[s].end; l++) {
            gbuild_layer *o = &p->layers[p->nlayers];
            o->index = (unsigned)p->nlayers++;
            o->model = r->slices[s].model;
            o->source_layer = l;
            o->slice = s;
            o->k = l - r->slices[s].start;
        }
    return 0;
}

bool gbuild_scalable(uint32_t type)
{
    switch (type) {
    case GGUF_F32: case GGUF_F16: case GGUF_BF16: case GGUF_Q4_0:
    case GGUF_Q4_1: case GGUF_Q5_0: case GGUF_Q5_1: case GGUF_Q8_0:
    case GGUF_Q8_1: case GGUF_Q2_K: case GGUF_Q3_K: case GGUF_Q4_K:
    case GGUF_Q5_K: case GGUF_Q6_K:
        return true;
    default:
        return false;
    }
}

static int add_tensor(gbuild_plan *p, size_t mi, const gmodel_tensor *t,
                      long layer, double scale, sut_error *err)
{
    gbuild_tensor *o = &p->tensors[p->ntensors];
    int n;

    if (layer >= 0)
        n = snprintf(o->name, sizeof(o->name), "blk.%ld.%s", layer, t->local);
    else
        n = snprintf(o->name, sizeof(o->name), "%s", t->t->name);
    if (n < 0 || (size_t)n >= sizeof(o->name)) {
        sut_error_set(err, "output tensor 'blk.%ld.%.*s' would have a name "
                      "over ggml's limit of 63 bytes", layer, sut_cut(t->local, 100), t->local);
        return -1;
    }
    if (scale != 1 && scale != 0 && !gbuild_scalable(t->t->type)) {
        sut_error_set(err, "model '%s': tensor '%s' is %s: a scale of %g needs "
                      "re-quantizing (scales other than 0 and 1 work on F32, "
                      "F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K to "
                      "Q6_K)", mname(p, mi), t->t->name,
                      gguf_type_name(t->t->type), scale);
        return -1;
    }
    o->model = mi;
    o->src = t;
    o->layer = layer;
    o->scale = scale;
    p->ntensors++;
    return 0;
}

static int add_role(gbuild_plan *p, size_t mi, model_role role,
                    sut_error *err)
{
    const gmodel *m = p->models[mi];
    size_t i;

    for (i = 0; i < gmodel_tensor_count(m); i++)
        if (gmodel_tensor_at(m, i)->role == role &&
            add_tensor(p, mi, gmodel_tensor_at(m, i), -1, 1.0, err) != 0)
            return -1;
    return 0;
}

static int add_layers(gbuild_plan *p, sut_error *err)
{
    size_t i, k, n;

    for (i = 0; i < p->nlayers; i++) {
        const gbuild_layer *l = &p->layers[i];
        const recipe_slice *sl = &p->r->slices[l->slice];
        const gmodel *m = p->models[l->model];
        const size_t *idx = gmodel_layer_tensors(m, l->source_layer, &n);
        for (k = 0; k < n; k++) {
            const gmodel_tensor *t = gmodel_tensor_at(m, idx[k]);
            double s = recipe_scale_for(sl, t->local, l->k, sl->end - sl->start);
            if (add_tensor(p, l->model, t, (long)i, s, err) != 0)
                return -1;
            if (s != 1 && s != 0 && t->t->type != GGUF_F32 &&
                t->t->type != GGUF_F16 && t->t->type != GGUF_BF16)
                p->scaled_quant++;
        }
    }
    return 0;
}

static int count_tensors(const gbuild_plan *p, size_t *n)
{
    size_t i, k, c;

    *n = 0;
    for (i = 0; i < gmodel_tensor_count(p->models[p->embed]); i++)
        *n += gmodel_tensor_at(p->models[p->embed], i)->role == MODEL_PRE;
    for (i = 0; i < gmodel_tensor_count(p->models[p->head]); i++)
        *n += gmodel_tensor_at(p->models[p->head], i)->role == MODEL_POST;
    for (i = 0; i < p->nlayers; i++) {
        gmodel_layer_tensors(p->models[p->layers[i].model],
                             p->layers[i].source_layer, &c);
        k = *n + c;
        if (k < *n)
            return -1;
        *n = k;
    }
    return 0;
}

static int list_tensors(gbuild_plan *p, sut_error *err)
{
    size_t n;

    if (count_tensors(p, &n) != 0 ||
        !(p->tensors = calloc(n ? n : 1, sizeof(*p->tensors)))) {
        sut_error_oom(err, NULL);
        return -1;
    }
    if (add_role(p, p->embed, MODEL_PRE, err) != 0 || add_layers(p, err) != 0 ||
        add_role(p, p->head, MODEL_POST, err) != 0)
        return -1;
    if (p->r->has_dtype &&
        add_note(p, err, "the recipe's output dtype %s is ignored: GGUF tensors "
                 "keep their types", st_dtype_name(p->r->dtype)) != 0)
        return -1;
    if (p->scaled_quant &&
        add_note(p, err, "%zu quantized tensor%s scaled by multiplying the "
                 "block scales (exact up to rounding each F16 scale)",
                 p->scaled_quant, p->scaled_quant == 1 ? " is" : "s are") != 0)
        return -1;
    return 0;
}

/* Tensors into files of at most shard_size data bytes (at least one
 * tensor each). */
static int assign_files(gbuild_plan *p, uint64_t shard_size, sut_error *err)
{
    uint64_t used = 0;
    size_t i, f = 0;

    for (i = 0; i < p->ntensors; i++) {
        uint64_t b = p->tensors[i].src->t->bytes;
        if (shard_size && used > 0 && used + b > shard_size) {
            f++;
            used = 0;
        }
        p->tensors[i].file = f;
        used += b;
    }
    p->nfiles = f + 1;
    if (p->nfiles > 99999 || !(p->file_bytes = calloc(p->nfiles, sizeof(uint64_t)))) {
        sut_error_set(err, "%zu output files are too many", p->nfiles);
        return -1;
    }
    for (i = 0; i < p->ntensors; i++)
        p->file_bytes[p->tensors[i].file] += p->tensors[i].src->t->bytes;
    return 0;
}

gbuild_plan *gbuild_plan_make(const recipe *r, uint64_t shard_size,
                              sut_error *err)
{
    gbuild_plan *p = calloc(1, sizeof(*p));

    if (!p) {
        sut_error_oom(err, NULL);
        return NULL;
    }
    p->r = r;
    if (r->nslices == 0) {
        sut_error_set(err, "the recipe has no slices");
        goto fail;
    }
    p->embed = (size_t)donor(r->embed_from, r->slices[0].model);
    p->head = (size_t)donor(r->head_from, r->slices[r->nslices - 1].model);
    p->config = (size_t)donor(r->config_from, r->slices[0].model);
    p->tokenizer = (size_t)donor(r->tokenizer_from, r->slices[0].model);
    if (open_models(p, err) != 0 || check_arch(p, err) != 0 ||
        check_tokenizers(p, err) != 0 || check_hparams(p, err) != 0 ||
        map_layers(p, err) != 0 || list_tensors(p, err) != 0 ||
        assign_files(p, shard_size, err) != 0)
        goto fail;
    return p;
fail:
    gbuild_plan_free(p);
    return NULL;
}

/* ---- showing the plan ------------------------------------------------- */

char *gbuild_file_name(const char *out, size_t i, size_t n)
{
    size_t len = strlen(out), base = sut_ends_with(out, ".gguf") ? len - 5 : len;
    char *s = malloc(len + 32);

    if (!s)
        return NULL;
    if (n <= 1)
        snprintf(s, len + 32, "%s", out);
    else
        snprintf(s, len + 32, "%.*s-%05zu-of-%05zu.gguf", (int)base, out,
                 i + 1, n);
    return s;
}

typedef struct tbuf {
    char *s;
    size_t n, cap;
    int failed;
} tbuf;

static void tprintf(tbuf *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tprintf(tbuf *t, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (t->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            t->failed = 1;
            return;
        }
        if (t->s && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        t->cap = (t->n + (size_t)k + 1) * 2;
        if (!(t->s = realloc(t->s, t->cap))) {
            t->failed = 1;
            return;
        }
    }
}

/* Runs of the layer map: consecutive source layers of one model and slice. */
static void layer_runs(const gbuild_plan *p, tbuf *t)
{
    size_t i = 0, j;

    while (i < p->nlayers) {
        const gbuild_layer *a = &p->layers[i];
        for (j = i; j + 1 < p->nlayers && p->layers[j + 1].model == a->model &&
                    p->layers[j + 1].slice == a->slice; j++)
            ;
        tprintf(t, "  %u-%u <- %s %u-%u\n", a->index, p->layers[j].index,
                mname(p, a->model), a->source_layer, p->layers[j].source_layer);
        i = j + 1;
    }
}

char *gbuild_plan_text(const gbuild_plan *p)
{
    tbuf t = {0};
    char a[40], b[40];
    size_t i;

    tprintf(&t, "GGUF %s, %zu layers (config donor '%s' has %u)\n",
            gmodel_arch(p->models[p->config]), p->nlayers,
            mname(p, p->config), gmodel_layer_count(p->models[p->config]));
    layer_runs(p, &t);
    tprintf(&t, "tensors     %zu, parameters %s, data %s in %zu file%s\n",
            p->ntensors, fmt_count(gbuild_plan_parameters(p), a, sizeof(a)),
            fmt_bytes(gbuild_plan_bytes(p), b, sizeof(b)), p->nfiles,
            p->nfiles == 1 ? "" : "s");
    tprintf(&t, "donors      embeddings '%s', head '%s', metadata '%s', "
            "tokenizer '%s'\n", mname(p, p->embed), mname(p, p->head),
            mname(p, p->config), mname(p, p->tokenizer));
    for (i = 0; i < p->nnotes; i++)
        tprintf(&t, "note        %s\n", p->notes[i]);
    if (t.failed) {
        free(t.s);
        return NULL;
    }
    return t.s;
}
