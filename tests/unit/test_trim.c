/* test_trim.c: removing a tied model's redundant lm_head, to a new folder
 * and in place, on the real gemma fixtures and on made models (sharded,
 * head alone in its shard, differing head, refusals, an interrupted run). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "amodel.h"
#include "suture/trim.h"
#include "suture/audit.h"

static arch_table *table(void)
{
    sut_error err;
    arch_table *t = arch_table_new(&err);

    ck_assert_msg(t != NULL, "%s", err.msg);
    return t;
}

/* Copies the regular files of src into the existing folder dst. */
static void copy_folder(const char *src, const char *dst)
{
    DIR *d = opendir(src);
    struct dirent *e;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d))) {
        char from[4608], to[4608];
        unsigned char *buf;
        size_t len;
        struct stat st;
        snprintf(from, sizeof(from), "%s/%s", src, e->d_name);
        snprintf(to, sizeof(to), "%s/%s", dst, e->d_name);
        if (stat(from, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        buf = am_slurp(from, &len);
        tu_write(to, buf, len);
        free(buf);
    }
    closedir(d);
}

static st_file *open_st(const char *dir, const char *name)
{
    char path[4608];
    sut_error err;
    st_file *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = st_open(path, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    return f;
}

/* Asserts that every tensor of before's shard but `gone` is in after's with
 * the same dtype, shape and bytes, and that gone is not. */
static void assert_same_but(const char *before_dir, const char *after_dir,
                            const char *shard, const char *gone)
{
    char a_path[4608], b_path[4608];
    st_file *a = open_st(before_dir, shard), *b = open_st(after_dir, shard);
    unsigned char *ab, *bb;
    size_t alen, blen, i;

    snprintf(a_path, sizeof(a_path), "%s/%s", before_dir, shard);
    snprintf(b_path, sizeof(b_path), "%s/%s", after_dir, shard);
    ab = am_slurp(a_path, &alen);
    bb = am_slurp(b_path, &blen);
    ck_assert_ptr_null(st_find(b, gone));
    ck_assert_uint_eq(st_count(b), st_count(a) - 1);
    for (i = 0; i < st_count(a); i++) {
        const st_tensor *x = st_at(a, i), *y;
        if (strcmp(x->name, gone) == 0)
            continue;
        y = st_find(b, x->name);
        ck_assert_msg(y != NULL, "%s lost", x->name);
        ck_assert_int_eq(x->dtype, y->dtype);
        ck_assert_uint_eq(x->elements, y->elements);
        ck_assert_uint_eq(st_tensor_bytes(x), st_tensor_bytes(y));
        ck_assert_msg(memcmp(ab + st_data_start(a) + x->begin, bb + st_data_start(b) + y->begin,
                             st_tensor_bytes(x)) == 0, "%s changed", x->name);
    }
    free(ab);
    free(bb);
    st_free(a);
    st_free(b);
}

static void assert_same_file(const char *a_dir, const char *b_dir, const char *name)
{
    char a[4608], b[4608];
    unsigned char *x, *y;
    size_t xl, yl;

    snprintf(a, sizeof(a), "%s/%s", a_dir, name);
    snprintf(b, sizeof(b), "%s/%s", b_dir, name);
    x = am_slurp(a, &xl);
    y = am_slurp(b, &yl);
    ck_assert_msg(xl == yl && memcmp(x, y, xl) == 0, "%s differs", name);
    free(x);
    free(y);
}

static void assert_audits_clean(arch_table *t, const char *dir)
{
    sut_error err;
    audit_report *r = audit_run(dir, t, NULL, &err);
    size_t i;

    ck_assert_msg(r != NULL, "%s", err.msg);
    for (i = 0; i < audit_finding_count(r); i++)
        if (audit_finding_at(r, i)->severity != AUDIT_INFO)
            ck_abort_msg("%s: %s", audit_finding_at(r, i)->code, audit_finding_at(r, i)->message);
    audit_free(r);
}

static void assert_no_leftovers(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)))
        ck_assert_msg(!strstr(e->d_name, ".suture-tmp-"), "left %s", e->d_name);
    closedir(d);
}

