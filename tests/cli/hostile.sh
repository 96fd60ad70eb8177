# hostile.sh: the malformed-input catalogue at the command line. Each
# damaged folder goes through `suture inspect`, `plan`, `build` (exit 2, its
# own message on stderr, nothing written) and `audit` (exit 1, the same
# damage named in a finding); damaged recipes and specs through plan and
# build. Shards that are symlinks, as in the Hugging Face cache, must keep
# working, and OUT must never be an input's folder.
. tests/cli/lib.sh
GEN=$TOOLS/suture-gen

# run as lib.sh's, but a command that hangs (a FIFO opened for reading
# blocks) is stopped after 5 minutes and fails its case with exit 124.
run() {
    timeout 300 "$SUTURE" "$@" >"$T/.out" 2>"$T/.err"
    rc=$?
    out=$(cat "$T/.out")
    err=$(cat "$T/.err")
}
IDX=model.safetensors.index.json
S1=model-00001-of-00002.safetensors
S2=model-00002-of-00002.safetensors

"$GEN" --preset llama --layers 4 --shards 2 -o "$T/good" >/dev/null ||
    { fail "gen" "suture-gen failed"; finish; exit; }

# variant NAME: a copy of the good folder at $T/NAME.
variant() { rm -rf "${T:?}/$1"; cp -r "$T/good" "$T/$1"; }

# edit_index DIR PYTHON: runs PYTHON with d the index and wm its weight_map,
# then writes d back.
edit_index() {
    python3 - "$1/$IDX" "$2" <<'EOF'
import json, sys
p = sys.argv[1]; d = json.load(open(p)); wm = d['weight_map']
exec(sys.argv[2])
open(p, 'w').write(json.dumps(d, indent=2))
EOF
}

# put_shard FILE HEADER DATA_BYTES [LENGTH_FIELD]: a safetensors file.
put_shard() {
    python3 - "$@" <<'EOF'
import struct, sys
h = sys.argv[2].encode('utf-8', 'surrogateescape')
n = int(sys.argv[4]) if len(sys.argv) > 4 else len(h)
open(sys.argv[1], 'wb').write(struct.pack('<Q', n) + h + b'\0' * int(sys.argv[3]))
EOF
}

# no_output NAME OUT: nothing at OUT and no staging folder beside it.
no_output() {
    local left
    left=$(find "$(dirname "$2")" -maxdepth 1 -name ".$(basename "$2").suture-tmp-*" | head -1)
    if [ -e "$2" ] || [ -n "$left" ]; then
        fail "$1" "left behind: $(ls -d "$2" $left 2>/dev/null)"
    else
        ok "$1"
    fi
}

# expect_audit NAME MSG: the last run (an audit) exited 1 naming MSG.
expect_audit() {
    if [ "$rc" != 1 ]; then
        fail "$1" "exit $rc, want 1" "stdout: $out" "stderr: $err"
    elif [[ "$out" != *"$2"* ]]; then
        fail "$1" "stdout lacks: $2" "stdout: $out"
    else
        ok "$1"
    fi
}

# folder_case NAME DIR MSG [AUDIT_MSG]: DIR is refused by inspect, plan and
# build with MSG, and the audit names AUDIT_MSG (default MSG).
folder_case() {
    local name=$1 dir=$2 msg=$3 amsg=${4-$3}
    run inspect "$dir"
    expect "$name-inspect" 2 "$msg"
    run plan -m "g=$dir" --slices 'g[0:1]'
    expect "$name-plan" 2 "suture plan: model 'g': "
    [[ "$err" == *"$msg"* ]] || fail "$name-plan-msg" "stderr lacks: $msg" "stderr: $err"
    run build -m "g=$dir" --slices 'g[0:1]' -o "$T/out-$name" --quiet
    expect "$name-build" 2 "$msg"
    no_output "$name-build-nothing" "$T/out-$name"
    run audit "$dir"
    expect_audit "$name-audit" "$amsg"
}

# ---- the folder and its index ------------------------------------------

variant traversal
edit_index "$T/traversal" "wm['lm_head.weight'] = '../x.safetensors'"
folder_case traversal "$T/traversal" \
    "tensor 'lm_head.weight': shard '../x.safetensors' is not a plain file name in the folder" \
    "shard '../x.safetensors' leaves the folder"

