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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.tokenroute.device.Cuda;
import io.tokenroute.device.CudaUnavailableException;
import io.tokenroute.device.nvshmem.NvshmemLibrary;
import io.tokenroute.device.nvshmem.NvshmemUnavailableException;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.LaunchEnvironment;
import io.tokenroute.routing.TransportSpec;
import java.util.Map;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * Opening a GPU transport where it cannot run fails at once with the library's unavailability exception, whose message
 * names the transport and why (no driver, no NVSHMEM library), and leaves nothing allocated. These run where CUDA (or
 * NVSHMEM) is missing, that is in CI; on a GPU machine they skip and the GPU tests open the transports for real.
 */
class GpuTransportsUnavailableTest {
    private static final BufferConfig CONFIG = BufferConfig.builder()
            .ranks(2)
            .experts(4)
            .maxTopK(2)
            .hidden(64)
            .maxTokensPerRank(4)
            .build();

    @Test
    void cudaLocalWithoutCudaNamesTheTransportAndTheReason() {
        assumeFalse(Cuda.isAvailable(), "CUDA is available here: the GPU tests open cuda-local for real");
        for (String spec : new String[] {"cuda-local", "cuda-local:0", "CUDA-LOCAL:1"}) {
            try (BufferAllocator allocator = new RootAllocator()) {
                CudaUnavailableException e =
                        assertThrows(CudaUnavailableException.class, () -> ElasticGroup.open(spec, CONFIG, allocator));
                assertEquals("transport cuda-local: CUDA is unavailable: " + Cuda.unavailableReason(), e.getMessage());
                assertEquals(0, allocator.getAllocatedMemory());
            }
        }
    }

    @Test
    void nvshmemWithoutTheLibraryNamesTheTransportAndWhatIsMissing() {
        assumeFalse(NvshmemLibrary.isAvailable(), "NVSHMEM is available here: the nvshmem process tests use it");
        LaunchEnvironment env = LaunchEnvironment.of(Map.of(
                "RANK", "1", "WORLD_SIZE", "2", "LOCAL_RANK", "1", "MASTER_ADDR", "127.0.0.1", "MASTER_PORT", "29999"));
        for (String spec : new String[] {"nvshmem", "nvshmem:0"}) {
            try (BufferAllocator allocator = new RootAllocator()) {
                NvshmemUnavailableException e = assertThrows(
                        NvshmemUnavailableException.class,
                        () -> TransportSpec.parse(spec).open(CONFIG, allocator, env));
                assertEquals(
                        "transport nvshmem: NVSHMEM is unavailable: " + NvshmemLibrary.unavailableReason(),
                        e.getMessage());
                assertTrue(e.getMessage().contains("libtokenroute_nvshmem.so"), e.getMessage());
                assertEquals(0, allocator.getAllocatedMemory());
            }
        }
    }

    @Test
    void nvshmemChecksTheLaunchEnvironmentFirst() {
        try (BufferAllocator allocator = new RootAllocator()) {
            IllegalStateException noRank = assertThrows(
                    IllegalStateException.class,
                    () -> TransportSpec.parse("nvshmem").open(CONFIG, allocator, LaunchEnvironment.of(Map.of())));
            assertTrue(noRank.getMessage().contains("needs the rank from the environment"), noRank.getMessage());
            IllegalStateException size = assertThrows(
                    IllegalStateException.class,
                    () -> TransportSpec.parse("nvshmem")
                            .open(CONFIG, allocator, LaunchEnvironment.of(Map.of("RANK", "0", "WORLD_SIZE", "3"))));
            assertTrue(size.getMessage().contains("3 ranks"), size.getMessage());
        }
    }
}
