# harden.sh: issue 10's findings at the command line, each with the input
# that showed it: special files named and refused, files without a layer
# stack shown, GGUF named, messages in plain words and naming a file once,
# plan refusing what build would, oversized inputs bounded.
. tests/cli/lib.sh
GEN=$TOOLS/suture-gen

# a FIFO opened for reading would block: every run is stopped after 60 s
run() {
    timeout 60 "$SUTURE" "$@" >"$T/.out" 2>"$T/.err"
    rc=$?
    out=$(cat "$T/.out")
    err=$(cat "$T/.err")
}

# put_st FILE HEADER DATA_BYTES: a safetensors file.
put_st() {
    python3 - "$@" <<'PY'
import struct, sys
h = sys.argv[2].encode()
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + b'\0' * int(sys.argv[3]))
PY
}

"$GEN" --preset llama --layers 2 -o "$T/good" >/dev/null ||
    { fail "gen" "suture-gen failed"; finish; exit; }
variant() { rm -rf "${T:?}/$1"; cp -r "$T/good" "$T/$1"; }

# ---- item 5: special files are not "missing" ----------------------------

variant cfg-fifo
rm "$T/cfg-fifo/config.json"; mkfifo "$T/cfg-fifo/config.json"
run build -m "g=$T/cfg-fifo" --slices 'g[0:2]' -o "$T/out-cfg-fifo" --quiet
expect "config-fifo-build" 2 "cfg-fifo/config.json: is a FIFO, not a regular file"
[ ! -e "$T/out-cfg-fifo" ] && ok "config-fifo-nothing" || fail "config-fifo-nothing" "output written"
run inspect "$T/cfg-fifo"
expect "config-fifo-inspect" 2 "cfg-fifo/config.json: is a FIFO, not a regular file"

variant cfg-zero
rm "$T/cfg-zero/config.json"; ln -s /dev/zero "$T/cfg-zero/config.json"
run build -m "g=$T/cfg-zero" --slices 'g[0:2]' -o "$T/out-cfg-zero" --quiet
expect "config-dev-zero-build" 2 "cfg-zero/config.json: is a character device, not a regular file"

for kind in fifo device folder; do
    variant tok-$kind
    f="$T/tok-$kind/tokenizer.json"
    rm -f "$f"
    case $kind in
    fifo) mkfifo "$f"; what="a FIFO" ;;
    device) ln -s /dev/null "$f"; what="a character device" ;;
    folder) mkdir "$f"; what="a folder" ;;
    esac
    run build -m "g=$T/tok-$kind" --slices 'g[0:2]' -o "$T/out-tok-$kind" --quiet
    expect "tokenizer-$kind-build" 2 "tok-$kind/tokenizer.json: is $what, not a regular file"
    [ ! -e "$T/out-tok-$kind" ] && ok "tokenizer-$kind-nothing" ||
        fail "tokenizer-$kind-nothing" "output written"
done

variant st-fifo
rm "$T/st-fifo/model.safetensors"; mkfifo "$T/st-fifo/model.safetensors"
run inspect "$T/st-fifo"
expect "model-fifo-inspect" 2 "st-fifo/model.safetensors: is a FIFO, not a regular file"
[[ "$err" != *"no model.safetensors"* ]] && ok "model-fifo-not-missing" ||
    fail "model-fifo-not-missing" "stderr: $err"

# ---- item 7: every file the reference reader accepts --------------------

mkdir -p "$T/plain"
put_st "$T/plain/plain.safetensors" \
    '{"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"bias":{"dtype":"BF16","shape":[3],"data_offsets":[24,30]}}' 30
put_st "$T/plain/scalars.safetensors" \
    '{"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[],"data_offsets":[8,12]}}' 12
put_st "$T/plain/meta.safetensors" '{"__metadata__":{"format":"pt"}}' 0
for f in plain scalars meta; do
    run inspect "$T/plain/$f.safetensors"
    expect "no-stack-$f-inspect" 0
    expect_out "no-stack-$f-said" "$T/plain/$f.safetensors: no layer stack"