variant absolute
edit_index "$T/absolute" "wm['lm_head.weight'] = '/etc/passwd'"
folder_case absolute "$T/absolute" "shard '/etc/passwd' is not a plain file name" \
    "shard '/etc/passwd' leaves the folder"

variant backslash
edit_index "$T/backslash" "wm['model.norm.weight'] = 'sub\\\\$S2'"
folder_case backslash "$T/backslash" "shard 'sub\\$S2' is not a plain file name" \
    "shard 'sub\\$S2' leaves the folder"

variant subfolder
mkdir "$T/subfolder/sub"
mv "$T/subfolder/$S2" "$T/subfolder/sub/$S2"
edit_index "$T/subfolder" "
for k in wm:
    if wm[k] == '$S2': wm[k] = 'sub/$S2'"
folder_case subfolder "$T/subfolder" "shard 'sub/$S2' is not a plain file name" \
    "shard 'sub/$S2' leaves the folder"

variant dotdot
edit_index "$T/dotdot" "wm['lm_head.weight'] = '..'"
folder_case dotdot "$T/dotdot" "shard '..' is not a plain file name" \
    "shard '..' leaves the folder"

# The same tensor listed twice in the weight_map (a duplicate JSON key).
variant listed-twice
python3 - "$T/listed-twice/$IDX" <<'EOF'
import re, sys
p = sys.argv[1]; s = open(p).read()
s = re.sub(r'"weight_map":\s*{', '"weight_map": {"model.norm.weight": "model-00001-of-00002.safetensors", ', s, 1)
open(p, 'w').write(s)
EOF
folder_case listed-twice "$T/listed-twice" "$IDX: duplicate key 'model.norm.weight'"

# One shard file under two names (a link): its tensors are stored twice.
variant same-shard-twice
ln -s "$S2" "$T/same-shard-twice/alias.safetensors"
edit_index "$T/same-shard-twice" "wm['lm_head.weight'] = 'alias.safetensors'"
folder_case same-shard-twice "$T/same-shard-twice" \
    "tensor 'lm_head.weight' is stored in both 'alias.safetensors' and '$S2'"

# The index names files that are not on the disk.
variant renamed-shard
mv "$T/renamed-shard/$S2" "$T/renamed-shard/model-00002-of-00003.safetensors"
folder_case renamed-shard "$T/renamed-shard" \
    "shard '$S2' named by $IDX: No such file or directory" \
    "$S2: shard named by the index: No such file or directory"

variant ghost-tensor
edit_index "$T/ghost-tensor" "wm['ghost.weight'] = '$S1'"
folder_case ghost-tensor "$T/ghost-tensor" \
    "weight_map names tensor 'ghost.weight' in '$S1', which does not hold it"

variant unlisted-tensor
edit_index "$T/unlisted-tensor" "del wm['model.norm.weight']"
folder_case unlisted-tensor "$T/unlisted-tensor" \
    "tensor 'model.norm.weight' is in '$S2' but not in the weight_map"

variant wrong-shard
edit_index "$T/wrong-shard" "wm['model.norm.weight'] = '$S1'"
folder_case wrong-shard "$T/wrong-shard" \
    "weight_map puts tensor 'model.norm.weight' in '$S1' but it is in '$S2'"

variant index-array
echo '[1, 2]' >"$T/index-array/$IDX"
folder_case index-array "$T/index-array" "$IDX: not a JSON object" \
    "$IDX: weight_map: missing or not an object"

variant no-weight-map
echo '{"metadata": {}}' >"$T/no-weight-map/$IDX"
folder_case no-weight-map "$T/no-weight-map" "$IDX: weight_map: missing"

variant map-not-string
edit_index "$T/map-not-string" "wm['lm_head.weight'] = 2"
folder_case map-not-string "$T/map-not-string" \
    "weight_map: tensor 'lm_head.weight': not a file name string"

# A FIFO where a shard should be (a tar from a stranger can hold one): it
# must be refused, not block the open.
variant fifo-shard
rm "$T/fifo-shard/$S2"
mkfifo "$T/fifo-shard/$S2"
folder_case fifo-shard "$T/fifo-shard" "$S2: not a regular file"

# ---- shard headers -------------------------------------------------------