/* A path for an output folder that does not exist yet. */
static const char *new_out(void)
{
    static char out[300];

    snprintf(out, sizeof(out), "%s/out", tu_tmpdir());
    return out;
}

START_TEST(fixture_heads_trimmed_to_a_new_folder)
{
    static const char *const names[] = {"tiny-gemma", "tiny-gemma2", "tiny-gemma3"};
    const char *fix = tu_fixtures();
    arch_table *t;
    size_t i;

    if (!fix) {
        tu_skip("fixtures absent");
        return;
    }
    t = table();
    for (i = 0; i < 3; i++) {
        char in[4608], out[300];
        trim_options opt = {0};
        trim_result res;
        sut_error err;
        snprintf(in, sizeof(in), "%s/hf/%s", fix, names[i]);
        snprintf(out, sizeof(out), "%s", new_out());
        opt.out = out;
        ck_assert_msg(trim_run(in, t, &opt, &res, &err) == 0, "%s", err.msg);
        ck_assert(res.trimmed && res.identical && !res.shard_dropped);
        ck_assert_uint_eq(res.parameters, 104);
        ck_assert_uint_eq(res.bytes, 416);
        ck_assert_str_eq(res.tensor, "lm_head.weight");
        ck_assert_str_eq(res.shard, "model.safetensors");
        assert_same_but(in, out, "model.safetensors", "lm_head.weight");
        assert_same_file(in, out, "config.json");
        assert_audits_clean(t, out);
        assert_no_leftovers(out);
    }
    arch_table_free(t);
}
END_TEST

START_TEST(fixture_head_trimmed_in_place)
{
    const char *fix = tu_fixtures();
    char in[4608], dir[300], orig[300];
    trim_options opt = {0};
    trim_result res;
    sut_error err;
    arch_table *t;

    if (!fix) {
        tu_skip("fixtures absent");
        return;
    }
    t = table();
    snprintf(in, sizeof(in), "%s/hf/tiny-gemma2", fix);
    snprintf(dir, sizeof(dir), "%s", tu_tmpdir());
    snprintf(orig, sizeof(orig), "%s", tu_tmpdir());
    copy_folder(in, dir);
    copy_folder(in, orig);
    ck_assert_msg(trim_run(dir, t, &opt, &res, &err) == 0, "%s", err.msg);
    ck_assert(res.trimmed && res.identical);
    assert_same_but(orig, dir, "model.safetensors", "lm_head.weight");
    assert_same_file(orig, dir, "config.json");
    assert_audits_clean(t, dir);
    assert_no_leftovers(dir);
    ck_assert_int_eq(trim_run(dir, t, &opt, &res, &err), 0);
    ck_assert(!res.trimmed);
    tu_assert_contains(res.reason, "no 'lm_head.weight' is stored");
    arch_table_free(t);
}
END_TEST

/* A tied gemma model in two shards with an identical head (seed 1). */
static void tied_sharded(am_model *m, bool head_alone)
{
    size_t i;

    am_decoder(m, "gemma", 4, true, true);
    am_find(m, "lm_head.weight")->seed = 1;
    am_two_shards(m);
    if (head_alone)
        for (i = 0; i < m->n; i++)
            m->t[i].shard = strcmp(m->t[i].name, "lm_head.weight") == 0;
}

static uint64_t index_total(const char *dir, bool *has_head)
{
    char path[4608];
    unsigned char *text;
    size_t len;
    cJSON *root;
    uint64_t total;

    snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
    text = am_slurp(path, &len);
    root = cJSON_ParseWithLength((const char *)text, len);
    ck_assert_ptr_nonnull(root);
    total = (uint64_t)cJSON_GetObjectItem(cJSON_GetObjectItem(root, "metadata"),
                                          "total_size")->valuedouble;
    *has_head = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "weight_map"),
                                    "lm_head.weight") != NULL;
    cJSON_Delete(root);
    free(text);
    return total;
}

