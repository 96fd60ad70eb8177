/* cmd_probe.c: suture probe MODEL (--tokens FILE | --text FILE) [--ctx N]
 * [--max-tokens N] [--batch N] [-j N] [--json] [--quiet] [--arch-file F];
 * or RECIPE (or -m NAME=PATH... --slices SPEC, the options plan_args.c
 * shares) instead of MODEL, with [--base NAME]: the recipe's output
 * measured from its sources (suture/measure.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suture/gguf_model.h"
#include "suture/measure.h"
#include "suture/model.h"
#include "suture/probe.h"
#include "cli.h"
#include "json_out.h"
#include "opts.h"
#include "measure_out.h"
#include "plan_args.h"
#include "progress.h"

#define DEFAULT_CTX 512

static const char usage[] =
    "usage: suture probe MODEL (--tokens FILE | --text FILE) [--ctx N]\n"
    "                   [--max-tokens N] [--batch N] [-j N] [--json] [-q]\n"
    "                   [--arch-file F]\n"
    "       suture probe RECIPE (--tokens FILE | --text FILE) [--base NAME] ...\n"
    "       suture probe -m NAME=PATH... --slices SPEC (--tokens | --text) ...\n"
    "Runs the model over the tokens, layer by layer (one layer's weights in\n"
    "memory at a time), and reports the mean negative log-likelihood and\n"
    "perplexity, each layer's angular distance and Block Influence between\n"
    "its input and output, and for each block length the block whose removal\n"
    "changes the hidden state least. MODEL is a model folder, a .safetensors\n"
    "file or a GGUF file (F32, F16, BF16, Q8_0 tensors). Exit 0, or 2 when\n"
    "refused.\n"
    "Given a recipe (a folder is a MODEL; a file a RECIPE), measures the\n"
    "output it would build, reading the sources (the same numbers as probing\n"
    "the built output), beside the base model on the same ids, and every\n"
    "seam: the angular distance between the hidden state entering it and\n"
    "the one its source layer receives in its own model, and that distance\n"
    "over the next layers (up to 4, to the next seam).\n\n"
    "  --tokens FILE     token ids: a JSON array or ids separated by spaces,\n"
    "                    used exactly as given\n"
    "  --text FILE       text, tokenized with the model's tokenizer.json\n"
    "                    (BOS as the model expects, at each window's start)\n"
    "  --ctx N           window length in tokens (default 512, at most the\n"
    "                    model's context)\n"
    "  --max-tokens N    use at most the first N ids\n"
    "  --batch N         windows evaluated together (default 1; more windows\n"
    "                    read the weights fewer times, at more memory)\n"
    "  -j, --jobs N      compute threads, 1 to 1024 (default: the CPUs online)\n"
    "  --json            print the result as one JSON object\n"
    "  -q, --quiet       no progress bar\n"
    "  --base NAME       the recipe model to compare with (default: the\n"
    "                    config donor)\n"
    "  --search repeat:N every repeat of an N-layer block (slices [0, a+N),\n"
    "                    [a, L) for each start a), ranked by NLL; drop:N every\n"
    "                    removal of N layers. Of a MODEL or one -m NAME=PATH;\n"
    "                    repeat:N*o_proj|down_proj=0.5 scales the repeated copy\n"
    "  --top K           print the K best as ready recipes\n";

struct args {
    struct plan_args pa;     /* the recipe, or the MODEL as recipe_path */
    const char *path, *tokens, *text, *base;
    const char *name;        /* --search: the model's name in specs */
    bool search;
    measure_kind kind;
    unsigned block;
    const char *scales;      /* "*PATTERN=S..." of the repeated copy, or NULL */
    size_t top;
    size_t ctx, max_tokens, batch;
    unsigned threads;
    bool json, quiet;
};

enum { OPT_TOKENS = CLI_OWN, OPT_TEXT, OPT_CTX, OPT_MAX_TOKENS, OPT_BATCH, OPT_BASE,
       OPT_SEARCH, OPT_TOP };

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

