/* suture-gen: writes test checkpoints as Hugging Face model folders.
 *
 *   suture-gen --preset llama|mistral|qwen2|gemma|gemma2|phi3 [dimensions]
 *              [--dtype D] [--sliding-window N]
 *              [--shards N] [--redundant-head] [--seed S] -o OUT
 *     a small model with seeded random values (uniform in [-0.05, 0.05],
 *     norms near 1), the family's config.json, generation_config.json and
 *     tokenizer files;
 *   suture-gen --from-config config.json [--index INDEX] [dimensions]
 *              [--dtype D] [--shards N] [--redundant-head] -o OUT
 *     every tensor of a real configuration with its real name, dtype and
 *     shape, data left as a sparse hole so the files cost no disk; with an
 *     index, the same shard files and placement.
 *
 * The folder is written under OUT.partial-PID and renamed to OUT at the end,
 * so a failure never leaves a folder that looks whole. Exit status: 0 done,
 * 1 writing failed, 2 bad arguments or unusable input. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <xxhash.h>

#include "suture/convert.h"
#include "suture/safetensors.h"
#include "common/util.h"
#include "common/checked.h"

#define EXIT_WRITE 1
#define EXIT_USAGE 2
#define SHARD_BYTES 5000000000ull /* transformers' max_shard_size "5GB" */
#define CONFIG_MAX (16u << 20)
#define COPY_MAX (256u << 20)
#define DIM_MAX (1ull << 31)
#define CHUNK 65536

/* ---- model families ---------------------------------------------------- */

typedef struct family family;
typedef void (*preset_keys_fn)(cJSON *config, const uint64_t *dim);

static void llama_keys(cJSON *c, const uint64_t *dim);
static void mistral_keys(cJSON *c, const uint64_t *dim);
static void qwen2_keys(cJSON *c, const uint64_t *dim);
static void gemma2_keys(cJSON *c, const uint64_t *dim);
static void gemma_keys(cJSON *c, const uint64_t *dim);
static void phi3_keys(cJSON *c, const uint64_t *dim);

struct family {
    const char *type;      /* model_type */
    const char *cls;       /* architectures[0] */
    const char *tokenizer; /* tokenizer_class */
    preset_keys_fn preset; /* the config keys of its --preset, or NULL */
    bool tied;             /* tie_word_embeddings default */
    bool qkv_bias;         /* q/k/v projections have biases */
    bool ff_norms;         /* pre/post feedforward layernorms */
    bool qk_norm;          /* q_norm / k_norm of head_dim */
    bool norm_offset;      /* norm weights stored as w in (1 + w) */
    bool fused;            /* phi3: qkv_proj and gate_up_proj */
};

static const family families[] = {
    {"llama", "LlamaForCausalLM", "LlamaTokenizer", llama_keys, false, false, false, false, false, false},
    {"mistral", "MistralForCausalLM", "LlamaTokenizer", mistral_keys, false, false, false, false, false, false},
    {"qwen2", "Qwen2ForCausalLM", "Qwen2Tokenizer", qwen2_keys, false, true, false, false, false, false},
    {"gemma2", "Gemma2ForCausalLM", "GemmaTokenizer", gemma2_keys, true, false, true, false, true, false},
    {"qwen3", "Qwen3ForCausalLM", "Qwen2Tokenizer", NULL, false, false, false, true, false, false},
    {"gemma", "GemmaForCausalLM", "GemmaTokenizer", gemma_keys, true, false, false, false, true, false},
    {"phi3", "Phi3ForCausalLM", "LlamaTokenizer", phi3_keys, false, false, false, false, false, true},
    {"gemma3_text", "Gemma3ForCausalLM", "GemmaTokenizer", NULL, true, false, true, true, true, false},
};

