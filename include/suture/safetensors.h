/* safetensors.h: reading and writing the safetensors format.
 *
 * Reader rules (those of the format's reference implementation):
 *  - 8-byte little-endian header length N; N <= ST_HEADER_MAX and 8 + N <=
 *    file size, both checked before anything is allocated;
 *  - the header is a UTF-8 JSON object; duplicate keys are rejected;
 *  - each entry except "__metadata__" has exactly "dtype", "shape" and
 *    "data_offsets"; shape and offsets are whole numbers (at most 2^53);
 *  - shape product x element bits / 8 == end - begin (checked arithmetic;
 *    sub-byte dtypes must come out in whole bytes);
 *  - offsets, once sorted, are contiguous from 0 with no hole and no overlap
 *    and end exactly at the end of the file;
 *  - "__metadata__", when present, is an object of string values.
 * Opening reads the header only, never tensor data. */
#ifndef SUTURE_SAFETENSORS_H
#define SUTURE_SAFETENSORS_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#include "suture/error.h"

#define ST_HEADER_MAX 100000000ULL

typedef enum st_dtype {
    ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_F8_E8M0,
    ST_I16, ST_U16, ST_F16, ST_BF16, ST_I32, ST_U32, ST_F32, ST_F64,
    ST_I64, ST_U64, ST_C64, ST_F4, ST_F6_E2M3, ST_F6_E3M2,
    ST_F8_E4M3FNUZ, ST_F8_E5M2FNUZ, /* added in safetensors 0.8 */
    ST_DTYPE_COUNT
} st_dtype;

/* The format's name of a dtype ("BF16"), or "?" for an invalid value. */
const char *st_dtype_name(st_dtype dt);
/* Looks up a dtype by its exact format name. 0, or -1 when unknown. */
int st_dtype_parse(const char *name, st_dtype *out);
/* Bits per element: 1..128 (BOOL is 8, F4 is 4, F6_* are 6). */
unsigned st_dtype_bits(st_dtype dt);

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    size_t ndim;          /* 0 for a scalar */
    uint64_t *shape;      /* ndim entries */
    uint64_t elements;    /* product of shape (1 for a scalar) */
    uint64_t begin, end;  /* data_offsets, relative to the data section */
} st_tensor;

static inline uint64_t st_tensor_bytes(const st_tensor *t)
{
    return t->end - t->begin;
}

typedef struct st_file st_file;

/* Opens path and validates its header by the rules above. Returns a handle
 * (free with st_free) or NULL with err set ("NAME: ..." where NAME is the
 * file's base name; "NAME: is a GGUF file" for a file starting with GGUF's
 * magic). Symlinks are followed; anything but a regular file is refused
 * without blocking (a FIFO is opened O_NONBLOCK). */
st_file *st_open(const char *path, sut_error *err);

/* Parses a header held in memory: hdr is the JSON text (hdr_len bytes, not
 * NUL-terminated), data_len the size of the data section that follows it.
 * label names the file in messages. Used by st_open and the fuzzers. */
st_file *st_parse_header(const char *hdr, size_t hdr_len, uint64_t data_len,
                         const char *label, sut_error *err);

/* Frees the handle; NULL is a no-op. */
void st_free(st_file *f);

/* The path given to st_open (or the label of st_parse_header). */
const char *st_path(const st_file *f);
/* Number of tensors. */
size_t st_count(const st_file *f);
/* The i-th tensor in header order (the order of the JSON keys). */
const st_tensor *st_at(const st_file *f, size_t i);
/* The header-order index of the i-th tensor in name order (strcmp). */
size_t st_name_order(const st_file *f, size_t i);
/* The tensor named name, or NULL. O(log n). */
const st_tensor *st_find(const st_file *f, const char *name);
/* Absolute file offset of the data section: 8 + header length. */
uint64_t st_data_start(const st_file *f);
/* Size of the data section in bytes (sum of tensor bytes). */
uint64_t st_data_size(const st_file *f);
/* __metadata__: number of entries, and the i-th key and value. */
size_t st_meta_count(const st_file *f);
const char *st_meta_key(const st_file *f, size_t i);
const char *st_meta_value(const st_file *f, size_t i);
/* The metadata value for key, or NULL. */
const char *st_meta_get(const st_file *f, const char *key);

/* Writer. Usage: st_writer_create; st_writer_meta / st_writer_add any
 * number of times; st_writer_begin writes the header; then the data of each
 * tensor in the order added, through st_writer_write and/or
 * st_writer_copy; st_writer_finish checks every byte was written, fsyncs
 * and closes. The header is padded with spaces to a multiple of 8 and its
 * __metadata__ holds "format": "pt" followed by the caller's entries.
 * Memory is proportional to the header, not the data. */
typedef struct st_writer st_writer;

/* Creates (O_EXCL) the file at path. NULL with err set on failure. */
st_writer *st_writer_create(const char *path, sut_error *err);
/* A writer of no file, labelled label in messages: st_writer_begin makes
 * and checks the header exactly as st_writer_begin of a file would (its
 * size limit, the reader's rules) and writes nothing; only meta, add and
 * begin are for it. Lets a plan predict the refusals of a build. NULL with
 * err set when out of memory. */
st_writer *st_writer_dry(const char *label, sut_error *err);
/* Adds a metadata entry (key "format" is reserved). 0 or -1. */
int st_writer_meta(st_writer *w, const char *key, const char *value,
                   sut_error *err);
/* Declares the next tensor. Its byte size follows from dtype and shape.
 * 0, or -1 (duplicate name, size overflow, sub-byte size not whole). */
int st_writer_add(st_writer *w, const char *name, st_dtype dtype,
                  size_t ndim, const uint64_t *shape, sut_error *err);
/* Asks that the data section start at an offset congruent to phase
 * modulo align (a power of two), so that data copied from a file where it
 * lay at such an offset can share that file's blocks: the header is then
 * padded with more spaces, still to a multiple of 8 (a phase that is not a
 * multiple of 8 is ignored). Call before st_writer_begin. */
void st_writer_align(st_writer *w, uint64_t phase, uint64_t align);
/* Writes the header. 0 or -1. */
int st_writer_begin(st_writer *w, sut_error *err);
/* Appends n data bytes. 0 or -1 (a write error, or more bytes than
 * declared). */
int st_writer_write(st_writer *w, const void *buf, size_t n, sut_error *err);
/* Appends n data bytes copied from src_fd at src_off through the copy
 * engine (copy_file_range where the kernel allows; the blocks shared with
 * the source where src_off and the output offset agree modulo XFER_BLOCK
 * and the file system clones, see xfer_copy_shared). 0 or -1. */
int st_writer_copy(st_writer *w, int src_fd, uint64_t src_off, uint64_t n,
                   sut_error *err);
/* Absolute offset in the output file where the data of the tensor added
 * i-th starts (valid after st_writer_begin). */
uint64_t st_writer_tensor_offset(const st_writer *w, size_t i);
/* The data bytes so far whose blocks are shared with a source, and those
 * written anew. */
void st_writer_stats(const st_writer *w, uint64_t *shared, uint64_t *copied);
/* The output file descriptor (valid until finish/free). */
int st_writer_fd(const st_writer *w);
/* Checks all declared bytes were written, fsyncs and closes. 0 or -1. */
int st_writer_finish(st_writer *w, sut_error *err);
/* Frees the writer. If it was not finished, the file is closed and removed.
 * NULL is a no-op. */
void st_writer_free(st_writer *w);

/* True when a and b have the same rank and dimensions. */
bool st_same_shape(const st_tensor *a, const st_tensor *b);

#endif
