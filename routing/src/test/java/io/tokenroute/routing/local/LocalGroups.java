package io.tokenroute.routing.local;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.testkit.RankThreads;
import java.time.Duration;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/** Runs a test body on every rank of a fresh {@link LocalGroup}, one thread per rank, with leak-checked allocators. */
final class LocalGroups {
    private LocalGroups() {
    }

    /** See {@link RankThreads#run(int, boolean[], Runnable, Duration, RankThreads.RankBody)}. */
    static void run(BufferConfig config, boolean[] checked, Runnable releaseUnchecked, Duration bound,
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
        run(config, null, () -> { }, bound, body);
    }
}