static const family *family_by_type(const char *type, bool preset_only)
{
    size_t i;

    for (i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        if (strcmp(families[i].type, type) == 0 &&
            (!preset_only || families[i].preset))
            return &families[i];
    return NULL;
}

/* ---- options ----------------------------------------------------------- */

enum { D_LAYERS, D_HIDDEN, D_INTER, D_HEADS, D_KV, D_HEAD_DIM, D_VOCAB, D_COUNT };

static const char *const dim_keys[D_COUNT] = {
    "num_hidden_layers", "hidden_size", "intermediate_size",
    "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size",
};

static const char *const dim_opts[D_COUNT] = {
    "layers", "hidden", "intermediate", "heads", "kv-heads", "head-dim",
    "vocab",
};

typedef struct options {
    const char *preset, *config, *index, *out;
    uint64_t dim[D_COUNT];     /* 0: not given */
    bool has_dtype;
    st_dtype dtype;
    uint64_t shards;           /* 0: not given */
    bool redundant_head;
    bool has_seed;
    uint64_t seed;
    uint64_t sliding_window;   /* 0: the preset's */
} options;

static void usage(FILE *to)
{
    fprintf(to,
        "usage: suture-gen --preset llama|mistral|qwen2|gemma|gemma2|phi3\n"
        "                  [--layers N]\n"
        "                  [--hidden H] [--intermediate I] [--heads A]\n"
        "                  [--kv-heads K] [--head-dim D] [--vocab V]\n"
        "                  [--dtype f32|f16|bf16] [--shards N]\n"
        "                  [--redundant-head] [--seed S]\n"
        "                  [--sliding-window N] -o OUT\n"
        "       suture-gen --from-config config.json\n"
        "                  [--index model.safetensors.index.json]\n"
        "                  [dimensions as above] [--dtype ...] [--shards N]\n"
        "                  [--redundant-head] -o OUT\n"
        "\n"
        "--preset writes a small model with seeded random values; --from-config\n"
        "writes every tensor of a real configuration as a sparse hole (no disk).\n"
        "Exit status: 0 done, 1 writing failed, 2 bad arguments or input.\n");
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad(const char *fmt, ...)
{
    va_list ap;

    fputs("suture-gen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

/* Parses a whole number in [min, max]; 0 or -1. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_dtype(const char *s, st_dtype *out)
{
    if (strcmp(s, "f32") == 0 || strcmp(s, "float32") == 0)
        *out = ST_F32;
    else if (strcmp(s, "f16") == 0 || strcmp(s, "float16") == 0)
        *out = ST_F16;
    else if (strcmp(s, "bf16") == 0 || strcmp(s, "bfloat16") == 0)
        *out = ST_BF16;
    else
        return -1;
    return 0;
}

static const char *torch_dtype(st_dtype dt)
{
    return dt == ST_F32 ? "float32" : dt == ST_F16 ? "float16" : "bfloat16";
}

enum { O_PRESET = 256, O_CONFIG, O_INDEX, O_DTYPE, O_SHARDS, O_REDUNDANT,
       O_SEED, O_SLIDING, O_DIM };

static const struct option long_opts[] = {
    {"preset", required_argument, NULL, O_PRESET},
    {"from-config", required_argument, NULL, O_CONFIG},
    {"index", required_argument, NULL, O_INDEX},
    {"dtype", required_argument, NULL, O_DTYPE},
    {"shards", required_argument, NULL, O_SHARDS},
    {"redundant-head", no_argument, NULL, O_REDUNDANT},
    {"seed", required_argument, NULL, O_SEED},
    {"sliding-window", required_argument, NULL, O_SLIDING},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {"layers", required_argument, NULL, O_DIM + D_LAYERS},
    {"hidden", required_argument, NULL, O_DIM + D_HIDDEN},
    {"intermediate", required_argument, NULL, O_DIM + D_INTER},
    {"heads", required_argument, NULL, O_DIM + D_HEADS},
    {"kv-heads", required_argument, NULL, O_DIM + D_KV},
    {"head-dim", required_argument, NULL, O_DIM + D_HEAD_DIM},
    {"vocab", required_argument, NULL, O_DIM + D_VOCAB},
    {NULL, 0, NULL, 0},
};

/* Handles one option; 0, or an exit status. */
static int take_option(options *o, int c, const char *arg)
{
    switch (c) {
    case O_PRESET: o->preset = arg; return 0;
    case O_CONFIG: o->config = arg; return 0;
    case O_INDEX: o->index = arg; return 0;
    case 'o': o->out = arg; return 0;
    case O_REDUNDANT: o->redundant_head = true; return 0;
    case O_DTYPE:
        o->has_dtype = true;
        return parse_dtype(arg, &o->dtype) == 0 ? 0
            : bad("--dtype: '%s' is not f32, f16 or bf16", arg);
    case O_SHARDS:
        return parse_u64(arg, 1, 99999, &o->shards) == 0 ? 0
            : bad("--shards: '%s' is not a whole number from 1 to 99999", arg);
    case O_SLIDING:
        return parse_u64(arg, 1, DIM_MAX, &o->sliding_window) == 0 ? 0
            : bad("--sliding-window: '%s' is not a whole number from 1 to %llu",
                  arg, DIM_MAX);
    case O_SEED:
        o->has_seed = true;
        return parse_u64(arg, 0, UINT64_MAX, &o->seed) == 0 ? 0
            : bad("--seed: '%s' is not a whole number", arg);
    default:
        return parse_u64(arg, 1, DIM_MAX, &o->dim[c - O_DIM]) == 0 ? 0
            : bad("--%s: '%s' is not a whole number from 1 to %llu",
                  dim_opts[c - O_DIM], arg, DIM_MAX);
    }
}

static int check_options(const options *o)
{
    if (!o->preset == !o->config)
        return bad("give exactly one of --preset and --from-config");
    if (!o->out)
        return bad("-o OUT is required");
    if (o->preset && !family_by_type(o->preset, true))
        return bad("--preset: '%s' is not llama, mistral, qwen2, gemma, "
                   "gemma2 or phi3",
                   o->preset);
    if (o->index && !o->config)
        return bad("--index needs --from-config");
    if (o->index && o->shards)
        return bad("--shards and --index exclude each other: the index "
                   "decides the shards");
    if (o->sliding_window && o->config)
        return bad("--sliding-window applies to --preset only");
    if (o->has_seed && o->config)
        return bad("--seed applies to --preset only (--from-config writes "
                   "no values)");
    return 0;
}

/* Parses argv into o; 0, -1 for --help, or an exit status. */
static int parse_args(int argc, char **argv, options *o)
{
    int c, rc;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", long_opts, NULL)) != -1) {
        if (c == 'h')
            return -1;
        if (c == ':')
            return bad("option '%s' needs a value", argv[optind - 1]);
        if (c == '?')
            return bad("unknown option '%s' (see --help)", argv[optind - 1]);
        if ((rc = take_option(o, c, optarg)) != 0)
            return rc;
    }
    if (optind < argc)
        return bad("unexpected argument '%s'", argv[optind]);
    return check_options(o);
}

/* ---- configs ------------------------------------------------------------ */

/* Sets key of obj to item (replacing any value); item is owned by obj. */
static void set_item(cJSON *obj, const char *key, cJSON *item)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, key))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item);
    else
        cJSON_AddItemToObject(obj, key, item);
}

static void set_num(cJSON *obj, const char *key, double v)
{
    set_item(obj, key, cJSON_CreateNumber(v));
}

static void set_str(cJSON *obj, const char *key, const char *v)
{
    set_item(obj, key, cJSON_CreateString(v));
}

static void set_bool(cJSON *obj, const char *key, bool v)
{
    set_item(obj, key, cJSON_CreateBool(v));
}

/* Reorders the members of obj by key, as transformers writes configs
 * (json.dumps(sort_keys=True)). */
static void sort_keys(cJSON *obj)
{
    cJSON *sorted = NULL, *it = obj->child;

    while (it) {
        cJSON *next = it->next, **pp = &sorted, *prev = NULL;
        while (*pp && strcmp((*pp)->string, it->string) < 0) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        it->next = *pp;
        it->prev = prev;
        if (*pp)
            (*pp)->prev = it;
        *pp = it;
        it = next;
    }
    if (sorted) {
        for (it = sorted; it->next; it = it->next)
            ;
        sorted->prev = it; /* cJSON keeps the tail in the head's prev */
    }
    obj->child = sorted;
}

/* Default dimensions of a preset: small, but every layer has all its
 * tensors and heads divide evenly. */
static const uint64_t preset_dims[D_COUNT] = {4, 64, 128, 4, 2, 0, 256};

