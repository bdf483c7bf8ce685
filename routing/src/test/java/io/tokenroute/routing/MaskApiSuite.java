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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.testkit.Capabilities;
import io.tokenroute.routing.testkit.ParkAt;
import io.tokenroute.routing.testkit.PhaseLatch;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.Reference;
import io.tokenroute.routing.testkit.StepChecker;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.apache.arrow.memory.BufferAllocator;
import org.junit.jupiter.api.Test;

/**
 * The mask API of docs/contract.md §2/§3 for every transport whose ranks share a JVM with the test (phase listeners,
 * latches): engine-driven masking (no timeout paid), masking from another thread unblocking a wait, agreeMask over
 * disagreeing views followed by readmission, queryMask polarity, and the cumulative receive stats.
 */
public abstract class MaskApiSuite {
    protected static final int RANKS = 4;
    protected static final int EXPERTS = 8;
    protected static final int TOP_K = 4;
    protected static final int HIDDEN = 64;
    protected static final int MAX_TOKENS = 8;
    protected static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final long SEED = 9001;
    private static final Duration LATCH_BOUND = Duration.ofSeconds(20);

    /**
     * Runs {@code body} on every rank of a fresh group. Failures of ranks with {@code checked[r] == false} are ignored
     * ({@code checked == null}: every rank is checked); {@code releaseUnchecked} runs once the checked ranks are done;
     * the group is freed only after every rank ended. The test fails as a hang if the checked ranks take longer than
     * {@code bound}.
     */
    protected abstract void runGroup(
            BufferConfig config,
            boolean[] checked,
            Runnable releaseUnchecked,
            Duration bound,
            ConformanceSuite.GroupBody body);

    /**
     * What the transport under test does ({@link ElasticGroup#capabilities()}); the Java protocol's by default. A test
     * that relies on a capability the transport lacks is skipped, with the reason.
     */
    protected Set<ElasticGroup.Capability> capabilities() {
        return ElasticGroup.Capability.javaProtocol();
    }

    private void runGroup(BufferConfig config, ConformanceSuite.GroupBody body) {
        runGroup(config, null, () -> {}, Duration.ofMinutes(1), body);
    }

    protected static BufferConfig.Builder base() {
        return BufferConfig.builder()
                .ranks(RANKS)
                .experts(EXPERTS)
                .maxTopK(TOP_K)
                .hidden(HIDDEN)
                .maxTokensPerRank(MAX_TOKENS)
                .timeout(TIMEOUT);
    }

    protected static RankInput[] inputs(BufferConfig c, long step) {
        RankInput[] in = new RankInput[c.ranks()];
        for (int r = 0; r < in.length; r++) {
            in[r] = RankInput.random(SEED, step, r, c.maxTokensPerRank(), c.hidden(), c.maxTopK(), c.experts(), false);
        }
        return in;
    }

    /** A checked step with every rank present; nobody newly masked. */
    private static StepChecker.StepOutcome fullStep(ElasticBuffer buffer, BufferAllocator allocator, long s) {
        return checkedStep(
                buffer,
                allocator,
                s,
                DispatchOptions.BF16,
                Presence.all(buffer.config().ranks()));
    }

    private static StepChecker.StepOutcome checkedStep(
            ElasticBuffer buffer, BufferAllocator allocator, long s, DispatchOptions options, Presence presence) {
        StepChecker.StepOutcome out =
                StepChecker.step(buffer, allocator, inputs(buffer.config(), s), options, s % 2 == 0, presence);
        assertEquals(
                0,
                out.dispatchMaskedCount(),
                "rank " + buffer.rank() + " step " + s + ": dispatch timed out on "
                        + java.util.Arrays.toString(out.dispatchNewlyMasked()));
        assertEquals(
                0,
                out.combineNewlyMasked().length,
                "rank " + buffer.rank() + " step " + s + ": combine timed out on "
                        + java.util.Arrays.toString(out.combineNewlyMasked()));
        return out;
    }

    private static int[] maskOf(int ranks, int... masked) {
        int[] m = new int[ranks];
        for (int r : masked) {
            m[r] = 1;
        }
        return m;
    }

    /** Whether some rank other than {@code victim} routes a token to one of {@code victim}'s experts at step s. */
    private static boolean someSurvivorRoutesTo(BufferConfig c, int victim, long s) {
        RankInput[] in = inputs(c, s);
        int local = c.localExperts();
        for (int r = 0; r < in.length; r++) {
            for (long e : in[r].idx()) {
                if (r != victim && e >= 0 && e / local == victim) {
                    return true;
                }
            }
        }
        return false;
    }

