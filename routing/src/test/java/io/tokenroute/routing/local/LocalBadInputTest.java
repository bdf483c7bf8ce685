package io.tokenroute.routing.local;

import io.tokenroute.routing.BadInputSuite;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.testkit.RankThreads;
import java.time.Duration;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/** Spec §7 bad input on the embedded {@code local} transport (ranks as threads). */
class LocalBadInputTest extends BadInputSuite {

    @Override
    protected void runGroup(BufferConfig config, ConformanceSuite.GroupBody body) {
        try (BufferAllocator allocator = new RootAllocator();
                LocalGroup group = new LocalGroup(allocator, config)) {
            RankThreads.run(config.ranks(), Duration.ofMinutes(1), rank -> {
                try (BufferAllocator mine = allocator.newChildAllocator("test-rank-" + rank, 0, Long.MAX_VALUE)) {
                    body.run(group.buffer(rank), mine);
                }
            });
        }
    }
}
