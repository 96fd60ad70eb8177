/* arch.c: the architecture table (see arch.h). Names, config keys and
 * defaults of the built-in families follow transformers'
 * configuration_<family>.py and modeling_<family>.py. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pcre2.h>

#include "suture/arch.h"
#include "common/util.h"
#include "common/checked.h"

#define MATCH_LIMIT 1000000u
#define PERIOD_MAX 65536u
#define FAMILY_FILE_MAX (1u << 20)
/* An inferred head pattern listing more than this many bytes of names is
 * replaced by the naming rule itself (see arch_infer). */
#define INFERRED_HEADS_MAX 8192u
#define NAME_MAX_LEN 64
#define CANDIDATES_PER_NAME 8

/* The compiled patterns of a family (its priv). */
typedef struct compiled {
    pcre2_code *layer, *head, *post_norm, *embed, *output;
    pcre2_match_context *mctx;
} compiled;

struct arch_table {
    arch_family **active; /* built-ins, then loaded ones, by name */
    size_t nactive;
    arch_family **owned;  /* every family made (replaced, inferred) */
    size_t nowned;
};

/* ---- built-in families ---- */

typedef struct builtin {
    const char *name, *classes; /* classes: space-separated */
    const char *layers, *head, *embed, *head_name, *count_key;
    const char *arrays, *lists;  /* space-separated, or NULL */
    const char *post_norm, *embed_pattern, *output_pattern;
    bool tie;
    unsigned period;
} builtin;

#define DEC_LAYERS "^model\\.layers\\.(\\d+)\\.(.+)$"
#define DEC_HEAD "^(?:model\\.norm|lm_head)\\.(?:weight|bias)$"
#define POST_NORM "^(?:self_attn\\.o_proj|mlp\\.down_proj)\\.(?:weight|bias)$"
#define G3_LM "(?:language_model\\.model|model\\.language_model)"

/* A decoder named like Llama: model.embed_tokens, model.layers.N.,
 * model.norm, lm_head. */
#define DECODER(n, cls, tie_, arrays_, lists_, post_, period_)               \
    { .name = n, .classes = cls, .layers = DEC_LAYERS, .head = DEC_HEAD,      \
      .embed = "model.embed_tokens.weight", .head_name = "lm_head.weight",    \
      .count_key = "num_hidden_layers", .arrays = arrays_, .lists = lists_,   \
      .post_norm = post_, .tie = tie_, .period = period_ }

static const builtin BUILTINS[] = {
    DECODER("llama", "LlamaForCausalLM", false, NULL, NULL, NULL, 0),
    DECODER("mistral", "MistralForCausalLM", false, NULL, NULL, NULL, 0),
    DECODER("mixtral", "MixtralForCausalLM", false, NULL, NULL, NULL, 0),
    DECODER("qwen2", "Qwen2ForCausalLM", false, "layer_types", NULL, NULL, 0),
    DECODER("qwen2_moe", "Qwen2MoeForCausalLM", false, "layer_types",
            "mlp_only_layers", NULL, 0),
    DECODER("qwen3", "Qwen3ForCausalLM", false, "layer_types", NULL, NULL, 0),
    DECODER("gemma", "GemmaForCausalLM", true, NULL, NULL, NULL, 0),
    DECODER("gemma2", "Gemma2ForCausalLM", true, "layer_types", NULL,
            POST_NORM, 2),
    { .name = "gemma3", .classes = "Gemma3ForConditionalGeneration",
      .layers = "^" G3_LM "\\.layers\\.(\\d+)\\.(.+)$",
      .head = "^(?:" G3_LM "\\.norm\\.weight|(?:language_model\\.)?lm_head\\.weight)$",
      .embed = "language_model.model.embed_tokens.weight",
      .embed_pattern = "^" G3_LM "\\.embed_tokens\\.weight$",
      .head_name = "language_model.lm_head.weight",
      .output_pattern = "^(?:language_model\\.)?lm_head\\.weight$",
      .count_key = "num_hidden_layers", .arrays = "layer_types",
      .post_norm = POST_NORM, .tie = true, .period = 6 },
    DECODER("gemma3_text", "Gemma3ForCausalLM", true, "layer_types", NULL,
            POST_NORM, 6),
    DECODER("phi3", "Phi3ForCausalLM", false, NULL, NULL, NULL, 0),
    { .name = "gpt2", .classes = "GPT2LMHeadModel GPT2Model",
      .layers = "^(?:transformer\\.)?h\\.(\\d+)\\.(.+)$",
      .head = "^(?:(?:transformer\\.)?ln_f\\.(?:weight|bias)|lm_head\\.weight)$",
      .embed = "transformer.wte.weight",
      .embed_pattern = "^(?:transformer\\.)?wte\\.weight$",
      .head_name = "lm_head.weight", .count_key = "n_layer", .tie = true },
    { .name = "gpt_neox", .classes = "GPTNeoXForCausalLM",
      .layers = "^gpt_neox\\.layers\\.(\\d+)\\.(.+)$",
      .head = "^(?:gpt_neox\\.final_layer_norm\\.(?:weight|bias)|embed_out\\.weight)$",
      .embed = "gpt_neox.embed_in.weight", .head_name = "embed_out.weight",
      .count_key = "num_hidden_layers", .tie = false },
    { .name = "falcon", .classes = "FalconForCausalLM RWForCausalLM",
      .layers = "^transformer\\.h\\.(\\d+)\\.(.+)$",
      .head = "^(?:transformer\\.ln_f\\.(?:weight|bias)|lm_head\\.weight)$",
      .embed = "transformer.word_embeddings.weight",
      .head_name = "lm_head.weight", .count_key = "num_hidden_layers",
      .tie = true },
    DECODER("starcoder2", "Starcoder2ForCausalLM", true, NULL, NULL, NULL, 0),
    DECODER("olmo2", "Olmo2ForCausalLM", false, NULL, NULL, POST_NORM, 0),
    DECODER("cohere", "CohereForCausalLM", true, NULL, NULL, NULL, 0),
    DECODER("cohere2", "Cohere2ForCausalLM", true, "layer_types", NULL,
            NULL, 4),
    DECODER("granite", "GraniteForCausalLM", false, NULL, NULL, NULL, 0),
};

