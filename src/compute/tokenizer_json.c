/* tokenizer_json.c: reads tokenizer.json (model, normalizer,
 * pre_tokenizer, added_tokens, post_processor) into a tok_tokenizer,
 * refusing by name what the tokenizer does not implement. Errors read
 * "FILE: field 'model.merges[12]': ...". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_int.h"
#include "common/util.h"

#define META "\xe2\x96\x81" /* U+2581, sentencepiece's space */

typedef struct ld {
    tok_tokenizer *t;
    sut_error *err;
} ld;

static int fail(ld *l, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(ld *l, const char *field, const char *fmt, ...)
{
    char msg[SUT_ERROR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (field)
        sut_error_set(l->err, "%s: field '%s': %s", l->t->file, field, msg);
    else
        sut_error_set(l->err, "%s: %s", l->t->file, msg);
    return -1;
}

static int nomem(ld *l)
{
    return fail(l, NULL, "out of memory");
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static bool absent(const cJSON *v)
{
    return !v || cJSON_IsNull(v);
}

/* Reads an optional boolean o.key into *out (left as is when absent). */
static int opt_bool(ld *l, const cJSON *o, const char *key, const char *where, bool *out)
{
    const cJSON *v = get(o, key);
    char f[512];

    if (absent(v))
        return 0;
    if (!cJSON_IsBool(v)) {
        snprintf(f, sizeof(f), "%s.%s", where, key);
        return fail(l, f, "must be true or false");
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* Reads an optional string o.key: a new copy in *out, or NULL when absent
 * (or empty, with empty_is_null). */
static int opt_str(ld *l, const cJSON *o, const char *key, const char *where, bool empty_is_null,
                   char **out)
{
    const cJSON *v = get(o, key);
    char f[512];

    *out = NULL;
    if (absent(v))
        return 0;
    if (!cJSON_IsString(v)) {
        snprintf(f, sizeof(f), "%s.%s", where, key);
        return fail(l, f, "must be a string");
    }
    if (empty_is_null && !v->valuestring[0])
        return 0;
    *out = sut_strdup(v->valuestring);
    return *out ? 0 : nomem(l);
}

static int need_str(ld *l, const cJSON *o, const char *key, const char *where, const char **out)
{
    const cJSON *v = get(o, key);
    char f[512];

    snprintf(f, sizeof(f), "%s.%s", where, key);
    if (!v)
        return fail(l, f, "is missing");
    if (!cJSON_IsString(v))
        return fail(l, f, "must be a string");
    *out = v->valuestring;
    return 0;
}

static int get_id(ld *l, const cJSON *v, const char *field, int32_t *out)
{
    uint64_t u;

    if (sut_json_u64(v, &u) || u > INT32_MAX)
        return fail(l, field, "must be a whole number from 0 to %d", INT32_MAX);
    *out = (int32_t)u;
    return 0;
}

/* A pattern object {"String": s} or {"Regex": r}, compiled. */
static pcre2_code *pattern(ld *l, const cJSON *o, const char *where)
{
    const cJSON *s = get(o, "String"), *r = get(o, "Regex");
    char label[512];

    if (!cJSON_IsObject(o) || (!cJSON_IsString(s) && !cJSON_IsString(r))) {
        fail(l, where, "must be {\"String\": ...} or {\"Regex\": ...}");
        return NULL;
    }
    snprintf(label, sizeof(label), "%s: field '%s'", l->t->file, where);
    return tk_regex(cJSON_IsString(s) ? s->valuestring : r->valuestring, cJSON_IsString(s),
                    label, l->err);
}

/* ---- model ---- */

static int load_vocab(ld *l, const cJSON *vocab)
{
    tk_bpe *m = &l->t->bpe;
    const cJSON *it;
    char f[128];
    int32_t id = 0, old;

    if (!cJSON_IsObject(vocab))
        return fail(l, "model.vocab", "must be an object of token: id");
    cJSON_ArrayForEach(it, vocab) {
        snprintf(f, sizeof(f), "model.vocab.%.100s", it->string);
        if (get_id(l, it, f, &id))
            return -1;
        if (tk_map_put(&m->vocab, it->string, strlen(it->string), id, &old))
            return nomem(l);
        m->vocab_len++;
        if ((size_t)id + 1 > l->t->vocab_size)
            l->t->vocab_size = (size_t)id + 1;
    }
    for (id = 0; id < 256; id++) {
        char name[8];
        snprintf(name, sizeof(name), "<0x%02X>", (unsigned)id);
        m->byte_id[id] = tk_map_get(&m->vocab, name, strlen(name));
    }
    return 0;
}

static int32_t vocab_id(ld *l, const char *s, size_t n, const char *field)
{
    int32_t id = tk_map_get(&l->t->bpe.vocab, s, n);

    if (id < 0)
        fail(l, field, "'%.*s' is not in the vocab", (int)(n > 200 ? 200 : n), s);
    return id;
}

static int add_merge(ld *l, const char *a, size_t an, const char *b, size_t bn, uint32_t rank,
                     const char *field)
{
    tk_bpe *m = &l->t->bpe;
    size_t pl = m->prefix ? strlen(m->prefix) : 0;
    int32_t ia, ib, in;
    tk_buf cat = { 0 };

    if ((ia = vocab_id(l, a, an, field)) < 0 || (ib = vocab_id(l, b, bn, field)) < 0)
        return -1;
    if (bn >= 3 && memcmp(b, META, 3) == 0 && !(an >= 3 && memcmp(a + an - 3, META, 3) == 0))
        m->crosses_meta = true;
    if (pl > bn)
        return fail(l, field, "'%.*s' is shorter than continuing_subword_prefix", (int)bn, b);
    if (tk_buf_add(&cat, a, an) || tk_buf_add(&cat, b + pl, bn - pl)) {
        free(cat.s);
        return nomem(l);
    }
    in = vocab_id(l, cat.s, cat.len, field);
    free(cat.s);
    if (in < 0)
        return -1;
    return tk_pairs_put(&m->merges, ia, ib, rank, in) ? nomem(l) : 0;
}

static int load_merges(ld *l, const cJSON *merges)
{
    const cJSON *it;
    uint32_t rank = 0;
    size_t i = 0;
    char f[64];
    int kind = 0; /* 1: "a b" strings, 2: [a, b] pairs */

    if (!cJSON_IsArray(merges))
        return fail(l, "model.merges", "must be an array");
    cJSON_ArrayForEach(it, merges) {
        snprintf(f, sizeof(f), "model.merges[%zu]", i++);
        if (cJSON_IsString(it) && kind != 2) {
            const char *s = it->valuestring, *sp = strchr(s, ' ');
            kind = 1;
            if (strncmp(s, "#version", 8) == 0)
                continue;
            if (!sp || strchr(sp + 1, ' '))
                return fail(l, f, "must be two tokens separated by one space");
            if (add_merge(l, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), rank++, f))
                return -1;
        } else if (cJSON_IsArray(it) && kind != 1 && cJSON_GetArraySize(it) == 2 &&
                   cJSON_IsString(it->child) && cJSON_IsString(it->child->next)) {
            const char *a = it->child->valuestring, *b = it->child->next->valuestring;
            kind = 2;
            if (add_merge(l, a, strlen(a), b, strlen(b), rank++, f))
                return -1;
        } else {
            return fail(l, f, kind ? "merges mix \"a b\" strings and [a, b] pairs or are malformed"
                                   : "must be a string \"a b\" or a pair [a, b]");
        }
    }
    return 0;
}

static int load_model(ld *l, const cJSON *model)
{
    tk_bpe *m = &l->t->bpe;
    const cJSON *type, *drop;

    if (!cJSON_IsObject(model))
        return fail(l, "model", "must be an object");
    type = get(model, "type");
    if (type && !cJSON_IsString(type))
        return fail(l, "model.type", "must be a string");
    if (type && strcmp(type->valuestring, "BPE") != 0)
        return fail(l, NULL, "model type '%s' is not supported", type->valuestring);
    if (!type && !get(model, "merges"))
        return fail(l, "model", "has no type and no merges (only BPE is supported)");
    drop = get(model, "dropout");
    if (!absent(drop) && (!cJSON_IsNumber(drop) || drop->valuedouble != 0))
        return fail(l, "model.dropout", "BPE dropout is not supported (not deterministic)");
    if (opt_str(l, model, "unk_token", "model", false, &m->unk) ||
        opt_str(l, model, "continuing_subword_prefix", "model", true, &m->prefix) ||
        opt_str(l, model, "end_of_word_suffix", "model", true, &m->suffix) ||
        opt_bool(l, model, "fuse_unk", "model", &m->fuse_unk) ||
        opt_bool(l, model, "byte_fallback", "model", &m->byte_fallback) ||
        opt_bool(l, model, "ignore_merges", "model", &m->ignore_merges))
        return -1;
    if (!get(model, "vocab"))
        return fail(l, "model.vocab", "is missing");
    if (!get(model, "merges"))
        return fail(l, "model.merges", "is missing");
    if (load_vocab(l, get(model, "vocab")) || load_merges(l, get(model, "merges")))
        return -1;
    m->split_meta = !m->crosses_meta && !m->prefix && !m->suffix && !m->ignore_merges &&
                    tk_map_get(&m->vocab, META, 3) >= 0;
    return 0;
}

/* ---- normalizers ---- */

static tk_norm *norm_new(ld *l)
{
    tok_tokenizer *t = l->t;
    tk_norm *v = realloc(t->norm, (t->n_norm + 1) * sizeof(*v));

    if (!v) {
        nomem(l);
        return NULL;
    }
    t->norm = v;
    memset(&v[t->n_norm], 0, sizeof(*v));
    return &v[t->n_norm++];
}

/* Loads each item of the array n[key] ("WHERE.key[i]") with load, as a
 * "Sequence" normalizer, pre-tokenizer or post-processor holds them. 0 or -1. */
static int load_sequence(ld *l, const cJSON *n, const char *key, const char *where,
                         int (*load)(ld *, const cJSON *, const char *))
{
    const cJSON *list = get(n, key), *it;
    char f[512];
    size_t i = 0;

    snprintf(f, sizeof(f), "%s.%s", where, key);
    if (!cJSON_IsArray(list))
        return fail(l, f, "must be an array");
    cJSON_ArrayForEach(it, list) {
        char g[512];
        snprintf(g, sizeof(g), "%.400s[%zu]", f, i++);
        if (load(l, it, g))
            return -1;
    }
    return 0;
}

static int load_norm(ld *l, const cJSON *n, const char *where)
{
    static const char *const uni[] = { "NFC", "NFD", "NFKC", "NFKD" };
    static const tk_norm_kind unik[] = { TK_NORM_NFC, TK_NORM_NFD, TK_NORM_NFKC, TK_NORM_NFKD };
    const char *type;
    char f[512];
    tk_norm *nm;
    size_t i;

    if (absent(n))
        return 0;
    if (!cJSON_IsObject(n))
        return fail(l, where, "must be an object");
    if (need_str(l, n, "type", where, &type))
        return -1;
    if (strcmp(type, "Sequence") == 0)
        return load_sequence(l, n, "normalizers", where, load_norm);
    for (i = 0; i < 4; i++)
        if (strcmp(type, uni[i]) == 0) {
            if (!(nm = norm_new(l)))
                return -1;
            nm->kind = unik[i];
            return 0;
        }
    if (strcmp(type, "Prepend") == 0) {
        const char *s;
        if (need_str(l, n, "prepend", where, &s) || !(nm = norm_new(l)))
            return -1;
        nm->kind = TK_NORM_PREPEND;
        return (nm->str = sut_strdup(s)) ? 0 : nomem(l);
    }
    if (strcmp(type, "Replace") == 0) {
        const char *s;
        if (need_str(l, n, "content", where, &s) || !(nm = norm_new(l)))
            return -1;
        nm->kind = TK_NORM_REPLACE;
        if (!(nm->str = sut_strdup(s)))
            return nomem(l);
        snprintf(f, sizeof(f), "%s.pattern", where);
        return (nm->re = pattern(l, get(n, "pattern"), f)) ? 0 : -1;
    }
    return fail(l, NULL, "normalizer '%s' is not supported", type);
}

/* ---- pre-tokenizers ---- */

static tk_pre *pre_new(ld *l)
{
    tok_tokenizer *t = l->t;
    tk_pre *v = realloc(t->pre, (t->n_pre + 1) * sizeof(*v));

    if (!v) {
        nomem(l);
        return NULL;
    }
    t->pre = v;
    memset(&v[t->n_pre], 0, sizeof(*v));
    return &v[t->n_pre++];
}

static int load_behavior(ld *l, const cJSON *o, const char *where, tk_behavior *out)
{
    static const char *const names[] = { "Removed", "Isolated", "MergedWithPrevious",
                                         "MergedWithNext", "Contiguous" };
    static const tk_behavior vals[] = { TK_REMOVED, TK_ISOLATED, TK_MERGED_PREV,
                                        TK_MERGED_NEXT, TK_CONTIGUOUS };
    const char *s;
    char f[512];
    size_t i;

    if (need_str(l, o, "behavior", where, &s))
        return -1;
    for (i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = vals[i];
            return 0;
        }
    snprintf(f, sizeof(f), "%s.behavior", where);
    return fail(l, f, "unknown behavior '%s'", s);
}

static int load_metaspace(ld *l, const cJSON *n, const char *where, tk_pre *p)
{
    const cJSON *ps = get(n, "prepend_scheme"), *aps = get(n, "add_prefix_space");
    const char *r;
    char f[512];

    if (need_str(l, n, "replacement", where, &r))
        return -1;
    snprintf(f, sizeof(f), "%s.replacement", where);
    p->repl_len = strlen(r);
    if (p->repl_len == 0 || p->repl_len >= sizeof(p->repl) ||
        tk_utf8_valid(r, p->repl_len) != p->repl_len ||
        p->repl_len != (size_t)((unsigned char)r[0] < 0x80 ? 1 : (unsigned char)r[0] < 0xe0 ? 2
                                : (unsigned char)r[0] < 0xf0 ? 3 : 4))
        return fail(l, f, "must be one character");
    memcpy(p->repl, r, p->repl_len);
    p->prepend = TK_PREPEND_ALWAYS;
    snprintf(f, sizeof(f), "%s.prepend_scheme", where);
    if (!absent(ps)) {
        if (!cJSON_IsString(ps))
            return fail(l, f, "must be a string");
        if (strcmp(ps->valuestring, "first") == 0)
            p->prepend = TK_PREPEND_FIRST;
        else if (strcmp(ps->valuestring, "never") == 0)
            p->prepend = TK_PREPEND_NEVER;
        else if (strcmp(ps->valuestring, "always") != 0)
            return fail(l, f, "unknown prepend_scheme '%s'", ps->valuestring);
    }
    if (cJSON_IsFalse(aps)) {
        if (p->prepend != TK_PREPEND_NEVER && !absent(ps))
            return fail(l, f, "add_prefix_space does not match declared prepend_scheme");
        p->prepend = TK_PREPEND_NEVER;
    }
    p->split = true;
    return opt_bool(l, n, "split", where, &p->split);
}

static int load_pre(ld *l, const cJSON *n, const char *where)
{
    const char *type;
    char f[512];
    tk_pre *p;

    if (absent(n))
        return 0;
    if (!cJSON_IsObject(n))
        return fail(l, where, "must be an object");
    if (need_str(l, n, "type", where, &type))
        return -1;
    if (strcmp(type, "Sequence") == 0)
        return load_sequence(l, n, "pretokenizers", where, load_pre);
    if (strcmp(type, "ByteLevel") == 0) {
        bool use_regex = true;
        if (!(p = pre_new(l)))
            return -1;
        p->kind = TK_PRE_BYTELEVEL;
        p->add_prefix_space = true;
        if (opt_bool(l, n, "add_prefix_space", where, &p->add_prefix_space) ||
            opt_bool(l, n, "use_regex", where, &use_regex))
            return -1;
        if (use_regex && !(p->re = tk_gpt2_regex(l->err)))
            return -1;
        return 0;
    }
    if (strcmp(type, "Split") == 0) {
        if (!(p = pre_new(l)))
            return -1;
        p->kind = TK_PRE_SPLIT;
        snprintf(f, sizeof(f), "%s.pattern", where);
        if (load_behavior(l, n, where, &p->behavior) ||
            opt_bool(l, n, "invert", where, &p->invert))
            return -1;
        return (p->re = pattern(l, get(n, "pattern"), f)) ? 0 : -1;
    }
    if (strcmp(type, "Metaspace") == 0) {
        if (!(p = pre_new(l)))
            return -1;
        p->kind = TK_PRE_METASPACE;
        return load_metaspace(l, n, where, p);
    }
    return fail(l, NULL, "pre_tokenizer '%s' is not supported", type);
}

/* ---- added tokens ---- */

static int load_added_one(ld *l, const cJSON *o, const char *f, tk_added *a)
{
    const cJSON *c = get(o, "content");
    char g[128];

    if (!cJSON_IsObject(o))
        return fail(l, f, "must be an object");
    snprintf(g, sizeof(g), "%s.id", f);
    if (get_id(l, get(o, "id"), g, &a->id))
        return -1;
    snprintf(g, sizeof(g), "%s.content", f);
    if (!cJSON_IsString(c))
        return fail(l, g, "must be a string");
    if (!(a->content = sut_strdup(c->valuestring)))
        return nomem(l);
    a->len = strlen(a->content);
    if (opt_bool(l, o, "special", f, &a->special))
        return -1;
    a->normalized = !a->special;
    return opt_bool(l, o, "normalized", f, &a->normalized) ||
           opt_bool(l, o, "lstrip", f, &a->lstrip) || opt_bool(l, o, "rstrip", f, &a->rstrip) ||
           opt_bool(l, o, "single_word", f, &a->single_word);
}

/* The id the library gives token a: the vocab's, else the next free one
 * after the vocab's entries (added_vocabulary.rs add_tokens). */
static int check_added_id(ld *l, tk_added *a, const char *f, int32_t *next)
{
    int32_t want = tk_map_get(&l->t->bpe.vocab, a->content, a->len);

    if (want < 0)
        want = (*next)++;
    if (want != a->id)
        return fail(l, f, "id %d, but the tokenizers library gives '%s' id %d", a->id,
                    a->content, want);
    return 0;
}

/* The pattern a normalized token is matched by: its normalized content. */
static int added_pattern(ld *l, tk_run *r, tk_added *a)
{
    tk_buf b = { 0 };

    if (a->normalized && l->t->n_norm) {
        if (tk_normalize(l->t, r, a->content, a->len, &b)) {
            free(b.s);
            return -1;
        }
        a->pattern = b.s ? b.s : sut_strdup("");
        a->plen = b.len;
    } else {
        a->pattern = sut_strdup(a->content);
        a->plen = a->len;
    }
    return a->pattern ? 0 : nomem(l);
}

static int load_added(ld *l, const cJSON *list, tk_run *r)
{
    tok_tokenizer *t = l->t;
    const cJSON *it;
    int32_t next = (int32_t)t->bpe.vocab_len, old;
    char f[64];
    size_t n;

    if (absent(list))
        return 0;
    if (!cJSON_IsArray(list))
        return fail(l, "added_tokens", "must be an array");
    n = (size_t)cJSON_GetArraySize(list);
    if (!(t->added = calloc(n ? n : 1, sizeof(*t->added))))
        return nomem(l);
    cJSON_ArrayForEach(it, list) {
        tk_added *a = &t->added[t->n_added];
        snprintf(f, sizeof(f), "added_tokens[%zu]", t->n_added);
        t->n_added++;
        if (load_added_one(l, it, f, a))
            return -1;
        if (a->len == 0)
            continue;
        if (tk_map_put(&t->added_ids, a->content, a->len, a->id, &old))
            return nomem(l);
        if (old >= 0)
            return fail(l, f, "token '%s' is added twice", a->content);
        if (check_added_id(l, a, f, &next) || added_pattern(l, r, a))
            return -1;
        if ((size_t)a->id + 1 > t->vocab_size)
            t->vocab_size = (size_t)a->id + 1;
    }
    for (n = 0; n < 2; n++) {
        const tk_added *dup = NULL;
        int rc = tk_set_build(n ? &t->norm_set : &t->raw_set, t->added, t->n_added, n == 1,
                              &dup);
        if (rc < 0)
            return nomem(l);
        if (rc > 0)
            return fail(l, "added_tokens", "two tokens match the same text as '%s'",
                        dup->content);
    }
    return 0;
}

/* ---- post-processor ---- */

static int push_ids(int32_t **v, size_t *n, const int32_t *ids, size_t k, bool front)
{
    int32_t *w = realloc(*v, (*n + k + 1) * sizeof(*w));

    if (!w)
        return -1;
    *v = w;
    if (k == 0)
        return 0;
    if (front) {
        memmove(w + k, w, *n * sizeof(*w));
        memcpy(w, ids, k * sizeof(*w));
    } else {
        memcpy(w + *n, ids, k * sizeof(*w));
    }
    *n += k;
    return 0;
}

/* The ids of special token name in the template's special_tokens. */
static int special_ids(ld *l, const cJSON *specials, const char *name, const char *f,
                       tk_ids *out)
{
    const cJSON *s = cJSON_IsObject(specials) ? get(specials, name) : NULL, *ids, *it;
    char g[512];
    int32_t id = 0;

    if (!cJSON_IsObject(s))
        return fail(l, f, "special token '%s' is not in special_tokens", name);
    ids = get(s, "ids");
    snprintf(g, sizeof(g), "%.400s.ids", f);
    if (!cJSON_IsArray(ids))
        return fail(l, g, "must be an array of ids");
    cJSON_ArrayForEach(it, ids)
        if (get_id(l, it, g, &id) || tk_ids_add(out, id))
            return -1;
    return 0;
}

static int load_template(ld *l, const cJSON *n, const char *where)
{
    tok_tokenizer *t = l->t;
    const cJSON *single = get(n, "single"), *specials = get(n, "special_tokens"), *it;
    tk_ids pre = { 0 }, post = { 0 };
    char f[512];
    size_t i = 0, seqs = 0;
    int rc = -1;

    snprintf(f, sizeof(f), "%s.single", where);
    if (!cJSON_IsArray(single)) {
        fail(l, f, "must be an array of pieces");
        goto out;
    }
    cJSON_ArrayForEach(it, single) {
        const cJSON *sp = get(it, "SpecialToken"), *sq = get(it, "Sequence");
        char g[512];
        snprintf(g, sizeof(g), "%.400s[%zu]", f, i++);
        if (cJSON_IsObject(sq)) {
            const cJSON *id = get(sq, "id");
            if (!cJSON_IsString(id) || strcmp(id->valuestring, "A") != 0) {
                fail(l, g, "a single template may only hold sequence A");
                goto out;
            }
            seqs++;
        } else if (cJSON_IsObject(sp) && cJSON_IsString(get(sp, "id"))) {
            if (special_ids(l, specials, get(sp, "id")->valuestring, g, seqs ? &post : &pre))
                goto out;
        } else {
            fail(l, g, "must be {\"SpecialToken\": ...} or {\"Sequence\": ...}");
            goto out;
        }
    }
    if (seqs != 1) {
        fail(l, f, "holds sequence A %zu times (once is supported)", seqs);
        goto out;
    }
    if (push_ids(&t->prefix, &t->n_prefix, pre.v, pre.n, true) ||
        push_ids(&t->suffix, &t->n_suffix, post.v, post.n, false)) {
        nomem(l);
        goto out;
    }
    rc = 0;
out:
    free(pre.v);
    free(post.v);
    return rc;
}

static int load_post(ld *l, const cJSON *n, const char *where)
{
    const char *type;

    if (absent(n))
        return 0;
    if (!cJSON_IsObject(n))
        return fail(l, where, "must be an object");
    if (need_str(l, n, "type", where, &type))
        return -1;
    if (strcmp(type, "ByteLevel") == 0)
        return 0;
    if (strcmp(type, "TemplateProcessing") == 0)
        return load_template(l, n, where);
    if (strcmp(type, "Sequence") == 0)
        return load_sequence(l, n, "processors", where, load_post);
    return fail(l, NULL, "post_processor '%s' is not supported", type);
}

int tk_json_load(tok_tokenizer *t, const cJSON *root, sut_error *err)
{
    ld l = { t, err };
    const cJSON *v;
    tk_run r = { 0 };
    int rc;

    if (!cJSON_IsObject(root))
        return fail(&l, NULL, "not a JSON object");
    v = get(root, "version");
    if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, "1.0") != 0))
        return fail(&l, "version", "unknown tokenizer version (1.0 is supported)");
    if (!get(root, "model"))
        return fail(&l, "model", "is missing");
    if (load_model(&l, get(root, "model")) ||
        load_norm(&l, get(root, "normalizer"), "normalizer") ||
        load_pre(&l, get(root, "pre_tokenizer"), "pre_tokenizer"))
        return -1;
    if (tk_run_init(&r, t, err))
        return -1;
    rc = load_added(&l, get(root, "added_tokens"), &r);
    tk_run_free(&r);
    if (rc || load_post(&l, get(root, "post_processor"), "post_processor"))
        return -1;
    return 0;
}

void tk_norm_free(tk_norm *n)
{
    free(n->str);
    pcre2_code_free(n->re);
}

void tk_pre_free(tk_pre *p)
{
    pcre2_code_free(p->re);
}
