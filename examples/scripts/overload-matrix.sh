#!/usr/bin/env bash
#
# Copyright 2026 The TokenRoute Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#

# False masks and detection latency of a real failure under CPU overload: runs the demo (4 ranks, small sizes, one
# rank failing halfway through, no readmission) for every transport, timeout and number of busy processes, and prints
# one Markdown table row per run. What BENCHMARKS.md's "Failure detection under overload" table comes from.
#
#   examples/scripts/overload-matrix.sh [--steps N] [--transports "local shm"] [--timeouts "5ms 20ms 100ms"]
#                                       [--busy "0 2 4"] [--tokenroute PATH]
#
# --tokenroute runs another build's CLI (an older commit's checkout, to compare before and after a change).
# A false mask is a rank masked although it was running (the demo's "false masks", or "unexpected masks" in older
# builds); the detection latency is the step in which the survivors detected the failed rank (timeout, replan and
# recompute included), in milliseconds. Busy processes are `sh` loops, as a noisy neighbour would run.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
steps=2000
transports="local shm"
timeouts="5ms 20ms 100ms"
busy_levels="0 2 4"
tokenroute="$root/tokenroute"
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --transports) transports=$2; shift 2 ;;
    --timeouts) timeouts=$2; shift 2 ;;
    --busy) busy_levels=$2; shift 2 ;;
    --tokenroute) tokenroute=$2; shift 2 ;;
    *) echo "overload-matrix.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

fail_step=$((steps / 2))
echo "| transport | timeout | busy | steps | false masks | per 10,000 steps | detection (ms) | mismatches | result |"
echo "|---|---|---|---|---|---|---|---|---|"
for transport in $transports; do
  for timeout in $timeouts; do
    for busy in $busy_levels; do
      pids=()
      for _ in $(seq 1 "$busy"); do timeout 3600 sh -c 'while :; do :; done' & pids+=($!); done
      out=$("$tokenroute" demo --no-progress --transport "$transport" --ranks 4 --experts 16 --tokens 16 \
        --hidden 256 --topk 4 --steps "$steps" --timeout "$timeout" --fail "1@$fail_step:dispatch" 2>&1)
      [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
      wait 2>/dev/null
      masks=$(echo "$out" | grep -E '^  (false|unexpected) masks' | grep -oE 'rank [0-9]+ at step' | wc -l)
      detection=$(echo "$out" | sed -nE "s/^    1@$fail_step:dispatch +step [0-9]+ +([0-9.]+).*/\1/p")
      mismatches=$(echo "$out" | grep -E '^  mismatches' | awk '{print $2}')
      result=$(echo "$out" | grep -E '^  result' | awk '{print $2}')
      rate=$(awk -v m="$masks" -v s="$steps" 'BEGIN { printf "%.0f", m * 10000 / s }')
      echo "| $transport | $timeout | $busy | $steps | $masks | $rate | ${detection:-not detected} | ${mismatches:-?} | ${result:-no summary} |"
    done
  done
done
