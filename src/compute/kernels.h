/* kernels.h: the numeric building blocks of the forward pass (private to
 * src/compute). Every array is F32, row-major, one row per token.
 *
 * Threads: matrix products run in OpenBLAS's own threads (kn_set_threads
 * sets their number); every other loop here runs in kn_parallel's
 * threads. The two never run at the same time and no kernel calls BLAS from
 * a kn_parallel worker, so at most `threads` threads compute at once. */
#ifndef SUTURE_COMPUTE_KERNELS_H
#define SUTURE_COMPUTE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

/* Sets the thread count of both OpenBLAS and kn_parallel (>= 1). */
void kn_set_threads(unsigned n);
unsigned kn_threads(void);

/* Calls fn(ctx, begin, end) over [0, n) split in contiguous ranges, one
 * per thread, and returns when all are done. */
void kn_parallel(size_t n, void (*fn)(void *ctx, size_t begin, size_t end),
                 void *ctx);

/* out[t][o] = beta * out[t][o] + sum_i x[t][i] * w[o][i] for t < T, o < O,
 * i < I: x is T x I (row stride ldx), w is O x I (rows contiguous), out is
 * T x O (row stride ldo). */
void kn_matmul(float *out, size_t ldo, const float *x, size_t ldx,
               const float *w, size_t T, size_t O, size_t n_in, float beta);

/* out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * (w + offset), dim per row. */
void kn_rmsnorm(float *out, const float *x, const float *w, float offset,
                size_t T, size_t dim, float eps);

/* out[t][i] += bias[i]. */
void kn_add_bias(float *out, size_t ld, const float *bias, size_t T, size_t n);

/* Rotary embedding, transformers' rotate_half layout: in each of the
 * heads (head_dim apart, rows ld apart) the first rot dims are rotated,
 * pairs (j, j + rot/2) by angle pos[t] * inv_freq[j]. */
void kn_rope(float *x, size_t ld, size_t T, size_t heads, size_t head_dim,
             size_t rot, const float *inv_freq, const int *pos);

typedef enum kn_act { KN_SILU, KN_GELU_TANH, KN_GELU } kn_act;

/* g[t][i] = act(g[t][i]) * u[t][i] for i < n (row strides ldg, ldu). */
void kn_act_mul(float *g, size_t ldg, const float *u, size_t ldu, size_t T,
                size_t n, kn_act act);

/* y = cap * tanh(y / cap) over n values (cap > 0). */
void kn_softcap(float *y, size_t n, float cap);

/* Causal self-attention of one window of T tokens at positions 0..T-1.
 * q is T x (heads*hd) with row stride ldq, k and v T x (kv_heads*hd) with
 * row stride ldk; query head h reads kv head h / (heads / kv_heads). out
 * (T x heads*hd, stride ldo) receives softmax(scale * q k^T, softcapped
 * by cap when cap > 0, masked to j <= i and i - j < window when window >
 * 0) v. scores is scratch of room_heads * T * T floats (room_heads >= 1). */
typedef struct kn_attn {
    size_t T, heads, kv_heads, hd;
    size_t ldq, ldk, ldo;
    float scale, cap;
    size_t window;
    float *scores;
    size_t room_heads;
} kn_attn;

void kn_attention(const kn_attn *a, const float *q, const float *k,
                  const float *v, float *out);

#endif
