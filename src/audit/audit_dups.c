/* audit_dups.c: layers whose every tensor is byte-identical to another
 * layer's, and the slices a self-merge appears made of. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/audit.h"
#include "audit_int.h"

/* The first layer (< i) identical to layer i, or i itself. */
static unsigned first_twin(const audit_hashed *h, const unsigned *order,
                           unsigned n, unsigned i, const unsigned *rank)
{
    unsigned k;

    for (k = rank[i]; k > 0 && h->layer_keys[order[k - 1]] == h->layer_keys[i]; k--)
        ;
    for (; k < n && h->layer_keys[order[k]] == h->layer_keys[i]; k++)
        if (order[k] < i && audit_layers_equal(h, order[k], h, i))
            return order[k];
    return i;
}

static int cmp_key(const void *a, const void *b, void *ctx)
{
    const uint64_t *keys = ctx;
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

    if (keys[x] != keys[y])
        return keys[x] < keys[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* root[i]: the earliest layer identical to layer i (i itself when none). */
static int find_roots(const audit_hashed *h, unsigned n, unsigned *root)
{
    unsigned *order = malloc((n ? n : 1) * sizeof(*order));
    unsigned *rank = malloc((n ? n : 1) * sizeof(*rank));
    unsigned i;
    size_t k;

    if (!order || !rank) {
        free(order);
        free(rank);
        return -1;
    }
    for (i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof(*order), cmp_key, h->layer_keys);
    for (i = 0; i < n; i++)
        rank[order[i]] = i;
    for (i = 0; i < n; i++) {
        root[i] = i;
        if (model_layer_tensors(h->m, i, &k), k > 0)
            root[i] = first_twin(h, order, n, i, rank);
    }
    free(order);
    free(rank);
    return 0;
}

/* Collects the groups of layers sharing a root, by first layer. */
static int make_groups(audit_report *r, const unsigned *root, unsigned n)
{
    unsigned i, j;

    for (i = 0; i < n; i++) {
        size_t size = 0;
        unsigned *g;
        if (root[i] != i)
            continue;
        for (j = i; j < n; j++)
            size += root[j] == i;
        if (size < 2)
            continue;
        if (!(g = malloc(size * sizeof(*g))))
            return -1;
        r->groups[r->ngroups] = g;
        r->group_sizes[r->ngroups++] = size;
        for (j = i, size = 0; j < n; j++)
            if (root[j] == i)
                g[size++] = j;
    }
    return 0;
}

/* True when group b is group a shifted by one layer. */
static bool follows(const audit_report *r, size_t a, size_t b)
{
    size_t k;

    if (r->group_sizes[a] != r->group_sizes[b])
        return false;
    for (k = 0; k < r->group_sizes[a]; k++)
        if (r->groups[b][k] != r->groups[a][k] + 1)
            return false;
    return true;
}

/* True when group g is the consecutive layers first..first+n-1. */
static bool consecutive(const audit_report *r, size_t g)
{
    size_t k;

    for (k = 1; k < r->group_sizes[g]; k++)
        if (r->groups[g][k] != r->groups[g][k - 1] + 1)
            return false;
    return true;
}

/* "layers 4-7 = 8-11, 12-15 = 16-19" for the finding; a lone group of
 * consecutive layers is "0-41 (42 alike)". */
static void describe_groups(const audit_report *r, char *buf, size_t size)
{
    size_t i = 0, j, k, o = 0;

    buf[0] = '\0';
    while (i < r->ngroups && o < size) {
        char range[32];
        for (j = i; j + 1 < r->ngroups && follows(r, j, j + 1); j++)
            ;
        if (j == i && r->group_sizes[i] > 2 && consecutive(r, i)) {
            unsigned first = r->groups[i][0];
            o += (size_t)snprintf(buf + o, size - o, "%s%s (%zu alike)", i ? ", " : "",
                                  audit_range(first, first + (unsigned)r->group_sizes[i] - 1,
                                              range, sizeof(range)),
                                  r->group_sizes[i]);
            i++;
            continue;
        }
        for (k = 0; k < r->group_sizes[i] && o < size; k++) {
            unsigned first = r->groups[i][k];
            o += (size_t)snprintf(buf + o, size - o, "%s%s", k ? " = " : i ? ", " : "",
                                  audit_range(first, first + (unsigned)(j - i), range,
                                              sizeof(range)));
        }
        i = j + 1;
    }
}

/* Numbers distinct layers by first appearance; a slice ends where the
 * numbering does not go on by one. */
static int make_slices(audit_report *r, const unsigned *root, unsigned n)
{
    unsigned *uid = malloc((n ? n : 1) * sizeof(*uid));
    unsigned i, next = 0;

    if (!uid || !(r->slices = calloc(n ? n : 1, sizeof(*r->slices)))) {
        free(uid);
        return -1;
    }
    for (i = 0; i < n; i++) {
        uid[i] = root[i] == i ? next++ : uid[root[i]];
        if (i == 0 || uid[i] != uid[i - 1] + 1)
            r->slices[r->nslices++] = (audit_slice){-1, uid[i], uid[i]};
        r->slices[r->nslices - 1].end = uid[i] + 1;
    }
    free(uid);
    return 0;
}

/* "[0:8] [4:12] [8:16]" with repeats folded ("[0:1] x42"). */
static void describe_slices(const audit_report *r, char *buf, size_t size)
{
    size_t i = 0, j, o = 0;

    buf[0] = '\0';
    while (i < r->nslices && o < size) {
        const audit_slice *s = &r->slices[i];
        for (j = i + 1; j < r->nslices && r->slices[j].start == s->start &&
                        r->slices[j].end == s->end; j++)
            ;
        o += (size_t)snprintf(buf + o, size - o, "%s[%u:%u]", i ? " " : "", s->start, s->end);
        if (j - i > 1 && o < size)
            o += (size_t)snprintf(buf + o, size - o, " x%zu", j - i);
        i = j;
    }
}

int audit_find_duplicates(audit_report *r)
{
    unsigned n = model_layer_count(r->m);
    unsigned *root = malloc((n ? n : 1) * sizeof(*root));
    char groups[512], slices[512];
    unsigned i, distinct = 0;
    int rc = -1;

    if (!root || find_roots(&r->self, n, root) != 0)
        goto out;
    if (!(r->groups = calloc(n ? n : 1, sizeof(*r->groups))) ||
        !(r->group_sizes = calloc(n ? n : 1, sizeof(*r->group_sizes))) ||
        make_groups(r, root, n) != 0)
        goto out;
    rc = 0;
    if (r->ngroups == 0)
        goto out;
    if (make_slices(r, root, n) != 0) {
        rc = -1;
        goto out;
    }
    for (i = 0; i < n; i++)
        distinct += root[i] == i;
    describe_groups(r, groups, sizeof(groups));
    describe_slices(r, slices, sizeof(slices));
    audit_add(r, "duplicate-layers", AUDIT_INFO, NULL,
              "byte-identical layers %s; the stack reads as slices %s of %u distinct layers",
              groups, slices, distinct);
out:
    free(root);
    return rc;
}
