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

import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.Stalls.Injector;
import io.tokenroute.routing.testkit.Stalls.Stall;
import io.tokenroute.routing.testkit.StepChecker;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A randomized soak: many steps with random stalls at random phases and readmits; every survivor checks every step
 * against the reference, and only the stalled rank is ever masked. {@code -Dtokenroute.soak.steps=N} runs longer.
 */
public abstract class SoakSuite {
    private static final int RANKS = 8;
    private static final int EXPERTS = 16;
    private static final int TOP_K = 4;
    private static final int HIDDEN = 16;
    private static final int MAX_TOKENS = 6;
    private static final Duration TIMEOUT = Duration.ofMillis(250);
    private static final Phase[] PHASES = {
        Phase.BEFORE_DISPATCH,
        Phase.DISPATCH_SEND,
        Phase.DISPATCH_RECV,
        Phase.COMBINE_SEND,
        Phase.COMBINE_RECV,
        Phase.BARRIER
    };

    /** Runs {@code body} on every rank of a fresh group, each on its own thread; all ranks are checked. */
    protected abstract void runGroup(BufferConfig config, ConformanceSuite.GroupBody body);

    /**
     * What the transport under test does ({@link ElasticGroup#capabilities()}); the Java protocol's by default. A test
     * that relies on a capability the transport lacks is skipped, with the reason.
     */
    protected Set<ElasticGroup.Capability> capabilities() {
        return ElasticGroup.Capability.javaProtocol();
    }

    private static List<Stall> schedule(long seed, int steps) {
        Random rng = new Random(seed);
        List<Stall> out = new ArrayList<>();
        int s = 20 + rng.nextInt(20);
        while (s + 10 < steps) {
            int back = s + 2 + rng.nextInt(4);
            out.add(new Stall(
                    s, rng.nextInt(RANKS), PHASES[rng.nextInt(PHASES.length)], 0, back, new CountDownLatch(RANKS - 1)));
            s = back + 60 + rng.nextInt(200);
        }
        return out;
    }

    @Test
    void randomStallsAndReadmitsNeverCorruptSurvivors() {
        int steps = Integer.getInteger("tokenroute.soak.steps", 10_000);
        List<Stall> stalls = schedule(4242, steps);
        Injector injector = new Injector(RANKS);
        BufferConfig config = BufferConfig.builder()
                .ranks(RANKS)
                .experts(EXPERTS)
                .maxTopK(TOP_K)
                .hidden(HIDDEN)
                .maxTokensPerRank(MAX_TOKENS)
                .timeout(Duration.ofSeconds(20))
                .phaseListener(injector)
                .build();
        AtomicInteger checkedSteps = new AtomicInteger();
        runGroup(config, (buffer, allocator) -> {
            int self = buffer.rank();
            int next = 0;
            for (int s = 0; s < steps; s++) {
                if (s == 1) {
                    buffer.setTimeout(TIMEOUT);
                }
                while (next < stalls.size() && stalls.get(next).back() <= s) {
                    next++;
                }
                Stall current = next < stalls.size() && stalls.get(next).step() <= s ? stalls.get(next) : null;
                RankInput[] inputs = inputs(s);
                if (current != null && current.victim() == self) {
                    injector.arm(self, current);
                    runUnchecked(
                            buffer,
                            allocator,
                            inputs,
                            current,
                            capabilities().contains(ElasticGroup.Capability.MASKED_RANK_NOTICE));
                    assertTrue(buffer.readmit(self, Duration.ofSeconds(60)), "rank " + self + " readmitted");
                    s = current.back() - 1;
                    continue;
                }
                if (current != null && s == current.back() - 1) {
                    checkStep(buffer, allocator, inputs, current, s);
                    current.survivorsReady().countDown();
                    assertTrue(buffer.readmit(current.victim(), Duration.ofSeconds(60)), "survivor readmits");
                    assertArrayEquals(new int[RANKS], buffer.queryMask(), "everyone back after readmit");
                    continue;
                }
                checkStep(buffer, allocator, inputs, current, s);
                if (self == 0) {
                    checkedSteps.incrementAndGet();
                }
            }
        });
        assertEquals(stalls.size(), injector.parkings(), "every scheduled stall happened");
        assertTrue(checkedSteps.get() > steps / 2, "most steps were checked on rank 0");
    }