    // ------------------------------------------------------------------------------------------------ engine masking

    /**
     * Every survivor masks rank v at a step boundary (v keeps running and does not mask itself): their step equals the
     * reference without v, with exact lost weight, no timeout paid (nothing newly masked, no wait on v recorded, far
     * quicker than the timeout). v finds out in its own step ({@link RankMaskedException} naming the survivors) and is
     * refused until it is back. The survivors' clearMask is refused for work until the cleanBuffer that v joins; after
     * it every rank runs full steps.
     */
    @Test
    void engineDrivenMaskingSkipsTheRankWithoutTimeoutAndTellsIt() {
        Capabilities.require(
                capabilities(),
                ElasticGroup.Capability.MASKED_RANK_NOTICE,
                "the masked rank must find out in its own step (RankMaskedException)");
        int v = 2;
        int maskStep = 2;
        int steps = maskStep + 3;
        BufferConfig config = base().build();
        assertTrue(someSurvivorRoutesTo(config, v, maskStep), "the masked step routes tokens to v (not vacuous)");
        runGroup(config, (buffer, allocator) -> {
            int self = buffer.rank();
            for (int s = 0; s < maskStep; s++) {
                fullStep(buffer, allocator, s);
            }
            if (self == v) {
                // v may already find out at the end of the barrier, if a survivor masked it before v saw the last
                // arrival; else in its step.
                RankMaskedException e = assertThrows(RankMaskedException.class, () -> {
                    buffer.barrier();
                    StepChecker.stepUnchecked(buffer, allocator, inputs(config, maskStep)[v]);
                });
                assertEquals(v, e.rank());
                assertTrue(e.maskedBy().length > 0, e.getMessage());
                for (int r : e.maskedBy()) {
                    assertTrue(r != v, "named a survivor: " + e.getMessage());
                }
                assertArrayEquals(new int[RANKS], buffer.queryMask(), "v did not mask itself or anyone");
                assertThrows(RankMaskedException.class, buffer::barrier, "refused until it is back");
            } else {
                buffer.barrier(); // every rank finished the previous step before the engine masks v
                buffer.updateMask(v, true);
                assertArrayEquals(maskOf(RANKS, v), buffer.queryMask());
                long dispatchWait = buffer.dispatchWaitNanos()[v];
                long combineWait = buffer.combineWaitNanos()[v];
                long start = System.nanoTime();
                checkedStep(buffer, allocator, maskStep, DispatchOptions.BF16, Presence.without(RANKS, v));
                long elapsed = System.nanoTime() - start;
                assertEquals(dispatchWait, buffer.dispatchWaitNanos()[v], "no dispatch wait on the masked rank");
                assertEquals(combineWait, buffer.combineWaitNanos()[v], "no combine wait on the masked rank");
                assertTrue(elapsed < TIMEOUT.toNanos() / 4, "the masked step paid no timeout: " + elapsed + " ns");
                assertArrayEquals(maskOf(RANKS, v), buffer.queryMask());
                buffer.clearMask();
                assertArrayEquals(new int[RANKS], buffer.queryMask());
                IllegalStateException refused = assertThrows(IllegalStateException.class, buffer::barrier);
                assertTrue(refused.getMessage().contains("cleanBuffer"), refused.getMessage());
            }
            buffer.cleanBuffer();
            for (int s = maskStep + 1; s < steps; s++) {
                fullStep(buffer, allocator, s);
            }
            assertArrayEquals(new int[RANKS], buffer.queryMask(), "full again");
            assertArrayEquals(new int[RANKS], buffer.agreeMask(), "everyone agrees nobody is masked");
        });
    }

    // ------------------------------------------------------------------------------------------------ updateMask from
    // another thread

