/* test_regress.c: one case for each thing the fuzzers (tests/fuzz/) found,
 * with the input that showed it, so it stays fixed. */
#include <stdint.h>

#include "testutil.h"
#include "suture/safetensors.h"
#include "suture/model.h"
#include "suture/audit.h"
#include "suture/recipe.h"
#include "suture/verify.h"
#include "suture/plan.h"
#include "suture/cfgedit.h"
#include "common/util.h"

/* Asserts msg is one non-empty line: no control characters. */
static void assert_one_line(const char *msg)
{
    size_t i;

    ck_assert_uint_gt(strlen(msg), 0);
    for (i = 0; msg[i]; i++)
        ck_assert_msg((unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f,
                      "control character 0x%02x at %zu in \"%s\"",
                      (unsigned char)msg[i], i, msg);
}

/* Writes a safetensors file dir/name: 8-byte length, hdr, data_len zero
 * bytes. */
static void put_shard(const char *dir, const char *name, const char *hdr,
                      size_t data_len)
{
    char path[512];
    size_t n = strlen(hdr), i;
    unsigned char *buf = calloc(1, 8 + n + data_len);

    ck_assert_ptr_nonnull(buf);
    for (i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, hdr, n);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    tu_write(path, buf, 8 + n + data_len);
    free(buf);
}

static void put_text(const char *dir, const char *name, const char *text)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    tu_write(path, text, strlen(text));
}

/* fuzz_header: a field name holding DEL (0x7f) went raw into the message
 * "unknown field"; a JSON escape (\n, \u001b) in a tensor name put a line
 * break or a terminal escape into messages. */
START_TEST(header_message_control_characters)
{
    static const char *const hdrs[] = {
        "{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_\x7f" "ffsets\":[0,8]}}",
        "{\"a\\nb\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,9]}}",
        "{\"\\u001b[2J\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,8]}}",
    };
    size_t i;

    for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        sut_error err = {{0}};
        st_file *f = st_parse_header(hdrs[i], strlen(hdrs[i]), 8,
                                     "model.safetensors", &err);
        ck_assert_ptr_null(f);
        assert_one_line(err.msg);
    }
}
END_TEST

#define F32(name, b, e)                                                       \
    "\"" name "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" #b "," #e "]}"

/* fuzz_index: a weight_map key with a line break went raw into the
 * lenient-mode issue and the audit's finding. */
