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
package io.tokenroute.routing.nvshmem;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.device.Cuda;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.Memcpy;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.cuda.CudaCombined;
import io.tokenroute.routing.cuda.CudaDispatched;
import io.tokenroute.routing.cuda.CudaStepChecker;
import io.tokenroute.routing.cuda.CudaTestSupport;
import io.tokenroute.routing.launch.LaunchedRank;
import io.tokenroute.routing.launch.PhaseHooks;
import io.tokenroute.routing.testkit.KillScenario;
import io.tokenroute.routing.testkit.RankInput;
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
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * One rank of an {@code nvshmem} test group, as its own process (one NVSHMEM PE):
 * {@code NvshmemRankMain <scenario> ...}, rank and group size from {@link LaunchedRank}, the rendezvous address from
 * {@value NvshmemOptions#RENDEZVOUS_PROPERTY}, optional NVSHMEM-linked kernels from {@value #DEVICE_KERNELS_PROPERTY}
 * (with {@value #FORCE_DEVICE_CALLS_PROPERTY}{@code =true} every peer goes through NVSHMEM device calls). The checks
 * are those of {@code ShmRankMain}: every survivor's every step against the plain-loop reference
 * ({@link CudaStepChecker}), outputs poisoned before each step. PE p runs on GPU {@code p % deviceCount}.
 *
 * <ul>
 *   <li>{@code conformance}: bf16 (zero-copy and copied expert outputs) and the three fp8 options, one buffer per case;
 *       then bad input on every rank (refused before anything is launched) and a healthy step after it.</li>
 *   <li>{@code kill <collective> <victim>:<phase> ...}: victims SIGKILL themselves at their phase in step
 *       {@link #FAIL_STEP}; survivors check every step without them, mask exactly them, and run {@link #AFTER_STEPS}
 *       more steps.</li>
 *   <li>{@code stall <phase>}: rank {@link #VICTIM} SIGSTOPs itself at {@code phase}, is masked, resumed by the parent
 *       and readmitted; then every rank runs checked steps again.</li>
 * </ul>
 * Exit 0 on success, 1 on a failed check. The process leaves with {@code halt}: no NVSHMEM finalize after a failure.
 */
public final class NvshmemRankMain {
    static final String DEVICE_KERNELS_PROPERTY = "tokenroute.test.nvshmemKernels";
    static final String FORCE_DEVICE_CALLS_PROPERTY = "tokenroute.test.forceDeviceCalls";
    static final int EXPERTS_PER_RANK = 4;
    static final int TOP_K = 4;
    static final int HIDDEN = 256;
    static final int MAX_TOKENS = 12;
    static final int VICTIM = 2;
    static final int TIGHTEN_STEP = 2;
    static final int FAIL_STEP = 3;
    static final int AFTER_STEPS = 20;
    /**
     * Without MPS the PEs' kernels time-slice the GPU (rounds of several ms) and a killed PE's context teardown can
     * hold the others' CUDA calls for a while: the timeout covers that. Under MPS the GPU script passes 100 ms.
     */
    static final Duration TIMEOUT = Duration.ofMillis(Long.getLong("tokenroute.test.timeoutMillis", 1000));

    static final Duration WARM_UP_TIMEOUT = Duration.ofSeconds(60);

    private NvshmemRankMain() {}

    public static void main(String[] args) {
        LaunchedRank.start();
        int code = 0;
        try {
            int rank = LaunchedRank.rank();
            int ranks = LaunchedRank.ranks();
            String[] rest = Arrays.copyOfRange(args, 1, args.length);
            try (CudaDevice device = CudaDevice.open(rank % Cuda.deviceCount());
                    NvshmemSession session = NvshmemSession.join(device, rank, ranks, options())) {
                Map<String, Object> result = switch (args[0]) {
                    case "conformance" -> conformance(session);
                    case "kill" -> kill(session, rest);
                    case "stall" -> stall(session, Phase.valueOf(rest[0]));
                    default -> throw new IllegalArgumentException("unknown scenario " + args[0]);
                };
                LaunchedRank.result(result);
            }
        } catch (Throwable t) {
            t.printStackTrace();
            code = 1;
        }
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(code);
    }

    static NvshmemOptions options() {
        NvshmemOptions options = NvshmemOptions.singleHost(1L << 30);
        String cubin = System.getProperty(DEVICE_KERNELS_PROPERTY);
        if (cubin != null && !cubin.isBlank()) {
            options = options.withDeviceKernels(Path.of(cubin), Boolean.getBoolean(FORCE_DEVICE_CALLS_PROPERTY));
        }
        return options;
    }

    static BufferConfig config(int ranks, int rank, int experts, int topK, int hidden, int maxTokens, boolean listen) {
        BufferConfig config = BufferConfig.builder()
                .ranks(ranks)
                .rank(rank)
                .experts(experts)
                .maxTopK(topK)
                .hidden(hidden)
                .maxTokensPerRank(maxTokens)
                .timeout(WARM_UP_TIMEOUT)
                .build();
        return listen ? PhaseHooks.listening(config, LaunchedRank.faultListener()) : config;
    }

    // ------------------------------------------------------------------------------------------------ one step

    /** What one step reported on this rank. */
    record Outcome(int[] dispatchNewly, int[] combineNewly) {}

    /**
     * Dispatches {@code inputs[self]}, checks the received rows, runs the expert on them, combines and checks the
     * output (or, {@code check} false, only runs the step).
     */
    static Outcome step(
            NvshmemBuffer buffer,
            BufferAllocator allocator,
            RankInput[] inputs,
            DispatchOptions options,
            boolean zeroCopy,
            Presence presence,
            boolean check) {
        int self = buffer.rank();
        int localExperts = buffer.config().localExperts();
        int hidden = buffer.config().hidden();
        CudaTestSupport.poisonResults(buffer.group());
        try (TokenBatch batch = inputs[self].toBatch(allocator)) {
            CudaDispatched d = buffer.dispatch(batch, options);
            int[] dispatchNewly = d.newlyMasked();
            List<short[]> seen = check
                    ? CudaStepChecker.checkDispatch(
                            buffer.group(), d, inputs, self, localExperts, options, presence.dispatchSources())
                    : CudaStepChecker.received(buffer.group(), d, self, localExperts, hidden, options);
            List<VectorSchemaRoot> outputs = zeroCopy ? null : new ArrayList<>();
            try {
                for (int l = 0; l < localExperts; l++) {
                    short[] rows = CudaStepChecker.expertOutputs(self * localExperts + l, seen.get(l));
                    if (zeroCopy) {
                        Memcpy.toDevice(d.expertOutputAddress(l), rows, buffer.stream());
                    } else {
                        outputs.add(CudaStepChecker.outputBatch(allocator, hidden, rows));
                    }
                }
                CudaCombined c = buffer.combine(d, outputs, batch);
                if (check) {
                    CudaStepChecker.checkCombine(c, inputs[self], localExperts, presence.combineExperts(), options);
                }
                return new Outcome(dispatchNewly, c.newlyMasked());
            } finally {
                if (outputs != null) {
                    outputs.forEach(VectorSchemaRoot::close);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ conformance

    record Case(int experts, int topK, int hidden, int maxTokens, DispatchOptions options, int steps) {}

    static List<Case> cases(int ranks) {
        return List.of(
                new Case(4 * ranks, 8, 128, 12, DispatchOptions.BF16, 6),
                new Case(ranks, 3, 32, 7, DispatchOptions.BF16, 6),
                new Case(2 * ranks, 4, 256, 6, DispatchOptions.FP8, 3),
                new Case(2 * ranks, 4, 256, 6, DispatchOptions.FP8_ROUND_SCALE, 3),
                new Case(2 * ranks, 4, 256, 6, DispatchOptions.FP8_UE8M0, 3));
    }

    private static Map<String, Object> conformance(NvshmemSession session) {
        int rank = session.rank();
        int ranks = session.ranks();
        int checked = 0;
        List<Case> cases = cases(ranks);
        for (Case c : cases) {
            long seed = 1000L * ranks + c.experts() + c.hidden();
            try (BufferAllocator allocator = new RootAllocator();
                    NvshmemBuffer buffer = NvshmemBuffer.open(
                            session,
                            config(ranks, rank, c.experts(), c.topK(), c.hidden(), c.maxTokens(), false),
                            allocator)) {
                for (int s = 0; s < c.steps(); s++) {
                    RankInput[] inputs = new RankInput[ranks];
                    for (int r = 0; r < ranks; r++) {
                        inputs[r] =
                                RankInput.random(seed, s, r, c.maxTokens(), c.hidden(), c.topK(), c.experts(), true);
                    }
                    try {
                        Outcome out =
                                step(buffer, allocator, inputs, c.options(), s % 2 == 0, Presence.all(ranks), true);
                        assertEquals(0, out.dispatchNewly().length, "healthy dispatch masked nobody");
                        assertEquals(0, out.combineNewly().length, "healthy combine masked nobody");
                    } catch (AssertionError e) {
                        throw new AssertionError("rank " + rank + ", " + c + ", step " + s + ": " + e.getMessage(), e);
                    }
                    checked++;
                }
                assertArrayEquals(new int[ranks], buffer.queryMask(), "no false masks in " + c);
            }
        }
        badInputThenHealthy(session);
        LaunchedRank.event("done", null);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("cases", cases.size());
        result.put("steps", checked);
        return result;
    }

    /** Every rank's bad batch is refused on the host before a kernel runs; the next healthy step masks nobody. */
    private static void badInputThenHealthy(NvshmemSession session) {
        int rank = session.rank();
        int ranks = session.ranks();
        int experts = 2 * ranks;
        try (BufferAllocator allocator = new RootAllocator();
                NvshmemBuffer buffer =
                        NvshmemBuffer.open(session, config(ranks, rank, experts, 2, 64, 4, false), allocator)) {
            buffer.setTimeout(TIMEOUT);
            RankInput good = RankInput.random(7, 0, rank, 4, 64, 2, experts, false);
            long[] idx = good.idx().clone();
            idx[0] = experts;
            RankInput bad = new RankInput(good.n(), good.hidden(), good.topK(), good.bits(), idx, good.weights());
            try (TokenBatch batch = bad.toBatch(allocator)) {
                IllegalArgumentException e = assertThrows(
                        IllegalArgumentException.class, () -> buffer.dispatch(batch, DispatchOptions.BF16));
                assertTrue(e.getMessage().contains("outside"), e.getMessage());
            }
            RankInput[] inputs = new RankInput[ranks];
            for (int r = 0; r < ranks; r++) {
                inputs[r] = RankInput.random(7, 0, r, 4, 64, 2, experts, false);
            }
            Outcome out = step(buffer, allocator, inputs, DispatchOptions.BF16, true, Presence.all(ranks), true);
            assertEquals(0, out.dispatchNewly().length + out.combineNewly().length, "nobody waited on a bad rank");
        }
    }

    // ------------------------------------------------------------------------------------------------ kill

    static RankInput[] inputs(int ranks, long step) {
        RankInput[] in = new RankInput[ranks];
        for (int r = 0; r < ranks; r++) {
            in[r] = RankInput.random(77, step, r, MAX_TOKENS, HIDDEN, TOP_K, EXPERTS_PER_RANK * ranks, false);
        }
        return in;
    }

    static void collective(
            NvshmemBuffer buffer, Phase collective, int s, KillScenario scenario, boolean checkPayloads) {
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
            default -> throw new IllegalArgumentException(collective + " is not a collective");
        }
    }

    private static Map<String, Object> kill(NvshmemSession session, String[] rest) {
        int rank = session.rank();
        int ranks = session.ranks();
        Phase collective = rest[0].equals("NONE") ? null : Phase.valueOf(rest[0]);
        KillScenario scenario = KillScenario.parse(ranks, FAIL_STEP, Arrays.copyOfRange(rest, 1, rest.length));
        int[] expectedMask = scenario.expectedMask();
        int steps = FAIL_STEP + 1 + AFTER_STEPS;
        long maxHealthyNanos = 0;
        long failStepNanos = 0;
        long maxAfterNanos = 0;
        try (BufferAllocator allocator = new RootAllocator();
                NvshmemBuffer buffer = NvshmemBuffer.open(
                        session,
                        config(ranks, rank, EXPERTS_PER_RANK * ranks, TOP_K, HIDDEN, MAX_TOKENS, true),
                        allocator)) {
            KillScenario.Survivor survivor = scenario.survivor(rank);
            for (int s = 0; s < steps; s++) {
                if (s == TIGHTEN_STEP) {
                    buffer.setTimeout(TIMEOUT);
                }
                long start = System.nanoTime();
                Outcome out;
                try {
                    out = step(
                            buffer,
                            allocator,
                            inputs(ranks, s),
                            DispatchOptions.BF16,
                            s % 2 == 0,
                            scenario.presence(s),
                            true);
                    collective(buffer, collective, s, scenario, true);
                } catch (AssertionError e) {
                    throw new AssertionError(
                            "rank " + rank + " step " + s + " (mask " + KillScenario.maskString(buffer.queryMask())
                                    + "): " + e.getMessage(),
                            e);
                }
                long took = System.nanoTime() - start;
                if (s >= TIGHTEN_STEP && s < FAIL_STEP) {
                    maxHealthyNanos = Math.max(maxHealthyNanos, took);
                } else if (s == FAIL_STEP) {
                    failStepNanos = took;
                } else if (s > FAIL_STEP + 1) {
                    maxAfterNanos = Math.max(maxAfterNanos, took);
                }
                survivor.afterStep(
                        s,
                        out.dispatchNewly(),
                        out.combineNewly(),
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
        result.put("healthyStepMicros", maxHealthyNanos / 1000);
        result.put("failStepMicros", failStepNanos / 1000);
        result.put("afterStepMicros", maxAfterNanos / 1000);
        return result;
    }

    // ------------------------------------------------------------------------------------------------ stall

    private static Map<String, Object> stall(NvshmemSession session, Phase phase) {
        int rank = session.rank();
        int ranks = session.ranks();
        Phase collective = phase == Phase.CLEAN || phase == Phase.BARRIER || phase == Phase.ALL_GATHER ? phase : null;
        KillScenario scenario = new KillScenario(ranks, FAIL_STEP, new int[] {VICTIM}, new Phase[] {phase});
        int readmitStep = FAIL_STEP + 2;
        int steps = readmitStep + 5;
        try (BufferAllocator allocator = new RootAllocator();
                NvshmemBuffer buffer = NvshmemBuffer.open(
                        session,
                        config(ranks, rank, EXPERTS_PER_RANK * ranks, TOP_K, HIDDEN, MAX_TOKENS, true),
                        allocator)) {
            if (rank == VICTIM) {
                for (int s = 0; s <= FAIL_STEP; s++) {
                    if (s == TIGHTEN_STEP) {
                        buffer.setTimeout(TIMEOUT);
                    }
                    boolean checked = s < FAIL_STEP;
                    try {
                        step(
                                buffer,
                                allocator,
                                inputs(ranks, s),
                                DispatchOptions.BF16,
                                true,
                                Presence.all(ranks),
                                checked);
                        collective(buffer, collective, s, scenario, false);
                    } catch (IllegalStateException e) {
                        if (checked) {
                            throw e;
                        }
                        // its view of the step it stalled in is not the survivors'; only they are checked there
                    }
                }
                assertTrue(buffer.readmit(VICTIM, Duration.ofSeconds(30)), "readmitted");
            } else {
                for (int s = 0; s < readmitStep; s++) {
                    if (s == TIGHTEN_STEP) {
                        buffer.setTimeout(TIMEOUT);
                    }
                    try {
                        step(
                                buffer,
                                allocator,
                                inputs(ranks, s),
                                DispatchOptions.BF16,
                                true,
                                scenario.presence(s),
                                true);
                        collective(buffer, collective, s, scenario, false);
                    } catch (AssertionError e) {
                        throw new AssertionError("rank " + rank + " step " + s + ": " + e.getMessage(), e);
                    }
                }
                int[] expected = new int[ranks];
                expected[VICTIM] = 1;
                assertArrayEquals(expected, buffer.queryMask(), "survivor " + rank + " masked the stalled rank");
                LaunchedRank.event("ready", null);
                assertTrue(buffer.readmit(VICTIM, Duration.ofSeconds(30)), "survivor readmits the victim");
            }
            assertArrayEquals(new int[ranks], buffer.queryMask(), "everyone active again");
            for (int s = readmitStep; s < steps; s++) {
                try {
                    Outcome out = step(
                            buffer,
                            allocator,
                            inputs(ranks, s),
                            DispatchOptions.BF16,
                            s % 2 == 1,
                            Presence.all(ranks),
                            true);
                    assertEquals(0, out.dispatchNewly().length, "nobody masked after the readmit");
                    collective(buffer, collective, s, scenario, false);
                } catch (AssertionError e) {
                    throw new AssertionError("rank " + rank + " step " + s + " (after readmit): " + e.getMessage(), e);
                }
            }
            assertArrayEquals(new int[ranks], buffer.agreeMask(), "all agree nobody is masked");
            LaunchedRank.event("done", null);
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("steps", steps);
        result.put("mask", KillScenario.maskString(new int[ranks]));
        return result;
    }
}
