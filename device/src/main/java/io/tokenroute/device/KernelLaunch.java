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

import static org.bytedeco.cuda.global.cudart.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
import static org.bytedeco.cuda.global.cudart.cuLaunchKernel;
import static org.bytedeco.cuda.global.cudart.cuLaunchKernelEx;

import io.tokenroute.arrow.internal.Closeables;
import org.bytedeco.cuda.cudart.CUlaunchAttribute;
import org.bytedeco.cuda.cudart.CUlaunchConfig;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * A prepared launch of one kernel for hot loops: the argument block and the {@code void* kernelParams[]} array are
 * native memory allocated once here, so {@link #launch(CudaStream)} allocates nothing on the Java heap (unlike
 * {@link KernelModule#launch}, which boxes and allocates per call).
 *
 * <p>Each argument is set with the setter matching the C parameter's size: {@link #setLong} for pointers,
 * {@code int64_t} and {@code uint64_t}, {@link #setInt} for {@code int}/{@code uint32_t}, {@link #setFloat} for
 * {@code float}. A struct passed by value is declared with its size ({@link #KernelLaunch(KernelFunction, long...)})
 * and its fields are set with the {@code *At} setters at their byte offsets (C layout, little-endian). The sizes are
 * checked against the kernel's own ({@link KernelFunction#parameterSizes()}, from the loaded module) when this object
 * is made, and every setter checks that it writes the whole parameter or inside it: a launch whose arguments would
 * not match the kernel's parameters is refused instead of letting the kernel read garbage. Values stay set between
 * launches; the driver copies them at each launch, so changing an argument after {@code launch} returns never affects
 * work already queued (which is also what makes launches safe to capture into a CUDA graph).
 *
 * <p>Not thread-safe: one owner thread sets arguments and launches. Close it (frees the native block) before the
 * module.
 */
public final class KernelLaunch implements AutoCloseable {

    private final KernelFunction function;
    private final long[] offsets;
    private final long[] sizes;
    private final BytePointer values;
    private final PointerPointer<Pointer> params;
    private int gridX = 1;
    private int gridY = 1;
    private int blockX;
    private int sharedBytes;
    /** Non-null once {@link #programmaticDependency} allowed it: the cuLaunchKernelEx configuration and attribute. */
    private CUlaunchConfig programmatic;

    private CUlaunchAttribute programmaticAttribute;
    private boolean closed;

    /**
     * A launch of a kernel whose parameters are all scalars or pointers (8 bytes or less each).
     *
     * @param function the kernel (its module must stay open while this object launches)
     * @param arguments number of kernel parameters
     * @throws IllegalArgumentException if the kernel has another number of parameters, or one larger than 8 bytes
     */
    public KernelLaunch(KernelFunction function, int arguments) {
        this(function, cells(arguments));
    }

    /**
     * A launch with parameters of the given sizes in bytes: 8 for scalars and pointers (a 4-byte {@code int} or
     * {@code float} fits such a cell), {@code sizeof} for a struct passed by value. Each starts on an 8-byte boundary
     * of the native argument block.
     *
     * @throws IllegalArgumentException if the number of sizes differs from the kernel's parameter count, or a size
     *     does not fit the kernel's parameter (a struct must match exactly)
     */
    public KernelLaunch(KernelFunction function, long... argumentBytes) {
        this.function = function;
        int arguments = argumentBytes.length;
        this.offsets = new long[arguments];
        this.sizes = checkParameters(function.name(), argumentBytes, function.parameterSizes(), false);
        long total = 0;
        for (int i = 0; i < arguments; i++) {
            offsets[i] = total;
            total += (sizes[i] + 7) & ~7L;
        }
        this.blockX = function.maxThreadsPerBlock();
        this.values = new BytePointer(Math.max(8L, total));
        this.values.fill(0);
        this.params = new PointerPointer<>(Math.max(1, arguments));
        for (int i = 0; i < arguments; i++) {
            params.put(i, Native.at(values.address() + offsets[i]));
        }
    }

    /**
     * Checks the argument sizes a caller declares against the sizes the kernel was compiled with, and returns the
     * kernel's. The counts must agree, and each argument must be the parameter's size, except (unless {@code exact})
     * that an 8-byte cell may carry a parameter of 4 bytes.
     *
     * @throws IllegalArgumentException naming the kernel, the argument and both sizes
     */
    static long[] checkParameters(String kernel, long[] given, long[] parameters, boolean exact) {
        if (given.length != parameters.length) {
            throw new IllegalArgumentException(
                    kernel + " takes " + parameters.length + " parameter(s), " + given.length + " argument(s) given");
        }
        for (int i = 0; i < given.length; i++) {
            if (given[i] <= 0) {
                throw new IllegalArgumentException("argument " + i + " of " + kernel + " has size " + given[i]);
            }
            boolean fits = given[i] == parameters[i] || (!exact && given[i] == Long.BYTES && parameters[i] <= 4);
            if (!fits) {
                throw new IllegalArgumentException("argument " + i + " of " + kernel + " is " + given[i]
                        + " bytes, the kernel's parameter " + parameters[i] + " bytes: the kernel would read garbage");
            }
        }
        return parameters.clone();
    }

    private static long[] cells(int arguments) {
        if (arguments < 0) {
            throw new IllegalArgumentException("negative argument count " + arguments);
        }
        long[] sizes = new long[arguments];
        java.util.Arrays.fill(sizes, 8L);
        return sizes;
    }

    /** The kernel this object launches. */
    public KernelFunction function() {
        return function;
    }

    /**
     * Sets the launch shape.
     *
     * @param grid blocks, {@code >= 1}
     * @param block threads per block, {@code 1 .. function().maxThreadsPerBlock()}
     * @param shared dynamic shared memory bytes per block
     * @return this
     */
    public KernelLaunch shape(int grid, int block, int shared) {
        if (grid < 1 || block < 1 || block > function.maxThreadsPerBlock() || shared < 0) {
            throw new IllegalArgumentException(
                    "bad launch shape for " + function + ": grid " + grid + ", block " + block + ", shared " + shared);
        }
        this.gridX = grid;
        this.blockX = block;
        this.sharedBytes = shared;
        return this;
    }

    /** Sets the grid's x size only (block and y stay). */
    public KernelLaunch grid(int grid) {
        if (grid < 1) {
            throw new IllegalArgumentException("grid must be >= 1, got " + grid);
        }
        this.gridX = grid;
        return this;
    }

    /** Sets the grid's y size (e.g. one row of blocks per rank of a batched launch). */
    public KernelLaunch gridY(int grid) {
        if (grid < 1) {
            throw new IllegalArgumentException("grid y must be >= 1, got " + grid);
        }
        this.gridY = grid;
        return this;
    }

    /**
     * Lets this kernel start while the kernel queued before it on the same stream still runs (CUDA programmatic
     * dependent launch, sm_90 and later): its blocks are scheduled as soon as every block of that kernel has signalled
     * ({@code griddepcontrol.launch_dependents}) or exited, which hides most of the launch gap between dependent
     * kernels. Only for kernels that execute {@code griddepcontrol.wait} (TokenRoute's kernels: sync.cuh
     * {@code tr_await_previous_kernel}) before they read anything an earlier kernel wrote: that instruction returns
     * once the earlier kernel has completed and its writes are visible. Captured into CUDA graphs as programmatic
     * edges. Allocates the native launch configuration once, here, not per launch.
     *
     * @return this
     */
    public KernelLaunch programmaticDependency() {
        if (programmatic == null) {
            programmaticAttribute = new CUlaunchAttribute();
            programmaticAttribute.id(CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
            programmaticAttribute.value().programmaticStreamSerializationAllowed(1);
            programmatic = new CUlaunchConfig();
            programmatic
                    .gridDimZ(1)
                    .blockDimY(1)
                    .blockDimZ(1)
                    .attrs(programmaticAttribute)
                    .numAttrs(1);
        }
        return this;
    }

    /** The current grid size (x). */
    public int grid() {
        return gridX;
    }

    /** The current block size. */
    public int block() {
        return blockX;
    }

    /** Sets the 8-byte field at {@code byteOffset} of argument {@code index} (a struct passed by value). */
    public KernelLaunch setLongAt(int index, long byteOffset, long value) {
        values.putLong(offset(index, byteOffset, 8), value);
        return this;
    }

    /** Sets the 4-byte integer field at {@code byteOffset} of argument {@code index}. */
    public KernelLaunch setIntAt(int index, long byteOffset, int value) {
        values.putInt(offset(index, byteOffset, 4), value);
        return this;
    }

    /**
     * Sets argument {@code index} to an 8-byte value (pointer, {@code int64_t}, {@code uint64_t}).
     *
     * @throws IllegalArgumentException if the kernel's parameter is not 8 bytes
     */
    public KernelLaunch setLong(int index, long value) {
        values.putLong(scalar(index, Long.BYTES, "setLong"), value);
        return this;
    }

    /**
     * Sets argument {@code index} to a 4-byte integer ({@code int}, {@code uint32_t}).
     *
     * @throws IllegalArgumentException if the kernel's parameter is not 4 bytes
     */
    public KernelLaunch setInt(int index, int value) {
        values.putInt(scalar(index, Integer.BYTES, "setInt"), value);
        return this;
    }

    /**
     * Sets argument {@code index} to a {@code float}.
     *
     * @throws IllegalArgumentException if the kernel's parameter is not 4 bytes
     */
    public KernelLaunch setFloat(int index, float value) {
        values.putFloat(scalar(index, Float.BYTES, "setFloat"), value);
        return this;
    }

    /**
     * Queues the kernel on {@code stream} with the current arguments ({@code cuLaunchKernel}, or
     * {@code cuLaunchKernelEx} after {@link #programmaticDependency}); allocates nothing.
     *
     * @throws CudaException if the driver rejects the launch (errors inside the kernel surface on synchronisation)
     */
    public void launch(CudaStream stream) {
        if (closed) {
            throw new IllegalStateException("KernelLaunch of " + function.name() + " is closed");
        }
        int rc;
        if (programmatic == null) {
            rc = cuLaunchKernel(
                    function.handle(),
                    gridX,
                    gridY,
                    1,
                    blockX,
                    1,
                    1,
                    sharedBytes,
                    stream.handle(),
                    params,
                    (PointerPointer<?>) null);
        } else {
            programmatic
                    .gridDimX(gridX)
                    .gridDimY(gridY)
                    .blockDimX(blockX)
                    .sharedMemBytes(sharedBytes)
                    .hStream(stream.handle());
            rc = cuLaunchKernelEx(programmatic, function.handle(), params, (PointerPointer<?>) null);
        }
        if (rc != 0) {
            CudaException.checkDriver(
                    rc,
                    (programmatic == null ? "cuLaunchKernel(" : "cuLaunchKernelEx(") + function.name() + ", grid "
                            + gridX + " x " + gridY + ", block " + blockX + ")");
        }
    }

    /** Frees the native argument block; later launches throw. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        Closeables.closeAll(params, values, programmatic, programmaticAttribute);
    }

    /** A whole-parameter write: writing fewer bytes than the parameter has would leave the rest stale. */
    private long scalar(int index, int bytes, String setter) {
        long at = offset(index, 0, 0);
        if (sizes[index] != bytes) {
            throw new IllegalArgumentException(setter + " writes " + bytes + " bytes, but parameter " + index + " of "
                    + function.name() + " is " + sizes[index] + " bytes");
        }
        return at;
    }

    private long offset(int index, long byteOffset, int bytes) {
        if (index < 0 || index >= offsets.length) {
            throw new IndexOutOfBoundsException(
                    "argument " + index + " of " + function.name() + " outside [0, " + offsets.length + ")");
        }
        if (byteOffset < 0 || byteOffset + bytes > sizes[index]) {
            throw new IndexOutOfBoundsException("bytes [" + byteOffset + ", " + (byteOffset + bytes) + ") outside"
                    + " argument " + index + " of " + function.name() + " (" + sizes[index] + " bytes)");
        }
        return offsets[index] + byteOffset;
    }
}
