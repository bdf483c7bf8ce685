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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.routing.launch.PhaseListener;
import io.tokenroute.routing.testkit.NonElasticFailure;
import io.tokenroute.routing.testkit.ParkAt;
import io.tokenroute.routing.testkit.PrefillChecker;
import io.tokenroute.routing.testkit.PrefillReference;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.StepChecker;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BitVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The high-throughput (prefill) mode of docs/contract.md §3b for every transport that has it: receive batches, expert
 * index and combine against {@link PrefillReference} with batches many times larger than the queues; a rank stopped
 * before, in the middle of, and after streaming its rows (survivors' outputs explained token by token, the victim
 * masked and nobody else); non-elastic failures naming the peer and the phase; readmission of a stalled rank; bad input
 * refused before anything is sent. A transport's test class extends this and says how to run a group.
 */
public abstract class PrefillSuite {
    protected static final int RANKS = 4;
    protected static final int EXPERTS = 16;
    protected static final int TOP_K = 4;
    protected static final int HIDDEN = 64;
    /** Tokens per rank in the fault tests: ten times the 4 × 2-row queue between two ranks. */
    protected static final int TOKENS = 40;

    protected static final int CHUNK_ROWS = 4;
    protected static final int CHUNKS = 2;
    protected static final int VICTIM = 2;
    protected static final int FAIL_STEP = 2;
    protected static final Duration TIMEOUT = Duration.ofMillis(200);
    private static final Duration WARM_UP_TIMEOUT = Duration.ofSeconds(20);
    private static final long SEED = 919;

    /**
     * Runs {@code body} on every rank of a fresh group. Failures of ranks with {@code checked[r] == false} are ignored
     * ({@code checked == null}: all checked); {@code releaseUnchecked} runs once the checked ranks are done.
     */
    protected abstract void runGroup(
            BufferConfig config, boolean[] checked, Runnable releaseUnchecked, ConformanceSuite.GroupBody body);

    private void runGroup(BufferConfig config, ConformanceSuite.GroupBody body) {
        runGroup(config, null, () -> {}, body);
    }

    // ------------------------------------------------------------------------------------------------ conformance

    static Stream<Arguments> shapes() {
        return Stream.of(
                // ranks, experts, topK, hidden, prefill tokens, chunk rows, chunks
                Arguments.of(1, 4, 2, 64, 20, 4, 2),
                Arguments.of(2, 8, 4, 128, 64, 8, 2),
                Arguments.of(2, 2, 2, 32, 33, 1, 1),
                Arguments.of(4, 16, 8, 128, 48, 4, 3),
                Arguments.of(4, 4, 3, 32, 17, 16, 4),
                Arguments.of(8, 64, 8, 64, 40, 8, 2),
                Arguments.of(8, 8, 1, 16, 24, 2, 4));
    }

    @ParameterizedTest(name = "R={0} E={1} k={2} H={3} T={4} queue={5}x{6}")
    @MethodSource("shapes")
    void dispatchAndCombineMatchReference(
            int ranks, int experts, int topK, int hidden, int tokens, int chunkRows, int chunks) {
        BufferConfig config = BufferConfig.builder()
                .ranks(ranks)
                .experts(experts)
                .maxTopK(topK)
                .hidden(hidden)
                .maxTokensPerRank(4)
                .prefillMaxTokensPerRank(tokens)
                .prefillChunkRows(chunkRows)
                .prefillChunks(chunks)
                .timeout(Duration.ofSeconds(10))
                .build();
        checkSteps(config, DispatchOptions.BF16, 5);
    }

