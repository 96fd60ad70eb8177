/* layout.c: the data order that lets copies share blocks (see layout.h). */
#include <stdlib.h>
#include <string.h>

#include "suture/xfer.h"
#include "layout.h"

#define NONE SIZE_MAX

/* Items copied from one source file, contiguous there, in its order. */
typedef struct chain {
    size_t first, last;      /* items, linked through next[] */
    size_t low;              /* its smallest item index (ties) */
    uint64_t key, start, end;
    uint64_t share;          /* its block-aligned middle bytes */
    bool placed;
} chain;

struct work {
    const layout_item *it;
    size_t n, *next;
    chain *ch;
    size_t nch, *rank;       /* chains by share (largest first), then low */
    size_t *bucket, *bnext;  /* per phase, chains in rank order */
    size_t *order, pos;
    uint64_t cur;            /* the next data offset modulo XFER_BLOCK */
};

static int cmp_src(const void *a, const void *b, void *ctx)
{
    const layout_item *it = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const layout_item *x = &it[i], *y = &it[j];

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? -1 : 1;
    return (i > j) - (i < j);
}

static int cmp_rank(const void *a, const void *b, void *ctx)
{
    const chain *ch = ctx;
    const chain *x = &ch[*(const size_t *)a], *y = &ch[*(const size_t *)b];

    if (x->share != y->share)
        return x->share > y->share ? -1 : 1;
    return (x->low > y->low) - (x->low < y->low);
}

static bool same_src(const layout_item *x, const layout_item *y)
{
    return x->key == y->key && x->off == y->off && x->bytes == y->bytes;
}

static void new_chain(struct work *w, size_t item)
{
    chain *c = &w->ch[w->nch++];
    const layout_item *it = &w->it[item];
    uint64_t head = (XFER_BLOCK - it->off % XFER_BLOCK) % XFER_BLOCK;

    memset(c, 0, sizeof(*c));
    c->first = c->last = c->low = item;
    c->key = it->key;
    c->start = it->off;
    c->end = it->off + it->bytes;
    c->share = head;  /* the head for now; see finish_chains */
}

static void extend(struct work *w, chain *c, size_t item)
{
    w->next[c->last] = item;
    c->last = item;
    c->end += w->it[item].bytes;
    if (item < c->low)
        c->low = item;
}

static void finish_chains(struct work *w)
{
    size_t i;

    for (i = 0; i < w->nch; i++) {
        chain *c = &w->ch[i];
        uint64_t len = c->end - c->start, head = c->share;
        c->share = len > head ? (len - head) / XFER_BLOCK * XFER_BLOCK : 0;
    }
}

/* Chains the copied items: sorted by source, each group of identical
 * items extends, in index order, the chains the previous group ended. */
static void make_chains(struct work *w, size_t *by, size_t nby, size_t *prev,
                        size_t *cur)
{
    size_t g = 0, h, m, nprev = 0, ncur, *t;

    while (g < nby) {
        const layout_item *x = &w->it[by[g]];
        bool cont = nprev > 0 && w->ch[prev[0]].key == x->key &&
                    w->ch[prev[0]].end == x->off;
        for (h = g + 1; h < nby && same_src(&w->it[by[h]], x); h++)
            ;
        for (ncur = 0, m = g; m < h; m++) {
            if (cont && m - g < nprev) {
                extend(w, &w->ch[prev[m - g]], by[m]);
                cur[ncur++] = prev[m - g];
            } else {
                cur[ncur++] = w->nch;
                new_chain(w, by[m]);
            }
        }
        t = prev, prev = cur, cur = t;
        nprev = ncur;
        g = h;
    }
    finish_chains(w);
}

static void put_item(struct work *w, size_t item)
{
    w->order[w->pos++] = item;
    w->cur = (w->cur + w->it[item].bytes % XFER_BLOCK) % XFER_BLOCK;
}

