/* test_verify.c: verify against outputs laid out as build.h documents
 * (each shard's suture.models and suture.sources), made in the test: copies,
 * scaled and converted tensors, corrupted bytes, missing provenance,
 * missing sources. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "amodel.h"
#include "suture/verify.h"
#include "cli/json_out.h"

/* Output layer i is source layer src_layer[i]: [0:4] + [1:3]. */
static const unsigned src_layer[6] = {0, 1, 2, 3, 1, 2};

static arch_table *table(void)
{
    sut_error err;
    arch_table *t = arch_table_new(&err);

    ck_assert_msg(t != NULL, "%s", err.msg);
    return t;
}

/* The source tensor name of an output tensor. */
static void source_name(const char *out, char *buf, size_t size)
{
    unsigned layer;
    int used = 0;

    if (sscanf(out, "model.layers.%u.%n", &layer, &used) == 1 && used > 0)
        snprintf(buf, size, "model.layers.%u.%s", src_layer[layer], out + used);
    else
        snprintf(buf, size, "%s", out);
}

struct built {
    char src[300];     /* the source model folder */
    char out[300];     /* the output folder */
    am_model m;        /* the output's tensors */
    char *sources[2];
    char *models;
};

/* Writes the source (4 layers, F32) and the output: layers [0:4] + [1:3],
 * the o_proj of output layers 4-5 scaled by `scale`, every tensor in
 * dtype `dt` (conversions when not F32), two shards with provenance. */
static void make_built(struct built *b, st_dtype dt, float scale)
{
    am_model src;
    cJSON *models = cJSON_CreateObject();
    unsigned i, s;

    am_decoder(&src, "llama", 4, true, false);
    snprintf(b->src, sizeof(b->src), "%s", am_folder(&src));
    am_decoder(&b->m, "llama", 6, true, false);
    for (i = 0; i < 6; i++)
        am_copy_layer(&b->m, i, src_layer[i]);
    am_two_shards(&b->m);
    for (i = 0; i < b->m.n; i++) {
        b->m.t[i].dtype = dt;
        if (strstr(b->m.t[i].name, "o_proj") && (strstr(b->m.t[i].name, "layers.4.") ||
                                                 strstr(b->m.t[i].name, "layers.5.")))
            b->m.t[i].scale = scale;
    }
    cJSON_AddStringToObject(models, "src", b->src);
    b->models = cJSON_PrintUnformatted(models);
    cJSON_Delete(models);
    for (s = 0; s < 2; s++) {
        cJSON *map = cJSON_CreateObject();
        for (i = 0; i < b->m.n; i++) {
            char name[128];
            cJSON *e;
            if (b->m.t[i].shard != s)
                continue;
            source_name(b->m.t[i].name, name, sizeof(name));
            e = cJSON_AddObjectToObject(map, b->m.t[i].name);
            cJSON_AddStringToObject(e, "model", "src");
            cJSON_AddStringToObject(e, "tensor", name);
            cJSON_AddNumberToObject(e, "scale", b->m.t[i].scale ? b->m.t[i].scale : 1);
            cJSON_AddStringToObject(e, "dtype", "F32");
        }
        b->sources[s] = cJSON_PrintUnformatted(map);
        cJSON_Delete(map);
    }
    b->m.meta_key = "suture.sources";
    b->m.meta_value[0] = b->sources[0];
    b->m.meta_value[1] = b->sources[1];
    b->m.meta_key2 = "suture.models";
    b->m.meta_value2[0] = b->models;
    b->m.meta_value2[1] = b->models;
}

static void write_built(struct built *b)
{
    snprintf(b->out, sizeof(b->out), "%s", am_folder(&b->m));
}

static void free_built(struct built *b)
{
    free(b->sources[0]);
    free(b->sources[1]);
    free(b->models);
}

static verify_report *verify(arch_table *t, const char *path)
{
    sut_error err;
    verify_report *r = verify_run(path, t, NULL, &err);

    ck_assert_msg(r != NULL, "%s", err.msg);
    return r;
}

