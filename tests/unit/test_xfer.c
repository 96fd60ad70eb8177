/* test_xfer.c: the copy engine (kernel path and forced fallback), chunked
 * reads and XXH3-128 hashing. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>

#include "testutil.h"
#include "suture/xfer.h"

#define BIG ((size_t)20 * 1000 * 1000 + 123) /* spans many XFER_CHUNK chunks */

/* n bytes of a fixed pseudo-random sequence (caller frees). */
static unsigned char *pattern(size_t n, uint64_t seed)
{
    unsigned char *buf = malloc(n);
    uint64_t x = seed * 2654435761u + 1;
    size_t i;

    ck_assert_ptr_nonnull(buf);
    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (unsigned char)(x >> 24);
    }
    return buf;
}

static char *tmp_file(const char *name)
{
    static char paths[4][512];
    static int next;
    char *p = paths[next++ % 4];

    snprintf(p, 512, "%s/%s", tu_tmpdir(), name);
    return p;
}

static int open_new(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

    ck_assert_int_ge(fd, 0);
    return fd;
}

/* Loop tests run twice: _i 0 with copy_file_range, 1 with the fallback. */
static void set_mode(int i)
{
    xfer_force_fallback(i == 1);
}

START_TEST(test_copy_small)
{
    unsigned char *src = pattern(1000, 1), got[650];
    char *sp = tmp_file("src"), *dp = tmp_file("dst");
    sut_error err = {{0}};
    int in, out;

    set_mode(_i);
    tu_write(sp, src, 1000);
    in = open(sp, O_RDONLY);
    out = open_new(dp);
    ck_assert_int_eq(xfer_copy(in, 100, out, 50, 500, &err), 0);
    ck_assert_int_eq(pread(out, got, sizeof(got), 0), 550);
    ck_assert_uint_eq(got[0], 0);
    ck_assert_uint_eq(got[49], 0);
    ck_assert_int_eq(memcmp(got + 50, src + 100, 500), 0);
    /* file positions are neither used nor moved */
    ck_assert_int_eq(lseek(in, 0, SEEK_CUR), 0);
    ck_assert_int_eq(lseek(out, 0, SEEK_CUR), 0);
    ck_assert_int_eq(xfer_copy(in, 0, out, 0, 0, &err), 0);
    close(in);
    close(out);
    free(src);
    xfer_force_fallback(false);
}
END_TEST

START_TEST(test_copy_large)
{
    unsigned char *src = pattern(BIG, 2);
    char *sp = tmp_file("src"), *dp = tmp_file("dst");
    sut_error err = {{0}};
    xfer_hash want = xfer_hash_mem(src + 7, BIG - 7), got;
    int in, out;

    set_mode(_i);
    tu_write(sp, src, BIG);
    in = open(sp, O_RDONLY);
    out = open_new(dp);
    ck_assert_int_eq(xfer_copy(in, 7, out, 3, BIG - 7, &err), 0);
    ck_assert_int_eq(lseek(out, 0, SEEK_END), BIG - 4);
    ck_assert_int_eq(xfer_hash_range(out, 3, BIG - 7, &got, &err), 0);
    ck_assert_uint_eq(got.lo, want.lo);
    ck_assert_uint_eq(got.hi, want.hi);
    close(in);
    close(out);
    unlink(sp);
    unlink(dp);
    free(src);
    xfer_force_fallback(false);
}
END_TEST

/* Offsets that take each kernel path: page phases that agree
 * (copy_file_range, its first call ending on a 64 KiB boundary of the
 * destination) and that differ (splice through a private pipe). */
static const struct {
    uint64_t src, dst;
} phases[] = {
    {4096 + 7, 7},
    {0, 65536},
    {5, 3 * 4096 + 9},
    {65536 + 100, 1},
};

