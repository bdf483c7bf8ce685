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

import static org.bytedeco.cuda.global.cudart.cudaErrorNotReady;
import static org.bytedeco.cuda.global.cudart.cudaEventCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventElapsedTime;
import static org.bytedeco.cuda.global.cudart.cudaEventQuery;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaEventSynchronize;

import io.tokenroute.device.DeviceMemoryTracker.HandleKind;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.javacpp.LongPointer;

/**
 * A CUDA event ({@code cudaEvent_t}): a marker recorded into a stream, used to wait for, order and time GPU work, and
 * to tell an Arrow C Device Data consumer when a batch's data is ready.
 *
 * <p>The creator owns it and closes it. Until then it is listed by {@link DeviceMemoryTracker#liveHandles()} with its
 * creation site; one garbage-collected without {@code close()} is logged as a leak and not destroyed.
 */
public final class CudaEvent implements AutoCloseable {

    /** {@code cudaEventDefault}: timing enabled, waiting spins. */
    public static final int DEFAULT = 0;
    /** {@code cudaEventBlockingSync}: {@link #synchronize()} sleeps instead of spinning. */
    public static final int BLOCKING_SYNC = 1;
    /** {@code cudaEventDisableTiming}: cheaper to record and wait on; {@link #elapsedMillis} refuses it. */
    public static final int DISABLE_TIMING = 2;

    private final CUevent_st handle;
    /** One native 8-byte cell holding the {@code cudaEvent_t}: {@code ArrowDeviceArray.sync_event} points at it. */
    private final LongPointer slot;

    private final TrackedHandle tracked;
    private boolean closed;

    private CudaEvent(CUevent_st handle, LongPointer slot, TrackedHandle tracked) {
        this.handle = handle;
        this.slot = slot;
        this.tracked = tracked;
        slot.put(0, handle.address());
        tracked.watch(this);
    }

    /**
     * An event with timing enabled ({@link #DEFAULT}).
     *
     * @throws CudaUnavailableException if CUDA is unavailable
     */
    public static CudaEvent create() {
        return create(DEFAULT);
    }

    /**
     * An event with {@code cudaEventCreateWithFlags} flags ({@link #DEFAULT}, {@link #BLOCKING_SYNC},
     * {@link #DISABLE_TIMING}, or'ed).
     *
     * @return the event; the caller closes it
     * @throws CudaUnavailableException if CUDA is unavailable
     * @throws CudaException if creation fails
     */
    public static CudaEvent create(int flags) {
        Cuda.requireAvailable("CudaEvent.create");
        int device = Native.currentDevice();
        CUevent_st handle = new CUevent_st();
        CudaException.check(cudaEventCreateWithFlags(handle, flags), "cudaEventCreateWithFlags(" + flags + ")");
        LongPointer slot = new LongPointer(1L);
        // Destroying frees the sync-event cell too, so a leaked event keeps both, and ArrowDeviceArrays that point at
        // the cell stay valid.
        return new CudaEvent(handle, slot, new TrackedHandle(HandleKind.EVENT, handle.address(), device, () -> {
            try {
                CudaException.check(cudaEventDestroy(handle), "cudaEventDestroy");
            } finally {
                slot.close();
            }
        }));
    }

    /** Records the event at the current end of {@code stream}'s queue. */
    public void record(CudaStream stream) {
        CudaException.check(cudaEventRecord(handle(), stream.handle()), "cudaEventRecord");
    }

    /** Blocks until the work before the last {@link #record} has finished (returns at once if never recorded). */
    public void synchronize() {
        CudaException.check(cudaEventSynchronize(handle()), "cudaEventSynchronize");
    }

    /** Whether the work before the last {@link #record} has finished, without blocking. */
    public boolean isComplete() {
        int rc = cudaEventQuery(handle());
        if (rc == cudaErrorNotReady) {
            return false;
        }
        CudaException.check(rc, "cudaEventQuery");
        return true;
    }

    /**
     * GPU time in milliseconds between two recorded, completed events (resolution about 0.5 µs).
     *
     * @throws CudaException if either event was created with {@link #DISABLE_TIMING}, was never recorded, or has not
     *     completed ({@code cudaErrorNotReady})
     */
    public static float elapsedMillis(CudaEvent start, CudaEvent end) {
        float[] ms = new float[1];
        CudaException.check(cudaEventElapsedTime(ms, start.handle(), end.handle()), "cudaEventElapsedTime");
        return ms[0];
    }

    /** The raw {@code cudaEvent_t} value, for native code. */
    public long address() {
        return handle().address();
    }

    /**
     * The address of a native cell holding this event's {@code cudaEvent_t}: the Arrow C Device Data Interface's
     * {@code ArrowDeviceArray.sync_event} for CUDA is a <em>pointer to</em> a {@code cudaEvent_t}, which is this
     * value. Valid until {@link #close()}, so the event must outlive every exported array that refers to it.
     */
    public long syncEventSlotAddress() {
        handle();
        return slot.address();
    }

    CUevent_st handle() {
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("CudaEvent is closed");
            }
        }
        return handle;
    }

    /** Destroys the event and frees its sync-event cell; later calls do nothing. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        tracked.close();
    }
}
