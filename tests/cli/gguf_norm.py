"""gguf_norm.py: reads `suture inspect --json --tensors` of one GGUF file on
stdin and prints it in the form gguf_oracle.js prints (type ids from the
names through the table given as argv[1:], NAME=ID).
gguf_norm.py --same A B prints True when the two printed forms agree."""
import json
import math
import sys


def same(a, b):
    """a equals b, floats within 1e-12 relative (cJSON prints 15 digits)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


if sys.argv[1:2] == ["--same"]:
    print(same(json.loads(sys.argv[2]), json.loads(sys.argv[3])))
    sys.exit(0)

ids = dict(a.split("=") for a in sys.argv[1:])
d = json.load(sys.stdin)
f = d["files"][0]
out = {"version": f["version"], "data_start": f["data_start"], "keys": [], "tensors": []}
for k, v in d["metadata"].items():
    if isinstance(v, dict):
        out["keys"].append([k, "array", v["element_type"], v["count"]])
    else:
        out["keys"].append([k, v])
for t in d["tensors"]:
    out["tensors"].append([t["name"], int(ids[t["type"]]), t["shape"], t["offset"]])
print(json.dumps(out))
