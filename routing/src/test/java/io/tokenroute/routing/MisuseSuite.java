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
package io.tokenroute.routing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.testkit.ParkAt;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * docs/contract.md §7 misuse on every transport: calls on a closed buffer or from a second thread, the mask API called
 * wrongly (out-of-range ranks, non-elastic buffers), bad options and configurations. Each is refused with one clear
 * exception before anything is published and leaves the group healthy ({@link BadInputHarness}).
 */
public abstract class MisuseSuite extends BadInputHarness {
    // ------------------------------------------------------------------------------------------------ lifecycle,
    // threads

    @Test
    void callsAfterCloseAreRefusedAndCloseIsIdempotent() {
        BufferConfig config = base().ranks(2).experts(4).build();
        runGroup(config, (buffer, allocator) -> {
            Dispatched d = healthyStep(buffer, allocator, 0);
            buffer.barrier();
            buffer.close();
            int other = 1 - buffer.rank();
            try (TokenBatch batch = inputs(config, 1)[buffer.rank()].toBatch(allocator)) {
                String closed = "rank " + buffer.rank() + ": the buffer is closed";
                assertRejects(IllegalStateException.class, () -> buffer.dispatch(batch), closed);
                assertRejects(IllegalStateException.class, () -> buffer.dispatch(batch, DispatchOptions.FP8), closed);
                assertRejects(IllegalStateException.class, () -> buffer.combine(d, batch), closed);
                assertRejects(IllegalStateException.class, buffer::barrier, closed);
                assertRejects(IllegalStateException.class, () -> buffer.allGatherBytes(new byte[1]), closed);
                assertRejects(IllegalStateException.class, () -> buffer.allGather(new byte[1], allocator), closed);
                assertRejects(IllegalStateException.class, buffer::cleanBuffer, closed);
                assertRejects(IllegalStateException.class, buffer::agreeMask, closed);
                assertRejects(IllegalStateException.class, () -> buffer.readmit(other, Duration.ofMillis(10)), closed);
                assertRejects(
                        IllegalStateException.class,
                        () -> buffer.readmit(buffer.rank(), Duration.ofMillis(10)),
                        closed);
            }
            assertRejects(IllegalStateException.class, () -> d.expert(0), "closed buffer");
            assertRejects(IllegalStateException.class, d::layout, "closed buffer");
            assertDoesNotThrow(buffer::close, "closing twice is fine");
        });
    }

    @Test
    void callsFromTwoThreadsOnOneRank() {
        ParkAt park = new ParkAt(0, Phase.BEFORE_DISPATCH, 2);
        BufferConfig config = base().ranks(1)
                .experts(4)
                .maxTopK(2)
                .hidden(64)
                .maxTokensPerRank(4)
                .phaseListener(park)
                .build();
        runGroup(config, (buffer, allocator) -> {
            Dispatched d0 = healthyStep(buffer, allocator, 0);
            String owner = Thread.currentThread().getName();
            AtomicReference<Throwable> problem = new AtomicReference<>();
            List<IllegalStateException> refusals = Collections.synchronizedList(new ArrayList<>());
            try (TokenBatch other = inputs(config, 1)[0].toBatch(allocator)) {
                Thread intruder = new Thread(
                        () -> {
                            try {
                                if (!park.awaitParked(Duration.ofSeconds(20))) {
                                    throw new AssertionError("the owner never parked inside dispatch");
                                }
                                refusals.add(assertThrows(IllegalStateException.class, () -> buffer.dispatch(other)));
                                refusals.add(
                                        assertThrows(IllegalStateException.class, () -> buffer.combine(d0, other)));
                                refusals.add(assertThrows(IllegalStateException.class, buffer::barrier));
                                refusals.add(assertThrows(
                                        IllegalStateException.class, () -> buffer.allGatherBytes(new byte[1])));
                                refusals.add(assertThrows(IllegalStateException.class, buffer::cleanBuffer));
                                refusals.add(assertThrows(
                                        IllegalStateException.class, () -> buffer.readmit(0, Duration.ofMillis(10))));
                            } catch (Throwable t) {
                                problem.set(t);
                            } finally {
                                park.release();
                            }
                        },
                        "intruder-thread");
                intruder.setDaemon(true);
                intruder.start();
                healthyStep(buffer, allocator, 1);
                intruder.join(Duration.ofSeconds(30).toMillis());
                assertFalse(intruder.isAlive(), "the intruder finished");
            }
            if (problem.get() != null) {
                throw new AssertionError("intruder: " + problem.get(), problem.get());
            }
            assertTrue(park.hasParked());
            assertEquals(6, refusals.size());
            for (IllegalStateException e : refusals) {
                assertTrue(
                        e.getMessage().contains("from thread intruder-thread")
                                && e.getMessage().contains("while thread " + owner + " is inside a call"),
                        e.getMessage());
            }
            healthyStep(buffer, allocator, 2);
            assertNobodyMasked(buffer);
        });
    }

    // ------------------------------------------------------------------------------------------------ mask API misuse