/* ---- small helpers ---- */

static void list_free(char **list)
{
    size_t i;

    if (!list)
        return;
    for (i = 0; list[i]; i++)
        free(list[i]);
    free(list);
}

/* A new NULL-terminated list of the space-separated words of s (NULL:
 * empty list). NULL when out of memory. */
static char **list_split(const char *s)
{
    size_t n = 0, i = 0;
    const char *p;
    char **list;

    for (p = s; p && *p; p++)
        if (*p != ' ' && (p == s || p[-1] == ' '))
            n++;
    if (!(list = calloc(n + 1, sizeof(*list))))
        return NULL;
    for (p = s; p && *p;) {
        size_t len;

        while (*p == ' ')
            p++;
        len = strcspn(p, " ");
        if (len && !(list[i++] = strndup(p, len))) {
            list_free(list);
            return NULL;
        }
        p += len;
    }
    return list;
}

static bool list_has(char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static int push(arch_family ***arr, size_t *n, arch_family *f)
{
    arch_family **grown = realloc(*arr, (*n + 1) * sizeof(**arr));

    if (!grown)
        return -1;
    grown[(*n)++] = f;
    *arr = grown;
    return 0;
}

static void compiled_free(compiled *c)
{
    if (!c)
        return;
    pcre2_code_free(c->layer);
    pcre2_code_free(c->head);
    pcre2_code_free(c->post_norm);
    pcre2_code_free(c->embed);
    pcre2_code_free(c->output);
    pcre2_match_context_free(c->mctx);
    free(c);
}

static void family_free(arch_family *f)
{
    if (!f)
        return;
    free(f->name);
    list_free(f->classes);
    free(f->layer_pattern);
    free(f->head_pattern);
    free(f->embed_name);
    free(f->head_name);
    free(f->layer_count_key);
    list_free(f->layer_arrays);
    list_free(f->layer_lists);
    free(f->post_norm_pattern);
    free(f->embed_pattern);
    free(f->output_pattern);
    compiled_free(f->priv);
    free(f);
}

/* ---- compiling ---- */

/* Compiles pattern pat (NULL: leaves *out NULL) anchored at both ends.
 * 0, or -1 with err "field 'FIELD': ...". */
static int compile_one(const char *pat, const char *field, pcre2_code **out,
                       sut_error *err)
{
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE off;
    int code;

    *out = NULL;
    if (!pat)
        return 0;
    *out = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                         PCRE2_ANCHORED | PCRE2_ENDANCHORED, &code, &off, NULL);
    if (!*out) {
        pcre2_get_error_message(code, msg, sizeof(msg));
        sut_error_set(err, "field '%s': does not compile at offset %zu: %s",
                      field, (size_t)off, (const char *)msg);
        return -1;
    }
    (void)pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE); /* else interpreted */
    return 0;
}

/* Compiles f's patterns into f->priv. 0, or -1 with err naming the field. */
static int family_compile(arch_family *f, sut_error *err)
{
    compiled *c = calloc(1, sizeof(*c));
    uint32_t groups = 0;

    if (!c || !(c->mctx = pcre2_match_context_create(NULL))) {
        compiled_free(c);
        sut_error_set(err, "out of memory");
        return -1;
    }
    f->priv = c;
    pcre2_set_match_limit(c->mctx, MATCH_LIMIT);
    if (compile_one(f->layer_pattern, "layer_pattern", &c->layer, err) ||
        compile_one(f->head_pattern, "head_pattern", &c->head, err) ||
        compile_one(f->post_norm_pattern, "post_norm_pattern", &c->post_norm, err) ||
        compile_one(f->embed_pattern, "embed_pattern", &c->embed, err) ||
        compile_one(f->output_pattern, "output_pattern", &c->output, err))
        return -1;
    pcre2_pattern_info(c->layer, PCRE2_INFO_CAPTURECOUNT, &groups);
    if (groups != 2) {
        sut_error_set(err, "field 'layer_pattern': has %u capture groups, "
                      "not 2 (the layer index, the name within the layer)",
                      (unsigned)groups);
        return -1;
    }
    return 0;
}

