/* xfer.c: the copy engine and XXH3-128 hashing (see xfer.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <linux/fs.h>
#include <unistd.h>
#include <xxhash.h>

#include "suture/xfer.h"

/* The most copy_file_range is asked for at once (a multiple of ROUND). */
#define CFR_MAX (1u << 30)
/* A file system without copy offload has copy_file_range splice through a
 * 16-page pipe: 64 KiB rounds, each cheap only when it fills one aligned
 * 64 KiB of the destination. */
#define ROUND (64u << 10)
#define PAGE 4096u
/* The pipe of copy_spliced: rounds of 1 MiB at any alignment. */
#define PIPE_BYTES (1u << 20)

static atomic_bool force_fallback;

/* True when [off, off+len) fits in off_t. */
static bool in_range(uint64_t off, uint64_t len)
{
    return len <= INT64_MAX && off <= (uint64_t)INT64_MAX - len;
}

void xfer_force_fallback(bool on)
{
    atomic_store(&force_fallback, on);
}

/* True when fd lies on a file system whose copy_file_range is its own
 * (done by the server: NFS, SMB, Ceph, FUSE), or when that cannot be told. */
static bool offloads(int fd)
{
    struct statfs s;

    if (fstatfs(fd, &s) != 0)
        return true;
    switch ((unsigned long)s.f_type) {
    case 0x6969UL:     /* NFS */
    case 0xFE534D42UL: /* SMB2 */
    case 0xFF534D42UL: /* CIFS */
    case 0x00C36400UL: /* Ceph */
    case 0x65735546UL: /* FUSE */
        return true;
    default:
        return false;
    }
}

/* Copies what copy_file_range will, advancing the offsets and *left.
 * Returns with *left > 0 when the rest must go another way: the kernel
 * refused (EXDEV, ENOSYS, EINVAL, EOPNOTSUPP, EBADF, ETXTBSY, ...), failed
 * (the fallback then reports which side) or returned 0 (the fallback tells
 * end of file from a file system that cannot say). After the first call
 * the destination offset is a multiple of ROUND. */
