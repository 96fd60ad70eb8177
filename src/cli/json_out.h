/* json_out.h: the one place each command's --json object comes from, on
 * safetensors and on GGUF models. Each returns a new object the caller
 * prints with cli_print_json (which deletes it), or NULL when out of
 * memory. The keys are those of README's JSON section. Every object is
 * built here from the library's public accessors, except convert-recipe's:
 * that is the library's recipe_to_json, which build also writes into
 * suture-recipe.json. */
#ifndef SUTURE_CLI_JSON_OUT_H
#define SUTURE_CLI_JSON_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "suture/audit.h"
#include "suture/build.h"
#include "suture/gguf_audit.h"
#include "suture/gguf_build.h"
#include "suture/gguf_model.h"
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
/* {"recipe", "layer_count", "layer_count_before", "parameter_count",
 *  "data_bytes", "parameters_before", "data_bytes_before", "shard_size",
 *  "models", "donors", "layers", "seams", "shards", "tensors",
 *  "config_changes", "warnings"} */
cJSON *cli_json_plan(const plan *p);
/* {"path", "layer_count", "parameter_count", "expected_parameters",
 *  "data_bytes", "errors", "warnings", "findings": [{"code", "severity",
 *  "message", "place"}], "duplicates": [[layers]], "slices"[,
 *  "provenance": [{"layer", "model", "source_layer"}], "seams"]} */
cJSON *cli_json_audit(const audit_report *r);
/* {"path", "tensors", "copied", "recomputed", "sources", "ok",
 *  "mismatches": [{"shard", "tensor", "message"}]} */
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

/* GGUF */

/* Metadata arrays of numbers up to this many entries are shown whole. */
#define CLI_GGUF_SHOW_VALUES 256

/* Parameters by part and tensors by type, as inspect shows them. */
struct cli_gguf_totals {
    uint64_t embed, layers, head, other;
    size_t types[GGUF_TYPE_COUNT];
};

/* Fills *s from m's tensors. */
void cli_gguf_count(const gmodel *m, struct cli_gguf_totals *s);
/* The base name of file i of m's set (owned by m). */
const char *cli_gguf_file_name(const gmodel *m, size_t i);

/* {"path", "format", "architecture", "layer_count", "config_layer_count",
 *  "tensor_count", "parameter_count", "parameters", "data_bytes", "types",
 *  "tie_word_embeddings", "files", "metadata", "issues"[, "tensors"]} */
cJSON *cli_json_gguf_inspect(const gmodel *m, bool tensors);
/* {"format", "architecture", "layer_count", "tensor_count",
 *  "parameter_count", "data_bytes", "files", "layers", "tensors", "notes"} */
cJSON *cli_json_gguf_plan(const gbuild_plan *p);
/* The summary of a build of p into out. */
cJSON *cli_json_gguf_build(const gbuild_plan *p, const char *out);
/* {"path", "format", "layer_count", "parameter_count", "data_bytes",
 *  "findings", "errors", "warnings"[, "provenance"]} */
cJSON *cli_json_gguf_audit(const gaudit_report *r);
/* The result of trimming path into out (== path in place). */
cJSON *cli_json_gguf_trim(const gaudit_trim_result *res, const char *path,
                          const char *out);
/* {"path", "checked", "copies", "recomputed", "problems": [text]} */
cJSON *cli_json_gguf_verify(const gbuild_verify_result *res, const char *path);

#endif
