/* audit_hash.c: hashing every tensor on a few threads, and layer
 * signatures built from those hashes. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "suture/audit.h"
#include "audit_int.h"
#include "common/checked.h"

#define THREADS_MAX 8   /* hashing threads: more only contend for the disk */

/* Positions [next, end) of the file-ordered tensors, not yet started. */
struct run {
    size_t next, end;
};

/* The tensors of a model in file order (by shard, then offset), dealt to
 * the hashing threads as contiguous runs of about equal bytes, so that
 * each thread reads front to back and cold reads stay sequential. A thread
 * whose run is done takes the back half of the fullest run left. */
struct hash_job {
    const model *m;
    const int *fds;
    size_t *order;          /* tensor indices in file order */
    uint64_t *before;       /* before[k]: the bytes of order[0..k) */
    struct run *runs;
    size_t nruns;
    pthread_mutex_t lock;   /* guards runs and failed */
    bool failed;
    xfer_hash *out;
    work_meter *meter;
};

/* True when [off, off + len) of fd is a hole of a sparse file: no data,
 * so its bytes read as zeros. */
static bool is_hole(int fd, uint64_t off, uint64_t len)
{
    struct stat st;
    off_t next;

    if (len == 0 || off > INT64_MAX - len || fstat(fd, &st) != 0 ||
        (uint64_t)st.st_size < off + len)
        return false;
    next = lseek(fd, (off_t)off, SEEK_DATA);
    if (next < 0)
        return errno == ENXIO;
    return (uint64_t)next >= off + len;
}

static int hash_tensor(const struct hash_job *j, size_t i, sut_error *err)
{
    const model_tensor *t = model_tensor_at(j->m, i);
    const st_file *f = model_shard(j->m, t->shard);
    uint64_t off = st_data_start(f) + t->t->begin, len = st_tensor_bytes(t->t);
    int fd = j->fds[t->shard];
    int rc = is_hole(fd, off, len) ? work_hash_zeros(len, j->meter, &j->out[i], err)
                                    : work_hash_range(fd, off, len, j->meter, &j->out[i], err);

    if (rc != 0)
        sut_error_prefix(err, "%s: tensor '%s'", model_shard_name(j->m, t->shard),
                         t->t->name);
    return rc;
}

static uint64_t run_bytes(const struct hash_job *j, const struct run *r)
{
    return j->before[r->end] - j->before[r->next];
}

/* Moves the back half, by bytes, of the fullest run into the empty run
 * `to` (the whole run when one tensor is left); nothing when all are
 * empty. Caller holds the lock. */
static void steal(struct hash_job *j, struct run *to)
{
    struct run *v = NULL;
    size_t r, mid;
    uint64_t half;

    for (r = 0; r < j->nruns; r++)
        if (j->runs[r].next < j->runs[r].end &&
            (!v || run_bytes(j, &j->runs[r]) > run_bytes(j, v)))
            v = &j->runs[r];
    if (!v)
        return;
    half = run_bytes(j, v) / 2;
    mid = v->next;
    if (v->end - v->next > 1)
        for (mid = v->next + 1;
             mid < v->end - 1 && j->before[mid] - j->before[v->next] < half; mid++)
            ;
    *to = (struct run){mid, v->end};
    v->end = mid;
}

/* The position of the next tensor for run r in *k, stealing when r is
 * done. False when none is left or a hash failed. */
static bool take(struct hash_job *j, size_t r, size_t *k)
{
    struct run *own = &j->runs[r];
    bool ok;

    pthread_mutex_lock(&j->lock);
    if (own->next == own->end && !j->failed)
        steal(j, own);
    ok = !j->failed && own->next < own->end;
    if (ok)
        *k = own->next++;
    pthread_mutex_unlock(&j->lock);
    return ok;
}

/* Hashes run r front to back, then what it steals (an audit_job_fn). */
static int hash_run(void *ctx, size_t r, sut_error *err)
{
    struct hash_job *j = ctx;
    size_t k;

    while (take(j, r, &k))
        if (hash_tensor(j, j->order[k], err) != 0) {
            pthread_mutex_lock(&j->lock);
            j->failed = true;
            pthread_mutex_unlock(&j->lock);
            return -1;
        }
    return 0;
}

