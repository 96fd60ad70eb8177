#!/bin/bash
# plan.sh: golden cases of `suture plan` (text, JSON, refusals).
. "$(dirname "$0")/lib.sh"

run plan --help
expect plan-help 0
expect_out plan-help-usage "usage: suture plan RECIPE"

run plan
expect plan-no-recipe 2 "no RECIPE and no --slices given"

run plan --bogus
expect plan-unknown-option 2 "unknown option '--bogus'"

run plan --shard-size lots --slices 'a[0:1]' -m a=/nonexistent
expect plan-bad-shard-size 2 "--shard-size wants a size such as 5GB or 500MB, not 'lots'"

run plan --dtype q4 --slices 'a[0:1]' -m a=/nonexistent
expect plan-bad-dtype 2 "--dtype wants f32, f16 or bf16, not 'q4'"

run plan -m a=/nonexistent --slices 'a[0:1]'
expect plan-missing-model 2 "model 'a': /nonexistent"

if ! have_fixtures; then
    skip plan-fixtures "fixtures absent ($FIX)"
    finish
    exit
fi
L=$FIX/hf/tiny-llama

run plan -m t="$L" --slices 't[0:2], t[0:2]'
expect plan-text 0
expect_out plan-text-run1 "  0-1 <- t 0-1"
expect_out plan-text-run2 "  2-3 <- t 0-1"
expect_out plan-text-seam "  2: t 1 -> t 0 (jump -1)"
expect_out plan-text-params "parameters: 1,178 -> 2,172"
expect_out plan-text-layers "layers: 2 -> 4"
expect_out plan-text-config "num_hidden_layers: 2 -> 4"
expect_out plan-text-shard "  model.safetensors  8.69 kB  41 tensors"
expect_out plan-text-extra "layer-extra-tensor: output layer 2 carries 'self_attn.rotary_emb.inv_freq' of 't' layer 0"
expect_out plan-text-edge "edge-layer-repeat: layer 0 of 't' (its first layer) appears 2 times (output layers 0, 2)"

run plan -m t="$L" --slices 't[0:2], t[0:2]' --json
expect plan-json 0
expect_eq plan-json-layer-count "$(pyjson 'd["layer_count"]' <<<"$out")" 4
expect_eq plan-json-params "$(pyjson 'd["parameter_count"], d["parameters_before"]' <<<"$out")" "(2172, 1178)"
expect_eq plan-json-layers "$(pyjson '[(l["index"], l["model"], l["source_layer"]) for l in d["layers"]]' <<<"$out")" \
    "[(0, 't', 0), (1, 't', 1), (2, 't', 0), (3, 't', 1)]"
expect_eq plan-json-seams "$(pyjson 'd["seams"]' <<<"$out")" \
    "[{'index': 2, 'from': {'model': 't', 'layer': 1}, 'to': {'model': 't', 'layer': 0}, 'jump': -1}]"
expect_eq plan-json-warnings "$(pyjson 'sorted(set(w["code"] for w in d["warnings"]))' <<<"$out")" \
    "['edge-layer-repeat', 'layer-extra-tensor']"
expect_eq plan-json-shards "$(pyjson '[(s["name"], s["tensors"]) for s in d["shards"]]' <<<"$out")" \
    "[('model.safetensors', 41)]"
expect_eq plan-json-config "$(pyjson 'd["config_changes"]' <<<"$out")" "['num_hidden_layers: 2 -> 4', 'torch_dtype: (absent) -> float32']"

# a JSON recipe with a relative path, a scale and donors
mkdir -p "$T/r"
cat >"$T/r/recipe.json" <<EOF
{"comment": "test", "models": {"t": "$L", "q": "$FIX/hf/tiny-llama-sharded"},
 "slices": [{"model": "t", "layers": [0, 2]},
            {"model": "q", "layers": [1, 2], "scale": [{"match": "o_proj", "value": 0}]}],
 "head_from": "t"}
