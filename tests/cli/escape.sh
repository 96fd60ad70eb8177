#!/bin/bash
# escape.sh: text from files and argv reaches the terminal escaped and
# --json output is valid UTF-8 JSON (issue 10 item 4): a config model_type
# with terminal escapes, a recipe comment, U+009B, bidi overrides, invalid
# UTF-8 in an index, a config and a recipe, an unknown option.
. tests/cli/lib.sh
GEN=$TOOLS/suture-gen

"$GEN" --preset llama --layers 2 -o "$T/m" >/dev/null ||
    { fail "gen" "suture-gen failed"; finish; exit; }
cp "$T/m/config.json" "$T/config.clean"

# set_model_type DIR PYTHON-BYTES-LITERAL: writes config.json (the clean
# one) with model_type as those raw bytes (not JSON-escaped).
set_model_type() {
    python3 - "$1/config.json" "$2" "$T/config.clean" <<'PY'
import ast, json, sys
p = sys.argv[1]
d = json.load(open(sys.argv[3]))
d["model_type"] = "@@MT@@"
text = json.dumps(d).encode().replace(b"@@MT@@", ast.literal_eval(sys.argv[2]))
open(p, "wb").write(text)
PY
}

# raw_lacks NAME BYTES-LITERAL: stdout+stderr of the last run (as bytes, in
# $T/.out and $T/.err) hold none of these bytes.
raw_lacks() {
    if python3 - "$T/.out" "$T/.err" "$2" <<'PY'
import ast, sys
bad = ast.literal_eval(sys.argv[3])
data = open(sys.argv[1], "rb").read() + open(sys.argv[2], "rb").read()
sys.exit(1 if bad in data else 0)
PY
    then ok "$1"; else fail "$1" "output holds the raw bytes $2" "stdout: $out"; fi
}

# json_valid NAME: stdout is one object that python3's json reads as strict
# UTF-8.
json_valid() {
    if python3 -c 'import json,sys; d=json.loads(open(sys.argv[1],"rb").read().decode("utf-8")); assert isinstance(d, dict)' "$T/.out" 2>"$T/.py"; then
        ok "$1"
    else
        fail "$1" "not one valid UTF-8 JSON object: $(cat "$T/.py")" "stdout: $out"
    fi
}

# inspect: config model_type "\e]0;OWNED\a\e[2J"
set_model_type "$T/m" "b'\\x1b]0;OWNED\\x07\\x1b[2J'"
run inspect "$T/m"
expect inspect-osc 0
raw_lacks inspect-osc-no-esc "b'\\x1b'"
raw_lacks inspect-osc-no-bel "b'\\x07'"
expect_out inspect-osc-shown "?]0;OWNED??[2J, 2 layers"

# U+009B (CSI as a C1 control, UTF-8 c2 9b)
set_model_type "$T/m" "b'llama\\xc2\\x9b2J'"
run inspect "$T/m"
raw_lacks inspect-c1 "b'\\xc2\\x9b'"
expect_out inspect-c1-shown "llama?2J, 2 layers"

# bidi override U+202E and isolate U+2066
set_model_type "$T/m" "b'a\\xe2\\x80\\xaeb\\xe2\\x81\\xa6c'"
run inspect "$T/m"
raw_lacks inspect-bidi-rlo "b'\\xe2\\x80\\xae'"
raw_lacks inspect-bidi-lri "b'\\xe2\\x81\\xa6'"
expect_out inspect-bidi-shown "a?b?c, 2 layers"

# a legitimate non-ASCII name is kept
set_model_type "$T/m" "b'll\\xc3\\xa4ma'"
run inspect "$T/m"
expect_out inspect-utf8-kept "lläma, 2 layers"