static cJSON *preset_config(const family *f, const options *o,
                            const uint64_t *dim)
{
    cJSON *c = cJSON_CreateObject();
    cJSON *arch = cJSON_CreateArray();
    bool gemma = f->norm_offset;
    size_t i;

    cJSON_AddItemToArray(arch, cJSON_CreateString(f->cls));
    cJSON_AddItemToObject(c, "architectures", arch);
    set_str(c, "model_type", f->type);
    for (i = 0; i < D_COUNT; i++)
        if (i != D_HEAD_DIM || strcmp(f->type, "qwen2") != 0 ||
            dim[D_HEAD_DIM] * dim[D_HEADS] != dim[D_HIDDEN])
            set_num(c, dim_keys[i], (double)dim[i]);
    set_num(c, "attention_dropout", 0.0);
    set_num(c, "bos_token_id", gemma ? 2 : 1);
    set_num(c, "eos_token_id", gemma ? 1 : 2);
    set_str(c, "hidden_act", gemma ? "gelu_pytorch_tanh" : "silu");
    set_num(c, "initializer_range", 0.02);
    set_num(c, "rms_norm_eps", strcmp(f->type, "llama") == 0 ||
                                   strcmp(f->type, "mistral") == 0 ? 1e-5 : 1e-6);
    set_bool(c, "tie_word_embeddings", f->tied || o->redundant_head);
    set_str(c, "torch_dtype", torch_dtype(o->has_dtype ? o->dtype : ST_BF16));
    set_bool(c, "use_cache", true);
    f->preset(c, dim);
    if (o->sliding_window)
        set_num(c, "sliding_window", (double)o->sliding_window);
    sort_keys(c);
    return c;
}

/* The keys of each family's config beyond the common ones, with the
 * values of a recent model of the family (Llama 3, Mistral 7B v0.1,
 * Qwen2.5, Gemma 2). */
static void llama_keys(cJSON *c, const uint64_t *dim)
{
    set_bool(c, "attention_bias", false);
    set_num(c, "max_position_embeddings", 8192);
    set_bool(c, "mlp_bias", false);
    set_num(c, "pretraining_tp", 1);
    set_item(c, "rope_scaling", cJSON_CreateNull());
    set_num(c, "rope_theta", 500000.0);
}

static void mistral_keys(cJSON *c, const uint64_t *dim)
{
    set_num(c, "max_position_embeddings", 32768);
    set_num(c, "rope_theta", 10000.0);
    set_num(c, "sliding_window", 4096);
}

static void qwen2_keys(cJSON *c, const uint64_t *dim)
{
    set_num(c, "max_position_embeddings", 32768);
    set_num(c, "max_window_layers", (double)dim[D_LAYERS]);
    set_num(c, "rope_theta", 1000000.0);
    set_num(c, "sliding_window", 32768);
    set_bool(c, "use_sliding_window", false);
}

static void gemma_keys(cJSON *c, const uint64_t *dim)
{
    set_bool(c, "attention_bias", false);
    set_num(c, "max_position_embeddings", 8192);
    set_num(c, "pad_token_id", 0);
    set_num(c, "rope_theta", 10000.0);
}

static void phi3_keys(cJSON *c, const uint64_t *dim)
{
    set_bool(c, "attention_bias", false);
    set_num(c, "max_position_embeddings", 4096);
    set_num(c, "original_max_position_embeddings", 4096);
    set_num(c, "pad_token_id", 32000);
    set_item(c, "rope_scaling", cJSON_CreateNull());
    set_num(c, "rope_theta", 10000.0);
    set_num(c, "sliding_window", 2047);
}

static void gemma2_keys(cJSON *c, const uint64_t *dim)
{
    set_bool(c, "attention_bias", false);
    set_num(c, "attn_logit_softcapping", 50.0);
    set_str(c, "cache_implementation", "hybrid");
    set_num(c, "final_logit_softcapping", 30.0);
    set_str(c, "hidden_activation", "gelu_pytorch_tanh");
    set_num(c, "max_position_embeddings", 8192);
    set_num(c, "pad_token_id", 0);
    set_num(c, "query_pre_attn_scalar", (double)dim[D_HEAD_DIM]);
    set_num(c, "rope_theta", 10000.0);
    set_num(c, "sliding_window", 4096);
}

/* A dimension of config: 0 when absent or null (the caller defaults it),
 * -1 when not a whole number in [1, DIM_MAX]. */
static int config_dim(const cJSON *config, const char *key, uint64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(config, key);

    *out = 0;
    if (!it || cJSON_IsNull(it))
        return 0;
    if (sut_json_u64(it, out) != 0 || *out < 1 || *out > DIM_MAX)
        return -1;
    return 0;
}

/* Fills dim[] from the options, else config (may be NULL), else defaults
 * (may be NULL); checks they fit together. 0, or an exit status (message
 * printed). */
static int resolve_dims(const cJSON *config, const options *o,
                        const uint64_t *defaults, uint64_t *dim,
                        const char *label)
{
    size_t i;

    for (i = 0; i < D_COUNT; i++) {
        if (config_dim(config, dim_keys[i], &dim[i]) != 0)
            return bad("%s: %s is not a whole number from 1 to %llu", label,
                       dim_keys[i], DIM_MAX);
        if (o->dim[i])
            dim[i] = o->dim[i];
        if (!dim[i] && defaults)
            dim[i] = defaults[i];
    }
    if (!dim[D_KV])
        dim[D_KV] = dim[D_HEADS];
    for (i = 0; i < D_COUNT; i++)
        if (!dim[i] && i != D_HEAD_DIM)
            return bad("%s: %s is missing", label, dim_keys[i]);
    if (dim[D_HEADS] % dim[D_KV] != 0)
        return bad("%s: num_attention_heads %" PRIu64 " is not a multiple "
                   "of num_key_value_heads %" PRIu64, label, dim[D_HEADS],
                   dim[D_KV]);
    if (!dim[D_HEAD_DIM] && dim[D_HIDDEN] % dim[D_HEADS] != 0)
        return bad("%s: hidden_size %" PRIu64 " is not a multiple of "
                   "num_attention_heads %" PRIu64 " (give head_dim)", label,
                   dim[D_HIDDEN], dim[D_HEADS]);
    if (!dim[D_HEAD_DIM])
        dim[D_HEAD_DIM] = dim[D_HIDDEN] / dim[D_HEADS];
    return 0;
}

/* Rewrites a per-layer array ("layer_types") to n entries, repeating its
 * pattern, when the layer count changed. */
static void resize_layer_array(cJSON *config, const char *key, uint64_t n)
{
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(config, key);
    cJSON *fresh;
    int len, i;

    if (!cJSON_IsArray(arr) || (len = cJSON_GetArraySize(arr)) == 0 ||
        (uint64_t)len == n)
        return;
    fresh = cJSON_CreateArray();
    for (i = 0; (uint64_t)i < n; i++)
        cJSON_AddItemToArray(fresh,
                             cJSON_Duplicate(cJSON_GetArrayItem(arr, i % len), 1));
    cJSON_ReplaceItemInObjectCaseSensitive(config, key, fresh);
}

