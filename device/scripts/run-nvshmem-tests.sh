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

# The nvshmem transport on the GPU machine, from the repository root, with the bundle of pack-gpu-bundle.sh (.gpu copied along):
#
#   device/scripts/run-nvshmem-tests.sh STAGE ...
#
#   build        builds the NVSHMEM JNI library (device/src/main/native/nvshmem) and the NVSHMEM-linked kernel cubin
#                (device/src/main/cuda/build-nvshmem-kernels.sh) into .gpu/native, against NVSHMEM from $NVSHMEM_HOME
#                or the nvidia-nvshmem-cu13 wheel; every other stage runs it first when .gpu/native lacks them
#   tests [JUNIT_OPTION ...]   NvshmemProcessTest (conformance R = 4 and 8, SIGKILL at every phase, two deaths, SIGSTOP
#                + readmit), PEs time-slicing the GPU (no MPS); JUnit console filters replace the default one, e.g.
#                --include-classname '.*NvshmemProcessTest' --include-methodname '.*twoPesDie.*'
#   forced       the conformance cases with every peer reached through NVSHMEM device calls (the remote-transport
#                path, forced on for PEs of one GPU); mps-forced: the same under CUDA MPS
#   mps-tests [JUNIT_OPTION ...]   the same tests as "tests" under CUDA MPS (see below)
#   demo         the decode demo over nvshmem (examples' NvshmemDemoGpuTest: 4 rank processes, a rank SIGKILLed)
#   bench [R ...] [-- OPTION ...]   NvshmemBench for each R (default 4 8): nvshmem vs cuda-local latency, copy and
#                (with several GPUs) GPU-to-GPU bandwidth, then the decode-shaped tables (small batches next to their
#                floor, skewed routing next to uniform); options after -- go to NvshmemBench: --iters N, --warmup N,
#                --tokens T,T,... (default 1,8,32,128; none skips), --skew FORM,... (default
#                uniform,zipf:1.0,zipf:1.2,half-hot; none skips); under CUDA MPS unless TOKENROUTE_MPS=0 (one PE per GPU)
#
# MPS: the script starts its own control daemon with private pipe and log folders (no compute-mode change, nothing
# system-wide) and stops it at the end (echo quit). NVSHMEM_DISABLE_NVLS=1 and NCCL_NVLS_ENABLE=0 are always exported.
# Logs go to $OUT (else .gpu/logs); each stage prints a short table last.
set -uo pipefail
export NVSHMEM_DISABLE_NVLS=1
export NCCL_NVLS_ENABLE=0

repo=$(cd "$(dirname "$0")/../.." && pwd)
bundle="$repo/.gpu"
native="$bundle/native"
logs="${OUT:-$bundle/logs}"
mkdir -p "$logs" "$native"
say() { echo "[run-nvshmem-tests] $*"; }

nv=${NVSHMEM_HOME:-$(python3 -c 'import nvidia.nvshmem; print(list(nvidia.nvshmem.__path__)[0])' 2>/dev/null || true)}
[ -n "$nv" ] && [ -f "$nv/include/nvshmem.h" ] || { say "NVSHMEM not found (NVSHMEM_HOME or the nvidia.nvshmem wheel)"; exit 2; }
export LD_LIBRARY_PATH="$nv/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TOKENROUTE_NVSHMEM_LIB="$native/libtokenroute_nvshmem.so"
cubin="$native/kernels-nvshmem.cubin"

build() {
  # CMake wants jni.h under $JAVA_HOME/include: the bundle carries the JDK's include folder next to the jlink'd runtime.
  local jhome
  jhome=$(mktemp -d)
  ln -s "$bundle/jni-include" "$jhome/include"
  JAVA_HOME="$jhome" bash "$repo/device/src/main/native/nvshmem/build-nvshmem.sh" "$native" > "$logs/nvshmem-build.log" 2>&1 \
    || { tail -n 30 "$logs/nvshmem-build.log"; say "building the JNI library failed"; return 1; }
  bash "$repo/device/src/main/cuda/build-nvshmem-kernels.sh" "$native" > "$logs/nvshmem-kernels.log" 2>&1 \
    || { tail -n 30 "$logs/nvshmem-kernels.log"; say "building the NVSHMEM kernels failed"; return 1; }
  tail -n 1 "$logs/nvshmem-build.log"; tail -n 1 "$logs/nvshmem-kernels.log"
  # Handed back with the logs, so a later run can bring them in .gpu/native instead of building again.
  if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT/native" && cp "$TOKENROUTE_NVSHMEM_LIB" "$cubin" "$OUT/native/"
  fi
}

