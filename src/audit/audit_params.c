/* audit_params.c: the lm_head of a tied model, and the parameter count
 * against what the config implies. */
#include <stdio.h>
#include <string.h>

#include "suture/format.h"
#include "suture/audit.h"
#include "audit_int.h"
#include "common/checked.h"
#include "common/util.h"

/* Dimensions from the config; 0 where absent. */
struct dims {
    uint64_t hidden, vocab, layers, heads, kv_heads, head_dim, inter, experts;
};

/* A config number, looked for at the top and in "text_config"; 0 when
 * absent, null or not a whole number. */
static uint64_t cfg_u64(const cJSON *cfg, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(cfg, key);
    uint64_t v = 0;

    if (!it)
        it = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cfg, "text_config"), key);
    return sut_json_u64(it, &v) == 0 ? v : 0;
}

static bool cfg_true(const cJSON *cfg, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(cfg, key);

    if (!it)
        it = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cfg, "text_config"), key);
    return cJSON_IsTrue(it);
}

static bool read_dims(const model *m, struct dims *d)
{
    const cJSON *cfg = model_config(m);
    long layers = arch_config_layers(model_arch(m), cfg);

    d->hidden = cfg_u64(cfg, "hidden_size");
    d->vocab = cfg_u64(cfg, "vocab_size");
    d->layers = layers > 0 ? (uint64_t)layers : 0;
    d->heads = cfg_u64(cfg, "num_attention_heads");
    d->kv_heads = cfg_u64(cfg, "num_key_value_heads");
    d->head_dim = cfg_u64(cfg, "head_dim");
    d->inter = cfg_u64(cfg, "intermediate_size");
    d->experts = cfg_u64(cfg, "num_local_experts");
    if (!d->kv_heads)
        d->kv_heads = d->heads;
    if (!d->head_dim && d->heads)
        d->head_dim = d->hidden / d->heads;
    return d->hidden && d->vocab && d->layers && d->heads && d->head_dim && d->inter;
}

static bool is(const char *name, const char *const *set)
{
    size_t i;

    for (i = 0; set[i]; i++)
        if (strcmp(name, set[i]) == 0)
            return true;
    return false;
}

/* Adds a * b to *sum; false on overflow. */
static bool mul_add(uint64_t *sum, uint64_t a, uint64_t b)
{
    uint64_t p;

    return ck_mul(a, b, &p) == 0 && ck_add(*sum, p, sum) == 0;
}

/* Attention and MLP weights of one layer. */
static bool layer_linear(const char *fam, const cJSON *cfg, const struct dims *d,
                         uint64_t *n)
{
    uint64_t q, kv, qkv, expert = 0;
    bool ok = ck_mul(d->heads, d->head_dim, &q) == 0 &&
              ck_mul(d->kv_heads, d->head_dim, &kv) == 0 &&
              ck_add(q, kv, &qkv) == 0 && ck_add(qkv, kv, &qkv) == 0 &&
              mul_add(n, d->hidden, qkv) && mul_add(n, q, d->hidden);

    if (ok && strcmp(fam, "qwen2") == 0)
        ok = mul_add(n, 1, qkv);
    else if (ok && cfg_true(cfg, "attention_bias"))
        ok = mul_add(n, 1, qkv) && mul_add(n, 1, d->hidden);
    if (ok && strcmp(fam, "mixtral") == 0)
        return d->experts && mul_add(&expert, 3 * d->hidden, d->inter) &&
               mul_add(n, expert, d->experts) && mul_add(n, d->hidden, d->experts);
    ok = ok && mul_add(n, 3 * d->hidden, d->inter);
    if (ok && cfg_true(cfg, "mlp_bias"))
        ok = mul_add(n, 2, d->inter) && mul_add(n, 1, d->hidden);
    return ok;
}

