#!/usr/bin/env python3
"""llama_forward.py: a pure-python Llama forward pass (stdlib only).

    python3 tools/llama_forward.py MODEL_DIR --tokens 1,2,3 [--all]
        prints the logits of the last position (every position with --all)
        as JSON;
    python3 tools/llama_forward.py MODEL_DIR --tokens 1 --generate N
        prints the N greedy (argmax) continuation token ids as JSON;
    python3 tools/llama_forward.py MODEL_DIR --tokenizer tok512.bin
            [--prompt TEXT] --steps N
        runs greedy generation as llama2.c's `run -t 0 -n N` does and prints
        the text (llama2.c tokenizer format).

The transformers conventions of LlamaForCausalLM (also Mistral and Qwen2,
whose layers are the same with optional q/k/v biases): RMSNorm, rotary
embedding in the half layout (rotate_half), grouped-query attention, SiLU
MLP, and an lm_head that is the embedding matrix when the config ties them
or the checkpoint has none. Reads F32, F16 and BF16 safetensors (a file, or a
folder with model.safetensors or an index); arithmetic is in double
precision. Used to show that a checkpoint built by suture computes what its
source does.
"""
import json
import math
import os
import struct
import sys
from operator import mul

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_read import FormatError, read_header, shard_files  # noqa: E402


def decode(dtype, raw):
    """The elements of raw (little-endian) as python floats."""
    n = len(raw)
    if dtype == "F32":
        return list(struct.unpack(f"<{n // 4}f", raw))
    if dtype == "F16":
        return list(struct.unpack(f"<{n // 2}e", raw))
    if dtype == "BF16":
        halves = struct.unpack(f"<{n // 2}H", raw)
        return list(struct.unpack(f"<{n // 2}f", struct.pack(f"<{n // 2}I", *(h << 16 for h in halves))))
    raise FormatError(f"dtype {dtype} is not F32, F16 or BF16")


def load_tensors(path):
    """{name: (shape, flat list of floats)} of a file or folder."""
    files, _ = shard_files(path)
    out = {}
    for file in files:
        tensors, start = read_header(file)
        with open(file, "rb") as f:
            for name, dtype, shape, begin, end in tensors:
                f.seek(start + begin)
                out[name] = (shape, decode(dtype, f.read(end - begin)))
    return out


def rows(shape_flat):
    shape, flat = shape_flat
    r, c = shape
    return [flat[i * c:(i + 1) * c] for i in range(r)]


def matvec(m, x):
    return [sum(map(mul, row, x)) for row in m]


def rmsnorm(x, w, eps):
    s = 1.0 / math.sqrt(sum(v * v for v in x) / len(x) + eps)
    return [v * s * g for v, g in zip(x, w)]


def silu(v):
    return v / (1.0 + math.exp(-v)) if v > -700 else 0.0


