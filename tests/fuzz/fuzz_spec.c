/* fuzz_spec.c: the compact slice spec (recipe_parse_spec) with models
 * a=FOLDER/a and b=FOLDER/b given as -m would give them. */
#include "recipes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *base = fz_models();
    static char ma[600], mb[600];
    const char *args[2] = { ma, mb };
    char *spec = malloc(size + 1);
    sut_error err = {{0}};
    recipe *r;

    FZ_CHECK(spec != NULL);
    if (!ma[0]) {
        snprintf(ma, sizeof(ma), "a=%s/a", base);
        snprintf(mb, sizeof(mb), "b=%s/b", base);
    }
    memcpy(spec, data, size);
    spec[size] = '\0';
    r = recipe_parse_spec(spec, args, 2, &err);
    if (r) {
        FZ_CHECK(r->nslices > 0);
        fz_check_recipe(r, NULL);
    } else {
        FZ_CHECK_MSG(err.msg);
    }
    recipe_free(r);
    free(spec);
    return 0;
}