    @Test
    void maskCallsInNonElasticMode() {
        rejectedThenHealthy(base().elastic(false).build(), (buffer, allocator) -> {
            String mode = "needs elastic mode";
            assertRejects(IllegalStateException.class, buffer::queryMask, "queryMask " + mode);
            assertRejects(IllegalStateException.class, () -> buffer.isMasked(0), "isMasked " + mode);
            assertRejects(IllegalStateException.class, () -> buffer.updateMask(0, true), "updateMask " + mode);
            assertRejects(IllegalStateException.class, buffer::clearMask, "clearMask " + mode);
            assertRejects(IllegalStateException.class, buffer::agreeMask, "agreeMask " + mode);
            assertRejects(
                    IllegalStateException.class, () -> buffer.readmit(0, Duration.ofMillis(10)), "readmit " + mode);
            assertRejects(
                    IllegalStateException.class,
                    () -> buffer.readmit(buffer.rank(), Duration.ofMillis(10)),
                    "readmit " + mode);
        });
    }

    @Test
    void rankIdsOutOfRange() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            String range = " outside [0, " + RANKS + ")";
            assertRejects(IllegalArgumentException.class, () -> buffer.updateMask(-1, true), "rank -1" + range);
            assertRejects(
                    IllegalArgumentException.class, () -> buffer.updateMask(RANKS, true), "rank " + RANKS + range);
            assertRejects(
                    IllegalArgumentException.class, () -> buffer.updateMask(RANKS, false), "rank " + RANKS + range);
            assertRejects(IllegalArgumentException.class, () -> buffer.isMasked(RANKS), "rank " + RANKS + range);
            assertRejects(
                    IllegalArgumentException.class,
                    () -> buffer.readmit(RANKS, Duration.ofMillis(10)),
                    "rank " + RANKS + range);
            assertRejects(
                    IllegalArgumentException.class, () -> buffer.readmit(-1, Duration.ofMillis(10)), "rank -1" + range);
            assertArrayEquals(new int[RANKS], buffer.queryMask(), "the mask is unchanged");
        });
    }

    @Test
    void rankCannotMaskItself() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            assertRejects(
                    IllegalArgumentException.class,
                    () -> buffer.updateMask(buffer.rank(), true),
                    "rank " + buffer.rank() + " cannot mask itself");
            assertArrayEquals(new int[RANKS], buffer.queryMask(), "the mask is unchanged");
            assertFalse(buffer.isMasked(buffer.rank()));
            buffer.updateMask(buffer.rank(), false);
        });
    }

    @Test
    void allGatherPayloadAboveCollectiveBytes() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            byte[] big = new byte[COLLECTIVE_BYTES + 1];
            String message = (COLLECTIVE_BYTES + 1) + " bytes exceeds collectiveBytes";
            assertRejects(IllegalArgumentException.class, () -> buffer.allGatherBytes(big), message);
            assertRejects(IllegalArgumentException.class, () -> buffer.allGather(big, allocator), message);
            assertRejects(
                    IllegalArgumentException.class,
                    () -> buffer.allGatherBytes(new byte[1 << 20]),
                    "exceeds collectiveBytes");
        });
    }

    @Test
    void runtimeTimeoutMustBePositive() {
        rejectedThenHealthy(config(), (buffer, allocator) -> {
            assertRejects(
                    IllegalArgumentException.class, () -> buffer.setTimeout(Duration.ZERO), "timeout must be positive");
            assertRejects(
                    IllegalArgumentException.class,
                    () -> buffer.setTimeout(Duration.ofMillis(-5)),
                    "timeout must be positive");
            assertEquals(TIMEOUT, buffer.timeout(), "the timeout is unchanged");
        });
    }

    // ------------------------------------------------------------------------------------------------ options, config

    @Test
    void dispatchOptionsRejections() {
        assertRejects(
                IllegalArgumentException.class,
                () -> new DispatchOptions(true, false, true, true),
                "ue8m0 scales need roundScale");
        assertRejects(
                IllegalArgumentException.class,
                () -> new DispatchOptions(false, false, true, true),
                "ue8m0 scales need roundScale");
        assertRejects(
                IllegalArgumentException.class,
                () -> new DispatchOptions(false, true, false, true),
                "roundScale needs fp8");
        assertDoesNotThrow(() -> new DispatchOptions(true, true, true, false));
    }

    @Test
    void bufferConfigBuilderRejections() {
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().ranks(4).experts(6).build(),
                "experts must be a positive multiple of ranks: experts = 6, ranks = 4");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().ranks(4).experts(2).build(),
                "experts must be a positive multiple of ranks");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().maxTopK(BufferConfig.MAX_TOP_K + 1).build(),
                "maxTopK must be in [1, 16], got 17");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().maxTopK(0).build(),
                "maxTopK must be in [1, 16], got 0");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().ranks(4).experts(8).rank(4).build(),
                "rank 4 outside [0, 4)");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().ranks(4).experts(8).rank(-1).build(),
                "rank -1 outside [0, 4)");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().ranks(4).experts(8).build().withRank(4),
                "rank 4 outside [0, 4)");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().timeout(Duration.ZERO).build(),
                "timeout must be positive");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().timeout(Duration.ofMillis(-1)).build(),
                "timeout must be positive");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().ranks(0).build(),
                "ranks must be >= 1");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().maxTokensPerRank(0).build(),
                "maxTokensPerRank must be >= 1");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().hidden(0).build(),
                "hidden must be >= 1");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().dtype(HiddenDtype.FP8_E4M3).build(),
                "fp8 is a dispatch option");
        assertRejects(
                IllegalArgumentException.class,
                () -> BufferConfig.builder().collectiveBytes(-1).build(),
                "collectiveBytes must be >= 0");
        assertDoesNotThrow(() ->
                BufferConfig.builder().ranks(4).experts(8).rank(3).maxTopK(16).build());
    }
}
