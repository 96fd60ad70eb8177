"""HF gemma / phi3 / llama-with-rope_scaling folder -> F32 GGUF, for the
llama.cpp oracle (what ../shared/oracles/py/hf2gguf_any.py does not convert).

usage: /usr/bin/python3 hf2gguf_extra.py MODEL_DIR OUT.gguf
Needs numpy and llama.cpp's gguf-py on PYTHONPATH. Follows llama.cpp's own
converter (convert_hf_to_gguf.py): gemma norm weights stored as (w + 1), no
lm_head (tied); phi3's fused qkv_proj and gate_up_proj kept fused (attn_qkv,
ffn_up), rope.dimension_count = head_dim x partial_rotary_factor, the sliding
window in metadata, the head written out even when tied. NEOX rotary: no q/k
permutation. llama: q/k rows permuted to llama.cpp's rotary layout; rope_scaling
"linear" as scaling type and factor, "llama3" as the rope_freqs tensor of
per-frequency divisors, computed as llama.cpp's converter does. A placeholder
vocab of vocab_size tokens is written.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import gguf


def read_folder(src):
    """name -> float32 array, for model.safetensors or an index's shards."""
    idx = os.path.join(src, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) \
        else ["model.safetensors"]
    out = {}
    for fn in files:
        path = os.path.join(src, fn)
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            h = json.loads(f.read(n))
        for k, v in h.items():
            if k == "__metadata__":
                continue
            b, e = v["data_offsets"]
            raw = np.fromfile(path, dtype=np.uint8, count=e - b, offset=8 + n + b)
            if v["dtype"] == "F32":
                a = raw.view(np.float32)
            elif v["dtype"] == "F16":
                a = raw.view(np.float16).astype(np.float32)
            elif v["dtype"] == "BF16":
                a = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                raise SystemExit("%s: dtype %s not handled" % (k, v["dtype"]))
            out[k] = a.reshape(v["shape"]).astype(np.float32)
    return out


def permute(w, n_head):
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_factors(rs, hd, theta):
    factor, lo, hi = rs["factor"], rs.get("low_freq_factor", 1.0), rs.get("high_freq_factor", 4.0)
    old = rs.get("original_max_position_embeddings", 8192)
    out = []
    for i in range(0, hd, 2):
        freq = 1.0 / (theta ** (i / hd))
        wavelen = 2 * math.pi / freq
        if wavelen < old / hi:
            out.append(1.0)
        elif wavelen > old / lo:
            out.append(factor)
        else:
            smooth = (old / wavelen - lo) / (hi - lo)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def main(src, out):
    cfg = json.load(open(os.path.join(src, "config.json")))
    mt = cfg["model_type"]
    arch = {"gemma": gguf.MODEL_ARCH.GEMMA, "phi3": gguf.MODEL_ARCH.PHI3,
            "llama": gguf.MODEL_ARCH.LLAMA}[mt]
    H, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nh
    hd = cfg.get("head_dim") or H // nh
    w = gguf.GGUFWriter(out, gguf.MODEL_ARCH_NAMES[arch])
    w.add_block_count(L)
    w.add_context_length(cfg.get("max_position_embeddings", 2048))
    w.add_embedding_length(H)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(cfg.get("rope_theta", 10000.0))
    w.add_file_type(0)
    rs = cfg.get("rope_scaling") or {}
    rtype = rs.get("rope_type", rs.get("type"))
    if mt == "gemma":
        w.add_key_length(hd)
        w.add_value_length(hd)
    elif mt == "llama":
        w.add_rope_dimension_count(hd)
        if rtype == "linear":
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(rs["factor"])
    else:
        w.add_rope_dimension_count(int(hd * cfg.get("partial_rotary_factor", 1.0)))
        w.add_sliding_window(cfg.get("sliding_window") or cfg.get("max_position_embeddings", 4096))
    V = cfg["vocab_size"]
    w.add_tokenizer_model("llama")
    w.add_token_list([b"<t%d>" % i for i in range(V)])
    w.add_token_scores([0.0] * V)
    w.add_token_types([3 if i == 0 else (2 if i in (1, 2) else 1) for i in range(V)])
    w.add_bos_token_id(cfg.get("bos_token_id") or 1)
    w.add_eos_token_id(cfg.get("eos_token_id") or 2)
    tmap = gguf.get_tensor_name_map(arch, L)
    T = read_folder(src)
    tied = cfg.get("tie_word_embeddings", mt == "gemma")
    if mt == "phi3" and tied:
        T["lm_head.weight"] = T["model.embed_tokens.weight"]
    for k in sorted(T):
        if mt == "gemma" and k == "lm_head.weight":
            continue
        g = tmap.get_name(k, try_suffixes=(".weight", ".bias"))
        if g is None and k.endswith("rotary_emb.inv_freq"):
            continue
        if g is None:
            raise SystemExit("%s: no GGUF name" % k)
        a = T[k]
        if mt == "llama" and k.endswith("q_proj.weight"):
            a = permute(a, nh)
        elif mt == "llama" and k.endswith("k_proj.weight"):
            a = permute(a, nkv)
        if mt == "gemma" and k.endswith("norm.weight"):
            a = a + 1.0
        w.add_tensor(g, a.astype(np.float32))
    if mt == "llama" and rtype == "llama3":
        w.add_tensor(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight",
                     llama3_factors(rs, hd, cfg.get("rope_theta", 10000.0)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
