# forward_gguf.sh: the forward pass and `suture probe` on GGUF files
# (F32, F16, BF16, Q8_0) against llama.cpp on the same files.
#
# llama.cpp's own F16/BF16/Q8_0 matrix products round the activations to
# the weight's type (Q8_0: 1e-2 of the logits), so the oracle for a GGUF of
# those types is llama.cpp's F32 path on a copy whose tensors gguf-py
# (llama.cpp's Python package) dequantized to F32 (tests/oracle/gguf2f32.py),
# run by the oracle's logits tool rebuilt with an F32 KV cache (as in
# forward.sh); suture reads the original file. Tolerances as forward.sh:
# |logit diff| <= 1e-3 x the largest |logit| of the position, NLL within
# 1e-3 + 5e-4 x NLL (gemma2: 2e-3, ggml's F16 GELU table, see forward.sh).
# On top of the oracle: probe of the F32 GGUF conversion of a safetensors
# model agrees with probe of the safetensors model within 1e-5 relative.
source "$(dirname "$0")/lib.sh"

LOGITS=$TOOLS/suture-logits
GEN=$TOOLS/suture-gen
ORACLE=${SUTURE_ORACLE:-}
OPY=${SUTURE_ORACLE_PY:-$FIX/../oracles/py}
NPY=${SUTURE_NUMPY_PYTHON:-/usr/bin/python3}
HERE=$ROOT/tests/oracle
GG=$FIX/gguf
IDS=1,5,3,7,200,9,4,11,6,8,100,42
pj() { pyjson "$@"; }

# ---- refusals (no oracle needed) ---------------------------------------
if [ -f "$GG/tiny_llama_f32.gguf" ]; then
    printf '1 2 3' >"$T/ids3"
    printf 'Once upon a time' >"$T/text"
    run probe "$GG/tiny_llama_f32.gguf" --text "$T/text"
    expect probe-gguf-refuse-text 2 "tiny_llama_f32.gguf: --text needs a tokenizer.json: the tokenizer of a GGUF file is not supported; give --tokens FILE"
    run probe "$GG/tiny_llama_f32.gguf" --tokens "$T/ids3" --json -q
    expect_eq probe-gguf-runs "$rc $(printf '%s' "$out" | pj "d['tokens'], d['predicted'], len(d['layers'])")" "0 (3, 2, 2)"
else
    skip probe-gguf-refuse-text "no fixtures/gguf"
    skip probe-gguf-runs "no fixtures/gguf"
fi
"$TOOLS/gguf-gen" --layers 2 --hidden 256 --intermediate 512 --heads 4 --kv-heads 2 \
    --vocab 300 --type Q4_K -o "$T/q4k.gguf" >/dev/null
"$TOOLS/gguf-gen" --layers 2 --hidden 256 --intermediate 512 --heads 4 --kv-heads 3 \
    --vocab 300 --type Q8_0 -o "$T/kv3.gguf" >/dev/null
printf '1 2 3' >"$T/ids3"
run probe "$T/kv3.gguf" --tokens "$T/ids3"
expect probe-gguf-refuse-heads 2 "kv3.gguf: 'llama.attention.head_count' 4 is not a multiple of 'llama.attention.head_count_kv' 3"
run probe "$T/q4k.gguf" --tokens "$T/ids3"
expect probe-gguf-refuse-type 2 "q4k.gguf: tensor 'blk.0.attn_q.weight': type Q4_K is not supported by the forward pass (F32, F16, BF16, Q8_0)"
if [ -f "$GG/tiny_kquant.gguf" ]; then
    run probe "$GG/tiny_kquant.gguf" --tokens "$T/ids3"
    expect probe-gguf-refuse-arch 2 "tiny_kquant.gguf: general.architecture 'kquanttest' is not implemented by the forward pass (llama, qwen2, gemma, gemma2, phi3)"
    run probe "$GG/ggml-vocab-llama-spm.gguf" --tokens "$T/ids3"
    expect probe-gguf-refuse-vocab-only 2 "ggml-vocab-llama-spm.gguf: tensor 'token_embd.weight' is missing"
