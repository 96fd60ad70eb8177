/* cmd_probe.c: suture probe MODEL (--tokens FILE | --text FILE) [--ctx N]
 * [--max-tokens N] [--batch N] [-j N] [--json] [--quiet] [--arch-file F] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suture/gguf_model.h"
#include "suture/model.h"
#include "suture/probe.h"
#include "cli.h"
#include "json_out.h"
#include "opts.h"
#include "progress.h"

#define DEFAULT_CTX 512

static const char usage[] =
    "usage: suture probe MODEL (--tokens FILE | --text FILE) [--ctx N]\n"
    "                   [--max-tokens N] [--batch N] [-j N] [--json] [-q]\n"
    "                   [--arch-file F]\n"
    "Runs the model over the tokens, layer by layer (one layer's weights in\n"
    "memory at a time), and reports the mean negative log-likelihood and\n"
    "perplexity, each layer's angular distance and Block Influence between\n"
    "its input and output, and for each block length the block whose removal\n"
    "changes the hidden state least. MODEL is a model folder, a .safetensors\n"
    "file or a GGUF file (F32, F16, BF16, Q8_0 tensors). Exit 0, or 2 when\n"
    "refused.\n\n"
    "  --tokens FILE     token ids: a JSON array or ids separated by spaces,\n"
    "                    used exactly as given\n"
    "  --text FILE       text, tokenized with the model's tokenizer.json\n"
    "                    (BOS as the model expects, at each window's start;\n"
    "                    not for GGUF files: give --tokens)\n"
    "  --ctx N           window length in tokens (default 512, at most the\n"
    "                    model's context)\n"
    "  --max-tokens N    use at most the first N ids\n"
    "  --batch N         windows evaluated together (default 1; more windows\n"
    "                    read the weights fewer times, at more memory)\n"
    "  -j, --jobs N      compute threads, 1 to 1024 (default: the CPUs online)\n"
    "  --json            print the result as one JSON object\n"
    "  -q, --quiet       no progress bar\n"
    "  --arch-file F     more architectures (a JSON family file)\n";

struct args {
    const char *path, *tokens, *text, *arch_file;
    size_t ctx, max_tokens, batch;
    unsigned threads;
    bool json, quiet;
};

enum { OPT_TOKENS = CLI_OWN, OPT_TEXT, OPT_CTX, OPT_MAX_TOKENS, OPT_BATCH };

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

static int take(void *ctx, int id, const char *v)
{
    struct args *a = ctx;

    switch (id) {
    case CLI_JSON: a->json = true; return 0;
    case CLI_QUIET: a->quiet = true; return 0;
    case CLI_ARCH_FILE: a->arch_file = v; return 0;
    case CLI_JOBS: return cli_parse_jobs("probe", v, 1024, &a->threads);
    case OPT_TOKENS: a->tokens = v; return 0;
    case OPT_TEXT: a->text = v; return 0;
    case OPT_CTX: return number("--ctx", v, &a->ctx);
    case OPT_MAX_TOKENS: return number("--max-tokens", v, &a->max_tokens);
    case OPT_BATCH: return number("--batch", v, &a->batch);
    default:
        if (a->path)
            return cli_usage_error("probe", "one MODEL only ('%s' and '%s')",
                                   cli_text(a->path), cli_text(v));
        a->path = v;
        return 0;
    }
}

/* CLI_GO to go on, EXIT_OK after --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, struct args *a)
{
    static const cli_opt opts[] = {
        CLI_ROW_JSON, CLI_ROW_QUIET, CLI_ROW_ARCH_FILE, CLI_ROW_JOBS,
        {"tokens", 0, true, OPT_TOKENS}, {"text", 0, true, OPT_TEXT},
        {"ctx", 0, true, OPT_CTX}, {"max-tokens", 0, true, OPT_MAX_TOKENS},
        {"batch", 0, true, OPT_BATCH},
    };
    cli_parser cp = {"probe", opts, sizeof(opts) / sizeof(opts[0]), NULL, 0, usage,
                     NULL, take, a};
    int rc = cli_opts_parse(&cp, argc, argv);

    if (rc != CLI_GO)
        return rc;
    if (!a->path)
        return cli_usage_error("probe", "no MODEL given (see 'suture probe --help')");
    if (!a->tokens == !a->text)
        return cli_usage_error("probe", "give exactly one of --tokens FILE and --text FILE");
    if (a->ctx == 1)
        return cli_usage_error("probe", "--ctx: a window needs at least 2 tokens");
    return CLI_GO;
}

/* MODEL: a GGUF file (or split set) into *g, else a folder into *m. */
static int open_model(const struct args *a, arch_table *t, model **m,
                      gmodel **g, sut_error *err)
{
    if (gguf_is_gguf(a->path))
        *g = gmodel_open(a->path, err);
    else
        *m = model_open(a->path, t, MODEL_STRICT, err);
    return *m || *g ? 0 : -1;
}

