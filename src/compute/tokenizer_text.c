/* tokenizer_text.c: the text side of the tokenizer: Oniguruma patterns run
 * through PCRE2, normalizers, added-token splitting and pre-tokenizers,
 * each following the library's tokenizer/pattern.rs, normalizer.rs,
 * added_vocabulary.rs and pre_tokenizers/. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer_int.h"

/* The byte-level pre-tokenizer's fixed pattern (GPT-2's). */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

#define WORD_CLASS "\\p{L}\\p{M}\\p{Nd}\\p{Pc}"

/* ---- UTF-8 ---- */

size_t tk_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k, len;
    uint32_t c, min;

    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        if (u[i] >= 0xc2 && u[i] <= 0xdf) {
            len = 2, c = u[i] & 0x1f, min = 0x80;
        } else if (u[i] >= 0xe0 && u[i] <= 0xef) {
            len = 3, c = u[i] & 0x0f, min = 0x800;
        } else if (u[i] >= 0xf0 && u[i] <= 0xf4) {
            len = 4, c = u[i] & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (len > n - i)
            return i;
        for (k = 1; k < len; k++) {
            if ((u[i + k] & 0xc0) != 0x80)
                return i;
            c = c << 6 | (u[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return i;
        i += len;
    }
    return n;
}

static size_t char_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* The code point at s (valid UTF-8, n > 0 bytes left). */
static uint32_t char_at(const char *s, size_t n)
{
    utf8proc_int32_t c = 0;

    if (utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &c) < 0)
        return 0xfffd;
    return (uint32_t)c;
}

/* The start of the character that ends at s + n. */
static size_t char_back(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n - 1] & 0xc0) == 0x80)
        n--;
    return n > 0 ? n - 1 : 0;
}

/* Unicode White_Space, as Rust's char::is_whitespace and regex's \s. */
static bool is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

/* Rust regex's \w: letters, marks, decimal digits, connector punctuation,
 * join controls (Other_Alphabetic symbols aside). */
static bool is_word(uint32_t c)
{
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);

    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ME) ||
           k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL ||
           k == UTF8PROC_CATEGORY_PC || c == 0x200c || c == 0x200d;
}

/* ---- patterns ---- */

/* Rewrites an Oniguruma (Ruby syntax) pattern for PCRE2 into out: \s \S \w
 * \W \d \D take Oniguruma's Unicode meaning. -1 for what has no rewrite. */
static int onig_to_pcre2(const char *p, tk_buf *out, const char **bad)
{
    bool in_class = false;
    const char *rep;
    size_t i = 0, n = strlen(p);

    while (i < n) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char e = p[i + 1];
            rep = NULL;
            switch (e) {
            case 's': rep = "\\p{White_Space}"; break;
            case 'S': rep = "\\P{White_Space}"; break;
            case 'd': rep = "\\p{Nd}"; break;
            case 'D': rep = "\\P{Nd}"; break;
            case 'w': rep = in_class ? WORD_CLASS : "[" WORD_CLASS "]"; break;
            case 'W':
                if (in_class) {
                    *bad = "\\W inside a character class";
                    return -1;
                }
                rep = "[^" WORD_CLASS "]";
                break;
            case 'h': case 'H':
                *bad = "\\h";
                return -1;
            default:
                break;
            }
            if (rep ? tk_buf_add(out, rep, strlen(rep)) : tk_buf_add(out, p + i, 2))
                return -2;
            i += 2;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            if (tk_buf_add(out, p + i, 1))
                return -2;
            i++;
            /* a leading ^ and a ] right after the [ or [^ are not the end */
            if (i < n && p[i] == '^' && tk_buf_add(out, p + i++, 1))
                return -2;
            if (i < n && p[i] == ']' && tk_buf_add(out, p + i++, 1))
                return -2;
            continue;
        }
        if (c == '[' && in_class) {
            if (i + 1 < n && p[i + 1] == ':') {
                const char *end = strstr(p + i, ":]");
                size_t k = end ? (size_t)(end - p) + 2 - i : n - i;
                if (tk_buf_add(out, p + i, k))
                    return -2;
                i += k;
                continue;
            }
            *bad = "a nested character class";
            return -1;
        }
        if (c == ']' && in_class)
            in_class = false;
        if (c == '(' && !in_class && strncmp(p + i, "(?m", 3) == 0) {
            *bad = "(?m";
            return -1;
        }
        if (tk_buf_add(out, p + i, 1))
            return -2;
        i++;
    }
    return 0;
}

