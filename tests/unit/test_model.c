/* test_model.c: model folders, indexes against shards, layers, fixtures. */
#include <limits.h>

#include "testutil.h"
#include "suture/model.h"

static arch_table *arches;
static char dir[256];

static void setup(void)
{
    sut_error err;

    arches = arch_table_new(&err);
    ck_assert_ptr_nonnull(arches);
    snprintf(dir, sizeof(dir), "%s", tu_tmpdir());
}

static void teardown(void)
{
    char cmd[300];

    arch_table_free(arches);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes a safetensors file: header text as given, data_len zero bytes. */
static void put_st(const char *name, const char *header, size_t data_len)
{
    char path[512];
    size_t hlen = strlen(header);
    unsigned char *buf = calloc(1, 8 + hlen + data_len + 1);
    int i;

    for (i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, header, hlen);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    tu_write(path, buf, 8 + hlen + data_len);
    free(buf);
}

static void put_text(const char *name, const char *text)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    tu_write(path, text, strlen(text));
}

#define T(name, off) "\"" name "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" off "]}"
#define LLAMA_CONFIG "{\"model_type\":\"llama\",\"num_hidden_layers\":2}"

/* Two shards: embed + layer 0 in a, layer 1 + norm + head in b. */
static void put_sharded(void)
{
    put_text("config.json", LLAMA_CONFIG);
    put_st("a.safetensors",
           "{" T("model.embed_tokens.weight", "0,8") ","
           T("model.layers.0.mlp.up_proj.weight", "8,16") "}", 16);
    put_st("b.safetensors",
           "{" T("model.layers.1.mlp.up_proj.weight", "0,8") ","
           T("model.norm.weight", "8,16") "," T("lm_head.weight", "16,24") "}", 24);
}

static void put_index(const char *weight_map, const char *total)
{
    char text[2048];

    snprintf(text, sizeof(text), "{\"metadata\":{\"total_size\":%s},\"weight_map\":{%s}}",
             total, weight_map);
    put_text("model.safetensors.index.json", text);
}

#define GOOD_MAP                                                              \
    "\"model.embed_tokens.weight\":\"a.safetensors\","                        \
    "\"model.layers.0.mlp.up_proj.weight\":\"a.safetensors\","                \
    "\"model.layers.1.mlp.up_proj.weight\":\"b.safetensors\","                \
    "\"model.norm.weight\":\"b.safetensors\","                                \
    "\"lm_head.weight\":\"b.safetensors\""

static model *open_dir(int flags, sut_error *err)
{
    return model_open(dir, arches, flags, err);
}

