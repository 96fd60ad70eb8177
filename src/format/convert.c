/* convert.c: F32/F16/BF16 element conversion and scaling (see convert.h).
 *
 * The conversions work on bit patterns without branches and use floating
 * point only where the operation is exact, so neither the rounding mode
 * nor flush-to-zero can change a result; the scaling multiply is the one
 * inexact step, as in the contract. cv_apply runs one loop per (in, out,
 * scaled) case over blocks of CV_BLOCK elements, which the compiler
 * vectorises. On x86-64 each loop is built a second time for AVX2 with
 * F16C, whose F16 conversions (rounding given in the instruction, to
 * nearest even) give the same bits, and picked when the CPU has both. */
#include <string.h>

#include "suture/convert.h"
#include "convert_int.h"

#define CV_BLOCK 16
#define CV_INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#define CV_X86 1
#define CV_V3 __attribute__((target("avx2,f16c")))
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define CV_LE16(v) __builtin_bswap16(v)
#define CV_LE32(v) __builtin_bswap32(v)
#else
#define CV_LE16(v) (v)
#define CV_LE32(v) (v)
#endif

CV_INLINE uint32_t f32_bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof(u));
    return u;
}

CV_INLINE float bits_f32(uint32_t u)
{
    float f;

    memcpy(&f, &u, sizeof(f));
    return f;
}

/* a when c (0 or 1), else b, without a branch: the loops vectorise only
 * when nothing in them is conditional. */
CV_INLINE uint32_t pick(uint32_t c, uint32_t a, uint32_t b)
{
    uint32_t m = 0u - c;

    return (a & m) | (b & ~m);
}

/* The magnitude of F32 bits x, as a signed integer: comparisons on it are
 * comparisons of |x| (any NaN above infinity), and signed ones vectorise
 * on every x86-64. */
CV_INLINE int32_t magnitude(uint32_t x)
{
    return (int32_t)(x & 0x7fffffffu);
}

/* mant >> 13 rounded to nearest, ties to even (mant below 2^31). */
CV_INLINE uint32_t rne13(uint32_t mant)
{
    return (mant + 0x0fffu + ((mant >> 13) & 1u)) >> 13;
}

/* F16 -> F32 is exact; a NaN keeps its sign and payload and becomes quiet.
 * A subnormal is its mantissa times 2^-24, exact in F32. */
CV_INLINE uint32_t f16_to_f32(uint32_t h)
{
    int32_t em = (int32_t)(h & 0x7fffu);
    uint32_t sign = (h & 0x8000u) << 16, shifted = (uint32_t)em << 13;
    uint32_t normal = shifted + 0x38000000u;
    uint32_t special = (shifted + 0x70000000u) |
                       pick(em > 0x7c00, 0x00400000u, 0);
    uint32_t sub = f32_bits((float)(em & 0x3ff) * 0x1p-24f);

    return sign | pick(em < 0x0400, sub, pick(em >= 0x7c00, special, normal));
}

/* |x| (a = magnitude(x), exponent 102 to 112) as an F16 subnormal
 * mantissa: |x| * 2^24 (exact, below 1024) split exactly into its integer
 * part and fraction, rounded to nearest, ties to even. A larger a is
 * replaced first, so the conversion to integer stays in range. */
CV_INLINE uint32_t f16_subnormal(int32_t a)
{
    uint32_t small = pick(a < 0x38800000, (uint32_t)a, 0x38000000u);
    float y = bits_f32(small) * 0x1p24f;
    int32_t t = (int32_t)y;
    float frac = y - (float)t;
    uint32_t odd = (uint32_t)t & 1u;

    return (uint32_t)t + pick(odd, frac >= 0.5f, frac > 0.5f);
}

/* F32 -> F16, to nearest, ties to even; overflow goes to infinity, a carry
 * out of the mantissa into the exponent; a NaN keeps its sign and the top
 * of its payload and becomes quiet. */
CV_INLINE uint32_t f32_to_f16(uint32_t x)
{
    int32_t a = magnitude(x);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t nan = 0x7e00u | ((x >> 13) & 0x3ffu);
    uint32_t normal = rne13((uint32_t)a - 0x38000000u);
    uint32_t sub = f16_subnormal(a);

    return sign | pick(a > 0x7f800000, nan,
                       pick(a >= 0x47800000, 0x7c00u,
                            pick(a >= 0x38800000, normal,
                                 pick(a >= 0x33000000, sub, 0))));
}

