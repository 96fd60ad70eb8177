/* test_gguf.c: the GGUF reader (a catalogue of broken files, valid but
 * unusual files, the type table, split sets, the real fixtures). */
#include <fcntl.h>

#include "testutil.h"
#include "ggufbuild.h"
#include "suture/gguf.h"
#include "suture/gguf_model.h"

#define V_U8 0
#define V_U32 4
#define V_BOOL 7
#define V_STRING 8
#define V_ARRAY 9
#define V_U64 10

/* The smallest good file: one key, tensor 'a' (F32, 8 elements). */
static void good_file(gb *g)
{
    gb_head(g, 3, 1, 1);
    gb_kv_str(g, "general.architecture", "llama");
    gb_tensor1(g, "a", GGUF_F32, 0, 8);
    gb_data(g, 32, 32);
}

/* ---- the catalogue of broken files ------------------------------------ */

enum defect {
    D_EMPTY, D_MAGIC, D_VERSION1, D_VERSION4, D_BIG_ENDIAN, D_TRUNC_COUNTS,
    D_KV_COUNT_HUGE, D_TENSOR_COUNT_HUGE, D_KEY_EMPTY, D_KEY_LONG,
    D_KEY_PAST_END, D_KEY_CONTROL, D_DUP_KEY, D_VTYPE, D_TRUNC_VALUE,
    D_BOOL, D_STRING_LONG, D_ARRAY_ELEM_TYPE, D_ARRAY_COUNT,
    D_ARRAY_STR_COUNT, D_ARRAY_BOOL, D_NESTED_DEEP, D_NESTED_BAD,
    D_NESTED_TRUNC, D_ALIGN_TYPE, D_ALIGN_POW2, D_ALIGN_ZERO, D_NAME_EMPTY,
    D_NAME_LONG, D_NAME_CONTROL, D_DUP_NAME, D_NDIM, D_NE_NEG,
    D_NE_OVERFLOW, D_TYPE_REMOVED, D_TYPE_HUGE, D_ROW_BLOCKS,
    D_BYTES_OVERFLOW, D_TRUNC_TENSOR, D_OFFSET_UNALIGNED, D_OFFSET_PAST,
    D_OFFSET_HUGE, D_OVERLAP, D_DATA_START_PAST, D_ALIGN_SHIFTS,
    D_COUNT
};

static const char *const expect[D_COUNT] = {
    [D_EMPTY] = "model.gguf: file is 0 bytes, too short for a GGUF header",
    [D_MAGIC] = "model.gguf: not a GGUF file (magic 47 47 4d 4c, expected \"GGUF\")",
    [D_VERSION1] = "model.gguf: GGUF version 1 is not supported (only 2 and 3)",
    [D_VERSION4] = "model.gguf: GGUF version 4 is not supported (only 2 and 3)",
    [D_BIG_ENDIAN] = "model.gguf: big-endian GGUF files are not supported",
    [D_TRUNC_COUNTS] = "model.gguf: file ends inside the tensor count (offset 8)",
    [D_KV_COUNT_HUGE] = "model.gguf: 4611686018427387904 metadata entries cannot fit in the 32 bytes left in the file",
    [D_TENSOR_COUNT_HUGE] = "model.gguf: 1000 tensor infos cannot fit in the",
    [D_KEY_EMPTY] = "model.gguf: metadata entry 0: key length 0 is empty",
    [D_KEY_LONG] = "model.gguf: metadata entry 0: key length 70000 is over the limit of 65535 bytes",
    [D_KEY_PAST_END] = "model.gguf: metadata entry 0: key length 1000 is past the end of the file",
    [D_KEY_CONTROL] = "model.gguf: metadata entry 0: key holds a control character",
    [D_DUP_KEY] = "model.gguf: key 'general.architecture': occurs twice in the metadata",
    [D_VTYPE] = "model.gguf: key 'k': unknown value type 13",
    [D_TRUNC_VALUE] = "model.gguf: key 'k': file ends inside its uint64 value",
    [D_BOOL] = "model.gguf: key 'k': bool value 2 is not 0 or 1",
    [D_STRING_LONG] = "model.gguf: key 'k': string of 1099511627776 bytes exceeds the",
    [D_ARRAY_ELEM_TYPE] = "model.gguf: key 'k': array of unknown value type 99",
    [D_ARRAY_COUNT] = "model.gguf: key 'k': array of 2305843009213693952 uint32 values cannot fit",
    [D_ARRAY_STR_COUNT] = "model.gguf: key 'k': array of 1000000 string values cannot fit",
    [D_ARRAY_BOOL] = "model.gguf: key 'k': bool value 7 is not 0 or 1",
    [D_NESTED_DEEP] = "model.gguf: key 'k': arrays nested more than 8 deep",
    [D_NESTED_BAD] = "model.gguf: key 'k': array of unknown value type 200",
    [D_NESTED_TRUNC] = "model.gguf: key 'k': array of 3 uint8 values cannot fit in the 1 bytes left in the file",
    [D_ALIGN_TYPE] = "model.gguf: key 'general.alignment': is a uint64, not a uint32",
    [D_ALIGN_POW2] = "model.gguf: key 'general.alignment': 48 is not a power of two",
    [D_ALIGN_ZERO] = "model.gguf: key 'general.alignment': 0 is not a power of two",
    [D_NAME_EMPTY] = "model.gguf: tensor 0: name length 0 is empty",
    [D_NAME_LONG] = "model.gguf: tensor 0: name length 64 is over ggml's limit of 63 bytes",
    [D_NAME_CONTROL] = "model.gguf: tensor 1: name holds a control character",
    [D_DUP_NAME] = "model.gguf: tensor 'a': occurs twice in the tensor infos",
    [D_NDIM] = "model.gguf: tensor 'a': 5 dimensions (ggml allows at most 4)",
    [D_NE_NEG] = "model.gguf: tensor 'a': dimension 1 is negative (-1)",
    [D_NE_OVERFLOW] = "model.gguf: tensor 'a': element count overflows 63 bits",
    [D_TYPE_REMOVED] = "model.gguf: tensor 'a': unknown ggml type 4",
    [D_TYPE_HUGE] = "model.gguf: tensor 'a': unknown ggml type 40",
    [D_ROW_BLOCKS] = "model.gguf: tensor 'a': row of 100 elements is not a whole number of Q4_K blocks (256 elements)",
    [D_BYTES_OVERFLOW] = "model.gguf: tensor 'a': size in bytes overflows 64 bits",
    [D_TRUNC_TENSOR] = "model.gguf: file ends inside a tensor offset",
    [D_OFFSET_UNALIGNED] = "model.gguf: tensor 'a': offset 16 is not a multiple of the alignment 32",
    [D_OFFSET_PAST] = "model.gguf: tensor 'a': data at offset 32 (32 bytes) extends past the end of the data section (32 bytes)",
    [D_OFFSET_HUGE] = "model.gguf: tensor 'a': data at offset 18446744073709551584 (32 bytes) extends past the end of the data section (32 bytes)",
    [D_OVERLAP] = "model.gguf: tensor 'b': data [32, 96) overlaps tensor 'a' [0, 64)",
    [D_DATA_START_PAST] = "model.gguf: the data section would start at 96, past the end of the file (90 bytes)",
    [D_ALIGN_SHIFTS] = "model.gguf: tensor 'b': offset 32 is not a multiple of the alignment 64",
};

