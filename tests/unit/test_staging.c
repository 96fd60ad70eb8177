/* test_staging.c: the staging module: names, the lock, leftovers, the
 * --force rules and the input checks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>

#include "testutil.h"
#include "common/util.h"
#include "suture/staging.h"

static char root[256];

static const char *at(const char *name)
{
    static char paths[4][700];
    static unsigned next;
    char *p = paths[next++ % 4];

    snprintf(p, 700, "%s/%s", root, name);
    return p;
}

static void setup(void)
{
    snprintf(root, sizeof(root), "%s", tu_tmpdir());
}

static bool model_file(const char *name)
{
    return sut_ends_with(name, ".safetensors") || strcmp(name, "config.json") == 0;
}

START_TEST(names_fit_and_are_recognised)
{
    char name[256], *p;

    p = stage_tmp_name("/d", "out");
    snprintf(name, sizeof(name), "/d/.out.suture-tmp-%ld", (long)getpid());
    ck_assert_str_eq(p, name);
    ck_assert(stage_is_ours(sut_basename(p)));
    free(p);
    memset(name, 'x', 250);
    name[250] = '\0';
    p = stage_tmp_name("/d", name);
    ck_assert_uint_le(strlen(sut_basename(p)), NAME_MAX);
    ck_assert(strncmp(sut_basename(p), ".suture-", 8) == 0);
    ck_assert(stage_is_ours(sut_basename(p)));
    free(p);
    ck_assert(stage_is_ours(".out.suture-tmp-1"));
    ck_assert(stage_is_ours(".out.suture-old-77"));
    ck_assert(!stage_is_ours(".out.suture-lock"));
    ck_assert(!stage_is_ours(".out.suture-tmp-x"));
    ck_assert(!stage_is_ours("out.suture-tmp-1"));
}
END_TEST

START_TEST(begin_commit_and_leftovers)
{
    sut_error err = {""};
    staging *s;

    ck_assert_int_eq(mkdir(at(".out.suture-tmp-1"), 0755), 0);
    tu_write(at(".out.suture-tmp-1/model.safetensors"), "x", 1);
    tu_write(at(".out.suture-tmp-x"), "not ours", 8);
    s = stage_new(at("out"), &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    ck_assert(!stage_exists(s));
    ck_assert_msg(stage_begin(s, "building", &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(stage_stale_count(s), 1);
    tu_assert_contains(stage_stale(s, 0), "left by a run that no longer exists (pid 1)");
    ck_assert_int_ne(access(at(".out.suture-tmp-1"), F_OK), 0);
    ck_assert_int_eq(access(at(".out.suture-tmp-x"), F_OK), 0);
    ck_assert_int_eq(access(at(".out.suture-lock"), F_OK), 0);
    ck_assert_int_eq(stage_commit(s, false, NULL, &err), 0);
    ck_assert_int_eq(access(at("out"), F_OK), 0);
    ck_assert_int_ne(access(at(".out.suture-lock"), F_OK), 0);
    stage_free(s);
}
END_TEST

START_TEST(a_held_lock_refuses)
{
    sut_error err = {""};
    staging *s = stage_new(at("busy"), &err);
    int fd = open(at(".busy.suture-lock"), O_RDWR | O_CREAT, 0644), lock;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX), 0);
    ck_assert_int_ne(stage_begin(s, "building", &err), 0);
    ck_assert_str_eq(err.msg + strlen(err.msg) - strlen("busy"), "busy");
    tu_assert_contains(err.msg, "another suture process is building ");
    close(fd);
    ck_assert_msg(stage_begin(s, "building", &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(stage_stale_count(s), 1);  /* the dead run's lock file */
    stage_free(s);
    ck_assert_int_ne(access(at(".busy.suture-lock"), F_OK), 0);
    /* a folder's own lock (in place) */
    ck_assert_int_eq(mkdir(at("m"), 0755), 0);
    lock = stage_lock_dir(at("m"), "trimming", &err);
    ck_assert_int_ge(lock, 0);
    ck_assert_int_lt(stage_lock_dir(at("m"), "trimming", &err), 0);
    tu_assert_contains(err.msg, "another suture process is trimming ");
    stage_unlock_dir(lock);
    lock = stage_lock_dir(at("m"), "trimming", &err);
    ck_assert_int_ge(lock, 0);
    stage_unlock_dir(lock);
}
END_TEST

START_TEST(force_replaces_only_model_folders)
{
    sut_error err = {""};
    staging *s;

    ck_assert_int_eq(mkdir(at("ok"), 0755), 0);
    tu_write(at("ok/config.json"), "{}", 2);
    tu_write(at("ok/model.safetensors"), "x", 1);
    s = stage_new(at("ok"), &err);
    ck_assert(stage_exists(s));
    ck_assert_msg(stage_check_replaceable(s, model_file, &err) == 0, "%s", err.msg);
    stage_free(s);
    ck_assert_int_eq(mkdir(at("ok/sub"), 0755), 0);
    s = stage_new(at("ok"), &err);
    ck_assert_int_ne(stage_check_replaceable(s, model_file, &err), 0);
    tu_assert_contains(err.msg, "ok: holds 'sub' (a folder), which suture does not write");
    stage_free(s);
}
END_TEST

START_TEST(inputs_by_device_and_inode)
{
    sut_error err = {""};
    stage_input in = {"g", NULL};
    staging *s;

    ck_assert_int_eq(mkdir(at("store"), 0755), 0);
    ck_assert_int_eq(mkdir(at("lm"), 0755), 0);
    tu_write(at("store/model.safetensors"), "x", 1);
    ck_assert_int_eq(symlink("../store/model.safetensors", at("lm/model.safetensors")), 0);
    in.dir = at("lm");
    s = stage_new(at("store"), &err);
    ck_assert_int_ne(stage_check_inputs(s, &in, 1, &err), 0);
    tu_assert_contains(err.msg, "store: holds model.safetensors of input model 'g'");
    stage_free(s);
    ck_assert_int_eq(symlink(at("lm"), at("lm-link")), 0);
    in.dir = at("lm-link");
    s = stage_new(at("lm"), &err);
    ck_assert_int_ne(stage_check_inputs(s, &in, 1, &err), 0);
    tu_assert_contains(err.msg, "lm: is the folder of input model 'g'");
    stage_free(s);
    s = stage_new(at("lm-link/new"), &err);
    ck_assert_int_ne(stage_check_inputs(s, &in, 1, &err), 0);
    tu_assert_contains(err.msg, "is inside the folder of input model 'g'");
    stage_free(s);
    in.dir = at("store");
    s = stage_new(at("elsewhere"), &err);
    ck_assert_int_eq(stage_check_inputs(s, &in, 1, &err), 0);
    stage_free(s);
}
END_TEST

static Suite *staging_suite(void)
{
    Suite *s = suite_create("staging");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, names_fit_and_are_recognised);
    tcase_add_test(tc, begin_commit_and_leftovers);
    tcase_add_test(tc, a_held_lock_refuses);
    tcase_add_test(tc, force_replaces_only_model_folders);
    tcase_add_test(tc, inputs_by_device_and_inode);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(staging_suite)
