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

import static io.tokenroute.routing.shm.ShmRankMain.FAIL_STEP;
import static io.tokenroute.routing.shm.ShmRankMain.RANKS;
import static io.tokenroute.routing.shm.ShmRankMain.VICTIM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.routing.HealthReport;
import io.tokenroute.routing.Phase;
import io.tokenroute.routing.launch.RankFault;
import io.tokenroute.routing.launch.RankLauncher;
import io.tokenroute.routing.launch.RankLauncher.RankResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The {@code shm} transport with one process per rank ({@link ShmRankMain}): conformance against the reference, real
 * SIGKILLs at every phase of docs/contract.md §3, two deaths in one step, a SIGSTOP stall with readmit, and join
 * validation. Survivors must exit 0 within a bound after their last step, and the group file must be gone afterwards
 * (deleted by the last live rank, not by the launcher).
 */
class ShmProcessTest {
    /** Quick-starting rank JVMs: C1 only and the serial collector keep four JVMs on two cores responsive. */
    private static final String[] RANK_JVM = {
        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m", "-XX:-UsePerfData"
    };
    /** Everything a group does, start-up of R JVMs included (a hang fails the test at this bound). */
    private static final Duration RUN_BOUND = Duration.ofMinutes(3);
    /** How long a rank may take from finishing its last step to having exited (close never waits on peers). */
    private static final Duration EXIT_BOUND = Duration.ofSeconds(20);
    /** A step with a dead peer costs one timeout; the rest is slack for a loaded CI machine, not a speed check. */
    private static final long STEP_MARGIN_MILLIS = 5_000;

    private static final int SIGKILL = 9;

    private static RankLauncher.Builder ranks(int ranks, RankLauncher.RankArgs args) {
        return RankLauncher.builder(ShmRankMain.class.getName(), ranks)
                .jvmOptions(RANK_JVM)
                .args(args);
    }

    private static List<String> args(Path file, int rank, String... scenario) {
        List<String> out = new ArrayList<>(List.of(file.toString(), Integer.toString(rank)));
        out.addAll(List.of(scenario));
        return out;
    }

    private static void assumeSignals() {
        assumeTrue(RankLauncher.signalsAvailable(), "no 'kill' command on this machine: process-kill tests skipped");
    }