pcre2_code *tk_regex(const char *pat, bool literal, const char *label, sut_error *err)
{
    tk_buf b = { 0 };
    const char *bad = NULL;
    pcre2_code *re = NULL;
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE off;
    uint32_t opt = PCRE2_UTF;
    int rc, e;

    if (literal) {
        rc = tk_buf_add(&b, pat, strlen(pat));
        opt |= PCRE2_LITERAL; /* only UTF may go with it */
    } else {
        rc = onig_to_pcre2(pat, &b, &bad);
        opt |= PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C | PCRE2_MULTILINE;
    }
    if (rc == -1) {
        sut_error_set(err, "%s: pattern uses %s, which is not supported", label, bad);
        goto out;
    }
    if (rc) {
        sut_error_set(err, "%s: out of memory", label);
        goto out;
    }
    re = pcre2_compile((PCRE2_SPTR)(b.s ? b.s : ""), b.len, opt, &e, &off, NULL);
    if (!re) {
        pcre2_get_error_message(e, msg, sizeof(msg));
        sut_error_set(err, "%s: bad pattern at offset %zu: %s", label, (size_t)off, (char *)msg);
        goto out;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
out:
    free(b.s);
    return re;
}

pcre2_code *tk_gpt2_regex(sut_error *err)
{
    return tk_regex(GPT2_PATTERN, false, "ByteLevel", err);
}

/* A list of (start, end, is_match) covering a string, as Pattern's
 * find_matches returns. */
typedef struct ev {
    size_t a, b;
    bool m;
} ev;

typedef struct evs {
    ev *v;
    size_t n, cap;
} evs;

static int ev_add(evs *e, size_t a, size_t b, bool m)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        ev *v = realloc(e->v, cap * sizeof(*v));
        if (!v)
            return -1;
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = (ev){ a, b, m };
    return 0;
}

static int oom(tk_run *r)
{
    sut_error_set(r->err, "%s: out of memory", r->file);
    return -1;
}

/* The matches of re in s as the onig crate's find_iter yields them (an
 * empty match right after the previous match is skipped), with the gaps
 * between them. */
static int re_events(tk_run *r, const pcre2_code *re, const char *s, size_t n, evs *e)
{
    size_t last_end = 0, prev = 0, last_match = 0;
    bool have_last = false;

    e->n = 0;
    if (n == 0)
        return ev_add(e, 0, 0, false) ? oom(r) : 0;
    while (last_end <= n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, last_end, PCRE2_NO_UTF_CHECK, r->md, r->mctx);
        PCRE2_SIZE *ov;
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof(msg));
            sut_error_set(r->err, "%s: regex failed: %s", r->file, (char *)msg);
            return -1;
        }
        ov = pcre2_get_ovector_pointer(r->md);
        if (ov[1] < ov[0] || ov[0] < prev)
            return sut_error_set(r->err, "%s: regex went backwards", r->file), -1;
        if (ov[0] == ov[1] && have_last && last_match == ov[1]) {
            last_end += last_end < n ? char_len((unsigned char)s[last_end]) : 1;
            continue;
        }
        last_end = ov[1];
        last_match = ov[1];
        have_last = true;
        if (prev != ov[0] && ev_add(e, prev, ov[0], false))
            return oom(r);
        if (ev_add(e, ov[0], ov[1], true))
            return oom(r);
        prev = ov[1];
    }
    if (prev != n && ev_add(e, prev, n, false))
        return oom(r);
    return 0;
}

/* Each occurrence of the character c (clen bytes) is its own match. */
static int char_events(tk_run *r, const char *s, size_t n, const char *c, size_t clen, evs *e)
{
    size_t i = 0, last = 0;

    e->n = 0;
    if (n == 0)
        return ev_add(e, 0, 0, false) ? oom(r) : 0;
    while (i < n) {
        size_t k = char_len((unsigned char)s[i]);
        if (k == clen && memcmp(s + i, c, k) == 0) {
            if ((last < i && ev_add(e, last, i, false)) || ev_add(e, i, i + k, true))
                return oom(r);
            last = i + k;
        }
        i += k;
    }
    if (n > last && ev_add(e, last, n, false))
        return oom(r);
    return 0;
}

/* NormalizedString::split: turns events into pieces by behavior and
 * appends the kept, non-empty ones. */
