/* test_safetensors.c: the reader (a catalogue of broken files, valid but
 * unusual files, the real fixtures) and the writer (round trips). */
#include <fcntl.h>
#include <stdint.h>
#include <dirent.h>

#include "testutil.h"
#include "suture/safetensors.h"

/* ---- helpers ---------------------------------------------------------- */

/* Writes a safetensors file: the 8-byte length (hdr_len unless len_field
 * is given), the header and data_len bytes (byte i is i & 0xff). */
static void put_file(const char *path, const char *hdr, size_t hdr_len,
                     uint64_t len_field, uint64_t data_len)
{
    unsigned char len[8];
    FILE *f = fopen(path, "wb");
    uint64_t i;

    ck_assert_ptr_nonnull(f);
    for (i = 0; i < 8; i++)
        len[i] = (unsigned char)(len_field >> (8 * i));
    ck_assert_uint_eq(fwrite(len, 1, 8, f), 8);
    ck_assert_uint_eq(fwrite(hdr, 1, hdr_len, f), hdr_len);
    for (i = 0; i < data_len; i++)
        fputc((int)(i & 0xff), f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Opens a file made of hdr and data_len bytes of data; returns the handle
 * (NULL on error, with err filled). */
static st_file *open_hdr(const char *hdr, uint64_t data_len, sut_error *err)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/model.safetensors", tu_tmpdir());
    put_file(path, hdr, strlen(hdr), strlen(hdr), data_len);
    return st_open(path, err);
}

static void expect_open(const char *hdr, uint64_t data_len, size_t count)
{
    sut_error err = {{0}};
    st_file *f = open_hdr(hdr, data_len, &err);

    ck_assert_msg(f != NULL, "unexpected error: %s", err.msg);
    ck_assert_uint_eq(st_count(f), count);
    ck_assert_uint_eq(st_data_size(f), data_len);
    ck_assert_uint_eq(st_data_start(f), 8 + strlen(hdr));
    st_free(f);
}

#define F32_A "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"

/* ---- the catalogue of broken files ------------------------------------ */

enum defect {
    D_SHORT_FILE, D_LEN_BEYOND_FILE, D_LEN_TRUNCATED, D_LEN_OVER_LIMIT,
    D_HEADER_EMPTY, D_NOT_UTF8, D_OVERLONG_UTF8, D_SURROGATE_UTF8,
    D_NOT_JSON, D_ARRAY, D_DEEP_NESTING, D_CONTROL_IN_STRING,
    D_CONTROL_OUTSIDE, D_NUL_OUTSIDE, D_NUL_ESCAPE, D_DUP_TENSOR, D_DUP_FIELD,
    D_ENTRY_NOT_OBJECT, D_UNKNOWN_DTYPE, D_DTYPE_NOT_STRING, D_MISSING_DTYPE,
    D_MISSING_SHAPE, D_MISSING_OFFSETS, D_EXTRA_FIELD, D_SHAPE_NOT_ARRAY,
    D_SHAPE_NEGATIVE, D_SHAPE_FRACTION, D_SHAPE_STRING, D_SHAPE_HUGE_EXP,
    D_SHAPE_OVER_2_53, D_SHAPE_2_53_PLUS_1, D_SHAPE_WHOLE_FLOAT,
    D_SHAPE_LEADING_ZERO, D_SHAPE_MINUS_ZERO, D_SHAPE_PRODUCT_OVERFLOW,
    D_BITS_OVERFLOW, D_OFFSETS_NOT_ARRAY, D_OFFSETS_LEN3, D_OFFSETS_LEN1,
    D_BEGIN_AFTER_END, D_OFFSET_OVER_2_53, D_OFFSET_OVER_2_64,
    D_SIZE_MISMATCH, D_HOLE, D_OVERLAP, D_EMPTY_INSIDE, D_NOT_FROM_ZERO,
    D_TRAILING, D_TRAILING_NO_TENSORS, D_DATA_SHORT, D_F4_FRACTION,
    D_F6_FRACTION, D_META_NOT_OBJECT, D_META_VALUE,
    D_COUNT
};

typedef struct bad_file {
    const char *hdr;      /* NULL: built by the case itself */
    uint64_t data_len;
    const char *expect;   /* substring of the error */
} bad_file;

#define ENT(name, body) "{\"" name "\":{" body "}}"

static const bad_file bad[D_COUNT] = {
    [D_SHORT_FILE] = {NULL, 0, "model.safetensors: file is 5 bytes, too short for the 8-byte header length"},
    [D_LEN_BEYOND_FILE] = {NULL, 0, "model.safetensors: header length 18446744073709551615 exceeds the file size (1024 bytes)"},
    [D_LEN_TRUNCATED] = {NULL, 0, "model.safetensors: header length 100 exceeds the file size (55 bytes)"},
    [D_LEN_OVER_LIMIT] = {NULL, 0, "model.safetensors: header length 150000000 exceeds the limit of 100000000 bytes"},
    [D_HEADER_EMPTY] = {"", 0, "model.safetensors: invalid JSON at byte 0"},
    [D_NOT_UTF8] = {"{\"a\xff\":{}}", 0, "model.safetensors: header is not valid UTF-8 (byte 3)"},
    [D_OVERLONG_UTF8] = {"{\"\xc0\xaf\":{}}", 0, "header is not valid UTF-8 (byte 2)"},
    [D_SURROGATE_UTF8] = {"{\"\xed\xa0\x80\":{}}", 0, "header is not valid UTF-8 (byte 2)"},
    [D_NOT_JSON] = {"{\"a\": ", 0, "model.safetensors: invalid JSON"},
    [D_ARRAY] = {"[1, 2]", 0, "model.safetensors: header is not a JSON object"},
    [D_DEEP_NESTING] = {NULL, 0, "model.safetensors: invalid JSON"},
    [D_CONTROL_IN_STRING] = {"{\"a\x01\":{}}", 0, "header: control character 0x01 at byte 3"},
    [D_CONTROL_OUTSIDE] = {"{\x0b}", 0, "header: control character 0x0b at byte 1"},
    [D_NUL_OUTSIDE] = {NULL, 0, "header: control character 0x00 at byte 1"},
    [D_NUL_ESCAPE] = {"{\"a\\u0000b\":{}}", 0, "header: string holds \\u0000 at byte 3"},
    [D_DUP_TENSOR] = {"{" F32_A "," F32_A "}", 16, "model.safetensors: duplicate key 'a'"},
    [D_DUP_FIELD] = {ENT("a", "\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]"), 16, "duplicate key 'dtype'"},
    [D_ENTRY_NOT_OBJECT] = {"{\"a\":[0,16]}", 16, "model.safetensors: tensor 'a': entry is not a JSON object"},
    [D_UNKNOWN_DTYPE] = {ENT("a", "\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]"), 16, "model.safetensors: tensor 'a': dtype: unknown dtype 'F128'"},
    [D_DTYPE_NOT_STRING] = {ENT("a", "\"dtype\":4,\"shape\":[4],\"data_offsets\":[0,16]"), 16, "tensor 'a': dtype: not a string"},
    [D_MISSING_DTYPE] = {ENT("a", "\"shape\":[4],\"data_offsets\":[0,16]"), 16, "model.safetensors: tensor 'a': dtype: missing"},
    [D_MISSING_SHAPE] = {ENT("a", "\"dtype\":\"F32\",\"data_offsets\":[0,16]"), 16, "tensor 'a': shape: missing"},
    [D_MISSING_OFFSETS] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[4]"), 16, "tensor 'a': data_offsets: missing"},
    [D_EXTRA_FIELD] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16],\"offset\":0"), 16, "tensor 'a': unknown field 'offset'"},
    [D_SHAPE_NOT_ARRAY] = {ENT("a", "\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]"), 16, "tensor 'a': shape: not an array"},
    [D_SHAPE_NEGATIVE] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[4,-1],\"data_offsets\":[0,16]"), 16, "tensor 'a': shape[1]: -1 is not a whole number in [0, 2^53]"},
    [D_SHAPE_FRACTION] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,16]"), 16, "tensor 'a': shape[0]: 1.5 is not a whole number"},
    [D_SHAPE_STRING] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[\"3\"],\"data_offsets\":[0,16]"), 16, "tensor 'a': shape[0]: \"3\" is not a whole number"},
    [D_SHAPE_HUGE_EXP] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,16]"), 16, "tensor 'a': shape[0]: 1.0000000000000001e+300 is not"},
    [D_SHAPE_OVER_2_53] = {ENT("a", "\"dtype\":\"U8\",\"shape\":[9007199254740994],\"data_offsets\":[0,16]"), 16, "tensor 'a': shape[0]: 9007199254740994 is not a whole number in [0, 2^53]"},
    [D_SHAPE_2_53_PLUS_1] = {ENT("a", "\"dtype\":\"U8\",\"shape\":[9007199254740993,0],\"data_offsets\":[0,0]"), 0, "header: number 9007199254740993 at byte 28 is not written as an integer"},
    [D_SHAPE_WHOLE_FLOAT] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[4.0],\"data_offsets\":[0,16]"), 16, "header: number 4.0 at byte 29 is not written as an integer"},
    [D_SHAPE_LEADING_ZERO] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[04],\"data_offsets\":[0,16]"), 16, "header: number 04 at byte 29"},
    [D_SHAPE_MINUS_ZERO] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[-0],\"data_offsets\":[0,0]"), 0, "header: number -0 at byte 29"},
    [D_SHAPE_PRODUCT_OVERFLOW] = {ENT("a", "\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]"), 16, "tensor 'a': shape: element count overflows 64 bits"},
    [D_BITS_OVERFLOW] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,16]"), 16, "tensor 'a': shape [2147483648, 2147483648] of F32: size in bits overflows 64 bits"},
    [D_OFFSETS_NOT_ARRAY] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":16"), 16, "tensor 'a': data_offsets: not an array"},
    [D_OFFSETS_LEN3] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8,16]"), 16, "tensor 'a': data_offsets: expected [begin, end], got 3 entries"},
    [D_OFFSETS_LEN1] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16]"), 16, "tensor 'a': data_offsets: expected [begin, end], got 1 entries"},
    [D_BEGIN_AFTER_END] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]"), 16, "tensor 'a': data_offsets [16, 0]: begin is after end"},
    [D_OFFSET_OVER_2_53] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,9007199254740994]"), 16, "tensor 'a': data_offsets[1]: 9007199254740994 is not a whole number"},
    [D_OFFSET_OVER_2_64] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[18446744073709551616,0]"), 16, "tensor 'a': data_offsets[0]: 1.8446744073709552e+19 is not a whole number"},
    [D_SIZE_MISMATCH] = {ENT("a", "\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]"), 12, "model.safetensors: tensor 'a': data_offsets [0, 12] span 12 bytes but F32 shape [2, 2] needs 16"},
    [D_HOLE] = {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}", 12, "model.safetensors: tensor 'b': data_offsets [8, 12] leave a hole of 4 bytes after the previous tensor 'a' [0, 4]"},
    [D_OVERLAP] = {"{\"b\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},\"a\":{\"dtype\":\"U8\",\"shape\":[12],\"data_offsets\":[0,12]}}", 16, "model.safetensors: tensor 'b': data_offsets [0, 16] overlap the previous tensor 'a' [0, 12]"},
    [D_EMPTY_INSIDE] = {"{" F32_A ",\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", 16, "tensor 'e': data_offsets [8, 8] overlap the previous tensor 'a' [0, 16]"},
    [D_NOT_FROM_ZERO] = {ENT("a", "\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]"), 8, "model.safetensors: tensor 'a': data_offsets [4, 8] do not start at 0"},
    [D_TRAILING] = {"{" F32_A "}", 20, "model.safetensors: 4 bytes after the last tensor (data ends at 16, the data section has 20)"},
    [D_TRAILING_NO_TENSORS] = {"{}", 3, "model.safetensors: 3 bytes of data after a header with no tensors"},
    [D_DATA_SHORT] = {"{" F32_A "}", 8, "model.safetensors: tensor 'a': data_offsets [0, 16] extend past the end of the data (8 bytes)"},
    [D_F4_FRACTION] = {ENT("a", "\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]"), 2, "tensor 'a': shape [3] of F4 is 12 bits, not a whole number of bytes"},
    [D_F6_FRACTION] = {ENT("a", "\"dtype\":\"F6_E2M3\",\"shape\":[1,3],\"data_offsets\":[0,3]"), 3, "tensor 'a': shape [1, 3] of F6_E2M3 is 18 bits, not a whole number of bytes"},
    [D_META_NOT_OBJECT] = {"{\"__metadata__\":\"pt\"," F32_A "}", 16, "model.safetensors: __metadata__: not a JSON object"},
    [D_META_VALUE] = {"{\"__metadata__\":{\"format\":\"pt\",\"k\":1}," F32_A "}", 16, "model.safetensors: __metadata__: 'k': not a string"},
};

