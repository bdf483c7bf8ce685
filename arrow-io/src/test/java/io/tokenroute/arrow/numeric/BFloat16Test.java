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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

class BFloat16Test {

    /** Value of a bfloat16 pattern from its fields; exponent 255 stands for 2^128, the rounding target past MAX. */
    private static double referenceValue(int pattern) {
        int s = (pattern >> 15) & 1;
        int e = (pattern >> 7) & 0xFF;
        int m = pattern & 0x7F;
        double magnitude;
        if (e == 0xFF) {
            magnitude = Math.pow(2, 128);
        } else if (e == 0) {
            magnitude = (m / 128.0) * Math.pow(2, -126);
        } else {
            magnitude = (1 + m / 128.0) * Math.pow(2, e - 127);
        }
        return s == 1 ? -magnitude : magnitude;
    }

    /** Nearest of the truncated pattern and the next one away from zero, measured exactly in double, ties to even. */
    private static short referenceFromFiniteFloat(float f) {
        int lo = (Float.floatToRawIntBits(f) >>> 16) & 0xFFFF;
        int hi = lo + 1;
        double x = f;
        double toLo = Math.abs(x - referenceValue(lo));
        double toHi = Math.abs(referenceValue(hi) - x);
        if (toLo < toHi) {
            return (short) lo;
        }
        if (toHi < toLo) {
            return (short) hi;
        }
        return (short) ((lo & 1) == 0 ? lo : hi);
    }

    private static void assertNarrowing(float f) {
        int bits = Float.floatToRawIntBits(f);
        short actual = BFloat16.fromFloat(f);
        if (Float.isNaN(f)) {
            int a = actual & 0xFFFF;
            assertTrue(
                    (a & 0x7F80) == 0x7F80 && (a & 0x7F) != 0,
                    () -> "NaN stays NaN for 0x" + Integer.toHexString(bits));
            assertEquals(bits >>> 31, a >>> 15, () -> "NaN sign for 0x" + Integer.toHexString(bits));
            assertEquals(0x40, a & 0x40, () -> "quiet bit for 0x" + Integer.toHexString(bits));
        } else if (Float.isInfinite(f)) {
            assertEquals((short) (bits >>> 16), actual);
        } else {
            assertEquals(referenceFromFiniteFloat(f), actual, () -> "fromFloat(0x" + Integer.toHexString(bits) + ")");
        }
    }

    @Test
    void narrowingMatchesNearestEvenReferenceOnRandomBitPatterns() {
        SplittableRandom rnd = new SplittableRandom(0xBF16);
        for (int i = 0; i < 1_000_000; i++) {
            assertNarrowing(Float.intBitsToFloat(rnd.nextInt()));
        }
    }

    @Test
    void narrowingMatchesNearestEvenReferenceOnRandomNormalRangeValues() {
        SplittableRandom rnd = new SplittableRandom(42);
        for (int i = 0; i < 1_000_000; i++) {
            double magnitude = Math.pow(10, rnd.nextInt(-37, 38));
            assertNarrowing((float) ((rnd.nextDouble() * 2 - 1) * magnitude));
        }
    }

    @Test
    void narrowingEdgeValues() {
        int[] patterns = {
            0x0000_0000,
            0x8000_0000,
            0x7F80_0000,
            0xFF80_0000,
            0x7FC0_0000,
            0xFFC0_0000,
            0x7F80_0001,
            0xFF80_0001,
            0x7FFF_FFFF,
            0xFFFF_FFFF,
            0x7F81_0000,
            0x7FBF_FFFF,
            0x7F7F_FFFF,
            0xFF7F_FFFF,
            0x7F7F_8000,
            0x7F7F_7FFF,
            0x7F7E_8000,
            0x7F7F_8001,
            0x0080_0000,
            0x8080_0000,
            0x0000_0001,
            0x8000_0001,
            0x0000_8000,
            0x0001_8000,
            0x0000_8001,
            0x007F_FFFF,
            0x007F_8000,
            0x3F80_8000,
            0x3F81_8000,
            0xBF80_8000,
            0xBF81_8000,
            0x3F80_8001,
            0x3F80_7FFF,
            Float.floatToRawIntBits(Math.nextUp(1f)),
            Float.floatToRawIntBits(Math.nextDown(1f)),
            Float.floatToRawIntBits(-Math.nextUp(1f)),
            Float.floatToRawIntBits(3.4e38f),
        };
        for (int bits : patterns) {
            assertNarrowing(Float.intBitsToFloat(bits));
        }
    }

