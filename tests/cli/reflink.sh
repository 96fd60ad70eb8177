# reflink.sh: builds and trims on a loop-mounted XFS image share the
# sources' blocks: every shard is one the reference rules accept
# (tools/st_read.py, an independent reader) and `suture verify` proves, and
# the new blocks the file system used (df after sync) are at most 2% of the
# output. Needs root, mkfs.xfs and a loop device; skipped with a message
# otherwise (CI installs xfsprogs).
. tests/cli/lib.sh
GEN=$TOOLS/suture-gen
ST_READ="python3 $ROOT/tools/st_read.py"
MNT=$T/mnt
trap 'umount "$MNT" 2>/dev/null; rm -rf "$T"' EXIT

# On the ordinary disk (where the file system may not clone): the same
# layout, every byte accounted for as shared or copied, read by the
# reference rules and proven by verify.
"$GEN" --preset llama --layers 4 --hidden 512 --intermediate 1024 --heads 8 --kv-heads 4 \
    --vocab 2048 --shards 2 --seed 6 -o "$T/d" >/dev/null || fail gen "suture-gen failed"
run build -m "a=$T/d" --slices 'a[0:3], a[1:4]' -o "$T/dup" --json
expect disk-upscale 0
expect_eq disk-upscale-bytes "$(printf '%s' "$out" | pyjson 'd["bytes_shared"] + d["bytes_copied"] == d["data_bytes"]')" True
expect_eq disk-upscale-reference "$($ST_READ "$T/dup" | pyjson '(d["layer_count"], d["tensor_count"])')" \
    "$(printf '%s' "$out" | pyjson '(d["layer_count"], d["tensor_count"])')"
run verify "$T/dup"
expect disk-upscale-verify 0

why=
if [ "$(id -u)" != 0 ]; then
    why="not root (loop mounts need it)"
elif ! command -v mkfs.xfs >/dev/null; then
    why="mkfs.xfs not installed (xfsprogs)"
else
    mkdir -p "$MNT"
    truncate -s 1G "$T/xfs.img"
    if ! mkfs.xfs -q "$T/xfs.img" 2>"$T/.mkfs"; then
        why="mkfs.xfs failed: $(head -1 "$T/.mkfs")"
    elif ! mount -o loop "$T/xfs.img" "$MNT" 2>"$T/.mount"; then
        why="no loop mount: $(head -1 "$T/.mount")"
    fi
fi
if [ -n "$why" ]; then
    skip reflink "$why"
    finish
    exit 0
fi

# used_kb: the file system's used space in KiB, after sync.
used_kb() {
    sync
    df -Pk "$MNT" | awk 'NR == 2 { print $3 }'
}

# small_share NEW_KB BYTES: "yes" when NEW_KB KiB is at most 2% of BYTES.
small_share() {
    awk -v k="$1" -v b="$2" 'BEGIN { print (k * 1024 <= 0.02 * b) ? "yes" : "no (" k " KiB new of " b " bytes)" }'
}

shard_bytes() {
    cat "$1"/*.safetensors | wc -c
}

# check NAME DIR BEFORE_KB: the shards read by the reference rules, verify
# proves them, the new blocks stay under 2%, --json counted the sharing.
check() {
    local name=$1 dir=$2 before=$3 new bytes
    new=$(( $(used_kb) - before ))
    bytes=$(shard_bytes "$dir")
    expect_eq "$name-shared" "$(printf '%s' "$out" |
        pyjson 'd["bytes_shared"] + d["bytes_copied"] == d["data_bytes"] and d["bytes_shared"] >= 0.98 * d["data_bytes"]')" True
    expect_eq "$name-new-blocks" "$(small_share "$new" "$bytes")" yes
    if $ST_READ "$dir" >"$T/.st" 2>"$T/.sterr"; then
        expect_eq "$name-reference" "$(pyjson 'd["data_bytes"]' <"$T/.st")" \
            "$(printf '%s' "$out" | pyjson 'd["data_bytes"]')"
    else
        fail "$name-reference" "$(cat "$T/.sterr")"
    fi
    run verify "$dir"
    expect "$name-verify" 0
    expect_out "$name-verify-all" "all match"
}

M=$MNT/m
"$GEN" --preset llama --layers 4 --hidden 2048 --intermediate 1024 --heads 16 --kv-heads 2 \
    --vocab 2048 --shards 2 --seed 3 -o "$M" >/dev/null || fail gen "suture-gen failed"

before=$(used_kb)
run build -m "a=$M" --slices 'a[0:4]' -o "$MNT/id" --json
expect identity 0
check identity "$MNT/id" "$before"
expect_eq identity-extents "$(filefrag -v "$MNT/id"/model-00001-of-*.safetensors | grep -c shared)" 1

before=$(used_kb)
run build -m "a=$M" --slices 'a[0:3], a[1:4]' -o "$MNT/up" --json
expect upscale 0
check upscale "$MNT/up" "$before"
expect_eq upscale-layers "$($ST_READ "$MNT/up" | pyjson 'd["layer_count"]')" 6

# the same recipe with converted tensors: nothing to share, nothing wrong
run build -m "a=$M" --slices 'a[0:3], a[1:4]' --dtype f16 -o "$MNT/f16" --json
expect_eq converted "$(printf '%s' "$out" | pyjson '(d["bytes_shared"], d["bytes_copied"] == d["data_bytes"])')" "(0, True)"
run verify "$MNT/f16"
expect converted-verify 0
rm -rf "$MNT/f16"

G=$MNT/g
"$GEN" --preset gemma2 --layers 2 --hidden 2048 --intermediate 1024 --heads 16 --kv-heads 2 \
    --vocab 2048 --shards 2 --redundant-head --seed 4 -o "$G" >/dev/null || fail gen "suture-gen failed"
before=$(used_kb)
run trim "$G" -o "$MNT/gt" --json
expect trim 0
new=$(( $(used_kb) - before ))
expect_eq trim-shared "$(printf '%s' "$out" | pyjson 'd["trimmed"] and d["bytes_shared"] > 50 * d["bytes_copied"]')" True
expect_eq trim-new-blocks "$(small_share "$new" "$(shard_bytes "$MNT/gt")")" yes
if $ST_READ "$MNT/gt" >"$T/.st" 2>"$T/.sterr"; then
    expect_eq trim-reference "$(pyjson '(d["data_bytes"], "lm_head.weight" in str(d))' <"$T/.st")" \
        "($(( $($ST_READ "$G" | pyjson 'd["data_bytes"]') - 2048 * 2048 * 2 )), False)"
else
    fail trim-reference "$(cat "$T/.sterr")"
fi
run audit "$MNT/gt"
expect trim-audit 0

finish
