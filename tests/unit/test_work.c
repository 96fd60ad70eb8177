/* test_work.c: the work layer: the pool, the meter, stepped work and
 * range hashing. */
#include <fcntl.h>
#include <signal.h>

#include "testutil.h"
#include "suture/work.h"

START_TEST(hash_range_counts_by_chunk)
{
    const char *dir = tu_tmpdir();
    size_t i, n = 5 * XFER_CHUNK / 2 + 3;
    unsigned char *buf = malloc(n);
    char path[300];
    tu_progress p = {0};
    work_meter meter;
    xfer_hash got, want;
    sut_error err;
    int fd;

    ck_assert_ptr_nonnull(buf);
    for (i = 0; i < n; i++)
        buf[i] = (unsigned char)(i * 7 + i / 251);
    snprintf(path, sizeof(path), "%s/data", dir);
    tu_write(path, buf, n);
    free(buf);
    fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(work_meter_init(&meter, n - 3, tu_progress_record, &p, &err), 0);
    ck_assert_int_eq(work_hash_range(fd, 3, n - 3, &meter, &got, &err), 0);
    work_meter_destroy(&meter);
    ck_assert_int_eq(xfer_hash_range(fd, 3, n - 3, &want, &err), 0);
    close(fd);
    ck_assert(got.lo == want.lo && got.hi == want.hi);
    tu_assert_progress(&p, n - 3);
    ck_assert_uint_eq(p.calls, 3);
}
END_TEST

/* Each job adds its index to a sum; job 5 fails when asked. */
struct sum {
    _Atomic unsigned long total;
    bool fail;
};

static int add_index(void *ctx, size_t i, sut_error *err)
{
    struct sum *s = ctx;

    if (s->fail && i == 5) {
        sut_error_set(err, "job 5 failed");
        return -1;
    }
    s->total += i;
    return 0;
}

START_TEST(pool_runs_every_job_once)
{
    struct sum s = {0, false};
    work_meter m;
    sut_error err;

    ck_assert_int_eq(work_meter_init(&m, 0, NULL, NULL, &err), 0);
    ck_assert_int_eq(work_parallel(100, 4, add_index, &s, &m, &err), 0);
    ck_assert_uint_eq(s.total, 4950);
    ck_assert(!m.failed);
    s = (struct sum){0, true};
    ck_assert_int_ne(work_parallel(100, 4, add_index, &s, &m, &err), 0);
    ck_assert_str_eq(err.msg, "job 5 failed");
    ck_assert(m.failed);
    work_meter_destroy(&m);
}
END_TEST

static int count_step(void *ctx, uint64_t off, uint64_t n, sut_error *err)
{
    *(uint64_t *)ctx += n;
    return 0;
}

START_TEST(steps_count_and_cancel)
{
    uint64_t len = 2 * (uint64_t)WORK_STEP + 5, seen = 0;
    volatile sig_atomic_t cancel = 0;
    tu_progress p = {0};
    work_meter m;
    sut_error err;

    ck_assert_int_eq(work_meter_init(&m, len, tu_progress_record, &p, &err), 0);
    m.cancel = &cancel;
    ck_assert_int_eq(work_steps(0, len, count_step, &seen, &m, &err), 0);
    ck_assert_uint_eq(seen, len);
    tu_assert_progress(&p, len);
    ck_assert_uint_eq(p.calls, 3);
    cancel = 1;
    ck_assert_int_ne(work_steps(0, len, count_step, &seen, &m, &err), 0);
    ck_assert_str_eq(err.msg, "interrupted");
    work_meter_destroy(&m);
}
END_TEST

static Suite *work_suite(void)
{
    Suite *s = suite_create("work");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, hash_range_counts_by_chunk);
    tcase_add_test(tc, pool_runs_every_job_once);
    tcase_add_test(tc, steps_count_and_cancel);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(work_suite)
