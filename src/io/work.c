/* work.c: the thread pool, the progress meter and range hashing (see
 * work.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "suture/work.h"
#include "suture/xfer.h"

#define DEFAULT_MAX 8

unsigned work_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : n > DEFAULT_MAX ? DEFAULT_MAX : (unsigned)n;
}

/* ---- the meter ---- */

int work_meter_init(work_meter *m, uint64_t total, sut_progress_fn fn, void *ctx,
                    sut_error *err)
{
    *m = (work_meter){.total = total, .fn = fn, .ctx = ctx};
    if (fn && pthread_mutex_init(&m->lock, NULL) != 0) {
        m->fn = NULL;
        sut_error_set(err, "cannot set up the progress lock");
        return -1;
    }
    return 0;
}

int work_meter_add(work_meter *m, uint64_t n, sut_error *err)
{
    if (!m)
        return 0;
    if (m->fn && n > 0) {
        pthread_mutex_lock(&m->lock);
        m->done = n > m->total - m->done ? m->total : m->done + n;
        m->fn(m->ctx, m->done, m->total);
        pthread_mutex_unlock(&m->lock);
    }
    if (m->cancel && *m->cancel) {
        sut_error_set(err, "interrupted");
        return -1;
    }
    return 0;
}

void work_meter_destroy(work_meter *m)
{
    if (m->fn)
        pthread_mutex_destroy(&m->lock);
    m->fn = NULL;
}

/* ---- the pool ---- */

struct pool {
    pthread_mutex_t lock;
    size_t next, n;
    bool failed;
    work_job_fn fn;
    void *ctx;
    work_meter *meter;
    sut_error err;
};

/* Takes the next job index; false when none is left or a job failed. */
static bool pool_take(struct pool *p, size_t *i)
{
    bool ok;

    pthread_mutex_lock(&p->lock);
    ok = !p->failed && p->next < p->n;
    if (ok)
        *i = p->next++;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

static void *pool_worker(void *arg)
{
    struct pool *p = arg;
    sut_error err;
    size_t i;

    while (pool_take(p, &i)) {
        if (p->fn(p->ctx, i, &err) == 0)
            continue;
        pthread_mutex_lock(&p->lock);
        if (!p->failed)
            p->err = err;
        p->failed = true;
        if (p->meter)
            p->meter->failed = true;
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

int work_parallel(size_t n, unsigned threads, work_job_fn fn, void *ctx,
                  work_meter *meter, sut_error *err)
{
    struct pool p = {.n = n, .fn = fn, .ctx = ctx, .meter = meter};
    pthread_t *tid;
    unsigned i, started = 0;

    if (threads == 0)
        threads = work_default_threads();
    if (threads > WORK_THREADS_MAX)
        threads = WORK_THREADS_MAX;
    if (threads > n)
        threads = n ? (unsigned)n : 1;
    if (!(tid = calloc(threads, sizeof(*tid)))) {
        sut_error_oom(err, NULL);
        return -1;
    }
    pthread_mutex_init(&p.lock, NULL);
    for (i = 1; i < threads; i++)
        if (pthread_create(&tid[started], NULL, pool_worker, &p) == 0)
            started++;
    pool_worker(&p);
    for (i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&p.lock);
    free(tid);
    if (p.failed && err)
        *err = p.err;
    return p.failed ? -1 : 0;
}

int work_steps(uint64_t off, uint64_t len, work_step_fn fn, void *ctx, work_meter *meter,
               sut_error *err)
{
    while (len > 0) {
        uint64_t step = WORK_STEP - off % XFER_BLOCK;
        if (step > len)
            step = len;
        if (fn(ctx, off, step, err) != 0 || work_meter_add(meter, step, err) != 0)
            return -1;
        off += step;
        len -= step;
    }
    return 0;
}

/* ---- hashing ---- */

/* An XXH3-128 state that counts what it takes into a meter, XFER_CHUNK
 * bytes or more at a time. */
struct hasher {
    XXH3_state_t *st;
    work_meter *meter;
    uint64_t pending;       /* bytes taken but not yet counted */
};

static int hasher_take(void *ctx, const void *buf, size_t n, sut_error *err)
{
    struct hasher *h = ctx;

    if (XXH3_128bits_update(h->st, buf, n) != XXH_OK) {
        sut_error_set(err, "hashing failed");
        return -1;
    }
    h->pending += n;
    if (h->pending >= XFER_CHUNK) {
        work_meter_add(h->meter, h->pending, NULL);
        h->pending = 0;
    }
    return 0;
}

static int hash_zeros(struct hasher *h, uint64_t len, sut_error *err)
{
    static const char zeros[1 << 16];

    while (len > 0) {
        size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
        if (hasher_take(h, zeros, n, err) != 0)
            return -1;
        len -= n;
    }
    return 0;
}

/* The XXH3-128 of [off, off + len) of fd, or of len zero bytes when fd is
 * negative. 0 or -1. */
static int hash_bytes(int fd, uint64_t off, uint64_t len, work_meter *meter,
                      xfer_hash *out, sut_error *err)
{
    struct hasher h = {XXH3_createState(), meter, 0};
    XXH128_hash_t d;
    int rc = -1;

    if (!h.st || XXH3_128bits_reset(h.st) != XXH_OK) {
        sut_error_oom(err, NULL);
        goto out;
    }
    rc = fd < 0 ? hash_zeros(&h, len, err) : xfer_read(fd, off, len, 1, hasher_take, &h, err);
    if (rc != 0)
        goto out;
    d = XXH3_128bits_digest(h.st);
    *out = (xfer_hash){d.low64, d.high64};
    work_meter_add(meter, h.pending, NULL);
out:
    XXH3_freeState(h.st);
    return rc;
}

int work_hash_range(int fd, uint64_t off, uint64_t len, work_meter *meter,
                    xfer_hash *out, sut_error *err)
{
    return hash_bytes(fd, off, len, meter, out, err);
}

int work_hash_zeros(uint64_t len, work_meter *meter, xfer_hash *out, sut_error *err)
{
    return hash_bytes(-1, 0, len, meter, out, err);
}
