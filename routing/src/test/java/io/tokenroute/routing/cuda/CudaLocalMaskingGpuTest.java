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
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.PeerTimeoutException;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.testkit.RankInput;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The {@code cuda-local} batched driver's elasticity on a real GPU: a rank not launched at dispatch or at combine, a
 * stalled rank masked and running late without harm, a late rank redoing its step without the peers that moved on,
 * engine masking, non-elastic failure and recovery, collectives with a missing rank, and bad input refused before any
 * kernel runs.
 */
class CudaLocalMaskingGpuTest extends CudaLocalGpuBase {
    static Stream<Arguments> victims() {
        return Stream.of(Arguments.of(2, 1), Arguments.of(4, 3), Arguments.of(8, 5));
    }

    @ParameterizedTest(name = "R={0}, rank {1} never launched at dispatch")
    @MethodSource("victims")
    void rankMissingAtDispatchIsMaskedWithinTimeout(int ranks, int victim) {
        int experts = 4 * ranks;
        BufferConfig c = config(ranks, experts, 4, 256, 16, true, Duration.ofMillis(20), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            CudaStepChecker.healthyStep(
                    group, allocator, inputs(ranks, 1, 0, 16, 256, 4, experts), DispatchOptions.BF16, true);
            boolean[] survivors = without(ranks, victim);
            long t0 = System.nanoTime();
            CudaStepChecker.Outcome out = CudaStepChecker.step(
                    group,
                    allocator,
                    inputs(ranks, 1, 1, 16, 256, 4, experts),
                    DispatchOptions.BF16,
                    survivors,
                    survivors,
                    survivors,
                    each(ranks, survivors),
                    each(ranks, survivors),
                    false);
            long detection = System.nanoTime() - t0;
            for (int r = 0; r < ranks; r++) {
                if (r != victim) {
                    assertArrayEquals(new int[] {victim}, out.dispatchNewly()[r], "rank " + r + " reports the victim");
                    assertEquals(0, out.combineNewly()[r].length, "already masked: no second timeout in combine");
                    assertEquals(1, group.queryMask(r)[victim]);
                }
            }
            assertTrue(detection < Duration.ofSeconds(2).toNanos(), "detection took " + detection + " ns");
            // Later steps skip the masked rank at once.
            for (int s = 2; s < 4; s++) {
                CudaStepChecker.Outcome next = CudaStepChecker.step(
                        group,
                        allocator,
                        inputs(ranks, 1, s, 16, 256, 4, experts),
                        DispatchOptions.FP8,
                        survivors,
                        survivors,
                        survivors,
                        each(ranks, survivors),
                        each(ranks, survivors),
                        s % 2 == 0);
                for (int r = 0; r < ranks; r++) {
                    if (r != victim) {
                        assertEquals(0, next.dispatchNewly()[r].length);
                    }
                }
            }
            assertTrue(group.readmit(victim, survivors), "readmitted");
            CudaStepChecker.healthyStep(
                    group, allocator, inputs(ranks, 1, 9, 16, 256, 4, experts), DispatchOptions.BF16, false);
        }
    }

    @ParameterizedTest(name = "R={0}, rank {1} never launched at combine")
    @MethodSource("victims")
    void rankMissingAtCombineLosesItsExpertsWeight(int ranks, int victim) {
        int experts = 4 * ranks;
        BufferConfig c = config(ranks, experts, 4, 256, 16, true, Duration.ofMillis(20), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            boolean[] all = without(ranks);
            boolean[] survivors = without(ranks, victim);
            CudaStepChecker.Outcome out = CudaStepChecker.step(
                    group,
                    allocator,
                    inputs(ranks, 2, 1, 16, 256, 4, experts),
                    DispatchOptions.BF16,
                    all,
                    survivors,
                    survivors,
                    each(ranks, all),
                    each(ranks, survivors),
                    true);
            for (int r = 0; r < ranks; r++) {
                if (r != victim) {
                    assertEquals(0, out.dispatchNewly()[r].length);
                    assertArrayEquals(new int[] {victim}, out.combineNewly()[r]);
                }
            }
            CudaStepChecker.step(
                    group,
                    allocator,
                    inputs(ranks, 2, 2, 16, 256, 4, experts),
                    DispatchOptions.BF16,
                    survivors,
                    survivors,
                    survivors,
                    each(ranks, survivors),
                    each(ranks, survivors),
                    false);
            assertTrue(group.readmit(victim, survivors));
            CudaStepChecker.healthyStep(
                    group, allocator, inputs(ranks, 2, 3, 16, 256, 4, experts), DispatchOptions.FP8_ROUND_SCALE, true);
        }
    }