# bad_header NAME HEADER DATA_BYTES [LENGTH_FIELD]: a folder whose second
# shard is replaced.
bad_header() {
    variant "$1"
    put_shard "$T/$1/$S2" "${@:2}"
}

bad_header huge-length '{}' 2 18446744073709551615
folder_case huge-length "$T/huge-length" \
    "$S2: header length 18446744073709551615 exceeds the file size (12 bytes)"

# A header over 100 MB in a (sparse) file big enough to hold it.
variant header-over-limit
python3 - "$T/header-over-limit/$S2" <<'EOF'
import struct, sys
f = open(sys.argv[1], 'wb'); f.write(struct.pack('<Q', 100000001)); f.truncate(8 + 100000001 + 8)
EOF
folder_case header-over-limit "$T/header-over-limit" \
    "$S2: header length 100000001 exceeds the limit of 100000000 bytes"

bad_header short-file '' 0 0
printf 'abc' >"$T/short-file/$S2"
folder_case short-file "$T/short-file" "$S2: file is 3 bytes, too short for the 8-byte header length"

bad_header deep-header "$(printf '%*s' 100000 '' | tr ' ' '[')" 0
folder_case deep-header "$T/deep-header" \
    "$S2: invalid JSON: nested deeper than 1000 levels at byte 1000"

bad_header fraction-shape '{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}' 8
folder_case fraction-shape "$T/fraction-shape" \
    "$S2: tensor 'a': shape[0]: 2.5 is not a whole number in [0, 2^53]"

bad_header negative-shape '{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}' 8
folder_case negative-shape "$T/negative-shape" \
    "$S2: tensor 'a': shape[0]: -2 is not a whole number in [0, 2^53]"

bad_header string-shape '{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}' 8
folder_case string-shape "$T/string-shape" \
    "$S2: tensor 'a': shape[0]: \"2\" is not a whole number in [0, 2^53]"

bad_header offset-over-2-64 '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551624]}}' 8
folder_case offset-over-2-64 "$T/offset-over-2-64" \
    "$S2: tensor 'a': data_offsets[1]: 1.8446744073709552e+19 is not a whole number in [0, 2^53]"

bad_header product-overflow '{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}' 8
folder_case product-overflow "$T/product-overflow" \
    "$S2: tensor 'a': shape: element count overflows 64 bits"

bad_header offsets-past-end '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}' 8
folder_case offsets-past-end "$T/offsets-past-end" \
    "$S2: tensor 'a': data_offsets [0, 16] extend past the end of the data (8 bytes)"

bad_header not-utf8 "$(printf '{"\xff":{}}')" 0
folder_case not-utf8 "$T/not-utf8" "$S2: header is not valid UTF-8 (byte 2)"

# ---- config.json -----------------------------------------------------------

variant config-array
echo '[{"model_type": "llama"}]' >"$T/config-array/config.json"
folder_case config-array "$T/config-array" "config.json: not a JSON object"

variant config-broken
printf '{"model_type": "llama",' >"$T/config-broken/config.json"
folder_case config-broken "$T/config-broken" "config.json: invalid JSON at byte"

variant config-deep
python3 -c "print('[' * 100000 + ']' * 100000)" >"$T/config-deep/config.json"
folder_case config-deep "$T/config-deep" \
    "config.json: invalid JSON: nested deeper than 1000 levels at byte 1000"

variant config-duplicate
printf '{"num_hidden_layers": 4, "num_hidden_layers": 40}' >"$T/config-duplicate/config.json"
folder_case config-duplicate "$T/config-duplicate" "config.json: duplicate key 'num_hidden_layers'"

# ---- recipes and specs ------------------------------------------------------

# recipe_case NAME FILE MSG: the recipe file is refused by plan and build.
recipe_case() {
    run plan "$2"
    expect "$1-plan" 2 "$3"
    run build "$2" -o "$T/out-$1" --quiet
    expect "$1-build" 2 "$3"
    no_output "$1-build-nothing" "$T/out-$1"
}

# spec_case NAME SPEC MSG: the spec is refused by plan and build.
spec_case() {
    run plan -m "g=$T/good" --slices "$2"
    expect "$1-plan" 2 "suture plan: $3"
    run build -m "g=$T/good" --slices "$2" -o "$T/out-$1" --quiet
    expect "$1-build" 2 "suture build: $3"
    no_output "$1-build-nothing" "$T/out-$1"
}

