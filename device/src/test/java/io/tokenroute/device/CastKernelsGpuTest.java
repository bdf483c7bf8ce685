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

import java.util.Random;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Each cast kernel against {@link NumericReference} on every 16-bit input (or a million float32 patterns with the
 * edge cases), once with 16-byte aligned arrays (vector path) and once shifted by one element (scalar path), with an
 * element count that is not a multiple of 8. The output, plus one guard element on each side, is poisoned with two
 * different patterns in turn, so a skipped or stray write cannot hide behind a coincidence.
 */
class CastKernelsGpuTest extends GpuTestBase {

    private static final long[] POISON_32 = {0x7FBA_DBADL, 0x1234_5678L};
    private static final long[] POISON_16 = {0x7FBAL, 0x1357L};

    private CastKernels casts;

    @BeforeEach
    void bindKernels() {
        casts = new CastKernels(module);
    }

    @Test
    void bf16ToFp32IsExactForEveryPattern() {
        short[] input = trimmed(TestData.all16BitPatterns(new Random(1)));
        int[] expected = new int[input.length];
        for (int i = 0; i < input.length; i++) {
            expected[i] = Float.floatToRawIntBits(NumericReference.bf16ToFloat(input[i]));
        }
        try (RootAllocator allocator = new RootAllocator()) {
            for (int shift : new int[] {0, 1}) {
                for (long poison : POISON_32) {
                    int[] out =
                            run32(input, shift, poison, (dst, src) -> casts.bf16ToFp32(dst, src, input.length, stream));
                    for (int i = 0; i < input.length; i++) {
                        int actual = out[shift + i];
                        int index = i;
                        assertEquals(
                                expected[i],
                                actual,
                                () -> "shift " + shift + ", bf16 0x" + Integer.toHexString(input[index] & 0xFFFF));
                    }
                    assertGuards32(out, shift, input.length, poison);
                }
            }
        }
    }

    @Test
    void fp32ToBf16RoundsToNearestEvenAndKeepsNaNPayloads() {
        int[] input = TestData.floatBits(new Random(2), 1_000_003);
        short[] expected = new short[input.length];
        for (int i = 0; i < input.length; i++) {
            expected[i] = NumericReference.bf16(input[i]);
        }
        try (RootAllocator allocator = new RootAllocator()) {
            for (int shift : new int[] {0, 1}) {
                for (long poison : POISON_16) {
                    short[] out =
                            run16(input, shift, poison, (dst, src) -> casts.fp32ToBf16(dst, src, input.length, stream));
                    for (int i = 0; i < input.length; i++) {
                        int index = i;
                        assertEquals(
                                expected[i],
                                out[shift + i],
                                () -> "shift " + shift + ", float bits 0x" + Integer.toHexString(input[index]));
                    }
                    assertGuards16(out, shift, input.length, poison);
                }
            }
        }
    }

    @Test
    void fp16ToBf16ForEveryPattern() {
        short[] input = trimmed(TestData.all16BitPatterns(new Random(3)));
        short[] expected = new short[input.length];
        for (int i = 0; i < input.length; i++) {
            expected[i] = NumericReference.fp16ToBf16(input[i]);
        }
        try (RootAllocator allocator = new RootAllocator()) {
            for (int shift : new int[] {0, 1}) {
                for (long poison : POISON_16) {
                    short[] out =
                            run16(input, shift, poison, (dst, src) -> casts.fp16ToBf16(dst, src, input.length, stream));
                    for (int i = 0; i < input.length; i++) {
                        int index = i;
                        assertEquals(
                                expected[i],
                                out[shift + i],
                                () -> "shift " + shift + ", half 0x" + Integer.toHexString(input[index] & 0xFFFF));
                    }
                    assertGuards16(out, shift, input.length, poison);
                }
            }
        }
    }

    @Test
    void rejectsMisalignedArrays() {
        try (RootAllocator allocator = new RootAllocator();
                DeviceBuffer buffer = DeviceBuffer.allocate(1024)) {
            assertThrows(
                    IllegalArgumentException.class,
                    () -> casts.bf16ToFp32(buffer.address() + 2, buffer.address(), 8, stream));
            assertThrows(
                    IllegalArgumentException.class,
                    () -> casts.fp32ToBf16(buffer.address(), buffer.address() + 1, 8, stream));
        }
    }

    /** Drops three elements so the count is not a multiple of the 8-element vector step. */
    private static short[] trimmed(short[] values) {
        short[] out = new short[values.length - 3];
        System.arraycopy(values, 0, out, 0, out.length);
        return out;
    }

    private interface Launch {
        void run(long dst, long src);
    }

    /** Uploads 16-bit input at element {@code shift}, poisons the float32 output (n + 2 guards), launches, reads. */
    private static int[] run32(short[] input, int shift, long poison, Launch launch) {
        int outLength = input.length + 2;
        try (DeviceBuffer src = DeviceBuffer.allocate(2L * (input.length + 1));
                DeviceBuffer dst = DeviceBuffer.allocate(4L * outLength)) {
            Memcpy.toDevice(src.address() + 2L * shift, input, stream);
            fill.fill(dst.address(), outLength, 4, poison, stream);
            launch.run(dst.address() + 4L * shift, src.address() + 2L * shift);
            int[] out = new int[outLength];
            Memcpy.toHost(out, dst.address(), stream);
            return out;
        }
    }

    private static short[] run16(short[] input, int shift, long poison, Launch launch) {
        int outLength = input.length + 2;
        try (DeviceBuffer src = DeviceBuffer.allocate(2L * (input.length + 1));
                DeviceBuffer dst = DeviceBuffer.allocate(2L * outLength)) {
            Memcpy.toDevice(src.address() + 2L * shift, input, stream);
            fill.fill(dst.address(), outLength, 2, poison, stream);
            launch.run(dst.address() + 2L * shift, src.address() + 2L * shift);
            short[] out = new short[outLength];
            Memcpy.toHost(out, dst.address(), stream);
            return out;
        }
    }

    private static short[] run16(int[] input, int shift, long poison, Launch launch) {
        int outLength = input.length + 2;
        try (DeviceBuffer src = DeviceBuffer.allocate(4L * (input.length + 1));
                DeviceBuffer dst = DeviceBuffer.allocate(2L * outLength)) {
            Memcpy.toDevice(src.address() + 4L * shift, input, stream);
            fill.fill(dst.address(), outLength, 2, poison, stream);
            launch.run(dst.address() + 2L * shift, src.address() + 4L * shift);
            short[] out = new short[outLength];
            Memcpy.toHost(out, dst.address(), stream);
            return out;
        }
    }

    /** Everything outside [shift, shift + n) must still hold the poison. */
    private static void assertGuards32(int[] out, int shift, int n, long poison) {
        for (int i = 0; i < out.length; i++) {
            if (i < shift || i >= shift + n) {
                assertEquals((int) poison, out[i], "guard element " + i + " was written");
            }
        }
    }

    private static void assertGuards16(short[] out, int shift, int n, long poison) {
        for (int i = 0; i < out.length; i++) {
            if (i < shift || i >= shift + n) {
                assertEquals((short) poison, out[i], "guard element " + i + " was written");
            }
        }
    }
}