START_TEST(test_copy_phases)
{
    size_t n = (3u << 20) + 777, k;
    unsigned char *src = pattern(n + 65536 + 100, 4);
    char *sp = tmp_file("src"), *dp = tmp_file("dst");
    sut_error err = {{0}};
    int in, out;

    tu_write(sp, src, n + 65536 + 100);
    for (k = 0; k < sizeof(phases) / sizeof(phases[0]); k++) {
        xfer_hash want = xfer_hash_mem(src + phases[k].src, n), got;
        in = open(sp, O_RDONLY);
        out = open_new(dp);
        ck_assert_int_eq(xfer_copy(in, phases[k].src, out, phases[k].dst, n, &err), 0);
        ck_assert_int_eq(lseek(out, 0, SEEK_END), (off_t)(phases[k].dst + n));
        ck_assert_int_eq(xfer_hash_range(out, phases[k].dst, n, &got, &err), 0);
        ck_assert_uint_eq(got.lo, want.lo);
        ck_assert_uint_eq(got.hi, want.hi);
        close(in);
        close(out);
    }
    unlink(sp);
    unlink(dp);
    free(src);
}
END_TEST

START_TEST(test_copy_short_source)
{
    unsigned char *src = pattern(1000, 3);
    char *sp = tmp_file("src"), *dp = tmp_file("dst");
    sut_error err = {{0}};
    int in, out;

    set_mode(_i);
    tu_write(sp, src, 1000);
    in = open(sp, O_RDONLY);
    out = open_new(dp);
    ck_assert_int_eq(xfer_copy(in, 900, out, 0, 101, &err), -1);
    ck_assert_str_eq(err.msg, "unexpected end of file");
    ck_assert_int_eq(xfer_copy(in, 5000, out, 0, 1, &err), -1);
    ck_assert_str_eq(err.msg, "unexpected end of file");
    close(in);
    close(out);
    free(src);
    xfer_force_fallback(false);
}
END_TEST

START_TEST(test_copy_bad_descriptors)
{
    char *sp = tmp_file("src"), *dp = tmp_file("dst");
    sut_error err = {{0}};
    int in, out, ro, pipefd[2];

    set_mode(_i);
    tu_write(sp, "0123456789", 10);
    in = open(sp, O_RDONLY);
    out = open_new(dp);
    ro = open(sp, O_RDONLY);
    ck_assert_int_eq(xfer_copy(in, 0, ro, 0, 10, &err), -1);
    tu_assert_contains(err.msg, "write failed: Bad file descriptor");
    ck_assert_int_eq(xfer_copy(out, 0, in, 0, 10, &err), -1);
    /* out is readable (O_RDWR) but empty; in is not writable */
    tu_assert_contains(err.msg, "unexpected end of file");
    close(out);
    out = open(dp, O_WRONLY);
    ck_assert_int_eq(xfer_copy(out, 0, ro, 0, 1, &err), -1);
    tu_assert_contains(err.msg, "read failed: Bad file descriptor");
    /* a pipe cannot be written at an offset */
    ck_assert_int_eq(pipe(pipefd), 0);
    ck_assert_int_eq(xfer_copy(in, 0, pipefd[1], 0, 10, &err), -1);
    tu_assert_contains(err.msg, "write failed: Illegal seek");
    ck_assert_int_eq(xfer_copy(in, (uint64_t)INT64_MAX, out, 0, 2, &err), -1);
    tu_assert_contains(err.msg, "range beyond the largest file offset");
    close(pipefd[0]);
    close(pipefd[1]);
    close(in);
    close(out);
    close(ro);
    xfer_force_fallback(false);
}
END_TEST

/* Chunks seen by xfer_read, checked against the source bytes. */
typedef struct chunks {
    const unsigned char *want;
    size_t align, seen, calls, stop_after;
} chunks;

