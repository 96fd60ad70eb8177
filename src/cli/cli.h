/* cli.h: the suture command line. Each subcommand lives in cmd_<verb>.c as
 *   int cmd_<verb>(int argc, char **argv);
 * where argv[0] is the verb. It parses its options, calls libsuture, prints,
 * and returns the exit status: 0 success, 1 the command ran and found
 * problems, 2 usage error or unusable input. To add one: write the file,
 * declare it here and add a row to the table in main.c. */
#ifndef SUTURE_CLI_H
#define SUTURE_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "suture/arch.h"
#include "suture/error.h"

#define EXIT_OK 0
#define EXIT_FOUND 1
#define EXIT_USAGE 2

int cmd_inspect(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_trim(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_convert_recipe(int argc, char **argv);
int cmd_probe(int argc, char **argv);

/* Prints "suture VERB: MESSAGE" on stderr; returns EXIT_USAGE. */
int cli_fail(const char *verb, const sut_error *err);
/* Prints "suture VERB: " + formatted text on stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints root as pretty JSON plus a newline on stdout and deletes it; the
 * text is valid UTF-8 with terminal controls escaped (fmt_escape FMT_JSON).
 * Returns 0, or EXIT_USAGE when root is NULL (out of memory). */
int cli_print_json(cJSON *root);
/* Prints text of several lines on stdout, escaped (fmt_escape FMT_LINES).
 * 0, or EXIT_USAGE when out of memory. */
int cli_print_text(const char *text);
/* s (a name, path or message from a file or argv; NULL for "") escaped on
 * one line with fmt_text, in one of 8 static buffers: valid until the 8th
 * call after this one. Cut at 4.5 kB. */
const char *cli_text(const char *s);
/* The built-in architecture table plus the families of arch_file (when
 * not NULL). NULL with err set on failure. Free with arch_table_free. */
arch_table *cli_arch_table(const char *arch_file, sut_error *err);

/* Set to 1 by SIGINT, SIGTERM or SIGHUP once cli_catch_signals ran. */
extern volatile sig_atomic_t cli_interrupted;
/* Makes the first SIGINT, SIGTERM or SIGHUP set cli_interrupted (for a
 * library call to stop cleanly) instead of killing the process; a second
 * one kills it as usual. */
void cli_catch_signals(void);

/* True when arg is "-h" or "--help". */
bool cli_is_help(const char *arg);

#endif
