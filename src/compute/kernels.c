/* kernels.c: the numeric building blocks of the forward pass (see
 * kernels.h). */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <cblas.h>

#include "kernels.h"

#define MAX_THREADS 256

static unsigned n_threads = 1;

/* OpenBLAS's own setter (declared by its cblas.h as well). */
void openblas_set_num_threads(int num_threads);

void kn_set_threads(unsigned n)
{
    n_threads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
    openblas_set_num_threads((int)n_threads);
}

unsigned kn_threads(void)
{
    return n_threads;
}

/* ---- threads ----------------------------------------------------------- */

struct part {
    void (*fn)(void *ctx, size_t begin, size_t end);
    void *ctx;
    size_t begin, end;
};

static void *run_part(void *arg)
{
    struct part *p = arg;

    p->fn(p->ctx, p->begin, p->end);
    return NULL;
}

void kn_parallel(size_t n, void (*fn)(void *ctx, size_t begin, size_t end),
                 void *ctx)
{
    struct part parts[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    bool started[MAX_THREADS];
    size_t k, nt = n_threads < n ? n_threads : n;

    if (nt <= 1) {
        if (n)
            fn(ctx, 0, n);
        return;
    }
    for (k = 0; k < nt; k++) {
        parts[k] = (struct part){fn, ctx, n * k / nt, n * (k + 1) / nt};
        started[k] = k > 0 && pthread_create(&tid[k], NULL, run_part, &parts[k]) == 0;
    }
    for (k = 1; k < nt; k++)
        if (!started[k]) /* no thread: this one does the part */
            run_part(&parts[k]);
    run_part(&parts[0]);
    for (k = 1; k < nt; k++)
        if (started[k])
            pthread_join(tid[k], NULL);
}

/* ---- matrix product ---------------------------------------------------- */

void kn_matmul(float *out, size_t ldo, const float *x, size_t ldx,
               const float *w, size_t T, size_t O, size_t n_in, float beta)
{
    if (T == 0 || O == 0)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)T,
                (blasint)O, (blasint)n_in, 1.0f, x, (blasint)ldx, w, (blasint)n_in,
                beta, out, (blasint)ldo);
}

/* ---- norms, bias, rotary, activation ----------------------------------- */

struct norm_job {
    float *out;
    const float *x, *w;
    float offset, eps;
    size_t dim;
};

static void norm_rows(void *ctx, size_t begin, size_t end)
{
    const struct norm_job *j = ctx;
    size_t t, i;

    for (t = begin; t < end; t++) {
        const float *x = j->x + t * j->dim;
        float *o = j->out + t * j->dim;
        double ss = 0;
        float r;
        for (i = 0; i < j->dim; i++)
            ss += (double)x[i] * x[i];
        r = (float)(1.0 / sqrt(ss / (double)j->dim + j->eps));
        for (i = 0; i < j->dim; i++)
            o[i] = (x[i] * r) * (j->w[i] + j->offset);
    }
}

void kn_rmsnorm(float *out, const float *x, const float *w, float offset,
                size_t T, size_t dim, float eps)
{
    struct norm_job j = {out, x, w, offset, eps, dim};

    kn_parallel(T, norm_rows, &j);
}

void kn_add_bias(float *out, size_t ld, const float *bias, size_t T, size_t n)
{
    size_t t, i;

    for (t = 0; t < T; t++)
        for (i = 0; i < n; i++)
            out[t * ld + i] += bias[i];
}

struct rope_job {
    float *x;
    size_t ld, heads, hd, rot;
    const float *inv_freq;
    const int *pos;
};

static void rope_rows(void *ctx, size_t begin, size_t end)
{
    const struct rope_job *j = ctx;
    size_t half = j->rot / 2, t, h, i;

    for (t = begin; t < end; t++)
        for (i = 0; i < half; i++) {
            /* as transformers: the angle in F32, its cos and sin rounded */
            float ang = (float)j->pos[t] * j->inv_freq[i];
            float c = (float)cos((double)ang), s = (float)sin((double)ang);
            for (h = 0; h < j->heads; h++) {
                float *p = j->x + t * j->ld + h * j->hd;
                float a = p[i], b = p[i + half];
                p[i] = a * c - b * s;
                p[i + half] = b * c + a * s;
            }
        }
}

