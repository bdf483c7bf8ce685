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

import io.tokenroute.examples.demo.DemoSummary;
import io.tokenroute.examples.demo.DemoSummary.FailureReport;
import io.tokenroute.examples.demo.DemoSummary.ReadmitReport;
import io.tokenroute.routing.launch.RankLauncher;
import io.tokenroute.routing.launch.RankLauncher.RankResult;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tokenroute demo --mode prefill} (docs/contract.md §3b) in-process: prefill steps whose rows stream through
 * queues a few times smaller than a step, with a rank stopped at each prefill phase (the notify, the middle of its
 * dispatch stream, the middle of its combine stream). Every survivor masks the victim in the step it stopped, every
 * damaged token is recomputed, each stopped rank is readmitted, and no output differs from the demo's reference, in
 * which each token's output must equal the rank-ordered sum with exactly the ranks whose weight it lost left out.
 */
class PrefillDemoTest {
    /** Generous next to the demo's 50 ms, so that a loaded CI machine cannot make a healthy rank look dead. */
    private static final String TIMEOUT = "300ms";

    private static final int TOKENS = 192;

    @TempDir
    Path dir;

    @Test
    void aRankStoppedAtEachPrefillPhaseIsMaskedRecomputedAndReadmitted() {
        DemoRuns.Run run = demo(
                "local",
                "--steps",
                "30",
                "--fail",
                "1@8:prefill-notify,2@14:prefill-dispatch,3@20:prefill-combine",
                "--readmit",
                "1@12,2@18,3@24");
        DemoSummary s = run.summary();
        String printed = run.printed();

        assertClean(run);
        assertTrue(
                printed.contains("prefill: each (source, destination) queue holds 2 chunks x 16 rows = 32 rows; a"
                        + " step's " + TOKENS + " tokens per rank stream through it"),
                printed);
        assertEquals(3, s.failures().size(), printed);
        assertFailure(s.failures().get(0), 8, 1, "dispatch 3", printed);
        assertFailure(s.failures().get(1), 14, 2, "dispatch 3", printed);
        assertFailure(s.failures().get(2), 20, 3, "combine 3", printed);
        assertEquals(3, s.readmits().size(), printed);
        for (ReadmitReport r : s.readmits()) {
            assertTrue(r.readmitted(), r + "\n" + printed);
            assertArrayEquals(new int[0], r.maskedAfter(), "every rank is back: " + r);
        }
        // Every live rank's tokens are prefilled once per step: 4 ranks, then 3 for four steps after each failure.
        assertEquals((long) TOKENS * (4 * 30 - 3 * 4), s.tokensDecoded(), printed);
        assertEquals(3, s.liveRanks()[8]);
        assertEquals(4, s.liveRanks()[12]);
        assertEquals(3, s.liveRanks()[23]);
        assertEquals(4, s.liveRanks()[29]);
        assertTrue(s.outputsChecked() > s.tokensDecoded(), "the recompute rounds were checked too");
        assertEquals(s.damagedTokens(), s.recomputedTokens());
        assertTrue(printed.contains("1@8:prefill-notify    step 8"), printed);
        assertTrue(printed.matches("(?s).*\\n  tokens prefilled +" + s.tokensDecoded() + " .*"), printed);
    }

    /** Ranks as processes over shared memory: a victim SIGKILLs itself in the middle of its dispatch or combine. */
    @Test
    void killedRankProcessesMidStreamAreMaskedByEverySurvivor() {
        Assumptions.assumeTrue(RankLauncher.signalsAvailable(), "no kill command: the shm transport is unavailable");
        DemoRuns.Run run = demo("shm", "--steps", "24", "--fail", "3@8:prefill-dispatch,2@14:prefill-combine");
        DemoSummary s = run.summary();
        String printed = run.printed();

        assertClean(run);
        // Only the processes alive at the end report: ranks 0 and 1 (rank 2 saw the first failure too, then died).
        assertFailure(s.failures().get(0), 8, 3, "dispatch 2", printed);
        FailureReport second = s.failures().get(1);
        assertEquals(14, second.detectedStep(), printed);
        assertArrayEquals(new int[] {2, 3}, second.maskedAfter());
        assertTrue(
                second.detectedIn().startsWith("combine 2"),
                "both survivors masked it in combine: " + second.detectedIn());
        assertTrue(second.damagedTokens() > 0 && second.damagedTokens() == second.recomputedTokens(), printed);
        // Each surviving process reports its own tokens (the killed ones' counts died with them).
        assertEquals((long) TOKENS * 2 * 24, s.tokensDecoded(), printed);
        for (RankResult r : run.run().rankProcesses()) {
            if (r.rank() >= 2) {
                assertTrue(r.endedBySignal(9), "the victim was SIGKILLed (exit 137): " + r.describe());
                assertTrue(r.hasEvent("fault"), r.describe());
            } else {
                assertTrue(r.ok(), r.describe());
            }
        }
    }

    private DemoRuns.Run demo(String transport, String... options) {
        List<String> args = new ArrayList<>(List.of(
                "--mode",
                "prefill",
                "--transport",
                transport,
                "--ranks",
                "4",
                "--experts",
                "16",
                "--redundant",
                "3",
                "--tokens",
                "" + TOKENS,
                "--hidden",
                "64",
                "--topk",
                "4",
                "--chunk-rows",
                "16",
                "--chunks",
                "2",
                "--timeout",
                TIMEOUT,
                "--no-progress",
                "--plot",
                dir.resolve(transport + ".png").toString()));
        args.addAll(List.of(options));
        return DemoRuns.demo(args);
    }

    private static void assertClean(DemoRuns.Run run) {
        DemoSummary s = run.summary();
        assertEquals(0, run.exit(), run.printed());
        assertNotNull(s, run.printed());
        assertEquals(0, s.mismatches(), run.printed());
        assertTrue(s.unexpectedMasks().isEmpty(), "no healthy rank masked: " + s.unexpectedMasks());
        assertTrue(s.errors().isEmpty(), "no rank failed: " + s.errors());
        assertTrue(s.splitViews().isEmpty(), "no split view: " + s.splitViews());
    }

    /** The victim was masked by every survivor in the step it stopped, and its damaged tokens were recomputed. */
    private static void assertFailure(FailureReport f, int step, int victim, String detectedIn, String printed) {
        assertEquals(step, f.detectedStep(), printed);
        assertArrayEquals(new int[] {victim}, f.maskedAfter(), printed);
        assertTrue(
                f.detectedIn().startsWith(detectedIn),
                f.spec() + ": every survivor masked it in " + detectedIn.split(" ")[0] + ": " + f.detectedIn());
        assertTrue(f.damagedTokens() > 0, f + " damaged some tokens");
        assertEquals(f.damagedTokens(), f.recomputedTokens(), f + ": every damaged token recomputed");
    }
}