/* Norm weights of one layer. */
static bool layer_norms(const char *fam, const struct dims *d, uint64_t *n)
{
    static const char *const four[] = {"gemma2", "gemma3", "gemma3_text", NULL};
    static const char *const one[] = {"cohere", "cohere2", NULL};
    static const char *const qk[] = {"qwen3", "gemma3", "gemma3_text", NULL};

    if (strcmp(fam, "olmo2") == 0)
        return mul_add(n, 2, d->hidden) &&
               mul_add(n, d->head_dim, d->heads + d->kv_heads);
    if (!mul_add(n, is(fam, four) ? 4 : is(fam, one) ? 1 : 2, d->hidden))
        return false;
    return !is(fam, qk) || mul_add(n, 2, d->head_dim);
}

uint64_t audit_expected_params(const model *m)
{
    static const char *const known[] = {
        "llama", "mistral", "granite", "qwen2", "qwen3", "gemma", "gemma2",
        "gemma3", "gemma3_text", "phi3", "olmo2", "mixtral", "cohere", "cohere2", NULL
    };
    const arch_family *f = model_arch(m);
    const cJSON *cfg = model_config(m);
    uint64_t layer = 0, total = 0;
    struct dims d;

    if (!cfg || f->inferred || !is(f->name, known) || !read_dims(m, &d) ||
        cJSON_GetObjectItemCaseSensitive(cfg, "vision_config") ||
        cfg_true(cfg, "use_qk_norm"))
        return 0;
    if (!layer_linear(f->name, cfg, &d, &layer) || !layer_norms(f->name, &d, &layer))
        return 0;
    if (!mul_add(&total, layer, d.layers) || !mul_add(&total, d.vocab, d.hidden) ||
        !mul_add(&total, 1, d.hidden))
        return 0;
    if (!model_tied(m) && !mul_add(&total, d.vocab, d.hidden))
        return 0;
    return total;
}

static bool same_layout(const st_tensor *a, const st_tensor *b)
{
    return a->dtype == b->dtype && a->ndim == b->ndim &&
           (a->ndim == 0 || memcmp(a->shape, b->shape, a->ndim * sizeof(uint64_t)) == 0);
}

static size_t index_of(const model *m, const model_tensor *t)
{
    return (size_t)(t - model_tensor_at(m, 0));
}

/* Why a tied model's config ties, for messages. */
static const char *tie_reason(const model *m)
{
    const cJSON *cfg = model_config(m);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(cfg, "tie_word_embeddings");

    if (!it)
        it = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cfg, "text_config"), "tie_word_embeddings");
    return it ? "config.json says tie_word_embeddings: true"
              : "tie_word_embeddings is absent and the family ties by default";
}

static void stored_tied_head(audit_report *r, const model_tensor *head,
                             const model_tensor *emb)
{
    const model *m = r->m;
    const xfer_hash *h = r->self.hashes;
    size_t a = index_of(m, head), b = index_of(m, emb);
    char params[32], bytes[32];
    bool same = same_layout(head->t, emb->t) && h[a].lo == h[b].lo && h[a].hi == h[b].hi;

    fmt_count(head->t->elements, params, sizeof(params));
    fmt_count(st_tensor_bytes(head->t), bytes, sizeof(bytes));
    r->redundant = head->t->elements;
    if (same)
        audit_add(r, "redundant-lm-head", AUDIT_WARNING, head->t->name,
                  "%s: '%s' is stored although %s: %s parameters (%s bytes) wasted; "
                  "byte-identical to '%s' (suture trim removes it)",
                  model_shard_name(m, head->shard), head->t->name, tie_reason(m),
                  params, bytes, emb->t->name);
    else
        audit_add(r, "tied-head-conflict", AUDIT_ERROR, head->t->name,
                  "%s: '%s' differs from '%s' although %s: loaders tie the head to the "
                  "embeddings and silently ignore these %s parameters",
                  model_shard_name(m, head->shard), head->t->name, emb->t->name,
                  tie_reason(m), params);
}

