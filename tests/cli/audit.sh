# audit.sh: `suture audit` golden cases: usage, the gemma fixtures' heads,
# broken folders, a header-accurate Gemma-2-9B with a stray head, and a
# self-merge built by `suture build` traced back to its base.
. tests/cli/lib.sh
GEN=$TOOLS/suture-gen
H=$FIX/headers

# pybreak DIR CODE: runs python CODE with `d` the folder and json loaded.
pybreak() { python3 - "$1" <<EOF
import json, os, sys
d = sys.argv[1]
$2
EOF
}

run audit --help
expect "help" 0
expect_out "help-text" "usage: suture audit PATH"
run audit
expect "no-path" 2 "suture audit: no PATH given"
run audit x --base nameonly
expect "bad-base" 2 "--base wants NAME=PATH, not 'nameonly'"
run audit x -j 0
expect "bad-jobs" 2 "-j wants a thread count"
run audit "$T/none"
expect "missing-path" 2 "suture audit: $T/none: No such file or directory"
mkdir "$T/empty"
run audit "$T/empty"
expect "empty-folder" 2 "no model.safetensors"
printf 'not safetensors at all' > "$T/bad.safetensors"
run audit "$T/bad.safetensors"
expect "bad-file" 1
expect_out "bad-file-finding" "error invalid-shard: bad.safetensors:"

if have_fixtures; then
    run audit "$FIX/hf/tiny-gemma"
    expect "gemma" 0
    expect_out "gemma-head" "warning redundant-lm-head: model.safetensors: 'lm_head.weight' is stored although config.json says tie_word_embeddings: true: 104 parameters (416 bytes) wasted; byte-identical to 'model.embed_tokens.weight'"
    expect_out "gemma-summary" "2 layers, 1,400 parameters, 5.60 kB; 0 errors, 1 warning, 1 note"
    run audit --strict "$FIX/hf/tiny-gemma3"
    expect "gemma3-strict" 1
    run audit --json "$FIX/hf/tiny-gemma2"
    expect "gemma2-json" 0
    expect_eq "gemma2-json-fields" "$(printf '%s' "$out" | pyjson "d['parameter_count'], d['expected_parameters'], [f['code'] for f in d['findings']], d['duplicates']")" \
        "(1432, 1328, ['redundant-lm-head', 'parameter-count'], [])"
    run audit "$FIX/hf/tiny-llama"
    expect "llama" 0
    expect_out "llama-buffer" "info unexpected-tensor: 'model.layers.0.self_attn.rotary_emb.inv_freq': only 1 of the 2 layers holds"
    run audit --strict "$FIX/hf/tiny-llama-sharded"
    expect "llama-sharded-strict" 0
    run audit "$FIX/odd/minicpm3"
    expect "minicpm3" 0
    expect_out "minicpm3-unknown" "warning unknown-architecture:"
    expect_out "minicpm3-layers" "warning layer-count-mismatch: config.json: num_hidden_layers is 62 but the tensors hold 1 layer"
    run audit "$FIX/odd/lora-adapter"
    expect "adapter" 1
    expect_out "adapter-layers" "error missing-layer: layers 0-29 hold no tensor, though layer 31 does"

    if [ -x "$GEN" ]; then
        # Gemma-2-9B as the real index lays it out, with a stray lm_head.
        "$GEN" --from-config "$H/gemma-2-9b-it/config.json" --redundant-head \
            --index "$H/gemma-2-9b-it/model.safetensors.index.json" -o "$T/g9" >/dev/null
        run audit --json "$T/g9"
        expect "gemma2-9b" 0
        expect_eq "gemma2-9b-counts" "$(printf '%s' "$out" | pyjson "d['parameter_count'], d['expected_parameters'], d['layer_count'], d['errors'], d['warnings']")" \
            "(10159209984, 9241705984, 42, 0, 1)"
        run audit "$T/g9"
        expect_out "gemma2-9b-head" "917,504,000 parameters (1,835,008,000 bytes) wasted; byte-identical"
        expect_out "gemma2-9b-count" "10,159,209,984 parameters; the config implies 9,241,705,984 (+917,504,000 in the redundant lm_head)"
    else
        skip "gemma2-9b" "no $GEN"
    fi
else
    skip "fixtures" "no fixtures at $FIX"
fi

if [ -x "$GEN" ]; then
    "$GEN" --preset llama --layers 4 --shards 2 -o "$T/m" >/dev/null
    run audit --strict "$T/m"
    expect "generated-clean" 0
    cp -r "$T/m" "$T/ghost"
    pybreak "$T/ghost" '
p = os.path.join(d, "model.safetensors.index.json")
j = json.load(open(p))
j["weight_map"]["model.layers.1.mlp.ghost.weight"] = "model-00001-of-00002.safetensors"
j["metadata"]["total_size"] += 1
json.dump(j, open(p, "w"))'
    run audit "$T/ghost"
    expect "index-ghost" 1
    expect_out "index-ghost-finding" "error index-mismatch: model.safetensors.index.json: weight_map names tensor 'model.layers.1.mlp.ghost.weight' in 'model-00001-of-00002.safetensors', which does not hold it"
    expect_out "index-ghost-total" "warning total-size-mismatch:"
    cp -r "$T/m" "$T/layers"
    pybreak "$T/layers" '
p = os.path.join(d, "config.json")
c = json.load(open(p))
c["num_hidden_layers"] = 6
json.dump(c, open(p, "w"))'
    run audit "$T/layers"
    expect "layer-count" 1
    expect_out "layer-count-finding" "error layer-count-mismatch: config.json: num_hidden_layers is 6 but the tensors hold 4 layers"

    if "$SUTURE" build --help >/dev/null 2>&1; then
        "$GEN" --preset llama --layers 16 --hidden 32 --intermediate 64 --heads 4 \
            --kv-heads 2 --vocab 64 -o "$T/base" >/dev/null
        "$SUTURE" build -m base="$T/base" --slices 'base[0:8], base[4:12], base[8:16]' \
            -o "$T/merged" --quiet
        run audit "$T/merged"
        expect "self-merge" 0
        expect_out "self-merge-dups" "info duplicate-layers: byte-identical layers 4-7 = 8-11, 12-15 = 16-19; the stack reads as slices [0:8] [4:12] [8:16] of 16 distinct layers"
        run audit "$T/merged" --base base="$T/base"
        expect "self-merge-base" 0
        expect_out "self-merge-seam" "info seam: layer 8: base layer 7 -> 4 (jump -3)"
        expect_out "self-merge-trace" "provenance: 0-7 <- base 0-7; 8-15 <- base 4-11; 16-23 <- base 8-15"
        expect_out "self-merge-slices" "slices: base[0:8], base[4:12], base[8:16]"
        run audit "$T/merged" --base base="$T/base" --json
        expect_eq "self-merge-json" "$(printf '%s' "$out" | pyjson "d['provenance'][9], len(d['seams']), d['seams'][1]['jump'], d['duplicates'][0]")" \
            "({'layer': 9, 'model': 'base', 'source_layer': 5}, 2, -3, [4, 8])"
        run audit "$T/merged" --base base="$T/nowhere"
        expect "missing-base" 2 "base 'base': $T/nowhere"
    else
        skip "self-merge" "suture build is not available"
    fi
else
    skip "generated" "no $GEN"
fi
finish
