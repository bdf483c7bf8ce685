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
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.testkit.NonElasticFailure;
import io.tokenroute.routing.testkit.ParkAt;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.StepChecker;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import org.apache.arrow.memory.BufferAllocator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Fault injection at every phase of docs/contract.md §3 for any transport whose ranks can be stopped at a phase:
 * survivors mask exactly the victim, their outputs equal the reference without it, lost weight is exact, later steps
 * pay no further timeout, and non-elastic mode fails with an exception naming the peer and the phase.
 */
public abstract class FaultSuite {
    protected static final int RANKS = 4;
    protected static final int EXPERTS = 16;
    protected static final int TOP_K = 4;
    protected static final int HIDDEN = 64;
    protected static final int MAX_TOKENS = 10;
    protected static final int VICTIM = 2;
    protected static final int FAIL_STEP = 2;
    protected static final Duration TIMEOUT = Duration.ofMillis(200);
    /** Step 0 runs with a generous timeout (class loading, JIT), then every rank tightens it at run time. */
    private static final Duration WARM_UP_TIMEOUT = Duration.ofSeconds(20);

    /**
     * Runs {@code body} on every rank of a fresh group. Failures of ranks with {@code checked[r] == false} are ignored;
     * {@code releaseUnchecked} runs once the checked ranks are done, and the group is freed only after every rank
     * ended.
     */
    protected abstract void runGroup(
            BufferConfig config, boolean[] checked, Runnable releaseUnchecked, ConformanceSuite.GroupBody body);

    protected static BufferConfig config(boolean elastic, ParkAt stop) {
        return BufferConfig.builder()
                .ranks(RANKS)
                .experts(EXPERTS)
                .maxTopK(TOP_K)
                .hidden(HIDDEN)
                .maxTokensPerRank(MAX_TOKENS)
                .elastic(elastic)
                .timeout(WARM_UP_TIMEOUT)
                .phaseListener(stop)
                .build();
    }

    static RankInput[] inputs(long step) {
        RankInput[] in = new RankInput[RANKS];
        for (int r = 0; r < RANKS; r++) {
            in[r] = RankInput.random(77, step, r, MAX_TOKENS, HIDDEN, TOP_K, EXPERTS, false);
        }
        return in;
    }

    /** What a survivor must see at step {@code s} when the victim stopped at {@code phase} in step FAIL_STEP. */
    static Presence presence(Phase phase, int s) {
        if (s < FAIL_STEP) {
            return Presence.all(RANKS);
        }
        if (s > FAIL_STEP) {
            return Presence.without(RANKS, VICTIM);
        }
        Presence p = Presence.all(RANKS);
        if (phase == Phase.BEFORE_DISPATCH || phase == Phase.DISPATCH_SEND) {
            p.dispatchSources()[VICTIM] = false;
        }
        if (phase == Phase.BEFORE_DISPATCH
                || phase == Phase.DISPATCH_SEND
                || phase == Phase.DISPATCH_RECV
                || phase == Phase.COMBINE_SEND) {
            p.combineExperts()[VICTIM] = false;
        }
        return p;
    }

    /** The collective called after each step, so the victim can be stopped inside it. */
    static void collective(ElasticBuffer buffer, Phase phase, int s, boolean checkPayloads) {
        switch (phase) {
            case CLEAN -> buffer.cleanBuffer();
            case BARRIER -> buffer.barrier();
            case AGREE -> {
                int[] agreed = buffer.agreeMask();
                if (checkPayloads) {
                    int[] expected = new int[RANKS];
                    expected[VICTIM] = s >= FAIL_STEP ? 1 : 0;
                    assertArrayEquals(expected, agreed, "agreed mask after step " + s);
                }
            }
            case ALL_GATHER -> {
                byte[] mine = ("rank " + buffer.rank() + " step " + s).getBytes();
                byte[][] all = buffer.allGatherBytes(mine);
                if (checkPayloads) {
                    for (int r = 0; r < RANKS; r++) {
                        if (r == VICTIM && s >= FAIL_STEP) {
                            assertNull(all[r], "masked rank's payload is null");
                        } else {
                            assertArrayEquals(("rank " + r + " step " + s).getBytes(), all[r], "payload of " + r);
                        }
                    }
                }
            }
            default -> {}
        }
    }

    @ParameterizedTest(name = "victim stops at {0}")
    @EnumSource(value = Phase.class, mode = EnumSource.Mode.MATCH_NONE, names = "PREFILL_.*") // PrefillSuite's
    void survivorsMaskExactlyTheStoppedRankAndStayExact(Phase phase) {
        ParkAt stop = new ParkAt(VICTIM, phase, FAIL_STEP + 1);
        int steps = FAIL_STEP + 4;
        runGroup(config(true, stop), survivorsOnly(), stop::release, (buffer, allocator) -> {
            int self = buffer.rank();
            long[] waitAfterDetection = null;
            for (int s = 0; s < steps; s++) {
                tighten(buffer, s);
                StepChecker.StepOutcome out = StepChecker.step(
                        buffer, allocator, inputs(s), DispatchOptions.BF16, s % 2 == 0, presence(phase, s));
                if (self == VICTIM) {
                    collective(buffer, phase, s, false);
                    continue;
                }
                assertMaskedOnlyVictim(out.dispatchNewlyMasked(), "dispatch", s);
                assertMaskedOnlyVictim(out.combineNewlyMasked(), "combine", s);
                collective(buffer, phase, s, true);
                if (s == FAIL_STEP + 1) {
                    int[] expected = new int[RANKS];
                    expected[VICTIM] = 1;
                    assertArrayEquals(expected, buffer.queryMask(), "survivor " + self + " masks exactly the victim");
                    waitAfterDetection = waits(buffer);
                } else if (s > FAIL_STEP + 1) {
                    assertArrayEquals(
                            waitAfterDetection, waits(buffer), "no further waiting on the masked rank after detection");
                }
            }
            if (self != VICTIM) {
                assertArrayEquals(new int[] {0, 0, 1, 0}, buffer.agreeMask(), "survivors agree");
            }
        });
        assertTrue(stop.hasParked(), "the victim reached " + phase);
    }

