# inspect.sh: `suture inspect` golden cases: text and JSON on real and
# generated checkpoints, a header-accurate Llama-3-8B layout, and errors.
. tests/cli/lib.sh
GEN=$TOOLS/suture-gen
H=$FIX/headers

run inspect --help
expect "help" 0
expect_out "help-text" "usage: suture inspect PATH"
run inspect
expect "no-path" 2 "suture inspect: missing PATH"
run inspect a b
expect "two-paths" 2 "unexpected argument 'b'"
run inspect --bogus x
expect "unknown-option" 2 "unknown option '--bogus'"
run inspect "$T/none"
expect "missing-path" 2 "suture inspect: $T/none: No such file or directory"
mkdir "$T/empty"
run inspect "$T/empty"
expect "empty-folder" 2 "no model.safetensors, no model.safetensors.index.json and no .safetensors file"
printf 'not safetensors' > "$T/bad.safetensors"
run inspect "$T/bad.safetensors"
expect "bad-file" 2 "bad.safetensors:"

# A tensor name holding an escape sequence is printed with '?' for the
# control character: a stranger's header cannot drive the terminal.
python3 -c '
import json, struct, sys
h = json.dumps({"model.layers.0.a\x1b[31mred": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + bytes(4))' "$T/esc.safetensors"
run inspect "$T/esc.safetensors" --tensors
expect "escape-name" 0
expect_out "escape-name-cleaned" "model.layers.0.a?[31mred"
[[ "$out" != *$'\x1b'* ]] && ok "escape-name-no-esc" || fail "escape-name-no-esc" "raw ESC in stdout"

if have_fixtures; then
    run inspect "$FIX/hf/tiny-llama"
    expect "tiny-llama" 0
    expect_out "tiny-llama-head" "tiny-llama: llama, 2 layers"
    expect_out "tiny-llama-params" "parameters  1,178 (embeddings 88, layers 994, head 88, other 8)"
    expect_out "tiny-llama-data" "data        4.71 kB (4,712 bytes)"
    expect_out "tiny-llama-tied" "tied        no"
    run inspect "$FIX/hf/tiny-llama" --tensors
    expect_out "tensors-line" "model.embed_tokens.weight"
    expect_out "tensors-shape" "[11, 8]"
    run inspect "$FIX/hf/tiny-gemma2" --json --tensors
    expect "gemma2-json" 0
    expect_eq "gemma2-json-fields" "$(printf '%s' "$out" | pyjson "d['architecture'], d['layer_count'], d['tie_word_embeddings'], d['tensor_count'], len(d['tensors']), d['tensors'][0]['file']")" \
        "('gemma2', 2, True, 25, 25, 'model.safetensors')"
    run inspect "$FIX/hf/tiny-llama-sharded" --json
    expect_eq "sharded-json" "$(printf '%s' "$out" | pyjson "d['index'], [f['name'] for f in d['files']], d['issues']")" \
        "('model.safetensors.index.json', ['tiny_llama-00001-of-00002.safetensors', 'tiny_llama-00002-of-00002.safetensors'], [])"
    run inspect "$FIX/odd/minicpm3" --json
    expect_eq "minicpm3-inferred" "$(printf '%s' "$out" | pyjson "d['architecture'], d['family_inferred'], d['layer_count'], d['config_layer_count'], d['issues'][0]['code']")" \
        "('minicpm3', True, 1, 62, 'unknown-architecture')"
    run inspect "$FIX/hf/tiny-llama2-tokenizer"
    expect "no-weights" 2 "no model.safetensors"

    # A header-accurate Llama-3-8B (real config and index, sparse files).
    "$GEN" --from-config "$H/Llama-3.1-8B/config.json" \
        --index "$H/Meta-Llama-3-8B/model.safetensors.index.json" -o "$T/l8b" >/dev/null
    run inspect "$T/l8b" --json
    expect "llama3-8b" 0
    expect_eq "llama3-8b-counts" "$(printf '%s' "$out" | pyjson "d['tensor_count'], d['parameter_count'], len(d['files']), d['data_bytes'], d['layer_count'], d['dtypes']")" \
        "(291, 8030261248, 4, 16060522496, 32, {'BF16': 291})"
    run inspect "$T/l8b"
    expect_out "llama3-8b-text" "parameters  8,030,261,248"
else
    skip "fixtures" "no fixtures at $FIX"
fi
finish
