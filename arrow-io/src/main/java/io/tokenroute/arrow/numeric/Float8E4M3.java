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
package io.tokenroute.arrow.numeric;

/**
 * Conversions between IEEE-754 binary32 ({@code float}) and OCP FP8 E4M3FN, carried in Java as the raw 8 bits of a
 * {@code byte}: 1 sign bit, 4 exponent bits with bias 7, 3 mantissa bits, no infinities, a single NaN mantissa
 * pattern ({@code S.1111.111}, i.e. {@code 0x7F}/{@code 0xFF}), largest finite magnitude 448 ({@code 0x7E}),
 * smallest normal 2^-6 ({@code 0x08}) and smallest subnormal 2^-9 ({@code 0x01}).
 *
 * <p>{@link #fromFloat} is bit-identical to CUDA's
 * {@code __nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3)}; {@link #toFloat} is exact.
 */
public final class Float8E4M3 {

    /** Canonical NaN code that {@link #fromFloat} produces for every NaN input, whatever its sign. */
    public static final byte NAN = 0x7F;

    /** Code of +448, the largest finite magnitude, which out-of-range values saturate to. */
    public static final byte MAX_FINITE = 0x7E;

    private static final int FLOAT_448_BITS = 0x43E0_0000;
    private static final int FLOAT_2_POW_MINUS_6_BITS = 0x3C80_0000;
    private static final int FLOAT_TO_E4M3_EXPONENT_REBIAS = 127 - 7;
    private static final int DROPPED_MANTISSA_BITS = 23 - 3;
    private static final int DROPPED_MASK = (1 << DROPPED_MANTISSA_BITS) - 1;
    private static final int DROPPED_HALF = 1 << (DROPPED_MANTISSA_BITS - 1);

    private static final float[] DECODE = new float[256];

    static {
        for (int code = 0; code < 256; code++) {
            DECODE[code] = decode(code);
        }
    }

    private Float8E4M3() {}

    /**
     * Narrows a binary32 value to E4M3FN with round-to-nearest-even and saturation to finite values:
     * <ul>
     *   <li>any NaN gives {@link #NAN} ({@code 0x7F}); the input's sign is dropped, as CUDA canonicalises NaN
     *       before converting;</li>
     *   <li>±Inf and finite values whose rounded magnitude would exceed 448 give ±448 ({@code 0x7E}/{@code 0xFE});
     *       464, the midpoint between 448 and the unrepresentable 480, ties to 448 whose mantissa is even;</li>
     *   <li>magnitudes in [2^-6, 448] round to the nearest normal, ties to even mantissa;</li>
     *   <li>magnitudes below 2^-6 round to the nearest multiple of 2^-9 (subnormals), ties to even, so
     *       magnitudes up to and including 2^-10 become zero; the sign is always kept, giving ±0 for
     *       underflow.</li>
     * </ul>
     */
    public static byte fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 24) & 0x80;
        int abs = bits & 0x7FFF_FFFF;
        if (abs > 0x7F80_0000) {
            return NAN;
        }
        if (abs > FLOAT_448_BITS) {
            // Everything above 448 up to 464 rounds back to 448 anyway, and everything beyond saturates to it.
            return (byte) (sign | MAX_FINITE);
        }
        if (abs >= FLOAT_2_POW_MINUS_6_BITS) {
            int code = (((abs >>> 23) - FLOAT_TO_E4M3_EXPONENT_REBIAS) << 3) | ((abs >>> DROPPED_MANTISSA_BITS) & 7);
            int dropped = abs & DROPPED_MASK;
            // A carry out of the mantissa bumps the exponent, which is the correctly rounded result; it cannot
            // reach the NaN code because inputs above 448 were saturated above.
            if (dropped > DROPPED_HALF || (dropped == DROPPED_HALF && (code & 1) != 0)) {
                code++;
            }
            return (byte) (sign | code);
        }
        // Below 2^-6 the codes are the integers 0..8 times 2^-9; scaling by 2^9 is exact and Math.rint rounds half to
        // even, and 8 lands on 0x08, the smallest normal, as it should.
        return (byte) (sign | (int) Math.rint(Float.intBitsToFloat(abs) * 512f));
    }

    /** Widens an E4M3FN code to the binary32 value it denotes, exactly; {@code 0x7F} and {@code 0xFF} give NaN. */
    public static float toFloat(byte code) {
        return DECODE[code & 0xFF];
    }

    private static float decode(int code) {
        int exponent = (code >>> 3) & 0xF;
        int mantissa = code & 7;
        float magnitude;
        if (exponent == 0xF && mantissa == 7) {
            magnitude = Float.NaN;
        } else if (exponent == 0) {
            magnitude = mantissa * 0x1p-9f;
        } else {
            magnitude = Float.intBitsToFloat(
                    (exponent + FLOAT_TO_E4M3_EXPONENT_REBIAS) << 23 | mantissa << DROPPED_MANTISSA_BITS);
        }
        return (code & 0x80) != 0 ? -magnitude : magnitude;
    }
}