/* Appends chain c; its share counts when it starts at its phase. */
static void put_chain(struct work *w, size_t c, layout_result *res)
{
    size_t i;

    w->ch[c].placed = true;
    if (w->cur == w->ch[c].start % XFER_BLOCK)
        res->shareable += w->ch[c].share;
    for (i = w->ch[c].first; i != NONE; i = w->next[i])
        put_item(w, i);
}

/* The best unplaced chain at the current phase, or NONE. */
static size_t take_bucket(struct work *w)
{
    size_t *head = &w->bucket[w->cur];

    while (*head != NONE && w->ch[*head].placed)
        *head = w->bnext[*head];
    return *head;
}

static void place(struct work *w, layout_result *res)
{
    size_t r, c, free_i = 0, rank_i = 0, i;

    for (i = 0; i < XFER_BLOCK; i++)
        w->bucket[i] = NONE;
    for (r = w->nch; r-- > 0;) {
        c = w->rank[r];
        w->bnext[c] = w->bucket[w->ch[c].start % XFER_BLOCK];
        w->bucket[w->ch[c].start % XFER_BLOCK] = c;
    }
    w->cur = res->phase;
    while (w->pos < w->n) {
        if ((c = take_bucket(w)) != NONE) {
            put_chain(w, c, res);
            continue;
        }
        while (free_i < w->n && w->it[free_i].key != LAYOUT_WRITTEN)
            free_i++;
        if (free_i < w->n) {
            put_item(w, free_i++);
            continue;
        }
        while (w->ch[w->rank[rank_i]].placed)
            rank_i++;
        put_chain(w, w->rank[rank_i], res);
    }
}

/* Lays out from the chains; the header aligns the best chain whose
 * phase a header padded to a multiple of 8 can give. */
static void arrange(struct work *w, layout_result *res)
{
    size_t r, i;

    qsort_r(w->rank, w->nch, sizeof(size_t), cmp_rank, w->ch);
    for (r = 0; r < w->nch; r++) {
        const chain *c = &w->ch[w->rank[r]];
        if (c->share > 0 && c->start % 8 == 0)
            break;
    }
    if (r == w->nch) {
        for (i = 0; i < w->n; i++)
            w->order[i] = i;
        return;
    }
    res->aligned = true;
    res->phase = w->ch[w->rank[r]].start % XFER_BLOCK;
    place(w, res);
}

int layout_order(const layout_item *items, size_t n, size_t *order,
                 layout_result *res)
{
    struct work w = {items, n, NULL, NULL, 0, NULL, NULL, NULL, order, 0, 0};
    size_t *by = calloc(n + 1, sizeof(size_t)), *prev = calloc(n + 1, sizeof(size_t));
    size_t *cur = calloc(n + 1, sizeof(size_t)), nby = 0, i;
    int rc = -1;

    memset(res, 0, sizeof(*res));
    w.next = malloc((n + 1) * sizeof(size_t));
    w.ch = calloc(n + 1, sizeof(chain));
    w.rank = calloc(n + 1, sizeof(size_t));
    w.bnext = calloc(n + 1, sizeof(size_t));
    w.bucket = calloc(XFER_BLOCK, sizeof(size_t));
    if (!by || !prev || !cur || !w.next || !w.ch || !w.rank || !w.bnext || !w.bucket)
        goto out;
    for (i = 0; i < n; i++) {
        w.next[i] = NONE;
        if (items[i].key != LAYOUT_WRITTEN)
            by[nby++] = i;
    }
    qsort_r(by, nby, sizeof(size_t), cmp_src, (void *)items);
    make_chains(&w, by, nby, prev, cur);
    for (i = 0; i < w.nch; i++)
        w.rank[i] = i;
    arrange(&w, res);
    rc = 0;
out:
    free(by);
    free(prev);
    free(cur);
    free(w.next);
    free(w.ch);
    free(w.rank);
    free(w.bnext);
    free(w.bucket);
    return rc;
}