# invalid UTF-8 in config.json under --json
set_model_type "$T/m" "b'bad\\xff\\xfe'"
run inspect "$T/m"
expect_out inspect-invalid-utf8-text "bad??, 2 layers"
run inspect "$T/m" --json
expect inspect-invalid-utf8-json-rc 0
json_valid inspect-invalid-utf8-json
arch=$(pyjson "ascii(d['architecture'])" <"$T/.out")
expect_eq inspect-invalid-utf8-json-value "$arch" "\"'bad\\\\ufffd\\\\ufffd'\""
set_model_type "$T/m" "b'\\x1b[2J\\xc2\\x9b\\xe2\\x80\\xae'"
run inspect "$T/m" --json
json_valid inspect-controls-json
raw_lacks inspect-controls-json-no-c1 "b'\\xc2\\x9b'"
raw_lacks inspect-controls-json-no-bidi "b'\\xe2\\x80\\xae'"
set_model_type "$T/m" "b'llama'"

# invalid UTF-8 in an index (a shard's file name)
"$GEN" --preset llama --layers 2 --shards 2 -o "$T/ix" >/dev/null
bad=$(printf 'model-\xff\x1b.safetensors')
mv "$T/ix/model-00002-of-00002.safetensors" "$T/ix/$bad"
python3 - "$T/ix/model.safetensors.index.json" <<'PY'
import sys
p = sys.argv[1]
t = open(p, "rb").read().replace(b"model-00002-of-00002.safetensors",
                                   b"model-\xff\\u001b.safetensors")
open(p, "wb").write(t)
PY
run inspect "$T/ix"
expect inspect-index-invalid 0
raw_lacks inspect-index-invalid-no-ff "b'\\xff'"
raw_lacks inspect-index-invalid-no-esc "b'\\x1b'"
expect_out inspect-index-invalid-shown "model-??.safetensors"
run inspect "$T/ix" --json --tensors
json_valid inspect-index-invalid-json

# a recipe: comment with terminal escapes in plan, invalid UTF-8 under --json
mkdir -p "$T/r"
printf '{"comment": "hi \x1b]0;OWNED\x07 \xc2\x9b bad\xff", "models": {"a": "%s"}, "slices": [{"model": "a", "layers": [0, 2]}]}\n' \
    "$T/m" >"$T/r/recipe-$(printf '\xfe').json"
rf=$(ls "$T"/r/recipe-*.json)
run plan "$rf"
expect plan-comment 0
raw_lacks plan-comment-no-esc "b'\\x1b'"
raw_lacks plan-comment-no-c1 "b'\\xc2\\x9b'"
raw_lacks plan-comment-no-ff "b'\\xff'"
expect_out plan-comment-shown "comment: hi ?]0;OWNED? ? bad?"
run plan "$rf" --json
expect plan-json-rc 0
json_valid plan-json-invalid-utf8
run convert-recipe "$rf"
json_valid convert-recipe-json-invalid-utf8
raw_lacks convert-recipe-no-c1 "b'\\xc2\\x9b'"

# an unknown option and an unknown command are echoed escaped
run inspect $'--x\e[2J\xff'
expect unknown-option 2 "unknown option '--x?[2J?'"
raw_lacks unknown-option-no-esc "b'\\x1b'"
run $'in\e[2Jspect'
expect unknown-command 2 "unknown command 'in?[2Jspect'"
raw_lacks unknown-command-no-esc "b'\\x1b'"

# a message that quotes a long name is cut whole characters at a time: a
# tensor name of 199 ASCII bytes then "ä" (2 bytes) passes the
# library's 200-byte cut
python3 - "$T/cut.safetensors" <<'PY'
import json, struct, sys
name = "a" * 199 + "\u00e4" + "b"
h = json.dumps({name: {"dtype": "XX", "shape": [1], "data_offsets": [0, 2]}}).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"\0\0")
PY
run inspect "$T/cut.safetensors"
expect cut-name 2 "unknown dtype"
if python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$T/.err" 2>/dev/null; then
    ok cut-name-utf8
else
    fail cut-name-utf8 "stderr is not valid UTF-8: $err"
fi

# a library error message: a path with escapes
run inspect "$T/no$(printf '\x1b')such"
expect error-path 2 "no?such"
raw_lacks error-path-no-esc "b'\\x1b'"
finish
