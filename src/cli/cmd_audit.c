/* cmd_audit.c: suture audit PATH [--base NAME=PATH]... [--json] [--strict]
 * [--quiet] [--arch-file F] [-j N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suture/format.h"
#include "suture/audit.h"
#include "cli.h"
#include "audit_out.h"
#include "json_out.h"
#include "opts.h"
#include "gguf_cmds.h"
#include "inspect_gguf.h"
#include "progress.h"

#define BASES_MAX 64

static const char usage[] =
    "usage: suture audit PATH [--base NAME=PATH]... [--json] [--strict]\n"
    "                   [--quiet] [--arch-file F] [-j N]\n"
    "Checks a checkpoint: shards and index, config vs tensors, a redundant\n"
    "lm_head, the parameter count, byte-identical layers and, with --base,\n"
    "which base layer each layer comes from and where the seams are.\n"
    "Exit 0 when no error is found (with --strict, no warning either), 1 when\n"
    "one is, 2 when the audit cannot run.\n\n"
    "  --base NAME=PATH  a model the layers may come from (repeatable)\n"
    "  --json            print the report as one JSON object\n"
    "  --strict          exit 1 on warnings too\n"
    "  -q, --quiet       no progress bar\n"
    "  --arch-file F     more architectures (a JSON family file)\n"
    "  -j, --jobs N      hashing threads, 1 to 64 (default: the cores, at most 8)\n";

struct args {
    const char *path;
    const char *arch_file;
    audit_base bases[BASES_MAX];
    char *base_names[BASES_MAX];    /* owned: the NAME of each --base */
    audit_options opt;
    bool json, strict;
    bool quiet;         /* no progress bar */
};

enum { AUDIT_BASE = CLI_OWN, AUDIT_STRICT };

static int parse_base(struct args *a, const char *spec)
{
    const char *eq = strchr(spec, '=');

    if (!eq || eq == spec || !eq[1])
        return cli_usage_error("audit", "--base wants NAME=PATH, not '%s'",
                               cli_text(spec));
    if (a->opt.nbases == BASES_MAX)
        return cli_usage_error("audit", "at most %d --base models", BASES_MAX);
    a->base_names[a->opt.nbases] = strndup(spec, (size_t)(eq - spec));
    if (!a->base_names[a->opt.nbases])
        return cli_usage_error("audit", "out of memory");
    a->bases[a->opt.nbases] = (audit_base){a->base_names[a->opt.nbases], eq + 1};
    a->opt.nbases++;
    return 0;
}

static int take(void *ctx, int id, const char *v)
{
    struct args *a = ctx;

    switch (id) {
    case CLI_JSON:
        a->json = true;
        return 0;
    case AUDIT_STRICT:
        a->strict = true;
        return 0;
    case CLI_QUIET:
        a->quiet = true;
        return 0;
    case AUDIT_BASE:
        return parse_base(a, v);
    case CLI_ARCH_FILE:
        a->arch_file = v;
        return 0;
    case CLI_JOBS:
        return cli_parse_jobs("audit", v, 64, &a->opt.threads);
    default:
        return cli_take_operand("audit", "PATH", &a->path, v);
    }
}

/* CLI_GO to go on, EXIT_OK after --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, struct args *a)
{
    static const cli_opt opts[] = {CLI_ROW_JSON, {"strict", 0, false, AUDIT_STRICT},
                                   CLI_ROW_QUIET, {"base", 0, true, AUDIT_BASE},
                                   CLI_ROW_ARCH_FILE, CLI_ROW_JOBS};
    cli_parser cp = {"audit", opts, sizeof(opts) / sizeof(opts[0]), NULL, 0, usage,
                     NULL, take, a};
    int rc;

    a->opt.bases = a->bases;
    rc = cli_opts_parse(&cp, argc, argv);
    if (rc == CLI_GO && !a->path)
        return cli_usage_error("audit", "no PATH given (see 'suture audit --help')");
    return rc;
}

static const audit_origin *origin_of(const void *r, size_t i)
{
    return audit_origin_at(r, i);
}

static const char *base_of(const void *r, size_t i)
{
    return audit_base_name(r, i);
}

/* The traced slices as a spec 'suture build --slices' takes. */
static void print_slices(const audit_report *r)
{
    size_t i, n = audit_slice_count(r);

    if (n == 0 || audit_slice_at(r, 0)->base < 0)
        return;
    printf("slices:");
    for (i = 0; i < n; i++) {
        const audit_slice *s = audit_slice_at(r, i);
        printf("%s %s[%u:%u]", i ? "," : "", cli_text(audit_base_name(r, (size_t)s->base)),
               s->start, s->end);
    }
    printf("\n");
}

static void print_text(const audit_report *r, const char *path)
{
    const model *m = audit_model(r);
    char params[32], bytes[32];
    size_t i;

    for (i = 0; i < audit_finding_count(r); i++)
        audit_out_finding(audit_finding_at(r, i));
    audit_out_trace(r, audit_origin_count(r), origin_of, base_of);
    print_slices(r);
    if (m)
        printf("%s: %u layer%s, %s parameters, %s; ", cli_text(path), model_layer_count(m),
               model_layer_count(m) == 1 ? "" : "s",
               fmt_count(audit_parameter_count(r), params, sizeof(params)),
               fmt_bytes(model_data_bytes(m), bytes, sizeof(bytes)));
    else
        printf("%s: could not be opened; ", cli_text(path));
    audit_out_counts(audit_count(r, AUDIT_ERROR), audit_count(r, AUDIT_WARNING),
                     audit_count(r, AUDIT_INFO));
}

/* audit_run with a progress bar on a terminal (unless --quiet). */
static audit_report *audit_with_bar(struct args *a, arch_table *t, sut_error *err)
{
    cli_progress *bar = cli_progress_attach("audit", a->quiet, &a->opt.progress,
                                            &a->opt.progress_ctx);
    audit_report *r;

    r = audit_run(a->path, t, &a->opt, err);
    cli_progress_free(bar);
    return r;
}

static int run(struct args *a)
{
    sut_error err;
    arch_table *t = cli_arch_table(a->arch_file, &err);
    audit_report *r = NULL;
    int rc = EXIT_USAGE;

    if (!t || !(r = audit_with_bar(a, t, &err))) {
        cli_fail("audit", &err);
        goto out;
    }
    if (a->json) {
        if (cli_print_json(cli_json_audit(r)) != 0)
            goto out;
    } else {
        print_text(r, a->path);
    }
    rc = audit_count(r, AUDIT_ERROR) > 0 ||
         (a->strict && audit_count(r, AUDIT_WARNING) > 0) ? EXIT_FOUND : EXIT_OK;
out:
    audit_free(r);
    arch_table_free(t);
    return rc;
}

int cmd_audit(int argc, char **argv)
{
    struct args a = {0};
    size_t i;
    int rc = parse(argc, argv, &a);

    if (rc == CLI_GO && inspect_is_gguf(a.path))
        rc = gguf_cli_audit(a.path, a.opt.bases, a.opt.nbases, a.json, a.strict);
    else if (rc == CLI_GO)
        rc = run(&a);
    for (i = 0; i < a.opt.nbases; i++)
        free(a.base_names[i]);
    return rc;
}