static int split_by(tk_run *r, evs *e, tk_behavior how, const char *s, bool first,
                    tk_pieces *out)
{
    size_t i, k = 0;
    bool prev = false;

    switch (how) {
    case TK_ISOLATED:
        for (i = 0; i < e->n; i++)
            e->v[i].m = false;
        break;
    case TK_REMOVED:
        break;
    case TK_CONTIGUOUS:
    case TK_MERGED_PREV:
        for (i = 0; i < e->n; i++) {
            bool m = e->v[i].m;
            bool join = how == TK_CONTIGUOUS ? m == prev : m && !prev;
            if (join && k > 0)
                e->v[k - 1].b = e->v[i].b;
            else
                e->v[k++] = (ev){ e->v[i].a, e->v[i].b, false };
            prev = m;
        }
        e->n = k;
        break;
    case TK_MERGED_NEXT:
        for (i = e->n; i-- > 0;) {
            bool m = e->v[i].m;
            /* k counts kept events at the end of the array, right to left */
            if (m && !prev && k > 0)
                e->v[e->n - k].a = e->v[i].a;
            else
                e->v[e->n - ++k] = (ev){ e->v[i].a, e->v[i].b, false };
            prev = m;
        }
        memmove(e->v, e->v + e->n - k, k * sizeof(*e->v));
        e->n = k;
        break;
    }
    for (i = 0; i < e->n; i++)
        if (!e->v[i].m && tk_pieces_add(out, s + e->v[i].a, e->v[i].b - e->v[i].a, -1,
                                        first && e->v[i].a == 0))
            return oom(r);
    return 0;
}

/* ---- normalizers ---- */

static int norm_unicode(tk_run *r, tk_norm_kind k, tk_buf *io)
{
    utf8proc_uint8_t *dst = NULL;
    utf8proc_option_t opt = UTF8PROC_STABLE;
    utf8proc_ssize_t n;
    int rc;

    opt |= (k == TK_NORM_NFC || k == TK_NORM_NFKC) ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
    if (k == TK_NORM_NFKC || k == TK_NORM_NFKD)
        opt |= UTF8PROC_COMPAT;
    if (io->len == 0)
        return 0;
    n = utf8proc_map((const utf8proc_uint8_t *)io->s, (utf8proc_ssize_t)io->len, &dst, opt);
    if (n < 0) {
        sut_error_set(r->err, "%s: unicode normalization failed: %s", r->file,
                      utf8proc_errmsg(n));
        return -1;
    }
    io->len = 0;
    rc = tk_buf_add(io, dst, (size_t)n);
    free(dst);
    return rc ? oom(r) : 0;
}

static int norm_replace(tk_run *r, const tk_norm *nm, tk_buf *io, tk_buf *tmp)
{
    evs e = { 0 };
    size_t i;
    int rc = -1;

    if (re_events(r, nm->re, io->s ? io->s : "", io->len, &e))
        goto out;
    tmp->len = 0;
    for (i = 0; i < e.n; i++) {
        int f = e.v[i].m ? tk_buf_add(tmp, nm->str, strlen(nm->str))
                         : tk_buf_add(tmp, io->s + e.v[i].a, e.v[i].b - e.v[i].a);
        if (f) {
            oom(r);
            goto out;
        }
    }
    io->len = 0;
    if (tk_buf_add(io, tmp->s, tmp->len)) {
        oom(r);
        goto out;
    }
    rc = 0;
out:
    free(e.v);
    return rc;
}

int tk_normalize(const tok_tokenizer *t, tk_run *r, const char *s, size_t n, tk_buf *out)
{
    tk_buf tmp = { 0 };
    size_t i;
    int rc = -1;

    out->len = 0;
    if (tk_buf_add(out, s, n))
        return oom(r);
    for (i = 0; i < t->n_norm; i++) {
        const tk_norm *nm = &t->norm[i];
        switch (nm->kind) {
        case TK_NORM_PREPEND:
            if (out->len == 0)
                break;
            tmp.len = 0;
            if (tk_buf_add(&tmp, nm->str, strlen(nm->str)) || tk_buf_add(&tmp, out->s, out->len))
                goto nomem;
            out->len = 0;
            if (tk_buf_add(out, tmp.s, tmp.len))
                goto nomem;
            break;
        case TK_NORM_REPLACE:
            if (norm_replace(r, nm, out, &tmp))
                goto out;
            break;
        default:
            if (norm_unicode(r, nm->kind, out))
                goto out;
            break;
        }
    }
    rc = 0;
    goto out;
nomem:
    oom(r);
out:
    free(tmp.s);
    return rc;
}

/* ---- added tokens ---- */

