# probe.sh: suture probe's command line: --tokens files, windows and
# counts, the JSON keys, the layer measures on a layer that is made an
# identity, refusals by name, progress on a terminal, and the memory bound
# on a header-accurate Llama-3.1-8B layout. The numbers themselves are
# checked against llama.cpp and transformers in forward.sh.
source "$(dirname "$0")/lib.sh"

S=$FIX/hf/stories260K
if [ ! -f "$S/model.safetensors" ]; then
    skip probe "no fixtures/hf/stories260K"
    finish
    exit
fi
pj() { pyjson "$@"; }
seq 1 300 >"$T/ids300"

# ---- usage ---------------------------------------------------------------
run probe --help
expect probe-help 0
expect_out probe-help-text "usage: suture probe MODEL"
run probe
expect probe-no-model 2 "suture probe: no MODEL given"
run probe "$S"
expect probe-no-input 2 "give exactly one of --tokens FILE and --text FILE"
run probe "$S" --tokens "$T/ids300" --ctx 0
expect probe-ctx-zero 2 "--ctx: '0' is not a whole number from 1 to 2147483647"
run probe "$S" --tokens "$T/ids300" --ctx 1
expect probe-ctx-one 2 "--ctx: a window needs at least 2 tokens"
run probe "$S" --tokens "$T/ids300" --ctx 1024
expect probe-ctx-above-model 2 "ctx 1024 is above the model's context of 512 tokens (max_position_embeddings)"

# ---- --tokens files ----------------------------------------------------------
printf '1 2 x 4\n' >"$T/bad1"
run probe "$S" --tokens "$T/bad1"
expect probe-tokens-word 2 "$T/bad1: item 2 is not a token id (a whole number from 0 to 2147483647)"
printf '[1, 2, -3]' >"$T/bad2"
run probe "$S" --tokens "$T/bad2"
expect probe-tokens-json 2 "$T/bad2: item 2 is not a token id"
printf '{"ids": [1]}' >"$T/bad3"
run probe "$S" --tokens "$T/bad3"
expect probe-tokens-object 2 "$T/bad3: not a JSON array of token ids"
printf ' \n' >"$T/bad4"
run probe "$S" --tokens "$T/bad4"
expect probe-tokens-empty 2 "$T/bad4: no token ids"
printf '1 2 600 4' >"$T/bad5"
run probe "$S" --tokens "$T/bad5"
expect probe-tokens-vocab 2 "token 2 (id 600) is outside the vocabulary of 512"
printf '7' >"$T/one"
run probe "$S" --tokens "$T/one"
expect probe-tokens-one 2 "nothing to predict: 1 id"

# JSON array and whitespace-separated ids give the same result.
python3 -c "print(list(range(1, 301)))" >"$T/ids300.json"
run probe "$S" --tokens "$T/ids300" --ctx 128 --json
a=$out
run probe "$S" --tokens "$T/ids300.json" --ctx 128 --json
expect_eq probe-json-array-same "$(printf '%s' "$out" | pj "d['nll']")" "$(printf '%s' "$a" | pj "d['nll']")"

# ---- windows and keys ------------------------------------------------------------
# 300 ids in windows of 128: 128 + 128 + 44, each predicts all but its first.
expect_eq probe-keys "$(printf '%s' "$a" | pj "list(d), [list(x) for x in d['layers'][:1]], [list(x) for x in d['blocks'][:1]]")" \
    "(['path', 'tokens', 'predicted', 'windows', 'ctx', 'nll', 'perplexity', 'layers', 'blocks'], [['index', 'angular_distance', 'angular_distance_last', 'block_influence']], [['length', 'start', 'angular_distance']])"
expect_eq probe-windows "$(printf '%s' "$a" | pj "d['tokens'], d['predicted'], d['windows'], d['ctx'], len(d['layers']), [b['length'] for b in d['blocks']]")" \
    "(300, 297, 3, 128, 5, [1, 2])"
expect_eq probe-perplexity "$(printf '%s' "$a" | pj "abs(__import__('math').exp(d['nll']) - d['perplexity']) < 1e-9 * d['perplexity']")" "True"
run probe "$S" --tokens "$T/ids300" --ctx 128 --max-tokens 200 --json
expect_eq probe-max-tokens "$(printf '%s' "$out" | pj "d['tokens'], d['predicted'], d['windows']")" "(200, 198, 2)"
run probe "$S" --tokens "$T/ids300" --json
expect_eq probe-default-ctx "$(printf '%s' "$out" | pj "d['ctx'], d['windows'], d['predicted']")" "(512, 1, 299)"
# --batch evaluates windows together: the same sums in another grouping.
run probe "$S" --tokens "$T/ids300" --ctx 128 --batch 3 -j 1 --json
expect_eq probe-batch-same "$(python3 -c "
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(abs(a['nll'] - b['nll']) < 1e-6, max(abs(x['angular_distance'] - y['angular_distance']) for x, y in zip(a['layers'], b['layers'])) < 1e-6)" "$a" "$out")" "True True"