    @ParameterizedTest(name = "non-elastic, victim stops at {0}")
    @EnumSource(
            value = Phase.class,
            mode = EnumSource.Mode.MATCH_NONE,
            names = {"AGREE", "PREFILL_.*"}) // AGREE: elastic only
    void nonElasticModeThrowsNamingPeerAndPhase(Phase phase) {
        ParkAt stop = new ParkAt(VICTIM, phase, FAIL_STEP + 1);
        Set<Integer> named = java.util.concurrent.ConcurrentHashMap.newKeySet();
        runGroup(config(false, stop), survivorsOnly(), stop::release, (buffer, allocator) -> {
            if (buffer.rank() == VICTIM) {
                for (int s = 0; s < FAIL_STEP; s++) {
                    tighten(buffer, s);
                    StepChecker.step(buffer, allocator, inputs(s), DispatchOptions.BF16, true, Presence.all(RANKS));
                    collective(buffer, phase, s, false);
                }
                runUnchecked(buffer, allocator, FAIL_STEP, phase);
                return;
            }
            PeerTimeoutException failure = null;
            for (int s = 0; s <= FAIL_STEP + 1 && failure == null; s++) {
                tighten(buffer, s);
                try {
                    StepChecker.step(buffer, allocator, inputs(s), DispatchOptions.BF16, true, Presence.all(RANKS));
                    collective(buffer, phase, s, false);
                } catch (PeerTimeoutException e) {
                    failure = e;
                }
            }
            assertNotNull(failure, "rank " + buffer.rank() + " detected the stopped peer");
            NonElasticFailure.assertReported(failure, buffer, named);
        });
        assertTrue(stop.hasParked());
        assertTrue(named.contains(VICTIM), "some survivor named the stopped rank; named " + named);
    }

    @ParameterizedTest(name = "victim stalls at {0}, then is readmitted")
    @EnumSource(
            value = Phase.class,
            names = {"DISPATCH_SEND", "DISPATCH_RECV", "COMBINE_RECV", "BARRIER"})
    void stalledRankIsMaskedThenReadmitted(Phase phase) {
        CountDownLatch survivorsPastFailure = new CountDownLatch(RANKS - 1);
        ParkAt stop = new ParkAt(VICTIM, phase, FAIL_STEP + 1);
        int readmitStep = FAIL_STEP + 2;
        int steps = readmitStep + 3;
        runGroup(config(true, stop), null, stop::release, (buffer, allocator) -> {
            int self = buffer.rank();
            if (self == VICTIM) {
                for (int s = 0; s <= FAIL_STEP; s++) {
                    tighten(buffer, s);
                    if (s < FAIL_STEP) {
                        StepChecker.step(buffer, allocator, inputs(s), DispatchOptions.BF16, true, Presence.all(RANKS));
                        collective(buffer, phase, s, false);
                    } else {
                        runUnchecked(buffer, allocator, s, phase);
                    }
                }
                assertTrue(buffer.readmit(VICTIM, Duration.ofSeconds(30)), "readmitted");
            } else {
                for (int s = 0; s < readmitStep; s++) {
                    tighten(buffer, s);
                    StepChecker.step(buffer, allocator, inputs(s), DispatchOptions.BF16, true, presence(phase, s));
                    collective(buffer, phase, s, false);
                }
                survivorsPastFailure.countDown();
                if (self == 0) {
                    survivorsPastFailure.await();
                    stop.release();
                }
                assertTrue(buffer.readmit(VICTIM, Duration.ofSeconds(30)), "survivor readmits the victim");
            }
            assertArrayEquals(new int[RANKS], buffer.queryMask(), "everyone active again");
            for (int s = readmitStep; s < steps; s++) {
                StepChecker.StepOutcome out = StepChecker.step(
                        buffer, allocator, inputs(s), DispatchOptions.BF16, s % 2 == 1, Presence.all(RANKS));
                assertEquals(0, out.dispatchMaskedCount());
                collective(buffer, phase, s, false);
            }
            assertArrayEquals(new int[RANKS], buffer.agreeMask());
        });
        assertTrue(stop.hasParked());
    }

    /** The victim's step without checks (its view is not the survivors'). */
    private static void runUnchecked(ElasticBuffer buffer, BufferAllocator allocator, int s, Phase phase)
            throws Exception {
        try {
            StepChecker.stepUnchecked(buffer, allocator, inputs(s)[buffer.rank()]);
            collective(buffer, phase, s, false);
        } catch (IllegalStateException expected) {
            // non-elastic victims fail too once released; only survivors are checked
        }
    }

    private static void tighten(ElasticBuffer buffer, int step) {
        if (step == 1) {
            buffer.setTimeout(TIMEOUT);
        }
    }

    private static boolean[] survivorsOnly() {
        boolean[] awaited = new boolean[RANKS];
        Arrays.fill(awaited, true);
        awaited[VICTIM] = false;
        return awaited;
    }

    private static long[] waits(ElasticBuffer buffer) {
        long[] d = buffer.dispatchWaitNanos();
        long[] c = buffer.combineWaitNanos();
        return new long[] {d[VICTIM], c[VICTIM]};
    }

    private static void assertMaskedOnlyVictim(int[] masked, String where, int s) {
        for (int r : masked) {
            assertEquals(VICTIM, r, where + " of step " + s + " masked a healthy rank");
        }
    }
}