/* Writes the options' overrides into a real config. */
static void apply_overrides(cJSON *config, const options *o, const uint64_t *dim,
                            st_dtype dtype)
{
    size_t i;

    for (i = 0; i < D_COUNT; i++)
        if (o->dim[i])
            set_num(config, dim_keys[i], (double)dim[i]);
    if (o->dim[D_LAYERS]) {
        resize_layer_array(config, "layer_types", dim[D_LAYERS]);
        if (cJSON_GetObjectItemCaseSensitive(config, "max_window_layers"))
            set_num(config, "max_window_layers", (double)dim[D_LAYERS]);
    }
    if (o->has_dtype) {
        set_str(config, "torch_dtype", torch_dtype(dtype));
        if (cJSON_GetObjectItemCaseSensitive(config, "dtype"))
            set_str(config, "dtype", torch_dtype(dtype));
    }
    if (o->redundant_head)
        set_bool(config, "tie_word_embeddings", true);
}

/* The dtype of a real config: --dtype, else "torch_dtype" (or "dtype").
 * 0, or an exit status. */
static int config_dtype(const cJSON *config, const options *o,
                        const char *label, st_dtype *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(config, "torch_dtype");

    if (o->has_dtype) {
        *out = o->dtype;
        return 0;
    }
    if (!it)
        it = cJSON_GetObjectItemCaseSensitive(config, "dtype");
    if (!cJSON_IsString(it))
        return bad("%s: no torch_dtype; give --dtype", label);
    if (parse_dtype(it->valuestring, out) != 0)
        return bad("%s: torch_dtype '%s' is not float32, float16 or "
                   "bfloat16; give --dtype", label, it->valuestring);
    return 0;
}

static bool config_tied(const cJSON *config, const family *f)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(config, "tie_word_embeddings");

    return cJSON_IsBool(it) ? cJSON_IsTrue(it) : f->tied;
}

static bool config_flag(const cJSON *config, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(config, key));
}

/* ---- the tensor plan ------------------------------------------------------ */

typedef enum kind { K_WEIGHT, K_NORM, K_BIAS } kind;

typedef struct tdef {
    char *name;
    size_t ndim;
    uint64_t shape[2];
    long layer;          /* -1 before the layers, -2 after */
    kind kind;
    const char *seed_of; /* the name whose values it gets (lm_head copies) */
    size_t shard;
    uint64_t bytes;
} tdef;

typedef struct plan {
    tdef *t;             /* canonical order: embed, layers, norm, head */
    size_t n, cap;
    st_dtype dtype;
    uint64_t layers;
    bool norm_offset;
    char **shards;       /* file names */
    size_t nshards;
    uint64_t total, params;
} plan;

static void plan_free(plan *p)
{
    size_t i;

    for (i = 0; i < p->n; i++)
        free(p->t[i].name);
    for (i = 0; i < p->nshards; i++)
        free(p->shards[i]);
    free(p->t);
    free(p->shards);
}

/* Appends a tensor; 0 or -1 (out of memory, or its size overflows). */
static int plan_add(plan *p, long layer, const char *local, kind k,
                    uint64_t d0, uint64_t d1)
{
    char buf[256];
    tdef *t;
    uint64_t elems;

    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        tdef *grown = realloc(p->t, cap * sizeof(*grown));
        if (!grown)
            return -1;
        p->t = grown;
        p->cap = cap;
    }
    if (layer >= 0)
        snprintf(buf, sizeof(buf), "model.layers.%ld.%s", layer, local);
    else
        snprintf(buf, sizeof(buf), "%s", local);
    t = &p->t[p->n];
    memset(t, 0, sizeof(*t));
    t->layer = layer;
    t->kind = k;
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    if (ck_mul(d0, d1 ? d1 : 1, &elems) != 0 ||
        ck_mul(elems, st_dtype_bits(p->dtype) / 8, &t->bytes) != 0 ||
        ck_add(p->total, t->bytes, &p->total) != 0 ||
        p->total > SUT_JSON_INT_MAX || !(t->name = strdup(buf)))
        return -1;
    p->params += elems;
    t->seed_of = t->name;
    p->n++;
    return 0;
}

/* The tensors of one layer in the order transformers' modules hold them
 * (attention, MLP, then norms), which decides how save_pretrained fills
 * 5 GB shards. */
static int plan_layer(plan *p, const family *f, const cJSON *config, long i,
                      const uint64_t *dim)
{
    uint64_t h = dim[D_HIDDEN], in = dim[D_INTER], hd = dim[D_HEAD_DIM];
    uint64_t q = dim[D_HEADS] * hd, kv = dim[D_KV] * hd;
    bool abias = f->qkv_bias || config_flag(config, "attention_bias");
    bool obias = config_flag(config, "attention_bias");
    bool mbias = config_flag(config, "mlp_bias");
    int rc = 0;

    if (f->fused) {
        rc |= plan_add(p, i, "self_attn.qkv_proj.weight", K_WEIGHT, q + 2 * kv, h);
        rc |= plan_add(p, i, "self_attn.o_proj.weight", K_WEIGHT, h, q);
        rc |= plan_add(p, i, "mlp.gate_up_proj.weight", K_WEIGHT, 2 * in, h);
        rc |= plan_add(p, i, "mlp.down_proj.weight", K_WEIGHT, h, in);
        rc |= plan_add(p, i, "input_layernorm.weight", K_NORM, h, 0);
        rc |= plan_add(p, i, "post_attention_layernorm.weight", K_NORM, h, 0);
        return rc ? -1 : 0;
    }
    rc |= plan_add(p, i, "self_attn.q_proj.weight", K_WEIGHT, q, h);
    if (abias)
        rc |= plan_add(p, i, "self_attn.q_proj.bias", K_BIAS, q, 0);
    rc |= plan_add(p, i, "self_attn.k_proj.weight", K_WEIGHT, kv, h);
    if (abias)
        rc |= plan_add(p, i, "self_attn.k_proj.bias", K_BIAS, kv, 0);
    rc |= plan_add(p, i, "self_attn.v_proj.weight", K_WEIGHT, kv, h);
    if (abias)
        rc |= plan_add(p, i, "self_attn.v_proj.bias", K_BIAS, kv, 0);
    rc |= plan_add(p, i, "self_attn.o_proj.weight", K_WEIGHT, h, q);
    if (obias)
        rc |= plan_add(p, i, "self_attn.o_proj.bias", K_BIAS, h, 0);
    if (f->qk_norm) {
        rc |= plan_add(p, i, "self_attn.q_norm.weight", K_NORM, hd, 0);
        rc |= plan_add(p, i, "self_attn.k_norm.weight", K_NORM, hd, 0);
    }
    rc |= plan_add(p, i, "mlp.gate_proj.weight", K_WEIGHT, in, h);
    if (mbias)
        rc |= plan_add(p, i, "mlp.gate_proj.bias", K_BIAS, in, 0);
    rc |= plan_add(p, i, "mlp.up_proj.weight", K_WEIGHT, in, h);
    if (mbias)
        rc |= plan_add(p, i, "mlp.up_proj.bias", K_BIAS, in, 0);
    rc |= plan_add(p, i, "mlp.down_proj.weight", K_WEIGHT, h, in);
    if (mbias)
        rc |= plan_add(p, i, "mlp.down_proj.bias", K_BIAS, h, 0);
    rc |= plan_add(p, i, "input_layernorm.weight", K_NORM, h, 0);
    rc |= plan_add(p, i, "post_attention_layernorm.weight", K_NORM, h, 0);
    if (f->ff_norms) {
        rc |= plan_add(p, i, "pre_feedforward_layernorm.weight", K_NORM, h, 0);
        rc |= plan_add(p, i, "post_feedforward_layernorm.weight", K_NORM, h, 0);
    }
    return rc ? -1 : 0;
}

