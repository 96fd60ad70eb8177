/* gguf.h: reading GGUF files (llama.cpp's model format), versions 2 and 3.
 *
 * Reader rules (those of ggml's gguf.cpp, stricter where it leaves room):
 *  - magic "GGUF", version 2 or 3, little-endian;
 *  - every count and length (entries, tensors, strings, arrays) is checked
 *    against the bytes left in the file before anything is allocated;
 *  - metadata: keys of 1..65535 bytes without control characters, no key
 *    twice; value types 0..12 including strings and arrays of any type,
 *    arrays of arrays nested at most GGUF_DEPTH_MAX deep; bools are 0 or 1;
 *  - general.alignment, when present, is a uint32 power of two (default 32);
 *  - tensors: names of 1..63 bytes without control characters, no name
 *    twice; at most 4 dimensions, each < 2^63, element count < 2^63; a type
 *    of the ggml table below, the first dimension a whole number of its
 *    blocks; byte size by checked arithmetic;
 *  - the data section starts at the first multiple of the alignment after
 *    the tensor infos; each tensor's offset is a multiple of the alignment,
 *    its bytes lie inside the data section and overlap no other tensor.
 * Opening reads the header only, never tensor data. */
#ifndef SUTURE_GGUF_H
#define SUTURE_GGUF_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#include "suture/error.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_NAME_MAX 63           /* tensor name bytes (ggml's 64 with NUL) */
#define GGUF_KEY_MAX 65535
#define GGUF_DEPTH_MAX 8           /* arrays of arrays */
#define GGUF_HEADER_MAX (1ULL << 31) /* metadata + tensor infos, bytes */

/* Metadata value types (the file's numbers). */
typedef enum gguf_vtype {
    GGUF_V_U8 = 0, GGUF_V_I8, GGUF_V_U16, GGUF_V_I16, GGUF_V_U32, GGUF_V_I32,
    GGUF_V_F32, GGUF_V_BOOL, GGUF_V_STRING, GGUF_V_ARRAY, GGUF_V_U64,
    GGUF_V_I64, GGUF_V_F64,
    GGUF_V_COUNT
} gguf_vtype;

/* The spec's name of a value type ("uint32"), or "?" when invalid. */
const char *gguf_vtype_name(uint32_t vt);
/* Bytes of one value of a fixed-size type; 0 for string, array, invalid. */
unsigned gguf_vtype_size(uint32_t vt);

/* ggml tensor types (the file's numbers; gaps are removed types). */
enum {
    GGUF_F32 = 0, GGUF_F16 = 1, GGUF_Q4_0 = 2, GGUF_Q4_1 = 3,
    GGUF_Q5_0 = 6, GGUF_Q5_1 = 7, GGUF_Q8_0 = 8, GGUF_Q8_1 = 9,
    GGUF_Q2_K = 10, GGUF_Q3_K = 11, GGUF_Q4_K = 12, GGUF_Q5_K = 13,
    GGUF_Q6_K = 14, GGUF_Q8_K = 15, GGUF_IQ2_XXS = 16, GGUF_IQ2_XS = 17,
    GGUF_IQ3_XXS = 18, GGUF_IQ1_S = 19, GGUF_IQ4_NL = 20, GGUF_IQ3_S = 21,
    GGUF_IQ2_S = 22, GGUF_IQ4_XS = 23, GGUF_I8 = 24, GGUF_I16 = 25,
    GGUF_I32 = 26, GGUF_I64 = 27, GGUF_F64 = 28, GGUF_IQ1_M = 29,
    GGUF_BF16 = 30, GGUF_TQ1_0 = 34, GGUF_TQ2_0 = 35, GGUF_MXFP4 = 39,
    GGUF_TYPE_COUNT = 40
};