static void dump(const verify_report *r)
{
    size_t i;

    for (i = 0; i < verify_problem_count(r); i++)
        fprintf(stderr, "  %s\n", verify_problem_at(r, i)->message);
}

/* Flips one bit of byte `at` of tensor name's data in the output. */
static void corrupt(const struct built *b, const char *name, uint64_t at)
{
    const am_tensor *t = NULL;
    char shard[64], path[512];
    sut_error err;
    st_file *f;
    FILE *fp;
    size_t i;
    int c;

    for (i = 0; i < b->m.n; i++)
        if (strcmp(b->m.t[i].name, name) == 0)
            t = &b->m.t[i];
    ck_assert_ptr_nonnull(t);
    snprintf(path, sizeof(path), "%s/%s", b->out, am_shard_name(&b->m, t->shard, shard, sizeof(shard)));
    f = st_open(path, &err);
    ck_assert_ptr_nonnull(f);
    fp = fopen(path, "r+b");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, (long)(st_data_start(f) + st_find(f, name)->begin + at), SEEK_SET);
    c = fgetc(fp);
    fseek(fp, (long)(st_data_start(f) + st_find(f, name)->begin + at), SEEK_SET);
    fputc(c ^ 0x10, fp);
    fclose(fp);
    st_free(f);
}

START_TEST(copies_and_scaled_all_match)
{
    arch_table *t = table();
    struct built b;
    verify_report *r;

    make_built(&b, ST_F32, 0.5f);
    write_built(&b);
    r = verify(t, b.out);
    if (verify_problem_count(r))
        dump(r);
    ck_assert_uint_eq(verify_problem_count(r), 0);
    ck_assert_uint_eq(verify_checked(r), b.m.n);
    ck_assert_uint_eq(verify_recomputed(r), 2);
    ck_assert_uint_eq(verify_copied(r), b.m.n - 2);
    ck_assert_uint_eq(verify_sources(r), 1);
    verify_free(r);
    free_built(&b);
    arch_table_free(t);
}
END_TEST

START_TEST(converted_all_match)
{
    arch_table *t = table();
    struct built b;
    verify_report *r;

    make_built(&b, ST_BF16, 0.25f);
    write_built(&b);
    r = verify(t, b.out);
    if (verify_problem_count(r))
        dump(r);
    ck_assert_uint_eq(verify_problem_count(r), 0);
    ck_assert_uint_eq(verify_recomputed(r), b.m.n);
    verify_free(r);
    free_built(&b);
    arch_table_free(t);
}
END_TEST

START_TEST(corrupted_copy_is_named)
{
    arch_table *t = table();
    struct built b;
    verify_report *r;

    make_built(&b, ST_F32, 0.5f);
    write_built(&b);
    corrupt(&b, "model.layers.4.mlp.up_proj.weight", 37);
    r = verify(t, b.out);
    ck_assert_uint_eq(verify_problem_count(r), 1);
    ck_assert_str_eq(verify_problem_at(r, 0)->tensor, "model.layers.4.mlp.up_proj.weight");
    tu_assert_contains(verify_problem_at(r, 0)->message,
                       "tensor 'model.layers.4.mlp.up_proj.weight': bytes differ from its "
                       "source src 'model.layers.1.mlp.up_proj.weight'");
    verify_free(r);
    free_built(&b);
    arch_table_free(t);
}
END_TEST

START_TEST(corrupted_scaled_element_is_named)
{
    arch_table *t = table();
    struct built b;
    verify_report *r;

    make_built(&b, ST_BF16, 0.5f);
    write_built(&b);
    corrupt(&b, "model.layers.5.self_attn.o_proj.weight", 2 * 13 + 1);
    r = verify(t, b.out);
    ck_assert_uint_eq(verify_problem_count(r), 1);
    tu_assert_contains(verify_problem_at(r, 0)->message,
                       "tensor 'model.layers.5.self_attn.o_proj.weight': element 13 differs "
                       "from the value recomputed from src 'model.layers.2.self_attn.o_proj.weight' "
                       "(F32 -> BF16, scale 0.5)");
    verify_free(r);
    free_built(&b);
    arch_table_free(t);
}
END_TEST

