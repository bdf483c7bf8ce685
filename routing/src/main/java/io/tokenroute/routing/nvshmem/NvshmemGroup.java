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

import io.tokenroute.device.Cuda;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.nvshmem.NvshmemLibrary;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.LaunchEnvironment;
import io.tokenroute.routing.TransportSpec;
import io.tokenroute.routing.cuda.CudaLocalGroup;
import java.util.Objects;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;

/**
 * This process's rank of an {@code nvshmem} group as an {@link ElasticGroup}: one NVSHMEM PE (its
 * {@link NvshmemSession}) and its {@link NvshmemBuffer}. {@code ElasticGroup.open("nvshmem", config, allocator)}
 * makes one from the launcher's environment ({@link #open}):
 *
 * <pre>{@code
 * // every rank, started by torchrun, Slurm, Open MPI or RankLauncher with TOKENROUTE_JOB_SECRET set:
 * try (ElasticGroup group = ElasticGroup.open("nvshmem", config, allocator)) {
 *     ElasticBuffer buffer = group.buffer();
 *     Dispatched d = buffer.dispatch(batch);   // results in CUDA memory: d.location(), d.readyEvent()
 * }
 * }</pre>
 *
 * <p>Closing closes the buffer, then leaves the session without anything collective (a peer may have died), then
 * the GPU if the group opened it; it never waits on a peer.
 */
public final class NvshmemGroup implements ElasticGroup {
    /** Symmetric heap a group asks for beyond its buffer's {@link NvshmemBuffer#symmetricBytes}: NVSHMEM's own. */
    public static final long HEAP_MARGIN_BYTES = 64L << 20;

    private final CudaDevice device;
    private final boolean ownsDevice;
    private final NvshmemSession session;
    private final NvshmemBuffer buffer;
    private boolean closed;

    private NvshmemGroup(CudaDevice device, boolean ownsDevice, NvshmemSession session, NvshmemBuffer buffer) {
        this.device = device;
        this.ownsDevice = ownsDevice;
        this.session = session;
        this.buffer = buffer;
    }

    /**
     * Joins the group as rank {@code rank} ({@link NvshmemSession#join}) and opens its buffer.
     *
     * @param device this process's GPU; the group closes it if {@code ownsDevice}
     * @param config the group's configuration (its rank is ignored)
     * @param options how to join; the symmetric heap must hold {@link NvshmemBuffer#symmetricBytes}{@code (config)}
     * @param allocator pays for the buffer's host memory until {@link #close()}
     */
    public static NvshmemGroup join(
            CudaDevice device,
            boolean ownsDevice,
            int rank,
            BufferConfig config,
            NvshmemOptions options,
            BufferAllocator allocator) {
        Objects.requireNonNull(device, "device");
        NvshmemSession session = null;
        try {
            session = NvshmemSession.join(device, rank, config.ranks(), options);
            return new NvshmemGroup(device, ownsDevice, session, NvshmemBuffer.open(session, config, allocator));
        } catch (RuntimeException | Error e) {
            if (session != null) {
                session.close();
            }
            if (ownsDevice) {
                device.close();
            }
            throw e;
        }
    }

    /**
     * Opens this process's rank the way {@code ElasticGroup.open("nvshmem[:DEVICE]", ...)} does: the GPU is
     * {@code device}, or the launcher's local rank (else the rank) modulo the visible GPUs; the options are
     * {@link NvshmemOptions#launched} with the environment's rendezvous address and a symmetric heap of
     * {@link NvshmemBuffer#symmetricBytes} plus {@link #HEAP_MARGIN_BYTES}; the job secret comes from
     * {@code TOKENROUTE_JOB_SECRET} or {@code TOKENROUTE_JOB_SECRET_FILE} ({@link NvshmemOptions#jobSecret()}).
     *
     * @param device a CUDA device ordinal, or -1 to choose as above
     * @throws io.tokenroute.device.nvshmem.NvshmemUnavailableException without the NVSHMEM library (checked first)
     * @throws io.tokenroute.device.CudaUnavailableException without CUDA
     */
    public static NvshmemGroup open(
            int device, int rank, BufferConfig config, BufferAllocator allocator, LaunchEnvironment env) {
        NvshmemLibrary.require("transport " + TransportSpec.NVSHMEM);
        Cuda.requireAvailable("transport " + TransportSpec.NVSHMEM);
        int ordinal = device >= 0 ? device : env.localRank().orElse(rank) % Cuda.deviceCount();
        NvshmemOptions options =
                NvshmemOptions.launched(env.rendezvous(), NvshmemBuffer.symmetricBytes(config) + HEAP_MARGIN_BYTES);
        return join(CudaDevice.open(ordinal), true, rank, config, options, allocator);
    }

    @Override
    public String transport() {
        return TransportSpec.NVSHMEM;
    }

    @Override
    public int ranks() {
        return session.ranks();
    }

    @Override
    public int[] localRanks() {
        return new int[] {session.rank()};
    }

    @Override
    public NvshmemBuffer buffer(int rank) {
        if (rank != session.rank()) {
            throw new IllegalArgumentException("rank " + rank + " is not hosted by this process (it is rank "
                    + session.rank() + " of the nvshmem group)");
        }
        return buffer;
    }

    @Override
    public NvshmemBuffer buffer() {
        return buffer;
    }

    /** {@link CudaLocalGroup#CAPABILITIES}: the GPU transports share their kernels and their limits. */
    @Override
    public Set<Capability> capabilities() {
        return CudaLocalGroup.CAPABILITIES;
    }

    /** This process's NVSHMEM session ({@link NvshmemSession#finalizeHealthy()} for a clean end of a healthy job). */
    public NvshmemSession session() {
        return session;
    }

    /** Closes the buffer, the session (nothing collective) and the GPU if the group opened it; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            buffer.close();
        } finally {
            try {
                session.close();
            } finally {
                if (ownsDevice) {
                    device.close();
                }
            }
        }
    }
}
