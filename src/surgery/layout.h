/* layout.h: the order of the data in an output safetensors file that lets
 * copied bytes share their source's blocks (private to src/surgery).
 *
 * A file system shares a block between two files only when it lies at the
 * same offset modulo XFER_BLOCK in both, and only whole blocks. So the
 * items copied from one source file are chained in the source's order
 * where they are contiguous there (a run), the file's header is padded so
 * that the largest run starts at its source offset modulo XFER_BLOCK, and
 * the other runs follow in an order that keeps as many as possible at
 * their source phase. The order depends only on the items: the same
 * inputs give the same file on every file system. */
#ifndef SUTURE_LAYOUT_H
#define SUTURE_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define LAYOUT_WRITTEN UINT64_MAX /* key of an item written, not copied */

typedef struct layout_item {
    uint64_t key;    /* the source file it is copied from, or LAYOUT_WRITTEN */
    uint64_t off;    /* its absolute offset in that file */
    uint64_t bytes;
} layout_item;

typedef struct layout_result {
    bool aligned;       /* the header must put the data at `phase` */
    uint64_t phase;     /* the data start modulo XFER_BLOCK (a multiple of 8) */
    uint64_t shareable; /* bytes that can share blocks: block-aligned middles
                           of the runs kept at their source phase */
} layout_result;

/* Fills order[0..n) with a permutation of 0..n-1, the items' order in the
 * data section, and *res. 0, or -1 when out of memory. */
int layout_order(const layout_item *items, size_t n, size_t *order,
                 layout_result *res);

#endif
