/* convert_int.h: the instruction sets of cv_apply's loops, so that tests
 * can run each one (not public). */
#ifndef SUTURE_CONVERT_INT_H
#define SUTURE_CONVERT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "suture/convert.h"

typedef enum cv_isa {
    CV_PORTABLE,    /* any CPU (on x86-64, SSE2) */
    CV_AVX2_F16C    /* x86-64 with AVX2 and F16C */
} cv_isa;

/* True when this build and this CPU can run the loops of isa. cv_apply
 * runs CV_AVX2_F16C's when it can, else CV_PORTABLE's; both give the same
 * bits. */
bool cv_isa_available(cv_isa isa);

/* cv_apply with the loops of isa, which must be available. */
void cv_apply_isa(cv_isa isa, st_dtype in, st_dtype out, float scale,
                  const void *src, void *dst, size_t n);

#endif
