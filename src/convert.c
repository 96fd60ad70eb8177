/* convert.c: F32/F16/BF16 element conversion and scaling (see convert.h). */
#include <string.h>

#include "suture/convert.h"

static uint32_t f32_bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof(u));
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;

    memcpy(&f, &u, sizeof(f));
    return f;
}

bool cv_supported(st_dtype dt)
{
    return dt == ST_F32 || dt == ST_F16 || dt == ST_BF16;
}

/* F16 -> F32 is exact; a NaN keeps its sign and payload and becomes quiet. */
float cv_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;

    if (exp == 0x1f)
        return bits_f32(sign | 0x7f800000u | (man << 13) |
                        (man ? 0x00400000u : 0));
    if (exp == 0) {
        if (man == 0)
            return bits_f32(sign);
        exp = 113;
        while (!(man & 0x400u)) {
            man <<= 1;
            exp--;
        }
        return bits_f32(sign | (exp << 23) | ((man & 0x3ffu) << 13));
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

/* Rounds mant >> shift to nearest, ties to even (1 <= shift <= 31). */
static uint32_t shift_rne(uint32_t mant, unsigned shift)
{
    uint32_t q = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);

    if (rem > half || (rem == half && (q & 1u)))
        q++;
    return q;
}

/* F32 -> F16, to nearest, ties to even. A carry out of the mantissa moves
 * into the exponent, so the largest values round up to infinity and the
 * largest subnormals to the smallest normal. */
uint16_t cv_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;

    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00u |
                          (man ? 0x0200u | (man >> 13) : 0));
    if (exp > 142)
        return (uint16_t)(sign | 0x7c00u);
    if (exp >= 113)
        return (uint16_t)(sign + shift_rne(((exp - 112) << 23) | man, 13));
    if (exp < 102)
        return sign;
    return (uint16_t)(sign + shift_rne(man | 0x800000u, 126 - exp));
}

/* BF16 -> F32 is exact; a NaN becomes quiet. */
float cv_bf16_to_f32(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;

    if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu))
        x |= 0x00400000u;
    return bits_f32(x);
}

/* F32 -> BF16, to nearest, ties to even; a NaN keeps its sign and the top
 * of its payload and becomes quiet. */
uint16_t cv_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);

    if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu))
        return (uint16_t)((x >> 16) | 0x0040u);
    return (uint16_t)(shift_rne(x, 16));
}

static uint16_t load16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void store16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static float load32(const unsigned char *p)
{
    return bits_f32((uint32_t)p[0] | (uint32_t)p[1] << 8 |
                    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static void store32(unsigned char *p, float f)
{
    uint32_t u = f32_bits(f);

    p[0] = (unsigned char)u;
    p[1] = (unsigned char)(u >> 8);
    p[2] = (unsigned char)(u >> 16);
    p[3] = (unsigned char)(u >> 24);
}

/* Element i of src as a float (exact). */
static float load(st_dtype dt, const unsigned char *src, size_t i)
{
    switch (dt) {
    case ST_F16:
        return cv_f16_to_f32(load16(src + 2 * i));
    case ST_BF16:
        return cv_bf16_to_f32(load16(src + 2 * i));
    default:
        return load32(src + 4 * i);
    }
}

/* Stores v rounded to dtype dt as element i of dst. */
static void store(st_dtype dt, unsigned char *dst, size_t i, float v)
{
    switch (dt) {
    case ST_F16:
        store16(dst + 2 * i, cv_f32_to_f16(v));
        break;
    case ST_BF16:
        store16(dst + 2 * i, cv_f32_to_bf16(v));
        break;
    default:
        store32(dst + 4 * i, v);
        break;
    }
}

/* v rounded to dtype dt and widened back to float. */
static float round_to(st_dtype dt, float v)
{
    switch (dt) {
    case ST_F16:
        return cv_f16_to_f32(cv_f32_to_f16(v));
    case ST_BF16:
        return cv_bf16_to_f32(cv_f32_to_bf16(v));
    default:
        return v;
    }
}

void cv_apply(st_dtype in, st_dtype out, float scale, const void *src,
              void *dst, size_t n)
{
    const unsigned char *s = src;
    unsigned char *d = dst;
    size_t i;

    if (in == out && scale == 1.0f) {
        memcpy(dst, src, n * (in == ST_F32 ? 4 : 2));
        return;
    }
    if (scale == 1.0f) {
        for (i = 0; i < n; i++)
            store(out, d, i, load(in, s, i));
        return;
    }
    for (i = 0; i < n; i++)
        store(out, d, i, round_to(in, load(in, s, i) * scale));
}
