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
package io.tokenroute.device.nvshmem;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.DeviceBuffer;
import io.tokenroute.device.DeviceMemoryTracker;
import io.tokenroute.device.DeviceMemoryTracker.LiveBuffer;
import io.tokenroute.device.DeviceMemoryTracker.Ownership;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.RootAllocator;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link DeviceBuffer#adopt}, the wrapper {@link Nvshmem} hands symmetric memory out with, checked without a GPU: the
 * adopted memory is host memory from {@code malloc} standing in for the symmetric heap, never dereferenced.
 */
class DeviceBufferAdoptTest {

    private Pointer heap;
    private final AtomicInteger releases = new AtomicInteger();
    private final AtomicLong releasedAddress = new AtomicLong();

    @BeforeEach
    void allocateStandIn() {
        heap = Pointer.malloc(4096);
    }

    @AfterEach
    void freeStandIn() {
        Pointer.free(heap);
        DeviceMemoryTracker.assertNoLeaks();
    }

    @Test
    void anAdoptedBufferIsTrackedUntilCloseWhichRunsTheReleaseOnce() {
        DeviceBuffer buffer = adopt(1024);
        assertEquals(heap.address(), buffer.address());
        assertEquals(1024, buffer.size());
        assertEquals(3, buffer.deviceId());
        assertEquals(MemoryLocation.cuda(3), buffer.location());
        LiveBuffer live = only(DeviceMemoryTracker.liveBuffers());
        assertEquals(Ownership.BUFFER, live.ownership());
        assertEquals("adopt", live.allocationSite().get(0).getMethodName(), "the site is the adopting caller");

        buffer.close();
        buffer.close();
        assertEquals(1, releases.get());
        assertEquals(heap.address(), releasedAddress.get());
        assertFalse(buffer.isOpen());
        assertEquals(List.of(), DeviceMemoryTracker.liveBuffers());
    }

    @Test
    void viewsLendTheMemoryAndBlockCloseLikeAnyDeviceBuffer() {
        try (RootAllocator allocator = new RootAllocator()) {
            DeviceBuffer buffer = adopt(2048);
            ArrowBuf view = buffer.toArrowBuf(allocator);
            assertEquals(heap.address(), view.memoryAddress());
            assertEquals(2048, view.capacity());
            assertThrows(IllegalStateException.class, buffer::close);
            assertEquals(0, releases.get(), "nothing released under an open view");
            view.close();
            buffer.close();
            assertEquals(1, releases.get());
        }
    }

    @Test
    void aTransferredBufferIsReleasedByTheLastArrowRelease() {
        try (RootAllocator allocator = new RootAllocator()) {
            DeviceBuffer buffer = adopt(512);
            ArrowBuf owner = buffer.asArrowBufTransferringOwnership(allocator);
            buffer.close();
            assertEquals(0, releases.get());
            assertEquals(
                    Ownership.ARROW, only(DeviceMemoryTracker.liveBuffers()).ownership());
            owner.close();
            assertEquals(1, releases.get());
        }
    }

    @Test
    void badArgumentsAreRefused() {
        assertThrows(NullPointerException.class, () -> DeviceBuffer.adopt(heap.address(), 16, 0, null));
        assertThrows(IllegalArgumentException.class, () -> DeviceBuffer.adopt(heap.address(), -1, 0, a -> {}));
        assertThrows(IllegalArgumentException.class, () -> DeviceBuffer.adopt(heap.address(), 16, -1, a -> {}));
        assertThrows(IllegalArgumentException.class, () -> DeviceBuffer.adopt(0, 16, 0, a -> {}));
        try (DeviceBuffer empty = DeviceBuffer.adopt(0, 0, 0, a -> releases.incrementAndGet())) {
            assertEquals(0, empty.size());
        }
        assertEquals(1, releases.get());
        assertTrue(DeviceMemoryTracker.liveBuffers().isEmpty());
    }

    private DeviceBuffer adopt(long bytes) {
        return DeviceBuffer.adopt(heap.address(), bytes, 3, address -> {
            releases.incrementAndGet();
            releasedAddress.set(address);
        });
    }

    private static LiveBuffer only(List<LiveBuffer> buffers) {
        assertEquals(1, buffers.size(), buffers.toString());
        return buffers.get(0);
    }
}
