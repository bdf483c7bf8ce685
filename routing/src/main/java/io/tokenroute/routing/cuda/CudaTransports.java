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

import io.tokenroute.device.Cuda;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.LaunchEnvironment;
import io.tokenroute.routing.TransportSpec;
import io.tokenroute.routing.nvshmem.NvshmemGroup;
import org.apache.arrow.memory.BufferAllocator;

/** Opens the GPU transports behind {@link TransportSpec}. */
public final class CudaTransports {
    private CudaTransports() {}

    /**
     * {@code cuda-local:DEVICE}: every rank on one GPU, one {@link CudaElasticBuffer} per rank
     * ({@link CudaLocalGroup#buffer(int)}) for the ranks' threads. The group opens the device and closes it.
     *
     * @throws io.tokenroute.device.CudaUnavailableException without CUDA
     * @throws IllegalArgumentException if there is no such device
     */
    public static ElasticGroup openCudaLocal(int device, BufferConfig config, BufferAllocator allocator) {
        Cuda.requireAvailable("transport " + TransportSpec.CUDA_LOCAL);
        CudaDevice gpu = CudaDevice.open(device);
        try {
            return CudaLocalGroup.open(gpu, true, config, allocator, CudaRankMemory.allLocal(config.ranks()));
        } catch (RuntimeException | Error e) {
            gpu.close();
            throw e;
        }
    }

    /**
     * {@code nvshmem[:DEVICE]}: this process's rank as one NVSHMEM PE ({@link NvshmemGroup#open}).
     *
     * @param device the CUDA device, or -1 for the local rank modulo the GPUs
     */
    public static ElasticGroup openNvshmem(
            int device, int rank, BufferConfig config, BufferAllocator allocator, LaunchEnvironment env) {
        return NvshmemGroup.open(device, rank, config, allocator, env);
    }
}