static int on_chunk(void *ctx, const void *buf, size_t n, sut_error *err)
{
    chunks *c = ctx;

    ck_assert_uint_le(n, XFER_CHUNK);
    ck_assert_int_eq(memcmp(buf, c->want + c->seen, n), 0);
    c->seen += n;
    c->calls++;
    if (n % c->align != 0)
        ck_assert_msg(0, "chunk of %zu bytes is not whole elements", n);
    if (c->stop_after && c->calls == c->stop_after) {
        sut_error_set(err, "stopped by the callback");
        return -1;
    }
    return 0;
}

START_TEST(test_read_chunks)
{
    size_t len = 12 * 2000000; /* a whole number of 12-byte elements */
    unsigned char *src = pattern(len + 5, 4);
    char *sp = tmp_file("src");
    chunks c = {src + 5, 12, 0, 0, 0};
    sut_error err = {{0}};
    int fd;

    tu_write(sp, src, len + 5);
    fd = open(sp, O_RDONLY);
    ck_assert_int_eq(xfer_read(fd, 5, len, 12, on_chunk, &c, &err), 0);
    ck_assert_uint_eq(c.seen, len);
    /* chunks of XFER_CHUNK rounded down to 12 bytes, then the rest */
    ck_assert_uint_eq(c.calls, (len + XFER_CHUNK - XFER_CHUNK % 12 - 1) /
                                   (XFER_CHUNK - XFER_CHUNK % 12));
    c = (chunks){src, 1, 0, 0, 2};
    ck_assert_int_eq(xfer_read(fd, 0, len, 1, on_chunk, &c, &err), -1);
    ck_assert_str_eq(err.msg, "stopped by the callback");
    ck_assert_uint_eq(c.seen, 2 * XFER_CHUNK);
    c = (chunks){src, 1, 0, 0, 0};
    ck_assert_int_eq(xfer_read(fd, 0, 0, 1, on_chunk, &c, &err), 0);
    ck_assert_uint_eq(c.calls, 0);
    ck_assert_int_eq(xfer_read(fd, len, 10, 1, on_chunk, &c, &err), -1);
    ck_assert_str_eq(err.msg, "unexpected end of file");
    ck_assert_int_eq(xfer_read(fd, 0, 10, XFER_CHUNK + 1, on_chunk, &c, &err), -1);
    tu_assert_contains(err.msg, "alignment larger than the buffer");
    close(fd);
    unlink(sp);
    free(src);
}
END_TEST

START_TEST(test_hash_known)
{
    char hex[33];

    xfer_hash_hex(xfer_hash_mem("", 0), hex);
    ck_assert_str_eq(hex, "99aa06d3014798d86001c324468d497f");
    xfer_hash_hex(xfer_hash_mem("suture", 6), hex);
    ck_assert_str_eq(hex, "de923ed04e93b5cfe59aefbd764f5cba");
}
END_TEST

START_TEST(test_hash_range)
{
    unsigned char *src = pattern(BIG, 5);
    char *sp = tmp_file("src");
    sut_error err = {{0}};
    xfer_hash got, want = xfer_hash_mem(src + 5, BIG - 10);
    int fd;

    tu_write(sp, src, BIG);
    fd = open(sp, O_RDONLY);
    ck_assert_int_eq(xfer_hash_range(fd, 5, BIG - 10, &got, &err), 0);
    ck_assert_uint_eq(got.lo, want.lo);
    ck_assert_uint_eq(got.hi, want.hi);
    ck_assert_int_eq(xfer_hash_range(fd, 0, 0, &got, &err), 0);
    ck_assert_uint_eq(got.lo, xfer_hash_mem("", 0).lo);
    ck_assert_int_eq(xfer_hash_range(fd, 5, BIG, &got, &err), -1);
    ck_assert_str_eq(err.msg, "unexpected end of file");
    close(fd);
    unlink(sp);
    free(src);
}
END_TEST