/* ---- matching ---- */

/* Runs code on s with match data md: the number of captured pairs + 1
 * (>= 1) on a match, 0 for no match, -1 when matching fails. */
static int run(const compiled *c, const pcre2_code *code, const char *s,
               pcre2_match_data *md)
{
    int rc = pcre2_match(code, (PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, 0, 0,
                         md, c->mctx);

    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return rc > 0 ? rc : -1;
}

/* 1 when code (non-NULL) matches all of s, 0 when not, -1 on failure. */
static int matches(const compiled *c, const pcre2_code *code, const char *s)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    int rc;

    if (!md)
        return -1;
    rc = run(c, code, s, md);
    pcre2_match_data_free(md);
    return rc < 0 ? -1 : rc > 0;
}

/* The layer index spelt by the n bytes at s: plain decimal below 2^31,
 * else -2. */
static long parse_index(const char *s, size_t n)
{
    long v = 0;
    size_t i;

    if (n == 0 || n > 10 || (n > 1 && s[0] == '0'))
        return -2;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -2;
        v = v * 10 + (s[i] - '0');
    }
    return v <= INT32_MAX ? v : -2;
}

long arch_layer_of(const arch_family *f, const char *name, size_t *idx_begin,
                   size_t *idx_end, size_t *local)
{
    const compiled *c;
    pcre2_match_data *md;
    PCRE2_SIZE *ov;
    long idx = -1;
    int rc;

    if (!f || !name || !(c = f->priv))
        return -1;
    if (!(md = pcre2_match_data_create_from_pattern(c->layer, NULL)))
        return -2;
    rc = run(c, c->layer, name, md);
    if (rc < 0)
        idx = -2;
    if (rc < 3)
        goto out;
    ov = pcre2_get_ovector_pointer(md);
    if (ov[2] == PCRE2_UNSET || ov[4] == PCRE2_UNSET)
        goto out;
    idx = parse_index(name + ov[2], ov[3] - ov[2]);
    if (idx < 0)
        goto out;
    if (idx_begin)
        *idx_begin = ov[2];
    if (idx_end)
        *idx_end = ov[3];
    if (local)
        *local = ov[4];
out:
    pcre2_match_data_free(md);
    return idx;
}

char *arch_rename(const arch_family *f, const char *name, unsigned new_index)
{
    char digits[16];
    size_t b, e, n, m;
    char *out;

    if (arch_layer_of(f, name, &b, &e, NULL) < 0)
        return NULL;
    m = (size_t)snprintf(digits, sizeof(digits), "%u", new_index);
    n = strlen(name);
    if (!(out = malloc(n - (e - b) + m + 1)))
        return NULL;
    memcpy(out, name, b);
    memcpy(out + b, digits, m);
    memcpy(out + b + m, name + e, n - e + 1);
    return out;
}

bool arch_is_head(const arch_family *f, const char *name)
{
    const compiled *c = f && name ? f->priv : NULL;

    return c && c->head && matches(c, c->head, name) == 1;
}

bool arch_scale_cancelled(const arch_family *f, const char *local)
{
    const compiled *c = f && local ? f->priv : NULL;

    return c && c->post_norm && matches(c, c->post_norm, local) == 1;
}

/* name is the tensor spelt exact, or matched by code when there is one. */
static bool named(const compiled *c, const pcre2_code *code,
                  const char *exact, const char *name)
{
    if (code)
        return matches(c, code, name) == 1;
    return exact && *exact && strcmp(exact, name) == 0;
}

bool arch_is_embed(const arch_family *f, const char *name)
{
    const compiled *c = f && name ? f->priv : NULL;

    return c && named(c, c->embed, f->embed_name, name);
}

bool arch_is_output(const arch_family *f, const char *name)
{
    const compiled *c = f && name ? f->priv : NULL;

    return c && named(c, c->output, f->head_name, name);
}

/* ---- the table ---- */

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

