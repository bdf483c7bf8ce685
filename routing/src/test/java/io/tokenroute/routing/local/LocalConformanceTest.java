package io.tokenroute.routing.local;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import java.time.Duration;

/** The conformance suite on the embedded {@code local} transport (ranks as threads). */
class LocalConformanceTest extends ConformanceSuite {

    @Override
    protected void runGroup(BufferConfig config, GroupBody body) {
        LocalGroups.run(config, Duration.ofMinutes(2), body);
    }
}
