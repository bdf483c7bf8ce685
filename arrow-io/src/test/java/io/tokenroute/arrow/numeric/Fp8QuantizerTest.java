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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

class Fp8QuantizerTest {

    private static final int[] HIDDEN_SIZES = {128, 512, 7168};

    /** Scales and codes of one row, computed by the reference. */
    private record Quantized(byte[] q, float[] scaleInv) {}

    private static float bf16(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    private static short truncateToBf16(float f) {
        return (short) (Float.floatToRawIntBits(f) >>> 16);
    }

    /** Smallest power of two >= v for positive normal or infinite v, via exponent arithmetic on the value. */
    private static float ceilPowerOfTwo(float v) {
        if (Float.isInfinite(v)) {
            return v;
        }
        float p = Math.scalb(1f, Math.getExponent(v));
        return p == v ? p : 2 * p;
    }

    /** The specified algorithm as plain loops, with the brute-force E4M3 oracle for the final rounding. */
    private static Quantized reference(short[] row, boolean roundScale) {
        int groups = row.length / 128;
        byte[] q = new byte[row.length];
        float[] scales = new float[groups];
        for (int g = 0; g < groups; g++) {
            float amax = 0f;
            for (int i = g * 128; i < (g + 1) * 128; i++) {
                float x = bf16(row[i]);
                if (!Float.isNaN(x)) {
                    amax = Math.max(amax, Math.abs(x));
                }
            }
            amax = Math.max(amax, 1e-4f);
            float scaleInv = amax / 448f;
            float scale;
            if (roundScale) {
                scaleInv = ceilPowerOfTwo(scaleInv);
                scale = 1f / scaleInv;
            } else {
                scale = 448f / amax;
            }
            scales[g] = scaleInv;
            for (int i = g * 128; i < (g + 1) * 128; i++) {
                q[i] = E4M3Reference.encode(bf16(row[i]) * scale);
            }
        }
        return new Quantized(q, scales);
    }

    private static Quantized quantize(short[] row, boolean roundScale) {
        byte[] q = new byte[row.length];
        float[] scales = new float[row.length / 128];
        Fp8Quantizer.quantizeRowBf16(row, 0, row.length, roundScale, q, 0, scales, 0);
        return new Quantized(q, scales);
    }

    private static int[] bits(float[] a) {
        int[] b = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            b[i] = Float.floatToRawIntBits(a[i]);
        }
        return b;
    }

    private static void assertSameAsReference(short[] row, boolean roundScale) {
        Quantized expected = reference(row, roundScale);
        Quantized actual = quantize(row, roundScale);
        assertArrayEquals(bits(expected.scaleInv()), bits(actual.scaleInv()), "scaleInv, roundScale=" + roundScale);
        assertArrayEquals(expected.q(), actual.q(), "codes, roundScale=" + roundScale);
    }

    /** Each group gets its own magnitude, from 1e-7 to 1e7, with some exact zeros and negative values. */
    private static short[] randomRow(SplittableRandom rnd, int hidden) {
        short[] row = new short[hidden];
        for (int g = 0; g < hidden / 128; g++) {
            double magnitude = Math.pow(10, rnd.nextInt(-7, 8));
            for (int i = g * 128; i < (g + 1) * 128; i++) {
                row[i] = rnd.nextInt(50) == 0 ? 0 : truncateToBf16((float) (rnd.nextDouble(-1, 1) * magnitude));
            }
        }
        return row;
    }

    @Test
    void randomRowsMatchReferenceWithAndWithoutRoundScale() {
        SplittableRandom rnd = new SplittableRandom(0x0DE9E9);
        for (int hidden : HIDDEN_SIZES) {
            for (int r = 0; r < 20; r++) {
                short[] row = randomRow(rnd, hidden);
                assertSameAsReference(row, false);
                assertSameAsReference(row, true);
            }
        }
    }

    @Test
    void allZeroRowUsesAmaxFloor() {
        short[] row = new short[256];
        row[3] = (short) 0x8000;
        for (boolean roundScale : new boolean[] {false, true}) {
            assertSameAsReference(row, roundScale);
            Quantized actual = quantize(row, roundScale);
            float expectedScale = roundScale ? ceilPowerOfTwo(1e-4f / 448f) : 1e-4f / 448f;
            assertEquals(expectedScale, actual.scaleInv()[0]);
            assertEquals(expectedScale, actual.scaleInv()[1]);
            byte[] zeros = new byte[256];
            zeros[3] = (byte) 0x80;
            assertArrayEquals(zeros, actual.q());
        }
        assertEquals(0x1p-22f, ceilPowerOfTwo(1e-4f / 448f), "2.23e-7 rounds up to 2^-22");
    }

