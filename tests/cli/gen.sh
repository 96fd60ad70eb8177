# gen.sh: suture-gen (presets, header-accurate sparse checkpoints, argument
# errors), and `suture inspect --json` against the independent reader
# tools/st_read.py on every fixture and on generated checkpoints.
. tests/cli/lib.sh
GEN=$TOOLS/suture-gen
READ="python3 $ROOT/tools/st_read.py"
H=$FIX/headers

# gen ARGS...: runs suture-gen; sets $rc, $out, $err like run.
gen() {
    "$GEN" "$@" >"$T/.out" 2>"$T/.err"
    rc=$?
    out=$(cat "$T/.out")
    err=$(cat "$T/.err")
}

# pj EXPR < json: prints repr(EXPR) with the JSON as d (tuples print whole).
pj() { python3 -c "import json,sys; d=json.load(sys.stdin); print(repr(($1)))"; }

# field PATH EXPR: evaluates EXPR on st_read's JSON of PATH (as d).
field() { $READ "$1" --digests | pj "$2"; }

# ---- presets -------------------------------------------------------------
# family, tensors for 3 layers (embed + 3 x per-layer + norm [+ lm_head])
for row in "llama 30" "mistral 30" "qwen2 39" "gemma2 35"; do
    set -- $row
    gen --preset "$1" --layers 3 --shards 2 -o "$T/$1"
    expect "preset-$1-runs" 0
    expect_out "preset-$1-summary" "$2 tensors"
    expect_eq "preset-$1-read" "$(field "$T/$1" "d['tensor_count'], d['layer_count'], len(d['files']), d['dtypes']")" \
        "($2, 3, 2, {'BF16': $2})"
    expect_eq "preset-$1-config" "$(pj "d['model_type'], d['num_hidden_layers'], d['architectures'][0][:5].lower() == '$1'[:5], d['torch_dtype']" < "$T/$1/config.json")" \
        "('$1', 3, True, 'bfloat16')"
    for f in generation_config.json tokenizer_config.json special_tokens_map.json; do
        [ -f "$T/$1/$f" ] && ok "preset-$1-$f" || fail "preset-$1-$f" "missing"
    done
done

expect_eq "qwen2-biases" "$(field "$T/qwen2" "sorted(k for k in d['digests'] if k.startswith('model.layers.0.') and k.endswith('bias'))")" \
    "['model.layers.0.self_attn.k_proj.bias', 'model.layers.0.self_attn.q_proj.bias', 'model.layers.0.self_attn.v_proj.bias']"
expect_eq "gemma2-norms-tied" "$(field "$T/gemma2" "'model.layers.2.pre_feedforward_layernorm.weight' in d['digests'], 'model.layers.2.post_feedforward_layernorm.weight' in d['digests'], 'lm_head.weight' in d['digests']")" \
    "(True, True, False)"
expect_eq "gemma2-config" "$(pj "d['tie_word_embeddings'], d['head_dim'], d['sliding_window'] > 0, 'query_pre_attn_scalar' in d" < "$T/gemma2/config.json")" \
    "(True, 16, True, True)"
expect_eq "llama-untied" "$(pj "d['tie_word_embeddings'], d['rms_norm_eps'], d['head_dim']" < "$T/llama/config.json")" \
    "(False, 1e-05, 16)"

# phi3 keeps its fused projections; --sliding-window sets the preset's window.
gen --preset phi3 --layers 2 --sliding-window 4 -o "$T/phi3"
expect preset-phi3 0
expect_eq "phi3-fused" "$(field "$T/phi3" "sorted(k[15:] for k in d['digests'] if k.startswith('model.layers.0.'))")" \
    "['input_layernorm.weight', 'mlp.down_proj.weight', 'mlp.gate_up_proj.weight', 'post_attention_layernorm.weight', 'self_attn.o_proj.weight', 'self_attn.qkv_proj.weight']"
expect_eq "phi3-window" "$(pj "d['model_type'], d['sliding_window']" < "$T/phi3/config.json")" "('phi3', 4)"
gen --preset gemma --layers 2 -o "$T/gemma"
expect_eq "gemma-config" "$(pj "d['model_type'], d['tie_word_embeddings'], d['hidden_act']" < "$T/gemma/config.json")" \
    "('gemma', True, 'gelu_pytorch_tanh')"