/* A new compiled family from a built-in row, or NULL with err set. */
static arch_family *from_builtin(const builtin *b, sut_error *err)
{
    arch_family *f = calloc(1, sizeof(*f));

    if (!f)
        goto oom;
    f->tie_default = b->tie;
    f->sliding_period = b->period;
    if (!(f->name = strdup(b->name)) || !(f->classes = list_split(b->classes)) ||
        !(f->layer_pattern = strdup(b->layers)) ||
        !(f->head_pattern = strdup(b->head)) ||
        !(f->embed_name = dup_or_empty(b->embed)) ||
        !(f->head_name = dup_or_empty(b->head_name)) ||
        !(f->layer_count_key = strdup(b->count_key)) ||
        !(f->layer_arrays = list_split(b->arrays)) ||
        !(f->layer_lists = list_split(b->lists)) ||
        (b->post_norm && !(f->post_norm_pattern = strdup(b->post_norm))) ||
        (b->embed_pattern && !(f->embed_pattern = strdup(b->embed_pattern))) ||
        (b->output_pattern && !(f->output_pattern = strdup(b->output_pattern))))
        goto oom;
    if (family_compile(f, err) != 0) {
        sut_error_prefix(err, "built-in family '%s'", b->name);
        family_free(f);
        return NULL;
    }
    return f;
oom:
    family_free(f);
    sut_error_set(err, "out of memory");
    return NULL;
}

/* Adds f to the table as active (replacing a family of its name, which
 * stays owned) and owned. The arrays must have room (reserve). */
static void commit(arch_table *t, arch_family *f)
{
    size_t i;

    t->owned[t->nowned++] = f;
    for (i = 0; i < t->nactive; i++)
        if (strcmp(t->active[i]->name, f->name) == 0) {
            t->active[i] = f;
            return;
        }
    t->active[t->nactive++] = f;
}

/* Makes room for n more families. 0, or -1 when out of memory. */
static int reserve(arch_table *t, size_t n)
{
    arch_family **a, **o;

    if (!(a = realloc(t->active, (t->nactive + n + 1) * sizeof(*a))))
        return -1;
    t->active = a;
    if (!(o = realloc(t->owned, (t->nowned + n + 1) * sizeof(*o))))
        return -1;
    t->owned = o;
    return 0;
}

arch_table *arch_table_new(sut_error *err)
{
    size_t n = sizeof(BUILTINS) / sizeof(BUILTINS[0]), i;
    arch_table *t = calloc(1, sizeof(*t));

    if (!t || reserve(t, n) != 0) {
        arch_table_free(t);
        sut_error_set(err, "out of memory");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        arch_family *f = from_builtin(&BUILTINS[i], err);

        if (!f) {
            arch_table_free(t);
            return NULL;
        }
        commit(t, f);
    }
    return t;
}

void arch_table_free(arch_table *t)
{
    size_t i;

    if (!t)
        return;
    for (i = 0; i < t->nowned; i++)
        family_free(t->owned[i]);
    free(t->owned);
    free(t->active);
    free(t);
}

size_t arch_table_count(const arch_table *t)
{
    return t ? t->nactive : 0;
}

const arch_family *arch_table_at(const arch_table *t, size_t i)
{
    return t && i < t->nactive ? t->active[i] : NULL;
}

const arch_family *arch_by_name(const arch_table *t, const char *name)
{
    size_t i;

    for (i = 0; t && name && i < t->nactive; i++)
        if (strcmp(t->active[i]->name, name) == 0)
            return t->active[i];
    return NULL;
}

/* The family claiming class cls; later (loaded) families first. */
static const arch_family *by_class(const arch_table *t, const char *cls)
{
    size_t i;

    for (i = t->nactive; i-- > 0;)
        if (list_has(t->active[i]->classes, cls))
            return t->active[i];
    return NULL;
}

/* The family of one config object: model_type, else architectures[]. */
static const arch_family *family_of(const arch_table *t, const cJSON *obj)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(obj, "model_type");
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(obj, "architectures");
    const arch_family *f;
    const cJSON *c;

    if (cJSON_IsString(mt) && (f = arch_by_name(t, mt->valuestring)))
        return f;
    if (!cJSON_IsArray(classes))
        return NULL;
    cJSON_ArrayForEach(c, classes)
        if (cJSON_IsString(c) && (f = by_class(t, c->valuestring)))
            return f;
    return NULL;
}

static const cJSON *text_config(const cJSON *config)
{
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(config, "text_config");

    return cJSON_IsObject(tc) ? tc : NULL;
}

const arch_family *arch_for_config(const arch_table *t, const cJSON *config)
{
    const arch_family *f;
    const cJSON *tc;

    if (!t || !cJSON_IsObject(config))
        return NULL;
    if ((f = family_of(t, config)))
        return f;
    return (tc = text_config(config)) ? family_of(t, tc) : NULL;
}

/* ---- config queries ---- */

/* config[key], else text_config[key]; JSON null counts as absent. */
static const cJSON *config_item(const cJSON *config, const char *key)
{
    const cJSON *item, *tc;

    if (!cJSON_IsObject(config))
        return NULL;
    item = cJSON_GetObjectItemCaseSensitive(config, key);
    if (item && !cJSON_IsNull(item))
        return item;
    if (!(tc = text_config(config)))
        return NULL;
    item = cJSON_GetObjectItemCaseSensitive(tc, key);
    return item && !cJSON_IsNull(item) ? item : NULL;
}

