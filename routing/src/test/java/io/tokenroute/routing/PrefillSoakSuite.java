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
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.testkit.BusyProcesses;
import io.tokenroute.routing.testkit.Capabilities;
import io.tokenroute.routing.testkit.PrefillChecker;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.Stalls.Injector;
import io.tokenroute.routing.testkit.Stalls.Stall;
import io.tokenroute.routing.testkit.StepChecker;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The prefill mode over many steps: random stalls in the middle of prefill streams with readmission (survivors'
 * outputs explained token by token, only the stalled rank ever masked), and healthy prefill steps on an overloaded host
 * (outputs exact for each rank's own mask, agreements identical, false masks counted and recovered from). Prefill and
 * low-latency steps alternate on the same buffers. {@code -Dtokenroute.soak.prefillSteps=N} and
 * {@code -Dtokenroute.overload.prefillSteps=N} run longer.
 */
public abstract class PrefillSoakSuite {
    private static final int RANKS = 4;
    private static final int EXPERTS = 16;
    private static final int TOP_K = 4;
    private static final int HIDDEN = 32;
    private static final int TOKENS = 40;
    private static final int CHUNK_ROWS = 4;
    private static final int CHUNKS = 2;
    private static final int LOW_LATENCY_TOKENS = 6;
    private static final Duration TIMEOUT = Duration.ofMillis(250);
    private static final Phase[] PHASES = {Phase.PREFILL_NOTIFY, Phase.PREFILL_DISPATCH, Phase.PREFILL_COMBINE};

    /** Runs {@code body} on every rank of a fresh group, each on its own thread; all ranks are checked. */
    protected abstract void runGroup(BufferConfig config, ConformanceSuite.GroupBody body);

    /**
     * What the transport under test does ({@link ElasticGroup#capabilities()}); the Java protocol's by default. A test
     * that relies on a capability the transport lacks is skipped, with the reason.
     */
    protected Set<ElasticGroup.Capability> capabilities() {
        return ElasticGroup.Capability.javaProtocol();
    }

    private static BufferConfig.Builder shape() {
        return BufferConfig.builder()
                .ranks(RANKS)
                .experts(EXPERTS)
                .maxTopK(TOP_K)
                .hidden(HIDDEN)
                .maxTokensPerRank(LOW_LATENCY_TOKENS)
                .prefillMaxTokensPerRank(TOKENS)
                .prefillChunkRows(CHUNK_ROWS)
                .prefillChunks(CHUNKS)
                .timeout(Duration.ofSeconds(20));
    }

    /**
     * Stalls at random steps; a streaming phase parks at a random one of its first chunks (with {@link #TOKENS} tokens
     * per rank a rank writes more chunks than that).
     */
    private static List<Stall> schedule(long seed, int steps) {
        Random rng = new Random(seed);
        List<Stall> out = new ArrayList<>();
        int s = 5 + rng.nextInt(5);
        while (s + 6 < steps) {
            int back = s + 2 + rng.nextInt(3);
            Phase phase = PHASES[rng.nextInt(PHASES.length)];
            out.add(new Stall(
                    s,
                    rng.nextInt(RANKS),
                    phase,
                    phase == Phase.PREFILL_NOTIFY ? 0 : rng.nextInt(5),
                    back,
                    new CountDownLatch(RANKS - 1)));
            s = back + 5 + rng.nextInt(20);
        }
        return out;
    }

    @Test
    void randomStallsMidStreamNeverCorruptSurvivors() {
        Capabilities.require(
                capabilities(),
                ElasticGroup.Capability.MASKED_RANK_NOTICE,
                "the stalled rank must be told that its peers masked it");
        int steps = Integer.getInteger("tokenroute.soak.prefillSteps", 150);
        List<Stall> stalls = schedule(1717, steps);
        Injector injector = new Injector(RANKS);
        AtomicInteger checkedSteps = new AtomicInteger();
        runGroup(shape().phaseListener(injector).build(), (buffer, allocator) -> {
            int self = buffer.rank();
            int next = 0;
            boolean[] none = new boolean[RANKS];
            for (int s = 0; s < steps; s++) {
                if (s == 1) {
                    buffer.setTimeout(TIMEOUT);
                }
                while (next < stalls.size() && stalls.get(next).back() <= s) {
                    next++;
                }
                Stall current = next < stalls.size() && stalls.get(next).step() <= s ? stalls.get(next) : null;
                if (current != null && current.victim() == self) {
                    injector.arm(self, current);
                    runStalled(buffer, allocator, s);
                    assertTrue(buffer.readmit(self, Duration.ofSeconds(60)), "rank " + self + " readmitted");
                    s = current.back() - 1;
                    continue;
                }
                boolean[] victim = new boolean[RANKS];
                if (current != null) {
                    victim[current.victim()] = true;
                }
                boolean during = current != null && s == current.step();
                boolean after = current != null && s > current.step();
                checkStep(buffer, allocator, s, after ? victim : none, during ? victim : none, current);
                if (current != null && s == current.back() - 1) {
                    current.survivorsReady().countDown();
                    assertTrue(buffer.readmit(current.victim(), Duration.ofSeconds(60)), "survivor readmits");
                    assertArrayEquals(new int[RANKS], buffer.queryMask(), "everyone back after readmit");
                } else if (self == 0) {
                    checkedSteps.incrementAndGet();
                }
            }
        });
        assertEquals(stalls.size(), injector.parkings(), "every scheduled stall happened");
        assertTrue(checkedSteps.get() > steps / 2, "most steps were checked on rank 0");
    }

    /** A prefill step checked token by token, then a low-latency step, on a survivor. */
    private static void checkStep(
            ElasticBuffer buffer,
            org.apache.arrow.memory.BufferAllocator allocator,
            int s,
            boolean[] absent,
            boolean[] doubtful,
            Stall current) {
        int victim = current == null ? -1 : current.victim();
        PrefillChecker.Outcome out;
        try {
            out = PrefillChecker.step(buffer, allocator, inputs(s), DispatchOptions.BF16, absent, doubtful);
        } catch (AssertionError e) {
            throw new AssertionError(
                    "rank " + buffer.rank() + " step " + s + " during " + current + ", mask "
                            + Arrays.toString(buffer.queryMask()) + ": " + e.getMessage(),
                    e);
        }
        for (int r : out.dispatchNewlyMasked()) {
            assertEquals(victim, r, "step " + s + ": prefill dispatch masked a healthy rank");
        }
        for (int r : out.combineNewlyMasked()) {
            assertEquals(victim, r, "step " + s + ": prefill combine masked a healthy rank");
        }
        boolean victimOut = current != null && s >= current.step();
        StepChecker.StepOutcome ll = StepChecker.step(
                buffer,
                allocator,
                lowLatencyInputs(s),
                DispatchOptions.BF16,
                s % 2 == 0,
                victimOut ? Presence.without(RANKS, victim) : Presence.all(RANKS));
        for (int r : ll.dispatchNewlyMasked()) {
            assertEquals(victim, r, "step " + s + ": low-latency dispatch masked a healthy rank");
        }
        if (victimOut) {
            int[] expected = new int[RANKS];
            expected[victim] = 1;
            assertArrayEquals(expected, buffer.queryMask(), "step " + s + ": exactly the stalled rank is masked");
        }
    }

    /** The stalled rank's prefill step: once released it finds out that its peers masked it. */
    private static void runStalled(ElasticBuffer buffer, org.apache.arrow.memory.BufferAllocator allocator, int s) {
        try {
            PrefillChecker.unchecked(buffer, allocator, inputs(s)[buffer.rank()]);
            StepChecker.stepUnchecked(buffer, allocator, lowLatencyInputs(s)[buffer.rank()]);
        } catch (RankMaskedException e) {
            assertEquals(buffer.rank(), e.rank());
            return;
        }
        throw new AssertionError("rank " + buffer.rank() + " was not told its peers masked it");
    }

    @Test
    void healthyPrefillOnAnOverloadedHostStaysExactAndAgreed() {
        Capabilities.require(
                capabilities(),
                ElasticGroup.Capability.CONFIRMED_AGREEMENT,
                "every agreement must give every live rank the same mask");
        Capabilities.require(
                capabilities(),
                ElasticGroup.Capability.MASKED_RANK_NOTICE,
                "a rank masked by mistake must be told, to ask to come back");
        Capabilities.require(
                capabilities(),
                ElasticGroup.Capability.READMIT_REQUESTS,
                "the survivors readmit the ranks that ask (readmitRequesting)");
        int steps = Integer.getInteger("tokenroute.overload.prefillSteps", 150);
        Duration timeout = Duration.ofMillis(Long.getLong("tokenroute.overload.timeoutMillis", 20));
        List<String> splits = java.util.Collections.synchronizedList(new ArrayList<>());
        java.util.Map<Integer, String> agreements = new java.util.concurrent.ConcurrentHashMap<>();
        AtomicInteger falseMasks = new AtomicInteger();
        AtomicInteger readmitted = new AtomicInteger();
        long start = System.nanoTime();
        try (BusyProcesses busy = new BusyProcesses(4)) {
            runGroup(shape().build(), (buffer, allocator) -> {
                int self = buffer.rank();
                boolean[] others = new boolean[RANKS];
                Arrays.fill(others, true);
                others[self] = false;
                int s = 0;
                while (s < steps) {
                    if (s == 1) {
                        buffer.setTimeout(timeout);
                    }
                    try {
                        boolean[] absent = maskedIn(buffer);
                        boolean[] doubtful = others.clone();
                        for (int r = 0; r < RANKS; r++) {
                            doubtful[r] &= !absent[r];
                        }
                        PrefillChecker.step(buffer, allocator, inputs(s), DispatchOptions.BF16, absent, doubtful);
                        StepChecker.stepByOwnMask(buffer, allocator, lowLatencyInputs(s), DispatchOptions.BF16, true);
                        s = OverloadSuite.afterStep(buffer, s, agreements, splits, readmitted);
                    } catch (RankMaskedException e) {
                        falseMasks.incrementAndGet();
                        s = OverloadSuite.comeBack(buffer, s);
                        if (s < 0) {
                            return;
                        }
                    }
                }
            });
            assertEquals(4, busy.count(), "the overload lasted the whole run");
        }
        System.out.printf(
                "prefill overload soak: %d steps x %d ranks, 4 busy processes, %.1f s, timeout %s: %d false"
                        + " masks, %d readmissions%n",
                steps, RANKS, (System.nanoTime() - start) / 1e9, timeout, falseMasks.get(), readmitted.get());
        assertTrue(splits.isEmpty(), "every agreement gave every live rank the same mask: " + splits);
    }

    private static boolean[] maskedIn(ElasticBuffer buffer) {
        int[] mask = buffer.queryMask();
        boolean[] masked = new boolean[mask.length];
        for (int r = 0; r < mask.length; r++) {
            masked[r] = mask[r] != 0;
        }
        return masked;
    }

    private static RankInput[] inputs(long step) {
        RankInput[] in = new RankInput[RANKS];
        for (int r = 0; r < RANKS; r++) {
            in[r] = RankInput.random(new Random(5_003L * step + r), TOKENS, HIDDEN, TOP_K, EXPERTS);
        }
        return in;
    }

    private static RankInput[] lowLatencyInputs(long step) {
        RankInput[] in = new RankInput[RANKS];
        for (int r = 0; r < RANKS; r++) {
            in[r] = RankInput.random(77, step, r, LOW_LATENCY_TOKENS, HIDDEN, TOP_K, EXPERTS, true);
        }
        return in;
    }
}
