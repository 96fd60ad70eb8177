#!/bin/bash
# install.sh: `make install PREFIX=/usr DESTDIR=...` into a temporary folder:
# the CLI, the man page, the library, its headers and suture.pc are there;
# each installed header compiles on its own; a small C program built only
# from the installed files (through the installed suture.pc, relocated with
# pkg-config --define-prefix) opens a generated model; `make uninstall`
# removes everything again.
. "$(dirname "$0")/lib.sh"
GEN=$TOOLS/suture-gen
# The build folder the suite runs from (tests/run exports BUILD).
BUILD_DIR=${BUILD:-$(basename "$(dirname "$SUTURE")")}
D=$T/dest
CC=${CC:-cc}

if ! command -v pkg-config >/dev/null; then
    skip install "pkg-config is not installed"
    finish
    exit
fi

make -C "$ROOT" -s BUILD="$BUILD_DIR" PREFIX=/usr DESTDIR="$D" install >"$T/make.log" 2>&1
rc=$?
if [ "$rc" != 0 ]; then
    fail install "make install: exit $rc" "$(tail -5 "$T/make.log")"
    finish
    exit
fi
ok install

missing=""
for f in bin/suture lib/libsuture.a share/man/man1/suture.1 lib/pkgconfig/suture.pc; do
    [ -f "$D/usr/$f" ] || missing="$missing $f"
done
for h in "$ROOT"/include/suture/*.h; do
    cmp -s "$h" "$D/usr/include/suture/$(basename "$h")" || missing="$missing include/suture/$(basename "$h")"
done
expect_eq install-files "${missing:-none missing}" "none missing"
expect_eq install-cli-executable "$([ -x "$D/usr/bin/suture" ] && echo yes)" "yes"

version=$("$SUTURE" --version)
expect_eq install-cli-runs "$("$D/usr/bin/suture" --version)" "$version"

if command -v groff >/dev/null; then
    expect_eq install-man-renders "$(groff -man -Tutf8 -ww -z "$D/usr/share/man/man1/suture.1" 2>&1)" ""
else
    skip install-man-renders "groff is not installed"
fi

export PKG_CONFIG_PATH=$D/usr/lib/pkgconfig
pc() { pkg-config --define-prefix "$@" suture; }
expect_eq install-pc-version "$(pc --modversion)" "${version#suture }"
expect_eq install-pc-relocated "$(pc --variable=includedir)" "$D/usr/include"

# A library built with sanitizers needs them when linking.
SAN=""
nm "$D/usr/lib/libsuture.a" 2>/dev/null | grep -q __asan_ && SAN="$SAN -fsanitize=address"
nm "$D/usr/lib/libsuture.a" 2>/dev/null | grep -q __ubsan_ && SAN="$SAN -fsanitize=undefined"

bad=""
for h in "$D"/usr/include/suture/*.h; do
    printf '#include <suture/%s>\n' "$(basename "$h")" >"$T/h.c"
    # shellcheck disable=SC2046
    "$CC" -std=c11 -Wall -Wextra -Werror -fsyntax-only $(pc --cflags) "$T/h.c" \
        >>"$T/cc.log" 2>&1 || bad="$bad $(basename "$h")"
done
expect_eq install-headers-alone "${bad:-all compile}" "all compile"

cat >"$T/layers.c" <<'EOF'
/* Prints the layer count of the model at argv[1]. */
#include <stdio.h>
#include <suture/model.h>

int main(int argc, char **argv)
{
    sut_error err;
    arch_table *t = arch_table_new(&err);
    model *m = t && argc == 2 ? model_open(argv[1], t, MODEL_STRICT, &err) : NULL;
    int rc = 0;

    if (!m) {
        fprintf(stderr, "layers: %s\n", argc == 2 ? err.msg : "usage: layers PATH");
        rc = 2;
    } else {
        printf("%s: %u layers, %s\n", argv[1], model_layer_count(m), model_arch(m)->name);
    }
    model_free(m);
    arch_table_free(t);
    return rc;
}
EOF
# shellcheck disable=SC2046
if "$CC" -std=c11 -Wall -Wextra -Werror $SAN -o "$T/layers" "$T/layers.c" $(pc --cflags --libs) \
    >"$T/cc.log" 2>&1; then
    ok install-link
    "$GEN" --preset qwen2 --layers 5 --shards 2 --seed 7 -o "$T/q" >/dev/null
    expect_eq install-program-runs "$("$T/layers" "$T/q" 2>&1)" "$T/q: 5 layers, qwen2"
    expect_eq install-program-error "$("$T/layers" "$T/none" 2>&1; echo "exit $?")" \
        "layers: $T/none: No such file or directory
exit 2"
else
    fail install-link "$(head -5 "$T/cc.log")"
fi

make -C "$ROOT" -s BUILD="$BUILD_DIR" PREFIX=/usr DESTDIR="$D" uninstall >"$T/make.log" 2>&1
expect_eq install-uninstall "$(cd "$D" && find . -type f | sort | tr '\n' ' ')" ""

finish
