/* test_build.c: streaming builds checked byte for byte against their
 * sources; output files, index, config, tokenizer files; safety. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

#include <limits.h>

#include "testutil.h"
#include "common/util.h"
#include "tmodel.h"
#include "suture/build.h"
#include "suture/staging.h"
#include "suture/plan.h"

static char root[256];
static arch_table *arches;
static recipe *cur_recipe;

static void setup(void)
{
    sut_error err;

    snprintf(root, sizeof(root), "%s", tu_tmpdir());
    arches = arch_table_new(&err);
    ck_assert_ptr_nonnull(arches);
    cur_recipe = NULL;
}

static void teardown(void)
{
    char cmd[300];

    recipe_free(cur_recipe);
    arch_table_free(arches);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

static plan *plan_json(const char *json, const plan_options *opt)
{
    char path[512];
    sut_error err;
    plan *p;

    snprintf(path, sizeof(path), "%s/recipe.json", root);
    tu_write(path, json, strlen(json));
    recipe_free(cur_recipe);
    cur_recipe = recipe_load(path, &err);
    ck_assert_msg(cur_recipe != NULL, "%s", err.msg);
    p = plan_make(cur_recipe, arches, opt, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    return p;
}

/* root/name (static storage, eight at a time). */
static char *out_path(const char *name)
{
    static char paths[8][512];
    static unsigned next;
    char *path = paths[next++ % 8];

    snprintf(path, 512, "%s/%s", root, name);
    return path;
}

static void build_ok(const plan *p, const char *out, build_report *rep)
{
    build_options opt = {.out = out, .jobs = 2};
    sut_error err;

    ck_assert_msg(build_run(p, &opt, rep, &err) == 0, "%s", err.msg);
}

/* n bytes of path at off (caller frees). */
static unsigned char *read_range(const char *path, uint64_t off, uint64_t n)
{
    unsigned char *buf = malloc(n ? n : 1);
    int fd = open(path, O_RDONLY);

    ck_assert_ptr_nonnull(buf);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, n, (off_t)off), (ssize_t)n);
    close(fd);
    return buf;
}

static unsigned char *tensor_bytes(const model *m, const model_tensor *t)
{
    const st_file *f = model_shard(m, t->shard);

    return read_range(st_path(f), st_data_start(f) + t->t->begin, st_tensor_bytes(t->t));
}

static bool same_dims(const st_tensor *a, const st_tensor *b)
{
    return a->ndim == b->ndim &&
           (a->ndim == 0 || memcmp(a->shape, b->shape, a->ndim * sizeof(uint64_t)) == 0);
}

/* Every output tensor is its source's bytes, or exactly its scaled or
 * converted value; the folder re-opens; index and config agree. */
