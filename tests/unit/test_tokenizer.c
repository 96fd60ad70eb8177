/* test_tokenizer.c: tokenizer.json loading (a catalogue of malformed and
 * unsupported files, each with its message) and BPE on small hand-made
 * vocabularies (merges by rank, byte fallback, unk, added tokens, BOS from
 * the post-processor and tokenizer_config.json). The ids of real
 * tokenizers are checked against Hugging Face's library in
 * tests/cli/tokenizer.sh. */
#include <pthread.h>

#include "testutil.h"
#include "suture/tokenizer.h"

/* A BPE model: merges "a b" (rank 0) and "ab c" (rank 1). */
#define VOCAB "\"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"abc\": 4, \"<unk>\": 5, " \
              "\"<s>\": 6, \"</s>\": 7, \"<0x21>\": 8, \"\\u2581\": 9}"
#define MODEL "\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": [\"a b\", \"ab c\"], " \
              "\"unk_token\": \"<unk>\", \"byte_fallback\": true, \"fuse_unk\": true}"
#define ADDED "\"added_tokens\": [{\"id\": 6, \"content\": \"<s>\", \"special\": true, " \
              "\"normalized\": false}, {\"id\": 7, \"content\": \"</s>\", \"special\": true, " \
              "\"normalized\": false}]"