/* Builds the file of a case that cannot be a plain header string. */
static void put_special(int d, const char *path)
{
    static char nest[100001];
    static const char trunc[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":";
    int fd;

    switch (d) {
    case D_SHORT_FILE:
        tu_write(path, "\x02\0\0\0\0", 5);
        break;
    case D_LEN_BEYOND_FILE:
        put_file(path, "{}", 2, UINT64_MAX, 1024 - 10);
        break;
    case D_LEN_TRUNCATED:
        put_file(path, trunc, strlen(trunc), 100, 0);
        break;
    case D_LEN_OVER_LIMIT:
        /* a 200 MB sparse file: no disk is used */
        put_file(path, "{}", 2, 150000000, 0);
        fd = open(path, O_WRONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, 200000000), 0);
        close(fd);
        break;
    case D_DEEP_NESTING:
        memset(nest, '[', sizeof(nest) - 1);
        put_file(path, nest, sizeof(nest) - 1, sizeof(nest) - 1, 0);
        break;
    case D_NUL_OUTSIDE:
        put_file(path, "{\0}", 3, 3, 0);
        break;
    default:
        ck_abort_msg("case %d has no header", d);
    }
}

START_TEST(test_catalogue)
{
    const bad_file *c = &bad[_i];
    sut_error err = {{0}};
    char path[512];
    st_file *f;

    ck_assert_msg(c->expect != NULL, "defect %d has no entry", _i);
    snprintf(path, sizeof(path), "%s/model.safetensors", tu_tmpdir());
    if (c->hdr)
        put_file(path, c->hdr, strlen(c->hdr), strlen(c->hdr), c->data_len);
    else
        put_special(_i, path);
    f = st_open(path, &err);
    ck_assert_msg(f == NULL, "defect %d was accepted", _i);
    tu_assert_contains(err.msg, c->expect);
    ck_assert_msg(strchr(err.msg, '\n') == NULL, "message has a newline");
    unlink(path);
}
END_TEST