/* BF16 -> F32 is exact; a NaN becomes quiet. */
CV_INLINE uint32_t bf16_to_f32(uint32_t h)
{
    uint32_t x = h << 16;

    return x | pick(magnitude(x) > 0x7f800000, 0x00400000u, 0);
}

/* F32 -> BF16, to nearest, ties to even; a NaN keeps its sign and the top
 * of its payload and becomes quiet. */
CV_INLINE uint32_t f32_to_bf16(uint32_t x)
{
    uint32_t r = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;

    return pick(magnitude(x) > 0x7f800000, (x >> 16) | 0x0040u, r);
}

bool cv_supported(st_dtype dt)
{
    return dt == ST_F32 || dt == ST_F16 || dt == ST_BF16;
}

float cv_f16_to_f32(uint16_t h)
{
    return bits_f32(f16_to_f32(h));
}

uint16_t cv_f32_to_f16(float f)
{
    return (uint16_t)f32_to_f16(f32_bits(f));
}

float cv_bf16_to_f32(uint16_t h)
{
    return bits_f32(bf16_to_f32(h));
}

uint16_t cv_f32_to_bf16(float f)
{
    return (uint16_t)f32_to_bf16(f32_bits(f));
}

#ifdef CV_X86
/* The F16 conversions of widen and narrow, by F16C. */
static inline CV_V3 void widen_f16c(const unsigned char *src, uint32_t *x)
{
    int k;

    for (k = 0; k < CV_BLOCK; k += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * k));
        _mm256_storeu_si256((__m256i *)(void *)(x + k),
                            _mm256_castps_si256(_mm256_cvtph_ps(h)));
    }
}

static inline CV_V3 void narrow_f16c(const uint32_t *x, unsigned char *dst)
{
    int k;

    for (k = 0; k < CV_BLOCK; k += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(x + k));
        _mm_storeu_si128((__m128i *)(void *)(dst + 2 * k),
                         _mm256_cvtps_ph(_mm256_castsi256_ps(v),
                                         _MM_FROUND_TO_NEAREST_INT));
    }
}
#endif

