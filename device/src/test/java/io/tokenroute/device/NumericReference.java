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
package io.tokenroute.device;

/**
 * Plain-loop reference conversions for the kernel tests, written from the definitions and independent of both the
 * kernels' bit tricks and the arrow-io implementations ({@link NumericReferenceTest} checks that all three agree).
 */
final class NumericReference {

    /** Channels per FP8 scale. */
    static final int GROUP = 128;

    /** Values of the finite non-negative e4m3fn codes 0x00..0x7E. */
    private static final double[] E4M3 = new double[0x7F];

    static {
        for (int code = 0; code < E4M3.length; code++) {
            int exponent = code >>> 3;
            int mantissa = code & 7;
            E4M3[code] = exponent == 0 ? mantissa * 0x1p-9 : (8 + mantissa) * Math.scalb(1.0, exponent - 10);
        }
    }

    private NumericReference() {}

    /** bfloat16 bits to float: the bits are the top half of a binary32. */
    static float bf16ToFloat(short h) {
        return Float.intBitsToFloat((h & 0xFFFF) << 16);
    }

    /**
     * float32 bits to bfloat16 bits: keep the top 16 bits and round on the dropped 16 (above half up, exactly half to
     * the even neighbour). NaN keeps sign and top payload and gets the quiet bit.
     */
    static short bf16(int f32) {
        if (Float.isNaN(Float.intBitsToFloat(f32))) {
            return (short) ((f32 >>> 16) | 0x0040);
        }
        int kept = f32 >>> 16;
        int dropped = f32 & 0xFFFF;
        if (dropped > 0x8000 || (dropped == 0x8000 && (kept & 1) == 1)) {
            kept++;
        }
        return (short) kept;
    }

    /** binary16 bits to bfloat16 bits, through the exact value of the half. */
    static short fp16ToBf16(short h) {
        int sign = h & 0x8000;
        int exponent = (h >>> 10) & 0x1F;
        int mantissa = h & 0x3FF;
        if (exponent == 0x1F && mantissa != 0) {
            // NaN: sign, the top 7 of the 10 payload bits, quiet bit.
            return (short) (sign | 0x7FC0 | (mantissa >>> 3));
        }
        double magnitude = exponent == 0x1F
                ? Double.POSITIVE_INFINITY
                : exponent == 0 ? mantissa * 0x1p-24 : (1024 + mantissa) * Math.scalb(1.0, exponent - 25);
        float value = (float) (sign != 0 ? -magnitude : magnitude);
        return bf16(Float.floatToRawIntBits(value));
    }

    /**
     * float to e4m3fn with round to nearest (ties to the even code) and saturation, by searching the code table; NaN
     * gives 0x7F, the sign is kept otherwise (so tiny negatives give 0x80).
     */
    static byte e4m3(float y) {
        if (Float.isNaN(y)) {
            return 0x7F;
        }
        int sign = Float.floatToRawIntBits(y) < 0 ? 0x80 : 0;
        double magnitude = Math.abs((double) y);
        if (Double.isInfinite(magnitude)) {
            return (byte) (sign | 0x7E);
        }
        int best = 0;
        double bestError = magnitude;
        for (int code = 1; code < E4M3.length; code++) {
            double error = Math.abs(E4M3[code] - magnitude);
            if (error < bestError || (error == bestError && (code & 1) == 0)) {
                best = code;
                bestError = error;
            }
        }
        return (byte) (sign | best);
    }

    /** The smallest power of two >= s for a positive normal s or +Inf. */
    static float ceilPowerOfTwo(float s) {
        if (Float.isInfinite(s)) {
            return s;
        }
        float floor = Math.scalb(1f, Math.getExponent(s));
        return floor == s ? s : Math.scalb(1f, Math.getExponent(s) + 1);
    }

    /**
     * Quantises {@code rows x hidden} bfloat16 values: codes into {@code q}, one float32 {@code scaleInv} per group
     * into {@code scaleInv}.
     */
    static void quantize(short[] x, int rows, int hidden, boolean roundScale, byte[] q, float[] scaleInv) {
        int groups = rows * (hidden / GROUP);
        for (int g = 0; g < groups; g++) {
            int base = g * GROUP;
            float amax = 0f;
            for (int i = 0; i < GROUP; i++) {
                float magnitude = Math.abs(bf16ToFloat(x[base + i]));
                if (!Float.isNaN(magnitude)) {
                    amax = Math.max(amax, magnitude);
                }
            }
            amax = Math.max(amax, 1e-4f);
            float inverse = amax / 448f;
            float scale;
            if (roundScale) {
                inverse = ceilPowerOfTwo(inverse);
                scale = 1f / inverse;
            } else {
                scale = 448f / amax;
            }
            for (int i = 0; i < GROUP; i++) {
                q[base + i] = e4m3(bf16ToFloat(x[base + i]) * scale);
            }
            scaleInv[g] = inverse;
        }
    }

    /** UE8M0 byte of a power-of-two scale: its biased exponent; +Inf gives 0xFF. */
    static byte ue8m0(float powerOfTwo) {
        return (byte) (Float.isInfinite(powerOfTwo) ? 0xFF : Math.getExponent(powerOfTwo) + 127);
    }
}
