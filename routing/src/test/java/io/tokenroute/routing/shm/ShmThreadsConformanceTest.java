package io.tokenroute.routing.shm;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import java.time.Duration;

/** The conformance suite over the {@code shm} memory, ranks as threads of one JVM (each with its own mapping). */
class ShmThreadsConformanceTest extends ConformanceSuite {

    @Override
    protected void runGroup(BufferConfig config, GroupBody body) {
        ShmThreads.run(config, null, () -> { }, Duration.ofMinutes(2), body);
    }
}
