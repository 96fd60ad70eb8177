#!/bin/bash
# interface.sh: what every command promises scripts and terminals: --help on
# stdout with exit 0, --json as one object whose top-level keys are the
# documented (stable) ones, errors with --json as one line on stderr, exit
# 2 and nothing on stdout, exit 1 when a check finds problems, --quiet, and
# the progress bar only when stderr is a terminal. Uses generated models
# only (no fixtures).
. "$(dirname "$0")/lib.sh"
GEN=$TOOLS/suture-gen

# keys: the sorted top-level keys of the JSON object on stdout, or "not
# one JSON object".
keys() {
    printf '%s' "$out" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
    print(" ".join(sorted(d)) if isinstance(d, dict) else "not one JSON object")
except ValueError:
    print("not one JSON object")'
}

# json_error NAME ARGS...: the command fails as a usage error should with
# --json: exit 2, stdout empty, one line on stderr naming the command.
json_error() {
    local name=$1
    shift
    run "$@"
    local lines
    lines=$(printf '%s\n' "$err" | wc -l)
    if [ "$rc" != 2 ] || [ -n "$out" ] || [ "$lines" != 1 ] || [[ "$err" != "suture $1: "* ]]; then
        fail "$name" "exit $rc, want 2; stdout must be empty, stderr one line 'suture $1: ...'" \
            "stdout: $out" "stderr: $err"
    else
        ok "$name"
    fi
}

# -- suture itself --
run --version
expect version 0
expect_eq version-text "$out" "suture 0.1.0"
run --help
expect help 0
expect_out help-lists-commands "convert-recipe"
run
expect no-command 2 "usage: suture COMMAND"
run frob
expect unknown-command 2 "suture: unknown command 'frob' (see 'suture --help')"

# -- --help: usage on stdout, nothing on stderr, exit 0, also after other
# arguments --
for c in inspect plan build audit trim verify convert-recipe; do
    run "$c" --help
    if [ "$rc" = 0 ] && [[ "$out" == "usage: suture $c "* ]] && [ -z "$err" ]; then
        ok "$c-help"
    else
        fail "$c-help" "exit $rc" "stdout: $out" "stderr: $err"
    fi
    run "$c" somewhere -h
    expect "$c-help-after-operand" 0
    run "$c" --no-such-option
    expect "$c-unknown-option" 2 "suture $c: "
done
for c in build trim audit verify; do
    run "$c" --help
    expect_out "$c-help-quiet" "--quiet"
done
for c in inspect plan build audit trim verify convert-recipe; do
    run "$c" --help
    expect_out "$c-help-json" "--json"
done

"$GEN" --preset llama --layers 4 --seed 3 -o "$T/m" >/dev/null
"$GEN" --preset llama --layers 4 --seed 4 --redundant-head -o "$T/tied" >/dev/null
cat >"$T/r.json" <<EOF
{"models": {"m": "m"}, "slices": [{"model": "m", "layers": [0, 3]}, {"model": "m", "layers": [1, 4]}]}
EOF
cat >"$T/r.yml" <<EOF
slices:
  - sources:
      - model: m
        layer_range: [0, 3]
  - sources:
      - model: m
        layer_range: [1, 4]
merge_method: passthrough
EOF

# -- --json: one object, the documented keys --
run inspect "$T/m" --json
expect inspect-json 0
expect_eq inspect-json-keys "$(keys)" "architecture config_layer_count data_bytes dtypes family family_inferred files index issues layer_count parameter_count parameters path tensor_count tie_word_embeddings"
run inspect "$T/m" --json --tensors
expect_eq inspect-json-tensors-keys "$(keys)" "architecture config_layer_count data_bytes dtypes family family_inferred files index issues layer_count parameter_count parameters path tensor_count tensors tie_word_embeddings"

run plan "$T/r.json" --json
expect plan-json 0
expect_eq plan-json-keys "$(keys)" "config_changes data_bytes data_bytes_before donors layer_count layer_count_before layers models parameter_count parameters_before recipe seams shard_size shards tensors warnings"
expect_eq plan-json-values "$(printf '%s' "$out" | pyjson 'd["layer_count"], d["layer_count_before"], d["seams"][0]["jump"], d["layers"][3]')" \
    "(6, 4, -1, {'index': 3, 'model': 'm', 'source_layer': 1, 'slice': 1})"

run build "$T/r.json" -o "$T/up" --json
expect build-json 0
expect_eq build-json-keys "$(keys)" "bytes_copied bytes_shared data_bytes layer_count notes parameter_count path shards tensor_count tokenizer_files warnings"
expect_eq build-json-values "$(printf '%s' "$out" | pyjson 'd["layer_count"], len(d["shards"]), d["shards"][0]["name"], d["notes"]')" \
    "(6, 1, 'model.safetensors', [])"
