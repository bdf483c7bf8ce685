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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.device.Cuda;
import io.tokenroute.device.DeviceMemoryTracker;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.TransportSpec;
import io.tokenroute.routing.testkit.RankThreads;
import java.time.Duration;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * Runs a shared suite's body on every rank of a fresh {@code cuda-local} group on GPU 0, opened the way users open it
 * ({@code ElasticGroup.open("cuda-local:0", ...)}), one thread per rank on the rank's {@link CudaElasticBuffer}, with
 * leak-checked allocators and no device memory left after the group closed. Skips with the reason where CUDA is
 * unavailable.
 */
final class CudaLocalGroups {
    private CudaLocalGroups() {}

    /** See {@link RankThreads#run(int, boolean[], Runnable, Duration, RankThreads.RankBody)}. */
    static void run(
            BufferConfig config,
            boolean[] checked,
            Runnable releaseUnchecked,
            Duration bound,
            ConformanceSuite.GroupBody body) {
        assumeTrue(Cuda.isAvailable(), Cuda.unavailableReason());
        try (BufferAllocator allocator = new RootAllocator();
                ElasticGroup group = ElasticGroup.open("cuda-local:0", config, allocator)) {
            assertEquals(TransportSpec.CUDA_LOCAL, group.transport());
            int[] all = new int[config.ranks()];
            for (int r = 0; r < all.length; r++) {
                all[r] = r;
            }
            assertArrayEquals(all, group.localRanks(), "cuda-local hosts every rank");
            RankThreads.run(config.ranks(), checked, releaseUnchecked, bound, rank -> {
                try (BufferAllocator mine = allocator.newChildAllocator("test-rank-" + rank, 0, Long.MAX_VALUE)) {
                    body.run(group.buffer(rank), mine);
                }
            });
        }
        DeviceMemoryTracker.assertNoLeaks();
    }

    /** Every rank checked. */
    static void run(BufferConfig config, Duration bound, ConformanceSuite.GroupBody body) {
        run(config, null, () -> {}, bound, body);
    }
}
