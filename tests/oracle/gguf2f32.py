"""Writes a copy of a GGUF file with every tensor dequantized to F32 by
gguf-py (llama.cpp's Python package: an implementation independent of
suture's), metadata kept. With it, llama.cpp's F32 path is the oracle for
suture reading F16, BF16 and Q8_0 tensors directly (llama.cpp's own F16 and
Q8_0 matrix products round the activations too).

usage: PYTHONPATH=.../gguf-py python3 gguf2f32.py IN.gguf OUT.gguf
"""
import sys

import numpy as np
import gguf
from gguf.constants import GGUFValueType as VT


def value(field):
    vt = field.types[0]
    if vt == VT.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    if vt == VT.ARRAY:
        sub = field.types[1] if len(field.types) > 1 else None
        if sub == VT.STRING:
            return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    return field.parts[field.data[0]].tolist()[0]


def main(src, dst):
    r = gguf.GGUFReader(src)
    arch = value(r.fields["general.architecture"])
    w = gguf.GGUFWriter(dst, arch)
    for f in r.fields.values():
        if f.name == "general.architecture" or f.name.startswith("GGUF."):
            continue
        w.add_key_value(f.name, value(f), f.types[0])
    for t in r.tensors:
        shape = list(reversed([int(n) for n in t.shape]))
        data = gguf.quants.dequantize(t.data, t.tensor_type)
        w.add_tensor(t.name, np.asarray(data, dtype=np.float32).reshape(shape))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
