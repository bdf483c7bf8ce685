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
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.PrefillSoakSuite;
import java.time.Duration;
import java.util.Set;

/**
 * The prefill soak and overload runs on {@code cuda-local}. Both skip while the GPU transports do not tell a masked
 * rank and have no confirmed agreement (docs/contract.md, "Implementation status"); they run once they do.
 */
class CudaLocalPrefillSoakTest extends PrefillSoakSuite {

    @Override
    protected void runGroup(BufferConfig config, ConformanceSuite.GroupBody body) {
        CudaLocalGroups.run(config, Duration.ofMinutes(10), body);
    }

    @Override
    protected Set<ElasticGroup.Capability> capabilities() {
        return CudaLocalGroup.CAPABILITIES;
    }
}
