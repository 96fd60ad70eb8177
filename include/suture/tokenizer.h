/* tokenizer.h: Hugging Face `tokenizer.json` BPE tokenizers, giving the ids
 * of Hugging Face's own tokenizers library (Tokenizer.encode).
 *
 * Supported, each exactly as the library does it:
 *  - model: BPE (merges as "a b" strings or [a, b] pairs; unk_token, fuse_unk,
 *    byte_fallback <0xXX> tokens, ignore_merges, continuing_subword_prefix,
 *    end_of_word_suffix); dropout must be null or 0;
 *  - normalizer: null, Sequence, Prepend, Replace (String or Regex pattern),
 *    NFC, NFD, NFKC, NFKD (libutf8proc);
 *  - pre_tokenizer: null, Sequence, ByteLevel, Split (String or Regex pattern,
 *    every behavior, invert), Metaspace (prepend_scheme, split);
 *  - post_processor: null, ByteLevel, TemplateProcessing, Sequence of them;
 *  - added_tokens (special or not) matched before BPE, leftmost-longest, with
 *    their normalized, lstrip, rstrip and single_word flags.
 * Anything else is refused by name when the tokenizer is opened, never
 * tokenized differently. Regexes are the library's Oniguruma patterns run
 * through PCRE2 (UTF, UCP); \s, \S, \w, \W, \d, \D are rewritten to
 * Oniguruma's Unicode meaning, and ^ $ match at line breaks as there.
 *
 * `truncation` and `padding` of the file are ignored, as transformers does
 * when it encodes without truncation or padding.
 *
 * tokenizer_config.json (next to tokenizer.json), when it holds the booleans
 * add_bos_token or add_eos_token, decides whether bos_token / eos_token start
 * or end the ids (as transformers' Llama and Gemma tokenizers rebuild their
 * post-processor from them); otherwise the post-processor decides alone.
 *
 * Text must be valid UTF-8 (the library takes a string); invalid UTF-8 is
 * refused with the byte offset of the first bad sequence. */
#ifndef SUTURE_TOKENIZER_H
#define SUTURE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "suture/error.h"

/* The largest tokenizer.json read. */
#define TOK_FILE_MAX (256u << 20)

typedef struct tok_tokenizer tok_tokenizer;

/* path: a model folder (tokenizer.json, optional tokenizer_config.json) or a
 * tokenizer.json file (a tokenizer_config.json beside it is read too).
 * Returns a new tokenizer (free with tok_free), or NULL with err set, e.g.
 * "FILE: field 'model.merges[12]': ...". */
tok_tokenizer *tok_open(const char *path, sut_error *err);

/* Frees t; NULL is a no-op. */
void tok_free(tok_tokenizer *t);

/* Encodes len bytes of UTF-8 text as the library's encode(text,
 * add_special_tokens) does: with add_special true, the post-processor's
 * tokens (BOS, ...) are added. *ids is malloc'd (the caller frees; non-NULL
 * even when *n is 0). Returns 0, or -1 with err set (*ids NULL, *n 0).
 * Safe to call from several threads at once on one tokenizer. */
int tok_encode(const tok_tokenizer *t, const char *text, size_t len, bool add_special,
               int32_t **ids, size_t *n, sut_error *err);

/* The BOS id encode adds at the start with add_special, or -1. */
int32_t tok_bos(const tok_tokenizer *t);

/* One more than the largest id of the vocab and added tokens. */
size_t tok_vocab_size(const tok_tokenizer *t);

/* The id of a token (added tokens first, then the model's vocab), or -1. */
int32_t tok_token_id(const tok_tokenizer *t, const char *token);

#endif