    @Test
    void hugeValuesStayFiniteAndLargestMapsTo448() {
        SplittableRandom rnd = new SplittableRandom(5);
        short[] row = new short[512];
        for (int i = 0; i < row.length; i++) {
            row[i] = truncateToBf16((float) (rnd.nextDouble(-3e38, 3e38)));
        }
        row[17] = (short) 0x7F7F;
        row[300] = (short) 0xFF7F;
        assertSameAsReference(row, false);
        assertSameAsReference(row, true);
        Quantized plain = quantize(row, false);
        assertEquals((byte) 0x7E, plain.q()[17]);
        assertEquals((byte) 0xFE, plain.q()[300]);
        for (float s : plain.scaleInv()) {
            assertTrue(Float.isFinite(s) && s > 1e35f, "scale " + s);
        }
    }

    @Test
    void infinityPoisonsOnlyItsGroup() {
        SplittableRandom rnd = new SplittableRandom(9);
        short[] row = randomRow(rnd, 384);
        row[5] = (short) 0x7F80;
        row[6] = truncateToBf16(-3.5f);
        row[7] = truncateToBf16(2.25f);
        row[8] = (short) 0xFFC0;
        for (boolean roundScale : new boolean[] {false, true}) {
            assertSameAsReference(row, roundScale);
            Quantized actual = quantize(row, roundScale);
            assertEquals(Float.POSITIVE_INFINITY, actual.scaleInv()[0]);
            assertEquals((byte) 0x7F, actual.q()[5], "Inf * 0 is NaN");
            assertEquals((byte) 0x80, actual.q()[6], "negative finite times 0 is -0");
            assertEquals((byte) 0x00, actual.q()[7]);
            assertEquals((byte) 0x7F, actual.q()[8], "NaN stays NaN");
            assertTrue(Float.isFinite(actual.scaleInv()[1]) && Float.isFinite(actual.scaleInv()[2]));
        }
    }

    @Test
    void nanIsIgnoredByAmaxAndEncodedAsNan() {
        SplittableRandom rnd = new SplittableRandom(13);
        short[] row = randomRow(rnd, 256);
        short[] clean = row.clone();
        row[7] = (short) 0x7FC0;
        row[9] = (short) 0xFFC1;
        clean[7] = 0;
        clean[9] = 0;
        for (boolean roundScale : new boolean[] {false, true}) {
            assertSameAsReference(row, roundScale);
            Quantized withNan = quantize(row, roundScale);
            Quantized without = quantize(clean, roundScale);
            assertArrayEquals(bits(without.scaleInv()), bits(withNan.scaleInv()));
            assertEquals((byte) 0x7F, withNan.q()[7]);
            assertEquals((byte) 0x7F, withNan.q()[9]);
            for (int i = 0; i < row.length; i++) {
                if (i != 7 && i != 9) {
                    assertEquals(without.q()[i], withNan.q()[i]);
                }
            }
        }
    }

    @Test
    void dequantisationErrorIsWithinHalfAnE4M3Ulp() {
        SplittableRandom rnd = new SplittableRandom(17);
        for (int r = 0; r < 30; r++) {
            short[] row = randomRow(rnd, 7168);
            for (boolean roundScale : new boolean[] {false, true}) {
                Quantized actual = quantize(row, roundScale);
                for (int i = 0; i < row.length; i++) {
                    float scaleInv = actual.scaleInv()[i / 128];
                    double x = bf16(row[i]);
                    double error = Math.abs(Fp8Quantizer.dequantize(actual.q()[i], scaleInv) - x);
                    // Normals: half an ulp is at most 2^-4 of the magnitude; subnormals: half of 2^-9, in scaled
                    // units. The 2^-18 term covers the three binary32 roundings (x * scale, scale vs 1 / scaleInv,
                    // code * scaleInv).
                    double bound = 0x1p-4 * Math.abs(x) + 0x1p-10 * scaleInv + 0x1p-18 * Math.abs(x);
                    assertTrue(error <= bound, "x=" + x + " q=" + actual.q()[i] + " scaleInv=" + scaleInv);
                }
            }
        }
    }

    @Test
    void dequantizeMultipliesDecodedCodeByScale() {
        assertEquals(448f * 0.5f, Fp8Quantizer.dequantize((byte) 0x7E, 0.5f));
        assertEquals(-0x1p-9f * 4f, Fp8Quantizer.dequantize((byte) 0x81, 4f));
        assertTrue(Float.isNaN(Fp8Quantizer.dequantize((byte) 0x7F, 1f)));
    }

    @Test
    void roundScaleProducesPowersOfTwoThatPackAsUe8m0() {
        SplittableRandom rnd = new SplittableRandom(21);
        for (int r = 0; r < 20; r++) {
            Quantized actual = quantize(randomRow(rnd, 7168), true);
            for (float s : actual.scaleInv()) {
                assertEquals(s, Ue8m0.unpack(Ue8m0.pack(s)));
            }
        }
    }