/* Every tensor of the model in canonical order. 0, or an exit status. */
static int plan_tensors(plan *p, const family *f, const cJSON *config,
                        const uint64_t *dim, bool redundant_head)
{
    uint64_t v = dim[D_VOCAB], h = dim[D_HIDDEN];
    bool head = redundant_head || !config_tied(config, f);
    long i;

    p->norm_offset = f->norm_offset;
    p->layers = dim[D_LAYERS];
    if (plan_add(p, -1, "model.embed_tokens.weight", K_WEIGHT, v, h) != 0)
        goto fail;
    for (i = 0; (uint64_t)i < dim[D_LAYERS]; i++)
        if (plan_layer(p, f, config, i, dim) != 0)
            goto fail;
    if (plan_add(p, -2, "model.norm.weight", K_NORM, h, 0) != 0)
        goto fail;
    if (head && plan_add(p, -2, "lm_head.weight", K_WEIGHT, v, h) != 0)
        goto fail;
    if (head && redundant_head)
        p->t[p->n - 1].seed_of = p->t[0].name;
    return 0;
fail:
    return bad("the model is too large to describe (sizes overflow)");
}

/* ---- shard layout ---------------------------------------------------------- */

static int add_shard_name(plan *p, const char *name)
{
    char **grown = realloc(p->shards, (p->nshards + 1) * sizeof(*grown));

    if (!grown)
        return -1;
    p->shards = grown;
    if (!(p->shards[p->nshards] = strdup(name)))
        return -1;
    p->nshards++;
    return 0;
}

/* Names shards model-0000K-of-0000N.safetensors, or model.safetensors for
 * one. */
static int name_shards(plan *p, size_t n)
{
    char buf[64];
    size_t k;

    for (k = 0; k < n; k++) {
        if (n == 1)
            snprintf(buf, sizeof(buf), "model.safetensors");
        else
            snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors",
                     k + 1, n);
        if (add_shard_name(p, buf) != 0)
            return -1;
    }
    return 0;
}

/* The unit (whole layer, or a lone non-layer tensor) of tensor i. */
static bool same_unit(const plan *p, size_t i)
{
    return i > 0 && p->t[i].layer >= 0 && p->t[i].layer == p->t[i - 1].layer;
}

/* Splits into n shards of whole layers with about equal bytes: a unit goes
 * to the shard its middle byte falls in, never skipping a shard and leaving
 * each later shard at least one unit. 0, or an exit status. */
static int layout_by_count(plan *p, size_t n)
{
    size_t i, units = 0, seen = 0, s = 0;
    uint64_t before = 0;

    for (i = 0; i < p->n; i++)
        units += !same_unit(p, i);
    if (n > units)
        return bad("--shards %zu: the model has only %zu whole layers and "
                   "other tensors to spread", n, units);
    for (i = 0; i < p->n; i++) {
        uint64_t unit = 0, mid;
        size_t j, want;
        if (same_unit(p, i)) {
            p->t[i].shard = s;
            continue;
        }
        for (j = i; j < p->n && (j == i || same_unit(p, j)); j++)
            unit += p->t[j].bytes;
        mid = before + unit / 2;
        want = p->total ? (size_t)((long double)mid * n / p->total) : 0;
        if (seen == 0)
            want = 0;
        else if (want < s)
            want = s;
        else if (want > s + 1)
            want = s + 1;
        if (units - seen < n && want < n - (units - seen))
            want = n - (units - seen);
        s = want;
        p->t[i].shard = s;
        before += unit;
        seen++;
    }
    return name_shards(p, n) == 0 ? 0 : bad("out of memory");
}

/* Packs tensors in order into shards of at most 5 GB, as transformers'
 * save_pretrained does (a tensor larger than that gets a shard alone). */
static int layout_by_size(plan *p)
{
    uint64_t cur = 0;
    size_t i, s = 0;

    for (i = 0; i < p->n; i++) {
        if (cur > 0 && cur + p->t[i].bytes > SHARD_BYTES) {
            s++;
            cur = 0;
        }
        p->t[i].shard = s;
        cur += p->t[i].bytes;
    }
    return name_shards(p, s + 1) == 0 ? 0 : bad("out of memory");
}

static long shard_index(plan *p, const char *file)
{
    size_t k;

    for (k = 0; k < p->nshards; k++)
        if (strcmp(p->shards[k], file) == 0)
            return (long)k;
    if (add_shard_name(p, file) != 0)
        return -1;
    return (long)p->nshards - 1;
}