static model *check_output(const plan *p, const char *out)
{
    sut_error err;
    model *o = model_open(out, arches, MODEL_STRICT, &err);
    size_t n, nl, i;
    const plan_tensor *t = plan_tensors(p, &n);

    ck_assert_msg(o != NULL, "%s", err.msg);
    ck_assert_uint_eq(model_tensor_count(o), n);
    ck_assert_uint_eq(model_issue_count(o), 0);
    for (i = 0; i < n; i++) {
        const model_tensor *ot = model_find(o, t[i].name);
        const model *sm = plan_model(p, t[i].model);
        unsigned char *got, *src, *want;
        ck_assert_msg(ot != NULL, "%s missing", t[i].name);
        ck_assert_int_eq(ot->t->dtype, t[i].dtype);
        ck_assert(same_dims(ot->t, t[i].src->t));
        got = tensor_bytes(o, ot);
        src = tensor_bytes(sm, t[i].src);
        want = src;
        if (t[i].scale != 1 || t[i].dtype != t[i].src->t->dtype) {
            want = malloc(st_tensor_bytes(ot->t) + 1);
            cv_apply(t[i].src->t->dtype, t[i].dtype, (float)t[i].scale, src, want,
                     t[i].src->t->elements);
        }
        ck_assert_uint_eq(st_tensor_bytes(ot->t), t[i].bytes);
        ck_assert_msg(memcmp(got, want, t[i].bytes) == 0, "%s differs", t[i].name);
        if (want != src)
            free(want);
        free(got);
        free(src);
    }
    plan_layers(p, &nl);
    ck_assert_int_eq(arch_config_layers(model_arch(o), model_config(o)), (long)nl);
    ck_assert_uint_eq(model_layer_count(o), nl);
    if (model_index_name(o))
        ck_assert_uint_eq(model_index_total_size(o), plan_bytes(p));
    return o;
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* The entries of root whose names contain part. */
static int count_entries(const char *part)
{
    char cmd[600];
    FILE *f;
    int n = 0, c;

    snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -c -- '%s'", root, part);
    f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%d", &n), 1);
    while ((c = fgetc(f)) != EOF)
        ;
    pclose(f);
    return n;
}

/* ---- fixtures ---- */

static bool fixture(char *buf, int size, const char *name)
{
    static char abs[PATH_MAX];
    const char *fix = tu_fixtures();

    if (!fix || !realpath(fix, abs))
        return false;
    fix = abs;
    snprintf(buf, (size_t)size, "%.3000s/hf/%s", fix, name);
    return exists(buf);
}

START_TEST(test_tiny_llama_repeat)
{
    char dir[PATH_MAX], json[8192];
    plan *p;
    model *o;
    build_report rep;
    const model_tensor *a, *b;
    unsigned char *x, *y;

    if (!fixture(dir, (int)sizeof(dir), "tiny-llama")) {
        tu_skip("fixtures absent");
        return;
    }
    snprintf(json, sizeof(json), "{\"models\": {\"t\": \"%s\"}, \"slices\": [{\"model\": \"t\", "
             "\"layers\": [0, 2]}, {\"model\": \"t\", \"layers\": [0, 2]}]}", dir);
    p = plan_json(json, NULL);
    build_ok(p, out_path("out"), &rep);
    ck_assert_uint_eq(rep.shards, 1);
    ck_assert_uint_eq(rep.bytes, plan_bytes(p));
    o = check_output(p, out_path("out"));
    a = model_find(o, "model.layers.0.self_attn.rotary_emb.inv_freq");
    b = model_find(o, "model.layers.2.self_attn.rotary_emb.inv_freq");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(model_find(o, "model.layers.1.self_attn.rotary_emb.inv_freq"));
    x = tensor_bytes(o, a);
    y = tensor_bytes(o, b);
    ck_assert_int_eq(memcmp(x, y, st_tensor_bytes(a->t)), 0);
    free(x);
    free(y);
    ck_assert(exists(out_path("out/model.safetensors")));
    ck_assert(!exists(out_path("out/model.safetensors.index.json")));
    ck_assert(exists(out_path("out/README.md")));
    ck_assert(exists(out_path("out/suture-recipe.json")));
    ck_assert_str_eq(st_meta_get(model_shard(o, 0), "format"), "pt");
    tu_assert_contains(st_meta_get(model_shard(o, 0), "suture.sources"),
                       "\"model.layers.2.self_attn.rotary_emb.inv_freq\":{\"model\":\"t\","
                       "\"tensor\":\"model.layers.0.self_attn.rotary_emb.inv_freq\","
                       "\"scale\":1,\"dtype\":\"F32\"}");
    tu_assert_contains(st_meta_get(model_shard(o, 0), "suture.models"), "\"t\":\"/");
    model_free(o);
    build_report_clear(&rep);
    plan_free(p);
}
END_TEST

START_TEST(test_tiny_llama_sharded)
{
    char dir[PATH_MAX], json[8192], *idx;
    plan_options opt = {.shard_size = 1500};
    plan *p;
    model *o;
    size_t ns, len;
    cJSON *root_json, *map, *it;
    const char *prev = "";

    if (!fixture(dir, (int)sizeof(dir), "tiny-llama-sharded")) {
        tu_skip("fixtures absent");
        return;
    }
    snprintf(json, sizeof(json), "{\"models\": {\"t\": \"%s\"}, \"slices\": [{\"model\": \"t\", "
             "\"layers\": [0, 2]}, {\"model\": \"t\", \"layers\": [1, 2]}]}", dir);
    p = plan_json(json, &opt);
    plan_shards(p, &ns);
    ck_assert_uint_gt(ns, 2);
    build_ok(p, out_path("out"), NULL);
    o = check_output(p, out_path("out"));
    ck_assert_uint_eq(model_shard_count(o), ns);
    idx = sut_read_file(out_path("out/model.safetensors.index.json"), 1 << 20, &len, NULL);
    ck_assert_ptr_nonnull(idx);
    root_json = cJSON_Parse(idx);
    map = cJSON_GetObjectItemCaseSensitive(root_json, "weight_map");
    ck_assert_int_eq(cJSON_GetArraySize(map), (int)model_tensor_count(o));
    cJSON_ArrayForEach(it, map) {
        ck_assert_int_lt(strcmp(prev, it->string), 0);
        prev = it->string;
    }
    cJSON_Delete(root_json);
    free(idx);
    model_free(o);
    plan_free(p);
}
END_TEST

START_TEST(test_tiny_gemma2)
{
    char dir[PATH_MAX], json[8192];
    plan *p;
    size_t nw, i;
    const plan_warning *w;
    bool parity = false;

    if (!fixture(dir, (int)sizeof(dir), "tiny-gemma2")) {
        tu_skip("fixtures absent");
        return;
    }
    snprintf(json, sizeof(json), "{\"models\": {\"g\": \"%s\"}, \"slices\": [{\"model\": \"g\", "
             "\"layers\": [0, 2]}, {\"model\": \"g\", \"layers\": [1, 2]}]}", dir);
    p = plan_json(json, NULL);
    w = plan_warnings(p, &nw);
    for (i = 0; i < nw; i++)
        parity |= strcmp(w[i].code, "sliding-parity-shift") == 0;
    ck_assert(parity);
    build_ok(p, out_path("out"), NULL);
    model_free(check_output(p, out_path("out")));
    plan_free(p);
}
END_TEST

/* Each layer of stories260K followed by a copy whose o_proj and down_proj
 * are scaled by 0: an identity expansion. */
START_TEST(test_stories_identity)
{
    char dir[PATH_MAX], json[8192];
    size_t o = 0, nt, i, zeroed = 0;
    plan *p;
    const plan_tensor *t;
    int k;

    if (!fixture(dir, (int)sizeof(dir), "stories260K")) {
        tu_skip("fixtures absent");
        return;
    }
    o += (size_t)snprintf(json + o, sizeof(json) - o, "{\"models\": {\"s\": \"%s\"}, \"slices\": [", dir);
    for (k = 0; k < 5; k++)
        o += (size_t)snprintf(json + o, sizeof(json) - o,
                              "%s{\"model\": \"s\", \"layers\": [%d, %d]}, {\"model\": \"s\", "
                              "\"layers\": [%d, %d], \"scale\": [{\"match\": \"o_proj|down_proj\", "
                              "\"value\": 0}]}", k ? ", " : "", k, k + 1, k, k + 1);
    snprintf(json + o, sizeof(json) - o, "]}");
    p = plan_json(json, NULL);
    build_ok(p, out_path("out"), NULL);
    model_free(check_output(p, out_path("out")));
    t = plan_tensors(p, &nt);
    for (i = 0; i < nt; i++)
        zeroed += t[i].scale == 0;
    ck_assert_uint_eq(zeroed, 10);
    plan_free(p);
}
END_TEST

/* ---- synthetic models ---- */

START_TEST(test_convert_and_scale)
{
    tmodel b = {.type = "llama", .layers = 3, .dtype = ST_BF16, .seed = 21};
    plan_options f32 = {.has_dtype = true, .dtype = ST_F32};
    plan_options f16 = {.has_dtype = true, .dtype = ST_F16};
    plan *p;

    tm_folder(root, "b", &b, 1);
    p = plan_json("{\"models\": {\"b\": \"b\"}, \"slices\": [{\"model\": \"b\", \"layers\": [0, 3]}, "
                  "{\"model\": \"b\", \"layers\": [1, 3], \"scale\": [{\"match\": \"o_proj\", "
                  "\"value\": 0.5}, {\"match\": \"down_proj\", \"value\": [0, 1]}]}]}", &f32);
    build_ok(p, out_path("f32"), NULL);
    model_free(check_output(p, out_path("f32")));
    plan_free(p);
    p = plan_json("{\"models\": {\"b\": \"b\"}, \"slices\": [{\"model\": \"b\", \"layers\": [0, 3], "
                  "\"scale\": [{\"match\": \"q_proj\", \"value\": -3}]}]}", &f16);
    build_ok(p, out_path("f16"), NULL);
    model_free(check_output(p, out_path("f16")));
    plan_free(p);
}
END_TEST

struct progress_log {
    uint64_t last, total;
    unsigned calls;
    bool backwards;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress_log *l = ctx;

    l->backwards |= done < l->last;
    l->last = done;
    l->total = total;
    l->calls++;
}

START_TEST(test_parallel_shards_progress)
{
    tmodel a = {.type = "llama", .layers = 8, .seed = 22};
    plan_options opt = {.shard_size = 2200};
    struct progress_log log = {0};
    build_options bo = {.jobs = 4, .progress = on_progress, .progress_ctx = &log};
    sut_error err;
    plan *p;
    size_t ns;

    tm_folder(root, "a", &a, 2);
    p = plan_json("{\"models\": {\"a\": \"a\"}, \"slices\": [{\"model\": \"a\", \"layers\": [0, 8]}, "
                  "{\"model\": \"a\", \"layers\": [2, 6], \"scale\": [{\"match\": \"o_proj\", "
                  "\"value\": 0}]}]}", &opt);
    plan_shards(p, &ns);
    ck_assert_uint_ge(ns, 5);
    bo.out = out_path("out");
    ck_assert_msg(build_run(p, &bo, NULL, &err) == 0, "%s", err.msg);
    model_free(check_output(p, out_path("out")));
    ck_assert(!log.backwards);
    ck_assert_uint_eq(log.last, plan_bytes(p));
    ck_assert_uint_eq(log.total, plan_bytes(p));
    ck_assert_uint_ge(log.calls, plan_tensors(p, &ns) ? 1 : 0);
    plan_free(p);
}
END_TEST

/* The recipe saved in OUT plans the same layers from anywhere. */
static void check_saved_recipe(const plan *p, const char *path)
{
    sut_error err;
    recipe *r = recipe_load(path, &err);
    plan *again;
    size_t n, m, i;
    const plan_layer *a, *b;

    ck_assert_msg(r != NULL, "%s", err.msg);
    again = plan_make(r, arches, NULL, &err);
    ck_assert_msg(again != NULL, "%s", err.msg);
    a = plan_layers(p, &n);
    b = plan_layers(again, &m);
    ck_assert_uint_eq(n, m);
    for (i = 0; i < n; i++) {
        ck_assert_uint_eq(a[i].model, b[i].model);
        ck_assert_uint_eq(a[i].source_layer, b[i].source_layer);
    }
    ck_assert_uint_eq(plan_get_donors(again).tokenizer, plan_get_donors(p).tokenizer);
    plan_free(again);
    recipe_free(r);
}

START_TEST(test_tokenizer_files)
{
    tmodel a = {.type = "llama", .layers = 2, .seed = 23};
    tmodel k = {.type = "llama", .layers = 2, .seed = 24};
    const char *adir = tm_folder(root, "a", &a, 1);
    const char *kdir = tm_folder(root, "k", &k, 1);
    static const char *names[] = {"tokenizer.json", "tokenizer_config.json",
                                  "special_tokens_map.json", "generation_config.json",
                                  "chat_template.jinja", "merges.txt"};
    char path[600], *got;
    build_report rep;
    size_t i, len;
    plan *p;

    for (i = 0; i < 6; i++) {
        snprintf(path, sizeof(path), "%s/%s", kdir, names[i]);
        tu_write(path, names[i], strlen(names[i]));
    }
    snprintf(path, sizeof(path), "%s/notes.txt", kdir);
    tu_write(path, "x", 1);
    snprintf(path, sizeof(path), "%s/tokenizer.json", adir);
    tu_write(path, "wrong donor", 11);
    p = plan_json("{\"models\": {\"a\": \"a\", \"k\": \"k\"}, \"slices\": [{\"model\": \"a\", "
                  "\"layers\": [0, 2]}], \"tokenizer_from\": \"k\"}", NULL);
    build_ok(p, out_path("out"), &rep);
    ck_assert_uint_eq(rep.files_copied, 6);
    for (i = 0; i < 6; i++) {
        snprintf(path, sizeof(path), "%s/out/%s", root, names[i]);
        got = sut_read_file(path, 1000, &len, NULL);
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, names[i]);
        free(got);
    }
    ck_assert(!exists(out_path("out/notes.txt")));
    got = sut_read_file(out_path("out/README.md"), 1 << 20, &len, NULL);
    ck_assert_ptr_nonnull(got);
    tu_assert_contains(got, "0-1 <- a 0-1");
    tu_assert_contains(got, "\"tokenizer_from\"");
    free(got);
    build_report_clear(&rep);
    check_saved_recipe(p, out_path("out/suture-recipe.json"));
    plan_free(p);
}
END_TEST