/* --search repeat:N[*SCALES] | drop:N. 0 or a usage error. */
static int parse_search(const char *v, struct args *a)
{
    size_t n;
    const char *colon = strchr(v, ':'), *star;
    char num[16];

    if (colon && (size_t)(colon - v) == 6 && strncmp(v, "repeat", 6) == 0)
        a->kind = MEASURE_REPEAT;
    else if (colon && (size_t)(colon - v) == 4 && strncmp(v, "drop", 4) == 0)
        a->kind = MEASURE_DROP;
    else
        return cli_usage_error("probe", "--search wants repeat:N or drop:N, not '%s'",
                               cli_text(v));
    star = strchr(colon, '*');
    if (star && a->kind == MEASURE_DROP)
        return cli_usage_error("probe", "--search: scales apply to a repeated copy "
                               "(repeat:N*PATTERN=S), not to drop");
    if (star && strlen(star) > 200)
        return cli_usage_error("probe", "--search: the scales are longer than 200 "
                               "characters");
    if (star && (size_t)(star - colon - 1) >= sizeof(num))
        return cli_usage_error("probe", "--search: '%s' is not a whole number",
                               cli_text(colon + 1));
    snprintf(num, sizeof(num), "%.*s", star ? (int)(star - colon - 1) : 15, colon + 1);
    if (number("--search", star ? num : colon + 1, &n))
        return EXIT_USAGE;
    a->block = (unsigned)n;
    a->scales = star;
    a->search = true;
    return 0;
}

static int take(void *ctx, int id, const char *v)
{
    struct args *a = ctx;

    switch (id) {
    case CLI_JSON: a->json = true; return 0;
    case CLI_QUIET: a->quiet = true; return 0;
    case CLI_JOBS: return cli_parse_jobs("probe", v, 1024, &a->threads);
    case OPT_TOKENS: a->tokens = v; return 0;
    case OPT_TEXT: a->text = v; return 0;
    case OPT_CTX: return number("--ctx", v, &a->ctx);
    case OPT_MAX_TOKENS: return number("--max-tokens", v, &a->max_tokens);
    case OPT_BATCH: return number("--batch", v, &a->batch);
    case OPT_BASE: a->base = v; return 0;
    case OPT_SEARCH: return parse_search(v, a);
    case OPT_TOP: return number("--top", v, &a->top);
    case CLI_OPERAND:
        if (a->pa.recipe_path)
            return cli_usage_error("probe", "one MODEL only ('%s' and '%s')",
                                   cli_text(a->pa.recipe_path), cli_text(v));
        a->pa.recipe_path = v;
        return 0;
    default:
        return plan_args_take("probe", id, v, &a->pa);
    }
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);

    return n >= k && strcmp(s + n - k, tail) == 0;
}

/* --search takes a MODEL, named by its folder's base name as plan names a
 * model given by path, or one -m NAME=PATH. 0 or a usage error. */
static int search_model(struct args *a)
{
    static char base[256];
    const char *p, *e;
    size_t i, len;

    if (a->pa.nmodels == 1 && !a->pa.slices && !a->pa.recipe_path) {
        e = strchr(a->pa.models[0], '=');
        if (!e || e == a->pa.models[0] || (size_t)(e - a->pa.models[0]) >= sizeof(base))
            return cli_usage_error("probe", "-m wants NAME=PATH, not '%s'",
                                   cli_text(a->pa.models[0]));
        memcpy(base, a->pa.models[0], (size_t)(e - a->pa.models[0]));
        base[e - a->pa.models[0]] = 0;
        a->name = base;
        a->path = e + 1;
        return 0;
    }
    if (!a->path || a->pa.nmodels)
        return cli_usage_error("probe", "--search takes one MODEL (or one -m NAME=PATH), "
                               "not a recipe");
    for (len = strlen(a->path); len > 1 && a->path[len - 1] == '/'; len--)
        ;
    for (p = a->path + len; p > a->path && p[-1] != '/'; p--)
        ;
    len = (size_t)(a->path + len - p);
    if (len >= sizeof(base))
        len = sizeof(base) - 1;
    memcpy(base, p, len);
    base[len] = 0;
    for (i = 0; base[i]; i++)
        if (!isalnum((unsigned char)base[i]) && !strchr("_.-", base[i]))
            base[i] = '_';
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        strcpy(base, "model");
    a->name = base;
    return 0;
}

