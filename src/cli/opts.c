/* opts.c: the option parser (see opts.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/format.h"
#include "cli.h"
#include "opts.h"

/* One argument as parsed: the row it names (NULL for an operand), its
 * value, and how many argv entries it used. */
struct item {
    const cli_opt *opt;
    const char *value;
    int used;
};

static const cli_opt *find_long(const cli_parser *p, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < p->nopts; i++)
        if (strlen(p->opts[i].name) == len && strncmp(p->opts[i].name, name, len) == 0)
            return &p->opts[i];
    for (i = 0; i < p->nmore; i++)
        if (strlen(p->more[i].name) == len && strncmp(p->more[i].name, name, len) == 0)
            return &p->more[i];
    return NULL;
}

static const cli_opt *find_short(const cli_parser *p, char c)
{
    size_t i;

    for (i = 0; i < p->nopts; i++)
        if (p->opts[i].short_name == c)
            return &p->opts[i];
    for (i = 0; i < p->nmore; i++)
        if (p->more[i].short_name == c)
            return &p->more[i];
    return NULL;
}

/* What parse_option found wrong. */
enum { OPT_FINE, OPT_UNKNOWN, OPT_WANTS_VALUE, OPT_NO_VALUE };

/* Prints what is wrong with the option arg (escaped); returns EXIT_USAGE. */
static int bad(const cli_parser *p, int what, const char *arg)
{
    const char *text = cli_text(arg);

    if (what == OPT_WANTS_VALUE)
        return cli_usage_error(p->verb, "option '%s' wants a value (see 'suture %s "
                               "--help')", text, p->verb);
    if (what == OPT_NO_VALUE)
        return cli_usage_error(p->verb, "option '%s' takes no value (see 'suture %s "
                               "--help')", text, p->verb);
    return cli_usage_error(p->verb, "unknown option '%s' (see 'suture %s --help')", text,
                           p->verb);
}

/* The value after an option: inline (after '=' or the short letter), else
 * the next argument. OPT_FINE, or what is wrong. */
static int take_value(struct item *it, const char *inline_value, int argc,
                              char **argv, int i)
{
    if (!it->opt->value)
        return inline_value ? OPT_NO_VALUE : OPT_FINE;
    if (inline_value) {
        it->value = inline_value;
        return OPT_FINE;
    }
    if (i + 1 >= argc)
        return OPT_WANTS_VALUE;
    it->value = argv[i + 1];
    it->used = 2;
    return OPT_FINE;
}

/* Parses the option at argv[i] into *it. OPT_FINE, or what is wrong. */
static int parse_option(const cli_parser *p, int argc, char **argv, int i,
                                struct item *it)
{
    const char *s = argv[i], *eq;

    it->used = 1;
    it->value = NULL;
    if (s[1] == '-') {
        eq = strchr(s + 2, '=');
        it->opt = find_long(p, s + 2, eq ? (size_t)(eq - s - 2) : strlen(s + 2));
        if (!it->opt)
            return OPT_UNKNOWN;
        return take_value(it, eq ? eq + 1 : NULL, argc, argv, i);
    }
    it->opt = find_short(p, s[1]);
    if (!it->opt || (s[2] && !it->opt->value))
        return OPT_UNKNOWN;
    return take_value(it, s[2] ? s + 2 : NULL, argc, argv, i);
}

static bool is_option(const char *s)
{
    return s[0] == '-' && s[1] != '\0';
}

/* Pass 1: --help anywhere in option position, else the first syntax error. */
static int check(const cli_parser *p, int argc, char **argv)
{
    struct item it;
    int i, what = OPT_FINE, why, bad_at = 0;
    bool options = true;

    for (i = 1; i < argc; i += it.used) {
        it.used = 1;
        if (!options || !is_option(argv[i]))
            continue;
        if (strcmp(argv[i], "--") == 0) {
            options = false;
        } else if (cli_is_help(argv[i])) {
            printf("%s%s", p->help, p->help_more ? p->help_more : "");
            return EXIT_OK;
        } else if ((why = parse_option(p, argc, argv, i, &it)) && !what) {
            what = why;
            bad_at = i;
        }
    }
    return what ? bad(p, what, argv[bad_at]) : CLI_GO;
}

int cli_opts_parse(const cli_parser *p, int argc, char **argv)
{
    struct item it;
    int i, rc;
    bool options = true;

    if ((rc = check(p, argc, argv)) != CLI_GO)
        return rc;
    for (i = 1; i < argc; i += it.used) {
        it.used = 1;
        if (options && strcmp(argv[i], "--") == 0) {
            options = false;
            continue;
        }
        if (options && is_option(argv[i])) {
            parse_option(p, argc, argv, i, &it);
            rc = p->take(p->ctx, it.opt->id, it.value);
        } else {
            rc = p->take(p->ctx, CLI_OPERAND, argv[i]);
        }
        if (rc != 0)
            return EXIT_USAGE;
    }
    return CLI_GO;
}

int cli_parse_jobs(const char *verb, const char *s, unsigned max, unsigned *out)
{
    char *end;
    long n = strtol(s, &end, 10);

    if (!*s || *end || n < 1 || n > (long)max)
        return cli_usage_error(verb, "-j wants a thread count from 1 to %u, not '%s'",
                               max, cli_text(s));
    *out = (unsigned)n;
    return 0;
}

int cli_take_operand(const char *verb, const char *what, const char **slot,
                     const char *v)
{
    if (*slot)
        return cli_usage_error(verb, "one %s only ('%s' and '%s')", what, cli_text(*slot),
                               cli_text(v));
    *slot = v;
    return 0;
}
