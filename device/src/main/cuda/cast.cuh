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
// Cast family: elementwise dtype conversions between bfloat16, float16 and float32 over dense device arrays.
// Every kernel takes (dst, src, count) and runs a grid-stride loop. When both pointers are 16-byte aligned it moves
// TR_CAST_VEC elements per step with 16-byte loads and stores; otherwise, and for the last count % TR_CAST_VEC
// elements, one element at a time. The conversions are the bit helpers of tokenroute_common.cuh.
#pragma once

#include "tokenroute_common.cuh"

namespace {

__device__ __forceinline__ bool tr_both_aligned16(const void* a, const void* b) {
    return ((reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b)) & 15u) == 0;
}

__device__ __forceinline__ int64_t tr_global_thread() {
    return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ int64_t tr_grid_threads() {
    return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// The two 16-bit halves of a 32-bit word, low half first (little-endian element order).
__device__ __forceinline__ uint16_t tr_lo(uint32_t w) { return static_cast<uint16_t>(w); }
__device__ __forceinline__ uint16_t tr_hi(uint32_t w) { return static_cast<uint16_t>(w >> 16); }
__device__ __forceinline__ uint32_t tr_pack(uint16_t lo, uint16_t hi) {
    return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
}

}  // namespace

// dst: float32[count]; src: bfloat16 bits uint16[count]. Exact.
extern "C" __global__ void __launch_bounds__(TR_CAST_THREADS)
tr_cast_bf16_to_fp32(float* __restrict__ dst, const uint16_t* __restrict__ src, int64_t count) {
    const int64_t vectors = tr_both_aligned16(dst, src) ? count / TR_CAST_VEC : 0;
    const uint4* in = reinterpret_cast<const uint4*>(src);
    uint4* out = reinterpret_cast<uint4*>(dst);
    for (int64_t i = tr_global_thread(); i < vectors; i += tr_grid_threads()) {
        const uint4 h = __ldg(in + i);
        out[2 * i] = make_uint4(tr_bf16_to_f32_bits(tr_lo(h.x)), tr_bf16_to_f32_bits(tr_hi(h.x)),
                                tr_bf16_to_f32_bits(tr_lo(h.y)), tr_bf16_to_f32_bits(tr_hi(h.y)));
        out[2 * i + 1] = make_uint4(tr_bf16_to_f32_bits(tr_lo(h.z)), tr_bf16_to_f32_bits(tr_hi(h.z)),
                                    tr_bf16_to_f32_bits(tr_lo(h.w)), tr_bf16_to_f32_bits(tr_hi(h.w)));
    }
    uint32_t* out_bits = reinterpret_cast<uint32_t*>(dst);
    for (int64_t i = vectors * TR_CAST_VEC + tr_global_thread(); i < count; i += tr_grid_threads()) {
        out_bits[i] = tr_bf16_to_f32_bits(src[i]);
    }
}

// dst: bfloat16 bits uint16[count]; src: float32[count]. Round to nearest even; NaN as tr_f32_bits_to_bf16.
extern "C" __global__ void __launch_bounds__(TR_CAST_THREADS)
tr_cast_fp32_to_bf16(uint16_t* __restrict__ dst, const float* __restrict__ src, int64_t count) {
    const int64_t vectors = tr_both_aligned16(dst, src) ? count / TR_CAST_VEC : 0;
    const uint4* in = reinterpret_cast<const uint4*>(src);
    uint4* out = reinterpret_cast<uint4*>(dst);
    for (int64_t i = tr_global_thread(); i < vectors; i += tr_grid_threads()) {
        const uint4 a = __ldg(in + 2 * i);
        const uint4 b = __ldg(in + 2 * i + 1);
        out[i] = make_uint4(tr_pack(tr_f32_bits_to_bf16(a.x), tr_f32_bits_to_bf16(a.y)),
                            tr_pack(tr_f32_bits_to_bf16(a.z), tr_f32_bits_to_bf16(a.w)),
                            tr_pack(tr_f32_bits_to_bf16(b.x), tr_f32_bits_to_bf16(b.y)),
                            tr_pack(tr_f32_bits_to_bf16(b.z), tr_f32_bits_to_bf16(b.w)));
    }
    const uint32_t* in_bits = reinterpret_cast<const uint32_t*>(src);
    for (int64_t i = vectors * TR_CAST_VEC + tr_global_thread(); i < count; i += tr_grid_threads()) {
        dst[i] = tr_f32_bits_to_bf16(__ldg(in_bits + i));
    }
}

// dst: bfloat16 bits uint16[count]; src: IEEE binary16 bits uint16[count]. Exact widening to float32, then round to
// nearest even (binary16 has 10 mantissa bits, bfloat16 7); NaN payloads follow tr_f16_to_f32_bits.
extern "C" __global__ void __launch_bounds__(TR_CAST_THREADS)
tr_cast_fp16_to_bf16(uint16_t* __restrict__ dst, const uint16_t* __restrict__ src, int64_t count) {
    const int64_t vectors = tr_both_aligned16(dst, src) ? count / TR_CAST_VEC : 0;
    const uint4* in = reinterpret_cast<const uint4*>(src);
    uint4* out = reinterpret_cast<uint4*>(dst);
    for (int64_t i = tr_global_thread(); i < vectors; i += tr_grid_threads()) {
        uint4 h = __ldg(in + i);
        uint32_t* words = reinterpret_cast<uint32_t*>(&h);
#pragma unroll
        for (int w = 0; w < 4; ++w) {
            words[w] = tr_pack(tr_f32_bits_to_bf16(tr_f16_to_f32_bits(tr_lo(words[w]))),
                               tr_f32_bits_to_bf16(tr_f16_to_f32_bits(tr_hi(words[w]))));
        }
        out[i] = h;
    }
    for (int64_t i = vectors * TR_CAST_VEC + tr_global_thread(); i < count; i += tr_grid_threads()) {
        dst[i] = tr_f32_bits_to_bf16(tr_f16_to_f32_bits(src[i]));
    }
}