static void copy_kernel(int src, uint64_t *src_off, int dst, uint64_t *dst_off,
                        uint64_t *left)
{
    while (*left > 0) {
        loff_t in = (loff_t)*src_off, out = (loff_t)*dst_off;
        uint64_t room = CFR_MAX - *dst_off % ROUND;
        size_t want = *left > room ? (size_t)room : (size_t)*left;
        ssize_t r = copy_file_range(src, &in, dst, &out, want, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        *src_off += (uint64_t)r;
        *dst_off += (uint64_t)r;
        *left -= (uint64_t)r;
    }
}

/* Splices n bytes from the pipe rd to dst at dst_off. Returns the count
 * written: less than n when splice failed. */
static size_t drain(int rd, int dst, uint64_t dst_off, size_t n)
{
    size_t done = 0;

    while (done < n) {
        loff_t out = (loff_t)(dst_off + done);
        ssize_t w = splice(rd, NULL, dst, &out, n - done, SPLICE_F_MOVE);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    return done;
}

/* Copies what splice will through a private pipe of up to PIPE_BYTES (no
 * byte through user space, any alignment, across file systems), advancing
 * the offsets and *left; returns with *left > 0 as copy_kernel does. */
static void copy_spliced(int src, uint64_t *src_off, int dst, uint64_t *dst_off,
                         uint64_t *left)
{
    int p[2];

    if (pipe2(p, O_CLOEXEC) != 0)
        return;
    (void)fcntl(p[1], F_SETPIPE_SZ, (int)PIPE_BYTES);
    while (*left > 0) {
        loff_t in = (loff_t)*src_off;
        size_t want = *left > PIPE_BYTES ? PIPE_BYTES : (size_t)*left, w;
        ssize_t r = splice(src, &in, p[1], NULL, want, SPLICE_F_MOVE);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        w = drain(p[0], dst, *dst_off, (size_t)r);
        *src_off += w;
        *dst_off += w;
        *left -= w;
        if (w < (size_t)r)
            break;
    }
    close(p[0]);
    close(p[1]);
}

ssize_t xfer_pread(int fd, void *dst, size_t n, uint64_t off)
{
    char *buf = dst;
    size_t done = 0;

    while (done < n) {
        ssize_t r = pread(fd, buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

int xfer_pread_exact(int fd, void *buf, size_t n, uint64_t off)
{
    ssize_t r = xfer_pread(fd, buf, n, off);

    if (r >= 0 && (size_t)r < n)
        errno = 0;
    return r >= 0 && (size_t)r == n ? 0 : -1;
}

/* Reads exactly n bytes at off. 0, or -1 with err set. */
static int read_exact(int fd, char *buf, size_t n, uint64_t off, sut_error *err)
{
    ssize_t r = xfer_pread(fd, buf, n, off);

    if (r < 0) {
        sut_error_set(err, "read failed: %s", strerror(errno));
        return -1;
    }
    if ((size_t)r < n) {
        sut_error_set(err, "unexpected end of file");
        return -1;
    }
    return 0;
}

/* Writes exactly n bytes at off. 0, or -1 with err set. */
static int write_exact(int fd, const char *buf, size_t n, uint64_t off,
                       sut_error *err)
{
    size_t done = 0;

    while (done < n) {
        ssize_t w = pwrite(fd, buf + done, n - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            sut_error_set(err, "write failed: %s",
                          w < 0 ? strerror(errno) : "no progress");
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

static int copy_buffered(int src, uint64_t src_off, int dst, uint64_t dst_off,
                         uint64_t len, sut_error *err)
{
    size_t size = len < XFER_CHUNK ? (size_t)len : XFER_CHUNK;
    char *buf = malloc(size);
    int rc = -1;

    if (!buf) {
        sut_error_oom(err, NULL);
        return -1;
    }
    while (len > 0) {
        size_t n = len < size ? (size_t)len : size;
        if (read_exact(src, buf, n, src_off, err) != 0 ||
            write_exact(dst, buf, n, dst_off, err) != 0)
            goto out;
        src_off += n;
        dst_off += n;
        len -= n;
    }
    rc = 0;
out:
    free(buf);
    return rc;
}

/* xfer_copy, with copy_file_range tried first when kernel_first. */
static int copy_with(int src_fd, uint64_t src_off, int dst_fd, uint64_t dst_off,
                     uint64_t len, bool kernel_first, sut_error *err)
{
    if (!in_range(src_off, len) || !in_range(dst_off, len)) {
        sut_error_set(err, "read failed: range beyond the largest file offset");
        return -1;
    }
    if (!atomic_load(&force_fallback)) {
        if (kernel_first)
            copy_kernel(src_fd, &src_off, dst_fd, &dst_off, &len);
        if (len > 0)
            copy_spliced(src_fd, &src_off, dst_fd, &dst_off, &len);
    }
    if (len == 0)
        return 0;
    return copy_buffered(src_fd, src_off, dst_fd, dst_off, len, err);
}

int xfer_copy(int src_fd, uint64_t src_off, int dst_fd, uint64_t dst_off,
              uint64_t len, sut_error *err)
{
    return copy_with(src_fd, src_off, dst_fd, dst_off, len,
                     (src_off - dst_off) % PAGE == 0 || offloads(dst_fd), err);
}

/* Clones len bytes (whole blocks, or up to the source's end) at src_off
 * of src to dst_off of dst. True when the file system did. */
static bool clone_range(int src, uint64_t src_off, int dst, uint64_t dst_off,
                        uint64_t len)
{
    struct file_clone_range r = {.src_fd = src, .src_offset = src_off,
                                 .src_length = len, .dest_offset = dst_off};
    int rc;

    do
        rc = ioctl(dst, FICLONERANGE, &r);
    while (rc != 0 && errno == EINTR);
    return rc == 0;
}

int xfer_copy_shared(int src_fd, uint64_t src_off, int dst_fd, uint64_t dst_off,
                     uint64_t len, xfer_stats *stats, sut_error *err)
{
    uint64_t head = (XFER_BLOCK - src_off % XFER_BLOCK) % XFER_BLOCK, mid = 0;
    int rc;

    if (!in_range(src_off, len) || !in_range(dst_off, len))
        return copy_with(src_fd, src_off, dst_fd, dst_off, len, false, err);
    if ((src_off - dst_off) % XFER_BLOCK == 0 && head < len &&
        !atomic_load(&force_fallback))
        mid = (len - head) / XFER_BLOCK * XFER_BLOCK;
    if (mid > 0 && !clone_range(src_fd, src_off + head, dst_fd, dst_off + head, mid))
        mid = 0;
    if (mid == 0)
        rc = copy_with(src_fd, src_off, dst_fd, dst_off, len, offloads(dst_fd), err);
    else
        rc = copy_with(src_fd, src_off, dst_fd, dst_off, head, false, err) != 0 ||
             copy_with(src_fd, src_off + head + mid, dst_fd, dst_off + head + mid,
                       len - head - mid, false, err) != 0 ? -1 : 0;
    if (rc == 0 && stats) {
        stats->shared += mid;
        stats->copied += len - mid;
    }
    return rc;
}

int xfer_clone_file(int src_fd, int dst_fd)
{
    int rc;

    if (atomic_load(&force_fallback)) {
        errno = EOPNOTSUPP;
        return -1;
    }
    do
        rc = ioctl(dst_fd, FICLONE, src_fd);
    while (rc != 0 && errno == EINTR);
    return rc;
}

int xfer_read(int fd, uint64_t off, uint64_t len, size_t align,
              xfer_chunk_fn fn, void *ctx, sut_error *err)
{
    size_t chunk, size;
    char *buf;
    int rc = -1;

    if (align == 0)
        align = 1;
    if (align > XFER_CHUNK || !in_range(off, len)) {
        sut_error_set(err, "read failed: %s", align > XFER_CHUNK ?
                      "alignment larger than the buffer" :
                      "range beyond the largest file offset");
        return -1;
    }
    chunk = XFER_CHUNK - XFER_CHUNK % align;
    size = len < chunk ? (size_t)len : chunk;
    if (!(buf = malloc(size ? size : 1))) {
        sut_error_oom(err, NULL);
        return -1;
    }
    xfer_advise(fd, off, len);
    while (len > 0) {
        size_t n = len < size ? (size_t)len : size;
        if (read_exact(fd, buf, n, off, err) != 0 || fn(ctx, buf, n, err) != 0)
            goto out;
        off += n;
        len -= n;
    }
    rc = 0;
out:
    free(buf);
    return rc;
}

static int hash_chunk(void *ctx, const void *buf, size_t n, sut_error *err)
{
    if (XXH3_128bits_update(ctx, buf, n) != XXH_OK) {
        sut_error_set(err, "hashing failed");
        return -1;
    }
    return 0;
}

int xfer_hash_range(int fd, uint64_t off, uint64_t len, xfer_hash *out,
                    sut_error *err)
{
    XXH3_state_t *st = XXH3_createState();
    XXH128_hash_t h;
    int rc = -1;

    if (!st || XXH3_128bits_reset(st) != XXH_OK) {
        sut_error_oom(err, NULL);
        goto out;
    }
    if (xfer_read(fd, off, len, 1, hash_chunk, st, err) != 0)
        goto out;
    h = XXH3_128bits_digest(st);
    out->lo = h.low64;
    out->hi = h.high64;
    rc = 0;
out:
    XXH3_freeState(st);
    return rc;
}

xfer_hash xfer_hash_mem(const void *buf, size_t n)
{
    XXH128_hash_t h = XXH3_128bits(buf, n);
    xfer_hash out = {h.low64, h.high64};

    return out;
}

/* The canonical (big-endian) form, as xxhsum -H2 prints it. */
void xfer_hash_hex(xfer_hash h, char out[33])
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.hi,
             (unsigned long long)h.lo);
}

void xfer_advise(int fd, uint64_t off, uint64_t len)
{
    off_t l = len > INT64_MAX ? 0 : (off_t)len;

    if (off <= INT64_MAX)
        (void)posix_fadvise(fd, (off_t)off, l, POSIX_FADV_SEQUENTIAL);
}
