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
package io.tokenroute.routing.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.junit.jupiter.api.Test;

class RowAccumulatorTest {

    @Test
    void testsRunWithTheVectorImplementation() {
        // surefire starts the JVM with --add-modules=jdk.incubator.vector, as the launcher and benchmarks do
        assertNotSame(
                RowAccumulator.SCALAR,
                RowAccumulator.best(),
                RowAccumulator.best().name());
    }

    // ------------------------------------------------------------------------------------------------ reduce

    /** bf16 inputs the random rows draw from one time in eight: zeros, NaNs, infinities, subnormals, extremes. */
    private static final short[] EDGES = {
        0,
        (short) 0x8000,
        0x7F80,
        (short) 0xFF80,
        0x7FC1,
        (short) 0xFFC0,
        0x7F81,
        0x0001,
        (short) 0x8001,
        0x007F,
        0x0080,
        0x7F7F,
        (short) 0xFF7F,
        0x3F80,
        0x3B80
    };

    private static final int POISON = 0x5A;

    @Test
    void reduceMatchesAPlainLoopReferenceOnRandomRowsOfOddLengths() {
        Random rng = new Random(19);
        try (BufferAllocator allocator = new RootAllocator()) {
            for (int hidden : new int[] {1, 2, 7, 15, 16, 17, 31, 33, 63, 129, 1000, 7168, 7171}) {
                for (int count : new int[] {0, 1, 2, 3, 8}) {
                    short[][] rows = new short[count][hidden];
                    float[] weights = new float[count];
                    for (int j = 0; j < count; j++) {
                        weights[j] = randomWeight(rng);
                        for (int h = 0; h < hidden; h++) {
                            rows[j][h] = rng.nextInt(8) == 0
                                    ? EDGES[rng.nextInt(EDGES.length)]
                                    : (short) (rng.nextInt(1 << 16));
                        }
                    }
                    checkBothImplementations(allocator, rows, weights, hidden, "H = " + hidden + ", rows = " + count);
                }
            }
        }
    }

    @Test
    void reduceRoundsTiesToEvenAndOverflowsToInfinity() {
        // Each case: rows (bf16 bits) with weights, and the bf16 result the definition gives.
        Object[][] cases = {
            // 1 + 2^-8 lies half-way between 1 (even) and 1 + 2^-7: stays 1
            {new short[] {0x3F80, 0x3B80}, new float[] {1f, 1f}, (short) 0x3F80},
            // 1 + 3 × 2^-8 lies half-way between 1 + 2^-7 (odd) and 1 + 2^-6 (even): goes up
            {new short[] {0x3F80, 0x3C40}, new float[] {1f, 1f}, (short) 0x3F82},
            // -(1 + 2^-8): ties to even on the magnitude
            {new short[] {(short) 0xBF80, 0x3B80}, new float[] {1f, -1f}, (short) 0xBF80},
            // just above the tie (by one float ulp, 2^-23): rounds up
            {new short[] {0x3F80, 0x3B80, 0x3400}, new float[] {1f, 1f, 1f}, (short) 0x3F81},
            // the largest bf16 plus half its ulp (2^119) is a tie towards the odd 0x7F7F: +Inf
            {new short[] {0x7F7F, 0x7B00}, new float[] {1f, 1f}, (short) 0x7F80},
            // the same below half an ulp stays finite
            {new short[] {0x7F7F, 0x7A80}, new float[] {1f, 1f}, (short) 0x7F7F},
            // subnormal sums stay exact and keep their sign
            {new short[] {0x0001, 0x0001}, new float[] {1f, 1f}, (short) 0x0002},
            {new short[] {(short) 0x8001, 0x0000}, new float[] {1f, 1f}, (short) 0x8001},
            // -0 × w + 0 starts from +0: the sum is +0 (the accumulator begins at +0, as the definition does)
            {new short[] {(short) 0x8000}, new float[] {1f}, (short) 0x0000},
            // Inf - Inf is NaN (any quiet NaN pattern; checked by NaN-ness)
            {new short[] {0x7F80, 0x7F80}, new float[] {1f, -1f}, (short) 0x7FC0},
            // a NaN weight whose payload's low half is set: the bias must not carry it into -0 (NaN is not rounded)
            {new short[] {0x3F80}, new float[] {Float.intBitsToFloat(0x7FFF_FFFF)}, (short) 0x7FFF},
            // no rows: +0
            {new short[] {}, new float[] {}, (short) 0x0000},
        };
        try (BufferAllocator allocator = new RootAllocator()) {
            for (Object[] c : cases) {
                short[] column = (short[]) c[0];
                float[] weights = (float[]) c[1];
                short expected = (short) c[2];
                int hidden = 37; // one vector body and a tail, every channel the same case
                short[][] rows = new short[column.length][hidden];
                for (int j = 0; j < column.length; j++) {
                    java.util.Arrays.fill(rows[j], column[j]);
                }
                for (int h = 0; h < hidden; h++) {
                    assertSameBf16(
                            expected, referenceChannel(rows, weights, h), "the reference itself, case " + hex(column));
                }
                checkBothImplementations(allocator, rows, weights, hidden, "case " + hex(column));
            }
        }
    }

    @Test
    void reduceRefusesCallsLargerThanItsScratch() {
        RowAccumulator.Scratch scratch = new RowAccumulator.Scratch(2, 16);
        for (RowAccumulator impl : new RowAccumulator[] {RowAccumulator.SCALAR, RowAccumulator.best()}) {
            assertThrows(
                    IllegalArgumentException.class,
                    () -> impl.reduce(new long[3], new float[3], 3, 0L, 16, scratch),
                    impl.name());
            assertThrows(
                    IllegalArgumentException.class,
                    () -> impl.reduce(new long[1], new float[1], 1, 0L, 17, scratch),
                    impl.name());
        }
    }

