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

import java.util.Objects;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * Per-token, per-128-channel FP8 quantisation of bfloat16 activations, as DeepEP's low-latency dispatch performs it
 * before tokens leave their rank.
 *
 * <p>A row of {@code hidden} bfloat16 values ({@code hidden} a positive multiple of {@link #GROUP}) becomes
 * {@code hidden} E4M3FN codes ({@link Float8E4M3}) plus {@code hidden / 128} float32 dequantisation scales, one per
 * group of 128 consecutive channels. For each group, in binary32 arithmetic throughout:
 * <ol>
 *   <li>{@code amax = max(|x_i|)} with CUDA {@code fmaxf} semantics: NaN inputs are ignored, infinities count;
 *       then {@code amax = max(amax, AMAX_FLOOR)} so that an all-zero group still gets a finite scale;</li>
 *   <li>{@code scaleInv = amax / 448f} (one correctly rounded division);</li>
 *   <li>with {@code roundScale}: {@code scaleInv} is replaced by the smallest power of two {@code >=} it, computed
 *       on its bits (exponent + 1 and mantissa cleared unless the mantissa is already zero), and
 *       {@code scale = 1f / scaleInv}, exact for a power of two; such scales can be packed with {@link Ue8m0};</li>
 *   <li>without {@code roundScale}: {@code scale = 448f / amax};</li>
 *   <li>{@code q_i = Float8E4M3.fromFloat(x_i * scale)}: one binary32 multiply, then RNE with saturation to ±448.</li>
 * </ol>
 * Edge values follow from these steps rather than being special-cased: an all-zero group stores
 * {@code scaleInv = 1e-4f / 448f} and all-zero codes; a NaN channel gets code {@code 0x7F} and does not affect its
 * neighbours; an infinite channel makes {@code scaleInv = +Inf} and {@code scale = 0}, so every finite channel of
 * that group becomes ±0 (sign kept) and the infinite and NaN ones become NaN ({@code Inf * 0}).
 *
 * <p>Dequantisation is {@code Float8E4M3.toFloat(q) * scaleInv}.
 */
public final class Fp8Quantizer {

    /** Channels per scale. */
    public static final int GROUP = 128;
    /** Largest finite E4M3FN magnitude, which the largest magnitude of a group is scaled to. */
    public static final float E4M3_MAX = 448f;
    /** Lower bound on a group's amax, keeping the scale finite for all-zero groups. */
    public static final float AMAX_FLOOR = 1e-4f;

    private static final int FLOAT_MANTISSA_MASK = 0x7F_FFFF;
    private static final int FLOAT_EXPONENT_ONE = 0x80_0000;

    private Fp8Quantizer() {}

    /**
     * Number of scales per row: {@code hidden / 128}.
     *
     * @throws IllegalArgumentException unless {@code hidden} is a positive multiple of 128
     */
    public static int scalesPerRow(int hidden) {
        if (hidden <= 0 || hidden % GROUP != 0) {
            throw new IllegalArgumentException(
                    "hidden size must be a positive multiple of " + GROUP + ", got " + hidden);
        }
        return hidden / GROUP;
    }

    /**
     * Quantises one row held in Java arrays: reads bfloat16 bits {@code bf16Row[rowOff .. rowOff + hidden)}, writes
     * E4M3FN codes to {@code dstQ[qOff .. qOff + hidden)} and {@code hidden / 128} scales to
     * {@code dstScaleInv[scaleOff ..]}.
     *
     * @throws IllegalArgumentException unless {@code hidden} is a positive multiple of 128
     * @throws IndexOutOfBoundsException if any of the three ranges falls outside its array
     */
    public static void quantizeRowBf16(
            short[] bf16Row,
            int rowOff,
            int hidden,
            boolean roundScale,
            byte[] dstQ,
            int qOff,
            float[] dstScaleInv,
            int scaleOff) {
        int groups = scalesPerRow(hidden);
        Objects.checkFromIndexSize(rowOff, hidden, bf16Row.length);
        Objects.checkFromIndexSize(qOff, hidden, dstQ.length);
        Objects.checkFromIndexSize(scaleOff, groups, dstScaleInv.length);
        for (int g = 0; g < groups; g++) {
            int src = rowOff + g * GROUP;
            float amax = AMAX_FLOOR;
            for (int i = 0; i < GROUP; i++) {
                float a = Math.abs(BFloat16.toFloat(bf16Row[src + i]));
                // A false comparison for NaN is exactly fmaxf's "ignore NaN".
                if (a > amax) {
                    amax = a;
                }
            }
            float scaleInv = scaleInv(amax, roundScale);
            float scale = scale(amax, scaleInv, roundScale);
            int dst = qOff + g * GROUP;
            for (int i = 0; i < GROUP; i++) {
                dstQ[dst + i] = Float8E4M3.fromFloat(BFloat16.toFloat(bf16Row[src + i]) * scale);
            }
            dstScaleInv[scaleOff + g] = scaleInv;
        }
    }

    /**
     * Quantises one row in host memory, with the same results as the array form: reads {@code hidden}
     * little-endian bfloat16 values at {@code srcBf16Address}, writes {@code hidden} E4M3FN bytes at
     * {@code dstQAddress} and {@code hidden / 128} little-endian float32 scales at {@code dstScaleAddress}.
     * Allocates nothing; the caller guarantees that all three ranges are live, CPU-accessible and do not overlap.
     *
     * @throws IllegalArgumentException unless {@code hidden} is a positive multiple of 128
     */
    public static void quantizeRowBf16(
            long srcBf16Address, int hidden, boolean roundScale, long dstQAddress, long dstScaleAddress) {
        int groups = scalesPerRow(hidden);
        for (int g = 0; g < groups; g++) {
            long src = srcBf16Address + 2L * g * GROUP;
            float amax = AMAX_FLOOR;
            for (int i = 0; i < GROUP; i++) {
                float a = Math.abs(BFloat16.toFloat(BFloat16.getLittleEndian(src + 2L * i)));
                if (a > amax) {
                    amax = a;
                }
            }
            float scaleInv = scaleInv(amax, roundScale);
            float scale = scale(amax, scaleInv, roundScale);
            long dst = dstQAddress + (long) g * GROUP;
            for (int i = 0; i < GROUP; i++) {
                float x = BFloat16.toFloat(BFloat16.getLittleEndian(src + 2L * i));
                MemoryUtil.putByte(dst + i, Float8E4M3.fromFloat(x * scale));
            }
            int scaleBits = Float.floatToRawIntBits(scaleInv);
            MemoryUtil.putInt(
                    dstScaleAddress + 4L * g, MemoryUtil.LITTLE_ENDIAN ? scaleBits : Integer.reverseBytes(scaleBits));
        }
    }

    /** Dequantises one code: {@code Float8E4M3.toFloat(q) * scaleInv} in binary32. */
    public static float dequantize(byte q, float scaleInv) {
        return Float8E4M3.toFloat(q) * scaleInv;
    }

    private static float scaleInv(float amax, boolean roundScale) {
        float scaleInv = amax / E4M3_MAX;
        if (!roundScale) {
            return scaleInv;
        }
        int bits = Float.floatToRawIntBits(scaleInv);
        // amax >= AMAX_FLOOR keeps scaleInv a positive normal (or +Inf, whose mantissa is zero), so bumping the
        // exponent field is the exact ceiling to a power of two and cannot reach the NaN encodings.
        if ((bits & FLOAT_MANTISSA_MASK) != 0) {
            bits = (bits & ~FLOAT_MANTISSA_MASK) + FLOAT_EXPONENT_ONE;
        }
        return Float.intBitsToFloat(bits);
    }

    private static float scale(float amax, float scaleInv, boolean roundScale) {
        return roundScale ? 1f / scaleInv : E4M3_MAX / amax;
    }
}