/* The same headers through the in-memory entry point the fuzzers use. */
START_TEST(test_catalogue_in_memory)
{
    const bad_file *c = &bad[_i];
    sut_error err = {{0}};

    if (!c->hdr)
        return;
    ck_assert_ptr_null(st_parse_header(c->hdr, strlen(c->hdr), c->data_len,
                                       "model.safetensors", &err));
    tu_assert_contains(err.msg, c->expect);
}
END_TEST

START_TEST(test_not_found)
{
    sut_error err = {{0}};

    ck_assert_ptr_null(st_open("/nonexistent/x.safetensors", &err));
    tu_assert_contains(err.msg, "x.safetensors: cannot open: No such file");
    ck_assert_ptr_null(st_open("/tmp", &err));
    tu_assert_contains(err.msg, "tmp: not a regular file");
}
END_TEST

/* ---- valid but unusual ------------------------------------------------- */

START_TEST(test_scalar_and_empty)
{
    sut_error err = {{0}};
    const char *h = "{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]},"
                    "\"e\":{\"dtype\":\"F32\",\"shape\":[3,0,2],\"data_offsets\":[8,8]},"
                    "\"z\":{\"dtype\":\"I32\",\"shape\":[0],\"data_offsets\":[8,8]},"
                    "\"t\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[8,10]}}";
    st_file *f = open_hdr(h, 10, &err);
    const st_tensor *s, *e;

    ck_assert_msg(f != NULL, "%s", err.msg);
    s = st_find(f, "s");
    e = st_find(f, "e");
    ck_assert_uint_eq(s->ndim, 0);
    ck_assert_uint_eq(s->elements, 1);
    ck_assert_uint_eq(st_tensor_bytes(s), 8);
    ck_assert_uint_eq(e->ndim, 3);
    ck_assert_uint_eq(e->elements, 0);
    ck_assert_uint_eq(e->shape[2], 2);
    ck_assert_uint_eq(st_tensor_bytes(e), 0);
    st_free(f);
}
END_TEST

START_TEST(test_empty_at_start_and_end)
{
    expect_open("{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                F32_A ",\"y\":{\"dtype\":\"BF16\",\"shape\":[0,4],\"data_offsets\":[16,16]}}",
                16, 3);
}
END_TEST

START_TEST(test_offsets_not_in_key_order)
{
    sut_error err = {{0}};
    const char *h = "{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[12,16]},"
                    "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
                    "\"c\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                    "\"d\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}";
    st_file *f = open_hdr(h, 16, &err);

    ck_assert_msg(f != NULL, "%s", err.msg);
    /* header order is key order */
    ck_assert_str_eq(st_at(f, 0)->name, "b");
    ck_assert_str_eq(st_at(f, 1)->name, "a");
    ck_assert_str_eq(st_at(f, 3)->name, "d");
    ck_assert_ptr_null(st_at(f, 4));
    ck_assert_uint_eq(st_find(f, "c")->begin, 0);
    ck_assert_uint_eq(st_find(f, "b")->end, 16);
    ck_assert_ptr_null(st_find(f, "e"));
    ck_assert_ptr_null(st_find(f, ""));
    st_free(f);
}
END_TEST

