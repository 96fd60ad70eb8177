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
#include <ftw.h>

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

/* Folders made by tu_tmpdir, removed when the process that made them
 * exits (check runs each test in a child: its folders go with it). */
static struct {
    char path[256];
    pid_t owner;
} tu_made[256];
static size_t tu_nmade;

static inline int tu_rm_entry(const char *path, const struct stat *st, int type,
                              struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    remove(path);
    return 0;
}

static inline void tu_cleanup(void)
{
    size_t i;

    for (i = 0; i < tu_nmade; i++)
        if (tu_made[i].owner == getpid())
            nftw(tu_made[i].path, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new empty temporary folder (static buffer; each call makes another),
 * removed with everything in it when this process exits. */
static inline const char *tu_tmpdir(void)
{
    static char path[256];

    snprintf(path, sizeof(path), "/tmp/suture-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(path));
    if (tu_nmade == 0)
        atexit(tu_cleanup);
    if (tu_nmade < sizeof(tu_made) / sizeof(tu_made[0])) {
        snprintf(tu_made[tu_nmade].path, sizeof(tu_made[0].path), "%s", path);
        tu_made[tu_nmade++].owner = getpid();
    }
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
