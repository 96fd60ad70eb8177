#!/usr/bin/env python3
"""mergekit_check.py: checks a model built from a mergekit passthrough config
against what mergekit would build, computed here independently of suture.

    python3 tests/cli/mergekit_check.py OUT EXPECT.json

EXPECT.json: {"models": {NAME: PATH}, "slices": [{"model": NAME,
"layer_range": [a, b], "scale": S}]} where S is mergekit's `scale` parameter
as written in the config (absent, a number, a gradient list, or a list of
{"filter", "value"}). mergekit's passthrough: output layer i is source layer
a + k of slice j; each tensor is multiplied by the scale evaluated for its
full name (first entry whose filter is a substring, an entry without filter
matching all) at t = k / (n - 1), t = 1 for a one-layer slice (mergekit's
plan), a gradient list interpolated linearly over t (np.interp over evenly
spaced points); F32 products are rounded to F32. Embeddings come from the first slice's model, the final norm
and lm_head from the last slice's. Prints "ok N tensors" or the first
difference, exit 1.
"""
import json
import os
import struct
import sys

LAYER = "model.layers."


def read_model(path):
    """{name: (dtype, shape, bytes)} for a folder (index or single file)."""
    idx = os.path.join(path, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) \
        if os.path.exists(idx) else ["model.safetensors"]
    out = {}
    for f in files:
        with open(os.path.join(path, f), "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            head = json.loads(fh.read(n))
            base = 8 + n
            for name, t in head.items():
                if name == "__metadata__":
                    continue
                a, b = t["data_offsets"]
                fh.seek(base + a)
                out[name] = (t["dtype"], t["shape"], fh.read(b - a))
    return out


def interp(values, t):
    if not isinstance(values, list):
        return float(values)
    if len(values) == 1:
        return float(values[0])
    pos = t * (len(values) - 1)
    i = min(int(pos), len(values) - 2)
    frac = pos - i
    return values[i] * (1 - frac) + values[i + 1] * frac


def scale_for(scale, name, t):
    if scale is None:
        return 1.0
    if isinstance(scale, list) and scale and isinstance(scale[0], dict):
        for rule in scale:
            f = rule.get("filter")
            if f is None or f in name:
                return interp(rule["value"], t)
        return 1.0
    return interp(scale, t)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def scaled(data, dtype, s):
    if s == 1.0:
        return data
    assert dtype == "F32", "this checker scales F32 tensors only"
    n = len(data) // 4
    vals = struct.unpack("<%df" % n, data)
    return struct.pack("<%df" % n, *(f32(v * f32(s)) for v in vals))


def expected(spec):
    models = {k: read_model(v) for k, v in spec["models"].items()}
    want = {}
    out_layer = 0
    for sl in spec["slices"]:
        m = models[sl["model"]]
        a, b = sl["layer_range"]
        n = b - a
        for k in range(n):
            t = k / (n - 1) if n > 1 else 1.0
            prefix = "%s%d." % (LAYER, a + k)
            for name, (dt, shape, data) in m.items():
                if name.startswith(prefix):
                    s = scale_for(sl.get("scale"), name, t)
                    new = "%s%d.%s" % (LAYER, out_layer, name[len(prefix):])
                    want[new] = (dt, shape, scaled(data, dt, s))
            out_layer += 1
    first = models[spec["slices"][0]["model"]]
    last = models[spec["slices"][-1]["model"]]
    for name in first:
        if not name.startswith(LAYER) and name != "model.norm.weight" \
                and name != "lm_head.weight":
            want[name] = first[name]
    for name in ("model.norm.weight", "lm_head.weight"):
        if name in last:
            want[name] = last[name]
    return want


def main():
    out, spec = sys.argv[1], json.load(open(sys.argv[2]))
    got, want = read_model(out), expected(spec)
    if set(got) != set(want):
        print("tensor sets differ: extra %s, missing %s" % (
            sorted(set(got) - set(want))[:5], sorted(set(want) - set(got))[:5]))
        return 1
    for name in sorted(want):
        if got[name] != want[name]:
            print("tensor %s differs from mergekit's" % name)
            return 1
    print("ok %d tensors" % len(want))
    return 0


if __name__ == "__main__":
    sys.exit(main())
