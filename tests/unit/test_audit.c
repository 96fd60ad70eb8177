/* test_audit.c: the audit on a catalogue of broken folders (each made in
 * the test and expected to give one specific finding), on self-merges and
 * two-model merges with provenance, and on the real fixtures. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "amodel.h"
#include "suture/audit.h"
#include "cli/json_out.h"
#include "audit/audit_int.h"

static arch_table *table(void)
{
    sut_error err;
    arch_table *t = arch_table_new(&err);

    ck_assert_msg(t != NULL, "%s", err.msg);
    return t;
}

static audit_report *audit(arch_table *t, const char *path, const audit_options *opt)
{
    sut_error err;
    audit_report *r = audit_run(path, t, opt, &err);

    ck_assert_msg(r != NULL, "audit %s: %s", path, err.msg);
    return r;
}

/* The finding with this code whose message holds needle, or NULL. */
static const audit_finding *find(const audit_report *r, const char *code, const char *needle)
{
    size_t i;

    for (i = 0; i < audit_finding_count(r); i++) {
        const audit_finding *f = audit_finding_at(r, i);
        if (strcmp(f->code, code) == 0 && strstr(f->message, needle))
            return f;
    }
    return NULL;
}

static void dump(const audit_report *r)
{
    size_t i;

    for (i = 0; i < audit_finding_count(r); i++)
        fprintf(stderr, "  %s %s: %s\n", audit_severity_name(audit_finding_at(r, i)->severity),
                audit_finding_at(r, i)->code, audit_finding_at(r, i)->message);
}

#define assert_finding(r, code, sev, needle)                                  \
    do {                                                                      \
        const audit_finding *f_ = find((r), (code), (needle));                \
        if (!f_)                                                              \
            dump(r);                                                          \
        ck_assert_msg(f_ != NULL, "no %s finding with \"%s\"", (code), (needle)); \
        ck_assert_str_eq(audit_severity_name(f_->severity), (sev));           \
    } while (0)

static size_t count_code(const audit_report *r, const char *code)
{
    size_t i, n = 0;

    for (i = 0; i < audit_finding_count(r); i++)
        n += strcmp(audit_finding_at(r, i)->code, code) == 0;
    return n;
}

/* Audits m written to a new folder. */
static audit_report *audit_model_of(arch_table *t, const am_model *m)
{
    return audit(t, am_folder(m), NULL);
}

START_TEST(clean_model_counts_exactly)
{
    arch_table *t = table();
    am_model m;
    audit_report *r;

    am_decoder(&m, "llama", 4, true, false);
    r = audit_model_of(t, &m);
    if (audit_count(r, AUDIT_ERROR) || audit_count(r, AUDIT_WARNING))
        dump(r);
    ck_assert_uint_eq(audit_count(r, AUDIT_ERROR), 0);
    ck_assert_uint_eq(audit_count(r, AUDIT_WARNING), 0);
    /* embed 128 + 4 x (q 64, k 32, v 32, o 64, mlp 3 x 96, norms 16) + norm 8 + head 128 */
    ck_assert_uint_eq(audit_expected_parameters(r), 2248);
    ck_assert_uint_eq(audit_parameter_count(r), 2248);
    assert_finding(r, "parameter-count", "info", "2,248 parameters; the config implies 2,248");
    ck_assert_uint_eq(audit_duplicate_count(r), 0);
    ck_assert_uint_eq(audit_slice_count(r), 0);
    audit_free(r);
    arch_table_free(t);
}
END_TEST

static void add_entry(cJSON *root, const void *arg)
{
    const char *const *kv = arg;

    cJSON_AddStringToObject(cJSON_GetObjectItem(root, "weight_map"), kv[0], kv[1]);
}

static void set_total(cJSON *root, const void *arg)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(root, "metadata"), "total_size",
                              cJSON_CreateNumber(*(const double *)arg));
}

/* The index lists a name once: keep the last entry of a repeated one. */
static void drop_first_norm(cJSON *root, const void *arg)
{
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(root, "weight_map"), "model.norm.weight");
}

static am_model cat_m;   /* the model of the defect being made */

static const char *sharded_folder(void)
{
    am_decoder(&cat_m, "llama", 2, true, false);
    am_two_shards(&cat_m);
    return am_folder(&cat_m);
}