done
run inspect "$T/plain/plain.safetensors"
expect_out "no-stack-plain-params" "parameters  9 (embeddings 0, layers 0, head 0, other 9)"
expect_out "no-stack-plain-dtypes" "dtypes      BF16 1 F32 1"
run inspect "$T/plain/plain.safetensors" --json
expect_eq "no-stack-json" "$(printf '%s' "$out" | pyjson "d['family'], d['layer_count'], d['tensor_count'], d['parameter_count'], d['issues'][0]['code']")" \
    "('none', 0, 2, 9, 'no-layer-stack')"
run audit "$T/plain/plain.safetensors"
expect "no-stack-audit" 0
expect_out "no-stack-audit-said" "warning no-layer-stack:"
run plan -m "a=$T/plain/plain.safetensors" --slices 'a[0:1]'
expect "no-stack-plan" 2 "plain.safetensors: no layer stack (no tensor is in a numbered layer \"<prefix>.N.<name>\"): plan and build need one"
run build -m "a=$T/plain/scalars.safetensors" --slices 'a[0:1]' -o "$T/out-scalars" --quiet
expect "no-stack-build" 2 "scalars.safetensors: no layer stack"

# A GGUF file goes to the GGUF reader (a cut one is refused by it, not by
# the safetensors header length); GGUF bytes where safetensors are expected
# are named as GGUF.
printf 'GGUF\003\000\000\000\014\000\000\000\000\000\000\000\002\000\000\000\000\000\000\000' >"$T/plain/tiny.gguf"
for cmd in inspect audit; do
    run $cmd "$T/plain/tiny.gguf"
    expect "gguf-$cmd" 2 "tiny.gguf: 2 metadata entries cannot fit in the 0 bytes left in the file"
done
mkdir -p "$T/gguf-in-st"
cp "$T/plain/tiny.gguf" "$T/gguf-in-st/model.safetensors"
run inspect "$T/gguf-in-st"
expect "gguf-as-safetensors" 2 "model.safetensors: is a GGUF file"
if have_fixtures; then
    run inspect "$FIX/gguf/tiny_llama_f32.gguf"
    expect "gguf-fixture" 0
    expect_out "gguf-fixture-said" "tiny_llama_f32.gguf: llama, 2 layers"
else
    skip "gguf-fixture" "fixtures absent"
fi

# ---- item 6: messages ----------------------------------------------------

mkdir -p "$T/heads"
python3 - "$T/heads/model.safetensors" <<'PY'
import struct, sys
names = ['model.layers.%d.w' % i for i in range(2)] + ['lm_head_%d.weight' % i for i in range(3500)]
h = '{' + ','.join('"%s":{"dtype":"U8","shape":[1],"data_offsets":[%d,%d]}' % (n, i, i + 1)
                   for i, n in enumerate(names)) + '}'
h = h.encode()
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + b'\0' * len(names))
PY
run inspect "$T/heads"
expect "many-heads-inspect" 0
expect_out "many-heads-said" "2 layers"
[[ "$err" != *"head_pattern"* && "$err" != *"regular expression"* ]] && ok "many-heads-plain-words" ||
    fail "many-heads-plain-words" "stderr: $err"

"$GEN" --preset gemma2 --layers 2 --redundant-head -o "$T/gemma" >/dev/null
( ulimit -f 64; trap '' XFSZ; exec timeout 60 "$SUTURE" trim "$T/gemma" -o "$T/out-trim" ) \
    >"$T/.out" 2>"$T/.err"
rc=$?; out=$(cat "$T/.out"); err=$(cat "$T/.err")
expect "trim-no-space" 2 "suture trim: model.safetensors: tensor 'model.embed_tokens.weight': write failed: File too large"
[[ "$err" != *"model.safetensors: model.safetensors"* ]] && ok "trim-no-space-named-once" ||
    fail "trim-no-space-named-once" "stderr: $err"

python3 - "$T/good" "$T/r60k.json" <<'PY'
import json, sys
json.dump({'models': {'g': sys.argv[1]}, 'slices': [{'model': 'g', 'layers': [0, 1]}] * 60000},
          open(sys.argv[2], 'w'))
