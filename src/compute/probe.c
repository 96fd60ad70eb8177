/* probe.c: windows, NLL and layer distances over a stack (see
 * suture/probe.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "suture/probe.h"
#include "suture/tokenizer.h"
#include "common/checked.h"
#include "common/util.h"

#define IDS_FILE_MAX (256u << 20)

/* The windows of a run: tokens (BOS inserted) and their lengths. */
typedef struct windows {
    int32_t *tok;
    size_t *len;
    size_t n, n_tok;
} windows;

/* Accumulated sums of a run. */
typedef struct sums {
    double *ang, *ang_last, *bi;   /* per layer */
    double *block;                 /* [n - 1][start], L/2 x L */
    float *prev;                   /* hidden states before the layer */
    float *last;                   /* (L + 1) x windows-per-batch x hidden */
} sums;

static int cut_windows(windows *w, const int32_t *ids, size_t n,
                       const probe_options *o, sut_error *err)
{
    size_t pos = 0, cap_tok, take;
    bool first = true;

    if (o->max_tokens && n > o->max_tokens)
        n = o->max_tokens;
    cap_tok = n + n / (o->ctx - 1) + 2;
    w->tok = malloc(cap_tok * sizeof(int32_t));
    w->len = malloc((n / (o->ctx - 1) + 2) * sizeof(size_t));
    if (!w->tok || !w->len) {
        sut_error_set(err, "out of memory for %zu ids", n);
        return -1;
    }
    w->n = w->n_tok = 0;
    while (pos < n) {
        bool lead = o->bos >= 0 && !first;
        size_t len;
        take = n - pos < o->ctx - lead ? n - pos : o->ctx - lead;
        len = take + lead;
        if (len < 2)
            break;
        if (lead)
            w->tok[w->n_tok++] = o->bos;
        memcpy(w->tok + w->n_tok, ids + pos, take * sizeof(int32_t));
        w->n_tok += take;
        w->len[w->n++] = len;
        pos += take;
        first = false;
    }
    if (w->n == 0) {
        sut_error_set(err, "nothing to predict: %zu id%s", n, n == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

static double cosine(const float *x, const float *y, size_t d)
{
    double xy = 0, xx = 0, yy = 0;
    size_t i;

    for (i = 0; i < d; i++) {
        xy += (double)x[i] * y[i];
        xx += (double)x[i] * x[i];
        yy += (double)y[i] * y[i];
    }
    if (xx == 0 || yy == 0)
        return xx == yy ? 1.0 : 0.0;
    xy /= sqrt(xx) * sqrt(yy);
    return xy > 1 ? 1 : xy < -1 ? -1 : xy;
}

static double angular(double c)
{
    return acos(c) / M_PI;
}

/* Adds layer l's distances between s->prev and h over the batch. */
static void add_layer(sums *s, size_t l, const float *h, size_t D,
                      const size_t *len, size_t nw)
{
    size_t w, j, t = 0;

    for (w = 0; w < nw; w++)
        for (j = 0; j < len[w]; j++, t++) {
            double c = cosine(s->prev + t * D, h + t * D, D);
            s->ang[l] += angular(c);
            s->bi[l] += 1 - c;
            if (j + 1 == len[w])
                s->ang_last[l] += angular(c);
        }
}

/* Keeps the last token of each window at boundary k (0: embeddings). */
static void keep_last(sums *s, size_t k, const float *h, size_t D,
                      const size_t *len, size_t nw, size_t room)
{
    size_t w, t = 0;

    for (w = 0; w < nw; w++) {
        t += len[w];
        memcpy(s->last + (k * room + w) * D, h + (t - 1) * D, D * sizeof(float));
    }
}

/* Adds the distances of every block [l, l + n), n <= L / 2. */
static void add_blocks(sums *s, size_t L, size_t D, size_t nw, size_t room)
{
    size_t n, l, w;

    for (n = 1; n <= L / 2; n++)
        for (l = 0; l + n <= L; l++)
            for (w = 0; w < nw; w++)
                s->block[(n - 1) * L + l] +=
                    angular(cosine(s->last + (l * room + w) * D,
                                   s->last + ((l + n) * room + w) * D, D));
}

struct run {
    fw_model *f;
    fw_batch *b;
    sums s;
    const probe_options *o;
    uint64_t total;            /* bytes all passes read */
    double nll;
    uint64_t predicted;
};

/* One pass over windows [w0, w0 + nw). */
static int run_batch(struct run *r, const windows *w, size_t w0, size_t nw,
                     size_t tok0, sut_error *err)
{
    const fw_dims *d = fw_model_dims(r->f);
    size_t D = d->hidden, L = d->layers, room = r->o->batch, l, T;
    float *h;

    if (fw_batch_set(r->b, w->tok + tok0, w->len + w0, nw, err) ||
        fw_embed(r->f, r->b, err))
        return -1;
    T = fw_batch_tokens(r->b);
    h = fw_batch_hidden(r->b);
    keep_last(&r->s, 0, h, D, w->len + w0, nw, room);
    for (l = 0; l <= L; l++) {
        if (r->o->hidden_fn &&
            r->o->hidden_fn(r->o->hidden_ctx, l, h, w->tok + tok0, w->len + w0,
                            nw, err))
            return -1;
        if (l == L)
            break;
        memcpy(r->s.prev, h, T * D * sizeof(float));
        if (fw_layer(r->f, r->b, l, err))
            return -1;
        add_layer(&r->s, l, h, D, w->len + w0, nw);
        keep_last(&r->s, l + 1, h, D, w->len + w0, nw, room);
        if (r->o->progress)
            r->o->progress(r->o->progress_ctx, fw_bytes_read(r->f), r->total);
    }
    add_blocks(&r->s, L, D, nw, room);
    if (fw_head(r->f, r->b, NULL, NULL, &r->nll, &r->predicted, err))
        return -1;
    if (r->o->progress)
        r->o->progress(r->o->progress_ctx, fw_bytes_read(r->f), r->total);
    return 0;
}

static int alloc_sums(sums *s, size_t L, size_t D, size_t T, size_t room,
                      sut_error *err)
{
    size_t nb = L / 2 ? L / 2 : 1, last;

    s->ang = calloc(L + 1, sizeof(double));
    s->ang_last = calloc(L + 1, sizeof(double));
    s->bi = calloc(L + 1, sizeof(double));
    s->block = calloc(nb * (L + 1), sizeof(double));
    s->prev = ck_array(T, D * sizeof(float), &last) == 0 ? malloc(last) : NULL;
    s->last = ck_array((L + 1) * room, D * sizeof(float), &last) == 0
            ? malloc(last) : NULL;
    if (!s->ang || !s->ang_last || !s->bi || !s->block || !s->prev || !s->last) {
        sut_error_set(err, "out of memory for the distances of %zu layers", L);
        return -1;
    }
    return 0;
}

static void free_sums(sums *s)
{
    free(s->ang); free(s->ang_last); free(s->bi); free(s->block);
    free(s->prev); free(s->last);
}

static int fill_result(probe_result *res, const struct run *r,
                       const windows *w, sut_error *err)
{
    size_t L = fw_model_dims(r->f)->layers, l, n;
    double toks = (double)w->n_tok, nw = (double)w->n;

    res->tokens = w->n_tok;
    res->predicted = r->predicted;
    res->windows = w->n;
    res->ctx = r->o->ctx;
    res->nll = r->nll / (double)r->predicted;
    res->perplexity = exp(res->nll);
    res->n_layers = L;
    res->n_blocks = L / 2;
    res->layers = calloc(L ? L : 1, sizeof(*res->layers));
    res->blocks = calloc(L / 2 ? L / 2 : 1, sizeof(*res->blocks));
    if (!res->layers || !res->blocks) {
        sut_error_set(err, "out of memory");
        return -1;
    }
    for (l = 0; l < L; l++)
        res->layers[l] = (probe_layer){r->s.ang[l] / toks,
                                       r->s.ang_last[l] / nw, r->s.bi[l] / toks};
    for (n = 1; n <= L / 2; n++) {
        probe_block *best = &res->blocks[n - 1];
        *best = (probe_block){n, 0, INFINITY};
        for (l = 0; l + n <= L; l++) {
            double a = r->s.block[(n - 1) * L + l] / nw;
            if (a < best->angular_distance)
                *best = (probe_block){n, l, a};
        }
    }
    return 0;
}

static int check_ids(const windows *w, size_t vocab, sut_error *err)
{
    size_t i;

    for (i = 0; i < w->n_tok; i++)
        if (w->tok[i] < 0 || (size_t)w->tok[i] >= vocab) {
            sut_error_set(err, "token %zu (id %ld) is outside the vocabulary of %zu",
                          i, (long)w->tok[i], vocab);
            return -1;
        }
    return 0;
}

int probe_run(const fw_stack *s, const int32_t *ids, size_t n,
              const probe_options *opt, probe_result *res, sut_error *err)
{
    probe_options o = *opt;
    windows w = {0};
    struct run r = {0};
    const fw_dims *d;
    size_t w0, tok0 = 0;
    int rc = -1;

    memset(res, 0, sizeof(*res));
    o.batch = o.batch ? o.batch : 1;
    r.o = &o;
    if (o.ctx < 2) {
        sut_error_set(err, "a window needs at least 2 tokens (ctx %zu)", o.ctx);
        return -1;
    }
    if (!(r.f = fw_open(s, o.threads ? o.threads : 1, err)))
        return -1;
    d = fw_model_dims(r.f);
    if (d->max_ctx && o.ctx > d->max_ctx) {
        sut_error_set(err, "ctx %zu is above the model's context of %zu tokens "
                      "(max_position_embeddings)", o.ctx, d->max_ctx);
        goto out;
    }
    if (cut_windows(&w, ids, n, &o, err) || check_ids(&w, d->vocab, err))
        goto out;
    if (o.batch > w.n)
        o.batch = w.n;
    if (!(r.b = fw_batch_new(r.f, o.batch * o.ctx, o.ctx, err)) ||
        alloc_sums(&r.s, d->layers, d->hidden, o.batch * o.ctx, o.batch, err))
        goto out;
    r.total = (uint64_t)((w.n + o.batch - 1) / o.batch) * fw_pass_bytes(r.f);
    for (w0 = 0; w0 < w.n; w0 += o.batch) {
        size_t nw = w.n - w0 < o.batch ? w.n - w0 : o.batch, k;
        if (run_batch(&r, &w, w0, nw, tok0, err))
            goto out;
        for (k = 0; k < nw; k++)
            tok0 += w.len[w0 + k];
    }
    rc = fill_result(res, &r, &w, err);
out:
    if (rc)
        probe_result_free(res);
    free_sums(&r.s);
    fw_batch_free(r.b);
    fw_free(r.f);
    free(w.tok);
    free(w.len);
    return rc;
}

void probe_result_free(probe_result *r)
{
    free(r->layers);
    free(r->blocks);
    r->layers = NULL;
    r->blocks = NULL;
}

/* ---- --tokens files ---------------------------------------------------- */

static int ids_from_json(const char *text, size_t len, const char *path,
                         int32_t **ids, size_t *n, sut_error *err)
{
    cJSON *root = sut_json_parse(text, len, path, err), *it;
    size_t i = 0;
    uint64_t u;

    if (!root)
        return -1;
    if (!cJSON_IsArray(root)) {
        sut_error_set(err, "%s: not a JSON array of token ids", path);
        goto fail;
    }
    if (!(*ids = malloc(((size_t)cJSON_GetArraySize(root) + 1) * sizeof(int32_t)))) {
        sut_error_set(err, "%s: out of memory", path);
        goto fail;
    }
    cJSON_ArrayForEach(it, root) {
        if (sut_json_u64(it, &u) != 0 || u > INT32_MAX) {
            sut_error_set(err, "%s: item %zu is not a token id (a whole number "
                          "from 0 to %d)", path, i, INT32_MAX);
            goto fail;
        }
        (*ids)[i++] = (int32_t)u;
    }
    *n = i;
    cJSON_Delete(root);
    return 0;
fail:
    cJSON_Delete(root);
    free(*ids);
    *ids = NULL;
    return -1;
}

static int ids_from_words(const char *text, const char *path, int32_t **ids,
                          size_t *n, sut_error *err)
{
    size_t cap = 1, i = 0;
    const char *p;

    for (p = text; *p; p++)
        cap += isspace((unsigned char)*p) != 0;
    if (!(*ids = malloc(cap * sizeof(int32_t)))) {
        sut_error_set(err, "%s: out of memory", path);
        return -1;
    }
    for (p = text; *p;) {
        uint64_t v = 0;
        const char *w = p;
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        while (*p >= '0' && *p <= '9' && v <= INT32_MAX)
            v = v * 10 + (uint64_t)(*p++ - '0');
        if (p == w || v > INT32_MAX || (*p && !isspace((unsigned char)*p))) {
            sut_error_set(err, "%s: item %zu is not a token id (a whole number "
                          "from 0 to %d)", path, i, INT32_MAX);
            free(*ids);
            *ids = NULL;
            return -1;
        }
        (*ids)[i++] = (int32_t)v;
    }
    *n = i;
    return 0;
}

int probe_read_ids(const char *path, int32_t **ids, size_t *n, sut_error *err)
{
    size_t len, k = 0;
    char *text = sut_read_file(path, IDS_FILE_MAX, &len, err);
    int rc;

    *ids = NULL;
    *n = 0;
    if (!text)
        return -1;
    while (k < len && isspace((unsigned char)text[k]))
        k++;
    if (strlen(text) != len) {
        sut_error_set(err, "%s: holds a NUL byte: not a list of token ids", path);
        rc = -1;
    } else if (k < len && (text[k] == '[' || text[k] == '{'))
        rc = ids_from_json(text, len, path, ids, n, err);
    else
        rc = ids_from_words(text, path, ids, n, err);
    free(text);
    if (rc == 0 && *n == 0) {
        sut_error_set(err, "%s: no token ids", path);
        free(*ids);
        *ids = NULL;
        rc = -1;
    }
    return rc;
}

int probe_read_text(const char *path, const char *tokenizer_path, int32_t **ids,
                    size_t *n, int *bos, sut_error *err)
{
    size_t len;
    char *text = NULL;
    tok_tokenizer *t = tok_open(tokenizer_path, err);
    int rc = -1;

    *ids = NULL;
    *n = 0;
    *bos = -1;
    if (!t || !(text = sut_read_file(path, IDS_FILE_MAX, &len, err)))
        goto out;
    if (tok_encode(t, text, len, true, ids, n, err) != 0) {
        sut_error_prefix(err, "%s", path);
        goto out;
    }
    if (*n == 0) {
        sut_error_set(err, "%s: no text to measure", path);
        free(*ids);
        *ids = NULL;
        goto out;
    }
    *bos = tok_bos(t);
    rc = 0;
out:
    free(text);
    tok_free(t);
    return rc;
}
