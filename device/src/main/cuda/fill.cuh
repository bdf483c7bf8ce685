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
// Fill family: writes a repeating 1-, 2-, 4- or 8-byte pattern over a device range. Tests poison every output with it
// before a kernel runs, so a kernel that skips an element is caught instead of passing on leftover zeros.
#pragma once

#include "tokenroute_common.cuh"

// The pattern's low elem_bytes bytes repeated over 64 bits, little-endian, so that one 64-bit store at an address
// aligned to elem_bytes writes whole elements.
__device__ __forceinline__ uint64_t tr_replicate_pattern(uint64_t pattern, int elem_bytes) {
    switch (elem_bytes) {
        case 1: pattern &= 0xFFull; pattern |= pattern << 8; pattern |= pattern << 16; return pattern | pattern << 32;
        case 2: pattern &= 0xFFFFull; pattern |= pattern << 16; return pattern | pattern << 32;
        case 4: pattern &= 0xFFFFFFFFull; return pattern | pattern << 32;
        default: return pattern;
    }
}

__device__ __forceinline__ void tr_store_element(uint8_t* p, uint64_t pattern, int elem_bytes) {
    switch (elem_bytes) {
        case 1: *p = static_cast<uint8_t>(pattern); break;
        case 2: *reinterpret_cast<uint16_t*>(p) = static_cast<uint16_t>(pattern); break;
        case 4: *reinterpret_cast<uint32_t*>(p) = static_cast<uint32_t>(pattern); break;
        default: *reinterpret_cast<uint64_t*>(p) = pattern; break;
    }
}

// dst: device pointer aligned to elem_bytes; count: elements of elem_bytes (1, 2, 4 or 8) bytes each; pattern: the
// element value in its low elem_bytes bytes. The caller (io.tokenroute.device.FillKernel) validates all of that.
// Elements before the first and after the last 16-byte boundary are stored one by one by the first threads of the
// grid; everything in between with 16-byte stores in a grid-stride loop.
extern "C" __global__ void __launch_bounds__(TR_FILL_THREADS)
tr_fill(uint8_t* __restrict__ dst, int64_t count, uint64_t pattern, int elem_bytes) {
    const uint64_t value = tr_replicate_pattern(pattern, elem_bytes);
    const int64_t total = count * elem_bytes;
    // dst is aligned to elem_bytes, which divides 16, so both edge pieces hold whole elements.
    const int64_t head = min(total, static_cast<int64_t>((16u - (reinterpret_cast<uintptr_t>(dst) & 15u)) & 15u));
    const int64_t vectors = (total - head) / 16;
    const int64_t tail_begin = head + vectors * 16;

    const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;

    const uint4 v = make_uint4(static_cast<uint32_t>(value), static_cast<uint32_t>(value >> 32),
                               static_cast<uint32_t>(value), static_cast<uint32_t>(value >> 32));
    uint4* body = reinterpret_cast<uint4*>(dst + head);
    for (int64_t i = thread; i < vectors; i += stride) {
        body[i] = v;
    }
    // At most 15 bytes on each side: a handful of threads, no loop needed beyond one pass.
    const int64_t edge_elements = head / elem_bytes;
    if (thread < edge_elements) {
        tr_store_element(dst + thread * elem_bytes, value, elem_bytes);
    }
    const int64_t tail_elements = (total - tail_begin) / elem_bytes;
    if (thread < tail_elements) {
        tr_store_element(dst + tail_begin + thread * elem_bytes, value, elem_bytes);
    }
}
