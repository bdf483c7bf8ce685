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
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.junit.jupiter.api.Test;

class StreamEventGpuTest extends GpuTestBase {

    private static final long BIG = 1L << 30;

    @Test
    void eventsTimeAndCompleteQueuedWork() {
        try (RootAllocator allocator = new RootAllocator();
                DeviceBuffer buffer = DeviceBuffer.allocate(BIG);
                CudaEvent start = CudaEvent.create();
                CudaEvent end = CudaEvent.create(CudaEvent.BLOCKING_SYNC)) {
            start.record(stream);
            for (int i = 0; i < 8; i++) {
                fill.fill(buffer.address(), BIG / 4, 4, i, stream);
            }
            end.record(stream);
            end.synchronize();
            assertTrue(end.isComplete());
            assertTrue(stream.isIdle());
            float ms = CudaEvent.elapsedMillis(start, end);
            // 8 GiB of stores: well above the timer's resolution, far below a second on any supported GPU.
            assertTrue(ms > 0.05f && ms < 1000f, ms + " ms");
            System.out.printf("fill: 8 x 1 GiB in %.3f ms (%.0f GB/s)%n", ms, 8.0 * BIG / ms / 1e6);
        }
    }

    @Test
    void aStreamWaitsForAnEventOfAnotherStream() {
        try (RootAllocator allocator = new RootAllocator();
                DeviceBuffer buffer = DeviceBuffer.allocate(BIG);
                CudaStream other = CudaStream.create(CudaStream.NON_BLOCKING);
                CudaEvent written = CudaEvent.create(CudaEvent.DISABLE_TIMING)) {
            fill.fill(buffer.address(), BIG / 4, 4, 0x1111_1111L, stream);
            fill.fill(buffer.address(), BIG / 4, 4, 0x2222_2222L, stream);
            written.record(stream);
            other.waitFor(written);
            int[] tail = new int[1024];
            Memcpy.toHost(tail, buffer.address() + BIG - 4L * tail.length, other);
            for (int value : tail) {
                assertEquals(0x2222_2222, value);
            }
        }
    }

    @Test
    void theSyncEventSlotHoldsTheEventHandle() {
        try (RootAllocator allocator = new RootAllocator();
                CudaEvent event = CudaEvent.create()) {
            long slot = event.syncEventSlotAddress();
            assertEquals(event.address(), MemoryUtil.getLong(slot), "ArrowDeviceArray.sync_event -> cudaEvent_t");
            assertTrue(event.address() != 0);
        }
    }

    @Test
    void timingAnUntimedEventIsACudaError() {
        try (RootAllocator allocator = new RootAllocator();
                CudaEvent start = CudaEvent.create(CudaEvent.DISABLE_TIMING);
                CudaEvent end = CudaEvent.create(CudaEvent.DISABLE_TIMING)) {
            start.record(stream);
            end.record(stream);
            end.synchronize();
            CudaException e = assertThrows(CudaException.class, () -> CudaEvent.elapsedMillis(start, end));
            assertTrue(e.errorName().startsWith("cudaError"), e.getMessage());
        }
    }
}
