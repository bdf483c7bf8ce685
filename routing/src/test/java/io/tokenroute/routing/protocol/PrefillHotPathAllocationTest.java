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
package io.tokenroute.routing.protocol;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.PrefillDispatched;
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
 * docs/contract.md §3b: the prefill combine (the reduction at each destination, the partial rows streamed back, the
 * merge at each source) allocates nothing on the Java heap per call. Runs in the JVM of its own that the build gives
 * every {@code *HotPathAllocationTest}, so profiles of unrelated tests do not decide what the JIT scalar-replaces.
 */
class PrefillHotPathAllocationTest {
    private static final int WARM_UP_STEPS = 12_000;
    private static final int MEASURED_STEPS = 1000;

    @Test
    void steadyStatePrefillCombineAllocatesNothing() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        int ranks = 2;
        int hidden = 256 + 8; // a vector body and a scalar tail
        BufferConfig config = BufferConfig.builder()
                .ranks(ranks)
                .experts(8)
                .hidden(hidden)
                .maxTopK(4)
                .maxTokensPerRank(8)
                .prefillMaxTokensPerRank(16)
                .prefillChunkRows(8)
                .prefillChunks(2)
                .timeout(Duration.ofSeconds(20))
                .build();
        AtomicLongArray allocated = new AtomicLongArray(ranks);
        try (BufferAllocator allocator = new RootAllocator();
                ElasticGroup group = ElasticGroup.open("local", config, allocator)) {
            RankThreads.run(ranks, Duration.ofMinutes(3), rank -> {
                ElasticBuffer buffer = group.buffer(rank);
                RankInput in = RankInput.random(new Random(rank), 16, hidden, 4, 8);
                try (TokenBatch batch = in.toBatch(allocator)) {
                    for (int s = 0; s < WARM_UP_STEPS; s++) {
                        PrefillDispatched d = buffer.prefillDispatch(batch, DispatchOptions.BF16);
                        buffer.prefillCombine(d, batch);
                    }
                    long combineBytes = 0;
                    for (int s = 0; s < MEASURED_STEPS; s++) {
                        PrefillDispatched d = buffer.prefillDispatch(batch, DispatchOptions.BF16);
                        long before = threads.getCurrentThreadAllocatedBytes();
                        buffer.prefillCombine(d, batch);
                        combineBytes += threads.getCurrentThreadAllocatedBytes() - before;
                    }
                    allocated.set(rank, combineBytes);
                }
            });
        }
        for (int r = 0; r < ranks; r++) {
            // Less than one byte per step: no per-call allocation (one JIT recompilation of the Vector API loop may
            // box a handful of vectors once; a per-call allocation would show up as >= 16 bytes per step).
            assertTrue(
                    allocated.get(r) < MEASURED_STEPS,
                    "rank " + r + " allocated " + allocated.get(r) + " bytes in " + MEASURED_STEPS
                            + " prefill combines");
        }
    }
}
