/* forward.c: the streaming forward pass (see suture/forward.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suture/convert.h"
#include "common/checked.h"
#include "common/util.h"
#include "fw_int.h"

#define READ_BYTES (4u << 20)     /* staging buffer for conversions */
#define SCORE_BYTES (64u << 20)   /* attention scores of a group of heads */
#define LOGIT_BYTES (32u << 20)   /* logits of a chunk of head rows */
#define FINAL_NORM "model.norm.weight"

/* A tensor to read: where it lives and how it is scaled. */
typedef struct wref {
    const char *name;          /* tensor name; NULL: the role is unused */
    const char *file;          /* shard path, for messages */
    int fd;
    uint64_t off;              /* absolute offset of its data */
    uint64_t elements, bytes;
    int dtype;                 /* an st_dtype, or FW_Q8_0 */
    float scale;
    size_t unpermute;          /* heads of rows to put back in transformers'
                                  rotary order (llama.cpp's llama q, k) */
} wref;

/* The open files of a weight source (a model or a GGUF model). */
typedef struct src {
    const void *m;
    int *fds;
    size_t n;
} src;

struct fw_model {
    fw_cfg c;
    fw_slot *slots;
    size_t n_slots;
    src *srcs;
    size_t n_srcs;
    wref *lw;                  /* n_slots x W_COUNT (name NULL: unused) */
    wref embed, norm, head;
    const gmodel *g;           /* the GGUF source, or NULL */
    float *wbuf;               /* the weight matrix being applied */
    size_t wbuf_elems;
    unsigned char *rbuf;       /* READ_BYTES */
    float *vec;                /* norm weights and biases */
    float *perm;               /* one head's rows, for un-permuting */
    uint64_t pass_bytes;       /* bytes of every tensor a pass reads whole */
    uint64_t bytes_read;       /* of those, read so far */
};

struct fw_batch {
    size_t cap, max_win, T, n_win;
    size_t hidden, qdim, kvdim, inter, rows;
    int32_t *ids;
    int *pos;
    int32_t *next;             /* the id token t predicts, or -1 */
    size_t *win_start, *win_len;
    float *h, *xb, *q, *k, *v, *att, *g, *u, *scores, *logits;
    size_t room_heads;
    double *lse_max, *lse_sum, *target;
};

/* ---- opening ----------------------------------------------------------- */

static const char *model_label(const model *m)
{
    return model_path(m);
}

static const char *shard_path(const void *m, size_t i)
{
    return st_path(model_shard(m, i));
}

static const char *gguf_file_path(const void *g, size_t i)
{
    return gguf_path(gguf_set_file(gmodel_set(g), i));
}