/* CLI_GO to go on, EXIT_OK after --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, struct args *a)
{
    static const cli_opt opts[] = {
        CLI_ROW_JSON, CLI_ROW_QUIET, CLI_ROW_JOBS,
        {"tokens", 0, true, OPT_TOKENS}, {"text", 0, true, OPT_TEXT},
        {"ctx", 0, true, OPT_CTX}, {"max-tokens", 0, true, OPT_MAX_TOKENS},
        {"batch", 0, true, OPT_BATCH}, {"base", 0, true, OPT_BASE},
        {"search", 0, true, OPT_SEARCH}, {"top", 0, true, OPT_TOP},
    };
    cli_parser cp = {"probe", opts, sizeof(opts) / sizeof(opts[0]), plan_args_opts,
                     plan_args_nopts, usage, plan_args_usage, take, a};
    int rc = cli_opts_parse(&cp, argc, argv);
    struct stat st;

    if (rc != CLI_GO)
        return rc;
    if (!a->pa.recipe_path && !a->pa.slices && !(a->search && a->pa.nmodels))
        return cli_usage_error("probe", "no MODEL given (see 'suture probe --help')");
    /* A folder or a .safetensors/.gguf file with no -m/--slices is a MODEL;
     * anything else a recipe. */
    if (a->pa.recipe_path && !a->pa.slices && !a->pa.nmodels &&
        ((stat(a->pa.recipe_path, &st) == 0 && S_ISDIR(st.st_mode)) ||
         ends_with(a->pa.recipe_path, ".safetensors") ||
         ends_with(a->pa.recipe_path, ".gguf")))
        a->path = a->pa.recipe_path;
    if (a->path && a->base)
        return cli_usage_error("probe", "--base needs a RECIPE or --slices");
    if (a->top && !a->search)
        return cli_usage_error("probe", "--top needs --search");
    if (a->search && search_model(a))
        return EXIT_USAGE;
    if (!a->tokens == !a->text)
        return cli_usage_error("probe", "give exactly one of --tokens FILE and --text FILE");
    if (a->ctx == 1)
        return cli_usage_error("probe", "--ctx: a window needs at least 2 tokens");
    return CLI_GO;
}

/* The ids to feed and the BOS rule: --tokens ids exactly (bos -1); --text
 * ids from the model's tokenizer with its BOS (*bos its id). */
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

/* Opens a.path as a GGUF model (*g) or a safetensors model (*m). 0 or -1. */
static int open_model(const struct args *a, arch_table *t, model **m, gmodel **g,
                      sut_error *err)
{
    if (gguf_is_gguf(a->path))
        *g = gmodel_open(a->path, err);
    else
        *m = model_open(a->path, t, MODEL_STRICT, err);
    return *m || *g ? 0 : -1;
}

/* A GGUF model's {arch}.context_length (0: not given). */
static double gguf_context(const gmodel *g)
{
    char key[160];

    snprintf(key, sizeof(key), "%s.context_length", gmodel_arch(g) ? gmodel_arch(g) : "");
    return (double)gguf_get_u64(gmodel_meta(g), key, 0);
}

