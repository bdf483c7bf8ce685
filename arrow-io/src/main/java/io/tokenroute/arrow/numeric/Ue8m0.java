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
 * OCP MX UE8M0 scale encoding: an unsigned byte {@code e} denoting 2^(e - 127), with {@code 0xFF} reserved for NaN.
 * The byte is exactly the biased exponent field of the binary32 power of two it encodes, which is what lets
 * power-of-two FP8 dequantisation scales ({@link Fp8Quantizer} with {@code roundScale}) travel in one byte instead
 * of four.
 */
public final class Ue8m0 {

    private static final int FLOAT_EXPONENT_MASK = 0xFF;
    private static final int FLOAT_MANTISSA_MASK = 0x7F_FFFF;
    private static final int NAN_CODE = 0xFF;
    /** Binary32 bit pattern of 2^-127, a subnormal, which code 0 denotes. */
    private static final int TWO_POW_MINUS_127_BITS = 0x0040_0000;

    private Ue8m0() {}

    /**
     * Encodes a positive normal binary32 power of two 2^k (k in -126..127) as its biased exponent {@code k + 127}
     * (1..254), returned as the unsigned bits of a {@code byte}.
     *
     * @throws IllegalArgumentException for zero, negative values, subnormals, infinities, NaN, or anything whose
     *     mantissa bits are not all zero
     */
    public static byte pack(float powerOfTwoScale) {
        int bits = Float.floatToRawIntBits(powerOfTwoScale);
        int exponent = (bits >>> 23) & FLOAT_EXPONENT_MASK;
        if (bits < 0 || exponent == 0 || exponent == FLOAT_EXPONENT_MASK || (bits & FLOAT_MANTISSA_MASK) != 0) {
            throw new IllegalArgumentException("UE8M0 needs a positive normal power of two, got " + powerOfTwoScale
                    + " (bits 0x" + Integer.toHexString(bits) + ")");
        }
        return (byte) exponent;
    }

    /**
     * Decodes a UE8M0 byte to the binary32 value 2^(e - 127): codes 1..254 give the normal powers of two that
     * {@link #pack} accepts, code 0 gives 2^-127 (a binary32 subnormal, which {@link #pack} rejects), and code
     * {@code 0xFF} gives NaN, as the OCP MX specification defines.
     */
    public static float unpack(byte code) {
        int exponent = code & 0xFF;
        if (exponent == NAN_CODE) {
            return Float.NaN;
        }
        if (exponent == 0) {
            return Float.intBitsToFloat(TWO_POW_MINUS_127_BITS);
        }
        return Float.intBitsToFloat(exponent << 23);
    }
}
