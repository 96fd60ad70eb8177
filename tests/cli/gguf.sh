# gguf.sh: GGUF files in `suture inspect` (every fixture, split sets,
# broken files), and the reader cross-checked on every fixture against
# @huggingface/gguf, an independent parser (skipped when npm or the
# package cannot be had).
. tests/cli/lib.sh
G=$FIX/gguf

# gguf_file OUT [SPLIT_NO SPLIT_COUNT TOTAL TENSOR]: a small valid GGUF
# (llama, 2 layers, F32) or one file of a split set.
gguf_file() {
    python3 - "$@" <<'PY'
import os, struct, sys
def s(x): x = x.encode(); return struct.pack("<Q", len(x)) + x
kv = [s("general.architecture") + struct.pack("<I", 8) + s("llama"),
      s("llama.block_count") + struct.pack("<II", 4, int(os.environ.get("BC", "2"))),
      s("llama.feed_forward_length") + (struct.pack("<II", 4, 12) if os.environ.get("FFN") == "scalar"
                                        else struct.pack("<IIQ", 9, 4, 2) + struct.pack("<II", 12, 16))]
names = os.environ.get("NAMES", "token_embd.weight blk.0.attn_q.weight blk.1.attn_q.weight output_norm.weight").split()
if len(sys.argv) > 2:
    no, count, total = map(int, sys.argv[2:5])
    kv = (kv if no == 0 else []) + [
        s("split.no") + struct.pack("<IH", 2, no), s("split.count") + struct.pack("<IH", 2, count),
        s("split.tensors.count") + struct.pack("<Ii", 5, total)]
    names = sys.argv[5:]
ty, ne = int(os.environ.get("TY", "0")), int(os.environ.get("NE", "8"))
size = {0: 4 * ne, 17: ne // 256 * 74}[ty]
step = -(-size // 32) * 32
infos = b"".join(s(n) + struct.pack("<IQIQ", 1, ne, ty, step * i) for i, n in enumerate(names))
h = b"GGUF" + struct.pack("<IQQ", 3, len(names), len(kv)) + b"".join(kv) + infos
h += bytes(-len(h) % 32)
open(sys.argv[1], "wb").write(h + bytes(step * len(names)))
PY
}

run inspect "$T/none.gguf"
expect "missing-file" 2 "suture inspect: none.gguf: cannot open: No such file or directory"
printf 'GGUF\1\0\0\0' > "$T/v1.gguf"
run inspect "$T/v1.gguf"
expect "version-1" 2 "suture inspect: v1.gguf: GGUF version 1 is not supported (only 2 and 3)"
printf 'GGML____' > "$T/magic.gguf"
run inspect "$T/magic.gguf"
expect "bad-magic" 2 'magic.gguf: not a GGUF file (magic 47 47 4d 4c, expected "GGUF")'

gguf_file "$T/small.gguf"
run inspect "$T/small.gguf"
expect "small" 0
expect_out "small-head" "small.gguf: llama, 2 layers"
expect_out "small-per-layer" "llama.feed_forward_length = [2 x uint32] per layer"
expect_out "small-tied" "tied        yes (no output.weight)"
run inspect "$T/small.gguf" --json --tensors
expect "small-json" 0
got=$(printf '%s' "$out" | pyjson '(d["format"], d["layer_count"], d["config_layer_count"], d["metadata"]["llama.feed_forward_length"]["values"], d["tensors"][1]["name"], d["tensors"][1]["type"], d["tensors"][3]["offset"])')
expect_eq "small-json-fields" "$got" "('gguf', 2, 2, [12, 16], 'blk.0.attn_q.weight', 'F32', 96)"

BC=3 gguf_file "$T/bc3.gguf"
run inspect "$T/bc3.gguf"
expect "block-count" 0
expect_out "block-count-head" "bc3.gguf: llama, 2 layers (block_count says 3)"
expect_out "block-count-issue" "issue       block-count-mismatch: bc3.gguf: llama.block_count is 3 but the tensors hold blk.0 to blk.1"
expect_out "block-count-not-per-layer" "llama.feed_forward_length = [2 x uint32]
"

gguf_file "$T/m-00001-of-00002.gguf" 0 2 3 token_embd.weight blk.0.attn_q.weight
gguf_file "$T/m-00002-of-00002.gguf" 1 2 3 output_norm.weight
run inspect "$T/m-00002-of-00002.gguf" --json
expect "split" 0
got=$(printf '%s' "$out" | pyjson '(d["tensor_count"], len(d["files"]), d["architecture"], d["layer_count"])')
expect_eq "split-as-one" "$got" "(3, 2, 'llama', 1)"
rm "$T/m-00002-of-00002.gguf"
run inspect "$T/m-00001-of-00002.gguf"
expect "split-missing" 2 "m-00002-of-00002.gguf: cannot open: No such file or directory"

# plan and build: what is refused, and how.
run plan -m a="$T/small.gguf" --slices "a[0:2], a[1:2]"
expect "plan" 0
expect_out "plan-map" "  2-2 <- a 1-1"
run plan -m a="$T/small.gguf" --slices "a[0:5]"
expect "plan-range" 2 "slice 0: model 'a' has 2 layers, [0:5] goes past them"
run plan -m a="$T/small.gguf" --slices "a[0:2]" --dtype f16
expect "plan-dtype" 2 "--dtype does not apply to GGUF models"
TY=17 NE=256 gguf_file "$T/iq.gguf"
run plan -m a="$T/iq.gguf" --slices "a[0:2]*attn_q=0.5"
expect "plan-scale-iq" 2 "model 'a': tensor 'blk.0.attn_q.weight' is IQ2_XS: a scale of 0.5 needs re-quantizing"
run plan -m a="$T/iq.gguf" --slices "a[0:2]*attn_q=0"
expect "plan-scale-iq-zero" 0
run build -m a="$T/small.gguf" --slices "a[0:2], a[1:2]" -o "$T/out.gguf" --json
expect "build" 0
got=$(printf '%s' "$out" | pyjson '(d["format"], d["layer_count"], d["files"])')
expect_eq "build-json" "$got" "('gguf', 3, 1)"
run inspect "$T/out.gguf" --json --tensors
got=$(printf '%s' "$out" | pyjson '(d["layer_count"], d["metadata"]["llama.block_count"], d["metadata"]["llama.feed_forward_length"]["values"], d["metadata"]["suture.layer_sources"]["count"], [t["name"] for t in d["tensors"]])')
expect_eq "build-output" "$got" "(3, 3, [12, 16, 16], 3, ['token_embd.weight', 'blk.0.attn_q.weight', 'blk.1.attn_q.weight', 'blk.2.attn_q.weight', 'output_norm.weight'])"
ls -a "$T" | grep -q suture-tmp && fail "build-no-staging-left" "$(ls -a "$T")" || ok "build-no-staging-left"
on_tty build -m a="$T/small.gguf" --slices "a[0:2]" -o "$T/bar.gguf"
expect "build-bar" 0
if [[ "$err" == *"<CR>build ["*"100%"*"<CR><ESC>[K" ]]; then ok build-bar-drawn-and-cleared
else fail build-bar-drawn-and-cleared "stderr: $err"; fi
run build -m a="$T/small.gguf" --slices "a[0:2]" -o "$T/out.gguf"
expect "build-exists" 2 "out.gguf: already exists (--force replaces it)"
run build -m a="$T/small.gguf" --slices "a[0:2]" -o "$T/out.gguf" --force --quiet
expect "build-force" 0
run build -m a="$T/small.gguf" --slices "a[0:2]" -o "$T/small.gguf" --force
expect "build-onto-input" 2 "small.gguf: is an input file of model 'a'"
printf 'hello' > "$T/notes.gguf"
run build -m a="$T/small.gguf" --slices "a[0:2]" -o "$T/notes.gguf" --force
expect "build-force-not-gguf" 2 "notes.gguf: is not a GGUF file (--force replaces only a GGUF file)"
expect_eq "build-force-not-gguf-kept" "$(cat "$T/notes.gguf")" "hello"
run build -m a="$T/small.gguf" --slices "a[0:2]" -o "$T/out-dir"
expect "build-not-gguf-name" 2 "out-dir: a GGUF output is a file named NAME.gguf"
run build -m a="$T/small.gguf" --slices "a[0:2], a[0:2]" -o "$T/sp.gguf" --shard-size 64 --quiet
expect "build-split" 0
expect_eq "build-split-files" "$(cd "$T" && ls sp-*)" "sp-00001-of-00003.gguf
sp-00002-of-00003.gguf
sp-00003-of-00003.gguf"
run inspect "$T/sp-00002-of-00003.gguf" --json
got=$(printf '%s' "$out" | pyjson '(d["tensor_count"], d["layer_count"], d["metadata"]["split.count"])')
expect_eq "build-split-reads-back" "$got" "(6, 4, 3)"
run build -m a="$T/sp-00002-of-00003.gguf" --slices "a[3:4], a[0:1]" -o "$T/from-split.gguf" --quiet
expect "build-from-split" 0
run inspect "$T/from-split.gguf" --json --tensors
got=$(printf '%s' "$out" | pyjson '(len(d["files"]), d["metadata"]["llama.block_count"], "split.count" in d["metadata"], [t["name"] for t in d["tensors"]])')
expect_eq "build-from-split-output" "$got" "(1, 2, False, ['token_embd.weight', 'blk.0.attn_q.weight', 'blk.1.attn_q.weight', 'output_norm.weight'])"
run verify "$T/from-split.gguf"
expect "verify-from-split" 0

# hyperparameters: a per-layer array in a layer's model needs a donor
# that has it per layer too; scalars must agree.
FFN=scalar gguf_file "$T/ffn1.gguf"
run plan -m a="$T/ffn1.gguf" -m b="$T/small.gguf" --slices "a[0:1], b[1:2]"
expect "plan-per-layer-vs-scalar" 2 "model 'b' holds llama.feed_forward_length per layer but the metadata donor 'a' one value for all (make 'b' the config donor)"
printf '{"models": {"a": "%s", "b": "%s"}, "slices": [{"model": "a", "layers": [0, 1]}, {"model": "b", "layers": [1, 2]}], "config_from": "b"}' \
    "$T/ffn1.gguf" "$T/small.gguf" > "$T/donor.json"
run build "$T/donor.json" -o "$T/donor.gguf" --quiet
expect "build-per-layer-donor" 0
run inspect "$T/donor.gguf" --json
got=$(printf '%s' "$out" | pyjson 'd["metadata"]["llama.feed_forward_length"]["values"]')
expect_eq "build-per-layer-from-scalar" "$got" "[12, 16]"
BC=3 FFN=scalar gguf_file "$T/bc3s.gguf"
run plan -m a="$T/small.gguf" -m b="$T/bc3s.gguf" --slices "a[0:1], b[1:2]"
expect "plan-per-layer-needs-values" 0

# audit and trim (the generated tensors are all zeros: the head equals the
# embeddings, the layers each other).
NAMES="token_embd.weight blk.0.attn_q.weight blk.1.attn_q.weight output_norm.weight output.weight" gguf_file "$T/head.gguf"
run audit "$T/head.gguf" --json
expect "audit-json" 0
got=$(printf '%s' "$out" | pyjson '[(f["code"], f["severity"]) for f in d["findings"]], d["warnings"]')
expect_eq "audit-findings" "$got" "([('redundant-lm-head', 'warning'), ('duplicate-layers', 'info')], 1)"
run audit "$T/out.gguf" --base a="$T/none.gguf"
expect "audit-base-missing" 2 "base 'a': none.gguf: cannot open"
run trim "$T/small.gguf" -o "$T/small-trim.gguf"
expect "trim-nothing" 0
expect_out "trim-nothing-why" "nothing to trim: no output.weight (the head is already tied) (no output written)"
[ ! -e "$T/small-trim.gguf" ] && ok "trim-nothing-no-file" || fail "trim-nothing-no-file" "file written"
run trim "$T/head.gguf" -o "$T/head-trim.gguf" --json
expect "trim" 0
got=$(printf '%s' "$out" | pyjson '(d["trimmed"], d["identical"], d["parameters"], d["bytes"])')
expect_eq "trim-json" "$got" "(True, True, 8, 32)"
run inspect "$T/head-trim.gguf" --json
got=$(printf '%s' "$out" | pyjson '(d["tensor_count"], d["tie_word_embeddings"], d["metadata"]["llama.block_count"])')
expect_eq "trim-output" "$got" "(4, True, 2)"
run trim "$T/head.gguf" -o "$T/head-trim.gguf"
expect "trim-exists" 2 "head-trim.gguf: already exists"
cp "$T/head.gguf" "$T/head2.gguf"
run trim "$T/head2.gguf" --in-place --quiet
expect "trim-in-place" 0
run audit "$T/head2.gguf" --strict
expect "trim-in-place-clean" 0

if [ -d "$G" ]; then
    run build -m a="$G/tiny_llama_q8.gguf" --slices "a[0:2], a[1:2], a[0:1]" -o "$T/q8s.gguf" --quiet
    run audit "$T/q8s.gguf" --base a="$G/tiny_llama_q8.gguf"
    expect "audit-base" 0
    expect_out "audit-provenance" "provenance: 0-1 <- a 0-1; 2 <- a 1; 3 <- a 0"
    expect_out "audit-duplicates" "info duplicate-layers: q8s.gguf: layers 0, 3 are byte-identical"
    run build -m a="$G/tiny_llama_q8.gguf" --slices "a[0:2], a[1:2]*ffn_down=0.5, a[0:1]*attn_output=0" -o "$T/v.gguf" --quiet
    run verify "$T/v.gguf"
    expect "verify" 0
    expect_out "verify-counts" "v.gguf: 38 tensors checked (36 copies, 2 recomputed), 0 differ"
    cp "$T/v.gguf" "$T/v2.gguf"
    python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[-40] ^= 1; open(sys.argv[1], "wb").write(b)' "$T/v2.gguf"
    run verify "$T/v2.gguf"
    expect "verify-differs" 1
    expect_out "verify-differs-named" "differs: tensor 'output_norm.weight': bytes differ from a copy of 'output_norm.weight' of model 'a'"
    run verify "$G/tiny_llama_q8.gguf"
    expect "verify-no-provenance" 2 "tiny_llama_q8.gguf: no suture.recipe and suture.models (not written by suture build)"
    cat > "$T/m.yml" <<YML
slices:
  - sources:
      - model: $G/tiny_llama_q8.gguf
        layer_range: [0, 2]
  - sources:
      - model: $G/tiny_llama_q8.gguf
        layer_range: [1, 2]
merge_method: passthrough
dtype: float16
YML
    run plan "$T/m.yml"
    expect "mergekit-plan" 0
    expect_out "mergekit-map" "  2-2 <- "
    expect_out "mergekit-dtype-note" "note        the recipe's output dtype F16 is ignored: GGUF tensors keep their types"
    run trim "$G/llama-2-tiny-random.gguf" -o "$T/untied.gguf"
    expect_out "trim-untied" "nothing to trim: output.weight differs from token_embd.weight (an untied head; --force drops it)"
    run plan -m a="$G/tiny_llama_f32.gguf" -m b="$FIX/hf/tiny-llama" --slices "a[0:1], b[1:2]"
    expect "plan-mixed" 2 "model 'b' ($FIX/hf/tiny-llama) is not a GGUF file: a recipe takes GGUF models or safetensors models, not both"
    run plan -m a="$G/tiny_llama_f32.gguf" -m b="$G/tiny_kquant.gguf" --slices "a[0:1], b[0:0]"
    expect "plan-arch" 2 "models 'a' (llama) and 'b' (kquanttest) are of different architectures"
    run plan -m a="$G/tiny_llama_f32.gguf" -m b="$G/tiny_llama_q8.gguf" --slices "a[0:1], b[1:2]"
    expect "plan-tokenizer" 2 "models 'a' and 'b' have different tokenizers (tokenizer.ggml.tokens differs)"
    run plan -m a="$G/tiny_llama_f32.gguf" -m b="$G/tiny_llama_f16.gguf" --slices "a[0:1], b[1:2]"
    expect "plan-f32-f16" 0
    run inspect "$G/tiny_llama_f32.gguf"
    expect "f32" 0
    expect_out "f32-head" "tiny_llama_f32.gguf: llama, 2 layers"
    run inspect "$G/tiny_llama_q8.gguf"
    expect_out "q8-types" "types       F32 5 Q8_0 15"
    run inspect "$G/tiny_kquant.gguf" --tensors
    expect "kquant" 0
    expect_out "kquant-head" "tiny_kquant.gguf: kquanttest, 0 layers"
    expect_out "kquant-types" "types       F32 1 Q2_K 1 Q4_K 1 Q5_K 1 Q6_K 1"
    run inspect "$G/ggml-vocab-llama-spm.gguf"
    expect "vocab-only" 0
    expect_out "vocab-only-head" "ggml-vocab-llama-spm.gguf: llama, 0 layers (block_count says 32)"
    expect_out "vocab-only-tokens" "tokenizer.ggml.tokens = [32000 x string]"
    run inspect "$G/llama-2-tiny-random.gguf" --json
    got=$(printf '%s' "$out" | pyjson '(d["layer_count"], d["tensor_count"], d["tie_word_embeddings"], d["parameters"]["head"], d["types"])')
    expect_eq "ollama-tiny" "$got" "(1, 12, False, 256000, {'F32': 3, 'F16': 9})"
else
    skip "fixtures" "no fixtures at $G"
fi

# The independent parser: @huggingface/gguf from npm, installed under the
# build folder on first use.
NPMDIR=$ROOT/${BUILD:-build}/npm-gguf
oracle_ready() {
    [ -d "$NPMDIR/node_modules/@huggingface/gguf" ] && return 0
    command -v npm >/dev/null && command -v node >/dev/null || return 1
    mkdir -p "$NPMDIR" &&
        timeout 180 npm install --prefix "$NPMDIR" --no-audit --no-fund --silent \
            @huggingface/gguf@0.4.6 >/dev/null 2>&1
}
TYPES="F32=0 F16=1 Q4_0=2 Q4_1=3 Q5_0=6 Q5_1=7 Q8_0=8 Q8_1=9 Q2_K=10 Q3_K=11 Q4_K=12 Q5_K=13 Q6_K=14 Q8_K=15 BF16=30"
if [ ! -d "$G" ]; then
    skip "oracle-gguf" "no fixtures at $G"
elif ! oracle_ready; then
    skip "oracle-gguf" "@huggingface/gguf@0.4.6 not installable (npm or network missing)"
else
    for f in "$G"/*.gguf "$T/small.gguf"; do
        name=$(basename "$f" .gguf)
        want=$(NODE_PATH="$NPMDIR/node_modules" node "$ROOT/tests/cli/gguf_oracle.js" "$f" 2>&1)
        run inspect "$f" --json --tensors
        got=$(printf '%s' "$out" | python3 "$ROOT/tests/cli/gguf_norm.py" $TYPES 2>&1)
        same=$(python3 "$ROOT/tests/cli/gguf_norm.py" --same "$got" "$want" 2>&1)
        if [ "$same" = True ]; then ok "oracle-$name"; else fail "oracle-$name" "suture: ${got:0:400}" "oracle: ${want:0:400}"; fi
    done
fi
finish
