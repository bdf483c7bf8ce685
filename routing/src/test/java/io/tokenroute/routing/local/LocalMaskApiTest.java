package io.tokenroute.routing.local;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.MaskApiSuite;
import io.tokenroute.routing.testkit.RankThreads;
import java.time.Duration;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/** The mask API on the embedded {@code local} transport (ranks as threads). */
class LocalMaskApiTest extends MaskApiSuite {

    @Override
    protected void runGroup(BufferConfig config, boolean[] checked, Runnable releaseUnchecked, Duration bound,
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
}