# The index: total_size is the sum of tensor bytes, weight_map sorted,
# whole layers per shard, embeddings first and lm_head last.
idx=$T/llama/model.safetensors.index.json
expect_eq "index-total-size" "$(pj "d['metadata']['total_size']" < "$idx")" "$(field "$T/llama" "d['data_bytes']")"
expect_eq "index-sorted" "$(pj "list(d['weight_map']) == sorted(d['weight_map'])" < "$idx")" "True"
expect_eq "index-whole-layers" "$(pj "len({(k.split('.')[2], v) for k, v in d['weight_map'].items() if k.startswith('model.layers.')})" < "$idx")" "3"
expect_eq "index-ends" "$(pj "d['weight_map']['model.embed_tokens.weight'][:11], d['weight_map']['lm_head.weight'][:11]" < "$idx")" \
    "('model-00001', 'model-00002')"

# Values: seeded, every layer different, norms near 1, independent of shards.
gen --preset llama --layers 3 --shards 1 -o "$T/llama1"
expect "preset-one-shard" 0
expect_eq "one-shard-file" "$(ls "$T/llama1" | grep safetensors)" "model.safetensors"
expect_eq "same-values-any-shards" "$(field "$T/llama1" "d['digests']")" "$(field "$T/llama" "d['digests']")"
expect_eq "layers-differ" "$(field "$T/llama" "len({d['digests']['model.layers.%d.mlp.up_proj.weight' % i] for i in range(3)})")" "3"
gen --preset llama --layers 3 --seed 7 -o "$T/seed7"
gen --preset llama --layers 3 --seed 7 -o "$T/seed7b"
cmp -s "$T/seed7/model.safetensors" "$T/seed7b/model.safetensors" && ok "seed-reproducible" || fail "seed-reproducible" "files differ"
cmp -s "$T/seed7/model.safetensors" "$T/llama1/model.safetensors" && fail "seed-changes-values" "same bytes" || ok "seed-changes-values"
values=$(python3 - "$T/llama1/model.safetensors" <<'EOF'
import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
h = json.loads(f.read(n))
def vals(k):
    a, b = h[k]["data_offsets"]; f.seek(8 + n + a); raw = f.read(b - a)
    return [struct.unpack("<f", b"\0\0" + raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
w, g = vals("model.layers.1.mlp.up_proj.weight"), vals("model.layers.1.input_layernorm.weight")
print(max(abs(x) for x in w) <= 0.0502, min(w) < -0.04, max(w) > 0.04,
      all(0.949 <= x <= 1.051 for x in g))
EOF
)
expect_eq "value-ranges" "$values" "True True True True"

gen --preset gemma2 --layers 2 --redundant-head --dtype f16 -o "$T/g2r"
expect "redundant-head-runs" 0
expect_eq "redundant-head-identical" "$(field "$T/g2r" "d['digests']['lm_head.weight'] == d['digests']['model.embed_tokens.weight'], d['dtypes']")" \
    "(True, {'F16': 25})"
gen --preset llama --layers 2 --dtype f32 --hidden 32 --heads 8 --kv-heads 2 --intermediate 48 --vocab 50 -o "$T/dims"
expect_eq "dims" "$(field "$T/dims" "d['parameter_count']")" \
    "$((50*32*2 + 32 + 2*(32*32*2 + 2*8*32 + 48*32*3 + 2*32)))"

# ---- header-accurate sparse checkpoints ------------------------------------
if [ -d "$H" ]; then
    gen --from-config "$H/Llama-3.1-8B/config.json" --index "$H/Meta-Llama-3-8B/model.safetensors.index.json" -o "$T/l8b"
    expect "llama8b-runs" 0
    expect_out "llama8b-summary" "291 tensors, 8030261248 parameters, 4 shards, 16060522496 bytes"
    expect_eq "llama8b-read" "$($READ "$T/l8b" | pj "d['tensor_count'], d['parameter_count'], d['data_bytes'], len(d['files'])")" \
        "(291, 8030261248, 16060522496, 4)"
    expect_eq "llama8b-index-equal" "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])))" "$T/l8b/model.safetensors.index.json" "$H/Meta-Llama-3-8B/model.safetensors.index.json")" "True"
    kb=$(du -sk "$T/l8b" | cut -f1)
    [ "$kb" -lt 2048 ] && ok "llama8b-sparse" || fail "llama8b-sparse" "uses $kb KiB"

    # Without an index: packed into 5 GB shards as save_pretrained does, which
    # reproduces the real indexes.
    gen --from-config "$H/Llama-3.1-8B/config.json" -o "$T/l8b-noidx"
    expect_eq "llama8b-5gb-packing" "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])))" "$T/l8b-noidx/model.safetensors.index.json" "$H/Meta-Llama-3-8B/model.safetensors.index.json")" "True"

    gen --from-config "$H/gemma-2-9b-it/config.json" --index "$H/gemma-2-9b-it/model.safetensors.index.json" -o "$T/g9"
    expect_out "gemma9b-summary" "464 tensors, 9241705984 parameters, 4 shards, 18483411968 bytes"
    expect_eq "gemma9b-index-equal" "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])))" "$T/g9/model.safetensors.index.json" "$H/gemma-2-9b-it/model.safetensors.index.json")" "True"
    for f in tokenizer_config.json generation_config.json special_tokens_map.json; do
        cmp -s "$T/g9/$f" "$H/gemma-2-9b-it/$f" && ok "gemma9b-copies-$f" || fail "gemma9b-copies-$f" "differs or missing"
    done
    gen --from-config "$H/gemma-2-9b-it/config.json" --index "$H/gemma-2-9b-it/model.safetensors.index.json" --redundant-head -o "$T/g9r"
    expect_out "gemma9b-redundant-head" "465 tensors, 10159209984 parameters"
    expect_eq "gemma9b-head-placed" "$(pj "d['weight_map']['lm_head.weight'] == d['weight_map']['model.norm.weight']" < "$T/g9r/model.safetensors.index.json")" "True"

    gen --from-config "$H/Llama-3.1-8B/config.json" --layers 126 --hidden 16384 --intermediate 53248 --heads 128 --kv-heads 8 -o "$T/l405"
    expect_out "llama405b-class" "1137 tensors, 405853388800 parameters, 191 shards"
    gen --from-config "$H/Llama-3.1-8B/config.json" --layers 126 --shards 8 --dtype f16 -o "$T/l126"
    expect_eq "layers-override" "$($READ "$T/l126" | pj "d['layer_count'], len(d['files']), d['dtypes']")" "(126, 8, {'F16': 1137})"
    expect_eq "layers-override-config" "$(pj "d['num_hidden_layers'], d['torch_dtype']" < "$T/l126/config.json")" "(126, 'float16')"
    gen --from-config "$H/Llama-3.1-8B/config.json" --index "$H/Meta-Llama-3-8B/model.safetensors.index.json" --layers 40 -o "$T/l40"
    expect_eq "layers-beyond-index" "$(pj "d['weight_map']['model.layers.39.mlp.up_proj.weight'], d['weight_map']['lm_head.weight']" < "$T/l40/model.safetensors.index.json")" \
        "('model-00004-of-00004.safetensors', 'model-00004-of-00004.safetensors')"
    gen --from-config "$H/Qwen2.5-7B/config.json" -o "$T/q7"
    expect_out "qwen7b" "339 tensors, 7615616512 parameters"
