/* json_out.h: the one place each command's --json object comes from. Each
 * returns a new object the caller prints with cli_print_json (which
 * deletes it), or NULL when out of memory. The keys are those of README's
 * JSON section. inspect, build and trim are built here from the library's
 * result structs; plan, audit, verify and convert-recipe take the
 * library's own builders (plan_to_json, audit_to_json, verify_to_json,
 * recipe_to_json), which build writes into suture-recipe.json too. */
#ifndef SUTURE_CLI_JSON_OUT_H
#define SUTURE_CLI_JSON_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "suture/audit.h"
#include "suture/build.h"
#include "suture/measure.h"
#include "suture/model.h"
#include "suture/plan.h"
#include "suture/probe.h"
#include "suture/recipe.h"
#include "suture/trim.h"
#include "suture/verify.h"

/* Parameters by part and tensors by dtype, as inspect shows them. */
struct cli_totals {
    uint64_t embed, layers, head, other;
    size_t dtypes[ST_DTYPE_COUNT];
};

/* Fills *s from m's tensors. */
void cli_inspect_count(const model *m, struct cli_totals *s);
/* The name users know m's architecture by: config model_type, else the
 * family's. Owned by m. */
const char *cli_inspect_arch(const model *m);

/* {"path", "architecture", "family", "family_inferred", "layer_count",
 *  "config_layer_count", "tensor_count", "parameter_count", "parameters",
 *  "data_bytes", "dtypes", "tie_word_embeddings", "index", "files",
 *  "issues"[, "tensors"]} */
cJSON *cli_json_inspect(const model *m, bool tensors);
/* The summary of a build of p into out. */
cJSON *cli_json_build(const plan *p, const build_report *rep, const char *out);
/* The result of trimming path (into out, NULL for in place). */
cJSON *cli_json_trim(const trim_result *res, const char *path, const char *out);
cJSON *cli_json_plan(const plan *p);
cJSON *cli_json_audit(const audit_report *r);
cJSON *cli_json_verify(const verify_report *r);
cJSON *cli_json_recipe(const recipe *r);
/* {"path", "tokens", "predicted", "windows", "ctx", "nll", "perplexity",
 *  "layers": [{"index", "angular_distance", "angular_distance_last",
 *  "block_influence"}], "blocks": [{"length", "start", "angular_distance"}]} */
cJSON *cli_json_probe(const probe_result *r, const char *path);
/* probe of a recipe: probe's keys for the output (path: label), then
 * `base` {path, nll, perplexity} and `seams`. */
cJSON *cli_json_measure(const measure_result *m, const plan *p, const char *label,
                        size_t base);
/* The seams of a measure: [{index, from, to, angular_distance, healed}]. */
cJSON *cli_json_seams(const measure_result *m, const plan *p);
/* plan --measure: {path, tokens, predicted, ctx, base (a recipe model name),
 * nll_before, perplexity_before, nll, perplexity, seams}. */
cJSON *cli_json_plan_measure(const measure_result *m, const plan *p, const char *path,
                             size_t base);

#endif