/* A 2-shard folder whose index gains the entry {name: shard}. */
static const char *with_entry(const char *name, const char *shard)
{
    const char *dir = sharded_folder();
    const char *kv[] = {name, shard};

    am_edit_index(dir, add_entry, kv);
    return dir;
}

/* A decoder of the family with n layers, edited by the caller. */
static am_model *decoder(const char *type, unsigned n, bool tied, bool head)
{
    am_decoder(&cat_m, type, n, tied, head);
    return &cat_m;
}

/* Replaces the text at what in m's config with with (same length). */
static void config_patch(am_model *m, const char *what, const char *with)
{
    char *p = strstr(m->config, what);

    ck_assert_ptr_nonnull(p);
    memcpy(p, with, strlen(with));
}

/* ---- the defects ---- */

static const char *index_names_a_missing_tensor(void)
{
    return with_entry("model.layers.0.mlp.extra.weight", "model-00001-of-00002.safetensors");
}

static const char *unreferenced_shard(void)
{
    const char *dir = sharded_folder();
    am_model extra;

    memset(&extra, 0, sizeof(extra));
    extra.shards = 1;
    am_add(&extra, "stray.weight", ST_F32, 1, 4, 0, 9);
    am_write(&extra, dir);
    return dir;
}

static const char *wrong_total_size(void)
{
    const char *dir = sharded_folder();
    double total = 12345;

    am_edit_index(dir, set_total, &total);
    return dir;
}

static const char *shard_path_leaves_the_folder(void)
{
    return with_entry("model.layers.0.mlp.extra.weight", "../model-00001-of-00002.safetensors");
}

static const char *shard_named_by_index_is_missing(void)
{
    return with_entry("model.layers.0.mlp.extra.weight", "model-00003-of-00003.safetensors");
}

static const char *invalid_shard(void)
{
    const char *dir = sharded_folder();
    char path[512];

    snprintf(path, sizeof(path), "%s/model-00002-of-00002.safetensors", dir);
    ck_assert_int_eq(truncate(path, 100), 0);
    return dir;
}

static const char *tensor_in_two_shards(void)
{
    am_model *m = decoder("llama", 2, true, false);
    const char *dir;

    am_two_shards(m);
    ck_assert_uint_eq(am_find(m, "model.norm.weight")->shard, 1);
    am_add(m, "model.norm.weight", ST_F32, 1, AM_HIDDEN, 0, 2)->shard = 0;
    dir = am_folder(m);
    am_edit_index(dir, drop_first_norm, NULL);
    return dir;
}

static const char *invalid_config(void)
{
    am_model *m = decoder("llama", 2, true, false);

    snprintf(m->config, sizeof(m->config), "{\"model_type\": \"llama\",");
    return am_folder(m);
}

static const char *missing_config(void)
{
    am_model *m = decoder("llama", 2, true, false);

    m->config[0] = '\0';
    return am_folder(m);
}

static const char *layer_lacks_a_tensor(void)
{
    am_model *m = decoder("llama", 4, true, false);

    am_remove(m, "model.layers.2.mlp.up_proj.weight");
    return am_folder(m);
}

static const char *layer_holds_nothing(void)
{
    am_model *m = decoder("llama", 4, true, false);
    size_t k;

    for (k = 0; am_locals[k]; k++) {
        char name[128];
        snprintf(name, sizeof(name), "model.layers.1.%s", am_locals[k]);
        am_remove(m, name);
    }
    return am_folder(m);
}

static const char *config_layer_count_wrong(void)
{
    am_model *m = decoder("llama", 4, true, false);

    config_patch(m, "\"num_hidden_layers\": 4", "\"num_hidden_layers\": 5");
    return am_folder(m);
}

static const char *layer_types_wrong_length(void)
{
    am_model *m = decoder("gemma2", 4, false, true);
    size_t n = strlen(m->config);

    snprintf(m->config + n - 1, sizeof(m->config) - n + 1,
             ", \"layer_types\": [\"sliding_attention\", \"full_attention\", "
             "\"sliding_attention\"]}");
    return am_folder(m);
}

static const char *shape_differs_across_layers(void)
{
    am_model *m = decoder("llama", 4, true, false);

    am_find(m, "model.layers.3.mlp.up_proj.weight")->shape[0] = 10;
    return am_folder(m);
}

static const char *embeddings_disagree_with_config(void)
{
    am_model *m = decoder("llama", 2, true, false);

    config_patch(m, "\"vocab_size\": 16", "\"vocab_size\": 17");
    return am_folder(m);
}