/* Element k of src (dtype dt) as F32 bits (exact). */
CV_INLINE uint32_t load(st_dtype dt, const unsigned char *src, int k)
{
    uint16_t h;
    uint32_t u;

    if (dt == ST_F32) {
        memcpy(&u, src + 4 * k, sizeof(u));
        return CV_LE32(u);
    }
    memcpy(&h, src + 2 * k, sizeof(h));
    h = CV_LE16(h);
    return dt == ST_F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

/* Stores F32 bits x rounded to dtype dt as element k of dst. */
CV_INLINE void store(st_dtype dt, unsigned char *dst, int k, uint32_t x)
{
    uint16_t h;
    uint32_t u;

    if (dt == ST_F32) {
        u = CV_LE32(x);
        memcpy(dst + 4 * k, &u, sizeof(u));
        return;
    }
    h = (uint16_t)(dt == ST_F16 ? f32_to_f16(x) : f32_to_bf16(x));
    h = CV_LE16(h);
    memcpy(dst + 2 * k, &h, sizeof(h));
}

/* F32 bits x times scale. A NaN x gives itself, quiet, whatever scale is
 * (as x86's multiply with x as the first operand does), as the compiler
 * may put either operand first. */
CV_INLINE uint32_t times(uint32_t x, float scale)
{
    return pick(magnitude(x) > 0x7f800000, x | 0x00400000u,
                f32_bits(bits_f32(x) * scale));
}

/* F32 bits x rounded to dtype dt and widened back. */
CV_INLINE uint32_t round_to(st_dtype dt, uint32_t x)
{
    if (dt == ST_F16)
        return f16_to_f32(f32_to_f16(x));
    if (dt == ST_BF16)
        return bf16_to_f32(f32_to_bf16(x));
    return x;
}

/* Element k. A scaled value is rounded to `in` before `out` only when they
 * differ: rounding twice to one dtype gives what rounding once does. */
CV_INLINE void convert_one(st_dtype in, st_dtype out, bool scaled, float scale,
                           const unsigned char *restrict src,
                           unsigned char *restrict dst, int k)
{
    uint32_t x = load(in, src, k);

    if (scaled)
        x = round_to(in == out ? ST_F32 : in, times(x, scale));
    store(out, dst, k, x);
}

/* The CV_BLOCK elements of src (dtype dt) as F32 bits in x. */
CV_INLINE void widen(st_dtype dt, bool f16c, const unsigned char *src,
                     uint32_t *x)
{
    int k;

#ifdef CV_X86
    if (dt == ST_F16 && f16c) {
        widen_f16c(src, x);
        return;
    }
#endif
    for (k = 0; k < CV_BLOCK; k++)
        x[k] = load(dt, src, k);
}

/* The CV_BLOCK F32 bit patterns of x rounded to dtype dt into dst. */
CV_INLINE void narrow(st_dtype dt, bool f16c, const uint32_t *x,
                      unsigned char *dst)
{
    int k;

#ifdef CV_X86
    if (dt == ST_F16 && f16c) {
        narrow_f16c(x, dst);
        return;
    }
#endif
    for (k = 0; k < CV_BLOCK; k++)
        store(dt, dst, k, x[k]);
}

/* One block: element by element, which vectorises, unless F16C does the
 * F16 side; then in steps through x. */
CV_INLINE void convert_block(st_dtype in, st_dtype out, bool scaled, bool f16c,
                             float scale, const unsigned char *restrict src,
                             unsigned char *restrict dst)
{
    uint32_t x[CV_BLOCK];
    unsigned char rounded[2 * CV_BLOCK];
    int k;

    if (!f16c || (in != ST_F16 && out != ST_F16)) {
        for (k = 0; k < CV_BLOCK; k++)
            convert_one(in, out, scaled, scale, src, dst, k);
        return;
    }
    widen(in, f16c, src, x);
    if (scaled) {
        for (k = 0; k < CV_BLOCK; k++)
            x[k] = times(x[k], scale);
        if (in == ST_F16 && out != ST_F16) {
            narrow(in, f16c, x, rounded);
            widen(in, f16c, rounded, x);
        } else if (in != out) {
            for (k = 0; k < CV_BLOCK; k++)
                x[k] = round_to(in, x[k]);
        }
    }
    narrow(out, f16c, x, dst);
}

/* All n elements: whole blocks, then the rest as a block padded with
 * zeros, so that every element takes the same path. */
CV_INLINE void convert_run(st_dtype in, st_dtype out, bool scaled, bool f16c,
                           float scale, const unsigned char *restrict src,
                           unsigned char *restrict dst, size_t n)
{
    size_t isz = in == ST_F32 ? 4 : 2, osz = out == ST_F32 ? 4 : 2, i;
    unsigned char a[4 * CV_BLOCK] = {0}, b[4 * CV_BLOCK];

    for (i = 0; n - i >= CV_BLOCK; i += CV_BLOCK)
        convert_block(in, out, scaled, f16c, scale, src + i * isz, dst + i * osz);
    if (i == n)
        return;
    memcpy(a, src + i * isz, (n - i) * isz);
    convert_block(in, out, scaled, f16c, scale, a, b);
    memcpy(dst + i * osz, b, (n - i) * osz);
}

typedef void (*cv_loop)(float scale, const unsigned char *restrict src,
                        unsigned char *restrict dst, size_t n);

#ifdef CV_X86
#define CV_LOOP_V3(name, in, out, scaled)                                     \
    CV_V3 static void name##_v3(float scale,                                  \
                                const unsigned char *restrict src,            \
                                unsigned char *restrict dst, size_t n)        \
    {                                                                         \
        convert_run(in, out, scaled, true, scale, src, dst, n);               \
    }
#else
#define CV_LOOP_V3(name, in, out, scaled)
#endif

/* name (any CPU) and, on x86-64, name_v3 (AVX2 and F16C). */
#define CV_LOOP(name, in, out, scaled)                                        \
    static void name(float scale, const unsigned char *restrict src,          \
                     unsigned char *restrict dst, size_t n)                   \
    {                                                                         \
        convert_run(in, out, scaled, false, scale, src, dst, n);              \
    }                                                                         \
    CV_LOOP_V3(name, in, out, scaled)

