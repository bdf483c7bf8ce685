package io.tokenroute.routing.local;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.FaultSuite;
import java.time.Duration;

/** Fault injection on the {@code local} transport: a victim thread parks at a phase. */
class LocalFaultTest extends FaultSuite {

    @Override
    protected void runGroup(BufferConfig config, boolean[] checked, Runnable releaseUnchecked,
            ConformanceSuite.GroupBody body) {
        LocalGroups.run(config, checked, releaseUnchecked, Duration.ofMinutes(1), body);
    }
}
