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
 * Conversions between IEEE-754 binary32 ({@code float}) and bfloat16, the upper half of a binary32 (1 sign bit,
 * 8 exponent bits with bias 127, 7 mantissa bits), carried in Java as the raw 16 bits of a {@code short}.
 *
 * <p>For every non-NaN input the result is bit-identical to CUDA's {@code __float2bfloat16_rn}
 * ({@code cvt.rn.bf16.f32}):
 * <ul>
 *   <li>finite values, zeros and subnormals: round to nearest, ties to even, applied to the top 16 bits of the
 *       binary32 pattern; a finite value whose rounding carries past the largest bfloat16
 *       ({@code 0x7F7F}, about 3.3895e38) becomes an infinity of the same sign;</li>
 *   <li>±Inf: stay ±Inf;</li>
 *   <li>NaN: stays NaN with its sign and top 7 payload bits, quiet bit ({@code 0x0040}) forced on, i.e.
 *       {@code (bits >>> 16) | 0x0040}. CUDA instead returns the canonical NaN {@code 0x7FFF}, so device output
 *       must be compared with this one by NaN-ness, not by bits.</li>
 * </ul>
 * Widening ({@link #toFloat}) is exact.
 *
 * <p>The address-based bulk forms read or write 2-byte elements in little-endian order at raw host addresses;
 * the caller guarantees that the range is CPU-accessible and live, as nothing can be bounds-checked there.
 */
public final class BFloat16 {

    private static final int QUIET_BIT = 0x0040;

    private BFloat16() {}

    /**
     * Narrows a binary32 value to bfloat16 bits with round-to-nearest-even (see the class description for NaN,
     * infinities and overflow).
     */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000) {
            return (short) ((bits >>> 16) | QUIET_BIT);
        }
        // Adding 0x7FFF plus the lowest kept bit rounds half-way cases to even and lets a mantissa carry ripple into
        // the exponent, which is also how the largest finite values overflow to Inf. Because NaNs were handled above,
        // the sum stays below 2^32 and the sign bit is never disturbed.
        int roundingBias = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + roundingBias) >>> 16);
    }

    /** Widens bfloat16 bits to the binary32 value they denote; exact, NaN payloads included. */
    public static float toFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /**
     * Narrows {@code count} floats {@code src[srcOff ..]} into bfloat16 bits {@code dst[dstOff ..]}, element by
     * element as {@link #fromFloat}.
     *
     * @throws IndexOutOfBoundsException if either range falls outside its array
     */
    public static void fromFloats(float[] src, int srcOff, short[] dst, int dstOff, int count) {
        Objects.checkFromIndexSize(srcOff, count, src.length);
        Objects.checkFromIndexSize(dstOff, count, dst.length);
        for (int i = 0; i < count; i++) {
            dst[dstOff + i] = fromFloat(src[srcOff + i]);
        }
    }

    /**
     * Widens {@code count} bfloat16 values {@code src[srcOff ..]} into {@code dst[dstOff ..]}, exactly.
     *
     * @throws IndexOutOfBoundsException if either range falls outside its array
     */
    public static void toFloats(short[] src, int srcOff, float[] dst, int dstOff, int count) {
        Objects.checkFromIndexSize(srcOff, count, src.length);
        Objects.checkFromIndexSize(dstOff, count, dst.length);
        for (int i = 0; i < count; i++) {
            dst[dstOff + i] = toFloat(src[srcOff + i]);
        }
    }

    /**
     * Narrows {@code count} floats {@code src[srcOff ..]} into a little-endian bfloat16 array of {@code 2 * count}
     * bytes starting at host address {@code dstAddress}.
     *
     * @throws IndexOutOfBoundsException if the source range falls outside {@code src}
     */
    public static void fromFloats(float[] src, int srcOff, long dstAddress, int count) {
        Objects.checkFromIndexSize(srcOff, count, src.length);
        for (int i = 0; i < count; i++) {
            putLittleEndian(dstAddress + 2L * i, fromFloat(src[srcOff + i]));
        }
    }

    /**
     * Widens {@code count} little-endian bfloat16 values starting at host address {@code srcAddress} into
     * {@code dst[dstOff ..]}, exactly.
     *
     * @throws IndexOutOfBoundsException if the destination range falls outside {@code dst}
     */
    public static void toFloats(long srcAddress, float[] dst, int dstOff, int count) {
        Objects.checkFromIndexSize(dstOff, count, dst.length);
        for (int i = 0; i < count; i++) {
            dst[dstOff + i] = toFloat(getLittleEndian(srcAddress + 2L * i));
        }
    }

    /** Reads the little-endian bfloat16 at a host address; shared with the quantiser's hot loop. */
    static short getLittleEndian(long address) {
        short v = MemoryUtil.getShort(address);
        // Arrow buffers are little-endian whatever the host; MemoryUtil accesses native order.
        return MemoryUtil.LITTLE_ENDIAN ? v : Short.reverseBytes(v);
    }

    private static void putLittleEndian(long address, short v) {
        MemoryUtil.putShort(address, MemoryUtil.LITTLE_ENDIAN ? v : Short.reverseBytes(v));
    }
}
