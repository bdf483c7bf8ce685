package io.tokenroute.device;

import static org.bytedeco.cuda.global.cudart.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK;
import static org.bytedeco.cuda.global.cudart.cuFuncGetAttribute;
import static org.bytedeco.cuda.global.cudart.cuLaunchKernel;
import static org.bytedeco.cuda.global.cudart.cuModuleGetFunction;
import static org.bytedeco.cuda.global.cudart.cuModuleLoadData;
import static org.bytedeco.cuda.global.cudart.cuModuleUnload;
import static org.bytedeco.cuda.global.cudart.cuOccupancyMaxActiveBlocksPerMultiprocessor;

import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * A CUDA module ({@code CUmodule}) loaded into a device's primary context with {@code cuModuleLoadData}, and the
 * launcher for its kernels.
 *
 * <p>Kernel arguments are passed as boxed Java values whose sizes must match the kernel's C parameters exactly:
 * {@link Long} for pointers, {@code int64_t} and {@code uint64_t} (8 bytes), {@link Integer} for {@code int} and
 * {@code uint32_t} (4 bytes), {@link Float} for {@code float}. A mismatch is not detected by CUDA; it silently reads
 * wrong values. The typed launchers of this package ({@link FillKernel}, {@link CastKernels},
 * {@link Fp8QuantizeKernel}) wrap this for the project's kernels.
 *
 * <p>Launching and closing need the module's device current on the calling thread ({@link CudaDevice#makeCurrent()});
 * close the module before its device.
 */
public final class KernelModule implements AutoCloseable {

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
     * Loads a module image onto {@code device}, making the device current on the calling thread.
     *
     * @return the module; the caller closes it (before the device)
     * @throws CudaException if the driver rejects the image
     */
    public static KernelModule load(CudaDevice device, KernelImage image) {
        device.makeCurrent();
        CUmod_st module = new CUmod_st();
        // The driver copies the image during the call, so the native copy can go right after.
        try (BytePointer bytes = new BytePointer(image.rawBytes())) {
            CudaException.checkDriver(cuModuleLoadData(module, bytes),
                    "cuModuleLoadData(" + image.name() + ", " + image.size() + " bytes) on " + device);
        }
        return new KernelModule(device, image.name(), module);
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
     * @throws IllegalArgumentException for a foreign function, bad sizes or an argument of another type
     * @throws CudaException if the driver rejects the launch (errors inside the kernel surface later, on
     *     synchronisation)
     */
    public void launch(KernelFunction function, int gridX, int blockX, int sharedBytes, CudaStream stream,
                       Object... args) {
        requireOpen();
        if (function.module() != this) {
            throw new IllegalArgumentException(function.name() + " belongs to another module");
        }
        if (gridX < 1 || blockX < 1 || blockX > function.maxThreadsPerBlock() || sharedBytes < 0) {
            throw new IllegalArgumentException("bad launch of " + function + ": grid " + gridX + ", block " + blockX
                    + ", shared " + sharedBytes + " bytes");
        }
        Pointer[] values = new Pointer[args.length];
        try (PointerPointer<Pointer> params = new PointerPointer<>(Math.max(1, args.length))) {
            for (int i = 0; i < args.length; i++) {
                values[i] = argument(function, i, args[i]);
                params.put(i, values[i]);
            }
            CudaException.checkDriver(cuLaunchKernel(function.handle(), gridX, 1, 1, blockX, 1, 1, sharedBytes,
                    stream.handle(), params, (PointerPointer<?>) null), "cuLaunchKernel(" + function.name() + ")");
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
        CudaException.checkDriver(cuModuleGetFunction(handle, module, kernel),
                "cuModuleGetFunction(" + kernel + ") in " + name);
        int[] maxThreads = new int[1];
        CudaException.checkDriver(cuFuncGetAttribute(maxThreads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, handle),
                "cuFuncGetAttribute(MAX_THREADS_PER_BLOCK, " + kernel + ")");
        int[] blocksPerSm = new int[1];
        CudaException.checkDriver(cuOccupancyMaxActiveBlocksPerMultiprocessor(blocksPerSm, handle, maxThreads[0], 0),
                "cuOccupancyMaxActiveBlocksPerMultiprocessor(" + kernel + ")");
        return new KernelFunction(this, kernel, handle, maxThreads[0], blocksPerSm[0]);
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
