# measure.sh: suture probe RECIPE (and -m/--slices): the output measured
# from its sources equals probing the built output bit for bit (interleaves
# of two generated models, scaled slices, a repeat of the trained
# stories260K), `base` equals probing the base alone, the seam keys and
# their distances checked against the base's own layer distances, and
# refusals by name.
source "$(dirname "$0")/lib.sh"

GEN=$TOOLS/suture-gen
gen() { "$GEN" "$@" >/dev/null 2>"$T/gen.err" || fail "gen $*" "$(cat "$T/gen.err")"; }
gen --preset llama --layers 4 --seed 1 -o "$T/a"
gen --preset llama --layers 4 --seed 2 -o "$T/b"
python3 -c "print(' '.join(str((i * 7 + 3) % 200) for i in range(150)))" >"$T/ids"

# same NAME JSON-OF-RECIPE JSON-OF-BUILT: every probe key but path equal,
# numbers compared as the exact doubles JSON round-trips.
same() {
    local got
    got=$(python3 -c "
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in ('path', 'base', 'seams'):
    a.pop(k, None); b.pop(k, None)
print(a == b, a['nll'] > 0, len(a['layers']))" "$2" "$3")
    expect_eq "$1" "$got" "True True $4"
}

# measure_case NAME LAYERS ARGS...: probe the recipe, build it, probe the build.
measure_case() {
    local name=$1 layers=$2 m
    shift 2
    run probe "$@" --tokens "$T/ids" --ctx 64 -j 2 --json
    expect "$name-probe" 0
    m=$out
    rm -rf "$T/out"
    run build "$@" -o "$T/out"
    expect "$name-build" 0
    run probe "$T/out" --tokens "$T/ids" --ctx 64 -j 2 --json
    same "$name-equals-built" "$m" "$out" "$layers"
    last=$m
}

measure_case interleave 4 -m a="$T/a" -m b="$T/b" --slices 'a[0:1], b[1:2], a[2:3], b[3:4]'
expect_eq interleave-seams "$(printf '%s' "$last" | pyjson "[(s['index'], s['from'], s['to'], len(s['healed'])) for s in d['seams']]")" \
    "[(1, {'model': 'a', 'layer': 0}, {'model': 'b', 'layer': 1}, 1), (2, {'model': 'b', 'layer': 1}, {'model': 'a', 'layer': 2}, 1), (3, {'model': 'a', 'layer': 2}, {'model': 'b', 'layer': 3}, 1)]"
expect_eq interleave-keys "$(printf '%s' "$last" | pyjson "list(d), list(d['base']), list(d['seams'][0])")" \
    "(['path', 'tokens', 'predicted', 'windows', 'ctx', 'nll', 'perplexity', 'layers', 'blocks', 'base', 'seams'], ['path', 'nll', 'perplexity'], ['index', 'from', 'to', 'angular_distance', 'healed'])"
# base: the config donor (a) alone, the same doubles as probing it.
run probe "$T/a" --tokens "$T/ids" --ctx 64 -j 2 --json
expect_eq interleave-base "$(python3 -c "
import json, sys
m, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(m['base']['nll'] == a['nll'], m['base']['perplexity'] == a['perplexity'], m['base']['path'] == a['path'])" "$last" "$out")" "True True True"

measure_case mixed 6 -m a="$T/a" -m b="$T/b" --slices 'a[0:3], b[1:4]'
measure_case scaled 6 -m a="$T/a" --slices 'a[0:3], a[1:4]*o_proj|down_proj=0.5'
measure_case scaled-gradient 5 -m a="$T/a" -m b="$T/b" --slices 'b[0:2], a[1:4]*o_proj=0.3*down_proj=0.7'
cat >"$T/r.json" <<JSON
{"models": {"a": "$T/a", "b": "$T/b"},
 "slices": [{"model": "b", "layers": [0, 2]},
            {"model": "a", "layers": [2, 4], "scale": [{"match": "o_proj", "value": [0.25, 0.9]}, {"value": 0.5}]},
            {"model": "b", "layers": [3, 4]}],
 "embed_from": "a", "head_from": "b", "config_from": "b"}
JSON
measure_case recipe-donors 5 "$T/r.json"
run probe "$T/b" --tokens "$T/ids" --ctx 64 -j 2 --json
expect_eq recipe-donors-base "$(python3 -c "
import json, sys
m, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(m['base']['nll'] == a['nll'])" "$last" "$out")" "True"
run probe "$T/r.json" --tokens "$T/ids" --ctx 64 --base a --json
b=$out
run probe "$T/a" --tokens "$T/ids" --ctx 64 --json
expect_eq recipe-base-named "$(python3 -c "
import json, sys
m, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(m['base']['nll'] == a['nll'], m['base']['path'] == a['path'])" "$b" "$out")" "True True"

# ---- refusals --------------------------------------------------------------
# A folder or a .safetensors file is a MODEL, any other file a recipe.
run probe "$T/a/model.safetensors" --tokens "$T/ids" --ctx 64 -j 2 --json
expect_eq probe-file-is-model "$(printf '%s' "$out" | pyjson "'seams' in d, len(d['layers'])")" "(False, 4)"
run probe "$T/r.json" --tokens "$T/ids" --base c
expect probe-base-unknown 2 "--base: no model named 'c' in the recipe"
run probe "$T/a" --tokens "$T/ids" --base a
expect probe-base-model 2 "--base needs a RECIPE or --slices"
run probe -m a="$T/a" --slices 'a[0:2]' --tokens "$T/ids" --dtype f16
expect probe-dtype 2 "from BF16 to F16, and the forward pass reads the sources as they are: measure without --dtype"
run probe -m a="$T/a" --slices 'a[0:2' --tokens "$T/ids"
expect probe-bad-spec 2 "slices: column"

# ---- memory ----------------------------------------------------------------------
# Llama-3.1-8B's real shapes (two layers, sparse BF16 zeros): a recipe with a
# seam (its reference pass) and a search (its candidates) each hold at most
# two passes' weight buffers (235 MB F32 each), never a model: under 2 GiB.
cfg=$FIX/headers/Llama-3.1-8B/config.json
if [ -n "${SUTURE_SANITIZED:-}" ]; then
    skip measure-memory-8b "heavy under sanitizers (SUTURE_SANITIZED is set)"
elif [ ! -f "$cfg" ]; then
    skip measure-memory-8b "no fixtures/headers/Llama-3.1-8B"
elif "$TOOLS/suture-gen" --from-config "$cfg" --layers 2 -o "$T/l8b" >/dev/null; then
    printf '128000 40 50 60 70 80 90 100' >"$T/ids8"
    "$TOOLS/rss" "$T/rss" "$SUTURE" probe -m m="$T/l8b" --slices 'm[0:2], m[1:2]' \
        --tokens "$T/ids8" --ctx 8 -j 2 --json >"$T/l8b.json"
    read -r secs kb status <"$T/rss"
    expect_eq measure-memory-8b "$status $((kb < 2 * 1024 * 1024)) $(pyjson "len(d['seams']), d['predicted']" <"$T/l8b.json")" "0 1 (1, 7)"
    echo "  (peak RSS $((kb / 1024)) MiB)"
    "$TOOLS/rss" "$T/rss" "$SUTURE" probe "$T/l8b" --search repeat:1 \
        --tokens "$T/ids8" --ctx 8 -j 2 --json >"$T/l8b.json"
    read -r secs kb status <"$T/rss"
    expect_eq search-memory-8b "$status $((kb < 2 * 1024 * 1024)) $(pyjson "len(d['candidates'])" <"$T/l8b.json")" "0 1 2"
    echo "  (peak RSS $((kb / 1024)) MiB)"
    rm -rf "$T/l8b"
else
    fail measure-memory-8b "suture-gen failed"
fi

# ---- the trained stories260K with --text -------------------------------------
S=$FIX/hf/stories260K
TXT=$FIX/text/tinystories-calibration.txt
if [ ! -f "$S/model.safetensors" ] || [ ! -f "$TXT" ]; then
    skip measure-stories "no fixtures/hf/stories260K or text/tinystories-calibration.txt"
    finish
    exit
fi
run probe -m s="$S" --slices 's[0:3], s[2:5]' --text "$TXT" -j 2 --json
expect stories-repeat 0
m=$out
run build -m s="$S" --slices 's[0:3], s[2:5]' -o "$T/rep"
run probe "$T/rep" --text "$TXT" -j 2 --json
same stories-repeat-equals-built "$m" "$out" 6
run probe "$S" --text "$TXT" -j 2 --json
# Repeating layer 2: the hidden state entering the repeat is h_3 and layer 2
# was trained on h_2, so the seam's distance is the base's layer-2
# distance; one layer on, the copy of layer 3 gets h_4 (out) where it was
# trained on h_3 = the output's own h_3: the output's layer-3 distance.
expect_eq stories-seam-distance "$(python3 -c "
import json, sys
m, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
s = m['seams']
print(len(s), s[0]['index'], len(s[0]['healed']), abs(s[0]['angular_distance'] - a['layers'][2]['angular_distance']) < 1e-12,
      abs(s[0]['healed'][0] - m['layers'][3]['angular_distance']) < 1e-12, m['base']['nll'] == a['nll'])" "$m" "$out")" \
    "1 3 3 True True True"
run probe -m s="$S" --slices 's[0:3], s[2:5]' --text "$TXT" -j 2
expect stories-text 0
expect_out stories-text-base "base s ($S): nll "
expect_out stories-text-seams "    3  s 2                  s 2                   0.14307  0.07700"
# A repeat of layer 2 with o_proj and down_proj scaled by 0 adds nothing to
# the residual: the output computes the base exactly, the seam heals to 0 (to the rounding of acos near 1).
run probe -m s="$S" --slices 's[0:3], s[2:3]*o_proj|down_proj=0, s[3:5]' --text "$TXT" -j 2 --json
expect_eq stories-identity-repeat "$(printf '%s' "$out" | pyjson "d['nll'] == d['base']['nll'], [x < 1e-7 for x in d['seams'][0]['healed']], len(d['seams'])")" \
    "(True, [True, True, True], 1)"

# ---- plan --measure -------------------------------------------------------------
run probe -m s="$S" --slices 's[0:3], s[2:5]' --text "$TXT" --json
m=$out
run plan -m s="$S" --slices 's[0:3], s[2:5]' --measure "$TXT" --json
expect plan-measure 0
expect_eq plan-measure-json "$(python3 -c "
import json, sys
m, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
q = p['measure']
print(list(q), p['layer_count'], q['nll'] == m['nll'], q['nll_before'] == m['base']['nll'],
      q['perplexity_before'] == m['base']['perplexity'], q['seams'] == m['seams'], q['predicted'])" "$m" "$out")" \
    "['path', 'tokens', 'predicted', 'ctx', 'base', 'nll_before', 'perplexity_before', 'nll', 'perplexity', 'seams'] 6 True True True True 798"
run plan -m s="$S" --slices 's[0:3], s[2:5]' --measure "$TXT"
expect_out plan-measure-text "nll 1.25017 -> 1.33716  perplexity 3.4909 -> 3.8082 (before: s alone)"
expect_out plan-measure-seams "    3  s 2                  s 2                   0.14307  0.07700"
printf '1 2 3' >"$T/three"
run plan -m s="$S" --slices 's[0:3], s[2:5]' --measure-tokens "$T/three" --json
expect_eq plan-measure-tokens "$(printf '%s' "$out" | pyjson "d['measure']['tokens'], d['measure']['predicted']")" "(3, 2)"
run plan -m s="$S" --slices 's[0:3]' --measure "$TXT" --measure-tokens "$T/three"
expect plan-measure-twice 2 "one --measure or --measure-tokens only"
run plan -m s="$S" --slices 's[0:3]' --measure "$T/nonexistent"
expect plan-measure-missing 2 "$T/nonexistent"

# ---- --search ----------------------------------------------------------------------
# Every candidate's NLL equals probing its spec directly, bit for bit.
for kind in repeat:1 repeat:2 drop:1 drop:2 'repeat:1*o_proj|down_proj=0.5' 'repeat:2*o_proj=0.25*down_proj=0.75'; do
    run probe -m s="$S" --text "$TXT" --search "$kind" -j 2 --json
    expect "search-$kind" 0
    js=$out
    n=$(printf '%s' "$js" | pyjson "len(d['candidates'])")
    bad=""
    for i in $(seq 0 $((n - 1))); do
        spec=$(printf '%s' "$js" | python3 -c "import json,sys; print(json.load(sys.stdin)['candidates'][$i]['spec'])")
        run probe -m s="$S" --slices "$spec" --text "$TXT" -j 2 --json
        same_nll=$(python3 -c "
import json, sys
c, p = json.loads(sys.argv[1])['candidates'][$i], json.loads(sys.argv[2])
print(c['nll'] == p['nll'] and c['perplexity'] == p['perplexity'])" "$js" "$out")
        [ "$same_nll" == True ] || bad="$bad $spec"
    done
    expect_eq "search-$kind-equals-probe" "$n:$bad" "$(case $kind in repeat:1*|drop:1) echo 5:;; *) echo 4:;; esac)"
    expect_eq "search-$kind-sorted" "$(printf '%s' "$js" | pyjson "[c['nll'] for c in d['candidates']] == sorted(c['nll'] for c in d['candidates']), d['search'], list(d['candidates'][0])")" \
        "(True, '$kind', ['spec', 'nll', 'perplexity', 'recipe'])"
done
run probe "$S" --text "$TXT" --search repeat:1 --top 2 -j 2 --json
expect_eq search-top-json "$(printf '%s' "$out" | pyjson "[c['spec'] for c in d['candidates']], d['candidates'][0]['recipe']['slices']")" \
    "(['stories260K[0:3], stories260K[2:5]', 'stories260K[0:2], stories260K[1:5]'], [{'model': 'stories260K', 'layers': [0, 3]}, {'model': 'stories260K', 'layers': [2, 5]}])"
run probe -m s="$S" --text "$TXT" --search drop:1 --top 1 -j 2
expect_out search-top-text "suture build -m s=$S --slices 's[0:2], s[3:5]' -o OUT"
run probe "$S" --text "$TXT" --search repeat:6
expect search-too-long 2 "repeat:6: the model has 5 layers (a block of 1 to 5)"
run probe "$S" --text "$TXT" --search drop:5
expect search-drop-all 2 "drop:5: the model has 5 layers (a block of 1 to 4)"
run probe "$S" --text "$TXT" --search swap:1
expect search-kind 2 "--search wants repeat:N or drop:N, not 'swap:1'"
run probe "$S" --text "$TXT" --search 'drop:1*o_proj=0'
expect search-drop-scaled 2 "--search: scales apply to a repeated copy (repeat:N*PATTERN=S), not to drop"
run probe "$S" --text "$TXT" --search 'repeat:1*o_proj=x'
expect search-bad-scale 2 "slices: column"
# The scaled copy's spec and recipe: only the copy is scaled.
run probe -m s="$S" --text "$TXT" --search 'repeat:1*o_proj|down_proj=0.5' --top 1 -j 2 --json
expect_eq search-scaled-top "$(printf '%s' "$out" | pyjson "d['search'], d['candidates'][0]['spec'], [x.get('scale') for x in d['candidates'][0]['recipe']['slices']]")" \
    "('repeat:1*o_proj|down_proj=0.5', 's[0:3], s[2:3]*o_proj|down_proj=0.5, s[3:5]', [None, [{'match': 'o_proj|down_proj', 'value': 0.5}], None])"
run probe -m s="$S" --slices 's[0:2]' --text "$TXT" --search repeat:1
expect search-recipe 2 "--search takes one MODEL (or one -m NAME=PATH), not a recipe"
run probe "$S" --text "$TXT" --top 2
expect search-top-alone 2 "--top needs --search"
finish
