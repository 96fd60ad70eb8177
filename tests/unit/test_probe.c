/* test_probe.c: the forward pass over a stack that is not a checkpoint
 * (what issue 15's recipe evaluation builds on) gives bit for bit what
 * the built checkpoint gives; --tokens files; the progress contract.
 * Numbers against independent oracles are in tests/cli/forward.sh. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "suture/build.h"
#include "suture/model.h"
#include "suture/plan.h"
#include "suture/probe.h"
#include "suture/recipe.h"

static char s260[PATH_MAX];

/* stories260K as an absolute path, or NULL (the test then skips). */
static const char *stories(void)
{
    const char *fix = tu_fixtures();
    char rel[PATH_MAX + 32];

    if (!fix)
        return NULL;
    snprintf(rel, sizeof(rel), "%.*s/hf/stories260K", PATH_MAX - 16, fix);
    return realpath(rel, s260) ? s260 : NULL;
}

static model *open_model(const char *path, arch_table *t)
{
    sut_error err;
    model *m = model_open(path, t, MODEL_STRICT, &err);

    ck_assert_msg(m != NULL, "%s", err.msg);
    return m;
}

static void probe_ok(const fw_stack *s, const int32_t *ids, size_t n,
                     const probe_options *o, probe_result *r)
{
    sut_error err;

    ck_assert_msg(probe_run(s, ids, n, o, r, &err) == 0, "%s", err.msg);
}