static int32_t node_new(tk_set *set, unsigned char byte)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        tk_node *v = cap > INT32_MAX ? NULL : realloc(set->nodes, cap * sizeof(*v));
        if (!v)
            return -1;
        set->nodes = v;
        set->cap = cap;
    }
    set->nodes[set->n] = (tk_node){ -1, -1, NULL, byte };
    return (int32_t)set->n++;
}

/* The child of node with byte b (node -1: the root), made when make. */
static int32_t node_child(tk_set *set, int32_t node, unsigned char b, bool make)
{
    int32_t c = node < 0 ? set->root[b] : set->nodes[node].child;

    if (node >= 0)
        while (c >= 0 && set->nodes[c].byte != b)
            c = set->nodes[c].sibling;
    if (c >= 0 || !make)
        return c;
    if ((c = node_new(set, b)) < 0)
        return -2;
    if (node < 0) {
        set->root[b] = c;
    } else {
        set->nodes[c].sibling = set->nodes[node].child;
        set->nodes[node].child = c;
    }
    return c;
}

int tk_set_build(tk_set *set, const tk_added *added, size_t n, bool norm,
                 const tk_added **dup)
{
    size_t i, k;

    memset(set, 0, sizeof(*set));
    memset(set->root, 0xff, sizeof(set->root));
    for (i = 0; i < n; i++) {
        const tk_added *a = &added[i];
        int32_t node = -1;
        if (a->normalized != norm || a->plen == 0)
            continue;
        for (k = 0; k < a->plen; k++)
            if ((node = node_child(set, node, (unsigned char)a->pattern[k], true)) < 0)
                return -1;
        if (set->nodes[node].tok) {
            *dup = a;
            return 1;
        }
        set->nodes[node].tok = a;
        set->any = true;
    }
    return 0;
}

/* The longest token of set at s[i..n), or NULL. */
static const tk_added *match_at(const tk_set *set, const char *s, size_t n, size_t i)
{
    const tk_added *best = NULL;
    int32_t node = set->root[(unsigned char)s[i]];

    while (node >= 0) {
        if (set->nodes[node].tok)
            best = set->nodes[node].tok;
        if (++i >= n)
            break;
        node = node_child((tk_set *)set, node, (unsigned char)s[i], false);
    }
    return best;
}

/* single_word: no word character touches the match on either side. */
static bool alone(const char *s, size_t n, size_t a, size_t b)
{
    if (a > 0) {
        size_t c = char_back(s, a);
        if (is_word(char_at(s + c, a - c)))
            return false;
    }
    return b == n || !is_word(char_at(s + b, n - b));
}

int tk_split_added_one(const tk_set *set, const char *s, size_t n, bool first, tk_pieces *out)
{
    size_t i = 0, done = 0;

    while (set->any && i < n) {
        const tk_added *t = match_at(set, s, n, i);
        size_t a = i, b;
        if (!t) {
            i++;
            continue;
        }
        b = a + t->plen;
        i = b;
        if (t->single_word && !alone(s, n, a, b))
            continue;
        if (t->lstrip) {
            size_t k = a;
            while (k > 0) {
                size_t c = char_back(s, k);
                if (!is_space(char_at(s + c, k - c)))
                    break;
                k = c;
            }
            a = k > done ? k : done;
        }
        if (t->rstrip)
            while (b < n && is_space(char_at(s + b, n - b)))
                b += char_len((unsigned char)s[b]);
        if (done < a && tk_pieces_add(out, s + done, a - done, -1, first && done == 0))
            return -1;
        if (tk_pieces_add(out, "", 0, t->id, false))
            return -1;
        done = b;
    }
    if (done < n && tk_pieces_add(out, s + done, n - done, -1, first && done == 0))
        return -1;
    return 0;
}

int tk_split_added(const tk_set *set, const tk_pieces *in, tk_pieces *out)
{
    size_t i;

    for (i = 0; i < in->n; i++) {
        const tk_span *p = &in->v[i];
        int rc = p->id >= 0 ? tk_pieces_add(out, "", 0, p->id, false)
                            : tk_split_added_one(set, in->buf + p->off, p->len, p->first, out);
        if (rc)
            return -1;
    }
    return 0;
}

/* ---- pre-tokenizers ---- */

/* The code point ByteLevel shows byte b as (GPT-2's bytes_to_unicode). */
static uint32_t byte_char(unsigned b)
{
    if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae)
        return b;
    if (b <= 0x20)
        return 256 + b;
    if (b <= 0xa0)
        return 256 + 33 + (b - 0x7f);
    return 256 + 67; /* 0xad */
}

