#!/usr/bin/python3
"""Convert a Llama-family HF safetensors checkpoint to a GGUF file that llama.cpp can run, for speed runs.

Used by scripts/llamacpp-compare.sh to decode the same random checkpoint with the workbench and with llama.cpp.
Needs numpy and llama.cpp's gguf-py package (PYTHONPATH=LLAMA_CPP_SOURCE/gguf-py); it is a benchmark tool,
never part of the build, tests or CI.

  safetensors_to_gguf.py CHECKPOINT_DIR OUT.gguf --dtype bf16|f32 [--write-tokenizer]

What it writes:
- the weights of CHECKPOINT_DIR (BF16, F16 or F32 in the file) as BF16 or F32 matrices; 1-D tensors
  (the RMSNorm weights) as F32, as llama.cpp's own converter does;
- attn_q and attn_k rows permuted from HF's rotate-half layout to llama.cpp's interleaved RoPE pairs
  (the same permutation as llama.cpp's convert_hf_to_gguf.py), so the GGUF computes the same function as
  the HF checkpoint; for speed alone it would not matter, but a converted checkpoint should not be wrong;
- a FAKE vocabulary of config.json's vocab_size tokens: <unk>, <s>, </s>, the 256 byte tokens <0xNN>,
  then filler pieces "▁t<id>" (tokenizer.ggml.model "llama", no merges). It serves speed runs only: the
  random checkpoints written by `detox-bench --write-checkpoint` have no tokenizer. Text through it is
  meaningless. --write-tokenizer also writes the same vocabulary as tokenizer.json (HF BPE with byte
  fallback) into CHECKPOINT_DIR, so that `detox generate` can load the checkpoint; it refuses to replace
  an existing tokenizer.json.
"""
import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np



def fail(message):
    """A user mistake (missing package, wrong folder, unknown tensor): exit 2 with the reason."""
    print(f"safetensors_to_gguf.py: {message}", file=sys.stderr)
    sys.exit(2)


try:
    import gguf
except ImportError:
    fail("the gguf package is missing: set PYTHONPATH=LLAMA_CPP_SOURCE/gguf-py")

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>"]
BYTE_TOKEN_COUNT = 256

# HF name suffix -> GGUF name suffix, per layer (model.layers.N.<hf> -> blk.N.<gguf>)
LAYER_TENSORS = {
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
}
TOP_TENSORS = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


class SafetensorsTensor:
    """One tensor of a safetensors file, read lazily through a memory map."""

    def __init__(self, path, header_size, entry):
        self.path, self.dtype, self.shape = path, entry["dtype"], tuple(entry["shape"])
        begin, end = entry["data_offsets"]
        self.offset, self.nbytes = 8 + header_size + begin, end - begin

    def as_float32(self):
        raw = np.memmap(self.path, dtype=np.uint8, mode="r", offset=self.offset, shape=(self.nbytes,))
        if self.dtype == "BF16":  # BF16 is the upper half of an F32: widen exactly
            return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(self.shape)
        if self.dtype == "F16":
            return raw.view(np.float16).astype(np.float32).reshape(self.shape)
        if self.dtype == "F32":
            return np.array(raw.view(np.float32).reshape(self.shape))
        fail(f"{self.path}: tensor dtype {self.dtype} is not BF16, F16 or F32")


def read_safetensors(checkpoint):
    tensors = {}
    files = sorted(checkpoint.glob("*.safetensors"))
    if not files:
        fail(f"{checkpoint}: no *.safetensors file")
    for path in files:
        with open(path, "rb") as f:
            (header_size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(header_size))
        for name, entry in header.items():
            if name != "__metadata__":
                tensors[name] = SafetensorsTensor(path, header_size, entry)
    return tensors


def gguf_name(hf_name):
    if hf_name in TOP_TENSORS:
        return TOP_TENSORS[hf_name]
    parts = hf_name.split(".", 3)  # model, layers, N, rest
    if len(parts) == 4 and parts[:2] == ["model", "layers"] and parts[3] in LAYER_TENSORS:
        return f"blk.{parts[2]}.{LAYER_TENSORS[parts[3]]}"
    fail(f"tensor {hf_name}: not a Llama tensor this converter knows")


