/* test_layout.c: the data order that lets copies share blocks: runs in
 * source order, repeated tensors in runs of their own, the header phase,
 * written items, and what counts as shareable. */
#include "testutil.h"
#include "suture/xfer.h"
#include "surgery/layout.h"

#define B XFER_BLOCK

static void lay(const layout_item *it, size_t n, size_t *order, layout_result *res)
{
    ck_assert_int_eq(layout_order(it, n, order, res), 0);
}

/* Tensors listed out of source order come out in source order, one run;
 * the header puts the data at the run's phase. */
START_TEST(test_source_order)
{
    layout_item it[] = {{0, 2136 + 2 * B, B}, {0, 2136, B}, {0, 2136 + B, B}};
    size_t order[3];
    layout_result res;

    lay(it, 3, order, &res);
    ck_assert(res.aligned);
    ck_assert_uint_eq(res.phase, 2136);
    ck_assert_uint_eq(order[0], 1);
    ck_assert_uint_eq(order[1], 2);
    ck_assert_uint_eq(order[2], 0);
    /* 3 blocks from 2136: the head (1960 bytes) and tail copied */
    ck_assert_uint_eq(res.shareable, 2 * B);
}
END_TEST

/* A repeated block (A B A B) makes two runs, each at its source phase. */
START_TEST(test_repeats)
{
    layout_item it[] = {{7, 8 * B, B}, {7, 9 * B, 2 * B}, {7, 8 * B, B}, {7, 9 * B, 2 * B}};
    size_t order[4];
    layout_result res;

    lay(it, 4, order, &res);
    ck_assert(res.aligned);
    ck_assert_uint_eq(res.phase, 0);
    ck_assert_uint_eq(order[0], 0);
    ck_assert_uint_eq(order[1], 1);
    ck_assert_uint_eq(order[2], 2);
    ck_assert_uint_eq(order[3], 3);
    ck_assert_uint_eq(res.shareable, 6 * B);
}
END_TEST

/* Two source files at different phases: the larger run is aligned by the
 * header; written (converted) items go where they realign the other run
 * when they can, and after the runs otherwise. */
START_TEST(test_two_sources)
{
    layout_item it[] = {
        {1, 16, 2 * B},              /* small run, phase 16 */
        {LAYOUT_WRITTEN, 0, 16},     /* written: brings the phase to 16 */
        {2, 8 * B, 4 * B},           /* big run, phase 0 */
    };
    size_t order[3];
    layout_result res;

    lay(it, 3, order, &res);
    ck_assert(res.aligned);
    ck_assert_uint_eq(res.phase, 0);
    ck_assert_uint_eq(order[0], 2);
    ck_assert_uint_eq(order[1], 1);
    ck_assert_uint_eq(order[2], 0);
    ck_assert_uint_eq(res.shareable, 4 * B + B);
}
END_TEST

/* Nothing a header padded to 8 can align: the items stay as given. */
START_TEST(test_nothing_to_align)
{
    layout_item it[] = {{LAYOUT_WRITTEN, 0, 100}, {3, 4, 3 * B}, {3, 12 * B, 10}};
    size_t order[3];
    layout_result res;

    lay(it, 3, order, &res);
    ck_assert(!res.aligned);
    ck_assert_uint_eq(res.shareable, 0);
    ck_assert_uint_eq(order[0], 0);
    ck_assert_uint_eq(order[1], 1);
    ck_assert_uint_eq(order[2], 2);
    lay(it, 0, order, &res);
    ck_assert(!res.aligned);
}
END_TEST

static Suite *layout_suite(void)
{
    Suite *s = suite_create("layout");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_source_order);
    tcase_add_test(tc, test_repeats);
    tcase_add_test(tc, test_two_sources);
    tcase_add_test(tc, test_nothing_to_align);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(layout_suite)
