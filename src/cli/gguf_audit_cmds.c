/* gguf_audit_cmds.c: audit and trim on GGUF models (see gguf_cmds.h). */
#include <stdio.h>
#include <string.h>

#include "suture/format.h"
#include "suture/gguf_audit.h"
#include "suture/gguf_build.h"
#include "cli.h"
#include "audit_out.h"
#include "gguf_cmds.h"
#include "json_out.h"

static const audit_origin *origin_of(const void *r, size_t i)
{
    return gaudit_origin_at(r, i);
}

static const char *base_of(const void *r, size_t i)
{
    return gaudit_base_name(r, i);
}

static void print_text(const gaudit_report *r, const char *path)
{
    const gmodel *m = gaudit_model(r);
    char params[32], bytes[32];
    size_t i;

    for (i = 0; i < gaudit_finding_count(r); i++)
        audit_out_finding(gaudit_finding_at(r, i));
    audit_out_trace(r, gaudit_origin_count(r), origin_of, base_of);
    printf("%s: %u layer%s, %s parameters, %s; ", cli_text(path), gmodel_layer_count(m),
           gmodel_layer_count(m) == 1 ? "" : "s",
           fmt_count(gmodel_parameter_count(m), params, sizeof(params)),
           fmt_bytes(gmodel_data_bytes(m), bytes, sizeof(bytes)));
    audit_out_counts(gaudit_count(r, AUDIT_ERROR), gaudit_count(r, AUDIT_WARNING),
                     gaudit_count(r, AUDIT_INFO));
}

int gguf_cli_audit(const char *path, const audit_base *bases, size_t nbases,
                   bool json, bool strict)
{
    sut_error err;
    gaudit_report *r = gaudit_run(path, bases, nbases, &err);
    int rc;

    if (!r)
        return cli_fail("audit", &err);
    if (json) {
        if ((rc = cli_print_json(cli_json_gguf_audit(r))) != 0) {
            gaudit_free(r);
            return rc;
        }
    } else {
        print_text(r, path);
    }
    rc = gaudit_count(r, AUDIT_ERROR) > 0 ||
         (strict && gaudit_count(r, AUDIT_WARNING) > 0) ? EXIT_FOUND : EXIT_OK;
    gaudit_free(r);
    return rc;
}

int gguf_cli_trim(const char *path, const char *out, bool in_place, bool force,
                  bool json, bool quiet)
{
    gaudit_trim_result res;
    sut_error err;
    char params[32], bytes[32];

    if (gaudit_trim(path, in_place ? path : out, in_place, force, &res, &err) != 0)
        return cli_fail("trim", &err);
    if (json)
        return cli_print_json(cli_json_gguf_trim(&res, path, in_place ? path : out));
    if (quiet)
        return EXIT_OK;
    if (!res.trimmed) {
        printf("nothing to trim: %s%s\n", res.reason, in_place ? "" : " (no output written)");
        return EXIT_OK;
    }
    if (!res.identical)
        printf("dropped 'output.weight' although it differs from the embeddings (--force)\n");
    printf("removed 'output.weight': %s parameters, %s\n",
           fmt_count(res.parameters, params, sizeof(params)),
           fmt_bytes(res.bytes, bytes, sizeof(bytes)));
    printf("%s %s\n", in_place ? "trimmed in place:" : "wrote", in_place ? path : out);
    return EXIT_OK;
}

int gguf_cli_verify(const char *path, bool json, bool quiet)
{
    gbuild_verify_result res;
    sut_error err;
    size_t i;
    int rc;

    if (gbuild_verify(path, &res, &err) != 0)
        return cli_fail("verify", &err);
    rc = res.nproblems ? EXIT_FOUND : EXIT_OK;
    if (json) {
        if (cli_print_json(cli_json_gguf_verify(&res, path)) != 0)
            rc = EXIT_USAGE;
    } else {
        for (i = 0; i < res.nproblems; i++)
            printf("differs: %s\n", res.problems[i]);
        if (!quiet || res.nproblems)
            printf("%s: %zu tensors checked (%zu copies, %zu recomputed), %zu "
                   "differ%s\n", path, res.checked, res.copies, res.recomputed,
                   res.nproblems, res.nproblems == 1 ? "s" : "");
    }
    gbuild_verify_clear(&res);
    return rc;
}
