/* cmd_convert_recipe.c: suture convert-recipe CONFIG [--json] */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "suture/recipe.h"

static const char usage_text[] =
    "usage: suture convert-recipe CONFIG [--json]\n"
    "\n"
    "Reads a mergekit passthrough config (YAML) or a JSON recipe and prints\n"
    "the JSON recipe on stdout. Where suture would build something other\n"
    "than mergekit (or ignores a setting), a note on stderr says so.\n"
    "Model paths stay as written, relative to the config's folder: save the\n"
    "JSON beside the config.\n"
    "\n"
    "  --json      print the JSON recipe (the default)\n"
    "  -h, --help  show this help\n";

int cmd_convert_recipe(int argc, char **argv)
{
    const char *path = NULL;
    sut_error err;
    recipe *r;
    int i, rc;

    for (i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        }
        if (strcmp(argv[i], "--json") == 0)
            continue;
        if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(argv[0], "unknown option '%s'", argv[i]);
        if (path)
            return cli_usage_error(argv[0], "one config at a time");
        path = argv[i];
    }
    if (!path)
        return cli_usage_error(argv[0], "missing CONFIG (see --help)");
    if (!(r = recipe_load(path, &err)))
        return cli_fail(argv[0], &err);
    for (i = 0; r->notes && r->notes[i]; i++)
        fprintf(stderr, "suture %s: note: %s\n", argv[0], r->notes[i]);
    rc = cli_print_json(recipe_to_json(r));
    recipe_free(r);
    return rc;
}
