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
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.ipc.TokenBatchIpc;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.device.Cuda;
import io.tokenroute.examples.demo.DemoTransport;
import io.tokenroute.routing.launch.RankLauncher;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Bad command lines end with exit code 2 and a message naming the problem, before any rank starts; bad files end with
 * exit code 1 and one line {@code tokenroute route: FILE: PROBLEM}, no stack trace (unless {@code --verbose}) and no
 * output file claiming success.
 */
class CliBadInputTest {
    @TempDir
    Path dir;

    private record Result(int exit, String out, String err) {}

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
    @CsvSource(
            delimiter = '|',
            value = {
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
                "--mode train | unknown mode 'train'; use one of decode, prefill",
                "--fail 3@60:prefill-notify | --fail 3@60:prefill-notify: phase prefill-notify is a prefill phase: "
                        + "add --mode"
                        + " prefill",
                "--mode prefill --chunks 0 | --chunks must be >= 1, got 0",
                "--mode prefill --fail 1@2:prefill-combine | step 2 is inside the warm-up",
                "--skew uneven | --skew uneven: expected mild, hot or zipf:S",
                "--skew zipf:x | --skew zipf:x: the Zipf exponent is not a number",
                "--skew zipf:0 | --skew zipf: exponent 0.0 outside (0, 10]",
            })
    void demoRefusesWithAClearMessage(String args, String message) {
        Result r = run(("demo " + args.trim()).split("\\s+"));
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains(message.trim()), "expected '" + message.trim() + "' in:\n" + r.err());
    }

    /** Whether or not this machine has a GPU: the prefill mode runs on the host transports in this version. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cuda-local", "nvshmem"})
    void demoRefusesPrefillOnAGpuTransportInOneLine(String transport) {
        Result r = run("demo", "--mode", "prefill", "--transport", transport);
        assertEquals(2, r.exit(), r.err());
        assertOneLine(
                r.err(),
                "tokenroute demo: --mode prefill runs on the host transports (local, shm) in this"
                        + " version, not on --transport " + transport);
        assertTrue(r.out().isEmpty(), "no run started: " + r.out());
    }

    @Test
    void demoRefusesCudaLocalWithoutAGpuAndSaysWhy() {
        assumeFalse(Cuda.isAvailable(), "CUDA is available here: cuda-local is accepted (CudaLocalDemoGpuTest)");
        Result r = run("demo", "--transport", "cuda-local", "--steps", "20");
        assertEquals(2, r.exit(), r.err());
        assertTrue(
                r.err()
                        .contains("transport 'cuda-local' (streams of one process on one GPU) is not available on"
                                + " this machine: " + Cuda.unavailableReason() + "; available: local"),
                r.err());
        assertTrue(r.out().isEmpty(), "no run started: " + r.out());
    }

    @Test
    void demoRefusesNvshmemWithoutCudaOrNvshmemAndSaysWhichIsMissing() {
        assumeFalse(
                DemoTransport.NVSHMEM.isAvailable(),
                "CUDA and NVSHMEM are available here: nvshmem is accepted" + " (NvshmemDemoGpuTest)");
        Result r = run("demo", "--transport", "nvshmem", "--steps", "20", "--fail", "2@10:dispatch");
        assertEquals(2, r.exit(), r.err());
        String missing = Cuda.isAvailable() ? "the NVSHMEM library is unavailable: " : "CUDA is unavailable: ";
        assertTrue(
                r.err()
                        .contains("transport 'nvshmem' (one process per GPU over NVSHMEM) is not available on this"
                                + " machine: " + missing),
                r.err());
        assertTrue(r.err().contains(DemoTransport.NVSHMEM.unavailableReason() + "; available: local"), r.err());
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
    void routeRefusesAGpuTransportWithoutAGpuAndSaysWhy() {
        assumeFalse(Cuda.isAvailable(), "CUDA is available here: cuda-local is accepted");
        Result r = run("route", "--input", "a.arrow", "--output", "b.arrow", "--transport", "cuda-local:0");
        assertEquals(2, r.exit(), r.err());
        assertTrue(
                r.err()
                        .contains("transport 'cuda-local' (streams of one process on one GPU) is not available on"
                                + " this machine: " + Cuda.unavailableReason() + "; available: local"),
                r.err());
        assertEquals(1, r.err().lines().count(), "one line: " + r.err());
        assertTrue(r.out().isEmpty(), "nothing was routed: " + r.out());
    }

    @Test
    void routeRefusesABadTransportArgument() {
        Result r = run("route", "--input", "a.arrow", "--output", "b.arrow", "--transport", "local:3");
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("transport local takes no argument, got local:3"), r.err());
    }

    @Test
    void routeOnRankProcessesNeedsARankPerOutputFile() {
        assumeTrue(RankLauncher.signalsAvailable(), "shm is not available here, so --transport shm is refused earlier");
        Result shm = run("route", "--input", "a.arrow", "--output", "b.arrow", "--transport", "shm:job");
        assertEquals(2, shm.exit());
        assertTrue(
                shm.err()
                        .contains("with --transport shm each rank is a process that writes its own batches: name"
                                + " the output with {rank}, e.g. --output out-{rank}.arrow"),
                shm.err());
        assertTrue(shm.out().isEmpty(), "nothing was routed: " + shm.out());
    }

    @Test
    void routeOnRankProcessesSaysWhereTheRankComesFrom() throws Exception {
        assumeTrue(RankLauncher.signalsAvailable(), "shm is not available here, so --transport shm is refused earlier");
        assumeTrue(
                Stream.of("TOKENROUTE_RANK", "RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK")
                        .allMatch(v -> System.getenv(v) == null),
                "this JVM runs under a launcher that names its rank");
        Path in = dir.resolve("in.arrow");
        try (BufferAllocator allocator = new RootAllocator();
                TokenBatch batch = TokenBatch.fromFloats(
                        allocator, HiddenDtype.BF16, 8, new float[16], 2, new long[] {0, 1, 1, 0}, new float[] {
                            0.5f, 0.5f, 0.5f, 0.5f
                        })) {
            TokenBatchIpc.writeFile(allocator, List.of(batch), in);
        }
        Result shm = run(
                "route",
                "--input",
                in.toString(),
                "--output",
                dir.resolve("out-{rank}.arrow").toString(),
                "--transport",
                "shm:job");
        assertEquals(1, shm.exit(), shm.err());
        assertEquals(
                "tokenroute route: transport shm runs one rank per process and needs the rank from the"
                        + " environment: set TOKENROUTE_RANK (or start under a launcher that sets RANK, SLURM_PROCID,"
                        + " OMPI_COMM_WORLD_RANK or PMI_RANK)",
                shm.err().strip());
        assertTrue(shm.out().isEmpty(), "nothing was routed: " + shm.out());
    }

    // ------------------------------------------------------------------------------------------------ bad files

    /** How each bad input is made, and the problem the one line must name. */
    enum BadInput {
        MISSING("no such file or directory"),
        EMPTY("empty file, not an Arrow IPC file"),
        GARBAGE("not an Arrow IPC file or stream (it starts with bytes 47 49 46 38"),
        TRUNCATED("truncated Arrow IPC file: it starts like one but its footer is missing"),
        CUT_STREAM("damaged or truncated Arrow IPC stream"),
        WRONG_SCHEMA("not token batches (wrong schema): token batch has no column 'hidden'; columns: [rank, payload]"),
        ID_TOO_LARGE("batch 2, token 3: expert id 12 is outside [0, 12) (--experts 12)"),
        NEGATIVE_ID("batch 0, token 5: expert id -4 is negative (-1 marks an unused slot)"),
        DIRECTORY("is a directory, not an Arrow IPC file");

        final String problem;

        BadInput(String problem) {
            this.problem = problem;
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(BadInput.class)
    void aBadInputFileIsOneLineNamingTheFileAndTheProblem(BadInput bad) throws Exception {
        Path in = dir.resolve("in.arrow");
        Path out = dir.resolve("out.arrow");
        Files.writeString(out, "the previous output");
        List<String> extra = new ArrayList<>();
        switch (bad) {
            case MISSING -> {}
            case EMPTY -> Files.write(in, new byte[0]);
            case GARBAGE -> Files.write(in, "GIF89a, not Arrow".getBytes(StandardCharsets.US_ASCII));
            case TRUNCATED -> {
                RouteCommandTest.writeInputs(RouteCommandTest.inputs(new Random(1)), in);
                byte[] whole = Files.readAllBytes(in);
                Files.write(in, Arrays.copyOf(whole, whole.length / 2));
            }
            case CUT_STREAM -> {
                Path file = dir.resolve("whole.arrow");
                RouteCommandTest.writeInputs(RouteCommandTest.inputs(new Random(2)), file);
                ByteArrayOutputStream stream = new ByteArrayOutputStream();
                try (BufferAllocator a = new RootAllocator()) {
                    List<TokenBatch> batches = TokenBatchIpc.readFile(a, file);
                    try {
                        TokenBatchIpc.writeStream(a, batches, stream);
                    } finally {
                        batches.forEach(TokenBatch::close);
                    }
                }
                byte[] whole = stream.toByteArray();
                Files.write(in, Arrays.copyOf(whole, whole.length - 300));
            }
            case WRONG_SCHEMA -> writeAllGatherLikeFile(in);
            case ID_TOO_LARGE, NEGATIVE_ID -> {
                List<RouteCommandTest.Input> inputs = RouteCommandTest.inputs(new Random(3));
                if (bad == BadInput.ID_TOO_LARGE) {
                    inputs.get(2).idx()[3 * 4 + 1] = 12;
                    extra.addAll(List.of("--ranks", "2", "--experts", "12"));
                } else {
                    inputs.get(0).idx()[5 * 4 + 2] = -4;
                }
                RouteCommandTest.writeInputs(inputs, in);
            }
            case DIRECTORY -> Files.createDirectory(in);
        }
        List<String> args = new ArrayList<>(
                List.of("route", "--input", in.toString(), "--output", out.toString(), "--timeout", "200ms"));
        args.addAll(extra);
        Result r = run(args.toArray(String[]::new));
        assertEquals(1, r.exit(), r.err());
        assertOneLine(r.err(), "tokenroute route: " + in + ": " + bad.problem);
        assertTrue(r.out().isEmpty(), r.out());
        assertEquals("the previous output", Files.readString(out), "the existing output is left as it was");
        assertEquals(Set.of(out.getFileName().toString()), names(dir, "out"), "no temporary file left behind");

        Result verbose =
                run(Stream.concat(args.stream(), Stream.of("--verbose")).toArray(String[]::new));
        assertEquals(1, verbose.exit());
        assertTrue(verbose.err().startsWith("tokenroute route: " + in + ": " + bad.problem), verbose.err());
        assertTrue(verbose.err().contains("\n\tat "), "--verbose adds the stack trace:\n" + verbose.err());
    }

    @Test
    void anOutputThatCannotBeWrittenIsNamedAndNothingIsLeftBehind() throws Exception {
        Path in = dir.resolve("in.arrow");
        RouteCommandTest.writeInputs(RouteCommandTest.inputs(new Random(4)), in);
        Path notADirectory = dir.resolve("plain-file");
        Files.writeString(notADirectory, "x");
        Result r = run(
                "route",
                "--input",
                in.toString(),
                "--output",
                notADirectory.resolve("out.arrow").toString());
        assertEquals(1, r.exit(), r.err());
        assertOneLine(r.err(), "tokenroute route: " + notADirectory.resolve("out.arrow") + ": cannot be written");

        Path missing = dir.resolve("no/such/dir/out.arrow");
        r = run("route", "--input", in.toString(), "--output", missing.toString());
        assertEquals(1, r.exit(), r.err());
        assertOneLine(
                r.err(),
                "tokenroute route: " + missing + ": cannot be written: no such directory " + missing.getParent());

        Path aDirectory = Files.createDirectory(dir.resolve("out-dir"));
        r = run("route", "--input", in.toString(), "--output", aDirectory.toString());
        assertEquals(1, r.exit(), r.err());
        assertOneLine(r.err(), "tokenroute route: " + aDirectory + ": is a directory");
    }

    @Test
    void aReadOnlyOutputDirectoryIsNamed() throws Exception {
        Path in = dir.resolve("in.arrow");
        RouteCommandTest.writeInputs(RouteCommandTest.inputs(new Random(4)), in);
        Path readOnly = Files.createDirectory(dir.resolve("read-only"));
        readOnly.toFile().setWritable(false, false);
        try {
            assumeFalse(Files.isWritable(readOnly), "this user (root?) may write into a read-only directory");
            Result r = run(
                    "route",
                    "--input",
                    in.toString(),
                    "--output",
                    readOnly.resolve("out.arrow").toString());
            assertEquals(1, r.exit(), r.err());
            assertOneLine(
                    r.err(),
                    "tokenroute route: " + readOnly.resolve("out.arrow") + ": cannot be written: permission denied in "
                            + readOnly);
            assertEquals(Set.of(), names(readOnly, ""));
        } finally {
            readOnly.toFile().setWritable(true, false);
        }
    }

    @Test
    void aFailureInsideAnyCommandIsOneLineWithTheTraceOnlyOnRequest() {
        CommandLine cli = TokenRouteCli.commandLine();
        cli.addSubcommand("explode", new Explode());
        StringWriter err = new StringWriter();
        cli.setErr(new PrintWriter(err));
        assertEquals(1, cli.execute("explode"));
        assertOneLine(
                err.toString(),
                "tokenroute explode: IndexOutOfBoundsException: index 9 outside [0, 3); " + "second line");

        CommandLine verbose = TokenRouteCli.commandLine();
        verbose.addSubcommand("explode", new Explode());
        StringWriter trace = new StringWriter();
        verbose.setErr(new PrintWriter(trace));
        assertEquals(1, verbose.execute("explode", "--verbose"));
        assertTrue(trace.toString().contains("\tat " + Explode.class.getName()), trace.toString());
    }

    /** A command whose run fails the way a bug would. */
    @Command(name = "explode")
    static final class Explode implements Callable<Integer> {
        @Override
        public Integer call() {
            throw new IndexOutOfBoundsException("index 9 outside [0, 3)\nsecond line");
        }
    }

    @Test
    void usageErrorsAreOneLineWithExitCode2() {
        Result r = run("route", "--input", "a.arrow", "--output", "b.arrow", "--rank", "2");
        assertEquals(2, r.exit(), r.err());
        assertOneLine(r.err(), "tokenroute route: Unknown options: '--rank', '2'");
        assertTrue(
                r.err().contains("(did you mean --ranks?)") && r.err().contains("see 'tokenroute route --help'"),
                r.err());
        Result missing = run("route", "--input", "a.arrow");
        assertEquals(2, missing.exit(), missing.err());
        assertOneLine(missing.err(), "tokenroute route: Missing required option: '--output=FILE'");
        Result ranks = run("route", "--input", "a.arrow", "--output", "b.arrow", "--ranks", "0");
        assertEquals(2, ranks.exit());
        assertOneLine(ranks.err(), "tokenroute route: --ranks must be >= 1, got 0");
    }

    private static void assertOneLine(String err, String prefix) {
        assertTrue(err.startsWith(prefix), "expected a line starting with '" + prefix + "', got:\n" + err);
        assertEquals(1, err.lines().count(), "one line, no stack trace:\n" + err);
    }

    private static Set<String> names(Path directory, String prefixOrEmpty) throws Exception {
        try (Stream<Path> files = Files.list(directory)) {
            return files.map(p -> p.getFileName().toString())
                    .filter(n -> n.startsWith(prefixOrEmpty) || n.startsWith("." + prefixOrEmpty))
                    .collect(Collectors.toSet());
        }
    }

    /** An Arrow IPC file of another schema: an allGather result (rank int32, payload binary). */
    private static void writeAllGatherLikeFile(Path path) throws Exception {
        try (BufferAllocator a = new RootAllocator();
                IntVector rank = new IntVector("rank", a);
                VarBinaryVector payload = new VarBinaryVector("payload", a)) {
            rank.allocateNew(2);
            payload.allocateNew(2);
            rank.set(0, 3);
            rank.set(1, 5);
            payload.setSafe(0, new byte[] {7, 8});
            payload.setNull(1);
            rank.setValueCount(2);
            payload.setValueCount(2);
            VectorSchemaRoot root = new VectorSchemaRoot(List.<FieldVector>of(rank, payload));
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                    ArrowFileWriter writer = new ArrowFileWriter(root, null, channel)) {
                writer.start();
                writer.writeBatch();
                writer.end();
            }
        }
    }

    @Test
    void helpAndVersionDescribeTheCommands() {
        Result top = run("--help");
        assertEquals(0, top.exit());
        assertTrue(top.out().contains("demo") && top.out().contains("route"), top.out());
        Result demo = run("demo", "--help");
        assertEquals(0, demo.exit());
        assertTrue(
                demo.out().contains("--fail=R@S:PHASE") && demo.out().contains("Default: 3@60:dispatch"), demo.out());
        assertTrue(demo.out().contains("available on this machine: local"), demo.out());
        Result version = run("--version");
        assertEquals(0, version.exit());
        assertTrue(version.out().contains("transports: local"), version.out());
        Result none = run();
        assertEquals(2, none.exit());
        assertTrue(none.err().contains("Missing subcommand"), none.err());
    }
}
