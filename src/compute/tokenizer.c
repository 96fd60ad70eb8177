/* tokenizer.c: opening a tokenizer (tokenizer.json and
 * tokenizer_config.json) and encode's pipeline, as the library's
 * Tokenizer::encode: added tokens on the raw text, normalizer, added
 * tokens on the normalized text, pre-tokenizers, BPE per word, then the
 * post-processor's tokens. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer_int.h"
#include "common/util.h"

#define CONFIG_MAX (16u << 20)

int tk_run_init(tk_run *r, const tok_tokenizer *t, sut_error *err)
{
    memset(r, 0, sizeof(*r));
    r->err = err;
    r->file = t->file;
    r->md = pcre2_match_data_create(16, NULL);
    r->mctx = pcre2_match_context_create(NULL);
    r->jit = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (!r->md || !r->mctx || !r->jit) {
        tk_run_free(r);
        sut_error_set(err, "%s: out of memory", t->file);
        return -1;
    }
    pcre2_jit_stack_assign(r->mctx, NULL, r->jit);
    return 0;
}

void tk_run_free(tk_run *r)
{
    pcre2_match_data_free(r->md);
    pcre2_match_context_free(r->mctx);
    pcre2_jit_stack_free(r->jit);
    tk_map_free(&r->cache);
    free(r->cache_at);
    free(r->cache_ids.v);
    memset(r, 0, sizeof(*r));
}

void tok_free(tok_tokenizer *t)
{
    size_t i;

    if (!t)
        return;
    tk_map_free(&t->bpe.vocab);
    tk_pairs_free(&t->bpe.merges);
    free(t->bpe.unk);
    free(t->bpe.prefix);
    free(t->bpe.suffix);
    for (i = 0; i < t->n_norm; i++)
        tk_norm_free(&t->norm[i]);
    free(t->norm);
    for (i = 0; i < t->n_pre; i++)
        tk_pre_free(&t->pre[i]);
    free(t->pre);
    for (i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].pattern);
    }
    free(t->added);
    tk_map_free(&t->added_ids);
    free(t->raw_set.nodes);
    free(t->norm_set.nodes);
    free(t->prefix);
    free(t->suffix);
    free(t->file);
    free(t);
}

int32_t tok_token_id(const tok_tokenizer *t, const char *token)
{
    size_t n = strlen(token);
    int32_t id = tk_map_get(&t->added_ids, token, n);

    return id >= 0 ? id : tk_map_get(&t->bpe.vocab, token, n);
}

int32_t tok_bos(const tok_tokenizer *t)
{
    return t->n_prefix ? t->prefix[0] : -1;
}

size_t tok_vocab_size(const tok_tokenizer *t)
{
    return t->vocab_size;
}

/* ---- tokenizer_config.json ---- */