START_TEST(sharded_head_alone_drops_its_shard)
{
    arch_table *t = table();
    am_model m;
    char in[300], path[600];
    const char *out = new_out();
    trim_options opt = {.out = out};
    trim_result res;
    sut_error err;
    bool has_head;

    tied_sharded(&m, true);
    snprintf(in, sizeof(in), "%s", am_folder(&m));
    ck_assert_msg(trim_run(in, t, &opt, &res, &err) == 0, "%s", err.msg);
    ck_assert(res.trimmed && res.shard_dropped);
    ck_assert_str_eq(res.shard, "model-00002-of-00002.safetensors");
    snprintf(path, sizeof(path), "%s/model-00002-of-00002.safetensors", out);
    ck_assert_int_ne(access(path, F_OK), 0);
    assert_same_file(in, out, "model-00001-of-00002.safetensors");
    ck_assert_uint_eq(index_total(out, &has_head), 2248 * 4 - 512);
    ck_assert(!has_head);
    assert_audits_clean(t, out);
    arch_table_free(t);
}
END_TEST

START_TEST(sharded_in_place_keeps_metadata)
{
    arch_table *t = table();
    am_model m, copy;
    char dir[300], orig[300];
    trim_options opt = {0};
    trim_result res;
    sut_error err;
    bool has_head;
    st_file *f;

    tied_sharded(&m, false);
    ck_assert_uint_eq(am_find(&m, "lm_head.weight")->shard, 1);
    m.meta_key = "note";
    m.meta_value[1] = "kept";
    m.meta_key2 = "suture.sources";
    m.meta_value2[1] = "{\"lm_head.weight\":{\"model\":\"a\"},\"model.norm.weight\":{\"model\":\"a\"}}";
    copy = m;
    snprintf(dir, sizeof(dir), "%s", am_folder(&m));
    snprintf(orig, sizeof(orig), "%s", am_folder(&copy));
    ck_assert_msg(trim_run(dir, t, &opt, &res, &err) == 0, "%s", err.msg);
    ck_assert(res.trimmed && !res.shard_dropped);
    assert_same_but(orig, dir, "model-00002-of-00002.safetensors", "lm_head.weight");
    assert_same_file(orig, dir, "model-00001-of-00002.safetensors");
    ck_assert_uint_eq(index_total(dir, &has_head), 2248 * 4 - 512);
    ck_assert(!has_head);
    f = open_st(dir, "model-00002-of-00002.safetensors");
    ck_assert_str_eq(st_meta_get(f, "note"), "kept");
    ck_assert_str_eq(st_meta_get(f, "suture.sources"), "{\"model.norm.weight\":{\"model\":\"a\"}}");
    st_free(f);
    assert_audits_clean(t, dir);
    assert_no_leftovers(dir);
    arch_table_free(t);
}
END_TEST

/* The data bytes of dir/name but those of tensor `gone`. */
static uint64_t bytes_but(const char *dir, const char *name, const char *gone)
{
    st_file *f = open_st(dir, name);
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < st_count(f); i++)
        if (strcmp(st_at(f, i)->name, gone) != 0)
            n += st_tensor_bytes(st_at(f, i));
    st_free(f);
    return n;
}

START_TEST(progress_counts_the_rewritten_shard)
{
    arch_table *t = table();
    am_model m;
    am_tensor head;
    char dir[300], orig[300];
    tu_progress p = {0};
    trim_options opt = {.progress = tu_progress_record, .progress_ctx = &p};
    trim_result res;
    sut_error err;
    size_t h, mid;
    uint64_t want;

    tied_sharded(&m, false);
    h = (size_t)(am_find(&m, "lm_head.weight") - m.t);
    mid = m.n / 2 + (m.n - m.n / 2) / 2;
    ck_assert_uint_ne(h, mid);
    head = m.t[h];
    m.t[h] = m.t[mid];
    m.t[mid] = head;
    snprintf(dir, sizeof(dir), "%s", am_folder(&m));
    snprintf(orig, sizeof(orig), "%s", am_folder(&m));
    want = bytes_but(orig, "model-00002-of-00002.safetensors", "lm_head.weight");
    ck_assert_msg(trim_run(dir, t, &opt, &res, &err) == 0, "%s", err.msg);
    ck_assert(res.trimmed && !res.shard_dropped);
    assert_same_but(orig, dir, "model-00002-of-00002.safetensors", "lm_head.weight");
    tu_assert_progress(&p, want);
    ck_assert_uint_eq(p.calls, 2);
    arch_table_free(t);
}
END_TEST