    /** Waits for every given rank's {@code done}, then for its exit within {@link #EXIT_BOUND}; all must exit 0. */
    private static List<RankResult> awaitSurvivors(RankLauncher launcher, int... survivors) throws Exception {
        long deadline = System.nanoTime() + RUN_BOUND.toNanos();
        List<RankResult> out = new ArrayList<>();
        for (int r : survivors) {
            boolean done = launcher.awaitEvent(r, "done", Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            RankResult result = launcher.await(r, done ? EXIT_BOUND : Duration.ofSeconds(1));
            assertTrue(done, "rank " + r + " never finished its steps: " + result.describe());
            assertTrue(
                    result.exitedInTime(),
                    "rank " + r + " did not exit within " + EXIT_BOUND + " after its last step: " + result.describe());
            assertEquals(0, result.exitCode(), result.describe());
            System.out.println("rank " + r + ": exit 0, events " + result.events() + ", result " + result.values());
            out.add(result);
        }
        return out;
    }

    private static void assertGroupFilesRemoved(RankLauncher launcher) throws IOException {
        try (Stream<Path> left = Files.list(launcher.directory())) {
            List<Path> files = left.toList();
            assertEquals(List.of(), files, "the ranks removed their group files");
        }
    }

    private static int[] allBut(int... dead) {
        return java.util.stream.IntStream.range(0, RANKS)
                .filter(r -> java.util.Arrays.stream(dead).noneMatch(d -> d == r))
                .toArray();
    }

    // ------------------------------------------------------------------------------------------------ conformance

    @ParameterizedTest(name = "R={0}")
    @ValueSource(ints = {2, 4})
    void conformanceAcrossProcesses(int ranks) throws Exception {
        try (RankLauncher launcher = ranks(ranks, (r, f) -> args(f, r, "conformance", Integer.toString(ranks)))
                .start()) {
            int[] all = java.util.stream.IntStream.range(0, ranks).toArray();
            for (RankResult r : awaitSurvivors(launcher, all)) {
                assertEquals(
                        Integer.toString(ShmRankMain.conformanceCases(ranks).size()),
                        r.values().get("cases"),
                        r.describe());
            }
            assertGroupFilesRemoved(launcher);
        }
    }

    // ------------------------------------------------------------------------------------------------ SIGKILL

    private static boolean isCollective(Phase phase) {
        return phase == Phase.CLEAN || phase == Phase.BARRIER || phase == Phase.ALL_GATHER || phase == Phase.AGREE;
    }

    @ParameterizedTest(name = "victim SIGKILLed at {0}")
    @EnumSource(value = Phase.class, mode = EnumSource.Mode.MATCH_NONE, names = "PREFILL_.*")
    void sigkilledRankIsMaskedAndSurvivorsStayExact(Phase phase) throws Exception {
        assumeSignals();
        String collective = isCollective(phase) ? phase.name() : "NONE";
        try (RankLauncher launcher = ranks(RANKS, (r, f) -> args(f, r, "kill", collective, VICTIM + ":" + phase))
                .fault(VICTIM, RankFault.kill(phase, FAIL_STEP + 1))
                .start()) {
            int[] survivors = allBut(VICTIM);
            List<RankResult> results = awaitSurvivors(launcher, survivors);
            RankResult victim = launcher.await(VICTIM, EXIT_BOUND);
            assertTrue(victim.hasEvent("fault"), "the victim reached " + phase + ": " + victim.describe());
            assertTrue(victim.endedBySignal(SIGKILL), "the victim died of SIGKILL: " + victim.describe());
            System.out.println("victim: exit code " + victim.exitCode() + ", events " + victim.events());
            for (RankResult r : results) {
                assertEquals("0010", r.values().get("mask"), r.describe());
                assertEquals(
                        Integer.toString(FAIL_STEP + 1 + ShmRankMain.AFTER_STEPS),
                        r.values().get("steps"));
                assertStepBound(r, 1);
            }
            assertGroupFilesRemoved(launcher);
        }
    }

    @Test
    void twoRanksDieInOneStep() throws Exception {
        assumeSignals();
        try (RankLauncher launcher = ranks(
                        RANKS, (r, f) -> args(f, r, "kill", "BARRIER", "2:DISPATCH_SEND", "1:COMBINE_RECV"))
                .fault(2, RankFault.kill(Phase.DISPATCH_SEND, FAIL_STEP + 1))
                .fault(1, RankFault.kill(Phase.COMBINE_RECV, FAIL_STEP + 1))
                .start()) {
            List<RankResult> results = awaitSurvivors(launcher, allBut(1, 2));
            for (int v : new int[] {1, 2}) {
                RankResult victim = launcher.await(v, EXIT_BOUND);
                assertTrue(victim.hasEvent("fault") && victim.endedBySignal(SIGKILL), victim.describe());
            }
            for (RankResult r : results) {
                assertEquals("0110", r.values().get("mask"), r.describe());
                assertStepBound(r, 1);
            }
            assertGroupFilesRemoved(launcher);
        }
    }

    /**
     * Every step after warm-up, the failing one included, took at most {@code detections} times the detector's
     * documented worst-case detection time ({@link HealthReport#worstCaseDetection}) plus the margin: dead peers found
     * in one wait cost one detection together, not one each.
     */
    private static void assertStepBound(RankResult r, int detections) {
        long max = Long.parseLong(r.values().get("maxStepMillis"));
        long bound = detections
                        * HealthReport.worstCaseDetection(ShmRankMain.TIMEOUT).toMillis()
                + STEP_MARGIN_MILLIS;
        assertTrue(
                max <= bound,
                "rank " + r.rank() + ": slowest step took " + max + " ms, more than " + bound
                        + " ms (dead peers should cost one detection): " + r.describe());
    }

    // ------------------------------------------------------------------------------------------------ SIGSTOP

    @ParameterizedTest(name = "victim SIGSTOPped at {0}, resumed and readmitted")
    @EnumSource(
            value = Phase.class,
            names = {"DISPATCH_SEND", "DISPATCH_RECV", "COMBINE_RECV", "BARRIER"})
    void stoppedRankIsMaskedThenResumedAndReadmitted(Phase phase) throws Exception {
        assumeSignals();
        try (RankLauncher launcher = ranks(RANKS, (r, f) -> args(f, r, "stall", phase.name()))
                .fault(VICTIM, RankFault.stop(phase, FAIL_STEP + 1))
                .start()) {
            int[] survivors = allBut(VICTIM);
            for (int r : survivors) {
                boolean ready = launcher.awaitEvent(r, "ready", RUN_BOUND);
                assertTrue(
                        ready,
                        "survivor " + r + " masked the stalled rank and got ready to readmit it: "
                                + (ready
                                        ? ""
                                        : launcher.await(r, Duration.ofSeconds(1))
                                                .describe()));
            }
            assertTrue(launcher.awaitEvent(VICTIM, "fault", Duration.ofSeconds(10)), "the victim reached " + phase);
            assertTrue(
                    launcher.awaitStopped(VICTIM, Duration.ofSeconds(10))
                            || Processes.linuxState(launcher.pid(VICTIM)) == '?',
                    "the victim's process is stopped");
            launcher.resume(VICTIM);
            List<RankResult> all = awaitSurvivors(launcher, 0, 1, 2, 3);
            assertTrue(all.get(VICTIM).hasEvent("resumed"), all.get(VICTIM).describe());
            assertGroupFilesRemoved(launcher);
        }
    }

    // ------------------------------------------------------------------------------------------------ joining

    @Test
    void joinRefusesOtherConfigurationAndSecondClaimOfALiveRank() throws Exception {
        Path dir = Files.createTempDirectory(ShmGroup.defaultDirectory(), "tokenroute-test-");
        Path file = dir.resolve("group.shm");
        try {
            // The test JVM creates the group (hidden = 64) and holds rank 0, so both outcomes are deterministic:
            // process 0 claims rank 0 again, process 1 joins as rank 1 with hidden = 128.
            try (ShmMemory memory = ShmMemory.openOrCreate(file, ShmRankMain.joinConfig(2, 0, 64))) {
                memory.claim(0);
                try (RankLauncher rivals = ranks(2, (r, f) -> args(f, r, "join", "2", r == 0 ? "64" : "128", "20000"))
                        .groupFile(file)
                        .start()) {
                    RankResult sameRank = rivals.await(0, RUN_BOUND);
                    RankResult otherConfig = rivals.await(1, RUN_BOUND);
                    assertEquals(ShmRankMain.EXIT_JOIN_FAILED, sameRank.exitCode(), sameRank.describe());
                    assertTrue(
                            sameRank.values()
                                    .get("joinError")
                                    .contains("rank 0 of group file " + file + " is already attached by live process "
                                            + ProcessHandle.current().pid()),
                            sameRank.describe());
                    assertEquals(ShmRankMain.EXIT_JOIN_FAILED, otherConfig.exitCode(), otherConfig.describe());
                    assertTrue(
                            otherConfig.values().get("joinError").contains("hidden: group has 64, this rank 128"),
                            otherConfig.describe());
                    assertTrue(memory.leave(0), "the only live rank deletes the group file when it leaves");
                }
            }
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void joinTimeoutListsMissingRanks() throws Exception {
        try (RankLauncher launcher = ranks(4, (r, f) -> args(f, r, "join", "4", "64", "5000"))
                .only(0, 2)
                .start()) {
            for (int r : new int[] {0, 2}) {
                RankResult result = launcher.await(r, RUN_BOUND);
                assertEquals(ShmRankMain.EXIT_JOIN_FAILED, result.exitCode(), result.describe());
                String error = result.values().get("joinError");
                assertTrue(error.contains("did not join") && error.contains("within 5000 ms"), result.describe());
                String missing = result.values().get("missing");
                assertTrue(
                        missing.contains("1") && missing.contains("3") && !missing.contains(Integer.toString(r)),
                        "rank " + r + " lists ranks 1 and 3 as missing: " + result.describe());
            }
            assertGroupFilesRemoved(launcher);
        }
    }
}