static const char *dtypes_mixed(void)
{
    am_model *m = decoder("llama", 2, true, false);

    am_find(m, "model.norm.weight")->dtype = ST_BF16;
    return am_folder(m);
}

static const char *tensors_outside_their_places(void)
{
    am_model *m = decoder("llama", 4, true, false);

    am_add(m, "model.layers.1.mlp.extra.weight", ST_F32, 1, 8, 0, 77);
    am_add(m, "model.mystery.weight", ST_F32, 1, 8, 0, 78);
    am_add(m, "model.layers.2.self_attn.rotary_emb.inv_freq", ST_F32, 1, 2, 0, 79);
    return am_folder(m);
}

static const char *untied_model_without_head(void)
{
    return am_folder(decoder("llama", 2, false, false));
}

static const char *tied_head_identical(void)
{
    am_model *m = decoder("gemma", 2, true, true);

    am_find(m, "lm_head.weight")->seed = 1;
    return am_folder(m);
}

static const char *tied_head_differs(void)
{
    am_model *m = decoder("gemma", 2, true, true);
    char *tie = strstr(m->config, ", \"tie_word_embeddings\": true}");

    /* tied by the family's default: the key is absent */
    ck_assert_ptr_nonnull(tie);
    strcpy(tie, "}");
    return am_folder(m);
}

/* What each defect also implies (beyond its one finding). */
static void no_model(const audit_report *r)
{
    ck_assert_ptr_null(audit_model(r));
}

static void no_errors(const audit_report *r)
{
    ck_assert_uint_eq(audit_count(r, AUDIT_ERROR), 0);
}

static void one_invalid_shard(const audit_report *r)
{
    no_model(r);
    ck_assert_uint_eq(count_code(r, "invalid-shard"), 1);
}

static void config_unknown(const audit_report *r)
{
    assert_finding(r, "unknown-architecture", "warning", "inferred");
}

static void the_missing_tensor(const audit_report *r)
{
    ck_assert_str_eq(find(r, "missing-tensor", "layer 2")->place,
                     "model.layers.2.mlp.up_proj.weight");
    ck_assert_uint_eq(count_code(r, "missing-tensor"), 1);
}

static void no_missing_tensor(const audit_report *r)
{
    ck_assert_uint_eq(count_code(r, "missing-tensor"), 0);
}

static void one_shape_mismatch(const audit_report *r)
{
    ck_assert_uint_eq(count_code(r, "shape-mismatch"), 1);
}

static void counts_16_fewer(const audit_report *r)
{
    assert_finding(r, "parameter-count", "warning",
                   "1,256 parameters stored but the config implies 1,272: 16 fewer");
}

static void other_places(const audit_report *r)
{
    assert_finding(r, "unexpected-tensor", "warning",
                   "'model.mystery.weight' is outside the places of family llama");
    assert_finding(r, "unexpected-tensor", "info", "non-persistent buffer");
    no_missing_tensor(r);
}

static void head_counted_apart(const audit_report *r)
{
    assert_finding(r, "parameter-count", "info", "(+128 in the redundant lm_head)");
    no_errors(r);
}

static void by_default_not_redundant(const audit_report *r)
{
    assert_finding(r, "tied-head-conflict", "error", "the family ties by default");
    ck_assert_uint_eq(count_code(r, "redundant-lm-head"), 0);
}

/* The catalogue: each broken folder, the one finding it must give (code,
 * severity, a part of the message) and what else must hold, or NULL. */