    static Stream<Arguments> fp8Options() {
        return Stream.of(
                Arguments.of(DispatchOptions.FP8),
                Arguments.of(DispatchOptions.FP8_ROUND_SCALE),
                Arguments.of(DispatchOptions.FP8_UE8M0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fp8Options")
    void fp8RowsMatchTheQuantiserBitForBit(DispatchOptions options) {
        BufferConfig config = BufferConfig.builder()
                .ranks(4)
                .experts(8)
                .maxTopK(4)
                .hidden(256)
                .maxTokensPerRank(4)
                .prefillMaxTokensPerRank(30)
                .prefillChunkRows(4)
                .prefillChunks(2)
                .timeout(Duration.ofSeconds(10))
                .build();
        checkSteps(config, options, 3);
    }

    /** Token counts vary per rank and step, 0 and the maximum included, so every queue runs empty, short and full. */
    private void checkSteps(BufferConfig config, DispatchOptions options, int steps) {
        int ranks = config.ranks();
        runGroup(config, (buffer, allocator) -> {
            for (int s = 0; s < steps; s++) {
                RankInput[] inputs = inputs(config, s);
                PrefillChecker.Outcome out = PrefillChecker.healthy(buffer, allocator, inputs, options);
                assertEquals(0, out.dispatchNewlyMasked().length, "healthy prefill dispatch masked nobody");
                assertEquals(0, out.combineNewlyMasked().length, "healthy prefill combine masked nobody");
            }
            assertArrayEquals(new int[ranks], buffer.queryMask(), "no false masks");
        });
    }

    private static RankInput[] inputs(BufferConfig config, long step) {
        int tokens = config.prefillMaxTokensPerRank();
        RankInput[] in = new RankInput[config.ranks()];
        for (int r = 0; r < in.length; r++) {
            Random rng = new Random(SEED * 7_919L + step * 104_729L + r);
            int n = switch ((int) ((step + r) % 4)) {
                case 0 -> 0;
                case 1 -> tokens;
                default -> 1 + rng.nextInt(tokens);
            };
            in[r] = RankInput.random(rng, n, config.hidden(), config.maxTopK(), config.experts());
        }
        return in;
    }

    @Test
    void layoutMatchesPlainLoops() {
        BufferConfig config = faultConfig(true, (rank, phase, step) -> {});
        RankInput mine = RankInput.random(new Random(SEED), TOKENS, HIDDEN, TOP_K, EXPERTS);
        int local = EXPERTS / RANKS;
        try (BufferAllocator allocator = new RootAllocator();
                TokenBatch batch = mine.toBatch(allocator);
                PrefillLayout layout = PrefillLayout.of(batch, config, allocator)) {
            int[] perRank = new int[RANKS];
            int[] perExpert = new int[EXPERTS];
            BitVector inRank = (BitVector) layout.tokenInRank().getDataVector();
            for (int t = 0; t < TOKENS; t++) {
                boolean[] goes = new boolean[RANKS];
                for (int j = 0; j < TOP_K; j++) {
                    long e = mine.idx()[t * TOP_K + j];
                    if (e >= 0) {
                        perExpert[(int) e]++;
                        goes[(int) (e / local)] = true;
                    }
                }
                for (int r = 0; r < RANKS; r++) {
                    perRank[r] += goes[r] ? 1 : 0;
                    assertEquals(goes[r] ? 1 : 0, inRank.get(t * RANKS + r), "token " + t + " in rank " + r);
                }
            }
            assertEquals(TOKENS, layout.tokenInRank().getValueCount());
            for (int r = 0; r < RANKS; r++) {
                assertEquals(perRank[r], layout.tokensPerRank().get(r), "tokens to rank " + r);
            }
            for (int e = 0; e < EXPERTS; e++) {
                assertEquals(perExpert[e], layout.tokensPerExpert().get(e), "tokens to expert " + e);
            }
        }
    }

    @Test
    void lowLatencyAndPrefillStepsInterleaveOnOneBuffer() {
        BufferConfig config = faultConfig(true, (rank, phase, step) -> {});
        runGroup(config, (buffer, allocator) -> {
            for (int s = 0; s < 4; s++) {
                PrefillChecker.Outcome out =
                        PrefillChecker.healthy(buffer, allocator, faultInputs(s), DispatchOptions.BF16);
                assertEquals(0, out.dispatchNewlyMasked().length + out.combineNewlyMasked().length);
                StepChecker.StepOutcome ll = StepChecker.step(
                        buffer, allocator, lowLatencyInputs(s), DispatchOptions.BF16, s % 2 == 0, Presence.all(RANKS));
                assertEquals(0, ll.dispatchMaskedCount());
                if (s == 1) {
                    buffer.cleanBuffer();
                }
            }
            assertArrayEquals(new int[RANKS], buffer.agreeMask(), "nobody masked");
        });
    }

    // ------------------------------------------------------------------------------------------------ faults

    protected static BufferConfig faultConfig(boolean elastic, PhaseListener listener) {
        return BufferConfig.builder()
                .ranks(RANKS)
                .experts(EXPERTS)
                .maxTopK(TOP_K)
                .hidden(HIDDEN)
                .maxTokensPerRank(10)
                .prefillMaxTokensPerRank(TOKENS)
                .prefillChunkRows(CHUNK_ROWS)
                .prefillChunks(CHUNKS)
                .elastic(elastic)
                .timeout(WARM_UP_TIMEOUT)
                .phaseListener(listener)
                .build();
    }

    /** Every rank sends {@link #TOKENS} tokens, so each streams many chunks to each peer. */
    static RankInput[] faultInputs(long step) {
        RankInput[] in = new RankInput[RANKS];
        for (int r = 0; r < RANKS; r++) {
            in[r] = RankInput.random(new Random(SEED + 31L * step + r), TOKENS, HIDDEN, TOP_K, EXPERTS);
        }
        return in;
    }

    private static RankInput[] lowLatencyInputs(long step) {
        RankInput[] in = new RankInput[RANKS];
        for (int r = 0; r < RANKS; r++) {
            in[r] = RankInput.random(SEED, step, r, 10, HIDDEN, TOP_K, EXPERTS, true);
        }
        return in;
    }

    /**
     * Where the victim parks: at its notify in step {@link #FAIL_STEP}, or before the second chunk it writes in that
     * step's dispatch or combine (so some of its rows or partial rows are out, and the rest never come).
     */
    static ParkAt midStream(Phase phase) {
        int before = 0;
        for (int s = 0; s < FAIL_STEP; s++) {
            before += chunksWritten(phase, faultInputs(s));
        }
        int occurrence = phase == Phase.PREFILL_NOTIFY ? FAIL_STEP + 1 : before + 2;
        assertTrue(
                phase == Phase.PREFILL_NOTIFY || chunksWritten(phase, faultInputs(FAIL_STEP)) >= 4,
                "the victim streams enough chunks to stop in the middle");
        return new ParkAt(VICTIM, phase, occurrence);
    }

    /** Chunks the victim writes in one step's prefill dispatch or combine (how often it reports that phase). */
    private static int chunksWritten(Phase phase, RankInput[] inputs) {
        int local = EXPERTS / RANKS;
        boolean[] all = new boolean[RANKS];
        Arrays.fill(all, true);
        if (phase == Phase.PREFILL_DISPATCH) {
            return PrefillReference.dispatchChunks(inputs[VICTIM], local, RANKS, all, CHUNK_ROWS);
        }
        if (phase == Phase.PREFILL_COMBINE) {
            int[] perSource = new int[RANKS];
            for (PrefillReference.Row row :
                    PrefillReference.received(inputs, VICTIM, local, TOP_K, all, p -> t -> new short[0])) {
                perSource[row.srcRank()]++;
            }
            return Arrays.stream(perSource)
                    .map(rows -> (rows + CHUNK_ROWS - 1) / CHUNK_ROWS)
                    .sum();
        }
        return 1;
    }

    @ParameterizedTest(name = "victim stops at {0}")
    @EnumSource(value = Phase.class, names = "PREFILL_.*", mode = EnumSource.Mode.MATCH_ALL)
    void survivorsExplainEveryTokenAndMaskOnlyTheVictim(Phase phase) {
        ParkAt stop = midStream(phase);
        int steps = FAIL_STEP + 3;
        runGroup(faultConfig(true, stop), survivorsOnly(), stop::release, (buffer, allocator) -> {
            int self = buffer.rank();
            boolean[] none = new boolean[RANKS];
            boolean[] victim = new boolean[RANKS];
            victim[VICTIM] = true;
            for (int s = 0; s < steps; s++) {
                tighten(buffer, s);
                if (self == VICTIM) {
                    PrefillChecker.unchecked(buffer, allocator, faultInputs(s)[VICTIM]);
                    StepChecker.stepUnchecked(buffer, allocator, lowLatencyInputs(s)[VICTIM]);
                    continue;
                }
                PrefillChecker.Outcome out = PrefillChecker.step(
                        buffer,
                        allocator,
                        faultInputs(s),
                        DispatchOptions.BF16,
                        s > FAIL_STEP ? victim : none,
                        s == FAIL_STEP ? victim : none);
                assertMaskedOnlyVictim(out.dispatchNewlyMasked(), "prefill dispatch", s);
                assertMaskedOnlyVictim(out.combineNewlyMasked(), "prefill combine", s);
                StepChecker.StepOutcome ll = StepChecker.step(
                        buffer,
                        allocator,
                        lowLatencyInputs(s),
                        DispatchOptions.BF16,
                        true,
                        s >= FAIL_STEP ? Presence.without(RANKS, VICTIM) : Presence.all(RANKS));
                assertMaskedOnlyVictim(ll.dispatchNewlyMasked(), "dispatch", s);
                assertMaskedOnlyVictim(ll.combineNewlyMasked(), "combine", s);
                if (s >= FAIL_STEP) {
                    int[] expected = new int[RANKS];
                    expected[VICTIM] = 1;
                    assertArrayEquals(expected, buffer.queryMask(), "survivor " + self + " masks exactly the victim");
                }
            }
            if (self != VICTIM) {
                int[] expected = new int[RANKS];
                expected[VICTIM] = 1;
                assertArrayEquals(expected, buffer.agreeMask(), "survivors agree");
            }
        });
        assertTrue(stop.hasParked(), "the victim reached " + phase);
    }

    @ParameterizedTest(name = "non-elastic, victim stops at {0}")
    @EnumSource(value = Phase.class, names = "PREFILL_.*", mode = EnumSource.Mode.MATCH_ALL)
    void nonElasticModeThrowsNamingPeerAndPhase(Phase phase) {
        ParkAt stop = midStream(phase);
        Set<Integer> named = ConcurrentHashMap.newKeySet();
        runGroup(faultConfig(false, stop), survivorsOnly(), stop::release, (buffer, allocator) -> {
            if (buffer.rank() == VICTIM) {
                for (int s = 0; s <= FAIL_STEP; s++) {
                    tighten(buffer, s);
                    PrefillChecker.unchecked(buffer, allocator, faultInputs(s)[VICTIM]);
                }
                return;
            }
            PeerTimeoutException failure = null;
            for (int s = 0; s <= FAIL_STEP && failure == null; s++) {
                tighten(buffer, s);
                try {
                    PrefillChecker.healthy(buffer, allocator, faultInputs(s), DispatchOptions.BF16);
                } catch (PeerTimeoutException e) {
                    failure = e;
                }
            }
            assertNotNull(failure, "rank " + buffer.rank() + " detected the stopped peer");
            assertTrue(
                    failure.phase().name().startsWith("PREFILL_"),
                    "failed in a prefill phase: " + failure.getMessage());
            NonElasticFailure.assertReported(failure, buffer, named);
        });
        assertTrue(stop.hasParked());
        assertTrue(named.contains(VICTIM), "some survivor named the stopped rank; named " + named);
    }

    @ParameterizedTest(name = "victim stalls at {0}, then is readmitted")
    @EnumSource(
            value = Phase.class,
            names = {"PREFILL_DISPATCH", "PREFILL_COMBINE"})
    void stalledRankIsMaskedThenReadmittedAndPrefillResumes(Phase phase) {
        ParkAt stop = midStream(phase);
        CountDownLatch survivorsPastFailure = new CountDownLatch(RANKS - 1);
        int readmitStep = FAIL_STEP + 2;
        runGroup(faultConfig(true, stop), null, stop::release, (buffer, allocator) -> {
            int self = buffer.rank();
            boolean[] none = new boolean[RANKS];
            boolean[] victim = new boolean[RANKS];
            victim[VICTIM] = true;
            if (self == VICTIM) {
                for (int s = 0; s <= FAIL_STEP; s++) {
                    tighten(buffer, s);
                    try {
                        PrefillChecker.unchecked(buffer, allocator, faultInputs(s)[VICTIM]);
                    } catch (RankMaskedException | PeerTimeoutException expected) {
                        // released after the survivors masked it: its view of the step is not theirs
                    }
                }
                assertTrue(buffer.readmit(VICTIM, Duration.ofSeconds(30)), "readmitted");
            } else {
                for (int s = 0; s < readmitStep; s++) {
                    tighten(buffer, s);
                    PrefillChecker.step(
                            buffer,
                            allocator,
                            faultInputs(s),
                            DispatchOptions.BF16,
                            s > FAIL_STEP ? victim : none,
                            s == FAIL_STEP ? victim : none);
                }
                survivorsPastFailure.countDown();
                if (self == 0) {
                    survivorsPastFailure.await();
                    stop.release();
                }
                assertTrue(buffer.readmit(VICTIM, Duration.ofSeconds(30)), "survivor readmits the victim");
            }
            assertArrayEquals(new int[RANKS], buffer.queryMask(), "everyone active again");
            for (int s = readmitStep; s < readmitStep + 3; s++) {
                PrefillChecker.Outcome out =
                        PrefillChecker.healthy(buffer, allocator, faultInputs(s), DispatchOptions.BF16);
                assertEquals(
                        0,
                        out.dispatchNewlyMasked().length + out.combineNewlyMasked().length,
                        "nobody masked after readmission");
            }
            assertArrayEquals(new int[RANKS], buffer.agreeMask());
        });
        assertTrue(stop.hasParked());
    }

    // ------------------------------------------------------------------------------------------------ bad input

    /** The rank that makes the bad calls; its peers go straight on. */
    private static final int REJECTER = 1;

    @Test
    void badInputIsRefusedBeforeAnythingIsSentAndTheBufferStaysUsable() {
        BufferConfig config = faultConfig(true, (rank, phase, step) -> {}).toBuilder()
                .timeout(Duration.ofSeconds(10))
                .build();
        runGroup(config, (buffer, allocator) -> {
            PrefillChecker.healthy(buffer, allocator, faultInputs(0), DispatchOptions.BF16);
            if (buffer.rank() == REJECTER) {
                Random rng = new Random(SEED);
                try (TokenBatch tooMany = RankInput.random(rng, TOKENS + 1, HIDDEN, TOP_K, EXPERTS)
                        .toBatch(allocator)) {
                    assertRejects(
                            IllegalArgumentException.class,
                            () -> buffer.prefillDispatch(tooMany, DispatchOptions.BF16),
                            "prefillMaxTokensPerRank");
                }
                RankInput good = faultInputs(1)[REJECTER];
                long[] idx = good.idx().clone();
                idx[5] = EXPERTS;
                try (TokenBatch outOfRange =
                        new RankInput(good.n(), HIDDEN, TOP_K, good.bits(), idx, good.weights()).toBatch(allocator)) {
                    assertRejects(
                            IllegalArgumentException.class,
                            () -> buffer.prefillDispatch(outOfRange, DispatchOptions.BF16),
                            "is outside");
                }
                try (TokenBatch batch = good.toBatch(allocator)) {
                    assertRejects(
                            IllegalArgumentException.class,
                            () -> buffer.prefillDispatch(batch, DispatchOptions.FP8),
                            "hidden % 128");
                }
            }
            PrefillChecker.healthy(buffer, allocator, faultInputs(1), DispatchOptions.BF16);
            RankInput[] inputs = faultInputs(2);
            try (TokenBatch batch = inputs[buffer.rank()].toBatch(allocator)) {
                PrefillDispatched d = buffer.prefillDispatch(batch, DispatchOptions.BF16);
                if (buffer.rank() == REJECTER) {
                    assertRejects(
                            IllegalStateException.class,
                            () -> buffer.prefillDispatch(batch, DispatchOptions.BF16),
                            "not combined yet");
                    long[] idx = inputs[REJECTER].idx().clone();
                    idx[3] = unusedExpert(idx, 0);
                    try (TokenBatch other = new RankInput(
                                    inputs[REJECTER].n(),
                                    HIDDEN,
                                    TOP_K,
                                    inputs[REJECTER].bits(),
                                    idx,
                                    inputs[REJECTER].weights())
                            .toBatch(allocator)) {
                        assertRejects(
                                IllegalArgumentException.class, () -> buffer.prefillCombine(d, other), "topk_idx");
                    }
                }
                for (int l = 0; l < d.numLocalExperts(); l++) {
                    PrefillChecker.poison(d, d.expertOutput(l));
                }
                buffer.prefillCombine(d, batch);
                if (buffer.rank() == REJECTER) {
                    assertRejects(
                            IllegalArgumentException.class, () -> buffer.prefillCombine(d, batch), "not yet combined");
                }
            }
            PrefillChecker.healthy(buffer, allocator, faultInputs(3), DispatchOptions.BF16);
            assertArrayEquals(new int[RANKS], buffer.agreeMask(), "nobody masked");
        });
    }

    @Test
    void aBufferWithoutPrefillQueuesSaysHowToGetThem() {
        BufferConfig config = BufferConfig.builder()
                .ranks(2)
                .experts(4)
                .maxTopK(2)
                .hidden(HIDDEN)
                .maxTokensPerRank(4)
                .timeout(Duration.ofSeconds(10))
                .build();
        runGroup(config, (buffer, allocator) -> {
            try (TokenBatch batch =
                    RankInput.random(new Random(SEED), 3, HIDDEN, 2, 4).toBatch(allocator)) {
                assertRejects(
                        UnsupportedOperationException.class,
                        () -> buffer.prefillDispatch(batch, DispatchOptions.BF16),
                        "prefillMaxTokensPerRank");
            }
            StepChecker.step(
                    buffer,
                    allocator,
                    new RankInput[] {
                        RankInput.random(SEED, 0, 0, 4, HIDDEN, 2, 4, true),
                        RankInput.random(SEED, 0, 1, 4, HIDDEN, 2, 4, true)
                    },
                    DispatchOptions.BF16,
                    true,
                    Presence.all(2));
        });
    }

    /** An expert token {@code t} does not use (so replacing one of its slots keeps its ids distinct). */
    private static long unusedExpert(long[] idx, int t) {
        for (long e = 0; ; e++) {
            long candidate = e;
            if (Arrays.stream(idx, t * TOP_K, t * TOP_K + TOP_K).noneMatch(x -> x == candidate)) {
                return e;
            }
        }
    }

    private static <T extends RuntimeException> void assertRejects(
            Class<T> type, org.junit.jupiter.api.function.Executable call, String part) {
        T e = assertThrows(type, call);
        assertTrue(
                e.getMessage() != null && e.getMessage().contains(part),
                () -> "expected '" + part + "' in: " + e.getMessage());
    }

    private static void tighten(ElasticBuffer buffer, int step) {
        if (step == 1) {
            buffer.setTimeout(TIMEOUT);
        }
    }

    private static boolean[] survivorsOnly() {
        boolean[] checked = new boolean[RANKS];
        Arrays.fill(checked, true);
        checked[VICTIM] = false;
        return checked;
    }

    private static void assertMaskedOnlyVictim(int[] masked, String where, int s) {
        for (int r : masked) {
            assertEquals(VICTIM, r, where + " of step " + s + " masked healthy rank " + r);
        }
    }
}