/* A file name an index may use: a plain name, no folders. */
static bool safe_file_name(const char *s)
{
    return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* True when the index names a layer tensor beyond the planned layers (the
 * --layers override cut it). */
static bool cut_layer(const plan *p, const char *name)
{
    const char *digits = name + strlen("model.layers.");
    char *end;
    unsigned long long layer;

    if (strncmp(name, "model.layers.", strlen("model.layers.")) != 0 ||
        *digits < '0' || *digits > '9')
        return false;
    errno = 0;
    layer = strtoull(digits, &end, 10);
    return *end == '.' && (errno == ERANGE || layer >= p->layers);
}

static const tdef *find_tensor(const plan *p, const char *name)
{
    size_t i;

    for (i = 0; i < p->n; i++)
        if (strcmp(p->t[i].name, name) == 0)
            return &p->t[i];
    return NULL;
}

/* Places tensors as the index's weight_map says; a tensor it does not name
 * goes with the tensor before it. 0, or an exit status. */
static int layout_by_index(plan *p, const cJSON *index, const char *label)
{
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(index, "weight_map");
    const cJSON *it;
    size_t i;
    long *where;

    if (!cJSON_IsObject(map))
        return bad("%s: weight_map is missing or not an object", label);
    if (!(where = malloc((p->n ? p->n : 1) * sizeof(*where))))
        return bad("out of memory");
    for (i = 0; i < p->n; i++)
        where[i] = -1;
    cJSON_ArrayForEach(it, map) {
        const tdef *t = find_tensor(p, it->string);
        if (!cJSON_IsString(it) || !safe_file_name(it->valuestring)) {
            free(where);
            return bad("%s: weight_map: '%s' does not name a plain file",
                       label, it->string);
        }
        if (!t && cut_layer(p, it->string))
            continue;
        if (!t) {
            free(where);
            return bad("%s: weight_map: tensor '%s' is not one the config "
                       "describes", label, it->string);
        }
        if ((where[t - p->t] = shard_index(p, it->valuestring)) < 0) {
            free(where);
            return bad("out of memory");
        }
    }
    for (i = 0; i < p->n && where[i] < 0; i++)
        ;
    if (i == p->n) {
        free(where);
        return bad("%s: weight_map names none of the config's tensors", label);
    }
    where[0] = where[i];
    for (i = 0; i < p->n; i++)
        p->t[i].shard = (size_t)(where[i] >= 0 ? where[i]
                                 : (long)p->t[i - 1].shard);
    free(where);
    return 0;
}

/* ---- writing ------------------------------------------------------------------ */

static int cmp_tdef_ptr(const void *a, const void *b)
{
    return strcmp((*(const tdef *const *)a)->name, (*(const tdef *const *)b)->name);
}

/* The tensors of shard k sorted by name (the order real files use); count
 * in *n. NULL when out of memory. */
static const tdef **shard_tensors(const plan *p, size_t k, size_t *n)
{
    const tdef **out = malloc((p->n ? p->n : 1) * sizeof(*out));
    size_t i;

    *n = 0;
    if (!out)
        return NULL;
    for (i = 0; i < p->n; i++)
        if (p->t[i].shard == k)
            out[(*n)++] = &p->t[i];
    qsort(out, *n, sizeof(*out), cmp_tdef_ptr);
    return out;
}

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-0.05, 0.05). */
static float rng_small(rng *r)
{
    return (float)((double)(rng_next(r) >> 40) / 16777216.0 * 0.1 - 0.05);
}

/* Streams the values of t: seeded by the seed and the name in seed_of, so a
 * tensor's values do not depend on the shard layout. vals and out are
 * buffers of CHUNK floats. */
static int write_values(st_writer *w, const plan *p, const tdef *t,
                        uint64_t seed, float *vals, void *out, sut_error *err)
{
    rng r = {XXH3_64bits_withSeed(t->seed_of, strlen(t->seed_of), seed)};
    uint64_t left = t->bytes / (st_dtype_bits(p->dtype) / 8);
    size_t esize = st_dtype_bits(p->dtype) / 8;

    while (left > 0) {
        size_t i, n = left < CHUNK ? (size_t)left : CHUNK;
        for (i = 0; i < n; i++) {
            float v = rng_small(&r);
            vals[i] = t->kind == K_NORM && !p->norm_offset ? 1.0f + v : v;
        }
        cv_apply(ST_F32, p->dtype, 1.0f, vals, out, n);
        if (st_writer_write(w, out, n * esize, err) != 0)
            return -1;
        left -= n;
    }
    return 0;
}

/* Writes shard k with random values through st_writer. 0 or -1. */
static int write_random_shard(const plan *p, size_t k, const char *path,
                              uint64_t seed, sut_error *err)
{
    size_t n, i;
    const tdef **ts = shard_tensors(p, k, &n);
    float *vals = malloc(CHUNK * sizeof(*vals));
    void *buf = malloc(CHUNK * sizeof(*vals));
    st_writer *w = NULL;
    int rc = -1;

    if (!ts || !vals || !buf) {
        sut_error_set(err, "out of memory");
        goto out;
    }
    if (!(w = st_writer_create(path, err)))
        goto out;
    for (i = 0; i < n; i++)
        if (st_writer_add(w, ts[i]->name, p->dtype, ts[i]->ndim,
                          ts[i]->shape, err) != 0)
            goto out;
    if (st_writer_begin(w, err) != 0)
        goto out;
    for (i = 0; i < n; i++)
        if (write_values(w, p, ts[i], seed, vals, buf, err) != 0)
            goto out;
    rc = st_writer_finish(w, err);
out:
    st_writer_free(w);
    free(ts);
    free(vals);
    free(buf);
    return rc;
}

/* The header JSON of a shard: __metadata__ then each tensor, in order. */
static char *sparse_header(const plan *p, const tdef **ts, size_t n,
                           uint64_t *data)
{
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_CreateObject();
    char *text = NULL;
    size_t i, d;

    *data = 0;
    cJSON_AddStringToObject(meta, "format", "pt");
    cJSON_AddItemToObject(root, "__metadata__", meta);
    for (i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject(), *shape = cJSON_CreateArray();
        cJSON *offs = cJSON_CreateArray();
        for (d = 0; d < ts[i]->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)ts[i]->shape[d]));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)*data));
        *data += ts[i]->bytes;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)*data));
        cJSON_AddStringToObject(e, "dtype", st_dtype_name(p->dtype));
        cJSON_AddItemToObject(e, "shape", shape);
        cJSON_AddItemToObject(e, "data_offsets", offs);
        cJSON_AddItemToObject(root, ts[i]->name, e);
    }
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *c = buf;

    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes shard k's header and leaves its data a hole of the right size
 * (ftruncate), so the file costs one block. 0 or -1. */
