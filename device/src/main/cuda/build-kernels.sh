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

# Compiles the CUDA kernels into one fatbin (sm_90 SASS + compute_90 PTX) under the output folder given as $1:
#   kernels.fatbin             the module io.tokenroute.device.KernelImage loads (tokenroute_kernels.cu includes every
#                              family's header)
#   tokenroute-abi.properties  every layout, code and tunable Java shares with the kernels (tokenroute_abi.cuh), printed
#                              by the host program tokenroute_abi_dump.cu; io.tokenroute.device.KernelAbi checks the
#                              Java side against it
#   kernels.properties         how it was built (compiled=true|false, nvcc version, targets), read by tests and
#                              diagnostics
# Without nvcc it says so, writes compiled=false, removes a stale fatbin and ABI file and exits 0: the Java side then
# reports the kernels (and the ABI check) as absent at run time instead of failing the build. NVCC=/path/to/nvcc picks
# a compiler; NVCC=none builds as if there were none (to check the no-CUDA path).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?output folder}
mkdir -p "$out"
fatbin="$out/kernels.fatbin"
abi="$out/tokenroute-abi.properties"
props="$out/kernels.properties"
gencode=(-gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90)

nvcc_bin=${NVCC:-}
if [ "$nvcc_bin" = none ]; then
  nvcc_bin=""
elif [ -z "$nvcc_bin" ]; then
  for c in "$(command -v nvcc || true)" "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" /usr/local/cuda/bin/nvcc; do
    if [ -n "$c" ] && [ -x "$c" ]; then nvcc_bin=$c; break; fi
  done
fi
if [ -z "$nvcc_bin" ]; then
  echo "[tokenroute] nvcc not found (PATH, \$CUDA_HOME, /usr/local/cuda): CUDA kernels NOT compiled; GPU paths will be unavailable."
  rm -f "$fatbin" "$abi"
  printf 'compiled=false\nreason=nvcc not found on the build machine (PATH, CUDA_HOME, /usr/local/cuda)\n' > "$props"
  exit 0
fi

newest=$(find "$here" -name '*.cu' -o -name '*.cuh' | xargs ls -t | head -n 1)
if [ -f "$fatbin" ] && [ -f "$abi" ] && [ -f "$props" ] && [ "$fatbin" -nt "$newest" ] && [ "$abi" -nt "$newest" ] \
    && [ "$fatbin" -nt "$0" ]; then
  echo "[tokenroute] CUDA kernels up to date: $fatbin"
  exit 0
fi
version=$("$nvcc_bin" --version | tail -n 1)
echo "[tokenroute] compiling CUDA kernels with $nvcc_bin ($version)"
# The kernels must match Java bit for bit: IEEE division and square root, no flush-to-zero, no fast-math. These are
# nvcc's defaults; they are spelled out so that nobody "optimises" them away.
"$nvcc_bin" -std=c++17 -O3 -lineinfo --fatbin "${gencode[@]}" \
  -ftz=false -prec-div=true -prec-sqrt=true \
  -I"$here" -o "$fatbin.tmp" "$here/tokenroute_kernels.cu"
mv "$fatbin.tmp" "$fatbin"
# The ABI values come from the same compiler and headers as the fatbin; the static_asserts of tokenroute_abi.cuh have
# already held in the device compilation above.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$nvcc_bin" -std=c++17 -I"$here" -o "$work/abi-dump" "$here/tokenroute_abi_dump.cu"
"$work/abi-dump" > "$abi.tmp"
mv "$abi.tmp" "$abi"
printf 'compiled=true\nnvcc=%s\ngencode=%s\n' "$version" "${gencode[*]}" > "$props"
echo "[tokenroute] wrote $fatbin ($(stat -c %s "$fatbin") bytes) and $abi"
