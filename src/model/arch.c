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
#include "arch_int.h"
#include "common/util.h"
#include "common/checked.h"

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

void arch_list_free(char **list)
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
char **arch_list_split(const char *s)
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
            arch_list_free(list);
            return NULL;
        }
        p += len;
    }
    return list;
}

bool arch_list_has(char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

int arch_push(arch_family ***arr, size_t *n, arch_family *f)
{
    arch_family **grown = realloc(*arr, (*n + 1) * sizeof(**arr));

    if (!grown)
        return -1;
    grown[(*n)++] = f;
    *arr = grown;
    return 0;
}

void arch_compiled_free(compiled *c)
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

void arch_family_free(arch_family *f)
{
    if (!f)
        return;
    free(f->name);
    arch_list_free(f->classes);
    free(f->layer_pattern);
    free(f->head_pattern);
    free(f->embed_name);
    free(f->head_name);
    free(f->layer_count_key);
    arch_list_free(f->layer_arrays);
    arch_list_free(f->layer_lists);
    free(f->post_norm_pattern);
    free(f->embed_pattern);
    free(f->output_pattern);
    arch_compiled_free(f->priv);
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
int arch_family_compile(arch_family *f, sut_error *err)
{
    compiled *c = calloc(1, sizeof(*c));
    uint32_t groups = 0;

    if (!c || !(c->mctx = pcre2_match_context_create(NULL))) {
        arch_compiled_free(c);
        sut_error_oom(err, NULL);
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
    if (!(f->name = strdup(b->name)) || !(f->classes = arch_list_split(b->classes)) ||
        !(f->layer_pattern = strdup(b->layers)) ||
        !(f->head_pattern = strdup(b->head)) ||
        !(f->embed_name = dup_or_empty(b->embed)) ||
        !(f->head_name = dup_or_empty(b->head_name)) ||
        !(f->layer_count_key = strdup(b->count_key)) ||
        !(f->layer_arrays = arch_list_split(b->arrays)) ||
        !(f->layer_lists = arch_list_split(b->lists)) ||
        (b->post_norm && !(f->post_norm_pattern = strdup(b->post_norm))) ||
        (b->embed_pattern && !(f->embed_pattern = strdup(b->embed_pattern))) ||
        (b->output_pattern && !(f->output_pattern = strdup(b->output_pattern))))
        goto oom;
    if (arch_family_compile(f, err) != 0) {
        sut_error_prefix(err, "built-in family '%s'", b->name);
        arch_family_free(f);
        return NULL;
    }
    return f;
oom:
    arch_family_free(f);
    sut_error_oom(err, NULL);
    return NULL;
}

/* Adds f to the table as active (replacing a family of its name, which
 * stays owned) and owned. The arrays must have room (reserve). */
void arch_commit(arch_table *t, arch_family *f)
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
int arch_reserve(arch_table *t, size_t n)
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

    if (!t || arch_reserve(t, n) != 0) {
        arch_table_free(t);
        sut_error_oom(err, NULL);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        arch_family *f = from_builtin(&BUILTINS[i], err);

        if (!f) {
            arch_table_free(t);
            return NULL;
        }
        arch_commit(t, f);
    }
    return t;
}

void arch_table_free(arch_table *t)
{
    size_t i;

    if (!t)
        return;
    for (i = 0; i < t->nowned; i++)
        arch_family_free(t->owned[i]);
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
        if (arch_list_has(t->active[i]->classes, cls))
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

const cJSON *arch_text_config(const cJSON *config)
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
    return (tc = arch_text_config(config)) ? family_of(t, tc) : NULL;
}