START_TEST(progress_silent_when_the_shard_is_dropped)
{
    arch_table *t = table();
    am_model m;
    tu_progress p = {0};
    trim_options opt = {.out = new_out(), .progress = tu_progress_record, .progress_ctx = &p};
    trim_result res;
    sut_error err;

    tied_sharded(&m, true);
    ck_assert_msg(trim_run(am_folder(&m), t, &opt, &res, &err) == 0, "%s", err.msg);
    ck_assert(res.trimmed && res.shard_dropped);
    ck_assert_uint_eq(p.calls, 0);
    arch_table_free(t);
}
END_TEST

START_TEST(differing_head_needs_force)
{
    arch_table *t = table();
    am_model m;
    char in[300];
    const char *out;
    trim_options opt = {0};
    trim_result res;
    sut_error err;

    am_decoder(&m, "gemma", 2, true, true);
    snprintf(in, sizeof(in), "%s", am_folder(&m));
    out = new_out();
    opt.out = out;
    ck_assert_int_eq(trim_run(in, t, &opt, &res, &err), -1);
    tu_assert_contains(err.msg, "'lm_head.weight' differs from 'model.embed_tokens.weight'");
    tu_assert_contains(err.msg, "--force");
    ck_assert_int_ne(access(out, F_OK), 0);
    opt.force = true;
    ck_assert_msg(trim_run(in, t, &opt, &res, &err) == 0, "%s", err.msg);
    ck_assert(res.trimmed && !res.identical);
    assert_audits_clean(t, out);
    arch_table_free(t);
}
END_TEST

START_TEST(nothing_to_trim)
{
    arch_table *t = table();
    am_model m;
    char in[300];
    const char *out = new_out();
    trim_options opt = {.out = out};
    trim_result res;
    sut_error err;

    am_decoder(&m, "llama", 2, true, false);
    snprintf(in, sizeof(in), "%s", am_folder(&m));
    ck_assert_int_eq(trim_run(in, t, &opt, &res, &err), 0);
    ck_assert(!res.trimmed);
    tu_assert_contains(res.reason, "config.json does not tie 'lm_head.weight'");
    ck_assert_int_ne(access(out, F_OK), 0);
    am_decoder(&m, "gemma", 2, false, true);
    snprintf(in, sizeof(in), "%s", am_folder(&m));
    ck_assert_int_eq(trim_run(in, t, &opt, &res, &err), 0);
    ck_assert(!res.trimmed);
    tu_assert_contains(res.reason, "no 'lm_head.weight' is stored");
    arch_table_free(t);
}
END_TEST

START_TEST(refusals)
{
    arch_table *t = table();
    am_model m;
    char in[300], path[600];
    trim_options opt = {0};
    trim_result res;
    sut_error err;

    am_decoder(&m, "gemma", 2, true, true);
    am_find(&m, "lm_head.weight")->seed = 1;
    snprintf(in, sizeof(in), "%s", am_folder(&m));
    opt.out = tu_tmpdir();
    ck_assert_int_eq(trim_run(in, t, &opt, &res, &err), -1);
    tu_assert_contains(err.msg, "already exists; trim never replaces a folder");
    snprintf(path, sizeof(path), "%s/trimmed", in);
    opt.out = path;
    ck_assert_int_eq(trim_run(in, t, &opt, &res, &err), -1);
    tu_assert_contains(err.msg, "inside the input folder");
    snprintf(path, sizeof(path), "%s/model.safetensors", in);
    opt.out = NULL;
    ck_assert_int_eq(trim_run(path, t, &opt, &res, &err), -1);
    tu_assert_contains(err.msg, "not a model folder");
    snprintf(m.config, sizeof(m.config), "{\"model_type\": \"nonesuch\"}");
    ck_assert_int_eq(trim_run(am_folder(&m), t, &opt, &res, &err), -1);
    tu_assert_contains(err.msg, "cannot tell whether the head is tied");
    arch_table_free(t);
}
END_TEST

static void drop_head(cJSON *root, const void *arg)
{
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(root, "weight_map"), "lm_head.weight");
}

