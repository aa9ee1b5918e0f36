#!/usr/bin/env python3
"""Independent GPT-2 byte-level BPE reference for tests/test_tokenizer.cpp.

Implements the algorithm of OpenAI's original GPT-2 encoder (bytes_to_unicode, the GPT-2 word
regex, greedy lowest-rank pair merging) from vocab.json + merges.txt, written from the published
description. It does NOT know about special tokens: "<|endoftext|>" is ordinary text here, as in
OpenAI's encoder. Standard library plus the `regex` module (for \\p{L} / \\p{N}).

Usage: gpt2_bpe_reference.py FIXTURE_DIR  -> prints a C++ initializer list per test string.
"""
import json
import sys

import regex

PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

STRINGS = [
    "hello world",
    "Hello, world!",
    "line1\nline2\n\nline4\n",
    "don't",
    "I'm sure they'll say we've done what you'd do, it's John's.",
    "THEY'RE here",
    "a  b   c    d",
    "   leading and trailing   ",
    "tabs\tand\r\nwindows lines\n\n\n",
    "12345 and 3.14159 and 1,000,000",
    "café naïve résumé Zürich",
    "emoji 😀 and 👍🏽 here",
    "中文字符和日本語のテキスト",
    "mixed: Привет мир, γειά σου κόσμε! 😀123abc",
    "<|endoftext|>",
    "  \n  \n",
    "x",
    "",
]


def bytes_to_unicode():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    mapping = {}
    extra = 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def bpe(word, ranks):
    parts = list(word)
    while len(parts) > 1:
        best = None
        for i in range(len(parts) - 1):
            rank = ranks.get((parts[i], parts[i + 1]))
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, parts[i], parts[i + 1])
        if best is None:
            break
        _, left, right = best
        merged = []
        i = 0
        while i < len(parts):
            if i + 1 < len(parts) and parts[i] == left and parts[i + 1] == right:
                merged.append(left + right)
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts = merged
    return parts


def cpp_literal(text):
    """A C++ string literal (UTF-8 source) for text."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return '"' + "".join(escapes.get(c, c) for c in text) + '"'


def main():
    folder = sys.argv[1]
    with open(f"{folder}/vocab.json", encoding="utf-8") as f:
        vocab = json.load(f)
    with open(f"{folder}/merges.txt", encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#version")]
    ranks = {tuple(line.split(" ")): rank for rank, line in enumerate(lines)}
    byte_map = bytes_to_unicode()
    for text in STRINGS:
        ids = []
        for word in PATTERN.findall(text):
            mapped = "".join(byte_map[b] for b in word.encode("utf-8"))
            ids.extend(vocab[token] for token in bpe(mapped, ranks))
        print("{" + cpp_literal(text) + ", {" + ", ".join(map(str, ids)) + "}},")


if __name__ == "__main__":
    main()
