/*
 * Copyright 2026 The TokenRoute Authors
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */
// The single translation unit nvcc compiles into kernels.fatbin (see build-kernels.sh). Each family lives in its own
// header; including them here keeps one module, one cuModuleLoadData and one classpath resource.
//
// Kernel naming: extern "C" __global__ functions prefixed tr_, looked up by name from Java (io.tokenroute.device).
// Argument order and types are part of the Java contract: pointers and int64_t are 8 bytes (Java Long), int and
// float 4 bytes (Java Integer, Float); destinations come first, as in memcpy. Java checks each launch's parameter
// sizes against the loaded kernel (cuFuncGetParamInfo), and everything else it shares with the kernels against
// tokenroute_abi.cuh.
#include "fill.cuh"
#include "cast.cuh"
#include "fp8.cuh"
// Elastic EP (cuda-local, and nvshmem: nvshmem_ptr peers here, NVSHMEM gets for the others with -DTR_EP_NVSHMEM as
// build-nvshmem-kernels.sh compiles it): shared helpers + peer access + collectives, dispatch, combine, and the
// high-throughput (prefill) mode.
#include "sync.cuh"
#include "dispatch.cuh"
#include "combine.cuh"
#include "prefill.cuh"
#include "prefill_dispatch.cuh"
#include "prefill_combine.cuh"

// The ABI this module was built with (tokenroute_abi.cuh): io.tokenroute.device.KernelModule reads it at load and
// refuses a module whose fingerprint differs from the one in tokenroute-abi.properties.
extern "C" __device__ unsigned long long tr_abi_fingerprint = tr_abi_fingerprint_value();