bool arch_tied(const arch_family *f, const cJSON *config)
{
    const cJSON *item = config_item(config, "tie_word_embeddings");

    if (cJSON_IsBool(item))
        return cJSON_IsTrue(item);
    return f ? f->tie_default : false;
}

const char *arch_count_key(const arch_family *f, const cJSON *obj)
{
    const char *keys[] = { f ? f->layer_count_key : NULL, "num_hidden_layers",
                           "n_layer" };
    size_t i;

    if (!cJSON_IsObject(obj))
        return NULL;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const cJSON *item;

        if (keys[i] && (item = cJSON_GetObjectItemCaseSensitive(obj, keys[i])) &&
            !cJSON_IsNull(item))
            return keys[i];
    }
    return NULL;
}

long arch_config_layers(const arch_family *f, const cJSON *config)
{
    const cJSON *obj = config, *tc;
    const char *key = arch_count_key(f, config);
    uint64_t v;

    if (!key && (tc = text_config(config)) && (key = arch_count_key(f, tc)))
        obj = tc;
    if (!key || sut_json_u64(cJSON_GetObjectItemCaseSensitive(obj, key), &v) != 0 ||
        v > LONG_MAX)
        return -1;
    return (long)v;
}

unsigned arch_sliding_period(const arch_family *f, const cJSON *config)
{
    const cJSON *item;
    uint64_t v;

    if (!f || f->sliding_period == 0)
        return 0;
    item = config_item(config, "sliding_window_pattern");
    if (item && sut_json_u64(item, &v) == 0 && v >= 1 && v <= PERIOD_MAX)
        return (unsigned)v;
    return f->sliding_period;
}

char arch_attention_kind(const arch_family *f, const cJSON *config, unsigned i)
{
    const cJSON *types = config_item(config, "layer_types"), *e;
    unsigned p;

    if (cJSON_IsArray(types)) {
        if (i > INT_MAX || !(e = cJSON_GetArrayItem(types, (int)i)))
            return '?';
        return cJSON_IsString(e) && strcmp(e->valuestring, "sliding_attention") == 0
                   ? 's' : 'g';
    }
    if (!(p = arch_sliding_period(f, config)))
        return '?';
    return ((unsigned long long)i + 1) % p == 0 ? 'g' : 's';
}

/* ---- loading families from JSON ---- */

static const char *const FIELDS[] = {
    "name", "classes", "layer_pattern", "head_pattern", "embed_name",
    "head_name", "layer_count_key", "layer_arrays", "layer_lists",
    "post_norm_pattern", "tie_default", "sliding_period", "embed_pattern",
    "output_pattern", NULL
};

static bool known_field(const char *key)
{
    size_t i;

    for (i = 0; FIELDS[i]; i++)
        if (strcmp(FIELDS[i], key) == 0)
            return true;
    return false;
}

/* Reads string field key of obj into *out (a copy). Absent or null: *out
 * stays NULL, an error when required. 0, or -1 with err set. */
static int get_string(const cJSON *obj, const char *key, bool required,
                      char **out, sut_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!item || cJSON_IsNull(item)) {
        if (!required)
            return 0;
        sut_error_set(err, "field '%s': missing", key);
        return -1;
    }
    if (!cJSON_IsString(item) || !item->valuestring[0]) {
        sut_error_set(err, "field '%s': not a non-empty string", key);
        return -1;
    }
    if (!(*out = strdup(item->valuestring))) {
        sut_error_set(err, "out of memory");
        return -1;
    }
    return 0;
}

/* Reads a list of non-empty strings (absent: empty list). */
static int get_list(const cJSON *obj, const char *key, char ***out,
                    sut_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key), *e;
    size_t n = 0;

    if (item && !cJSON_IsNull(item) && !cJSON_IsArray(item))
        goto bad;
    cJSON_ArrayForEach(e, item) {
        if (!cJSON_IsString(e) || !e->valuestring[0])
            goto bad;
        n++;
    }
    if (!(*out = calloc(n + 1, sizeof(**out))))
        goto oom;
    n = 0;
    cJSON_ArrayForEach(e, item)
        if (!((*out)[n++] = strdup(e->valuestring)))
            goto oom;
    return 0;
bad:
    sut_error_set(err, "field '%s': not a list of non-empty strings", key);
    return -1;
oom:
    sut_error_set(err, "out of memory");
    return -1;
}

static int get_scalars(const cJSON *obj, arch_family *f, sut_error *err)
{
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(obj, "tie_default");
    const cJSON *period = cJSON_GetObjectItemCaseSensitive(obj, "sliding_period");
    uint64_t v = 0;

    f->tie_default = true;
    if (tie && !cJSON_IsNull(tie)) {
        if (!cJSON_IsBool(tie)) {
            sut_error_set(err, "field 'tie_default': not true or false");
            return -1;
        }
        f->tie_default = cJSON_IsTrue(tie);
    }
    if (period && !cJSON_IsNull(period) &&
        (sut_json_u64(period, &v) != 0 || v > PERIOD_MAX)) {
        sut_error_set(err, "field 'sliding_period': not a whole number "
                      "from 0 to %u", PERIOD_MAX);
        return -1;
    }
    f->sliding_period = (unsigned)v;
    return 0;
}

