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
package io.tokenroute.routing;

import java.util.EnumSet;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The ranks of an elastic EP group that this process hosts, whatever the transport: all {@code R} for {@code local}
 * and {@code cuda-local} (one thread per rank drives them), one for {@code shm} and {@code nvshmem} (one process per
 * rank). The transport is chosen once, here:
 *
 * <pre>{@code
 * try (BufferAllocator allocator = new RootAllocator();
 *      ElasticGroup group = ElasticGroup.open("local", config, allocator)) {   // or "shm:job7", "cuda-local:0",
 * "nvshmem"
 *     for (int r : group.localRanks()) {
 *         ElasticBuffer buffer = group.buffer(r);   // drive it from its own thread
 *     }
 * }
 * }</pre>
 *
 * <p>The group owns its buffers: closing it closes them and frees every byte it holds, also when a peer is dead or a
 * rank's thread is stuck inside a call, and never waits on a peer.
 */
public interface ElasticGroup extends AutoCloseable {

    /** The transport's name: {@code local}, {@code shm}, {@code cuda-local} or {@code nvshmem}. */
    String transport();

    /** R, the group's ranks (across every process). */
    int ranks();

    /** The ranks this process hosts, ascending. */
    int[] localRanks();

    /**
     * Rank {@code rank}'s buffer, owned by the group (do not close it yourself).
     *
     * @throws IllegalArgumentException if this process does not host {@code rank}
     */
    ElasticBuffer buffer(int rank);

    /** The buffer of the one rank this process hosts ({@code shm}, {@code nvshmem}). */
    default ElasticBuffer buffer() {
        int[] mine = localRanks();
        if (mine.length != 1) {
            throw new IllegalStateException("this " + transport() + " group hosts " + mine.length + " ranks in this"
                    + " process: use buffer(rank)");
        }
        return buffer(mine[0]);
    }

    /**
     * What this group's transport does beyond the operations every transport has, so an engine (or a test) can tell
     * before it relies on it. The Java protocol's transports ({@code local}, {@code shm}) have {@link
     * Capability#javaProtocol()}; the GPU transports ({@code cuda-local}, {@code nvshmem}) override this.
     */
    default Set<Capability> capabilities() {
        return Capability.javaProtocol();
    }

    /** Frees everything the group holds; never waits on a peer. */
    @Override
    void close();

    /**
     * Opens (or joins) a group on the transport {@code transport} names ({@link TransportSpec}), taking the rank,
     * world size and rendezvous of one-rank-per-process transports from the environment ({@link LaunchEnvironment}).
     *
     * @param transport {@code local}, {@code shm:NAME}, {@code cuda-local[:DEVICE]} or {@code nvshmem[:DEVICE]}
     * @param config the group's configuration (its rank is ignored: the transport assigns ranks)
     * @param allocator pays for the group's host memory until {@link #close()}
     */
    static ElasticGroup open(String transport, BufferConfig config, BufferAllocator allocator) {
        return TransportSpec.parse(transport).open(config, allocator, LaunchEnvironment.fromSystem());
    }

    /** A behaviour that not every transport has yet (docs/contract.md §6, "Implementation status"). */
    enum Capability {
        /**
         * A rank that its peers masked while it was alive finds out in its next call ({@link RankMaskedException}
         * naming who masked it) and takes no part until it is readmitted. Without it a masked rank goes on calling;
         * its peers skip it, and its own {@link ElasticBuffer#agreeMask()} shows the entry.
         */
        MASKED_RANK_NOTICE,
        /**
         * {@link ElasticBuffer#agreeMask()} is a confirmed agreement: every live rank returns the same mask, also when
         * a peer times out during it (docs/contract.md §3.7). Without it the agreement is one gathering round.
         */
        CONFIRMED_AGREEMENT,
        /**
         * {@link ElasticBuffer#readmitRequests()} names the masked ranks waiting in {@code readmit(theirRank, ...)};
         * without it the array is always empty and an engine decides itself when to readmit.
         */
        READMIT_REQUESTS,
        /**
         * Token batches in CUDA device memory of the group's GPU are read in place (host batches are copied in);
         * without it the transport needs host batches and refuses device ones.
         */
        DEVICE_INPUTS;

        /** The capabilities of the Java protocol ({@code local}, {@code shm}): all but {@link #DEVICE_INPUTS}. */
        public static Set<Capability> javaProtocol() {
            return EnumSet.of(MASKED_RANK_NOTICE, CONFIRMED_AGREEMENT, READMIT_REQUESTS);
        }
    }
}
