package io.tokenroute.device;

import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;

import io.tokenroute.arrow.memory.MemoryLocation;
import org.bytedeco.javacpp.Pointer;

/**
 * Bytes of CUDA device memory from {@code cudaMalloc} (256-byte aligned, not initialised), owned by this handle; see
 * {@link CudaBuffer} for the ownership rules. The CPU must never dereference {@link #address()}: that crashes the JVM.
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

    /** Device memory of this buffer's device. */
    @Override
    public MemoryLocation location() {
        return MemoryLocation.cuda(deviceId());
    }

    /** Runs on whichever thread frees (an Arrow release, the tracker's reclaim), so it sets the device itself. */
    private static void free(int device, long address) {
        if (address != 0) {
            Native.onDevice(device, () -> CudaException.check(cudaFree(Native.at(address)),
                    "cudaFree(0x" + Long.toHexString(address) + ") on cuda:" + device));
        }
    }
}