    @Test
    void narrowingEdgeValuesHaveHandCheckedBits() {
        assertEquals((short) 0x0000, BFloat16.fromFloat(0f));
        assertEquals((short) 0x8000, BFloat16.fromFloat(-0f));
        assertEquals((short) 0x7F80, BFloat16.fromFloat(Float.POSITIVE_INFINITY));
        assertEquals((short) 0xFF80, BFloat16.fromFloat(Float.NEGATIVE_INFINITY));
        assertEquals((short) 0x3F80, BFloat16.fromFloat(Math.nextUp(1f)));
        assertEquals((short) 0x3F80, BFloat16.fromFloat(Math.nextDown(1f)));
        // Ties: 1 + 2^-8 goes down to the even 0x3F80; 1 + 3 * 2^-8 goes up to the even 0x3F82.
        assertEquals((short) 0x3F80, BFloat16.fromFloat(Float.intBitsToFloat(0x3F80_8000)));
        assertEquals((short) 0x3F82, BFloat16.fromFloat(Float.intBitsToFloat(0x3F81_8000)));
        // Float.MAX_VALUE and the tie above the largest bfloat16 (odd mantissa) both overflow to Inf by rounding.
        assertEquals((short) 0x7F80, BFloat16.fromFloat(Float.MAX_VALUE));
        assertEquals((short) 0x7F80, BFloat16.fromFloat(Float.intBitsToFloat(0x7F7F_8000)));
        assertEquals((short) 0xFF80, BFloat16.fromFloat(-Float.MAX_VALUE));
        assertEquals((short) 0x7F7F, BFloat16.fromFloat(Float.intBitsToFloat(0x7F7F_7FFF)));
        // The largest bfloat16 is about 3.3895e38 and the overflow threshold (half-way to 2^128) about 3.3962e38.
        assertEquals((short) 0x7F7F, BFloat16.fromFloat(3.39e38f));
        assertEquals((short) 0x7F80, BFloat16.fromFloat(3.4e38f));
        assertEquals((short) 0x7F7E, BFloat16.fromFloat(3.38e38f));
        // Subnormals: the half-way tie to the smallest bfloat16 subnormal goes to zero.
        assertEquals((short) 0x0000, BFloat16.fromFloat(Float.MIN_VALUE));
        assertEquals((short) 0x0000, BFloat16.fromFloat(Float.intBitsToFloat(0x0000_8000)));
        assertEquals((short) 0x0001, BFloat16.fromFloat(Float.intBitsToFloat(0x0000_8001)));
        assertEquals((short) 0x0002, BFloat16.fromFloat(Float.intBitsToFloat(0x0001_8000)));
        assertEquals((short) 0x0080, BFloat16.fromFloat(Float.intBitsToFloat(0x007F_FFFF)));
        // A signalling NaN whose payload lives only in the dropped bits must not collapse into Inf.
        assertEquals((short) 0x7FC0, BFloat16.fromFloat(Float.intBitsToFloat(0x7F80_0001)));
        assertEquals((short) 0xFFC1, BFloat16.fromFloat(Float.intBitsToFloat(0xFF81_0000)));
    }

