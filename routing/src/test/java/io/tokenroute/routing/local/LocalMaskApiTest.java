package io.tokenroute.routing.local;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.MaskApiSuite;
import java.time.Duration;

/** The mask API on the embedded {@code local} transport (ranks as threads). */
class LocalMaskApiTest extends MaskApiSuite {

    @Override
    protected void runGroup(BufferConfig config, boolean[] checked, Runnable releaseUnchecked, Duration bound,
            ConformanceSuite.GroupBody body) {
        LocalGroups.run(config, checked, releaseUnchecked, bound, body);
    }
}