/* ---- safety ---- */

static plan *small_plan(void)
{
    tmodel a = {.type = "llama", .layers = 2, .seed = 25};

    tm_folder(root, "a", &a, 1);
    return plan_json("{\"models\": {\"a\": \"a\"}, \"slices\": [{\"model\": \"a\", "
                     "\"layers\": [0, 2]}, {\"model\": \"a\", \"layers\": [1, 2]}]}", NULL);
}

static void build_fails(const plan *p, const char *out, bool force, const char *want)
{
    build_options opt = {.out = out, .force = force};
    sut_error err = {""};

    char stage[600];

    ck_assert_msg(build_run(p, &opt, NULL, &err) != 0, "built, expected: %s", want);
    tu_assert_contains(err.msg, want);
    snprintf(stage, sizeof(stage), "%s/.%s.suture-tmp-%ld", root, sut_basename(out),
             (long)getpid());
    ck_assert(!exists(stage));
}

START_TEST(test_existing_out)
{
    plan *p = small_plan();
    build_options opt = {.out = out_path("out"), .force = true};
    build_report rep;
    sut_error err;

    ck_assert_int_eq(mkdir(out_path("out"), 0755), 0);
    tu_write(out_path("out/config.json"), "{}", 2);
    tu_write(out_path("out/old.safetensors"), "old", 3);
    build_fails(p, out_path("out"), false, "out: already exists (--force replaces it)");
    ck_assert(exists(out_path("out/old.safetensors")));
    ck_assert_msg(build_run(p, &opt, &rep, &err) == 0, "%s", err.msg);
    ck_assert(!exists(out_path("out/old.safetensors")));
    ck_assert_uint_eq(rep.nnotes, 1);
    tu_assert_contains(rep.notes[0], "replaced the existing");
    ck_assert_int_eq(count_entries("suture-old"), 0);
    model_free(check_output(p, out_path("out")));
    build_report_clear(&rep);
    plan_free(p);
}
END_TEST

