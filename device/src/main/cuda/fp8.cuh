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
// FP8 family: per-token, per-128-channel float8 e4m3fn quantisation of bfloat16 activations, the cast DeepEP's
// low-latency dispatch applies before tokens leave their rank. Bit-exact with io.tokenroute.arrow.numeric.Fp8Quantizer;
// every step below names the Java step it mirrors. Build without fast-math: the divisions must be IEEE-rounded.
#pragma once

#include <cuda_fp8.h>

#include "tokenroute_abi.cuh"  // the scale modes TR_FP8_SCALE_*
#include "tokenroute_common.cuh"

namespace {

constexpr int TR_FP8_LANES_PER_GROUP = TR_FP8_GROUP / TR_CAST_VEC;  // 16 lanes x 8 channels = one group
static_assert(TR_FP8_LANES_PER_GROUP == 16, "a group must be half a warp: the amax reduction shuffles within 16 lanes");
static_assert(TR_FP8_THREADS % 32 == 0, "TR_FP8_THREADS must be whole warps");

// e4m3fn code of x with round to nearest even and saturation to +-448. NaN always gives 0x7F, the code the Java
// quantiser writes: forcing it here keeps the sign of a NaN product (x * 0 with x infinite) out of the result,
// whatever the hardware conversion does with NaN signs.
__device__ __forceinline__ uint32_t tr_e4m3_pair(float a, float b) {
    uint32_t codes = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
    if (isnan(a)) codes = (codes & 0xFF00u) | 0x7Fu;
    if (isnan(b)) codes = (codes & 0x00FFu) | 0x7F00u;
    return codes;
}

// One 128-channel group, as tr_fp8_quantize_bf16 and the fused fp8 dispatch send (dispatch.cuh) both quantise it: each
// lane of a half warp holds 8 of its channels (sub = lane % 16: channels 8 sub .. 8 sub + 7) as float32 values of bf16
// numbers. Writes the group's codes to q + 128 g and, from lane sub 0, its scale to scales[g], when valid. Every lane
// of the warp calls it, valid or not: the amax is a half-warp shuffle (an invalid half holds zeros).
__device__ __forceinline__ void tr_fp8_quantize_group(const float v[TR_CAST_VEC], bool valid, int64_t g, int sub,
                                                      int scale_mode, uint8_t* q, void* scales) {
    // Java: amax = max(|x_i|) with fmaxf semantics (NaN ignored), then max(amax, AMAX_FLOOR). Starting from 0
    // instead of the floor gives the same maximum, since every |x_i| >= 0.
    float amax = 0.0f;
#pragma unroll
    for (int j = 0; j < TR_CAST_VEC; ++j) {
        amax = fmaxf(amax, fabsf(v[j]));
    }
#pragma unroll
    for (int offset = TR_FP8_LANES_PER_GROUP / 2; offset > 0; offset >>= 1) {
        amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, offset));
    }
    amax = fmaxf(amax, TR_FP8_AMAX_FLOOR);

    // Java: scaleInv = amax / 448f; with roundScale the power-of-two ceiling and scale = 1f / scaleInv,
    // otherwise scale = 448f / amax. All divisions IEEE round-to-nearest.
    float scale_inv = __fdiv_rn(amax, TR_FP8_E4M3_MAX);
    float scale;
    if (scale_mode == TR_FP8_SCALE_FLOAT) {
        scale = __fdiv_rn(TR_FP8_E4M3_MAX, amax);
    } else {
        scale_inv = __uint_as_float(tr_ceil_pow2_bits(__float_as_uint(scale_inv)));
        scale = __fdiv_rn(1.0f, scale_inv);
    }

    if (valid) {
        // Java: q_i = Float8E4M3.fromFloat(x_i * scale), one binary32 multiply (no contraction: __fmul_rn).
        uint2 codes;
        codes.x = tr_e4m3_pair(__fmul_rn(v[0], scale), __fmul_rn(v[1], scale))
                | tr_e4m3_pair(__fmul_rn(v[2], scale), __fmul_rn(v[3], scale)) << 16;
        codes.y = tr_e4m3_pair(__fmul_rn(v[4], scale), __fmul_rn(v[5], scale))
                | tr_e4m3_pair(__fmul_rn(v[6], scale), __fmul_rn(v[7], scale)) << 16;
        reinterpret_cast<uint2*>(q + g * TR_FP8_GROUP)[sub] = codes;
        if (sub == 0) {
            if (scale_mode == TR_FP8_SCALE_UE8M0) {
                // The biased exponent of a positive power of two (or 0xFF for +Inf, UE8M0's NaN).
                static_cast<uint8_t*>(scales)[g] = static_cast<uint8_t>(__float_as_uint(scale_inv) >> 23);
            } else {
                static_cast<float*>(scales)[g] = scale_inv;
            }
        }
    }
}

}  // namespace

// x:      bfloat16 bits, uint16[rows][hidden], 16-byte aligned, dense (row stride = hidden).
// q:      uint8 e4m3fn codes [rows][hidden], 8-byte aligned.
// scales: [rows][hidden / 128], float32 (4-byte aligned) for modes FLOAT and POW2, uint8 for UE8M0.
// hidden must be a positive multiple of 128 (checked by io.tokenroute.device.Fp8QuantizeKernel).
//
// Because rows are dense and hidden % 128 == 0, group g of the flattened array is channels [128 g, 128 g + 128) and
// its scale is scales[g]. Each half-warp owns one group: lane l loads channels 8l..8l+7 with one 16-byte load, the
// amax is reduced across the 16 lanes with xor shuffles, and each lane stores its 8 codes with one 8-byte store. Both
// halves of a warp always run the shuffles (a half whose group is past the end contributes nothing) so the full-warp
// mask stays valid.
extern "C" __global__ void __launch_bounds__(TR_FP8_THREADS)
tr_fp8_quantize_bf16(uint8_t* __restrict__ q, void* __restrict__ scales, const uint16_t* __restrict__ x,
                     int64_t rows, int hidden, int scale_mode) {
    const int64_t groups = rows * (hidden / TR_FP8_GROUP);
    const int64_t group_pairs = (groups + 1) / 2;
    const int lane = threadIdx.x & 31;
    const int half = lane / TR_FP8_LANES_PER_GROUP;
    const int sub = lane % TR_FP8_LANES_PER_GROUP;
    const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) / 32;

    for (int64_t pair = warp; pair < group_pairs; pair += warps) {
        const int64_t g = 2 * pair + half;
        const bool valid = g < groups;
        uint4 raw = make_uint4(0, 0, 0, 0);
        if (valid) {
            raw = __ldg(reinterpret_cast<const uint4*>(x + g * TR_FP8_GROUP) + sub);
        }
        const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
        float v[TR_CAST_VEC];
#pragma unroll
        for (int w = 0; w < 4; ++w) {
            v[2 * w] = __uint_as_float(tr_bf16_to_f32_bits(static_cast<uint16_t>(words[w])));
            v[2 * w + 1] = __uint_as_float(tr_bf16_to_f32_bits(static_cast<uint16_t>(words[w] >> 16)));
        }
        tr_fp8_quantize_group(v, valid, g, sub, scale_mode, q, scales);
    }
}
