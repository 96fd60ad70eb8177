/* cmd_convert_recipe.c: suture convert-recipe CONFIG [--json] */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json_out.h"
#include "opts.h"
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

static int take(void *ctx, int id, const char *v)
{
    const char **path = ctx;

    if (id == CLI_JSON)
        return 0;
    if (*path)
        return cli_usage_error("convert-recipe", "one config at a time");
    *path = v;
    return 0;
}

int cmd_convert_recipe(int argc, char **argv)
{
    static const cli_opt opts[] = {CLI_ROW_JSON};
    const char *path = NULL;
    cli_parser cp = {"convert-recipe", opts, 1, NULL, 0, usage_text, NULL, take, &path};
    sut_error err;
    recipe *r;
    int i, rc;

    if ((rc = cli_opts_parse(&cp, argc, argv)) != CLI_GO)
        return rc;
    if (!path)
        return cli_usage_error(argv[0], "missing CONFIG (see --help)");
    if (!(r = recipe_load(path, &err)))
        return cli_fail(argv[0], &err);
    for (i = 0; r->notes && r->notes[i]; i++)
        fprintf(stderr, "suture %s: note: %s\n", argv[0], cli_text(r->notes[i]));
    rc = cli_print_json(cli_json_recipe(r));
    recipe_free(r);
    return rc;
}