static const struct defect {
    const char *name;
    const char *(*make)(void);
    const char *code, *sev, *needle;
    void (*also)(const audit_report *r);
} defects[] = {
    {"index names a missing tensor", index_names_a_missing_tensor, "index-mismatch", "error",
     "weight_map names tensor 'model.layers.0.mlp.extra.weight' in "
     "'model-00001-of-00002.safetensors', which does not hold it", NULL},
    {"unreferenced shard", unreferenced_shard, "index-mismatch", "error",
     "shard 'model.safetensors' is in the folder but the index does not reference it", NULL},
    {"wrong total_size", wrong_total_size, "total-size-mismatch", "warning",
     "metadata.total_size is 12345", no_errors},
    {"shard path leaves the folder", shard_path_leaves_the_folder, "index-mismatch", "error",
     "shard '../model-00001-of-00002.safetensors' leaves the folder", no_model},
    {"shard named by the index is missing", shard_named_by_index_is_missing, "missing-shard",
     "error", "model-00003-of-00003.safetensors", NULL},
    {"invalid shard", invalid_shard, "invalid-shard", "error",
     "model-00002-of-00002.safetensors", one_invalid_shard},
    {"tensor in two shards", tensor_in_two_shards, "duplicate-tensor", "error",
     "tensor 'model.norm.weight' is stored in both 'model-00001-of-00002.safetensors' "
     "and 'model-00002-of-00002.safetensors'", no_model},
    {"invalid config", invalid_config, "invalid-config", "error", "config.json: invalid JSON",
     NULL},
    {"missing config", missing_config, "missing-config", "warning", "no config.json",
     config_unknown},
    {"layer lacks a tensor", layer_lacks_a_tensor, "missing-tensor", "error",
     "layer 2 lacks 'mlp.up_proj.weight', which 3 of the 4 layers hold", the_missing_tensor},
    {"layer holds nothing", layer_holds_nothing, "missing-layer", "error",
     "layer 1 holds no tensor, though layer 3 does", no_missing_tensor},
    {"config layer count wrong", config_layer_count_wrong, "layer-count-mismatch", "error",
     "num_hidden_layers is 5 but the tensors hold 4 layers", NULL},
    {"layer_types of the wrong length", layer_types_wrong_length, "per-layer-array-length",
     "error", "config.json: layer_types has 3 entries for 4 layers", NULL},
    {"shape differs across layers", shape_differs_across_layers, "shape-mismatch", "error",
     "'model.layers.3.mlp.up_proj.weight' has shape [10, 8] where layer 0 has [12, 8]",
     one_shape_mismatch},
    {"embeddings disagree with the config", embeddings_disagree_with_config, "shape-mismatch",
     "error", "'model.embed_tokens.weight' has shape [16, 8] but config.json says "
     "vocab_size 17, hidden_size 8", counts_16_fewer},
    {"dtypes mixed", dtypes_mixed, "dtype-mix", "warning", "BF16 1 (first 'model.norm.weight')",
     NULL},
    {"tensors outside their places", tensors_outside_their_places, "unexpected-tensor",
     "warning", "'model.layers.1.mlp.extra.weight': only 1 of the 4 layers holds", other_places},
    {"untied model without a head", untied_model_without_head, "missing-tensor", "error",
     "'lm_head.weight' is not stored", NULL},
    {"tied head identical: redundant", tied_head_identical, "redundant-lm-head", "warning",
     "128 parameters (512 bytes) wasted; byte-identical to 'model.embed_tokens.weight'",
     head_counted_apart},
    {"tied head differs: a conflict", tied_head_differs, "tied-head-conflict", "error",
     "'lm_head.weight' differs from 'model.embed_tokens.weight'", by_default_not_redundant},
};

START_TEST(defect_catalogue)
{
    const struct defect *d = &defects[_i];
    arch_table *t = table();
    audit_report *r = audit(t, d->make(), NULL);
    const audit_finding *f = find(r, d->code, d->needle);

    if (!f)
        dump(r);
    ck_assert_msg(f != NULL, "%s: no %s finding with \"%s\"", d->name, d->code, d->needle);
    ck_assert_str_eq(audit_severity_name(f->severity), d->sev);
    if (d->also)
        d->also(r);
    audit_free(r);
    arch_table_free(t);
}
END_TEST

START_TEST(no_checkpoint_cannot_run)
{
    arch_table *t = table();
    sut_error err;

    ck_assert_ptr_null(audit_run(tu_tmpdir(), t, NULL, &err));
    tu_assert_contains(err.msg, "no model.safetensors");
    ck_assert_ptr_null(audit_run("/nonexistent/model", t, NULL, &err));
    tu_assert_contains(err.msg, "/nonexistent/model");
    arch_table_free(t);
}
END_TEST

/* A 16-layer base and the self-merge [0,8] + [4,12] + [8,16] of it. */
static const unsigned merge_src[24] = {
    0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 8, 9, 10, 11, 8, 9, 10, 11, 12, 13, 14, 15
};

static const char *self_merge(void)
{
    static am_model m;
    unsigned i;

    am_decoder(&m, "llama", 24, true, false);
    for (i = 0; i < 24; i++)
        am_copy_layer(&m, i, merge_src[i]);
    am_two_shards(&m);
    return am_folder(&m);
}

