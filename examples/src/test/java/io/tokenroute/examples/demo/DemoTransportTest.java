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
package io.tokenroute.examples.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.tokenroute.device.Cuda;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What the demo decides per transport before any rank starts (CPU): how the ranks run, that rank processes take no
 * readmissions, why a transport is unavailable, that the configuration reaches the rank processes unchanged, and the
 * launch environment a rank process opens its group with.
 */
class DemoTransportTest {
    private static final DemoConfig FAILING = DemoConfig.builder()
            .ranks(4)
            .experts(16)
            .tokens(16)
            .hidden(64)
            .steps(30)
            .timeout(Duration.ofSeconds(1))
            .rehearse(false)
            .failures(List.of(FailureSpec.parse("2@10:dispatch"), FailureSpec.parse("1@20:combine")))
            .build();
    private static final DemoConfig READMITTING = DemoConfig.builder()
            .ranks(4)
            .experts(16)
            .tokens(16)
            .hidden(64)
            .steps(30)
            .failures(List.of(FailureSpec.parse("2@10:dispatch")))
            .readmits(List.of(ReadmitSpec.parse("2@20")))
            .build();

    @ParameterizedTest
    @EnumSource(DemoTransport.class)
    void rankProcessesRefuseReadmissionsAndThreadsTakeThem(DemoTransport transport) {
        if (transport.processPerRank()) {
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> new DecodeDemo(READMITTING, transport));
            assertEquals(
                    "the " + transport.id() + " transport cannot readmit: its failures SIGKILL rank processes",
                    e.getMessage());
        } else {
            new DecodeDemo(READMITTING, transport);
        }
    }

    @Test
    void namesHowTheRanksRunAndWhereTheirResultsLive() {
        assertEquals(
                List.of("local", "shm", "cuda-local", "nvshmem"),
                List.of(DemoTransport.values()).stream().map(DemoTransport::id).toList());
        assertEquals(
                List.of(false, true, false, true),
                List.of(DemoTransport.values()).stream()
                        .map(DemoTransport::processPerRank)
                        .toList());
        assertEquals(
                List.of(false, false, true, true),
                List.of(DemoTransport.values()).stream()
                        .map(DemoTransport::onGpu)
                        .toList());
        assertEquals(DemoTransport.CUDA_LOCAL, DemoTransport.of(" CUDA-Local "));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DemoTransport.of("pigeon"));
        assertEquals("unknown transport 'pigeon': expected local, shm, cuda-local or nvshmem", e.getMessage());
    }

    @Test
    void localIsAlwaysAvailableAndTheOthersSayWhatIsMissing() {
        assertTrue(DemoTransport.LOCAL.isAvailable());
        assertEquals(DemoTransport.LOCAL, DemoTransport.available().get(0));
        for (DemoTransport t : DemoTransport.values()) {
            assertEquals(t.isAvailable(), DemoTransport.available().contains(t), t.id());
            assertEquals(t.isAvailable(), t.unavailableReason().isEmpty(), t.id() + ": " + t.unavailableReason());
        }
        assumeFalse(Cuda.isAvailable(), "CUDA is available here");
        assertEquals(Cuda.unavailableReason(), DemoTransport.CUDA_LOCAL.unavailableReason());
        assertTrue(
                DemoTransport.NVSHMEM.unavailableReason().startsWith("CUDA is unavailable: "),
                DemoTransport.NVSHMEM.unavailableReason());
    }

    @Test
    void rankProcessesReceiveTheConfigurationUnchanged() {
        assertEquals(FAILING, RankProcesses.parse(RankProcesses.args(FAILING).toArray(String[]::new)));
    }
}
