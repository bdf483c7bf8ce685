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
package io.tokenroute.routing.local;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.TransportSpec;
import io.tokenroute.routing.host.HostElasticBuffer;
import io.tokenroute.routing.memory.HostSymmetricMemory;
import io.tokenroute.routing.protocol.RegionLayout;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.util.AutoCloseables;

/**
 * The embedded {@code local} transport: R ranks as threads of one JVM over shared off-heap memory. Each rank's
 * {@link ElasticBuffer} must be driven by its own thread (ranks wait for each other).
 *
 * <pre>{@code
 * try (BufferAllocator allocator = new RootAllocator();
 *      LocalGroup group = new LocalGroup(allocator, config)) {
 *     // on thread r:
 *     ElasticBuffer buffer = group.buffer(r);
 *     Dispatched d = buffer.dispatch(batch);
 * }
 * }</pre>
 *
 * <p>The group owns the shared memory and the R buffers; closing it closes them all and frees everything, also when a
 * rank's thread is stuck inside a call (a stopped rank): that call fails if it ever resumes, without touching the freed
 * memory. Closing never waits on a peer.
 */
public final class LocalGroup implements ElasticGroup {
    private final BufferConfig template;
    private final HostSymmetricMemory memory;
    private final BufferAllocator[] allocators;
    private final ElasticBuffer[] buffers;

    /**
     * @param allocator pays for the shared memory and each rank's private memory (a child allocator per rank)
     * @param config the group's configuration; its {@code rank} is ignored
     */
    public LocalGroup(BufferAllocator allocator, BufferConfig config) {
        this.template = config;
        int ranks = config.ranks();
        this.memory = new HostSymmetricMemory(allocator, ranks, new RegionLayout(config).regionBytes());
        this.allocators = new BufferAllocator[ranks];
        this.buffers = new ElasticBuffer[ranks];
        try {
            for (int r = 0; r < ranks; r++) {
                allocators[r] = allocator.newChildAllocator("rank-" + r, 0, Long.MAX_VALUE);
                buffers[r] = new HostElasticBuffer(config.withRank(r), memory, allocators[r]);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    @Override
    public String transport() {
        return TransportSpec.LOCAL;
    }

    /** R. */
    @Override
    public int ranks() {
        return buffers.length;
    }

    /** Every rank: they are threads of this JVM. */
    @Override
    public int[] localRanks() {
        return java.util.stream.IntStream.range(0, buffers.length).toArray();
    }

    /** The group's configuration (rank 0's). */
    public BufferConfig config() {
        return template;
    }

    /** Rank {@code r}'s buffer, owned by the group: do not close it yourself. */
    @Override
    public ElasticBuffer buffer(int r) {
        if (r < 0 || r >= buffers.length) {
            throw new IllegalArgumentException("rank " + r + " outside [0, " + buffers.length + ")");
        }
        return buffers[r];
    }

    /** Closes every buffer, then every rank's allocator, then the shared memory; the first failure is rethrown last. */
    @Override
    public void close() {
        List<AutoCloseable> all = new ArrayList<>();
        for (int r = 0; r < buffers.length; r++) {
            all.add(buffers[r]);
            all.add(allocators[r]);
            buffers[r] = null;
            allocators[r] = null;
        }
        all.add(memory);
        try {
            AutoCloseables.close(all);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("closing the local group failed", e);
        }
    }
}