/* A file with one metadata entry 'k' whose type and value the caller
 * appends, and no tensor. */
static void one_key(gb *g, uint32_t type)
{
    gb_head(g, 3, 0, 1);
    gb_key(g, "k", type);
}

static void build_nested(gb *g, int d)
{
    int i;

    one_key(g, V_ARRAY);
    if (d == D_NESTED_DEEP) {
        for (i = 0; i < 9; i++) {
            gb_u32(g, V_ARRAY);
            gb_u64(g, 1);
        }
        gb_u32(g, V_U8);
        gb_u64(g, 0);
        return;
    }
    gb_u32(g, V_ARRAY);
    gb_u64(g, 2);
    gb_u32(g, V_U8);   /* first element: [1, 2] */
    gb_u64(g, 2);
    gb_u8(g, 1);
    gb_u8(g, 2);
    if (d == D_NESTED_BAD) {
        gb_u32(g, 200);
        gb_u64(g, 0);
    } else {           /* second element: 3 bytes promised, 1 given */
        gb_u32(g, V_U8);
        gb_u64(g, 3);
        gb_u8(g, 1);
    }
}

static void build_header_defect(gb *g, int d)
{
    switch (d) {
    case D_EMPTY:
        break;
    case D_MAGIC:
        gb_raw(g, "GGML", 4);
        gb_data(g, 1, 40);
        break;
    case D_VERSION1: case D_VERSION4:
        gb_head(g, d == D_VERSION1 ? 1 : 4, 0, 0);
        break;
    case D_BIG_ENDIAN:
        gb_head(g, 0x03000000, 0, 0);
        break;
    case D_TRUNC_COUNTS:
        gb_raw(g, "GGUF\3\0\0\0\1\0\0\0", 12);
        break;
    case D_KV_COUNT_HUGE:
        gb_head(g, 3, 0, 1ULL << 62);
        gb_data(g, 1, 32);
        break;
    case D_TENSOR_COUNT_HUGE:
        gb_head(g, 3, 1000, 0);
        gb_data(g, 1, 100);
        break;
    }
}

static void build_key_defect(gb *g, int d)
{
    static char big[70001];

    switch (d) {
    case D_KEY_EMPTY:
        gb_head(g, 3, 0, 1);
        gb_key(g, "", V_U32);
        gb_u32(g, 1);
        break;
    case D_KEY_LONG:
        memset(big, 'k', 70000);
        gb_head(g, 3, 0, 1);
        gb_key(g, big, V_U32);
        gb_u32(g, 1);
        break;
    case D_KEY_PAST_END:
        gb_head(g, 3, 0, 1);
        gb_u64(g, 1000);
        gb_data(g, 1, 100);
        break;
    case D_KEY_CONTROL:
        gb_head(g, 3, 0, 1);
        gb_kv_u32(g, "a\nb", 1);
        break;
    case D_DUP_KEY:
        gb_head(g, 3, 0, 3);
        gb_kv_str(g, "general.architecture", "llama");
        gb_kv_u32(g, "llama.block_count", 1);
        gb_kv_str(g, "general.architecture", "qwen2");
        break;
    }
}

static void build_value_defect(gb *g, int d)
{
    switch (d) {
    case D_VTYPE:
        one_key(g, 13);
        gb_u32(g, 0);
        break;
    case D_TRUNC_VALUE:
        one_key(g, V_U64);
        gb_raw(g, "\1\2\3", 3);
        break;
    case D_BOOL:
        one_key(g, V_BOOL);
        gb_u8(g, 2);
        break;
    case D_STRING_LONG:
        one_key(g, V_STRING);
        gb_u64(g, 1ULL << 40);
        gb_data(g, 1, 64);
        break;
    case D_ARRAY_ELEM_TYPE:
        one_key(g, V_ARRAY);
        gb_u32(g, 99);
        gb_u64(g, 1);
        break;
    case D_ARRAY_COUNT:
        one_key(g, V_ARRAY);
        gb_u32(g, V_U32);
        gb_u64(g, 1ULL << 61);
        gb_data(g, 1, 64);
        break;
    case D_ARRAY_STR_COUNT:
        one_key(g, V_ARRAY);
        gb_u32(g, V_STRING);
        gb_u64(g, 1000000);
        gb_data(g, 1, 4096);
        break;
    case D_ARRAY_BOOL:
        one_key(g, V_ARRAY);
        gb_u32(g, V_BOOL);
        gb_u64(g, 3);
        gb_raw(g, "\1\0\7", 3);
        break;
    case D_NESTED_DEEP: case D_NESTED_BAD: case D_NESTED_TRUNC:
        build_nested(g, d);
        break;
    }
}