def rope_permute(weights, head_count):
    """HF rotate-half rows -> llama.cpp interleaved pairs (convert_hf_to_gguf.py's LlamaModel.permute)."""
    rows = weights.shape[0]
    return (weights.reshape(head_count, 2, rows // head_count // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def fake_vocabulary(size):
    if size < len(SPECIAL_TOKENS) + BYTE_TOKEN_COUNT:
        fail(f"vocab_size {size} is smaller than the fake vocabulary's fixed tokens")
    tokens = SPECIAL_TOKENS + [f"<0x{b:02X}>" for b in range(BYTE_TOKEN_COUNT)]
    tokens += [f"\u2581t{i}" for i in range(len(tokens), size)]
    return tokens


def write_hf_tokenizer(checkpoint, tokens):
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in enumerate(SPECIAL_TOKENS)]
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None, "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": []},
    }
    (checkpoint / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "model_max_length": 2048, "tokenizer_class": "LlamaTokenizer"}
    (checkpoint / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


def add_metadata(writer, config, tokens, dtype):
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim", config["hidden_size"] // heads)
    writer.add_name("random checkpoint for a speed run (fake vocabulary)")
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads", heads))
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(config.get("rope_theta", 10000.0))
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-5))
    writer.add_vocab_size(len(tokens))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_BF16 if dtype == "bf16" else gguf.LlamaFileType.ALL_F32)
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    types += [gguf.TokenType.BYTE] * BYTE_TOKEN_COUNT
    types += [gguf.TokenType.NORMAL] * (len(tokens) - len(types))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)


def converted(name, tensor, config, dtype):
    """The tensor's values as they go into the GGUF (F32, or BF16 bits as uint16)."""
    values = tensor.as_float32()
    if name.endswith("attn_q.weight"):
        values = rope_permute(values, config["num_attention_heads"])
    elif name.endswith("attn_k.weight"):
        values = rope_permute(values, config.get("num_key_value_heads", config["num_attention_heads"]))
    if dtype == "f32" or values.ndim == 1:
        return np.ascontiguousarray(values, dtype=np.float32)
    # BF16 round to nearest even; exact for values that came from BF16
    bits = np.ascontiguousarray(values).view(np.uint32)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return rounded


def convert(checkpoint, out, dtype):
    config = json.loads((checkpoint / "config.json").read_text())
    if config.get("model_type") not in ("llama", "mistral"):
        fail(f"{checkpoint}/config.json: model_type {config.get('model_type')!r}"
                 " is not llama or mistral")
    tensors = read_safetensors(checkpoint)
    names = {gguf_name(hf): hf for hf in tensors}
    tokens = fake_vocabulary(config["vocab_size"])
    writer = gguf.GGUFWriter(str(out), "llama")
    add_metadata(writer, config, tokens, dtype)
    ordered = list(names)
    for name in ordered:  # tensor infos first (shapes and sizes), then the data one tensor at a time
        tensor = tensors[names[name]]
        elements = int(np.prod(tensor.shape))
        as_bf16 = dtype == "bf16" and len(tensor.shape) > 1
        writer.add_tensor_info(name, tensor.shape, np.dtype(np.uint16 if as_bf16 else np.float32),
                               elements * (2 if as_bf16 else 4),
                               raw_dtype=gguf.GGMLQuantizationType.BF16 if as_bf16 else None)
    writer.write_header_to_file(out)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for name in ordered:
        writer.write_tensor_data(converted(name, tensors[names[name]], config, dtype))
    writer.close()
    return tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--dtype", choices=["bf16", "f32"], required=True)
    parser.add_argument("--write-tokenizer", action="store_true",
                        help="also write the fake vocabulary as tokenizer.json into CHECKPOINT_DIR")
    args = parser.parse_args()
    if not (args.checkpoint / "config.json").is_file():
        fail(f"{args.checkpoint}: no config.json (expected an HF checkpoint folder)")
    if args.write_tokenizer and (args.checkpoint / "tokenizer.json").exists():
        fail(f"{args.checkpoint}/tokenizer.json exists; --write-tokenizer never replaces a tokenizer")
    tokens = convert(args.checkpoint, args.out, args.dtype)
    if args.write_tokenizer:
        write_hf_tokenizer(args.checkpoint, tokens)


if __name__ == "__main__":
    main()
