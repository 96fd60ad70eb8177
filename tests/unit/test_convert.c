/* test_convert.c: F32/F16/BF16 conversion. Exhaustive over the 16-bit
 * formats; F32 -> F16/BF16 checked against references computed another
 * way: gcc's _Float16 (libgcc's soft-fp) and a double-precision model that
 * rounds with nearbyint. */
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "testutil.h"
#include "suture/convert.h"
#include "format/convert_int.h"

static uint32_t bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof(u));
    return u;
}

static float from_bits(uint32_t u)
{
    float f;

    memcpy(&f, &u, sizeof(f));
    return f;
}

/* x rounded to a binary format with p significand bits, smallest normal
 * exponent emin and largest exponent emax, ties to even (the default
 * rounding mode of nearbyint), overflow to infinity. */
static double ref_round(double x, int p, int emin, int emax)
{
    int e, qe;
    double y;

    if (x == 0 || isnan(x) || isinf(x))
        return x;
    frexp(x, &e);
    qe = (e - 1 > emin ? e - 1 : emin) - (p - 1);
    y = ldexp(nearbyint(ldexp(x, -qe)), qe);
    if (fabs(y) >= ldexp(1.0, emax + 1))
        return copysign(INFINITY, x);
    return y;
}

static float ref_f16(float x) { return (float)ref_round(x, 11, -14, 15); }
static float ref_bf16(float x) { return (float)ref_round(x, 8, -126, 127); }

/* Bit equality, except that any NaN equals any NaN of the same sign. */
static int same(float a, float b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b) && signbit(a) == signbit(b);
    return bits(a) == bits(b);
}

#ifdef __FLT16_MAX__
static uint16_t gcc_f16(float f)
{
    _Float16 h = (_Float16)f;
    uint16_t u;

    memcpy(&u, &h, sizeof(u));
    return u;
}

static float gcc_f16_widen(uint16_t u)
{
    _Float16 h;

    memcpy(&h, &u, sizeof(h));
    return (float)h;
}
#endif

/* Checks one F32 pattern against both references; returns 0 on a match. */
static int check_f32(uint32_t x)
{
    float f = from_bits(x);
    uint16_t h = cv_f32_to_f16(f), b = cv_f32_to_bf16(f);

    if (!same(cv_f16_to_f32(h), ref_f16(f)) ||
        !same(cv_bf16_to_f32(b), ref_bf16(f)))
        return -1;
    if (isnan(f) && (!(h & 0x0200u) || !(b & 0x0040u)))
        return -1;
#ifdef __FLT16_MAX__
    if (h != gcc_f16(f))
        return -1;
#endif
    return 0;
}

START_TEST(f16_every_pattern_round_trips)
{
    uint32_t i;

    for (i = 0; i < 0x10000u; i++) {
        uint16_t h = (uint16_t)i;
        float f = cv_f16_to_f32(h);
        int nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);

        ck_assert_msg(isnan(f) == nan, "f16 %04x: nan %d", h, isnan(f));
        if (nan) {
            ck_assert_uint_eq(bits(f) & 0x00400000u, 0x00400000u);
            ck_assert_uint_eq(cv_f32_to_f16(f), h | 0x0200u);
        } else {
            ck_assert_msg(cv_f32_to_f16(f) == h, "f16 %04x -> %08x -> %04x",
                          h, bits(f), cv_f32_to_f16(f));
        }
#ifdef __FLT16_MAX__
        ck_assert_msg(same(f, gcc_f16_widen(h)) &&
                          (nan || bits(f) == bits(gcc_f16_widen(h))),
                      "f16 %04x: %08x, gcc %08x", h, bits(f),
                      bits(gcc_f16_widen(h)));
#endif
    }
}
END_TEST

START_TEST(bf16_every_pattern_round_trips)
{
    uint32_t i;

    for (i = 0; i < 0x10000u; i++) {
        uint16_t h = (uint16_t)i;
        float f = cv_bf16_to_f32(h);
        int nan = (h & 0x7f80u) == 0x7f80u && (h & 0x7fu);

        ck_assert_msg(isnan(f) == nan, "bf16 %04x", h);
        if (nan) {
            ck_assert_uint_eq(bits(f), ((uint32_t)h << 16) | 0x00400000u);
            ck_assert_uint_eq(cv_f32_to_bf16(f), h | 0x0040u);
        } else {
            ck_assert_uint_eq(bits(f), (uint32_t)h << 16);
            ck_assert_uint_eq(cv_f32_to_bf16(f), h);
        }
    }
}
END_TEST