static void build_align_defect(gb *g, int d)
{
    gb_head(g, 3, 0, 1);
    if (d == D_ALIGN_TYPE) {
        gb_key(g, "general.alignment", V_U64);
        gb_u64(g, 64);
    } else {
        gb_kv_u32(g, "general.alignment", d == D_ALIGN_POW2 ? 48 : 0);
    }
}

static void build_tensor_defect(gb *g, int d)
{
    uint64_t ne[5] = {8, 1, 1, 1, 1};

    gb_head(g, 3, d == D_DUP_NAME || d == D_NAME_CONTROL ? 2 : 1, 0);
    switch (d) {
    case D_NAME_EMPTY:
        gb_tensor1(g, "", GGUF_F32, 0, 8);
        break;
    case D_NAME_LONG:
        gb_tensor1(g, "blk.0.a_name_of_sixty_four_bytes_which_is_one_too_many_xxxxxxxxx",
                   GGUF_F32, 0, 8);
        break;
    case D_NAME_CONTROL:
        gb_tensor1(g, "a", GGUF_F32, 0, 8);
        gb_tensor1(g, "b\033[2J", GGUF_F32, 32, 8);
        break;
    case D_DUP_NAME:
        gb_tensor1(g, "a", GGUF_F32, 0, 8);
        gb_tensor1(g, "a", GGUF_F32, 32, 8);
        break;
    case D_NDIM:
        gb_tensor(g, "a", GGUF_F32, 0, 5, ne);
        break;
    case D_NE_NEG:
        ne[1] = UINT64_MAX;
        gb_tensor(g, "a", GGUF_F32, 0, 2, ne);
        break;
    case D_NE_OVERFLOW:
        ne[0] = ne[1] = 1ULL << 32;
        gb_tensor(g, "a", GGUF_F32, 0, 2, ne);
        break;
    case D_TYPE_REMOVED: case D_TYPE_HUGE:
        gb_tensor1(g, "a", d == D_TYPE_REMOVED ? 4 : 40, 0, 32);
        break;
    case D_ROW_BLOCKS:
        gb_tensor1(g, "a", GGUF_Q4_K, 0, 100);
        break;
    case D_BYTES_OVERFLOW:
        gb_tensor1(g, "a", GGUF_F64, 0, 1ULL << 62);
        break;
    case D_TRUNC_TENSOR:
        gb_str(g, "a");
        gb_u32(g, 1);
        gb_u64(g, 8);
        gb_u32(g, GGUF_F32);
        gb_u32(g, 0);
        return;
    }
    gb_data(g, 32, 64);
}

static void build_data_defect(gb *g, int d)
{
    gb_head(g, 3, d == D_OFFSET_UNALIGNED || d == D_OFFSET_PAST ||
            d == D_OFFSET_HUGE ? 1 : 2, d == D_ALIGN_SHIFTS);
    if (d == D_ALIGN_SHIFTS)
        gb_kv_u32(g, "general.alignment", 64);
    switch (d) {
    case D_OFFSET_UNALIGNED:
        gb_tensor1(g, "a", GGUF_F32, 16, 4);
        gb_data(g, 32, 32);
        break;
    case D_OFFSET_PAST: case D_OFFSET_HUGE:
        gb_tensor1(g, "a", GGUF_F32, d == D_OFFSET_PAST ? 32 : UINT64_MAX - 31, 8);
        gb_data(g, 32, 32);
        break;
    case D_OVERLAP:
        gb_tensor1(g, "a", GGUF_F32, 0, 16);
        gb_tensor1(g, "b", GGUF_F32, 32, 16);
        gb_data(g, 32, 128);
        break;
    case D_DATA_START_PAST:
        gb_tensor1(g, "a", GGUF_F32, 0, 0);
        gb_tensor1(g, "b", GGUF_F32, 0, 0);
        break;
    case D_ALIGN_SHIFTS:
        gb_tensor1(g, "a", GGUF_F32, 0, 8);
        gb_tensor1(g, "b", GGUF_F32, 32, 8);
        gb_data(g, 64, 128);
        break;
    }
}

static void build_defect(gb *g, int d)
{
    if (d <= D_TENSOR_COUNT_HUGE)
        build_header_defect(g, d);
    else if (d <= D_DUP_KEY)
        build_key_defect(g, d);
    else if (d <= D_NESTED_TRUNC)
        build_value_defect(g, d);
    else if (d <= D_ALIGN_ZERO)
        build_align_defect(g, d);
    else if (d <= D_TRUNC_TENSOR)
        build_tensor_defect(g, d);
    else
        build_data_defect(g, d);
}

static char *write_gb(const gb *g, const char *name)
{
    static char path[512];

    snprintf(path, sizeof(path), "%s/%s", tu_tmpdir(), name);
    tu_write(path, g->b ? (const void *)g->b : "", g->n);
    return path;
}

START_TEST(test_catalogue)
{
    sut_error err = {{0}};
    gb g = {0};
    gguf_file *f;

    ck_assert_msg(expect[_i] != NULL, "defect %d has no message", _i);
    build_defect(&g, _i);
    f = gguf_open(write_gb(&g, "model.gguf"), &err);
    ck_assert_msg(f == NULL, "defect %d was accepted", _i);
    tu_assert_contains(err.msg, expect[_i]);
    ck_assert_msg(strchr(err.msg, '\n') == NULL, "message has a newline");
    free(g.b);
}
END_TEST