EOF
run plan "$T/r/recipe.json" --json
expect plan-recipe 0
expect_eq plan-recipe-scale "$(pyjson 'd["layers"][2]["scale"]' <<<"$out")" "{'self_attn.o_proj.weight': 0}"
expect_eq plan-recipe-donors "$(pyjson 'd["donors"]' <<<"$out")" \
    "{'embed': 't', 'head': 't', 'config': 't', 'tokenizer': 't'}"
run plan "$T/r/recipe.json"
expect_out plan-recipe-scaled "  2   <- q 1 (scaled)"
expect_out plan-recipe-switch "  2: t 1 -> q 1 (jump +0, donor switch)"

run plan -m t="$L" --slices 't[0:2], t[1:2]' --shard-size 3kB --json
expect plan-shard-size 0
expect_eq plan-shard-names "$(pyjson '[s["name"] for s in d["shards"]]' <<<"$out")" \
    "['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']"

run plan -m t="$L" --slices 't[0:2], t[1:3]'
expect plan-out-of-range 2 "slices[1]: layers [1, 3) of model 't' are out of range: it has 2 layers (0-1)"

run plan -m t="$L" -m m="$FIX/hf/tiny-mistral" --slices 't[0:2], m[0:1]'
expect plan-mixed 2 "models 't' (llama) and 'm' (mistral) have different architectures (--allow-mixed to combine them)"

run plan -m t="$L" -m q="$FIX/hf/tiny-qwen2" --slices 't[0:2], q[0:1]' --allow-mixed
expect plan-tensor-set 2 "layer tensor 'self_attn.k_proj.bias' is in the layers of 'q' but not in those of 't'"

run plan -m t="$L" -m g="$FIX/hf/tiny-gemma" --slices 't[0:2]' --allow-mixed
expect plan-unused-mixed-ok 0

run plan -m t="$L" -m b="$FIX/hf/tiny-llama-bf16" --slices 't[0:2], b[0:1]'
expect plan-shape 2 "layer tensor 'input_layernorm.weight': shape [8] in 't' layer 0 but [96] in 'b' layer 0"

run plan -m g="$FIX/hf/tiny-gemma2" --slices 'g[0:2], g[1:2]*o_proj=0.5' --json
expect plan-gemma2 0
expect_eq plan-gemma2-warnings "$(pyjson 'sorted(w["code"] for w in d["warnings"])' <<<"$out")" \
    "['edge-layer-repeat', 'redundant-lm-head', 'scale-cancelled', 'sliding-parity-shift']"

run plan -m b="$FIX/hf/tiny-llama-bf16" --slices 'b[0:2]' --dtype f32 --json
expect plan-dtype 0
expect_eq plan-dtype-bytes "$(pyjson 'd["data_bytes"] == 2 * d["data_bytes_before"]' <<<"$out")" True

# shards laid out for block sharing: a shard per source shard, each with
# the source's tensors, shareable where a file system clones
if [ -x "$TOOLS/suture-gen" ]; then
    "$TOOLS/suture-gen" --preset llama --layers 4 --hidden 512 --intermediate 1024 --heads 8 \
        --kv-heads 4 --vocab 2048 --shards 2 --seed 5 -o "$T/g2" >/dev/null
    run plan -m g="$T/g2" --slices 'g[0:4]' --json
    expect plan-share 0
    expect_eq plan-share-shards "$(pyjson '[(s["tensors"], s["shareable_bytes"] >= 0.99 * s["bytes"]) for s in d["shards"]]' <<<"$out")" \
        "$(python3 -c 'import json, sys; m = json.load(open(sys.argv[1]))["weight_map"]; print([(list(m.values()).count(f), True) for f in sorted(set(m.values()))])' "$T/g2/model.safetensors.index.json")"
    run plan -m g="$T/g2" --slices 'g[0:4]' --dtype f32 --json
    expect_eq plan-share-converted "$(pyjson '(len(d["shards"]), d["shards"][0]["shareable_bytes"])' <<<"$out")" "(1, 0)"
else
    skip plan-share "no suture-gen at $TOOLS"
fi

finish
