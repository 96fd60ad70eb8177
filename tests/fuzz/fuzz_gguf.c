/* fuzz_gguf.c: the GGUF header reader (gguf_parse).
 * Input: a whole GGUF file. An accepted file must be consistent: every
 * tensor aligned, inside the data section, no two overlapping, its size the
 * type table's; every key and name found by lookup; every value readable. */
#include "fuzz.h"
#include "suture/gguf.h"

static int cmp_u64(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;

    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void check_kvs(const gguf_file *f)
{
    size_t i, len;
    uint64_t u, k;
    double d;

    for (i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        FZ_CHECK(gguf_kv_find(f, kv->key) == kv);
        FZ_CHECK(kv->type < GGUF_V_COUNT && kv->elem < GGUF_V_COUNT);
        (void)gguf_kv_u64(kv, &u);
        (void)gguf_kv_f64(kv, &d);
        if (kv->type == GGUF_V_STRING)
            FZ_CHECK(gguf_kv_str(kv, &len) && len == kv->raw_len - 8);
        if (kv->type != GGUF_V_ARRAY)
            continue;
        if (gguf_vtype_size(kv->elem))
            FZ_CHECK(kv->raw_len == kv->count * gguf_vtype_size(kv->elem));
        for (k = 0; k < kv->count && k < 64; k++) {
            (void)gguf_kv_arr_u64(kv, k, &u);
            (void)gguf_kv_arr_f64(kv, k, &d);
            if (kv->elem == GGUF_V_STRING)
                FZ_CHECK(gguf_kv_arr_str(kv, k, &len) != NULL);
        }
    }
    FZ_CHECK(gguf_kv_at(f, gguf_kv_count(f)) == NULL);
}

static void check_tensors(const gguf_file *f)
{
    size_t i, n = gguf_tensor_count(f);
    uint64_t *spans = calloc(n ? 2 * n : 1, sizeof(uint64_t)), bytes;
    uint32_t align = gguf_alignment(f);

    FZ_CHECK(spans && align && (align & (align - 1)) == 0);
    FZ_CHECK(gguf_data_start(f) % align == 0);
    FZ_CHECK(n == 0 || gguf_data_start(f) + gguf_data_size(f) == gguf_file_size(f));
    for (i = 0; i < n; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        FZ_CHECK(gguf_tensor_find(f, t->name) == t);
        FZ_CHECK(strlen(t->name) >= 1 && strlen(t->name) <= GGUF_NAME_MAX);
        FZ_CHECK(gguf_type_bytes(t->type, t->ne, t->ndim, &bytes) == 0 &&
                 bytes == t->bytes);
        FZ_CHECK(t->offset % align == 0);
        FZ_CHECK(t->offset <= gguf_data_size(f) &&
                 t->bytes <= gguf_data_size(f) - t->offset);
        spans[2 * i] = t->offset;
        spans[2 * i + 1] = t->offset + t->bytes;
    }
    qsort(spans, n, 2 * sizeof(uint64_t), cmp_u64);
    for (i = 1; i < n; i++)
        FZ_CHECK(spans[2 * i] >= spans[2 * i - 1]);
    free(spans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sut_error err = {{0}};
    gguf_file *f = gguf_parse(data, size, size, "model.gguf", &err);

    if (f) {
        check_kvs(f);
        check_tensors(f);
    } else {
        FZ_CHECK_MSG(err.msg);
    }
    gguf_free(f);
    return 0;
}
