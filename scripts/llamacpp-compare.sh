#!/usr/bin/env bash
# Decode speed of the workbench against llama.cpp, side by side, on the same random checkpoint.
#
#   scripts/llamacpp-compare.sh LLAMA_CPP_BUILD_DIR [WORK_DIR]
#
# A benchmark, never part of the tests or CI. llama.cpp is built by you from its public source
# (CPU, Release; target llama-bench) and never shipped with the workbench. What it does:
# 1. `detox-bench --write-checkpoint tinyllama` writes a random TinyLlama-1.1B-shaped BF16 HF checkpoint
#    into a temporary folder under WORK_DIR (default: $TMPDIR or /tmp); removed at exit.
# 2. scripts/safetensors_to_gguf.py converts it to BF16 and F32 GGUF files (llama.cpp's gguf-py, found
#    in the source folder of LLAMA_CPP_BUILD_DIR, or LLAMA_CPP_SOURCE), with a FAKE vocabulary (the
#    random checkpoint has no tokenizer; llama-bench feeds token ids, so text never matters here).
# 3. ROUNDS (default 3) interleaved rounds. Each: `detox-bench --filter decode --checkpoint` (the
#    workbench's KV-cache decode step, batch 1, the best of its runs of 16 steps, loaded in stored mode
#    (BF16 mapped from the file) and in F32 mode (converted at load), with the memory bandwidth measured
#    before and after each mode); then llama.cpp on the BF16 and on the F32 GGUF:
#    `llama-bench -p 0 -n TOKENS -t THREADS -r 3` (tg TOKENS, default 32: the best of 3 repetitions
#    after a warm-up). Timing `detox generate` instead was tried and dropped: its decode time, taken as the
#    difference of two runs, drowns in the F32 load's variation (seconds).
# 4. Prints a table: tokens/s (best and median of the rounds), fraction of the bandwidth bound and the
#    ratio to llama.cpp. Bound = weight bytes read per generated token / the best bandwidth of the run;
#    bytes per token = every weight except the token embedding table (a lookup reads one row; the LM
#    head is read whole) at 2 bytes (BF16) or 4 bytes (F32) a parameter.
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
checkpoint=$work/tinyllama
results=$work/results.tsv  # round, tool, weights, tokens/s (tool "bandwidth": GB/s)

lock
echo "writing the random checkpoint and its GGUF files in $work ..." >&2
"$detox_build/bench/detox-bench" --write-checkpoint tinyllama "$checkpoint" >&2
PYTHONPATH=$llama_source/gguf-py $python "$repo/scripts/safetensors_to_gguf.py" \
    "$checkpoint" "$work/bf16.gguf" --dtype bf16
PYTHONPATH=$llama_source/gguf-py $python "$repo/scripts/safetensors_to_gguf.py" \
    "$checkpoint" "$work/f32.gguf" --dtype f32
unlock

json_value() {  # json_value FILE PYTHON_EXPRESSION_OF_j
    $python -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

llama_decode() {  # gguf -> tokens/s (the best of llama-bench's 3 repetitions)
    "$llama_bench" -m "$1" -p 0 -n "$tokens" -t "$threads" -r 3 -o json >"$work/llama.json" 2>"$work/llama.err" ||
        { cat "$work/llama.err" >&2; exit 1; }
    json_value "$work/llama.json" 'max(j[0]["samples_ts"])'
}

record() {  # record ROUND TOOL WEIGHTS COMMAND...: appends the command's figure to the results
    local value
    value=$("${@:4}")  # a separate assignment, so that a failing measurement stops the script
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$value" >>"$results"
}

# detox-bench's decode benchmark on the checkpoint in both weight modes: its decode step (batch 1,
# row kernel, best of its runs) and the bandwidth it measured around each mode.
record_bench_decode() {
    local round=$1 out=$work/decode.json mode weights
    "$detox_build/bench/detox-bench" --filter decode --checkpoint "$checkpoint" >"$out" 2>/dev/null
    for mode in stored f32; do
        weights=$mode
        [[ $mode == stored ]] && weights=bf16  # the checkpoint's own dtype
        record "$round" "detox-bench decode" "$weights" json_value "$out" \
            "j['benchmarks']['decode']['$mode']['batch_1']['row_kernel_tokens_per_second']"
        record "$round" bandwidth "$weights" json_value "$out" \
            "j['benchmarks']['decode']['$mode']['bandwidth_gbs']['bound_uses']"
    done
}

for ((round = 1; round <= rounds; ++round)); do
    lock
    echo "round $round of $rounds ..." >&2
    record_bench_decode "$round"
    record "$round" llama.cpp bf16 llama_decode "$work/bf16.gguf"
    record "$round" llama.cpp f32 llama_decode "$work/f32.gguf"
    unlock
done

llama_commit=$(json_value "$work/llama.json" 'j[0]["build_commit"]')
detox_commit=$(git -C "$repo" log -1 --format='%h %cs' 2>/dev/null || echo unknown)
$python - "$results" "$checkpoint" "$llama_commit" "$detox_commit" "$threads" "$tokens" <<'SUMMARY'
import json, statistics, struct, sys
from pathlib import Path

results, checkpoint, llama_commit, detox_commit, threads, tokens = sys.argv[1:]
rows = [line.split("\t") for line in Path(results).read_text().splitlines()]
bandwidth = max(float(r[3]) for r in rows if r[1] == "bandwidth")
rounds = len({r[0] for r in rows})

parameters = 0  # every weight but the token embedding table
for path in Path(checkpoint).glob("*.safetensors"):
    with open(path, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    for name, entry in header.items():
        if name not in ("__metadata__", "model.embed_tokens.weight"):
            count = 1
            for extent in entry["shape"]:
                count *= extent
            parameters += count

speeds = {}  # (weights, tool) -> tokens/s of each round
for r in rows:
    if r[1] != "bandwidth":
        speeds.setdefault((r[2], r[1]), []).append(float(r[3]))

print(f"decode of a random TinyLlama-1.1B-shaped checkpoint, batch 1, {threads} threads, {rounds} interleaved rounds")
print(f"workbench {detox_commit}; llama.cpp {llama_commit}; bandwidth {bandwidth:.1f} GB/s (the best of the run); "
      f"{parameters / 1e9:.3f} G weights read per token")
print(f"{'weights':<8} {'tool':<19} {'tok/s best':>10} {'median':>7} {'of bound':>9} {'/ llama.cpp best (median)':>26}")
for weights, tool in sorted(speeds, key=lambda key: (key[0], key[1] == "llama.cpp", key[1])):
    mine, theirs = speeds[(weights, tool)], speeds[(weights, "llama.cpp")]
    best, median = max(mine), statistics.median(mine)
    fraction = best * parameters * (2 if weights == "bf16" else 4) / (bandwidth * 1e9)
    ratio = "" if tool == "llama.cpp" else f"{best / max(theirs):.2f} ({median / statistics.median(theirs):.2f})"
    print(f"{weights:<8} {tool:<19} {best:>10.2f} {median:>7.2f} {fraction:>9.2f} {ratio:>26}")
print(f"detox: --weights stored (bf16) and f32, 16 steps, best of its runs; llama.cpp: tg{tokens}, best of 3;")
print("of bound = best tok/s x weight bytes per token / bandwidth")
SUMMARY