# ---- the layer measures ---------------------------------------------------------
# Layer 2 with zero o_proj and down_proj adds nothing to the residual: its
# angular distance and Block Influence are 0 (to rounding) and it is the cheapest layer.
mkdir "$T/z"
cp "$S/config.json" "$T/z/"
python3 - "$S/model.safetensors" "$T/z/model.safetensors" <<'PY'
import json, struct, sys
src, dst = sys.argv[1:]
data = bytearray(open(src, "rb").read())
n = struct.unpack("<Q", data[:8])[0]
h = json.loads(data[8:8 + n])
for k in ("model.layers.2.self_attn.o_proj.weight", "model.layers.2.mlp.down_proj.weight"):
    b, e = h[k]["data_offsets"]
    data[8 + n + b:8 + n + e] = bytes(e - b)
open(dst, "wb").write(data)
PY
run probe "$T/z" --tokens "$T/ids300" --ctx 128 --json
expect_eq probe-identity-layer "$(printf '%s' "$out" | pj "[x < 1e-6 for x in (d['layers'][2]['angular_distance'], d['layers'][2]['angular_distance_last'], d['layers'][2]['block_influence'], d['blocks'][0]['angular_distance'])], d['blocks'][0]['start']")" \
    "([True, True, True, True], 2)"
expect_eq probe-identity-others "$(printf '%s' "$out" | pj "all(l['angular_distance'] > 0.01 for i, l in enumerate(d['layers']) if i != 2)")" "True"

# ---- text output and progress ----------------------------------------------------
run probe "$S" --tokens "$T/ids300" --ctx 128
expect probe-text 0
expect_out probe-text-head "$S: 300 tokens in 3 windows of 128 (297 predicted)"
expect_out probe-text-blocks "cheapest block to drop"
on_tty probe "$S" --tokens "$T/ids300" --ctx 128 --json
if [[ "$err" == *"<CR>probe ["*"100%"*"<CR><ESC>[K" && "$out" == "{"* ]]; then
    ok probe-bar
else
    fail probe-bar "stderr: $err"
fi
on_tty probe "$S" --tokens "$T/ids300" --ctx 128 --quiet
expect_eq probe-bar-quiet "$err" ""

# ---- refused by name ----------------------------------------------------------------
run probe "$FIX/hf/tiny-qwen3" --tokens "$T/one"
expect probe-refuse-qwen3 2 "config.json: model_type 'qwen3' is not implemented by the forward pass"
run probe "$FIX/hf/tiny-gemma3" --tokens "$T/one"
expect probe-refuse-gemma3 2 "model_type 'gemma3_text' is not implemented by the forward pass"
# config.json changed, weights linked.
variant() {
    mkdir "$T/$1" && ln -s "$2/model.safetensors" "$T/$1/" &&
    python3 -c "import json,sys; c=json.load(open(sys.argv[1])); c.update(json.loads(sys.argv[2])); json.dump(c,open(sys.argv[3],'w'))" \
        "$2/config.json" "$3" "$T/$1/config.json"
}
printf '1 2 3 4' >"$T/four"
variant yarn "$FIX/hf/tiny-llama" '{"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}'
run probe "$T/yarn" --tokens "$T/four"
expect probe-refuse-yarn 2 "$T/yarn/config.json: 'rope_scaling' type \"yarn\" is not implemented by the forward pass (linear, llama3)"
variant swa "$FIX/hf/tiny-qwen2" '{"use_sliding_window": true}'
run probe "$T/swa" --tokens "$T/four"
expect probe-refuse-qwen2-window 2 "$T/swa/config.json: 'use_sliding_window' true is not implemented by the forward pass"
variant act "$FIX/hf/tiny-llama" '{"hidden_act": "relu"}'
run probe "$T/act" --tokens "$T/four"
expect probe-refuse-act 2 "'hidden_act' \"relu\" is not implemented by the forward pass"
variant shape "$FIX/hf/tiny-llama" '{"intermediate_size": 13}'
run probe "$T/shape" --tokens "$T/four"
expect probe-shape 2 "model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight': shape does not match config.json (want [13, 8])"

# ---- memory ----------------------------------------------------------------------------
# Llama-3.1-8B's real shapes (vocab 128256, hidden 4096, intermediate 14336;
# two of its layers to keep the CPU cost low), sparse BF16 zeros: peak RSS
# under 2 GiB, i.e. one 235 MB F32 matrix at a time, never the 2.1 GB
# embedding or head.
cfg=$FIX/headers/Llama-3.1-8B/config.json
if [ -n "${SUTURE_SANITIZED:-}" ]; then
    skip probe-memory-8b "heavy under sanitizers (SUTURE_SANITIZED is set)"
elif [ ! -f "$cfg" ]; then
    skip probe-memory-8b "no fixtures/headers/Llama-3.1-8B"
elif "$TOOLS/suture-gen" --from-config "$cfg" --layers 2 -o "$T/l8b" >/dev/null; then
    printf '128000 40 50 60 70 80 90 100' >"$T/ids8"
    "$TOOLS/rss" "$T/rss" "$SUTURE" probe "$T/l8b" --tokens "$T/ids8" --ctx 8 -j 2 --json >"$T/l8b.json"
    read -r secs kb status <"$T/rss"
    expect_eq probe-memory-8b "$status $((kb < 2 * 1024 * 1024)) $(pj "d['predicted']" <"$T/l8b.json")" "0 1 7"
    echo "  (peak RSS $((kb / 1024)) MiB)"
else
    fail probe-memory-8b "suture-gen failed"
fi
finish