else
    skip probe-gguf-refuse-arch "no fixtures/gguf"
    skip probe-gguf-refuse-vocab-only "no fixtures/gguf"
fi
python3 - "$T/q4k.gguf" "$T/noeps.gguf" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
k = b"llama.attention.layer_norm_rms_epsilon"
open(sys.argv[2], "wb").write(b.replace(k, k[:-1] + b"X"))
PY
run probe "$T/noeps.gguf" --tokens "$T/ids3"
expect probe-gguf-refuse-key 2 "noeps.gguf: 'llama.attention.layer_norm_rms_epsilon' is missing"

# Memory: a Llama-3.1-8B layout (vocab 128256, hidden 4096, intermediate
# 14336; two layers) in Q8_0, sparse zeros: peak RSS under 2 GiB, one
# matrix in F32 at a time and the 545 MB Q8_0 embedding and head read in
# chunks; zero weights give uniform logits, NLL ln(128256).
if [ -n "${SUTURE_SANITIZED:-}" ]; then
    skip probe-gguf-memory-8b "heavy under sanitizers (SUTURE_SANITIZED is set)"
elif "$TOOLS/gguf-gen" --layers 2 --hidden 4096 --intermediate 14336 --heads 32 --kv-heads 8 \
        --vocab 128256 --type Q8_0 --sparse -o "$T/l8b.gguf" >/dev/null; then
    printf '128000 40 50 60 70 80 90 100' >"$T/ids8"
    "$TOOLS/rss" "$T/rss" "$SUTURE" probe "$T/l8b.gguf" --tokens "$T/ids8" --ctx 8 -j 2 --json >"$T/l8b.json"
    read -r secs kb status <"$T/rss"
    expect_eq probe-gguf-memory-8b "$status $((kb < 2 * 1024 * 1024)) $(pj "d['predicted'], abs(d['nll'] - __import__('math').log(128256)) < 1e-6" <"$T/l8b.json")" "0 1 (7, True)"
    echo "  (peak RSS $((kb / 1024)) MiB)"
else
    fail probe-gguf-memory-8b "gguf-gen failed"
fi

# ---- llama.cpp -----------------------------------------------------------
why=""
if [ -z "$ORACLE" ] || [ ! -x "$ORACLE/bin/logits" ]; then
    why="SUTURE_ORACLE is unset or has no bin/logits"
elif ! PYTHONPATH=$ORACLE/llama.cpp/gguf-py "$NPY" -c "import numpy, gguf" 2>/dev/null; then
    why="$NPY lacks numpy or $ORACLE/llama.cpp/gguf-py"
elif [ ! -d "$GG" ]; then
    why="no fixtures"
fi
L32=""
src=$OPY/../logits.cpp lib=${ORACLE:-/nonexistent}/llama.cpp/build
if [ -z "$why" ]; then
    if [ -f "$src" ] && [ -f "$lib/src/libllama.a" ] && command -v g++ >/dev/null; then
        sed 's/cp.n_threads = 2;/cp.n_threads = 2; cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32;/' \
            "$src" >"$T/logits32.cpp"
        g++ -O1 -std=c++17 -I"$ORACLE/llama.cpp/include" -I"$ORACLE/llama.cpp/ggml/include" \
            "$T/logits32.cpp" "$lib/src/libllama.a" "$lib/ggml/src/libggml.a" \
            "$lib/ggml/src/libggml-cpu.a" "$lib/ggml/src/libggml-base.a" \
            -lpthread -lgomp -lm -o "$T/logits32" 2>/dev/null && L32=$T/logits32
    fi
    [ -n "$L32" ] || why="could not build the oracle's logits tool with an F32 KV cache"
fi
if [ -n "$why" ]; then
    for c in fixtures families consistency; do skip "oracle-gguf-$c" "$why"; done
    finish
    exit
fi
export PYTHONPATH=$ORACLE/llama.cpp/gguf-py