/* ggml's name of a tensor type ("Q4_K"), or "?" when not a current type. */
const char *gguf_type_name(uint32_t type);
/* Elements per block and bytes per block; 0 when not a current type. */
unsigned gguf_type_block(uint32_t type);
unsigned gguf_type_size(uint32_t type);
/* Looks a type up by its exact name. 0, or -1 when unknown. */
int gguf_type_parse(const char *name, uint32_t *out);
/* Bytes of a tensor of that type and shape (ne[0] the row): 0, or -1 when
 * the type is unknown, ne[0] is not a whole number of blocks or the size
 * overflows 64 bits. */
int gguf_type_bytes(uint32_t type, const uint64_t *ne, size_t ndim,
                    uint64_t *bytes);

typedef struct gguf_tensor {
    char *name;
    uint32_t type;
    size_t ndim;
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the row (innermost); unused 1 */
    uint64_t elements;
    uint64_t offset;            /* relative to the data section */
    uint64_t bytes;
} gguf_tensor;

/* A metadata entry. The value's encoded bytes, as stored in the file, are
 * raw[0..raw_len): for a scalar its bytes, for a string the 8-byte length
 * and the bytes, for an array its elements (after the element type and
 * count). */
typedef struct gguf_kv {
    char *key;
    uint32_t type;          /* gguf_vtype */
    uint32_t elem;          /* element type of an array, else = type */
    uint64_t count;         /* array length, 1 for a scalar */
    const unsigned char *raw;
    size_t raw_len;
    char *text;             /* a string scalar, NUL-terminated; else NULL */
} gguf_kv;

typedef struct gguf_file gguf_file;

/* Opens path and validates its header by the rules above. A handle (free
 * with gguf_free) or NULL with err set ("NAME: ..." with the file's base
 * name, and the key or tensor where there is one). */
gguf_file *gguf_open(const char *path, sut_error *err);

/* Parses a file held in memory: buf holds its first len bytes, file_size
 * (>= len) is its whole size; the header must lie within buf. label names
 * the file in messages. Used by gguf_open's tests and the fuzzer. */
gguf_file *gguf_parse(const void *buf, size_t len, uint64_t file_size,
                      const char *label, sut_error *err);

/* Frees the handle; NULL is a no-op. */
void gguf_free(gguf_file *f);

/* True when the file at path starts with the GGUF magic. */
bool gguf_is_gguf(const char *path);

const char *gguf_path(const gguf_file *f);
uint32_t gguf_version(const gguf_file *f);
uint32_t gguf_alignment(const gguf_file *f);
uint64_t gguf_file_size(const gguf_file *f);
/* Absolute offset of the data section and its size up to the file's end. */
uint64_t gguf_data_start(const gguf_file *f);
uint64_t gguf_data_size(const gguf_file *f);

size_t gguf_kv_count(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, size_t i);   /* file order */
const gguf_kv *gguf_kv_find(const gguf_file *f, const char *key); /* or NULL */

/* A scalar of any integer type (or bool) that is >= 0. 0, or -1. */
int gguf_kv_u64(const gguf_kv *kv, uint64_t *out);
/* A scalar of any number type as a double. 0, or -1. */
int gguf_kv_f64(const gguf_kv *kv, double *out);
/* A string scalar: its bytes, NUL-terminated (a NUL inside ends it early;
 * *len, when not NULL, gets the stored length), or NULL when kv is not a
 * string. */
const char *gguf_kv_str(const gguf_kv *kv, size_t *len);
/* Element i of an integer or bool array that is >= 0. 0, or -1. */
int gguf_kv_arr_u64(const gguf_kv *kv, uint64_t i, uint64_t *out);
/* Element i of a number array as a double. 0, or -1. */
int gguf_kv_arr_f64(const gguf_kv *kv, uint64_t i, double *out);
/* Element i of a string array (not NUL-terminated; length in *len), or
 * NULL. O(i). */
const char *gguf_kv_arr_str(const gguf_kv *kv, uint64_t i, size_t *len);
/* Shorthands on a key: the value, or dflt when absent or of another type. */
uint64_t gguf_get_u64(const gguf_file *f, const char *key, uint64_t dflt);
const char *gguf_get_str(const gguf_file *f, const char *key);

size_t gguf_tensor_count(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i); /* file order */
const gguf_tensor *gguf_tensor_find(const gguf_file *f, const char *name);