/* Every F32 whose low 13 bits sit at or next to a rounding boundary of the
 * normal F16 range (and of BF16's low 16 bits), for all high bits. */
START_TEST(f32_rounding_boundaries_match_references)
{
    static const uint32_t low[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001,
                                   0x1fff, 0x7fff, 0x8000, 0x8001, 0xffff};
    uint32_t hi, k, bad = 0;

    for (hi = 0; hi < 0x10000u; hi++)
        for (k = 0; k < sizeof(low) / sizeof(low[0]); k++)
            if (check_f32(hi << 16 | low[k]) != 0 && bad++ < 5)
                fprintf(stderr, "mismatch at %08x\n", hi << 16 | low[k]);
    for (hi = 0; hi < 0x80000u; hi++)
        for (k = 0; k < 6; k++)
            if (check_f32(hi << 13 | low[k]) != 0 && bad++ < 5)
                fprintf(stderr, "mismatch at %08x\n", hi << 13 | low[k]);
    ck_assert_uint_eq(bad, 0);
}
END_TEST

/* Every F32 in the F16 subnormal range (and just around it), both signs,
 * at and next to every rounding boundary of its shift. */
START_TEST(f32_f16_subnormals_match_references)
{
    uint32_t exp, top, bad = 0;

    for (exp = 100; exp <= 114; exp++) {
        unsigned shift = exp < 113 ? 126 - exp : 13;
        uint32_t lows[6];
        size_t k;

        shift = shift > 23 ? 23 : shift;
        lows[0] = 0;
        lows[1] = 1;
        lows[2] = (1u << (shift - 1)) - 1;
        lows[3] = 1u << (shift - 1);
        lows[4] = (1u << (shift - 1)) + 1;
        lows[5] = (1u << shift) - 1;
        for (top = 0; top < (1u << (23 - shift)); top++)
            for (k = 0; k < 6; k++) {
                uint32_t x = exp << 23 | top << shift | lows[k];
                if ((check_f32(x) || check_f32(x | 0x80000000u)) &&
                    bad++ < 5)
                    fprintf(stderr, "mismatch at %08x\n", x);
            }
    }
    ck_assert_uint_eq(bad, 0);
}
END_TEST

START_TEST(f32_random_patterns_match_references)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    uint32_t i, bad = 0;

    for (i = 0; i < 4000000u; i++) {
        uint32_t x;
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x = (uint32_t)(s >> 16);
        if (check_f32(x) != 0 && bad++ < 5)
            fprintf(stderr, "mismatch at %08x\n", x);
    }
    ck_assert_uint_eq(bad, 0);
}
END_TEST

struct pick {
    uint32_t f32;
    uint16_t want;
};

