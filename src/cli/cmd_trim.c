/* cmd_trim.c: placeholder until the command is written. */
#include "cli.h"

int cmd_trim(int argc, char **argv)
{
    sut_error err = {"not implemented yet"};

    return cli_fail(argv[0], &err);
}
