/* common.c: printing helpers shared by the commands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/format.h"
#include "cli.h"

int cli_fail(const char *verb, const sut_error *err)
{
    fprintf(stderr, "suture %s: %s\n", verb, cli_text(err->msg));
    return EXIT_USAGE;
}

#define TEXT_SLOTS 8
#define TEXT_MAX 4608

const char *cli_text(const char *s)
{
    static char slots[TEXT_SLOTS][TEXT_MAX];
    static unsigned next;
    char *buf = slots[next++ % TEXT_SLOTS];

    return fmt_text(s ? s : "", buf, TEXT_MAX);
}

int cli_print_text(const char *text)
{
    char *safe = fmt_escape_dup(text, FMT_LINES);

    if (!safe) {
        fprintf(stderr, "suture: out of memory\n");
        return EXIT_USAGE;
    }
    fputs(safe, stdout);
    free(safe);
    return EXIT_OK;
}

int cli_usage_error(const char *verb, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "suture %s: ", verb);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

int cli_print_json(cJSON *root)
{
    char *text = root ? cJSON_Print(root) : NULL;
    char *safe = text ? fmt_escape_dup(text, FMT_JSON) : NULL;

    cJSON_Delete(root);
    free(text);
    if (!safe) {
        fprintf(stderr, "suture: out of memory\n");
        return EXIT_USAGE;
    }
    puts(safe);
    free(safe);
    return EXIT_OK;
}

arch_table *cli_arch_table(const char *arch_file, sut_error *err)
{
    arch_table *t = arch_table_new(err);

    if (t && arch_file && arch_table_load(t, arch_file, err) != 0) {
        arch_table_free(t);
        return NULL;
    }
    return t;
}

volatile sig_atomic_t cli_interrupted;

static void on_signal(int sig)
{
    cli_interrupted = 1;
    signal(sig, SIG_DFL);
}

void cli_catch_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

bool cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}