/* Each dtype's name, size and a file holding one tensor of it. */
START_TEST(test_every_dtype)
{
    static const unsigned bits[ST_DTYPE_COUNT] = {
        [ST_BOOL] = 8, [ST_U8] = 8, [ST_I8] = 8, [ST_F8_E5M2] = 8,
        [ST_F8_E4M3] = 8, [ST_F8_E8M0] = 8, [ST_I16] = 16, [ST_U16] = 16,
        [ST_F16] = 16, [ST_BF16] = 16, [ST_I32] = 32, [ST_U32] = 32,
        [ST_F32] = 32, [ST_F64] = 64, [ST_I64] = 64, [ST_U64] = 64,
        [ST_C64] = 64, [ST_F4] = 4, [ST_F6_E2M3] = 6, [ST_F6_E3M2] = 6,
        [ST_F8_E4M3FNUZ] = 8, [ST_F8_E5M2FNUZ] = 8,
    };
    char hdr[256];
    st_dtype dt, back;
    int i;

    for (i = 0; i < ST_DTYPE_COUNT; i++) {
        sut_error err = {{0}};
        st_file *f;
        dt = (st_dtype)i;
        ck_assert_uint_eq(st_dtype_bits(dt), bits[i]);
        ck_assert_int_eq(st_dtype_parse(st_dtype_name(dt), &back), 0);
        ck_assert_int_eq(back, dt);
        /* 4 elements are a whole number of bytes for every size */
        snprintf(hdr, sizeof(hdr), "{\"t\":{\"dtype\":\"%s\",\"shape\":[2,2],"
                 "\"data_offsets\":[0,%u]}}", st_dtype_name(dt), bits[i] / 2);
        f = open_hdr(hdr, bits[i] / 2, &err);
        ck_assert_msg(f != NULL, "%s: %s", st_dtype_name(dt), err.msg);
        ck_assert_int_eq(st_at(f, 0)->dtype, dt);
        st_free(f);
    }
    ck_assert_str_eq(st_dtype_name(ST_DTYPE_COUNT), "?");
    ck_assert_uint_eq(st_dtype_bits(ST_DTYPE_COUNT), 0);
    ck_assert_int_eq(st_dtype_parse("f32", &back), -1);
    ck_assert_int_eq(st_dtype_parse("", &back), -1);
}
END_TEST

START_TEST(test_padded_and_spaced)
{
    expect_open("{" F32_A "}       ", 16, 1);
    expect_open(" \n{ \"a\" : {\"dtype\" : \"F32\", \"shape\" : [ 4 ],\r\n\t"
                "\"data_offsets\" : [ 0 , 16 ] } }\n  ", 16, 1);
}
END_TEST

