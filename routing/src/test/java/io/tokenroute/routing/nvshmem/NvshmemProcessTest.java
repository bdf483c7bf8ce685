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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.device.Cuda;
import io.tokenroute.device.nvshmem.NvshmemLibrary;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.launch.RankFault;
import io.tokenroute.routing.launch.RankLauncher;
import io.tokenroute.routing.launch.RankLauncher.RankResult;
import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The {@code nvshmem} transport with real processes, one NVSHMEM PE each, all on the GPUs of this machine (several PEs
 * share a GPU when there are fewer GPUs than ranks): the conformance cases against the plain-loop reference, a SIGKILL
 * at every phase, two deaths in one step, and SIGSTOP + SIGCONT + readmit. Skipped without a GPU or without the
 * project's NVSHMEM library ({@code device/src/main/native/nvshmem}, built where NVSHMEM is installed).
 *
 * <p>The rank processes run with this JVM's runtime and the class path from {@value #CLASSPATH_PROPERTY} (the GPU
 * script sets it: the JUnit console launcher's own class path lacks the test classes), else this JVM's. They inherit
 * the environment ({@code TOKENROUTE_NVSHMEM_LIB}, {@code LD_LIBRARY_PATH}, CUDA MPS variables).
 */
class NvshmemProcessTest {
    static final String CLASSPATH_PROPERTY = "tokenroute.test.classpath";
    /** Set (true) when the PEs run under CUDA MPS. */
    static final String MPS_PROPERTY = "tokenroute.test.mps";

    private static final Duration RUN_BOUND = Duration.ofMinutes(4);
    /** From a survivor's last step to its exit: close never waits on a peer, so this is process teardown only. */
    private static final Duration EXIT_BOUND = Duration.ofSeconds(30);
    /** A step that meets a dead peer costs one timeout; the margin covers the PEs' time-slicing of one GPU. */
    private static final long STEP_MARGIN_MICROS = 2_000_000;

    private static final int SIGKILL = 9;
    private static final int RANKS = 4;
    private static final int VICTIM = NvshmemRankMain.VICTIM;
    private static final int FAIL_STEP = NvshmemRankMain.FAIL_STEP;

    @BeforeAll
    static void requireGpuAndNvshmem() {
        assumeTrue(Cuda.isAvailable(), "no CUDA: " + Cuda.unavailableReason());
        assumeTrue(NvshmemLibrary.isAvailable(), "no NVSHMEM library: " + NvshmemLibrary.unavailableReason());
        assumeTrue(RankLauncher.signalsAvailable(), "no 'kill' command: process tests skipped");
    }

