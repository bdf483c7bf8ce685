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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tokenroute.arrow.numeric.Fp8Quantizer;
import java.util.Random;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The FP8 kernel against the plain-loop {@link NumericReference#quantize} (and, for the record, arrow-io's
 * {@link Fp8Quantizer}) in all three scale modes, on shapes with an odd number of groups (one half-warp idle) and on
 * the production hidden size. Outputs are poisoned with two patterns in turn and must be reproduced bit for bit.
 */
class Fp8QuantizeKernelGpuTest extends GpuTestBase {

    private static final long[] POISON_Q = {0xA5L, 0x5AL};
    private static final long[] POISON_SCALE = {0x7FBA_DBADL, 0x3C3C_3C3CL};

    private Fp8QuantizeKernel kernel;

    @BeforeEach
    void bindKernel() {
        kernel = new Fp8QuantizeKernel(module);
    }

    @Test
    void matchesTheReferenceOnAnOddNumberOfGroups() {
        check(37, 384, new Random(5));
    }

    @Test
    void matchesTheReferenceAtTheProductionHiddenSize() {
        check(24, 7168, new Random(6));
    }

    @Test
    void rejectsBadShapesAndAlignment() {
        try (RootAllocator allocator = new RootAllocator();
                DeviceBuffer buffer = DeviceBuffer.allocate(1 << 16)) {
            long a = buffer.address();
            assertThrows(
                    IllegalArgumentException.class,
                    () -> kernel.quantize(a, a + 8192, a + 16384, 1, 200, Fp8ScaleMode.FLOAT32, stream));
            assertThrows(
                    IllegalArgumentException.class,
                    () -> kernel.quantize(a, a + 8192, a + 16384 + 8, 1, 128, Fp8ScaleMode.FLOAT32, stream));
            assertThrows(IllegalArgumentException.class, () -> Fp8ScaleMode.of(false, true));
        }
    }

    private void check(int rows, int hidden, Random random) {
        short[] x = TestData.activations(random, rows, hidden);
        int groups = rows * hidden / NumericReference.GROUP;
        try (RootAllocator allocator = new RootAllocator();
                DeviceBuffer input = DeviceBuffer.allocate(2L * x.length);
                DeviceBuffer codes = DeviceBuffer.allocate(x.length);
                DeviceBuffer scales = DeviceBuffer.allocate(4L * groups)) {
            Memcpy.toDevice(input.address(), x, stream);
            for (Fp8ScaleMode mode : Fp8ScaleMode.values()) {
                byte[] expectedQ = new byte[x.length];
                float[] expectedScale = new float[groups];
                NumericReference.quantize(x, rows, hidden, mode.roundScale(), expectedQ, expectedScale);
                assertArrowIoAgrees(x, rows, hidden, mode, expectedQ, expectedScale);
                for (int p = 0; p < POISON_Q.length; p++) {
                    fill.fill(codes.address(), x.length, 1, POISON_Q[p], stream);
                    fill.fill(scales.address(), groups, 4, POISON_SCALE[p], stream);
                    kernel.quantize(codes.address(), scales.address(), input.address(), rows, hidden, mode, stream);
                    byte[] q = new byte[x.length];
                    Memcpy.toHost(q, codes.address(), stream);
                    for (int i = 0; i < q.length; i++) {
                        int index = i;
                        assertEquals(
                                expectedQ[i],
                                q[i],
                                () -> mode + ": channel " + index + " (row "
                                        + index / hidden + ", group " + index / 128 + "), x = "
                                        + NumericReference.bf16ToFloat(x[index]) + ", scaleInv "
                                        + expectedScale[index / 128]);
                    }
                    if (mode == Fp8ScaleMode.UE8M0) {
                        byte[] packed = new byte[4 * groups];
                        Memcpy.toHost(packed, scales.address(), stream);
                        for (int g = 0; g < groups; g++) {
                            assertEquals(NumericReference.ue8m0(expectedScale[g]), packed[g], mode + ": group " + g);
                        }
                        for (int b = groups; b < packed.length; b++) {
                            assertEquals(
                                    (byte) (POISON_SCALE[p] >>> (8 * (b % 4))),
                                    packed[b],
                                    "UE8M0 scales must use one byte per group; byte " + b + " was written");
                        }
                    } else {
                        float[] scaleInv = new float[groups];
                        Memcpy.toHost(scaleInv, scales.address(), stream);
                        for (int g = 0; g < groups; g++) {
                            assertEquals(
                                    Float.floatToRawIntBits(expectedScale[g]),
                                    Float.floatToRawIntBits(scaleInv[g]),
                                    mode + ": group " + g);
                        }
                    }
                }
            }
        }
    }

    /** The contract is "bit-exact with arrow-io": confirm the reference speaks for it on this very input. */
    private static void assertArrowIoAgrees(
            short[] x, int rows, int hidden, Fp8ScaleMode mode, byte[] expectedQ, float[] expectedScale) {
        byte[] q = new byte[x.length];
        float[] scale = new float[expectedScale.length];
        for (int r = 0; r < rows; r++) {
            Fp8Quantizer.quantizeRowBf16(
                    x, r * hidden, hidden, mode.roundScale(), q, r * hidden, scale, r * hidden / 128);
        }
        for (int i = 0; i < q.length; i++) {
            assertEquals(expectedQ[i], q[i], "reference and arrow-io disagree at channel " + i);
        }
        for (int g = 0; g < scale.length; g++) {
            assertEquals(
                    Float.floatToRawIntBits(expectedScale[g]),
                    Float.floatToRawIntBits(scale[g]),
                    "reference and arrow-io disagree at group " + g);
        }
    }
}
