/* checked.h: overflow-checked size arithmetic for untrusted numbers.
 * Each returns 0 and stores the result, or returns -1 (and leaves *out
 * unspecified) when the result does not fit. */
#ifndef SUTURE_CHECKED_H
#define SUTURE_CHECKED_H

#include <stdint.h>
#include <stddef.h>

/* The largest integer a JSON number (an IEEE double) holds exactly. */
#define SUT_JSON_INT_MAX 9007199254740992ULL /* 2^53 */

static inline int ck_add(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

static inline int ck_mul(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

/* Room for n elements of size sz in memory (n * sz <= SIZE_MAX). */
static inline int ck_array(size_t n, size_t sz, size_t *out)
{
    return __builtin_mul_overflow(n, sz, out) ? -1 : 0;
}

#endif