#define TEMPLATE "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": " \
                 "[{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": " \
                 "{\"id\": \"A\", \"type_id\": 0}}], \"special_tokens\": {\"<s>\": {\"id\": " \
                 "\"<s>\", \"ids\": [6], \"tokens\": [\"<s>\"]}}}"

/* Writes json as DIR/tokenizer.json (and config as tokenizer_config.json
 * when non-NULL); returns DIR (static). */
static const char *write_tok(const char *json, const char *config)
{
    static char dir[256];
    char path[512];

    snprintf(dir, sizeof(dir), "%s", tu_tmpdir());
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    tu_write(path, json, strlen(json));
    if (config) {
        snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
        tu_write(path, config, strlen(config));
    }
    return dir;
}

static tok_tokenizer *open_ok(const char *json, const char *config)
{
    sut_error err = { "" };
    tok_tokenizer *t = tok_open(write_tok(json, config), &err);

    ck_assert_msg(t != NULL, "tok_open failed: %s", err.msg);
    return t;
}

/* The ids of text as "[1, 2]". */
static const char *ids_of(const tok_tokenizer *t, const char *text, size_t len, bool special)
{
    static _Thread_local char buf[1024];
    sut_error err = { "" };
    int32_t *ids;
    size_t n, i, k = 0;

    ck_assert_msg(tok_encode(t, text, len, special, &ids, &n, &err) == 0, "encode: %s",
                  err.msg);
    ck_assert_ptr_nonnull(ids);
    k += (size_t)snprintf(buf, sizeof(buf), "[");
    for (i = 0; i < n; i++)
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%d", i ? ", " : "", ids[i]);
    snprintf(buf + k, sizeof(buf) - k, "]");
    free(ids);
    return buf;
}

#define IDS(t, s, special) ids_of((t), (s), strlen(s), (special))

/* ---- malformed and unsupported files ---- */

typedef struct bad_case {
    const char *json;
    const char *config; /* tokenizer_config.json, or NULL */
    const char *msg;    /* the message after "DIR/tokenizer.json: " */
} bad_case;

static const bad_case BAD[] = {
    { "[1]", NULL, "not a JSON object" },
    { "{\"version\": \"2.0\", " MODEL "}", NULL,
      "field 'version': unknown tokenizer version (1.0 is supported)" },
    { "{\"normalizer\": null}", NULL, "field 'model': is missing" },
    { "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", NULL,
      "model type 'Unigram' is not supported" },
    { "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", NULL,
      "model type 'WordPiece' is not supported" },
    { "{\"model\": {\"vocab\": {}}}", NULL,
      "field 'model': has no type and no merges (only BPE is supported)" },
    { "{\"model\": {\"type\": \"BPE\", \"dropout\": 0.1, " VOCAB ", \"merges\": []}}", NULL,
      "field 'model.dropout': BPE dropout is not supported (not deterministic)" },
    { "{\"model\": {\"type\": \"BPE\", \"merges\": []}}", NULL, "field 'model.vocab': is missing" },
    { "{\"model\": {\"type\": \"BPE\", " VOCAB "}}", NULL, "field 'model.merges': is missing" },
    { "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", NULL,
      "field 'model.vocab.a': must be a whole number from 0 to 2147483647" },
    { "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 2147483648}, \"merges\": []}}", NULL,
      "field 'model.vocab.a': must be a whole number from 0 to 2147483647" },
    { "{\"model\": {\"type\": \"BPE\", \"vocab\": [\"a\"], \"merges\": []}}", NULL,
      "field 'model.vocab': must be an object of token: id" },
    { "{\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": [\"a b\", \"c zz\"]}}", NULL,
      "field 'model.merges[1]': 'zz' is not in the vocab" },
    { "{\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": [\"b c\"]}}", NULL,
      "field 'model.merges[0]': 'bc' is not in the vocab" },
    { "{\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": [\"ab\"]}}", NULL,
      "field 'model.merges[0]': must be two tokens separated by one space" },
    { "{\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": [\"a b c\"]}}", NULL,
      "field 'model.merges[0]': must be two tokens separated by one space" },
    { "{\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": [\"a b\", [\"ab\", \"c\"]]}}", NULL,
      "field 'model.merges[1]': merges mix \"a b\" strings and [a, b] pairs or are malformed" },
    { "{\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": [[\"a\"]]}}", NULL,
      "field 'model.merges[0]': must be a string \"a b\" or a pair [a, b]" },
    { "{\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": [], \"fuse_unk\": 1}}", NULL,
      "field 'model.fuse_unk': must be true or false" },
    { "{\"normalizer\": {\"type\": \"Lowercase\"}, " MODEL "}", NULL,
      "normalizer 'Lowercase' is not supported" },
    { "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, "
      "{\"type\": \"Precompiled\"}]}, " MODEL "}", NULL,
      "normalizer 'Precompiled' is not supported" },
    { "{\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Glob\": \"*\"}, \"content\": "
      "\"x\"}, " MODEL "}", NULL,
      "field 'normalizer.pattern': must be {\"String\": ...} or {\"Regex\": ...}" },
    { "{\"normalizer\": {\"type\": \"Prepend\"}, " MODEL "}", NULL,
      "field 'normalizer.prepend': is missing" },
    { "{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, " MODEL "}", NULL,
      "pre_tokenizer 'Whitespace' is not supported" },
    { "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
      "\"Digits\", \"individual_digits\": true}]}, " MODEL "}", NULL,
      "pre_tokenizer 'Digits' is not supported" },
    { "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, "
      "\"behavior\": \"Isolated\", \"invert\": false}, " MODEL "}", NULL,
      "field 'pre_tokenizer.pattern': bad pattern at offset 2: missing closing parenthesis" },
    { "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"[^\\\\W]\"}, "
      "\"behavior\": \"Isolated\", \"invert\": false}, " MODEL "}", NULL,
      "field 'pre_tokenizer.pattern': pattern uses \\W inside a character class, which is not "
      "supported" },
    { "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, "
      "\"behavior\": \"Sideways\", \"invert\": false}, " MODEL "}", NULL,
      "field 'pre_tokenizer.behavior': unknown behavior 'Sideways'" },
    { "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"ab\"}, " MODEL "}", NULL,
      "field 'pre_tokenizer.replacement': must be one character" },
    { "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"_\", "
      "\"prepend_scheme\": \"sometimes\"}, " MODEL "}", NULL,
      "field 'pre_tokenizer.prepend_scheme': unknown prepend_scheme 'sometimes'" },
    { "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"_\", "
      "\"prepend_scheme\": \"always\", \"add_prefix_space\": false}, " MODEL "}", NULL,
      "field 'pre_tokenizer.prepend_scheme': add_prefix_space does not match declared "
      "prepend_scheme" },
    { "{\"post_processor\": {\"type\": \"BertProcessing\", \"sep\": [\"</s>\", 7], \"cls\": "
      "[\"<s>\", 6]}, " MODEL "}", NULL, "post_processor 'BertProcessing' is not supported" },
    { "{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
      "{\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], "
      "\"special_tokens\": {}}, " MODEL "}", NULL,
      "field 'post_processor.single[0]': special token '<s>' is not in special_tokens" },
    { "{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": "
      "{\"id\": \"A\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], "
      "\"special_tokens\": {}}, " MODEL "}", NULL,
      "field 'post_processor.single': holds sequence A 2 times (once is supported)" },
    { "{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": "
      "{\"id\": \"B\", \"type_id\": 0}}], \"special_tokens\": {}}, " MODEL "}", NULL,
      "field 'post_processor.single[0]': a single template may only hold sequence A" },
    { "{\"added_tokens\": [{\"id\": 9, \"content\": \"a\"}], " MODEL "}", NULL,
      "field 'added_tokens[0]': id 9, but the tokenizers library gives 'a' id 0" },
    { "{\"added_tokens\": [{\"id\": 11, \"content\": \"<new>\"}], " MODEL "}", NULL,
      "field 'added_tokens[0]': id 11, but the tokenizers library gives '<new>' id 10" },
    { "{\"added_tokens\": [{\"id\": 6, \"content\": \"<s>\"}, {\"id\": 6, \"content\": "
      "\"<s>\"}], " MODEL "}", NULL, "field 'added_tokens[1]': token '<s>' is added twice" },
    { "{\"normalizer\": {\"type\": \"NFC\"}, \"added_tokens\": [{\"id\": 10, \"content\": "
      "\"\\u00e9\"}, {\"id\": 11, \"content\": \"e\\u0301\"}], " MODEL "}", NULL,
      "field 'added_tokens': two tokens match the same text as 'e\xcc\x81'" },
    { "{\"added_tokens\": [{\"id\": 6, \"content\": 5}], " MODEL "}", NULL,
      "field 'added_tokens[0].content': must be a string" },
    { "{\"added_tokens\": [{\"content\": \"<s>\"}], " MODEL "}", NULL,
      "field 'added_tokens[0].id': must be a whole number from 0 to 2147483647" },
    { "{" MODEL "}", "{\"add_bos_token\": true}",
      "field 'add_bos_token': add_bos_token is true but bos_token is not set" },
    { "{" MODEL "}", "{\"add_eos_token\": true, \"eos_token\": \"<eos>\"}",
      "field 'add_eos_token': add_eos_token is true but eos_token is not in the vocab" },
    { "{" MODEL "}", "[true]", "not a JSON object" },
};

START_TEST(test_bad)
{
    const bad_case *c = &BAD[_i];
    const char *dir = write_tok(c->json, c->config);
    sut_error err = { "" };
    char want[1024];

    ck_assert_ptr_null(tok_open(dir, &err));
    snprintf(want, sizeof(want), "%s/%s: %s", dir,
             c->config ? "tokenizer_config.json" : "tokenizer.json", c->msg);
    ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(test_bad_json)
{
    const char *dir = write_tok("{\"model\": ", NULL);
    sut_error err = { "" };

    ck_assert_ptr_null(tok_open(dir, &err));
    tu_assert_contains(err.msg, "/tokenizer.json: ");
    ck_assert_ptr_null(tok_open("/nonexistent/tokenizer.json", &err));
    ck_assert_str_eq(err.msg, "/nonexistent/tokenizer.json: No such file or directory");
    tok_free(NULL);
}
END_TEST

/* ---- encoding ---- */

START_TEST(test_merges_by_rank)
{
    tok_tokenizer *t = open_ok("{" MODEL "}", NULL);

    /* a b c a b: (a b) at 0 and 3 first, then (ab c): [abc, ab] */
    ck_assert_str_eq(IDS(t, "abcab", true), "[4, 3]");
    ck_assert_str_eq(IDS(t, "cab", true), "[2, 3]");
    ck_assert_str_eq(IDS(t, "", true), "[]");
    ck_assert_int_eq(tok_bos(t), -1);
    ck_assert_uint_eq(tok_vocab_size(t), 10);
    ck_assert_int_eq(tok_token_id(t, "abc"), 4);
    ck_assert_int_eq(tok_token_id(t, "zzz"), -1);
    tok_free(t);
}
END_TEST

START_TEST(test_merges_as_pairs)
{
    tok_tokenizer *t = open_ok("{\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": "
                               "[[\"a\", \"b\"], [\"ab\", \"c\"]]}}", NULL);

    ck_assert_str_eq(IDS(t, "abcab", true), "[4, 3]");
    tok_free(t);
}
END_TEST

START_TEST(test_fallback_and_unk)
{
    tok_tokenizer *t = open_ok("{" MODEL "}", NULL);

    ck_assert_str_eq(IDS(t, "a!", true), "[0, 8]");
    ck_assert_str_eq(IDS(t, "zz", true), "[5]");        /* fused */
    ck_assert_str_eq(IDS(t, "zza", true), "[5, 0]");
    /* the library adds byte-fallback tokens before a pending unk */
    ck_assert_str_eq(IDS(t, "z!z", true), "[8, 5]");
    tok_free(t);
}
END_TEST

START_TEST(test_unfused_unk)
{
    tok_tokenizer *t = open_ok("{\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": [], "
                               "\"unk_token\": \"<unk>\"}}", NULL);

    ck_assert_str_eq(IDS(t, "zz!a", true), "[5, 5, 5, 0]");
    tok_free(t);
}
END_TEST

START_TEST(test_no_unk_drops)
{
    tok_tokenizer *t = open_ok("{\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": []}}",
                               NULL);

    ck_assert_str_eq(IDS(t, "azb", true), "[0, 1]");
    tok_free(t);
}
END_TEST

START_TEST(test_template_and_added)
{
    tok_tokenizer *t = open_ok("{" ADDED ", " TEMPLATE ", " MODEL "}", NULL);

    ck_assert_int_eq(tok_bos(t), 6);
    ck_assert_str_eq(IDS(t, "ab", true), "[6, 3]");
    ck_assert_str_eq(IDS(t, "ab", false), "[3]");
    ck_assert_str_eq(IDS(t, "", true), "[6]");
    ck_assert_str_eq(IDS(t, "a<s>b</s>", false), "[0, 6, 1, 7]");
    ck_assert_str_eq(IDS(t, "<s<s>>", false), "[5, 6, 5]");
    tok_free(t);
}
END_TEST

START_TEST(test_config_bos_eos)
{
    tok_tokenizer *t = open_ok("{" ADDED ", " TEMPLATE ", " MODEL "}",
                               "{\"add_bos_token\": false, \"add_eos_token\": true, "
                               "\"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\"}}");

    ck_assert_int_eq(tok_bos(t), -1);
    ck_assert_str_eq(IDS(t, "ab", true), "[3, 7]");
    ck_assert_str_eq(IDS(t, "ab", false), "[3]");
    tok_free(t);
    t = open_ok("{" ADDED ", " MODEL "}", "{\"add_bos_token\": true, \"bos_token\": \"<s>\"}");
    ck_assert_int_eq(tok_bos(t), 6);
    ck_assert_str_eq(IDS(t, "ab", true), "[6, 3]");
    tok_free(t);
}
END_TEST

START_TEST(test_metaspace_first)
{
    tok_tokenizer *t = open_ok("{" ADDED ", \"pre_tokenizer\": {\"type\": \"Metaspace\", "
                               "\"replacement\": \"\\u2581\", \"prepend_scheme\": \"first\", "
                               "\"split\": false}, " MODEL "}", NULL);

    /* "▁" before the first piece only, and spaces become "▁" */
    ck_assert_str_eq(IDS(t, "a b", false), "[9, 0, 9, 1]");
    ck_assert_str_eq(IDS(t, "<s>a", false), "[6, 0]");
    tok_free(t);
}
END_TEST

START_TEST(test_invalid_utf8)
{
    tok_tokenizer *t = open_ok("{" MODEL "}", NULL);
    sut_error err = { "" };
    int32_t *ids = (int32_t *)1;
    size_t n = 7;

    ck_assert_int_eq(tok_encode(t, "a\xc3(", 3, true, &ids, &n, &err), -1);
    ck_assert_str_eq(err.msg, "text is not valid UTF-8 at byte 1");
    ck_assert_ptr_null(ids);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(tok_encode(t, "\xed\xa0\x80", 3, true, &ids, &n, &err), -1);
    ck_assert_str_eq(err.msg, "text is not valid UTF-8 at byte 0");
    tok_free(t);
}
END_TEST

START_TEST(test_open_file_path)
{
    const char *dir = write_tok("{" ADDED ", " TEMPLATE ", " MODEL "}", "{\"add_bos_token\": false}");
    char path[512];
    sut_error err = { "" };
    tok_tokenizer *t;

    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    t = tok_open(path, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_int_eq(tok_bos(t), -1); /* the config beside the file is read */
    tok_free(t);
}
END_TEST

typedef struct job {
    const tok_tokenizer *t;
    char got[1024];
} job;

static void *encode_job(void *arg)
{
    job *j = arg;
    int k;

    for (k = 0; k < 200; k++)
        snprintf(j->got, sizeof(j->got), "%s", IDS(j->t, "abcab a! zz <s>cab", true));
    return NULL;
}

/* One tokenizer, four threads encoding at once: the same ids as alone. */
START_TEST(test_threads)
{
    tok_tokenizer *t = open_ok("{" ADDED ", " TEMPLATE ", \"pre_tokenizer\": {\"type\": "
                               "\"Split\", \"pattern\": {\"Regex\": \"\\\\s+\"}, "
                               "\"behavior\": \"Removed\", \"invert\": false}, " MODEL "}",
                               NULL);
    job jobs[4];
    pthread_t th[4];
    char want[1024];
    int i;

    snprintf(want, sizeof(want), "%s", IDS(t, "abcab a! zz <s>cab", true));
    ck_assert_str_eq(want, "[6, 4, 3, 0, 8, 5, 6, 2, 3]");
    for (i = 0; i < 4; i++) {
        jobs[i].t = t;
        ck_assert_int_eq(pthread_create(&th[i], NULL, encode_job, &jobs[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_str_eq(jobs[i].got, want);
    }
    tok_free(t);
}
END_TEST

static Suite *tokenizer_suite(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_bad, 0, (int)(sizeof(BAD) / sizeof(BAD[0])));
    tcase_add_test(tc, test_bad_json);
    tcase_add_test(tc, test_merges_by_rank);
    tcase_add_test(tc, test_merges_as_pairs);
    tcase_add_test(tc, test_fallback_and_unk);
    tcase_add_test(tc, test_unfused_unk);
    tcase_add_test(tc, test_no_unk_drops);
    tcase_add_test(tc, test_template_and_added);
    tcase_add_test(tc, test_config_bos_eos);
    tcase_add_test(tc, test_metaspace_first);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_open_file_path);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    return s;
}

SUT_TEST_MAIN(tokenizer_suite)