START_TEST(test_force_refuses_other_folders)
{
    plan *p = small_plan();

    ck_assert_int_eq(mkdir(out_path("docs"), 0755), 0);
    tu_write(out_path("docs/thesis.tex"), "x", 1);
    build_fails(p, out_path("docs"), true,
                "docs: holds 'thesis.tex' (not a model file), which suture does not write; "
                "not replacing it");
    ck_assert(exists(out_path("docs/thesis.tex")));
    /* a project folder that happens to hold a config.json */
    ck_assert_int_eq(mkdir(out_path("proj"), 0755), 0);
    ck_assert_int_eq(mkdir(out_path("proj/src"), 0755), 0);
    ck_assert_int_eq(mkdir(out_path("proj/.git"), 0755), 0);
    tu_write(out_path("proj/config.json"), "{}", 2);
    tu_write(out_path("proj/src/main.c"), "x", 1);
    build_fails(p, out_path("proj"), true, "proj: holds '.git' (a folder), which suture "
                "does not write; not replacing it");
    ck_assert(exists(out_path("proj/src/main.c")));
    ck_assert(exists(out_path("proj/.git")));
    ck_assert(exists(out_path("proj/config.json")));
    tu_write(out_path("file"), "x", 1);
    build_fails(p, out_path("file"), true, "exists and is not a folder");
    plan_free(p);
}
END_TEST