PY
run plan "$T/r60k.json"
expect "60k-slices-plan" 2 "suture plan: model.safetensors: header of"
[[ "$err" == *"bytes exceeds the limit of 100000000"* ]] && ok "60k-slices-plan-msg" ||
    fail "60k-slices-plan-msg" "stderr: $err"
plan_err=${err#suture plan: }
run build "$T/r60k.json" -o "$T/out-60k" --quiet
expect "60k-slices-build" 2
[[ "${err##*suture build: }" == "$plan_err" ]] && ok "60k-slices-same-message" ||
    fail "60k-slices-same-message" "plan: $plan_err" "build: $err"
[ ! -e "$T/out-60k" ] && ok "60k-slices-nothing" || fail "60k-slices-nothing" "output written"

# ---- item 2: oversized inputs --------------------------------------------

variant big-config
python3 - "$T/big-config/config.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p)); d['junk'] = [0] * 1100000
open(p, 'w').write(json.dumps(d))
PY
run build -m "g=$T/big-config" --slices 'g[0:2]' -o "$T/out-big-config" --quiet
expect "big-config-build" 2 "big-config/config.json: file is"
[[ "$err" == *"over the limit of 1048576"* ]] && ok "big-config-limit" || fail "big-config-limit" "stderr: $err"

"$GEN" --preset llama --layers 2 --shards 2 -o "$T/many-wrong" >/dev/null
python3 - "$T/many-wrong/model.safetensors.index.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p))
for i in range(5000):
    d['weight_map']['extra.%d.weight' % i] = 'model-00001-of-00002.safetensors'
open(p, 'w').write(json.dumps(d))
PY
run audit "$T/many-wrong"
expect "many-wrong-audit" 1
n=$(printf '%s\n' "$out" | grep -c "index-mismatch")
[ "$n" = 11 ] && ok "many-wrong-lines" || fail "many-wrong-lines" "$n index-mismatch lines, want 11"
expect_out "many-wrong-count" "index-mismatch: 4990 more issues like the 10 above are not listed"
run audit "$T/many-wrong" --json
expect_eq "many-wrong-json" "$(printf '%s' "$out" | pyjson "sum(f['code'] == 'index-mismatch' for f in d['findings'])")" "11"

variant missing-shards
python3 - "$T/missing-shards" <<'PY'
import json, os, sys
d = sys.argv[1]
os.rename(d + '/model.safetensors', d + '/model-00001-of-00016.safetensors')
wm = {'t%d' % i: 'model-%05d-of-00016.safetensors' % (i + 1) for i in range(16)}
json.dump({'metadata': {}, 'weight_map': wm}, open(d + '/model.safetensors.index.json', 'w'))
PY
run audit "$T/missing-shards"
expect "missing-shards-audit" 1
n=$(printf '%s\n' "$out" | grep -c "^error missing-shard")
[ "$n" = 11 ] && ok "missing-shards-lines" || fail "missing-shards-lines" "$n lines, want 11" "$out"
expect_out "missing-shards-count" "error missing-shard: 5 more findings like the 10 above are not listed"

python3 - "$T/good" "$T/big.json" "$T/big.yml" <<'PY'
import json, sys
json.dump({'models': {'g': sys.argv[1]}, 'slices': [{'model': 'g', 'layers': [0, 1]}],
           'comment': 'x' * 5000000}, open(sys.argv[2], 'w'))
open(sys.argv[3], 'w').write('merge_method: passthrough\nslices:\n  - sources:\n'
                             '      - model: %s\n        layer_range: [0, 1]\n# %s\n'
                             % (sys.argv[1], 'x' * 3000000))
PY
run plan "$T/big.json"
expect "big-recipe-json" 2 "big.json: file is"
[[ "$err" == *"over the limit of 4194304"* ]] && ok "big-recipe-json-limit" ||
    fail "big-recipe-json-limit" "stderr: $err"
run plan "$T/big.yml"
expect "big-recipe-yaml" 2 "over the limit of 2097152 for a mergekit YAML recipe"

finish