    private static void checkStep(
            ElasticBuffer buffer,
            org.apache.arrow.memory.BufferAllocator allocator,
            RankInput[] inputs,
            Stall current,
            int s) {
        Presence presence = current == null ? Presence.all(RANKS) : presenceDuring(current, s);
        StepChecker.StepOutcome out;
        try {
            out = StepChecker.step(buffer, allocator, inputs, DispatchOptions.BF16, s % 3 == 0, presence);
        } catch (AssertionError e) {
            throw new AssertionError(
                    "rank " + buffer.rank() + " step " + s + " during " + current + ", mask "
                            + java.util.Arrays.toString(buffer.queryMask()) + ": " + e.getMessage(),
                    e);
        }
        for (int r : out.dispatchNewlyMasked()) {
            assertEquals(current == null ? -1 : current.victim(), r, "step " + s + ": a healthy rank was masked");
        }
        for (int r : out.combineNewlyMasked()) {
            assertEquals(current == null ? -1 : current.victim(), r, "step " + s + ": a healthy rank was masked");
        }
        buffer.barrier();
        if (current != null && s > current.step()) {
            int[] expected = new int[RANKS];
            expected[current.victim()] = 1;
            assertArrayEquals(expected, buffer.queryMask(), "step " + s + ": exactly the stalled rank is masked");
        }
    }

    private static Presence presenceDuring(Stall stall, int s) {
        if (s > stall.step()) {
            return Presence.without(RANKS, stall.victim());
        }
        Presence p = Presence.all(RANKS);
        Phase phase = stall.phase();
        if (phase == Phase.BEFORE_DISPATCH || phase == Phase.DISPATCH_SEND) {
            p.dispatchSources()[stall.victim()] = false;
        }
        if (phase != Phase.COMBINE_RECV && phase != Phase.BARRIER) {
            p.combineExperts()[stall.victim()] = false;
        }
        return p;
    }

    /**
     * The stalled rank's step: once released it finds out that its peers masked it, and stops. Stalled in the barrier
     * after its step, it may also pass that barrier (its peers had all arrived before they masked it) and find out at
     * its next call. On a transport without {@link ElasticGroup.Capability#MASKED_RANK_NOTICE} nobody tells it: it
     * runs its late step to the end (its own view, unchecked) and then asks to come back like a told rank.
     */
    private static void runUnchecked(
            ElasticBuffer buffer,
            org.apache.arrow.memory.BufferAllocator allocator,
            RankInput[] inputs,
            Stall stall,
            boolean told) {
        if (!told) {
            StepChecker.stepUnchecked(buffer, allocator, inputs[buffer.rank()]);
            buffer.barrier();
            return;
        }
        try {
            StepChecker.stepUnchecked(buffer, allocator, inputs[buffer.rank()]);
            buffer.barrier();
        } catch (RankMaskedException e) {
            assertEquals(buffer.rank(), e.rank());
            return;
        }
        assertEquals(
                Phase.BARRIER,
                stall.phase(),
                "rank " + buffer.rank() + " was not told its peers masked it after " + stall);
        org.junit.jupiter.api.Assertions.assertThrows(
                RankMaskedException.class, buffer::barrier, "its next call tells it");
    }

    private static RankInput[] inputs(int s) {
        RankInput[] in = new RankInput[RANKS];
        for (int r = 0; r < RANKS; r++) {
            in[r] = RankInput.random(99, s, r, MAX_TOKENS, HIDDEN, TOP_K, EXPERTS, true);
        }
        return in;
    }
}
