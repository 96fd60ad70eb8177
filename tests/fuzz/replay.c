/* replay.c: a main() for a fuzz target built with the normal compiler:
 * feeds it each file named on the command line, once, in order (what
 * tests/run does with tests/fuzz/corpus/<target>/). Exit 0 when every
 * input ran (a broken invariant aborts), 2 when a file cannot be read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

/* The whole file at path in *data (caller frees), its length in *size.
 * 0, or -1 after printing why. */
static int slurp(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    long n;

    *data = NULL;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || !(*data = malloc((size_t)n + 1)) ||
        fread(*data, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        if (f)
            fclose(f);
        free(*data);
        return -1;
    }
    fclose(f);
    *size = (size_t)n;
    return 0;
}

int main(int argc, char **argv)
{
    uint8_t *data;
    size_t size;
    int i;

    for (i = 1; i < argc; i++) {
        if (slurp(argv[i], &data, &size) != 0)
            return 2;
        LLVMFuzzerTestOneInput(data, size);
        free(data);
    }
    return 0;
}
