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

import static org.bytedeco.cuda.global.cudart.cuCtxSetCurrent;
import static org.bytedeco.cuda.global.cudart.cuDeviceGet;
import static org.bytedeco.cuda.global.cudart.cuDeviceGetName;
import static org.bytedeco.cuda.global.cudart.cuDevicePrimaryCtxRelease;
import static org.bytedeco.cuda.global.cudart.cuDevicePrimaryCtxRetain;
import static org.bytedeco.cuda.global.cudart.cudaDevAttrClockRate;
import static org.bytedeco.cuda.global.cudart.cudaDevAttrComputeCapabilityMajor;
import static org.bytedeco.cuda.global.cudart.cudaDevAttrComputeCapabilityMinor;
import static org.bytedeco.cuda.global.cudart.cudaDevAttrMultiProcessorCount;
import static org.bytedeco.cuda.global.cudart.cudaDeviceCanAccessPeer;
import static org.bytedeco.cuda.global.cudart.cudaDeviceEnablePeerAccess;
import static org.bytedeco.cuda.global.cudart.cudaDeviceGetAttribute;
import static org.bytedeco.cuda.global.cudart.cudaDeviceSynchronize;
import static org.bytedeco.cuda.global.cudart.cudaErrorPeerAccessAlreadyEnabled;
import static org.bytedeco.cuda.global.cudart.cudaGetLastError;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;

import io.tokenroute.arrow.memory.MemoryLocation;
import java.nio.charset.StandardCharsets;
import org.bytedeco.cuda.cudart.CUctx_st;

/**
 * One CUDA device with its primary context retained: the context the CUDA runtime itself uses, so buffers, streams
 * and modules made through the runtime or the driver API here all live in the same context. (CUDA 13 changed
 * {@code cuCtxCreate}; the primary context avoids it altogether.)
 *
 * <p>CUDA's current context is per thread. {@link #open} makes it current on the opening thread; any other thread
 * that allocates, launches or copies must call {@link #makeCurrent()} first.
 *
 * <p>{@link #close()} releases this handle's retain of the primary context. The runtime keeps its own reference, so
 * memory allocated on the device stays valid; close it after everything made on it anyway.
 */
public final class CudaDevice implements AutoCloseable {

    private final int ordinal;
    /** The driver's {@code CUdevice} handle, which the driver API takes instead of the ordinal. */
    private final int handle;

    private final CUctx_st context;
    private final String name;
    private final int smCount;
    private final int smClockKHz;
    private final int computeCapabilityMajor;
    private final int computeCapabilityMinor;
    private boolean closed;

    private CudaDevice(int ordinal, int handle, CUctx_st context) {
        this.ordinal = ordinal;
        this.handle = handle;
        this.context = context;
        this.name = queryName(handle, ordinal);
        this.smCount = attribute(cudaDevAttrMultiProcessorCount, "multiProcessorCount");
        this.smClockKHz = attribute(cudaDevAttrClockRate, "clockRate");
        this.computeCapabilityMajor = attribute(cudaDevAttrComputeCapabilityMajor, "computeCapabilityMajor");
        this.computeCapabilityMinor = attribute(cudaDevAttrComputeCapabilityMinor, "computeCapabilityMinor");
    }

    /**
     * Retains the primary context of device {@code ordinal} and makes it current on the calling thread.
     *
     * @param ordinal device number, {@code 0 <= ordinal < Cuda.deviceCount()}
     * @return the handle; the caller closes it
     * @throws CudaUnavailableException if CUDA is unavailable
     * @throws IllegalArgumentException if no such device is visible
     * @throws CudaException if the driver refuses
     */
    public static CudaDevice open(int ordinal) {
        Cuda.requireAvailable("CudaDevice.open(" + ordinal + ")");
        if (ordinal < 0 || ordinal >= Cuda.deviceCount()) {
            throw new IllegalArgumentException("no CUDA device " + ordinal + "; " + Cuda.deviceCount() + " visible");
        }
        int[] device = new int[1];
        CudaException.checkDriver(cuDeviceGet(device, ordinal), "cuDeviceGet(" + ordinal + ")");
        CUctx_st context = new CUctx_st();
        CudaException.checkDriver(
                cuDevicePrimaryCtxRetain(context, device[0]), "cuDevicePrimaryCtxRetain(" + ordinal + ")");
        try {
            CudaDevice opened = new CudaDevice(ordinal, device[0], context);
            opened.makeCurrent();
            return opened;
        } catch (RuntimeException e) {
            cuDevicePrimaryCtxRelease(device[0]);
            throw e;
        }
    }

