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
package io.tokenroute.routing.nvshmem;

import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.DeviceBuffer;
import io.tokenroute.device.KernelImage;
import io.tokenroute.device.KernelModule;
import io.tokenroute.device.nvshmem.Nvshmem;
import io.tokenroute.routing.TransportSpec;
import io.tokenroute.routing.cuda.CudaRankMemory;

/**
 * Where an {@code nvshmem} rank's buffers live: its allocation on the NVSHMEM symmetric heap, its peers reached
 * through {@code nvshmem_ptr} pointers, or (address 0) through NVSHMEM device calls in the NVSHMEM-linked kernels,
 * which are registered with NVSHMEM once the allocation exists.
 */
final class SymmetricRankMemory implements CudaRankMemory {
    private final NvshmemSession session;
    private final Nvshmem nvshmem;
    /** The NVSHMEM-linked kernels, or null for the pointer-only fatbin. */
    private KernelModule deviceKernels;

    private boolean registered;

    SymmetricRankMemory(NvshmemSession session) {
        this.session = session;
        this.nvshmem = session.nvshmem();
    }

    @Override
    public String transport() {
        return TransportSpec.NVSHMEM;
    }

    @Override
    public int[] hostedRanks() {
        return new int[] {session.rank()};
    }

    @Override
    public KernelModule loadKernels(CudaDevice device) {
        NvshmemOptions options = session.options();
        if (options.deviceKernels() == null) {
            return KernelModule.load(device);
        }
        // Registered with NVSHMEM in initialised(), once this buffer's allocation exists.
        deviceKernels = KernelModule.load(device, KernelImage.fromFile(options.deviceKernels()));
        return deviceKernels;
    }

    @Override
    public DeviceBuffer allocate(int rank, long bytes) {
        return nvshmem.allocateSymmetric(bytes);
    }

    @Override
    public long[] peerBases(int rank, long[] hostedBases) {
        long base = hostedBases[rank];
        long[] peers = new long[session.ranks()];
        for (int p = 0; p < peers.length; p++) {
            if (p == rank) {
                peers[p] = base;
            } else if (!session.options().forceDeviceCalls()) {
                peers[p] = nvshmem.peerPointer(base, p);
            }
            if (peers[p] == 0 && deviceKernels == null) {
                throw new IllegalStateException("rank " + rank + ": no pointer reaches peer " + p + " (nvshmem_ptr"
                        + " returned NULL: another host, or no peer mapping); that needs the NVSHMEM-linked kernels"
                        + " (NvshmemOptions.deviceKernels, built by build-nvshmem-kernels.sh)");
            }
        }
        return peers;
    }

    @Override
    public void releaseKernels(KernelModule module) {
        if (registered) {
            registered = false;
            nvshmem.finalizeModule(module.handle());
        }
    }

    @Override
    public void initialised() {
        // Every rank zeroed its control words; nobody may read a peer's words before that (they start as poison).
        nvshmem.barrierAll();
        if (deviceKernels != null) {
            // Copies NVSHMEM's device state into the module; releaseKernels unregisters it before the unload.
            nvshmem.initModule(deviceKernels.handle());
            registered = true;
        }
    }
}
