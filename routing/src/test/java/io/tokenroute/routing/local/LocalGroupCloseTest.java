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
package io.tokenroute.routing.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.launch.PhaseHooks;
import io.tokenroute.routing.testkit.ParkAt;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.StepChecker;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Closing a group while a stopped rank's thread is parked inside a call (what a dead rank is on {@code local}): the
 * close neither throws nor waits for it, every byte the group owned is freed, and the parked call, when it resumes,
 * fails with a clear exception without touching the freed memory.
 */
class LocalGroupCloseTest {
    private static final int RANKS = 4;
    private static final int VICTIM = 3;

    @ParameterizedTest(name = "victim parked at {0}")
    @EnumSource(
            value = Phase.class,
            names = {"BEFORE_DISPATCH", "DISPATCH_RECV", "COMBINE_SEND", "COMBINE_RECV", "BARRIER", "AGREE"})
    void closeFreesEverythingWhileARankIsParkedInsideACall(Phase phase) throws Exception {
        ParkAt park = new ParkAt(VICTIM, phase, 2);
        BufferConfig config = PhaseHooks.listening(
                BufferConfig.builder()
                        .ranks(RANKS)
                        .experts(8)
                        .maxTopK(4)
                        .hidden(64)
                        .maxTokensPerRank(8)
                        .timeout(Duration.ofSeconds(20))
                        .build(),
                park);
        ExecutorService pool = Executors.newFixedThreadPool(RANKS);
        try (BufferAllocator root = new RootAllocator()) {
            BufferAllocator groupMemory = root.newChildAllocator("group", 0, Long.MAX_VALUE);
            LocalGroup group = new LocalGroup(groupMemory, config);
            Future<?>[] ranks = new Future<?>[RANKS];
            for (int r = 0; r < RANKS; r++) {
                ElasticBuffer buffer = group.buffer(r);
                ranks[r] = pool.submit(() -> {
                    try (BufferAllocator mine = root.newChildAllocator("rank-" + buffer.rank(), 0, Long.MAX_VALUE)) {
                        for (int s = 0; s < 3; s++) {
                            if (s == 1) {
                                buffer.setTimeout(Duration.ofMillis(50));
                            }
                            Presence presence = s < 1 ? Presence.all(RANKS) : null;
                            RankInput[] in = inputs(config, s);
                            if (presence != null) {
                                StepChecker.step(buffer, mine, in, DispatchOptions.BF16, true, presence);
                            } else if (buffer.rank() == VICTIM) {
                                StepChecker.stepUnchecked(buffer, mine, in[VICTIM]);
                            } else {
                                StepChecker.stepByOwnMask(buffer, mine, in, DispatchOptions.BF16, true);
                            }
                            buffer.barrier();
                            buffer.agreeMask();
                        }
                    }
                    return null;
                });
            }
            for (int r = 0; r < RANKS; r++) {
                if (r != VICTIM) {
                    ranks[r].get(60, TimeUnit.SECONDS);
                }
            }
            assertTrue(park.awaitParked(Duration.ofSeconds(30)), "the victim is parked inside " + phase);

            group.close();
            assertEquals(0, groupMemory.getAllocatedMemory(), "the group freed everything it owned");
            groupMemory.close();

            park.release();
            ExecutionException resumed = org.junit.jupiter.api.Assertions.assertThrows(
                    ExecutionException.class, () -> ranks[VICTIM].get(30, TimeUnit.SECONDS));
            IllegalStateException e = assertInstanceOf(IllegalStateException.class, resumed.getCause());
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        } finally {
            pool.shutdownNow();
        }
    }

    private static RankInput[] inputs(BufferConfig c, long step) {
        RankInput[] in = new RankInput[c.ranks()];
        for (int r = 0; r < in.length; r++) {
            in[r] = RankInput.random(5, step, r, c.maxTokensPerRank(), c.hidden(), c.maxTopK(), c.experts(), false);
        }
        return in;
    }
}
