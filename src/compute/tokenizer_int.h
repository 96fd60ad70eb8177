/* tokenizer_int.h: the tokenizer's private parts, shared by tokenizer*.c.
 * tokenizer.c: open, config, post-processing, encode's pipeline;
 * tokenizer_json.c: reading tokenizer.json into these structures;
 * tokenizer_text.c: regexes, normalizers, pre-tokenizers, added tokens;
 * tokenizer_bpe.c: the BPE model (maps, merges by rank, word cache). */
#ifndef SUTURE_TOKENIZER_INT_H
#define SUTURE_TOKENIZER_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "suture/error.h"
#include "suture/tokenizer.h"

/* A map from byte strings to non-negative int32 values (open addressing;
 * the keys are copied into an arena). */
typedef struct tk_slot {
    uint64_t hash;
    size_t off;
    size_t len;
    int32_t val; /* -1: empty */
} tk_slot;

typedef struct tk_map {
    tk_slot *slots;
    size_t cap, count;
    char *arena;
    size_t alen, acap;
} tk_map;

/* Sets key s (n bytes) to val (>= 0). Stores the previous value or -1 in
 * *old when old is non-NULL. 0, or -1 when out of memory. */
int tk_map_put(tk_map *m, const char *s, size_t n, int32_t val, int32_t *old);
/* The value of key s, or -1. */
int32_t tk_map_get(const tk_map *m, const char *s, size_t n);
void tk_map_free(tk_map *m);

/* The merges: (left id, right id) -> (rank, merged id). */
typedef struct tk_pairs {
    uint64_t *keys; /* UINT64_MAX: empty */
    uint32_t *rank;
    int32_t *id;
    size_t cap, count;
} tk_pairs;

/* Sets the pair (a, b) to (rank, id), replacing an earlier one as the
 * library's hash map does. 0, or -1 when out of memory. */
int tk_pairs_put(tk_pairs *p, int32_t a, int32_t b, uint32_t rank, int32_t id);
/* The slot index of (a, b), or -1 when the pair is not a merge. */
long tk_pairs_find(const tk_pairs *p, int32_t a, int32_t b);
void tk_pairs_free(tk_pairs *p);

typedef struct tk_bpe {
    tk_map vocab;
    size_t vocab_len;      /* entries of the vocab object */
    tk_pairs merges;
    int32_t byte_id[256];  /* the <0xXX> tokens, or -1 */
    char *unk;             /* unk_token, or NULL */
    char *prefix, *suffix; /* continuing_subword_prefix, end_of_word_suffix */
    bool fuse_unk, byte_fallback, ignore_merges;
    /* No merge joins a left part not ending in "▁" to a right part starting
     * with it, and "▁" is in the vocab: a word splits before each "▁" that
     * follows another character without changing its ids (sentencepiece
     * style, where the whole text is one word). */
    bool crosses_meta, split_meta;
} tk_bpe;

typedef enum tk_norm_kind {
    TK_NORM_PREPEND, TK_NORM_REPLACE, TK_NORM_NFC, TK_NORM_NFD, TK_NORM_NFKC, TK_NORM_NFKD
} tk_norm_kind;

typedef struct tk_norm {
    tk_norm_kind kind;
    char *str;        /* Prepend's text, Replace's content */
    pcre2_code *re;   /* Replace's pattern */
} tk_norm;

typedef enum tk_behavior {
    TK_REMOVED, TK_ISOLATED, TK_MERGED_PREV, TK_MERGED_NEXT, TK_CONTIGUOUS
} tk_behavior;

typedef enum tk_pre_kind { TK_PRE_BYTELEVEL, TK_PRE_SPLIT, TK_PRE_METASPACE } tk_pre_kind;
typedef enum tk_prepend { TK_PREPEND_NEVER, TK_PREPEND_FIRST, TK_PREPEND_ALWAYS } tk_prepend;

typedef struct tk_pre {
    tk_pre_kind kind;
    pcre2_code *re;          /* Split's pattern; ByteLevel's GPT-2 regex or NULL */
    tk_behavior behavior;
    bool invert;
    bool add_prefix_space;   /* ByteLevel */
    char repl[8];            /* Metaspace's replacement (one character) */
    size_t repl_len;
    tk_prepend prepend;
    bool split;
} tk_pre;

typedef struct tk_added {
    char *content;
    size_t len;
    char *pattern;    /* what is matched: content, normalized when `normalized` */
    size_t plen;
    int32_t id;
    bool special, normalized, lstrip, rstrip, single_word;
} tk_added;

/* Added tokens matched as a leftmost-longest set: a byte trie of their
 * patterns. root[b] is the node of first byte b (-1: none); a node's
 * children are a list (child, then sibling); tok is the token whose
 * pattern ends at the node, or NULL. */