static int check_name(const char *name, sut_error *err)
{
    size_t i, n = strlen(name);

    if (n > NAME_MAX_LEN) {
        sut_error_set(err, "field 'name': longer than %d characters", NAME_MAX_LEN);
        return -1;
    }
    for (i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_.-", name[i])) {
            sut_error_set(err, "field 'name': only letters, digits, '_', '.' "
                          "and '-' are allowed");
            return -1;
        }
    if (strcmp(name, "inferred") == 0) {
        sut_error_set(err, "field 'name': 'inferred' is reserved");
        return -1;
    }
    return 0;
}

/* The fields of one family object (its name already read into f). */
static int parse_fields(const cJSON *obj, arch_family *f, sut_error *err)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, obj)
        if (!known_field(item->string)) {
            sut_error_set(err, "unknown field '%s'", item->string);
            return -1;
        }
    if (check_name(f->name, err) ||
        get_list(obj, "classes", &f->classes, err) ||
        get_string(obj, "layer_pattern", true, &f->layer_pattern, err) ||
        get_string(obj, "head_pattern", true, &f->head_pattern, err) ||
        get_string(obj, "embed_name", true, &f->embed_name, err) ||
        get_string(obj, "head_name", true, &f->head_name, err) ||
        get_string(obj, "layer_count_key", false, &f->layer_count_key, err) ||
        get_list(obj, "layer_arrays", &f->layer_arrays, err) ||
        get_list(obj, "layer_lists", &f->layer_lists, err) ||
        get_string(obj, "post_norm_pattern", false, &f->post_norm_pattern, err) ||
        get_string(obj, "embed_pattern", false, &f->embed_pattern, err) ||
        get_string(obj, "output_pattern", false, &f->output_pattern, err) ||
        get_scalars(obj, f, err))
        return -1;
    if (!f->layer_count_key && !(f->layer_count_key = strdup("num_hidden_layers"))) {
        sut_error_set(err, "out of memory");
        return -1;
    }
    return family_compile(f, err);
}

/* A new family from entry pos of "families", or NULL with err set
 * ("LABEL: family 'NAME': ..."). */
static arch_family *parse_family(const cJSON *obj, size_t pos,
                                 const char *label, sut_error *err)
{
    arch_family *f = NULL;

    if (!cJSON_IsObject(obj)) {
        sut_error_set(err, "%s: family #%zu: not an object", label, pos + 1);
        return NULL;
    }
    if (!(f = calloc(1, sizeof(*f)))) {
        sut_error_set(err, "%s: out of memory", label);
        return NULL;
    }
    if (get_string(obj, "name", true, &f->name, err) != 0) {
        sut_error_prefix(err, "%s: family #%zu", label, pos + 1);
        family_free(f);
        return NULL;
    }
    if (parse_fields(obj, f, err) != 0) {
        sut_error_prefix(err, "%s: family '%s'", label, f->name);
        family_free(f);
        return NULL;
    }
    return f;
}

/* Checks the top level: an object whose only key is "families", an array.
 * Returns the array, or NULL with err set. */
static const cJSON *families_of(const cJSON *root, const char *label,
                                sut_error *err)
{
    const cJSON *item;

    if (!cJSON_IsObject(root)) {
        sut_error_set(err, "%s: not a JSON object", label);
        return NULL;
    }
    cJSON_ArrayForEach(item, root)
        if (strcmp(item->string, "families") != 0) {
            sut_error_set(err, "%s: unknown key '%s'", label, item->string);
            return NULL;
        }
    item = cJSON_GetObjectItemCaseSensitive(root, "families");
    if (!cJSON_IsArray(item)) {
        sut_error_set(err, "%s: field 'families': missing or not a list", label);
        return NULL;
    }
    return item;
}

int arch_table_load_json(arch_table *t, const cJSON *root, const char *label,
                         sut_error *err)
{
    const cJSON *fams, *obj;
    arch_family **made = NULL;
    size_t n = 0, i, j;
    int rc = -1;

    label = label ? label : "families";
    if (!t || !(fams = families_of(root, label, err)))
        return -1;
    if (!(made = calloc((size_t)cJSON_GetArraySize(fams) + 1, sizeof(*made))))
        goto oom;
    cJSON_ArrayForEach(obj, fams) {
        if (!(made[n] = parse_family(obj, n, label, err)))
            goto out;
        for (j = 0; j < n; j++)
            if (strcmp(made[j]->name, made[n]->name) == 0) {
                sut_error_set(err, "%s: family '%s': defined twice", label,
                              made[n]->name);
                n++;
                goto out;
            }
        n++;
    }
    if (reserve(t, n) != 0)
        goto oom;
    for (i = 0; i < n; i++)
        commit(t, made[i]);
    n = 0;
    rc = 0;
    goto out;
oom:
    sut_error_set(err, "%s: out of memory", label);
out:
    for (i = 0; i < n; i++)
        family_free(made[i]);
    free(made);
    return rc;
}