static int write_sparse_shard(const plan *p, size_t k, const char *path,
                              sut_error *err)
{
    size_t n, len = 0, padded = 0;
    const tdef **ts = shard_tensors(p, k, &n);
    uint64_t data = 0;
    char *hdr = ts ? sparse_header(p, ts, n, &data) : NULL, *grown = NULL;
    unsigned char lenbuf[8];
    int fd = -1, rc = -1, b;

    if (hdr) {
        len = strlen(hdr);
        padded = (len + 7) & ~(size_t)7;
        grown = realloc(hdr, padded + 1);
    }
    if (!grown) {
        sut_error_set(err, "out of memory");
        goto out;
    }
    hdr = grown;
    memset(hdr + len, ' ', padded - len);
    for (b = 0; b < 8; b++)
        lenbuf[b] = (unsigned char)((uint64_t)padded >> (8 * b));
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, lenbuf, 8) != 0 ||
        write_all(fd, hdr, padded) != 0 ||
        ftruncate(fd, (off_t)(8 + padded + data)) != 0 || close(fd) != 0) {
        sut_error_set(err, "%s: write failed: %s", sut_basename(path),
                      strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out;
    }
    rc = 0;
out:
    free(hdr);
    free(ts);
    return rc;
}

/* Writes a JSON document as text plus a newline. 0 or -1. */
static int write_json(const char *dir, const char *name, const cJSON *doc,
                      sut_error *err)
{
    char *text = cJSON_Print(doc), *path = sut_path_join(dir, name);
    int rc = -1;

    if (!text || !path) {
        sut_error_set(err, "%s: out of memory", name);
    } else {
        size_t len = strlen(text);
        text[len] = '\n';
        rc = sut_write_file(path, text, len + 1, err);
    }
    free(text);
    free(path);
    return rc;
}

static int write_index(const char *dir, const plan *p, sut_error *err)
{
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_CreateObject();
    cJSON *map = cJSON_CreateObject();
    size_t i;
    int rc;

    cJSON_AddItemToObject(meta, "total_size", cJSON_CreateNumber((double)p->total));
    cJSON_AddItemToObject(root, "metadata", meta);
    for (i = 0; i < p->n; i++)
        cJSON_AddStringToObject(map, p->t[i].name, p->shards[p->t[i].shard]);
    sort_keys(map);
    cJSON_AddItemToObject(root, "weight_map", map);
    rc = write_json(dir, "model.safetensors.index.json", root, err);
    cJSON_Delete(root);
    return rc;
}

/* True when some tensor lives in shard k. */
static bool shard_used(const plan *p, size_t k)
{
    size_t i;

    for (i = 0; i < p->n; i++)
        if (p->t[i].shard == k)
            return true;
    return false;
}

/* Writes every shard (random values when sparse is false) and, for more
 * than one, the index. 0 or -1. */
static int write_shards(const char *dir, const plan *p, bool sparse,
                        uint64_t seed, sut_error *err)
{
    size_t k;

    for (k = 0; k < p->nshards; k++) {
        char *path;
        int rc;
        if (!shard_used(p, k))
            continue;
        if (!(path = sut_path_join(dir, p->shards[k]))) {
            sut_error_set(err, "out of memory");
            return -1;
        }
        rc = sparse ? write_sparse_shard(p, k, path, err)
                    : write_random_shard(p, k, path, seed, err);
        free(path);
        if (rc != 0)
            return -1;
    }
    if (p->nshards > 1 || strcmp(p->shards[0], "model.safetensors") != 0)
        return write_index(dir, p, err);
    return 0;
}

/* ---- the small files ------------------------------------------------------------ */

static int write_preset_extras(const char *dir, const family *f, sut_error *err)
{
    bool gemma = f->norm_offset, qwen = strcmp(f->type, "qwen2") == 0;
    const char *bos = gemma ? "<bos>" : qwen ? NULL : "<s>";
    const char *eos = gemma ? "<eos>" : qwen ? "<|endoftext|>" : "</s>";
    cJSON *gen = cJSON_CreateObject(), *tok = cJSON_CreateObject();
    cJSON *map = cJSON_CreateObject();
    int rc;

    set_bool(gen, "_from_model_config", true);
    set_num(gen, "bos_token_id", gemma ? 2 : 1);
    set_num(gen, "eos_token_id", gemma ? 1 : 2);
    if (gemma)
        set_num(gen, "pad_token_id", 0);
    set_bool(tok, "add_bos_token", !qwen);
    set_bool(tok, "add_eos_token", false);
    set_item(tok, "bos_token", bos ? cJSON_CreateString(bos) : cJSON_CreateNull());
    set_bool(tok, "clean_up_tokenization_spaces", false);
    set_str(tok, "eos_token", eos);
    set_num(tok, "model_max_length", 8192);
    set_str(tok, "pad_token", gemma ? "<pad>" : eos);
    set_str(tok, "tokenizer_class", f->tokenizer);
    if (!qwen)
        set_str(tok, "unk_token", "<unk>");
    if (bos)
        set_str(map, "bos_token", bos);
    set_str(map, "eos_token", eos);
    set_str(map, "pad_token", gemma ? "<pad>" : eos);
    if (!qwen)
        set_str(map, "unk_token", "<unk>");
    rc = write_json(dir, "generation_config.json", gen, err) ||
         write_json(dir, "tokenizer_config.json", tok, err) ||
         write_json(dir, "special_tokens_map.json", map, err) ? -1 : 0;
    cJSON_Delete(gen);
    cJSON_Delete(tok);
    cJSON_Delete(map);
    return rc;
}

/* Copies the tokenizer and generation files that sit next to a real
 * config, when present. 0 or -1. */
static int copy_config_extras(const char *dir, const char *config_path,
                              sut_error *err)
{
    static const char *const names[] = {
        "generation_config.json", "tokenizer_config.json",
        "special_tokens_map.json", "tokenizer.json", "tokenizer.model",
    };
    char *src_dir = strdup(config_path), *slash;
    size_t i;
    int rc = 0;

    if (!src_dir)
        return -1;
    slash = strrchr(src_dir, '/');
    if (slash)
        *slash = '\0';
    for (i = 0; i < sizeof(names) / sizeof(names[0]) && rc == 0; i++) {
        char *from = sut_path_join(slash ? src_dir : ".", names[i]);
        char *to = sut_path_join(dir, names[i]);
        char *data = NULL;
        size_t len;
        if (!from || !to)
            rc = -1;
        else if (access(from, F_OK) == 0 &&
                 (!(data = sut_read_file(from, COPY_MAX, &len, err)) ||
                  sut_write_file(to, data, len, err) != 0))
            rc = -1;
        free(data);
        free(from);
        free(to);
    }
    free(src_dir);
    return rc;
}

