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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.device.DeviceMemoryTracker.LiveBuffer;
import io.tokenroute.device.DeviceMemoryTracker.Ownership;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.RootAllocator;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The ownership, tracking and leak-reporting rules of {@link CudaBuffer}, checked without a GPU: the buffers here wrap
 * host memory from {@code malloc} and count their frees, standing in for {@code cudaMalloc}/{@code cudaFree}. The GPU
 * tests repeat the essentials on real device memory.
 */
class CudaBufferOwnershipTest {

    private final AtomicInteger frees = new AtomicInteger();

    @AfterEach
    void noLeaks() {
        DeviceMemoryTracker.assertNoLeaks();
    }

    @Test
    void closeFreesExactlyOnceAndTheTrackerNamesTheAllocationSite() {
        DeviceBuffer buffer = hostBacked(4096);
        LiveBuffer live = only(DeviceMemoryTracker.liveBuffers());
        assertEquals(4096, live.size());
        assertEquals(Ownership.BUFFER, live.ownership());
        assertEquals(
                "hostBacked",
                live.allocationSite().get(0).getMethodName(),
                "first frame is the allocating caller, not the buffer machinery");
        IllegalStateException leak = assertThrows(IllegalStateException.class, DeviceMemoryTracker::assertNoLeaks);
        assertTrue(leak.getMessage().contains("4096 bytes"), leak.getMessage());
        assertTrue(leak.getMessage().contains("CudaBufferOwnershipTest.hostBacked"), leak.getMessage());

        buffer.close();
        buffer.close();
        assertEquals(1, frees.get());
        assertFalse(buffer.isOpen());
        assertThrows(IllegalStateException.class, buffer::address);
    }

    @Test
    void anArrowViewLendsTheMemoryAndBlocksClose() {
        try (RootAllocator allocator = new RootAllocator()) {
            DeviceBuffer buffer = hostBacked(256);
            ArrowBuf view = buffer.toArrowBuf(allocator);
            assertEquals(buffer.address(), view.memoryAddress());
            assertEquals(256, view.capacity());
            assertEquals(256, allocator.getAllocatedMemory());

            IllegalStateException e = assertThrows(IllegalStateException.class, buffer::close);
            assertTrue(e.getMessage().contains("view"), e.getMessage());
            assertEquals(0, frees.get(), "nothing freed under an open view");

            view.close();
            assertEquals(0, frees.get(), "a view's release frees nothing");
            buffer.close();
            assertEquals(1, frees.get());
        }
    }

    @Test
    void transferringOwnershipLetsTheLastArrowReleaseFree() {
        try (RootAllocator allocator = new RootAllocator()) {
            DeviceBuffer buffer = hostBacked(512);
            long address = buffer.address();
            ArrowBuf owner = buffer.asArrowBufTransferringOwnership(allocator);
            assertEquals(address, owner.memoryAddress());
            assertFalse(buffer.isOpen());
            assertThrows(IllegalStateException.class, buffer::address);
            buffer.close();
            assertEquals(0, frees.get(), "the handle no longer frees");
            assertEquals(
                    Ownership.ARROW, only(DeviceMemoryTracker.liveBuffers()).ownership());

            owner.getReferenceManager().retain();
            owner.close();
            assertEquals(0, frees.get(), "still referenced");
            owner.close();
            assertEquals(1, frees.get());
        }
    }

    @Test
    void transferIsRefusedWhileViewsAreOpen() {
        try (RootAllocator allocator = new RootAllocator();
                DeviceBuffer buffer = hostBacked(64)) {
            try (ArrowBuf view = buffer.toArrowBuf(allocator)) {
                assertThrows(IllegalStateException.class, () -> buffer.asArrowBufTransferringOwnership(allocator));
                assertTrue(buffer.isOpen());
                assertEquals(64, view.capacity());
            }
        }
        assertEquals(1, frees.get());
    }

    @Test
    void anUnclosedUnreachableBufferIsReportedNotFreedUntilReclaimed() throws InterruptedException {
        long id = allocateAndDrop();
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (ownershipOf(id) != Ownership.UNREACHABLE) {
            assertTrue(System.nanoTime() < deadline, "the cleaner never reported the dropped buffer");
            System.gc();
            Thread.sleep(20);
        }
        assertEquals(0, frees.get(), "the cleaner must not free behind the program's back");
        assertThrows(IllegalStateException.class, DeviceMemoryTracker::assertNoLeaks);
        assertEquals(1, DeviceMemoryTracker.reclaimUnreachable());
        assertEquals(1, frees.get());
    }

    private long allocateAndDrop() {
        hostBacked(128);
        return only(DeviceMemoryTracker.liveBuffers()).id();
    }

    private static Ownership ownershipOf(long id) {
        return DeviceMemoryTracker.liveBuffers().stream()
                .filter(b -> b.id() == id)
                .findFirst()
                .map(LiveBuffer::ownership)
                .orElseThrow();
    }

    private DeviceBuffer hostBacked(long size) {
        Pointer memory = Pointer.malloc(size);
        return new DeviceBuffer(new Allocation(MemoryKind.DEVICE, memory.address(), size, 0, address -> {
            frees.incrementAndGet();
            Pointer.free(Native.at(address));
        }));
    }

    private static LiveBuffer only(List<LiveBuffer> buffers) {
        assertEquals(1, buffers.size(), buffers.toString());
        return buffers.get(0);
    }
}
