/* cmd_probe.c: suture probe MODEL (--tokens FILE | --text FILE) [--ctx N]
 * [--max-tokens N] [--batch N] [-j N] [--json] [--quiet] [--arch-file F] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suture/model.h"
#include "suture/probe.h"
#include "cli.h"
#include "progress.h"

#define DEFAULT_CTX 512

static const char usage[] =
    "usage: suture probe MODEL (--tokens FILE | --text FILE) [--ctx N]\n"
    "                   [--max-tokens N] [--batch N] [-j N] [--json] [--quiet]\n"
    "                   [--arch-file F]\n"
    "Runs the model over the tokens, layer by layer (one layer's weights in\n"
    "memory at a time), and reports the mean negative log-likelihood and\n"
    "perplexity, each layer's angular distance and Block Influence between\n"
    "its input and output, and for each block length the block whose removal\n"
    "changes the hidden state least. Exit 0, or 2 when refused.\n\n"
    "  --tokens FILE     token ids: a JSON array or ids separated by spaces,\n"
    "                    used exactly as given\n"
    "  --text FILE       text, tokenized with the model's tokenizer.json\n"
    "                    (BOS as the model expects, at each window's start)\n"
    "  --ctx N           window length in tokens (default 512, at most the\n"
    "                    model's context)\n"
    "  --max-tokens N    use at most the first N ids\n"
    "  --batch N         windows evaluated together (default 1; more windows\n"
    "                    read the weights fewer times, at more memory)\n"
    "  -j, --threads N   compute threads (default: the CPUs online)\n"
    "  --json            print the result as one JSON object\n"
    "  --quiet           no progress bar\n"
    "  --arch-file F     more architectures (a JSON family file)\n";

struct args {
    const char *path, *tokens, *text, *arch_file;
    size_t ctx, max_tokens, batch, threads;
    bool json, quiet;
};

/* A whole number in [1, 2^31) into *out; 0 or a usage error. */
static int number(const char *opt, const char *s, size_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || errno || *end || v < 1 || v >= (1ull << 31))
        return cli_usage_error("probe", "%s: '%s' is not a whole number from 1 "
                               "to 2147483647", opt, s);
    *out = (size_t)v;
    return 0;
}

static int parse(int argc, char **argv, struct args *a)
{
    int i, rc = 0;

    for (i = 1; i < argc && rc == 0; i++) {
        const char *s = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(s, "--json") == 0)
            a->json = true;
        else if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0)
            a->quiet = true;
        else if (strcmp(s, "--tokens") == 0 && more)
            a->tokens = argv[++i];
        else if (strcmp(s, "--text") == 0 && more)
            a->text = argv[++i];
        else if (strcmp(s, "--arch-file") == 0 && more)
            a->arch_file = argv[++i];
        else if (strcmp(s, "--ctx") == 0 && more)
            rc = number(s, argv[++i], &a->ctx);
        else if (strcmp(s, "--max-tokens") == 0 && more)
            rc = number(s, argv[++i], &a->max_tokens);
        else if (strcmp(s, "--batch") == 0 && more)
            rc = number(s, argv[++i], &a->batch);
        else if ((strcmp(s, "-j") == 0 || strcmp(s, "--threads") == 0) && more)
            rc = number(s, argv[++i], &a->threads);
        else if (s[0] == '-' && s[1])
            rc = cli_usage_error("probe", "unknown or incomplete option '%s'", s);
        else if (a->path)
            rc = cli_usage_error("probe", "one MODEL only ('%s' and '%s')", a->path, s);
        else
            a->path = s;
    }
    if (rc != 0)
        return rc;
    if (!a->path)
        return cli_usage_error("probe", "no MODEL given (see 'suture probe --help')");
    if (!a->tokens == !a->text)
        return cli_usage_error("probe", "give exactly one of --tokens FILE and --text FILE");
    if (a->ctx == 1)
        return cli_usage_error("probe", "--ctx: a window needs at least 2 tokens");
    return 0;
}

/* The ids to feed and the BOS rule: --tokens ids exactly (bos -1); --text
 * ids from the model's tokenizer with its BOS (*bos its id). */
static int load_ids(const struct args *a, const model *m, int32_t **ids,
                    size_t *n, int *bos, sut_error *err)
{
    *bos = -1;
    if (a->tokens) {
        if (probe_read_ids(a->tokens, ids, n, err) != 0)
            return -1;
        return 0;
    }
    (void)m;
    sut_error_set(err, "%s: --text needs the tokenizer, which this build lacks "
                  "(use --tokens)", a->text);
    return -1;
}

