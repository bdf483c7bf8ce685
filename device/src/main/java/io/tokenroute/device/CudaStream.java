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
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamQuery;
import static org.bytedeco.cuda.global.cudart.cudaStreamSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaStreamWaitEvent;

import io.tokenroute.device.DeviceMemoryTracker.HandleKind;
import org.bytedeco.cuda.cudart.CUstream_st;

/**
 * A CUDA stream ({@code cudaStream_t}) on the device current when it was created: an in-order queue of kernels and
 * copies. Closing it ({@code cudaStreamDestroy}) does not wait; work already queued still completes.
 *
 * <p>The creator owns it and closes it. Until then it is listed by {@link DeviceMemoryTracker#liveHandles()} with its
 * creation site; one garbage-collected without {@code close()} is logged as a leak and not destroyed.
 */
public final class CudaStream implements AutoCloseable {

    /** {@code cudaStreamDefault}: the stream also synchronises with the legacy default stream (stream 0). */
    public static final int DEFAULT = 0;
    /** {@code cudaStreamNonBlocking}: no implicit synchronisation with the legacy default stream. */
    public static final int NON_BLOCKING = 1;

    private final CUstream_st handle;
    private final TrackedHandle tracked;
    private boolean closed;

    private CudaStream(CUstream_st handle, TrackedHandle tracked) {
        this.handle = handle;
        this.tracked = tracked;
        tracked.watch(this);
    }

    /**
     * A stream with {@link #DEFAULT} flags on the calling thread's current device. Such a stream is ordered with
     * synchronous copies ({@code cudaMemcpy}) issued on the legacy default stream, the safer choice for mixed code.
     *
     * @throws CudaUnavailableException if CUDA is unavailable
     */
    public static CudaStream create() {
        return create(DEFAULT);
    }

    /**
     * A stream with the given {@code cudaStreamCreateWithFlags} flags ({@link #DEFAULT} or {@link #NON_BLOCKING}).
     *
     * @return the stream; the caller closes it
     * @throws CudaUnavailableException if CUDA is unavailable
     * @throws CudaException if creation fails
     */
    public static CudaStream create(int flags) {
        Cuda.requireAvailable("CudaStream.create");
        int device = Native.currentDevice();
        CUstream_st handle = new CUstream_st();
        CudaException.check(cudaStreamCreateWithFlags(handle, flags), "cudaStreamCreateWithFlags(" + flags + ")");
        return new CudaStream(
                handle,
                new TrackedHandle(
                        HandleKind.STREAM,
                        handle.address(),
                        device,
                        () -> CudaException.check(cudaStreamDestroy(handle), "cudaStreamDestroy")));
    }

    /** Blocks until all work queued on this stream has finished; a failed kernel's error surfaces here. */
    public void synchronize() {
        CudaException.check(cudaStreamSynchronize(handle()), "cudaStreamSynchronize");
    }

    /** Whether all queued work has finished, without blocking ({@code cudaStreamQuery}). */
    public boolean isIdle() {
        int rc = cudaStreamQuery(handle());
        if (rc == cudaErrorNotReady) {
            return false;
        }
        CudaException.check(rc, "cudaStreamQuery");
        return true;
    }

    /** Makes work queued on this stream from now on wait until {@code event}'s last recorded work has finished. */
    public void waitFor(CudaEvent event) {
        CudaException.check(cudaStreamWaitEvent(handle(), event.handle(), 0), "cudaStreamWaitEvent");
    }

    /** The raw {@code cudaStream_t}, for native code that launches onto this stream. */
    public long address() {
        return handle().address();
    }

    CUstream_st handle() {
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("CudaStream is closed");
            }
        }
        return handle;
    }

    /** Destroys the stream; later calls do nothing. */
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
