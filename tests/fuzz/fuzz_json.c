/* fuzz_json.c: the strict JSON parser every reader uses (sut_json_parse):
 * explicit length, one value, no duplicate keys, bounded nesting. */
#include "fuzz.h"
#include "common/util.h"

/* No object in the tree holds a key twice; numbers read by sut_json_u64
 * are whole and at most 2^53. Returns the depth. */
static int walk(const cJSON *node, int depth)
{
    const cJSON *c;
    uint64_t v;
    int max = depth;

    FZ_CHECK(depth <= 1000 + 1);
    if (cJSON_IsObject(node))
        FZ_CHECK(sut_json_duplicate_key(node) == NULL);
    if (cJSON_IsNumber(node) && sut_json_u64(node, &v) == 0)
        FZ_CHECK(v <= 9007199254740992ULL && (double)v == node->valuedouble);
    for (c = node->child; c; c = c->next) {
        int d = walk(c, depth + 1);
        if (d > max)
            max = d;
    }
    return max;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sut_error err = {{0}};
    cJSON *root = sut_json_parse((const char *)data, size, "fuzz.json", &err);

    if (root)
        walk(root, 0);
    else
        FZ_CHECK_MSG(err.msg);
    cJSON_Delete(root);
    return 0;
}
