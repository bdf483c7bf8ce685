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

# Compiles the CUDA kernels with the device-side NVSHMEM path (-DTR_EP_NVSHMEM, see sync.cuh's file comment) into one
# executable cubin under the output folder given as $1:
#   kernels-nvshmem.cubin   for the nvshmem transport: cuModuleLoadData, then nvshmemx_cumodule_init(module)
# Device-side NVSHMEM needs relocatable device code and a device link against libnvshmem_device.a, which a fatbin of
# the default build cannot have; that build (build-kernels.sh) stays the one cuda-local and the CI use.
# NVSHMEM is found at $NVSHMEM_HOME, else in the nvidia-nvshmem wheel of python3 (the GPU machine); without it, or
# without nvcc, the script says so and exits 0. NVCC=/path/to/nvcc picks a compiler.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?output folder}
arch=sm_90

nvcc_bin=${NVCC:-}
if [ -z "$nvcc_bin" ]; then
  for c in "$(command -v nvcc || true)" "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" /usr/local/cuda/bin/nvcc; do
    if [ -n "$c" ] && [ -x "$c" ]; then nvcc_bin=$c; break; fi
  done
fi
if [ -z "$nvcc_bin" ] || [ ! -x "$nvcc_bin" ]; then
  echo "[tokenroute] nvcc not found: NVSHMEM kernels skipped"
  exit 0
fi

nv=${NVSHMEM_HOME:-}
if [ -z "$nv" ]; then
  nv=$(python3 -c "import nvidia.nvshmem,os;print(list(nvidia.nvshmem.__path__)[0])" 2>/dev/null || true)
fi
if [ -z "$nv" ] || [ ! -f "$nv/include/nvshmem.h" ] || [ ! -f "$nv/lib/libnvshmem_device.a" ]; then
  echo "[tokenroute] NVSHMEM not found: skipped (NVSHMEM_HOME or python3 nvidia.nvshmem; need include/nvshmem.h, lib/libnvshmem_device.a)"
  exit 0
fi

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "[tokenroute] compiling NVSHMEM kernels with $nvcc_bin ($("$nvcc_bin" --version | tail -n 1)), NVSHMEM at $nv"
# Same numerics as build-kernels.sh (bit-exact with the Java code): IEEE division and square root, no flush-to-zero.
"$nvcc_bin" -std=c++17 -O3 -lineinfo -rdc=true -arch=$arch -DTR_EP_NVSHMEM \
  -ftz=false -prec-div=true -prec-sqrt=true \
  -I"$here" -I"$nv/include" -c -o "$work/kernels.o" "$here/tokenroute_kernels.cu"
"$nvcc_bin" -arch=$arch -dlink -cubin "$work/kernels.o" -L"$nv/lib" -lnvshmem_device -o "$work/kernels-nvshmem.cubin"
mv "$work/kernels-nvshmem.cubin" "$out/kernels-nvshmem.cubin"
echo "[tokenroute] wrote $out/kernels-nvshmem.cubin ($(stat -c %s "$out/kernels-nvshmem.cubin") bytes)"
