/* test_measure.c: the stack a plan describes (layers, donors, each
 * tensor's scale as the plan gives it), the stacks of the search's
 * candidates, and the search's refusals. That the numbers equal probing
 * the built output is in tests/cli/measure.sh. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "suture/measure.h"
#include "suture/model.h"
#include "suture/plan.h"
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

START_TEST(stack_of_a_scaled_plan)
{
    const char *src = stories();
    char arg[PATH_MAX + 8];
    const char *args[1] = {arg};
    sut_error err;
    arch_table *t;
    recipe *r;
    plan *p;
    fw_stack s;
    size_t i;

    if (!src) {
        tu_skip("no fixtures/hf/stories260K");
        return;
    }
    snprintf(arg, sizeof(arg), "s=%s", src);
    t = arch_table_new(&err);
    r = recipe_parse_spec("s[0:2], s[1:3]*o_proj=0.5*down_proj=0.25", args, 1, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    p = plan_make(r, t, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_int_eq(measure_stack_of_plan(p, &s, &err), 0);
    ck_assert_uint_eq(s.n_layers, 4);
    ck_assert_ptr_eq(s.config, plan_model(p, 0));
    ck_assert_ptr_eq(s.embed, plan_model(p, 0));
    ck_assert_ptr_eq(s.head, plan_model(p, 0));
    for (i = 0; i < 4; i++) {
        ck_assert_uint_eq(s.layers[i].layer, i < 2 ? i : i - 1);
        ck_assert_uint_eq(s.layers[i].n_scales, i < 2 ? 0 : 2);
    }
    for (i = 2; i < 4; i++) {
        const fw_scale *a = &s.layers[i].scales[0], *b = &s.layers[i].scales[1];
        if (strcmp(a->local, "self_attn.o_proj.weight") != 0) {
            const fw_scale *x = a;
            a = b;
            b = x;
        }
        ck_assert_str_eq(a->local, "self_attn.o_proj.weight");
        ck_assert(a->scale == 0.5f);
        ck_assert_str_eq(b->local, "mlp.down_proj.weight");
        ck_assert(b->scale == 0.25f);
    }
    measure_stack_release(&s);
    ck_assert_ptr_null(s.layers);
    plan_free(p);
    recipe_free(r);
    arch_table_free(t);
}
END_TEST

/* The layers of candidate a as a string "0 1 2 1 2 3 4". */
static void cand(const model *m, measure_kind k, unsigned n, unsigned a, const char *want)
{
    fw_slot slots[16];
    char got[64] = "";
    size_t len = measure_candidate_stack(m, k, n, a, NULL, slots), i, at = 0;

    for (i = 0; i < len; i++)
        at += (size_t)snprintf(got + at, sizeof(got) - at, "%s%u", i ? " " : "",
                               slots[i].layer);
    ck_assert_str_eq(got, want);
}

START_TEST(candidate_stacks)
{
    const char *src = stories();
    sut_error err;
    arch_table *t;
    model *m;
    measure_search_result r;
    probe_options o = {0};
    int32_t ids[4] = {1, 2, 3, 4};

    if (!src) {
        tu_skip("no fixtures/hf/stories260K");
        return;
    }
    t = arch_table_new(&err);
    m = model_open(src, t, MODEL_STRICT, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    cand(m, MEASURE_REPEAT, 1, 0, "0 0 1 2 3 4");
    cand(m, MEASURE_REPEAT, 2, 1, "0 1 2 1 2 3 4");
    cand(m, MEASURE_REPEAT, 5, 0, "0 1 2 3 4 0 1 2 3 4");
    cand(m, MEASURE_DROP, 1, 0, "1 2 3 4");
    cand(m, MEASURE_DROP, 2, 3, "0 1 2");
    cand(m, MEASURE_DROP, 1, 2, "0 1 3 4");
    o.ctx = 4;
    ck_assert_int_eq(measure_search(m, MEASURE_REPEAT, 0, NULL, ids, 4, &o, &r, &err), -1);
    ck_assert_str_eq(err.msg, "repeat:0: the model has 5 layers (a block of 1 to 5)");
    ck_assert_int_eq(measure_search(m, MEASURE_DROP, 5, NULL, ids, 4, &o, &r, &err), -1);
    ck_assert_str_eq(err.msg, "drop:5: the model has 5 layers (a block of 1 to 4)");
    model_free(m);
    arch_table_free(t);
}
END_TEST

static Suite *measure_suite(void)
{
    Suite *s = suite_create("measure");
    TCase *fixtures = tcase_create("fixtures");

    tcase_set_timeout(fixtures, 60);
    tcase_add_test(fixtures, stack_of_a_scaled_plan);
    tcase_add_test(fixtures, candidate_stacks);
    suite_add_tcase(s, fixtures);
    return s;
}

SUT_TEST_MAIN(measure_suite)