/* Builds recipe json into dir/out. */
static void build_recipe(const char *dir, const char *json, arch_table *t)
{
    char path[4200], out[4200];
    build_options bo = {.jobs = 1};
    sut_error err;
    recipe *r;
    plan *p;

    snprintf(path, sizeof(path), "%s/r.json", dir);
    snprintf(out, sizeof(out), "%s/out", dir);
    tu_write(path, json, strlen(json));
    r = recipe_load(path, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    p = plan_make(r, t, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    bo.out = out;
    ck_assert_msg(build_run(p, &bo, NULL, &err) == 0, "%s", err.msg);
    plan_free(p);
    recipe_free(r);
}

static void assert_same(const probe_result *a, const probe_result *b)
{
    size_t i;

    ck_assert_uint_eq(a->predicted, b->predicted);
    ck_assert_msg(a->nll == b->nll, "nll %.17g vs %.17g", a->nll, b->nll);
    ck_assert_uint_eq(a->n_layers, b->n_layers);
    for (i = 0; i < a->n_layers; i++) {
        ck_assert(a->layers[i].angular_distance == b->layers[i].angular_distance);
        ck_assert(a->layers[i].angular_distance_last == b->layers[i].angular_distance_last);
        ck_assert(a->layers[i].block_influence == b->layers[i].block_influence);
    }
    for (i = 0; i < a->n_blocks; i++) {
        ck_assert_uint_eq(a->blocks[i].start, b->blocks[i].start);
        ck_assert(a->blocks[i].angular_distance == b->blocks[i].angular_distance);
    }
}

/* Layers 0-2 then 2-4 again with o_proj and down_proj at 0.5: the stack
 * read from the source equals the checkpoint suture build writes. */
START_TEST(stack_equals_built_checkpoint)
{
    const char *src = stories();
    static const fw_scale half[] = {{"self_attn.o_proj.weight", 0.5f},
                                    {"mlp.down_proj.weight", 0.5f}};
    char json[8192], out[4200];
    const char *dir;
    sut_error err;
    arch_table *t;
    model *m, *built;
    fw_slot slots[6];
    fw_stack stack, whole;
    probe_options o = {.ctx = 64, .batch = 2, .threads = 2, .bos = -1};
    probe_result a, b;
    int32_t ids[200];
    size_t i;

    if (!src) {
        tu_skip("no fixtures/hf/stories260K");
        return;
    }
    dir = tu_tmpdir();
    t = arch_table_new(&err);
    ck_assert_ptr_nonnull(t);
    snprintf(json, sizeof(json),
             "{\"models\": {\"s\": \"%s\"}, \"slices\": ["
             "{\"model\": \"s\", \"layers\": [0, 3]},"
             "{\"model\": \"s\", \"layers\": [2, 5], \"scale\": [{\"match\": "
             "\"o_proj|down_proj\", \"value\": 0.5}]}]}", src);
    build_recipe(dir, json, t);
    m = open_model(src, t);
    snprintf(out, sizeof(out), "%s/out", dir);
    built = open_model(out, t);
    for (i = 0; i < 6; i++)
        slots[i] = (fw_slot){m, (unsigned)(i < 3 ? i : i - 1), i < 3 ? NULL : half,
                             i < 3 ? 0 : 2};
    stack = (fw_stack){m, m, m, slots, 6, NULL};
    for (i = 0; i < 200; i++)
        ids[i] = (int32_t)((i * 37 + 1) % 512);
    probe_ok(&stack, ids, 200, &o, &a);
    ck_assert_int_eq(fw_stack_of_model(&whole, built, &err), 0);
    probe_ok(&whole, ids, 200, &o, &b);
    ck_assert_uint_eq(a.n_layers, 6);
    assert_same(&a, &b);
    probe_result_free(&a);
    probe_result_free(&b);
    /* without the scales the stack is another model */
    for (i = 3; i < 6; i++)
        slots[i].n_scales = 0;
    probe_ok(&stack, ids, 200, &o, &a);
    ck_assert(a.nll != b.nll);
    probe_result_free(&a);
    fw_stack_release(&whole);
    model_free(built);
    model_free(m);
    arch_table_free(t);
}
END_TEST

/* Runs stack s over ids (one window) with fw_ steps from layer `from`
 * (0: embed first), on batch b; returns the NLL sum. */
static double pass(const fw_stack *s, fw_batch *b, size_t from, size_t to)
{
    sut_error err;
    fw_model *f = fw_open(s, 1, &err);
    double nll = 0;
    uint64_t pred = 0;
    size_t i;

    ck_assert_msg(f != NULL, "%s", err.msg);
    if (from == 0)
        ck_assert_msg(fw_embed(f, b, &err) == 0, "%s", err.msg);
    for (i = from; i < to; i++)
        ck_assert_msg(fw_layer(f, b, i, &err) == 0, "%s", err.msg);
    if (to == s->n_layers)
        ck_assert_msg(fw_head(f, b, NULL, NULL, &nll, &pred, &err) == 0, "%s", err.msg);
    fw_free(f);
    return nll;
}

/* Hidden states carried from one stack's prefix into another stack's
 * layers equal the second stack run alone (a search shares prefixes). */
START_TEST(batch_carries_a_prefix_across_stacks)
{
    const char *src = stories();
    sut_error err;
    arch_table *t;
    model *m;
    fw_slot a[5], b[6];
    fw_stack sa, sb;
    fw_batch *x, *y;
    int32_t ids[64];
    size_t i, len = 64;
    double alone, shared;

    if (!src) {
        tu_skip("no fixtures/hf/stories260K");
        return;
    }
    t = arch_table_new(&err);
    m = open_model(src, t);
    for (i = 0; i < 5; i++)
        a[i] = (fw_slot){m, (unsigned)i, NULL, 0};
    for (i = 0; i < 6; i++)
        b[i] = (fw_slot){m, (unsigned)(i < 3 ? i : i - 1), NULL, 0};
    sa = (fw_stack){m, m, m, a, 5, NULL};
    sb = (fw_stack){m, m, m, b, 6, NULL};
    for (i = 0; i < len; i++)
        ids[i] = (int32_t)((i * 11 + 1) % 512);
    {
        fw_model *f = fw_open(&sb, 1, &err);
        ck_assert_ptr_nonnull(f);
        x = fw_batch_new(f, len, len, &err);
        y = fw_batch_new(f, len, len, &err);
        fw_free(f);
    }
    ck_assert_int_eq(fw_batch_set(x, ids, &len, 1, &err), 0);
    ck_assert_int_eq(fw_batch_set(y, ids, &len, 1, &err), 0);
    alone = pass(&sb, x, 0, 6);
    pass(&sa, y, 0, 3);          /* the shared prefix, from stack a */
    shared = pass(&sb, y, 3, 6); /* then stack b's layers 3.. and head */
    ck_assert_msg(alone == shared, "%.17g vs %.17g", alone, shared);
    ck_assert(alone > 0);
    fw_batch_free(x);
    fw_batch_free(y);
    model_free(m);
    arch_table_free(t);
}
END_TEST

/* Progress is in bytes of weights read: each pass reads every tensor
 * once (the tied head is the embedding, read whole; the embedding as
 * input is read by rows and not counted). */
START_TEST(progress_counts_passes)
{
    const char *src = stories();
    tu_progress p = {0};
    probe_options o = {.ctx = 100, .batch = 2, .threads = 1, .bos = -1,
                       .progress = tu_progress_record, .progress_ctx = &p};
    sut_error err;
    arch_table *t;
    model *m;
    fw_stack s;
    probe_result r;
    int32_t ids[500];
    size_t i;

    if (!src) {
        tu_skip("no fixtures/hf/stories260K");
        return;
    }
    t = arch_table_new(&err);
    m = open_model(src, t);
    for (i = 0; i < 500; i++)
        ids[i] = (int32_t)(i % 512);
    ck_assert_int_eq(fw_stack_of_model(&s, m, &err), 0);
    probe_ok(&s, ids, 500, &o, &r);
    ck_assert_uint_eq(r.windows, 5);
    tu_assert_progress(&p, 3 * model_data_bytes(m)); /* 3 passes of 2, 2, 1 */
    probe_result_free(&r);
    fw_stack_release(&s);
    model_free(m);
    arch_table_free(t);
}
END_TEST

/* With a BOS id, each window after the first starts with it. */
START_TEST(bos_starts_later_windows)
{
    const char *src = stories();
    probe_options o = {.ctx = 100, .batch = 1, .threads = 1, .bos = 1};
    sut_error err;
    arch_table *t;
    model *m;
    fw_stack s;
    probe_result r;
    int32_t ids[298];
    size_t i;

    if (!src) {
        tu_skip("no fixtures/hf/stories260K");
        return;
    }
    t = arch_table_new(&err);
    m = open_model(src, t);
    for (i = 0; i < 298; i++)
        ids[i] = (int32_t)(i % 512);
    ck_assert_int_eq(fw_stack_of_model(&s, m, &err), 0);
    probe_ok(&s, ids, 298, &o, &r);
    /* 100 ids, then BOS + 99, then BOS + 99: 298 ids, 300 fed */
    ck_assert_uint_eq(r.windows, 3);
    ck_assert_uint_eq(r.tokens, 300);
    ck_assert_uint_eq(r.predicted, 297);
    probe_result_free(&r);
    fw_stack_release(&s);
    model_free(m);
    arch_table_free(t);
}
END_TEST

static void ids_ok(const char *text, size_t want_n, int32_t first, int32_t last)
{
    const char *dir = tu_tmpdir();
    char path[300];
    int32_t *ids;
    size_t n;
    sut_error err;

    snprintf(path, sizeof(path), "%s/ids", dir);
    tu_write(path, text, strlen(text));
    ck_assert_msg(probe_read_ids(path, &ids, &n, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(n, want_n);
    ck_assert_int_eq(ids[0], first);
    ck_assert_int_eq(ids[n - 1], last);
    free(ids);
}

static void ids_bad_n(const char *text, size_t len, const char *want)
{
    const char *dir = tu_tmpdir();
    char path[300];
    int32_t *ids;
    size_t n;
    sut_error err;

    snprintf(path, sizeof(path), "%s/ids", dir);
    tu_write(path, text, len);
    ck_assert_int_eq(probe_read_ids(path, &ids, &n, &err), -1);
    ck_assert_ptr_null(ids);
    tu_assert_contains(err.msg, path);
    tu_assert_contains(err.msg, want);
}

static void ids_bad(const char *text, const char *want)
{
    ids_bad_n(text, strlen(text), want);
}

START_TEST(token_files)
{
    ids_ok("1 2\t3\n\n4\r\n", 4, 1, 4);
    ids_ok("  [0, 2147483647]\n", 2, 0, 2147483647);
    ids_ok("7", 1, 7, 7);
    ids_bad("1 2147483648", "item 1 is not a token id");
    ids_bad("1 +2", "item 1 is not a token id");
    ids_bad("1,2", "item 0 is not a token id");
    ids_bad("[1, 2.5]", "item 1 is not a token id");
    ids_bad("[1, 2", "invalid JSON");
    ids_bad("[]", "no token ids");
    ids_bad_n("1 2\0003", 5, "holds a NUL byte");
}
END_TEST

static Suite *probe_suite(void)
{
    Suite *s = suite_create("probe");
    TCase *fixtures = tcase_create("fixtures"), *files = tcase_create("files");

    tcase_set_timeout(fixtures, 120);
    tcase_add_test(fixtures, stack_equals_built_checkpoint);
    tcase_add_test(fixtures, batch_carries_a_prefix_across_stacks);
    tcase_add_test(fixtures, progress_counts_passes);
    tcase_add_test(fixtures, bos_starts_later_windows);
    tcase_add_test(files, token_files);
    suite_add_tcase(s, fixtures);
    suite_add_tcase(s, files);
    return s;
}

SUT_TEST_MAIN(probe_suite)
