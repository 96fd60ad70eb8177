#!/bin/bash
# build.sh: golden cases of `suture build` (outputs, safety, identity).
. "$(dirname "$0")/lib.sh"

run build --help
expect build-help 0
expect_out build-help-usage "usage: suture build RECIPE -o OUT"

run build --slices 'a[0:1]' -m a=/nonexistent
expect build-no-out 2 "no output folder: -o OUT"

run build --slices 'a[0:1]' -m a=/nonexistent -o "$T/x" -j 0
expect build-bad-jobs 2 "-j wants a thread count from 1 to 1024, not '0'"

# SIGINT during a build: it stops at its next step, removes its staging
# folder and leaves nothing at OUT. The source is a 2-layer Llama-3-8B
# layout of sparse files (2.4 GB to write, no disk to read), so the build is
# still running when the signal comes.
printf '{"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 2, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "torch_dtype": "bfloat16"}' > "$T/sig.json"
"$TOOLS/suture-gen" --from-config "$T/sig.json" -o "$T/sig-src" >/dev/null
"$SUTURE" build -m s="$T/sig-src" --slices 's[0:2]' -o "$T/sig-out" -j 1 2>"$T/sig.err" &
pid=$!
for _ in $(seq 1 1000); do
    compgen -G "$T/.sig-out.suture-tmp-*" >/dev/null && break
    sleep 0.01
done
kill -INT "$pid"
wait "$pid"
rc=$?
err=$(cat "$T/sig.err")
expect build-sigint 2 "suture build: interrupted: nothing was written to $T/sig-out"
expect_eq build-sigint-nothing-left "$(ls -A "$T" | grep -c '^sig-out\|^\.sig-out')" "0"
rm -rf "$T/sig-src"

if ! have_fixtures; then
    skip build-fixtures "fixtures absent ($FIX)"
    finish
    exit
fi
L=$FIX/hf/tiny-llama
ST_READ="python3 $ROOT/tools/st_read.py"

run build -m t="$L" --slices 't[0:2], t[0:2]' -o "$T/out"
expect build-tiny-llama 0
expect_out build-summary "built $T/out: 4 layers, 41 tensors, 1 shard, 8.69 kB"
if [[ "$err" == *"warning: layer-extra-tensor"* ]]; then ok build-warnings; else fail build-warnings "stderr: $err"; fi
expect_eq build-files "$(cd "$T/out" && ls | tr '\n' ' ')" "README.md config.json model.safetensors suture-recipe.json "
expect_eq build-st-read "$($ST_READ "$T/out" | pyjson '(d["layer_count"], d["tensor_count"], d["parameter_count"])')" \
    "(4, 41, 2172)"
expect_eq build-config "$(pyjson 'd["num_hidden_layers"]' <"$T/out/config.json")" 4
expect_eq build-no-staging "$(ls -A "$T" | grep -c suture-tmp)" 0

run build -m t="$L" --slices 't[0:2]' -o "$T/out"
expect build-exists 2 "out: already exists (--force replaces it)"
expect_eq build-exists-kept "$($ST_READ "$T/out" | pyjson 'd["layer_count"]')" 4

run build -m t="$L" --slices 't[0:2]' -o "$T/out" --force --quiet
expect build-force 0
expect_eq build-quiet "$out$err" ""
expect_eq build-force-replaced "$($ST_READ "$T/out" | pyjson 'd["layer_count"]')" 2

cp -r "$L" "$T/in" && chmod -R u+w "$T/in"
run build -m t="$T/in" --slices 't[0:2]' -o "$T/in/sub"
expect build-out-inside-input 2 "is inside the folder of input model 't'"
run build -m t="$T/in" --slices 't[0:2]' -o "$T/in" --force
expect build-out-is-input 2 "is the folder of input model 't'"
run build -m t="$T/in" --slices 't[0:2]' -o "$T" --force
expect build-input-inside-out 2 "holds input model 't'"
expect_eq build-input-untouched "$(ls "$T/in" | tr '\n' ' ')" "config.json model.safetensors reference-logits.json "

dead=$(bash -c 'echo $$')
mkdir "$T/.stale.suture-tmp-$dead" && touch "$T/.stale.suture-tmp-$dead/model.safetensors"
run build -m t="$L" --slices 't[0:2]' -o "$T/stale"
expect build-stale-staging 0 "note: removed $T/.stale.suture-tmp-$dead, left by a run that no longer exists (pid $dead)"
expect_eq build-stale-gone "$(ls -A "$T" | grep -c "stale.suture-tmp")" 0

run build -m t="$L" --slices 't[0:2], t[5:6]' -o "$T/bad"
expect build-refused 2 "layers [5, 6) of model 't' are out of range"
expect_eq build-refused-nothing "$(ls -A "$T" | grep -c bad)" 0

# sharded output with an index, several threads
run build -m t="$FIX/hf/tiny-llama-sharded" --slices 't[0:2], t[1:2]' --shard-size 2kB -j 3 -o "$T/sh"
expect build-sharded 0
expect_eq build-sharded-index "$(pyjson '(d["metadata"]["total_size"], len(d["weight_map"]), list(d["weight_map"]) == sorted(d["weight_map"]))' \
    <"$T/sh/model.safetensors.index.json")" "(6696, 31, True)"
expect_eq build-sharded-read "$($ST_READ "$T/sh" | pyjson '(d["layer_count"], d["data_bytes"])')" "(3, 6696)"

# dtype conversion
run build -m b="$FIX/hf/tiny-llama-bf16" --slices 'b[0:2]' --dtype f32 -o "$T/f32"
expect build-dtype 0
expect_eq build-dtype-read "$($ST_READ "$T/f32" | pyjson 'd["dtypes"]')" "{'F32': $($ST_READ "$FIX/hf/tiny-llama-bf16" | pyjson 'd["tensor_count"]')}"
expect_eq build-dtype-config "$(pyjson 'd["torch_dtype"]' <"$T/f32/config.json")" "'float32'"

# provenance in each shard's metadata
expect_eq build-provenance "$(python3 - "$T/sh" <<'EOF'
import json, struct, sys, os
d = sys.argv[1]
seen = {}
for name in sorted(os.listdir(d)):
    if not name.endswith(".safetensors"):
        continue
    with open(os.path.join(d, name), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    meta = h.pop("__metadata__")
    src = json.loads(meta["suture.sources"])
    assert set(src) == set(h), name
    seen.update(src)
print(seen["model.layers.2.mlp.up_proj.weight"]["tensor"], len(seen))
EOF
)" "model.layers.1.mlp.up_proj.weight 31"

# identity expansion: every layer followed by a copy whose o_proj and
# down_proj are scaled by 0 computes exactly what the original does
S=$FIX/hf/stories260K
run build -m s="$S" --slices 's[0:1], s[0:1]*o_proj|down_proj=0, s[1:2], s[1:2]*o_proj|down_proj=0, s[2:3], s[2:3]*o_proj|down_proj=0, s[3:4], s[3:4]*o_proj|down_proj=0, s[4:5], s[4:5]*o_proj|down_proj=0' -o "$T/id"
expect build-identity 0
a=$(python3 "$ROOT/tools/llama_forward.py" "$S" --tokens 1,403,407,261,378 2>&1)
b=$(python3 "$ROOT/tools/llama_forward.py" "$T/id" --tokens 1,403,407,261,378 2>&1)
if [ -n "$a" ] && [ "$a" == "$b" ]; then ok build-identity-logits
else fail build-identity-logits "original: ${a:0:200}" "expanded: ${b:0:200}"; fi

finish
