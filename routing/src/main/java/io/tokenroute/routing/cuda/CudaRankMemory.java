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
package io.tokenroute.routing.cuda;

import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.DeviceBuffer;
import io.tokenroute.device.KernelModule;

/**
 * Where the device allocations of the ranks a {@link CudaLocalGroup} hosts come from, and through which addresses
 * each reaches its peers. The kernels only need every rank's allocation to have the same layout
 * ({@link CudaRankLayout}) and a table of peer base addresses, so one group class serves both GPU transports:
 * {@code cuda-local} hosts every rank of the group in one process ({@link #allLocal}); {@code nvshmem} hosts one rank
 * per process on the NVSHMEM symmetric heap and fills the table with {@code nvshmem_ptr} addresses.
 */
public interface CudaRankMemory {
    /**
     * The global ids of the ranks this process hosts, ascending, each in {@code [0, R)}. The group's per-rank lists and
     * flags are indexed by position in this array.
     */
    int[] hostedRanks();

    /**
     * The allocation of hosted rank {@code rank}: {@code bytes} of device memory of the group's GPU, 256-byte aligned,
     * contents undefined. The group owns the returned buffer and closes it once, when it closes.
     */
    DeviceBuffer allocate(int rank, long bytes);

    /**
     * The addresses through which hosted rank {@code rank}'s kernels reach every rank's allocation.
     *
     * @param rank a hosted rank
     * @param hostedBases per global rank, the base address of its allocation if this process hosts it, else 0
     * @return R device addresses (self included); 0 marks a peer that no pointer reaches (the kernels then need their
     *     NVSHMEM build, which gets such peers through NVSHMEM calls)
     */
    long[] peerBases(int rank, long[] hostedBases);

    /** The transport these ranks belong to, as {@link io.tokenroute.routing.ElasticGroup#transport()} names it. */
    default String transport() {
        return io.tokenroute.routing.TransportSpec.CUDA_LOCAL;
    }

    /** The kernels the group launches; the group closes the module (after {@link #releaseKernels}). */
    default KernelModule loadKernels(CudaDevice device) {
        return KernelModule.load(device);
    }

    /** Called once when the group closes, before it unloads the module from {@link #loadKernels}. */
    default void releaseKernels(KernelModule module) {}

    /**
     * Called once every hosted rank's allocation is initialised (control words zeroed), before the first operation:
     * a transport whose ranks live in other processes waits here until all of them are initialised, so that no rank
     * reads a peer's words before the peer wrote them.
     */
    default void initialised() {}

    /** All R ranks in this process, in plain {@code cudaMalloc} allocations (the {@code cuda-local} transport). */
    static CudaRankMemory allLocal(int ranks) {
        int[] hosted = new int[ranks];
        for (int r = 0; r < ranks; r++) {
            hosted[r] = r;
        }
        return new CudaRankMemory() {
            @Override
            public int[] hostedRanks() {
                return hosted.clone();
            }

            @Override
            public DeviceBuffer allocate(int rank, long bytes) {
                return DeviceBuffer.allocate(bytes);
            }

            @Override
            public long[] peerBases(int rank, long[] hostedBases) {
                return hostedBases.clone();
            }
        };
    }
}
