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

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.RankThreads;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLongArray;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * docs/contract.md §3: the per-call hot path (dispatch, combine) allocates nothing on the Java heap, so GC pauses stay
 * rare.
 */
class HotPathAllocationTest {
    private static final int WARM_UP_STEPS = 20_000;
    private static final int MEASURED_STEPS = 2000;

    @Test
    void steadyStateDispatchAndCombineAllocateNothing() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        int ranks = 2;
        BufferConfig config = BufferConfig.builder()
                .ranks(ranks)
                .experts(8)
                .hidden(256)
                .maxTopK(4)
                .maxTokensPerRank(16)
                .timeout(Duration.ofSeconds(20))
                .build();
        AtomicLongArray allocated = new AtomicLongArray(ranks);
        try (BufferAllocator allocator = new RootAllocator();
                LocalGroup group = new LocalGroup(allocator, config)) {
            RankThreads.run(ranks, Duration.ofMinutes(2), rank -> {
                ElasticBuffer buffer = group.buffer(rank);
                RankInput in = RankInput.random(new Random(rank), 16, 256, 4, 8);
                try (TokenBatch batch = in.toBatch(allocator)) {
                    for (int s = 0; s < WARM_UP_STEPS; s++) {
                        Dispatched d = buffer.dispatch(batch);
                        buffer.combine(d, batch);
                    }
                    long before = threads.getCurrentThreadAllocatedBytes();
                    for (int s = 0; s < MEASURED_STEPS; s++) {
                        Dispatched d = buffer.dispatch(batch);
                        buffer.combine(d, batch);
                    }
                    allocated.set(rank, threads.getCurrentThreadAllocatedBytes() - before);
                }
            });
        }
        for (int r = 0; r < ranks; r++) {
            // Less than one byte per step: no per-call allocation. (A JIT recompilation of the Vector API loop can
            // box a handful of vectors once; a per-call allocation would show up as >= 16 bytes per step.)
            assertTrue(
                    allocated.get(r) < MEASURED_STEPS,
                    "rank " + r + " allocated " + allocated.get(r) + " bytes over " + MEASURED_STEPS + " steps");
        }
    }
}
