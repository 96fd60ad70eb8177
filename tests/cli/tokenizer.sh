# tokenizer.sh: the tokenizer (tools/suture-tok over libsuture's tok_*)
# against independent oracles: llama2.c's tok512 encoder (oracles/py) on
# stories260K, and Hugging Face's own tokenizers library (npm
# tokenizers@0.23.2, installed under the build folder; skipped without npm
# or network) on the fixtures' tokenizer.json files, GPT-2's from tests/data
# and variants of them with other families' pipelines (Llama-3, Qwen2,
# Metaspace, Split behaviors: tests/cli/tokenizer_variants.py), over a
# corpus of hard strings, the calibration text and a text with a NUL byte,
# and on the fuzz seeds (tests/fuzz/corpus/tokenizer: JSON, NUL, text).
. tests/cli/lib.sh
TOK=$TOOLS/suture-tok
DATA=$ROOT/tests/data
GPT2=$DATA/gpt2-tokenizer.json
HARD=$DATA/tokenizer-hard.json
CAL=$FIX/text/tinystories-calibration.txt
NPMDIR=$ROOT/${BUILD:-build}/npm-tokenizers

# tok TOKENIZER ARGS...: runs suture-tok; sets $rc, $out, $err.
tok() {
    "$TOK" "$@" >"$T/.out" 2>"$T/.err"
    rc=$?
    out=$(cat "$T/.out")
    err=$(cat "$T/.err")
}

# Usage and input errors.
tok
expect "usage" 2 "usage: suture-tok"
printf 'ab\xffcd' >"$T/bad-utf8.txt"
tok "$GPT2" "$T/bad-utf8.txt"
expect "invalid-utf8" 1 "suture-tok: text is not valid UTF-8 at byte 2"
printf '{"model": {"type": "Unigram", "vocab": []}}' >"$T/unigram.json"
tok "$T/unigram.json" "$T/bad-utf8.txt"
expect "unigram-refused" 2 "unigram.json: model type 'Unigram' is not supported"
tok "$T/none/tokenizer.json" "$T/bad-utf8.txt"
expect "missing-file" 2 "$T/none/tokenizer.json: No such file or directory"

# GPT-2's ids for these are well known (and checked by the library below).
printf 'Hello world' >"$T/hello.txt"
tok "$GPT2" "$T/hello.txt"
expect_eq "gpt2-hello" "$out" "[15496, 995]"
printf '<|endoftext|> Hello' >"$T/eot.txt"
tok "$GPT2" "$T/eot.txt"
expect_eq "gpt2-special-literal" "$out" "[50256, 18435]"
tok "$GPT2" --strings "$HARD"
expect "gpt2-hard-strings" 0
expect_eq "gpt2-hard-count" "$(printf '%s\n' "$out" | wc -l)" \
    "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$HARD")"

# stories260K's tokenizer.json against llama2.c's own encoder (tok512.bin).
if have_fixtures; then
    S=$FIX/hf/stories260K
    for f in "$CAL" "$S"/oracle/*.txt; do
        name=stories260K-tok512-$(basename "$f" .txt)
        want=$(python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
import tok512
v, s = tok512.load(sys.argv[2])
print("[" + ", ".join(map(str, tok512.encode(open(sys.argv[3], encoding="utf-8").read(), v, s))) + "]")
' "$FIX/../oracles/py" "$S/tok512.bin" "$f" 2>&1)
        if [[ "$want" != "["* ]]; then
            skip "$name" "the tok512 oracle did not run: $want"
            continue
        fi
        tok "$S" "$f"
        expect_eq "$name" "$out" "$want"
    done
    tok "$S" "$CAL"
    expect_eq "stories260K-calibration-count" "$(printf '%s' "$out" | tr -cd ',' | wc -c)" "798"
    printf 'Once upon a time' >"$T/once.txt"
    tok "$FIX/headers/Mistral-7B-v0.1" "$T/once.txt"
    expect_eq "mistral-once" "$out" "[1, 5713, 3714, 264, 727]"
    tok --no-special "$FIX/headers/Mistral-7B-v0.1" "$T/once.txt"
    expect_eq "mistral-once-no-bos" "$out" "[5713, 3714, 264, 727]"
else
    skip "stories260K-tok512" "no fixtures folder"
fi

# Hugging Face's library, installed once under the build folder.
oracle_ready() {
    [ -d "$NPMDIR/node_modules/tokenizers" ] && return 0
    command -v npm >/dev/null 2>&1 || { why="npm is not installed"; return 1; }
    mkdir -p "$NPMDIR"
    if ! npm install --prefix "$NPMDIR" --no-audit --no-fund --silent tokenizers@0.23.2 \
        >"$T/npm.log" 2>&1; then
        why="npm install tokenizers@0.23.2 failed (no network?): $(tail -n 1 "$T/npm.log")"
        return 1
    fi
}

# ours TOKENIZER FILE...: suture-tok's side in tokenizer_oracle.js's layout.
ours() {
    local tk=$1
    shift
    "$TOK" "$tk" --strings "$HARD" --no-special --strings "$HARD" --special "$@"
}

why=""
if ! command -v node >/dev/null 2>&1; then
    skip "hf-oracle" "node is not installed"
elif ! oracle_ready; then
    skip "hf-oracle" "$why"
else
    mkdir -p "$T/var"
    printf 'nul\0byte and \x01 control\n' >"$T/nul.txt"
    files=("$T/nul.txt")
    have_fixtures && files+=("$CAL")
    tokenizers=$(python3 "$ROOT/tests/cli/tokenizer_variants.py" "$FIX" "$GPT2" "$T/var")
    if have_fixtures; then
        tokenizers+=$'\n'"$FIX/hf/stories260K/tokenizer.json"
        tokenizers+=$'\n'"$FIX/hf/tiny-llama2-tokenizer/tokenizer.json"
        tokenizers+=$'\n'"$FIX/headers/Mistral-7B-v0.1/tokenizer.json"
    fi
    while IFS= read -r tk; do
        name=hf-$(basename "$(dirname "$tk")")-$(basename "$tk" .json)
        [[ "$tk" == "$T/var/"* ]] && name=hf-$(basename "$tk" .json)
        want=$(NODE_PATH="$NPMDIR/node_modules" node "$ROOT/tests/cli/tokenizer_oracle.js" \
            "$tk" "$HARD" "${files[@]}" 2>&1)
        got=$(ours "$tk" "${files[@]}" 2>&1)
        if [ "$got" == "$want" ]; then
            ok "$name"
        else
            fail "$name" "$(diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | head -n 8)"
        fi
    done <<<"$tokenizers"
    # The fuzz seeds: small tokenizers with every added-token flag, a
    # continuing_subword_prefix, ignore_merges, invert and MergedWithNext.
    for f in "$ROOT"/tests/fuzz/corpus/tokenizer/*; do
        python3 -c '
import json, sys
j, t = open(sys.argv[1], "rb").read().split(b"\0", 1)
open(sys.argv[2], "wb").write(j)
json.dump([t.decode()], open(sys.argv[3], "w"))' "$f" "$T/seed.json" "$T/seed-text.json"
        want=$(NODE_PATH="$NPMDIR/node_modules" node "$ROOT/tests/cli/tokenizer_oracle.js" \
            "$T/seed.json" "$T/seed-text.json" 2>&1)
        got=$("$TOK" "$T/seed.json" --strings "$T/seed-text.json" --no-special \
              --strings "$T/seed-text.json" 2>&1)
        expect_eq "hf-seed-$(basename "$f")" "$got" "$want"
    done
fi
finish
