# lib.sh: golden CLI test helpers, sourced by each tests/cli/*.sh script.
# A case runs the CLI and compares exit status, and stdout/stderr against
# expectations; each prints "ok NAME", "not ok NAME" (with the difference)
# or "skip NAME: why". Scripts end with `finish`.
set -u
SUTURE=${SUTURE_BIN:-$PWD/build/suture}
TOOLS=${SUTURE_TOOLS:-$PWD/build/tools}
ROOT=${SUTURE_ROOT:-$PWD}
FIX=${SUTURE_FIXTURES:-$ROOT/../shared/fixtures}
T=$(mktemp -d /tmp/suture-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
_fails=0

# run ARGS...: runs the CLI; sets $rc, $out (stdout), $err (stderr).
run() {
    "$SUTURE" "$@" >"$T/.out" 2>"$T/.err"
    rc=$?
    out=$(cat "$T/.out")
    err=$(cat "$T/.err")
}

ok() { echo "ok $1"; }
fail() { echo "not ok $1"; shift; printf '  %s\n' "$@"; _fails=$((_fails + 1)); }
skip() { echo "skip $1: $2"; }

# expect NAME RC [STDERR-SUBSTRING]: checks the last run's exit status and,
# when given, that stderr contains the text.
expect() {
    local name=$1 want=$2 msg=${3-}
    if [ "$rc" != "$want" ]; then
        fail "$name" "exit $rc, want $want" "stdout: $out" "stderr: $err"
    elif [ -n "$msg" ] && [[ "$err" != *"$msg"* ]]; then
        fail "$name" "stderr lacks: $msg" "stderr: $err"
    else
        ok "$name"
    fi
}

# expect_out NAME TEXT: the last run's stdout contains TEXT.
expect_out() {
    if [[ "$out" == *"$2"* ]]; then ok "$1"; else fail "$1" "stdout lacks: $2" "stdout: $out"; fi
}

# expect_eq NAME GOT WANT
expect_eq() {
    if [ "$2" == "$3" ]; then ok "$1"; else fail "$1" "got: $2" "want: $3"; fi
}

# jq-free JSON field reader for tests: pyjson EXPR < json prints repr((EXPR))
# with the JSON as d, so a tuple prints as one value (python3)
pyjson() { python3 -c "import json,sys; d=json.load(sys.stdin); print(repr(($1)))"; }

# on_tty ARGS...: runs the CLI with stderr on a pseudo-terminal and stdout
# on a pipe; sets $rc, $out and $err (the terminal's bytes, \r and ESC
# shown as <CR> and <ESC>).
on_tty() {
    local res
    res=$(python3 - "$SUTURE" "$@" <<'PY'
import os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                     stderr=slave)
os.close(slave)
chunks = []
while True:
    try:
        b = os.read(master, 4096)
    except OSError:
        break
    if not b:
        break
    chunks.append(b)
out = p.stdout.read()
rc = p.wait()
err = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
err = err.replace("\r", "<CR>").replace("\x1b", "<ESC>")
sys.stdout.write("%d\n%s\n%s" % (rc, out.decode(errors="replace").replace("\n", " "), err))
PY
)
    rc=$(printf '%s\n' "$res" | sed -n 1p)
    out=$(printf '%s\n' "$res" | sed -n 2p)
    err=$(printf '%s\n' "$res" | sed -n '3,$p')
}

have_fixtures() { [ -d "$FIX/hf" ]; }

finish() { [ "$_fails" -eq 0 ]; }
