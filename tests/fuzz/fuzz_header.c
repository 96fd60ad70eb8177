/* fuzz_header.c: the safetensors header reader (st_parse_header).
 * Input: 8 bytes little-endian data section length, then the header text.
 * A header that is accepted must describe a consistent file. */
#include "fuzz.h"
#include "suture/safetensors.h"

static int cmp_u64(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;

    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Offsets sorted tile [0, data_len) exactly; every name is found. */
static void check_file(const st_file *f, uint64_t data_len, size_t hdr_len)
{
    size_t i, n = st_count(f);
    uint64_t *spans = calloc(n ? 2 * n : 1, sizeof(uint64_t)), pos = 0;

    FZ_CHECK(spans);
    FZ_CHECK(st_data_size(f) == data_len);
    FZ_CHECK(st_data_start(f) == 8 + (uint64_t)hdr_len);
    for (i = 0; i < n; i++) {
        const st_tensor *t = st_at(f, i);
        unsigned bits = st_dtype_bits(t->dtype);
        uint64_t prod = 1;
        size_t d;

        FZ_CHECK(t && t->name && st_find(f, t->name) == t);
        FZ_CHECK(bits >= 1 && t->begin <= t->end && t->end <= data_len);
        for (d = 0; d < t->ndim; d++)
            FZ_CHECK(!__builtin_mul_overflow(prod, t->shape[d], &prod));
        FZ_CHECK(prod == t->elements);
        FZ_CHECK((unsigned __int128)t->elements * bits ==
                 (unsigned __int128)st_tensor_bytes(t) * 8);
        spans[2 * i] = t->begin;
        spans[2 * i + 1] = t->end;
    }
    qsort(spans, n, 2 * sizeof(uint64_t), cmp_u64);
    for (i = 0; i < n; i++) {
        FZ_CHECK(spans[2 * i] == pos);
        pos = spans[2 * i + 1];
    }
    FZ_CHECK(pos == data_len);
    FZ_CHECK(st_at(f, n) == NULL);
    for (i = 0; i < st_meta_count(f); i++)
        FZ_CHECK(st_meta_get(f, st_meta_key(f, i)) != NULL &&
                 st_meta_value(f, i) != NULL);
    free(spans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sut_error err = {{0}};
    uint64_t data_len = 0;
    st_file *f;
    int i;

    if (size < 8)
        return 0;
    for (i = 7; i >= 0; i--)
        data_len = data_len << 8 | data[i];
    f = st_parse_header((const char *)data + 8, size - 8, data_len,
                        "model.safetensors", &err);
    if (f)
        check_file(f, data_len, size - 8);
    else
        FZ_CHECK_MSG(err.msg);
    st_free(f);
    return 0;
}
