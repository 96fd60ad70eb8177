/* recipe_spec.c: the compact spec of the command line.
 *
 *   spec  = slice { "," slice }
 *   slice = MODEL "[" INT ":" INT "]" { "*" scale }
 *   scale = [ PATTERN "=" ] NUMBER
 *
 * with white space allowed between tokens. MODEL is a name given with
 * -m NAME=PATH, or else a path (it holds a '/' or exists). A scale without
 * a pattern applies to every tensor of the slice; PATTERN is a PCRE2
 * pattern on the name within the layer, without white space or any of
 * "[]:,*=" (e.g. inst[8:32]*o_proj|down_proj=0). A PCRE2 lexer cuts the
 * text into tokens: one of "[]:,*=", or a word of any other characters. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "recipe_int.h"
#include "common/checked.h"

#define TOKEN_RE "\\G\\s*(?:([\\[\\]:,*=])|([^\\[\\]:,*=\\s]+))?"

enum { T_END, T_PUNCT, T_WORD };

typedef struct token {
    int kind;
    char punct;
    size_t at, len;  /* offset and length in the spec */
} token;

typedef struct sctx {
    const char *spec;
    size_t len;
    pcre2_code *re;
    pcre2_match_data *md;
    token tok;       /* the current token */
    recipe *r;
    sut_error *err;
} sctx;

