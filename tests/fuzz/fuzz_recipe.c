/* fuzz_recipe.c: the JSON recipe (recipe_parse_json), model paths resolved
 * against a folder holding models a and b. */
#include "recipes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *base = fz_models();
    sut_error err = {{0}};
    recipe *r = recipe_parse_json((const char *)data, size, "recipe.json",
                                  base, &err);

    if (r)
        fz_check_recipe(r, base);
    else
        FZ_CHECK_MSG(err.msg);
    recipe_free(r);
    return 0;
}