START_TEST(sharded_folder)
{
    sut_error err = {""};
    model *m;
    const model_tensor *t;
    size_t n;

    put_sharded();
    put_index(GOOD_MAP, "40");
    m = open_dir(MODEL_STRICT, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_uint_eq(model_shard_count(m), 2);
    ck_assert_str_eq(model_shard_name(m, 0), "a.safetensors");
    ck_assert_uint_eq(model_tensor_count(m), 5);
    ck_assert_uint_eq(model_layer_count(m), 2);
    ck_assert_uint_eq(model_parameter_count(m), 10);
    ck_assert_uint_eq(model_data_bytes(m), 40);
    ck_assert_uint_eq(model_issue_count(m), 0);
    t = model_find(m, "model.layers.1.mlp.up_proj.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->role, MODEL_LAYER);
    ck_assert_int_eq(t->layer, 1);
    ck_assert_str_eq(t->local, "mlp.up_proj.weight");
    ck_assert_uint_eq(t->shard, 1);
    ck_assert_int_eq(model_find(m, "model.embed_tokens.weight")->role, MODEL_PRE);
    ck_assert_int_eq(model_find(m, "model.norm.weight")->role, MODEL_POST);
    ck_assert_int_eq(model_find(m, "lm_head.weight")->role, MODEL_POST);
    ck_assert_ptr_null(model_find(m, "nope"));
    model_layer_tensors(m, 0, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(model_arch(m)->name, "llama");
    ck_assert(!model_tied(m));
    model_free(m);
}
END_TEST

START_TEST(total_size_mismatch_is_an_issue)
{
    sut_error err = {""};
    model *m;

    put_sharded();
    put_index(GOOD_MAP, "41");
    m = open_dir(MODEL_STRICT, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_uint_eq(model_issue_count(m), 1);
    ck_assert_str_eq(model_issue_at(m, 0)->code, "total-size-mismatch");
    tu_assert_contains(model_issue_at(m, 0)->message,
                       "metadata.total_size is 41 but the tensors hold 40 bytes");
    model_free(m);
}
END_TEST

/* One row per broken index: the weight_map, and the error in strict mode
 * (NULL: opens in strict mode too), and whether lenient mode opens it. */
static const struct {
    const char *map;
    const char *error;
    bool lenient_opens;
} index_cases[] = {
    {GOOD_MAP ",\"model.layers.1.self_attn.q_proj.weight\":\"b.safetensors\"",
     "weight_map names tensor 'model.layers.1.self_attn.q_proj.weight' in 'b.safetensors', which does not hold it",
     true},
    {"\"model.embed_tokens.weight\":\"a.safetensors\","
     "\"model.layers.0.mlp.up_proj.weight\":\"a.safetensors\","
     "\"model.layers.1.mlp.up_proj.weight\":\"b.safetensors\","
     "\"model.norm.weight\":\"b.safetensors\"",
     "tensor 'lm_head.weight' is in 'b.safetensors' but not in the weight_map", true},
    {"\"model.embed_tokens.weight\":\"b.safetensors\","
     "\"model.layers.0.mlp.up_proj.weight\":\"a.safetensors\","
     "\"model.layers.1.mlp.up_proj.weight\":\"b.safetensors\","
     "\"model.norm.weight\":\"b.safetensors\",\"lm_head.weight\":\"b.safetensors\"",
     "weight_map puts tensor 'model.embed_tokens.weight' in 'b.safetensors' but it is in 'a.safetensors'",
     true},
    {GOOD_MAP ",\"x\":\"../a.safetensors\"",
     "tensor 'x': shard '../a.safetensors' is not a plain file name in the folder", false},
    {GOOD_MAP ",\"x\":\"/etc/passwd\"",
     "tensor 'x': shard '/etc/passwd' is not a plain file name in the folder", false},
    {GOOD_MAP ",\"x\":\"sub/a.safetensors\"",
     "shard 'sub/a.safetensors' is not a plain file name", false},
    {GOOD_MAP ",\"x\":\"..\"", "shard '..' is not a plain file name", false},
    {GOOD_MAP ",\"x\":\"c.safetensors\"", "shard 'c.safetensors' named by", false},
    {GOOD_MAP ",\"x\":7", "weight_map: tensor 'x': not a file name string", false},
    {GOOD_MAP ",\"lm_head.weight\":\"b.safetensors\"", "duplicate key 'lm_head.weight'", false},
};

START_TEST(broken_index)
{
    sut_error err = {""};
    model *m;

    put_sharded();
    put_index(index_cases[_i].map, "40");
    m = open_dir(MODEL_STRICT, &err);
    ck_assert_ptr_null(m);
    tu_assert_contains(err.msg, index_cases[_i].error);
    m = open_dir(MODEL_LENIENT, &err);
    ck_assert_int_eq(m != NULL, index_cases[_i].lenient_opens);
    if (m) {
        ck_assert_uint_ge(model_issue_count(m), 1);
        ck_assert_str_eq(model_issue_at(m, 0)->code, "index-mismatch");
        tu_assert_contains(model_issue_at(m, 0)->message, index_cases[_i].error);
    } else {
        tu_assert_contains(err.msg, index_cases[_i].error);
    }
    model_free(m);
}
END_TEST

START_TEST(index_shapes)
{
    sut_error err = {""};
    model *m;

    put_sharded();
    put_text("model.safetensors.index.json", "[]");
    ck_assert_ptr_null(m = open_dir(MODEL_LENIENT, &err));
    tu_assert_contains(err.msg, "model.safetensors.index.json: not a JSON object");
    put_text("model.safetensors.index.json", "{\"metadata\":{}}");
    ck_assert_ptr_null(m = open_dir(MODEL_LENIENT, &err));
    tu_assert_contains(err.msg, "weight_map: missing");
    put_index(GOOD_MAP, "-1");
    ck_assert_ptr_null(m = open_dir(MODEL_LENIENT, &err));
    tu_assert_contains(err.msg, "metadata.total_size: not a whole number");
    put_index(GOOD_MAP, "40");
    put_text("config.json", "[1]");
    ck_assert_ptr_null(m = open_dir(MODEL_LENIENT, &err));
    tu_assert_contains(err.msg, "config.json: not a JSON object");
}
END_TEST

START_TEST(tensor_in_two_shards)
{
    sut_error err = {""};
    model *m;

    put_sharded();
    put_st("b.safetensors",
           "{" T("model.layers.1.mlp.up_proj.weight", "0,8") ","
           T("model.embed_tokens.weight", "8,16") "," T("model.norm.weight", "16,24") ","
           T("lm_head.weight", "24,32") "}", 32);
    put_index(GOOD_MAP, "48");
    ck_assert_ptr_null(m = open_dir(MODEL_LENIENT, &err));
    tu_assert_contains(err.msg,
                       "tensor 'model.embed_tokens.weight' is stored in both 'a.safetensors' and 'b.safetensors'");
}
END_TEST

START_TEST(unreferenced_shard)
{
    sut_error err = {""};
    model *m;

    put_sharded();
    put_index(GOOD_MAP, "40");
    put_st("stray.safetensors", "{}", 0);
    m = open_dir(MODEL_STRICT, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_uint_eq(model_issue_count(m), 1);
    ck_assert_str_eq(model_issue_at(m, 0)->code, "index-mismatch");
    tu_assert_contains(model_issue_at(m, 0)->message,
                       "shard 'stray.safetensors' is in the folder but the index does not reference it");
    model_free(m);
}
END_TEST

START_TEST(invalid_shard_names_the_file)
{
    sut_error err = {""};

    put_sharded();
    put_index(GOOD_MAP, "40");
    put_st("b.safetensors", "{" T("model.norm.weight", "0,8") "}", 12);
    ck_assert_ptr_null(open_dir(MODEL_LENIENT, &err));
    tu_assert_contains(err.msg, "b.safetensors");
}
END_TEST

/* The hub cache: snapshots/<rev>/<shard> -> ../../blobs/<sha>. */
START_TEST(hub_cache_symlinks)
{
    sut_error err = {""};
    char snap[512], cmd[2048];
    model *m;

    put_sharded();
    put_index(GOOD_MAP, "40");
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && mkdir -p blobs snapshots/abc && for f in a.safetensors b.safetensors "
             "config.json model.safetensors.index.json; do s=$(sha256sum $f | cut -c1-16); "
             "mv $f blobs/$s; ln -s ../../blobs/$s snapshots/abc/$f; done", dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(snap, sizeof(snap), "%s/snapshots/abc", dir);
    m = model_open(snap, arches, MODEL_STRICT, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_uint_eq(model_tensor_count(m), 5);
    ck_assert_uint_eq(model_issue_count(m), 0);
    model_free(m);
}
END_TEST

START_TEST(single_and_lone_files)
{
    sut_error err = {""};
    char path[512], other[512];
    model *m;

    put_text("config.json", LLAMA_CONFIG);
    put_st("model.safetensors", "{" T("model.layers.0.mlp.up_proj.weight", "0,8") "}", 8);
    m = open_dir(MODEL_STRICT, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_str_eq(model_shard_name(m, 0), "model.safetensors");
    ck_assert_ptr_null(model_index_name(m));
    model_free(m);

    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    m = model_open(path, arches, MODEL_STRICT, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_str_eq(model_dir(m), dir);
    ck_assert_uint_eq(model_layer_count(m), 1);
    model_free(m);

    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    snprintf(other, sizeof(other), "%s/adapter.safetensors", dir);
    ck_assert_int_eq(rename(path, other), 0);
    m = open_dir(MODEL_STRICT, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_str_eq(model_shard_name(m, 0), "adapter.safetensors");
    model_free(m);

    put_st("other.safetensors", "{}", 0);
    ck_assert_ptr_null(open_dir(MODEL_STRICT, &err));
    tu_assert_contains(err.msg, "2 .safetensors files but no model.safetensors.index.json");
}
END_TEST

START_TEST(empty_folder_and_missing_path)
{
    sut_error err = {""};
    char path[512];

    ck_assert_ptr_null(open_dir(MODEL_STRICT, &err));
    tu_assert_contains(err.msg, "no model.safetensors");
    snprintf(path, sizeof(path), "%s/nothing-here", dir);
    ck_assert_ptr_null(model_open(path, arches, MODEL_STRICT, &err));
    tu_assert_contains(err.msg, "nothing-here: No such file or directory");
}
END_TEST

START_TEST(unknown_architecture_is_inferred)
{
    sut_error err = {""};
    model *m;

    put_text("config.json", "{\"model_type\":\"weird\"}");
    put_st("model.safetensors",
           "{" T("blocks.0.w", "0,8") "," T("blocks.1.w", "8,16") "," T("emb", "16,24") "}", 24);
    m = open_dir(MODEL_STRICT, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert(model_arch(m)->inferred);
    ck_assert_uint_eq(model_layer_count(m), 2);
    ck_assert_str_eq(model_issue_at(m, 0)->code, "unknown-architecture");
    model_free(m);
}
END_TEST

/* Real folders written by transformers: counts from an independent read
 * (python: sum of shape products over the headers). */
static const struct {
    const char *path;
    size_t tensors;
    unsigned layers;
    uint64_t params;
    const char *family;
    bool tied;
} fixtures[] = {
    {"hf/tiny-llama", 22, 2, 1178, "llama", false},
    {"hf/tiny-llama-sharded", 22, 2, 1178, "llama", false},
};

START_TEST(real_fixtures)
{
    const char *fix = tu_fixtures();
    char path[PATH_MAX + 64];
    sut_error err = {""};
    model *m;

    if (!fix) {
        tu_skip("fixtures absent");
        return;
    }
    snprintf(path, sizeof(path), "%s/%s", fix, fixtures[_i].path);
    m = model_open(path, arches, MODEL_STRICT, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_uint_eq(model_tensor_count(m), fixtures[_i].tensors);
    ck_assert_uint_eq(model_layer_count(m), fixtures[_i].layers);
    ck_assert_uint_eq(model_parameter_count(m), fixtures[_i].params);
    ck_assert_str_eq(model_arch(m)->name, fixtures[_i].family);
    ck_assert_int_eq(model_tied(m), fixtures[_i].tied);
    ck_assert_int_eq(model_find(m, "model.layers.0.self_attn.rotary_emb.inv_freq")->role,
                     MODEL_LAYER);
    ck_assert_uint_eq(model_issue_count(m), 0);
    model_free(m);
}
END_TEST

/* ---- issue 10: special files, no layer stack, bounded issues, err ---- */

static void put_fifo(const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    ck_assert_int_eq(mkfifo(path, 0644), 0);
}

static void put_link(const char *name, const char *target)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    ck_assert_int_eq(symlink(target, path), 0);
}

#define ONE_LAYER "{" T("model.layers.0.w", "0,8") "}"

/* Each special file is refused, named, without blocking on a FIFO (the
 * case would hang check's timeout). */
static const struct {
    const char *what;
    const char *error;
} special_cases[] = {
    {"config-fifo", "/config.json: is a FIFO, not a regular file"},
    {"config-dev-zero", "/config.json: is a character device, not a regular file"},
    {"config-folder", "/config.json: is a folder, not a regular file"},
    {"config-dangling", "/config.json: is a symbolic link to nothing"},
    {"single-fifo", "/model.safetensors: is a FIFO, not a regular file"},
    {"index-fifo", "/model.safetensors.index.json: is a FIFO, not a regular file"},
    {"lone-fifo", "/x.safetensors: is a FIFO, not a regular file"},
};

START_TEST(special_files_are_refused)
{
    const char *w = special_cases[_i].what;
    sut_error err = {""};
    char path[512];

    if (strncmp(w, "config", 6) == 0 || strcmp(w, "index-fifo") == 0)
        put_st("model.safetensors", ONE_LAYER, 8);
    if (strcmp(w, "config-fifo") == 0)
        put_fifo("config.json");
    else if (strcmp(w, "config-dev-zero") == 0)
        put_link("config.json", "/dev/zero");
    else if (strcmp(w, "config-folder") == 0) {
        snprintf(path, sizeof(path), "%s/config.json", dir);
        ck_assert_int_eq(mkdir(path, 0755), 0);
    } else if (strcmp(w, "config-dangling") == 0)
        put_link("config.json", "nowhere.json");
    else if (strcmp(w, "single-fifo") == 0)
        put_fifo("model.safetensors");
    else if (strcmp(w, "index-fifo") == 0)
        put_fifo("model.safetensors.index.json");
    else
        put_fifo("x.safetensors");
    ck_assert_ptr_null(open_dir(MODEL_STRICT, &err));
    tu_assert_contains(err.msg, special_cases[_i].error);
    ck_assert_ptr_null(open_dir(MODEL_LENIENT, &err));
    tu_assert_contains(err.msg, special_cases[_i].error);
}
END_TEST

START_TEST(config_over_the_limit)
{
    sut_error err = {""};
    char path[512];
    char *big = malloc(MODEL_CONFIG_MAX + 1);

    ck_assert_ptr_nonnull(big);
    memset(big, ' ', MODEL_CONFIG_MAX + 1);
    memcpy(big, "{}", 2);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    tu_write(path, big, MODEL_CONFIG_MAX + 1);
    free(big);
    put_st("model.safetensors", ONE_LAYER, 8);
    ck_assert_ptr_null(open_dir(MODEL_STRICT, &err));
    tu_assert_contains(err.msg, "config.json: file is 1048577 bytes, over the limit of 1048576");
}
END_TEST

/* A plain tensor file, scalars, only metadata: valid files without
 * layers open (family none); plan's flag refuses them. */
START_TEST(no_layer_stack)
{
    static const char *const headers[] = {
        "{" T("weight", "0,8") "," T("bias", "8,16") "}",
        "{\"a\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[8,12]}}",
        "{\"__metadata__\":{\"format\":\"pt\"}}",
    };
    static const size_t data[] = {16, 12, 0}, tensors[] = {2, 2, 0};
    size_t i;

    for (i = 0; i < 3; i++) {
        sut_error err = {""};
        char path[512];
        model *m;

        put_st("plain.safetensors", headers[i], data[i]);
        snprintf(path, sizeof(path), "%s/plain.safetensors", dir);
        m = model_open(path, arches, MODEL_STRICT, &err);
        ck_assert_msg(m != NULL, "%s", err.msg);
        ck_assert_str_eq(model_arch(m)->name, "none");
        ck_assert_uint_eq(model_layer_count(m), 0);
        ck_assert_uint_eq(model_tensor_count(m), tensors[i]);
        ck_assert_str_eq(model_issue_at(m, 0)->code, "no-layer-stack");
        tu_assert_contains(model_issue_at(m, 0)->message, "plain.safetensors: no layer stack");
        model_free(m);
        ck_assert_ptr_null(model_open(path, arches, MODEL_STRICT | MODEL_NEED_LAYERS, &err));
        tu_assert_contains(err.msg, "plain.safetensors: no layer stack (no tensor is in a "
                                    "numbered layer \"<prefix>.N.<name>\"): plan and build "
                                    "need one");
    }
}
END_TEST

/* 25 weight_map entries the shard does not hold: 10 issues and a count. */
START_TEST(issues_of_one_kind_are_counted)
{
    char map[8192];
    size_t len, i;
    sut_error err = {""};
    model *m;

    put_sharded();
    len = (size_t)snprintf(map, sizeof(map), "%s", GOOD_MAP);
    for (i = 0; i < 25; i++)
        len += (size_t)snprintf(map + len, sizeof(map) - len,
                                ",\"extra.%zu\":\"b.safetensors\"", i);
    put_index(map, "40");
    m = open_dir(MODEL_LENIENT, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_uint_eq(model_issue_count(m), 11);
    ck_assert_str_eq(model_issue_at(m, 10)->code, "index-mismatch");
    ck_assert_str_eq(model_issue_at(m, 10)->message,
                     "15 more issues like the 10 above are not listed");
    model_free(m);
}
END_TEST

/* Every failing model_open fills err with one line: err is poisoned
 * before each call and must be overwritten (issue 10, item 8). */
static void expect_filled(const char *path, int flags, const char *what)
{
    sut_error err;
    model *m;

    memset(err.msg, 'Z', sizeof(err.msg) - 1);
    err.msg[sizeof(err.msg) - 1] = '\0';
    m = model_open(path, arches, flags, &err);
    ck_assert_msg(m == NULL, "%s: opened", what);
    ck_assert_msg(strstr(err.msg, "ZZZZ") == NULL, "%s: err not filled: %.60s", what, err.msg);
    ck_assert_msg(err.msg[0] != '\0', "%s: empty message", what);
    ck_assert_msg(strchr(err.msg, '\n') == NULL, "%s: two lines: %s", what, err.msg);
}

static void reset_dir(void)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'/* '%s'/.[!.]*", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(every_error_fills_err)
{
    static const char *const indexes[] = {
        "", "[1]", "{\"weight_map\":7}", "{\"metadata\":3,\"weight_map\":{}}",
        "{\"metadata\":{\"total_size\":-1},\"weight_map\":{\"a\":\"a.safetensors\"}}",
        "{\"weight_map\":{}}", "{}", "{\"weight_map\":{\"a\":1}}",
        "{\"weight_map\":{\"a\":\"../a\"}}", "{\"weight_map\":{\"a\":\"c.safetensors\"}}",
        "{\"weight_map\":{\"a\":\"a.safetensors\",\"a\":\"a.safetensors\"}}",
        "{\"weight_map\":{\"a\":\"a.safetensors\"},\"weight_map\":{}}",
        "{\"weight_map\":{\"a\\u0000\":\"a.safetensors\"}}",
        "{\"weight_map\":{\"a\":\"a.safetensors\"}} x",
    };
    char path[512];
    size_t i;

    snprintf(path, sizeof(path), "%s/nothing-here", dir);
    expect_filled(path, MODEL_STRICT, "missing path");
    expect_filled(dir, MODEL_STRICT, "empty folder");
    for (i = 0; i < sizeof(indexes) / sizeof(indexes[0]); i++) {
        reset_dir();
        put_sharded();
        put_text("model.safetensors.index.json", indexes[i]);
        expect_filled(dir, MODEL_STRICT, indexes[i]);
    }
    reset_dir();
    put_sharded();
    put_index(GOOD_MAP ",\"x\":\"b.safetensors\"", "40");
    expect_filled(dir, MODEL_STRICT, "index names a tensor the shard lacks");
    reset_dir();
    put_text("config.json", "[]");
    put_st("model.safetensors", ONE_LAYER, 8);
    expect_filled(dir, MODEL_STRICT, "config not an object");
    reset_dir();
    put_text("config.json", "{\"a\":1,\"a\":2}");
    put_st("model.safetensors", ONE_LAYER, 8);
    expect_filled(dir, MODEL_STRICT, "config duplicate key");
    reset_dir();
    put_st("model.safetensors", "{" T("a", "0,4") "}", 8);
    expect_filled(dir, MODEL_STRICT, "bad shard");
    reset_dir();
    put_fifo("config.json");
    put_st("model.safetensors", ONE_LAYER, 8);
    expect_filled(dir, MODEL_STRICT, "config FIFO");
    reset_dir();
    put_st("a.safetensors", ONE_LAYER, 8);
    put_st("b.safetensors", ONE_LAYER, 8);
    expect_filled(dir, MODEL_STRICT, "two lone files");
    reset_dir();
    put_st("model.safetensors", "{" T("w", "0,8") "}", 8);
    expect_filled(dir, MODEL_STRICT | MODEL_NEED_LAYERS, "no layer stack");
    reset_dir();
    put_st("model.safetensors", "{" T("model.layers.70000.w", "0,8") "}", 8);
    expect_filled(dir, MODEL_STRICT, "layer over the limit");
    reset_dir();
    put_fifo("model.safetensors");
    expect_filled(dir, MODEL_STRICT, "model FIFO");
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    expect_filled(path, MODEL_STRICT, "a FIFO given as the path");
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("folders");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sharded_folder);
    tcase_add_test(tc, total_size_mismatch_is_an_issue);
    tcase_add_loop_test(tc, broken_index, 0, sizeof(index_cases) / sizeof(index_cases[0]));
    tcase_add_test(tc, index_shapes);
    tcase_add_test(tc, tensor_in_two_shards);
    tcase_add_test(tc, unreferenced_shard);
    tcase_add_test(tc, invalid_shard_names_the_file);
    tcase_add_test(tc, hub_cache_symlinks);
    tcase_add_test(tc, single_and_lone_files);
    tcase_add_test(tc, empty_folder_and_missing_path);
    tcase_add_test(tc, unknown_architecture_is_inferred);
    tcase_add_loop_test(tc, real_fixtures, 0, sizeof(fixtures) / sizeof(fixtures[0]));
    tcase_add_loop_test(tc, special_files_are_refused, 0,
                        sizeof(special_cases) / sizeof(special_cases[0]));
    tcase_add_test(tc, config_over_the_limit);
    tcase_add_test(tc, no_layer_stack);
    tcase_add_test(tc, issues_of_one_kind_are_counted);
    tcase_add_test(tc, every_error_fills_err);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(model_suite)