/* ---- the output folder ------------------------------------------------------------ */

/* mkdir -p of the folder that will hold path. 0 or -1. */
static int make_parents(const char *path)
{
    char *copy = strdup(path), *p;
    int rc = 0;

    if (!copy)
        return -1;
    for (p = copy + 1; *p && rc == 0; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0755) != 0 && errno != EEXIST)
            rc = -1;
        *p = '/';
    }
    free(copy);
    return rc;
}

/* 0 when path is absent or an empty folder, else an exit status. */
static int check_out(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (stat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return bad("%s: exists and is not a folder", path);
    if (!(d = opendir(path)))
        return bad("%s: cannot open: %s", path, strerror(errno));
    while ((e = readdir(d)) && rc == 0)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            rc = bad("%s: folder exists and is not empty", path);
    closedir(d);
    return rc;
}

/* Removes the files in dir and dir itself (a failed partial output). */
static void remove_partial(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    while (d && (e = readdir(d))) {
        char *path;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((path = sut_path_join(dir, e->d_name))) {
            unlink(path);
            free(path);
        }
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* ---- main ----------------------------------------------------------------------- */

typedef struct job {
    options o;
    const family *f;
    cJSON *config;
    cJSON *index;
    uint64_t dim[D_COUNT];
    plan p;
} job;

/* Builds the config of a preset. 0, or an exit status. */
static int load_preset(job *j)
{
    j->f = family_by_type(j->o.preset, true);
    if (resolve_dims(NULL, &j->o, preset_dims, j->dim, "--preset") != 0)
        return EXIT_USAGE;
    if (j->dim[D_VOCAB] < 4)
        return bad("--vocab: a preset needs at least 4 tokens (ids 0-2 are "
                   "special)");
    j->p.dtype = j->o.has_dtype ? j->o.dtype : ST_BF16;
    j->config = preset_config(j->f, &j->o, j->dim);
    return j->config ? 0 : bad("out of memory");
}

/* Reads a real config (and index). 0, or an exit status. */
static int load_real(job *j)
{
    sut_error err = {""};
    const cJSON *type;

    if (!(j->config = sut_json_read_file(j->o.config, CONFIG_MAX, &err)))
        return bad("%s", err.msg);
    if (!cJSON_IsObject(j->config))
        return bad("%s: not a JSON object", j->o.config);
    type = cJSON_GetObjectItemCaseSensitive(j->config, "model_type");
    if (!cJSON_IsString(type))
        return bad("%s: model_type is missing", j->o.config);
    if (!(j->f = family_by_type(type->valuestring, false)))
        return bad("%s: model_type '%s' is not one suture-gen knows (llama, "
                   "mistral, qwen2, qwen3, gemma, gemma2, gemma3_text)",
                   j->o.config, type->valuestring);
    if (resolve_dims(j->config, &j->o, NULL, j->dim, j->o.config) != 0 ||
        config_dtype(j->config, &j->o, j->o.config, &j->p.dtype) != 0)
        return EXIT_USAGE;
    apply_overrides(j->config, &j->o, j->dim, j->p.dtype);
    if (j->o.index &&
        !(j->index = sut_json_read_file(j->o.index, CONFIG_MAX, &err)))
        return bad("%s", err.msg);
    return 0;
}

/* Plans tensors and shards. 0, or an exit status. */
static int lay_out(job *j)
{
    int rc = plan_tensors(&j->p, j->f, j->config, j->dim, j->o.redundant_head);

    if (rc != 0)
        return rc;
    if (j->index)
        return layout_by_index(&j->p, j->index, j->o.index);
    if (j->o.shards || j->o.preset)
        return layout_by_count(&j->p, j->o.shards ? j->o.shards : 1);
    return layout_by_size(&j->p);
}

/* Writes everything into dir. 0 or -1. */
static int write_folder(const job *j, const char *dir, sut_error *err)
{
    bool sparse = j->o.config != NULL;

    if (write_json(dir, "config.json", j->config, err) != 0)
        return -1;
    if (sparse ? copy_config_extras(dir, j->o.config, err)
               : write_preset_extras(dir, j->f, err))
        return -1;
    return write_shards(dir, &j->p, sparse, j->o.seed, err);
}

static int run(job *j)
{
    sut_error err = {""};
    char *tmp = NULL;
    size_t used = 0, k;
    int rc;

    if ((rc = j->o.preset ? load_preset(j) : load_real(j)) != 0 ||
        (rc = lay_out(j)) != 0 || (rc = check_out(j->o.out)) != 0)
        return rc;
    if (make_parents(j->o.out) != 0)
        return bad("%s: cannot create its parent folders: %s", j->o.out,
                   strerror(errno));
    if (asprintf(&tmp, "%s.partial-%ld", j->o.out, (long)getpid()) < 0)
        return bad("out of memory");
    if (mkdir(tmp, 0755) != 0) {
        rc = bad("%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    if (write_folder(j, tmp, &err) != 0 || rename(tmp, j->o.out) != 0) {
        fprintf(stderr, "suture-gen: %s\n", err.msg[0] ? err.msg : strerror(errno));
        remove_partial(tmp);
        free(tmp);
        return EXIT_WRITE;
    }
    free(tmp);
    for (k = 0; k < j->p.nshards; k++)
        used += shard_used(&j->p, k);
    printf("%s: %zu tensors, %" PRIu64 " parameters, %zu shard%s, %" PRIu64
           " bytes%s\n", j->o.out, j->p.n, j->p.params, used,
           used == 1 ? "" : "s", j->p.total, j->o.config ? " (sparse)" : "");
    return 0;
}

int main(int argc, char **argv)
{
    job j;
    int rc;

    memset(&j, 0, sizeof(j));
    rc = parse_args(argc, argv, &j.o);
    if (rc < 0) {
        usage(stdout);
        return 0;
    }
    if (rc == 0)
        rc = run(&j);
    cJSON_Delete(j.config);
    cJSON_Delete(j.index);
    plan_free(&j.p);
    return rc;
}
