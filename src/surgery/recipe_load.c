/* recipe_load.c: reading a recipe file, with the reader its first
 * character picks (JSON or a mergekit YAML). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "recipe_int.h"
#include "common/util.h"

/* Real recipes are kilobytes (a 60,000-slice one is 2 MB of JSON); parsed
 * trees cost about 40x (cJSON) and 80x (libyaml) the text. */
#define RECIPE_FILE_MAX (4u << 20)
#define RECIPE_YAML_MAX (2u << 20)

/* The folder part of path (new string), "/" for a file at the root, or
 * NULL with *oom false when path has no folder. */
static char *folder_of(const char *path, bool *oom)
{
    const char *slash = strrchr(path, '/');
    char *dir;

    *oom = false;
    if (!slash)
        return NULL;
    dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    *oom = !dir;
    return dir;
}

recipe *recipe_load(const char *path, sut_error *err)
{
    size_t len;
    bool oom;
    recipe *r = NULL;
    char *dir = NULL;
    char *text = sut_read_file(path, RECIPE_FILE_MAX, &len, err);
    const char *p = text;

    if (!text)
        return NULL;
    dir = folder_of(path, &oom);
    if (oom) {
        sut_error_oom(err, path);
        goto out;
    }
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    while (p < text + len && isspace((unsigned char)*p))
        p++;
    if (p < text + len && *p == '{')
        r = recipe_parse_json(text, len, path, dir, err);
    else if (len > RECIPE_YAML_MAX)
        sut_error_set(err, "%s: file is %zu bytes, over the limit of %u for a "
                      "mergekit YAML recipe", path, len, RECIPE_YAML_MAX);
    else
        r = recipe_parse_mergekit(text, len, path, dir, err);
    if (r && !(r->path = strdup(path))) {
        sut_error_oom(err, path);
        recipe_free(r);
        r = NULL;
    }
out:
    free(dir);
    free(text);
    return r;
}
