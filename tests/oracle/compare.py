"""Compares suture-logits output with the llama.cpp oracle's `logits` output.

usage: python3 compare.py SUTURE.json ORACLE.json
Both: {"n_vocab", "logits": [[...] per position], "nll"}. Passes when, at every
position, |logit diff| <= 1e-3 x the largest |logit| of that position (llama.cpp
keeps its KV cache in F16) and the NLLs agree within 1e-3 + 5e-4 x NLL. Prints one
line: "ok max-rel R nll A B" or "FAIL ..."; exit 0 or 1.
"""
import json
import sys


def main(a_path, b_path):
    a, b = json.load(open(a_path)), json.load(open(b_path))
    if a["n_vocab"] != b["n_vocab"] or len(a["logits"]) != len(b["logits"]):
        print("FAIL shapes differ: vocab %s vs %s, positions %d vs %d" % (
            a["n_vocab"], b["n_vocab"], len(a["logits"]), len(b["logits"])))
        return 1
    worst = 0.0
    for pos, (x, y) in enumerate(zip(a["logits"], b["logits"])):
        scale = max(abs(v) for v in y) or 1.0
        rel = max(abs(p - q) for p, q in zip(x, y)) / scale
        worst = max(worst, rel)
        if rel > 1e-3:
            print("FAIL position %d: max |diff| %.3g x the largest |logit|" % (pos, rel))
            return 1
    na, nb = a["nll"], b["nll"]
    if abs(na - nb) > 1e-3 + 5e-4 * abs(nb):
        print("FAIL nll %.6f vs %.6f" % (na, nb))
        return 1
    print("ok max-rel %.3g nll %.6f %.6f" % (worst, na, nb))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