else
    skip "header-accurate" "no fixtures at $FIX"
fi

# ---- bad arguments: exit 2 and one line ------------------------------------
gen --preset llama
expect "no-output" 2 "-o OUT is required"
gen -o "$T/x"
expect "no-mode" 2 "give exactly one of --preset and --from-config"
gen --preset llama --from-config c.json -o "$T/x"
expect "both-modes" 2 "give exactly one of --preset and --from-config"
gen --preset gpt2 -o "$T/x"
expect "unknown-preset" 2 "--preset: 'gpt2' is not llama, mistral, qwen2, gemma, gemma2 or phi3"
gen --preset llama --layers 0 -o "$T/x"
expect "zero-layers" 2 "--layers: '0' is not a whole number from 1 to"
gen --preset llama --hidden 12x -o "$T/x"
expect "bad-number" 2 "--hidden: '12x' is not a whole number"
gen --preset llama --dtype f64 -o "$T/x"
expect "bad-dtype" 2 "--dtype: 'f64' is not f32, f16 or bf16"
gen --preset llama --heads 4 --kv-heads 3 -o "$T/x"
expect "heads-kv" 2 "num_attention_heads 4 is not a multiple of num_key_value_heads 3"
gen --preset llama --hidden 30 --heads 4 --kv-heads 2 -o "$T/x"
expect "hidden-heads" 2 "hidden_size 30 is not a multiple of num_attention_heads 4"
gen --preset llama --layers 2 --shards 6 -o "$T/x"
expect "too-many-shards" 2 "--shards 6: the model has only 5 whole layers"
gen --preset llama --index i.json -o "$T/x"
expect "index-needs-config" 2 "--index needs --from-config"
gen --preset llama --bogus -o "$T/x"
expect "unknown-option" 2 "unknown option '--bogus' (see --help)"
gen --preset llama -o "$T/x" --layers
expect "missing-value" 2 "option '--layers' needs a value"
gen --help
expect "help" 0
expect_out "help-text" "usage: suture-gen --preset"
gen --preset llama -o "$T/llama"
expect "output-not-empty" 2 "folder exists and is not empty"
gen --from-config "$T/missing.json" -o "$T/x"
expect "missing-config" 2 "missing.json: cannot open"
printf '{"model_type": "gpt2", "n_layer": 2}' > "$T/gpt2.json"
gen --from-config "$T/gpt2.json" -o "$T/x"
expect "unknown-family" 2 "model_type 'gpt2' is not one suture-gen knows"
printf '{"model_type": "llama", "hidden_size": 8, "hidden_size": 8}' > "$T/dup.json"
gen --from-config "$T/dup.json" -o "$T/x"
expect "duplicate-key" 2 "duplicate key 'hidden_size'"
printf '{"model_type": "llama", "hidden_size": 8.5, "num_hidden_layers": 1}' > "$T/frac.json"
gen --from-config "$T/frac.json" -o "$T/x"
expect "fractional-dim" 2 "hidden_size is not a whole number"
printf '{"model_type": "llama", "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 9}' > "$T/nodtype.json"
gen --from-config "$T/nodtype.json" -o "$T/x"
expect "no-dtype" 2 "no torch_dtype; give --dtype"
gen --from-config "$T/nodtype.json" --dtype f32 --seed 3 -o "$T/x"
expect "seed-with-config" 2 "--seed applies to --preset only"
printf '{"weight_map": {"model.layers.0.self_attn.rotary_emb.inv_freq": "model.safetensors"}}' > "$T/idx.json"
gen --from-config "$T/nodtype.json" --dtype f32 --index "$T/idx.json" -o "$T/x"
expect "index-unknown-tensor" 2 "tensor 'model.layers.0.self_attn.rotary_emb.inv_freq' is not one the config describes"
printf '{"weight_map": {"model.norm.weight": "../model.safetensors"}}' > "$T/idx2.json"
gen --from-config "$T/nodtype.json" --dtype f32 --index "$T/idx2.json" -o "$T/x"
expect "index-unsafe-file" 2 "does not name a plain file"
[ ! -e "$T/x" ] && ok "no-partial-output" || fail "no-partial-output" "$T/x exists"