typedef struct tk_node {
    int32_t child, sibling;
    const tk_added *tok;
    unsigned char byte;
} tk_node;

typedef struct tk_set {
    tk_node *nodes;
    size_t n, cap;
    int32_t root[256];
    bool any;
} tk_set;

struct tok_tokenizer {
    char *file;                 /* the tokenizer.json path, for messages */
    tk_bpe bpe;
    tk_norm *norm;
    size_t n_norm;
    tk_pre *pre;
    size_t n_pre;
    tk_added *added;
    size_t n_added;
    tk_map added_ids;           /* content -> id */
    tk_set raw_set, norm_set;   /* non-normalized and normalized tokens */
    int32_t *prefix, *suffix;   /* ids the post-processor adds */
    size_t n_prefix, n_suffix;
    size_t vocab_size;
};

/* A list of text pieces in one buffer. id >= 0: an added token (not
 * processed further). first: the piece starts at offset 0 of the text
 * (Metaspace's prepend_scheme "first"). */
typedef struct tk_span {
    size_t off, len;
    int32_t id;
    bool first;
} tk_span;

typedef struct tk_pieces {
    char *buf;
    size_t len, cap;
    tk_span *v;
    size_t n, vcap;
} tk_pieces;

/* Appends a piece (copying n bytes of s); empty text pieces are dropped.
 * 0, or -1 when out of memory. */
int tk_pieces_add(tk_pieces *p, const char *s, size_t n, int32_t id, bool first);
void tk_pieces_clear(tk_pieces *p);
void tk_pieces_free(tk_pieces *p);

/* A growing byte buffer. */
typedef struct tk_buf {
    char *s;
    size_t len, cap;
} tk_buf;
int tk_buf_add(tk_buf *b, const void *s, size_t n);

/* A growing id list. */
typedef struct tk_ids {
    int32_t *v;
    size_t n, cap;
} tk_ids;
int tk_ids_add(tk_ids *l, int32_t id);

/* Per-call state of an encode: regex match data and the word cache. */
typedef struct tk_run {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    tk_map cache;   /* word -> index into cache_at */
    size_t *cache_at;
    size_t cache_n, cache_cap;
    tk_ids cache_ids; /* cached words' ids: at cache_at[i], count first */
    sut_error *err;
    const char *file;
} tk_run;

/* tokenizer.c */
/* Prepares r for one encode with t (r->err = err). 0, or -1 with err set. */
int tk_run_init(tk_run *r, const tok_tokenizer *t, sut_error *err);
void tk_run_free(tk_run *r);

/* tokenizer_text.c */
/* Compiles an Oniguruma pattern (literal when `literal`). NULL with err set
 * to "LABEL: ..." on failure. */
pcre2_code *tk_regex(const char *pat, bool literal, const char *label, sut_error *err);
pcre2_code *tk_gpt2_regex(sut_error *err);
/* Length of the valid UTF-8 prefix of s (n when all of s is valid). */
size_t tk_utf8_valid(const char *s, size_t n);
/* Applies the normalizers to s into out (cleared first). 0 or -1 (err set). */
int tk_normalize(const tok_tokenizer *t, tk_run *r, const char *s, size_t n, tk_buf *out);
/* Splits each text piece of in around the added tokens of set, into out. */
int tk_split_added(const tk_set *set, const tk_pieces *in, tk_pieces *out);
/* Splits one string around the tokens of set, appending to out. */
int tk_split_added_one(const tk_set *set, const char *s, size_t n, bool first, tk_pieces *out);
/* Runs pre-tokenizer step pre over in into out. 0 or -1 (err set). */
int tk_pre_run(const tk_pre *pre, tk_run *r, const tk_pieces *in, tk_pieces *out);
/* Builds a matching set over the added tokens with normalized == norm.
 * 0; -1 when out of memory; 1 when two tokens have the same pattern (*dup
 * is the second). */
int tk_set_build(tk_set *set, const tk_added *added, size_t n, bool norm,
                 const tk_added **dup);

/* tokenizer_bpe.c */
/* Appends the ids of one pre-tokenized word. 0, or -1 with r->err set. */
int tk_bpe_word(const tk_bpe *m, tk_run *r, const char *w, size_t n, tk_ids *out);

/* tokenizer_json.c */
/* Reads the parts of tokenizer.json root into t (t->file set). 0 or -1. */
int tk_json_load(tok_tokenizer *t, const cJSON *root, sut_error *err);
void tk_norm_free(tk_norm *n);
void tk_pre_free(tk_pre *p);

#endif
