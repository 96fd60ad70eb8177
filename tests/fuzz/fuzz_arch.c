/* fuzz_arch.c: the architecture-file reader (arch_table_load_json). The
 * input is a family file; when it loads, every loaded family is asked
 * about a set of tensor names. */
#include "fuzz.h"
#include "common/util.h"
#include "suture/arch.h"

static const char *const NAMES[] = {
    "model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
    "model.layers.31.mlp.down_proj.weight", "model.layers.07.x",
    "model.layers.99999999999.x", "model.norm.weight", "lm_head.weight",
    "transformer.h.3.attn.c_attn.weight", "self_attn.o_proj.weight", "",
    "layers.1.", "x.2147483647.y", "x.2147483648.y", NULL
};

static void ask(const arch_family *f)
{
    size_t i, b, e, local;

    for (i = 0; NAMES[i]; i++) {
        const char *n = NAMES[i];
        long l = arch_layer_of(f, n, &b, &e, &local);
        char *r = arch_rename(f, n, 123456u);

        if (l >= 0)
            FZ_CHECK(b <= e && e <= strlen(n) && local <= strlen(n));
        FZ_CHECK((r != NULL) == (l >= 0));
        free(r);
        (void)arch_is_head(f, n);
        (void)arch_is_embed(f, n);
        (void)arch_is_output(f, n);
        (void)arch_scale_cancelled(f, n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static arch_table *t;
    sut_error err = {{0}};
    cJSON *root = sut_json_parse((const char *)data, size, "families.json", &err);
    size_t before, i;

    if (!t)
        FZ_CHECK((t = arch_table_new(NULL)) != NULL);
    before = arch_table_count(t);
    if (!root) {
        FZ_CHECK_MSG(err.msg);
    } else if (arch_table_load_json(t, root, "families.json", &err) != 0) {
        FZ_CHECK_MSG(err.msg);
        FZ_CHECK(arch_table_count(t) == before);
    } else {
        for (i = 0; i < arch_table_count(t); i++) {
            const arch_family *f = arch_table_at(t, i);
            FZ_CHECK(arch_by_name(t, f->name) == f);
            ask(f);
        }
        /* the table changed: the next input starts from the built-ins */
        arch_table_free(t);
        t = NULL;
    }
    cJSON_Delete(root);
    return 0;
}