START_TEST(self_merge_duplicates_and_slices)
{
    arch_table *t = table();
    audit_report *r = audit(t, self_merge(), NULL);
    size_t i, n;
    const unsigned *g;

    ck_assert_uint_eq(audit_duplicate_count(r), 8);
    for (i = 0; i < 8; i++) {
        unsigned first = i < 4 ? 4 + (unsigned)i : 8 + (unsigned)i;
        g = audit_duplicate_at(r, i, &n);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(g[0], first);
        ck_assert_uint_eq(g[1], first + 4);
    }
    assert_finding(r, "duplicate-layers", "info",
                   "byte-identical layers 4-7 = 8-11, 12-15 = 16-19; the stack reads as "
                   "slices [0:8] [4:12] [8:16] of 16 distinct layers");
    ck_assert_uint_eq(audit_slice_count(r), 3);
    ck_assert_int_eq(audit_slice_at(r, 1)->base, -1);
    ck_assert_uint_eq(audit_slice_at(r, 1)->start, 4);
    ck_assert_uint_eq(audit_slice_at(r, 1)->end, 12);
    ck_assert_uint_eq(audit_count(r, AUDIT_WARNING), 0);
    audit_free(r);
    arch_table_free(t);
}
END_TEST

START_TEST(self_merge_provenance_and_seams)
{
    arch_table *t = table();
    const char *merged = self_merge();
    char mdir[256];
    am_model base;
    audit_base bases[1];
    audit_options opt = {.bases = bases, .nbases = 1, .threads = 2};
    audit_report *r;
    unsigned i;

    snprintf(mdir, sizeof(mdir), "%s", merged);
    am_decoder(&base, "llama", 16, true, false);
    bases[0] = (audit_base){"base", am_folder(&base)};
    r = audit(t, mdir, &opt);
    ck_assert_uint_eq(audit_origin_count(r), 24);
    for (i = 0; i < 24; i++) {
        const audit_origin *o = audit_origin_at(r, i);
        ck_assert_uint_eq(o->layer, i);
        ck_assert_int_eq(o->base, 0);
        ck_assert_int_eq(o->source_layer, merge_src[i]);
    }
    ck_assert_uint_eq(audit_seam_count(r), 2);
    ck_assert_uint_eq(audit_seam_at(r, 0)->index, 8);
    ck_assert_uint_eq(audit_seam_at(r, 0)->from_layer, 7);
    ck_assert_uint_eq(audit_seam_at(r, 0)->to_layer, 4);
    ck_assert_int_eq(audit_seam_at(r, 0)->jump, -3);
    ck_assert_uint_eq(audit_seam_at(r, 1)->index, 16);
    ck_assert_uint_eq(audit_seam_at(r, 1)->from_layer, 11);
    ck_assert_uint_eq(audit_seam_at(r, 1)->to_layer, 8);
    assert_finding(r, "seam", "info", "layer 8: base layer 7 -> 4 (jump -3)");
    assert_finding(r, "donors", "info", "'model.embed_tokens.weight' from base");
    ck_assert_uint_eq(audit_slice_count(r), 3);
    ck_assert_int_eq(audit_slice_at(r, 2)->base, 0);
    ck_assert_uint_eq(audit_slice_at(r, 2)->start, 8);
    ck_assert_uint_eq(audit_slice_at(r, 2)->end, 16);
    ck_assert_uint_eq(count_code(r, "unmatched-layer"), 0);
    audit_free(r);
    arch_table_free(t);
}
END_TEST

static void shift_seeds(am_model *m, unsigned by)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        m->t[i].seed += by;
}