/* ---- split files ------------------------------------------------------
 * llama.cpp's gguf-split writes NAME-00001-of-00003.gguf ...: every file
 * holds split.no (uint16, from 0), split.count (uint16) and
 * split.tensors.count (int32, the total); the first also holds the model's
 * metadata. */

/* Recognises a split file name: fills *no (1-based) and *count, and the
 * length of the prefix before "-0000i-of-0000N.gguf" in *prefix_len.
 * True when path is one. */
bool gguf_split_name(const char *path, unsigned *no, unsigned *count,
                     size_t *prefix_len);

/* A GGUF model: one file, or every file of a split set, checked together
 * (split keys, file names, tensor names unique across files). */
typedef struct gguf_set gguf_set;

/* Opens path; when it names a split file, opens every file of the set (any
 * of them may be given). NULL with err set. */
gguf_set *gguf_set_open(const char *path, sut_error *err);
void gguf_set_free(gguf_set *s);
size_t gguf_set_count(const gguf_set *s);
const gguf_file *gguf_set_file(const gguf_set *s, size_t i);
/* The file holding the metadata (the first). */
const gguf_file *gguf_set_meta(const gguf_set *s);

/* ---- the writer -------------------------------------------------------
 * Usage: gguf_writer_create; gguf_writer_kv* and gguf_writer_add any number
 * of times (keys and names unique); gguf_writer_begin writes the header
 * (version 3) and the padding to the alignment; then the bytes of each
 * tensor in the order added, through gguf_writer_write, _copy and _zero
 * (each tensor's data starts at a multiple of the alignment: the writer
 * pads between tensors and after the last one, as ggml does);
 * gguf_writer_finish checks every byte was written, fsyncs and closes.
 * Memory is proportional to the header, not the data. */
typedef struct gguf_writer gguf_writer;

/* Creates (O_EXCL) the file at path; alignment is a power of two (its
 * general.alignment key, when not 32, is the caller's to add). */
gguf_writer *gguf_writer_create(const char *path, uint32_t alignment,
                                sut_error *err);
/* Adds a metadata entry whose value is encoded as in gguf_kv (raw: for an
 * array the element bytes, count elements of type elem). 0 or -1. */
int gguf_writer_kv(gguf_writer *w, const char *key, uint32_t type,
                   uint32_t elem, uint64_t count, const void *raw,
                   size_t raw_len, sut_error *err);
int gguf_writer_kv_u32(gguf_writer *w, const char *key, uint32_t v,
                       sut_error *err);
int gguf_writer_kv_u16(gguf_writer *w, const char *key, uint16_t v,
                       sut_error *err);
int gguf_writer_kv_i32(gguf_writer *w, const char *key, int32_t v,
                       sut_error *err);
int gguf_writer_kv_str(gguf_writer *w, const char *key, const char *s,
                       sut_error *err);
/* Declares the next tensor. 0, or -1 (duplicate or bad name, unknown type,
 * row not whole blocks, size overflow). */
int gguf_writer_add(gguf_writer *w, const char *name, uint32_t type,
                    size_t ndim, const uint64_t *ne, sut_error *err);
int gguf_writer_begin(gguf_writer *w, sut_error *err);
int gguf_writer_write(gguf_writer *w, const void *buf, size_t n,
                      sut_error *err);
/* n bytes from src_fd at src_off through the copy engine. */
int gguf_writer_copy(gguf_writer *w, int src_fd, uint64_t src_off,
                     uint64_t n, sut_error *err);
/* n zero bytes, left as a hole of the new file (no write). */
int gguf_writer_zero(gguf_writer *w, uint64_t n, sut_error *err);
/* The data bytes declared so far (tensors and padding between them). */
uint64_t gguf_writer_data_size(const gguf_writer *w);
int gguf_writer_finish(gguf_writer *w, sut_error *err);
/* Frees the writer; an unfinished file is closed and removed. NULL is a
 * no-op. */
void gguf_writer_free(gguf_writer *w);

#endif
