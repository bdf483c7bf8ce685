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

import static org.bytedeco.cuda.global.cudart.CUDA_ERROR_INVALID_VALUE;
import static org.bytedeco.cuda.global.cudart.CUDA_ERROR_NOT_FOUND;
import static org.bytedeco.cuda.global.cudart.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK;
import static org.bytedeco.cuda.global.cudart.cuFuncGetAttribute;
import static org.bytedeco.cuda.global.cudart.cuFuncGetParamInfo;
import static org.bytedeco.cuda.global.cudart.cuLaunchKernel;
import static org.bytedeco.cuda.global.cudart.cuMemcpyDtoH;
import static org.bytedeco.cuda.global.cudart.cuModuleGetFunction;
import static org.bytedeco.cuda.global.cudart.cuModuleGetGlobal;
import static org.bytedeco.cuda.global.cudart.cuModuleLoadData;
import static org.bytedeco.cuda.global.cudart.cuModuleUnload;
import static org.bytedeco.cuda.global.cudart.cuOccupancyMaxActiveBlocksPerMultiprocessor;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * A CUDA module ({@code CUmodule}) loaded into a device's primary context with {@code cuModuleLoadData}, and the
 * launcher for its kernels.
 *
 * <p>Kernel arguments are passed as boxed Java values whose sizes must match the kernel's C parameters exactly:
 * {@link Long} for pointers, {@code int64_t} and {@code uint64_t} (8 bytes), {@link Integer} for {@code int} and
 * {@code uint32_t} (4 bytes), {@link Float} for {@code float}. CUDA itself would not notice a mismatch and the kernel
 * would read wrong values, so every launch compares the arguments with the parameter sizes the module reports
 * ({@link KernelFunction#parameterSizes()}) first. The typed launchers of this package ({@link FillKernel},
 * {@link CastKernels}, {@link Fp8QuantizeKernel}) wrap this for the project's kernels.
 *
 * <p>A module built from the project's sources carries the fingerprint of the ABI it was compiled with
 * ({@code tr_abi_fingerprint}, see {@link KernelAbi}); loading it checks that fingerprint against the one of this
 * build's Java classes, and this package's copies of kernel constants against {@link KernelAbi#bundled()}.
 *
 * <p>Launching and closing need the module's device current on the calling thread ({@link CudaDevice#makeCurrent()});
 * close the module before its device.
 */
public final class KernelModule implements AutoCloseable {

    /** The global every module built from tokenroute_kernels.cu defines. */
    private static final String ABI_FINGERPRINT = "tr_abi_fingerprint";

    private final CudaDevice device;
    private final String name;
    private final CUmod_st module;
    private final ConcurrentHashMap<String, KernelFunction> functions = new ConcurrentHashMap<>();
    private boolean closed;

    private KernelModule(CudaDevice device, String name, CUmod_st module) {
        this.device = device;
        this.name = name;
        this.module = module;
    }

    /**
     * Loads the project's kernels ({@link KernelImage#bundled()}) onto {@code device}.
     *
     * @return the module; the caller closes it (before the device)
     * @throws IllegalStateException if the kernels were not compiled (build without nvcc)
     * @throws CudaException if the driver rejects the image (e.g. no SASS or PTX for this GPU)
     */
    public static KernelModule load(CudaDevice device) {
        return load(device, KernelImage.bundled());
    }

    /**
     * Loads a module image onto {@code device}, making the device current on the calling thread. An image built from
     * the project's kernel sources (it carries {@code tr_abi_fingerprint}) must have been built from the same
     * {@code tokenroute_abi.cuh} as this build's Java classes; images without a fingerprint are loaded unchecked.
     *
     * @return the module; the caller closes it (before the device)
     * @throws CudaException if the driver rejects the image
     * @throws IllegalStateException if the image's ABI fingerprint differs from {@link KernelAbi#bundled()}'s, this
     *     build has no ABI to compare with (it ran without nvcc), or this package's copies of kernel constants differ
     *     from the ABI; the module is unloaded again
     */
    public static KernelModule load(CudaDevice device, KernelImage image) {
        device.makeCurrent();
        CUmod_st module = new CUmod_st();
        // The driver copies the image during the call, so the native copy can go right after.
        try (BytePointer bytes = new BytePointer(image.rawBytes())) {
            CudaException.checkDriver(
                    cuModuleLoadData(module, bytes),
                    "cuModuleLoadData(" + image.name() + ", " + image.size() + " bytes) on " + device);
        }
        KernelModule loaded = new KernelModule(device, image.name(), module);
        try {
            loaded.checkAbi();
        } catch (RuntimeException e) {
            try {
                loaded.close();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        return loaded;
    }

    private void checkAbi() {
        OptionalLong carried = abiFingerprint();
        if (carried.isEmpty()) {
            return;
        }
        checkFingerprint(name, carried.getAsLong(), KernelAbi.bundled());
        KernelAbi.requireDeviceMirrors();
    }

    /**
     * Refuses a module whose ABI fingerprint differs from {@code abi}'s.
     *
     * @throws IllegalStateException naming the module and both fingerprints
     */
    static void checkFingerprint(String module, long carried, KernelAbi abi) {
        if (carried != abi.fingerprint()) {
            throw new IllegalStateException("CUDA kernel ABI mismatch: module " + module + " was built from another"
                    + " tokenroute_abi.cuh (fingerprint " + Long.toUnsignedString(carried) + ") than this build's"
                    + " Java classes (" + Long.toUnsignedString(abi.fingerprint()) + " in " + abi.source()
                    + "); rebuild the module from this source tree");
        }
    }

    /** The module's {@code tr_abi_fingerprint}, or empty for a module without one (not built from our sources). */
    OptionalLong abiFingerprint() {
        long[] address = new long[1];
        try (SizeTPointer size = new SizeTPointer(1L);
                LongPointer value = new LongPointer(1L)) {
            int rc = cuModuleGetGlobal(address, size, module, ABI_FINGERPRINT);
            if (rc == CUDA_ERROR_NOT_FOUND) {
                return OptionalLong.empty();
            }
            CudaException.checkDriver(rc, "cuModuleGetGlobal(" + ABI_FINGERPRINT + ") in " + name);
            if (size.get() != Long.BYTES) {
                throw new IllegalStateException(
                        name + ": " + ABI_FINGERPRINT + " is " + size.get() + " bytes, expected 8");
            }
            CudaException.checkDriver(
                    cuMemcpyDtoH(value, address[0], Long.BYTES), "cuMemcpyDtoH(" + ABI_FINGERPRINT + ") of " + name);
            return OptionalLong.of(value.get());
        }
    }

    /**
     * The driver's {@code CUmodule} handle, for native libraries that must register the module (NVSHMEM's
     * {@code nvshmemx_cumodule_init}); valid until {@link #close()}.
     */
    public long handle() {
        requireOpen();
        return module.address();
    }

    /** The device this module is loaded on. */
    public CudaDevice device() {
        return device;
    }

    /**
     * The kernel called {@code name}, looked up once and cached.
     *
     * @throws CudaException ({@code CUDA_ERROR_NOT_FOUND}) if the module has no such kernel
     * @throws IllegalStateException after {@link #close()}
     */
    public KernelFunction function(String name) {
        requireOpen();
        return functions.computeIfAbsent(name, this::lookUp);
    }

    /**
     * Queues {@code function} on {@code stream} with a one-dimensional grid and block. Arguments are copied by the
     * driver during the call, so their temporary native copies are freed when it returns.
     *
     * @param function a kernel of this module
     * @param gridX number of blocks, {@code >= 1}
     * @param blockX threads per block, {@code 1 .. function.maxThreadsPerBlock()}
     * @param sharedBytes dynamic shared memory per block, {@code >= 0}
     * @param stream the stream to queue on
     * @param args the kernel's parameters in order: {@link Long}, {@link Integer} or {@link Float}, see the class
     *     description
     * @throws IllegalArgumentException for a foreign function, bad sizes, an argument of another type, or arguments
     *     whose number or sizes differ from the kernel's parameters
     * @throws CudaException if the driver rejects the launch (errors inside the kernel surface later, on
     *     synchronisation)
     */
    public void launch(
            KernelFunction function, int gridX, int blockX, int sharedBytes, CudaStream stream, Object... args) {
        requireOpen();
        if (function.module() != this) {
            throw new IllegalArgumentException(function.name() + " belongs to another module");
        }
        if (gridX < 1 || blockX < 1 || blockX > function.maxThreadsPerBlock() || sharedBytes < 0) {
            throw new IllegalArgumentException("bad launch of " + function + ": grid " + gridX + ", block " + blockX
                    + ", shared " + sharedBytes + " bytes");
        }
        long[] given = new long[args.length];
        for (int i = 0; i < args.length; i++) {
            given[i] = argumentBytes(function, i, args[i]);
        }
        KernelLaunch.checkParameters(function.name(), given, function.parameterSizes(), true);
        Pointer[] values = new Pointer[args.length];
        try (PointerPointer<Pointer> params = new PointerPointer<>(Math.max(1, args.length))) {
            for (int i = 0; i < args.length; i++) {
                values[i] = argument(function, i, args[i]);
                params.put(i, values[i]);
            }
            CudaException.checkDriver(
                    cuLaunchKernel(
                            function.handle(),
                            gridX,
                            1,
                            1,
                            blockX,
                            1,
                            1,
                            sharedBytes,
                            stream.handle(),
                            params,
                            (PointerPointer<?>) null),
                    "cuLaunchKernel(" + function.name() + ")");
        } finally {
            for (Pointer value : values) {
                if (value != null) {
                    value.close();
                }
            }
        }
    }

    /** Unloads the module (making its device current first); later calls do nothing. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        device.makeCurrent();
        CudaException.checkDriver(cuModuleUnload(module), "cuModuleUnload(" + name + ")");
    }

    @Override
    public String toString() {
        return "KernelModule " + name + " on " + device;
    }

    private KernelFunction lookUp(String kernel) {
        CUfunc_st handle = new CUfunc_st();
        CudaException.checkDriver(
                cuModuleGetFunction(handle, module, kernel), "cuModuleGetFunction(" + kernel + ") in " + name);
        int[] maxThreads = new int[1];
        CudaException.checkDriver(
                cuFuncGetAttribute(maxThreads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, handle),
                "cuFuncGetAttribute(MAX_THREADS_PER_BLOCK, " + kernel + ")");
        int[] blocksPerSm = new int[1];
        CudaException.checkDriver(
                cuOccupancyMaxActiveBlocksPerMultiprocessor(blocksPerSm, handle, maxThreads[0], 0),
                "cuOccupancyMaxActiveBlocksPerMultiprocessor(" + kernel + ")");
        return new KernelFunction(this, kernel, handle, maxThreads[0], blocksPerSm[0], parameterSizes(kernel, handle));
    }

    /** Asks the driver for each parameter's size until it answers that the index is past the last parameter. */
    private static long[] parameterSizes(String kernel, CUfunc_st handle) {
        List<Long> sizes = new ArrayList<>();
        try (SizeTPointer offset = new SizeTPointer(1L);
                SizeTPointer size = new SizeTPointer(1L)) {
            while (true) {
                int rc = cuFuncGetParamInfo(handle, sizes.size(), offset, size);
                if (rc == CUDA_ERROR_INVALID_VALUE) {
                    break;
                }
                CudaException.checkDriver(rc, "cuFuncGetParamInfo(" + kernel + ", " + sizes.size() + ")");
                sizes.add(size.get());
            }
        }
        return sizes.stream().mapToLong(Long::longValue).toArray();
    }

    private static long argumentBytes(KernelFunction function, int index, Object value) {
        if (value instanceof Long) {
            return Long.BYTES;
        }
        if (value instanceof Integer) {
            return Integer.BYTES;
        }
        if (value instanceof Float) {
            return Float.BYTES;
        }
        throw new IllegalArgumentException("argument " + index + " of " + function.name() + " is "
                + (value == null ? "null" : value.getClass().getName()) + "; expected Long, Integer or Float");
    }

    private static Pointer argument(KernelFunction function, int index, Object value) {
        if (value instanceof Long v) {
            return new LongPointer(1L).put(0, v);
        }
        if (value instanceof Integer v) {
            return new IntPointer(1L).put(0, v);
        }
        if (value instanceof Float v) {
            return new FloatPointer(1L).put(0, v);
        }
        throw new IllegalArgumentException("argument " + index + " of " + function.name() + " is "
                + (value == null ? "null" : value.getClass().getName()) + "; expected Long, Integer or Float");
    }

    private synchronized void requireOpen() {
        if (closed) {
            throw new IllegalStateException(this + " is closed");
        }
    }
}