START_TEST(test_advise_ignores_failures)
{
    int pipefd[2];

    ck_assert_int_eq(pipe(pipefd), 0);
    xfer_advise(pipefd[0], 0, 100);
    xfer_advise(-1, 0, 100);
    xfer_advise(pipefd[0], UINT64_MAX, UINT64_MAX);
    close(pipefd[0]);
    close(pipefd[1]);
}
END_TEST

/* The block-sharing copy gives the same bytes at any phase; what it shares
 * is whole blocks, and nothing when the phases differ or the fallback is
 * forced (where the file system cannot clone, as the test folder usually,
 * it shares nothing and copies all). */
START_TEST(test_copy_shared)
{
    size_t n = (3u << 20) + 777, k;
    unsigned char *src = pattern(n + 65536 + 100, 5);
    char *sp = tmp_file("src"), *dp = tmp_file("dst");
    sut_error err = {{0}};
    int in, out;

    set_mode(_i);
    tu_write(sp, src, n + 65536 + 100);
    for (k = 0; k < sizeof(phases) / sizeof(phases[0]); k++) {
        xfer_hash want = xfer_hash_mem(src + phases[k].src, n), got;
        xfer_stats st = {0, 0};
        bool agree = (phases[k].src - phases[k].dst) % XFER_BLOCK == 0;
        in = open(sp, O_RDONLY);
        out = open_new(dp);
        ck_assert_int_eq(xfer_copy_shared(in, phases[k].src, out, phases[k].dst, n, &st,
                                          &err), 0);
        ck_assert_int_eq(lseek(out, 0, SEEK_END), (off_t)(phases[k].dst + n));
        ck_assert_int_eq(xfer_hash_range(out, phases[k].dst, n, &got, &err), 0);
        ck_assert_uint_eq(got.lo, want.lo);
        ck_assert_uint_eq(got.hi, want.hi);
        ck_assert_uint_eq(st.shared + st.copied, n);
        ck_assert_uint_eq(st.shared % XFER_BLOCK, 0);
        if (!agree || _i == 1)
            ck_assert_uint_eq(st.shared, 0);
        close(in);
        close(out);
    }
    unlink(sp);
    unlink(dp);
    free(src);
    xfer_force_fallback(false);
}
END_TEST

/* A whole-file clone either works (the same bytes) or says it cannot. */
START_TEST(test_clone_file)
{
    unsigned char *src = pattern(20000, 6), got[20000];
    char *sp = tmp_file("src"), *dp = tmp_file("dst");
    int in, out;

    tu_write(sp, src, 20000);
    in = open(sp, O_RDONLY);
    out = open_new(dp);
    if (xfer_clone_file(in, out) == 0) {
        ck_assert_int_eq(pread(out, got, sizeof(got), 0), 20000);
        ck_assert_int_eq(memcmp(got, src, 20000), 0);
    } else {
        ck_assert_int_eq(lseek(out, 0, SEEK_END), 0);
    }
    xfer_force_fallback(true);
    ck_assert_int_eq(xfer_clone_file(in, out), -1);
    ck_assert_int_eq(errno, EOPNOTSUPP);
    xfer_force_fallback(false);
    close(in);
    close(out);
    unlink(sp);
    unlink(dp);
    free(src);
}
END_TEST

static Suite *xfer_suite(void)
{
    Suite *s = suite_create("xfer");
    TCase *tc = tcase_create("xfer");

    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_copy_small, 0, 2);
    tcase_add_loop_test(tc, test_copy_large, 0, 2);
    tcase_add_test(tc, test_copy_phases);
    tcase_add_loop_test(tc, test_copy_shared, 0, 2);
    tcase_add_test(tc, test_clone_file);
    tcase_add_loop_test(tc, test_copy_short_source, 0, 2);
    tcase_add_loop_test(tc, test_copy_bad_descriptors, 0, 2);
    tcase_add_test(tc, test_read_chunks);
    tcase_add_test(tc, test_hash_known);
    tcase_add_test(tc, test_hash_range);
    tcase_add_test(tc, test_advise_ignores_failures);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(xfer_suite)
