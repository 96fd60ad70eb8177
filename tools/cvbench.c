/* cvbench: measures cv_apply on every pair of F32, F16 and BF16.
 *
 *   cvbench [MIB] [RUNS]
 *
 * Fills MIB MiB (default 256) of each source dtype with the same seeded
 * weight-like values (about normal, sigma 0.02: mostly F16 normals, a few
 * F16 subnormals), then times cv_apply over the whole source in 1 MiB
 * chunks, as build converts, for each pair with scale 1 and with scale 0.5,
 * with the loops of each instruction set this CPU runs (cv_apply picks the
 * last one listed). Each time is the best of RUNS (default 3) runs. Prints
 * one line per case: the pair, the scale, the instruction set, the seconds,
 * and GB/s of source bytes read and of output bytes written (a pair within
 * one dtype at scale 1 is the memcpy that cv_apply does, for reference).
 * Exits 2 on a bad argument or when out of memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "suture/convert.h"
#include "format/convert_int.h"

#define CHUNK (1u << 20)

static const st_dtype dtypes[] = {ST_F32, ST_F16, ST_BF16};
static const char *const isa_names[] = {"portable", "avx2+f16c"};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t dtype_size(st_dtype dt)
{
    return dt == ST_F32 ? 4 : 2;
}

/* n values of about N(0, 0.02) from a seeded xorshift (sum of four
 * uniforms). */
static void fill(float *v, size_t n)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    size_t i;
    int k;

    for (i = 0; i < n; i++) {
        float sum = 0;
        for (k = 0; k < 4; k++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            sum += (float)(s >> 40) / (float)(1u << 24);
        }
        v[i] = (sum - 2.0f) * 0.02f * 1.732f;
    }
}

/* Seconds to convert bytes of src (dtype in) to dst, in CHUNK pieces. */
static double time_pass(cv_isa isa, st_dtype in, st_dtype out, float scale,
                        const unsigned char *src, unsigned char *dst,
                        size_t bytes)
{
    size_t isz = dtype_size(in), osz = dtype_size(out), off;
    double t0 = now();

    for (off = 0; off < bytes; off += CHUNK) {
        size_t len = bytes - off < CHUNK ? bytes - off : CHUNK;
        cv_apply_isa(isa, in, out, scale, src + off, dst + off / isz * osz,
                     len / isz);
    }
    return now() - t0;
}

static void bench_pair(cv_isa isa, st_dtype in, st_dtype out, float scale,
                       const unsigned char *src, unsigned char *dst,
                       size_t bytes, int runs)
{
    double best = 0;
    size_t outbytes = bytes / dtype_size(in) * dtype_size(out);
    int r;

    for (r = 0; r < runs; r++) {
        double t = time_pass(isa, in, out, scale, src, dst, bytes);
        if (r == 0 || t < best)
            best = t;
    }
    printf("%-4s -> %-4s  scale %-3g  %-9s  %8.4f s  read %6.2f GB/s  write %6.2f GB/s%s\n",
           st_dtype_name(in), st_dtype_name(out), (double)scale, isa_names[isa], best,
           (double)bytes / best / 1e9, (double)outbytes / best / 1e9,
           in == out && scale == 1.0f ? "  (memcpy)" : "");
}

int main(int argc, char **argv)
{
    long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 256;
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    size_t bytes, n, a, b, k;
    unsigned isa;
    unsigned char *src[3] = {NULL, NULL, NULL}, *dst = NULL;
    float *vals;
    int rc = 2;

    if (argc > 3 || mib < 1 || mib > 4096 || runs < 1) {
        fprintf(stderr, "usage: cvbench [MIB (1-4096)] [RUNS (1 or more)]\n");
        return 2;
    }
    bytes = (size_t)mib << 20;
    n = bytes / 2;
    vals = malloc(n * sizeof(*vals));
    dst = malloc(2 * bytes);
    for (a = 0; a < 3; a++)
        src[a] = malloc(bytes);
    if (!vals || !dst || !src[0] || !src[1] || !src[2]) {
        fprintf(stderr, "cvbench: out of memory\n");
        goto out;
    }
    fill(vals, n);
    memcpy(src[0], vals, bytes);
    cv_apply(ST_F32, ST_F16, 1.0f, vals, src[1], n);
    cv_apply(ST_F32, ST_BF16, 1.0f, vals, src[2], n);
    memset(dst, 0, 2 * bytes);
    printf("cvbench: %ld MiB of each source dtype, 1 MiB chunks, best of %d runs\n",
           mib, runs);
    for (a = 0; a < 3; a++)
        for (b = 0; b < 3; b++)
            for (k = 0; k < 2; k++)
                for (isa = CV_PORTABLE; isa <= CV_AVX2_F16C; isa++)
                    if (cv_isa_available((cv_isa)isa) &&
                        (isa == CV_PORTABLE || a != b || k == 1))
                        bench_pair((cv_isa)isa, dtypes[a], dtypes[b], k ? 0.5f : 1.0f,
                                   src[a], dst, bytes, runs);
    rc = 0;
out:
    for (a = 0; a < 3; a++)
        free(src[a]);
    free(dst);
    free(vals);
    return rc;
}
