package io.tokenroute.routing.shm;

import io.tokenroute.routing.BadInputSuite;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import java.time.Duration;

/** docs/contract.md §7 bad input over the {@code shm} memory, ranks as threads of one JVM (each with its own mapping). */
class ShmThreadsBadInputTest extends BadInputSuite {

    @Override
    protected void runGroup(BufferConfig config, ConformanceSuite.GroupBody body) {
        ShmThreads.run(config, null, () -> { }, Duration.ofMinutes(1), body);
    }
}
