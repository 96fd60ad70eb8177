/* suture-logits: the forward pass's logits for a list of ids, printed as
 * the llama.cpp oracle's `logits` tool prints them, for tests:
 *
 *   suture-logits MODEL 1,403,407 [--all]
 *
 * MODEL is a folder, a .safetensors file or a GGUF file.
 *
 * {"n_vocab": V, "logits": [[...]], "nll": mean next-token NLL}: the last
 * position's row, or every position's with --all. All ids form one window.
 * Exit 0, or 2 with a message on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/forward.h"

struct grab {
    float *all;   /* T x V */
    size_t T, V;
};

static void keep(void *ctx, size_t row0, size_t n, const float *logits)
{
    struct grab *g = ctx;
    size_t t, r;

    for (t = 0; t < g->T; t++)
        for (r = 0; r < n; r++)
            g->all[t * g->V + row0 + r] = logits[t * n + r];
}

static int parse_ids(const char *s, int32_t **ids, size_t *n)
{
    size_t cap = 1;
    const char *p;
    char *end;

    for (p = s; *p; p++)
        cap += *p == ',';
    if (!(*ids = malloc(cap * sizeof(int32_t))))
        return -1;
    for (*n = 0, p = s; *p && *n < cap;) {
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX)
            return -1;
        (*ids)[(*n)++] = (int32_t)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return *n ? 0 : -1;
}

static int run(const char *path, const int32_t *ids, size_t n, bool all,
               sut_error *err)
{
    bool gguf = gguf_is_gguf(path);
    arch_table *at = gguf ? NULL : arch_table_new(err);
    model *m = at ? model_open(path, at, MODEL_STRICT, err) : NULL;
    gmodel *gm = gguf ? gmodel_open(path, err) : NULL;
    fw_stack s = {0};
    fw_model *f = NULL;
    fw_batch *b = NULL;
    struct grab g = {NULL, n, 0};
    double nll = 0;
    uint64_t pred = 0;
    size_t t, v;
    int rc = -1;

    if (gguf ? !gm || fw_stack_of_gguf(&s, gm, err)
             : !m || fw_stack_of_model(&s, m, err))
        goto out;
    if (!(f = fw_open(&s, 2, err)) ||
        !(b = fw_batch_new(f, n, n, err)) || fw_batch_set(b, ids, &n, 1, err))
        goto out;
    g.V = fw_model_dims(f)->vocab;
    if (!(g.all = malloc(n * g.V * sizeof(float)))) {
        sut_error_set(err, "out of memory");
        goto out;
    }
    if (fw_embed(f, b, err))
        goto out;
    for (t = 0; t < fw_model_dims(f)->layers; t++)
        if (fw_layer(f, b, t, err))
            goto out;
    if (fw_head(f, b, keep, &g, &nll, &pred, err))
        goto out;
    printf("{\"n_vocab\": %zu, \"logits\": [", g.V);
    for (t = all ? 0 : n - 1; t < n; t++) {
        printf("%s[", t > 0 && all ? "," : "");
        for (v = 0; v < g.V; v++)
            printf("%s%.9g", v ? "," : "", g.all[t * g.V + v]);
        printf("]");
    }
    printf("], \"nll\": %.9g}\n", pred ? nll / (double)pred : 0.0);
    rc = 0;
out:
    free(g.all);
    fw_batch_free(b);
    fw_free(f);
    fw_stack_release(&s);
    model_free(m);
    gmodel_free(gm);
    arch_table_free(at);
    return rc;
}

int main(int argc, char **argv)
{
    int32_t *ids = NULL;
    size_t n = 0;
    sut_error err;
    int rc;

    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "--all") != 0)) {
        fprintf(stderr, "usage: suture-logits MODEL IDS [--all]\n");
        return 2;
    }
    if (parse_ids(argv[2], &ids, &n) != 0) {
        fprintf(stderr, "suture-logits: '%s' is not a list of ids\n", argv[2]);
        free(ids);
        return 2;
    }
    rc = run(argv[1], ids, n, argc == 4, &err);
    if (rc)
        fprintf(stderr, "suture-logits: %s\n", err.msg);
    free(ids);
    return rc ? 2 : 0;
}
