/* fuzz_names.c: inferring an architecture from tensor names (arch_infer,
 * the path taken for a model whose family is unknown). The input is the
 * names, one per line. */
#include "fuzz.h"
#include "suture/arch.h"

#define MAX_NAMES 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static arch_table *t;
    static unsigned inferred;
    char *text = malloc(size + 1), *p, *nl;
    const char *names[MAX_NAMES];
    const arch_family *f;
    sut_error err = {{0}};
    size_t n = 0, i;

    /* each inference may add a family to the table: start afresh now and
     * then so it stays small */
    if (t && inferred >= 64) {
        arch_table_free(t);
        t = NULL;
        inferred = 0;
    }
    if (!t)
        FZ_CHECK((t = arch_table_new(NULL)) != NULL);
    FZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    for (p = text; n < MAX_NAMES; p = nl + 1) {
        names[n++] = p;
        if (!(nl = strchr(p, '\n')))
            break;
        *nl = '\0';
    }
    f = arch_infer(t, names, n, &err);
    if (!f) {
        FZ_CHECK_MSG(err.msg);
    } else {
        FZ_CHECK(f->inferred && arch_infer(t, names, n, NULL) == f);
        inferred++;
        for (i = 0; i < n; i++) {
            size_t b, e, local;
            long l = arch_layer_of(f, names[i], &b, &e, &local);
            char *r = arch_rename(f, names[i], 7);
            if (l >= 0) {
                FZ_CHECK(r != NULL && b <= e && e <= strlen(names[i]));
                FZ_CHECK(arch_layer_of(f, r, NULL, NULL, NULL) == 7);
            }
            free(r);
            (void)arch_is_head(f, names[i]);
            (void)arch_is_embed(f, names[i]);
            (void)arch_is_output(f, names[i]);
        }
    }
    free(text);
    return 0;
}