    @Test
    void addressFormMatchesArrayFormWithLittleEndianScalesAndNoLeaks() {
        SplittableRandom rnd = new SplittableRandom(25);
        try (RootAllocator allocator = new RootAllocator()) {
            for (int hidden : HIDDEN_SIZES) {
                int groups = hidden / 128;
                try (ArrowBuf src = allocator.buffer(2L * hidden);
                        ArrowBuf q = allocator.buffer(hidden);
                        ArrowBuf scales = allocator.buffer(4L * groups)) {
                    for (int r = 0; r < 5; r++) {
                        short[] row = randomRow(rnd, hidden);
                        row[1] = (short) 0x7FC0;
                        for (int i = 0; i < hidden; i++) {
                            src.setShort(2L * i, row[i]);
                        }
                        for (boolean roundScale : new boolean[] {false, true}) {
                            Fp8Quantizer.quantizeRowBf16(
                                    src.memoryAddress(), hidden, roundScale, q.memoryAddress(), scales.memoryAddress());
                            Quantized expected = quantize(row, roundScale);
                            byte[] gotQ = new byte[hidden];
                            q.getBytes(0, gotQ);
                            assertArrayEquals(expected.q(), gotQ);
                            for (int g = 0; g < groups; g++) {
                                assertEquals(
                                        Float.floatToRawIntBits(expected.scaleInv()[g]),
                                        Float.floatToRawIntBits(scales.getFloat(4L * g)));
                            }
                        }
                    }
                }
            }
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }

    @Test
    void arrayFormHonoursOffsetsAndLeavesSurroundingsUntouched() {
        SplittableRandom rnd = new SplittableRandom(29);
        short[] row = randomRow(rnd, 256);
        short[] padded = new short[row.length + 10];
        System.arraycopy(row, 0, padded, 7, row.length);
        byte[] q = new byte[row.length + 6];
        Arrays.fill(q, (byte) 0x55);
        float[] scales = new float[5];
        Arrays.fill(scales, -1f);
        Fp8Quantizer.quantizeRowBf16(padded, 7, 256, false, q, 3, scales, 2);
        Quantized expected = quantize(row, false);
        assertArrayEquals(expected.q(), Arrays.copyOfRange(q, 3, 3 + 256));
        assertEquals((byte) 0x55, q[2]);
        assertEquals((byte) 0x55, q[259]);
        assertArrayEquals(new float[] {-1f, -1f, expected.scaleInv()[0], expected.scaleInv()[1], -1f}, scales);
    }

    @Test
    void scalesPerRowRequiresPositiveMultipleOf128() {
        assertEquals(1, Fp8Quantizer.scalesPerRow(128));
        assertEquals(56, Fp8Quantizer.scalesPerRow(7168));
        for (int bad : new int[] {100, 130, 0, -128, 7167}) {
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> Fp8Quantizer.scalesPerRow(bad));
            assertTrue(e.getMessage().contains(String.valueOf(bad)), e.getMessage());
        }
    }

    @Test
    void quantizeRejectsBadHiddenSizeNamingTheValue() {
        short[] row = new short[256];
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> Fp8Quantizer.quantizeRowBf16(row, 0, 200, false, new byte[256], 0, new float[2], 0));
        assertTrue(e.getMessage().contains("200"), e.getMessage());
        IllegalArgumentException onAddress =
                assertThrows(IllegalArgumentException.class, () -> Fp8Quantizer.quantizeRowBf16(0L, 130, true, 0L, 0L));
        assertTrue(onAddress.getMessage().contains("130"), onAddress.getMessage());
    }

    @Test
    void quantizeRejectsArraysTooShort() {
        assertThrows(
                IndexOutOfBoundsException.class,
                () -> Fp8Quantizer.quantizeRowBf16(new short[127], 0, 128, false, new byte[128], 0, new float[1], 0));
        assertThrows(
                IndexOutOfBoundsException.class,
                () -> Fp8Quantizer.quantizeRowBf16(new short[256], 129, 128, false, new byte[128], 0, new float[1], 0));
        assertThrows(
                IndexOutOfBoundsException.class,
                () -> Fp8Quantizer.quantizeRowBf16(new short[256], 0, 256, false, new byte[255], 0, new float[2], 0));
        assertThrows(
                IndexOutOfBoundsException.class,
                () -> Fp8Quantizer.quantizeRowBf16(new short[256], 0, 256, false, new byte[256], 0, new float[2], 1));
        assertThrows(
                IndexOutOfBoundsException.class,
                () -> Fp8Quantizer.quantizeRowBf16(new short[256], -1, 128, false, new byte[256], 0, new float[2], 0));
    }
}
