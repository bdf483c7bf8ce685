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
import io.tokenroute.examples.demo.DemoSummary.StepKind;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code tokenroute demo} in-process with failures and a readmission: the summary lists exactly the injected failures
 * with the masks the survivors agreed on, every damaged token is recomputed, no output differs from the reference, and
 * the plot is a real PNG.
 */
class DemoCommandTest {
    /**
     * Generous next to the demo's 20 ms, so that a loaded CI machine cannot make a healthy rank look dead; the demo's
     * own default is checked by running {@code ./tokenroute demo}.
     */
    private static final String TIMEOUT = "200ms";

    @TempDir
    Path dir;

    /** Zipf-skewed routing loads some ranks more than others; failures, readmission and every output stay exact. */
    @Test
    void skewedRoutingStaysExact() {
        DemoRuns.Run run = DemoRuns.demo(List.of(
                "--ranks",
                "4",
                "--experts",
                "16",
                "--tokens",
                "16",
                "--hidden",
                "64",
                "--steps",
                "40",
                "--timeout",
                TIMEOUT,
                "--skew",
                "zipf:1.2",
                "--fail",
                "2@10:dispatch",
                "--readmit",
                "2@20",
                "--no-progress",
                "--plot",
                dir.resolve("skew.png").toString()));
        DemoSummary s = run.summary();
        assertEquals(0, run.exit(), run.printed());
        assertTrue(run.printed().contains("routing zipf:1.2"), run.printed());
        assertEquals(0, s.mismatches(), run.printed());
        assertTrue(s.errors().isEmpty(), "no rank failed: " + s.errors());
        assertEquals(s.damagedTokens(), s.recomputedTokens(), run.printed());
        assertTrue(s.damagedTokens() > 0, run.printed());
    }

    @Test
    void failuresAreDetectedRecomputedAndReadmitted() throws Exception {
        Path plot = dir.resolve("plots/demo.png");
        StringWriter out = new StringWriter();
        CommandLine cli = TokenRouteCli.commandLine();
        cli.setOut(new PrintWriter(out));
        int exit = cli.execute(
                "demo",
                "--ranks",
                "4",
                "--experts",
                "16",
                "--tokens",
                "16",
                "--hidden",
                "64",
                "--steps",
                "40",
                "--timeout",
                TIMEOUT,
                "--fail",
                "2@10:dispatch",
                "--fail",
                "1@20:combine",
                "--readmit",
                "2@30",
                "--no-progress",
                "--plot",
                plot.toString());
        DemoSummary s = ((DemoCommand) cli.getSubcommands().get("demo").getCommand()).summary();
        String printed = out.toString();

        assertEquals(0, exit, printed);
        assertNotNull(s);
        assertEquals(0, s.mismatches(), printed);
        assertTrue(s.unexpectedMasks().isEmpty(), "no healthy rank masked: " + s.unexpectedMasks());
        assertTrue(s.errors().isEmpty(), "no rank failed: " + s.errors());

        FailureReport first = s.failures().get(0);
        assertEquals(10, first.detectedStep(), printed);
        assertArrayEquals(new int[] {2}, first.maskedAfter());
        assertTrue(
                first.detectedIn().startsWith("dispatch 3"),
                "all three survivors saw it in dispatch: " + first.detectedIn());
        FailureReport second = s.failures().get(1);
        assertEquals(20, second.detectedStep(), printed);
        assertArrayEquals(new int[] {1, 2}, second.maskedAfter());
        assertTrue(second.detectedIn().contains("combine"), second.detectedIn());
        for (FailureReport f : s.failures()) {
            assertTrue(f.damagedTokens() > 0, f + " damaged some tokens");
            assertEquals(f.damagedTokens(), f.recomputedTokens(), f + ": every damaged token recomputed");
        }
        assertEquals(s.damagedTokens(), s.recomputedTokens());
        // Rank 2's 4 experts fit into the others' 6 redundant slots; rank 1's experts (and those it took over) then
        // find only 2 free slots, so some stay unhosted until rank 2 returns, and the router sends tokens around them.
        assertEquals(0, first.unhostedExperts().length, "the redundant slots re-host the first rank's experts");
        assertTrue(second.unhostedExperts().length > 0, "two of four ranks down exceed the redundant slots");
        assertTrue(s.tokensRerouted() > 0, "tokens were routed around unhosted experts");

        ReadmitReport readmit = s.readmits().get(0);
        assertTrue(readmit.readmitted(), printed);
        assertArrayEquals(new int[] {1}, readmit.maskedAfter());

        // Every survivor's 16 tokens per step are decoded once: 4 ranks before the first failure, then 3, 2, 3.
        assertEquals(16L * (4 * 10 + 3 * 10 + 2 * 10 + 3 * 10), s.tokensDecoded());
        assertEquals(4, s.liveRanks()[5]);
        assertEquals(2, s.liveRanks()[25]);
        assertEquals(3, s.liveRanks()[35]);
        assertEquals(StepKind.DETECTION, s.stepKinds()[10]);
        assertEquals(StepKind.DEGRADED, s.stepKinds()[15]);
        assertEquals(2, s.count(StepKind.DETECTION));

        assertTrue(printed.matches("(?s).*\\n  mismatches +0\\n.*"), printed);
        assertTrue(printed.matches("(?s).*\\n  result +OK\\n.*"), printed);
        assertTrue(printed.contains("2@10:dispatch   step 10"), printed);
        BufferedImage image = ImageIO.read(plot.toFile());
        assertNotNull(image, "the plot is a readable image");
        assertTrue(
                image.getWidth() >= 800 && image.getHeight() >= 400,
                "plot size " + image.getWidth() + "x" + image.getHeight());
        assertTrue(Files.size(plot) > 10_000, "the plot has content");
    }

    @Test
    void healthyRunMasksNobody() {
        CommandLine cli = TokenRouteCli.commandLine();
        cli.setOut(new PrintWriter(new StringWriter()));
        int exit = cli.execute(
                "demo",
                "--ranks",
                "3",
                "--experts",
                "9",
                "--redundant",
                "1",
                "--tokens",
                "8",
                "--hidden",
                "36",
                "--topk",
                "3",
                "--steps",
                "20",
                "--timeout",
                TIMEOUT,
                "--healthy",
                "--no-rehearsal",
                "--no-progress",
                "--plot",
                dir.resolve("healthy.png").toString());
        DemoSummary s = ((DemoCommand) cli.getSubcommands().get("demo").getCommand()).summary();
        assertEquals(0, exit);
        assertTrue(s.failures().isEmpty() && s.unexpectedMasks().isEmpty());
        assertEquals(3L * 8 * 20, s.tokensDecoded());
        assertEquals(s.tokensDecoded(), s.outputsChecked());
        assertEquals(0, s.damagedTokens());
    }
}