mps_dir=""
start_mps() {
  mps_dir=$(mktemp -d /tmp/tokenroute-mps-XXXXXX)
  export CUDA_MPS_PIPE_DIRECTORY="$mps_dir/pipe" CUDA_MPS_LOG_DIRECTORY="$mps_dir/log"
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  nvidia-cuda-mps-control -d || { say "cannot start the MPS control daemon"; return 1; }
  say "MPS daemon started (pipe $CUDA_MPS_PIPE_DIRECTORY)"
}
stop_mps() {
  if [ -n "$mps_dir" ]; then
    echo quit | nvidia-cuda-mps-control
    cp -r "$CUDA_MPS_LOG_DIRECTORY" "$logs/mps-log" 2>/dev/null || true
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    mps_dir=""
    say "MPS daemon stopped"
  fi
}
trap stop_mps EXIT

process_tests() {
  local tag=$1
  shift
  # The console launcher scans the test jar; filters (not selectors, which cannot be combined with scanning) narrow it.
  local select=(--include-classname '.*\.NvshmemProcessTest')
  [ $# -gt 0 ] && select=("$@")
  TOKENROUTE_RUN_TAG=$tag TOKENROUTE_JVM_OPTS="${TOKENROUTE_JVM_OPTS:-} -Dtokenroute.test.nvshmemKernels=$cubin" \
    bash "$repo/device/scripts/run-gpu-tests.sh" routing -- "${select[@]}"
  local status=$?
  # The kill tests print one DETECTION line per survivor: the step that met the death next to healthy and later steps.
  local detections
  detections=$(grep -h '^DETECTION' "$logs/gpu-tests/routing-$tag.log" 2>/dev/null)
  if [ -n "$detections" ]; then
    echo; echo "detection ($tag): scenario | survivor | healthy step | step that met the death | later steps (max)"
    echo "$detections" | sed 's/^DETECTION /  /'
  fi
  return $status
}

stage=${1:-tests}
shift || true
if [ "$stage" != build ] && { [ ! -f "$TOKENROUTE_NVSHMEM_LIB" ] || [ ! -f "$cubin" ]; }; then
  build || exit 1
fi
case "$stage" in
  build) build ;;
  tests) process_tests nvshmem "$@" ;;
  forced|mps-forced)
    if [ "$stage" = mps-forced ]; then start_mps || exit 1; fi
    # NVSHMEM's own report of its init and module registration lands in the test log when a rank fails.
    NVSHMEM_DEBUG=${NVSHMEM_DEBUG:-WARN} TOKENROUTE_JVM_OPTS="${TOKENROUTE_JVM_OPTS:-} -Dtokenroute.test.forceDeviceCalls=true" \
      process_tests "nvshmem-$stage" \
      --include-classname '.*\.NvshmemProcessTest' --include-methodname '.*conformanceAgainstReference.*' ;;
  demo)
    # The decode demo with one process per rank (examples' NvshmemDemoGpuTest; pack with the examples module).
    TOKENROUTE_RUN_TAG=nvshmem-demo bash "$repo/device/scripts/run-gpu-tests.sh" examples -- \
      --include-classname '.*NvshmemDemoGpuTest' ;;
  mps-tests)
    start_mps || exit 1
    TOKENROUTE_JVM_OPTS="${TOKENROUTE_JVM_OPTS:-} -Dtokenroute.test.mps=true -Dtokenroute.test.timeoutMillis=${MPS_TIMEOUT_MILLIS:-100}" \
      process_tests nvshmem-mps "$@"
    ;;
  bench)
    # One PE per GPU (the multi-GPU run) needs no MPS: TOKENROUTE_MPS=0 leaves it off.
    if [ "${TOKENROUTE_MPS:-1}" = 1 ]; then start_mps || exit 1; fi
    [ -f "$bundle/lib/tokenroute-cuda-bench.jar" ] || { say "no tokenroute-cuda-bench.jar in the bundle"; exit 2; }
    # shellcheck source=bundle-env.sh
    . "$repo/device/scripts/bundle-env.sh"
    bundle_java
    bundle_cudart
    rank_counts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do rank_counts+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    [ ${#rank_counts[@]} -gt 0 ] || rank_counts=(4 8)
    status=0
    for r in "${rank_counts[@]}"; do
      # Everything from the first table on (the per-rank lines stay in the log).
      bundle_bench io.tokenroute.examples.bench.NvshmemBench --ranks "$r" "$@" 2>&1 | tee "$logs/nvshmem-bench-$r.log" \
        | sed -n '/^nvshmem vs cuda-local/,$p'
      [ "${PIPESTATUS[0]}" = 0 ] || status=1
    done
    exit $status
    ;;
  *) say "unknown stage $stage (build, tests, forced, mps-forced, demo, mps-tests, bench)"; exit 2 ;;
esac
