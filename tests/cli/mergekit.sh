# mergekit.sh: mergekit passthrough configs (SOLAR-style, an interleaved
# merge of two models, LLaMA-Pro zero-scaled expansion, scale gradients)
# pointed at local folders build the layer stack and the scaled tensors
# mergekit would build: tests/cli/mergekit_check.py recomputes every output
# tensor from the sources by mergekit's rules, independently of suture.
. tests/cli/lib.sh
GEN=$TOOLS/suture-gen
CHECK="python3 $ROOT/tests/cli/mergekit_check.py"

"$GEN" --preset llama --layers 8 --dtype f32 --seed 11 -o "$T/a" >/dev/null
"$GEN" --preset llama --layers 8 --dtype f32 --seed 12 -o "$T/b" >/dev/null

# case NAME YAML EXPECT-JSON LAYERS: builds YAML, checks the stack and values.
case_() {
    local name=$1 layers=$4
    printf '%s\n' "$2" > "$T/$name.yml"
    printf '%s\n' "$3" > "$T/$name.expect.json"
    run build "$T/$name.yml" -o "$T/$name.out"
    expect "$name-build" 0
    run inspect "$T/$name.out" --json
    expect_eq "$name-layers" "$(printf '%s' "$out" | pyjson "d['layer_count']")" "$layers"
    local verdict
    verdict=$($CHECK "$T/$name.out" "$T/$name.expect.json")
    [[ "$verdict" == "ok "* ]] && ok "$name-as-mergekit" || fail "$name-as-mergekit" "$verdict"
}

case_ solar "slices:
  - sources:
      - model: a
        layer_range: [0, 6]
  - sources:
      - model: a
        layer_range: [2, 8]
merge_method: passthrough
dtype: float32" \
'{"models": {"a": "'"$T/a"'"}, "slices": [{"model": "a", "layer_range": [0, 6]}, {"model": "a", "layer_range": [2, 8]}]}' 12

case_ interleave "slices:
  - sources:
      - model: a
        layer_range: [0, 4]
  - sources:
      - model: b
        layer_range: [2, 6]
  - sources:
      - model: a
        layer_range: [4, 8]
merge_method: passthrough
dtype: float32" \
'{"models": {"a": "'"$T/a"'", "b": "'"$T/b"'"}, "slices": [{"model": "a", "layer_range": [0, 4]}, {"model": "b", "layer_range": [2, 6]}, {"model": "a", "layer_range": [4, 8]}]}' 12

case_ llamapro "slices:
  - sources:
      - model: a
        layer_range: [0, 4]
  - sources:
      - model: a
        layer_range: [3, 4]
        parameters:
          scale:
            - filter: o_proj
              value: 0.0
            - filter: down_proj
              value: 0.0
            - value: 1.0
  - sources:
      - model: a
        layer_range: [4, 8]
merge_method: passthrough
dtype: float32" \
'{"models": {"a": "'"$T/a"'"}, "slices": [{"model": "a", "layer_range": [0, 4]}, {"model": "a", "layer_range": [3, 4], "scale": [{"filter": "o_proj", "value": 0.0}, {"filter": "down_proj", "value": 0.0}, {"value": 1.0}]}, {"model": "a", "layer_range": [4, 8]}]}' 9

case_ gradient "slices:
  - sources:
      - model: a
        layer_range: [0, 5]
  - sources:
      - model: b
        layer_range: [3, 8]
        parameters:
          scale:
            - filter: mlp
              value: [1.0, 0.3, 0.75]
            - value: [0.5, 1.0]
  - sources:
      - model: a
        layer_range: [7, 8]
        parameters:
          scale: [0.25, 0.5]
merge_method: passthrough
dtype: float32" \
'{"models": {"a": "'"$T/a"'", "b": "'"$T/b"'"}, "slices": [{"model": "a", "layer_range": [0, 5]}, {"model": "b", "layer_range": [3, 8], "scale": [{"filter": "mlp", "value": [1.0, 0.3, 0.75]}, {"value": [0.5, 1.0]}]}, {"model": "a", "layer_range": [7, 8], "scale": [0.25, 0.5]}]}' 11

# The checker itself fails on a model that is not what mergekit builds.
printf '%s\n' '{"models": {"a": "'"$T/a"'"}, "slices": [{"model": "a", "layer_range": [0, 6]}, {"model": "a", "layer_range": [2, 8], "scale": 0.5}]}' > "$T/wrong.json"
verdict=$($CHECK "$T/solar.out" "$T/wrong.json")
[[ "$verdict" == *"differs from mergekit's"* ]] && ok "checker-catches-difference" \
    || fail "checker-catches-difference" "$verdict"
finish
