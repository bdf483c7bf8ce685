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

# Builds libtokenroute_nvshmem.so, the JNI binding of NVSHMEM's host API, into the folder given as $1 (CMake Release,
# sm_90; the CMake build tree goes to $1/build-nvshmem). NVSHMEM comes from $NVSHMEM_HOME or the pip wheel
# nvidia-nvshmem-cu13 (python3 -c 'import nvidia.nvshmem'); JNI headers from $JAVA_HOME.
# Without NVSHMEM it says "NVSHMEM not found: skipped", removes a stale library and exits 0, so machines without
# NVSHMEM (CI) build everything else; io.tokenroute.device.nvshmem.NvshmemLibrary then reports the library as absent.
# With NVSHMEM, a configure or compile error fails (exit != 0). NVSHMEM_HOME=none builds as if there were none.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?output folder}
mkdir -p "$out"
out=$(cd "$out" && pwd)
lib="$out/libtokenroute_nvshmem.so"

skip() {
  echo "[tokenroute] NVSHMEM not found: skipped libtokenroute_nvshmem.so ($1)"
  rm -f "$lib"
  exit 0
}

home=${NVSHMEM_HOME:-}
if [ "$home" = none ]; then
  skip "NVSHMEM_HOME=none"
fi
if [ -z "$home" ]; then
  home=$(python3 -c 'import nvidia.nvshmem; print(list(nvidia.nvshmem.__path__)[0])' 2>/dev/null || true)
fi
if [ -z "$home" ] || [ ! -f "$home/include/nvshmem.h" ] || [ ! -f "$home/lib/libnvshmem_host.so.3" ] \
   || [ ! -f "$home/lib/libnvshmem_device.a" ]; then
  skip "looked at \$NVSHMEM_HOME='${NVSHMEM_HOME:-}' and the python3 module nvidia.nvshmem"
fi
if ! command -v cmake > /dev/null; then
  echo "[tokenroute] NVSHMEM found at $home but cmake is missing: cannot build libtokenroute_nvshmem.so" >&2
  exit 1
fi

nvcc_bin=${NVCC:-}
if [ -z "$nvcc_bin" ]; then
  for c in "$(command -v nvcc || true)" "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" /usr/local/cuda/bin/nvcc; do
    if [ -n "$c" ] && [ -x "$c" ]; then nvcc_bin=$c; break; fi
  done
fi
if [ -z "$nvcc_bin" ]; then
  echo "[tokenroute] NVSHMEM found at $home but nvcc is missing (PATH, \$CUDA_HOME, /usr/local/cuda)" >&2
  exit 1
fi

build="$out/build-nvshmem"
echo "[tokenroute] building libtokenroute_nvshmem.so against NVSHMEM $home with $nvcc_bin (JAVA_HOME=${JAVA_HOME:-unset})"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCMAKE_CUDA_COMPILER="$nvcc_bin" -DNVSHMEM_HOME="$home" ${JAVA_HOME:+-DJAVA_HOME="$JAVA_HOME"} \
  ${TOKENROUTE_NVSHMEM_CMAKE_ARGS:-}
cmake --build "$build" --parallel
cp "$build/libtokenroute_nvshmem.so" "$lib.tmp"
mv "$lib.tmp" "$lib"
echo "[tokenroute] wrote $lib ($(stat -c %s "$lib") bytes)"
