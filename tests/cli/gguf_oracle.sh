# gguf_oracle.sh: GGUF files written by `suture build` checked in llama.cpp
# (an independent program): stacks of the fixtures load and run; a GGUF
# frankenmerge equals the GGUF converted from the safetensors frankenmerge
# of the same recipe; a stack of Q8_0 blocks equals llama-quantize's Q8_0 of
# the F32 stack. Skipped when $SUTURE_ORACLE (a folder with bin/logits,
# built by ../shared/oracles/build) is unset or missing.
. tests/cli/lib.sh
G=$FIX/gguf
ORA=${SUTURE_ORACLE:-}
PY=/usr/bin/python3
ORPY=$FIX/../oracles/py

if [ -z "$ORA" ] || [ ! -x "$ORA/bin/logits" ]; then
    skip "gguf-oracle" "SUTURE_ORACLE is unset or has no bin/logits"
    finish
    exit
fi
if [ ! -d "$G" ]; then
    skip "gguf-oracle" "no fixtures at $G"
    finish
    exit
fi
IDS=1,3,5,7,2,4

# logits FILE: llama.cpp's logits of every position (JSON) on stdout.
logits() { "$ORA/bin/logits" "$1" "$IDS" --all 2>/dev/null; }

# same_logits NAME A B TOL: the two JSON outputs agree (relative TOL).
same_logits() {
    local r
    printf '%s' "$2" > "$T/.la"
    printf '%s' "$3" > "$T/.lb"
    r=$($PY -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
tol = float(sys.argv[3])
fa = [x for row in a["logits"] for x in row]
fb = [x for row in b["logits"] for x in row]
bad = len(fa) != len(fb) or a["n_vocab"] != b["n_vocab"] or any(
    abs(x - y) > tol * max(1.0, abs(x), abs(y)) for x, y in zip(fa, fb))
print("differ" if bad else "same")' "$T/.la" "$T/.lb" "$4" 2>&1)
    if [ "$r" = same ]; then ok "$1"; else fail "$1" "$r" "a: ${2:0:200}" "b: ${3:0:200}"; fi
}

# Stacks of each fixture: each loads and runs; the identity stack gives
# the original's logits exactly.
for f in tiny_llama_f32 tiny_llama_f16 tiny_llama_q8 llama-2-tiny-random; do
    src=$G/$f.gguf
    L=$("$SUTURE" inspect "$src" --json | pyjson 'd["layer_count"]')
    last=$((L - 1))
    orig=$(logits "$src")
    run build -m a="$src" --slices "a[0:$L]" -o "$T/$f-id.gguf" --quiet
    expect "$f-identity-build" 0
    same_logits "$f-identity-logits" "$orig" "$(logits "$T/$f-id.gguf")" 0
    # identity blocks (LLaMA-Pro): output projections scaled by 0 (zero
    # blocks in every type) make the added layers pass the residual through
    run build -m a="$src" --slices "a[0:$L], a[0:$L]*attn_output|ffn_down=0" -o "$T/$f-zero.gguf" --quiet
    expect "$f-zero-build" 0
    same_logits "$f-zero-identity-logits" "$orig" "$(logits "$T/$f-zero.gguf")" 0
    for spec in "rep:a[0:$L], a[0:$L]" "splice:a[0:1], a[$last:$L], a[0:$L]" \
                "inter:a[0:1], a[0:1], a[$last:$L], a[$last:$L]"; do
        name=${spec%%:*}
        run build -m a="$src" --slices "${spec#*:}" -o "$T/$f-$name.gguf" --quiet
        expect "$f-$name-build" 0
        out=$(logits "$T/$f-$name.gguf"); rc=$?
        nv=$(printf '%s' "$out" | pyjson 'd["n_vocab"]' 2>/dev/null)
        want=$(printf '%s' "$orig" | pyjson 'd["n_vocab"]')
        if [ "$rc" = 0 ] && [ "$nv" = "$want" ]; then ok "$f-$name-runs"
        else fail "$f-$name-runs" "logits exit $rc, n_vocab '$nv' (want $want)"; fi
    done
done

# A split output opens through llama.cpp's split loader.
run build -m a="$G/tiny_llama_f32.gguf" --slices "a[0:2], a[0:2]" -o "$T/whole.gguf" --quiet
run build -m a="$G/tiny_llama_f32.gguf" --slices "a[0:2], a[0:2]" -o "$T/split.gguf" --shard-size 2000 --quiet
expect "split-build" 0
n=$(ls "$T"/split-*-of-*.gguf 2>/dev/null | wc -l)
[ "$n" -gt 1 ] && ok "split-files" || fail "split-files" "$n split files"
same_logits "split-logits" "$(logits "$T/whole.gguf")" "$(logits "$T/split-00001-of-$(printf %05d "$n").gguf")" 0

# The same recipe two ways: safetensors frankenmerge converted by the
# oracle's converter, and suture's GGUF frankenmerge of the converted base.
if ! $PY -c 'import numpy' 2>/dev/null || [ ! -d "$ORA/llama.cpp/gguf-py" ]; then
    skip "gguf-vs-safetensors" "needs /usr/bin/python3 with numpy and $ORA/llama.cpp/gguf-py"
    finish
    exit
fi
conv() { PYTHONPATH="$ORA/llama.cpp/gguf-py" $PY "$ORPY/hf2gguf_any.py" "$1" "$2" >/dev/null 2>&1; }
HF=$FIX/hf/tiny-llama-bf16
SPEC="a[0:2], a[1:2], a[0:1], a[1:2]"
conv "$HF" "$T/base.gguf" && ok "convert-base" || fail "convert-base" "hf2gguf_any.py failed"
run build -m a="$HF" --slices "$SPEC" -o "$T/st-merge" --quiet
expect "st-merge-build" 0
conv "$T/st-merge" "$T/st-merge.gguf" && ok "convert-st-merge" || fail "convert-st-merge" "hf2gguf_any.py failed"
run build -m a="$T/base.gguf" --slices "$SPEC" -o "$T/gguf-merge.gguf" --quiet
expect "gguf-merge-build" 0
ref=$(logits "$T/st-merge.gguf")
same_logits "gguf-merge-equals-converted-st-merge" "$ref" "$(logits "$T/gguf-merge.gguf")" 0

# Q8_0: a stack of Q8_0 blocks is the Q8_0 quantization of the F32 stack.
"$ORA/bin/llama-quantize" "$T/base.gguf" "$T/base-q8.gguf" Q8_0 >/dev/null 2>&1
"$ORA/bin/llama-quantize" "$T/gguf-merge.gguf" "$T/merge-then-q8.gguf" Q8_0 >/dev/null 2>&1
run build -m a="$T/base-q8.gguf" --slices "$SPEC" -o "$T/q8-merge.gguf" --quiet
expect "q8-merge-build" 0
run inspect "$T/q8-merge.gguf"
expect_out "q8-merge-types" "Q8_0"
same_logits "q8-merge-equals-quantized-f32-merge" "$(logits "$T/merge-then-q8.gguf")" "$(logits "$T/q8-merge.gguf")" 0

# Scales: a power of two scales F32 exactly in both formats, and commutes
# with Q8_0 and Q4_0 quantization, so scaling the block scales of a
# quantized stack equals quantizing the scaled F32 stack.
SCALED="a[0:2], a[1:2]*down=2"
run build -m a="$HF" --slices "$SCALED" -o "$T/st-scaled" --quiet
conv "$T/st-scaled" "$T/st-scaled.gguf"
run build -m a="$T/base.gguf" --slices "$SCALED" -o "$T/gguf-scaled.gguf" --quiet
expect "f32-scaled-build" 0
same_logits "f32-scaled-equals-converted-st-scaled" "$(logits "$T/st-scaled.gguf")" "$(logits "$T/gguf-scaled.gguf")" 0
for q in Q8_0 Q4_0; do
    "$ORA/bin/llama-quantize" "$T/base.gguf" "$T/base-$q.gguf" $q >/dev/null 2>&1
    "$ORA/bin/llama-quantize" "$T/gguf-scaled.gguf" "$T/scaled-then-$q.gguf" $q >/dev/null 2>&1
    run build -m a="$T/base-$q.gguf" --slices "$SCALED" -o "$T/$q-scaled.gguf"
    expect "$q-scaled-build" 0 "note: 1 quantized tensor is scaled by multiplying the block scales (exact up to rounding each F16 scale)"
    same_logits "$q-scaled-equals-quantized-scaled-f32" "$(logits "$T/scaled-then-$q.gguf")" "$(logits "$T/$q-scaled.gguf")" 0
done

# audit and trim: a redundant head (output.weight equal to the embeddings)
# is found, trim drops it, and llama.cpp (which then ties) gives the same
# logits.
"$TOOLS/suture-gen" --preset llama --layers 2 --hidden 64 --intermediate 128 --heads 4 \
    --kv-heads 2 --vocab 96 --redundant-head -o "$T/rh" >/dev/null
conv "$T/rh" "$T/rh.gguf"
run audit "$T/rh.gguf"
expect "audit-redundant-head" 0
expect_out "audit-redundant-head-finding" "warning redundant-lm-head: rh.gguf: output.weight is byte-identical to token_embd.weight"
run audit "$T/rh.gguf" --strict
expect "audit-redundant-head-strict" 1
run trim "$T/rh.gguf" -o "$T/rh-trim.gguf"
expect "trim-redundant-head" 0
expect_out "trim-redundant-head-out" "removed 'output.weight': 6,144 parameters"
run inspect "$T/rh-trim.gguf"
expect_out "trim-tied" "tied        yes (no output.weight)"
same_logits "trim-same-logits" "$(logits "$T/rh.gguf")" "$(logits "$T/rh-trim.gguf")" 0
run audit "$T/rh-trim.gguf" --strict
expect "trim-audit-clean" 0
finish
