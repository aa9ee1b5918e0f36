#!/usr/bin/env bash
# The 7B target end to end on this machine: a random BF16 checkpoint of Llama-2-7B's shape (13.5 GB,
# written by detox-bench), then one `detox edit` in stored mode - locate, 32 greedy tokens before, 10 DINM
# steps, 32 tokens after (plus what the record study adds: knowledge before/after, locate after) and save -
# timed with /usr/bin/time -v (wall time, peak RSS). Random weights: the figures are about time and memory,
# the answers are noise.
#
#   scripts/scale-7b.sh [WORK_DIR]      (default /tmp/detox-scale-7b; removed at the end unless KEEP=1)
#   LAYER=16 scripts/scale-7b.sh       edit layer 16 instead of the located one (random weights locate the
#                                      last layer, where a step only runs one layer and the LM head)
#   MODEL=DIR scripts/scale-7b.sh      reuse a checkpoint written before (KEEP=1 keeps it)
#
# Needs ~30 GB free disk in WORK_DIR (checkpoint + saved copy), the build (BUILD, default build/) and the
# fixtures (FIXTURES, default ../shared/fixtures: SafeEdit's three editing records and stories260K's
# tokenizer). Takes the whole machine: run it under `flock /work/tmp/build.lock` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FIXTURES=${FIXTURES:-../shared/fixtures}
WORK=${1:-/tmp/detox-scale-7b}
RECORD=${RECORD:-1}
for f in "$BUILD/bench/detox-bench" "$BUILD/app/detox" "$FIXTURES/safeedit-sample/three_instances_for_editing.json" \
         "$FIXTURES/stories260K-hf/tokenizer.json"; do
    [[ -e $f ]] || { echo "scale-7b.sh: missing $f" >&2; exit 2; }
done
[[ -e $WORK ]] && { echo "scale-7b.sh: $WORK exists; give a new folder" >&2; exit 2; }
mkdir -p "$WORK"
free_gb=$(df --output=avail -BG "$WORK" | tail -1 | tr -dc 0-9)
need=$([[ -n ${MODEL:-} ]] && echo 15 || echo 30)
if (( free_gb < need )); then echo "scale-7b.sh: $free_gb GB free in $WORK, need $need" >&2; rmdir "$WORK"; exit 2; fi
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$WORK"' EXIT

MODEL=${MODEL:-}
if [[ -z $MODEL ]]; then
    MODEL=$WORK/model
    echo "== writing the random Llama-2-7B-shaped BF16 checkpoint to $MODEL" >&2
    "$BUILD/bench/detox-bench" --write-checkpoint llama7b "$MODEL"
    cp "$FIXTURES/stories260K-hf/tokenizer.json" "$MODEL/"
    sync
fi
layer=()
[[ -n ${LAYER:-} ]] && layer=(--layer "$LAYER")
echo "== detox edit (stored weights, record $RECORD, locate + 10 DINM steps + 32 tokens before/after + save)" >&2
/usr/bin/time -v -o "$WORK/time.txt" "$BUILD/app/detox" edit --model "$MODEL" --weights stored "${layer[@]}" \
    --data "$FIXTURES/safeedit-sample/three_instances_for_editing.json" --id "$RECORD" --method dinm --steps 10 \
    --max-new-tokens 32 --chat-template plain --save "$WORK/edited" > "$WORK/edit.json" \
    2> >(while IFS= read -r line; do printf '%s %s\n' "$(date +%T)" "$line"; done | tee "$WORK/progress.log" | grep -v generating >&2)
wait  # the timestamping of the progress lines
grep -E "Elapsed|Maximum resident" "$WORK/time.txt"
python3 - "$WORK/edit.json" <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))
r = out["result"]
print("toxic layer", out["toxic_layer"], "| DINM seconds", round(out["duration_seconds"], 1),
      "| steps", len(out["loss_history"]), "| settings", {k: r["settings"].get(k) for k in ("pinned_f32_bytes", "max_steps")})
print("weights", r["provenance"].get("model_weights"), "| compute", r["provenance"].get("compute"))
PY
