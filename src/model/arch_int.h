/* arch_int.h: what the architecture table's files share (not public):
 * arch.c (the table, built-ins, compiling), arch_match.c (names and config
 * queries), arch_json.c (families from JSON), arch_infer.c (inference). */
#ifndef SUTURE_ARCH_INT_H
#define SUTURE_ARCH_INT_H

#include <stddef.h>
#include <stdbool.h>
#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "suture/arch.h"

#define MATCH_LIMIT 1000000u
#define PERIOD_MAX 65536u
#define FAMILY_FILE_MAX (1u << 20)
/* An inferred head pattern listing more than this many bytes of names is
 * replaced by the naming rule itself (see arch_infer). */
#define INFERRED_HEADS_MAX 8192u
#define NAME_MAX_LEN 64
#define CANDIDATES_PER_NAME 8

/* The compiled patterns of a family (its priv). */
typedef struct compiled {
    pcre2_code *layer, *head, *post_norm, *embed, *output;
    pcre2_match_context *mctx;
} compiled;

struct arch_table {
    arch_family **active; /* built-ins, then loaded ones, by name */
    size_t nactive;
    arch_family **owned;  /* every family made (replaced, inferred) */
    size_t nowned;
};

/* A NULL-terminated list of the space-separated words of s (NULL: an
 * empty list); NULL when out of memory. Free with arch_list_free. */
char **arch_list_split(const char *s);
void arch_list_free(char **list);
bool arch_list_has(char *const *list, const char *s);

/* Frees a family and its compiled patterns. */
void arch_family_free(arch_family *f);

/* Compiles f's patterns into f->priv. 0, or -1 with err naming the field. */
int arch_family_compile(arch_family *f, sut_error *err);

/* Makes room for n more families in t. 0, or -1 when out of memory. */
int arch_reserve(arch_table *t, size_t n);

/* Records f in t (which owns it from now), replacing an active family of
 * the same name. */
void arch_commit(arch_table *t, arch_family *f);

/* Appends f to *arr. 0, or -1 when out of memory. */
int arch_push(arch_family ***arr, size_t *n, arch_family *f);

/* pcre2 match of s against code with c's match context: 1 match, 0 none,
 * -1 failure. */
int arch_matches(const compiled *c, const pcre2_code *code, const char *s);

/* Frees c's patterns and match context. */
void arch_compiled_free(compiled *c);

/* The object of config that holds the text model's keys (text_config when
 * there is one, else config itself). */
const cJSON *arch_text_config(const cJSON *config);

#endif