expect_eq build-json-stderr "$err" ""
run build "$T/r.json" -o "$T/up" --json --force
expect_eq build-json-notes "$(printf '%s' "$out" | pyjson 'd["notes"]')" "['replaced the existing $T/up']"
expect_eq build-json-notes-not-on-stderr "$err" ""

run audit "$T/up" --json
expect audit-json 0
expect_eq audit-json-keys "$(keys)" "data_bytes duplicates errors expected_parameters findings layer_count parameter_count path slices warnings"
run audit "$T/up" --json --base m="$T/m"
expect_eq audit-json-base-keys "$(keys)" "data_bytes duplicates errors expected_parameters findings layer_count parameter_count path provenance seams slices warnings"
run audit "$T/tied" --json --strict
expect audit-json-strict-finds 1
expect_eq audit-json-strict-finding "$(printf '%s' "$out" | pyjson 'd["warnings"], d["findings"][0]["code"]')" "(1, 'redundant-lm-head')"

run verify "$T/up" --json
expect verify-json 0
expect_eq verify-json-keys "$(keys)" "copied mismatches ok path recomputed sources tensors"
cp -r "$T/up" "$T/bad"
python3 - "$T/bad/model.safetensors" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(-3, 2)
    b = f.read(1)
    f.seek(-3, 2)
    f.write(bytes([b[0] ^ 1]))
PY
run verify "$T/bad" --json
expect verify-json-mismatch 1
expect_eq verify-json-mismatch-values "$(printf '%s' "$out" | pyjson 'd["ok"], len(d["mismatches"]), sorted(d["mismatches"][0])')" \
    "(False, 1, ['message', 'shard', 'tensor'])"

run trim "$T/tied" -o "$T/trimmed" --json
expect trim-json 0
expect_eq trim-json-keys "$(keys)" "bytes bytes_copied bytes_shared identical output parameters path reason shard shard_dropped stale_removed tensor trimmed"
expect_eq trim-json-values "$(printf '%s' "$out" | pyjson 'd["trimmed"], d["tensor"], d["identical"], d["reason"], d["output"]')" \
    "(True, 'lm_head.weight', True, None, '$T/trimmed')"
run trim "$T/m" -o "$T/untrimmed" --json
expect trim-json-nothing 0
expect_eq trim-json-nothing-values "$(printf '%s' "$out" | pyjson 'd["trimmed"], d["tensor"], d["reason"] is not None')" \
    "(False, None, True)"

run convert-recipe "$T/r.yml" --json
expect convert-recipe-json 0
expect_eq convert-recipe-json-keys "$(keys)" "comment models slices"

# -- errors with --json: one line on stderr, exit 2, nothing on stdout --
json_error inspect-json-error inspect "$T/none" --json
json_error plan-json-error plan "$T/none.json" --json
json_error build-json-error build "$T/r.json" -o "$T/up" --json
json_error audit-json-error audit "$T/none" --json
json_error verify-json-error verify "$T/m" --json
json_error trim-json-error trim "$T/none" --in-place --json
json_error convert-recipe-json-error convert-recipe "$T/none.yml" --json
json_error build-json-usage build "$T/r.json" --json

# -- --quiet --
run build "$T/r.json" -o "$T/q" --quiet
expect build-quiet 0
expect_eq build-quiet-silent "$out$err" ""
run trim "$T/tied" -o "$T/tq" --quiet
expect trim-quiet 0
expect_eq trim-quiet-silent "$out$err" ""
run audit "$T/up" --quiet
expect audit-quiet 0
expect_out audit-quiet-report "0 errors, 0 warnings"
run verify "$T/up" --quiet
expect verify-quiet 0
expect_out verify-quiet-report "all match"

# -- the progress bar: on a terminal only, never with --quiet --
run build "$T/r.json" -o "$T/p0"
if [[ "$err" == *$'\r'* ]]; then fail build-no-bar-on-file "stderr: $err"; else ok build-no-bar-on-file; fi
on_tty build "$T/r.json" -o "$T/p1"
expect build-bar 0
if [[ "$err" == *"<CR>build ["*"100%"*" / "*"B/s"*"left"*"<CR><ESC>[K" ]]; then
    ok build-bar-drawn-and-cleared
else
    fail build-bar-drawn-and-cleared "terminal: $err"
fi
expect_out build-bar-summary-on-stdout "built $T/p1: 6 layers"
on_tty build "$T/r.json" -o "$T/p2" --quiet
expect build-bar-quiet 0
expect_eq build-bar-quiet-nothing "$err" ""
on_tty build "$T/r.json" -o "$T/p3" --json
if [[ "$out" == "{"*"}"* && "$err" == *"<CR>build ["* ]]; then
    ok build-bar-json
else
    fail build-bar-json "stdout: $out" "terminal: $err"
fi

finish