/* The same files through the in-memory entry point the fuzzer uses. */
START_TEST(test_catalogue_in_memory)
{
    sut_error err = {{0}};
    gb g = {0};
    gguf_file *f;

    build_defect(&g, _i);
    f = gguf_parse(g.b, g.n, g.n, "model.gguf", &err);
    ck_assert_msg(f == NULL, "defect %d was accepted", _i);
    tu_assert_contains(err.msg, expect[_i]);
    free(g.b);
}
END_TEST

/* ---- valid files ------------------------------------------------------ */

static gguf_file *parse_ok(const gb *g)
{
    sut_error err = {{0}};
    gguf_file *f = gguf_parse(g->b, g->n, g->n, "model.gguf", &err);

    ck_assert_msg(f != NULL, "unexpected error: %s", err.msg);
    return f;
}

START_TEST(test_good_file)
{
    gb g = {0};
    gguf_file *f;
    const gguf_tensor *t;

    good_file(&g);
    f = parse_ok(&g);
    ck_assert_uint_eq(gguf_version(f), 3);
    ck_assert_uint_eq(gguf_alignment(f), 32);
    ck_assert_uint_eq(gguf_kv_count(f), 1);
    ck_assert_str_eq(gguf_get_str(f, "general.architecture"), "llama");
    ck_assert_uint_eq(gguf_tensor_count(f), 1);
    t = gguf_tensor_find(f, "a");
    ck_assert_ptr_eq(t, gguf_tensor_at(f, 0));
    ck_assert_uint_eq(t->bytes, 32);
    ck_assert_uint_eq(t->elements, 8);
    ck_assert_uint_eq(gguf_data_start(f) % 32, 0);
    ck_assert_uint_eq(gguf_data_size(f), 32);
    ck_assert_ptr_null(gguf_tensor_find(f, "b"));
    gguf_free(f);
    gguf_free(NULL);
    free(g.b);
}
END_TEST

START_TEST(test_version2)
{
    gb g = {0};
    gguf_file *f;

    gb_head(&g, 2, 0, 1);
    gb_kv_u32(&g, "llama.block_count", 7);
    f = parse_ok(&g);
    ck_assert_uint_eq(gguf_version(f), 2);
    ck_assert_uint_eq(gguf_get_u64(f, "llama.block_count", 0), 7);
    ck_assert_uint_eq(gguf_get_u64(f, "absent", 5), 5);
    gguf_free(f);
    free(g.b);
}
END_TEST

/* Every value type, arrays of arrays and of strings, through the
 * accessors. */
START_TEST(test_every_value_type)
{
    static const unsigned sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    gb g = {0};
    gguf_file *f;
    const gguf_kv *kv;
    uint64_t u;
    double x;
    size_t len;
    char key[16];
    unsigned t;

    gb_head(&g, 3, 0, 15);
    for (t = 0; t < 13; t++) {
        snprintf(key, sizeof(key), "t%u", t);
        gb_key(&g, key, t == 9 ? 8 : t);
        if (t == 8 || t == 9)
            gb_str(&g, "hi");
        else if (t == 6)
            gb_u32(&g, 0x40490fdb); /* 3.14159274f */
        else
            gb_le(&g, t == 1 ? 0xff : 1, sizes[t]);
    }
    gb_key(&g, "strings", V_ARRAY);
    gb_u32(&g, V_STRING);
    gb_u64(&g, 3);
    gb_str(&g, "a");
    gb_str(&g, "");
    gb_str(&g, "ccc");
    gb_key(&g, "nested", V_ARRAY);
    gb_u32(&g, V_ARRAY);
    gb_u64(&g, 2);
    gb_u32(&g, V_U32);
    gb_u64(&g, 1);
    gb_u32(&g, 5);
    gb_u32(&g, V_STRING);
    gb_u64(&g, 1);
    gb_str(&g, "x");
    f = parse_ok(&g);
    ck_assert_uint_eq(gguf_kv_count(f), 15);
    ck_assert_int_eq(gguf_kv_u64(gguf_kv_find(f, "t1"), &u), -1); /* int8 -1 */
    ck_assert_int_eq(gguf_kv_f64(gguf_kv_find(f, "t1"), &x), 0);
    ck_assert(x == -1.0);
    ck_assert_int_eq(gguf_kv_f64(gguf_kv_find(f, "t6"), &x), 0);
    ck_assert(x > 3.14159 && x < 3.1416);
    ck_assert_int_eq(gguf_kv_u64(gguf_kv_find(f, "t7"), &u), 0);
    ck_assert_uint_eq(u, 1);
    ck_assert_int_eq(gguf_kv_u64(gguf_kv_find(f, "t12"), &u), -1); /* f64 */
    ck_assert_str_eq(gguf_get_str(f, "t8"), "hi");
    kv = gguf_kv_find(f, "strings");
    ck_assert_uint_eq(kv->count, 3);
    ck_assert_uint_eq(kv->elem, V_STRING);
    ck_assert(memcmp(gguf_kv_arr_str(kv, 2, &len), "ccc", 3) == 0);
    ck_assert_uint_eq(len, 3);
    gguf_kv_arr_str(kv, 1, &len);
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_null(gguf_kv_arr_str(kv, 3, &len));
    kv = gguf_kv_find(f, "nested");
    ck_assert_uint_eq(kv->count, 2);
    ck_assert_uint_eq(kv->elem, V_ARRAY);
    ck_assert_uint_eq(kv->raw_len, 12 + 4 + 12 + 9);
    gguf_free(f);
    free(g.b);
}
END_TEST

