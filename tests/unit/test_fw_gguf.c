/* test_fw_gguf.c: the forward pass's GGUF reading: Q8_0 blocks worked by
 * hand (numbers from the ggml block layout: an F16 scale, 32 int8), and
 * metadata the pass refuses by name. Logits against llama.cpp are in
 * tests/cli/forward_gguf.sh. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "suture/forward.h"
#include "suture/gguf.h"
#include "suture/gguf_model.h"
#include "compute/fw_int.h"

START_TEST(q8_0_blocks)
{
    unsigned char blk[2 * FW_Q8_0_BYTES];
    float out[2 * FW_Q8_0_BLOCK];
    int i;

    /* block 0: d = 0.5 (F16 0x3800), q = i - 16; block 1: d = -2 (0xC000),
     * q = 127 then -128 */
    memset(blk, 0, sizeof(blk));
    blk[0] = 0x00;
    blk[1] = 0x38;
    for (i = 0; i < 32; i++)
        blk[2 + i] = (unsigned char)(int8_t)(i - 16);
    blk[34] = 0x00;
    blk[35] = 0xC0;
    blk[36] = 127;
    blk[37] = (unsigned char)(int8_t)-128;
    fw_q8_0_f32(blk, out, 2, 1.0f);
    for (i = 0; i < 32; i++)
        ck_assert_float_eq(out[i], 0.5f * (float)(i - 16));
    ck_assert_float_eq(out[32], -254.0f);
    ck_assert_float_eq(out[33], 256.0f);
    ck_assert_float_eq(out[34], 0.0f);
    /* a scale multiplies the block scale, rounded to F16 as a build stores
     * it: 0.5 x 0.1 = 0.05 -> F16 0x2A66 = 0.0499877929688 */
    fw_q8_0_f32(blk, out, 1, 0.1f);
    ck_assert_float_eq(out[17], 0.0499877929688f);
    fw_q8_0_f32(blk, out, 1, 0.0f);
    ck_assert_float_eq(out[31], 0.0f);
}
END_TEST

/* A llama GGUF with no layers' tensors but token_embd [64 x 10]; the
 * feed_forward_length given per layer as ffn[0], ffn[1]. */
static void write_gguf(const char *path, uint32_t ffn0, uint32_t ffn1)
{
    sut_error err;
    gguf_writer *w = gguf_writer_create(path, 32, &err);
    uint64_t ne[2] = {64, 10};
    uint32_t ffn[2] = {ffn0, ffn1};
    float eps = 1e-5f;

    ck_assert_msg(w != NULL, "%s", err.msg);
    ck_assert(gguf_writer_kv_str(w, "general.architecture", "llama", &err) == 0);
    ck_assert(gguf_writer_kv_u32(w, "llama.block_count", 2, &err) == 0);
    ck_assert(gguf_writer_kv_u32(w, "llama.embedding_length", 64, &err) == 0);
    ck_assert(gguf_writer_kv_u32(w, "llama.attention.head_count", 4, &err) == 0);
    ck_assert(gguf_writer_kv(w, "llama.feed_forward_length", GGUF_V_ARRAY,
                             GGUF_V_U32, 2, ffn, sizeof(ffn), &err) == 0);
    ck_assert(gguf_writer_kv(w, "llama.attention.layer_norm_rms_epsilon",
                             GGUF_V_F32, GGUF_V_F32, 1, &eps, 4, &err) == 0);
    ck_assert(gguf_writer_add(w, "token_embd.weight", GGUF_F32, 2, ne, &err) == 0);
    ck_assert(gguf_writer_begin(w, &err) == 0);
    ck_assert(gguf_writer_zero(w, 64 * 10 * 4, &err) == 0);
    ck_assert_msg(gguf_writer_finish(w, &err) == 0, "%s", err.msg);
    gguf_writer_free(w);
}

/* fw_open's message on path. */
static void open_fails(const char *path, const char *want)
{
    sut_error err;
    gmodel *g = gmodel_open(path, &err);
    fw_stack s;
    fw_model *f;

    ck_assert_msg(g != NULL, "%s", err.msg);
    ck_assert(fw_stack_of_gguf(&s, g, &err) == 0);
    f = fw_open(&s, 1, &err);
    ck_assert(f == NULL);
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s", err.msg);
    fw_stack_release(&s);
    gmodel_free(g);
}

START_TEST(metadata_refused_by_name)
{
    char a[4096], b[4096];

    snprintf(a, sizeof(a), "%s/per-layer.gguf", tu_tmpdir());
    snprintf(b, sizeof(b), "%s/uniform.gguf", tu_tmpdir());
    write_gguf(a, 128, 256);
    open_fails(a, "per-layer.gguf: 'llama.feed_forward_length' differs between "
               "layers: not implemented by the forward pass");
    /* equal per-layer values are one value: the missing tensors are next */
    write_gguf(b, 128, 128);
    open_fails(b, "uniform.gguf: tensor 'output_norm.weight' is missing");
}
END_TEST

static Suite *fw_gguf_suite(void)
{
    Suite *s = suite_create("fw_gguf");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, q8_0_blocks);
    tcase_add_test(tc, metadata_refused_by_name);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(fw_gguf_suite)