/* The content of a special token entry: a string or {"content": ...}. */
static const char *token_content(const cJSON *v)
{
    if (cJSON_IsObject(v))
        v = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Makes the ids start (at_end false) or end with the config's token when
 * its add_<which>_token flag is true, and not when it is false. */
static int config_flag(tok_tokenizer *t, const cJSON *cfg, const char *path, const char *which,
                       bool at_end, sut_error *err)
{
    char flag[32], key[32];
    const cJSON *f;
    const char *name;
    int32_t id, **v = at_end ? &t->suffix : &t->prefix;
    size_t *n = at_end ? &t->n_suffix : &t->n_prefix;
    bool has;

    snprintf(flag, sizeof(flag), "add_%s_token", which);
    snprintf(key, sizeof(key), "%s_token", which);
    f = cJSON_GetObjectItemCaseSensitive(cfg, flag);
    if (!cJSON_IsBool(f))
        return 0;
    name = token_content(cJSON_GetObjectItemCaseSensitive(cfg, key));
    id = name ? tok_token_id(t, name) : -1;
    if (cJSON_IsTrue(f) && id < 0) {
        sut_error_set(err, "%s: field '%s': %s is true but %s is %s", path, flag, flag, key,
                      name ? "not in the vocab" : "not set");
        return -1;
    }
    /* without a named token, false drops what the post-processor adds there */
    has = *n > 0 && (id < 0 || (*v)[at_end ? *n - 1 : 0] == id);
    if (cJSON_IsTrue(f) && !has) {
        int32_t *w = realloc(*v, (*n + 1) * sizeof(*w));
        if (!w) {
            sut_error_set(err, "%s: out of memory", path);
            return -1;
        }
        if (!at_end)
            memmove(w + 1, w, *n * sizeof(*w));
        w[at_end ? *n : 0] = id;
        *v = w;
        (*n)++;
    } else if (cJSON_IsFalse(f) && has) {
        if (!at_end)
            memmove(*v, *v + 1, (*n - 1) * sizeof(**v));
        (*n)--;
    }
    return 0;
}

static int load_config(tok_tokenizer *t, const char *dir, sut_error *err)
{
    char *path = sut_path_join(dir, "tokenizer_config.json");
    cJSON *cfg = NULL;
    int rc = -1;

    if (!path) {
        sut_error_set(err, "%s: out of memory", t->file);
        return -1;
    }
    if (!sut_is_file(dir, "tokenizer_config.json")) {
        rc = 0;
        goto out;
    }
    if (!(cfg = sut_json_read_file(path, CONFIG_MAX, err)))
        goto out;
    if (!cJSON_IsObject(cfg)) {
        sut_error_set(err, "%s: not a JSON object", path);
        goto out;
    }
    if (config_flag(t, cfg, path, "bos", false, err) || config_flag(t, cfg, path, "eos", true, err))
        goto out;
    rc = 0;
out:
    cJSON_Delete(cfg);
    free(path);
    return rc;
}

/* ---- open ---- */

/* The folder of a file path (a new string). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d;

    if (!slash)
        return sut_strdup(".");
    if (slash == path)
        return sut_strdup("/");
    d = malloc((size_t)(slash - path) + 1);
    if (d) {
        memcpy(d, path, (size_t)(slash - path));
        d[slash - path] = '\0';
    }
    return d;
}

tok_tokenizer *tok_open(const char *path, sut_error *err)
{
    tok_tokenizer *t = calloc(1, sizeof(*t));
    struct stat st;
    char *dir = NULL;
    cJSON *root = NULL;

    if (!t) {
        sut_error_set(err, "%s: out of memory", path);
        return NULL;
    }
    if (stat(path, &st) != 0) {
        sut_error_set(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        dir = sut_strdup(path);
        t->file = sut_path_join(path, "tokenizer.json");
    } else {
        dir = dir_of(path);
        t->file = sut_strdup(path);
    }
    if (!dir || !t->file) {
        sut_error_set(err, "%s: out of memory", path);
        goto fail;
    }
    if (!(root = sut_json_read_file(t->file, TOK_FILE_MAX, err)) ||
        tk_json_load(t, root, err) || load_config(t, dir, err))
        goto fail;
    cJSON_Delete(root);
    free(dir);
    return t;
fail:
    cJSON_Delete(root);
    free(dir);
    tok_free(t);
    return NULL;
}

/* ---- encode ---- */

/* Normalizes each text piece of in and splits it around the normalized
 * added tokens, into out. */
static int normalize_pieces(const tok_tokenizer *t, tk_run *r, const tk_pieces *in,
                            tk_pieces *out)
{
    tk_buf b = { 0 };
    size_t i;
    int rc = -1;

    for (i = 0; i < in->n; i++) {
        const tk_span *p = &in->v[i];
        if (p->id >= 0) {
            if (tk_pieces_add(out, "", 0, p->id, false))
                goto nomem;
            continue;
        }
        if (tk_normalize(t, r, in->buf + p->off, p->len, &b))
            goto out;
        if (tk_split_added_one(&t->norm_set, b.s ? b.s : "", b.len, p->first, out))
            goto nomem;
    }
    rc = 0;
    goto out;
nomem:
    sut_error_set(r->err, "%s: out of memory", t->file);
out:
    free(b.s);
    return rc;
}

/* Runs the text through added tokens, normalizer and pre-tokenizers:
 * *pa holds the words and added tokens. */
static int pre_tokenize(const tok_tokenizer *t, tk_run *r, const char *text, size_t len,
                        tk_pieces *pa, tk_pieces *pb)
{
    tk_pieces tmp;
    size_t i;

    if (tk_pieces_add(pa, text, len, -1, true) || tk_split_added(&t->raw_set, pa, pb))
        goto nomem;
    tk_pieces_clear(pa);
    if (normalize_pieces(t, r, pb, pa))
        return -1;
    for (i = 0; i < t->n_pre; i++) {
        tk_pieces_clear(pb);
        if (tk_pre_run(&t->pre[i], r, pa, pb))
            return -1;
        tmp = *pa;
        *pa = *pb;
        *pb = tmp;
    }
    return 0;
nomem:
    sut_error_set(r->err, "%s: out of memory", t->file);
    return -1;
}

static int add_all(tk_ids *out, const int32_t *ids, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (tk_ids_add(out, ids[i]))
            return -1;
    return 0;
}

int tok_encode(const tok_tokenizer *t, const char *text, size_t len, bool add_special,
               int32_t **ids, size_t *n, sut_error *err)
{
    tk_pieces pa = { 0 }, pb = { 0 };
    tk_ids out = { 0 };
    tk_run r;
    size_t i, ok = tk_utf8_valid(text, len);
    int rc = -1;

    *ids = NULL;
    *n = 0;
    if (ok != len) {
        sut_error_set(err, "text is not valid UTF-8 at byte %zu", ok);
        return -1;
    }
    if (tk_run_init(&r, t, err))
        return -1;
    if (pre_tokenize(t, &r, text, len, &pa, &pb))
        goto out;
    if (tk_ids_add(&out, 0)) /* *ids is non-NULL even when empty */
        goto nomem;
    out.n = 0;
    if (add_special && add_all(&out, t->prefix, t->n_prefix))
        goto nomem;
    for (i = 0; i < pa.n; i++) {
        const tk_span *p = &pa.v[i];
        if (p->id >= 0 ? tk_ids_add(&out, p->id) != 0
                       : tk_bpe_word(&t->bpe, &r, pa.buf + p->off, p->len, &out) != 0) {
            if (p->id >= 0)
                goto nomem;
            goto out;
        }
    }
    if (add_special && add_all(&out, t->suffix, t->n_suffix))
        goto nomem;
    *ids = out.v;
    *n = out.n;
    out.v = NULL;
    rc = 0;
    goto out;
nomem:
    sut_error_set(err, "%s: out of memory", t->file);
out:
    free(out.v);
    tk_pieces_free(&pa);
    tk_pieces_free(&pb);
    tk_run_free(&r);
    return rc;
}