/* The embeddings' shape against vocab_size and hidden_size. */
static void check_embed_shape(audit_report *r, const model_tensor *emb)
{
    const cJSON *cfg = model_config(r->m);
    uint64_t vocab = cfg_u64(cfg, "vocab_size"), hidden = cfg_u64(cfg, "hidden_size");
    const st_tensor *t = emb->t;

    if (!vocab || !hidden || t->ndim != 2 || (t->shape[0] == vocab && t->shape[1] == hidden))
        return;
    audit_add(r, "shape-mismatch", AUDIT_ERROR, t->name,
              "'%s' has shape [%llu, %llu] but config.json says vocab_size %llu, "
              "hidden_size %llu", t->name, (unsigned long long)t->shape[0],
              (unsigned long long)t->shape[1], (unsigned long long)vocab,
              (unsigned long long)hidden);
}

int audit_check_head(audit_report *r)
{
    const model *m = r->m;
    const arch_family *f = model_arch(m);
    const model_tensor *head, *emb;

    if (f->inferred || !f->head_name || !*f->head_name || !f->embed_name ||
        !model_config(m))
        return 0;
    head = model_find_role(m, true);
    emb = model_find_role(m, false);
    if (emb)
        check_embed_shape(r, emb);
    if (!emb)
        audit_add(r, "missing-tensor", AUDIT_ERROR, f->embed_name,
                  "the embeddings '%s' are not stored", f->embed_name);
    else if (head && model_tied(m))
        stored_tied_head(r, head, emb);
    else if (!head && !model_tied(m))
        audit_add(r, "missing-tensor", AUDIT_ERROR, f->head_name,
                  "'%s' is not stored although config.json unties it from the "
                  "embeddings: loaders start it from random values", f->head_name);
    return 0;
}

/* Parameters of tensors loaders ignore (rotary buffers). */
static uint64_t buffer_params(const model *m)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < model_tensor_count(m); i++)
        if (audit_is_buffer(model_tensor_at(m, i)->t->name))
            n += model_tensor_at(m, i)->t->elements;
    return n;
}

/* "+917,504,000 in the redundant lm_head", "+2 in buffers", both, or "". */
static const char *describe_extra(uint64_t head, uint64_t buffers, char *buf, size_t size)
{
    char a[32], b[32];

    fmt_count(head, a, sizeof(a));
    fmt_count(buffers, b, sizeof(b));
    if (head && buffers)
        snprintf(buf, size, "+%s in the redundant lm_head, +%s in buffers", a, b);
    else if (head || buffers)
        snprintf(buf, size, "+%s in %s", head ? a : b,
                 head ? "the redundant lm_head" : "buffers");
    else
        buf[0] = '\0';
    return buf;
}

void audit_check_params(audit_report *r)
{
    uint64_t total = model_parameter_count(r->m), buffers = buffer_params(r->m);
    uint64_t counted = total - r->redundant - buffers;
    char a[32], b[32], c[32], extra[128];

    r->expected = audit_expected_params(r->m);
    fmt_count(total, a, sizeof(a));
    describe_extra(r->redundant, buffers, extra, sizeof(extra));
    if (!r->expected) {
        audit_add(r, "parameter-count", AUDIT_INFO, NULL,
                  "%s parameters (no expected count for family %s)", a,
                  model_arch(r->m)->name);
        return;
    }
    fmt_count(r->expected, b, sizeof(b));
    fmt_count(counted > r->expected ? counted - r->expected : r->expected - counted,
                 c, sizeof(c));
    if (counted == r->expected)
        audit_add(r, "parameter-count", AUDIT_INFO, NULL,
                  "%s parameters; the config implies %s%s%s%s", a, b,
                  *extra ? " (" : "", extra, *extra ? ")" : "");
    else
        audit_add(r, "parameter-count", AUDIT_WARNING, NULL,
                  "%s parameters stored but the config implies %s: %s %s%s%s", a, b, c,
                  counted > r->expected ? "more" : "fewer", *extra ? ", besides " : "",
                  extra);
}
