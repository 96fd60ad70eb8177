/* testutil.h: shared helpers for the libcheck unit tests. Each test file
 * tests/unit/test_<module>.c is its own binary: it defines its suite and
 * ends with SUT_TEST_MAIN(<suite function>). */
#ifndef SUTURE_TESTUTIL_H
#define SUTURE_TESTUTIL_H

#include <check.h>
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