    /**
     * The victim stops before dispatching; the survivors are waiting for its rows with a 30 s timeout. An engine thread
     * sees them all inside that wait (DISPATCH_RECV) and masks the victim on every survivor's buffer: their dispatch
     * returns at once, and their steps equal the reference without the victim.
     */
    @Test
    void updateMaskFromAnotherThreadUnblocksAWaitingRank() throws Exception {
        int victim = 1;
        int failStep = 2;
        int[] survivors = {0, 2, 3};
        Duration longTimeout = Duration.ofSeconds(30);
        ParkAt park = new ParkAt(victim, Phase.BEFORE_DISPATCH, failStep + 1);
        PhaseLatch inside = new PhaseLatch(RANKS, Phase.DISPATCH_RECV, failStep + 1, survivors);
        BufferConfig config = base().timeout(longTimeout)
                .phaseListener(PhaseLatch.both(inside, park))
                .build();
        assertTrue(someSurvivorRoutesTo(config, victim, failStep));
        AtomicReferenceArray<ElasticBuffer> buffers = new AtomicReferenceArray<>(RANKS);
        AtomicReference<Throwable> engineProblem = new AtomicReference<>();
        boolean[] checked = {true, false, true, true};
        Runnable releaseVictim = () -> {
            ElasticBuffer b = buffers.get(victim);
            if (b != null) {
                b.setTimeout(Duration.ofMillis(50)); // its peers moved on: let its stale step end quickly
            }
            park.release();
        };
        long start = System.nanoTime();
        runGroup(config, checked, releaseVictim, Duration.ofSeconds(10), (buffer, allocator) -> {
            int self = buffer.rank();
            buffers.set(self, buffer);
            for (int s = 0; s < failStep; s++) {
                fullStep(buffer, allocator, s);
            }
            if (self == victim) {
                try {
                    StepChecker.stepUnchecked(buffer, allocator, inputs(config, failStep)[victim]);
                } catch (RuntimeException ignored) {
                    // the victim's late step is not checked
                }
                return;
            }
            Thread engine = null;
            if (self == 0) {
                engine = new Thread(
                        () -> {
                            try {
                                if (!inside.await(LATCH_BOUND) || !park.awaitParked(LATCH_BOUND)) {
                                    throw new AssertionError("survivors never waited on the parked victim");
                                }
                                for (int r : survivors) {
                                    buffers.get(r).updateMask(victim, true);
                                }
                            } catch (Throwable t) {
                                engineProblem.set(t);
                            }
                        },
                        "engine");
                engine.setDaemon(true);
                engine.start();
            }
            long stepStart = System.nanoTime();
            StepChecker.StepOutcome out = StepChecker.step(
                    buffer,
                    allocator,
                    inputs(config, failStep),
                    DispatchOptions.BF16,
                    true,
                    Presence.without(RANKS, victim));
            long elapsed = System.nanoTime() - stepStart;
            assertTrue(elapsed < longTimeout.toNanos() / 6, "survivor " + self + " waited " + elapsed / 1e6 + " ms");
            for (int r : out.dispatchNewlyMasked()) {
                assertEquals(victim, r, "only the victim may be reported");
            }
            assertEquals(0, out.combineNewlyMasked().length);
            if (engine != null) {
                engine.join(LATCH_BOUND.toMillis());
                assertFalse(engine.isAlive());
                if (engineProblem.get() != null) {
                    throw new AssertionError("engine thread: " + engineProblem.get(), engineProblem.get());
                }
            }
            assertArrayEquals(maskOf(RANKS, victim), buffer.queryMask());
            checkedStep(buffer, allocator, failStep + 1, DispatchOptions.BF16, Presence.without(RANKS, victim));
            assertArrayEquals(maskOf(RANKS, victim), buffer.queryMask());
        });
        assertTrue(park.hasParked(), "the victim was parked inside dispatch");
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(15).toNanos(), "well before the 30 s timeout");
    }

    // ------------------------------------------------------------------------------------------------ agreeMask,
    // readmit

    /**
     * R = 4: rank 0 masks 3, rank 1 masks 2, ranks 2 and 3 mask nobody. agreeMask gives ranks 0 and 1 the same mask
     * {2, 3}; ranks 2 and 3 learn that their peers masked them (their own entry is 1) and are refused until readmitted.
     * Then rank 2 is readmitted (ranks 0, 1 call readmit(2), rank 2 calls readmit(2) on itself; rank 3 stays out), then
     * rank 3 (ranks 0, 1, 2 call readmit(3), rank 3 on itself); afterwards every rank runs full steps.
     */
    @Test
    void agreeMaskAdoptsTheUnionThenReadmitBringsRanksBack() {
        Capabilities.require(
                capabilities(),
                ElasticGroup.Capability.MASKED_RANK_NOTICE,
                "ranks 2 and 3 must be refused (RankMaskedException) until they are readmitted");
        BufferConfig config = base().build();
        CountDownLatch agreed = new CountDownLatch(RANKS);
        Duration readmitTimeout = Duration.ofSeconds(20);
        runGroup(config, (buffer, allocator) -> {
            int self = buffer.rank();
            fullStep(buffer, allocator, 0);
            buffer.barrier();
            if (self == 0) {
                buffer.updateMask(3, true);
            } else if (self == 1) {
                buffer.updateMask(2, true);
            }
            int[] union = buffer.agreeMask();
            switch (self) {
                case 0, 1 -> {
                    assertArrayEquals(maskOf(RANKS, 2, 3), union, "rank " + self + " got the union");
                    assertArrayEquals(maskOf(RANKS, 2, 3), buffer.queryMask(), "rank " + self + " holds it");
                }
                default -> {
                    assertEquals(1, union[self], "rank " + self + " learned that its peers masked it");
                    assertThrows(RankMaskedException.class, buffer::barrier);
                }
            }
            assertFalse(buffer.isMasked(self), "a rank never masks itself");
            // Ranks 0 and 1 no longer wait for ranks 2 and 3: keep them from moving on while 2 and 3 still agree.
            agreed.countDown();
            assertTrue(agreed.await(LATCH_BOUND.toNanos(), TimeUnit.NANOSECONDS));

            if (self != 3) {
                assertTrue(buffer.readmit(2, readmitTimeout), "rank " + self + ": readmit(2)");
                assertArrayEquals(maskOf(RANKS, 3), buffer.queryMask(), "rank " + self + " after readmit(2)");
            }
            assertTrue(buffer.readmit(3, readmitTimeout), "rank " + self + ": readmit(3)");
            assertArrayEquals(new int[RANKS], buffer.queryMask(), "rank " + self + ": everyone active again");
            for (int s = 1; s <= 3; s++) {
                fullStep(buffer, allocator, s);
            }
            assertArrayEquals(new int[RANKS], buffer.agreeMask(), "everyone agrees nobody is masked");
        });
    }

    // ------------------------------------------------------------------------------------------------ polarity

    /** 1 = masked, 0 = active, and a masked rank is really left out (rank 0 runs a step alone). */
    @Test
    void queryMaskPolarityOneMeansMasked() {
        BufferConfig config = base().ranks(2).experts(4).build();
        runGroup(config, (buffer, allocator) -> {
            int self = buffer.rank();
            assertArrayEquals(new int[] {0, 0}, buffer.queryMask(), "0 = active");
            fullStep(buffer, allocator, 0);
            buffer.barrier();
            if (self == 0) {
                buffer.updateMask(1, true);
                assertArrayEquals(new int[] {0, 1}, buffer.queryMask(), "1 = masked");
                assertTrue(buffer.isMasked(1));
                assertFalse(buffer.isMasked(0));
                int[] copy = buffer.queryMask();
                copy[1] = 0;
                assertArrayEquals(new int[] {0, 1}, buffer.queryMask(), "queryMask returns a copy");
                checkedStep(buffer, allocator, 1, DispatchOptions.BF16, Presence.without(2, 1));
                buffer.updateMask(1, false);
                assertArrayEquals(new int[] {0, 0}, buffer.queryMask());
                buffer.updateMask(1, true);
                buffer.clearMask();
                assertArrayEquals(new int[] {0, 0}, buffer.queryMask());
            }
            buffer.cleanBuffer();
            fullStep(buffer, allocator, 2);
            assertArrayEquals(new int[] {0, 0}, buffer.queryMask());
        });
    }

    // ------------------------------------------------------------------------------------------------ stats

    /** cumulativeRecvStats = Σ over stats-on dispatches of the reference's rows per local expert. */
    @Test
    void cumulativeRecvStatsCountReceivedRows() {
        BufferConfig config = base().build();
        DispatchOptions noStats = new DispatchOptions(false, false, false, false);
        runGroup(config, (buffer, allocator) -> {
            int self = buffer.rank();
            int local = config.localExperts();
            long[] expected = new long[local];
            assertArrayEquals(expected, buffer.cumulativeRecvStats(), "fresh buffer");
            boolean[] all = Presence.all(RANKS).dispatchSources();
            for (int s = 0; s < 6; s++) {
                boolean stats = s != 2 && s != 4;
                checkedStep(buffer, allocator, s, stats ? DispatchOptions.BF16 : noStats, Presence.all(RANKS));
                long received = 0;
                for (int l = 0; l < local; l++) {
                    int rows = Reference.expertRows(inputs(config, s), self, local, l, all)
                            .size();
                    received += rows;
                    if (stats) {
                        expected[l] += rows;
                    }
                }
                assertArrayEquals(
                        expected,
                        buffer.cumulativeRecvStats(),
                        "rank " + self + " after step " + s + (stats ? "" : " (stats off, received " + received + ")"));
            }
            long[] copy = buffer.cumulativeRecvStats();
            copy[0] += 1000;
            assertArrayEquals(expected, buffer.cumulativeRecvStats(), "a copy");
        });
    }
}
