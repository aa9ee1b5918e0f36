#!/usr/bin/python3
"""Independent reference for tests/test_easyedit_compat.cpp: EasyEdit's DINM and the project's default DINM
computed in plain PyTorch from the texts, on the fixture checkpoints.

Written from EasyEdit's published code as read (zjunlp/EasyEdit: examples/run_safety_editing.py builds the
prompt + " " + suffix strings, models/dinm/dinm_main.py execute_dinm the edit, trainer/losses.py
masked_log_probs / kl_loc_loss the losses); no EasyEdit or transformers code is imported. It needs only
python3-torch (Debian) and the standard library:
  * model.safetensors is read by hand (8-byte header length, JSON header, raw little-endian data);
  * the Llama and GPT-2 forward passes follow HF's LlamaForCausalLM / GPT2LMHeadModel (eager, float32);
  * stories260K's tokenizer.json is applied by hand: normalizer Prepend("▁") + Replace(" ", "▁"), no
    pre-tokenizer, BPE by merge rank with per-character byte fallback, BOS from the post-processor.
    The ids are written into the JSON so the C++ test checks the project's tokenization against them.
  * tiny-hf/gpt2 has no tokenizer: its cases are given as token ids, laid out as EasyEdit's strings
    tokenize with GPT-2's byte-level BPE (no BOS; the "  " before the target is a token of its own).

EasyEdit's DINM (compat):
  edit sequence  = tok(prompt + " " + suffix + " " + " " + target), labels = tok(" " + target) with the
                   tokenizer's special tokens (Llama: BOS), pad (= EOS) labels -100, scored at
                   logits[:, :-1][:, -len(labels):] (masked_log_probs with shift=True): mean NLL
  constraint     = tok(knowledge prompt + " " + suffix + " " + answer); KL(pre || post) over the last
                   len(tok(answer)) logits (tok with special tokens), edited logits under no_grad
  loss           = kl_factor * nll + kl; stop before a step once loss < 1e-4; Adam on every parameter
                   whose name contains the module name (GPT-2: c_proj.weight and c_proj.bias)
The project's default DINM:
  edit           = tok(prompt + " " + suffix) + tok(" " + target, no special tokens), NLL of exactly the
                   target tokens; constraint = tok(knowledge prompt) + tok(" " + answer, no special tokens),
                   KL over the positions predicting the answer, with gradient; only the weight is trained.

Usage: easyedit_dinm_reference.py FIXTURES_DIR OUT.json
"""
import json
import math
import struct
import sys

import torch

SUFFIX = "If the user's request is reasonable, give the correct answer. Please give the right response:"

# The project's own invented record (not SafeEdit text).
RECORD = {
    "adversarial_prompt": "Please write a story where a mean cat tells everyone that the little dog is stupid.",
    "safe_generation": "I am sorry, but I would rather tell a kind story about the cat and the dog playing together.",
    "knowledge_prompt": "What is the capital of France?",
    "knowledge_answer": "The capital of France is Paris.",
    "unsafe_generation": "Sure, the cat says the dog is stupid and ugly and nobody likes him.",
}

# c_edit (EasyEdit's kl_factor) 1.0, not the paper's 0.1: with 0.1 the default mode's KL gradient (two nearly
# equal distributions) dominates some entries, and float32 rounding alone moves that case's delta W by ~2e-5
# (measured against this script in float64); with 1.0 every case here agrees with float64 within 3e-7.
LEARNING_RATE = 1e-3
STEPS = 5
KL_FACTOR = 1.0
STOP_LOSS = 1e-4
LLAMA_LAYER = 2
GPT2_LAYER = 0

# tiny-hf/gpt2 (vocab 320, EOS = 0) as EasyEdit's strings would tokenize: prompt tokens, one " " token
# (id 220 in real GPT-2; here 17), then the target. Id 0 (= EOS = EasyEdit's pad) inside the target is a
# -100 label in EasyEdit.
GPT2_EDIT_PROMPT = [31, 7, 250, 99, 12, 64, 3, 180, 45, 77, 5, 201, 17]
GPT2_EDIT_TARGET = [44, 91, 0, 130, 8, 66, 300, 21, 9]
GPT2_CONSTRAINT_PROMPT = [52, 140, 19, 233, 6, 88, 17]
GPT2_CONSTRAINT_ANSWER = [73, 15, 260, 34, 2]


# ---------------------------------------------------------------- files

def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        start, end = info["data_offsets"]
        raw = bytearray(data[base + start:base + end])
        tensors[name] = torch.frombuffer(raw, dtype=torch.float32).reshape(info["shape"]).clone()
    return tensors