START_TEST(two_models_donor_switch_and_unmatched)
{
    arch_table *t = table();
    am_model a, b, merged;
    char adir[256], bdir[256];
    audit_base bases[2];
    audit_options opt = {.bases = bases, .nbases = 2, .threads = 0};
    audit_report *r;
    unsigned i;
    size_t k;

    am_decoder(&a, "llama", 8, true, false);
    snprintf(adir, sizeof(adir), "%s", am_folder(&a));
    am_decoder(&b, "llama", 8, true, false);
    shift_seeds(&b, 50000);
    snprintf(bdir, sizeof(bdir), "%s", am_folder(&b));
    /* a[0:4] + b[4:8] + a layer nobody has */
    am_decoder(&merged, "llama", 9, true, false);
    for (i = 0; i < merged.n; i++)
        for (k = 4; k < 8; k++) {
            char prefix[32];
            snprintf(prefix, sizeof(prefix), "model.layers.%zu.", k);
            if (strncmp(merged.t[i].name, prefix, strlen(prefix)) == 0)
                merged.t[i].seed += 50000;
        }
    am_find(&merged, "model.layers.8.mlp.up_proj.weight")->seed = 424242;
    bases[0] = (audit_base){"a", adir};
    bases[1] = (audit_base){"b", bdir};
    r = audit(t, am_folder(&merged), &opt);
    ck_assert_int_eq(audit_origin_at(r, 3)->base, 0);
    ck_assert_int_eq(audit_origin_at(r, 4)->base, 1);
    ck_assert_int_eq(audit_origin_at(r, 4)->source_layer, 4);
    ck_assert_int_eq(audit_origin_at(r, 8)->base, -1);
    ck_assert_uint_eq(audit_seam_count(r), 1);
    ck_assert_uint_eq(audit_seam_at(r, 0)->from_base, 0);
    ck_assert_uint_eq(audit_seam_at(r, 0)->to_base, 1);
    ck_assert_int_eq(audit_seam_at(r, 0)->jump, 1);
    assert_finding(r, "seam", "info", "layer 4: a layer 3 -> b layer 4 (donor switch)");
    assert_finding(r, "unmatched-layer", "info", "layer 8 matches no layer");
    ck_assert_uint_eq(audit_slice_count(r), 0);
    audit_free(r);
    arch_table_free(t);
}
END_TEST

START_TEST(sliding_parity_shift)
{
    arch_table *t = table();
    am_model base, merged;
    char bdir[256];
    audit_base bases[1];
    audit_options opt = {.bases = bases, .nbases = 1, .threads = 0};
    audit_report *r;
    static const unsigned src[5] = {0, 1, 2, 2, 3};
    unsigned i;

    am_decoder(&base, "gemma2", 4, false, true);
    snprintf(bdir, sizeof(bdir), "%s", am_folder(&base));
    am_decoder(&merged, "gemma2", 5, false, true);
    for (i = 0; i < 5; i++)
        am_copy_layer(&merged, i, src[i]);
    bases[0] = (audit_base){"g", bdir};
    r = audit(t, am_folder(&merged), &opt);
    assert_finding(r, "sliding-parity-shift", "warning",
                   "layer 3 comes from g layer 2, which uses sliding-window attention, but "
                   "uses global attention here");
    assert_finding(r, "sliding-parity-shift", "warning", "layer 4 comes from g layer 3");
    ck_assert_uint_eq(count_code(r, "sliding-parity-shift"), 2);
    assert_finding(r, "seam", "info", "layer 3: g layer 2 -> 2 (jump +0)");
    audit_free(r);
    arch_table_free(t);
}
END_TEST

START_TEST(json_report)
{
    arch_table *t = table();
    const char *merged = self_merge();
    char mdir[256];
    am_model base;
    audit_base bases[1];
    audit_options opt = {.bases = bases, .nbases = 1, .threads = 0};
    audit_report *r;
    cJSON *j, *p;

    snprintf(mdir, sizeof(mdir), "%s", merged);
    am_decoder(&base, "llama", 16, true, false);
    bases[0] = (audit_base){"base", am_folder(&base)};
    r = audit(t, mdir, &opt);
    j = cli_json_audit(r);
    ck_assert_ptr_nonnull(j);
    ck_assert_double_eq(cJSON_GetObjectItem(j, "parameter_count")->valuedouble,
                        (double)audit_parameter_count(r));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "duplicates")), 8);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "findings")),
                     (int)audit_finding_count(r));
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "findings"), 0),
                                         "severity")->valuestring,
                     audit_severity_name(audit_finding_at(r, 0)->severity));
    p = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "provenance"), 9);
    ck_assert_int_eq(cJSON_GetObjectItem(p, "layer")->valueint, 9);
    ck_assert_str_eq(cJSON_GetObjectItem(p, "model")->valuestring, "base");
    ck_assert_int_eq(cJSON_GetObjectItem(p, "source_layer")->valueint, 5);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "seams")), 2);
    cJSON_Delete(j);
    audit_free(r);
    arch_table_free(t);
}
END_TEST