static void print_result(const probe_result *r, const char *label)
{
    size_t i;

    printf("%s: %llu tokens in %zu window%s of %zu (%llu predicted)\n", cli_text(label),
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

/* The probe options of the arguments; ctx defaults to 512 or the config
 * model's max_position_embeddings when smaller (config NULL: to 0, for
 * cli_measure_plan). */
static probe_options options(const struct args *a, const model *config, int bos,
                             cli_progress *bar)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    probe_options o = {0};

    o.ctx = a->ctx ? a->ctx : config ? DEFAULT_CTX : 0;
    o.max_tokens = a->max_tokens;
    o.batch = a->batch ? a->batch : 1;
    o.threads = a->threads ? a->threads : cpus > 0 ? (unsigned)cpus : 1;
    o.bos = bos;
    o.progress = bar ? cli_progress_update : NULL;
    o.progress_ctx = bar;
    if (!a->ctx && config && model_config(config)) {
        const cJSON *mp = cJSON_GetObjectItemCaseSensitive(model_config(config),
                                                           "max_position_embeddings");
        if (cJSON_IsNumber(mp) && mp->valuedouble >= 2 && mp->valuedouble < o.ctx)
            o.ctx = (size_t)mp->valuedouble;
    }
    return o;
}

/* probe_run on a stack of the whole model, with a progress bar on a
 * terminal (unless --quiet). */
static int run_probe(const struct args *a, const model *m, const gmodel *g,
                     const int32_t *ids, size_t n, int bos, probe_result *r,
                     sut_error *err)
{
    cli_progress *bar = cli_progress_new("probe", a->quiet);
    probe_options o = options(a, m, bos, bar);
    fw_stack s;
    int rc;

    if (g) {
        double mctx = gguf_context(g);
        o.ctx = a->ctx ? a->ctx : DEFAULT_CTX;
        if (!a->ctx && mctx >= 2 && mctx < (double)o.ctx)
            o.ctx = (size_t)mctx;
    }
    if ((g ? fw_stack_of_gguf(&s, g, err) : fw_stack_of_model(&s, m, err)) != 0) {
        cli_progress_free(bar);
        return -1;
    }
    rc = probe_run(&s, ids, n, &o, r, err);
    fw_stack_release(&s);
    cli_progress_free(bar);
    return rc;
}

static int probe_model(const struct args *a)
{
    probe_result r = {0};
    sut_error err;
    arch_table *t = NULL;
    model *m = NULL;
    gmodel *g = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int bos, rc = EXIT_USAGE;

    if (!(t = cli_arch_table(a->pa.arch_file, &err)) ||
        open_model(a, t, &m, &g, &err) != 0 ||
        load_ids(a, m, &ids, &n, &bos, &err) != 0 ||
        run_probe(a, m, g, ids, n, bos, &r, &err) != 0) {
        cli_fail("probe", &err);
        goto out;
    }
    if (a->json)
        rc = cli_print_json(cli_json_probe(&r, a->path));
    else {
        print_result(&r, a->path);
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

/* The recipe model --base names, or the config donor. -1 after a usage
 * error. */
static long base_model(const struct args *a, const plan *p)
{
    long i;

    if (!a->base)
        return (long)plan_get_donors(p).config;
    if ((i = recipe_model_index(plan_recipe(p), a->base)) < 0)
        cli_usage_error("probe", "--base: no model named '%s' in the recipe",
                        cli_text(a->base));
    return i;
}

static int measure(const struct args *a)
{
    measure_result res = {0};
    sut_error err;
    plan *p;
    recipe *r;
    arch_table *t;
    long base;
    int rc;
    const char *label = a->pa.recipe_path ? a->pa.recipe_path : a->pa.slices;
    probe_options o = options(a, NULL, -1, NULL);

    if ((rc = plan_args_open("probe", &a->pa, &p, &r, &t)) != 0)
        return rc;
    rc = EXIT_USAGE;
    if ((base = base_model(a, p)) < 0)
        goto out;
    if (cli_measure_plan(p, a->tokens, a->text, (size_t)base, a->quiet, &o, &res,
                         &err) != 0) {
        cli_fail("probe", &err);
        goto out;
    }
    if (a->json)
        rc = cli_print_json(cli_json_measure(&res, p, label, (size_t)base));
    else {
        print_result(&res.out, label);
        printf("\nbase %s (%s): nll %.5f  perplexity %.4f\n",
               cli_text(r->models[base].name), cli_text(model_path(plan_model(p, (size_t)base))),
               res.base.nll, res.base.perplexity);
        cli_print_seams(&res, p);
        rc = EXIT_OK;
    }
out:
    measure_result_free(&res);
    plan_free(p);
    recipe_free(r);
    arch_table_free(t);
    return rc;
}

/* The compact spec of candidate a ("s[0:3], s[2:3]*o_proj=0.5, s[3:5]"),
 * in buf. */
static const char *cand_spec(const struct args *a, unsigned start, unsigned L,
                             char *buf, size_t size)
{
    unsigned n = a->block;
    int k;

    if (a->kind == MEASURE_DROP) {
        k = snprintf(buf, size, "%s[0:%u]", a->name, start);
        if (start == 0)
            k = snprintf(buf, size, "%s[%u:%u]", a->name, start + n, L);
        else if (start + n < L)
            snprintf(buf + k, size - (size_t)k, ", %s[%u:%u]", a->name, start + n, L);
    } else if (!a->scales)
        snprintf(buf, size, "%s[0:%u], %s[%u:%u]", a->name, start + n, a->name, start, L);
    else {
        k = snprintf(buf, size, "%s[0:%u], %s[%u:%u]%s", a->name, start + n, a->name,
                     start, start + n, a->scales);
        if (k > 0 && (size_t)k < size && start + n < L)
            snprintf(buf + k, size - (size_t)k, ", %s[%u:%u]", a->name, start + n, L);
    }
    return buf;
}

/* Candidate a as a JSON recipe (recipe_to_json of its spec). NULL when out
 * of memory or the spec does not parse. */
static cJSON *cand_recipe(const struct args *a, unsigned start, unsigned L)
{
    char spec[512], marg[8192];
    const char *margs[1] = {marg};
    sut_error err;
    recipe *r;
    cJSON *j;

    snprintf(marg, sizeof(marg), "%s=%s", a->name, a->path);
    if (!(r = recipe_parse_spec(cand_spec(a, start, L, spec, sizeof(spec)), margs, 1,
                                &err)))
        return NULL;
    j = recipe_to_json(r);
    recipe_free(r);
    return j;
}

/* The repeated copy's scales (--search repeat:N*...): for copy layer k,
 * every in-layer tensor of m whose scale is not 1 as the recipe reads the
 * spec "NAME[0:N]*...". 0, or a usage error. The arrays are allocated
 * (free with free_copy_scales). */
static int copy_scales(const struct args *a, const model *m, measure_copy_scales *cs,
                       fw_scale ***lists, size_t **counts)
{
    char spec[512], marg[8192];
    const char *margs[1] = {marg};
    sut_error err;
    recipe *r;
    size_t nt, i, k;
    const size_t *idx = model_layer_tensors(m, 0, &nt);

    snprintf(marg, sizeof(marg), "%s=%s", a->name, a->path);
    snprintf(spec, sizeof(spec), "%s[0:%u]%s", a->name, a->block, a->scales);
    if (!(r = recipe_parse_spec(spec, margs, 1, &err)))
        return cli_fail("probe", &err);
    *lists = calloc(a->block, sizeof(**lists));
    *counts = calloc(a->block, sizeof(**counts));
    for (k = 0; *lists && *counts && k < a->block; k++)
        if (!((*lists)[k] = calloc(nt ? nt : 1, sizeof(fw_scale))))
            break;
    if (!*lists || !*counts || k < a->block) {
        recipe_free(r);
        return cli_usage_error("probe", "out of memory");
    }
    for (k = 0; k < a->block; k++)
        for (i = 0; i < nt; i++) {
            const model_tensor *t = model_tensor_at(m, idx[i]);
            double v = t->local ? recipe_scale_for(&r->slices[0], t->local,
                                                   (unsigned)k, a->block) : 1.0;
            if (v != 1.0)
                (*lists)[k][(*counts)[k]++] = (fw_scale){t->local, (float)v};
        }
    recipe_free(r);
    cs->scales = (const fw_scale *const *)*lists;
    cs->n_scales = *counts;
    return 0;
}

static void free_copy_scales(fw_scale **lists, size_t *counts, unsigned n)
{
    unsigned k;

    for (k = 0; lists && k < n; k++)
        free(lists[k]);
    free(lists);
    free(counts);
}

static cJSON *search_json(const struct args *a, const measure_search_result *r,
                          unsigned L, size_t shown)
{
    cJSON *o = cli_json_probe(&r->model, a->path), *c = cJSON_CreateArray();
    char spec[512], what[320];
    bool ok = o && c;
    size_t i;

    snprintf(what, sizeof(what), "%s:%u%s", a->kind == MEASURE_REPEAT ? "repeat" : "drop",
             a->block, a->scales ? a->scales : "");
    ok = ok && cJSON_AddStringToObject(o, "search", what);
    for (i = 0; ok && i < shown; i++) {
        cJSON *x = cJSON_CreateObject();
        ok = x && cJSON_AddItemToArray(c, x) &&
             cJSON_AddStringToObject(x, "spec", cand_spec(a, r->c[i].start, L, spec,
                                                          sizeof(spec))) &&
             cJSON_AddNumberToObject(x, "nll", r->c[i].nll) &&
             cJSON_AddNumberToObject(x, "perplexity", r->c[i].perplexity) &&
             cJSON_AddItemToObject(x, "recipe", cand_recipe(a, r->c[i].start, L));
    }
    if (ok && cJSON_AddItemToObject(o, "candidates", c))
        return o;
    cJSON_Delete(c);
    cJSON_Delete(o);
    return NULL;
}

static void search_text(const struct args *a, const measure_search_result *r,
                        unsigned L, size_t shown)
{
    char spec[512];
    size_t i;

    printf("%s: %u layers, nll %.5f  perplexity %.4f (%llu predicted)\n",
           cli_text(a->path), L, r->model.nll, r->model.perplexity,
           (unsigned long long)r->model.predicted);
    printf("%s:%u%s: %zu candidates, best first\n\n",
           a->kind == MEASURE_REPEAT ? "repeat" : "drop", a->block,
           a->scales ? cli_text(a->scales) : "", r->n);
    printf("rank  block    nll      perplexity  vs model  spec\n");
    for (i = 0; i < shown; i++)
        printf("%4zu  %3u..%-3u %8.5f  %10.4f  %+8.5f  %s\n", i + 1, r->c[i].start,
               r->c[i].start + a->block - 1, r->c[i].nll, r->c[i].perplexity,
               r->c[i].nll - r->model.nll,
               cli_text(cand_spec(a, r->c[i].start, L, spec, sizeof(spec))));
    if (!a->top)
        return;
    printf("\nrecipes:\n");
    for (i = 0; i < shown; i++) {
        cJSON *j = cand_recipe(a, r->c[i].start, L);
        char *t = j ? cJSON_PrintUnformatted(j) : NULL;
        printf("  suture build -m %s=%s --slices '%s' -o OUT\n  %s\n", a->name,
               cli_text(a->path), cand_spec(a, r->c[i].start, L, spec, sizeof(spec)),
               t ? t : "(out of memory)");
        free(t);
        cJSON_Delete(j);
    }
}

static int search(const struct args *a)
{
    measure_search_result res = {0};
    sut_error err;
    arch_table *t = NULL;
    model *m = NULL;
    int32_t *ids = NULL;
    size_t n = 0, shown;
    int bos, rc = EXIT_USAGE;
    cli_progress *bar = NULL;
    probe_options o;
    unsigned L;
    measure_copy_scales cs;
    fw_scale **lists = NULL;
    size_t *counts = NULL;

    if (!(t = cli_arch_table(a->pa.arch_file, &err)) ||
        !(m = model_open(a->path, t, MODEL_STRICT, &err)) ||
        load_ids(a, m, &ids, &n, &bos, &err) != 0)
        goto fail;
    if (a->scales && (rc = copy_scales(a, m, &cs, &lists, &counts)) != 0)
        goto out;
    bar = cli_progress_new("probe", a->quiet);
    o = options(a, m, bos, bar);
    rc = measure_search(m, a->kind, a->block, a->scales ? &cs : NULL, ids, n, &o, &res,
                        &err);
    cli_progress_free(bar);
    if (rc != 0) {
        rc = EXIT_USAGE;
        goto fail;
    }
    L = model_layer_count(m);
    shown = a->top && a->top < res.n ? a->top : res.n;
    if (a->json)
        rc = cli_print_json(search_json(a, &res, L, shown));
    else {
        search_text(a, &res, L, shown);
        rc = EXIT_OK;
    }
    goto out;
fail:
    cli_fail("probe", &err);
out:
    free_copy_scales(lists, counts, a->block);
    measure_search_free(&res);
    free(ids);
    model_free(m);
    arch_table_free(t);
    return rc;
}

int cmd_probe(int argc, char **argv)
{
    struct args a;
    int rc;

    memset(&a, 0, sizeof(a));
    if ((rc = parse(argc, argv, &a)) != CLI_GO)
        return rc;
    if (a.search)
        return search(&a);
    return a.path ? probe_model(&a) : measure(&a);
}