int arch_table_load(arch_table *t, const char *path, sut_error *err)
{
    cJSON *root = sut_json_read_file(path, FAMILY_FILE_MAX, err);
    int rc;

    if (!root)
        return -1;
    rc = arch_table_load_json(t, root, path, err);
    cJSON_Delete(root);
    return rc;
}

/* ---- inference from names ---- */

/* A container "<prefix>N." of a name: the prefix is name[0, len). */
typedef struct cand {
    const char *name;
    size_t len;
} cand;

static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->name, b->name, n);

    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Appends the containers of name to c (room for CANDIDATES_PER_NAME). */
static size_t add_candidates(const char *name, cand *c)
{
    size_t j, k, n = 0;

    for (j = 0; name[j] && n < CANDIDATES_PER_NAME; j++) {
        if ((j > 0 && name[j - 1] != '.') || name[j] < '0' || name[j] > '9')
            continue;
        for (k = j; name[k] >= '0' && name[k] <= '9'; k++)
            ;
        if (name[k] == '.' && name[k + 1]) {
            c[n].name = name;
            c[n++].len = j;
        }
    }
    return n;
}

/* The most common container of names into *best (ties: the shorter, then
 * the smaller). 0, 1 when no name has one, -1 when out of memory. */
static int best_container(const char *const *names, size_t n, cand *best)
{
    size_t total = 0, i, run, best_run = 0, room;
    cand *c;

    if (ck_array(n, CANDIDATES_PER_NAME, &room) != 0 ||
        !(c = malloc((room ? room : 1) * sizeof(*c))))
        return -1;
    for (i = 0; i < n; i++)
        total += add_candidates(names[i], c + total);
    qsort(c, total, sizeof(*c), cand_cmp);
    for (i = 0; i < total; i += run) {
        for (run = 1; i + run < total && cand_cmp(&c[i], &c[i + run]) == 0; run++)
            ;
        if (run > best_run || (run == best_run && c[i].len < best->len)) {
            best_run = run;
            *best = c[i];
        }
    }
    free(c);
    return best_run ? 0 : 1;
}

/* Appends the n bytes at s to the growing string *buf (length *len) with
 * every ASCII punctuation byte backslash-escaped. 0, or -1 when out of
 * memory. */
static int append_quoted(char **buf, size_t *len, const char *s, size_t n)
{
    char *grown = realloc(*buf, *len + 2 * n + 1);
    size_t i;

    if (!grown)
        return -1;
    *buf = grown;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch < 0x80 && !(ch >= '0' && ch <= '9') && !(ch >= 'a' && ch <= 'z') &&
            !(ch >= 'A' && ch <= 'Z') && ch != '_')
            grown[(*len)++] = '\\';
        grown[(*len)++] = (char)ch;
    }
    grown[*len] = '\0';
    return 0;
}

static int append(char **buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    char *grown = realloc(*buf, *len + n + 1);

    if (!grown)
        return -1;
    memcpy(grown + *len, s, n + 1);
    *len += n;
    *buf = grown;
    return 0;
}

static bool has(const char *name, const char *part)
{
    return strstr(name, part) != NULL;
}

/* The non-layer name belongs after the layers (see arch_infer). */
static bool inferred_head(const char *name, const cand *box)
{
    cand me = { name, strlen(name) };

    if (has(name, "head") || has(name, "embed_out") || has(name, "output") ||
        has(name, "ln_f"))
        return true;
    return has(name, "norm") && !has(name, "embed") && cand_cmp(&me, box) > 0;
}

static bool inferred_embed(const char *name)
{
    return (has(name, "embed") && !has(name, "embed_out")) || has(name, "wte");
}

static bool inferred_output(const char *name)
{
    return has(name, "head") || has(name, "embed_out") || has(name, "output");
}

/* Fills f's head pattern, embed and head names from the non-layer names.
 * 0, or -1 when out of memory or matching fails. */
