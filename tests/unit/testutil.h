/* testutil.h: shared helpers for the libcheck unit tests. Each test file
 * tests/unit/test_<module>.c is its own binary: it defines its suite and
 * ends with SUT_TEST_MAIN(<suite function>). */
#ifndef SUTURE_TESTUTIL_H
#define SUTURE_TESTUTIL_H

#include <check.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* The real third-party fixtures: $SUTURE_FIXTURES, else
 * ../shared/fixtures from the repository root. Returns NULL (and the test
 * should skip, saying so) when the folder is absent. */
static inline const char *tu_fixtures(void)
{
    static char path[4096];
    struct stat st;
    const char *env = getenv("SUTURE_FIXTURES");

    snprintf(path, sizeof(path), "%s", env && *env ? env : "../shared/fixtures");
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

/* A new empty temporary folder (static buffer; each call makes another). */
static inline const char *tu_tmpdir(void)
{
    static char path[256];

    snprintf(path, sizeof(path), "/tmp/suture-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(path));
    return path;
}

/* Writes len bytes to path, failing the test on error. */
static inline void tu_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Asserts that haystack contains needle, printing both when it does not. */
#define tu_assert_contains(haystack, needle)                                  \
    ck_assert_msg(strstr((haystack), (needle)) != NULL,                      \
                  "expected \"%s\" in \"%s\"", (needle), (haystack))

/* Prints a skip notice (the test itself then returns). */
#define tu_skip(why) fprintf(stderr, "SKIP %s: %s\n", __func__, (why))

/* What a library progress callback (suture/progress.h) was given: the
 * number of calls, the last values, and whether every call kept the
 * contract (done never decreasing nor above total, total fixed, no two
 * calls at once). Pass tu_progress_record with a zeroed tu_progress. */
typedef struct tu_progress {
    atomic_int inside;
    size_t calls;
    uint64_t done, total;
    bool broken;
} tu_progress;

static inline void tu_progress_record(void *ctx, uint64_t done, uint64_t total)
{
    tu_progress *p = ctx;

    if (atomic_exchange(&p->inside, 1) != 0)
        p->broken = true;
    if (done > total || (p->calls && (done < p->done || total != p->total)))
        p->broken = true;
    p->calls++;
    p->done = done;
    p->total = total;
    atomic_store(&p->inside, 0);
}

/* Asserts that p saw a sequence that kept the contract and ended at
 * done == total == want. */
#define tu_assert_progress(p, want)                                           \
    do {                                                                      \
        ck_assert_msg(!(p)->broken, "progress calls broke the contract");   \
        ck_assert_uint_ge((p)->calls, 1);                                     \
        ck_assert_uint_eq((p)->total, (want));                                \
        ck_assert_uint_eq((p)->done, (want));                                 \
    } while (0)

#define SUT_TEST_MAIN(suite_fn)                                               \
    int main(void)                                                            \
    {                                                                         \
        SRunner *sr = srunner_create(suite_fn());                             \
        int failed;                                                           \
        srunner_run_all(sr, CK_NORMAL);                                       \
        failed = srunner_ntests_failed(sr);                                   \
        srunner_free(sr);                                                     \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                          \
    }

#endif
