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

import static org.bytedeco.cuda.global.cudart.cudaFreeHost;
import static org.bytedeco.cuda.global.cudart.cudaMallocHost;

import io.tokenroute.arrow.memory.DeviceType;
import io.tokenroute.arrow.memory.MemoryLocation;
import org.bytedeco.javacpp.Pointer;

/**
 * Page-locked host memory from {@code cudaMallocHost}, owned by this handle (see {@link CudaBuffer} for the ownership
 * rules). The CPU may read and write it (e.g. through {@link #toArrowBuf}), and the GPU can DMA it, which is what
 * makes {@link Memcpy}'s stream-ordered copies truly asynchronous.
 */
public final class PinnedHostBuffer extends CudaBuffer {

    PinnedHostBuffer(Allocation allocation) {
        super(allocation);
    }

    /**
     * Allocates {@code bytes} of pinned host memory (contents not initialised).
     *
     * @param bytes size, {@code >= 0}; a zero-byte buffer has address 0 and allocates nothing
     * @return the owning handle; the caller closes it
     * @throws CudaUnavailableException if CUDA is unavailable
     * @throws CudaException if {@code cudaMallocHost} fails
     */
    public static PinnedHostBuffer allocate(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("negative size " + bytes);
        }
        Cuda.requireAvailable("PinnedHostBuffer.allocate(" + bytes + ")");
        int device = Native.currentDevice();
        long address = 0;
        if (bytes > 0) {
            Pointer out = new Pointer();
            CudaException.check(cudaMallocHost(out, bytes), "cudaMallocHost(" + bytes + " bytes)");
            address = out.address();
        }
        return new PinnedHostBuffer(
                new Allocation(MemoryKind.PINNED_HOST, address, bytes, device, PinnedHostBuffer::free));
    }

    /** CUDA pinned host memory ({@link DeviceType#CUDA_HOST}) recorded against the allocating thread's device. */
    @Override
    public MemoryLocation location() {
        return new MemoryLocation(DeviceType.CUDA_HOST, deviceId());
    }

    private static void free(long address) {
        if (address != 0) {
            CudaException.check(cudaFreeHost(Native.at(address)), "cudaFreeHost(0x" + Long.toHexString(address) + ")");
        }
    }
}
