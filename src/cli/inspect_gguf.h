/* inspect_gguf.h: the GGUF side of `suture inspect` (inspect_gguf.c). */
#ifndef SUTURE_CLI_INSPECT_GGUF_H
#define SUTURE_CLI_INSPECT_GGUF_H

#include <stdbool.h>

/* True when path is a GGUF file (by its magic) or names one (.gguf). */
bool inspect_is_gguf(const char *path);
/* Prints the GGUF model at path (text, or JSON); returns the exit status. */
int inspect_gguf(const char *verb, const char *path, bool json, bool tensors);

#endif
