# crash.sh: crash safety of build and in-place trim. A preloaded shim kills
# the process with SIGKILL at the Nth call of a file-system function
# (mkdir, write, pwrite, copy_file_range, fsync, rename, unlink, link): for
# every function the run calls, at its first, middle and last call. After
# each kill OUT is absent or complete (the old checkpoint intact when OUT was
# being replaced), the inputs are unchanged, and the next run removes (and
# reports) what the killed one left. Failed writes (RLIMIT_FSIZE with
# SIGXFSZ ignored) give exit 2, a message naming the file, and nothing left.
. tests/cli/lib.sh
GEN=$TOOLS/suture-gen
CC_SHIM=${CC_SHIM:-cc}

# ---- the kill shim ------------------------------------------------------------

cat >"$T/shim.c" <<'EOF'
/* SUTURE_KILL=FN:N kills the process at the Nth call of FN (before it
 * runs); SUTURE_COUNT=FILE writes "FN COUNT" lines at exit. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

enum { F_MKDIR, F_WRITE, F_PWRITE, F_CFR, F_FSYNC, F_RENAME, F_UNLINK, F_LINK, F_N };
static const char *names[F_N] = { "mkdir", "write", "pwrite", "copy_file_range",
                                  "fsync", "rename", "unlink", "link" };
static unsigned long counts[F_N];

static void hit(int f)
{
    static int target = -2;
    static unsigned long at;
    const char *k;
    unsigned long n = __atomic_add_fetch(&counts[f], 1, __ATOMIC_SEQ_CST);
    int i;

    if (target == -2) {
        target = -1;
        if ((k = getenv("SUTURE_KILL")))
            for (i = 0; i < F_N; i++) {
                size_t l = strlen(names[i]);
                if (strncmp(k, names[i], l) == 0 && k[l] == ':') {
                    target = i;
                    at = strtoul(k + l + 1, NULL, 10);
                }
            }
    }
    if (f == target && n == at)
        kill(getpid(), SIGKILL);
}

__attribute__((destructor)) static void report(void)
{
    const char *p = getenv("SUTURE_COUNT");
    FILE *f;
    int i;

    if (!p || !(f = fopen(p, "w")))
        return;
    for (i = 0; i < F_N; i++)
        fprintf(f, "%s %lu\n", names[i], counts[i]);
    fclose(f);
}

#define NEXT(ret, name, args) \
    static ret (*real)args; if (!real) real = (ret (*)args)dlsym(RTLD_NEXT, name)

int mkdir(const char *p, mode_t m)
{ NEXT(int, "mkdir", (const char *, mode_t)); hit(F_MKDIR); return real(p, m); }
ssize_t write(int fd, const void *b, size_t n)
{ NEXT(ssize_t, "write", (int, const void *, size_t)); if (fd > 2) hit(F_WRITE); return real(fd, b, n); }
ssize_t pwrite(int fd, const void *b, size_t n, off_t o)
{ NEXT(ssize_t, "pwrite", (int, const void *, size_t, off_t)); hit(F_PWRITE); return real(fd, b, n, o); }
ssize_t pwrite64(int fd, const void *b, size_t n, off_t o)
{ NEXT(ssize_t, "pwrite64", (int, const void *, size_t, off_t)); hit(F_PWRITE); return real(fd, b, n, o); }
ssize_t copy_file_range(int a, loff_t *ao, int b, loff_t *bo, size_t n, unsigned fl)
{ NEXT(ssize_t, "copy_file_range", (int, loff_t *, int, loff_t *, size_t, unsigned));
  hit(F_CFR); return real(a, ao, b, bo, n, fl); }
int fsync(int fd)
{ NEXT(int, "fsync", (int)); hit(F_FSYNC); return real(fd); }
int fdatasync(int fd)
{ NEXT(int, "fdatasync", (int)); hit(F_FSYNC); return real(fd); }
int rename(const char *a, const char *b)
{ NEXT(int, "rename", (const char *, const char *)); hit(F_RENAME); return real(a, b); }
int renameat(int d1, const char *a, int d2, const char *b)
{ NEXT(int, "renameat", (int, const char *, int, const char *)); hit(F_RENAME); return real(d1, a, d2, b); }
int renameat2(int d1, const char *a, int d2, const char *b, unsigned fl)
{ NEXT(int, "renameat2", (int, const char *, int, const char *, unsigned));
  hit(F_RENAME); return real(d1, a, d2, b, fl); }
int unlink(const char *p)
{ NEXT(int, "unlink", (const char *)); hit(F_UNLINK); return real(p); }
int unlinkat(int d, const char *p, int fl)
{ NEXT(int, "unlinkat", (int, const char *, int)); hit(F_UNLINK); return real(d, p, fl); }
int rmdir(const char *p)
{ NEXT(int, "rmdir", (const char *)); hit(F_UNLINK); return real(p); }
int link(const char *a, const char *b)
{ NEXT(int, "link", (const char *, const char *)); hit(F_LINK); return real(a, b); }
int linkat(int d1, const char *a, int d2, const char *b, int fl)
{ NEXT(int, "linkat", (int, const char *, int, const char *, int)); hit(F_LINK); return real(d1, a, d2, b, fl); }
EOF
if ! "$CC_SHIM" -shared -fPIC -O1 -o "$T/shim.so" "$T/shim.c" -ldl 2>"$T/shim.err"; then
    skip "crash" "cannot build the kill shim with $CC_SHIM: $(head -1 "$T/shim.err")"
    finish
    exit
fi
# Sanitized builds insist on their runtime coming first.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

# shim_run ENV... -- ARGS...: runs the CLI with the shim preloaded and the
# given variables; sets rc, out, err like run.
shim_run() {
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    # (in a subshell, so the shell's "Killed" notice goes nowhere)
    (env LD_PRELOAD="$T/shim.so" "${envs[@]}" "$SUTURE" "$@" >"$T/.out" 2>"$T/.err"
     exit $?) 2>/dev/null
    rc=$?
    out=$(cat "$T/.out")
    err=$(cat "$T/.err")
}

# points COUNTFILE: "FN:N" for the first, middle and last call of each
# function called.
points() {
    local fn n
    while read -r fn n; do
        [ "$n" -gt 0 ] || continue
        printf '%s\n' "$fn:1" "$fn:$(((n + 1) / 2))" "$fn:$n" | sort -u
    done <"$1"
}

# tree_sum DIR: one line per file (name and sha256), hidden files included.
tree_sum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

# leftovers DIR NAME: staging or set-aside folders of NAME in DIR.
leftovers() { find "$1" -maxdepth 1 -name ".$2.suture-*" | sort; }

# ---- build ------------------------------------------------------------------

"$GEN" --preset llama --layers 4 --shards 2 -o "$T/in" >/dev/null
tree_sum "$T/in" >"$T/in.sum"
SPEC='g[0:3], g[1:4]*o_proj=0.5'
B=(-m "g=$T/in" --slices "$SPEC" --shard-size 100KB -j 2)

# The reference is built where every run below writes (README.md names it).
mkdir -p "$T/b"
shim_run SUTURE_COUNT="$T/build.count" -- build "${B[@]}" -o "$T/b/out" --quiet
expect "build-reference" 0
tree_sum "$T/b/out" >"$T/ref.sum"
grep -q '^copy_file_range [1-9]\|^pwrite [1-9]\|^write [1-9]' "$T/build.count" &&
    ok "build-writes-counted" || fail "build-writes-counted" "$(cat "$T/build.count")"

# A kill anywhere leaves OUT absent or whole; the next run cleans up.
for p in $(points "$T/build.count"); do
    rm -rf "$T/b/out"
    shim_run SUTURE_KILL="$p" -- build "${B[@]}" -o "$T/b/out" --quiet
    expect "build-killed-at-$p" 137
    if [ ! -e "$T/b/out" ]; then
        ok "build-killed-at-$p-out-absent"
    else
        expect_eq "build-killed-at-$p-out-whole" "$(tree_sum "$T/b/out")" "$(cat "$T/ref.sum")"
    fi
    expect_eq "build-killed-at-$p-inputs" "$(tree_sum "$T/in")" "$(cat "$T/in.sum")"
    left=$(leftovers "$T/b" out)
    run build "${B[@]}" -o "$T/b/out" --force
    expect "build-killed-at-$p-rerun" 0
    if [ -n "$left" ]; then
        [[ "$out$err" == *"left by a run that no longer exists"* ]] &&
            ok "build-killed-at-$p-stale-reported" ||
            fail "build-killed-at-$p-stale-reported" "not reported: $left" "stdout: $out" "stderr: $err"
    fi
    expect_eq "build-killed-at-$p-clean" "$(leftovers "$T/b" out)" ""
    expect_eq "build-killed-at-$p-rerun-whole" "$(tree_sum "$T/b/out")" "$(cat "$T/ref.sum")"
done

# Replacing an existing OUT (--force): after a kill, OUT is the old folder
# or the new one, never neither.
rm -rf "$T/b/out"
"$SUTURE" build -m "g=$T/in" --slices 'g[0:2]' -o "$T/b/out" --quiet >/dev/null 2>&1
tree_sum "$T/b/out" >"$T/old.sum"
mv "$T/b/out" "$T/old"
cp -r "$T/old" "$T/b/out"
shim_run SUTURE_COUNT="$T/force.count" -- build "${B[@]}" -o "$T/b/out" --force --quiet
for p in $(grep '^rename\|^unlink\|^fsync' "$T/force.count" | points /dev/stdin); do
    rm -rf "$T/b"
    mkdir -p "$T/b"
    cp -r "$T/old" "$T/b/out"
    shim_run SUTURE_KILL="$p" -- build "${B[@]}" -o "$T/b/out" --force --quiet
    now=$(tree_sum "$T/b/out" 2>/dev/null)
    if [ "$now" == "$(cat "$T/old.sum")" ] || [ "$now" == "$(cat "$T/ref.sum")" ]; then
        ok "force-killed-at-$p-old-or-new"
    else
        fail "force-killed-at-$p-old-or-new" "OUT is neither the old nor the new folder" \
            "exit $rc; OUT: $(ls -a "$T/b/out" 2>&1 | tr '\n' ' ')" \
            "beside it: $(leftovers "$T/b" out | tr '\n' ' ')"
    fi
done

# ---- failed writes --------------------------------------------------------------

# limited KB ARGS...: runs the CLI with a file size limit of KB kilobytes and
# SIGXFSZ ignored (writes past it fail with EFBIG).
limited() {
    local kb=$1
    shift
    bash -c 'ulimit -f "$1"; trap "" XFSZ; shift; exec "$@"' _ "$kb" "$SUTURE" "$@" \
        >"$T/.out" 2>"$T/.err"
    rc=$?
    out=$(cat "$T/.out")
    err=$(cat "$T/.err")
}

rm -rf "$T/b"
mkdir -p "$T/b"
for kb in 1 40 70; do
    limited "$kb" build "${B[@]}" -o "$T/b/out" --quiet
    expect "write-fails-${kb}k" 2 "safetensors"
    if [[ "$err" == *"File too large"* ]]; then ok "write-fails-${kb}k-reason"; else
        fail "write-fails-${kb}k-reason" "stderr lacks: File too large" "stderr: $err"; fi
    expect_eq "write-fails-${kb}k-nothing" "$(ls -A "$T/b")" ""
    expect_eq "write-fails-${kb}k-inputs" "$(tree_sum "$T/in")" "$(cat "$T/in.sum")"
done

# ---- in-place trim ------------------------------------------------------------

"$GEN" --preset llama --layers 4 --shards 3 --redundant-head -o "$T/tied" >/dev/null
tree_sum "$T/tied" >"$T/tied.sum"
cp -r "$T/tied" "$T/trimmed"
shim_run SUTURE_COUNT="$T/trim.count" -- trim "$T/trimmed" --in-place
expect "trim-reference" 0
tree_sum "$T/trimmed" >"$T/trimmed.sum"
IDX_NEW=$(grep ' ./model.safetensors.index.json$' "$T/trimmed.sum")
# old files with the new index: the state between the two renames
grep -v ' ./model.safetensors.index.json$' "$T/tied.sum" | { cat; echo "$IDX_NEW"; } |
    sort -k2 >"$T/between.sum"

for p in $(points "$T/trim.count"); do
    rm -rf "$T/t"
    cp -r "$T/tied" "$T/t"
    shim_run SUTURE_KILL="$p" -- trim "$T/t" --in-place
    expect "trim-killed-at-$p" 137
    now=$(tree_sum "$T/t" | grep -v '/\.[^/]*\.suture-tmp-[0-9]*$' | sort -k2)
    if [ "$now" == "$(sort -k2 "$T/tied.sum")" ]; then
        ok "trim-killed-at-$p-old-intact"
    elif [ "$now" == "$(sort -k2 "$T/trimmed.sum")" ]; then
        ok "trim-killed-at-$p-new-whole"
    elif [ "$now" == "$(cat "$T/between.sum")" ]; then
        ok "trim-killed-at-$p-between-renames"
    else
        fail "trim-killed-at-$p-state" "the folder is neither old, new nor between the renames" "$now"
    fi
    left=$(find "$T/t" -name '.*.suture-tmp-*')
    run trim "$T/t" --in-place
    expect "trim-killed-at-$p-rerun" 0
    if [ -n "$left" ]; then
        expect_out "trim-killed-at-$p-stale-reported" "temporary file"
    fi
    expect_eq "trim-killed-at-$p-rerun-whole" "$(tree_sum "$T/t")" "$(cat "$T/trimmed.sum")"
done

mkdir -p "$T/tw"
cp -r "$T/tied" "$T/tw/m"
limited 40 trim "$T/tw/m" --in-place
expect "trim-write-fails" 2 "File too large"
expect_eq "trim-write-fails-old-intact" "$(tree_sum "$T/tw/m")" "$(cat "$T/tied.sum")"
finish
