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

import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.ShortPointer;

/**
 * Copies between host and device memory.
 *
 * <ul>
 *   <li>Raw addresses, synchronous ({@code cudaMemcpy}): return when the copy is done. They run on the legacy
 *       default stream, so they wait for work on {@link CudaStream#DEFAULT} streams but not on
 *       {@link CudaStream#NON_BLOCKING} ones.</li>
 *   <li>Raw addresses with a stream ({@code cudaMemcpyAsync}): queued on the stream. Truly asynchronous only with
 *       pinned host memory ({@link PinnedHostBuffer}); the host range must stay valid until the stream passes the
 *       copy.</li>
 *   <li>Java arrays with a stream: ordered after the work already queued on the stream. {@code toDevice} returns
 *       once the array has been captured (the array may be reused at once); {@code toHost} returns when the data is in
 *       the array. Both stage through a temporary native copy, so they are for setup and tests, not hot paths.</li>
 * </ul>
 * Byte order is the machine's (little-endian on x86-64 and on the GPU), as Arrow's.
 */
public final class Memcpy {

    private Memcpy() {}

    /** Copies {@code bytes} from host address {@code srcHost} to device address {@code dstDevice}; blocks. */
    public static void hostToDevice(long dstDevice, long srcHost, long bytes) {
        copy(dstDevice, srcHost, bytes, cudaMemcpyHostToDevice, "host to device");
    }

    /** Copies {@code bytes} from device address {@code srcDevice} to host address {@code dstHost}; blocks. */
    public static void deviceToHost(long dstHost, long srcDevice, long bytes) {
        copy(dstHost, srcDevice, bytes, cudaMemcpyDeviceToHost, "device to host");
    }

    /** Copies {@code bytes} between device addresses (same or peer device); blocks until done. */
    public static void deviceToDevice(long dstDevice, long srcDevice, long bytes) {
        copy(dstDevice, srcDevice, bytes, cudaMemcpyDeviceToDevice, "device to device");
    }

    /** Queues a host-to-device copy of {@code bytes} on {@code stream}. */
    public static void hostToDevice(long dstDevice, long srcHost, long bytes, CudaStream stream) {
        copyAsync(Native.at(dstDevice), Native.at(srcHost), bytes, cudaMemcpyHostToDevice, stream, "host to device");
    }

    /** Queues a device-to-host copy of {@code bytes} on {@code stream}. */
    public static void deviceToHost(long dstHost, long srcDevice, long bytes, CudaStream stream) {
        copyAsync(Native.at(dstHost), Native.at(srcDevice), bytes, cudaMemcpyDeviceToHost, stream, "device to host");
    }

    /** Queues a device-to-device copy of {@code bytes} on {@code stream}. */
    public static void deviceToDevice(long dstDevice, long srcDevice, long bytes, CudaStream stream) {
        copyAsync(
                Native.at(dstDevice),
                Native.at(srcDevice),
                bytes,
                cudaMemcpyDeviceToDevice,
                stream,
                "device to device");
    }

    /** Copies all of {@code src} to {@code dstDevice} on {@code stream}; {@code src} may be reused on return. */
    public static void toDevice(long dstDevice, byte[] src, CudaStream stream) {
        try (BytePointer staged = new BytePointer(src)) {
            stageToDevice(dstDevice, staged, src.length, stream);
        }
    }

    /** Copies all of {@code src} (2 bytes each) to {@code dstDevice} on {@code stream}. */
    public static void toDevice(long dstDevice, short[] src, CudaStream stream) {
        try (ShortPointer staged = new ShortPointer(src)) {
            stageToDevice(dstDevice, staged, 2L * src.length, stream);
        }
    }

    /** Copies all of {@code src} (4 bytes each) to {@code dstDevice} on {@code stream}. */
    public static void toDevice(long dstDevice, int[] src, CudaStream stream) {
        try (IntPointer staged = new IntPointer(src)) {
            stageToDevice(dstDevice, staged, 4L * src.length, stream);
        }
    }