/* Sets err to "slices: column N: what" for offset at; returns -1. */
static int fail_at(const sctx *c, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(const sctx *c, size_t at, const char *fmt, ...)
{
    char what[SUT_ERROR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    sut_error_set(c->err, "slices: column %zu: %s", at + 1, what);
    return -1;
}

/* The token starting at or after offset pos. */
static token lex(const sctx *c, size_t pos)
{
    token t = {T_END, 0, c->len, 0};
    PCRE2_SIZE *ov;

    if (pcre2_match(c->re, (PCRE2_SPTR)c->spec, c->len, pos, 0, c->md,
                    NULL) < 0)
        return t;
    ov = pcre2_get_ovector_pointer(c->md);
    t.at = ov[1];
    if (ov[2] != PCRE2_UNSET) {
        t.kind = T_PUNCT;
        t.at = ov[2];
        t.len = 1;
        t.punct = c->spec[ov[2]];
    } else if (ov[4] != PCRE2_UNSET) {
        t.kind = T_WORD;
        t.at = ov[4];
        t.len = ov[5] - ov[4];
    }
    return t;
}

static void next(sctx *c)
{
    c->tok = lex(c, c->tok.at + c->tok.len);
}

static bool is_punct(const sctx *c, char p)
{
    return c->tok.kind == T_PUNCT && c->tok.punct == p;
}

/* Consumes punctuation p or fails "expected 'p'". */
static int expect(sctx *c, char p)
{
    if (!is_punct(c, p))
        return fail_at(c, c->tok.at, "expected '%c'", p);
    next(c);
    return 0;
}

/* The current word as a new string, or NULL. */
static char *word(const sctx *c)
{
    return strndup(c->spec + c->tok.at, c->tok.len);
}

static int oom(const sctx *c)
{
    sut_error_oom(c->err, "slices");
    return -1;
}

static int layer_number(sctx *c, unsigned *out)
{
    uint64_t v = 0;
    size_t i;

    if (c->tok.kind != T_WORD)
        return fail_at(c, c->tok.at, "expected a layer number");
    for (i = 0; i < c->tok.len; i++) {
        char d = c->spec[c->tok.at + i];
        if (!isdigit((unsigned char)d))
            return fail_at(c, c->tok.at, "expected a layer number");
        if (ck_mul(v, 10, &v) != 0 || ck_add(v, (uint64_t)(d - '0'), &v) != 0)
            v = UINT64_MAX;
    }
    if (v > RECIPE_LAYER_MAX)
        return fail_at(c, c->tok.at, "layer number %.*s is over the limit "
                       "of %u", (int)c->tok.len, c->spec + c->tok.at,
                       RECIPE_LAYER_MAX);
    *out = (unsigned)v;
    next(c);
    return 0;
}

static int number(sctx *c, double *out)
{
    char *w, *end;
    int ok;

    if (c->tok.kind != T_WORD)
        return fail_at(c, c->tok.at, "expected a number");
    if (!(w = word(c)))
        return oom(c);
    errno = 0;
    *out = strtod(w, &end);
    ok = end != w && !*end && errno == 0 && isfinite(*out) &&
         strspn(w, "0123456789.eE+-") == strlen(w);
    free(w);
    if (!ok)
        return fail_at(c, c->tok.at, "expected a number");
    next(c);
    return 0;
}

/* One "*" scale after a slice: [PATTERN "="] NUMBER. */
static int scale(sctx *c, recipe_slice *s)
{
    token after = lex(c, c->tok.at + c->tok.len);
    size_t at = c->tok.at;
    char *pattern = NULL;
    double v;
    int rc = -1;

    if (c->tok.kind == T_WORD && after.kind == T_PUNCT && after.punct == '=') {
        if (!(pattern = word(c)))
            return oom(c);
        next(c);
        next(c);
    }
    if (number(c, &v) != 0)
        goto out;
    rc = rc_add_scale(s, pattern, &v, 1, c->err);
    if (rc != 0)
        sut_error_prefix(c->err, "slices: column %zu", at + 1);
out:
    free(pattern);
    return rc;
}

/* True when name should be read as a path: it holds a '/' or exists. */
static bool looks_like_path(const char *name)
{
    struct stat st;

    return strchr(name, '/') || stat(name, &st) == 0;
}

/* The model the current word names, adding a path model when needed. */
static long model_of(sctx *c)
{
    char *w, *name = NULL;
    long m;

    if (c->tok.kind != T_WORD)
        return fail_at(c, c->tok.at, "expected a model name");
    if (!(w = word(c)))
        return oom(c);
    m = recipe_model_index(c->r, w);
    if (m < 0 && looks_like_path(w)) {
        m = rc_find_given(c->r, w);
        if (m < 0 && (!(name = rc_name_from_path(c->r, w)) ||
                      (m = rc_add_model(c->r, name, w, NULL)) < 0))
            m = oom(c);
    } else if (m < 0) {
        m = fail_at(c, c->tok.at, "unknown model '%s' (give it with -m "
                    "%s=PATH)", w, w);
    }
    free(name);
    free(w);
    if (m >= 0)
        next(c);
    return m;
}

static int slice(sctx *c)
{
    unsigned start, end;
    size_t at;
    recipe_slice *s;
    long m = model_of(c);

    if (m < 0 || expect(c, '[') != 0)
        return -1;
    at = c->tok.at;
    if (layer_number(c, &start) != 0 || expect(c, ':') != 0 ||
        layer_number(c, &end) != 0 || expect(c, ']') != 0)
        return -1;
    if (start > end)
        return fail_at(c, at, "start %u is after end %u", start, end);
    if (!(s = rc_add_slice(c->r, (size_t)m, start, end)))
        return oom(c);
    while (is_punct(c, '*')) {
        next(c);
        if (scale(c, s) != 0)
            return -1;
    }
    return 0;
}

static int parse(sctx *c)
{
    c->tok = lex(c, 0);
    for (;;) {
        if (slice(c) != 0)
            return -1;
        if (c->tok.kind == T_END)
            break;
        if (!is_punct(c, ','))
            return fail_at(c, c->tok.at, "expected ',' or the end");
        next(c);
    }
    return rc_check_total(c->r, "slices", c->err);
}

/* Adds the models of "NAME=PATH" arguments. */
static int add_model_args(recipe *r, const char *const *args, size_t n,
                          sut_error *err)
{
    const char *eq;
    char *name;
    size_t i;
    long m;

    for (i = 0; i < n; i++) {
        eq = strchr(args[i], '=');
        if (!eq || eq == args[i] || !eq[1]) {
            sut_error_set(err, "models: '%s': expected NAME=PATH", args[i]);
            return -1;
        }
        if (!(name = strndup(args[i], (size_t)(eq - args[i]))))
            goto oom;
        if (!rc_valid_name(name) || recipe_model_index(r, name) >= 0) {
            sut_error_set(err, rc_valid_name(name)
                          ? "models: '%s' is given twice"
                          : "models: invalid model name '%s' (use letters, "
                            "digits, '_', '.' and '-')", name);
            free(name);
            return -1;
        }
        m = rc_add_model(r, name, eq + 1, NULL);
        free(name);
        if (m < 0)
            goto oom;
    }
    return 0;
oom:
    sut_error_oom(err, "models");
    return -1;
}

recipe *recipe_parse_spec(const char *spec, const char *const *model_args,
                          size_t nmodel_args, sut_error *err)
{
    sctx c = {spec, strlen(spec), NULL, NULL, {0}, NULL, err};
    PCRE2_SIZE off;
    int code, rc = -1;

    if (!(c.r = rc_new(RECIPE_SPEC)))
        goto oom;
    if (add_model_args(c.r, model_args, nmodel_args, err) != 0)
        goto out;
    c.re = pcre2_compile((PCRE2_SPTR)TOKEN_RE, PCRE2_ZERO_TERMINATED, 0,
                         &code, &off, NULL);
    if (!c.re || !(c.md = pcre2_match_data_create_from_pattern(c.re, NULL)))
        goto oom;
    rc = parse(&c);
    goto out;
oom:
    sut_error_oom(err, "slices");
out:
    pcre2_match_data_free(c.md);
    pcre2_code_free(c.re);
    if (rc != 0) {
        recipe_free(c.r);
        c.r = NULL;
    }
    return c.r;
}
