/* test_format.c: fmt_escape, the one escaping of untrusted text, as a
 * table of input -> output (issue 10 item 4), and cutting to fit. */
#include "testutil.h"
#include "suture/format.h"

static const struct {
    const char *in, *text, *json;
} cases[] = {
    {"plain", "plain", "plain"},
    {"\x1b]0;OWNED\a\x1b[2J", "?]0;OWNED??[2J", "\x1b]0;OWNED\a\x1b[2J"},
    {"a\x7f" "b", "a?b", "a\\u007fb"},
    {"csi\xc2\x9b" "2J", "csi?2J", "csi\\u009b2J"},
    {"c1\xc2\x80\xc2\x9f", "c1??", "c1\\u0080\\u009f"},
    {"rlo\xe2\x80\xae" "x", "rlo?x", "rlo\\u202ex"},
    {"lre\xe2\x80\xaa pdf\xe2\x80\xac", "lre? pdf?", "lre\\u202a pdf\\u202c"},
    {"lri\xe2\x81\xa6 pdi\xe2\x81\xa9", "lri? pdi?", "lri\\u2066 pdi\\u2069"},
    {"l\xc3\xa4ma \xe2\x80\x94 \xf0\x9f\xa6\x99", "l\xc3\xa4ma \xe2\x80\x94 \xf0\x9f\xa6\x99",
     "l\xc3\xa4ma \xe2\x80\x94 \xf0\x9f\xa6\x99"},
    {"bad\xff\xfe", "bad??", "bad\\ufffd\\ufffd"},
    {"stray\x80", "stray?", "stray\\ufffd"},
    {"overlong\xc0\xaf", "overlong??", "overlong\\ufffd\\ufffd"},
    {"surrogate\xed\xa0\x80", "surrogate???", "surrogate\\ufffd\\ufffd\\ufffd"},
    {"cut\xe2\x80", "cut??", "cut\\ufffd\\ufffd"},
    {"big\xf4\x90\x80\x80", "big????", "big\\ufffd\\ufffd\\ufffd\\ufffd"},
};

START_TEST(test_escape_table)
{
    char buf[128];
    size_t n;

    n = fmt_escape(cases[_i].in, buf, sizeof(buf), 0);
    ck_assert_str_eq(buf, cases[_i].text);
    ck_assert_uint_eq(n, strlen(cases[_i].text));
    n = fmt_escape(cases[_i].in, buf, sizeof(buf), FMT_JSON);
    ck_assert_str_eq(buf, cases[_i].json);
    ck_assert_uint_eq(n, strlen(cases[_i].json));
}
END_TEST

/* Newlines: '?' on one line, kept with FMT_LINES and FMT_JSON. */
START_TEST(test_escape_lines)
{
    char buf[32];

    ck_assert_str_eq(fmt_text("a\nb\tc", buf, sizeof(buf)), "a?b?c");
    fmt_escape("a\nb\tc\x1b", buf, sizeof(buf), FMT_LINES);
    ck_assert_str_eq(buf, "a\nb?c?");
}
END_TEST

/* Cutting never splits a character or a replacement. */
START_TEST(test_escape_cut)
{
    const char *s = "ab\xc3\xa4\xe2\x80\x94";   /* ab, a-umlaut (2), em dash (3) */
    char buf[16];
    size_t n;

    n = fmt_escape(s, buf, 4, 0);               /* room for 3: "ab" + half of 2 */
    ck_assert_str_eq(buf, "ab");
    ck_assert_uint_eq(n, 7);
    fmt_escape(s, buf, 5, 0);
    ck_assert_str_eq(buf, "ab\xc3\xa4");
    fmt_escape(s, buf, 7, 0);                   /* the dash needs 3 more + NUL */
    ck_assert_str_eq(buf, "ab\xc3\xa4");
    fmt_escape("a\xc2\x9b" "b", buf, 6, FMT_JSON);     /* "a\u009b" needs 7 + NUL */
    ck_assert_str_eq(buf, "a");
    fmt_escape("abc", buf, 1, 0);
    ck_assert_str_eq(buf, "");
    ck_assert_uint_eq(fmt_escape("abc", NULL, 0, 0), 3);
}
END_TEST

/* In place (as sut_one_line uses it): the result never grows. */
START_TEST(test_escape_in_place)
{
    char s[] = "x\x1b[2J\xc2\x9b\xe2\x80\xae\xff" "y";

    fmt_escape(s, s, sizeof(s), 0);
    ck_assert_str_eq(s, "x?[2J???y");
}
END_TEST

START_TEST(test_escape_dup)
{
    char *s = fmt_escape_dup("a\xc2\x9b\xff", FMT_JSON);

    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "a\\u009b\\ufffd");
    free(s);
}
END_TEST

static Suite *format_suite(void)
{
    Suite *s = suite_create("format");
    TCase *tc = tcase_create("escape");

    tcase_add_loop_test(tc, test_escape_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, test_escape_lines);
    tcase_add_test(tc, test_escape_cut);
    tcase_add_test(tc, test_escape_in_place);
    tcase_add_test(tc, test_escape_dup);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(format_suite)