# ---------------------------------------------------------------- tokenizer (stories260K tokenizer.json)

class LlamaBpe:
    def __init__(self, path):
        spec = json.load(open(path, encoding="utf-8"))
        model = spec["model"]
        assert model["type"] == "BPE" and model["byte_fallback"]
        self.vocab = model["vocab"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.unk = self.vocab[model["unk_token"]]
        self.bos = self.vocab["<s>"]

    def symbols(self, text):
        # Per character: the character's piece, else its byte tokens (all present), else unk.
        parts = []
        for char in text:
            if char in self.vocab:
                parts.append(char)
                continue
            byte_pieces = ["<0x%02X>" % b for b in char.encode("utf-8")]
            parts.extend(byte_pieces if all(p in self.vocab for p in byte_pieces) else ["<unk>"])
        return parts

    def encode(self, text, add_special):
        normalized = "▁" + text.replace(" ", "▁")
        parts = self.symbols(normalized)
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                rank = self.ranks.get((parts[i], parts[i + 1]))
                if rank is not None and (best is None or rank < best[0]):
                    best = (rank, i)
            if best is None:
                break
            left, right = parts[best[1]], parts[best[1] + 1]
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == left and parts[i + 1] == right:
                    merged.append(left + right)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        ids = [self.vocab.get(p, self.unk) for p in parts]
        return ([self.bos] if add_special else []) + ids


# ---------------------------------------------------------------- models (HF semantics, eager, float32)

def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Llama:
    def __init__(self, folder):
        self.config = json.load(open(folder + "/config.json"))
        self.w = load_safetensors(folder + "/model.safetensors")
        self.down = "model.layers.{}.mlp.down_proj"

    def logits(self, ids):
        return self.forward([ids])[1][0]

    def forward(self, batch, key_mask=None):
        """HF LlamaModel with output_hidden_states: position ids 0..n-1 in every row (as HF assigns them
        without position_ids), additive mask at float32's lowest for causal and pad keys (eager)."""
        c, w = self.config, self.w
        ids = torch.tensor(batch)
        b, n = ids.shape
        heads, kv_heads = c["num_attention_heads"], c["num_key_value_heads"]
        head_dim = c.get("head_dim") or c["hidden_size"] // heads
        eps = c["rms_norm_eps"]
        inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.arange(n, dtype=torch.float32)[:, None] * inv_freq[None, :]
        emb = torch.cat((angles, angles), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        lowest = torch.finfo(torch.float32).min
        allowed = torch.ones(n, n, dtype=torch.bool).tril()[None].expand(b, n, n)
        if key_mask is not None:
            allowed = allowed & torch.tensor(key_mask, dtype=torch.bool)[:, None, :]
        mask = torch.zeros(b, 1, n, n).masked_fill(~allowed[:, None], lowest)
        x = w["model.embed_tokens.weight"][ids]
        hidden = [x]
        for layer in range(c["num_hidden_layers"]):
            p = "model.layers.%d." % layer
            h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
            q = (h @ w[p + "self_attn.q_proj.weight"].T).view(b, n, heads, head_dim).transpose(1, 2)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).view(b, n, kv_heads, head_dim).transpose(1, 2)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).view(b, n, kv_heads, head_dim).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = k.repeat_interleave(heads // kv_heads, dim=1)
            v = v.repeat_interleave(heads // kv_heads, dim=1)
            scores = q @ k.transpose(2, 3) / math.sqrt(head_dim) + mask
            attn = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, heads * head_dim)
            x = x + attn @ w[p + "self_attn.o_proj.weight"].T
            h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
            gate = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T)
            x = x + (gate * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
            hidden.append(x)
        x = rms_norm(x, w["model.norm.weight"], eps)
        hidden[-1] = x  # HF reports the last hidden state after the final norm
        head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
        return hidden, x @ head.T  # hidden: embeddings + one per layer, [batch, seq, hidden]


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class Gpt2:
    def __init__(self, folder):
        self.config = json.load(open(folder + "/config.json"))
        raw = load_safetensors(folder + "/model.safetensors")
        # Names as GPT2LMHeadModel.named_parameters() gives them.
        self.w = {(k if k.startswith("transformer.") else "transformer." + k): v for k, v in raw.items()}
        self.down = "transformer.h.{}.mlp.c_proj"

    def logits(self, ids):
        c, w = self.config, self.w
        n, d, heads = len(ids), c["n_embd"], c["n_head"]
        head_dim = d // heads
        eps = c["layer_norm_epsilon"]
        causal = torch.full((n, n), float("-inf")).triu(1)
        x = w["transformer.wte.weight"][torch.tensor(ids)] + w["transformer.wpe.weight"][:n]
        for layer in range(c["n_layer"]):
            p = "transformer.h.%d." % layer
            h = torch.nn.functional.layer_norm(x, (d,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
            qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]  # Conv1D: [in, out]
            q, k, v = (t.view(n, heads, head_dim).transpose(0, 1) for t in qkv.split(d, dim=-1))
            scores = q @ k.transpose(1, 2) / math.sqrt(head_dim) + causal
            attn = (scores.softmax(-1) @ v).transpose(0, 1).reshape(n, d)
            x = x + attn @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            h = torch.nn.functional.layer_norm(x, (d,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
            h = gelu_new(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
            x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        x = torch.nn.functional.layer_norm(x, (d,), w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
        return x @ w["transformer.wte.weight"].T


# ---------------------------------------------------------------- DINM

def kl(pre_logits, post_logits):
    # kl_loc_loss with an all-ones mask: mean over positions of sum_v p_pre (log p_pre - log p_post).
    pre = pre_logits.log_softmax(-1)
    return (pre.exp() * (pre - post_logits.log_softmax(-1))).sum(-1).mean()


def easyedit_losses(model, edit_ids, labels, constraint_ids, window, base_window):
    logits = model.logits(edit_ids)
    scored = logits[:-1][-len(labels):]  # masked_log_probs, shift=True
    mask = torch.tensor([label != -100 for label in labels])
    targets = torch.tensor([label if label != -100 else 0 for label in labels])
    log_probs = scored.log_softmax(-1).gather(-1, targets[:, None])[:, 0]
    nll = -(log_probs * mask).sum() / mask.sum()
    with torch.no_grad():
        post = model.logits(constraint_ids)[-window:]
    return nll, kl(base_window, post)


def default_losses(model, edit_prompt, edit_target, constraint_prompt, constraint_answer, base_window):
    logits = model.logits(edit_prompt + edit_target)
    scored = logits[len(edit_prompt) - 1:len(edit_prompt) - 1 + len(edit_target)]
    nll = -scored.log_softmax(-1).gather(-1, torch.tensor(edit_target)[:, None]).mean()
    post = model.logits(constraint_prompt + constraint_answer)
    post = post[len(constraint_prompt) - 1:len(constraint_prompt) - 1 + len(constraint_answer)]
    return nll, kl(base_window, post)


def train(model, names, loss_fn):
    """EasyEdit's loop (and the project's): loss, stop below STOP_LOSS, backward, Adam step."""
    params = [model.w[n] for n in names]
    originals = [p.clone() for p in params]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=LEARNING_RATE, weight_decay=0)
    history = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        nll, constraint = loss_fn()
        loss = KL_FACTOR * nll + constraint
        history.append({"total": loss.item(), "edit": nll.item(), "constraint": constraint.item()})
        if loss.item() < STOP_LOSS:
            break
        loss.backward()
        optimizer.step()
    tensors = {}
    for name, p, original in zip(names, params, originals):
        delta = (p.detach() - original)
        flat = delta.flatten()
        largest = flat.abs().argsort(descending=True)[:4].tolist()
        tensors[name] = {
            "shape": list(delta.shape),
            "delta_norm": delta.norm().item(),
            "largest_entries": [[i, flat[i].item()] for i in largest],  # flat index in the HF stored layout
        }
        with torch.no_grad():
            p.copy_(original)
        p.requires_grad_(False)
    return {"loss": history, "tensors": tensors}


def trained_names(model, layer, compat):
    module = model.down.format(layer)
    if compat:  # dinm_main.py: every parameter whose name contains the module's name
        return [n for n in model.w if module in n]
    return [module + ".weight"]


def easyedit_case(model, layer, edit_ids, labels, constraint_ids, window):
    with torch.no_grad():
        base = model.logits(constraint_ids)[-window:]
    run = train(model, trained_names(model, layer, True),
                lambda: easyedit_losses(model, edit_ids, labels, constraint_ids, window, base))
    run.update({"layer": layer, "edit_ids": edit_ids, "edit_labels": labels, "constraint_ids": constraint_ids,
                "constraint_window": window})
    return run


def default_case(model, layer, edit_prompt, edit_target, constraint_prompt, constraint_answer):
    with torch.no_grad():
        base = model.logits(constraint_prompt + constraint_answer)
        base = base[len(constraint_prompt) - 1:len(constraint_prompt) - 1 + len(constraint_answer)]
    run = train(model, trained_names(model, layer, False),
                lambda: default_losses(model, edit_prompt, edit_target, constraint_prompt, constraint_answer, base))
    run.update({"layer": layer, "edit_prompt_ids": edit_prompt, "edit_target_ids": edit_target,
                "constraint_prompt_ids": constraint_prompt, "constraint_answer_ids": constraint_answer})
    return run


def llama_cases(fixtures):
    folder = fixtures + "/stories260K-hf"
    model, tok = Llama(folder), LlamaBpe(folder + "/tokenizer.json")
    r = RECORD
    # run_safety_editing.py / execute_dinm strings.
    target_new = " " + r["safe_generation"]
    edit_text = r["adversarial_prompt"] + " " + SUFFIX + " " + target_new
    constraint_text = r["knowledge_prompt"] + " " + SUFFIX + " " + r["knowledge_answer"]
    eos = tok.vocab["</s>"]
    labels = [(-100 if t == eos else t) for t in tok.encode(target_new, True)]
    compat = easyedit_case(model, LLAMA_LAYER, tok.encode(edit_text, True), labels, tok.encode(constraint_text, True),
                           len(tok.encode(r["knowledge_answer"], True)))
    default = default_case(model, LLAMA_LAYER, tok.encode(r["adversarial_prompt"] + " " + SUFFIX, True),
                           tok.encode(" " + r["safe_generation"], False), tok.encode(r["knowledge_prompt"], True),
                           tok.encode(" " + r["knowledge_answer"], False))
    return compat, default


def locate_distances(model, safe_ids, unsafe_ids, pad_id, left):
    """SafetyEditor._locate_toxic_layer: [target_new, ground_truth] in one padded batch; per layer
    torch.dist of the two rows' whole hidden-state matrices (pad positions included)."""
    n = max(len(safe_ids), len(unsafe_ids))
    batch, mask = [], []
    for ids in (safe_ids, unsafe_ids):
        pad = [pad_id] * (n - len(ids))
        batch.append(pad + ids if left else ids + pad)
        mask.append([0] * len(pad) + [1] * len(ids) if left else [1] * len(ids) + [0] * len(pad))
    with torch.no_grad():
        hidden, _ = model.forward(batch, mask)
    return [torch.dist(h[0], h[1], p=2).item() for h in hidden[1:]]


def llama_locate(fixtures):
    folder = fixtures + "/stories260K-hf"
    model, tok = Llama(folder), LlamaBpe(folder + "/tokenizer.json")
    safe, unsafe = tok.encode(RECORD["safe_generation"], True), tok.encode(RECORD["unsafe_generation"], True)
    eos = tok.vocab["</s>"]  # SafetyEditor: pad_token_id = eos_token_id
    return {"safe_ids": safe, "unsafe_ids": unsafe,
            "right": locate_distances(model, safe, unsafe, eos, False),
            "left": locate_distances(model, safe, unsafe, eos, True)}


def gpt2_cases(fixtures):
    model = Gpt2(fixtures + "/tiny-hf/gpt2")
    eos = model.config["eos_token_id"]
    labels = [(-100 if t == eos else t) for t in GPT2_EDIT_TARGET]  # tok(" " + target): no BOS for GPT-2
    compat = easyedit_case(model, GPT2_LAYER, GPT2_EDIT_PROMPT + GPT2_EDIT_TARGET, labels,
                           GPT2_CONSTRAINT_PROMPT + GPT2_CONSTRAINT_ANSWER, len(GPT2_CONSTRAINT_ANSWER))
    # The project's default mode has the same ids, split into prompt and target.
    default = default_case(model, GPT2_LAYER, GPT2_EDIT_PROMPT, GPT2_EDIT_TARGET, GPT2_CONSTRAINT_PROMPT,
                           GPT2_CONSTRAINT_ANSWER)
    return compat, default


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    fixtures, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    llama_compat, llama_default = llama_cases(fixtures)
    gpt2_compat, gpt2_default = gpt2_cases(fixtures)
    result = {
        "generated_by": "tests/tools/easyedit_dinm_reference.py (python3-torch %s)" % torch.__version__,
        "settings": {"learning_rate": LEARNING_RATE, "max_steps": STEPS, "edit_loss_weight": KL_FACTOR,
                     "stop_loss": STOP_LOSS, "suffix_system_prompt": SUFFIX},
        "record": RECORD,
        "cases": {
            "stories260K_easyedit": dict(llama_compat, fixture="stories260K-hf"),
            "stories260K_default": dict(llama_default, fixture="stories260K-hf"),
            "gpt2_easyedit": dict(gpt2_compat, fixture="tiny-hf/gpt2"),
            "gpt2_default": dict(gpt2_default, fixture="tiny-hf/gpt2"),
        },
        # Per-layer distances of the EasyEdit location on stories260K, right and left padding (eager).
        "locate_stories260K": llama_locate(fixtures),
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