R=$T/recipes
mkdir -p "$R"
ln -s ../good "$R/good"
echo '{"models": {"g": "good"}, "slices": [{"model": "g", "layers": [2, 40]}]}' >"$R/beyond.json"
recipe_case recipe-beyond "$R/beyond.json" \
    "beyond.json: slices[0]: layers [2, 40) of model 'g' are out of range: it has 4 layers (0-3)"
echo '{"models": {"g": "good"}, "slices": [{"model": "g", "layers": [0, 1048577]}]}' >"$R/over-limit.json"
recipe_case recipe-over-limit "$R/over-limit.json" \
    "over-limit.json: slices[0].layers[1]: expected a whole number from 0 to 1048576"
echo '{"models": {"g": "good"}, "slices": [{"model": "g", "layers": [-1, 2]}]}' >"$R/negative.json"
recipe_case recipe-negative "$R/negative.json" \
    "negative.json: slices[0].layers[0]: expected a whole number from 0 to 1048576"
echo '{"models": {"g": "good"}, "slices": [{"model": "h", "layers": [0, 2]}]}' >"$R/unknown-model.json"
recipe_case recipe-unknown-model "$R/unknown-model.json" \
    "unknown-model.json: slices[0].model: unknown model 'h' (not in models)"
echo '{"models": {"g": "nowhere"}, "slices": [{"model": "g", "layers": [0, 2]}]}' >"$R/missing-model.json"
recipe_case recipe-missing-model "$R/missing-model.json" \
    "missing-model.json: model 'g': $R/nowhere: No such file or directory"
echo '{"models": {"g": "good"}, "slices": [{"model": "g", "layers": [0, 2]}], "layer": 1}' >"$R/unknown-key.json"
recipe_case recipe-unknown-key "$R/unknown-key.json" "unknown-key.json: unknown key 'layer'"
mkfifo "$R/fifo.json"
recipe_case recipe-fifo "$R/fifo.json" "fifo.json: not a regular file"
python3 -c "print('{\"a\":' * 100000)" >"$R/deep.json"
recipe_case recipe-deep "$R/deep.json" "deep.json: invalid JSON: nested deeper than 1000 levels"
printf 'slices:\n  - sources:\n      - model: good\n        layer_range: [0, 9]\nmerge_method: passthrough\n' >"$R/beyond.yml"
recipe_case mergekit-beyond "$R/beyond.yml" \
    "beyond.yml: slices[0]: layers [0, 9) of model 'good' are out of range: it has 4 layers (0-3)"
printf 'slices: [\n' >"$R/broken.yml"
recipe_case mergekit-broken "$R/broken.yml" "broken.yml: invalid YAML at line 2"

spec_case spec-unclosed 'g[0:2' "slices: column 6: expected ']'"
spec_case spec-unopened 'g0:2]' "slices: column 1: unknown model 'g0'"
spec_case spec-double-open 'g[[0:2]]' "slices: column 3: expected a layer number"
spec_case spec-double-close 'g[0:2]]' "slices: column 7: expected ',' or the end"
spec_case spec-beyond 'g[0:9]' "slices[0]: layers [0, 9) of model 'g' are out of range: it has 4 layers (0-3)"
spec_case spec-reversed 'g[2:1]' "slices: column 3: start 2 is after end 1"
spec_case spec-huge 'g[0:99999999999999999999]' \
    "slices: column 5: layer number 99999999999999999999 is over the limit of 1048576"
spec_case spec-bad-pattern 'g[0:2]*x(=0' "slices: column 8: invalid pattern"

# ---- the Hugging Face cache: shards are links into blobs/ ------------------