/* The ids to feed and the BOS rule: --tokens ids exactly (bos -1); --text
 * ids from the model's tokenizer with its BOS (*bos its id). A GGUF
 * model's tokenizer (tokenizer.ggml.*) is not read: --text is refused. */
static int load_ids(const struct args *a, const model *m, int32_t **ids,
                    size_t *n, int *bos, sut_error *err)
{
    *bos = -1;
    if (a->tokens)
        return probe_read_ids(a->tokens, ids, n, err);
    if (!m) {
        sut_error_set(err, "%s: --text needs a tokenizer.json: the tokenizer "
                      "of a GGUF file is not supported; give --tokens FILE",
                      a->path);
        return -1;
    }
    return probe_read_text(a->text, model_dir(m), ids, n, bos, err);
}

/* The model's context length (0: not given). */
static double model_context(const model *m, const gmodel *g)
{
    const cJSON *mp;
    char key[160];

    if (g) {
        snprintf(key, sizeof(key), "%s.context_length",
                 gmodel_arch(g) ? gmodel_arch(g) : "");
        return (double)gguf_get_u64(gmodel_meta(g), key, 0);
    }
    mp = model_config(m) ? cJSON_GetObjectItemCaseSensitive(model_config(m),
                                                            "max_position_embeddings")
                         : NULL;
    return cJSON_IsNumber(mp) ? mp->valuedouble : 0;
}

static void print_result(const probe_result *r, const struct args *a)
{
    size_t i;

    printf("%s: %llu tokens in %zu window%s of %zu (%llu predicted)\n", cli_text(a->path),
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

/* probe_run on a stack of the whole model, with a progress bar on a
 * terminal (unless --quiet). */
static int run_probe(const struct args *a, const model *m, const gmodel *g,
                     const int32_t *ids, size_t n, int bos, probe_result *r,
                     sut_error *err)
{
    cli_progress *bar = cli_progress_new("probe", a->quiet);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    probe_options o = {a->ctx ? a->ctx : DEFAULT_CTX, a->max_tokens,
                       a->batch ? a->batch : 1,
                       a->threads ? a->threads : cpus > 0 ? (unsigned)cpus : 1,
                       bos, bar ? cli_progress_update : NULL, bar};
    fw_stack s;
    double mctx = model_context(m, g);
    int rc;

    if (!a->ctx && mctx >= 2 && mctx < (double)o.ctx)
        o.ctx = (size_t)mctx;
    if ((g ? fw_stack_of_gguf(&s, g, err) : fw_stack_of_model(&s, m, err)) != 0) {
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
    gmodel *g = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int bos, rc;

    if ((rc = parse(argc, argv, &a)) != CLI_GO)
        return rc;
    rc = EXIT_USAGE;
    if (!(t = cli_arch_table(a.arch_file, &err)) ||
        open_model(&a, t, &m, &g, &err) != 0 ||
        load_ids(&a, m, &ids, &n, &bos, &err) != 0 ||
        run_probe(&a, m, g, ids, n, bos, &r, &err) != 0) {
        cli_fail("probe", &err);
        goto out;
    }
    if (a.json)
        rc = cli_print_json(cli_json_probe(&r, a.path));
    else {
        print_result(&r, &a);
        rc = EXIT_OK;
    }
out:
    probe_result_free(&r);
    free(ids);
    model_free(m);
    gmodel_free(g);
    arch_table_free(t);
    return rc;
}