START_TEST(hashes_do_not_depend_on_threads)
{
    arch_table *t = table();
    am_model m;
    sut_error err;
    model *md;
    xfer_hash one[64], four[64];
    size_t i;

    am_decoder(&m, "llama", 4, true, false);
    am_two_shards(&m);
    md = model_open(am_folder(&m), t, MODEL_STRICT, &err);
    ck_assert_msg(md != NULL, "%s", err.msg);
    ck_assert_uint_le(model_tensor_count(md), 64);
    ck_assert_int_eq(audit_hash_model(md, 1, one, &err), 0);
    ck_assert_int_eq(audit_hash_model(md, 4, four, &err), 0);
    for (i = 0; i < model_tensor_count(md); i++) {
        const model_tensor *mt = model_tensor_at(md, i);
        int fd = open(st_path(model_shard(md, mt->shard)), O_RDONLY);
        xfer_hash h;
        ck_assert_int_eq(xfer_hash_range(fd, st_data_start(model_shard(md, mt->shard)) +
                                         mt->t->begin, st_tensor_bytes(mt->t), &h, &err), 0);
        close(fd);
        ck_assert(one[i].lo == four[i].lo && one[i].hi == four[i].hi);
        ck_assert(one[i].lo == h.lo && one[i].hi == h.hi);
    }
    model_free(md);
    arch_table_free(t);
}
END_TEST

/* Every thread count, however the file-ordered runs are dealt and
 * stolen, gives each tensor the hash of its own bytes. */
START_TEST(hashes_do_not_depend_on_runs)
{
    static const unsigned threads[] = {1, 2, 3, 5, 8};
    arch_table *t = table();
    am_model m;
    sut_error err;
    model *md;
    xfer_hash want[128], got[128];
    size_t i, k, n;

    am_decoder(&m, "llama", 8, true, false);
    am_two_shards(&m);
    md = model_open(am_folder(&m), t, MODEL_STRICT, &err);
    ck_assert_msg(md != NULL, "%s", err.msg);
    n = model_tensor_count(md);
    ck_assert_uint_le(n, 128);
    for (i = 0; i < n; i++) {
        const model_tensor *mt = model_tensor_at(md, i);
        int fd = open(st_path(model_shard(md, mt->shard)), O_RDONLY);
        ck_assert_int_eq(xfer_hash_range(fd, st_data_start(model_shard(md, mt->shard)) +
                                         mt->t->begin, st_tensor_bytes(mt->t), &want[i], &err), 0);
        close(fd);
    }
    for (k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
        memset(got, 0, sizeof(got));
        ck_assert_int_eq(audit_hash_model(md, threads[k], got, &err), 0);
        for (i = 0; i < n; i++)
            ck_assert_msg(got[i].lo == want[i].lo && got[i].hi == want[i].hi,
                          "%u threads: tensor %zu", threads[k], i);
    }
    model_free(md);
    arch_table_free(t);
}
END_TEST

START_TEST(progress_counts_every_byte_hashed)
{
    arch_table *t = table();
    am_model m;
    tu_progress p = {0};
    audit_options opt = {.threads = 4, .progress = tu_progress_record, .progress_ctx = &p};
    audit_report *r;

    am_decoder(&m, "llama", 4, true, false);
    am_two_shards(&m);
    r = audit(t, am_folder(&m), &opt);
    tu_assert_progress(&p, 2248 * 4);
    ck_assert_uint_ge(p.calls, m.n);
    audit_free(r);
    arch_table_free(t);
}
END_TEST

START_TEST(progress_counts_the_bases)
{
    arch_table *t = table();
    char mdir[256];
    am_model base;
    audit_base bases[1];
    tu_progress p = {0};
    audit_options opt = {.bases = bases, .nbases = 1, .threads = 2,
                         .progress = tu_progress_record, .progress_ctx = &p};
    audit_report *r;

    snprintf(mdir, sizeof(mdir), "%s", self_merge());
    am_decoder(&base, "llama", 16, true, false);
    bases[0] = (audit_base){"base", am_folder(&base)};
    r = audit(t, mdir, &opt);
    ck_assert_uint_eq(audit_origin_count(r), 24);
    /* F32 parameters: 264 + 496 per layer, 24 layers merged and 16 in the base */
    tu_assert_progress(&p, (264 + 496 * 24 + 264 + 496 * 16) * 4);
    audit_free(r);
    arch_table_free(t);
}
END_TEST