# check NAME FILE.gguf IDS [TOL]: suture's logits on FILE against llama.cpp
# (F32 KV cache) on FILE's tensors dequantized to F32 by gguf-py.
check() {
    local name=$1 file=$2 ids=$3 tol=${4:-1e-3} res
    if ! "$NPY" "$HERE/gguf2f32.py" "$file" "$T/$name.f32.gguf" >"$T/$name.d" 2>&1; then
        fail "oracle-gguf-$name" "gguf2f32 failed: $(tail -1 "$T/$name.d")"
        return
    fi
    "$L32" "$T/$name.f32.gguf" "$ids" --all >"$T/$name.want" 2>/dev/null
    "$LOGITS" "$file" "$ids" --all >"$T/$name.got" 2>"$T/$name.err"
    res=$(python3 - "$T/$name.got" "$T/$name.want" "$tol" <<'PY'
import json, sys
try:
    a, b = (json.load(open(p)) for p in sys.argv[1:3])
except ValueError:
    print("no JSON"); sys.exit()
tol = float(sys.argv[3])
rel = max(max(abs(x - y) for x, y in zip(p, q)) / (max(abs(y) for y in q) or 1)
          for p, q in zip(a["logits"], b["logits"]))
same = a["n_vocab"] == b["n_vocab"] and len(a["logits"]) == len(b["logits"])
print("ok" if same and rel <= tol and abs(a["nll"] - b["nll"]) <= 1e-3 + 5e-4 * b["nll"]
      else "max-rel %.3g nll %.6f %.6f" % (rel, a["nll"], b["nll"]))
PY
)
    if [ "$res" = ok ]; then ok "oracle-gguf-$name"; else fail "oracle-gguf-$name" "$res" "$(cat "$T/$name.err")"; fi
}

# Fixtures: real GGUF files (llama; F32, F16, Q8_0).
check tiny_llama_f32 "$GG/tiny_llama_f32.gguf" 1,5,3,7,2,0,4,6
check tiny_llama_f16 "$GG/tiny_llama_f16.gguf" 1,5,3,7,2,0,4,6
check tiny_llama_q8 "$GG/tiny_llama_q8.gguf" 1,5,3,7,2,0,4,6
check llama-2-tiny-random "$GG/llama-2-tiny-random.gguf" "$IDS"

# stories260K (a trained model) as a GGUF (py/hf2gguf.py: llama's q/k rows
# permuted): probe's NLL on the first 256 tok512 ids of the calibration
# text against llama.cpp's (1.13267). (llama-quantize refuses its Q8_0:
# "quantized data validation failed".)
s260=$FIX/hf/stories260K
if [ -f "$s260/tok512.bin" ] && [ -f "$OPY/tok512.py" ] &&
    "$NPY" "$OPY/hf2gguf.py" "$s260" "$T/s260.gguf" >"$T/s260.conv" 2>&1; then
    python3 - "$OPY" "$s260/tok512.bin" "$FIX/text/tinystories-calibration.txt" >"$T/s.ids" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import tok512
v, s = tok512.load(sys.argv[2])
print(" ".join(map(str, tok512.encode(open(sys.argv[3]).read(), v, s))))
PY
    first=$(tr ' ' '\n' <"$T/s.ids" | head -256 | paste -sd,)
    want=$("$ORACLE/bin/logits" "$T/s260.gguf" "$first" | pj "d['nll']")
    run probe "$T/s260.gguf" --tokens "$T/s.ids" --ctx 256 --max-tokens 256 --json -q
    got=$(printf '%s' "$out" | pj "d['nll']")
    expect_eq "oracle-gguf-s260-nll" \
        "$(python3 -c "print(abs($got - $want) <= 1e-3 + 5e-4 * $want, round($want, 4))")" "True 1.1327"
else
    skip "oracle-gguf-s260-nll" "no stories260K tok512.bin or $OPY/tok512.py, or its conversion failed"
fi

