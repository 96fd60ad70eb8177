/* convert.h: element conversion and scaling for F32, F16 and BF16.
 *
 * The value written for an element x of source dtype `in`, scale s and
 * output dtype `out` is:
 *   y = (s == 1) ? x : round_in((float)x * (float)s)   -- scaled in the
 *       source dtype, as torch's `tensor * s` does;
 *   out_value = round_out(y)                          -- then converted.
 * round_* rounds to nearest, ties to even; NaN stays NaN (quiet), infinities
 * and signed zeros are kept; overflow goes to infinity. */
#ifndef SUTURE_CONVERT_H
#define SUTURE_CONVERT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "suture/safetensors.h"

/* True when cv_apply handles the dtype (F32, F16, BF16). */
bool cv_supported(st_dtype dt);

/* Converts n elements from src (dtype in) to dst (dtype out), applying
 * scale as above. src and dst must not overlap. Both dtypes must be
 * supported. Elements are little-endian in memory on both sides. */
void cv_apply(st_dtype in, st_dtype out, float scale, const void *src,
              void *dst, size_t n);

/* Scalar helpers, exposed for tests. */
float cv_f16_to_f32(uint16_t h);
uint16_t cv_f32_to_f16(float f);
float cv_bf16_to_f32(uint16_t h);
uint16_t cv_f32_to_bf16(float f);

#endif