def rope_inv_freq(config, dim):
    theta = float(config.get("rope_theta", 10000.0))
    inv = [1.0 / theta ** (2 * i / dim) for i in range(dim // 2)]
    scaling = config.get("rope_scaling")
    if not scaling:
        return inv
    kind = scaling.get("rope_type", scaling.get("type"))
    factor = float(scaling.get("factor", 1.0))
    if kind == "linear":
        return [f / factor for f in inv]
    if kind == "llama3":
        low, high = float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
        old = float(scaling["original_max_position_embeddings"])
        out = []
        for f in inv:
            wavelen = 2 * math.pi / f
            if wavelen < old / high:
                out.append(f)
            elif wavelen > old / low:
                out.append(f / factor)
            else:
                smooth = (old / wavelen - low) / (high - low)
                out.append((1 - smooth) * f / factor + smooth * f)
        return out
    raise FormatError(f"rope_scaling type {kind!r} is not supported")


class Llama:
    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            self.config = c = json.load(f)
        if c.get("model_type") not in ("llama", "mistral", "qwen2"):
            raise FormatError(f"model_type {c.get('model_type')!r} is not llama, mistral or qwen2")
        if c.get("hidden_act", "silu") != "silu":
            raise FormatError(f"hidden_act {c['hidden_act']!r} is not silu")
        t = load_tensors(folder)
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or c["hidden_size"] // self.heads
        self.eps = float(c.get("rms_norm_eps", 1e-6))
        self.inv_freq = rope_inv_freq(c, self.head_dim)
        self.window = c.get("sliding_window") if (
            c["model_type"] == "mistral" or c.get("use_sliding_window")) else None
        self.embed = rows(t["model.embed_tokens.weight"])
        tied = c.get("tie_word_embeddings", False) or "lm_head.weight" not in t
        self.head = self.embed if tied else rows(t["lm_head.weight"])
        self.norm = t["model.norm.weight"][1]
        self.layers = [self._layer(t, i) for i in range(c["num_hidden_layers"])]

    @staticmethod
    def _layer(t, i):
        p = f"model.layers.{i}."

        def get(name, matrix=True):
            if p + name not in t:
                return None
            return rows(t[p + name]) if matrix else t[p + name][1]
        return {
            "ln1": get("input_layernorm.weight", False),
            "ln2": get("post_attention_layernorm.weight", False),
            "q": get("self_attn.q_proj.weight"), "qb": get("self_attn.q_proj.bias", False),
            "k": get("self_attn.k_proj.weight"), "kb": get("self_attn.k_proj.bias", False),
            "v": get("self_attn.v_proj.weight"), "vb": get("self_attn.v_proj.bias", False),
            "o": get("self_attn.o_proj.weight"), "ob": get("self_attn.o_proj.bias", False),
            "gate": get("mlp.gate_proj.weight"), "up": get("mlp.up_proj.weight"),
            "down": get("mlp.down_proj.weight"),
        }

    def rope(self, vec, pos):
        d, half = self.head_dim, self.head_dim // 2
        out = list(vec)
        for h in range(len(vec) // d):
            b = h * d
            for i, f in enumerate(self.inv_freq):
                c, s = math.cos(pos * f), math.sin(pos * f)
                x1, x2 = vec[b + i], vec[b + half + i]
                out[b + i] = x1 * c - x2 * s
                out[b + half + i] = x2 * c + x1 * s
        return out

    def attention(self, L, h, pos, cache):
        def proj(w, b):
            y = matvec(L[w], h)
            return [a + c for a, c in zip(y, L[b])] if L[b] else y
        q = self.rope(proj("q", "qb"), pos)
        cache[0].append(self.rope(proj("k", "kb"), pos))
        cache[1].append(proj("v", "vb"))
        d, group = self.head_dim, self.heads // self.kv_heads
        first = max(0, pos + 1 - self.window) if self.window else 0
        out = []
        for hd in range(self.heads):
            qh = q[hd * d:(hd + 1) * d]
            kvo = (hd // group) * d
            scores = [sum(map(mul, qh, k[kvo:kvo + d])) / math.sqrt(d)
                      for k in cache[0][first:pos + 1]]
            top = max(scores)
            ex = [math.exp(s - top) for s in scores]
            total = sum(ex)
            acc = [0.0] * d
            for e, v in zip(ex, cache[1][first:pos + 1]):
                w = e / total
                for j in range(d):
                    acc[j] += w * v[kvo + j]
            out.extend(acc)
        y = matvec(L["o"], out)
        return [a + b for a, b in zip(y, L["ob"])] if L["ob"] else y

    def step(self, token, pos, caches):
        """Logits after token at position pos; caches holds each layer's
        keys and values so far (extended)."""
        x = list(self.embed[token])
        for L, cache in zip(self.layers, caches):
            a = self.attention(L, rmsnorm(x, L["ln1"], self.eps), pos, cache)
            x = [u + v for u, v in zip(x, a)]
            h = rmsnorm(x, L["ln2"], self.eps)
            g, u = matvec(L["gate"], h), matvec(L["up"], h)
            m = matvec(L["down"], [silu(a) * b for a, b in zip(g, u)])
            x = [u + v for u, v in zip(x, m)]
        return matvec(self.head, rmsnorm(x, self.norm, self.eps))

    def new_caches(self):
        return [([], []) for _ in self.layers]

    def logits(self, tokens):
        caches = self.new_caches()
        for t in tokens:
            if not 0 <= t < len(self.embed):
                raise FormatError(f"token {t} is outside the vocabulary of {len(self.embed)}")
        return [self.step(t, i, caches) for i, t in enumerate(tokens)]


def argmax(v):
    return max(range(len(v)), key=v.__getitem__)


def greedy(model, tokens, n):
    caches, out = model.new_caches(), []
    for i, t in enumerate(tokens):
        logits = model.step(t, i, caches)
    for i in range(len(tokens), len(tokens) + n):
        t = argmax(logits)
        out.append(t)
        if i + 1 < len(tokens) + n:
            logits = model.step(t, i, caches)
    return out


class Tokenizer:
    """llama2.c's tokenizer.bin: max_token_length, then per token a float
    score, a length and the bytes."""

    def __init__(self, path, vocab_size):
        with open(path, "rb") as f:
            data = f.read()
        at, self.vocab, self.scores = 4, [], []
        for _ in range(vocab_size):
            score, n = struct.unpack_from("<fi", data, at)
            self.vocab.append(data[at + 8:at + 8 + n])
            self.scores.append(score)
            at += 8 + n
        self.ids = {b: i for i, b in enumerate(self.vocab)}

    def encode(self, text):
        tokens = [1]
        if text:
            tokens.append(self.ids[b" "])
        for ch in text:
            raw = ch.encode("utf-8")
            tokens.extend([self.ids[raw]] if raw in self.ids else [b + 3 for b in raw])
        while True:
            best = None
            for i in range(len(tokens) - 1):
                j = self.ids.get(self.vocab[tokens[i]] + self.vocab[tokens[i + 1]])
                if j is not None and (best is None or self.scores[j] > best[0]):
                    best = (self.scores[j], j, i)
            if best is None:
                return tokens
            tokens[best[2]:best[2] + 2] = [best[1]]

    def piece(self, prev, token):
        p = self.vocab[token]
        if prev == 1 and p.startswith(b" "):
            p = p[1:]
        if len(p) == 6 and p.startswith(b"<0x") and p.endswith(b">"):
            p = bytes([int(p[3:5], 16)])
        if len(p) == 1 and not (32 <= p[0] < 127 or p in b" \t\n\r\x0b\x0c"):
            return b""
        return p


def run_text(model, tok, prompt, steps):
    """What llama2.c `run -t 0 -n steps -i prompt` prints (without its final
    newline): forced prompt tokens, then argmax, stopping at BOS."""
    prompt_tokens = tok.encode(prompt)
    caches, out, token = model.new_caches(), [], prompt_tokens[0]
    for pos in range(steps):
        logits = model.step(token, pos, caches)
        nxt = prompt_tokens[pos + 1] if pos + 1 < len(prompt_tokens) else argmax(logits)
        if nxt == 1:
            break
        out.append(tok.piece(token, nxt))
        token = nxt
    return b"".join(out)


def parse(argv):
    opts = {"all": False}
    args = iter(argv[1:])
    for a in args:
        if a in ("--tokens", "--generate", "--tokenizer", "--prompt", "--steps"):
            opts[a[2:]] = next(args, None)
            if opts[a[2:]] is None:
                raise ValueError(f"{a} needs a value")
        elif a == "--all":
            opts["all"] = True
        elif a.startswith("-") or "model" in opts:
            raise ValueError(f"unexpected argument {a!r}")
        else:
            opts["model"] = a
    if "model" not in opts or ("tokens" in opts) == ("tokenizer" in opts):
        raise ValueError("give MODEL_DIR and either --tokens or --tokenizer")
    return opts


def main(argv):
    try:
        opts = parse(argv)
        tokens = [int(t) for t in opts["tokens"].split(",")] if "tokens" in opts else []
        steps = int(opts.get("steps", 0) or 0)
        gen = int(opts.get("generate", 0) or 0)
    except ValueError as e:
        print(f"llama_forward: {e}\nusage: llama_forward.py MODEL_DIR --tokens 1,2,3 "
              "[--all | --generate N] | --tokenizer FILE [--prompt TEXT] --steps N",
              file=sys.stderr)
        return 2
    try:
        model = Llama(opts["model"])
        if "tokenizer" in opts:
            tok = Tokenizer(opts["tokenizer"], len(model.embed))
            sys.stdout.buffer.write(run_text(model, tok, opts.get("prompt", ""), steps) + b"\n")
        elif gen:
            print(json.dumps(greedy(model, tokens, gen)))
        else:
            logits = model.logits(tokens)
            print(json.dumps(logits if opts["all"] else logits[-1]))
    except (FormatError, OSError, KeyError, ValueError) as e:
        print(f"llama_forward: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
