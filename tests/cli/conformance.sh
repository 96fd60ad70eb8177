#!/bin/bash
# conformance.sh: the option conventions of every command (issue 11 item
# 4): -h and --help print the usage on stdout with exit 0; every shared
# option works as "--x V" and "--x=V" (and "-x V", "-xV" where it has a
# short form) with the same result; --json prints exactly one JSON object;
# an unknown option is one line on stderr with exit 2.
. tests/cli/lib.sh
GEN=$TOOLS/suture-gen
ARCH=$ROOT/tests/fuzz/corpus/arch/full     # a family file

"$GEN" --preset llama --layers 2 -o "$T/m" >/dev/null &&
"$GEN" --preset gemma2 --layers 2 --redundant-head -o "$T/g" >/dev/null ||
    { fail "gen" "suture-gen failed"; finish; exit; }
printf '1 2 3 4 5 6 7 8\n' >"$T/ids"
printf '{"models": {"a": "%s"}, "slices": [{"model": "a", "layers": [0, 2]}]}\n' \
    "$T/m" >"$T/recipe.json"
"$SUTURE" build "$T/recipe.json" -o "$T/built" --quiet ||
    { fail "build" "suture build failed"; finish; exit; }

# The commands and the operands each needs to run (OUT stands for a fresh
# output folder).
declare -A operands=(
    [inspect]="$T/m"
    [plan]="$T/recipe.json"
    [build]="$T/recipe.json -o OUT"
    [audit]="$T/m"
    [trim]="$T/g -o OUT"
    [verify]="$T/built"
    [convert-recipe]="$T/recipe.json"
    [probe]="$T/m --tokens $T/ids"
)
# The shared options each command takes ("json quiet force arch-file jobs
# output"), with the value they get.
declare -A shared=(
    [inspect]="json arch-file"
    [plan]="json arch-file model slices shard-size dtype"
    [build]="json quiet force arch-file jobs output model slices shard-size dtype"
    [audit]="json quiet arch-file jobs"
    [trim]="json quiet force arch-file output"
    [verify]="json quiet arch-file jobs"
    [convert-recipe]="json"
    [probe]="json quiet arch-file jobs"
)
declare -A value=([arch-file]=$ARCH [jobs]=2 [output]=OUT [shard-size]=1MB [dtype]=f16
                  [model]="a=$T/m" [slices]="a[0:2]")
declare -A short=([quiet]=q [jobs]=j [output]=o [model]=m)
n=0

# go CMD ARGS...: runs CMD with its operands (OUT a new folder each time;
# -m/--slices replace the recipe when given); stdout with OUT's path
# replaced by "OUT", so that runs compare.
go() {
    local cmd=$1 ops
    shift
    n=$((n + 1))
    rm -rf "$T/out"
    ops=${operands[$cmd]//OUT/$T/out}
    if [[ " $* " == *" --model"* || " $* " == *" -m"* || " $* " == *"--slices"* ]]; then
        ops=${ops//$T\/recipe.json/}
        [[ " $* " == *"--slices"* ]] || set -- "$@" --slices "a[0:2]"
        [[ " $* " == *" --model"* || " $* " == *" -m"* ]] || set -- "$@" -m "a=$T/m"
    fi
    # shellcheck disable=SC2086
    run "$cmd" $ops "$@"
    out=${out//$T\/out/OUT}
}

# one_object NAME: stdout is exactly one JSON object.
one_object() {
    if printf '%s' "$out" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert isinstance(d, dict)' 2>/dev/null; then
        ok "$1"
    else
        fail "$1" "stdout is not one JSON object" "stdout: $out"
    fi
}

for cmd in inspect plan build audit trim verify convert-recipe probe; do
    for h in -h --help; do
        run "$cmd" "$h"
        expect "$cmd-$h" 0
        expect_out "$cmd-$h-usage" "usage: suture $cmd"
    done
    run "$cmd" ${operands[$cmd]//OUT/$T/out} --help
    expect "$cmd-help-after-operands" 0
    run "$cmd" --no-such-option "${operands[$cmd]}"
    expect "$cmd-unknown" 2 "suture $cmd: unknown option '--no-such-option'"
    expect_eq "$cmd-unknown-one-line" "$(printf '%s\n' "$err" | wc -l)" 1

    for o in ${shared[$cmd]}; do
        v=${value[$o]-}
        [ "$o" = output ] && v=$T/out
        if [ -z "$v" ] || [ "$o" = json ] || [ "$o" = quiet ] || [ "$o" = force ]; then
            go "$cmd" "--$o"
            expect "$cmd --$o" 0
            [ "$o" = json ] && one_object "$cmd --$o one object"
            if [ -n "${short[$o]-}" ]; then
                first=$out
                go "$cmd" "-${short[$o]}"
                expect "$cmd -${short[$o]}" 0
                expect_eq "$cmd -${short[$o]} same" "$out" "$first"
            fi
            continue
        fi
        go "$cmd" --json "--$o" "$v"
        expect "$cmd --$o V" 0
        one_object "$cmd --$o V one object"
        first=$out
        go "$cmd" --json "--$o=$v"
        expect "$cmd --$o=V" 0
        expect_eq "$cmd --$o=V same" "$out" "$first"
        if [ -n "${short[$o]-}" ]; then
            go "$cmd" --json "-${short[$o]}" "$v"
            expect_eq "$cmd -${short[$o]} V same" "$out" "$first"
            go "$cmd" --json "-${short[$o]}$v"
            expect_eq "$cmd -${short[$o]}V same" "$out" "$first"
        fi
    done
done

# a flag given a value, an option missing its value
run audit "$T/m" --json=yes
expect flag-with-value 2 "option '--json=yes' takes no value"
run audit "$T/m" --jobs
expect option-without-value 2 "option '--jobs' wants a value"
# "--" ends the options
run inspect -- "$T/m"
expect double-dash 0
finish
