# convert_recipe.sh: golden tests of `suture convert-recipe`.
. "$(dirname "$0")/lib.sh"

run convert-recipe --help
expect help 0
expect_out help-text "usage: suture convert-recipe CONFIG [--json]"

run convert-recipe
expect no-config 2 "suture convert-recipe: missing CONFIG"

run convert-recipe --frob x.yml
expect unknown-option 2 "unknown option '--frob'"

run convert-recipe a.yml b.yml
expect two-configs 2 "one config at a time"

run convert-recipe "$T/none.yml"
expect missing-file 2 "none.yml: cannot open"

# SOLAR: two slices of one model, bf16, paths kept as written
run convert-recipe "$ROOT/recipes/solar-dus.yml"
expect solar 0 "note: $ROOT/recipes/solar-dus.yml: model paths are read relative to the config's folder"
expect_eq solar-slices "$(printf '%s' "$out" | pyjson '[s["layers"] for s in d["slices"]]')" "[[0, 24], [8, 32]]"
expect_eq solar-models "$(printf '%s' "$out" | pyjson 'd["models"]')" "{'Mistral-7B-v0.1': '../models/Mistral-7B-v0.1'}"
expect_eq solar-dtype "$(printf '%s' "$out" | pyjson 'd["output"]["dtype"]')" "'bf16'"

# --json is the default form; a JSON recipe converts to itself
run convert-recipe --json "$ROOT/recipes/solar-dus.yml"
expect json-flag 0
printf '%s\n' "$out" >"$T/solar.json"
run convert-recipe "$T/solar.json"
expect round-trip 0
expect_eq round-trip-same "$(cat "$T/solar.json")" "$out"
expect_eq round-trip-quiet "$err" ""

# every shipped recipe converts, and JSON and YAML give the same layer count
for j in "$ROOT"/recipes/*.json; do
    n=$(basename "$j" .json)
    run convert-recipe "$j"
    a=$(printf '%s' "$out" | pyjson 'sum(s["layers"][1] - s["layers"][0] for s in d["slices"])')
    expect "shipped-$n-json" 0
    run convert-recipe "$ROOT/recipes/$n.yml"
    b=$(printf '%s' "$out" | pyjson 'sum(s["layers"][1] - s["layers"][0] for s in d["slices"])')
    expect "shipped-$n-yml" 0
    expect_eq "shipped-$n-layers" "$a" "$b"
done

# LLaMA Pro: zero-scaled copies, filters as literal patterns
run convert-recipe "$ROOT/recipes/llama-pro-expand.yml"
expect_eq pro-scale "$(printf '%s' "$out" | pyjson 'd["slices"][1]["scale"]')" \
    "[{'match': 'o_proj', 'value': 0}, {'match': 'down_proj', 'value': 0}, {'value': 1}]"

# two models and no base_model: said on stderr, the output still printed
cat >"$T/two.yml" <<'EOF'
slices:
  - sources: [{model: /m/a, layer_range: [0, 2]}]
  - sources: [{model: /m/b, layer_range: [2, 4]}]
merge_method: passthrough
EOF
run convert-recipe "$T/two.yml"
expect no-base-note 0 "note: $T/two.yml: no base_model: mergekit takes config.json and the tokenizer from whichever model it lists first"
expect_eq no-base-slices "$(printf '%s' "$out" | pyjson '[s["model"] for s in d["slices"]]')" "['a', 'b']"

printf 'merge_method: slerp\nslices:\n  - sources: [{model: /m/a, layer_range: [0, 2]}]\n' >"$T/slerp.yml"
run convert-recipe "$T/slerp.yml"
expect slerp 2 "suture convert-recipe: $T/slerp.yml: merge_method: 'slerp' is not supported (suture does passthrough only)"
expect_eq slerp-no-output "$out" ""

printf 'merge_method: passthrough\nslices:\n  - sources: [{model: org/name, layer_range: [0, 2]}]\n' >"$T/hub.yml"
run convert-recipe "$T/hub.yml"
expect hub-id 2 "$T/hub.yml: slices[0].sources[0].model: 'org/name' is not a local folder (download it first, e.g. huggingface-cli download org/name --local-dir name)"

printf '{"models": {"a": "x"}, "slices": [{"model": "a", "layer": [0, 1]}]}' >"$T/bad.json"
run convert-recipe "$T/bad.json"
expect json-unknown-key 2 "$T/bad.json: slices[0]: unknown key 'layer'"

finish
