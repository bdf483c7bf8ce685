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
import io.tokenroute.device.nvshmem.Nvshmem;
import io.tokenroute.routing.security.JobSecret;
import java.util.Objects;

/**
 * This process's membership in an {@code nvshmem} group: one NVSHMEM PE per process, joined through the TCP unique-id
 * rendezvous, which admits only ranks that prove the job's secret ({@link NvshmemOptions#jobSecret()}). Rank 0
 * creates the id and serves it until every other rank fetched it, then all ranks initialise NVSHMEM together. Open
 * buffers with {@link NvshmemBuffer#open}; close them before the session.
 *
 * <p>Teardown never waits on a dead peer: NVSHMEM's finalize (and {@code nvshmem_free}) run a barrier over every PE
 * and hang once one is gone, so a session that saw a failure ({@link #markFailed()}, done by buffers that masked a
 * peer) leaves the symmetric heap to the process exit instead.
 */
public final class NvshmemSession implements AutoCloseable {
    private final CudaDevice device;
    private final NvshmemOptions options;
    private final Nvshmem nvshmem;

    private NvshmemSession(CudaDevice device, NvshmemOptions options, Nvshmem nvshmem) {
        this.device = device;
        this.options = options;
        this.nvshmem = nvshmem;
    }

    /**
     * Joins the group as rank {@code rank} of {@code ranks}: rank 0 serves the unique id at
     * {@code options.rendezvous()} (listening on that interface only) and waits until every rank fetched it; the
     * others fetch it (retrying until {@code options.joinTimeout()}); both sides authenticate each other with the job
     * secret first. Then every rank initialises NVSHMEM on {@code device}. A single rank needs no rendezvous.
     *
     * @param device this process's GPU (several processes may share one)
     * @return the session; the caller closes it after its buffers
     * @throws io.tokenroute.device.nvshmem.NvshmemUnavailableException without the native library or NVSHMEM
     * @throws RendezvousException if there is no job secret (checked before anything else), or the id could not be
     *     served or fetched in time (names the missing ranks / address), or the server did not prove the secret
     */
    public static NvshmemSession join(CudaDevice device, int rank, int ranks, NvshmemOptions options) {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(options, "options");
        if (ranks < 1 || rank < 0 || rank >= ranks) {
            throw new IllegalArgumentException("rank " + rank + " outside [0, " + ranks + ")");
        }
        Nvshmem.Options environment =
                new Nvshmem.Options(options.symmetricHeapBytes(), options.socketInterface(), options.remoteTransport());
        JobSecret secret = ranks > 1 ? options.jobSecret() : null;
        byte[] id;
        if (rank == 0) {
            id = Nvshmem.createUniqueId(environment);
            if (ranks > 1) {
                try (UniqueIdRendezvous.Server server =
                        UniqueIdRendezvous.serve(options.rendezvous(), id, ranks, secret)) {
                    server.awaitAllJoined(options.joinTimeout());
                }
            }
        } else {
            id = UniqueIdRendezvous.fetch(options.rendezvous(), rank, ranks, secret, options.joinTimeout());
        }
        Nvshmem nvshmem = Nvshmem.initialize(device, id, rank, ranks, environment);
        return new NvshmemSession(device, options, nvshmem);
    }

    /** This process's rank (NVSHMEM PE). */
    public int rank() {
        return nvshmem.rank();
    }

    /** R, the number of PEs. */
    public int ranks() {
        return nvshmem.ranks();
    }

    /** The GPU this process runs on. */
    public CudaDevice device() {
        return device;
    }

    /** The options the session was joined with. */
    public NvshmemOptions options() {
        return options;
    }

    /** The NVSHMEM library session (symmetric allocation, peer pointers, module registration). */
    Nvshmem nvshmem() {
        return nvshmem;
    }

    /**
     * Records that a peer failed: from now on nothing collective runs at teardown (no {@code nvshmem_free}, no
     * finalize), since those would wait on the dead peer forever.
     */
    public void markFailed() {
        nvshmem.markFailed();
    }

    /**
     * Finalizes NVSHMEM, a collective over every PE: call it only when every rank is healthy and calls it too (a clean
     * shutdown of a healthy job). After it the session is closed.
     */
    public void finalizeHealthy() {
        nvshmem.close();
    }

    /**
     * Ends the session without anything collective (no finalize): it cannot know whether a peer died since its last
     * operation, and a finalize would wait on that peer forever. The symmetric heap goes with the process.
     */
    @Override
    public void close() {
        nvshmem.markFailed();
        nvshmem.close();
    }
}
