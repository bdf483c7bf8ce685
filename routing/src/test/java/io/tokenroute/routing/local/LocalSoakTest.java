package io.tokenroute.routing.local;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.SoakSuite;
import java.time.Duration;

/** The randomized soak on the {@code local} transport. */
class LocalSoakTest extends SoakSuite {

    @Override
    protected void runGroup(BufferConfig config, ConformanceSuite.GroupBody body) {
        LocalGroups.run(config, Duration.ofMinutes(10), body);
    }
}