/* verify_run on three threads reporting progress to p. */
static verify_report *verify_counted(arch_table *t, const char *path, tu_progress *p)
{
    verify_options opt = {.threads = 3, .progress = tu_progress_record, .progress_ctx = p};
    sut_error err;
    verify_report *r = verify_run(path, t, &opt, &err);

    ck_assert_msg(r != NULL, "%s", err.msg);
    return r;
}

/* The output's parameters: 264 + 496 per layer, 6 layers. */
#define BUILT_PARAMS 3240

START_TEST(progress_counts_output_and_source_bytes)
{
    arch_table *t = table();
    struct built b;
    tu_progress p = {0};
    verify_report *r;

    make_built(&b, ST_F32, 0.5f);
    write_built(&b);
    r = verify_counted(t, b.out, &p);
    ck_assert_uint_eq(verify_problem_count(r), 0);
    tu_assert_progress(&p, 2 * BUILT_PARAMS * 4);
    ck_assert_uint_ge(p.calls, b.m.n);
    verify_free(r);
    free_built(&b);
    arch_table_free(t);
}
END_TEST

START_TEST(progress_reaches_the_total_past_a_mismatch)
{
    arch_table *t = table();
    struct built b;
    tu_progress p = {0};
    verify_report *r;

    make_built(&b, ST_BF16, 0.5f);
    write_built(&b);
    corrupt(&b, "model.layers.5.self_attn.o_proj.weight", 2 * 13 + 1);
    r = verify_counted(t, b.out, &p);
    ck_assert_uint_eq(verify_problem_count(r), 1);
    tu_assert_progress(&p, BUILT_PARAMS * (2 + 4));
    verify_free(r);
    free_built(&b);
    arch_table_free(t);
}
END_TEST

START_TEST(no_provenance_cannot_run)
{
    arch_table *t = table();
    am_model m;
    sut_error err;

    am_decoder(&m, "llama", 2, true, false);
    ck_assert_ptr_null(verify_run(am_folder(&m), t, NULL, &err));
    tu_assert_contains(err.msg, "not written by suture build");
    arch_table_free(t);
}
END_TEST

START_TEST(missing_source_cannot_run)
{
    arch_table *t = table();
    struct built b;
    sut_error err;

    make_built(&b, ST_F32, 1);
    free(b.models);
    b.models = strdup("{\"src\": \"/nonexistent/source-model\"}");
    b.m.meta_value2[0] = b.m.meta_value2[1] = b.models;
    write_built(&b);
    ck_assert_ptr_null(verify_run(b.out, t, NULL, &err));
    tu_assert_contains(err.msg, "source model 'src': /nonexistent/source-model");
    free_built(&b);
    arch_table_free(t);
}
END_TEST

START_TEST(bad_provenance_cannot_run)
{
    arch_table *t = table();
    struct built b;
    sut_error err;

    make_built(&b, ST_F32, 1);
    free(b.sources[1]);
    b.sources[1] = strdup("{\"lm_head.weight\": {\"model\": \"src\", \"tensor\": 7}}");
    b.m.meta_value[1] = b.sources[1];
    write_built(&b);
    ck_assert_ptr_null(verify_run(b.out, t, NULL, &err));
    tu_assert_contains(err.msg, "suture.sources: tensor 'lm_head.weight': tensor: missing or invalid");
    free_built(&b);
    arch_table_free(t);
}
END_TEST

