package io.tokenroute.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.device.Cuda;
import io.tokenroute.examples.demo.NvshmemDemo;
import io.tokenroute.routing.shm.RankLauncher;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/** Bad command lines end with exit code 2 and a message naming the problem, before any rank starts. */
class CliBadInputTest {

    private record Result(int exit, String out, String err) {
    }

    private static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = TokenRouteCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute(args);
        return new Result(exit, out.toString(), err.toString());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "--transport carrier-pigeon  | unknown transport 'carrier-pigeon'; available on this machine: local",
        "--fail 3@x:dispatch         | '3@x:dispatch' is not RANK@STEP:PHASE",
        "--fail 3@60                 | '3@60' is not RANK@STEP:PHASE",
        "--fail 3@60:explode         | unknown phase 'explode'; use one of dispatch, combine",
        "--readmit 3                 | '3' is not RANK@STEP",
        "--fail 9@60:dispatch        | --fail 9@60:dispatch: rank 9 outside [0, 8)",
        "--fail 3@500:dispatch       | --fail 3@500:dispatch: step 500 outside [0, 200)",
        "--fail 3@5:dispatch         | step 5 is inside the warm-up",
        "--fail 3@60:dispatch --readmit 4@70 | --readmit 4@70: rank 4 is not stopped before step 70",
        "--fail 3@60:dispatch --fail 3@70:combine | --fail 3@70:combine: rank 3 is already stopped at step 70",
        "--ranks 2 --fail 0@20:dispatch --fail 1@30:dispatch | no rank would survive step 30",
        "--timeout 20 | '20' is not a duration such as 20ms",
        "--topk 20 | --topk must be in [1, 16], got 20",
    })
    void demoRefusesWithAClearMessage(String args, String message) {
        Result r = run(("demo " + args.trim()).split("\\s+"));
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains(message.trim()), "expected '" + message.trim() + "' in:\n" + r.err());
    }

    @Test
    void demoRefusesCudaLocalWithoutAGpuAndSaysWhy() {
        assumeFalse(Cuda.isAvailable(), "CUDA is available here: cuda-local is accepted (CudaLocalDemoGpuTest)");
        Result r = run("demo", "--transport", "cuda-local", "--steps", "20");
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("transport 'cuda-local' (streams of one process on one GPU) is not available on"
                + " this machine: " + Cuda.unavailableReason() + "; available: local"), r.err());
        assertTrue(r.out().isEmpty(), "no run started: " + r.out());
    }

    @Test
    void demoRefusesNvshmemWithoutCudaOrNvshmemAndSaysWhichIsMissing() {
        assumeFalse(NvshmemDemo.available(), "CUDA and NVSHMEM are available here: nvshmem is accepted"
                + " (NvshmemDemoGpuTest)");
        Result r = run("demo", "--transport", "nvshmem", "--steps", "20", "--fail", "2@10:dispatch");
        assertEquals(2, r.exit(), r.err());
        String missing = Cuda.isAvailable() ? "the NVSHMEM library is unavailable: " : "CUDA is unavailable: ";
        assertTrue(r.err().contains("transport 'nvshmem' (one process per GPU over NVSHMEM) is not available on this"
                + " machine: " + missing), r.err());
        assertTrue(r.err().contains(NvshmemDemo.unavailableReason() + "; available: local"), r.err());
        assertTrue(r.out().isEmpty(), "no run started: " + r.out());
    }

    @Test
    void routeRefusesUnknownTransportAndMissingOptions() {
        Result transport = run("route", "--input", "a.arrow", "--output", "b.arrow", "--transport", "carrier-pigeon");
        assertEquals(2, transport.exit());
        assertTrue(transport.err().contains("unknown transport 'carrier-pigeon'"), transport.err());
        Result missing = run("route", "--input", "a.arrow");
        assertEquals(2, missing.exit());
        assertTrue(missing.err().contains("--output"), missing.err());
    }

    @Test
    void routeRunsOnLocalOnlyAndSaysWhereTheOtherTransportsRun() {
        assumeTrue(RankLauncher.signalsAvailable(), "shm is not available here, so --transport shm is refused earlier");
        Result shm = run("route", "--input", "a.arrow", "--output", "b.arrow", "--transport", "shm");
        assertEquals(2, shm.exit());
        assertTrue(shm.err().contains("only --transport local is supported")
                && shm.err().contains("tokenroute demo --transport shm"), shm.err());
        assertTrue(shm.out().isEmpty(), "nothing was routed: " + shm.out());
    }

    @Test
    void helpAndVersionDescribeTheCommands() {
        Result top = run("--help");
        assertEquals(0, top.exit());
        assertTrue(top.out().contains("demo") && top.out().contains("route"), top.out());
        Result demo = run("demo", "--help");
        assertEquals(0, demo.exit());
        assertTrue(demo.out().contains("--fail=R@S:PHASE") && demo.out().contains("Default: 3@60:dispatch"),
                demo.out());
        assertTrue(demo.out().contains("available on this machine: local"), demo.out());
        Result version = run("--version");
        assertEquals(0, version.exit());
        assertTrue(version.out().contains("transports: local"), version.out());
        Result none = run();
        assertEquals(2, none.exit());
        assertTrue(none.err().contains("Missing subcommand"), none.err());
    }
}