# Generated models of each family, converted to F32 GGUF (llama's q/k rows
# permuted as llama.cpp's converter does, gemma norms stored + 1), then
# F16, BF16 and Q8_0 by llama-quantize.
gen() { "$GEN" "$@" >/dev/null 2>"$T/gen.err" || fail "gen $*" "$(cat "$T/gen.err")"; }
gen --preset llama --dtype f32 -o "$T/g-llama"
gen --preset qwen2 --dtype f32 -o "$T/g-qwen2"
gen --preset gemma --dtype f32 -o "$T/g-gemma"
gen --preset phi3 --dtype f32 --sliding-window 4 -o "$T/g-phi3"
gen --preset gemma2 --dtype f32 --layers 26 --sliding-window 4 -o "$T/g-gemma2"
for f in llama qwen2 gemma phi3 gemma2; do
    conv=$OPY/hf2gguf_any.py tol=1e-3
    case $f in gemma|phi3) conv=$HERE/hf2gguf_extra.py ;; gemma2) tol=2e-3 ;; esac
    if ! "$NPY" "$conv" "$T/g-$f" "$T/g-$f.gguf" >"$T/g-$f.conv" 2>&1; then
        fail "oracle-gguf-gen-$f" "conversion failed: $(tail -1 "$T/g-$f.conv")"
        continue
    fi
    check "gen-$f-F32" "$T/g-$f.gguf" "$IDS" "$tol"
    for q in F16 BF16 Q8_0; do
        if "$ORACLE/bin/llama-quantize" --pure "$T/g-$f.gguf" "$T/g-$f-$q.gguf" "$q" \
            >"$T/q.log" 2>&1; then
            check "gen-$f-$q" "$T/g-$f-$q.gguf" "$IDS" "$tol"
        else
            fail "oracle-gguf-gen-$f-$q" "llama-quantize failed: $(tail -1 "$T/q.log")"
        fi
    done
done

# rope scaling as llama.cpp stores it: Llama-3.1's as the rope_freqs.weight
# factors, linear as rope.scaling.type and factor (generated llama weights).
scaled() {
    mkdir "$T/g-$1" && ln -s "$T/g-llama/model.safetensors" "$T/g-$1/" &&
    python3 -c "import json,sys; c=json.load(open(sys.argv[1])); c['rope_scaling']=json.loads(sys.argv[2]); json.dump(c,open(sys.argv[3],'w'))" \
        "$T/g-llama/config.json" "$2" "$T/g-$1/config.json" &&
    "$NPY" "$HERE/hf2gguf_extra.py" "$T/g-$1" "$T/g-$1.gguf" >"$T/g-$1.conv" 2>&1
}
for r in llama3 linear; do
    case $r in
    llama3) rs='{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}' ;;
    *) rs='{"type": "linear", "factor": 4.0}' ;;
    esac
    if scaled "$r" "$rs"; then
        check "gen-$r-rope" "$T/g-$r.gguf" "$IDS"
    else
        fail "oracle-gguf-gen-$r-rope" "conversion failed: $(tail -1 "$T/g-$r.conv")"
    fi
done

# Consistency: probe of the F32 GGUF conversion = probe of the safetensors
# model (F32), within 1e-5 relative, NLL and every layer's distances.
tr ',' ' ' <<<"$IDS" >"$T/ids"
for f in llama qwen2 gemma phi3 llama3 linear; do
    [ -f "$T/g-$f.gguf" ] || continue
    run probe "$T/g-$f.gguf" --tokens "$T/ids" --json -q
    printf '%s' "$out" >"$T/pg.json"
    run probe "$T/g-$f" --tokens "$T/ids" --json -q
    printf '%s' "$out" >"$T/ps.json"
    res=$(python3 - "$T/pg.json" "$T/ps.json" <<'PY'
import json, sys
try:
    a, b = (json.load(open(p)) for p in sys.argv[1:])
except ValueError:
    print("no JSON"); sys.exit()
def close(x, y):
    return abs(x - y) <= 1e-5 * max(abs(x), abs(y), 1e-30)
vals = [(a["nll"], b["nll"])] + [(p[k], q[k]) for p, q in zip(a["layers"], b["layers"])
        for k in ("angular_distance", "angular_distance_last", "block_influence")]
print("ok" if len(a["layers"]) == len(b["layers"]) and all(close(x, y) for x, y in vals)
      else "differ: %r" % [v for v in vals if not close(*v)][:3])
PY
)
    expect_eq "probe-gguf-consistency-$f" "$res" "ok"
done
finish