START_TEST(f16_hand_picked)
{
    static const struct pick cases[] = {
        {0x3f800000, 0x3c00}, /* 1 */
        {0x3f801000, 0x3c00}, /* 1 + 2^-11: tie, down to even */
        {0x3f803000, 0x3c02}, /* 1 + 3*2^-11: tie, up to even */
        {0x3f801001, 0x3c01}, /* just above the tie */
        {0x477fe000, 0x7bff}, /* 65504, the largest */
        {0x477fefff, 0x7bff}, /* just below 65520 */
        {0x477ff000, 0x7c00}, /* 65520: tie, up to infinity */
        {0xc77ff000, 0xfc00},
        {0x7f7fffff, 0x7c00}, /* FLT_MAX overflows */
        {0x38800000, 0x0400}, /* 2^-14, the smallest normal */
        {0x387fc000, 0x03ff}, /* the largest subnormal */
        {0x387fe000, 0x0400}, /* tie between it and 2^-14: up to even */
        {0x33800000, 0x0001}, /* 2^-24, the smallest subnormal */
        {0x33000000, 0x0000}, /* 2^-25: tie, down to even zero */
        {0x33000001, 0x0001}, /* just above */
        {0xb3000000, 0x8000}, /* -2^-25 -> -0 */
        {0x33c00000, 0x0002}, /* 1.5 * 2^-24: tie, up to even */
        {0x00000001, 0x0000}, /* F32 subnormal */
        {0x80000000, 0x8000}, /* -0 */
        {0x7f800000, 0x7c00}, /* inf */
        {0xff800000, 0xfc00},
        {0x7f800001, 0x7e00}, /* signalling NaN stays NaN, quiet */
        {0xffc00000, 0xfe00},
        {0x7fa00000, 0x7f00}, /* payload top bits kept */
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(cv_f32_to_f16(from_bits(cases[i].f32)) == cases[i].want,
                      "%08x -> %04x, want %04x", cases[i].f32,
                      cv_f32_to_f16(from_bits(cases[i].f32)), cases[i].want);
}
END_TEST

START_TEST(bf16_hand_picked)
{
    static const struct pick cases[] = {
        {0x3f808000, 0x3f80}, /* 1 + 2^-8: tie, down to even */
        {0x3f818000, 0x3f82}, /* tie, up to even */
        {0x3f808001, 0x3f81},
        {0x3f807fff, 0x3f80},
        {0x7f7f7fff, 0x7f7f}, /* below the last tie: the largest */
        {0x7f7f8000, 0x7f80}, /* tie with infinity: up to even, inf */
        {0xff7f8000, 0xff80},
        {0x00008000, 0x0000}, /* subnormal tie, down to even */
        {0x00018000, 0x0002}, /* subnormal tie, up to even */
        {0x80000000, 0x8000},
        {0x7f800000, 0x7f80},
        {0x7f800001, 0x7fc0}, /* NaN, not infinity */
        {0xff800001, 0xffc0},
        {0x7f810000, 0x7fc1}, /* payload kept */
        {0x7fffffff, 0x7fff}, /* must not carry into the sign */
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(cv_f32_to_bf16(from_bits(cases[i].f32)) == cases[i].want,
                      "%08x -> %04x, want %04x", cases[i].f32,
                      cv_f32_to_bf16(from_bits(cases[i].f32)), cases[i].want);
}
END_TEST

START_TEST(supported_dtypes)
{
    ck_assert(cv_supported(ST_F32));
    ck_assert(cv_supported(ST_F16));
    ck_assert(cv_supported(ST_BF16));
    ck_assert(!cv_supported(ST_F64));
    ck_assert(!cv_supported(ST_F8_E4M3));
    ck_assert(!cv_supported(ST_I32));
}
END_TEST

/* cv_apply reads and writes little-endian bytes. */
START_TEST(apply_is_little_endian)
{
    static const unsigned char f16_one[] = {0x00, 0x3c, 0x00, 0xc0};
    static const unsigned char f32_out[] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0};
    static const unsigned char bf16_out[] = {0x80, 0x3f, 0x00, 0xc0};
    unsigned char out[8];

    cv_apply(ST_F16, ST_F32, 1.0f, f16_one, out, 2);
    ck_assert_mem_eq(out, f32_out, 8);
    cv_apply(ST_F32, ST_BF16, 1.0f, f32_out, out, 2);
    ck_assert_mem_eq(out, bf16_out, 4);
    cv_apply(ST_BF16, ST_F16, 1.0f, bf16_out, out, 2);
    ck_assert_mem_eq(out, f16_one, 4);
}
END_TEST

/* Without a scale every pair converts as the scalar helpers do, and a copy
 * within one dtype keeps every bit. */
START_TEST(apply_matches_scalars)
{
    static const st_dtype dts[] = {ST_F32, ST_F16, ST_BF16};
    uint16_t src16[4096], out16[4096];
    float src32[4096], out32[4096];
    size_t a, b, i;

    for (i = 0; i < 4096; i++) {
        src16[i] = (uint16_t)(i * 16 + (i & 15));
        src32[i] = from_bits((uint32_t)i * 1048583u);
    }
    for (a = 0; a < 3; a++)
        for (b = 0; b < 3; b++) {
            const void *src = dts[a] == ST_F32 ? (void *)src32 : src16;
            void *dst = dts[b] == ST_F32 ? (void *)out32 : out16;
            cv_apply(dts[a], dts[b], 1.0f, src, dst, 4096);
            for (i = 0; i < 4096; i++) {
                float x = dts[a] == ST_F32 ? src32[i]
                        : dts[a] == ST_F16 ? cv_f16_to_f32(src16[i])
                                           : cv_bf16_to_f32(src16[i]);
                uint32_t got = dts[b] == ST_F32 ? bits(out32[i]) : out16[i];
                uint32_t want = dts[a] == dts[b]
                        ? (dts[a] == ST_F32 ? bits(src32[i]) : src16[i])
                    : dts[b] == ST_F32 ? bits(x)
                    : dts[b] == ST_F16 ? cv_f32_to_f16(x) : cv_f32_to_bf16(x);
                ck_assert_msg(got == want, "pair %zu -> %zu at %zu: %x, want %x",
                              a, b, i, got, want);
            }
        }
}
END_TEST

/* A scale is applied in the source dtype first, then converted. */
START_TEST(apply_scales_in_source_dtype)
{
    uint16_t one_bf16 = 0x3f80, one_f16 = 0x3c00, out16;
    float three = 3.0f, out32, neg = -2.0f;
    uint32_t i;

    /* 1 * (1 + 2^-9): BF16 rounds it back to 1 before F16 sees it */
    cv_apply(ST_BF16, ST_F16, 1.001953125f, &one_bf16, &out16, 1);
    ck_assert_uint_eq(out16, 0x3c00);
    cv_apply(ST_F32, ST_F16, 1.001953125f, &(float){1.0f}, &out16, 1);
    ck_assert_uint_eq(out16, 0x3c02);
    cv_apply(ST_F16, ST_F16, 0.5f, &one_f16, &out16, 1);
    ck_assert_uint_eq(out16, 0x3800);
    cv_apply(ST_F32, ST_F32, 0.5f, &three, &out32, 1);
    ck_assert(out32 == 1.5f);
    cv_apply(ST_F32, ST_BF16, 0.0f, &neg, &out16, 1);
    ck_assert_uint_eq(out16, 0x8000); /* -2 * 0 = -0 */
    for (i = 0; i < 0x10000u; i++) {
        uint16_t h = (uint16_t)i, got;
        float y = cv_f16_to_f32(cv_f32_to_f16(cv_f16_to_f32(h) * 0.3f));
        cv_apply(ST_F16, ST_BF16, 0.3f, &h, &got, 1);
        ck_assert_msg(same(cv_bf16_to_f32(got), ref_bf16(y)),
                      "f16 %04x * 0.3 -> bf16 %04x", h, got);
    }
}
END_TEST

/* ---- cv_apply's loops, on every instruction set this CPU runs ---- */

static const st_dtype all_dtypes[] = {ST_F32, ST_F16, ST_BF16};

static size_t esize(st_dtype dt)
{
    return dt == ST_F32 ? 4 : 2;
}

static uint32_t get_elem(st_dtype dt, const unsigned char *p, size_t i)
{
    uint16_t h;
    uint32_t u;

    if (dt == ST_F32) {
        memcpy(&u, p + 4 * i, 4);
        return u;
    }
    memcpy(&h, p + 2 * i, 2);
    return h;
}

static void put_elem(st_dtype dt, unsigned char *p, size_t i, uint32_t v)
{
    uint16_t h = (uint16_t)v;

    if (dt == ST_F32)
        memcpy(p + 4 * i, &v, 4);
    else
        memcpy(p + 2 * i, &h, 2);
}

/* An element's bits as F32 bits, and F32 bits rounded to an element, by
 * the scalar helpers (checked against references above). */
static uint32_t widen_ref(st_dtype dt, uint32_t v)
{
    return dt == ST_F16 ? bits(cv_f16_to_f32((uint16_t)v))
         : dt == ST_BF16 ? bits(cv_bf16_to_f32((uint16_t)v)) : v;
}

static uint32_t narrow_ref(st_dtype dt, uint32_t x)
{
    return dt == ST_F16 ? cv_f32_to_f16(from_bits(x))
         : dt == ST_BF16 ? cv_f32_to_bf16(from_bits(x)) : x;
}

/* The contract of convert.h for one element v; a NaN times anything is
 * that NaN made quiet, and x times a NaN scale the scale made quiet. A
 * copy within one dtype keeps every bit. */
static uint32_t expect(st_dtype in, st_dtype out, float scale, uint32_t v)
{
    uint32_t x = widen_ref(in, v);

    if (in == out && scale == 1.0f)
        return v;
    if (scale != 1.0f) {
        x = isnan(from_bits(x)) ? x | 0x00400000u
          : isnan(scale) ? bits(scale) | 0x00400000u
                         : bits(from_bits(x) * scale);
        x = widen_ref(in, narrow_ref(in, x));
    }
    return narrow_ref(out, x);
}

/* Converts n elements of src with every available instruction set and
 * checks each against expect(); returns the number of mismatches. */
static unsigned check_apply(st_dtype in, st_dtype out, float scale,
                            const unsigned char *src, size_t n)
{
    unsigned char *dst = malloc(n * 4 + 1);
    unsigned isa, bad = 0;
    size_t i;

    ck_assert_ptr_nonnull(dst);
    for (isa = CV_PORTABLE; isa <= CV_AVX2_F16C; isa++) {
        if (!cv_isa_available((cv_isa)isa))
            continue;
        cv_apply_isa((cv_isa)isa, in, out, scale, src, dst, n);
        for (i = 0; i < n; i++) {
            uint32_t got = get_elem(out, dst, i);
            uint32_t want = expect(in, out, scale, get_elem(in, src, i));
            if (got != want && bad++ < 5)
                fprintf(stderr, "isa %u, %s -> %s, scale %08x, element %08x: %x, want %x\n",
                        isa, st_dtype_name(in), st_dtype_name(out), bits(scale),
                        get_elem(in, src, i), got, want);
        }
    }
    free(dst);
    return bad;
}

static const uint32_t scale_bits[] = {
    0x3f800000, /* 1 */
    0x3f000000, /* 0.5 */
    0x3e99999a, /* 0.3 */
    0xbfd9999a, /* -1.7 */
    0x40400000, /* 3 */
    0x00000000, /* 0 */
    0x80000000, /* -0 */
    0x0da24260, /* 1e-30: subnormal and zero results */
    0x7149f2ca, /* 1e30: overflow */
    0x477fe000, /* 65504 */
    0x7f800000, /* inf */
    0x7fc00000, /* NaN */
    0x7f800001, /* signalling NaN */
    0xffc12345, /* negative NaN with a payload */
};

START_TEST(apply_every_16bit_pattern_every_isa)
{
    unsigned char src[2 * 65536];
    size_t a, b, k;
    uint32_t i;
    unsigned bad = 0;

    for (i = 0; i < 65536; i++)
        put_elem(ST_F16, src, i, i);
    for (a = 1; a < 3; a++)
        for (b = 0; b < 3; b++)
            for (k = 0; k < sizeof(scale_bits) / sizeof(scale_bits[0]); k++)
                bad += check_apply(all_dtypes[a], all_dtypes[b],
                                   from_bits(scale_bits[k]), src, 65536);
    ck_assert_uint_eq(bad, 0);
}
END_TEST

/* F32 patterns at and next to every rounding boundary of F16 and BF16
 * (normal and subnormal F16), both signs, and the specials. */
static size_t f32_boundaries(uint32_t *v, size_t max)
{
    static const uint32_t low[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001,
                                   0x1fff, 0x7fff, 0x8000, 0x8001, 0xffff};
    size_t n = 0, k;
    uint32_t hi, exp, top;

    for (hi = 0; hi < 0x10000u; hi++)
        for (k = 0; k < 10 && n < max; k++)
            v[n++] = hi << 16 | low[k];
    for (exp = 100; exp <= 114; exp++) {
        unsigned shift = exp < 113 ? 126 - exp : 13;
        shift = shift > 23 ? 23 : shift;
        for (top = 0; top < (1u << (23 - shift)); top += 7)
            for (k = 0; k < 3 && n + 2 <= max; k++) {
                uint32_t x = exp << 23 | top << shift | ((1u << (shift - 1)) - 1 + (uint32_t)k);
                v[n++] = x;
                v[n++] = x | 0x80000000u;
            }
    }
    return n;
}

START_TEST(apply_f32_boundaries_every_isa)
{
    size_t max = 1u << 20, n, b, k;
    uint32_t *v = malloc(max * sizeof(*v));
    unsigned bad = 0;

    ck_assert_ptr_nonnull(v);
    n = f32_boundaries(v, max);
    ck_assert_uint_gt(n, 650000);
    for (b = 0; b < 3; b++)
        for (k = 0; k < sizeof(scale_bits) / sizeof(scale_bits[0]); k++)
            bad += check_apply(ST_F32, all_dtypes[b], from_bits(scale_bits[k]),
                               (const unsigned char *)v, n);
    ck_assert_uint_eq(bad, 0);
    free(v);
}
END_TEST

/* Any count (whole blocks and a rest) from and to any byte alignment;
 * the bytes around dst are left alone. */
START_TEST(apply_any_length_and_alignment)
{
    unsigned char src[4 * 80 + 4], dst[4 * 80 + 8];
    uint64_t s = 0x2545f4914f6cdd1dull;
    size_t a, b, n, so, d0, i;
    unsigned isa;

    for (i = 0; i < sizeof(src); i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        src[i] = (unsigned char)(s >> 24);
    }
    for (a = 0; a < 3; a++)
        for (b = 0; b < 3; b++)
            for (n = 0; n <= 70; n++)
                for (so = 0; so < 4; so++)
                    for (d0 = 1; d0 < 4; d0++)
                        for (isa = CV_PORTABLE; isa <= CV_AVX2_F16C; isa++) {
                            st_dtype in = all_dtypes[a], out = all_dtypes[b];
                            float scale = (n & 1) ? 0.3f : 1.0f;
                            if (!cv_isa_available((cv_isa)isa))
                                continue;
                            memset(dst, 0xaa, sizeof(dst));
                            cv_apply_isa((cv_isa)isa, in, out, scale, src + so,
                                         dst + d0, n);
                            for (i = 0; i < n; i++)
                                ck_assert_uint_eq(get_elem(out, dst + d0, i),
                                                  expect(in, out, scale,
                                                         get_elem(in, src + so, i)));
                            for (i = 0; i < d0; i++)
                                ck_assert_uint_eq(dst[i], 0xaa);
                            for (i = d0 + n * esize(out); i < sizeof(dst); i++)
                                ck_assert_uint_eq(dst[i], 0xaa);
                        }
}
END_TEST

/* Without a scale the result is the same bits whatever the rounding mode
 * and, on x86-64, with flush-to-zero and denormals-are-zero set. */
START_TEST(apply_ignores_the_floating_point_environment)
{
    static const int modes[] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    size_t max = 1u << 20, n, a, b, m, bytes;
    uint32_t *v = malloc(max * sizeof(*v));
    unsigned char *want = malloc(max * 4), *got = malloc(max * 4);
    unsigned isa;

    ck_assert(v && want && got);
    n = f32_boundaries(v, max);
    for (a = 0; a < 3; a++)
        for (b = 0; b < 3; b++)
            for (isa = CV_PORTABLE; isa <= CV_AVX2_F16C; isa++) {
                st_dtype in = all_dtypes[a], out = all_dtypes[b];
                size_t count = in == ST_F32 ? n : 65536;
                if (!cv_isa_available((cv_isa)isa))
                    continue;
                if (in != ST_F32)
                    for (m = 0; m < 65536; m++)
                        put_elem(in, (unsigned char *)v, m, (uint32_t)m);
                bytes = count * esize(out);
                cv_apply_isa((cv_isa)isa, in, out, 1.0f, v, want, count);
                for (m = 0; m < 4; m++) {
                    if (m < 3) {
                        ck_assert_int_eq(fesetround(modes[m]), 0);
                    } else {
#if defined(__x86_64__)
                        _mm_setcsr(_mm_getcsr() | 0x8040u);
#else
                        continue;
#endif
                    }
                    cv_apply_isa((cv_isa)isa, in, out, 1.0f, v, got, count);
                    fesetround(FE_TONEAREST);
#if defined(__x86_64__)
                    _mm_setcsr(_mm_getcsr() & ~0x8040u);
#endif
                    ck_assert_msg(memcmp(got, want, bytes) == 0,
                                  "isa %u, %s -> %s: environment %zu changes the result",
                                  isa, st_dtype_name(in), st_dtype_name(out), m);
                }
                if (in != ST_F32)
                    n = f32_boundaries(v, max);
            }
    free(v);
    free(want);
    free(got);
}
END_TEST

static Suite *convert_suite(void)
{
    Suite *s = suite_create("convert");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, f16_every_pattern_round_trips);
    tcase_add_test(tc, bf16_every_pattern_round_trips);
    tcase_add_test(tc, f32_rounding_boundaries_match_references);
    tcase_add_test(tc, f32_f16_subnormals_match_references);
    tcase_add_test(tc, f32_random_patterns_match_references);
    tcase_add_test(tc, f16_hand_picked);
    tcase_add_test(tc, bf16_hand_picked);
    tcase_add_test(tc, supported_dtypes);
    tcase_add_test(tc, apply_is_little_endian);
    tcase_add_test(tc, apply_matches_scalars);
    tcase_add_test(tc, apply_scales_in_source_dtype);
    tcase_add_test(tc, apply_every_16bit_pattern_every_isa);
    tcase_add_test(tc, apply_f32_boundaries_every_isa);
    tcase_add_test(tc, apply_any_length_and_alignment);
    tcase_add_test(tc, apply_ignores_the_floating_point_environment);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(convert_suite)
