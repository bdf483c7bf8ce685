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

import static org.junit.jupiter.api.Assertions.assertFalse;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.Cuda;
import io.tokenroute.routing.BadInputSuite;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ConformanceSuite;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.testkit.TestBatches;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * docs/contract.md §7 on {@code cuda-local}: the shared bad-input suite (the same exception text as the host
 * transports, refused before any kernel runs), plus what only a GPU transport can be given: a batch in another
 * device's memory.
 */
class CudaLocalBadInputTest extends BadInputSuite {

    @Override
    protected void runGroup(BufferConfig config, ConformanceSuite.GroupBody body) {
        CudaLocalGroups.run(config, Duration.ofMinutes(1), body);
    }

    @Override
    protected Set<ElasticGroup.Capability> capabilities() {
        return CudaLocalGroup.CAPABILITIES;
    }

    /** A batch of another GPU is refused naming both devices (host batches are copied in, this GPU's read in place). */
    @Test
    void batchOfAnotherDevice() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            MemoryLocation elsewhere = MemoryLocation.cuda(Cuda.deviceCount() + 3);
            try (TokenBatch batch = TestBatches.fakeDeviceBatch(allocator, elsewhere, 3, HIDDEN, TOP_K)) {
                assertFalse(batch.location().isCpuAccessible());
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.dispatch(batch),
                        "rank " + buffer.rank() + ": dispatch: the batch lives in " + elsewhere + " memory",
                        "this transport runs on " + buffer.location());
                assertRejects(
                        IllegalArgumentException.class,
                        () -> buffer.dispatch(batch, DispatchOptions.FP8),
                        "the batch lives in " + elsewhere);
            }
        });
    }
}
