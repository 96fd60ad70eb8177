/* fuzz_mergekit.c: mergekit passthrough YAML (recipe_parse_mergekit),
 * model paths resolved against a folder holding models a and b. */
#include "recipes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *base = fz_models();
    sut_error err = {{0}};
    recipe *r = recipe_parse_mergekit((const char *)data, size, "merge.yml",
                                      base, &err);

    if (r)
        fz_check_recipe(r, base);
    else
        FZ_CHECK_MSG(err.msg);
    recipe_free(r);
    return 0;
}