static int cmp_file_order(const void *a, const void *b, void *ctx)
{
    const model *m = ctx;
    const model_tensor *x = model_tensor_at(m, *(const size_t *)a);
    const model_tensor *y = model_tensor_at(m, *(const size_t *)b);

    if (x->shard != y->shard)
        return x->shard < y->shard ? -1 : 1;
    return (x->t->begin > y->t->begin) - (x->t->begin < y->t->begin);
}

/* Sorts the n tensors into file order, sums their bytes (saturating) and
 * deals them into j->nruns runs: a tensor goes to the first run whose
 * share of the bytes its middle falls in. */
static void deal(struct hash_job *j, size_t n)
{
    size_t k, r;
    uint64_t share;

    for (k = 0; k < n; k++)
        j->order[k] = k;
    qsort_r(j->order, n, sizeof(*j->order), cmp_file_order, (void *)j->m);
    j->before[0] = 0;
    for (k = 0; k < n; k++) {
        uint64_t len = st_tensor_bytes(model_tensor_at(j->m, j->order[k])->t);
        if (ck_add(j->before[k], len, &j->before[k + 1]) != 0)
            j->before[k + 1] = UINT64_MAX;
    }
    share = j->before[n] / (j->nruns ? j->nruns : 1);
    for (r = 0, k = 0; r < j->nruns; r++) {
        j->runs[r].next = k;
        while (k < n && (r + 1 == j->nruns ||
                         j->before[k] + (j->before[k + 1] - j->before[k]) / 2 <
                             share * (r + 1)))
            k++;
        j->runs[r].end = k;
    }
}

