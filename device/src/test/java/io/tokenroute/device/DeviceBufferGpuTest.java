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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.memory.DeviceType;
import io.tokenroute.device.DeviceMemoryTracker.LiveBuffer;
import io.tokenroute.device.DeviceMemoryTracker.Ownership;
import java.util.List;
import java.util.Random;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

class DeviceBufferGpuTest extends GpuTestBase {

    @Test
    void allocateTrackCloseOnce() {
        try (RootAllocator allocator = new RootAllocator()) {
            DeviceBuffer buffer = DeviceBuffer.allocate(4096);
            assertNotEquals(0, buffer.address());
            assertEquals(0, buffer.address() % 256, "cudaMalloc alignment");
            assertEquals(4096, buffer.size());
            assertEquals(device.location(), buffer.location());

            List<LiveBuffer> live = DeviceMemoryTracker.liveBuffers();
            assertEquals(1, live.size());
            assertEquals(MemoryKind.DEVICE, live.get(0).kind());
            assertEquals(
                    "allocateTrackCloseOnce",
                    live.get(0).allocationSite().get(0).getMethodName());
            IllegalStateException leak = assertThrows(IllegalStateException.class, DeviceMemoryTracker::assertNoLeaks);
            assertTrue(leak.getMessage().contains("4096 bytes"), leak.getMessage());
            assertTrue(leak.getMessage().contains("DeviceBufferGpuTest.allocateTrackCloseOnce"), leak.getMessage());

            buffer.close();
            buffer.close();
            assertFalse(buffer.isOpen());
            assertThrows(IllegalStateException.class, buffer::address);
            DeviceMemoryTracker.assertNoLeaks();
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }

    @Test
    void zeroBytesAllocateNothing() {
        try (RootAllocator allocator = new RootAllocator();
                DeviceBuffer empty = DeviceBuffer.allocate(0)) {
            assertEquals(0, empty.address());
            try (ArrowBuf view = empty.toArrowBuf(allocator)) {
                assertEquals(0, view.capacity());
            }
        }
    }

    @Test
    void arrowViewSharesTheAddressAndTheBufferMustOutliveIt() {
        try (RootAllocator allocator = new RootAllocator();
                DeviceBuffer buffer = DeviceBuffer.allocate(1 << 20)) {
            ArrowBuf view = buffer.toArrowBuf(allocator);
            assertEquals(buffer.address(), view.memoryAddress());
            assertEquals(1 << 20, view.capacity());
            assertThrows(IllegalStateException.class, buffer::close, "close under an open view");
            assertTrue(buffer.isOpen());
            view.close();
        }
    }

    @Test
    void transferredOwnershipIsFreedByTheLastArrowRelease() {
        try (RootAllocator allocator = new RootAllocator()) {
            int[] data = new Random(7).ints(4096).toArray();
            DeviceBuffer buffer = DeviceBuffer.allocate(4L * data.length);
            ArrowBuf owner = buffer.asArrowBufTransferringOwnership(allocator);
            buffer.close();
            assertEquals(
                    Ownership.ARROW, DeviceMemoryTracker.liveBuffers().get(0).ownership());

            // The memory is still usable through the ArrowBuf's address until the release.
            Memcpy.toDevice(owner.memoryAddress(), data, stream);
            int[] back = new int[data.length];
            Memcpy.toHost(back, owner.memoryAddress(), stream);
            assertArrayEquals(data, back);

            owner.close();
            DeviceMemoryTracker.assertNoLeaks();
        }
    }

    @Test
    void anUnreachableBufferIsReportedAndReclaimedExplicitly() throws InterruptedException {
        try (RootAllocator allocator = new RootAllocator()) {
            DeviceBuffer.allocate(8192);
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (DeviceMemoryTracker.liveBuffers().get(0).ownership() != Ownership.UNREACHABLE) {
                assertTrue(System.nanoTime() < deadline, "the cleaner never reported the dropped buffer");
                System.gc();
                Thread.sleep(20);
            }
            device.synchronize();
            assertEquals(1, DeviceMemoryTracker.reclaimUnreachable());
            DeviceMemoryTracker.assertNoLeaks();
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }

    @Test
    void pinnedHostMemoryIsCpuAccessibleThroughArrow() {
        try (RootAllocator allocator = new RootAllocator();
                PinnedHostBuffer pinned = PinnedHostBuffer.allocate(4096)) {
            assertEquals(MemoryKind.PINNED_HOST, pinned.kind());
            assertEquals(DeviceType.CUDA_HOST, pinned.location().type());
            assertTrue(pinned.location().isCpuAccessible());
            try (ArrowBuf view = pinned.toArrowBuf(allocator)) {
                for (int i = 0; i < 1024; i++) {
                    view.setFloat(4L * i, i * 0.5f);
                }
                assertEquals(511.5f, view.getFloat(4L * 1023));
            }
        }
    }
}
