#!/bin/bash
# progress.sh: the progress bar of audit, trim and verify: drawn and then
# cleared when stderr is a terminal, nothing on stderr when it is a file or
# with --quiet, and stdout the same either way. Uses generated models only
# (no fixtures).
. "$(dirname "$0")/lib.sh"
GEN=$TOOLS/suture-gen

# flat TEXT: TEXT with newlines as spaces and no trailing space (stdout as
# on_tty gives it).
flat() { printf '%s' "$1" | tr '\n' ' ' | sed 's/ *$//'; }

# expect_bar NAME LABEL: the last on_tty run drew LABEL's bar up to 100%
# and cleared it, and wrote nothing else to the terminal.
expect_bar() {
    local drawn="<CR>$2 \[*\] 100%  * / *  *B/s  *:*:* left <CR><ESC>\[K"
    if [[ "$err" == "<CR>$2 ["* && "$err" == *$drawn && "$err" != *$'\n'* ]]; then
        ok "$1"
    else
        fail "$1" "terminal: $err"
    fi
}

# expect_no_cr NAME: the last run's stderr holds no carriage return.
expect_no_cr() {
    if [[ "$err" == *$'\r'* ]]; then fail "$1" "stderr: $err"; else ok "$1"; fi
}

if [ ! -x "$GEN" ]; then
    skip progress "no suture-gen at $GEN"
    finish
    exit
fi
"$GEN" --preset llama --layers 4 --dtype f32 --shards 2 --seed 3 -o "$T/m" >/dev/null
"$GEN" --preset llama --layers 4 --seed 4 --redundant-head -o "$T/tied" >/dev/null
"$SUTURE" build -m m="$T/m" --slices 'm[0:3], m[1:4]' -o "$T/up" --quiet

# -- audit --
run audit "$T/up"
expect audit-file 0
expect_no_cr audit-file-no-bar
expect_eq audit-file-stderr-empty "$err" ""
plain=$(flat "$out")
on_tty audit "$T/up"
expect audit-tty 0
expect_bar audit-tty-bar-drawn-and-cleared audit
expect_eq audit-tty-same-stdout "$(flat "$out")" "$plain"
on_tty audit "$T/up" --quiet
expect audit-tty-quiet 0
expect_eq audit-tty-quiet-nothing "$err" ""
expect_eq audit-tty-quiet-same-stdout "$(flat "$out")" "$plain"
on_tty audit "$T/up" --base m="$T/m"
expect audit-tty-base 0
expect_bar audit-tty-base-bar audit
on_tty audit "$T/up" --json
if [[ "$(flat "$out")" == "{"*"}" && "$err" == "<CR>audit ["*"<CR><ESC>[K" ]]; then
    ok audit-tty-json
else
    fail audit-tty-json "stdout: $out" "terminal: $err"
fi
on_tty audit "$T/none"
expect audit-tty-error 2
expect_eq audit-tty-error-no-bar "$err" "suture audit: $T/none: No such file or directory"

# -- verify --
run verify "$T/up"
expect verify-file 0
expect_no_cr verify-file-no-bar
expect_eq verify-file-stderr-empty "$err" ""
plain=$(flat "$out")
on_tty verify "$T/up"
expect verify-tty 0
expect_bar verify-tty-bar-drawn-and-cleared verify
expect_eq verify-tty-same-stdout "$(flat "$out")" "$plain"
on_tty verify "$T/up" --quiet
expect verify-tty-quiet 0
expect_eq verify-tty-quiet-nothing "$err" ""
expect_eq verify-tty-quiet-same-stdout "$(flat "$out")" "$plain"

# -- trim: each run writes $T/t, removed before the next --
run trim "$T/tied" -o "$T/t"
expect trim-file 0
expect_no_cr trim-file-no-bar
expect_eq trim-file-stderr-empty "$err" ""
plain=$(flat "$out")
rm -rf "$T/t"
on_tty trim "$T/tied" -o "$T/t"
expect trim-tty 0
expect_bar trim-tty-bar-drawn-and-cleared trim
expect_eq trim-tty-same-stdout "$(flat "$out")" "$plain"
rm -rf "$T/t"
on_tty trim "$T/tied" -o "$T/t" --quiet
expect trim-tty-quiet 0
expect_eq trim-tty-quiet-nothing "$err$out" ""
rm -rf "$T/t"
cp -r "$T/tied" "$T/tied2"
on_tty trim "$T/tied2" --in-place
expect trim-tty-in-place 0
expect_bar trim-tty-in-place-bar trim
on_tty trim "$T/tied2" --in-place
expect trim-tty-nothing-left 0
expect_eq trim-tty-nothing-left-no-bar "$err" ""

finish
