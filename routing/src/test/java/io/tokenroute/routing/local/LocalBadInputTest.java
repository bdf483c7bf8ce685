package io.tokenroute.routing.local;

import io.tokenroute.routing.BadInputSuite;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import java.time.Duration;

/** docs/contract.md §7 bad input on the embedded {@code local} transport (ranks as threads). */
class LocalBadInputTest extends BadInputSuite {

    @Override
    protected void runGroup(BufferConfig config, ConformanceSuite.GroupBody body) {
        LocalGroups.run(config, Duration.ofMinutes(1), body);
    }
}
