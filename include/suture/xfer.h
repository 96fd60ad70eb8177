/* xfer.h: the copy engine. Moves byte ranges between files as fast as the
 * machine allows: copy_file_range, falling back to pread/pwrite with a
 * large buffer when the kernel refuses (EXDEV, ENOSYS, EINVAL, EOPNOTSUPP
 * ...). Interrupted and short transfers are resumed. Thread-safe. */
#ifndef SUTURE_XFER_H
#define SUTURE_XFER_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>

#include "suture/error.h"

#define XFER_CHUNK (1u << 20) /* the bounded buffer size: 1 MiB */

/* Reads up to n bytes at off of fd (its file position unused), retrying
 * interrupted and short reads. Returns the count read (less than n only at
 * end of file) or -1 with errno set. */
ssize_t xfer_pread(int fd, void *buf, size_t n, uint64_t off);
/* Reads exactly n bytes at off. 0, or -1 (errno set; 0 at end of file). */
int xfer_pread_exact(int fd, void *buf, size_t n, uint64_t off);

/* Test hook: when on, xfer_copy never tries copy_file_range and always
 * uses the pread/pwrite path (process-wide; off by default). */
void xfer_force_fallback(bool on);

/* Copies len bytes from src_fd at src_off to dst_fd at dst_off (file
 * positions are not used or moved). Returns 0, or -1 with err set to
 * "read failed: <strerror>" / "write failed: <strerror>" / "unexpected end
 * of file"; the caller prefixes the file names. */
int xfer_copy(int src_fd, uint64_t src_off, int dst_fd, uint64_t dst_off,
              uint64_t len, sut_error *err);

/* The unit of block sharing: ranges whose offsets agree modulo XFER_BLOCK
 * can share the block-aligned part of their bytes. */
#define XFER_BLOCK 4096u

/* What a copy did: bytes whose blocks the destination now shares with the
 * source (cloned), and bytes written anew. */
typedef struct xfer_stats {
    uint64_t shared, copied;
} xfer_stats;

/* Like xfer_copy, but when src_off and dst_off agree modulo XFER_BLOCK the
 * block-aligned middle of the range is cloned (FICLONERANGE: the file then
 * shares the source's blocks) and only the unaligned head and tail bytes
 * are copied. Where the file system cannot share (ext4, tmpfs, two file
 * systems) or the offsets do not agree, it silently copies as xfer_copy
 * does, but through splice even when the offsets agree (on ext4 cheaper in
 * the kernel than copy_file_range's 64 KiB rounds), copy_file_range only
 * where the file system copies server-side (NFS, SMB, Ceph, FUSE). Adds to
 * *stats (may be NULL). 0, or -1 with err set as xfer_copy. */
int xfer_copy_shared(int src_fd, uint64_t src_off, int dst_fd, uint64_t dst_off,
                     uint64_t len, xfer_stats *stats, sut_error *err);

/* Makes dst_fd (an empty file opened for writing) share every block of
 * src_fd (FICLONE). 0, or -1 with errno set when the file system cannot
 * (the caller then copies). */
int xfer_clone_file(int src_fd, int dst_fd);

/* Calls fn(ctx, buf, n) for consecutive chunks (at most XFER_CHUNK bytes,
 * a whole number of `align` bytes except possibly the last; align >= 1) of
 * the range [off, off+len) of fd. fn returns 0 to go on, -1 to stop (it sets
 * err itself). Returns 0 or -1. */
typedef int (*xfer_chunk_fn)(void *ctx, const void *buf, size_t n,
                             sut_error *err);
int xfer_read(int fd, uint64_t off, uint64_t len, size_t align,
              xfer_chunk_fn fn, void *ctx, sut_error *err);

/* A 128-bit XXH3 digest. */
typedef struct xfer_hash {
    uint64_t lo, hi;
} xfer_hash;

/* Hashes the range [off, off+len) of fd with XXH3-128. 0 or -1. */
int xfer_hash_range(int fd, uint64_t off, uint64_t len, xfer_hash *out,
                    sut_error *err);

/* Hashes a memory buffer with XXH3-128. */
xfer_hash xfer_hash_mem(const void *buf, size_t n);

/* Writes the digest as 32 lowercase hex digits plus NUL into out[33]. */
void xfer_hash_hex(xfer_hash h, char out[33]);

/* Advises the kernel that [off, off+len) of fd will be read sequentially
 * (posix_fadvise; len 0 means to the end of the file); failures are
 * ignored. */
void xfer_advise(int fd, uint64_t off, uint64_t len);

#endif
