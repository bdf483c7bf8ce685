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

import org.bytedeco.cuda.cudart.CUfunc_st;

/**
 * One {@code extern "C" __global__} kernel of a loaded {@link KernelModule}, with the launch limits and the parameter
 * sizes the module reports for it. Launch it through {@link KernelModule#launch} or a {@link KernelLaunch}; both
 * refuse arguments whose sizes differ from the kernel's parameters. Valid while its module is open.
 */
public final class KernelFunction {

    private final KernelModule module;
    private final String name;
    private final CUfunc_st handle;
    private final int maxThreadsPerBlock;
    private final int residentBlocksPerSm;
    private final long[] parameterSizes;

    KernelFunction(
            KernelModule module,
            String name,
            CUfunc_st handle,
            int maxThreadsPerBlock,
            int residentBlocksPerSm,
            long[] parameterSizes) {
        this.module = module;
        this.name = name;
        this.handle = handle;
        this.maxThreadsPerBlock = maxThreadsPerBlock;
        this.residentBlocksPerSm = residentBlocksPerSm;
        this.parameterSizes = parameterSizes.clone();
    }

    /** The kernel's symbol name. */
    public String name() {
        return name;
    }

    /**
     * The largest block this kernel can be launched with on its device: its {@code __launch_bounds__} (set in
     * {@code tokenroute_config.cuh}) or less if registers run out. The project's launchers use it as the block size,
     * so the config header stays the only place block sizes are written down.
     */
    public int maxThreadsPerBlock() {
        return maxThreadsPerBlock;
    }

    /**
     * The size in bytes of each of the kernel's parameters, in order, as compiled into the module
     * ({@code cuFuncGetParamInfo}): 8 for pointers and 64-bit integers, 4 for {@code int} and {@code float},
     * {@code sizeof} for a struct passed by value.
     */
    public long[] parameterSizes() {
        return parameterSizes.clone();
    }

    /** How many blocks of {@link #maxThreadsPerBlock()} threads fit on one SM at once (occupancy API). */
    public int residentBlocksPerSm() {
        return residentBlocksPerSm;
    }

    /**
     * A grid size for grid-stride kernels: {@code blocksWanted} clamped to at least 1 and at most one full wave
     * ({@code smCount * residentBlocksPerSm}), beyond which extra blocks only queue.
     */
    public int gridFor(long blocksWanted) {
        long fullWave = (long) module.device().smCount() * Math.max(1, residentBlocksPerSm);
        return (int) Math.max(1, Math.min(blocksWanted, fullWave));
    }

    /** {@code ceil(a / b)} for {@code a >= 0, b > 0} ({@code Math.ceilDiv} arrived after Java 17). */
    static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    KernelModule module() {
        return module;
    }

    CUfunc_st handle() {
        return handle;
    }

    @Override
    public String toString() {
        return name + " (" + parameterSizes.length + " parameters, max " + maxThreadsPerBlock + " threads/block, "
                + residentBlocksPerSm + " blocks/SM)";
    }
}
