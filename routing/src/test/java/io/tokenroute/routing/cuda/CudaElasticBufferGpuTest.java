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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.device.Cuda;
import io.tokenroute.device.DeviceMemoryTracker;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.HealthReport;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.launch.PhaseHooks;
import io.tokenroute.routing.testkit.ParkAt;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.RankThreads;
import io.tokenroute.routing.testkit.StepChecker;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What is particular to the per-rank buffers of {@code cuda-local} opened through {@link ElasticGroup#open}: the
 * group's shape and capabilities, results in device memory whose value accessors read one host copy per combine, the
 * host-side health report, and the batching driver refusing to run while a rank's own thread is inside a call. The
 * shared suites ({@code CudaLocal*Test}) check the semantics. Skips with the reason where CUDA is unavailable.
 */
class CudaElasticBufferGpuTest {
    private static final int RANKS = 4;
    private BufferAllocator allocator;

    @BeforeEach
    void requireCuda() {
        assumeTrue(Cuda.isAvailable(), Cuda.unavailableReason());
        allocator = new RootAllocator();
    }

    @AfterEach
    void noLeaks() {
        if (allocator != null) {
            allocator.close();
            DeviceMemoryTracker.assertNoLeaks();
        }
    }

    private static BufferConfig config() {
        return BufferConfig.builder()
                .ranks(RANKS)
                .experts(4 * RANKS)
                .maxTopK(4)
                .hidden(256)
                .maxTokensPerRank(12)
                .timeout(Duration.ofSeconds(10))
                .build();
    }

    private static RankInput[] inputs(long step) {
        RankInput[] in = new RankInput[RANKS];
        for (int r = 0; r < RANKS; r++) {
            in[r] = RankInput.random(515, step, r, 12, 256, 4, 4 * RANKS, false);
        }
        return in;
    }

    @Test
    void theGroupHostsEveryRankOnTheDeviceWithTheGpuCapabilities() {
        try (ElasticGroup group = ElasticGroup.open("cuda-local:0", config(), allocator)) {
            assertEquals("cuda-local", group.transport());
            assertEquals(RANKS, group.ranks());
            assertArrayEquals(new int[] {0, 1, 2, 3}, group.localRanks());
            assertEquals(CudaLocalGroup.CAPABILITIES, group.capabilities());
            for (int r = 0; r < RANKS; r++) {
                ElasticBuffer buffer = group.buffer(r);
                assertInstanceOf(CudaElasticBuffer.class, buffer);
                assertEquals(r, buffer.rank());
                assertEquals(r, buffer.config().rank());
                assertEquals(MemoryLocation.cuda(0), buffer.location());
                assertEquals(0, buffer.readmitRequests().length, "GPU ranks publish no readmit requests");
            }
            assertThrows(IllegalArgumentException.class, () -> group.buffer(RANKS));
            assertThrows(IllegalStateException.class, group::buffer, "four ranks: buffer(rank) only");
        }
        assertThrows(
                IllegalArgumentException.class,
                () -> ElasticGroup.open("cuda-local:" + Cuda.deviceCount(), config(), allocator),
                "no such device");
    }

    @Test
    void deviceResultsReadOneHostCopyPerCombineAndReportTheirEvent() {
        try (ElasticGroup group = ElasticGroup.open("cuda-local", config(), allocator)) {
            RankThreads.run(RANKS, Duration.ofMinutes(1), rank -> {
                ElasticBuffer buffer = group.buffer(rank);
                try (BufferAllocator mine = allocator.newChildAllocator("rank-" + rank, 0, Long.MAX_VALUE)) {
                    for (int s = 0; s < 3; s++) {
                        StepChecker.StepOutcome out = StepChecker.step(
                                buffer, mine, inputs(s), DispatchOptions.BF16, s % 2 == 0, Presence.all(RANKS));
                        Dispatched d = out.dispatched();
                        assertEquals(MemoryLocation.cuda(0), d.location());
                        assertNotNull(d.readyEvent(), "device results carry the event to wait on");
                    }
                    try (TokenBatch batch = inputs(3)[rank].toBatch(mine)) {
                        Dispatched d = buffer.dispatch(batch);
                        Combined c = buffer.combine(d, batch);
                        int n = c.numTokens();
                        short[] hidden = new short[n * 256 + 5];
                        float[] lost = new float[n + 3];
                        Arrays.fill(hidden, (short) 0x5A5A);
                        c.copyHiddenTo(hidden);
                        c.copyLostWeightTo(lost);
                        for (int t = 0; t < n; t++) {
                            assertEquals(lost[t], c.lostWeight(t), 0f);
                            for (int h = 0; h < 256; h += 37) {
                                assertEquals(hidden[t * 256 + h], c.hiddenBits(t, h));
                            }
                        }
                        assertEquals((short) 0x5A5A, hidden[n * 256], "only n x H values are copied");
                        assertThrows(IndexOutOfBoundsException.class, () -> c.lostWeight(n));
                    }
                    HealthReport health = buffer.healthReport();
                    assertEquals(rank, health.rank());
                    assertEquals(0, health.localHealthMultiplier());
                    assertEquals(RANKS, health.peers().size());
                    buffer.heartbeat();
                }
            });
        }
    }

    @Test
    void theBatchingDriverRefusesWhileARanksThreadIsInsideACall() throws Exception {
        ParkAt park = new ParkAt(0, Phase.BEFORE_DISPATCH, 1);
        BufferConfig config =
                PhaseHooks.listening(config().toBuilder().ranks(1).experts(4).build(), park);
        try (CudaLocalGroup group = (CudaLocalGroup) ElasticGroup.open("cuda-local", config, allocator);
                TokenBatch batch =
                        RankInput.random(7, 0, 0, 12, 256, 4, 4, false).toBatch(allocator)) {
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread rank = new Thread(
                    () -> {
                        try {
                            ElasticBuffer buffer = group.buffer(0);
                            buffer.combine(buffer.dispatch(batch), batch);
                        } catch (Throwable t) {
                            failure.set(t);
                        }
                    },
                    "rank-0");
            rank.start();
            assertTrue(park.awaitParked(Duration.ofSeconds(20)), "rank 0 parked inside dispatch");
            IllegalStateException e = assertThrows(
                    IllegalStateException.class, () -> group.dispatch(List.of(batch), DispatchOptions.BF16));
            assertTrue(e.getMessage().contains("while thread rank-0 is inside a call"), e.getMessage());
            park.release();
            rank.join(Duration.ofSeconds(30).toMillis());
            if (failure.get() != null) {
                throw new AssertionError("rank 0: " + failure.get(), failure.get());
            }
            group.synchronize();
        }
    }
}
