/* fuzz_tokenizer.c: tokenizer.json and text. The input is a tokenizer.json,
 * then a NUL byte, then a text: the JSON is written to a folder and opened;
 * when it opens, the text is encoded with and without special tokens.
 * Invariants: an open or encode either succeeds or gives a one-line
 * message; every id is below tok_vocab_size; valid UTF-8 always encodes. */
#include "fuzz.h"
#include "suture/tokenizer.h"

static void encode(const tok_tokenizer *t, const char *text, size_t len, bool special)
{
    sut_error err = {{0}};
    int32_t *ids = NULL;
    size_t n = 0, i;

    if (tok_encode(t, text, len, special, &ids, &n, &err)) {
        FZ_CHECK_MSG(err.msg);
        FZ_CHECK(ids == NULL && n == 0);
        return;
    }
    FZ_CHECK(ids != NULL);
    for (i = 0; i < n; i++)
        FZ_CHECK(ids[i] >= 0 && (size_t)ids[i] < tok_vocab_size(t));
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fz_folder();
    const uint8_t *nul = memchr(data, 0, size);
    size_t jlen = nul ? (size_t)(nul - data) : size;
    sut_error err = {{0}};
    tok_tokenizer *t;

    fz_write(dir, "tokenizer.json", data, jlen);
    t = tok_open(fz_path(dir, "tokenizer.json"), &err);
    if (!t) {
        FZ_CHECK_MSG(err.msg);
        return 0;
    }
    fz_note("opened", "tokenizer.json");
    if (nul) {
        encode(t, (const char *)nul + 1, size - jlen - 1, true);
        encode(t, (const char *)nul + 1, size - jlen - 1, false);
    }
    tok_free(t);
    return 0;
}