    @Test
    void stalledRankIsMaskedThenRunsLateWithoutHarm() {
        int ranks = 4;
        int victim = 2;
        BufferConfig c = config(ranks, 16, 4, 256, 16, true, Duration.ofMillis(20), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            CudaStepChecker.healthyStep(
                    group, allocator, inputs(ranks, 3, 0, 16, 256, 4, 16), DispatchOptions.BF16, true);
            boolean[] all = without(ranks);
            boolean[] survivors = without(ranks, victim);
            group.stall(victim);
            CudaStepChecker.Outcome out = CudaStepChecker.step(
                    group,
                    allocator,
                    inputs(ranks, 3, 1, 16, 256, 4, 16),
                    DispatchOptions.BF16,
                    all,
                    all,
                    survivors,
                    each(ranks, survivors),
                    each(ranks, survivors),
                    true);
            assertNull(out.dispatchNewly()[victim], "a stalled rank has no result yet");
            for (int r = 0; r < ranks; r++) {
                if (r != victim) {
                    assertArrayEquals(new int[] {victim}, out.dispatchNewly()[r]);
                }
            }
            group.release(victim);
            group.awaitRank(victim);
            assertNotNull(group.lastDispatch(victim));
            assertArrayEquals(new int[ranks], group.queryMask(victim), "the late rank itself masked nobody");
            assertTrue(group.readmit(victim, survivors));
            CudaStepChecker.healthyStep(
                    group, allocator, inputs(ranks, 3, 2, 16, 256, 4, 16), DispatchOptions.BF16, false);
        }
    }

    @Test
    void lateRankDetectsPeersThatMovedOnAndRedoesTheStepWithoutThem() {
        int ranks = 4;
        int victim = 2;
        BufferConfig c = config(ranks, 16, 4, 256, 16, true, Duration.ofMillis(20), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            boolean[] all = without(ranks);
            boolean[] survivors = without(ranks, victim);
            boolean[] onlyVictim = new boolean[ranks];
            onlyVictim[victim] = true;
            group.stall(victim);
            RankInput[] stalledStep = inputs(ranks, 8, 1, 16, 256, 4, 16);
            CudaStepChecker.step(
                    group,
                    allocator,
                    stalledStep,
                    DispatchOptions.BF16,
                    all,
                    all,
                    survivors,
                    each(ranks, survivors),
                    each(ranks, survivors),
                    true);
            // Two more steps without the victim: its staging slot of the stalled step is rewritten by the survivors.
            for (int s = 2; s < 4; s++) {
                CudaStepChecker.step(
                        group,
                        allocator,
                        inputs(ranks, 8, s, 16, 256, 4, 16),
                        DispatchOptions.BF16,
                        survivors,
                        survivors,
                        survivors,
                        each(ranks, survivors),
                        each(ranks, survivors),
                        s == 2);
            }
            group.release(victim);
            group.awaitRank(victim);
            CudaDispatched late = group.lastDispatch(victim);
            int[] expectedMasked = {0, 1, 3};
            assertArrayEquals(expectedMasked, late.newlyMasked(), "the late rank dropped every peer that moved on");
            CudaStepChecker.checkDispatch(group, late, stalledStep, victim, 4, DispatchOptions.BF16, onlyVictim);
            int[] mask = group.queryMask(victim);
            for (int p : expectedMasked) {
                assertEquals(1, mask[p]);
            }
            group.buffer(victim).clearMask();
            assertTrue(group.readmit(victim, survivors));
            CudaStepChecker.healthyStep(
                    group, allocator, inputs(ranks, 8, 5, 16, 256, 4, 16), DispatchOptions.BF16, true);
        }
    }