CV_LOOP(f32_f16, ST_F32, ST_F16, false)
CV_LOOP(f32_bf16, ST_F32, ST_BF16, false)
CV_LOOP(f16_f32, ST_F16, ST_F32, false)
CV_LOOP(f16_bf16, ST_F16, ST_BF16, false)
CV_LOOP(bf16_f32, ST_BF16, ST_F32, false)
CV_LOOP(bf16_f16, ST_BF16, ST_F16, false)
CV_LOOP(f32_f32_s, ST_F32, ST_F32, true)
CV_LOOP(f32_f16_s, ST_F32, ST_F16, true)
CV_LOOP(f32_bf16_s, ST_F32, ST_BF16, true)
CV_LOOP(f16_f32_s, ST_F16, ST_F32, true)
CV_LOOP(f16_f16_s, ST_F16, ST_F16, true)
CV_LOOP(f16_bf16_s, ST_F16, ST_BF16, true)
CV_LOOP(bf16_f32_s, ST_BF16, ST_F32, true)
CV_LOOP(bf16_f16_s, ST_BF16, ST_F16, true)
CV_LOOP(bf16_bf16_s, ST_BF16, ST_BF16, true)

/* [in][out][scaled], F32 0, F16 1, BF16 2; NULL: a plain copy. */
static const cv_loop loops[3][3][2] = {
    {{NULL, f32_f32_s}, {f32_f16, f32_f16_s}, {f32_bf16, f32_bf16_s}},
    {{f16_f32, f16_f32_s}, {NULL, f16_f16_s}, {f16_bf16, f16_bf16_s}},
    {{bf16_f32, bf16_f32_s}, {bf16_f16, bf16_f16_s}, {NULL, bf16_bf16_s}},
};

#ifdef CV_X86
static const cv_loop loops_v3[3][3][2] = {
    {{NULL, f32_f32_s_v3}, {f32_f16_v3, f32_f16_s_v3}, {f32_bf16_v3, f32_bf16_s_v3}},
    {{f16_f32_v3, f16_f32_s_v3}, {NULL, f16_f16_s_v3}, {f16_bf16_v3, f16_bf16_s_v3}},
    {{bf16_f32_v3, bf16_f32_s_v3}, {bf16_f16_v3, bf16_f16_s_v3}, {NULL, bf16_bf16_s_v3}},
};
#endif

static int dtype_index(st_dtype dt)
{
    return dt == ST_F16 ? 1 : dt == ST_BF16 ? 2 : 0;
}

#ifdef CV_X86
/* True when the CPU has AVX2 (and the system saves its registers) and
 * F16C. Asked once. */
static bool have_avx2_f16c(void)
{
    static atomic_int known = -1;
    int v = atomic_load_explicit(&known, memory_order_relaxed);
    unsigned a, b, c, d;

    if (v < 0) {
        v = __builtin_cpu_supports("avx2") && __get_cpuid(1, &a, &b, &c, &d) &&
            (c & bit_F16C);
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v;
}
#endif

bool cv_isa_available(cv_isa isa)
{
#ifdef CV_X86
    if (isa == CV_AVX2_F16C)
        return have_avx2_f16c();
#endif
    return isa == CV_PORTABLE;
}

void cv_apply_isa(cv_isa isa, st_dtype in, st_dtype out, float scale,
                  const void *src, void *dst, size_t n)
{
    int a = dtype_index(in), b = dtype_index(out), s = scale != 1.0f;
    cv_loop loop = loops[a][b][s];

#ifdef CV_X86
    if (isa == CV_AVX2_F16C)
        loop = loops_v3[a][b][s];
#endif
    if (loop)
        loop(scale, src, dst, n);
    else
        memcpy(dst, src, n * (in == ST_F32 ? 4 : 2));
}

void cv_apply(st_dtype in, st_dtype out, float scale, const void *src,
              void *dst, size_t n)
{
    cv_apply_isa(cv_isa_available(CV_AVX2_F16C) ? CV_AVX2_F16C : CV_PORTABLE,
                 in, out, scale, src, dst, n);
}