HF=$T/hub/models--x--good
mkdir -p "$HF/blobs" "$HF/snapshots/0123abcd"
for f in "$T/good"/*; do
    sum=$(sha256sum "$f" | cut -c1-40)
    cp "$f" "$HF/blobs/$sum"
    ln -s "../../blobs/$sum" "$HF/snapshots/0123abcd/$(basename "$f")"
done
SNAP=$HF/snapshots/0123abcd
(cd "$HF/blobs" && sha256sum -- * >"$T/blobs.sum")
run inspect "$SNAP"
expect "hub-cache-inspect" 0
expect_out "hub-cache-layers" "llama, 4 layers"
run audit "$SNAP"
expect "hub-cache-audit" 0
run plan -m "g=$SNAP" --slices 'g[0:3], g[1:4]'
expect "hub-cache-plan" 0
run build -m "g=$SNAP" --slices 'g[0:3], g[1:4]' -o "$T/hub-out" --quiet
expect "hub-cache-build" 0
run inspect "$T/hub-out"
expect_out "hub-cache-built" "llama, 6 layers"
if [ -z "$(find "$T/hub-out" -type l)" ]; then ok "hub-cache-out-no-links"; else
    fail "hub-cache-out-no-links" "$(find "$T/hub-out" -type l)"; fi
expect_eq "hub-cache-blobs-unchanged" "$(cd "$HF/blobs" && sha256sum -- *)" "$(cat "$T/blobs.sum")"
run build -m "g=$SNAP" --slices 'g[0:2]' -o "$SNAP/out" --quiet
expect "hub-cache-out-inside-snapshot" 2 "is inside the folder of input model 'g'"
no_output "hub-cache-out-inside-snapshot-nothing" "$SNAP/out"

# ---- never overwrite an input ------------------------------------------------

(cd "$T/good" && sha256sum -- * >"$T/good.sum")
run build -m "g=$T/good" --slices 'g[0:2]' -o "$T/good" --quiet
expect "out-is-input" 2 "is the folder of input model 'g'"
run build -m "g=$T/good" --slices 'g[0:2]' -o "$T/good" --force --quiet
expect "out-is-input-force" 2 "is the folder of input model 'g'"
run build -m "g=$T/good" --slices 'g[0:2]' -o "$T/good/sub" --quiet
expect "out-inside-input" 2 "is inside the folder of input model 'g'"
no_output "out-inside-input-nothing" "$T/good/sub"
ln -s good "$T/good-link"
run build -m "g=$T/good" --slices 'g[0:2]' -o "$T/good-link" --force --quiet
expect "out-links-to-input" 2 "input model 'g'"
run build -m "g=$T/good-link" --slices 'g[0:2]' -o "$T/good/sub2" --quiet
expect "out-inside-input-via-link" 2 "is inside the folder of input model 'g'"
mkdir -p "$T/parent/in"
cp "$T/good"/* "$T/parent/in/"
run build -m "g=$T/parent/in" --slices 'g[0:2]' -o "$T/parent" --force --quiet
expect "input-inside-out" 2 "input model 'g'"
expect_eq "input-inside-out-intact" "$(cd "$T/parent/in" && sha256sum -- *)" "$(cat "$T/good.sum")"
expect_eq "inputs-unchanged" "$(cd "$T/good" && sha256sum -- *)" "$(cat "$T/good.sum")"

# trim -o: OUT inside the input (also through a link) or existing is refused.
"$GEN" --preset llama --layers 2 --redundant-head -o "$T/tied" >/dev/null
(cd "$T/tied" && sha256sum -- * >"$T/tied.sum")
run trim "$T/tied" -o "$T/tied/sub"
expect "trim-out-inside-input" 2 "inside the input folder"
ln -s tied "$T/tied-link"
run trim "$T/tied" -o "$T/tied-link/sub"
expect "trim-out-inside-input-via-link" 2 "inside the input folder"
run trim "$T/tied" -o "$T/good"
expect "trim-out-exists" 2 "already exists; trim never replaces a folder"
expect_eq "trim-refusals-input-unchanged" "$(cd "$T/tied" && sha256sum -- *)" "$(cat "$T/tied.sum")"
expect_eq "trim-refusals-other-unchanged" "$(cd "$T/good" && sha256sum -- *)" "$(cat "$T/good.sum")"

# An existing OUT needs --force, and is then replaced whole.
mkdir "$T/existing"
echo '{}' >"$T/existing/config.json"
echo old >"$T/existing/model.safetensors"
run build -m "g=$T/good" --slices 'g[0:2]' -o "$T/existing" --quiet
expect "existing-out" 2 "already exists (--force replaces it)"
expect_eq "existing-out-kept" "$(cat "$T/existing/model.safetensors")" "old"
run build -m "g=$T/good" --slices 'g[0:2]' -o "$T/existing" --force --quiet
expect "existing-out-force" 0
run inspect "$T/existing"
expect_out "existing-out-replaced" "llama, 2 layers"
finish