START_TEST(test_out_inside_input)
{
    plan *p = small_plan();

    build_fails(p, out_path("a/sub"), false, "is inside the folder of input model 'a'");
    build_fails(p, out_path("a"), true, "is the folder of input model 'a'");
    build_fails(p, root, true, "holds input model 'a'");
    ck_assert(!exists(out_path("a/sub")));
    plan_free(p);
}
END_TEST

START_TEST(test_stale_staging)
{
    plan *p = small_plan();
    build_report rep;
    char stale[512];
    int lock;
    pid_t child = fork();

    ck_assert_int_ge(child, 0);
    if (child == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    snprintf(stale, sizeof(stale), "%s/.out.suture-tmp-%ld", root, (long)child);
    ck_assert_int_eq(mkdir(stale, 0755), 0);
    tu_write(out_path(".out.suture-tmp-x"), "not ours", 8);
    build_ok(p, out_path("out"), &rep);
    ck_assert(!exists(stale));
    ck_assert(exists(out_path(".out.suture-tmp-x")));
    ck_assert_uint_eq(rep.nnotes, 1);
    tu_assert_contains(rep.notes[0], "left by a run that no longer exists");
    build_report_clear(&rep);
    /* a leftover whose recorded pid lives again (pid 1 after a reboot) */
    snprintf(stale, sizeof(stale), "%s/.again.suture-tmp-1", root);
    ck_assert_int_eq(mkdir(stale, 0755), 0);
    build_ok(p, out_path("again"), &rep);
    ck_assert(!exists(stale));
    tu_assert_contains(rep.notes[0], "left by a run that no longer exists (pid 1)");
    build_report_clear(&rep);
    /* a live process building the same OUT holds its lock */
    snprintf(stale, sizeof(stale), "%s/.busy.suture-lock", root);
    lock = open(stale, O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(lock, 0);
    ck_assert_int_eq(flock(lock, LOCK_EX), 0);
    build_fails(p, out_path("busy"), false, "another suture process is building ");
    ck_assert(!exists(out_path("busy")));
    close(lock);
    /* its lock released (the process died): the file alone is a leftover */
    build_ok(p, out_path("busy"), &rep);
    ck_assert(!exists(stale));
    build_report_clear(&rep);
    plan_free(p);
}
END_TEST

/* A legal 250-byte OUT name: the staging names still fit NAME_MAX. */
START_TEST(test_long_name)
{
    plan *p = small_plan();
    build_report rep;
    char name[251], *tmp;

    memset(name, 'n', 250);
    name[250] = '\0';
    build_ok(p, out_path(name), &rep);
    ck_assert(exists(out_path(name)));
    ck_assert_uint_eq(rep.nnotes, 0);
    build_report_clear(&rep);
    tmp = stage_tmp_name(root, name);
    ck_assert_ptr_nonnull(tmp);
    ck_assert_uint_le(strlen(sut_basename(tmp)), NAME_MAX);
    ck_assert(stage_is_ours(sut_basename(tmp)));
    free(tmp);
    plan_free(p);
}
END_TEST

START_TEST(test_failure_leaves_nothing)
{
    plan *p = small_plan();

    /* the source changes between plan and build */
    ck_assert_int_eq(truncate(out_path("a/model.safetensors"), 100), 0);
    build_fails(p, out_path("out"), false, "model.safetensors: changed since its header was read");
    ck_assert(!exists(out_path("out")));
    plan_free(p);
}
END_TEST

/* A progress callback that asks the build to stop after its first call,
 * as a signal handler would. */
static volatile sig_atomic_t stop_now;

static void stop_after_first(void *ctx, uint64_t done, uint64_t total)
{
    (*(unsigned *)ctx)++;
    stop_now = 1;
}

START_TEST(test_cancel_leaves_nothing)
{
    tmodel a = {.type = "llama", .layers = 8, .seed = 31};
    plan_options po = {.shard_size = 2200};
    unsigned calls = 0;
    build_options opt = {.jobs = 1, .progress = stop_after_first, .progress_ctx = &calls,
                         .cancel = &stop_now};
    sut_error err = {""};
    char stage[600];
    size_t ns;
    plan *p;

    tm_folder(root, "a", &a, 1);
    p = plan_json("{\"models\": {\"a\": \"a\"}, \"slices\": [{\"model\": \"a\", "
                  "\"layers\": [0, 8]}]}", &po);
    plan_shards(p, &ns);
    ck_assert_uint_ge(ns, 3);
    stop_now = 0;
    opt.out = out_path("out");
    ck_assert_int_ne(build_run(p, &opt, NULL, &err), 0);
    ck_assert_str_eq(err.msg + strlen(err.msg) - strlen("interrupted"), "interrupted");
    ck_assert_uint_eq(calls, 1);
    ck_assert(!exists(out_path("out")));
    snprintf(stage, sizeof(stage), "%s/.out.suture-tmp-%ld", root, (long)getpid());
    ck_assert(!exists(stage));
    /* a cancel that came before the build starts writes nothing either */
    stop_now = 1;
    ck_assert_int_ne(build_run(p, &opt, NULL, &err), 0);
    tu_assert_contains(err.msg, "interrupted");
    ck_assert(!exists(out_path("out")));
    plan_free(p);
}
END_TEST

START_TEST(test_generated)
{
    const char *tools = getenv("SUTURE_TOOLS");
    char gen[512], cmd[1200];
    plan_options f32 = {.has_dtype = true, .dtype = ST_F32, .shard_size = 40000};
    plan *p;

    snprintf(gen, sizeof(gen), "%s/suture-gen", tools && *tools ? tools : "build/tools");
    if (access(gen, X_OK) != 0) {
        tu_skip("build/tools/suture-gen absent");
        return;
    }
    snprintf(cmd, sizeof(cmd), "'%s' --preset llama --layers 4 --hidden 16 --intermediate 32 "
             "--heads 2 --kv-heads 1 --vocab 32 --dtype bf16 --shards 2 --seed 5 -o '%s/gen' "
             ">/dev/null", gen, root);
    ck_assert_int_eq(system(cmd), 0);
    p = plan_json("{\"models\": {\"g\": \"gen\"}, \"slices\": [{\"model\": \"g\", \"layers\": [0, 3]}, "
                  "{\"model\": \"g\", \"layers\": [1, 4], \"scale\": [{\"match\": "
                  "\"o_proj|down_proj\", \"value\": 0}]}]}", &f32);
    build_ok(p, out_path("out"), NULL);
    model_free(check_output(p, out_path("out")));
    ck_assert(exists(out_path("out/model.safetensors.index.json")));
    ck_assert(exists(out_path("out/tokenizer_config.json")));
    plan_free(p);
}
END_TEST

static Suite *build_suite(void)
{
    Suite *s = suite_create("build");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_tiny_llama_repeat);
    tcase_add_test(tc, test_tiny_llama_sharded);
    tcase_add_test(tc, test_tiny_gemma2);
    tcase_add_test(tc, test_stories_identity);
    tcase_add_test(tc, test_convert_and_scale);
    tcase_add_test(tc, test_parallel_shards_progress);
    tcase_add_test(tc, test_tokenizer_files);
    tcase_add_test(tc, test_existing_out);
    tcase_add_test(tc, test_force_refuses_other_folders);
    tcase_add_test(tc, test_out_inside_input);
    tcase_add_test(tc, test_stale_staging);
    tcase_add_test(tc, test_long_name);
    tcase_add_test(tc, test_failure_leaves_nothing);
    tcase_add_test(tc, test_cancel_leaves_nothing);
    tcase_add_test(tc, test_generated);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(build_suite)
