package io.tokenroute.routing.local;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.SoakSuite;
import io.tokenroute.routing.testkit.RankThreads;
import java.time.Duration;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/** The randomized soak on the {@code local} transport. */
class LocalSoakTest extends SoakSuite {

    @Override
    protected void runGroup(BufferConfig config, ConformanceSuite.GroupBody body) {
        try (BufferAllocator allocator = new RootAllocator();
                LocalGroup group = new LocalGroup(allocator, config)) {
            RankThreads.run(config.ranks(), Duration.ofMinutes(10), rank -> {
                try (BufferAllocator mine = allocator.newChildAllocator("soak-rank-" + rank, 0, Long.MAX_VALUE)) {
                    body.run(group.buffer(rank), mine);
                }
            });
        }
    }
}