static int infer_ends(arch_family *f, const char *const *names, size_t n,
                      const cand *box)
{
    size_t i, len = 0, heads = 0;
    const char *embed = NULL, *out = NULL;
    char *pat = NULL;

    if (append(&pat, &len, "^(?:"))
        goto fail;
    for (i = 0; i < n; i++) {
        long layer = arch_layer_of(f, names[i], NULL, NULL, NULL);

        if (layer < -1)
            goto fail;
        if (layer >= 0)
            continue;
        if (!inferred_head(names[i], box)) {
            if (!embed && inferred_embed(names[i]))
                embed = names[i];
            continue;
        }
        if (!out && inferred_output(names[i]))
            out = names[i];
        if ((heads++ && append(&pat, &len, "|")) ||
            append_quoted(&pat, &len, names[i], strlen(names[i])))
            goto fail;
    }
    if (append(&pat, &len, heads ? ")$" : "(?!))"))
        goto fail;
    if (len > INFERRED_HEADS_MAX) {
        /* too many to list (PCRE2 would refuse the pattern): the rule */
        free(pat);
        if (!(pat = strdup("^(?:.*(?:head|embed_out|output|ln_f).*|(?!.*embed).*norm.*)$")))
            return -1;
    }
    f->head_pattern = pat;
    f->tie_default = out == NULL;
    f->embed_name = strdup(embed ? embed : "");
    f->head_name = strdup(out ? out : "");
    return f->embed_name && f->head_name ? 0 : -1;
fail:
    free(pat);
    return -1;
}

/* A new family whose layers are the container box, or NULL. */
static arch_family *infer_family(const char *const *names, size_t n,
                                 const cand *box, sut_error *err)
{
    arch_family *f = calloc(1, sizeof(*f));
    size_t len = 0;

    if (!f || !(f->name = strdup("inferred")) ||
        !(f->classes = list_split(NULL)) || !(f->layer_arrays = list_split(NULL)) ||
        !(f->layer_lists = list_split(NULL)) ||
        !(f->layer_count_key = strdup("num_hidden_layers")) ||
        append(&f->layer_pattern, &len, "^") ||
        append_quoted(&f->layer_pattern, &len, box->name, box->len) ||
        append(&f->layer_pattern, &len, "(\\d+)\\.(.+)$"))
        goto oom;
    f->inferred = true;
    /* the layer pattern first, to tell the non-layer names; then all */
    if (!(f->head_pattern = strdup("(?!)")))
        goto oom;
    if (family_compile(f, err) != 0)
        goto fail;
    free(f->head_pattern);
    f->head_pattern = NULL;
    if (infer_ends(f, names, n, box) != 0)
        goto oom;
    compiled_free(f->priv);
    f->priv = NULL;
    if (family_compile(f, err) != 0) {
        sut_error_prefix(err, "cannot infer the architecture");
        goto fail;
    }
    return f;
oom:
    sut_error_set(err, "out of memory");
fail:
    family_free(f);
    return NULL;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static const arch_family *find_inferred(const arch_table *t, const arch_family *f)
{
    size_t i;

    for (i = 0; i < t->nowned; i++) {
        const arch_family *o = t->owned[i];

        if (o->inferred && same_str(o->layer_pattern, f->layer_pattern) &&
            same_str(o->head_pattern, f->head_pattern) &&
            same_str(o->embed_name, f->embed_name) &&
            same_str(o->head_name, f->head_name) && o->tie_default == f->tie_default)
            return o;
    }
    return NULL;
}

const arch_family *arch_infer(arch_table *t, const char *const *names,
                              size_t n, sut_error *err)
{
    cand box = { NULL, 0 };
    const arch_family *old;
    arch_family *f;
    int rc;

    if (!t || (n && !names)) {
        sut_error_set(err, "no table or no tensor names");
        return NULL;
    }
    rc = best_container(names, n, &box);
    if (rc != 0) {
        sut_error_set(err, rc < 0 ? "out of memory"
                      : "cannot infer the architecture: no tensor name has a "
                        "layer index (\"<prefix>.N.<name>\")");
        return NULL;
    }
    if (!(f = infer_family(names, n, &box, err)))
        return NULL;
    if ((old = find_inferred(t, f))) {
        family_free(f);
        return old;
    }
    if (push(&t->owned, &t->nowned, f) != 0) {
        family_free(f);
        sut_error_set(err, "out of memory");
        return NULL;
    }
    return f;
}

const arch_family *arch_none(arch_table *t, sut_error *err)
{
    arch_family *f = calloc(1, sizeof(*f));
    const arch_family *old;

    if (!f || !(f->name = strdup("none")) || !(f->classes = list_split(NULL)) ||
        !(f->layer_arrays = list_split(NULL)) || !(f->layer_lists = list_split(NULL)) ||
        !(f->layer_count_key = strdup("num_hidden_layers")) ||
        !(f->layer_pattern = strdup("^(?!)(\\d+)\\.(.+)$")) ||
        !(f->head_pattern = strdup("(?!)")) || !(f->embed_name = strdup("")) ||
        !(f->head_name = strdup(""))) {
        family_free(f);
        sut_error_set(err, "out of memory");
        return NULL;
    }
    f->inferred = true;
    if (family_compile(f, err) != 0) {
        family_free(f);
        return NULL;
    }
    if ((old = find_inferred(t, f))) {
        family_free(f);
        return old;
    }
    if (push(&t->owned, &t->nowned, f) != 0) {
        family_free(f);
        sut_error_set(err, "out of memory");
        return NULL;
    }
    return f;
}