/* Every type of the table: its block, size and a tensor of one row. */
START_TEST(test_type_table)
{
    static const struct { const char *name; uint32_t id; unsigned block, size; } want[] = {
        {"F32", 0, 1, 4}, {"F16", 1, 1, 2}, {"Q4_0", 2, 32, 18},
        {"Q4_1", 3, 32, 20}, {"Q5_0", 6, 32, 22}, {"Q5_1", 7, 32, 24},
        {"Q8_0", 8, 32, 34}, {"Q8_1", 9, 32, 36}, {"Q2_K", 10, 256, 84},
        {"Q3_K", 11, 256, 110}, {"Q4_K", 12, 256, 144},
        {"Q5_K", 13, 256, 176}, {"Q6_K", 14, 256, 210},
        {"Q8_K", 15, 256, 292}, {"IQ2_XXS", 16, 256, 66},
        {"IQ2_XS", 17, 256, 74}, {"IQ3_XXS", 18, 256, 98},
        {"IQ1_S", 19, 256, 50}, {"IQ4_NL", 20, 32, 18},
        {"IQ3_S", 21, 256, 110}, {"IQ2_S", 22, 256, 82},
        {"IQ4_XS", 23, 256, 136}, {"I8", 24, 1, 1}, {"I16", 25, 1, 2},
        {"I32", 26, 1, 4}, {"I64", 27, 1, 8}, {"F64", 28, 1, 8},
        {"IQ1_M", 29, 256, 56}, {"BF16", 30, 1, 2}, {"TQ1_0", 34, 256, 54},
        {"TQ2_0", 35, 256, 66}, {"MXFP4", 39, 32, 17},
    };
    size_t i, known = 0;
    uint32_t id, t;
    uint64_t bytes, ne[2] = {512, 3};

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ck_assert_int_eq(gguf_type_parse(want[i].name, &id), 0);
        ck_assert_uint_eq(id, want[i].id);
        ck_assert_str_eq(gguf_type_name(id), want[i].name);
        ck_assert_uint_eq(gguf_type_block(id), want[i].block);
        ck_assert_uint_eq(gguf_type_size(id), want[i].size);
        ck_assert_int_eq(gguf_type_bytes(id, ne, 2, &bytes), 0);
        ck_assert_uint_eq(bytes, 512 / want[i].block * want[i].size * 3);
    }
    for (t = 0; t < 64; t++)
        known += gguf_type_block(t) != 0;
    ck_assert_uint_eq(known, sizeof(want) / sizeof(want[0]));
    ck_assert_str_eq(gguf_type_name(4), "?");
    ck_assert_int_eq(gguf_type_parse("Q4_2", &id), -1);
}
END_TEST

/* Alignment 64, tensors stored out of order, an empty tensor, no data
 * padding at the end. */
START_TEST(test_unusual_layout)
{
    gb g = {0};
    gguf_file *f;
    uint64_t ne[4] = {256, 2, 1, 3};

    gb_head(&g, 3, 3, 1);
    gb_kv_u32(&g, "general.alignment", 64);
    gb_tensor(&g, "late", GGUF_Q4_K, 128, 4, ne);
    gb_tensor1(&g, "early", GGUF_BF16, 0, 3);
    gb_tensor1(&g, "empty", GGUF_F32, 64, 0);
    gb_data(&g, 64, 128 + 6 * 144);
    f = parse_ok(&g);
    ck_assert_uint_eq(gguf_alignment(f), 64);
    ck_assert_uint_eq(gguf_data_start(f) % 64, 0);
    ck_assert_uint_eq(gguf_tensor_find(f, "late")->bytes, 6 * 144);
    ck_assert_uint_eq(gguf_tensor_find(f, "late")->elements, 256 * 6);
    ck_assert_uint_eq(gguf_tensor_find(f, "empty")->bytes, 0);
    gguf_free(f);
    free(g.b);
}
END_TEST

/* A file of metadata only may end before the padded data start. */
START_TEST(test_no_tensors_unpadded)
{
    gb g = {0};
    gguf_file *f;

    gb_head(&g, 3, 0, 1);
    gb_kv_str(&g, "general.architecture", "llama");
    f = parse_ok(&g);
    ck_assert_uint_eq(gguf_tensor_count(f), 0);
    ck_assert_uint_eq(gguf_data_size(f), 0);
    gguf_free(f);
    free(g.b);
}
END_TEST

START_TEST(test_not_found)
{
    sut_error err = {{0}};

    ck_assert_ptr_null(gguf_open("/nonexistent/x.gguf", &err));
    tu_assert_contains(err.msg, "x.gguf: cannot open: No such file or directory");
    ck_assert_ptr_null(gguf_open(tu_tmpdir(), &err));
    tu_assert_contains(err.msg, "not a regular file");
    ck_assert(!gguf_is_gguf("/nonexistent/x.gguf"));
}
END_TEST

/* ---- split sets ------------------------------------------------------- */

/* Writes dir/NAME-0000i-of-0000n.gguf holding tensor `name` with the split
 * keys (no_key, count_key, total as given). */
static void put_split(const char *dir, unsigned i, unsigned n, unsigned no_key,
                      unsigned total, const char *name)
{
    char path[600];
    gb g = {0};

    gb_head(&g, 3, 1, i == 1 ? 4 : 3);
    if (i == 1)
        gb_kv_str(&g, "general.architecture", "llama");
    gb_key(&g, "split.no", 2);
    gb_le(&g, no_key, 2);
    gb_key(&g, "split.count", 2);
    gb_le(&g, n, 2);
    gb_key(&g, "split.tensors.count", 5);
    gb_u32(&g, total);
    gb_tensor1(&g, name, GGUF_F32, 0, 8);
    gb_data(&g, 32, 32);
    snprintf(path, sizeof(path), "%s/m-%05u-of-%05u.gguf", dir, i, n);
    tu_write(path, g.b, g.n);
    free(g.b);
}

