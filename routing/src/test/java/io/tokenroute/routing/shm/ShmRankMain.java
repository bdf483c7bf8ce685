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
package io.tokenroute.routing.shm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.launch.LaunchedRank;
import io.tokenroute.routing.launch.PhaseHooks;
import io.tokenroute.routing.launch.RankFault;
import io.tokenroute.routing.testkit.KillScenario;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.StepChecker;
import io.tokenroute.routing.testkit.StepChecker.Presence;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * One rank of an {@code shm} test group, as its own process: {@code ShmRankMain <groupFile> <rank> <scenario> ...}.
 * Runs the same checks as {@code ConformanceSuite} and {@code FaultSuite} (whose bodies are lambdas and cannot cross a
 * process boundary): every step against the plain-loop reference through {@link StepChecker}. Exits 0 on success, 1 on
 * a failed check (message and stack trace on stderr), 2 when joining failed ({@link ShmJoinException}); reports a
 * result line ({@link LaunchedRank#result}) and events ({@code done} after the last step, {@code ready} before a
 * readmit) for {@link ShmProcessTest}.
 *
 * <ul>
 *   <li>{@code conformance <R>}: the conformance shapes of R ∈ {2, 4}, bf16 (zero-copy and copied expert outputs) and
 *       the three fp8 options, one group (file {@code <groupFile>.<case>}) per case.</li>
 *   <li>{@code kill <collective> <victim>:<phase> ...}: victims SIGKILL themselves ({@link RankFault} from the
 *       launcher) at their phase in step {@link #FAIL_STEP}; survivors check every step against the reference without
 *       them, mask exactly them, pay no further waits, and run {@link #AFTER_STEPS} more steps. {@code <collective>}
 *       (CLEAN, BARRIER, ALL_GATHER or NONE) runs after every step.</li>
 *   <li>{@code stall <phase>}: rank {@link #VICTIM} SIGSTOPs itself at {@code phase} in step {@link #FAIL_STEP}, is
 *       masked, resumed by the parent and readmitted ({@code FaultSuite.stalledRankIsMaskedThenReadmitted}).</li>
 *   <li>{@code join <R> <hidden> <joinTimeoutMs>}: join (R ranks, E = 2R, k = 2, T = 4), one barrier, leave.</li>
 * </ul>
 */
public final class ShmRankMain {
    static final int EXIT_FAILED = 1;
    static final int EXIT_JOIN_FAILED = 2;

    static final int RANKS = 4;
    static final int EXPERTS = 16;
    static final int TOP_K = 4;
    static final int HIDDEN = 64;
    static final int MAX_TOKENS = 10;
    static final int VICTIM = 2;
    /** Steps 0 and 1 run with the warm-up timeout (class loading, JIT in four fresh JVMs); step 2 tightens it. */
    static final int TIGHTEN_STEP = 2;

    static final int FAIL_STEP = 3;
    static final int AFTER_STEPS = 20;
    static final Duration TIMEOUT = Duration.ofMillis(300);
    static final Duration WARM_UP_TIMEOUT = Duration.ofSeconds(30);
    static final Duration JOIN_TIMEOUT = Duration.ofSeconds(60);

    private ShmRankMain() {}

    public static void main(String[] args) {
        LaunchedRank.start();
        int code = 0;
        try {
            Path groupFile = Path.of(args[0]);
            int rank = Integer.parseInt(args[1]);
            String[] rest = Arrays.copyOfRange(args, 3, args.length);
            Map<String, Object> result = switch (args[2]) {
                case "conformance" -> conformance(groupFile, rank, Integer.parseInt(rest[0]));
                case "kill" -> kill(groupFile, rank, rest);
                case "stall" -> stall(groupFile, rank, Phase.valueOf(rest[0]));
                case "join" ->
                    join(
                            groupFile,
                            rank,
                            Integer.parseInt(rest[0]),
                            Integer.parseInt(rest[1]),
                            Duration.ofMillis(Long.parseLong(rest[2])));
                default -> throw new IllegalArgumentException("unknown scenario " + args[2]);
            };
            LaunchedRank.result(result);
        } catch (ShmJoinException e) {
            e.printStackTrace();
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("joinError", e.getMessage());
            result.put("missing", Arrays.toString(e.missingRanks()));
            LaunchedRank.result(result);
            code = EXIT_JOIN_FAILED;
        } catch (Throwable t) {
            t.printStackTrace();
            code = EXIT_FAILED;
        }
        System.out.flush();
        System.err.flush();
        System.exit(code);
    }

    // ------------------------------------------------------------------------------------------------ conformance

    /** A conformance case: shape, options, steps. */
    record Case(int ranks, int experts, int topK, int hidden, int maxTokens, DispatchOptions options, int steps) {}

    /** ConformanceSuite's shapes and fp8 checks for R ranks. */
    static List<Case> conformanceCases(int ranks) {
        List<Case> cases = new ArrayList<>();
        DispatchOptions[] fp8 = {DispatchOptions.FP8, DispatchOptions.FP8_ROUND_SCALE, DispatchOptions.FP8_UE8M0};
        if (ranks == 2) {
            cases.add(new Case(2, 8, 4, 128, 16, DispatchOptions.BF16, 6));
            cases.add(new Case(2, 2, 2, 256, 5, DispatchOptions.BF16, 6));
            for (DispatchOptions o : fp8) {
                cases.add(new Case(2, 4, 2, 128, 10, o, 3));
            }
        } else if (ranks == 4) {
            cases.add(new Case(4, 16, 8, 128, 12, DispatchOptions.BF16, 6));
            cases.add(new Case(4, 4, 3, 32, 7, DispatchOptions.BF16, 6));
            for (DispatchOptions o : fp8) {
                cases.add(new Case(4, 8, 4, 256, 6, o, 3));
            }
        } else {
            throw new IllegalArgumentException("conformance cases exist for R = 2 and 4, not " + ranks);
        }
        return cases;
    }

    private static Map<String, Object> conformance(Path groupFile, int rank, int ranks) throws Exception {
        List<Case> cases = conformanceCases(ranks);
        int checked = 0;
        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            BufferConfig config = BufferConfig.builder()
                    .ranks(c.ranks())
                    .rank(rank)
                    .experts(c.experts())
                    .maxTopK(c.topK())
                    .hidden(c.hidden())
                    .maxTokensPerRank(c.maxTokens())
                    .timeout(WARM_UP_TIMEOUT)
                    .build();
            long seed = 1000L * c.ranks() + c.experts() + c.hidden();
            Path file = groupFile.resolveSibling(groupFile.getFileName() + "." + i);
            try (BufferAllocator allocator = new RootAllocator();
                    ShmGroup group = ShmGroup.join(file, config, allocator, JOIN_TIMEOUT)) {
                ElasticBuffer buffer = group.buffer();
                for (int s = 0; s < c.steps(); s++) {
                    RankInput[] inputs = new RankInput[c.ranks()];
                    for (int r = 0; r < c.ranks(); r++) {
                        inputs[r] =
                                RankInput.random(seed, s, r, c.maxTokens(), c.hidden(), c.topK(), c.experts(), true);
                    }
                    try {
                        StepChecker.StepOutcome out = StepChecker.step(
                                buffer, allocator, inputs, c.options(), s % 2 == 0, Presence.all(c.ranks()));
                        assertEquals(0, out.dispatchMaskedCount(), "healthy step masked nobody");
                        assertEquals(0, out.combineNewlyMasked().length);
                    } catch (AssertionError e) {
                        throw new AssertionError("rank " + rank + ", " + c + ", step " + s + ": " + e.getMessage(), e);
                    }
                    checked++;
                }
                assertArrayEquals(new int[c.ranks()], buffer.queryMask(), "no false masks in " + c);
            }
        }
        LaunchedRank.event("done", null);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("cases", cases.size());
        result.put("steps", checked);
        return result;
    }

    // ------------------------------------------------------------------------------------------------ kill

    private static BufferConfig faultConfig(int rank) {
        return PhaseHooks.listening(
                BufferConfig.builder()
                        .ranks(RANKS)
                        .rank(rank)
                        .experts(EXPERTS)
                        .maxTopK(TOP_K)
                        .hidden(HIDDEN)
                        .maxTokensPerRank(MAX_TOKENS)
                        .timeout(WARM_UP_TIMEOUT)
                        .build(),
                LaunchedRank.faultListener());
    }

    static RankInput[] inputs(long step) {
        RankInput[] in = new RankInput[RANKS];
        for (int r = 0; r < RANKS; r++) {
            in[r] = RankInput.random(77, step, r, MAX_TOKENS, HIDDEN, TOP_K, EXPERTS, false);
        }
        return in;
    }

    /** The collective called after each step ({@code FaultSuite.collective}); null for none. */
    static void collective(
            ElasticBuffer buffer, Phase collective, int s, KillScenario scenario, boolean checkPayloads) {
        if (collective == null) {
            return;
        }
        switch (collective) {
            case CLEAN -> buffer.cleanBuffer();
            case BARRIER -> buffer.barrier();
            case ALL_GATHER -> {
                byte[][] all = buffer.allGatherBytes(KillScenario.payload(buffer.rank(), s));
                if (checkPayloads) {
                    scenario.assertGathered(all, s);
                }
            }
            case AGREE -> {
                int[] agreed = buffer.agreeMask();
                if (checkPayloads && s > scenario.failStep()) {
                    org.junit.jupiter.api.Assertions.assertArrayEquals(
                            scenario.expectedMask(), agreed, "agreed mask after step " + s);
                }
            }
            default -> throw new IllegalArgumentException(collective + " is not a collective");
        }
    }

    private static Phase collectiveOf(String name) {
        return name.equals("NONE") ? null : Phase.valueOf(name);
    }

    private static Map<String, Object> kill(Path groupFile, int rank, String[] rest) throws Exception {
        Phase collective = collectiveOf(rest[0]);
        KillScenario scenario = KillScenario.parse(RANKS, FAIL_STEP, Arrays.copyOfRange(rest, 1, rest.length));
        int[] expectedMask = scenario.expectedMask();
        int steps = FAIL_STEP + 1 + AFTER_STEPS;
        long maxStepNanos = 0;
        long failStepNanos = 0;
        try (BufferAllocator allocator = new RootAllocator();
                ShmGroup group = ShmGroup.join(groupFile, faultConfig(rank), allocator, JOIN_TIMEOUT)) {
            ElasticBuffer buffer = group.buffer();
            KillScenario.Survivor survivor = scenario.survivor(rank);
            for (int s = 0; s < steps; s++) {
                if (s == TIGHTEN_STEP) {
                    buffer.setTimeout(TIMEOUT);
                }
                long start = System.nanoTime();
                StepChecker.StepOutcome out;
                try {
                    out = StepChecker.step(
                            buffer, allocator, inputs(s), DispatchOptions.BF16, s % 2 == 0, scenario.presence(s));
                    collective(buffer, collective, s, scenario, true);
                } catch (AssertionError e) {
                    throw new AssertionError("rank " + rank + " step " + s + ": " + e.getMessage(), e);
                }
                long took = System.nanoTime() - start;
                if (s >= TIGHTEN_STEP) {
                    maxStepNanos = Math.max(maxStepNanos, took);
                }
                if (s == FAIL_STEP) {
                    failStepNanos = took;
                }
                survivor.afterStep(
                        s,
                        out.dispatchNewlyMasked(),
                        out.combineNewlyMasked(),
                        buffer.dispatchWaitNanos(),
                        buffer.combineWaitNanos(),
                        buffer::queryMask);
            }
            assertArrayEquals(expectedMask, buffer.agreeMask(), "survivors agree");
            LaunchedRank.event("done", null);
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("steps", steps);
        result.put("mask", KillScenario.maskString(expectedMask));
        result.put("maxStepMillis", maxStepNanos / 1_000_000);
        result.put("failStepMillis", failStepNanos / 1_000_000);
        return result;
    }

    // ------------------------------------------------------------------------------------------------ stall

    /** FaultSuite.stalledRankIsMaskedThenReadmitted, with a real SIGSTOP and SIGCONT. */
    private static Map<String, Object> stall(Path groupFile, int rank, Phase phase) throws Exception {
        Phase collective =
                phase == Phase.CLEAN || phase == Phase.BARRIER || phase == Phase.ALL_GATHER || phase == Phase.AGREE
                        ? phase
                        : null;
        KillScenario scenario = new KillScenario(RANKS, FAIL_STEP, new int[] {VICTIM}, new Phase[] {phase});
        int readmitStep = FAIL_STEP + 2;
        int steps = readmitStep + 5;
        try (BufferAllocator allocator = new RootAllocator();
                ShmGroup group = ShmGroup.join(groupFile, faultConfig(rank), allocator, JOIN_TIMEOUT)) {
            ElasticBuffer buffer = group.buffer();
            if (rank == VICTIM) {
                for (int s = 0; s <= FAIL_STEP; s++) {
                    if (s == TIGHTEN_STEP) {
                        buffer.setTimeout(TIMEOUT);
                    }
                    if (s < FAIL_STEP) {
                        StepChecker.step(buffer, allocator, inputs(s), DispatchOptions.BF16, true, Presence.all(RANKS));
                        collective(buffer, collective, s, scenario, false);
                    } else {
                        try {
                            StepChecker.stepUnchecked(buffer, allocator, inputs(s)[rank]);
                            collective(buffer, collective, s, scenario, false);
                        } catch (IllegalStateException expected) {
                            // its view is not the survivors'; only survivors are checked in this step
                        }
                    }
                }
                assertTrue(buffer.readmit(VICTIM, Duration.ofSeconds(30)), "readmitted");
            } else {
                for (int s = 0; s < readmitStep; s++) {
                    if (s == TIGHTEN_STEP) {
                        buffer.setTimeout(TIMEOUT);
                    }
                    try {
                        StepChecker.step(
                                buffer, allocator, inputs(s), DispatchOptions.BF16, true, scenario.presence(s));
                        collective(buffer, collective, s, scenario, false);
                    } catch (AssertionError e) {
                        throw new AssertionError("rank " + rank + " step " + s + ": " + e.getMessage(), e);
                    }
                }
                int[] expected = new int[RANKS];
                expected[VICTIM] = 1;
                assertArrayEquals(expected, buffer.queryMask(), "survivor " + rank + " masked the stalled rank");
                LaunchedRank.event("ready", null);
                assertTrue(buffer.readmit(VICTIM, Duration.ofSeconds(30)), "survivor readmits the victim");
            }
            assertArrayEquals(new int[RANKS], buffer.queryMask(), "everyone active again");
            for (int s = readmitStep; s < steps; s++) {
                try {
                    StepChecker.StepOutcome out = StepChecker.step(
                            buffer, allocator, inputs(s), DispatchOptions.BF16, s % 2 == 1, Presence.all(RANKS));
                    assertEquals(0, out.dispatchMaskedCount(), "nobody masked after the readmit");
                    collective(buffer, collective, s, scenario, false);
                } catch (AssertionError e) {
                    throw new AssertionError("rank " + rank + " step " + s + " (after readmit): " + e.getMessage(), e);
                }
            }
            assertArrayEquals(new int[RANKS], buffer.agreeMask(), "all agree nobody is masked");
            LaunchedRank.event("done", null);
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("steps", steps);
        result.put("mask", KillScenario.maskString(new int[RANKS]));
        return result;
    }

    // ------------------------------------------------------------------------------------------------ join

    static BufferConfig joinConfig(int ranks, int rank, int hidden) {
        return BufferConfig.builder()
                .ranks(ranks)
                .rank(rank)
                .experts(2 * ranks)
                .maxTopK(2)
                .hidden(hidden)
                .maxTokensPerRank(4)
                .timeout(WARM_UP_TIMEOUT)
                .build();
    }

    private static Map<String, Object> join(Path groupFile, int rank, int ranks, int hidden, Duration joinTimeout) {
        try (BufferAllocator allocator = new RootAllocator();
                ShmGroup group = ShmGroup.join(groupFile, joinConfig(ranks, rank, hidden), allocator, joinTimeout)) {
            group.buffer().barrier();
        }
        return Map.of("joined", true);
    }
}
