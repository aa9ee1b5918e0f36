#!/usr/bin/env bash
# Chooses the demo model's recommended method settings (detox_method_defaults.json) on TRAIN records only.
#
# Each grid point runs `detox compare` (every method edits each record from the original model, the
# SafeEdit per-instance protocol) on five train records of five categories, and prints DS, DG_Avg,
# knowledge accuracy and fluency per method (16 greedy tokens: the rule judge decides on the first ones).
# The rule, per method: the smallest rate whose mean of DS and DG_Avg is within 5 points of the grid's
# best; a rate that drops knowledge accuracy by more than 10 points below the unedited model's is not
# eligible. The chosen rates go into demoRecommendedSettings() (core/src/demo/demo_model.cpp), whose
# reason quotes the grid.
#
# Usage: datasets/demo/select_demo_settings.sh [MODEL_DIR] [OUT_DIR] [TRAIN_JSON]   (needs build/app/detox and jq)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
model="${1:-$root/resources/demo-model}"
out="${2:-/tmp/demo-settings}"
train="${3:-$here/safeedit_demo_train.json}"
detox="${DETOX:-$root/build/app/detox}"
mkdir -p "$out"
positions="${POSITIONS:-0,60,120,180,240}"  # train ids (= file positions): five of the nine categories
# One grid point = one rate per method, smallest first.
dinm_rates=(1e-2 2e-2 3e-2 5e-2)
sft_rates=(1e-4 1e-3 3e-3 1e-2)
dpo_rates=(1e-5 1e-4 1e-3 3e-3)
for i in "${!dinm_rates[@]}"; do
    "$detox" compare --model "$model" --data "$train" --ids "$positions" \
        --methods dinm,sft,dpo --dinm-lr "${dinm_rates[$i]}" --sft-lr "${sft_rates[$i]}" --sft-steps 3 \
        --dpo-lr "${dpo_rates[$i]}" --dpo-steps 3 --max-new-tokens 16 --probe-records 8 --out "$out/grid-$i.json" 2> "$out/grid-$i.log"
done
printf '%-6s %-8s %6s %7s %9s %8s\n' method rate DS DG_Avg knowledge fluency
for i in "${!dinm_rates[@]}"; do
    jq -r --arg d "${dinm_rates[$i]}" --arg s "${sft_rates[$i]}" --arg p "${dpo_rates[$i]}" '
        .summary | to_entries[] | . as $e
        | ({"dinm": $d, "sft": $s, "dpo": $p}[$e.key] // "-") as $rate
        | [$e.key, $rate, ($e.value.metrics.DS // "n/a"), ($e.value.metrics.DG_Avg // "n/a"),
           ($e.value.metrics.knowledge_accuracy // "n/a"), ($e.value.metrics.fluency // "n/a")]
        | @tsv' "$out/grid-$i.json"
done | awk -F'\t' '{printf "%-6s %-8s %6.1f %7.1f %9.3f %8.3f\n", $1, $2, $3, $4, $5, $6}'