    @Test
    void wideningIsExactAndEveryPatternRoundTrips() {
        for (int p = 0; p < 0x1_0000; p++) {
            short b = (short) p;
            float f = BFloat16.toFloat(b);
            assertEquals(Float.floatToRawIntBits(f), p << 16, "exact widening");
            double expected = referenceValue(p);
            boolean nan = (p & 0x7F80) == 0x7F80 && (p & 0x7F) != 0;
            if (nan) {
                assertTrue(Float.isNaN(f));
                assertTrue(Float.isNaN(BFloat16.toFloat(BFloat16.fromFloat(f))));
            } else {
                if ((p & 0x7F80) != 0x7F80) {
                    assertEquals(expected, f, 0.0, "value of 0x" + Integer.toHexString(p));
                }
                assertEquals(f, BFloat16.toFloat(BFloat16.fromFloat(f)), "round trip of 0x" + Integer.toHexString(p));
            }
        }
    }

    private static float[] randomFloats(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (i % 7 == 0) ? Float.intBitsToFloat(rnd.nextInt()) : (float) rnd.nextDouble(-1e4, 1e4);
        }
        return a;
    }

    @Test
    void bulkArrayFormsEqualScalarForm() {
        int n = 1000;
        float[] src = randomFloats(n + 5, 7);
        short[] narrow = new short[n + 9];
        BFloat16.fromFloats(src, 5, narrow, 3, n);
        for (int i = 0; i < n; i++) {
            assertEquals(BFloat16.fromFloat(src[5 + i]), narrow[3 + i]);
        }
        assertEquals(0, narrow[0]);
        assertEquals(0, narrow[n + 3]);
        float[] wide = new float[n + 2];
        BFloat16.toFloats(narrow, 3, wide, 2, n);
        for (int i = 0; i < n; i++) {
            assertEquals(
                    Float.floatToRawIntBits(BFloat16.toFloat(narrow[3 + i])), Float.floatToRawIntBits(wide[2 + i]));
        }
    }

    @Test
    void bulkAddressFormsEqualScalarFormAndUseLittleEndianWithoutLeaks() {
        int n = 777;
        float[] src = randomFloats(n + 4, 11);
        try (RootAllocator allocator = new RootAllocator()) {
            try (ArrowBuf buf = allocator.buffer(2L * n)) {
                BFloat16.fromFloats(src, 4, buf.memoryAddress(), n);
                for (int i = 0; i < n; i++) {
                    assertEquals(BFloat16.fromFloat(src[4 + i]), buf.getShort(2L * i), "ArrowBuf reads little-endian");
                }
                float[] back = new float[n + 1];
                BFloat16.toFloats(buf.memoryAddress(), back, 1, n);
                for (int i = 0; i < n; i++) {
                    assertEquals(
                            Float.floatToRawIntBits(BFloat16.toFloat(buf.getShort(2L * i))),
                            Float.floatToRawIntBits(back[1 + i]));
                }
                buf.setByte(0, 0x80);
                buf.setByte(1, 0x3F);
                BFloat16.toFloats(buf.memoryAddress(), back, 0, 1);
                assertEquals(1f, back[0], "byte order of element 0 is little-endian");
            }
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }

    @Test
    void bulkFormsRejectRangesOutsideTheArrays() {
        float[] f = new float[10];
        short[] s = new short[10];
        assertThrows(IndexOutOfBoundsException.class, () -> BFloat16.fromFloats(f, 0, s, 1, 10));
        assertThrows(IndexOutOfBoundsException.class, () -> BFloat16.fromFloats(f, 1, s, 0, 10));
        assertThrows(IndexOutOfBoundsException.class, () -> BFloat16.fromFloats(f, -1, s, 0, 2));
        assertThrows(IndexOutOfBoundsException.class, () -> BFloat16.toFloats(s, 0, f, 5, 6));
        assertThrows(IndexOutOfBoundsException.class, () -> BFloat16.toFloats(s, 0, f, 0, -1));
        assertThrows(IndexOutOfBoundsException.class, () -> BFloat16.fromFloats(f, 3, 0L, 8));
        assertThrows(IndexOutOfBoundsException.class, () -> BFloat16.toFloats(0L, f, 3, 8));
    }
}
