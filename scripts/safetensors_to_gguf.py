#!/usr/bin/python3
"""Convert a Llama-family or GPT-2 HF safetensors checkpoint to a GGUF file that llama.cpp runs, for speed runs.

Used by scripts/llamacpp-compare.sh to decode the same random checkpoint with the workbench and with llama.cpp.
Needs numpy and llama.cpp's gguf-py package (PYTHONPATH=LLAMA_CPP_SOURCE/gguf-py); it is a benchmark tool,
never part of the build, tests or CI.

  safetensors_to_gguf.py CHECKPOINT_DIR OUT.gguf --dtype bf16|f32 [--write-tokenizer]

What it writes:
- the weights of CHECKPOINT_DIR (BF16, F16 or F32 in the file) as BF16 or F32 matrices; 1-D tensors
  (norm weights, biases) as F32, as llama.cpp's own converter does;
- Llama: attn_q and attn_k rows permuted from HF's rotate-half layout to llama.cpp's interleaved RoPE pairs
  (the same permutation as llama.cpp's convert_hf_to_gguf.py), so the GGUF computes the same function as
  the HF checkpoint; for speed alone it would not matter, but a converted checkpoint should not be wrong;
- GPT-2: the Conv1D matrices ([in, out] in HF) transposed to [out, in], as llama.cpp's converter does;
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



class Architecture:
    """How one HF model type maps onto a llama.cpp architecture: tensor names, layouts, metadata."""

    def __init__(self, gguf_arch, layer_prefix, layer_tensors, top_tensors, transposed=(), skipped=()):
        self.gguf_arch, self.layer_prefix = gguf_arch, layer_prefix
        self.layer_tensors, self.top_tensors = layer_tensors, top_tensors
        self.transposed, self.skipped = transposed, skipped

    def gguf_name(self, hf_name):
        """blk.N.<name> / <name> in the GGUF; None for a tensor llama.cpp does not read."""
        if hf_name.endswith(self.skipped):
            return None
        if hf_name in self.top_tensors:
            return self.top_tensors[hf_name]
        if hf_name.startswith(self.layer_prefix):
            layer, _, rest = hf_name[len(self.layer_prefix):].partition(".")
            if layer.isdigit() and rest in self.layer_tensors:
                return f"blk.{layer}.{self.layer_tensors[rest]}"
        fail(f"tensor {hf_name}: not a {self.gguf_arch} tensor this converter knows")


LLAMA = Architecture(
    "llama", "model.layers.",
    {"self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
     "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
     "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
     "mlp.down_proj.weight": "ffn_down.weight", "input_layernorm.weight": "attn_norm.weight",
     "post_attention_layernorm.weight": "ffn_norm.weight"},
    {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
     "lm_head.weight": "output.weight"})

# GPT-2's Conv1D matrices are stored [in, out]; llama.cpp wants [out, in], as for Linear layers.
GPT2 = Architecture(
    "gpt2", "transformer.h.",
    {"ln_1.weight": "attn_norm.weight", "ln_1.bias": "attn_norm.bias",
     "attn.c_attn.weight": "attn_qkv.weight", "attn.c_attn.bias": "attn_qkv.bias",
     "attn.c_proj.weight": "attn_output.weight", "attn.c_proj.bias": "attn_output.bias",
     "ln_2.weight": "ffn_norm.weight", "ln_2.bias": "ffn_norm.bias",
     "mlp.c_fc.weight": "ffn_up.weight", "mlp.c_fc.bias": "ffn_up.bias",
     "mlp.c_proj.weight": "ffn_down.weight", "mlp.c_proj.bias": "ffn_down.bias"},
    {"transformer.wte.weight": "token_embd.weight", "transformer.wpe.weight": "position_embd.weight",
     "transformer.ln_f.weight": "output_norm.weight", "transformer.ln_f.bias": "output_norm.bias",
     "lm_head.weight": "output.weight"},
    transposed=("attn_qkv.weight", "attn_output.weight", "ffn_up.weight", "ffn_down.weight"),
    skipped=(".attn.bias", ".attn.masked_bias"))  # HF's causal-mask buffers

ARCHITECTURES = {"llama": LLAMA, "mistral": LLAMA, "gpt2": GPT2}


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


def add_llama_hyperparameters(writer, config):
    heads = config["num_attention_heads"]
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads", heads))
    writer.add_rope_dimension_count(config.get("head_dim", config["hidden_size"] // heads))
    writer.add_rope_freq_base(config.get("rope_theta", 10000.0))
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-5))


def add_gpt2_hyperparameters(writer, config):
    writer.add_context_length(config["n_positions"])
    writer.add_embedding_length(config["n_embd"])
    writer.add_block_count(config["n_layer"])
    writer.add_feed_forward_length(config.get("n_inner") or 4 * config["n_embd"])
    writer.add_head_count(config["n_head"])
    writer.add_layer_norm_eps(config.get("layer_norm_epsilon", 1e-5))


def add_metadata(writer, config, tokens, dtype):
    writer.add_name("random checkpoint for a speed run (fake vocabulary)")
    if config["model_type"] == "gpt2":
        add_gpt2_hyperparameters(writer, config)
    else:
        add_llama_hyperparameters(writer, config)
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
    if config["model_type"] == "gpt2":
        if name.endswith(GPT2.transposed):
            values = values.T
    elif name.endswith("attn_q.weight"):
        values = rope_permute(values, config["num_attention_heads"])
    elif name.endswith("attn_k.weight"):
        values = rope_permute(values, config.get("num_key_value_heads", config["num_attention_heads"]))
    if dtype == "f32" or values.ndim == 1:
        return np.ascontiguousarray(values, dtype=np.float32)
    # BF16 round to nearest even; exact for values that came from BF16
    bits = np.ascontiguousarray(values).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def convert(checkpoint, out, dtype):
    """Writes OUT through a temporary file beside it: a failed conversion leaves no partial OUT."""
    config = json.loads((checkpoint / "config.json").read_text())
    architecture = ARCHITECTURES.get(config.get("model_type"))
    if architecture is None:
        fail(f"{checkpoint}/config.json: model_type {config.get('model_type')!r} is not one of "
             f"{', '.join(ARCHITECTURES)}")
    tensors = read_safetensors(checkpoint)
    names = {}  # GGUF name -> HF name, in the checkpoint's order
    for hf_name in tensors:
        name = architecture.gguf_name(hf_name)
        if name is not None:
            names[name] = hf_name
    tokens = fake_vocabulary(config["vocab_size"])
    partial = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), architecture.gguf_arch)
    add_metadata(writer, config, tokens, dtype)
    for name, hf_name in names.items():  # tensor infos first (shapes and sizes), then the data one at a time
        shape = tensors[hf_name].shape
        if name.endswith(architecture.transposed):
            shape = shape[::-1]
        as_bf16 = dtype == "bf16" and len(shape) > 1
        writer.add_tensor_info(name, shape, np.dtype(np.uint16 if as_bf16 else np.float32),
                               int(np.prod(shape)) * (2 if as_bf16 else 4),
                               raw_dtype=gguf.GGMLQuantizationType.BF16 if as_bf16 else None)
    writer.write_header_to_file(partial)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for name, hf_name in names.items():
        writer.write_tensor_data(converted(name, tensors[hf_name], config, dtype))
    writer.close()
    partial.replace(out)
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
