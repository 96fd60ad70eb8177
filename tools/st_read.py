#!/usr/bin/env python3
"""st_read.py: an independent safetensors / Hugging Face folder reader.

    python3 tools/st_read.py PATH [--digests]

PATH is a .safetensors file, a model.safetensors.index.json, or a folder
holding either (an index is followed to its shards). Prints one JSON object:

    tensor_count     number of tensors over all files
    parameter_count  sum of the products of the shapes
    data_bytes       sum of the tensors' byte sizes
    layer_count      1 + the highest index of the layer container (the
                     "<prefix>.N." that holds most tensors), 0 when none
    dtypes           {dtype name: number of tensors}
    files            [{name, tensors, bytes}] sorted by name
    digests          {tensor name: sha256 of its bytes}, with --digests

Written from the format's description only (stdlib: json, struct, os), to
check the C library against. A file that breaks the format's rules is an
error: a message on stderr and exit status 2.
"""
import hashlib
import json
import os
import re
import struct
import sys

HEADER_MAX = 100_000_000
BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16,
    "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64,
    "U64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}


class FormatError(Exception):
    pass


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise FormatError("duplicate key in JSON")
    return dict(pairs)


def whole(x):
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 2**53


def read_header(path):
    """The tensors of one file: [(name, dtype, shape, begin, end)] in header
    order, and the absolute offset of the data section."""
    name = os.path.basename(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise FormatError(f"{name}: shorter than 8 bytes")
        n = struct.unpack("<Q", raw)[0]
        if n > HEADER_MAX or 8 + n > size:
            raise FormatError(f"{name}: header length {n} does not fit")
        text = f.read(n)
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"{name}: header is not JSON: {e}")
    if not isinstance(header, dict):
        raise FormatError(f"{name}: header is not an object")
    tensors = []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        tensors.append(check_entry(name, key, entry))
    check_offsets(name, tensors, size - 8 - n)
    return tensors, 8 + n


def check_entry(name, key, entry):
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise FormatError(f"{name}: tensor '{key}': needs dtype, shape and data_offsets")
    dtype, shape, offs = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in BITS:
        raise FormatError(f"{name}: tensor '{key}': unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(whole(d) for d in shape):
        raise FormatError(f"{name}: tensor '{key}': bad shape")
    if not (isinstance(offs, list) and len(offs) == 2 and all(whole(o) for o in offs)
            and offs[0] <= offs[1]):
        raise FormatError(f"{name}: tensor '{key}': bad data_offsets")
    elements = 1
    for d in shape:
        elements *= d
    bits = elements * BITS[dtype]
    if bits % 8 or bits // 8 != offs[1] - offs[0]:
        raise FormatError(f"{name}: tensor '{key}': shape and data_offsets disagree")
    return key, dtype, shape, offs[0], offs[1]


def check_offsets(name, tensors, data_len):
    at = 0
    for key, _, _, begin, end in sorted(tensors, key=lambda t: (t[3], t[4])):
        if begin != at:
            raise FormatError(f"{name}: tensor '{key}': data_offsets leave a hole or overlap")
        at = end
    if at != data_len:
        raise FormatError(f"{name}: data section is {data_len} bytes, tensors cover {at}")


def shard_files(path):
    """The files to read, and the index's weight_map (or None)."""
    if os.path.isdir(path):
        index = os.path.join(path, "model.safetensors.index.json")
        single = os.path.join(path, "model.safetensors")
        if os.path.exists(index):
            path = index
        elif os.path.exists(single):
            return [single], None
        else:
            found = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
            if len(found) != 1:
                raise FormatError(f"{path}: no model.safetensors or index")
            return [os.path.join(path, found[0])], None
    if not path.endswith(".json"):
        return [path], None
    with open(path, "rb") as f:
        index = json.loads(f.read().decode("utf-8"), object_pairs_hook=no_duplicates)
    wmap = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wmap, dict):
        raise FormatError(f"{os.path.basename(path)}: no weight_map object")
    folder = os.path.dirname(path)
    for file in wmap.values():
        if not isinstance(file, str) or "/" in file or file in ("", ".", ".."):
            raise FormatError(f"{os.path.basename(path)}: weight_map names {file!r}")
    return [os.path.join(folder, f) for f in sorted(set(wmap.values()))], wmap


def layer_count(names):
    """1 + the highest index of the container "<prefix>.N." holding most
    tensors (the first numbered component of each name)."""
    holders = {}
    for name in names:
        m = re.match(r"^(.*?)(?:^|\.)(\d+)\.", name)
        if m:
            holders.setdefault(m.group(1), []).append(int(m.group(2)))
    if not holders:
        return 0
    best = max(holders.values(), key=len)
    return 1 + max(best)


def read(path, digests=False):
    files, wmap = shard_files(path)
    out = {"tensor_count": 0, "parameter_count": 0, "data_bytes": 0,
           "layer_count": 0, "dtypes": {}, "files": []}
    names, hashes = [], {}
    for file in files:
        tensors, start = read_header(file)
        base = os.path.basename(file)
        for key, dtype, shape, begin, end in tensors:
            if wmap is not None and wmap.get(key) != base:
                raise FormatError(f"{base}: tensor '{key}' is not in the index under this file")
            elements = 1
            for d in shape:
                elements *= d
            out["tensor_count"] += 1
            out["parameter_count"] += elements
            out["data_bytes"] += end - begin
            out["dtypes"][dtype] = out["dtypes"].get(dtype, 0) + 1
            names.append(key)
            if digests:
                hashes[key] = digest(file, start + begin, end - begin)
        out["files"].append({"name": base, "tensors": len(tensors),
                             "bytes": sum(t[4] - t[3] for t in tensors)})
    if wmap is not None and len(wmap) != len(names):
        raise FormatError("index names tensors that no shard holds")
    if len(set(names)) != len(names):
        raise FormatError("a tensor name occurs in two files")
    out["layer_count"] = layer_count(names)
    if digests:
        out["digests"] = hashes
    return out


def digest(path, offset, length):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        while length > 0:
            chunk = f.read(min(length, 1 << 20))
            if not chunk:
                raise FormatError(f"{os.path.basename(path)}: unexpected end of file")
            h.update(chunk)
            length -= len(chunk)
    return h.hexdigest()


def main(argv):
    args = [a for a in argv[1:] if a != "--digests"]
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: st_read.py PATH [--digests]", file=sys.stderr)
        return 2
    try:
        result = read(args[0], "--digests" in argv[1:])
    except (FormatError, OSError, ValueError) as e:
        print(f"st_read: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
