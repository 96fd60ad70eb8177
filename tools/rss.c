/* rss: runs a command and reports its wall time and peak memory.
 *
 *   rss OUTFILE COMMAND [ARG]...
 *
 * Runs COMMAND (searched in PATH) with this process's stdin, stdout and
 * stderr, waits for it, and writes one line to OUTFILE:
 *   "SECONDS MAXRSS_KB STATUS"
 * SECONDS is the wall-clock time from fork to exit (monotonic clock, six
 * decimals); MAXRSS_KB the largest resident set of the command or of any
 * of its descendants it waited for (getrusage RUSAGE_CHILDREN); STATUS its
 * exit status (128 + N when killed by signal N). Exits with STATUS, or 2
 * when the command could not be run or OUTFILE not written. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for pid; its exit status, 128 + signal, or -1. */
static int wait_status(pid_t pid)
{
    int st;

    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

static int report(const char *path, double secs, long kb, int status)
{
    FILE *f = fopen(path, "w");

    if (!f || fprintf(f, "%.6f %ld %d\n", secs, kb, status) < 0 || fclose(f) != 0) {
        fprintf(stderr, "rss: %s: cannot write: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct rusage ru;
    double start;
    pid_t pid;
    int status;

    if (argc < 3) {
        fprintf(stderr, "usage: rss OUTFILE COMMAND [ARG]...\n");
        return 2;
    }
    start = now();
    if ((pid = fork()) < 0) {
        fprintf(stderr, "rss: fork failed: %s\n", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "rss: %s: cannot run: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    status = wait_status(pid);
    if (status < 0 || getrusage(RUSAGE_CHILDREN, &ru) != 0) {
        fprintf(stderr, "rss: waiting for %s failed: %s\n", argv[2], strerror(errno));
        return 2;
    }
    if (report(argv[1], now() - start, ru.ru_maxrss, status) != 0)
        return 2;
    return status;
}