    private static RankLauncher.Builder ranks(int ranks, String... scenario) throws IOException {
        List<String> options = new ArrayList<>(List.of(
                "-XX:+UseSerialGC",
                "-Xmx512m",
                "-XX:-UsePerfData",
                "-D" + NvshmemOptions.RENDEZVOUS_PROPERTY + "=127.0.0.1:" + freePort()));
        for (String forwarded : new String[] {
            "org.bytedeco.javacpp.cachedir",
            "arrow.memory.debug.allocator",
            NvshmemLibrary.LIBRARY_PROPERTY,
            NvshmemRankMain.DEVICE_KERNELS_PROPERTY,
            NvshmemRankMain.FORCE_DEVICE_CALLS_PROPERTY,
            "tokenroute.test.timeoutMillis"
        }) {
            String value = System.getProperty(forwarded);
            if (value != null) {
                options.add("-D" + forwarded + "=" + value);
            }
        }
        return RankLauncher.builder(NvshmemRankMain.class.getName(), ranks)
                .classpath(System.getProperty(CLASSPATH_PROPERTY, System.getProperty("java.class.path")))
                .jvmOptions(options.toArray(String[]::new))
                .args((r, f) -> List.of(scenario));
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** Waits for every survivor's end, then checks them all (so a failure shows every rank's output). */
    private static List<RankResult> awaitSurvivors(RankLauncher launcher, int... survivors) throws Exception {
        long deadline = System.nanoTime() + RUN_BOUND.toNanos();
        List<RankResult> out = new ArrayList<>();
        boolean[] done = new boolean[survivors.length];
        for (int i = 0; i < survivors.length; i++) {
            int r = survivors[i];
            done[i] = launcher.awaitEvent(r, "done", Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            out.add(launcher.await(r, done[i] ? EXIT_BOUND : Duration.ofSeconds(1)));
        }
        StringBuilder failures = new StringBuilder();
        for (int i = 0; i < survivors.length; i++) {
            RankResult result = out.get(i);
            if (!done[i] || !result.exitedInTime() || result.exitCode() != 0) {
                failures.append(
                                done[i]
                                        ? "rank " + survivors[i] + " did not exit cleanly within " + EXIT_BOUND
                                        : "rank " + survivors[i] + " never finished its steps")
                        .append(": ")
                        .append(result.describe())
                        .append('\n');
            } else {
                System.out.println("rank " + result.rank() + ": exit 0, events " + result.events() + ", result "
                        + result.values());
            }
        }
        assertTrue(failures.length() == 0, failures.toString());
        return out;
    }

    private static int[] allBut(int ranks, int... dead) {
        return IntStream.range(0, ranks)
                .filter(r -> Arrays.stream(dead).noneMatch(d -> d == r))
                .toArray();
    }

    /** R = 4 and 8 (PEs share GPUs when there are fewer) and, on a machine with several GPUs, one PE per GPU. */
    static IntStream conformanceRanks() {
        int gpus = Cuda.deviceCount();
        return IntStream.concat(
                IntStream.of(4, 8), gpus > 1 && gpus != 4 && gpus != 8 ? IntStream.of(gpus) : IntStream.empty());
    }

    @ParameterizedTest(name = "R={0}")
    @MethodSource("conformanceRanks")
    void conformanceAgainstReference(int ranks) throws Exception {
        try (RankLauncher launcher = ranks(ranks, "conformance").start()) {
            for (RankResult r :
                    awaitSurvivors(launcher, IntStream.range(0, ranks).toArray())) {
                assertEquals(
                        Integer.toString(NvshmemRankMain.cases(ranks).size()),
                        r.values().get("cases"),
                        r.describe());
            }
        }
    }

    private static boolean isCollective(Phase phase) {
        return phase == Phase.CLEAN || phase == Phase.BARRIER || phase == Phase.ALL_GATHER;
    }

    @ParameterizedTest(name = "victim SIGKILLed at {0}")
    @EnumSource(
            value = Phase.class,
            names = {"DISPATCH_SEND", "DISPATCH_RECV", "COMBINE_SEND", "COMBINE_RECV", "CLEAN", "BARRIER", "ALL_GATHER"
            })
    void sigkilledPeIsMaskedAndSurvivorsStayExact(Phase phase) throws Exception {
        String collective = isCollective(phase) ? phase.name() : "NONE";
        try (RankLauncher launcher = ranks(RANKS, "kill", collective, VICTIM + ":" + phase)
                .fault(VICTIM, RankFault.kill(phase, FAIL_STEP + 1))
                .start()) {
            List<RankResult> results = awaitSurvivors(launcher, allBut(RANKS, VICTIM));
            RankResult victim = launcher.await(VICTIM, EXIT_BOUND);
            assertTrue(victim.hasEvent("fault"), "the victim reached " + phase + ": " + victim.describe());
            assertTrue(victim.endedBySignal(SIGKILL), "the victim died of SIGKILL: " + victim.describe());
            for (RankResult r : results) {
                assertEquals("0010", r.values().get("mask"), r.describe());
                assertDetectionBound(r, 1, "kill " + phase);
            }
        }
    }

    @Test
    void twoPesDieInOneStep() throws Exception {
        try (RankLauncher launcher = ranks(RANKS, "kill", "BARRIER", "2:DISPATCH_SEND", "1:COMBINE_RECV")
                .fault(2, RankFault.kill(Phase.DISPATCH_SEND, FAIL_STEP + 1))
                .fault(1, RankFault.kill(Phase.COMBINE_RECV, FAIL_STEP + 1))
                .start()) {
            List<RankResult> results = awaitSurvivors(launcher, allBut(RANKS, 1, 2));
            for (int v : new int[] {1, 2}) {
                RankResult victim = launcher.await(v, EXIT_BOUND);
                assertTrue(victim.hasEvent("fault") && victim.endedBySignal(SIGKILL), victim.describe());
            }
            for (RankResult r : results) {
                assertEquals("0110", r.values().get("mask"), r.describe());
                // One victim dies before dispatch, the other in combine: two waits in the step time out.
                assertDetectionBound(r, 2, "two deaths");
            }
        }
    }

    /**
     * The failing step costs at most {@code timeouts} timeouts plus the margin; later steps are no slower than healthy
     * ones plus the margin. A wait's timeout counts only the time its kernel ran (sync.cu WaitClock): without MPS the
     * PEs of one GPU time-slice it, so a timeout takes up to (PEs per GPU) times as long in wall time; the GPU script
     * sets {@value #MPS_PROPERTY} under MPS, where the PEs run concurrently.
     */
    private static void assertDetectionBound(RankResult r, int timeouts, String scenario) {
        long healthy = Long.parseLong(r.values().get("healthyStepMicros"));
        long fail = Long.parseLong(r.values().get("failStepMicros"));
        long after = Long.parseLong(r.values().get("afterStepMicros"));
        // One line per survivor that the GPU script gathers into its detection table.
        System.out.printf(
                "DETECTION %s | rank %d on GPU %d | healthy %d us | failing step %d us | later %d us%n",
                scenario, r.rank(), r.rank() % Cuda.deviceCount(), healthy, fail, after);
        long slicing = Boolean.getBoolean(MPS_PROPERTY) ? 1 : (RANKS + Cuda.deviceCount() - 1) / Cuda.deviceCount();
        long bound = timeouts * slicing * (NvshmemRankMain.TIMEOUT.toNanos() / 1000) + STEP_MARGIN_MICROS;
        assertTrue(
                fail <= bound,
                "rank " + r.rank() + ": the failing step took " + fail + " us, more than " + bound
                        + " us (" + timeouts + " timeout(s) x " + slicing + " PEs time-slicing a GPU + margin): "
                        + r.describe());
        assertTrue(
                after <= STEP_MARGIN_MICROS,
                "rank " + r.rank() + ": a step after detection took " + after
                        + " us (no more waiting on the dead peer expected): " + r.describe());
    }

    @ParameterizedTest(name = "victim SIGSTOPped at {0}, resumed and readmitted")
    @EnumSource(
            value = Phase.class,
            names = {"DISPATCH_SEND", "COMBINE_RECV"})
    void stoppedPeIsMaskedThenResumedAndReadmitted(Phase phase) throws Exception {
        try (RankLauncher launcher = ranks(RANKS, "stall", phase.name())
                .fault(VICTIM, RankFault.stop(phase, FAIL_STEP + 1))
                .start()) {
            for (int r : allBut(RANKS, VICTIM)) {
                boolean ready = launcher.awaitEvent(r, "ready", RUN_BOUND);
                assertTrue(
                        ready,
                        "survivor " + r + " masked the stopped PE and got ready to readmit it: "
                                + (ready
                                        ? ""
                                        : launcher.await(r, Duration.ofSeconds(1))
                                                .describe()));
            }
            assertTrue(launcher.awaitEvent(VICTIM, "fault", Duration.ofSeconds(10)), "the victim reached " + phase);
            assertTrue(launcher.awaitStopped(VICTIM, Duration.ofSeconds(10)), "the victim's process is stopped");
            launcher.resume(VICTIM);
            List<RankResult> all =
                    awaitSurvivors(launcher, IntStream.range(0, RANKS).toArray());
            assertTrue(all.get(VICTIM).hasEvent("resumed"), all.get(VICTIM).describe());
        }
    }
}
