/* cfgedit.h: rewriting a config.json for a new stack of layers.
 *
 * A build keeps the config donor's config.json but changes its depth. The
 * plan maps each output layer to the layer of the config donor whose
 * per-layer config entries it keeps (layers taken from other models are
 * mapped onto the donor's indices first). cfg_rewrite then:
 *   - sets the layer count (arch_count_key; in text_config too, as gemma3
 *     keeps it there; added when the donor states none);
 *   - splices every per-layer array: the family's layer_arrays and
 *     "layer_types", and any other array of the same object whose length
 *     is the donor's layer count (reported as assumed; never
 *     "architectures" nor keys ending in _token_id, _token_ids, _tokens or
 *     _ids);
 *   - remaps the family's layer_lists (output layer i is listed when its
 *     source layer is); a "decoder_sparse_step" above 1 next to
 *     "mlp_only_layers" (qwen2_moe) is folded into the list and set to 1,
 *     as which layers are sparse would otherwise follow the new indices;
 *   - for a family with a sliding pattern and a config without
 *     "layer_types", adds "layer_types" when the source layers' attention
 *     kinds no longer follow the pattern at their new indices;
 *   - sets "torch_dtype" and/or "dtype" (whichever the config has, in
 *     text_config too; "torch_dtype" added when neither is there);
 * and keeps every other key, in its order. */
#ifndef SUTURE_CFGEDIT_H
#define SUTURE_CFGEDIT_H

#include <stddef.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "suture/error.h"
#include "suture/arch.h"
#include "suture/safetensors.h"

/* One change cfg_rewrite made, for the plan to show. */
typedef struct cfg_change {
    char *key;    /* the key changed: "num_hidden_layers",
                     "text_config.layer_types" */
    char *line;   /* "num_hidden_layers: 32 -> 48",
                     "layer_types: spliced to 48 entries" */
    bool assumed; /* an array spliced only because its length was the
                     layer count */
} cfg_change;

/* Returns a new config (caller cJSON_Deletes) for n_out output layers where
 * output layer i keeps the entries of donor layer src_layers[i] (-1: none;
 * an error when an entry is needed). torch_dtype (a name as given by
 * cfg_dtype_name) or NULL to keep the donor's. When changes is non-NULL it
 * receives the changes made, in order (free with cfg_changes_free), and
 * *nchanges their number; unchanged keys are not listed. NULL with err set
 * on failure: a per-layer array whose length is not the donor's layer
 * count, a list entry that is not a layer index, a source layer out of
 * range, or a needed entry missing. err names the key and, where there is
 * one, the output layer; the caller adds the file (sut_error_prefix). */
cJSON *cfg_rewrite(const cJSON *donor, const arch_family *f,
                   const long *src_layers, size_t n_out,
                   const char *torch_dtype, cfg_change **changes,
                   size_t *nchanges, sut_error *err);

/* Frees what cfg_rewrite returned in *changes; NULL is a no-op. */
void cfg_changes_free(cfg_change *changes, size_t n);

/* The torch_dtype name of a safetensors dtype ("float32", "float16",
 * "bfloat16", "float8_e4m3fn", "int8", ...), or NULL when torch has none. */
const char *cfg_dtype_name(st_dtype dt);

#endif
