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

import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaFreeAsync;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMallocAsync;

import io.tokenroute.arrow.memory.MemoryLocation;
import java.util.Objects;
import java.util.function.LongConsumer;
import org.bytedeco.javacpp.Pointer;

/**
 * Bytes of CUDA device memory from {@code cudaMalloc} (256-byte aligned, not initialised), owned by this handle; see
 * {@link CudaBuffer} for the ownership rules. The CPU must never dereference {@link #address()}: that crashes the JVM.
 * {@link #adopt} wraps device memory that another allocator owns (e.g. the NVSHMEM symmetric heap) under the same
 * rules, with that owner's release in place of {@code cudaFree}.
 */
public final class DeviceBuffer extends CudaBuffer {

    DeviceBuffer(Allocation allocation) {
        super(allocation);
    }

    /**
     * Allocates {@code bytes} on the calling thread's current device (see {@link CudaDevice#makeCurrent()}).
     *
     * @param bytes size, {@code >= 0}; a zero-byte buffer has address 0 and allocates nothing
     * @return the owning handle; the caller closes it
     * @throws CudaUnavailableException if CUDA is unavailable
     * @throws CudaException if {@code cudaMalloc} fails (e.g. {@code cudaErrorMemoryAllocation})
     */
    public static DeviceBuffer allocate(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("negative size " + bytes);
        }
        Cuda.requireAvailable("DeviceBuffer.allocate(" + bytes + ")");
        int device = Native.currentDevice();
        long address = 0;
        if (bytes > 0) {
            Pointer out = new Pointer();
            CudaException.check(cudaMalloc(out, bytes), "cudaMalloc(" + bytes + " bytes) on cuda:" + device);
            address = out.address();
        }
        return new DeviceBuffer(new Allocation(MemoryKind.DEVICE, address, bytes, device, a -> free(device, a)));
    }

    /**
     * Allocates {@code bytes} on the calling thread's current device from its stream-ordered pool, on {@code stream}
     * ({@code cudaMallocAsync}). Unlike {@link #allocate}, whose {@code cudaFree} waits for the whole device, neither
     * the allocation nor its release waits for work on other streams: a kernel spinning on another stream (a peer
     * waiting for this rank, say) cannot hold it up. The memory is usable by work queued on {@code stream} after this
     * call (and on other streams ordered after it by an event); the release ({@code close()}) frees it on the same
     * stream ({@code cudaFreeAsync}), after the work queued there, so close the buffer before the stream.
     *
     * @param bytes size, {@code >= 0}; a zero-byte buffer has address 0 and allocates nothing
     * @return the owning handle; the caller closes it
     * @throws CudaException if {@code cudaMallocAsync} fails
     */
    public static DeviceBuffer allocateOrdered(long bytes, CudaStream stream) {
        if (bytes < 0) {
            throw new IllegalArgumentException("negative size " + bytes);
        }
        Cuda.requireAvailable("DeviceBuffer.allocateOrdered(" + bytes + ")");
        int device = Native.currentDevice();
        long address = 0;
        if (bytes > 0) {
            Pointer out = new Pointer();
            CudaException.check(
                    cudaMallocAsync(out, bytes, stream.handle()),
                    "cudaMallocAsync(" + bytes + " bytes) on cuda:" + device);
            address = out.address();
        }
        return new DeviceBuffer(new Allocation(MemoryKind.DEVICE, address, bytes, device, a -> {
            if (a != 0) {
                Native.onDevice(
                        device,
                        () -> CudaException.check(
                                cudaFreeAsync(Native.at(a), stream.handle()),
                                "cudaFreeAsync(0x" + Long.toHexString(a) + ") on cuda:" + device));
            }
        }));
    }

    /**
     * Wraps {@code bytes} of device memory at {@code address} that something else allocated and owns (e.g. a buffer of
     * the NVSHMEM symmetric heap), so it can be handed around as a {@link DeviceBuffer}: {@code toArrowBuf}, raw
     * {@code address()}, kernel arguments. Makes no CUDA call.
     *
     * <p>The handle follows the rules of {@link CudaBuffer} with {@code release} in place of {@code cudaFree}: it runs
     * exactly once, when the memory's last owner lets go (the handle's {@code close()}, or the last release of an
     * ArrowBuf made by {@code asArrowBufTransferringOwnership}, or {@link DeviceMemoryTracker#reclaimUnreachable()} for
     * a handle collected unclosed), on that thread. Typically it gives the memory back to its real owner's bookkeeping
     * or does nothing; the real owner must not free the memory before {@code release} ran. The
     * {@link DeviceMemoryTracker} lists an adopted buffer like an allocated one until then, so an adopted handle that
     * is never closed is reported as a leak.
     *
     * @param address first byte, a device pointer on {@code device}; non-zero unless {@code bytes == 0}
     * @param bytes size, {@code >= 0}
     * @param device the CUDA device ordinal the memory lives on, {@code >= 0}
     * @param release called once with {@code address} when the memory is let go (see above); must not throw in
     *     normal operation, as it may run inside an Arrow release
     * @return the handle; the caller closes it
     * @throws IllegalArgumentException on a negative size or device, or a zero address with a positive size
     */
    public static DeviceBuffer adopt(long address, long bytes, int device, LongConsumer release) {
        Objects.requireNonNull(release, "release");
        if (bytes < 0) {
            throw new IllegalArgumentException("negative size " + bytes);
        }
        if (device < 0) {
            throw new IllegalArgumentException("negative device ordinal " + device);
        }
        if (address == 0 && bytes > 0) {
            throw new IllegalArgumentException("null address for " + bytes + " bytes");
        }
        return new DeviceBuffer(new Allocation(MemoryKind.DEVICE, address, bytes, device, release));
    }

    /** Device memory of this buffer's device. */
    @Override
    public MemoryLocation location() {
        return MemoryLocation.cuda(deviceId());
    }

    /** Runs on whichever thread frees (an Arrow release, the tracker's reclaim), so it sets the device itself. */
    private static void free(int device, long address) {
        if (address != 0) {
            Native.onDevice(
                    device,
                    () -> CudaException.check(
                            cudaFree(Native.at(address)),
                            "cudaFree(0x" + Long.toHexString(address) + ") on cuda:" + device));
        }
    }
}
