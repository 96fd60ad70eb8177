/* arch_match.c: what a family says of tensor names and of a config
 * (see arch.h). */
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
int arch_matches(const compiled *c, const pcre2_code *code, const char *s)
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

    return c && c->head && arch_matches(c, c->head, name) == 1;
}

bool arch_scale_cancelled(const arch_family *f, const char *local)
{
    const compiled *c = f && local ? f->priv : NULL;

    return c && c->post_norm && arch_matches(c, c->post_norm, local) == 1;
}

/* name is the tensor spelt exact, or matched by code when there is one. */
static bool named(const compiled *c, const pcre2_code *code,
                  const char *exact, const char *name)
{
    if (code)
        return arch_matches(c, code, name) == 1;
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
    if (!(tc = arch_text_config(config)))
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

    if (!key && (tc = arch_text_config(config)) && (key = arch_count_key(f, tc)))
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