static int open_shards(const model *m, int *fds, sut_error *err)
{
    size_t i;

    for (i = 0; i < model_shard_count(m); i++) {
        const char *p = st_path(model_shard(m, i));
        if ((fds[i] = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
            sut_error_set(err, "%s: cannot open: %s", p, strerror(errno));
            return -1;
        }
        xfer_advise(fds[i], 0, 0);
    }
    return 0;
}

/* The number of hashing threads for n tensors. */
static size_t run_count(unsigned threads, size_t n)
{
    if (threads == 0)
        threads = work_default_threads();
    if (threads > THREADS_MAX)
        threads = THREADS_MAX;
    return threads < n ? threads : n;
}

/* audit_hash_model, counting the bytes into meter (or NULL). */
static int hash_model(const model *m, unsigned threads, work_meter *meter,
                      xfer_hash *out, sut_error *err)
{
    size_t i, n = model_tensor_count(m), ns = model_shard_count(m);
    struct hash_job j = {.m = m, .out = out, .meter = meter,
                         .nruns = run_count(threads, n)};
    int *fds = malloc((ns ? ns : 1) * sizeof(*fds));
    int rc = -1;

    j.fds = fds;
    j.order = malloc((n ? n : 1) * sizeof(*j.order));
    j.before = n < SIZE_MAX / sizeof(*j.before) ? malloc((n + 1) * sizeof(*j.before)) : NULL;
    j.runs = malloc((j.nruns ? j.nruns : 1) * sizeof(*j.runs));
    for (i = 0; fds && i < ns; i++)
        fds[i] = -1;
    if (!fds || !j.order || !j.before || !j.runs ||
        pthread_mutex_init(&j.lock, NULL) != 0) {
        sut_error_oom(err, model_path(m));
        goto out;
    }
    deal(&j, n);
    if (open_shards(m, fds, err) == 0)
        rc = work_parallel(j.nruns, (unsigned)j.nruns, hash_run, &j, NULL, err);
    pthread_mutex_destroy(&j.lock);
out:
    for (i = 0; fds && i < ns; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    free(j.order);
    free(j.before);
    free(j.runs);
    return rc;
}

int audit_hash_model(const model *m, unsigned threads, xfer_hash *out,
                     sut_error *err)
{
    return hash_model(m, threads, NULL, out, err);
}

static int cmp_local(const void *a, const void *b, void *ctx)
{
    const model *m = ctx;

    return strcmp(model_tensor_at(m, *(const size_t *)a)->local,
                  model_tensor_at(m, *(const size_t *)b)->local);
}

/* The tensor indices of layer i sorted by their names within the layer,
 * in a new array (count in *n); NULL when out of memory. */
static size_t *sorted_layer(const model *m, unsigned i, size_t *n)
{
    const size_t *idx = model_layer_tensors(m, i, n);
    size_t *s = malloc((*n ? *n : 1) * sizeof(*s));

    if (!s)
        return NULL;
    if (*n)
        memcpy(s, idx, *n * sizeof(*s));
    qsort_r(s, *n, sizeof(*s), cmp_local, (void *)m);
    return s;
}

/* A 64-bit key over the layer's names, dtypes, shapes and hashes. */
static int layer_key(const audit_hashed *h, unsigned i, uint64_t *key)
{
    size_t k, n;
    size_t *s = sorted_layer(h->m, i, &n);
    XXH3_state_t *st = XXH3_createState();
    int rc = -1;

    if (s && st && XXH3_64bits_reset(st) == XXH_OK) {
        for (k = 0; k < n; k++) {
            const model_tensor *t = model_tensor_at(h->m, s[k]);
            uint32_t dt = (uint32_t)t->t->dtype;
            XXH3_64bits_update(st, t->local, strlen(t->local) + 1);
            XXH3_64bits_update(st, &dt, sizeof(dt));
            XXH3_64bits_update(st, t->t->shape, t->t->ndim * sizeof(uint64_t));
            XXH3_64bits_update(st, &h->hashes[s[k]], sizeof(xfer_hash));
        }
        *key = XXH3_64bits_digest(st);
        rc = 0;
    }
    XXH3_freeState(st);
    free(s);
    return rc;
}

int audit_hash_fill(audit_hashed *h, unsigned threads, work_meter *meter,
                    sut_error *err)
{
    size_t n = model_tensor_count(h->m), size;
    unsigned i, nl = model_layer_count(h->m);

    if (ck_array(n ? n : 1, sizeof(*h->hashes), &size) != 0 ||
        !(h->hashes = calloc(1, size)) ||
        !(h->layer_keys = calloc(nl ? nl : 1, sizeof(*h->layer_keys)))) {
        sut_error_oom(err, model_path(h->m));
        return -1;
    }
    if (hash_model(h->m, threads, meter, h->hashes, err) != 0)
        return -1;
    for (i = 0; i < nl; i++)
        if (layer_key(h, i, &h->layer_keys[i]) != 0) {
            sut_error_oom(err, model_path(h->m));
            return -1;
        }
    return 0;
}

static bool tensors_equal(const audit_hashed *x, size_t a, const audit_hashed *y,
                          size_t b)
{
    const model_tensor *s = model_tensor_at(x->m, a), *t = model_tensor_at(y->m, b);

    return strcmp(s->local, t->local) == 0 && s->t->dtype == t->t->dtype &&
           s->t->ndim == t->t->ndim &&
           (s->t->ndim == 0 ||
            memcmp(s->t->shape, t->t->shape, s->t->ndim * sizeof(uint64_t)) == 0) &&
           x->hashes[a].lo == y->hashes[b].lo && x->hashes[a].hi == y->hashes[b].hi;
}

bool audit_layers_equal(const audit_hashed *x, unsigned a,
                        const audit_hashed *y, unsigned b)
{
    size_t na, nb, k;
    size_t *sa, *sb;
    bool eq;

    if (x->layer_keys[a] != y->layer_keys[b])
        return false;
    sa = sorted_layer(x->m, a, &na);
    sb = sorted_layer(y->m, b, &nb);
    eq = sa && sb && na == nb && na > 0;
    for (k = 0; eq && k < na; k++)
        eq = tensors_equal(x, sa[k], y, sb[k]);
    free(sa);
    free(sb);
    return eq;
}

void audit_hashed_clear(audit_hashed *h)
{
    model_free(h->m);
    free(h->hashes);
    free(h->layer_keys);
    free(h->name);
    memset(h, 0, sizeof(*h));
}
