#!/usr/bin/env bash
# A long fuzz run of one target: TOTAL mutated inputs as chunks of CHUNK, chunk i from seed 1000 + i (so a
# run can be repeated exactly, and a shared machine gets its lock back between chunks). Prints each chunk's
# JSON line and a total line. Findings go to FINDINGS (default ./fuzz-findings).
#   tests/fuzz/long_run.sh BUILD_DIR TARGET TOTAL [CHUNK]
# DETOX_FUZZ_WRAP prefixes every chunk's command, e.g. DETOX_FUZZ_WRAP="flock /tmp/build.lock nice -n 10".
set -euo pipefail
build=$1 target=$2 total=$3 chunk=${4:-100000}
findings=${FINDINGS:-fuzz-findings}
mkdir -p "$findings"
executions=0 seconds=0 found=0 accepted=0 i=0
while (( i * chunk < total )); do
  runs=$(( total - i * chunk < chunk ? total - i * chunk : chunk ))
  line=$(${DETOX_FUZZ_WRAP:-} "$build/tests/fuzz/fuzz_inputs" --target "$target" --runs "$runs" --seed $(( 1000 + i )) \
           --findings "$findings" 2>>"$findings/$target-stderr.log" | tail -1) || true
  echo "$line"
  if [[ $line != *'"mutated"'* ]]; then found=$(( found + 1 )); i=$(( i + 1 )); continue; fi  # a crash: see the log
  field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p" <<<"$line"; }
  executions=$(( executions + $(field mutated) ))
  accepted=$(( accepted + $(field accepted) ))
  found=$(( found + $(field findings) ))
  seconds=$(awk -v a="$seconds" -v b="$(field seconds)" 'BEGIN { print a + b }')
  i=$(( i + 1 ))
done
echo "{\"target\": \"$target\", \"chunks\": $i, \"mutated\": $executions, \"accepted\": $accepted, \"findings\": $found, \"seconds\": $seconds}"
