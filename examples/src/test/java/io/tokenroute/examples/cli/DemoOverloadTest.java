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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.examples.demo.DemoSummary;
import io.tokenroute.routing.launch.RankLauncher;
import io.tokenroute.routing.testkit.BusyProcesses;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The demo on an overloaded host: four busy processes beside the ranks (on the 2-core CI machine). Whatever the timing,
 * no output may differ from the reference, no rank may fail, every agreement must give every live rank the same mask,
 * every injected failure must be detected and every rank masked by mistake must come back. False masks are printed,
 * not asserted.
 */
class DemoOverloadTest {
    private static final int BUSY = 4;

    @TempDir
    Path dir;

    /** The README's main job, with its defaults. */
    @Test
    void theDefaultDemoIsCorrectUnderOverload() {
        run("local defaults");
    }

    /** A timeout far below the scheduling delays of the overloaded host: false masks are likely, wrong outputs not. */
    @Test
    void aTightTimeoutUnderOverloadMayMaskButNeverCorrupts() {
        run(
                "local 2ms",
                "--timeout",
                "2ms",
                "--ranks",
                "4",
                "--experts",
                "16",
                "--tokens",
                "16",
                "--hidden",
                "256",
                "--steps",
                "300");
    }

    /** Ranks as processes over shared memory; a failed rank SIGKILLs itself. */
    @Test
    void shmRankProcessesUnderOverload() {
        Assumptions.assumeTrue(RankLauncher.signalsAvailable(), "no kill command: the shm transport is unavailable");
        run(
                "shm",
                "--transport",
                "shm",
                "--ranks",
                "4",
                "--experts",
                "16",
                "--tokens",
                "16",
                "--hidden",
                "256",
                "--steps",
                "120");
    }

    private void run(String label, String... options) {
        List<String> args = new ArrayList<>(List.of(
                "demo", "--no-progress", "--plot", dir.resolve("plot.png").toString()));
        args.addAll(List.of(options));
        StringWriter out = new StringWriter();
        CommandLine cli = TokenRouteCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(out));
        int exit;
        try (BusyProcesses busy = new BusyProcesses(BUSY)) {
            exit = cli.execute(args.toArray(String[]::new));
            assertEquals(BUSY, busy.count(), "the overload lasted the whole run");
        }
        DemoSummary s = ((DemoCommand) cli.getSubcommands().get("demo").getCommand()).summary();
        String printed = out.toString();
        assertNotNull(s, printed);
        System.out.printf(
                "demo under overload (%s): %d false masks %s, %d steps in %.1f s%n",
                label, s.unexpectedMasks().size(), s.unexpectedMasks(), s.stepMillis().length, s.elapsedNanos() / 1e9);
        assertEquals(0, s.mismatches(), printed);
        assertTrue(s.errors().isEmpty(), "no rank failed: " + s.errors() + "\n" + printed);
        assertTrue(s.splitViews().isEmpty(), "no split view: " + s.splitViews() + "\n" + printed);
        assertTrue(
                s.unexpectedMasks().stream().allMatch(DemoSummary.UnexpectedMask::settled),
                "every falsely masked rank came back: " + s.unexpectedMasks() + "\n" + printed);
        assertTrue(s.failures().stream().allMatch(DemoSummary.FailureReport::detected), printed);
        assertEquals(0, exit, printed);
    }
}
