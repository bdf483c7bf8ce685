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

import io.tokenroute.device.DeviceMemoryTracker.HandleKind;
import io.tokenroute.device.DeviceMemoryTracker.LiveHandle;
import java.lang.ref.Reference;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Leak tracking of CUDA streams and events ({@link TrackedHandle}, listed by {@link
 * DeviceMemoryTracker#liveHandles()}), checked without a GPU: the records here stand for handles whose destroy call is
 * a counter. The GPU tests check that {@link CudaStream} and {@link CudaEvent} register and unregister through the same
 * records.
 */
class TrackedHandleTest {

    private final AtomicInteger destroyed = new AtomicInteger();

    @AfterEach
    void nothingLeftListed() {
        assertEquals(List.of(), DeviceMemoryTracker.liveHandles());
    }

    @Test
    void aHandleIsListedWithItsCreationSiteUntilClosedAndDestroyedOnce() {
        Object owner = new Object();
        TrackedHandle stream = create(HandleKind.STREAM, 0x7f00_1000L, owner);
        LiveHandle live = only(DeviceMemoryTracker.liveHandles());
        assertEquals(HandleKind.STREAM, live.kind());
        assertEquals(0x7f00_1000L, live.address());
        assertEquals(3, live.deviceId());
        assertFalse(live.leaked());
        assertEquals(
                "create",
                live.creationSite().get(0).getMethodName(),
                "first frame is the creating caller, not the tracking machinery");
        assertTrue(live.describe().contains("stream #" + live.id() + ": 0x7f001000 on cuda:3, open"), live.describe());
        assertTrue(live.describe().contains("TrackedHandleTest.create"), live.describe());

        stream.close();
        stream.close();
        assertEquals(1, destroyed.get());
        assertEquals(List.of(), DeviceMemoryTracker.liveHandles());
        Reference.reachabilityFence(owner);
    }

    @Test
    void handlesAreListedOldestFirst() {
        Object owner = new Object();
        TrackedHandle first = create(HandleKind.EVENT, 0x10L, owner);
        TrackedHandle second = create(HandleKind.STREAM, 0x20L, owner);
        List<LiveHandle> live = DeviceMemoryTracker.liveHandles();
        assertEquals(2, live.size());
        assertEquals(
                List.of(0x10L, 0x20L), live.stream().map(LiveHandle::address).toList());
        assertEquals(
                List.of(HandleKind.EVENT, HandleKind.STREAM),
                live.stream().map(LiveHandle::kind).toList());
        second.close();
        first.close();
        assertEquals(2, destroyed.get());
        Reference.reachabilityFence(owner);
    }

    @Test
    void aFailingDestroyIsNotRetriedAndTheHandleIsNoLongerListed() {
        TrackedHandle event = new TrackedHandle(HandleKind.EVENT, 0x30L, 0, () -> {
            destroyed.incrementAndGet();
            throw new IllegalStateException("cudaEventDestroy failed");
        });
        event.watch(new Object());
        assertThrows(IllegalStateException.class, event::close);
        event.close();
        assertEquals(1, destroyed.get());
    }

    @Test
    void anOwnerCollectedWithoutCloseIsReportedWithItsSiteAndTheHandleIsNotDestroyed() throws InterruptedException {
        Logger logger = Logger.getLogger("io.tokenroute.device");
        CountDownLatch reported = new CountDownLatch(1);
        AtomicReference<String> message = new AtomicReference<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord record) {
                if (record.getLevel() == Level.WARNING && record.getMessage().contains("0xdead0")) {
                    message.set(record.getMessage());
                    reported.countDown();
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        logger.addHandler(capture);
        try {
            TrackedHandle leaked = createWithDroppedOwner();
            // The cleaner runs once a collection found the owner unreachable: ask for collections until it reported.
            for (int attempt = 0; attempt < 200 && !reported.await(50, TimeUnit.MILLISECONDS); attempt++) {
                System.gc();
            }
            assertEquals(0, reported.getCount(), "the dropped stream was never reported");
            assertTrue(message.get().startsWith("LEAK: stream #"), message.get());
            assertTrue(message.get().contains("TrackedHandleTest.createWithDroppedOwner"), message.get());
            LiveHandle live = only(DeviceMemoryTracker.liveHandles());
            assertTrue(live.leaked(), "still listed, as leaked");
            assertTrue(live.describe().contains("LEAKED"), live.describe());
            assertEquals(0, destroyed.get(), "report only: the cleaner must not destroy the handle");
            leaked.close(); // only a test holds the record; a program has nothing left to close
            assertEquals(1, destroyed.get());
        } finally {
            logger.removeHandler(capture);
        }
    }

    @Test
    void aClosedHandleIsNeverReported() {
        Object owner = new Object();
        TrackedHandle stream = create(HandleKind.STREAM, 0x40L, owner);
        stream.close();
        stream.ownerUnreachable(); // what the cleaner would do if it still ran
        assertEquals(List.of(), DeviceMemoryTracker.liveHandles());
        assertEquals(1, destroyed.get());
        Reference.reachabilityFence(owner);
    }

    private TrackedHandle create(HandleKind kind, long address, Object owner) {
        TrackedHandle handle =
                new TrackedHandle(kind, address, kind == HandleKind.STREAM ? 3 : 0, destroyed::incrementAndGet);
        handle.watch(owner);
        return handle;
    }

    /** The owner exists only inside this frame, so it is unreachable once this returns. */
    private TrackedHandle createWithDroppedOwner() {
        return create(HandleKind.STREAM, 0xdead0L, new Object());
    }

    private static LiveHandle only(List<LiveHandle> handles) {
        assertEquals(1, handles.size(), handles.toString());
        return handles.get(0);
    }
}
