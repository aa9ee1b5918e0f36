#!/usr/bin/env bash
# GPU check of the runtime's device support (issue 13). Not run by the tests: it needs an NVIDIA GPU and a
# CUDA build of LibTorch 1.13+ (the cxx11-ABI zip from pytorch.org, unpacked anywhere).
#
#   scripts/gpu-check.sh /path/to/libtorch [BUILD_DIR]        (BUILD_DIR default: build-cuda)
#
# 1. configures and builds `detox` against that LibTorch (-DCMAKE_PREFIX_PATH=/path/to/libtorch);
# 2. logits parity CUDA vs CPU on the tiny HF fixtures (relative to the largest CPU logit):
#      --weights f32    (F32 compute on the GPU)   <= 1e-4
#      --weights stored (BF16 compute on the GPU)  <= 2e-2
# 3. a DINM edit on the GPU (detox edit --method dinm --device cuda) and a greedy generation on the GPU
#    compared with the CPU's (F32).
# Exit status 0 when every check passes. Fixtures: $DETOX_FIXTURES, else ../shared/fixtures.
set -euo pipefail
LIBTORCH=${1:?usage: scripts/gpu-check.sh /path/to/libtorch [BUILD_DIR]}
BUILD=${2:-build-cuda}
cd "$(dirname "$0")/.."
FIXTURES=${DETOX_FIXTURES:-$PWD/../shared/fixtures}
DEVICE=${DETOX_GPU:-cuda:0}

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$LIBTORCH"
cmake --build "$BUILD" --target detox
DETOX="$BUILD/app/detox"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

compare() {  # compare CPU.json GPU.json TOLERANCE LABEL
    python3 - "$@" <<'PY'
import json, sys
cpu, gpu, tolerance, label = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
a = json.load(open(cpu))["logits"]; b = json.load(open(gpu))["logits"]
scale = max(abs(x) for row in a for x in row)
worst = max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)) / scale
ok = worst <= tolerance
print(f"{label}: max relative difference {worst:.3g} (limit {tolerance:g}) {'ok' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
}

IDS=1,5,9,14,3,7,22,40
for model in gpt2 llama qwen2; do
    dir="$FIXTURES/tiny-hf/$model"
    "$DETOX" logits --model "$dir" --ids $IDS --weights f32 --device cpu >"$TMP/cpu.json"
    "$DETOX" logits --model "$dir" --ids $IDS --weights f32 --device "$DEVICE" >"$TMP/f32.json"
    "$DETOX" logits --model "$dir" --ids $IDS --weights stored --device "$DEVICE" >"$TMP/bf16.json"
    compare "$TMP/cpu.json" "$TMP/f32.json" 1e-4 "$model f32 on $DEVICE" || failures=$((failures + 1))
    compare "$TMP/cpu.json" "$TMP/bf16.json" 2e-2 "$model bf16 on $DEVICE" || failures=$((failures + 1))
done

STORIES="$FIXTURES/stories260K-hf"
for device in cpu "$DEVICE"; do
    "$DETOX" generate --model "$STORIES" --prompt "Once upon a time" --no-chat-template --max-new-tokens 24 \
        --weights f32 --device "$device" >"$TMP/generate-${device%%:*}.json"
done
if python3 -c "import json,sys; a,b=(json.load(open(f))['output_ids'] for f in sys.argv[1:]); sys.exit(a!=b)" \
    "$TMP/generate-cpu.json" "$TMP/generate-cuda.json"; then
    echo "generation on $DEVICE: same greedy tokens as the CPU ok"
else
    echo "generation on $DEVICE: tokens differ from the CPU FAIL"; failures=$((failures + 1))
fi

if "$DETOX" edit --model "$STORIES" --data "$FIXTURES/safeedit-sample/safeedit_test_sample.json" --id 0 \
    --method dinm --steps 3 --layer 2 --max-new-tokens 16 --device "$DEVICE" >"$TMP/edit.json"; then
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('DINM on $DEVICE: losses', [round(x['total'],4) for x in r['result']['loss_history']] if 'result' in r else list(r))" "$TMP/edit.json" || true
    echo "DINM edit on $DEVICE ok"
else
    echo "DINM edit on $DEVICE FAIL"; failures=$((failures + 1))
fi

echo "$failures check(s) failed"
exit $((failures > 0))
