# force.sh: what build and trim may write over (issue 10: --force never
# deletes an input, only replaces a folder suture could have written; the
# lock the kernel releases; staging names that fit NAME_MAX).
. "$(dirname "$0")/lib.sh"
GEN=$TOOLS/suture-gen

# run_locked FILE ARGS...: runs the CLI while another process holds the
# flock of FILE (as a live suture run would).
run_locked() {
    local f=$1
    shift
    flock "$f" "$SUTURE" "$@" >"$T/.out" 2>"$T/.err"
    rc=$?
    out=$(cat "$T/.out")
    err=$(cat "$T/.err")
}

# sums DIR: the checksums of DIR's files, symlinks followed.
sums() { (cd "$1" && md5sum -- * 2>&1); }

"$GEN" --preset llama --layers 4 --shards 2 -o "$T/store" >/dev/null

# (a) the hub-cache layout: lm holds config and index, its shards are links
# into store; OUT=store must not delete lm's weights.
mkdir "$T/lm"
cp "$T/store/config.json" "$T/store/model.safetensors.index.json" "$T/lm/"
for f in "$T"/store/*.safetensors; do ln -s "../store/$(basename "$f")" "$T/lm/"; done
sums "$T/lm" >"$T/lm.sum"
run build -m g="$T/lm" --slices 'g[0:2]' -o "$T/store" --force
expect force-hub-cache 2 "store: holds model-00001-of-00002.safetensors of input model 'g'"
expect_eq force-hub-cache-intact "$(sums "$T/lm")" "$(cat "$T/lm.sum")"

# (b) the input seen through a bind mount of OUT.
cp -r "$T/store" "$T/m2"
mkdir "$T/view"
if mount --bind "$T/m2" "$T/view" 2>/dev/null; then
    sums "$T/m2" >"$T/m2.sum"
    run build -m g="$T/view" --slices 'g[0:2]' -o "$T/m2" --force
    expect force-bind-mount 2 "m2: is the folder of input model 'g'"
    expect_eq force-bind-mount-intact "$(sums "$T/m2")" "$(cat "$T/m2.sum")"
    umount "$T/view"
else
    skip force-bind-mount "mount --bind needs root (or a mount namespace)"
fi

# the input through a symlink to OUT, and OUT inside the input through one
ln -s "$T/m2" "$T/m2-link"
run build -m g="$T/m2-link" --slices 'g[0:2]' -o "$T/m2" --force
expect force-symlinked-input 2 "m2: is the folder of input model 'g'"
run build -m g="$T/m2" --slices 'g[0:2]' -o "$T/m2-link/sub"
expect force-out-inside-through-link 2 "is inside the folder of input model 'g'"

# a project folder with a config.json is not a model folder suture wrote
mkdir -p "$T/proj/src" "$T/proj/.git"
echo '{}' >"$T/proj/config.json"
echo 'int main(void) { return 0; }' >"$T/proj/src/main.c"
run build -m g="$T/store" --slices 'g[0:2]' -o "$T/proj" --force
expect force-project-folder 2 "proj: holds '.git' (a folder), which suture does not write; not replacing it"
expect_eq force-project-untouched "$(cd "$T/proj" && find . | sort | tr '\n' ' ')" \
    ". ./.git ./config.json ./src ./src/main.c "
echo notes >"$T/proj2.txt"
mkdir "$T/proj2" && cp "$T/store/config.json" "$T/proj2.txt" "$T/proj2/"
run build -m g="$T/store" --slices 'g[0:2]' -o "$T/proj2" --force
expect force-other-file 2 "proj2: holds 'proj2.txt' (not a model file), which suture does not write"

# a folder suture wrote is replaced
run build -m g="$T/store" --slices 'g[0:2]' -o "$T/out"
expect force-first 0
run build -m g="$T/store" --slices 'g[0:3]' -o "$T/out" --force
expect force-replaces-own 0
expect force-replaced-said 0 "note: replaced the existing $T/out"

# a live run holds OUT's lock: refused; a dead run's leftovers are removed
# whatever pid they name (pid 1 lives again after a reboot)
run_locked "$T/.busy.suture-lock" build -m g="$T/store" --slices 'g[0:2]' -o "$T/busy"
expect force-build-locked 2 "another suture process is building $T/busy"
expect_eq force-build-locked-nothing "$(ls -d "$T/busy" 2>/dev/null)" ""
mkdir "$T/.busy.suture-tmp-1" && touch "$T/.busy.suture-tmp-1/model.safetensors"
run build -m g="$T/store" --slices 'g[0:2]' -o "$T/busy"
expect force-stale-pid-1 0 "note: removed $T/.busy.suture-tmp-1, left by a run that no longer exists (pid 1)"
expect_eq force-stale-gone "$(ls -A "$T" | grep -c '^\.busy\.')" 0

# a legal 250-byte name: the staging names fit NAME_MAX too
long=$(printf 'n%.0s' $(seq 250))
run build -m g="$T/store" --slices 'g[0:2]' -o "$T/$long"
expect force-long-name 0
expect_eq force-long-name-clean "$(ls -A "$T" | grep -c '^\.')" 2  # .out, .err

# two in-place trims of one folder: the second refuses
"$GEN" --preset llama --layers 2 --redundant-head -o "$T/tied" >/dev/null
sums "$T/tied" >"$T/tied.sum"
ln -s "$T/tied" "$T/tied-link"
run trim "$T/tied" -o "$T/tied-link/trimmed"
expect trim-out-inside-through-link 2 "inside the input folder"
run_locked "$T/tied" trim "$T/tied" --in-place
expect trim-locked 2 "another suture process is trimming $T/tied"
expect_eq trim-locked-untouched "$(sums "$T/tied")" "$(cat "$T/tied.sum")"
run trim "$T/tied" --in-place
expect trim-after-lock 0
finish
