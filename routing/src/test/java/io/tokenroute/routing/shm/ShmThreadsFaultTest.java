/*
 * Copyright 2026 The TokenRoute Authors
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */
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
    protected void runGroup(
            BufferConfig config, boolean[] checked, Runnable releaseUnchecked, ConformanceSuite.GroupBody body) {
        ShmThreads.run(config, checked, releaseUnchecked, Duration.ofMinutes(1), body);
    }
}