/* The fds of m's n files (path(m, i) each), opened once per source. */
static int open_src(fw_model *f, const void *m, size_t n,
                    const char *(*path)(const void *, size_t), int **fds,
                    sut_error *err)
{
    size_t i;
    src *grown;

    for (i = 0; i < f->n_srcs; i++)
        if (f->srcs[i].m == m) {
            *fds = f->srcs[i].fds;
            return 0;
        }
    if (!(grown = realloc(f->srcs, (f->n_srcs + 1) * sizeof(*grown))))
        goto oom;
    f->srcs = grown;
    if (!(grown[f->n_srcs].fds = malloc((n ? n : 1) * sizeof(int))))
        goto oom;
    grown[f->n_srcs].m = m;
    grown[f->n_srcs].n = n;
    for (i = 0; i < n; i++)
        grown[f->n_srcs].fds[i] = -1;
    f->n_srcs++;
    for (i = 0; i < n; i++) {
        const char *p = path(m, i);
        if ((grown[f->n_srcs - 1].fds[i] = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
            sut_error_set(err, "%s: %s", p, strerror(errno));
            return -1;
        }
    }
    *fds = grown[f->n_srcs - 1].fds;
    return 0;
oom:
    sut_error_set(err, "%s: out of memory", path(m, 0));
    return -1;
}

/* Checks t's dtype and shape (dims given, d1 0 for a vector). */
static int check_shape(const model_tensor *mt, uint64_t d0, uint64_t d1,
                       const char *file, sut_error *err)
{
    const st_tensor *t = mt->t;
    bool ok = d1 ? t->ndim == 2 && t->shape[0] == d0 && t->shape[1] == d1
                 : t->ndim == 1 && t->shape[0] == d0;

    if (!cv_supported(t->dtype)) {
        sut_error_set(err, "%s: tensor '%s': dtype %s is not supported by the "
                      "forward pass (F32, F16, BF16)", file, t->name,
                      st_dtype_name(t->dtype));
        return -1;
    }
    if (!ok) {
        char want[64];
        if (d1)
            snprintf(want, sizeof(want), "[%llu, %llu]",
                     (unsigned long long)d0, (unsigned long long)d1);
        else
            snprintf(want, sizeof(want), "[%llu]", (unsigned long long)d0);
        sut_error_set(err, "%s: tensor '%s': shape does not match config.json "
                      "(want %s)", file, t->name, want);
        return -1;
    }
    return 0;
}

static int make_ref(fw_model *f, wref *w, const model *m,
                    const model_tensor *mt, uint64_t d0, uint64_t d1,
                    float scale, sut_error *err)
{
    int *fds;
    const st_file *sf = model_shard(m, mt->shard);

    if (check_shape(mt, d0, d1, st_path(sf), err) ||
        open_src(f, m, model_shard_count(m), shard_path, &fds, err))
        return -1;
    *w = (wref){mt->t->name, st_path(sf), fds[mt->shard],
                st_data_start(sf) + mt->t->begin, mt->t->elements,
                st_tensor_bytes(mt->t), (int)mt->t->dtype, scale, 0};
    f->pass_bytes += w->bytes;
    if (d1 && (size_t)(d0 * d1) > f->wbuf_elems)
        f->wbuf_elems = (size_t)(d0 * d1);
    return 0;
}

/* Checks a GGUF tensor's type and shape ([d1, d0] in ggml order, or [d0]
 * for a vector) and fills w. */
static int make_gref(fw_model *f, wref *w, const gmodel_tensor *gt,
                     uint64_t d0, uint64_t d1, float scale, sut_error *err)
{
    const gguf_tensor *t = gt->t;
    const gguf_file *gf = gguf_set_file(gmodel_set(f->g), gt->file);
    bool ok = d1 ? t->ndim == 2 && t->ne[0] == d1 && t->ne[1] == d0
                 : t->ndim == 1 && t->ne[0] == d0;
    int dt, *fds;

    if (fw_gguf_dtype(t->type, &dt) != 0) {
        sut_error_set(err, "%s: tensor '%s': type %s is not supported by the "
                      "forward pass (F32, F16, BF16, Q8_0)", gguf_path(gf),
                      t->name, gguf_type_name(t->type));
        return -1;
    }
    if (!ok) {
        char want[64];
        if (d1)
            snprintf(want, sizeof(want), "[%llu, %llu]",
                     (unsigned long long)d1, (unsigned long long)d0);
        else
            snprintf(want, sizeof(want), "[%llu]", (unsigned long long)d0);
        sut_error_set(err, "%s: tensor '%s': shape does not match the metadata "
                      "(want %s in ggml order)", gguf_path(gf), t->name, want);
        return -1;
    }
    if (open_src(f, f->g, gguf_set_count(gmodel_set(f->g)), gguf_file_path,
                 &fds, err))
        return -1;
    *w = (wref){t->name, gguf_path(gf), fds[gt->file],
                gguf_data_start(gf) + t->offset, t->elements, t->bytes, dt,
                scale, 0};
    f->pass_bytes += w->bytes;
    if (d1 && (size_t)(d0 * d1) > f->wbuf_elems)
        f->wbuf_elems = (size_t)(d0 * d1);
    return 0;
}

/* The GGUF tensor named name (global) into w. */
static int find_gglobal(fw_model *f, wref *w, const char *name, uint64_t d0,
                        uint64_t d1, sut_error *err)
{
    const gmodel_tensor *gt = gmodel_find(f->g, name);

    if (!gt) {
        sut_error_set(err, "%s: tensor '%s' is missing", gmodel_path(f->g), name);
        return -1;
    }
    return make_gref(f, w, gt, d0, d1, 1.0f, err);
}

static int find_global(fw_model *f, wref *w, const model *m, const char *name,
                       uint64_t d0, uint64_t d1, sut_error *err)
{
    const model_tensor *mt = name && *name ? model_find(m, name) : NULL;

    if (!mt) {
        sut_error_set(err, "%s: tensor '%s' is missing", model_label(m),
                      name ? name : "?");
        return -1;
    }
    return make_ref(f, w, m, mt, d0, d1, 1.0f, err);
}

/* The expected shape of role r: *d0, *d1 (0 for a vector). */
static void role_shape(const fw_cfg *c, int r, uint64_t *d0, uint64_t *d1)
{
    uint64_t D = c->d.hidden, q = c->d.heads * c->d.head_dim,
             kv = c->d.kv_heads * c->d.head_dim, I = c->d.intermediate;

    *d1 = D;
    switch (r) {
    case W_Q: *d0 = q; break;
    case W_K: case W_V: *d0 = kv; break;
    case W_QKV: *d0 = q + 2 * kv; break;
    case W_QB: *d0 = q; *d1 = 0; break;
    case W_KB: case W_VB: *d0 = kv; *d1 = 0; break;
    case W_O: *d0 = D; *d1 = q; break;
    case W_GATE: case W_UP: *d0 = I; break;
    case W_GATE_UP: *d0 = 2 * I; break;
    case W_DOWN: *d0 = D; *d1 = I; break;
    default: *d0 = D; *d1 = 0; break; /* norms */
    }
}

static float slot_scale(const fw_slot *s, const char *local)
{
    size_t i;

    for (i = 0; i < s->n_scales; i++)
        if (strcmp(s->scales[i].local, local) == 0)
            return s->scales[i].scale;
    return 1.0f;
}

static const model_tensor *find_local(const model *m, unsigned layer,
                                      const char *local)
{
    size_t n, i;
    const size_t *idx = layer < model_layer_count(m)
                      ? model_layer_tensors(m, layer, &n) : NULL;

    for (i = 0; idx && i < n; i++) {
        const model_tensor *mt = model_tensor_at(m, idx[i]);
        if (mt->local && strcmp(mt->local, local) == 0)
            return mt;
    }
    return NULL;
}

static const gmodel_tensor *find_glocal(const gmodel *g, unsigned layer,
                                        const char *local)
{
    size_t n, i;
    const size_t *idx = layer < gmodel_layer_count(g)
                      ? gmodel_layer_tensors(g, layer, &n) : NULL;

    for (i = 0; idx && i < n; i++) {
        const gmodel_tensor *gt = gmodel_tensor_at(g, idx[i]);
        if (gt->local && strcmp(gt->local, local) == 0)
            return gt;
    }
    return NULL;
}

/* Slot i's tensors from the GGUF model. */
static int resolve_gslot(fw_model *f, size_t i, sut_error *err)
{
    const fw_slot *s = &f->slots[i];
    int r;

    for (r = 0; r < W_COUNT; r++) {
        const char *name = fw_gguf_local(&f->c, r);
        const gmodel_tensor *gt;
        wref *w = &f->lw[i * W_COUNT + r];
        uint64_t d0, d1;
        if (!name)
            continue;
        if (!(gt = find_glocal(f->g, s->layer, name))) {
            sut_error_set(err, "%s: layer %u: tensor 'blk.%u.%s' is missing",
                          gmodel_path(f->g), s->layer, s->layer, name);
            return -1;
        }
        role_shape(&f->c, r, &d0, &d1);
        if (make_gref(f, w, gt, d0, d1, slot_scale(s, name), err))
            return -1;
        if (f->c.unpermute && (r == W_Q || r == W_K))
            w->unpermute = r == W_Q ? f->c.d.heads : f->c.d.kv_heads;
    }
    return 0;
}

static int resolve_slot(fw_model *f, size_t i, sut_error *err)
{
    const fw_slot *s = &f->slots[i];
    int r;

    for (r = 0; r < W_COUNT; r++) {
        const char *name = f->c.fam->names[r];
        const model_tensor *mt;
        uint64_t d0, d1;
        if (!name)
            continue;
        if (!(mt = find_local(s->m, s->layer, name))) {
            sut_error_set(err, "%s: layer %u: tensor '%s' is missing",
                          model_label(s->m), s->layer, name);
            return -1;
        }
        role_shape(&f->c, r, &d0, &d1);
        if (make_ref(f, &f->lw[i * W_COUNT + r], s->m, mt, d0, d1,
                     slot_scale(s, name), err))
            return -1;
    }
    return 0;
}

/* The GGUF embedding, final norm and head (token_embd when tied). */
static int resolve_gends(fw_model *f, sut_error *err)
{
    uint64_t V = f->c.d.vocab, D = f->c.d.hidden;
    size_t keep = f->wbuf_elems;
    int rc;

    rc = find_gglobal(f, &f->embed, "token_embd.weight", V, D, err) ||
         find_gglobal(f, &f->norm, "output_norm.weight", D, 0, err) ||
         find_gglobal(f, &f->head, gmodel_find(f->g, "output.weight")
                      ? "output.weight" : "token_embd.weight", V, D, err) ? -1 : 0;
    f->wbuf_elems = keep;
    if (rc == 0)
        f->pass_bytes -= f->embed.bytes;
    return rc;
}

/* The embedding, final norm and head tensors. */
static int resolve_ends(fw_model *f, const fw_stack *s, sut_error *err)
{
    const arch_family *ea = model_arch(s->embed), *ha = model_arch(s->head);
    uint64_t V = f->c.d.vocab, D = f->c.d.hidden;
    const char *head = model_tied(s->head) ? ha->embed_name : ha->head_name;

    size_t keep = f->wbuf_elems;
    int rc;

    if (!model_tied(s->head) && !model_find(s->head, head)) {
        sut_error_set(err, "%s: tensor '%s' is missing (the model is not tied)",
                      model_label(s->head), head);
        return -1;
    }
    rc = find_global(f, &f->embed, s->embed, ea->embed_name, V, D, err) ||
         find_global(f, &f->norm, s->head, FINAL_NORM, D, 0, err) ||
         find_global(f, &f->head, s->head, head, V, D, err) ? -1 : 0;
    /* the embedding is read by rows, the head in chunks of rows that fit
     * the buffer of the layers' largest matrix: neither is held whole */
    f->wbuf_elems = keep;
    if (rc == 0)
        f->pass_bytes -= f->embed.bytes; /* read by rows */
    return rc;
}

static int alloc_buffers(fw_model *f, sut_error *err)
{
    size_t n;

    if (f->wbuf_elems < f->c.d.hidden)
        f->wbuf_elems = f->c.d.hidden;
    n = f->c.d.hidden + (f->c.d.heads + 2 * f->c.d.kv_heads) * f->c.d.head_dim;
    f->wbuf = malloc(f->wbuf_elems * sizeof(float));
    f->rbuf = malloc(READ_BYTES);
    f->vec = malloc(n * sizeof(float));
    f->perm = malloc(f->c.d.head_dim * f->c.d.hidden * sizeof(float));
    if (!f->wbuf || !f->rbuf || !f->vec || !f->perm) {
        sut_error_set(err, "out of memory for a weight matrix of %zu floats",
                      f->wbuf_elems);
        return -1;
    }
    return 0;
}

int fw_stack_of_model(fw_stack *s, const model *m, sut_error *err)
{
    unsigned i, n = model_layer_count(m);
    fw_slot *slots = calloc(n ? n : 1, sizeof(*slots));

    if (!slots) {
        sut_error_set(err, "%s: out of memory", model_label(m));
        return -1;
    }
    for (i = 0; i < n; i++)
        slots[i] = (fw_slot){m, i, NULL, 0};
    *s = (fw_stack){m, m, m, slots, n, NULL};
    return 0;
}

int fw_stack_of_gguf(fw_stack *s, const gmodel *g, sut_error *err)
{
    unsigned i, n = gmodel_layer_count(g);
    fw_slot *slots = calloc(n ? n : 1, sizeof(*slots));

    if (!slots) {
        sut_error_set(err, "%s: out of memory", gmodel_path(g));
        return -1;
    }
    for (i = 0; i < n; i++)
        slots[i] = (fw_slot){NULL, i, NULL, 0};
    *s = (fw_stack){NULL, NULL, NULL, slots, n, g};
    return 0;
}

void fw_stack_release(fw_stack *s)
{
    free((void *)s->layers);
    s->layers = NULL;
    s->n_layers = 0;
}

fw_model *fw_open(const fw_stack *s, unsigned threads, sut_error *err)
{
    fw_model *f = calloc(1, sizeof(*f));
    char *label = NULL;
    size_t i;

    if (f && s->gguf) {
        f->g = s->gguf;
        if (fw_gguf_cfg(&f->c, s->gguf, err))
            goto fail;
        goto layers;
    }
    if (!f || !(label = sut_path_join(model_dir(s->config), "config.json"))) {
        sut_error_set(err, "out of memory");
        free(f);
        return NULL;
    }
    if (!model_config(s->config)) {
        sut_error_set(err, "%s: no config.json: the forward pass needs one",
                      model_label(s->config));
        goto fail;
    }
    if (fw_cfg_parse(&f->c, model_config(s->config), label, err))
        goto fail;
layers:
    f->c.d.layers = s->n_layers;
    f->n_slots = s->n_layers;
    f->slots = malloc((s->n_layers ? s->n_layers : 1) * sizeof(*f->slots));
    f->lw = calloc((s->n_layers ? s->n_layers : 1) * W_COUNT, sizeof(*f->lw));
    if (!f->slots || !f->lw) {
        sut_error_set(err, "out of memory");
        goto fail;
    }
    memcpy(f->slots, s->layers, s->n_layers * sizeof(*f->slots));
    for (i = 0; i < s->n_layers; i++)
        if (f->g ? resolve_gslot(f, i, err) : resolve_slot(f, i, err))
            goto fail;
    if ((f->g ? resolve_gends(f, err) : resolve_ends(f, s, err)) ||
        alloc_buffers(f, err))
        goto fail;
    kn_set_threads(threads);
    free(label);
    return f;
fail:
    free(label);
    fw_free(f);
    return NULL;
}

void fw_free(fw_model *f)
{
    size_t i, j;

    if (!f)
        return;
    for (i = 0; i < f->n_srcs; i++) {
        for (j = 0; j < f->srcs[i].n; j++)
            if (f->srcs[i].fds[j] >= 0)
                close(f->srcs[i].fds[j]);
        free(f->srcs[i].fds);
    }
    free(f->srcs);
    fw_cfg_release(&f->c);
    free(f->slots);
    free(f->lw);
    free(f->wbuf);
    free(f->rbuf);
    free(f->vec);
    free(f->perm);
    free(f);
}

const fw_dims *fw_model_dims(const fw_model *f)
{
    return &f->c.d;
}

uint64_t fw_weight_bytes(const fw_model *f)
{
    return (uint64_t)f->wbuf_elems * sizeof(float);
}

uint64_t fw_pass_bytes(const fw_model *f)
{
    return f->pass_bytes;
}

uint64_t fw_bytes_read(const fw_model *f)
{
    return f->bytes_read;
}

/* ---- reading weights --------------------------------------------------- */

static int read_at(const wref *w, void *buf, size_t n, uint64_t off,
                   sut_error *err)
{
    unsigned char *p = buf;

    while (n) {
        ssize_t got = pread(w->fd, p, n, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            sut_error_set(err, "%s: tensor '%s': %s", w->file, w->name,
                          got < 0 ? strerror(errno) : "file ends inside the data");
            return -1;
        }
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return 0;
}

/* Elements [first, first + n) of Q8_0 tensor w (whole blocks) into dst. */
static int read_q8_0(fw_model *f, const wref *w, uint64_t first, size_t n,
                     float *dst, sut_error *err)
{
    size_t per = READ_BYTES / FW_Q8_0_BYTES, blocks = n / FW_Q8_0_BLOCK, done = 0;
    uint64_t off = w->off + first / FW_Q8_0_BLOCK * FW_Q8_0_BYTES;

    if (first % FW_Q8_0_BLOCK || n % FW_Q8_0_BLOCK) {
        sut_error_set(err, "%s: tensor '%s': a read of Q8_0 elements that are "
                      "not whole blocks", w->file, w->name);
        return -1;
    }
    if (w != &f->embed)
        f->bytes_read += (uint64_t)blocks * FW_Q8_0_BYTES;
    while (done < blocks) {
        size_t k = blocks - done < per ? blocks - done : per;
        if (read_at(w, f->rbuf, k * FW_Q8_0_BYTES,
                    off + (uint64_t)done * FW_Q8_0_BYTES, err))
            return -1;
        fw_q8_0_f32(f->rbuf, dst + done * FW_Q8_0_BLOCK, k, w->scale);
        done += k;
    }
    return 0;
}

/* Elements [first, first + n) of w as F32 into dst, scaled. 0 or -1. */
static int read_f32(fw_model *f, const wref *w, uint64_t first, size_t n,
                    float *dst, sut_error *err)
{
    st_dtype dt = (st_dtype)w->dtype;
    size_t es, per, done = 0;
    uint64_t off;

    if (w->dtype == FW_Q8_0)
        return read_q8_0(f, w, first, n, dst, err);
    es = st_dtype_bits(dt) / 8;
    per = READ_BYTES / es;
    off = w->off + first * es;
    if (w != &f->embed)
        f->bytes_read += (uint64_t)n * es;

    if (dt == ST_F32 && w->scale == 1.0f)
        return read_at(w, dst, n * sizeof(float), off, err);
    while (done < n) {
        size_t k = n - done < per ? n - done : per;
        if (read_at(w, f->rbuf, k * es, off + done * es, err))
            return -1;
        cv_apply(dt, ST_F32, w->scale, f->rbuf, dst + done, k);
        done += k;
    }
    return 0;
}

/* Puts each head's rows of m (heads x head_dim rows of cols floats) from
 * llama.cpp's order (row 2i + j) back in transformers' (row j * hd/2 + i). */
static void unpermute(fw_model *f, float *m, size_t heads, size_t cols)
{
    size_t hd = f->c.d.head_dim, h, i, j;

    for (h = 0; h < heads; h++) {
        float *rows = m + h * hd * cols;
        memcpy(f->perm, rows, hd * cols * sizeof(float));
        for (i = 0; i < hd / 2; i++)
            for (j = 0; j < 2; j++)
                memcpy(rows + (j * (hd / 2) + i) * cols,
                       f->perm + (2 * i + j) * cols, cols * sizeof(float));
    }
}

/* The whole of tensor w into dst (its element count). */
static int read_all(fw_model *f, const wref *w, float *dst, sut_error *err)
{
    if (read_f32(f, w, 0, (size_t)w->elements, dst, err))
        return -1;
    if (w->unpermute)
        unpermute(f, dst, w->unpermute, (size_t)w->elements /
                  (w->unpermute * f->c.d.head_dim));
    return 0;
}

/* ---- batches ----------------------------------------------------------- */

/* malloc of n * sz bytes (n may be 0), NULL on overflow. */
static void *alloc_n(size_t n, size_t sz, bool *fail)
{
    size_t bytes;
    void *p;

    if (ck_array(n ? n : 1, sz, &bytes) != 0 || !(p = malloc(bytes))) {
        *fail = true;
        return NULL;
    }
    return p;
}

fw_batch *fw_batch_new(const fw_model *f, size_t max_tokens, size_t max_window,
                       sut_error *err)
{
    fw_batch *b = calloc(1, sizeof(*b));
    const fw_dims *d = &f->c.d;
    size_t T = max_tokens ? max_tokens : 1, W = max_window ? max_window : 1;
    bool fail = !b;

    if (fail)
        goto out;
    b->cap = T;
    b->max_win = W;
    b->hidden = d->hidden;
    b->qdim = d->heads * d->head_dim;
    b->kvdim = d->kv_heads * d->head_dim;
    b->inter = d->intermediate;
    b->rows = f->wbuf_elems / d->hidden;
    if (b->rows > d->vocab)
        b->rows = d->vocab;
    if (b->rows > LOGIT_BYTES / sizeof(float) / T)
        b->rows = LOGIT_BYTES / sizeof(float) / T ? LOGIT_BYTES / sizeof(float) / T : 1;
    b->room_heads = SCORE_BYTES / sizeof(float) / W / W;
    b->room_heads = b->room_heads < 1 ? 1 : b->room_heads > d->heads ? d->heads
                                                                    : b->room_heads;
    b->ids = alloc_n(T, sizeof(int32_t), &fail);
    b->pos = alloc_n(T, sizeof(int), &fail);
    b->next = alloc_n(T, sizeof(int32_t), &fail);
    b->win_start = alloc_n(T, sizeof(size_t), &fail);
    b->win_len = alloc_n(T, sizeof(size_t), &fail);
    b->h = alloc_n(T, b->hidden * sizeof(float), &fail);
    b->xb = alloc_n(T, b->hidden * sizeof(float), &fail);
    b->q = alloc_n(T, b->qdim * sizeof(float), &fail);
    b->att = alloc_n(T, b->qdim * sizeof(float), &fail);
    b->k = alloc_n(T, b->kvdim * sizeof(float), &fail);
    b->v = alloc_n(T, b->kvdim * sizeof(float), &fail);
    b->g = alloc_n(T, b->inter * sizeof(float), &fail);
    b->u = alloc_n(T, b->inter * sizeof(float), &fail);
    b->scores = alloc_n(b->room_heads * W, W * sizeof(float), &fail);
    b->logits = alloc_n(T, b->rows * sizeof(float), &fail);
    b->lse_max = alloc_n(T, sizeof(double), &fail);
    b->lse_sum = alloc_n(T, sizeof(double), &fail);
    b->target = alloc_n(T, sizeof(double), &fail);
out:
    if (fail) {
        sut_error_set(err, "out of memory for the activations of %zu tokens", T);
        fw_batch_free(b);
        return NULL;
    }
    return b;
}

void fw_batch_free(fw_batch *b)
{
    if (!b)
        return;
    free(b->ids); free(b->pos); free(b->next);
    free(b->win_start); free(b->win_len);
    free(b->h); free(b->xb); free(b->q); free(b->att); free(b->k); free(b->v);
    free(b->g); free(b->u); free(b->scores); free(b->logits);
    free(b->lse_max); free(b->lse_sum); free(b->target);
    free(b);
}

int fw_batch_set(fw_batch *b, const int32_t *ids, const size_t *lens,
                 size_t n_windows, sut_error *err)
{
    size_t w, j, t = 0;

    for (w = 0; w < n_windows; w++) {
        if (lens[w] == 0 || lens[w] > b->max_win || lens[w] > b->cap - t) {
            sut_error_set(err, "window %zu of %zu tokens does not fit the batch "
                          "(%zu tokens, windows of at most %zu)", w, lens[w],
                          b->cap, b->max_win);
            return -1;
        }
        b->win_start[w] = t;
        b->win_len[w] = lens[w];
        for (j = 0; j < lens[w]; j++, t++) {
            b->ids[t] = ids[t];
            b->pos[t] = (int)j;
            b->next[t] = j + 1 < lens[w] ? ids[t + 1] : -1;
        }
    }
    b->T = t;
    b->n_win = n_windows;
    return 0;
}

size_t fw_batch_tokens(const fw_batch *b)
{
    return b->T;
}

float *fw_batch_hidden(fw_batch *b)
{
    return b->h;
}

/* ---- the steps --------------------------------------------------------- */

/* 0, or -1 when b was made for a model of other dimensions. */
static int check_dims(const fw_model *f, const fw_batch *b, sut_error *err)
{
    const fw_dims *d = &f->c.d;

    if (b->hidden == d->hidden && b->qdim == d->heads * d->head_dim &&
        b->kvdim == d->kv_heads * d->head_dim && b->inter == d->intermediate)
        return 0;
    sut_error_set(err, "the batch was made for a model of other dimensions");
    return -1;
}

int fw_embed(fw_model *f, fw_batch *b, sut_error *err)
{
    size_t t, i, D = b->hidden;
    float s = (float)sqrt((double)D);

    if (check_dims(f, b, err))
        return -1;
    for (t = 0; t < b->T; t++) {
        if (b->ids[t] < 0 || (size_t)b->ids[t] >= f->c.d.vocab) {
            sut_error_set(err, "token id %ld is outside the vocabulary of %zu",
                          (long)b->ids[t], f->c.d.vocab);
            return -1;
        }
        if (read_f32(f, &f->embed, (uint64_t)b->ids[t] * D, D, b->h + t * D, err))
            return -1;
        if (f->c.fam->embed_scale)
            for (i = 0; i < D; i++)
                b->h[t * D + i] *= s;
    }
    return 0;
}

/* RMSNorm of x (T x hidden) with weight w into out. */
static int norm(fw_model *f, fw_batch *b, const wref *w, float *out,
                const float *x, sut_error *err)
{
    if (read_all(f, w, f->vec, err))
        return -1;
    kn_rmsnorm(out, x, f->vec, f->c.norm_offset, b->T, b->hidden, f->c.eps);
    return 0;
}

/* out (T x rows, stride ldo) = x . W^T for rows [r0, r0 + rows) of the
 * matrix in f->wbuf (I columns), plus bias when given. */
static int project(fw_model *f, fw_batch *b, const wref *bias, float *out,
                   size_t ldo, const float *x, size_t r0, size_t rows, size_t I,
                   float beta, sut_error *err)
{
    kn_matmul(out, ldo, x, I, f->wbuf + r0 * I, b->T, rows, I, beta);
    if (bias && bias->name) {
        if (read_all(f, bias, f->vec, err))
            return -1;
        kn_add_bias(out, ldo, f->vec, b->T, rows);
    }
    return 0;
}

static void add_rows(float *h, const float *x, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        h[i] += x[i];
}

/* The layer's q, k and v (roped) from the normed input in b->xb. */
static int qkv(fw_model *f, fw_batch *b, const wref *w, sut_error *err)
{
    size_t D = b->hidden, q = b->qdim, kv = b->kvdim;
    const fw_dims *d = &f->c.d;

    if (w[W_QKV].name) {
        if (read_all(f, &w[W_QKV], f->wbuf, err) ||
            project(f, b, NULL, b->q, q, b->xb, 0, q, D, 0, err) ||
            project(f, b, NULL, b->k, kv, b->xb, q, kv, D, 0, err) ||
            project(f, b, NULL, b->v, kv, b->xb, q + kv, kv, D, 0, err))
            return -1;
    } else if (read_all(f, &w[W_Q], f->wbuf, err) ||
               project(f, b, &w[W_QB], b->q, q, b->xb, 0, q, D, 0, err) ||
               read_all(f, &w[W_K], f->wbuf, err) ||
               project(f, b, &w[W_KB], b->k, kv, b->xb, 0, kv, D, 0, err) ||
               read_all(f, &w[W_V], f->wbuf, err) ||
               project(f, b, &w[W_VB], b->v, kv, b->xb, 0, kv, D, 0, err))
        return -1;
    kn_rope(b->q, q, b->T, d->heads, d->head_dim, f->c.rot, f->c.inv_freq, b->pos);
    kn_rope(b->k, kv, b->T, d->kv_heads, d->head_dim, f->c.rot, f->c.inv_freq, b->pos);
    return 0;
}

static void attend(fw_model *f, fw_batch *b, size_t layer)
{
    const fw_dims *d = &f->c.d;
    kn_attn a = {0, d->heads, d->kv_heads, d->head_dim, b->qdim, b->kvdim,
                 b->qdim, f->c.attn_scale, f->c.attn_cap,
                 fw_cfg_sliding(&f->c, layer) ? f->c.window : 0, b->scores,
                 b->room_heads};
    size_t w;

    for (w = 0; w < b->n_win; w++) {
        size_t s = b->win_start[w];
        a.T = b->win_len[w];
        kn_attention(&a, b->q + s * b->qdim, b->k + s * b->kvdim,
                     b->v + s * b->kvdim, b->att + s * b->qdim);
    }
}

/* h += (post-normed) x . W^T, W in f->wbuf with I columns. */
static int residual(fw_model *f, fw_batch *b, const wref *post, const float *x,
                    size_t I, sut_error *err)
{
    size_t D = b->hidden;

    if (!post->name) {
        kn_matmul(b->h, D, x, I, f->wbuf, b->T, D, I, 1.0f);
        return 0;
    }
    kn_matmul(b->xb, D, x, I, f->wbuf, b->T, D, I, 0.0f);
    if (norm(f, b, post, b->xb, b->xb, err))
        return -1;
    add_rows(b->h, b->xb, b->T * D);
    return 0;
}

static int mlp(fw_model *f, fw_batch *b, const wref *w, sut_error *err)
{
    size_t D = b->hidden, I = b->inter;

    if (w[W_GATE_UP].name) {
        if (read_all(f, &w[W_GATE_UP], f->wbuf, err))
            return -1;
        project(f, b, NULL, b->g, I, b->xb, 0, I, D, 0, err);
        project(f, b, NULL, b->u, I, b->xb, I, I, D, 0, err);
    } else if (read_all(f, &w[W_GATE], f->wbuf, err) ||
               project(f, b, NULL, b->g, I, b->xb, 0, I, D, 0, err) ||
               read_all(f, &w[W_UP], f->wbuf, err) ||
               project(f, b, NULL, b->u, I, b->xb, 0, I, D, 0, err))
        return -1;
    kn_act_mul(b->g, I, b->u, I, b->T, I, f->c.act);
    if (read_all(f, &w[W_DOWN], f->wbuf, err))
        return -1;
    return residual(f, b, &w[W_FFN_POST], b->g, I, err);
}

int fw_layer(fw_model *f, fw_batch *b, size_t i, sut_error *err)
{
    const wref *w;

    if (i >= f->n_slots) {
        sut_error_set(err, "layer %zu is outside the stack of %zu", i, f->n_slots);
        return -1;
    }
    if (check_dims(f, b, err))
        return -1;
    w = &f->lw[i * W_COUNT];
    if (norm(f, b, &w[W_ATTN_NORM], b->xb, b->h, err) || qkv(f, b, w, err))
        return -1;
    attend(f, b, i);
    if (read_all(f, &w[W_O], f->wbuf, err) ||
        residual(f, b, &w[W_ATTN_POST], b->att, b->qdim, err) ||
        norm(f, b, &w[W_FFN_NORM], b->xb, b->h, err))
        return -1;
    return mlp(f, b, w, err);
}

/* ---- head -------------------------------------------------------------- */

struct lse_job {
    fw_batch *b;
    size_t r0, n;
};

/* Folds a chunk of logits into each token's running log-sum-exp, and
 * picks its target's logit. */
static void lse_rows(void *ctx, size_t begin, size_t end)
{
    const struct lse_job *j = ctx;
    fw_batch *b = j->b;
    size_t t, r;

    for (t = begin; t < end; t++) {
        const float *l = b->logits + t * j->n;
        double m = b->lse_max[t], s;
        int32_t nx = b->next[t];
        if (nx < 0)
            continue;
        for (r = 0; r < j->n; r++)
            if (l[r] > m)
                m = l[r];
        s = b->lse_sum[t] * exp(b->lse_max[t] - m);
        for (r = 0; r < j->n; r++)
            s += exp((double)l[r] - m);
        b->lse_max[t] = m;
        b->lse_sum[t] = s;
        if ((size_t)nx >= j->r0 && (size_t)nx < j->r0 + j->n)
            b->target[t] = l[(size_t)nx - j->r0];
    }
}

int fw_head(fw_model *f, fw_batch *b, fw_logits_fn logits_fn, void *ctx,
            double *nll_sum, uint64_t *predicted, sut_error *err)
{
    size_t V = f->c.d.vocab, D = b->hidden, r0, t;
    size_t rows = b->rows < f->wbuf_elems / D ? b->rows : f->wbuf_elems / D;

    if (norm(f, b, &f->norm, b->xb, b->h, err))
        return -1;
    for (t = 0; t < b->T; t++) {
        b->lse_max[t] = -INFINITY;
        b->lse_sum[t] = 0;
        b->target[t] = 0;
    }
    if (check_dims(f, b, err))
        return -1;
    for (r0 = 0; r0 < V; r0 += rows) {
        size_t n = V - r0 < rows ? V - r0 : rows;
        struct lse_job j = {b, r0, n};
        if (read_f32(f, &f->head, (uint64_t)r0 * D, n * D, f->wbuf, err))
            return -1;
        kn_matmul(b->logits, n, b->xb, D, f->wbuf, b->T, n, D, 0.0f);
        if (f->c.final_cap > 0)
            kn_softcap(b->logits, b->T * n, f->c.final_cap);
        if (logits_fn)
            logits_fn(ctx, r0, n, b->logits);
        kn_parallel(b->T, lse_rows, &j);
    }
    for (t = 0; t < b->T; t++)
        if (b->next[t] >= 0) {
            *nll_sum += b->lse_max[t] + log(b->lse_sum[t]) - b->target[t];
            (*predicted)++;
        }
    return 0;
}