static void print_result(const probe_result *r, const struct args *a)
{
    size_t i;

    printf("%s: %llu tokens in %zu window%s of %zu (%llu predicted)\n", a->path,
           (unsigned long long)r->tokens, r->windows, r->windows == 1 ? "" : "s",
           r->ctx, (unsigned long long)r->predicted);
    printf("nll %.5f  perplexity %.4f\n\n", r->nll, r->perplexity);
    printf("layer  angular distance  (last token)  block influence\n");
    for (i = 0; i < r->n_layers; i++)
        printf("%5zu  %16.5f  %13.5f  %15.5f\n", i,
               r->layers[i].angular_distance, r->layers[i].angular_distance_last,
               r->layers[i].block_influence);
    if (r->n_blocks)
        printf("\ncheapest block to drop (angular distance h_l -> h_l+n, last token):\n");
    for (i = 0; i < r->n_blocks; i++)
        printf("  n=%-3zu layers %zu..%zu  %.5f\n", r->blocks[i].length,
               r->blocks[i].start, r->blocks[i].start + r->blocks[i].length - 1,
               r->blocks[i].angular_distance);
}

static cJSON *result_json(const probe_result *r, const struct args *a)
{
    cJSON *o = cJSON_CreateObject(), *layers = cJSON_CreateArray(),
          *blocks = cJSON_CreateArray();
    bool ok = o && layers && blocks &&
              cJSON_AddStringToObject(o, "path", a->path) &&
              cJSON_AddNumberToObject(o, "tokens", (double)r->tokens) &&
              cJSON_AddNumberToObject(o, "predicted", (double)r->predicted) &&
              cJSON_AddNumberToObject(o, "windows", (double)r->windows) &&
              cJSON_AddNumberToObject(o, "ctx", (double)r->ctx) &&
              cJSON_AddNumberToObject(o, "nll", r->nll) &&
              cJSON_AddNumberToObject(o, "perplexity", r->perplexity);
    size_t i;

    for (i = 0; ok && i < r->n_layers; i++) {
        cJSON *l = cJSON_CreateObject();
        ok = l && cJSON_AddItemToArray(layers, l) &&
             cJSON_AddNumberToObject(l, "index", (double)i) &&
             cJSON_AddNumberToObject(l, "angular_distance", r->layers[i].angular_distance) &&
             cJSON_AddNumberToObject(l, "angular_distance_last",
                                     r->layers[i].angular_distance_last) &&
             cJSON_AddNumberToObject(l, "block_influence", r->layers[i].block_influence);
    }
    for (i = 0; ok && i < r->n_blocks; i++) {
        cJSON *b = cJSON_CreateObject();
        ok = b && cJSON_AddItemToArray(blocks, b) &&
             cJSON_AddNumberToObject(b, "length", (double)r->blocks[i].length) &&
             cJSON_AddNumberToObject(b, "start", (double)r->blocks[i].start) &&
             cJSON_AddNumberToObject(b, "angular_distance", r->blocks[i].angular_distance);
    }
    if (ok && cJSON_AddItemToObject(o, "layers", layers)) {
        layers = NULL;
        ok = cJSON_AddItemToObject(o, "blocks", blocks);
        blocks = ok ? NULL : blocks;
    } else
        ok = false;
    cJSON_Delete(layers);
    cJSON_Delete(blocks);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* probe_run on a stack of the whole model, with a progress bar on a
 * terminal (unless --quiet). */
static int run_probe(const struct args *a, const model *m, const int32_t *ids,
                     size_t n, int bos, probe_result *r, sut_error *err)
{
    cli_progress *bar = cli_progress_new("probe", a->quiet);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    probe_options o = {a->ctx ? a->ctx : DEFAULT_CTX, a->max_tokens,
                       a->batch ? a->batch : 1,
                       a->threads ? (unsigned)a->threads : cpus > 0 ? (unsigned)cpus : 1,
                       bos, bar ? cli_progress_update : NULL, bar};
    fw_stack s;
    int rc;

    if (!a->ctx && model_config(m)) {
        const cJSON *mp = cJSON_GetObjectItemCaseSensitive(model_config(m),
                                                           "max_position_embeddings");
        if (cJSON_IsNumber(mp) && mp->valuedouble >= 2 && mp->valuedouble < o.ctx)
            o.ctx = (size_t)mp->valuedouble;
    }
    if (fw_stack_of_model(&s, m, err) != 0) {
        cli_progress_free(bar);
        return -1;
    }
    rc = probe_run(&s, ids, n, &o, r, err);
    fw_stack_release(&s);
    cli_progress_free(bar);
    return rc;
}

int cmd_probe(int argc, char **argv)
{
    struct args a = {0};
    probe_result r = {0};
    sut_error err;
    arch_table *t = NULL;
    model *m = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int i, bos, rc = EXIT_USAGE;

    for (i = 1; i < argc; i++)
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
    if (parse(argc, argv, &a) != 0)
        return EXIT_USAGE;
    if (!(t = cli_arch_table(a.arch_file, &err)) ||
        !(m = model_open(a.path, t, MODEL_STRICT, &err)) ||
        load_ids(&a, m, &ids, &n, &bos, &err) != 0 ||
        run_probe(&a, m, ids, n, bos, &r, &err) != 0) {
        cli_fail("probe", &err);
        goto out;
    }
    if (a.json)
        rc = cli_print_json(result_json(&r, &a));
    else {
        print_result(&r, &a);
        rc = EXIT_OK;
    }
out:
    probe_result_free(&r);
    free(ids);
    model_free(m);
    arch_table_free(t);
    return rc;
}