START_TEST(interrupted_in_place_run_is_finished)
{
    arch_table *t = table();
    am_model m;
    char dir[300], stale[700];
    trim_options opt = {0};
    trim_result res;
    sut_error err;
    bool has_head;
    long pid_max = 4194304;
    FILE *f = fopen("/proc/sys/kernel/pid_max", "r");

    if (f) {
        ck_assert_int_eq(fscanf(f, "%ld", &pid_max), 1);
        fclose(f);
    }
    tied_sharded(&m, false);
    snprintf(dir, sizeof(dir), "%s", am_folder(&m));
    /* the state between the two renames: new index, old shard */
    am_edit_index(dir, drop_head, NULL);
    snprintf(stale, sizeof(stale), "%s/.model-00002-of-00002.safetensors.suture-tmp-%ld",
             dir, pid_max + 1);
    tu_write(stale, "x", 1);
    ck_assert_msg(trim_run(dir, t, &opt, &res, &err) == 0, "%s", err.msg);
    ck_assert(res.trimmed);
    ck_assert_uint_eq(res.stale, 1);
    ck_assert_int_ne(access(stale, F_OK), 0);
    ck_assert_uint_eq(index_total(dir, &has_head), 2248 * 4 - 512);
    assert_audits_clean(t, dir);
    arch_table_free(t);
}
END_TEST

START_TEST(other_files_copied_or_linked)
{
    arch_table *t = table();
    am_model m;
    char in[300], sub[400], big[400], outsub[600];
    const char *out;
    trim_options opt = {0};
    trim_result res;
    sut_error err;
    struct stat a, b;
    char *blob = calloc(1, 2u << 20);

    am_decoder(&m, "gemma", 2, true, true);
    am_find(&m, "lm_head.weight")->seed = 1;
    snprintf(in, sizeof(in), "%s", am_folder(&m));
    snprintf(sub, sizeof(sub), "%s/original", in);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    snprintf(big, sizeof(big), "%s/original/blob.bin", in);
    tu_write(big, blob, 2u << 20);
    free(blob);
    snprintf(big, sizeof(big), "%s/tokenizer.json", in);
    tu_write(big, "{}", 2);
    out = new_out();
    opt.out = out;
    ck_assert_msg(trim_run(in, t, &opt, &res, &err) == 0, "%s", err.msg);
    assert_same_file(in, out, "tokenizer.json");
    assert_same_file(in, out, "original/blob.bin");
    snprintf(big, sizeof(big), "%s/config.json", in);
    snprintf(outsub, sizeof(outsub), "%s/config.json", out);
    ck_assert_int_eq(stat(big, &a), 0);
    ck_assert_int_eq(stat(outsub, &b), 0);
    ck_assert_msg(a.st_ino != b.st_ino, "a small file was linked, not copied");
    snprintf(big, sizeof(big), "%s/original/blob.bin", in);
    snprintf(outsub, sizeof(outsub), "%s/original/blob.bin", out);
    ck_assert_int_eq(stat(big, &a), 0);
    ck_assert_int_eq(stat(outsub, &b), 0);
    ck_assert_msg(a.st_ino == b.st_ino, "a large file was copied, not linked");
    arch_table_free(t);
}
END_TEST

static Suite *trim_suite(void)
{
    Suite *s = suite_create("trim");
    TCase *fixtures = tcase_create("fixtures"), *made = tcase_create("made");

    tcase_add_test(fixtures, fixture_heads_trimmed_to_a_new_folder);
    tcase_add_test(fixtures, fixture_head_trimmed_in_place);
    tcase_add_test(made, sharded_head_alone_drops_its_shard);
    tcase_add_test(made, sharded_in_place_keeps_metadata);
    tcase_add_test(made, differing_head_needs_force);
    tcase_add_test(made, nothing_to_trim);
    tcase_add_test(made, refusals);
    tcase_add_test(made, interrupted_in_place_run_is_finished);
    tcase_add_test(made, other_files_copied_or_linked);
    tcase_add_test(made, progress_counts_the_rewritten_shard);
    tcase_add_test(made, progress_silent_when_the_shard_is_dropped);
    suite_add_tcase(s, fixtures);
    suite_add_tcase(s, made);
    return s;
}

SUT_TEST_MAIN(trim_suite)
