/* tokenizer_bpe.c: the BPE model: string and pair maps, growing lists, and
 * one word's merges by rank with a priority queue over adjacent pairs (as
 * the library's models/bpe/word.rs), with a cache of words already seen. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tokenizer_int.h"

#define CACHE_WORD_MAX 256     /* longer words are not cached */
#define CACHE_WORDS (1u << 18) /* words cached per call, at most */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 16;
    void *q;

    if (need <= *cap)
        return 0;
    while (n < need) {
        if (n > SIZE_MAX / 2 / size)
            return -1;
        n *= 2;
    }
    q = realloc(*p, n * size);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

int tk_buf_add(tk_buf *b, const void *s, size_t n)
{
    if (n > SIZE_MAX - b->len - 1 || grow((void **)&b->s, &b->cap, b->len + n + 1, 1))
        return -1;
    if (n)
        memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

int tk_ids_add(tk_ids *l, int32_t id)
{
    if (grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
        return -1;
    l->v[l->n++] = id;
    return 0;
}

int tk_pieces_add(tk_pieces *p, const char *s, size_t n, int32_t id, bool first)
{
    if (n == 0 && id < 0)
        return 0;
    if (n > SIZE_MAX - p->len - 1 || grow((void **)&p->buf, &p->cap, p->len + n + 1, 1) ||
        grow((void **)&p->v, &p->vcap, p->n + 1, sizeof(*p->v)))
        return -1;
    if (n)
        memmove(p->buf + p->len, s, n);
    p->v[p->n++] = (tk_span){ p->len, n, id, first };
    p->len += n;
    return 0;
}

void tk_pieces_clear(tk_pieces *p)
{
    p->len = 0;
    p->n = 0;
}

void tk_pieces_free(tk_pieces *p)
{
    free(p->buf);
    free(p->v);
    memset(p, 0, sizeof(*p));
}

/* ---- string map ---- */

static size_t map_find(const tk_map *m, const char *s, size_t n, uint64_t h)
{
    size_t i = (size_t)h & (m->cap - 1);

    for (;;) {
        const tk_slot *e = &m->slots[i];
        if (e->val < 0 || (e->hash == h && e->len == n && memcmp(m->arena + e->off, s, n) == 0))
            return i;
        i = (i + 1) & (m->cap - 1);
    }
}

static int map_rehash(tk_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64, i, j;
    tk_slot *old = m->slots, *nw;

    if (cap > SIZE_MAX / sizeof(*nw) || !(nw = malloc(cap * sizeof(*nw))))
        return -1;
    for (i = 0; i < cap; i++)
        nw[i].val = -1;
    for (i = 0; i < m->cap; i++) {
        if (old[i].val < 0)
            continue;
        j = (size_t)old[i].hash & (cap - 1);
        while (nw[j].val >= 0)
            j = (j + 1) & (cap - 1);
        nw[j] = old[i];
    }
    free(old);
    m->slots = nw;
    m->cap = cap;
    return 0;
}

int tk_map_put(tk_map *m, const char *s, size_t n, int32_t val, int32_t *old)
{
    uint64_t h = XXH3_64bits(s, n);
    size_t i;

    if ((m->count + 1) * 2 > m->cap && map_rehash(m))
        return -1;
    i = map_find(m, s, n, h);
    if (old)
        *old = m->slots[i].val;
    if (m->slots[i].val >= 0) {
        m->slots[i].val = val;
        return 0;
    }
    if (n > SIZE_MAX - m->alen || grow((void **)&m->arena, &m->acap, m->alen + n + 1, 1))
        return -1;
    if (n)
        memcpy(m->arena + m->alen, s, n);
    m->slots[i] = (tk_slot){ h, m->alen, n, val };
    m->alen += n;
    m->count++;
    return 0;
}

int32_t tk_map_get(const tk_map *m, const char *s, size_t n)
{
    if (!m->cap)
        return -1;
    return m->slots[map_find(m, s, n, XXH3_64bits(s, n))].val;
}

void tk_map_free(tk_map *m)
{
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof(*m));
}

/* ---- pair map ---- */

static uint64_t pair_key(int32_t a, int32_t b)
{
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static size_t pair_slot(const tk_pairs *p, uint64_t k)
{
    size_t i = (size_t)(k * 0x9E3779B97F4A7C15ULL >> 20) & (p->cap - 1);

    while (p->keys[i] != UINT64_MAX && p->keys[i] != k)
        i = (i + 1) & (p->cap - 1);
    return i;
}

static int pairs_rehash(tk_pairs *p)
{
    tk_pairs n = { 0 };
    size_t i, j;

    n.cap = p->cap ? p->cap * 2 : 64;
    n.keys = malloc(n.cap * sizeof(*n.keys));
    n.rank = malloc(n.cap * sizeof(*n.rank));
    n.id = malloc(n.cap * sizeof(*n.id));
    if (!n.keys || !n.rank || !n.id) {
        tk_pairs_free(&n);
        return -1;
    }
    memset(n.keys, 0xff, n.cap * sizeof(*n.keys));
    for (i = 0; i < p->cap; i++) {
        if (p->keys[i] == UINT64_MAX)
            continue;
        j = pair_slot(&n, p->keys[i]);
        n.keys[j] = p->keys[i];
        n.rank[j] = p->rank[i];
        n.id[j] = p->id[i];
    }
    n.count = p->count;
    tk_pairs_free(p);
    *p = n;
    return 0;
}

int tk_pairs_put(tk_pairs *p, int32_t a, int32_t b, uint32_t rank, int32_t id)
{
    uint64_t k = pair_key(a, b);
    size_t i;

    if ((p->count + 1) * 2 > p->cap && pairs_rehash(p))
        return -1;
    i = pair_slot(p, k);
    if (p->keys[i] == UINT64_MAX)
        p->count++;
    p->keys[i] = k;
    p->rank[i] = rank;
    p->id[i] = id;
    return 0;
}

long tk_pairs_find(const tk_pairs *p, int32_t a, int32_t b)
{
    uint64_t k = pair_key(a, b);
    size_t i;

    if (!p->cap)
        return -1;
    i = pair_slot(p, k);
    return p->keys[i] == k ? (long)i : -1;
}

void tk_pairs_free(tk_pairs *p)
{
    free(p->keys);
    free(p->rank);
    free(p->id);
    memset(p, 0, sizeof(*p));
}

/* ---- one word ---- */

typedef struct sym {
    int32_t id;
    int32_t prev, next;
    uint32_t len; /* 0: merged into its left neighbour */
} sym;

typedef struct word {
    sym *s;
    size_t n, cap;
    uint64_t *heap; /* rank << 32 | position, a min-heap */
    size_t hn, hcap;
} word;

static int word_add(word *w, int32_t id, size_t len)
{
    if (w->n >= INT32_MAX || grow((void **)&w->s, &w->cap, w->n + 1, sizeof(*w->s)))
        return -1;
    w->s[w->n] = (sym){ id, (int32_t)w->n - 1, (int32_t)w->n + 1, (uint32_t)len };
    w->n++;
    return 0;
}

static int heap_push(word *w, uint64_t v)
{
    size_t i;

    if (grow((void **)&w->heap, &w->hcap, w->hn + 1, sizeof(*w->heap)))
        return -1;
    i = w->hn++;
    while (i > 0 && w->heap[(i - 1) / 2] > v) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = v;
    return 0;
}

static uint64_t heap_pop(word *w)
{
    uint64_t top = w->heap[0], v = w->heap[--w->hn];
    size_t i = 0, c;

    while ((c = 2 * i + 1) < w->hn) {
        if (c + 1 < w->hn && w->heap[c + 1] < w->heap[c])
            c++;
        if (w->heap[c] >= v)
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->hn)
        w->heap[i] = v;
    return top;
}

/* Queues the merge of the pair starting at symbol pos, when there is one. */
static int queue_pair(const tk_bpe *m, word *w, size_t pos)
{
    int32_t nx = w->s[pos].next;
    long k;

    if (nx < 0 || (size_t)nx >= w->n)
        return 0;
    k = tk_pairs_find(&m->merges, w->s[pos].id, w->s[nx].id);
    return k < 0 ? 0 : heap_push(w, (uint64_t)m->merges.rank[k] << 32 | pos);
}

static int merge_all(const tk_bpe *m, word *w)
{
    size_t i;

    for (i = 0; i + 1 < w->n; i++)
        if (queue_pair(m, w, i))
            return -1;
    while (w->hn) {
        uint64_t top = heap_pop(w);
        size_t pos = (size_t)(top & 0xffffffffu);
        sym *a = &w->s[pos], *b;
        long k;

        if (a->len == 0 || a->next < 0 || (size_t)a->next >= w->n)
            continue;
        b = &w->s[a->next];
        k = tk_pairs_find(&m->merges, a->id, b->id);
        if (k < 0 || m->merges.rank[k] != (uint32_t)(top >> 32))
            continue;
        a->id = m->merges.id[k];
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (a->next >= 0 && (size_t)a->next < w->n)
            w->s[a->next].prev = (int32_t)pos;
        if ((a->prev >= 0 && queue_pair(m, w, (size_t)a->prev)) || queue_pair(m, w, pos))
            return -1;
    }
    return 0;
}

static size_t utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* The vocab id of character c (n bytes) with the prefix and suffix the
 * model puts on inner and final characters, or -1. *p, *pn: the string
 * looked up (in tmp when it has a prefix or suffix). */
static int32_t piece_id(const tk_bpe *m, const char *c, size_t n, bool first, bool last,
                        tk_buf *tmp, const char **p, size_t *pn, int *oom)
{
    *p = c;
    *pn = n;
    if ((first || !m->prefix) && (!last || !m->suffix))
        return tk_map_get(&m->vocab, c, n);
    tmp->len = 0;
    if ((!first && m->prefix && tk_buf_add(tmp, m->prefix, strlen(m->prefix))) ||
        tk_buf_add(tmp, c, n) ||
        (last && m->suffix && tk_buf_add(tmp, m->suffix, strlen(m->suffix)))) {
        *oom = 1;
        return -1;
    }
    *p = tmp->s;
    *pn = tmp->len;
    return tk_map_get(&m->vocab, tmp->s, tmp->len);
}

/* The symbols of w before merges, as the library's merge_word: each
 * character's id, else its <0xXX> bytes, else unk (fused when fuse_unk),
 * else nothing. */
static int word_symbols(const tk_bpe *m, tk_run *r, const char *s, size_t n, word *w)
{
    tk_buf tmp = { 0 };
    int32_t unk_id = -1;
    size_t i = 0, unk_len = 0, cl, b;
    int oom = 0, rc = -1;
    bool have_unk = false;

    while (i < n) {
        cl = utf8_len((unsigned char)s[i]);
        if (cl > n - i)
            cl = n - i;
        const char *p;
        size_t pn;
        int32_t id = piece_id(m, s + i, cl, i == 0, i + cl == n, &tmp, &p, &pn, &oom);
        if (oom)
            goto out;
        if (id >= 0) {
            if (have_unk && word_add(w, unk_id, unk_len))
                goto out;
            have_unk = false;
            if (word_add(w, id, cl))
                goto out;
            i += cl;
            continue;
        }
        if (m->byte_fallback) {
            for (b = 0; b < pn && m->byte_id[(unsigned char)p[b]] >= 0; b++)
                ;
            if (b == pn) {
                for (b = 0; b < pn; b++)
                    if (word_add(w, m->byte_id[(unsigned char)p[b]], 1))
                        goto out;
                i += cl;
                continue;
            }
        }
        if (m->unk) {
            if (unk_id < 0)
                unk_id = tk_map_get(&m->vocab, m->unk, strlen(m->unk));
            if (unk_id < 0) {
                sut_error_set(r->err, "%s: unk_token '%s' is not in the vocab", r->file, m->unk);
                goto out;
            }
            if (have_unk && m->fuse_unk) {
                unk_len += cl;
            } else {
                if (have_unk && word_add(w, unk_id, unk_len))
                    goto out;
                have_unk = true;
                unk_len = cl;
            }
        }
        i += cl;
    }
    if (have_unk && word_add(w, unk_id, unk_len))
        goto out;
    rc = 0;
out:
    if (rc && oom)
        sut_error_set(r->err, "%s: out of memory", r->file);
    free(tmp.s);
    return rc;
}

static int cache_put(tk_run *r, const char *s, size_t n, const int32_t *ids, size_t k)
{
    size_t at = r->cache_ids.n, i;

    if (n > CACHE_WORD_MAX || r->cache_n >= CACHE_WORDS)
        return 0;
    if (grow((void **)&r->cache_at, &r->cache_cap, r->cache_n + 1, sizeof(*r->cache_at)) ||
        tk_ids_add(&r->cache_ids, (int32_t)k))
        return -1;
    for (i = 0; i < k; i++)
        if (tk_ids_add(&r->cache_ids, ids[i]))
            return -1;
    if (tk_map_put(&r->cache, s, n, (int32_t)r->cache_n, NULL))
        return -1;
    r->cache_at[r->cache_n++] = at;
    return 0;
}

static int bpe_one(const tk_bpe *m, tk_run *r, const char *s, size_t n, tk_ids *out)
{
    word w = { 0 };
    size_t start = out->n, i;
    int32_t id;
    int rc = -1;

    if (n == 0)
        return 0;
    if (m->ignore_merges && (id = tk_map_get(&m->vocab, s, n)) >= 0)
        return tk_ids_add(out, id) ? (sut_error_set(r->err, "%s: out of memory", r->file), -1) : 0;
    if (n <= CACHE_WORD_MAX && (id = tk_map_get(&r->cache, s, n)) >= 0) {
        const int32_t *c = r->cache_ids.v + r->cache_at[id];
        for (i = 0; i < (size_t)c[0]; i++)
            if (tk_ids_add(out, c[1 + i]))
                goto oom;
        return 0;
    }
    if (word_symbols(m, r, s, n, &w))
        goto out;
    if (merge_all(m, &w))
        goto oom;
    for (i = 0; i < w.n; i++)
        if (w.s[i].len && tk_ids_add(out, w.s[i].id))
            goto oom;
    if (cache_put(r, s, n, out->v + start, out->n - start))
        goto oom;
    rc = 0;
    goto out;
oom:
    sut_error_set(r->err, "%s: out of memory", r->file);
out:
    free(w.s);
    free(w.heap);
    return rc;
}

/* True when a "▁" that follows another character starts at s + i. */
static bool meta_start(const char *s, size_t n, size_t i)
{
    return i >= 3 && i + 3 <= n && memcmp(s + i, "\xe2\x96\x81", 3) == 0 &&
           memcmp(s + i - 3, "\xe2\x96\x81", 3) != 0;
}

int tk_bpe_word(const tk_bpe *m, tk_run *r, const char *s, size_t n, tk_ids *out)
{
    size_t i, start = 0;

    if (!m->split_meta || n <= CACHE_WORD_MAX)
        return bpe_one(m, r, s, n, out);
    for (i = 1; i < n; i++)
        if (meta_start(s, n, i)) {
            if (bpe_one(m, r, s + start, i - start, out))
                return -1;
            start = i;
        }
    return bpe_one(m, r, s + start, n - start, out);
}