    /**
     * Makes this device's primary context current on the calling thread, for both the driver API and the runtime
     * ({@code cudaSetDevice}).
     *
     * @throws IllegalStateException after {@link #close()}
     */
    public void makeCurrent() {
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("CudaDevice " + ordinal + " is closed");
            }
        }
        CudaException.checkDriver(cuCtxSetCurrent(context), "cuCtxSetCurrent(cuda:" + ordinal + ")");
        CudaException.check(cudaSetDevice(ordinal), "cudaSetDevice(" + ordinal + ")");
    }

    /**
     * Waits until all work queued on this device (every stream) has finished; makes the device current first.
     *
     * @throws CudaException if a kernel failed, e.g. with an illegal address
     */
    public void synchronize() {
        makeCurrent();
        CudaException.check(cudaDeviceSynchronize(), "cudaDeviceSynchronize(cuda:" + ordinal + ")");
    }

    /**
     * Lets copies and kernels on this device reach {@code peer}'s memory directly (NVLink, or PCIe peer-to-peer)
     * instead of through host memory, for the life of this device's primary context; enabling it twice is harmless.
     * Makes this device current.
     *
     * @param peer another open device
     * @return false when the two devices cannot reach each other directly (copies between them still work, staged
     *     through the host), true when peer access is on
     * @throws IllegalArgumentException if {@code peer} is this device
     * @throws CudaException if the runtime refuses
     */
    public boolean enablePeerAccess(CudaDevice peer) {
        if (peer.ordinal == ordinal) {
            throw new IllegalArgumentException("cuda:" + ordinal + " is not its own peer");
        }
        makeCurrent();
        int[] can = new int[1];
        CudaException.check(
                cudaDeviceCanAccessPeer(can, ordinal, peer.ordinal),
                "cudaDeviceCanAccessPeer(" + ordinal + ", " + peer.ordinal + ")");
        if (can[0] == 0) {
            return false;
        }
        int code = cudaDeviceEnablePeerAccess(peer.ordinal, 0);
        if (code == cudaErrorPeerAccessAlreadyEnabled) {
            cudaGetLastError(); // the runtime also keeps it as the thread's sticky last error
            return true;
        }
        CudaException.check(code, "cudaDeviceEnablePeerAccess(" + peer.ordinal + ") on cuda:" + ordinal);
        return true;
    }

    /** The device ordinal, as CUDA numbers the visible devices. */
    public int ordinal() {
        return ordinal;
    }

    /** The marketing name, e.g. {@code "NVIDIA H200"}. */
    public String name() {
        return name;
    }

    /** Number of streaming multiprocessors (132 on an H200). */
    public int smCount() {
        return smCount;
    }

    /** Peak SM clock in kHz ({@code cudaDevAttrClockRate}); converts {@code clock64()} cycles into time. */
    public int smClockKHz() {
        return smClockKHz;
    }

    /** Compute capability major version (9 on Hopper). */
    public int computeCapabilityMajor() {
        return computeCapabilityMajor;
    }

    /** Compute capability minor version. */
    public int computeCapabilityMinor() {
        return computeCapabilityMinor;
    }

    /** This device's memory as a {@link MemoryLocation}, for Arrow batches over its buffers. */
    public MemoryLocation location() {
        return MemoryLocation.cuda(ordinal);
    }

    /** Releases this handle's retain of the primary context; later calls do nothing. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        CudaException.checkDriver(cuDevicePrimaryCtxRelease(handle), "cuDevicePrimaryCtxRelease(" + ordinal + ")");
    }

    @Override
    public String toString() {
        return "cuda:" + ordinal + " (" + name + ", sm_" + computeCapabilityMajor + computeCapabilityMinor + ", "
                + smCount + " SMs @ " + smClockKHz / 1000 + " MHz)";
    }

    private int attribute(int attribute, String what) {
        int[] value = new int[1];
        CudaException.check(
                cudaDeviceGetAttribute(value, attribute, ordinal),
                "cudaDeviceGetAttribute(" + what + ", " + ordinal + ")");
        return value[0];
    }

    private static String queryName(int handle, int ordinal) {
        byte[] name = new byte[256];
        CudaException.checkDriver(cuDeviceGetName(name, name.length, handle), "cuDeviceGetName(" + ordinal + ")");
        int length = 0;
        while (length < name.length && name[length] != 0) {
            length++;
        }
        return new String(name, 0, length, StandardCharsets.UTF_8);
    }
}
