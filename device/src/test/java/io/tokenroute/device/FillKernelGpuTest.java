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

import java.util.Arrays;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

class FillKernelGpuTest extends GpuTestBase {

    private static final byte GUARD = (byte) 0xA5;
    /** Element patterns by width; bits above the width are set on purpose: the kernel must ignore them. */
    private static final long[] PATTERNS = {
        0xDEAD_BEEF_0000_00C3L, 0xDEAD_BEEF_0000_7FC1L, 0xDEAD_BEEF_3F80_0001L, 0x0102_0304_0506_0708L
    };

    @Test
    void fillsExactlyTheRangeForEveryWidthAlignmentAndLength() {
        int[] widths = {1, 2, 4, 8};
        int[] startElements = {0, 1, 3, 8};
        long[] counts = {1, 2, 7, 15, 16, 17, 33, 1000, 65_537};
        try (RootAllocator allocator = new RootAllocator()) {
            for (int width : widths) {
                long pattern = PATTERNS[Integer.numberOfTrailingZeros(width)];
                for (int start : startElements) {
                    for (long count : counts) {
                        checkFill(width, start, count, pattern);
                    }
                }
            }
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }

    @Test
    void rejectsMisalignedAddressesAndBadWidths() {
        try (RootAllocator allocator = new RootAllocator();
                DeviceBuffer buffer = DeviceBuffer.allocate(64)) {
            assertThrows(IllegalArgumentException.class, () -> fill.fill(buffer.address() + 2, 4, 4, 1, stream));
            assertThrows(IllegalArgumentException.class, () -> fill.fill(buffer.address(), 4, 3, 1, stream));
            assertThrows(IllegalArgumentException.class, () -> fill.fill(buffer.address(), -1, 4, 1, stream));
        }
    }

    /** Guard bytes everywhere (set by a copy, not by the kernel under test), then one fill, then every byte checked. */
    private static void checkFill(int width, int startElement, long count, long pattern) {
        int guardBytes = 64;
        int total = (int) (guardBytes + (startElement + count) * width + guardBytes);
        byte[] guard = new byte[total];
        Arrays.fill(guard, GUARD);
        try (DeviceBuffer buffer = DeviceBuffer.allocate(total)) {
            Memcpy.toDevice(buffer.address(), guard, stream);
            long begin = guardBytes + (long) startElement * width;
            fill.fill(buffer.address() + begin, count, width, pattern, stream);
            byte[] back = new byte[total];
            Memcpy.toHost(back, buffer.address(), stream);
            long end = begin + count * width;
            for (int i = 0; i < total; i++) {
                byte expected = i >= begin && i < end ? (byte) (pattern >>> (8 * ((i - begin) % width))) : GUARD;
                if (back[i] != expected) {
                    throw new AssertionError("width " + width + ", start element " + startElement + ", count " + count
                            + ": byte " + i + " is 0x" + Integer.toHexString(back[i] & 0xFF) + ", expected 0x"
                            + Integer.toHexString(expected & 0xFF));
                }
            }
        }
    }
}
