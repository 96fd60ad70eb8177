/* suture-tok: token ids of texts, for tests against Hugging Face's library.
 *
 *   suture-tok [--no-special] [--time] TOKENIZER ITEM...
 *
 * TOKENIZER is a model folder or a tokenizer.json. Each ITEM, in order:
 *   FILE                  encodes the file's bytes, prints the ids as one
 *                         JSON array line (--time: and the encode's wall
 *                         time in milliseconds on stderr);
 *   --strings FILE.json   a JSON array of strings: one ids line for each;
 *   --no-special, --special   without or with the post-processor's tokens
 *                         (BOS...) for the items after it (default: with).
 * Exits 0, 1 when a text cannot be encoded, 2 on bad usage or input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "suture/tokenizer.h"
#include "common/util.h"

#define TEXT_MAX (1u << 30)

static void usage(void)
{
    fprintf(stderr, "usage: suture-tok [--no-special] [--time] TOKENIZER ITEM...\n"
                    "  ITEM: FILE | --strings FILE.json | --special | --no-special\n");
}

static void print_ids(const int32_t *ids, size_t n)
{
    size_t i;

    putchar('[');
    for (i = 0; i < n; i++)
        printf("%s%d", i ? ", " : "", ids[i]);
    printf("]\n");
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int encode_print(const tok_tokenizer *t, const char *s, size_t len, bool special,
                        bool timed)
{
    sut_error err = { "" };
    int32_t *ids;
    size_t n;
    double t0 = now_ms();

    if (tok_encode(t, s, len, special, &ids, &n, &err)) {
        fprintf(stderr, "suture-tok: %s\n", err.msg);
        return 1;
    }
    if (timed)
        fprintf(stderr, "suture-tok: %zu bytes, %zu ids in %.3f ms\n", len, n, now_ms() - t0);
    print_ids(ids, n);
    free(ids);
    return 0;
}

static int encode_strings(const tok_tokenizer *t, const char *path, bool special)
{
    sut_error err = { "" };
    cJSON *list = sut_json_read_file(path, TEXT_MAX, &err), *it;
    int rc = 0;

    if (!list) {
        fprintf(stderr, "suture-tok: %s\n", err.msg);
        return 2;
    }
    if (!cJSON_IsArray(list)) {
        fprintf(stderr, "suture-tok: %s: not a JSON array of strings\n", path);
        cJSON_Delete(list);
        return 2;
    }
    cJSON_ArrayForEach(it, list) {
        if (!cJSON_IsString(it)) {
            fprintf(stderr, "suture-tok: %s: not a JSON array of strings\n", path);
            rc = 2;
            break;
        }
        if (encode_print(t, it->valuestring, strlen(it->valuestring), special, false))
            rc = 1;
    }
    cJSON_Delete(list);
    return rc;
}

/* Encodes one file; 0, 1 (encode failed) or 2 (unreadable). */
static int encode_file(const tok_tokenizer *t, const char *path, bool special, bool timed)
{
    sut_error err = { "" };
    size_t len;
    char *text = sut_read_file(path, TEXT_MAX, &len, &err);
    int rc;

    if (!text) {
        fprintf(stderr, "suture-tok: %s\n", err.msg);
        return 2;
    }
    rc = encode_print(t, text, len, special, timed);
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    sut_error err = { "" };
    bool special = true, timed = false;
    tok_tokenizer *t;
    int i = 1, rc = 0, r;

    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (strcmp(argv[i], "--no-special") == 0)
            special = false;
        else if (strcmp(argv[i], "--time") == 0)
            timed = true;
        else
            return usage(), 2;
    }
    if (argc - i < 2)
        return usage(), 2;
    if (!(t = tok_open(argv[i], &err))) {
        fprintf(stderr, "suture-tok: %s\n", err.msg);
        return 2;
    }
    for (i++; i < argc; i++) {
        if (strcmp(argv[i], "--no-special") == 0 || strcmp(argv[i], "--special") == 0) {
            special = argv[i][2] == 's';
            continue;
        }
        if (strcmp(argv[i], "--strings") == 0) {
            if (++i == argc) {
                usage();
                rc = 2;
                break;
            }
            r = encode_strings(t, argv[i], special);
        } else {
            r = encode_file(t, argv[i], special, timed);
        }
        if (r > rc)
            rc = r;
    }
    tok_free(t);
    return rc;
}