START_TEST(test_no_tensors)
{
    sut_error err = {{0}};
    st_file *f;

    expect_open("{}", 0, 0);
    expect_open("{}      ", 0, 0);
    expect_open("{\"__metadata__\":null}", 0, 0);
    f = open_hdr("{\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\xc3\xa9 \\u00e9\\\"\"}}", 0, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_uint_eq(st_count(f), 0);
    ck_assert_uint_eq(st_meta_count(f), 2);
    ck_assert_str_eq(st_meta_key(f, 0), "format");
    ck_assert_str_eq(st_meta_value(f, 0), "pt");
    ck_assert_str_eq(st_meta_get(f, "note"), "caf\xc3\xa9 \xc3\xa9\"");
    ck_assert_ptr_null(st_meta_get(f, "other"));
    ck_assert_ptr_null(st_meta_key(f, 2));
    ck_assert_ptr_null(st_find(f, "a"));
    st_free(f);
}
END_TEST

START_TEST(test_names_with_escapes)
{
    sut_error err = {{0}};
    st_file *f = open_hdr("{\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\":{\"dtype\":\"U8\","
                          "\"shape\":[1],\"data_offsets\":[0,1]}}", 1, &err);

    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(st_find(f, "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80"));
    st_free(f);
}
END_TEST

/* A long name in a message is cut at 200 bytes or less, at a whole
 * character: "a" and 150 "é" (2 bytes each) keep "a" and 99 "é". */
START_TEST(test_long_multibyte_name_cut_whole)
{
    char hdr[1024], want[512], name[512];
    sut_error err = {{0}};
    size_t i, n = 0;

    name[n++] = 'a';
    for (i = 0; i < 150; i++) {
        name[n++] = '\xc3';
        name[n++] = '\xa9';
    }
    name[n] = '\0';
    snprintf(hdr, sizeof(hdr), "{\"%s\":{\"dtype\":\"F99\",\"shape\":[1],"
             "\"data_offsets\":[0,1]}}", name);
    ck_assert_ptr_null(open_hdr(hdr, 1, &err));
    name[199] = '\0';
    snprintf(want, sizeof(want), "model.safetensors: tensor '%s': dtype: unknown dtype 'F99'",
             name);
    ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(test_free_null)
{
    st_free(NULL);
    st_writer_free(NULL);
}
END_TEST

/* Many tensors: st_find finds each one, in any order. */
START_TEST(test_find_many)
{
    enum { N = 2000 };
    size_t cap = (size_t)N * 100, len = 0, i;
    char *h = malloc(cap), name[32];
    sut_error err = {{0}};
    st_file *f;

    len += (size_t)snprintf(h + len, cap - len, "{");
    for (i = 0; i < N; i++) {
        size_t k = (i * 7919) % N; /* keys and offsets in scrambled order */
        len += (size_t)snprintf(h + len, cap - len,
                                "%s\"t%zu\":{\"dtype\":\"I16\",\"shape\":[1],"
                                "\"data_offsets\":[%zu,%zu]}",
                                i ? "," : "", k, 2 * k, 2 * k + 2);
    }
    snprintf(h + len, cap - len, "}");
    f = st_parse_header(h, strlen(h), 2 * N, "many", &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_str_eq(st_path(f), "many");
    for (i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "t%zu", i);
        ck_assert_ptr_nonnull(st_find(f, name));
        ck_assert_uint_eq(st_find(f, name)->begin, 2 * i);
    }
    ck_assert_ptr_null(st_find(f, "t2000"));
    st_free(f);
    free(h);
}
END_TEST

/* ---- real fixtures ------------------------------------------------------ */

/* Opens every .safetensors file in each folder under root/sub; returns how
 * many were opened. */
static int open_all(const char *root, const char *sub)
{
    char dir[5000], path[5600];
    struct dirent *a, *b;
    DIR *da, *db;
    int n = 0;

    snprintf(dir, sizeof(dir), "%s/%s", root, sub);
    if (!(da = opendir(dir)))
        return 0;
    while ((a = readdir(da))) {
        char sdir[5300];
        if (a->d_name[0] == '.')
            continue;
        snprintf(sdir, sizeof(sdir), "%s/%s", dir, a->d_name);
        if (!(db = opendir(sdir)))
            continue;
        while ((b = readdir(db))) {
            sut_error err = {{0}};
            st_file *f;
            size_t len = strlen(b->d_name);
            if (len < 12 || strcmp(b->d_name + len - 12, ".safetensors") != 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", sdir, b->d_name);
            f = st_open(path, &err);
            ck_assert_msg(f != NULL, "%s: %s", path, err.msg);
            ck_assert_uint_gt(st_count(f), 0);
            st_free(f);
            n++;
        }
        closedir(db);
    }
    closedir(da);
    return n;
}

static st_file *open_fixture(const char *rel)
{
    char path[4400];
    sut_error err = {{0}};
    st_file *f;

    snprintf(path, sizeof(path), "%s/%s", tu_fixtures(), rel);
    f = st_open(path, &err);
    ck_assert_msg(f != NULL, "%s: %s", rel, err.msg);
    return f;
}

START_TEST(test_fixtures_all_open)
{
    if (!tu_fixtures()) {
        tu_skip("fixtures folder absent");
        return;
    }
    ck_assert_int_eq(open_all(tu_fixtures(), "hf"), 12);
    ck_assert_int_eq(open_all(tu_fixtures(), "odd"), 2);
}
END_TEST

START_TEST(test_fixture_tiny_llama)
{
    const st_tensor *t;
    st_file *f;

    if (!tu_fixtures()) {
        tu_skip("fixtures folder absent");
        return;
    }
    f = open_fixture("hf/tiny-llama/model.safetensors");
    ck_assert_uint_eq(st_count(f), 22);
    ck_assert_uint_eq(st_data_start(f), 2088);
    ck_assert_uint_eq(st_data_size(f), 4712);
    t = st_find(f, "model.embed_tokens.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, ST_F32);
    ck_assert_uint_eq(t->ndim, 2);
    ck_assert_uint_eq(t->shape[0], 11);
    ck_assert_uint_eq(t->shape[1], 8);
    ck_assert_uint_eq(t->begin, 0);
    ck_assert_uint_eq(t->end, 352);
    ck_assert_ptr_nonnull(st_find(f, "model.layers.0.self_attn.rotary_emb.inv_freq"));
    ck_assert_ptr_null(st_find(f, "model.layers.1.self_attn.rotary_emb.inv_freq"));
    st_free(f);
}
END_TEST

START_TEST(test_fixture_bf16_and_stories)
{
    const st_tensor *t;
    st_file *f;

    if (!tu_fixtures()) {
        tu_skip("fixtures folder absent");
        return;
    }
    f = open_fixture("hf/tiny-llama-bf16/model.safetensors");
    ck_assert_uint_eq(st_count(f), 21);
    t = st_find(f, "model.embed_tokens.weight");
    ck_assert_int_eq(t->dtype, ST_BF16);
    ck_assert_uint_eq(t->shape[0], 112);
    ck_assert_uint_eq(t->shape[1], 96);
    ck_assert_uint_eq(t->end, 21504);
    st_free(f);
    f = open_fixture("hf/stories260K/model.safetensors");
    ck_assert_uint_eq(st_count(f), 47);
    ck_assert_uint_eq(st_meta_count(f), 1);
    t = st_find(f, "model.embed_tokens.weight");
    ck_assert_uint_eq(t->shape[0], 512);
    ck_assert_uint_eq(t->shape[1], 64);
    st_free(f);
}
END_TEST

START_TEST(test_fixture_lora_adapter)
{
    const st_tensor *t;
    st_file *f;

    if (!tu_fixtures()) {
        tu_skip("fixtures folder absent");
        return;
    }
    /* "__metadata__": null, and offsets not in key order */
    f = open_fixture("odd/lora-adapter/adapter_model.safetensors");
    ck_assert_uint_eq(st_count(f), 8);
    ck_assert_uint_eq(st_meta_count(f), 0);
    ck_assert_str_eq(st_at(f, 0)->name, "model.layers.30.self_attn.q_proj.lora_a");
    ck_assert_uint_eq(st_at(f, 0)->begin, 294912);
    t = st_find(f, "model.layers.30.self_attn.v_proj.lora_b");
    ck_assert_uint_eq(t->begin, 131072);
    ck_assert_uint_eq(t->shape[0], 8);
    ck_assert_uint_eq(t->shape[1], 1024);
    ck_assert_uint_gt(st_at(f, 0)->begin, st_at(f, 2)->begin);
    st_free(f);
}
END_TEST

/* ---- the writer --------------------------------------------------------- */

static char *tmp_path(const char *name)
{
    static char path[512];

    snprintf(path, sizeof(path), "%s/%s", tu_tmpdir(), name);
    return path;
}

/* Reads n bytes at off of path into a new buffer. */
static unsigned char *read_range(const char *path, uint64_t off, size_t n)
{
    unsigned char *buf = malloc(n ? n : 1);
    int fd = open(path, O_RDONLY);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, n, (off_t)off), (ssize_t)n);
    close(fd);
    return buf;
}

START_TEST(test_writer_round_trip_every_dtype)
{
    char *path = tmp_path("out.safetensors");
    sut_error err = {{0}};
    st_writer *w = st_writer_create(path, &err);
    unsigned char data[64];
    uint64_t shape[2] = {2, 4}, off = 0;
    st_file *f;
    int i;

    ck_assert_msg(w != NULL, "%s", err.msg);
    ck_assert_int_eq(st_writer_meta(w, "producer", "suture \"test\"\n", &err), 0);
    ck_assert_int_eq(st_writer_meta(w, "z", "last", &err), 0);
    for (i = ST_DTYPE_COUNT - 1; i >= 0; i--) {
        char name[32];
        snprintf(name, sizeof(name), "t.%s", st_dtype_name((st_dtype)i));
        ck_assert_msg(st_writer_add(w, name, (st_dtype)i, 2, shape, &err) == 0,
                      "%s", err.msg);
    }
    ck_assert_int_eq(st_writer_begin(w, &err), 0);
    for (i = ST_DTYPE_COUNT - 1; i >= 0; i--) {
        size_t n = st_dtype_bits((st_dtype)i); /* 8 elements: bits bytes */
        memset(data, i, n);
        ck_assert_int_eq(st_writer_write(w, data, n, &err), 0);
    }
    ck_assert_int_eq(st_writer_finish(w, &err), 0);
    st_writer_free(w);

    f = st_open(path, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_uint_eq(st_count(f), ST_DTYPE_COUNT);
    ck_assert_uint_eq(st_data_start(f) % 8, 0);
    ck_assert_str_eq(st_meta_key(f, 0), "format");
    ck_assert_str_eq(st_meta_value(f, 0), "pt");
    ck_assert_str_eq(st_meta_get(f, "producer"), "suture \"test\"\n");
    ck_assert_str_eq(st_meta_key(f, 2), "z");
    for (i = ST_DTYPE_COUNT - 1; i >= 0; i--) {
        /* caller's order: the last dtype first */
        const st_tensor *t = st_at(f, (size_t)(ST_DTYPE_COUNT - 1 - i));
        unsigned char *got;
        size_t n = st_dtype_bits((st_dtype)i), k;
        ck_assert_int_eq(t->dtype, i);
        ck_assert_uint_eq(t->begin, off);
        ck_assert_uint_eq(st_tensor_bytes(t), n);
        got = read_range(path, st_data_start(f) + t->begin, n);
        for (k = 0; k < n; k++)
            ck_assert_uint_eq(got[k], (unsigned)i);
        free(got);
        off += n;
    }
    st_free(f);
}
END_TEST

/* The header is exactly the reference layout: metadata first, compact. */
START_TEST(test_writer_header_text)
{
    static const char want[] =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"w\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
        "\"s\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[6,7]}}";
    char *path = tmp_path("h.safetensors");
    sut_error err = {{0}};
    st_writer *w = st_writer_create(path, &err);
    uint64_t three = 3, hlen;
    unsigned char *raw;
    size_t pad = (8 - (sizeof(want) - 1) % 8) % 8, i;

    ck_assert_int_eq(st_writer_add(w, "w", ST_F16, 1, &three, &err), 0);
    ck_assert_int_eq(st_writer_add(w, "s", ST_U8, 0, NULL, &err), 0);
    ck_assert_int_eq(st_writer_begin(w, &err), 0);
    ck_assert_int_eq(st_writer_write(w, "abcdefg", 7, &err), 0);
    ck_assert_int_eq(st_writer_finish(w, &err), 0);
    st_writer_free(w);
    raw = read_range(path, 0, 8 + sizeof(want) - 1 + pad + 7);
    for (hlen = 0, i = 0; i < 8; i++)
        hlen |= (uint64_t)raw[i] << (8 * i);
    ck_assert_uint_eq(hlen, sizeof(want) - 1 + pad);
    ck_assert_int_eq(memcmp(raw + 8, want, sizeof(want) - 1), 0);
    for (i = 0; i < pad; i++)
        ck_assert_uint_eq(raw[8 + sizeof(want) - 1 + i], ' ');
    ck_assert_int_eq(memcmp(raw + 8 + hlen, "abcdefg", 7), 0);
    free(raw);
}
END_TEST

/* Numbers up to 2^53 are printed exactly. */
START_TEST(test_writer_exact_numbers)
{
    char *path = tmp_path("big.safetensors");
    sut_error err = {{0}};
    st_writer *w = st_writer_create(path, &err);
    uint64_t big = (1ULL << 53) - 1, one = 1, hlen = 0;
    unsigned char *raw;
    st_file *f;
    int i;

    ck_assert_int_eq(st_writer_add(w, "a", ST_U8, 1, &one, &err), 0);
    ck_assert_int_eq(st_writer_add(w, "big", ST_U8, 1, &big, &err), 0);
    ck_assert_int_eq(st_writer_begin(w, &err), 0);
    raw = read_range(path, 0, 8);
    for (i = 0; i < 8; i++)
        hlen |= (uint64_t)raw[i] << (8 * i);
    free(raw);
    raw = read_range(path, 8, (size_t)hlen);
    f = st_parse_header((char *)raw, (size_t)hlen, big + 1, "big", &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_uint_eq(st_find(f, "big")->shape[0], 9007199254740991ULL);
    ck_assert_uint_eq(st_find(f, "big")->end, 9007199254740992ULL);
    ck_assert_ptr_nonnull(memmem(raw, (size_t)hlen, "[1,9007199254740992]", 20));
    st_free(f);
    free(raw);
    /* past 2^53 bytes of data the reader would refuse the file */
    ck_assert_int_eq(st_writer_finish(w, &err), -1);
    tu_assert_contains(err.msg, "big.safetensors: tensor 'a': only 0 of 9007199254740992 data bytes were written");
    st_writer_free(w);
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_writer_copy)
{
    char *src = tmp_path("src.bin");
    char dst[600];
    sut_error err = {{0}};
    unsigned char buf[1000], *got;
    uint64_t n = 250;
    st_writer *w;
    st_file *f;
    int fd, i;

    for (i = 0; i < 1000; i++)
        buf[i] = (unsigned char)(i * 31);
    tu_write(src, buf, sizeof(buf));
    snprintf(dst, sizeof(dst), "%s.out.safetensors", src);
    fd = open(src, O_RDONLY);
    w = st_writer_create(dst, &err);
    ck_assert_int_eq(st_writer_add(w, "x", ST_F32, 1, &n, &err), 0);
    ck_assert_int_eq(st_writer_add(w, "y", ST_U8, 1, &n, &err), 0);
    ck_assert_int_eq(st_writer_begin(w, &err), 0);
    ck_assert_uint_eq(st_writer_tensor_offset(w, 1), st_writer_tensor_offset(w, 0) + 1000);
    ck_assert_int_ge(st_writer_fd(w), 0);
    /* x in two copies, y by a copy and a write */
    ck_assert_int_eq(st_writer_copy(w, fd, 0, 600, &err), 0);
    ck_assert_int_eq(st_writer_copy(w, fd, 600, 400, &err), 0);
    ck_assert_int_eq(st_writer_copy(w, fd, 10, 200, &err), 0);
    ck_assert_int_eq(st_writer_write(w, buf, 50, &err), 0);
    ck_assert_int_eq(st_writer_finish(w, &err), 0);
    st_writer_free(w);
    close(fd);
    f = st_open(dst, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    got = read_range(dst, st_data_start(f), 1250);
    ck_assert_int_eq(memcmp(got, buf, 1000), 0);
    ck_assert_int_eq(memcmp(got + 1000, buf + 10, 200), 0);
    ck_assert_int_eq(memcmp(got + 1200, buf, 50), 0);
    free(got);
    st_free(f);
}
END_TEST

START_TEST(test_writer_errors)
{
    char *path = tmp_path("e.safetensors");
    sut_error err = {{0}};
    uint64_t three = 3, four = 4, huge[2] = {1ULL << 40, 1ULL << 40};
    st_writer *w = st_writer_create(path, &err), *w2;
    int fd;

    ck_assert_ptr_nonnull(w);
    w2 = st_writer_create(path, &err);
    ck_assert_ptr_null(w2);
    tu_assert_contains(err.msg, "e.safetensors: cannot create: File exists");
    ck_assert_int_eq(st_writer_meta(w, "format", "gguf", &err), -1);
    tu_assert_contains(err.msg, "e.safetensors: __metadata__: key 'format' is reserved");
    ck_assert_int_eq(st_writer_meta(w, "k", "v", &err), 0);
    ck_assert_int_eq(st_writer_meta(w, "k", "w", &err), -1);
    tu_assert_contains(err.msg, "__metadata__: duplicate key 'k'");
    ck_assert_int_eq(st_writer_add(w, "a", ST_F4, 1, &three, &err), -1);
    tu_assert_contains(err.msg, "e.safetensors: tensor 'a': 12 bits of F4 are not a whole number of bytes");
    ck_assert_int_eq(st_writer_add(w, "a", ST_F32, 2, huge, &err), -1);
    tu_assert_contains(err.msg, "tensor 'a': shape: too large");
    ck_assert_int_eq(st_writer_add(w, "a", ST_DTYPE_COUNT, 1, &three, &err), -1);
    tu_assert_contains(err.msg, "tensor 'a': dtype: invalid value");
    ck_assert_int_eq(st_writer_add(w, "__metadata__", ST_U8, 1, &three, &err), -1);
    tu_assert_contains(err.msg, "the name is reserved");
    ck_assert_int_eq(st_writer_add(w, "a", ST_F4, 1, &four, &err), 0);
    ck_assert_int_eq(st_writer_add(w, "a", ST_U8, 1, &four, &err), -1);
    tu_assert_contains(err.msg, "e.safetensors: tensor 'a': declared twice");
    ck_assert_int_eq(st_writer_add(w, "b", ST_U8, 1, &four, &err), 0);
    ck_assert_int_eq(st_writer_write(w, "xx", 2, &err), -1);
    tu_assert_contains(err.msg, "data written before the header");
    ck_assert_int_eq(st_writer_finish(w, &err), -1);
    tu_assert_contains(err.msg, "finish before the header was written");
    ck_assert_int_eq(st_writer_begin(w, &err), 0);
    ck_assert_int_eq(st_writer_add(w, "c", ST_U8, 1, &four, &err), -1);
    tu_assert_contains(err.msg, "tensor added after the header was written");
    ck_assert_int_eq(st_writer_begin(w, &err), -1);
    ck_assert_int_eq(st_writer_write(w, "0123", 4, &err), 0);
    ck_assert_int_eq(st_writer_finish(w, &err), -1);
    tu_assert_contains(err.msg, "e.safetensors: tensor 'b': only 4 of 6 data bytes were written");
    ck_assert_int_eq(st_writer_write(w, "0123", 4, &err), -1);
    tu_assert_contains(err.msg, "e.safetensors: 2 bytes written past the declared data (4 of 6 bytes were written)");
    fd = open(path, O_RDONLY);
    ck_assert_int_eq(st_writer_copy(w, fd, 0, 2, &err), 0);
    close(fd);
    /* freed before finish: the file is removed */
    st_writer_free(w);
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_writer_bad_names)
{
    char *path = tmp_path("n.safetensors");
    sut_error err = {{0}};
    st_writer *w = st_writer_create(path, &err);
    uint64_t one = 1;
    st_file *f;

    /* control characters are escaped; bad UTF-8 is refused at begin */
    ck_assert_int_eq(st_writer_add(w, "tab\there \"q\" \\", ST_U8, 1, &one, &err), 0);
    ck_assert_int_eq(st_writer_begin(w, &err), 0);
    ck_assert_int_eq(st_writer_write(w, "x", 1, &err), 0);
    ck_assert_int_eq(st_writer_finish(w, &err), 0);
    st_writer_free(w);
    f = st_open(path, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(st_find(f, "tab\there \"q\" \\"));
    st_free(f);

    path = tmp_path("u.safetensors");
    w = st_writer_create(path, &err);
    ck_assert_int_eq(st_writer_add(w, "bad\xff", ST_U8, 1, &one, &err), 0);
    ck_assert_int_eq(st_writer_begin(w, &err), -1);
    tu_assert_contains(err.msg, "u.safetensors: header is not valid UTF-8");
    st_writer_free(w);
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_writer_empty)
{
    char *path = tmp_path("empty.safetensors");
    sut_error err = {{0}};
    st_writer *w = st_writer_create(path, &err);
    st_file *f;

    ck_assert_int_eq(st_writer_begin(w, &err), 0);
    ck_assert_int_eq(st_writer_finish(w, &err), 0);
    ck_assert_int_eq(st_writer_finish(w, &err), -1);
    tu_assert_contains(err.msg, "finish called twice");
    st_writer_free(w);
    f = st_open(path, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_uint_eq(st_count(f), 0);
    ck_assert_uint_eq(st_data_start(f), 8 + 32);
    st_free(f);
}
END_TEST

/* Issue 10: a GGUF file is named as such (was "header length
 * 14064895815 exceeds the file size"). */
START_TEST(test_gguf_named)
{
    static const unsigned char gguf[32] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 12};
    sut_error err = {{0}};
    char path[512];

    snprintf(path, sizeof(path), "%s/tiny.gguf", tu_tmpdir());
    tu_write(path, gguf, sizeof(gguf));
    ck_assert_ptr_null(st_open(path, &err));
    ck_assert_str_eq(err.msg, "tiny.gguf: is a GGUF file");
}
END_TEST

/* A FIFO is refused at once (opened without blocking). */
START_TEST(test_fifo_refused)
{
    sut_error err = {{0}};
    char path[512];

    snprintf(path, sizeof(path), "%s/model.safetensors", tu_tmpdir());
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    ck_assert_ptr_null(st_open(path, &err));
    ck_assert_str_eq(err.msg, "model.safetensors: not a regular file");
}
END_TEST

/* Syntax errors found by the pull reader: where, and in which words. */
static const struct {
    const char *hdr;
    const char *expect;
} syntax_cases[] = {
    {"{\"a\":{\"dtype\":\"F32\",}}", "model.safetensors: invalid JSON at byte 20"},
    {"{\"a\" {}}", "model.safetensors: invalid JSON at byte 5"},
    {"{} {}", "model.safetensors: unexpected data after the JSON value at byte 3"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", "invalid JSON at byte 53"},
    {"{\"a\":{\"dtype\":\"F\\q32\"}}", "invalid JSON at byte 16"},
    {"{\"a\":{\"dtype\":\"\\ud800\"}}", "invalid JSON at byte 15"},
    {"{\"a\":{\"dtype\":tru}}", "invalid JSON at byte 14"},
    {"{\"a\":{\"shape\":[1,,2]}}", "invalid JSON at byte 17"},
    {"{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", "model.safetensors: duplicate key 'k'"},
    {"{\"__metadata__\":null,\"__metadata__\":null}", "duplicate key '__metadata__'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}",
     "tensor 'a': shape[0]: an array is not a whole number in [0, 2^53]"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,{}]}}",
     "tensor 'a': data_offsets[1]: an object is not a whole number in [0, 2^53]"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}}",
     "tensor 'a': shape[0]: null is not a whole number"},
};

START_TEST(test_syntax)
{
    sut_error err = {{0}};

    ck_assert_ptr_null(st_parse_header(syntax_cases[_i].hdr, strlen(syntax_cases[_i].hdr),
                                       4, "model.safetensors", &err));
    tu_assert_contains(err.msg, syntax_cases[_i].expect);
}
END_TEST

/* Names, shapes and metadata of many tensors stay right in the compact
 * arrays (names in one arena, shapes in one array). */
START_TEST(test_many_tensors_compact)
{
    enum { N = 20000 };
    size_t cap = (size_t)N * 100 + 100, len, i, off = 0;
    char *h = malloc(cap), name[32];
    sut_error err = {{0}};
    st_file *f;

    /* tensor i: shape [1, i % 3] of U8, offsets running */
    ck_assert_ptr_nonnull(h);
    len = (size_t)snprintf(h, cap, "{\"__metadata__\":{\"format\":\"pt\",\"k\":\"v\"}");
    for (i = 0; i < N; i++) {
        len += (size_t)snprintf(h + len, cap - len,
                                ",\"t%zu\":{\"dtype\":\"U8\",\"shape\":[1,%zu],"
                                "\"data_offsets\":[%zu,%zu]}", i, i % 3, off, off + i % 3);
        off += i % 3;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    f = st_parse_header(h, len, off, "big.safetensors", &err);
    free(h);
    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_uint_eq(st_count(f), N);
    for (i = 0; i < N; i += 997) {
        const st_tensor *t;
        snprintf(name, sizeof(name), "t%zu", i);
        t = st_find(f, name);
        ck_assert_ptr_nonnull(t);
        ck_assert_ptr_eq(t, st_at(f, i));
        ck_assert_uint_eq(t->ndim, 2);
        ck_assert_uint_eq(t->shape[0], 1);
        ck_assert_uint_eq(t->shape[1], i % 3);
    }
    ck_assert_str_eq(st_meta_get(f, "k"), "v");
    ck_assert_str_eq(st_meta_key(f, 0), "format");
    st_free(f);
}
END_TEST

static Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("reader");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_catalogue, 0, D_COUNT);
    tcase_add_loop_test(tc, test_catalogue_in_memory, 0, D_COUNT);
    tcase_add_test(tc, test_not_found);
    tcase_add_test(tc, test_gguf_named);
    tcase_add_test(tc, test_fifo_refused);
    tcase_add_loop_test(tc, test_syntax, 0, sizeof(syntax_cases) / sizeof(syntax_cases[0]));
    tcase_add_test(tc, test_many_tensors_compact);
    tcase_add_test(tc, test_scalar_and_empty);
    tcase_add_test(tc, test_empty_at_start_and_end);
    tcase_add_test(tc, test_offsets_not_in_key_order);
    tcase_add_test(tc, test_every_dtype);
    tcase_add_test(tc, test_padded_and_spaced);
    tcase_add_test(tc, test_no_tensors);
    tcase_add_test(tc, test_names_with_escapes);
    tcase_add_test(tc, test_long_multibyte_name_cut_whole);
    tcase_add_test(tc, test_free_null);
    tcase_add_test(tc, test_find_many);
    tcase_add_test(tc, test_fixtures_all_open);
    tcase_add_test(tc, test_fixture_tiny_llama);
    tcase_add_test(tc, test_fixture_bf16_and_stories);
    tcase_add_test(tc, test_fixture_lora_adapter);
    suite_add_tcase(s, tc);
    tc = tcase_create("writer");
    tcase_add_test(tc, test_writer_round_trip_every_dtype);
    tcase_add_test(tc, test_writer_header_text);
    tcase_add_test(tc, test_writer_exact_numbers);
    tcase_add_test(tc, test_writer_copy);
    tcase_add_test(tc, test_writer_errors);
    tcase_add_test(tc, test_writer_bad_names);
    tcase_add_test(tc, test_writer_empty);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(safetensors_suite)
