/* arch_infer.c: a family inferred from tensor names when no config names
 * one (see arch.h). */
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
        !(f->classes = arch_list_split(NULL)) || !(f->layer_arrays = arch_list_split(NULL)) ||
        !(f->layer_lists = arch_list_split(NULL)) ||
        !(f->layer_count_key = strdup("num_hidden_layers")) ||
        append(&f->layer_pattern, &len, "^") ||
        append_quoted(&f->layer_pattern, &len, box->name, box->len) ||
        append(&f->layer_pattern, &len, "(\\d+)\\.(.+)$"))
        goto oom;
    f->inferred = true;
    /* the layer pattern first, to tell the non-layer names; then all */
    if (!(f->head_pattern = strdup("(?!)")))
        goto oom;
    if (arch_family_compile(f, err) != 0)
        goto fail;
    free(f->head_pattern);
    f->head_pattern = NULL;
    if (infer_ends(f, names, n, box) != 0)
        goto oom;
    arch_compiled_free(f->priv);
    f->priv = NULL;
    if (arch_family_compile(f, err) != 0) {
        sut_error_prefix(err, "cannot infer the architecture");
        goto fail;
    }
    return f;
oom:
    sut_error_oom(err, NULL);
fail:
    arch_family_free(f);
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

/* f itself, owned by the table from now on, or an identical family the
 * table already has (f freed); NULL with err set when out of memory. */
static const arch_family *adopt(arch_table *t, arch_family *f, sut_error *err)
{
    const arch_family *old = find_inferred(t, f);

    if (old) {
        arch_family_free(f);
        return old;
    }
    if (arch_push(&t->owned, &t->nowned, f) != 0) {
        arch_family_free(f);
        sut_error_oom(err, NULL);
        return NULL;
    }
    return f;
}

const arch_family *arch_infer(arch_table *t, const char *const *names,
                              size_t n, sut_error *err)
{
    cand box = { NULL, 0 };
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
    return adopt(t, f, err);
}

const arch_family *arch_none(arch_table *t, sut_error *err)
{
    arch_family *f = calloc(1, sizeof(*f));

    if (!f || !(f->name = strdup("none")) || !(f->classes = arch_list_split(NULL)) ||
        !(f->layer_arrays = arch_list_split(NULL)) ||
        !(f->layer_lists = arch_list_split(NULL)) ||
        !(f->layer_count_key = strdup("num_hidden_layers")) ||
        !(f->layer_pattern = strdup("^(?!)(\\d+)\\.(.+)$")) ||
        !(f->head_pattern = strdup("(?!)")) || !(f->embed_name = strdup("")) ||
        !(f->head_name = strdup(""))) {
        arch_family_free(f);
        sut_error_oom(err, NULL);
        return NULL;
    }
    f->inferred = true;
    if (arch_family_compile(f, err) != 0) {
        arch_family_free(f);
        return NULL;
    }
    return adopt(t, f, err);
}

