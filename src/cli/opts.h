/* opts.h: the one option parser of the CLI. A command describes its
 * options in a table of cli_opt rows and gets each option and operand back
 * through a callback. Every option with a value takes "--name V" and
 * "--name=V" (and "-x V", "-xV" when it has a short form); "--" ends the
 * options; -h/--help anywhere in option position prints the help on stdout.
 * Options several commands share are spelled by the CLI_ROW_* rows, so a
 * shared option reads the same in every command. */
#ifndef SUTURE_CLI_OPTS_H
#define SUTURE_CLI_OPTS_H

#include <stdbool.h>
#include <stddef.h>

/* Ids of the shared options; a command numbers its own from CLI_OWN. */
enum {
    CLI_OPERAND = 0,    /* a non-option argument: value is the argument */
    CLI_JSON,
    CLI_QUIET,
    CLI_FORCE,
    CLI_OUTPUT,
    CLI_JOBS,
    CLI_ARCH_FILE,
    CLI_OWN = 100
};

typedef struct {
    const char *name;   /* long name without the dashes: "output" */
    char short_name;    /* 'o', or 0 when there is none */
    bool value;         /* takes a value */
    int id;             /* passed to the callback */
} cli_opt;

#define CLI_ROW_JSON      {"json", 0, false, CLI_JSON}
#define CLI_ROW_QUIET     {"quiet", 'q', false, CLI_QUIET}
#define CLI_ROW_FORCE     {"force", 0, false, CLI_FORCE}
#define CLI_ROW_OUTPUT    {"output", 'o', true, CLI_OUTPUT}
#define CLI_ROW_JOBS      {"jobs", 'j', true, CLI_JOBS}
#define CLI_ROW_ARCH_FILE {"arch-file", 0, true, CLI_ARCH_FILE}

/* Takes option id with its value (NULL for a flag), or an operand (id
 * CLI_OPERAND). Returns 0, or EXIT_USAGE after printing what is wrong. */
typedef int (*cli_opt_fn)(void *ctx, int id, const char *value);

typedef struct {
    const char *verb;        /* for messages: "suture VERB: ..." */
    const cli_opt *opts;     /* the command's own rows */
    size_t nopts;
    const cli_opt *more;     /* shared rows (plan_args_opts), or NULL */
    size_t nmore;
    const char *help;        /* printed for --help */
    const char *help_more;   /* printed after help, or NULL */
    cli_opt_fn take;
    void *ctx;
} cli_parser;

/* The value cli_opts_parse returns when the command should go on. */
#define CLI_GO (-1)

/* Parses argv[1..argc-1] (argv[0] is the verb). First checks the syntax
 * (an unknown option or one missing its value is a one-line error, the
 * option text escaped) and looks for --help; then passes every option and
 * operand, in order, to p->take. Returns CLI_GO, EXIT_OK after printing
 * the help, or EXIT_USAGE after printing the error. */
int cli_opts_parse(const cli_parser *p, int argc, char **argv);

/* Parses a -j/--jobs value: a whole number from 1 to max. 0, or
 * EXIT_USAGE after printing the error. */
int cli_parse_jobs(const char *verb, const char *s, unsigned max, unsigned *out);

/* Takes the command's one operand v into *slot (what names it in the
 * message: "PATH", "OUT"). 0, or EXIT_USAGE after printing "one WHAT only
 * ('A' and 'B')" when *slot is already set. */
int cli_take_operand(const char *verb, const char *what, const char **slot,
                     const char *v);

#endif