# ---- inspect --json against the independent reader ---------------------------
compare_inspect() {
    local name=$1 path=$2
    run inspect "$path" --json
    if [ "$rc" != 0 ]; then
        fail "inspect-$name" "exit $rc" "stderr: $err"
        return
    fi
    local mine theirs
    mine=$(printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
files = sorted((f["name"], f["tensors"], f["bytes"]) for f in d["files"])
print(d["tensor_count"], d["parameter_count"], d["data_bytes"], d["layer_count"], sorted(d["dtypes"].items()), files)')
    theirs=$($READ "$path" | python3 -c '
import json, sys
d = json.load(sys.stdin)
files = sorted((f["name"], f["tensors"], f["bytes"]) for f in d["files"])
print(d["tensor_count"], d["parameter_count"], d["data_bytes"], d["layer_count"], sorted(d["dtypes"].items()), files)')
    expect_eq "inspect-$name" "$mine" "$theirs"
}

if have_fixtures; then
    for d in "$FIX"/hf/*/; do
        ls "$d" | grep -q safetensors || continue
        compare_inspect "$(basename "$d")" "$d"
    done
    compare_inspect "minicpm3" "$FIX/odd/minicpm3"
    compare_inspect "lora-adapter" "$FIX/odd/lora-adapter/adapter_model.safetensors"
    compare_inspect "tiny-llama-file" "$FIX/hf/tiny-llama/model.safetensors"
else
    skip "inspect-fixtures" "no fixtures at $FIX"
fi
for m in llama mistral qwen2 gemma2 g2r; do
    compare_inspect "gen-$m" "$T/$m"
done
[ -d "$T/l8b" ] && compare_inspect "gen-llama8b-sparse" "$T/l8b"
[ -d "$T/g9r" ] && compare_inspect "gen-gemma9b-redundant" "$T/g9r"


# ---- the reference forward pass -------------------------------------------
FWD="python3 $ROOT/tools/llama_forward.py"
if have_fixtures; then
    worst=$(python3 - "$FIX/hf/tiny-llama" "$ROOT/tools/llama_forward.py" <<'EOF'
import json, subprocess, sys
ref = json.load(open(sys.argv[1] + "/reference-logits.json"))
worst = 0.0
for seq, want in zip(ref["sequences"], ref["logits"]):
    got = json.loads(subprocess.check_output([sys.executable, sys.argv[2], sys.argv[1],
                                              "--tokens", ",".join(map(str, seq)), "--all"]))
    assert len(got) == len(want) and all(len(g) == len(w) for g, w in zip(got, want))
    worst = max([worst] + [abs(a - b) / max(1.0, abs(b)) for g, w in zip(got, want) for a, b in zip(g, w)])
print("close" if worst < 1e-6 else "off by %g" % worst)
EOF
)
    expect_eq "forward-tiny-llama-reference" "$worst" "close"
    expect_eq "forward-sharded-same" "$($FWD "$FIX/hf/tiny-llama-sharded" --tokens 3,1,4,1,5)" \
        "$($FWD "$FIX/hf/tiny-llama" --tokens 3,1,4,1,5)"
    S=$FIX/hf/stories260K
    for row in "Zoo:60:greedy-Zoo" "Once upon a time:64:greedy-Once-upon-a-time" ":200:greedy-from-BOS"; do
        IFS=: read -r prompt steps file <<<"$row"
        $FWD "$S" --tokenizer "$S/tok512.bin" --prompt "$prompt" --steps "$steps" | head -c -1 >"$T/story.txt"
        cmp -s "$T/story.txt" "$S/oracle/$file.txt" && ok "forward-stories260K-$file" \
            || fail "forward-stories260K-$file" "got: $(cat "$T/story.txt")"
    done
else
    skip "forward-fixtures" "no fixtures at $FIX"
fi
$FWD "$T/llama" --tokens 999 >/dev/null 2>"$T/.err"
expect_eq "forward-token-range" "$?:$(cat "$T/.err")" "2:llama_forward: token 999 is outside the vocabulary of 256"

# An identity expansion (inserted copies whose o_proj and down_proj are
# scaled to zero, as LLaMA Pro does) computes exactly the same logits; a
# plain duplicate does not.
gen --preset llama --layers 4 --seed 5 -o "$T/fwd"
cat >"$T/identity.json" <<EOF
{"models": {"base": "$T/fwd"},
 "slices": [{"model": "base", "layers": [0, 2]},
        {"model": "base", "layers": [1, 2], "scale": [{"match": "o_proj|down_proj", "value": 0}]},
        {"model": "base", "layers": [2, 4]},
        {"model": "base", "layers": [3, 4], "scale": [{"match": "o_proj|down_proj", "value": 0}]}]}
EOF
cat >"$T/dup.json" <<EOF
{"models": {"base": "$T/fwd"},
 "slices": [{"model": "base", "layers": [0, 2]}, {"model": "base", "layers": [1, 4]}]}
EOF
run build "$T/identity.json" -o "$T/fwd-identity"
expect "identity-build" 0
run build "$T/dup.json" -o "$T/fwd-dup"
expect "duplicate-build" 0
base=$($FWD "$T/fwd" --tokens 5,17,42,99,3)
expect_eq "forward-gives-logits" "$([[ "$base" == "["*"]" ]] && echo yes)" "yes"
expect_eq "identity-layers" "$($READ "$T/fwd-identity" | pj "d['layer_count']")" "6"
expect_eq "identity-same-logits" "$($FWD "$T/fwd-identity" --tokens 5,17,42,99,3)" "$base"
[ "$($FWD "$T/fwd-dup" --tokens 5,17,42,99,3)" != "$base" ] && ok "duplicate-changes-logits" \
    || fail "duplicate-changes-logits" "same logits"

finish
