# verify.sh: `suture verify` golden cases: usage, a checkpoint suture did
# not build, and outputs of `suture build` (copies, scaled and converted
# tensors) before and after a byte is corrupted or a source moves away.
. tests/cli/lib.sh
GEN=$TOOLS/suture-gen

# flip FILE TENSOR AT: flips a bit of byte AT of TENSOR's data in FILE.
flip() { python3 - "$@" <<'PY'
import json, struct, sys
p, name, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = bytearray(open(p, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
b[8 + n + json.loads(b[8:8 + n])[name]['data_offsets'][0] + at] ^= 0x10
open(p, 'wb').write(b)
PY
}

run verify --help
expect "help" 0
expect_out "help-text" "usage: suture verify OUT"
run verify
expect "no-out" 2 "suture verify: no OUT given"
run verify a b
expect "two-outs" 2 "one OUT only"
run verify "$T/none"
expect "missing" 2 "$T/none"

if have_fixtures; then
    run verify "$FIX/hf/tiny-llama"
    expect "not-built" 2 "no shard records its sources (__metadata__ suture.sources): not written by suture build"
else
    skip "fixtures" "no fixtures at $FIX"
fi

if [ -x "$GEN" ] && "$SUTURE" build --help >/dev/null 2>&1; then
    "$GEN" --preset llama --layers 6 --dtype f32 --shards 2 -o "$T/base" >/dev/null
    "$SUTURE" build -m base="$T/base" --slices 'base[0:4], base[2:6]' -o "$T/copy" --quiet
    run verify "$T/copy"
    expect "copies" 0
    expect_out "copies-said" "tensors checked against 1 source model"
    expect_out "copies-all" "all match"
    cat > "$T/recipe.json" <<JSON
{"models": {"base": "$T/base"},
 "slices": [{"model": "base", "layers": [0, 4]},
            {"model": "base", "layers": [2, 6], "scale": [{"match": "o_proj|down_proj", "value": 0.5}]}],
 "output": {"dtype": "bf16"}}
JSON
    "$SUTURE" build "$T/recipe.json" -o "$T/conv" --quiet
    run verify "$T/conv" --json
    expect "converted" 0
    expect_eq "converted-json" "$(printf '%s' "$out" | pyjson "d['ok'], d['copied'], d['recomputed'] == d['tensors'], d['mismatches']")" \
        "(True, 0, True, [])"
    # the copy has a shard per source shard (laid out for block sharing)
    shard=$(pyjson 'd["weight_map"]["model.layers.5.mlp.up_proj.weight"]' <"$T/copy/model.safetensors.index.json" | tr -d "'")
    flip "$T/copy/$shard" model.layers.5.mlp.up_proj.weight 9
    run verify "$T/copy"
    expect "corrupted-copy" 1
    expect_out "corrupted-copy-named" "mismatch: $shard: tensor 'model.layers.5.mlp.up_proj.weight': bytes differ from its source base 'model.layers.3.mlp.up_proj.weight'"
    expect_out "corrupted-copy-summary" "MISMATCH"
    flip "$T/conv/model.safetensors" model.layers.6.self_attn.o_proj.weight 3
    run verify "$T/conv"
    expect "corrupted-scaled" 1
    expect_out "corrupted-scaled-named" "tensor 'model.layers.6.self_attn.o_proj.weight': element 1 differs from the value recomputed from base 'model.layers.4.self_attn.o_proj.weight' (F32 -> BF16, scale 0.5)"
    "$GEN" --preset gemma2 --layers 4 --redundant-head -o "$T/g" >/dev/null
    "$SUTURE" build -m g="$T/g" --slices 'g[0:4], g[2:4]' -o "$T/gb" --quiet
    "$SUTURE" trim "$T/gb" --in-place >/dev/null
    run verify "$T/gb"
    expect "trimmed-build" 0
    expect_out "trimmed-build-said" "all match"
    mv "$T/base" "$T/moved"
    run verify "$T/conv"
    expect "source-missing" 2 "source model 'base': $T/base"
else
    skip "built" "suture build or $GEN is not available"
fi
finish
