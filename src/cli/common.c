/* common.c: printing helpers shared by the commands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/format.h"
#include "cli.h"

int cli_fail(const char *verb, const sut_error *err)
{
    fprintf(stderr, "suture %s: %s\n", verb, err->msg);
    return EXIT_USAGE;
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

    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "suture: out of memory\n");
        return EXIT_USAGE;
    }
    puts(text);
    free(text);
    return EXIT_OK;
}

bool cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}
