package io.tokenroute.routing.shm;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.MaskApiSuite;
import java.time.Duration;

/** The mask API over the {@code shm} memory, ranks as threads of one JVM (each with its own mapping). */
class ShmThreadsMaskApiTest extends MaskApiSuite {

    @Override
    protected void runGroup(BufferConfig config, boolean[] checked, Runnable releaseUnchecked, Duration bound,
            ConformanceSuite.GroupBody body) {
        ShmThreads.run(config, checked, releaseUnchecked, bound, body);
    }
}
