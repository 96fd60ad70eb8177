/* fuzz.h: helpers shared by the libFuzzer targets in tests/fuzz/. Each
 * target is one file fuzz_<target>.c defining LLVMFuzzerTestOneInput; its
 * seed corpus is corpus/<target>/. tests/fuzz/run builds and runs them. */
#ifndef SUTURE_FUZZ_H
#define SUTURE_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "suture/format.h"

/* The target: each fuzz_<target>.c defines it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a finding: abort so libFuzzer saves the input. */
#define FZ_CHECK(cond)                                                        \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* Every error message is one non-empty line that fmt_escape leaves as it
 * is: no control characters, bidi controls or invalid UTF-8 (a name from a
 * file must not break the line or reach the terminal raw). */
#define FZ_CHECK_MSG(msg)                                                     \
    do {                                                                      \
        char fz_safe_[4096];                                                  \
        fz_note("refused", (msg));                                            \
        FZ_CHECK(strlen(msg) > 0 && strlen(msg) < sizeof(fz_safe_));          \
        fmt_escape((msg), fz_safe_, sizeof(fz_safe_), 0);                     \
        FZ_CHECK(strcmp(fz_safe_, (msg)) == 0);                               \
    } while (0)

/* With FUZZ_VERBOSE set, prints what happened to an input (for checking
 * what the seeds reach: fuzz_x -runs=0 corpus/x). */
static inline void fz_note(const char *what, const char *msg)
{
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "%s: %s\n", what, msg);
}

/* A folder of this process, made on the first call and reused: inside
 * $SUTURE_FUZZ_TMP when set (tests/fuzz/run sets it and removes it), else
 * in /dev/shm, else in /tmp. */
static inline const char *fz_folder(void)
{
    static char path[512];
    const char *bases[] = { getenv("SUTURE_FUZZ_TMP"), "/dev/shm", "/tmp" };
    size_t i;

    for (i = 0; !path[0] && i < 3; i++) {
        if (!bases[i] || !*bases[i])
            continue;
        snprintf(path, sizeof(path), "%s/suture-fuzz-XXXXXX", bases[i]);
        if (!mkdtemp(path))
            path[0] = '\0';
    }
    if (!path[0])
        abort();
    return path;
}

/* dir/name as a static path (reused by the next call). */
static inline const char *fz_path(const char *dir, const char *name)
{
    static char buf[2][512];
    static int k;

    k = !k;
    if (snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name) >= (int)sizeof(buf[k]))
        abort();
    return buf[k];
}

/* Writes len bytes to dir/name, replacing it. */
static inline void fz_write(const char *dir, const char *name,
                            const void *data, size_t len)
{
    const char *p = fz_path(dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || close(fd))
        abort();
}

/* Writes a safetensors file dir/name: the header text hdr (padded with
 * spaces to a multiple of 8) and data_len zero bytes. */
static inline void fz_shard(const char *dir, const char *name, const char *hdr,
                            size_t data_len)
{
    size_t n = strlen(hdr), pad = (8 - n % 8) % 8, total = 8 + n + pad + data_len;
    unsigned char *buf = calloc(1, total);
    uint64_t len = n + pad;
    int i;

    if (!buf)
        abort();
    for (i = 0; i < 8; i++)
        buf[i] = (unsigned char)(len >> (8 * i));
    memcpy(buf + 8, hdr, n);
    memset(buf + 8 + n, ' ', pad);
    fz_write(dir, name, buf, total);
    free(buf);
}

/* Removes dir/name when present. */
static inline void fz_remove(const char *dir, const char *name)
{
    unlink(fz_path(dir, name));
}

#endif
