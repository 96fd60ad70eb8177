# trim.sh: `suture trim` golden cases: usage, the gemma fixtures to a new
# folder and in place, a sharded model, a differing head, refusals.
. tests/cli/lib.sh
GEN=$TOOLS/suture-gen

# same_but A B SHARD GONE: prints "same" when every tensor of A/SHARD but
# GONE is in B/SHARD with the same dtype, shape and bytes, and GONE is not.
same_but() { python3 - "$@" <<'PY'
import json, struct, sys
def read(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop('__metadata__', None)
    return {k: (v['dtype'], v['shape'], b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]])
            for k, v in h.items()}
a, b = read(sys.argv[1] + '/' + sys.argv[3]), read(sys.argv[2] + '/' + sys.argv[3])
gone = sys.argv[4]
ok = gone in a and gone not in b and all(b.get(k) == v for k, v in a.items() if k != gone) \
     and len(b) == len(a) - 1
print('same' if ok else 'differs')
PY
}

run trim --help
expect "help" 0
expect_out "help-text" "usage: suture trim PATH (-o OUT | --in-place)"
run trim
expect "no-path" 2 "suture trim: no PATH given"
run trim x
expect "no-mode" 2 "give exactly one of -o OUT and --in-place"
run trim x -o y --in-place
expect "both-modes" 2 "give exactly one of -o OUT and --in-place"
run trim "$T/none" --in-place
expect "missing-path" 2 "not a model folder"

if have_fixtures; then
    for g in tiny-gemma tiny-gemma2 tiny-gemma3; do
        run trim "$FIX/hf/$g" -o "$T/$g"
        expect "$g" 0
        expect_out "$g-said" "removed 'lm_head.weight' from model.safetensors: 104 parameters, 416 B"
        expect_eq "$g-tensors" "$(same_but "$FIX/hf/$g" "$T/$g" model.safetensors lm_head.weight)" "same"
        expect_eq "$g-config" "$(cmp "$FIX/hf/$g/config.json" "$T/$g/config.json" && echo same)" "same"
        run audit --strict "$T/$g"
        expect "$g-audits-clean" 0
    done
    run trim "$FIX/hf/tiny-gemma" -o "$T/tiny-gemma"
    expect "existing-out" 2 "already exists; trim never replaces a folder"
    run trim "$FIX/hf/tiny-llama" -o "$T/llama"
    expect "untied" 0
    expect_out "untied-said" "nothing to trim: $FIX/hf/tiny-llama: config.json does not tie 'lm_head.weight' to the embeddings: loaders use it (no output written)"
    expect_eq "untied-no-out" "$([ -e "$T/llama" ] && echo exists || echo absent)" "absent"
    mkdir "$T/inplace"
    cp "$FIX/hf/tiny-gemma2/"* "$T/inplace/"
    run trim "$T/inplace" --in-place
    expect "in-place" 0
    expect_out "in-place-said" "trimmed in place: $T/inplace"
    expect_eq "in-place-tensors" "$(same_but "$FIX/hf/tiny-gemma2" "$T/inplace" model.safetensors lm_head.weight)" "same"
    expect_eq "in-place-no-temp" "$(ls -A "$T/inplace" | tr '\n' ' ')" "config.json model.safetensors "
    run trim "$T/inplace" --in-place
    expect "in-place-again" 0
    expect_out "in-place-again-said" "nothing to trim: $T/inplace: no 'lm_head.weight' is stored"
else
    skip "fixtures" "no fixtures at $FIX"
fi

if [ -x "$GEN" ]; then
    "$GEN" --preset gemma2 --layers 4 --shards 2 --redundant-head -o "$T/g" >/dev/null
    run trim "$T/g" -o "$T/g-out"
    expect "sharded" 0
    expect_out "sharded-said" "removed 'lm_head.weight' from model-00002-of-00002.safetensors"
    expect_eq "sharded-tensors" "$(same_but "$T/g" "$T/g-out" model-00002-of-00002.safetensors lm_head.weight)" "same"
    expect_eq "sharded-other-shard" "$(cmp "$T/g/model-00001-of-00002.safetensors" "$T/g-out/model-00001-of-00002.safetensors" && echo same)" "same"
    expect_eq "sharded-index" "$(pyjson "'lm_head.weight' in d['weight_map'], d['metadata']['total_size'] == sum(__import__('os').path.getsize('$T/g-out/' + f) for f in set(d['weight_map'].values())) - sum(8 + int.from_bytes(open('$T/g-out/' + f, 'rb').read(8), 'little') for f in set(d['weight_map'].values()))" < "$T/g-out/model.safetensors.index.json")" \
        "(False, True)"
    run audit --strict "$T/g-out"
    expect "sharded-audits-clean" 0
    cp -r "$T/g" "$T/differs"
    python3 - "$T/differs/model-00002-of-00002.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
b[8 + n + json.loads(b[8:8 + n])['lm_head.weight']['data_offsets'][0]] ^= 0x55
open(p, 'wb').write(b)
PY
    run audit "$T/differs"
    expect "differs-audit" 1
    expect_out "differs-audit-finding" "error tied-head-conflict:"
    run trim "$T/differs" --in-place
    expect "differs-refused" 2 "'lm_head.weight' differs from 'model.embed_tokens.weight' (tied-head-conflict)"
    run trim "$T/differs" --in-place --force
    expect "differs-forced" 0
    expect_out "differs-forced-said" "dropped 'lm_head.weight' although it differs from the embeddings (--force)"
    run audit --strict "$T/differs"
    expect "differs-audits-clean" 0
    run trim "$T/g" -o "$T/g/inside"
    expect "out-inside-input" 2 "inside the input folder"
else
    skip "generated" "no $GEN"
fi
finish