/* A shard's provenance over 16 MiB is refused before it is parsed. */
START_TEST(huge_provenance_is_refused)
{
    arch_table *t = table();
    struct built b;
    sut_error err;
    size_t n = (16u << 20) + 1;

    make_built(&b, ST_F32, 1);
    free(b.sources[1]);
    b.sources[1] = malloc(n + 1);
    ck_assert_ptr_nonnull(b.sources[1]);
    memset(b.sources[1], ' ', n);
    b.sources[1][0] = '{';
    b.sources[1][n - 1] = '}';
    b.sources[1][n] = '\0';
    b.m.meta_value[1] = b.sources[1];
    write_built(&b);
    ck_assert_ptr_null(verify_run(b.out, t, NULL, &err));
    ck_assert_str_eq(err.msg, "model-00002-of-00002.safetensors: __metadata__ suture.sources "
                     "is 16777217 bytes, over the 16 MiB verify reads");
    free_built(&b);
    arch_table_free(t);
}
END_TEST

START_TEST(provenance_gaps_are_problems)
{
    arch_table *t = table();
    struct built b;
    verify_report *r;
    cJSON *map;
    size_t i;
    bool unlisted = false, absent = false, gone = false;

    make_built(&b, ST_F32, 1);
    map = cJSON_Parse(b.sources[1]);
    cJSON_DeleteItemFromObject(map, "model.norm.weight");
    cJSON_AddItemToObject(map, "model.layers.9.ghost.weight",
                          cJSON_Duplicate(cJSON_GetObjectItem(map, "lm_head.weight"), 1));
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(map, "lm_head.weight"), "tensor",
                              cJSON_CreateString("lm_head.gone"));
    free(b.sources[1]);
    b.sources[1] = cJSON_PrintUnformatted(map);
    cJSON_Delete(map);
    b.m.meta_value[1] = b.sources[1];
    write_built(&b);
    r = verify(t, b.out);
    for (i = 0; i < verify_problem_count(r); i++) {
        const char *msg = verify_problem_at(r, i)->message;
        unlisted |= strstr(msg, "tensor 'model.norm.weight': no provenance recorded") != NULL;
        absent |= strstr(msg, "tensor 'model.layers.9.ghost.weight' is listed in "
                              "suture.sources but not stored") != NULL;
        gone |= strstr(msg, "its source 'lm_head.gone' is not in model 'src'") != NULL;
    }
    if (!(unlisted && absent && gone))
        dump(r);
    ck_assert(unlisted && absent && gone);
    ck_assert_uint_eq(verify_problem_count(r), 3);
    verify_free(r);
    free_built(&b);
    arch_table_free(t);
}
END_TEST

START_TEST(json_report)
{
    arch_table *t = table();
    struct built b;
    verify_report *r;
    cJSON *j, *e;

    make_built(&b, ST_F32, 0.5f);
    write_built(&b);
    corrupt(&b, "model.embed_tokens.weight", 0);
    r = verify(t, b.out);
    j = cli_json_verify(r);
    ck_assert_ptr_nonnull(j);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "ok")));
    ck_assert_int_eq(cJSON_GetObjectItem(j, "tensors")->valueint, (int)b.m.n);
    e = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "mismatches"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(e, "tensor")->valuestring, "model.embed_tokens.weight");
    ck_assert_str_eq(cJSON_GetObjectItem(e, "shard")->valuestring,
                     "model-00001-of-00002.safetensors");
    cJSON_Delete(j);
    verify_free(r);
    free_built(&b);
    arch_table_free(t);
}
END_TEST

static Suite *verify_suite(void)
{
    Suite *s = suite_create("verify");
    TCase *tc = tcase_create("verify");

    tcase_add_test(tc, copies_and_scaled_all_match);
    tcase_add_test(tc, converted_all_match);
    tcase_add_test(tc, corrupted_copy_is_named);
    tcase_add_test(tc, corrupted_scaled_element_is_named);
    tcase_add_test(tc, progress_counts_output_and_source_bytes);
    tcase_add_test(tc, progress_reaches_the_total_past_a_mismatch);
    tcase_add_test(tc, no_provenance_cannot_run);
    tcase_add_test(tc, missing_source_cannot_run);
    tcase_add_test(tc, bad_provenance_cannot_run);
    tcase_add_test(tc, huge_provenance_is_refused);
    tcase_add_test(tc, provenance_gaps_are_problems);
    tcase_add_test(tc, json_report);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(verify_suite)
