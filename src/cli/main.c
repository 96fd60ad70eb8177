/* main.c: dispatches `suture VERB ...` to its command. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"inspect", cmd_inspect, "show a checkpoint's layers, tensors and parameters"},
    {"plan", cmd_plan, "show what a recipe would build, without writing"},
    {"build", cmd_build, "build a new checkpoint from a recipe"},
    {"audit", cmd_audit, "check a checkpoint for damage and frankenmerge seams"},
    {"trim", cmd_trim, "remove a redundant lm_head from a tied model"},
    {"verify", cmd_verify, "prove a built checkpoint matches its sources"},
    {"probe", cmd_probe, "measure a model: perplexity and what each layer changes"},
    {"convert-recipe", cmd_convert_recipe, "print a mergekit config as a JSON recipe"},
};

static void usage(FILE *to)
{
    size_t i;

    fprintf(to, "usage: suture COMMAND [ARGS]\n\ncommands:\n");
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(to, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(to, "\n'suture COMMAND --help' describes a command; "
                "'suture --version' prints the version.\n");
}

int main(int argc, char **argv)
{
    size_t i;

    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("suture %s\n", SUTURE_VERSION);
        return EXIT_OK;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "suture: unknown command '%s' (see 'suture --help')\n",
            cli_text(argv[1]));
    return EXIT_USAGE;
}
