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

# Runs the cuda-local benchmark on the GPU machine, from the repository root, with the bundle of pack-gpu-bundle.sh:
#
#   device/scripts/run-cuda-bench.sh [--iters N] [--warmup N] [--sets N] [--tokens T,T,...] [--skew FORM,...]
#
# 1. io.tokenroute.examples.bench.CudaLocalBench (R = 8 emulated ranks, T = 128, H = 7168, k = 8, E = 256): bf16 and
#    fp8 dispatch, bf16 combine, copy bandwidth, elastic vs non-elastic, masked and detection steps, host cost;
#    it writes set 0's inputs and results to $TOKENROUTE_BENCH_DIR (default /tmp/tokenroute-bench; ~150 MB, kept off
#    $OUT on purpose); then the decode-shaped tables, CUDA-graph replay and host wall time per call: for each
#    --tokens T (default 1,8,32,128; none skips) uniform routing next to its floor (the same calls with every
#    topk_idx = -1) with the phase breakdown of both, and at T = 128 each --skew (default
#    uniform,zipf:1.0,zipf:1.2,half-hot; none skips) next to uniform with the same bytes;
# 2. device/scripts/torch_ep_bench.py: checks PyTorch against those results and times the same math in PyTorch.
# Logs go to $OUT (else .gpu/logs); each part prints its table last.
set -uo pipefail
export NVSHMEM_DISABLE_NVLS=1
export NCCL_NVLS_ENABLE=0

repo=$(cd "$(dirname "$0")/../.." && pwd)
bundle="$repo/.gpu"
logs="${OUT:-$bundle/logs}"
data=${TOKENROUTE_BENCH_DIR:-/tmp/tokenroute-bench}
mkdir -p "$logs" "$data"
say() { echo "[run-cuda-bench] $*"; }
[ -f "$bundle/lib/tokenroute-cuda-bench.jar" ] || { say "no .gpu/lib/tokenroute-cuda-bench.jar: run pack-gpu-bundle.sh"; exit 2; }

# shellcheck source=bundle-env.sh
. "$repo/device/scripts/bundle-env.sh"
bundle_java
bundle_cudart

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
bundle_bench io.tokenroute.examples.bench.CudaLocalBench --dir "$data" "$@" 2>&1 | tee "$logs/cuda-bench.log"
java_status=${PIPESTATUS[0]}
PYTHONUNBUFFERED=1 python3 "$repo/device/scripts/torch_ep_bench.py" "$data" 2>&1 | tee "$logs/torch-bench.log"
torch_status=${PIPESTATUS[0]}
[ "$java_status" = 0 ] && [ "$torch_status" = 0 ]
