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
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code tokenroute demo --transport shm} in-process (the parent; the ranks are real processes): rank 2 SIGKILLs its
 * own process in dispatch at step 10, every survivor masks it there, no output differs from the reference, and the
 * group file is gone afterwards.
 */
class ShmDemoTest {
    @TempDir
    Path dir;

    @Test
    void killedRankIsMaskedByEverySurvivor() throws Exception {
        Assumptions.assumeTrue(RankLauncher.signalsAvailable(), "no kill command: the shm transport is unavailable");
        StringWriter out = new StringWriter();
        CommandLine cli = TokenRouteCli.commandLine();
        cli.setOut(new PrintWriter(out));
        int exit = cli.execute("demo", "--transport", "shm", "--ranks", "4", "--experts", "16", "--tokens", "16",
                "--hidden", "64", "--steps", "30", "--fail", "2@10:dispatch", "--timeout", "300ms", "--no-progress",
                "--plot", dir.resolve("shm.png").toString());
        DemoCommand demo = (DemoCommand) cli.getSubcommands().get("demo").getCommand();
        DemoSummary s = demo.summary();
        String printed = out.toString();

        assertEquals(0, exit, printed);
        assertNotNull(s);
        assertEquals(0, s.mismatches(), printed);
        assertTrue(s.unexpectedMasks().isEmpty(), "no healthy rank masked: " + s.unexpectedMasks());
        assertTrue(s.errors().isEmpty(), "no rank failed: " + s.errors());
        FailureReport f = s.failures().get(0);
        assertEquals(10, f.detectedStep(), printed);
        assertArrayEquals(new int[] {2}, f.maskedAfter());
        assertTrue(f.detectedIn().equals("dispatch 3"), "all three survivors masked it in dispatch: "
                + f.detectedIn());
        assertTrue(s.outputsChecked() > 0);

        for (RankResult r : demo.shmRun().ranks()) {
            if (r.rank() == 2) {
                assertTrue(r.endedBySignal(9), "the victim was SIGKILLed (exit 137): " + r.describe());
                assertTrue(r.hasEvent("fault"), r.describe());
            } else {
                assertTrue(r.ok(), r.describe());
            }
        }
        Path groupFile = demo.shmRun().groupFile();
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
