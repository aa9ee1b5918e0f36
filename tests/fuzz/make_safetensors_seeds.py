#!/usr/bin/env python3
"""Writes the hand-made safetensors seeds of corpus/safetensors/ (standard library only).

Tiny files in the layout HF writes (header keys in name order, offsets in that order, header padded with
spaces to a multiple of 8), with F32, BF16 and F16 tensors, metadata, an empty and a scalar tensor.
Run from tests/fuzz: python3 make_safetensors_seeds.py
"""
import json
import struct


def safetensors(tensors, metadata={"format": "pt"}, pad=True):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in sorted(tensors.items()):
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def bf16(values):  # the upper half of each float32 (these values are exact in bfloat16)
    return b"".join(struct.pack("<f", v)[2:] for v in values)


def f16(values):
    return struct.pack("<%de" % len(values), *values)


SEEDS = {
    "f32-two-tensors.safetensors": safetensors({
        "model.norm.weight": ("F32", [4], f32([1, 1, 1, 1])),
        "model.embed_tokens.weight": ("F32", [2, 4], f32([0.5, -0.5, 0.25, -0.25, 1, 2, 3, 4]))}),
    "bf16-f16-mixed.safetensors": safetensors({
        "model.layers.0.self_attn.q_proj.weight": ("BF16", [2, 2], bf16([1, -2, 0.5, 3])),
        "model.layers.0.mlp.down_proj.weight": ("F16", [2, 3], f16([1, 2, 3, -1, -2, -3])),
        "lm_head.weight": ("BF16", [1, 2], bf16([0.125, 8]))}, {"format": "pt", "source": "detox fuzz seed"}),
    "empty-and-scalar.safetensors": safetensors({
        "a.empty": ("F32", [0, 4], b""),
        "b.scalar": ("F32", [], f32([42]))}, None, pad=False),
}

if __name__ == "__main__":
    for name, content in SEEDS.items():
        with open("corpus/safetensors/" + name, "wb") as out:
            out.write(content)