static gguf_set *open_split(const char *dir, const char *file, sut_error *err)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return gguf_set_open(path, err);
}

START_TEST(test_split_set)
{
    const char *dir = tu_tmpdir();
    sut_error err = {{0}};
    gguf_set *s;

    put_split(dir, 1, 3, 0, 3, "a");
    put_split(dir, 2, 3, 1, 3, "b");
    put_split(dir, 3, 3, 2, 3, "c");
    s = open_split(dir, "m-00002-of-00003.gguf", &err);
    ck_assert_msg(s != NULL, "unexpected error: %s", err.msg);
    ck_assert_uint_eq(gguf_set_count(s), 3);
    ck_assert_str_eq(gguf_get_str(gguf_set_meta(s), "general.architecture"),
                     "llama");
    ck_assert_ptr_nonnull(gguf_tensor_find(gguf_set_file(s, 2), "c"));
    gguf_set_free(s);
    gguf_set_free(NULL);
}
END_TEST

START_TEST(test_split_errors)
{
    const char *dir = tu_tmpdir();
    sut_error err = {{0}};
    unsigned no, count;
    size_t plen;

    put_split(dir, 1, 2, 0, 2, "a");
    ck_assert_ptr_null(open_split(dir, "m-00001-of-00002.gguf", &err));
    tu_assert_contains(err.msg, "m-00002-of-00002.gguf: cannot open");
    put_split(dir, 2, 2, 0, 2, "b");
    ck_assert_ptr_null(open_split(dir, "m-00001-of-00002.gguf", &err));
    tu_assert_contains(err.msg, "m-00002-of-00002.gguf: split.no 0 of split.count 2, but the file name says file 2 of 2");
    put_split(dir, 2, 2, 1, 2, "a");
    ck_assert_ptr_null(open_split(dir, "m-00001-of-00002.gguf", &err));
    tu_assert_contains(err.msg, "m-00002-of-00002.gguf: tensor 'a': also in m-00001-of-00002.gguf");
    put_split(dir, 2, 2, 1, 3, "b");
    ck_assert_ptr_null(open_split(dir, "m-00001-of-00002.gguf", &err));
    tu_assert_contains(err.msg, "m-00002-of-00002.gguf: split.tensors.count 3 differs from the first file's 2");
    put_split(dir, 1, 2, 0, 3, "a");
    ck_assert_ptr_null(open_split(dir, "m-00001-of-00002.gguf", &err));
    tu_assert_contains(err.msg, "m-00001-of-00002.gguf: split.tensors.count is 3 but the 2 files hold 2 tensors");
    ck_assert(gguf_split_name("x/m-00002-of-00003.gguf", &no, &count, &plen));
    ck_assert_uint_eq(no, 2);
    ck_assert_uint_eq(count, 3);
    ck_assert_uint_eq(plen, 3);
    ck_assert(!gguf_split_name("m-00004-of-00003.gguf", &no, &count, &plen));
    ck_assert(!gguf_split_name("m-0001-of-00003.gguf", &no, &count, &plen));
    ck_assert(!gguf_split_name("m.gguf", &no, &count, &plen));
}
END_TEST

/* A lone file that says it is one of a split set is refused. */
START_TEST(test_split_count_in_plain_file)
{
    const char *dir = tu_tmpdir();
    char from[600], to[600];
    sut_error err = {{0}};

    put_split(dir, 1, 2, 0, 2, "a");
    snprintf(from, sizeof(from), "%s/m-00001-of-00002.gguf", dir);
    snprintf(to, sizeof(to), "%s/m.gguf", dir);
    ck_assert_int_eq(rename(from, to), 0);
    ck_assert_ptr_null(gguf_set_open(to, &err));
    tu_assert_contains(err.msg, "m.gguf: holds split.count 2 but its name is not NAME-0000i-of-0000N.gguf");
}
END_TEST

/* ---- the real fixtures ------------------------------------------------ */

static gguf_file *open_fixture(const char *name)
{
    char path[4200];
    sut_error err = {{0}};
    gguf_file *f;

    snprintf(path, sizeof(path), "%s/gguf/%s", tu_fixtures(), name);
    f = gguf_open(path, &err);
    ck_assert_msg(f != NULL, "%s: %s", name, err.msg);
    ck_assert(gguf_is_gguf(path));
    return f;
}

START_TEST(test_fixtures)
{
    gguf_file *f;
    const gguf_kv *kv;
    const gguf_tensor *t;
    size_t len;
    const char *s;

    if (!tu_fixtures()) {
        tu_skip("fixtures folder absent");
        return;
    }
    f = open_fixture("ggml-vocab-llama-spm.gguf");
    ck_assert_uint_eq(gguf_tensor_count(f), 0);
    ck_assert_uint_eq(gguf_kv_count(f), 22);
    kv = gguf_kv_find(f, "tokenizer.ggml.tokens");
    ck_assert_uint_eq(kv->count, 32000);
    s = gguf_kv_arr_str(kv, 1, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(s, "<s>", 3) == 0);
    gguf_free(f);

    f = open_fixture("llama-2-tiny-random.gguf");
    ck_assert_uint_eq(gguf_tensor_count(f), 12);
    ck_assert_uint_eq(gguf_get_u64(f, "llama.block_count", 0), 1);
    t = gguf_tensor_find(f, "token_embd.weight");
    ck_assert_uint_eq(t->type, GGUF_F16);
    ck_assert_uint_eq(t->ne[0], 8);
    ck_assert_uint_eq(t->ne[1], 32000);
    ck_assert_uint_eq(t->bytes, 512000);
    gguf_free(f);

    f = open_fixture("tiny_kquant.gguf");
    ck_assert_str_eq(gguf_type_name(gguf_tensor_find(f, "kq.Q6_K.weight")->type), "Q6_K");
    ck_assert_uint_eq(gguf_tensor_find(f, "kq.Q3_K.weight") == NULL, 1);
    ck_assert_uint_eq(gguf_tensor_find(f, "kq.Q2_K.weight")->bytes, 336);
    gguf_free(f);

    f = open_fixture("tiny_llama_q8.gguf");
    ck_assert_uint_eq(gguf_tensor_find(f, "blk.0.attn_q.weight")->type, GGUF_Q8_0);
    ck_assert_uint_eq(gguf_tensor_find(f, "blk.0.attn_q.weight")->bytes, 1088);
    gguf_free(f);
    f = open_fixture("tiny_llama_f16.gguf");
    gguf_free(f);
    f = open_fixture("tiny_llama_f32.gguf");
    gguf_free(f);
}
END_TEST

