#!/usr/bin/env bash
# Decode speed of the workbench against llama.cpp, side by side, on the same random checkpoints.
#
#   scripts/llamacpp-compare.sh LLAMA_CPP_BUILD_DIR [WORK_DIR]
#
# A benchmark, never part of the tests or CI. llama.cpp is built by you from its public source
# (CPU, Release; target llama-bench) and never shipped with the workbench. What it does:
# 1. Two random checkpoints in a temporary folder under WORK_DIR (default: $TMPDIR or /tmp), removed at
#    exit: `detox-bench --write-checkpoint tinyllama` (TinyLlama-1.1B shape, BF16) and a GPT-2 124M
#    shape in F32 (written here with numpy; the workbench's runtime benchmark uses the same shape).
# 2. scripts/safetensors_to_gguf.py converts them to GGUF: TinyLlama to BF16 and F32, GPT-2 to F32
#    (llama.cpp's gguf-py, found in the source folder of LLAMA_CPP_BUILD_DIR, or LLAMA_CPP_SOURCE), with a
#    FAKE vocabulary (the random checkpoints have no tokenizer; llama-bench feeds token ids).
# 3. ROUNDS (default 3) interleaved rounds. Each, per model: `detox-bench --filter decode --checkpoint`
#    (the workbench's KV-cache decode step, batch 1, the best of its runs of 16 steps, loaded in stored
#    mode (the file's dtype, memory-mapped) and in F32 mode, with the memory bandwidth measured before
#    and after each mode); then llama.cpp on each GGUF: `llama-bench -p 0 -n TOKENS -t THREADS -r 3`
#    (tg TOKENS, default 32: the best of 3 repetitions after a warm-up). Timing `detox generate` was
#    tried and dropped: its decode time, as the difference of two runs, drowned in the F32 load's
#    variation (seconds).
# 4. Prints a table: tokens/s (best and median of the rounds), fraction of the bandwidth bound and the
#    ratio to llama.cpp. Bound = weight bytes read per generated token / the best bandwidth of the run;
#    bytes per token = every weight except the embedding tables (a lookup reads one row; the LM head,
#    tied or not, is read whole) at 2 bytes (BF16) or 4 bytes (F32) a parameter.
# Run it on a quiet machine (nothing else running); THREADS defaults to the number of cores. On a shared
# machine, LOCK_FILE=FILE takes that flock(1) lock for the preparation and for each round (released in
# between), so that other work that takes the same lock never runs during a timed run.
set -euo pipefail

