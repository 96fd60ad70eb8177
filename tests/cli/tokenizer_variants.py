"""Writes tokenizer.json variants for the tokenizer golden test.

    python3 tokenizer_variants.py FIXTURES GPT2_TOKENIZER_JSON OUTDIR

Each variant is a real tokenizer.json (GPT-2's from tests/data, or a fixture)
with its pipeline swapped for the one another family uses, so that every
supported part is compared with Hugging Face's library: Llama-3's Split
regex with ignore_merges and a BOS template, Qwen2's NFC and regex with
added tokens of every flag, Metaspace's other schemes, merges as pairs,
ByteLevel with a prefix space. Prints the variant file names. Without the
fixtures folder, only the GPT-2 variants.
"""
import copy
import json
import os
import sys

LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
            r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def added(i, content, special=True, normalized=False, lstrip=False, rstrip=False,
          single_word=False):
    return {"id": i, "content": content, "single_word": single_word, "lstrip": lstrip,
            "rstrip": rstrip, "normalized": normalized, "special": special}


def template(bos, bos_id):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}


def variants(fix, gpt2):
    g = json.load(open(gpt2, encoding="utf-8"))
    g["truncation"] = None  # the file's max_length 50; transformers ignores it too
    yield "gpt2", g

    v = copy.deepcopy(g)
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_RE}, "behavior": "Isolated",
         "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
         "use_regex": False}]}
    v["model"]["ignore_merges"] = True
    v["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
         "use_regex": True},
        template("<|endoftext|>", 50256)]}
    yield "llama3-style", v

    v = copy.deepcopy(g)
    v["normalizer"] = {"type": "NFC"}
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN2_RE}, "behavior": "Isolated",
         "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
         "use_regex": False}]}
    v["added_tokens"] += [added(50257, "<|im_start|>"), added(50258, "<|im_end|>"),
                          added(50259, "<s>", lstrip=True, rstrip=True),
                          added(50260, "</s>", special=False, normalized=True),
                          added(50261, "Zorblax", special=False, single_word=True),
                          added(50262, "<unk>", rstrip=True),
                          added(50263, "caf\u00e9", special=False, normalized=True)]
    yield "qwen2-style", v

    v = copy.deepcopy(g)
    v["pre_tokenizer"]["add_prefix_space"] = True
    v["model"]["merges"] = [m.split(" ") for m in v["model"]["merges"]]
    yield "gpt2-prefix-pairs", v

    v = copy.deepcopy(g)
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithNext",
         "invert": False},
        {"type": "Split", "pattern": {"Regex": r"\d+|\w+"}, "behavior": "Removed",
         "invert": True},
        {"type": "Split", "pattern": {"Regex": r"[.!?]"}, "behavior": "MergedWithPrevious",
         "invert": False},
        {"type": "Split", "pattern": {"Regex": r"\s"}, "behavior": "Contiguous",
         "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
         "use_regex": False}]}
    v["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "NFKC"}, {"type": "Replace", "pattern": {"Regex": r"\d"}, "content": "#"}]}
    yield "split-behaviors", v

    v = copy.deepcopy(g)
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": r"^\s+|\s+$|\w+|\W|\d\D"},
         "behavior": "Isolated", "invert": False},
        {"type": "Split", "pattern": {"Regex": r"[\S]|[[:punct:]]"},
         "behavior": "MergedWithPrevious", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
         "use_regex": False}]}
    yield "regex-classes", v

    if not os.path.isdir(os.path.join(fix, "hf")):
        return
    m = json.load(open(os.path.join(fix, "headers/Mistral-7B-v0.1/tokenizer.json"),
                       encoding="utf-8"))
    v = copy.deepcopy(m)
    v["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581",
                          "prepend_scheme": "always", "split": True}
    yield "metaspace-always-split", v
    v = copy.deepcopy(m)
    v["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581",
                          "add_prefix_space": False, "prepend_scheme": "never",
                          "split": False}
    v["model"]["ignore_merges"] = True
    yield "metaspace-never", v

    s = json.load(open(os.path.join(fix, "hf/stories260K/tokenizer.json"), encoding="utf-8"))
    v = copy.deepcopy(s)
    v["model"]["merges"] = [m.split(" ") for m in v["model"]["merges"]]
    v["normalizer"]["normalizers"].insert(0, {"type": "NFD"})
    yield "stories260K-pairs-nfd", v


def main():
    fix, gpt2, out = sys.argv[1:4]
    for name, v in variants(fix, gpt2):
        path = os.path.join(out, name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(v, f, ensure_ascii=False)
        print(path)


if __name__ == "__main__":
    main()