/* Every fixture cut short anywhere inside its header is refused, never
 * read past its end. */
START_TEST(test_fixture_prefixes)
{
    char path[4200];
    sut_error err = {{0}};
    size_t len, n;
    char *buf;
    gguf_file *f;

    if (!tu_fixtures()) {
        tu_skip("fixtures folder absent");
        return;
    }
    snprintf(path, sizeof(path), "%s/gguf/tiny_llama_q8.gguf", tu_fixtures());
    f = gguf_open(path, &err);
    ck_assert_ptr_nonnull(f);
    len = (size_t)gguf_data_start(f);
    gguf_free(f);
    buf = malloc(len);
    {
        FILE *fp = fopen(path, "rb");
        ck_assert_uint_eq(fread(buf, 1, len, fp), len);
        fclose(fp);
    }
    for (n = 0; n < len - 32; n++) {
        f = gguf_parse(buf, n, n, "q8.gguf", &err);
        ck_assert_msg(f == NULL, "prefix of %zu bytes accepted", n);
    }
    free(buf);
}
END_TEST

/* ---- the writer ------------------------------------------------------- */

START_TEST(test_writer_round_trip)
{
    const char *dir = tu_tmpdir();
    char path[600];
    sut_error err = {{0}};
    uint64_t ne[2] = {256, 2}, ne1 = 3;
    unsigned char q[288], f[6] = {1, 2, 3, 4, 5, 6};
    gguf_writer *w;
    gguf_file *g;
    FILE *fp;
    size_t i;

    for (i = 0; i < sizeof(q); i++)
        q[i] = (unsigned char)(i * 7);
    snprintf(path, sizeof(path), "%s/w.gguf", dir);
    w = gguf_writer_create(path, 64, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    ck_assert_int_eq(gguf_writer_kv_str(w, "general.architecture", "llama", &err), 0);
    ck_assert_int_eq(gguf_writer_kv_u32(w, "general.alignment", 64, &err), 0);
    ck_assert_int_eq(gguf_writer_kv_u32(w, "general.alignment", 64, &err), -1);
    tu_assert_contains(err.msg, "w.gguf: key 'general.alignment': added twice");
    ck_assert_int_eq(gguf_writer_add(w, "q", GGUF_Q4_K, 2, ne, &err), 0);
    ck_assert_int_eq(gguf_writer_add(w, "f", GGUF_F16, 1, &ne1, &err), 0);
    ck_assert_int_eq(gguf_writer_add(w, "z", GGUF_Q8_0, 1, &ne[0], &err), 0);
    ck_assert_int_eq(gguf_writer_add(w, "bad", GGUF_Q8_0, 1, &ne1, &err), -1);
    tu_assert_contains(err.msg, "w.gguf: tensor 'bad': shape and type Q8_0 do not make a valid size");
    ck_assert_int_eq(gguf_writer_begin(w, &err), 0);
    ck_assert_int_eq(gguf_writer_write(w, q, sizeof(q), &err), 0);
    ck_assert_int_eq(gguf_writer_finish(w, &err), -1);
    tu_assert_contains(err.msg, "w.gguf: not every tensor was written");
    ck_assert_int_eq(gguf_writer_write(w, f, 6, &err), 0);
    ck_assert_int_eq(gguf_writer_zero(w, 8 * 34, &err), 0);
    ck_assert_int_eq(gguf_writer_write(w, f, 1, &err), -1);
    tu_assert_contains(err.msg, "w.gguf: more data than the tensors declared");
    ck_assert_int_eq(gguf_writer_finish(w, &err), 0);
    gguf_writer_free(w);

    g = gguf_open(path, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    ck_assert_uint_eq(gguf_alignment(g), 64);
    ck_assert_uint_eq(gguf_tensor_count(g), 3);
    ck_assert_uint_eq(gguf_tensor_find(g, "q")->bytes, 288);
    ck_assert_uint_eq(gguf_tensor_find(g, "f")->offset, 320);
    ck_assert_uint_eq(gguf_tensor_find(g, "z")->offset, 384);
    ck_assert_uint_eq(gguf_file_size(g), gguf_data_start(g) + 384 + 320);
    fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    {
        unsigned char got[288];
        fseek(fp, (long)gguf_data_start(g), SEEK_SET);
        ck_assert_uint_eq(fread(got, 1, 288, fp), 288);
        ck_assert(memcmp(got, q, 288) == 0);
        fseek(fp, (long)(gguf_data_start(g) + 320), SEEK_SET);
        ck_assert_uint_eq(fread(got, 1, 6, fp), 6);
        ck_assert(memcmp(got, f, 6) == 0);
        fseek(fp, (long)(gguf_data_start(g) + 384), SEEK_SET);
        ck_assert_uint_eq(fread(got, 1, 272, fp), 272);
        for (i = 0; i < 272; i++)
            ck_assert_uint_eq(got[i], 0);
    }
    fclose(fp);
    gguf_free(g);
}
END_TEST

/* An unfinished writer leaves nothing behind; create refuses an existing
 * file. */
START_TEST(test_writer_unfinished)
{
    const char *dir = tu_tmpdir();
    char path[600];
    sut_error err = {{0}};
    gguf_writer *w;

    snprintf(path, sizeof(path), "%s/u.gguf", dir);
    w = gguf_writer_create(path, 32, &err);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_null(gguf_writer_create(path, 32, &err));
    tu_assert_contains(err.msg, "u.gguf: cannot create: File exists");
    gguf_writer_free(w);
    ck_assert_int_ne(access(path, F_OK), 0);
    gguf_writer_free(NULL);
}
END_TEST

/* ---- the model layer -------------------------------------------------- */

START_TEST(test_layer_names)
{
    static const struct { const char *name; long layer; const char *local; } ok[] = {
        {"blk.0.attn_q.weight", 0, "attn_q.weight"},
        {"blk.12.ffn_down.weight", 12, "ffn_down.weight"},
        {"blk.999999.x", 999999, "x"},
    };
    static const char *const bad[] = {
        "blk.01.attn_q.weight", "blk.7.", "blk.7", "blk..x", "blk.-1.x",
        "blk.1000000.x", "blk.a.x", "token_embd.weight", "output.weight",
    };
    const char *local;
    long layer;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_msg(gmodel_layer_name(ok[i].name, &layer, &local), "%s", ok[i].name);
        ck_assert_int_eq(layer, ok[i].layer);
        ck_assert_str_eq(local, ok[i].local);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!gmodel_layer_name(bad[i], &layer, &local), "%s", bad[i]);
}
END_TEST

/* Roles, layers, block_count, tied output and per-layer arrays of a
 * hand-made model. */
START_TEST(test_model_roles)
{
    const char *dir = tu_tmpdir();
    char path[600];
    sut_error err = {{0}};
    gb g = {0};
    gmodel *m;
    size_t n;

    gb_head(&g, 3, 5, 4);
    gb_kv_str(&g, "general.architecture", "qwen2");
    gb_kv_u32(&g, "qwen2.block_count", 3);
    gb_key(&g, "qwen2.attention.head_count_kv", V_ARRAY);
    gb_u32(&g, V_U32);
    gb_u64(&g, 3);
    gb_u32(&g, 2);
    gb_u32(&g, 2);
    gb_u32(&g, 4);
    gb_key(&g, "other.list", V_ARRAY);
    gb_u32(&g, V_U32);
    gb_u64(&g, 3);
    gb_raw(&g, "\1\0\0\0\2\0\0\0\3\0\0\0", 12);
    gb_tensor1(&g, "token_embd.weight", GGUF_F32, 0, 8);
    gb_tensor1(&g, "blk.0.attn_q.weight", GGUF_F32, 32, 8);
    gb_tensor1(&g, "blk.1.attn_q.weight", GGUF_F32, 64, 8);
    gb_tensor1(&g, "blk.1.attn_k.weight", GGUF_F32, 96, 8);
    gb_tensor1(&g, "output_norm.weight", GGUF_F32, 128, 8);
    gb_data(&g, 32, 160);
    snprintf(path, sizeof(path), "%s/m.gguf", dir);
    tu_write(path, g.b, g.n);
    free(g.b);
    m = gmodel_open(path, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_str_eq(gmodel_arch(m), "qwen2");
    ck_assert_int_eq(gmodel_block_count(m), 3);
    ck_assert_uint_eq(gmodel_layer_count(m), 2);
    ck_assert_uint_eq(gmodel_issue_count(m), 1);
    ck_assert_str_eq(gmodel_issue_at(m, 0)->code, "block-count-mismatch");
    tu_assert_contains(gmodel_issue_at(m, 0)->message, "m.gguf: qwen2.block_count is 3 but the tensors hold blk.0 to blk.1");
    ck_assert(gmodel_tied(m));
    ck_assert_int_eq(gmodel_find(m, "token_embd.weight")->role, MODEL_PRE);
    ck_assert_int_eq(gmodel_find(m, "output_norm.weight")->role, MODEL_POST);
    ck_assert_int_eq(gmodel_find(m, "blk.1.attn_k.weight")->layer, 1);
    gmodel_layer_tensors(m, 1, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert(gmodel_per_layer(m, gguf_kv_find(gmodel_meta(m), "qwen2.attention.head_count_kv")));
    ck_assert(!gmodel_per_layer(m, gguf_kv_find(gmodel_meta(m), "other.list")));
    ck_assert_uint_eq(gmodel_parameter_count(m), 40);
    gmodel_free(m);
    gmodel_free(NULL);
}
END_TEST

static Suite *gguf_suite(void)
{
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("reader");

    tcase_add_loop_test(tc, test_catalogue, 0, D_COUNT);
    tcase_add_loop_test(tc, test_catalogue_in_memory, 0, D_COUNT);
    tcase_add_test(tc, test_good_file);
    tcase_add_test(tc, test_version2);
    tcase_add_test(tc, test_every_value_type);
    tcase_add_test(tc, test_type_table);
    tcase_add_test(tc, test_unusual_layout);
    tcase_add_test(tc, test_no_tensors_unpadded);
    tcase_add_test(tc, test_not_found);
    tcase_add_test(tc, test_split_set);
    tcase_add_test(tc, test_split_errors);
    tcase_add_test(tc, test_split_count_in_plain_file);
    tcase_add_test(tc, test_fixtures);
    tcase_add_test(tc, test_fixture_prefixes);
    tcase_add_test(tc, test_writer_round_trip);
    tcase_add_test(tc, test_writer_unfinished);
    tcase_add_test(tc, test_layer_names);
    tcase_add_test(tc, test_model_roles);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(gguf_suite)