void kn_rope(float *x, size_t ld, size_t T, size_t heads, size_t head_dim,
             size_t rot, const float *inv_freq, const int *pos)
{
    struct rope_job j = {x, ld, heads, head_dim, rot, inv_freq, pos};

    kn_parallel(T, rope_rows, &j);
}

struct act_job {
    float *g;
    const float *u;
    size_t ldg, ldu, n;
    kn_act act;
};

static float act_of(float x, kn_act act)
{
    switch (act) {
    case KN_SILU:
        return x / (1.0f + expf(-x));
    case KN_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(0.7978845608028654f *
                                        (x + 0.044715f * x * x * x)));
    default:
        return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    }
}

static void act_rows(void *ctx, size_t begin, size_t end)
{
    const struct act_job *j = ctx;
    size_t t, i;

    for (t = begin; t < end; t++) {
        float *g = j->g + t * j->ldg;
        const float *u = j->u + t * j->ldu;
        for (i = 0; i < j->n; i++)
            g[i] = act_of(g[i], j->act) * u[i];
    }
}

void kn_act_mul(float *g, size_t ldg, const float *u, size_t ldu, size_t T,
                size_t n, kn_act act)
{
    struct act_job j = {g, u, ldg, ldu, n, act};

    kn_parallel(T, act_rows, &j);
}

void kn_softcap(float *y, size_t n, float cap)
{
    size_t i;

    for (i = 0; i < n; i++)
        y[i] = cap * tanhf(y[i] / cap);
}

/* ---- attention --------------------------------------------------------- */

struct soft_job {
    const kn_attn *a;
    size_t nheads; /* heads in this group */
};

/* Row r of the group's scores: head r / T, query i = r % T. Scaled,
 * softcapped, masked and normalised in place; masked entries become 0. */
static void softmax_rows(void *ctx, size_t begin, size_t end)
{
    const struct soft_job *j = ctx;
    const kn_attn *a = j->a;
    size_t r, jj;

    for (r = begin; r < end; r++) {
        size_t i = r % a->T;
        float *s = a->scores + r * a->T;
        size_t lo = a->window && i + 1 > a->window ? i + 1 - a->window : 0;
        float m = -INFINITY, sum = 0;
        for (jj = lo; jj <= i; jj++) {
            float v = s[jj] * a->scale;
            if (a->cap > 0)
                v = a->cap * tanhf(v / a->cap);
            s[jj] = v;
            if (v > m)
                m = v;
        }
        for (jj = lo; jj <= i; jj++) {
            s[jj] = expf(s[jj] - m);
            sum += s[jj];
        }
        for (jj = 0; jj < lo; jj++)
            s[jj] = 0;
        for (jj = lo; jj <= i; jj++)
            s[jj] /= sum;
        for (jj = i + 1; jj < a->T; jj++)
            s[jj] = 0;
    }
}

void kn_attention(const kn_attn *a, const float *q, const float *k,
                  const float *v, float *out)
{
    size_t T = a->T, group = a->heads / a->kv_heads, h0, h;
    blasint bT = (blasint)T, bd = (blasint)a->hd;

    for (h0 = 0; h0 < a->heads; h0 += a->room_heads) {
        size_t nh = a->heads - h0 < a->room_heads ? a->heads - h0 : a->room_heads;
        struct soft_job j = {a, nh};
        for (h = 0; h < nh; h++) {
            size_t kvh = (h0 + h) / group;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bT, bT, bd,
                        1.0f, q + (h0 + h) * a->hd, (blasint)a->ldq,
                        k + kvh * a->hd, (blasint)a->ldk, 0.0f,
                        a->scores + h * T * T, bT);
        }
        kn_parallel(nh * T, softmax_rows, &j);
        for (h = 0; h < nh; h++) {
            size_t kvh = (h0 + h) / group;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bT, bd, bT,
                        1.0f, a->scores + h * T * T, bT, v + kvh * a->hd,
                        (blasint)a->ldk, 0.0f, out + (h0 + h) * a->hd,
                        (blasint)a->ldo);
        }
    }
}