START_TEST(fixtures_gemma_heads_are_redundant)
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
        char path[4608];
        audit_report *r;
        snprintf(path, sizeof(path), "%s/hf/%s", fix, names[i]);
        r = audit(t, path, NULL);
        assert_finding(r, "redundant-lm-head", "warning",
                       "104 parameters (416 bytes) wasted; byte-identical to 'model.embed_tokens.weight'");
        assert_finding(r, "parameter-count", "info", "(+104 in the redundant lm_head)");
        ck_assert_uint_eq(audit_count(r, AUDIT_ERROR), 0);
        ck_assert_uint_eq(audit_count(r, AUDIT_WARNING), 1);
        audit_free(r);
    }
    arch_table_free(t);
}
END_TEST

START_TEST(fixtures_count_as_their_configs_say)
{
    static const char *const names[] = {
        "tiny-llama", "tiny-llama-sharded", "tiny-llama-bf16", "tiny-mistral", "tiny-qwen2",
        "tiny-qwen3", "tiny-phi3", "tiny-gemma", "tiny-gemma2", "tiny-gemma3", "stories260K"
    };
    const char *fix = tu_fixtures();
    arch_table *t;
    size_t i;

    if (!fix) {
        tu_skip("fixtures absent");
        return;
    }
    t = table();
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[4608];
        audit_report *r;
        snprintf(path, sizeof(path), "%s/hf/%s", fix, names[i]);
        r = audit(t, path, NULL);
        ck_assert_msg(audit_expected_parameters(r) > 0, "%s: no expected count", names[i]);
        ck_assert_msg(find(r, "parameter-count", "the config implies") &&
                      find(r, "parameter-count", "")->severity == AUDIT_INFO,
                      "%s: parameter count off", names[i]);
        ck_assert_msg(audit_count(r, AUDIT_ERROR) == 0, "%s has errors", names[i]);
        audit_free(r);
    }
    arch_table_free(t);
}
END_TEST

START_TEST(fixture_tiny_llama_buffer_is_a_note)
{
    const char *fix = tu_fixtures();
    arch_table *t;
    audit_report *r;
    char path[4608];

    if (!fix) {
        tu_skip("fixtures absent");
        return;
    }
    t = table();
    snprintf(path, sizeof(path), "%s/hf/tiny-llama", fix);
    r = audit(t, path, NULL);
    assert_finding(r, "unexpected-tensor", "info",
                   "'model.layers.0.self_attn.rotary_emb.inv_freq': only 1 of the 2 layers holds");
    ck_assert_uint_eq(audit_count(r, AUDIT_WARNING), 0);
    ck_assert_uint_eq(count_code(r, "missing-tensor"), 0);
    audit_free(r);
    arch_table_free(t);
}
END_TEST

static Suite *audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *folder = tcase_create("folder"), *layers = tcase_create("layers");
    TCase *merge = tcase_create("merge"), *fixtures = tcase_create("fixtures");

    tcase_add_loop_test(folder, defect_catalogue, 0, sizeof(defects) / sizeof(defects[0]));
    tcase_add_test(folder, no_checkpoint_cannot_run);
    tcase_add_test(layers, clean_model_counts_exactly);
    tcase_add_test(merge, self_merge_duplicates_and_slices);
    tcase_add_test(merge, self_merge_provenance_and_seams);
    tcase_add_test(merge, two_models_donor_switch_and_unmatched);
    tcase_add_test(merge, sliding_parity_shift);
    tcase_add_test(merge, json_report);
    tcase_add_test(merge, hashes_do_not_depend_on_threads);
    tcase_add_test(merge, hashes_do_not_depend_on_runs);
    tcase_add_test(merge, progress_counts_every_byte_hashed);
    tcase_add_test(merge, progress_counts_the_bases);
    tcase_add_test(fixtures, fixtures_gemma_heads_are_redundant);
    tcase_add_test(fixtures, fixtures_count_as_their_configs_say);
    tcase_add_test(fixtures, fixture_tiny_llama_buffer_is_a_note);
    suite_add_tcase(s, folder);
    suite_add_tcase(s, layers);
    suite_add_tcase(s, merge);
    suite_add_tcase(s, fixtures);
    return s;
}

SUT_TEST_MAIN(audit_suite)
