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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.examples.demo.DemoSummary;
import io.tokenroute.examples.demo.DemoSummary.FailureReport;
import io.tokenroute.routing.launch.RankLauncher;
import io.tokenroute.routing.launch.RankLauncher.RankResult;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code tokenroute demo --transport shm} in-process (the parent; the ranks are real processes, each opening the group
 * with {@code ElasticGroup.open} from its launch environment and running the same engine loop as a local thread): rank
 * 2 SIGKILLs its own process in dispatch at step 10, every survivor masks it there, every damaged token is recomputed,
 * no output differs from the reference, and the group file is gone afterwards.
 */
class ShmDemoTest {
    @TempDir
    Path dir;

    @Test
    void killedRankIsMaskedByEverySurvivor() throws Exception {
        Assumptions.assumeTrue(RankLauncher.signalsAvailable(), "no kill command: the shm transport is unavailable");
        DemoRuns.Run run = DemoRuns.demo(List.of(
                "--transport",
                "shm",
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
                "--timeout",
                "300ms",
                "--no-progress",
                "--plot",
                dir.resolve("shm.png").toString()));
        DemoSummary s = run.summary();
        String printed = run.printed();

        assertEquals(0, run.exit(), printed);
        assertTrue(printed.contains("starting 4 rank processes (DemoRankProcess)"), printed);
        assertNotNull(s);
        assertEquals(0, s.mismatches(), printed);
        assertTrue(s.unexpectedMasks().isEmpty(), "no healthy rank masked: " + s.unexpectedMasks());
        assertTrue(s.errors().isEmpty(), "no rank failed: " + s.errors());
        FailureReport f = s.failures().get(0);
        assertEquals(10, f.detectedStep(), printed);
        assertArrayEquals(new int[] {2}, f.maskedAfter());
        assertTrue(f.detectedIn().equals("dispatch 3"), "all three survivors masked it in dispatch: " + f.detectedIn());
        assertTrue(f.damagedTokens() > 0, "the failure damaged some tokens");
        assertEquals(f.damagedTokens(), f.recomputedTokens(), "every damaged token recomputed");
        // Each rank process reports its own counts: the survivors' 16 tokens per step over all 30 steps (the killed
        // process's counts died with it), and the recompute round's outputs were checked too.
        assertEquals(16L * 3 * 30, s.tokensDecoded());
        assertTrue(s.outputsChecked() > s.tokensDecoded(), "the recompute round was checked too");

        assertEquals(4, run.run().rankProcesses().size());
        for (RankResult r : run.run().rankProcesses()) {
            if (r.rank() == 2) {
                assertTrue(r.endedBySignal(9), "the victim was SIGKILLed (exit 137): " + r.describe());
                assertTrue(r.hasEvent("fault"), r.describe());
            } else {
                assertTrue(r.ok(), r.describe());
            }
        }
        Path groupFile = run.run().groupFile();
        assertFalse(Files.exists(groupFile), "group file removed: " + groupFile);
        assertFalse(Files.exists(groupFile.getParent()), "launcher directory removed: " + groupFile.getParent());
    }

    @Test
    void readmitIsRefused() {
        Assumptions.assumeTrue(RankLauncher.signalsAvailable(), "no kill command: the shm transport is unavailable");
        StringWriter err = new StringWriter();
        CommandLine cli = TokenRouteCli.commandLine();
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute("demo", "--transport", "shm", "--fail", "2@50:dispatch", "--readmit", "2@80");
        assertEquals(2, exit, err.toString());
        assertTrue(err.toString().contains("--readmit is not possible with --transport shm"), err.toString());
    }
}