fail() { echo "llamacpp-compare.sh: $*" >&2; exit 2; }
lock() {
    if [[ -n ${LOCK_FILE:-} ]]; then exec 9>>"$LOCK_FILE" && flock 9; fi
}
unlock() {
    if [[ -n ${LOCK_FILE:-} ]]; then flock -u 9 && exec 9>&-; fi
}
[[ $# -ge 1 && $# -le 2 ]] || fail "usage: scripts/llamacpp-compare.sh LLAMA_CPP_BUILD_DIR [WORK_DIR]"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
detox_build=${DETOX_BUILD:-$repo/build}
llama_build=$1
work_parent=${2:-${TMPDIR:-/tmp}}
rounds=${ROUNDS:-3}
tokens=${TOKENS:-32}
threads=${THREADS:-$(nproc)}
python=/usr/bin/python3

llama_bench=$llama_build/bin/llama-bench
[[ -x $llama_bench ]] || fail "$llama_bench not found: build llama.cpp first (cmake -B BUILD -DGGML_NATIVE=ON" \
    "-DLLAMA_CURL=OFF && cmake --build BUILD --target llama-bench) and pass BUILD"
if ! { [[ -x $python ]] && $python -c 'import numpy' 2>/dev/null; }; then
    fail "$python with numpy is needed for the GGUF conversion (Debian: apt-get install python3-numpy)"
fi
llama_source=${LLAMA_CPP_SOURCE:-$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$llama_build/CMakeCache.txt" 2>/dev/null)}
[[ -d $llama_source/gguf-py/gguf ]] ||
    fail "llama.cpp's gguf-py not found under '$llama_source' (set LLAMA_CPP_SOURCE to the llama.cpp source folder)"
for tool in "$detox_build/app/detox" "$detox_build/bench/detox-bench"; do
    [[ -x $tool ]] || fail "$tool not found: build the workbench first (or set DETOX_BUILD)"
done
"$detox_build/bench/detox-bench" --list | grep -q '^decode' ||
    fail "$detox_build/bench/detox-bench has no decode benchmark: rebuild detox-bench"
[[ -d $work_parent ]] || fail "WORK_DIR $work_parent is not a folder"

work=$(mktemp -d "$work_parent/llamacpp-compare.XXXXXX")
trap 'rm -rf "$work"' EXIT
results=$work/results.tsv  # round, model, tool, weights, tokens/s (tool "bandwidth": GB/s)

json_value() {  # json_value FILE PYTHON_EXPRESSION_OF_j
    $python -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# A random GPT-2 124M checkpoint in HF's layout (F32, tied embeddings, Conv1D [in, out] matrices), as the
# workbench's runtime benchmark builds in memory: detox-bench writes only Llama shapes to disk.
write_random_gpt2() {
    $python - "$1" <<'GPT2'
import json, struct, sys
from pathlib import Path
import numpy as np

folder = Path(sys.argv[1]); folder.mkdir()
hidden, layers, vocab, positions = 768, 12, 50257, 1024
config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
          "n_embd": hidden, "n_head": 12, "n_layer": layers, "n_positions": positions, "n_inner": None,
          "vocab_size": vocab, "layer_norm_epsilon": 1e-5, "bos_token_id": 50256, "eos_token_id": 50256,
          "tie_word_embeddings": True}
(folder / "config.json").write_text(json.dumps(config, indent=2))
shapes = {"transformer.wte.weight": (vocab, hidden), "transformer.wpe.weight": (positions, hidden),
          "transformer.ln_f.weight": (hidden,), "transformer.ln_f.bias": (hidden,)}
for i in range(layers):
    for name, shape in {"ln_1.weight": (hidden,), "ln_1.bias": (hidden,), "ln_2.weight": (hidden,),
                        "ln_2.bias": (hidden,), "attn.c_attn.weight": (hidden, 3 * hidden),
                        "attn.c_attn.bias": (3 * hidden,), "attn.c_proj.weight": (hidden, hidden),
                        "attn.c_proj.bias": (hidden,), "mlp.c_fc.weight": (hidden, 4 * hidden),
                        "mlp.c_fc.bias": (4 * hidden,), "mlp.c_proj.weight": (4 * hidden, hidden),
                        "mlp.c_proj.bias": (hidden,)}.items():
        shapes[f"transformer.h.{i}.{name}"] = shape
header, offset = {}, 0
for name, shape in shapes.items():
    size = 4 * int(np.prod(shape))
    header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
    offset += size
encoded = json.dumps(header).encode()
encoded += b" " * (-len(encoded) % 8)
generator = np.random.default_rng(1)
with open(folder / "model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(encoded)) + encoded)
    for name, shape in shapes.items():  # matrices Normal(0, 0.02), norm weights 1, biases 0
        if len(shape) > 1:
            values = generator.normal(0.0, 0.02, shape).astype(np.float32)
        else:
            values = np.full(shape, 1.0 if name.endswith("weight") else 0.0, np.float32)
        f.write(values.tobytes())
GPT2
}

to_gguf() {  # to_gguf CHECKPOINT OUT DTYPE
    PYTHONPATH=$llama_source/gguf-py $python "$repo/scripts/safetensors_to_gguf.py" "$1" "$2" --dtype "$3"
}

llama_decode() {  # gguf -> tokens/s (the best of llama-bench's 3 repetitions)
    "$llama_bench" -m "$1" -p 0 -n "$tokens" -t "$threads" -r 3 -o json >"$work/llama.json" 2>"$work/llama.err" ||
        { cat "$work/llama.err" >&2; exit 1; }
    json_value "$work/llama.json" 'max(j[0]["samples_ts"])'
}

record() {  # record ROUND MODEL TOOL WEIGHTS COMMAND...: appends the command's figure to the results
    local value
    value=$("${@:5}")  # a separate assignment, so that a failing measurement stops the script
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$value" >>"$results"
}

# detox-bench's decode benchmark on a checkpoint in both weight modes: its decode step (batch 1, row
# kernel, best of its runs) and the bandwidth it measured around each mode. STORED names the weights
# of stored mode (the checkpoint's own dtype).
record_bench_decode() {  # record_bench_decode ROUND MODEL STORED
    local out=$work/decode.json mode weights
    "$detox_build/bench/detox-bench" --filter decode --checkpoint "$work/$2" >"$out" 2>"$work/decode.err" ||
        { tail -5 "$work/decode.err" >&2; echo "llamacpp-compare.sh: detox-bench failed on $2" >&2; exit 1; }
    for mode in stored f32; do
        weights=f32
        [[ $mode == stored ]] && weights=$3
        record "$1" "$2" "detox-bench decode" "$weights" json_value "$out" \
            "j['benchmarks']['decode']['$mode']['batch_1']['row_kernel_tokens_per_second']"
        record "$1" "$2" bandwidth "$weights" json_value "$out" \
            "j['benchmarks']['decode']['$mode']['bandwidth_gbs']['bound_uses']"
    done
}

lock
echo "writing the random checkpoints and their GGUF files in $work ..." >&2
"$detox_build/bench/detox-bench" --write-checkpoint tinyllama "$work/tinyllama" >&2
to_gguf "$work/tinyllama" "$work/tinyllama-bf16.gguf" bf16
to_gguf "$work/tinyllama" "$work/tinyllama-f32.gguf" f32
write_random_gpt2 "$work/gpt2"
to_gguf "$work/gpt2" "$work/gpt2-f32.gguf" f32
unlock

for ((round = 1; round <= rounds; ++round)); do
    lock
    echo "round $round of $rounds ..." >&2
    record_bench_decode "$round" tinyllama bf16
    record "$round" tinyllama llama.cpp bf16 llama_decode "$work/tinyllama-bf16.gguf"
    record "$round" tinyllama llama.cpp f32 llama_decode "$work/tinyllama-f32.gguf"
    record_bench_decode "$round" gpt2 "f32 mapped"
    record "$round" gpt2 llama.cpp f32 llama_decode "$work/gpt2-f32.gguf"
    unlock
done

llama_commit=$(json_value "$work/llama.json" 'j[0]["build_commit"]')
detox_commit=$(git -C "$repo" log -1 --format='%h %cs' 2>/dev/null || echo unknown)
$python - "$results" "$work" "$llama_commit" "$detox_commit" "$threads" "$tokens" <<'SUMMARY'
import json, statistics, struct, sys
from pathlib import Path

results, work, llama_commit, detox_commit, threads, tokens = sys.argv[1:]
rows = [line.split("\t") for line in Path(results).read_text().splitlines()]
bandwidth = max(float(r[4]) for r in rows if r[2] == "bandwidth")
rounds = len({r[0] for r in rows})


def parameters_read_per_token(checkpoint):
    """Every weight but the embedding tables (a lookup reads one row); a tied LM head is read whole."""
    headers = []
    for path in Path(checkpoint).glob("*.safetensors"):
        with open(path, "rb") as f:
            headers.append(json.loads(f.read(struct.unpack("<Q", f.read(8))[0])))
    entries = {name: entry for header in headers for name, entry in header.items() if name != "__metadata__"}
    lookups = {"transformer.wpe.weight"}  # position embedding rows
    if "lm_head.weight" in entries:  # untied: the token embedding is only looked up
        lookups |= {"model.embed_tokens.weight", "transformer.wte.weight"}
    total = 0
    for name, entry in entries.items():
        if name not in lookups:
            count = 1
            for extent in entry["shape"]:
                count *= extent
            total += count
    return total


print(f"decode, batch 1, {threads} threads, {rounds} interleaved rounds; workbench {detox_commit}; "
      f"llama.cpp {llama_commit}; bandwidth {bandwidth:.1f} GB/s (the best of the run)")
print(f"{'model':<34} {'weights':<11} {'tool':<19} {'tok/s best':>10} {'median':>7} {'of bound':>9} "
      f"{'/ llama.cpp best (median)':>26}")
labels = {"tinyllama": "TinyLlama-1.1B shape", "gpt2": "GPT-2 124M shape"}
for model in dict.fromkeys(r[1] for r in rows):
    parameters = parameters_read_per_token(Path(work) / model)
    speeds = {}  # (weights, tool) -> tokens/s of each round
    for r in rows:
        if r[1] == model and r[2] != "bandwidth":
            speeds.setdefault((r[3], r[2]), []).append(float(r[4]))
    label = f"{labels.get(model, model)} ({parameters / 1e6:.0f} M read)"
    for weights, tool in sorted(speeds, key=lambda key: (key[0].split()[0], key[1] == "llama.cpp", key)):
        mine, theirs = speeds[(weights, tool)], speeds[(weights.split()[0], "llama.cpp")]
        best, median = max(mine), statistics.median(mine)
        fraction = best * parameters * (2 if weights.startswith("bf16") else 4) / (bandwidth * 1e9)
        ratio = "" if tool == "llama.cpp" else f"{best / max(theirs):.2f} ({median / statistics.median(theirs):.2f})"
        print(f"{label:<34} {weights:<11} {tool:<19} {best:>10.2f} {median:>7.2f} {fraction:>9.2f} {ratio:>26}")
print(f"detox: `detox-bench --filter decode --checkpoint`, stored mode (bf16 / f32 mapped: the file's dtype) and f32")
print(f"mode, 16 steps, best of its runs; llama.cpp: llama-bench tg{tokens}, best of 3; of bound = best tok/s x")
print("weight bytes read per token / bandwidth")
SUMMARY
