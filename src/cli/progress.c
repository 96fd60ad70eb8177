/* progress.c: the stderr progress bar (see progress.h). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "suture/format.h"

#define BAR_WIDTH 24

struct cli_progress {
    const char *label;
    double start, last_draw;
    bool drawn;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

cli_progress *cli_progress_new(const char *label, bool quiet)
{
    cli_progress *p;

    if (quiet || !isatty(STDERR_FILENO) || !(p = calloc(1, sizeof(*p))))
        return NULL;
    p->label = label;
    p->start = now();
    return p;
}

static void format_eta(double seconds, char *buf, size_t size)
{
    long s = seconds > 0 && seconds < 360000 ? (long)(seconds + 0.5) : 0;

    snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

void cli_progress_update(void *ctx, uint64_t done, uint64_t total)
{
    cli_progress *p = ctx;
    char bar[BAR_WIDTH + 1], eta[32], a[32], b[32], c[32];
    double t, frac, rate;
    int i, filled;

    if (!p || total == 0)
        return;
    t = now();
    if (done < total && p->drawn && t - p->last_draw < 0.1)
        return;
    frac = done >= total ? 1.0 : (double)done / (double)total;
    filled = (int)(frac * BAR_WIDTH);
    for (i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    bar[BAR_WIDTH] = '\0';
    rate = t > p->start ? (double)done / (t - p->start) : 0;
    format_eta(rate > 0 ? (double)(total - done) / rate : 0, eta, sizeof(eta));
    fprintf(stderr, "\r%s [%s] %3d%%  %s / %s  %s/s  %s left ",
            p->label, bar, (int)(frac * 100), fmt_bytes(done, a, sizeof(a)),
            fmt_bytes(total, b, sizeof(b)), fmt_bytes((uint64_t)rate, c, sizeof(c)), eta);
    fflush(stderr);
    p->drawn = true;
    p->last_draw = t;
}

void cli_progress_free(cli_progress *p)
{
    if (!p)
        return;
    if (p->drawn)
        fprintf(stderr, "\r\033[K");
    free(p);
}

cli_progress *cli_progress_attach(const char *label, bool quiet,
                                  sut_progress_fn *fn, void **ctx)
{
    cli_progress *bar = cli_progress_new(label, quiet);

    *fn = bar ? cli_progress_update : NULL;
    *ctx = bar;
    return bar;
}
