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
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.testkit.RankThreads;
import java.time.Duration;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/** Runs a test body on every rank of a fresh {@link LocalGroup}, one thread per rank, with leak-checked allocators. */
final class LocalGroups {
    private LocalGroups() {}

    /** See {@link RankThreads#run(int, boolean[], Runnable, Duration, RankThreads.RankBody)}. */
    static void run(
            BufferConfig config,
            boolean[] checked,
            Runnable releaseUnchecked,
            Duration bound,
            ConformanceSuite.GroupBody body) {
        try (BufferAllocator allocator = new RootAllocator();
                LocalGroup group = new LocalGroup(allocator, config)) {
            RankThreads.run(config.ranks(), checked, releaseUnchecked, bound, rank -> {
                try (BufferAllocator mine = allocator.newChildAllocator("test-rank-" + rank, 0, Long.MAX_VALUE)) {
                    body.run(group.buffer(rank), mine);
                }
            });
        }
    }

    /** Every rank checked. */
    static void run(BufferConfig config, Duration bound, ConformanceSuite.GroupBody body) {
        run(config, null, () -> {}, bound, body);
    }
}