    /**
     * Runs both implementations on the same off-heap rows into poisoned outputs with guard bytes, and checks each
     * channel against the plain-loop reference and the two against each other.
     */
    private static void checkBothImplementations(
            BufferAllocator allocator, short[][] rows, float[] weights, int hidden, String what) {
        int count = rows.length;
        long rowBytes = 2L * hidden;
        try (ArrowBuf in = allocator.buffer(Math.max(1, rowBytes * count));
                ArrowBuf scalarOut = allocator.buffer(rowBytes + 64);
                ArrowBuf vectorOut = allocator.buffer(rowBytes + 64)) {
            long[] addresses = new long[count];
            for (int j = 0; j < count; j++) {
                // the rows in reverse order in memory: the order of the sum comes from the address list
                addresses[j] = in.memoryAddress() + rowBytes * (count - 1 - j);
                for (int h = 0; h < hidden; h++) {
                    MemoryUtil.putShort(addresses[j] + 2L * h, rows[j][h]);
                }
            }
            RowAccumulator.Scratch scratch = new RowAccumulator.Scratch(Math.max(count, 1), hidden + 3);
            ArrowBuf[] outs = {scalarOut, vectorOut};
            RowAccumulator[] impls = {RowAccumulator.SCALAR, RowAccumulator.best()};
            for (int i = 0; i < 2; i++) {
                MemoryUtil.setMemory(outs[i].memoryAddress(), rowBytes + 64, (byte) POISON);
                impls[i].reduce(addresses, weights, count, outs[i].memoryAddress(), hidden, scratch);
                for (int g = 0; g < 64; g++) {
                    assertEquals(
                            POISON,
                            MemoryUtil.getByte(outs[i].memoryAddress() + rowBytes + g),
                            impls[i].name() + " wrote past the row, " + what);
                }
            }
            for (int h = 0; h < hidden; h++) {
                short expected = referenceChannel(rows, weights, h);
                short scalar = MemoryUtil.getShort(scalarOut.memoryAddress() + 2L * h);
                short vector = MemoryUtil.getShort(vectorOut.memoryAddress() + 2L * h);
                assertSameBf16(expected, scalar, "scalar, " + what + ", channel " + h);
                assertSameBf16(expected, vector, RowAccumulator.best().name() + ", " + what + ", channel " + h);
                assertSameBf16(scalar, vector, "scalar against vector, " + what + ", channel " + h);
            }
        }
    }

    /** The definition on Java arrays: the float sum in row order from +0, then rounded to bf16 independently. */
    private static short referenceChannel(short[][] rows, float[] weights, int h) {
        float sum = 0f;
        for (int j = 0; j < rows.length; j++) {
            sum += weights[j] * Float.intBitsToFloat(rows[j][h] << 16);
        }
        return roundToBf16(sum);
    }

    /**
     * Round to nearest, ties to even, by comparing distances in double to the two bf16 neighbours (the one below
     * that truncation gives and the next one up), rather than by the bias trick the implementations use.
     */
    private static short roundToBf16(float f) {
        if (Float.isNaN(f)) {
            return (short) 0x7FC0;
        }
        if (Float.isInfinite(f)) {
            return (short) (Float.floatToRawIntBits(f) >>> 16);
        }
        int bits = Float.floatToRawIntBits(f);
        int down = bits & 0xFFFF_0000;
        int up = down + 0x1_0000;
        double exact = Math.abs((double) f);
        double below = Math.abs((double) Float.intBitsToFloat(down));
        // The next pattern up from the largest finite bf16 is Inf, whose place in the rounding is 2^128.
        double above =
                (up & 0x7FFF_FFFF) == 0x7F80_0000 ? Math.scalb(1.0, 128) : Math.abs((double) Float.intBitsToFloat(up));
        double toBelow = exact - below;
        double toAbove = above - exact;
        boolean goUp = toAbove < toBelow || toAbove == toBelow && ((down >>> 16) & 1) == 1;
        return (short) ((goUp ? up : down) >>> 16);
    }

    private static void assertSameBf16(short expected, short actual, String what) {
        boolean expectedNaN = (expected & 0x7FFF) > 0x7F80;
        boolean actualNaN = (actual & 0x7FFF) > 0x7F80;
        if (expectedNaN || actualNaN) {
            assertTrue(expectedNaN && actualNaN, what + ": expected " + hex(expected) + ", got " + hex(actual));
            // a NaN result is quiet
            assertEquals(0x0040, actual & 0x0040, what + ": NaN " + hex(actual) + " is not quiet");
            return;
        }
        assertEquals(hex(expected), hex(actual), what);
    }

    private static float randomWeight(Random rng) {
        if (rng.nextInt(50) == 0) {
            return Float.intBitsToFloat(0x7F80_0001 + rng.nextInt(0x7F_FFFF)); // a NaN with a random payload
        }
        switch (rng.nextInt(6)) {
            case 0:
                return 1f;
            case 1:
                return -0f;
            case 2:
                return Float.MIN_VALUE * (1 + rng.nextInt(1000));
            default:
                return (float) rng.nextGaussian();
        }
    }

    private static String hex(short bits) {
        return String.format("0x%04X", bits & 0xFFFF);
    }

    private static String hex(short[] bits) {
        StringBuilder b = new StringBuilder("[");
        for (short s : bits) {
            b.append(b.length() > 1 ? " " : "").append(hex(s));
        }
        return b.append(']').toString();
    }
}
