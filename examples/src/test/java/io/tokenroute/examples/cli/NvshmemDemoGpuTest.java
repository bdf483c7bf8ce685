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
package io.tokenroute.examples.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.device.Cuda;
import io.tokenroute.device.nvshmem.NvshmemLibrary;
import io.tokenroute.examples.demo.DemoSummary;
import io.tokenroute.examples.demo.DemoSummary.FailureReport;
import io.tokenroute.examples.demo.DemoSummary.StepKind;
import io.tokenroute.routing.launch.RankLauncher.RankResult;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code tokenroute demo --transport nvshmem} on a GPU with the project's NVSHMEM library (skipped with the reason
 * elsewhere): 4 rank processes, one NVSHMEM PE each; rank 2 SIGKILLs its own process in dispatch at step 10, every
 * survivor masks it there, every damaged token is recomputed and no output differs from the plain-loop reference.
 *
 * <p>The rank JVMs take their class path from {@code tokenroute.test.classpath} when set (the GPU script sets it) and
 * inherit the environment ({@code TOKENROUTE_NVSHMEM_LIB}, {@code LD_LIBRARY_PATH}).
 */
class NvshmemDemoGpuTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void gpuAndNvshmem() {
        assumeTrue(Cuda.isAvailable(), "no CUDA: " + Cuda.unavailableReason());
        assumeTrue(NvshmemLibrary.isAvailable(), "no NVSHMEM library: " + NvshmemLibrary.unavailableReason());
    }

    @Test
    void killedPeIsMaskedByEverySurvivorAndDamagedTokensAreRecomputed() {
        // The default GPU timeout (1 s): no --timeout.
        DemoRuns.Run run = DemoRuns.demo(List.of(
                "--transport",
                "nvshmem",
                "--ranks",
                "4",
                "--experts",
                "16",
                "--tokens",
                "16",
                "--hidden",
                "64",
                "--steps",
                "30",
                "--fail",
                "2@10:dispatch",
                "--no-progress",
                "--plot",
                dir.resolve("nvshmem.png").toString()));
        DemoSummary s = run.summary();
        String printed = run.printed();
        System.out.println(printed);

        assertNotNull(s, printed);
        StringBuilder ranks = new StringBuilder();
        run.run().rankProcesses().forEach(r -> ranks.append(r.describe()).append('\n'));
        assertEquals(0, run.exit(), printed + ranks);
        assertTrue(printed.contains("timeout 1 s"), "the nvshmem default timeout: " + printed);
        assertEquals(0, s.mismatches(), printed);
        assertTrue(s.unexpectedMasks().isEmpty(), "no healthy rank masked: " + s.unexpectedMasks());
        assertTrue(s.errors().isEmpty(), "no rank failed: " + s.errors());
        FailureReport f = s.failures().get(0);
        assertEquals(10, f.detectedStep(), printed);
        assertArrayEquals(new int[] {2}, f.maskedAfter());
        assertEquals("dispatch 3", f.detectedIn(), "all three survivors masked it in dispatch");
        assertTrue(f.damagedTokens() > 0, "the failure damaged some tokens");
        assertEquals(f.damagedTokens(), f.recomputedTokens(), "every damaged token recomputed");
        assertEquals(StepKind.DETECTION, s.stepKinds()[10]);
        // Each rank process reports its own count: the survivors' 16 tokens per step over all 30 steps (the killed
        // process's count died with it).
        assertEquals(16L * 3 * 30, s.tokensDecoded());
        assertTrue(s.outputsChecked() > s.tokensDecoded(), "the recompute round was checked too");

        for (RankResult r : run.run().rankProcesses()) {
            if (r.rank() == 2) {
                assertTrue(r.endedBySignal(9), "the victim was SIGKILLed (exit 137): " + r.describe());
                assertTrue(r.hasEvent("fault"), r.describe());
            } else {
                assertTrue(r.ok(), r.describe());
            }
        }
    }

    @Test
    void readmitIsRefused() {
        StringWriter err = new StringWriter();
        CommandLine cli = TokenRouteCli.commandLine();
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute("demo", "--transport", "nvshmem", "--fail", "2@50:dispatch", "--readmit", "2@80");
        assertEquals(2, exit, err.toString());
        assertTrue(err.toString().contains("--readmit is not possible with --transport nvshmem"), err.toString());
    }
}
