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
package io.tokenroute.routing.cuda;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.PrefillSuite;
import java.time.Duration;

/**
 * The prefill (high-throughput) mode on {@code cuda-local}, one thread per rank's buffer: receive batches, handle and
 * combine against the reference, a rank stopped at its notify or in the middle of its dispatch or combine stream
 * (elastic and non-elastic), readmission, bad input; skips without CUDA.
 */
class CudaLocalPrefillTest extends PrefillSuite {

    @Override
    protected void runGroup(
            BufferConfig config, boolean[] checked, Runnable releaseUnchecked, ConformanceSuite.GroupBody body) {
        CudaLocalGroups.run(config, checked, releaseUnchecked, Duration.ofMinutes(2), body);
    }
}