static int byte_map(const char *s, size_t n, tk_buf *out)
{
    size_t i;

    out->len = 0;
    for (i = 0; i < n; i++) {
        uint32_t c = byte_char((unsigned char)s[i]);
        char u[2];
        size_t k = 1;
        if (c < 0x80) {
            u[0] = (char)c;
        } else {
            u[0] = (char)(0xc0 | c >> 6);
            u[1] = (char)(0x80 | (c & 0x3f));
            k = 2;
        }
        if (tk_buf_add(out, u, k))
            return -1;
    }
    return 0;
}

static int pre_bytelevel(const tk_pre *pre, tk_run *r, const char *s, size_t n, bool first,
                         tk_pieces *out)
{
    tk_buf in = { 0 }, mapped = { 0 };
    tk_pieces parts = { 0 };
    evs e = { 0 };
    size_t i;
    int rc = -1;

    if ((pre->add_prefix_space && s[0] != ' ' && tk_buf_add(&in, " ", 1)) ||
        tk_buf_add(&in, s, n)) {
        oom(r);
        goto out;
    }
    if (pre->re) {
        if (re_events(r, pre->re, in.s, in.len, &e) ||
            split_by(r, &e, TK_ISOLATED, in.s, first, &parts))
            goto out;
    } else if (tk_pieces_add(&parts, in.s, in.len, -1, first)) {
        oom(r);
        goto out;
    }
    for (i = 0; i < parts.n; i++) {
        const tk_span *p = &parts.v[i];
        if (byte_map(parts.buf + p->off, p->len, &mapped) ||
            tk_pieces_add(out, mapped.s, mapped.len, -1, p->first)) {
            oom(r);
            goto out;
        }
    }
    rc = 0;
out:
    free(in.s);
    free(mapped.s);
    free(e.v);
    tk_pieces_free(&parts);
    return rc;
}

static int pre_metaspace(const tk_pre *pre, tk_run *r, const char *s, size_t n, bool first,
                         tk_pieces *out)
{
    tk_buf b = { 0 };
    evs e = { 0 };
    size_t i;
    int rc = -1;
    bool lead = n >= pre->repl_len && memcmp(s, pre->repl, pre->repl_len) == 0;

    if (s[0] == ' ')
        lead = true;
    if ((pre->prepend == TK_PREPEND_ALWAYS || (pre->prepend == TK_PREPEND_FIRST && first)) &&
        !lead && tk_buf_add(&b, pre->repl, pre->repl_len))
        goto nomem;
    for (i = 0; i < n; i++)
        if (s[i] == ' ' ? tk_buf_add(&b, pre->repl, pre->repl_len) : tk_buf_add(&b, s + i, 1))
            goto nomem;
    if (pre->split) {
        if (char_events(r, b.s, b.len, pre->repl, pre->repl_len, &e) ||
            split_by(r, &e, TK_MERGED_NEXT, b.s, first, out))
            goto out;
    } else if (tk_pieces_add(out, b.s, b.len, -1, first)) {
        goto nomem;
    }
    rc = 0;
    goto out;
nomem:
    oom(r);
out:
    free(b.s);
    free(e.v);
    return rc;
}

static int pre_split(const tk_pre *pre, tk_run *r, const char *s, size_t n, bool first,
                     tk_pieces *out)
{
    evs e = { 0 };
    size_t i;
    int rc = -1;

    if (re_events(r, pre->re, s, n, &e))
        goto out;
    if (pre->invert)
        for (i = 0; i < e.n; i++)
            e.v[i].m = !e.v[i].m;
    rc = split_by(r, &e, pre->behavior, s, first, out);
out:
    free(e.v);
    return rc;
}

int tk_pre_run(const tk_pre *pre, tk_run *r, const tk_pieces *in, tk_pieces *out)
{
    size_t i;

    for (i = 0; i < in->n; i++) {
        const tk_span *p = &in->v[i];
        const char *s = in->buf + p->off;
        int rc;
        if (p->id >= 0) {
            if (tk_pieces_add(out, "", 0, p->id, false))
                return oom(r);
            continue;
        }
        if (p->len == 0)
            continue;
        switch (pre->kind) {
        case TK_PRE_BYTELEVEL: rc = pre_bytelevel(pre, r, s, p->len, p->first, out); break;
        case TK_PRE_METASPACE: rc = pre_metaspace(pre, r, s, p->len, p->first, out); break;
        default: rc = pre_split(pre, r, s, p->len, p->first, out); break;
        }
        if (rc)
            return -1;
    }
    return 0;
}
