package io.tokenroute.routing.shm;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.FaultSuite;
import java.time.Duration;

/**
 * The fault suite over the {@code shm} memory, ranks as threads of one JVM: a victim thread parks at a phase while the
 * survivors close their mappings and leave ({@link ShmProcessTest} kills real processes).
 */
class ShmThreadsFaultTest extends FaultSuite {

    @Override
    protected void runGroup(BufferConfig config, boolean[] checked, Runnable releaseUnchecked,
            ConformanceSuite.GroupBody body) {
        ShmThreads.run(config, checked, releaseUnchecked, Duration.ofMinutes(1), body);
    }
}
