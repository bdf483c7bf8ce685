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
// Bit-level numeric helpers shared by the kernel families. They are written as integer arithmetic on purpose: the
// results must match the Java code in io.tokenroute.arrow.numeric bit for bit, including NaN payloads, which the
// CUDA conversion intrinsics do not promise (__float2bfloat16_rn returns the canonical NaN 0x7FFF, for example).
#pragma once

#include <cstdint>
#include <cstring>

#include "tokenroute_config.cuh"

// float32 bits -> bfloat16 bits, round to nearest even. NaN keeps its sign and top payload bits and gets the quiet
// bit, (bits >> 16) | 0x0040, as io.tokenroute.arrow.numeric.BFloat16.fromFloat does. For non-NaN inputs this equals
// cvt.rn.bf16.f32: adding 0x7FFF plus the lowest kept bit rounds ties to even and lets a mantissa carry reach the
// exponent, which is also how the largest finite values overflow to infinity.
__host__ __device__ __forceinline__ uint16_t tr_f32_bits_to_bf16(uint32_t bits) {
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
        return static_cast<uint16_t>((bits >> 16) | 0x0040u);
    }
    return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

// bfloat16 bits -> float32 bits: exact, NaN payloads included.
__host__ __device__ __forceinline__ uint32_t tr_bf16_to_f32_bits(uint16_t h) {
    return static_cast<uint32_t>(h) << 16;
}

// IEEE binary16 bits -> float32 bits, exact. NaN payloads move up unchanged (mantissa << 13) instead of being
// canonicalised by the hardware conversion, so that fp16 -> bf16 keeps the payload bits Arrow's Float16.toFloat keeps.
__host__ __device__ __forceinline__ uint32_t tr_f16_to_f32_bits(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1Fu;
    const uint32_t mantissa = h & 0x3FFu;
    if (exponent == 0x1Fu) {
        return sign | 0x7F800000u | (mantissa << 13);
    }
    if (exponent != 0) {
        return sign | ((exponent + (127u - 15u)) << 23) | (mantissa << 13);
    }
    if (mantissa == 0) {
        return sign;
    }
    // A binary16 subnormal is mantissa * 2^-24, a normal binary32 value: both the conversion of the 10-bit integer
    // and the multiplication by a power of two are exact.
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    uint32_t magnitude_bits;
    memcpy(&magnitude_bits, &magnitude, sizeof magnitude_bits);
    return sign | magnitude_bits;
}

// The smallest power of two >= x for a positive normal float or +Inf, on the bits: a non-zero mantissa bumps the
// exponent and is cleared. amax >= TR_FP8_AMAX_FLOOR keeps x normal, so the result never reaches the NaN encodings.
__host__ __device__ __forceinline__ uint32_t tr_ceil_pow2_bits(uint32_t bits) {
    if ((bits & 0x007FFFFFu) != 0) {
        bits = (bits & ~0x007FFFFFu) + 0x00800000u;
    }
    return bits;
}
