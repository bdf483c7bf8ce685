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
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Float8E4M3Test {

    private static void assertCode(int expected, float f) {
        assertEquals(
                (byte) expected,
                Float8E4M3.fromFloat(f),
                () -> "fromFloat(" + f + " = 0x" + Integer.toHexString(Float.floatToRawIntBits(f)) + ")");
    }

    private static void assertMatchesReference(float f) {
        assertCode(E4M3Reference.encode(f), f);
    }

    @Test
    void decodesAll256CodesLikeTheBitFieldDefinition() {
        for (int c = 0; c < 256; c++) {
            double expected = E4M3Reference.decode(c);
            float actual = Float8E4M3.toFloat((byte) c);
            if (Double.isNaN(expected)) {
                assertTrue(Float.isNaN(actual), "code 0x" + Integer.toHexString(c));
            } else {
                assertEquals((float) expected, actual, "code 0x" + Integer.toHexString(c));
            }
        }
        assertEquals(448f, Float8E4M3.toFloat((byte) 0x7E));
        assertEquals(-448f, Float8E4M3.toFloat((byte) 0xFE));
        assertEquals(0x1p-9f, Float8E4M3.toFloat((byte) 0x01));
        assertEquals(0x1p-6f, Float8E4M3.toFloat((byte) 0x08));
        assertEquals(-0f, Float8E4M3.toFloat((byte) 0x80));
        assertTrue(Float.isNaN(Float8E4M3.toFloat((byte) 0x7F)));
        assertTrue(Float.isNaN(Float8E4M3.toFloat((byte) 0xFF)));
    }

    @Test
    void everyFiniteCodeRoundTrips() {
        for (int c = 0; c < 256; c++) {
            if ((c & 0x7F) != 0x7F) {
                assertCode(c, Float8E4M3.toFloat((byte) c));
            }
        }
    }

    @Test
    void matchesNearestEvenReferenceOnRandomFloatsOverWideExponentRange() {
        SplittableRandom rnd = new SplittableRandom(0xE4A3);
        for (int i = 0; i < 1_000_000; i++) {
            int exponent = rnd.nextInt(-12, 11);
            int bits = (rnd.nextBoolean() ? 0x8000_0000 : 0) | ((exponent + 127) << 23) | rnd.nextInt(1 << 23);
            assertMatchesReference(Float.intBitsToFloat(bits));
        }
    }

    @Test
    void matchesReferenceOnRandomBitPatterns() {
        SplittableRandom rnd = new SplittableRandom(0xB17);
        for (int i = 0; i < 200_000; i++) {
            assertMatchesReference(Float.intBitsToFloat(rnd.nextInt()));
        }
    }

    @Test
    void midpointsBetweenAdjacentCodesTieToEvenMantissa() {
        for (int c = 0; c < 0x7E; c++) {
            double lo = E4M3Reference.decode(c);
            double hi = E4M3Reference.decode(c + 1);
            float mid = (float) ((lo + hi) / 2);
            assertEquals((lo + hi) / 2, mid, 0.0, "midpoints are binary32-exact");
            int even = (c & 1) == 0 ? c : c + 1;
            assertCode(even, mid);
            assertCode(0x80 | even, -mid);
            assertCode(c, Math.nextDown(mid));
            assertCode(c + 1, Math.nextUp(mid));
            assertMatchesReference(mid);
            assertMatchesReference(Math.nextDown(mid));
            assertMatchesReference(Math.nextUp(mid));
        }
    }

    @Test
    void saturatesBeyond448AndForInfinities() {
        assertCode(0x7E, 448f);
        assertCode(0x7E, Math.nextUp(448f));
        // 464 is the midpoint between 448 (mantissa 110, even) and 480 (mantissa 111, the NaN slot): ties to 448.
        assertCode(0x7E, 464f);
        assertCode(0x7E, Math.nextUp(464f));
        assertCode(0x7E, 480f);
        assertCode(0x7E, 1e30f);
        assertCode(0x7E, Float.MAX_VALUE);
        assertCode(0x7E, Float.POSITIVE_INFINITY);
        assertCode(0xFE, -448f);
        assertCode(0xFE, -464f);
        assertCode(0xFE, -1e30f);
        assertCode(0xFE, Float.NEGATIVE_INFINITY);
        // 432 ties between 416 (0x7D, odd mantissa) and 448 (0x7E, even).
        assertCode(0x7E, 432f);
        assertCode(0x7D, Math.nextDown(432f));
    }

    @Test
    void nanBecomesPositiveCanonicalNan() {
        int[] nans = {0x7FC0_0000, 0xFFC0_0000, 0x7F80_0001, 0xFF80_0001, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x7FA0_0000};
        for (int bits : nans) {
            assertCode(0x7F, Float.intBitsToFloat(bits));
        }
    }

    @Test
    void subnormalsAndUnderflowRoundToNearestEvenKeepingSign() {
        assertCode(0x00, 0f);
        assertCode(0x80, -0f);
        assertCode(0x01, 0x1p-9f);
        assertCode(0x81, -0x1p-9f);
        // 2^-10 is half the smallest subnormal: the tie goes to 0, the even code.
        assertCode(0x00, 0x1p-10f);
        assertCode(0x80, -0x1p-10f);
        assertCode(0x01, Math.nextUp(0x1p-10f));
        assertCode(0x00, Float.MIN_VALUE);
        assertCode(0x80, -Float.MIN_VALUE);
        assertCode(0x00, 0x1p-12f);
        // 1.5 * 2^-9 ties between codes 1 and 2: goes to 2.
        assertCode(0x02, 1.5f * 0x1p-9f);
        // 2.5 * 2^-9 ties between codes 2 and 3: goes to 2.
        assertCode(0x02, 2.5f * 0x1p-9f);
        // 7.5 * 2^-9 ties between the largest subnormal and the smallest normal 2^-6 (code 8, mantissa 000).
        assertCode(0x08, 7.5f * 0x1p-9f);
        assertCode(0x07, 7f * 0x1p-9f);
        assertCode(0x38, 1f);
        assertCode(0xB8, -1f);
    }
}