    /** Copies all of {@code src} (8 bytes each) to {@code dstDevice} on {@code stream}. */
    public static void toDevice(long dstDevice, long[] src, CudaStream stream) {
        try (LongPointer staged = new LongPointer(src)) {
            stageToDevice(dstDevice, staged, 8L * src.length, stream);
        }
    }

    /** Copies all of {@code src} (4 bytes each) to {@code dstDevice} on {@code stream}. */
    public static void toDevice(long dstDevice, float[] src, CudaStream stream) {
        try (FloatPointer staged = new FloatPointer(src)) {
            stageToDevice(dstDevice, staged, 4L * src.length, stream);
        }
    }

    /** Fills {@code dst} from {@code srcDevice} after the work queued on {@code stream}; returns with the data. */
    public static void toHost(byte[] dst, long srcDevice, CudaStream stream) {
        try (BytePointer staged = new BytePointer((long) dst.length)) {
            stageToHost(staged, srcDevice, dst.length, stream);
            staged.get(dst);
        }
    }

    /** Fills {@code dst} (2 bytes each) from {@code srcDevice} after the work queued on {@code stream}. */
    public static void toHost(short[] dst, long srcDevice, CudaStream stream) {
        try (ShortPointer staged = new ShortPointer((long) dst.length)) {
            stageToHost(staged, srcDevice, 2L * dst.length, stream);
            staged.get(dst);
        }
    }

    /** Fills {@code dst} (4 bytes each) from {@code srcDevice} after the work queued on {@code stream}. */
    public static void toHost(int[] dst, long srcDevice, CudaStream stream) {
        try (IntPointer staged = new IntPointer((long) dst.length)) {
            stageToHost(staged, srcDevice, 4L * dst.length, stream);
            staged.get(dst);
        }
    }

    /** Fills {@code dst} (8 bytes each) from {@code srcDevice} after the work queued on {@code stream}. */
    public static void toHost(long[] dst, long srcDevice, CudaStream stream) {
        try (LongPointer staged = new LongPointer((long) dst.length)) {
            stageToHost(staged, srcDevice, 8L * dst.length, stream);
            staged.get(dst);
        }
    }

    /** Fills {@code dst} (4 bytes each) from {@code srcDevice} after the work queued on {@code stream}. */
    public static void toHost(float[] dst, long srcDevice, CudaStream stream) {
        try (FloatPointer staged = new FloatPointer((long) dst.length)) {
            stageToHost(staged, srcDevice, 4L * dst.length, stream);
            staged.get(dst);
        }
    }

    /**
     * From pageable memory {@code cudaMemcpyAsync} returns only after the source has been copied into CUDA's own
     * staging memory, so the temporary native copy may be freed as soon as this returns.
     */
    private static void stageToDevice(long dstDevice, Pointer staged, long bytes, CudaStream stream) {
        copyAsync(Native.at(dstDevice), staged, bytes, cudaMemcpyHostToDevice, stream, "host array to device");
    }

    private static void stageToHost(Pointer staged, long srcDevice, long bytes, CudaStream stream) {
        copyAsync(staged, Native.at(srcDevice), bytes, cudaMemcpyDeviceToHost, stream, "device to host array");
        stream.synchronize();
    }

    private static void copy(long dst, long src, long bytes, int kind, String what) {
        Cuda.requireAvailable("Memcpy " + what);
        if (bytes == 0) {
            return;
        }
        CudaException.check(
                cudaMemcpy(Native.at(dst), Native.at(src), bytes, kind),
                "cudaMemcpy " + what + " (" + bytes + " bytes)");
    }

    private static void copyAsync(Pointer dst, Pointer src, long bytes, int kind, CudaStream stream, String what) {
        Cuda.requireAvailable("Memcpy " + what);
        if (bytes == 0) {
            return;
        }
        CudaException.check(
                cudaMemcpyAsync(dst, src, bytes, kind, stream.handle()),
                "cudaMemcpyAsync " + what + " (" + bytes + " bytes)");
    }
}