    @Test
    void engineMaskingSkipsARankWithoutWaiting() {
        int ranks = 4;
        int victim = 1;
        BufferConfig c = config(ranks, 8, 2, 128, 8, true, Duration.ofSeconds(30), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            boolean[] survivors = without(ranks, victim);
            for (int r = 0; r < ranks; r++) {
                if (r != victim) {
                    group.buffer(r).updateMask(victim, true);
                }
            }
            long t0 = System.nanoTime();
            CudaStepChecker.Outcome out = CudaStepChecker.step(
                    group,
                    allocator,
                    inputs(ranks, 4, 1, 8, 128, 2, 8),
                    DispatchOptions.BF16,
                    survivors,
                    survivors,
                    survivors,
                    each(ranks, survivors),
                    each(ranks, survivors),
                    true);
            assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(10).toNanos(), "no 30 s timeout was waited");
            for (int r = 0; r < ranks; r++) {
                if (r != victim) {
                    assertEquals(0, out.dispatchNewly()[r].length, "engine masking is not a new mask");
                }
            }
            assertThrows(IllegalArgumentException.class, () -> group.buffer(0).updateMask(0, true), "no self-masking");
            int[][] agreed = group.agreeMask(survivors);
            assertEquals(1, agreed[0][victim]);
            group.buffer(0).clearMask();
            assertArrayEquals(new int[ranks], group.queryMask(0));
        }
    }

    @Test
    void nonElasticTimeoutFailsNamesPeerAndPhaseUntilCleanBuffer() {
        int ranks = 4;
        int victim = 3;
        BufferConfig c = config(ranks, 8, 2, 128, 8, false, Duration.ofMillis(10), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            RankInput[] in = inputs(ranks, 5, 1, 8, 128, 2, 8);
            List<TokenBatch> batches = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                batches.add(r == victim ? null : in[r].toBatch(allocator));
            }
            try {
                PeerTimeoutException e =
                        assertThrows(PeerTimeoutException.class, () -> group.dispatch(batches, DispatchOptions.BF16));
                assertEquals(victim, e.peer());
                assertEquals(Phase.DISPATCH_RECV, e.phase());
                assertThrows(
                        IllegalStateException.class,
                        () -> group.dispatch(batches, DispatchOptions.BF16),
                        "a failed buffer refuses work");
                assertThrows(IllegalStateException.class, () -> group.queryMask(0), "mask API is elastic-only");
            } finally {
                batches.forEach(b -> {
                    if (b != null) {
                        b.close();
                    }
                });
            }
            group.cleanBuffer();
            CudaStepChecker.healthyStep(
                    group, allocator, inputs(ranks, 5, 2, 8, 128, 2, 8), DispatchOptions.BF16, true);
        }
    }

    // ------------------------------------------------------------------------------------------------ collectives

    @Test
    void barrierAndAllGatherToleratesAMissingRank() {
        int ranks = 4;
        BufferConfig c = config(ranks, 8, 2, 128, 8, true, Duration.ofMillis(20), HiddenDtype.BF16);
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            group.barrier();
            byte[][] payloads = new byte[ranks][];
            for (int r = 0; r < ranks; r++) {
                payloads[r] = new byte[r * 7 + 1];
                Arrays.fill(payloads[r], (byte) (r + 1));
            }
            byte[][][] views = group.allGather(payloads);
            for (int r = 0; r < ranks; r++) {
                for (int p = 0; p < ranks; p++) {
                    assertArrayEquals(payloads[p], views[r][p], "rank " + r + " sees rank " + p + "'s payload");
                }
            }
            payloads[1] = null;
            views = group.allGather(payloads);
            for (int r = 0; r < ranks; r++) {
                if (r != 1) {
                    assertNull(views[r][1], "masked rank has no payload");
                    assertArrayEquals(payloads[3], views[r][3]);
                }
            }
            boolean[] survivors = without(ranks, 1);
            group.barrier(survivors);
            assertThrows(
                    IllegalArgumentException.class,
                    () -> group.allGather(new byte[][] {new byte[300], null, null, null}),
                    "payload too large");
        }
    }

    /** A collectiveBytes that is not a multiple of 8 (the demo's 516) once put odd slots' lengths off alignment. */
    @ParameterizedTest(name = "collectiveBytes = {0}")
    @ValueSource(ints = {13, 516})
    void allGatherWithUnalignedCollectiveBytes(int collectiveBytes) {
        int ranks = 8;
        BufferConfig c = config(ranks, 8, 2, 128, 8, true, Duration.ofMillis(20), HiddenDtype.BF16).toBuilder()
                .collectiveBytes(collectiveBytes)
                .build();
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            byte[][] payloads = new byte[ranks][];
            Random rng = new Random(collectiveBytes);
            for (int r = 0; r < ranks; r++) {
                payloads[r] = new byte[collectiveBytes - r];
                rng.nextBytes(payloads[r]);
            }
            byte[][][] views = group.allGather(payloads);
            for (int r = 0; r < ranks; r++) {
                for (int p = 0; p < ranks; p++) {
                    assertArrayEquals(payloads[p], views[r][p], "rank " + r + " sees rank " + p + "'s payload");
                }
            }
            int[][] agreed = group.agreeMask(without(ranks));
            for (int[] mask : agreed) {
                assertArrayEquals(new int[ranks], mask, "nobody masked");
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ bad input

    @Test
    void badInputIsRefusedBeforeAnythingIsLaunched() {
        int ranks = 2;
        BufferConfig c = config(ranks, 4, 2, 128, 4, true, Duration.ofMillis(50), HiddenDtype.BF16);
        CudaLocalGroup closedGroup;
        try (CudaLocalGroup group = CudaLocalGroup.open(device, c, allocator)) {
            closedGroup = group;
            RankInput good = RankInput.random(new Random(1), 3, 128, 2, 4);
            expectRefused(
                    group,
                    new RankInput(1, 128, 2, new short[128], new long[] {0, 4}, new float[2]),
                    "expert out of range");
            expectRefused(
                    group,
                    new RankInput(1, 128, 2, new short[128], new long[] {1, 1}, new float[2]),
                    "duplicate expert");
            expectRefused(group, RankInput.random(new Random(2), 5, 128, 2, 4), "n > T");
            expectRefused(group, RankInput.random(new Random(3), 2, 64, 2, 4), "hidden mismatch");
            expectRefused(group, RankInput.random(new Random(4), 2, 128, 3, 4), "k > maxTopK");
            try (TokenBatch fp32 = TokenBatch.fromFloats(
                            allocator, HiddenDtype.FP32, 128, new float[128], 2, new long[] {0, 1}, new float[2]);
                    TokenBatch b = good.toBatch(allocator)) {
                assertThrows(
                        IllegalArgumentException.class,
                        () -> group.dispatch(Arrays.asList(fp32, b), DispatchOptions.BF16),
                        "dtype mismatch");
                assertThrows(
                        IllegalArgumentException.class,
                        () -> group.dispatch(List.of(b), DispatchOptions.BF16),
                        "one entry per rank");
                assertThrows(
                        IllegalArgumentException.class,
                        () -> group.combine(Arrays.asList(b, b)),
                        "combine before dispatch");
            }
            assertThrows(IllegalArgumentException.class, () -> group.queryMask(2), "rank out of range");
            BufferConfig odd = config(2, 4, 2, 100, 4, true, Duration.ofMillis(50), HiddenDtype.BF16);
            try (CudaLocalGroup oddGroup = CudaLocalGroup.open(device, odd, allocator);
                    TokenBatch a = RankInput.random(new Random(5), 2, 100, 2, 4).toBatch(allocator)) {
                assertThrows(
                        IllegalArgumentException.class,
                        () -> oddGroup.dispatch(Arrays.asList(a, a), DispatchOptions.FP8),
                        "fp8 needs H % 128 == 0");
            }
            // The group still works after every refusal, and combine checks its routing.
            RankInput[] in = {good, RankInput.random(new Random(6), 4, 128, 2, 4)};
            CudaStepChecker.healthyStep(group, allocator, in, DispatchOptions.BF16, true);
            try (TokenBatch a = in[0].toBatch(allocator);
                    TokenBatch b = in[1].toBatch(allocator);
                    TokenBatch other =
                            RankInput.random(new Random(7), 3, 128, 2, 4).toBatch(allocator)) {
                group.dispatch(Arrays.asList(a, b), DispatchOptions.BF16);
                assertThrows(
                        IllegalArgumentException.class,
                        () -> group.combine(Arrays.asList(other, b)),
                        "combine routing differs from the dispatch");
                group.combine(Arrays.asList(a, b));
            }
        }
        assertThrows(IllegalStateException.class, () -> closedGroup.barrier(), "calls after close");
    }

    private void expectRefused(CudaLocalGroup group, RankInput bad, String what) {
        RankInput fine = RankInput.random(new Random(9), 2, 128, 2, 4);
        try (TokenBatch b = bad.toBatch(allocator);
                TokenBatch f = fine.toBatch(allocator)) {
            assertThrows(
                    IllegalArgumentException.class,
                    () -> group.dispatch(Arrays.asList(f, b), DispatchOptions.BF16),
                    what);
        }
    }
}