START_TEST(index_issue_control_characters)
{
    const char *dir = tu_tmpdir();
    arch_table *t = arch_table_new(NULL);
    sut_error err = {{0}};
    audit_options opt = { .threads = 1 };
    audit_report *r;
    model *m;
    size_t i;

    put_shard(dir, "model.safetensors", "{" F32("model.layers.0.w", 0, 8) "}", 8);
    put_text(dir, "model.safetensors.index.json",
             "{\"weight_map\":{\"model.layers.0.w\":\"model.safetensors\","
             "\"x\\ny\\u001b\":\"model.safetensors\"}}");
    m = model_open(dir, t, MODEL_STRICT, &err);
    ck_assert_ptr_null(m);
    tu_assert_contains(err.msg, "x?y?");
    assert_one_line(err.msg);
    m = model_open(dir, t, MODEL_LENIENT, &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_gt(model_issue_count(m), 0);
    for (i = 0; i < model_issue_count(m); i++)
        assert_one_line(model_issue_at(m, i)->message);
    model_free(m);
    r = audit_run(dir, t, &opt, &err);
    ck_assert_ptr_nonnull(r);
    for (i = 0; i < audit_finding_count(r); i++)
        assert_one_line(audit_finding_at(r, i)->message);
    audit_free(r);
    arch_table_free(t);
}
END_TEST

/* fuzz_index: an index with an empty weight_map passed a NULL array to
 * bsearch when looking for shards it does not name (undefined behaviour
 * that UBSan reports). Such an index names no tensor: it is refused. */
START_TEST(index_empty_weight_map)
{
    const char *dir = tu_tmpdir();
    arch_table *t = arch_table_new(NULL);
    sut_error err = {{0}};

    put_shard(dir, "model.safetensors", "{" F32("model.layers.0.w", 0, 8) "}", 8);
    put_text(dir, "model.safetensors.index.json",
             "{\"metadata\":{\"total_size\":0},\"weight_map\":{}}");
    put_text(dir, "config.json", "{\"model_type\":\"llama\"}");
    ck_assert_ptr_null(model_open(dir, t, MODEL_STRICT, &err));
    tu_assert_contains(err.msg, "model.safetensors.index.json: weight_map: empty (no tensor is named)");
    ck_assert_ptr_null(model_open(dir, t, MODEL_LENIENT, &err));
    tu_assert_contains(err.msg, "weight_map: empty");
    arch_table_free(t);
}
END_TEST

/* fuzz_index (audit's streamed index walk): an empty weight_map sorted a
 * NULL list (UBSan: null passed to qsort). Corpus: index/regress-audit-empty-map. */
START_TEST(audit_index_empty_weight_map)
{
    const char *dir = tu_tmpdir();
    arch_table *t = arch_table_new(NULL);
    sut_error err = {{0}};
    audit_report *r;
    size_t i;
    bool seen = false;

    put_shard(dir, "model.safetensors", "{" F32("model.layers.0.w", 0, 8) "}", 8);
    put_text(dir, "model.safetensors.index.json",
             "{\n  \"metadata\": {\n    \"total_size\": 56\n  },\n  \"weight_map\": {\n   }\n}");
    r = audit_run(dir, t, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    for (i = 0; i < audit_finding_count(r); i++)
        seen = seen || strstr(audit_finding_at(r, i)->message, "weight_map: empty") != NULL;
    ck_assert(seen);
    audit_free(r);
    arch_table_free(t);
}
END_TEST

/* fuzz_mergekit: a key holding tabs ("parameter\t\ts") went raw into the
 * note that says it is ignored, and from there into the plan's warnings. */
START_TEST(mergekit_note_control_characters)
{
    static const char yml[] =
        "slices:\n"
        "  - sources:\n"
        "      - model: a\n"
        "        layer_range: [0, 2]\n"
        "        parameter\t\t\ts:\n"
        "          scale: 1.0\n"
        "merge_method: passthrough\n";
    sut_error err = {{0}};
    recipe *r = recipe_parse_mergekit(yml, sizeof(yml) - 1, "merge.yml",
                                      "/nonexistent", &err);
    size_t i;

    ck_assert_msg(r != NULL, "unexpected error: %s", err.msg);
    ck_assert_ptr_nonnull(r->notes);
    ck_assert_ptr_nonnull(r->notes[0]);
    for (i = 0; r->notes[i]; i++)
        assert_one_line(r->notes[i]);
    recipe_free(r);
}
END_TEST

/* fuzz_verify: a tensor name in "suture.sources" holding a control
 * character went raw into verify's problem message. */
START_TEST(verify_problem_control_characters)
{
    const char *src = tu_tmpdir();
    char srcdir[256], hdr[1024];
    const char *out;
    arch_table *t = arch_table_new(NULL);
    verify_options opt = { .threads = 1 };
    sut_error err = {{0}};
    verify_report *r;
    size_t i;

    snprintf(srcdir, sizeof(srcdir), "%s", src);
    put_shard(srcdir, "model.safetensors", "{" F32("model.layers.0.w", 0, 8) "}", 8);
    out = tu_tmpdir();
    snprintf(hdr, sizeof(hdr),
             "{\"__metadata__\":{\"format\":\"pt\","
             "\"suture.models\":\"{\\\"b\\\":\\\"%s\\\"}\","
             "\"suture.sources\":\"{\\\"x\\\\u000ey\\\":{\\\"model\\\":\\\"b\\\","
             "\\\"tensor\\\":\\\"model.layers.0.w\\\",\\\"dtype\\\":\\\"F32\\\"},"
             "\\\"model.layers.0.w\\\":{\\\"model\\\":\\\"b\\\","
             "\\\"tensor\\\":\\\"model.layers.0.w\\\",\\\"dtype\\\":\\\"F32\\\"}}\"},"
             F32("model.layers.0.w", 0, 8) "}", srcdir);
    put_shard(out, "model.safetensors", hdr, 8);
    r = verify_run(out, t, &opt, &err);
    ck_assert_msg(r != NULL, "unexpected error: %s", err.msg);
    ck_assert_uint_eq(verify_problem_count(r), 1);
    tu_assert_contains(verify_problem_at(r, 0)->message, "x?y");
    for (i = 0; i < verify_problem_count(r); i++)
        assert_one_line(verify_problem_at(r, i)->message);
    verify_free(r);
    arch_table_free(t);
}
END_TEST

/* Found beside fuzz_config and the recipe fuzzers: a config key, or a
 * tensor name, holding a line break went raw into cfg_rewrite's change
 * lines and the plan's warnings. */
START_TEST(config_and_plan_lines_control_characters)
{
    const char *dir = tu_tmpdir();
    char arg[300];
    const char *args[1] = { arg };
    arch_table *t = arch_table_new(NULL);
    sut_error err = {{0}};
    cJSON *cfg = cJSON_Parse("{\"model_type\":\"llama\",\"num_hidden_layers\":2,"
                             "\"we\\nird\":[1,2]}");
    long src[3] = { 0, 1, 1 };
    cfg_change *ch = NULL;
    size_t nch = 0, i, nw;
    const plan_warning *w;
    recipe *r;
    cJSON *out;
    plan *p;

    out = cfg_rewrite(cfg, arch_by_name(t, "llama"), src, 3, NULL, &ch, &nch, &err);
    ck_assert_msg(out != NULL, "unexpected error: %s", err.msg);
    ck_assert_uint_gt(nch, 0);
    for (i = 0; i < nch; i++)
        assert_one_line(ch[i].line);
    cfg_changes_free(ch, nch);
    cJSON_Delete(out);
    cJSON_Delete(cfg);

    put_shard(dir, "model.safetensors", "{" F32("model.layers.0.w", 0, 8) ","
              F32("model.layers.1.w", 8, 16) "," F32("model.layers.1.x\\u001by", 16, 24) ","
              F32("model.layers.2.w", 24, 32) "}", 32);
    put_text(dir, "config.json", "{\"model_type\":\"llama\",\"num_hidden_layers\":3}");
    snprintf(arg, sizeof(arg), "m=%s", dir);
    r = recipe_parse_spec("m[0:3]", args, 1, &err);
    ck_assert_msg(r != NULL, "unexpected error: %s", err.msg);
    p = plan_make(r, t, NULL, &err);
    ck_assert_msg(p != NULL, "unexpected error: %s", err.msg);
    w = plan_warnings(p, &nw);
    ck_assert_uint_gt(nw, 0);
    for (i = 0; i < nw; i++)
        assert_one_line(w[i].message);
    plan_free(p);
    recipe_free(r);
    arch_table_free(t);
}
END_TEST

/* The hostile catalogue: a FIFO named like a shard (or passed as a JSON
 * file) blocked open() for ever; it must be refused at once. */
START_TEST(fifo_is_refused)
{
    const char *dir = tu_tmpdir();
    char path[512];
    sut_error err = {{0}};
    size_t len;

    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    ck_assert_ptr_null(st_open(path, &err));
    tu_assert_contains(err.msg, "model.safetensors: not a regular file");
    ck_assert_ptr_null(sut_read_file(path, 1000, &len, &err));
    tu_assert_contains(err.msg, "not a regular file");
}
END_TEST

/* fuzz_header (pull reader): a scalar as the first tensor took its shape
 * pointer from a NULL dims array (UBSan: zero offset to a null pointer);
 * its unknown field is then refused. Corpus: header/regress-scalar-first-shape. */
START_TEST(scalar_first_shape)
{
    static const char h[] = "{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_\177ffsets\":[0,8]}}";
    static const char ok[] = "{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}}";
    sut_error err = {{0}};
    st_file *f;

    ck_assert_ptr_null(st_parse_header(h, strlen(h), 8, "x.safetensors", &err));
    tu_assert_contains(err.msg, "x.safetensors: tensor 's': unknown field 'data_?ffsets'");
    f = st_parse_header(ok, strlen(ok), 8, "x.safetensors", &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert_uint_eq(st_at(f, 0)->ndim, 0);
    ck_assert_uint_eq(st_at(f, 0)->elements, 1);
    st_free(f);
}
END_TEST

static Suite *regress_suite(void)
{
    Suite *s = suite_create("regress");
    TCase *tc = tcase_create("fuzz");

    tcase_add_test(tc, header_message_control_characters);
    tcase_add_test(tc, index_issue_control_characters);
    tcase_add_test(tc, index_empty_weight_map);
    tcase_add_test(tc, audit_index_empty_weight_map);
    tcase_add_test(tc, mergekit_note_control_characters);
    tcase_add_test(tc, verify_problem_control_characters);
    tcase_add_test(tc, config_and_plan_lines_control_characters);
    tcase_add_test(tc, fifo_is_refused);
    tcase_add_test(tc, scalar_first_shape);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(regress_suite)
