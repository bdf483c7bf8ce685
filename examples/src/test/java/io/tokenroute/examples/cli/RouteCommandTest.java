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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.ipc.TokenBatchIpc;
import io.tokenroute.arrow.types.TokenRouteTypes;
import io.tokenroute.routing.launch.RankLauncher;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/**
 * {@code tokenroute route} round trip: token batches written to an Arrow IPC file by the test come back, one output
 * batch per input batch, as {@code Σ_k w·x} (identity experts) computed here in plain loops, with no lost weight.
 */
class RouteCommandTest {
    private static final int HIDDEN = 48;
    private static final int TOP_K = 4;
    private static final int EXPERTS = 12;
    private static final int[] ROWS = {7, 0, 12};

    @TempDir
    Path dir;

    /** One input batch as plain arrays. */
    record Input(short[] bits, long[] idx, float[] weights) {
        int n() {
            return idx.length / TOP_K;
        }
    }

    @ParameterizedTest(name = "--ranks {0} (0 = one rank per batch)")
    @ValueSource(ints = {0, 2, 4})
    void outputIsTheWeightedSumOfEachTokensRow(int ranks) throws Exception {
        List<Input> inputs = inputs(new Random(5));
        Path in = dir.resolve("batch.arrow");
        Path out = dir.resolve("out.arrow");
        writeInputs(inputs, in);
        List<String> args = new ArrayList<>(List.of("route", "--input", in.toString(), "--output", out.toString()));
        if (ranks > 0) {
            args.addAll(List.of("--ranks", String.valueOf(ranks), "--experts", String.valueOf(EXPERTS)));
        }
        StringWriter printed = new StringWriter();
        CommandLine cli = TokenRouteCli.commandLine();
        cli.setOut(new PrintWriter(printed));
        assertEquals(0, cli.execute(args.toArray(String[]::new)), printed.toString());
        assertTrue(printed.toString().contains("routed 3 batches (19 tokens"), printed.toString());
        assertTrue(printed.toString().contains("tokens with lost weight: 0"), printed.toString());

        assertRouted(out, inputs);
    }

    /**
     * {@code route --transport shm} as a launcher runs it: two processes started with the rank and world size in their
     * environment (as torchrun or srun set them), each opening the group with {@code ElasticGroup.open}, routing its
     * rank's batches (batch i on rank i mod 2) and writing them to its own file.
     */
    @Test
    void rankProcessesStartedByALauncherEachWriteTheirRanksBatches() throws Exception {
        assumeTrue(RankLauncher.signalsAvailable(), "no kill command: the shm transport is unavailable");
        List<Input> inputs = inputs(new Random(9));
        Path in = dir.resolve("batch.arrow");
        writeInputs(inputs, in);
        Path group = dir.resolve("group").resolve("route.shm");
        List<Process> ranks = new ArrayList<>();
        for (int rank = 0; rank < 2; rank++) {
            List<String> command = new ArrayList<>(List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString()));
            command.addAll(RankLauncher.requiredJvmOptions());
            command.addAll(List.of(
                    "-cp",
                    System.getProperty("java.class.path"),
                    TokenRouteCli.class.getName(),
                    "route",
                    "--transport",
                    "shm:" + group,
                    "--input",
                    in.toString(),
                    "--output",
                    dir.resolve("out-{rank}.arrow").toString(),
                    "--timeout",
                    "10s"));
            ProcessBuilder builder = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(dir.resolve("rank" + rank + ".log").toFile());
            Map<String, String> env = builder.environment();
            Stream.of("RANK", "WORLD_SIZE", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK")
                    .forEach(env::remove);
            env.put("TOKENROUTE_RANK", Integer.toString(rank));
            env.put("TOKENROUTE_WORLD_SIZE", "2");
            ranks.add(builder.start());
        }
        for (int rank = 0; rank < 2; rank++) {
            Process p = ranks.get(rank);
            boolean ended = p.waitFor(2, TimeUnit.MINUTES);
            if (!ended) {
                ranks.forEach(Process::destroyForcibly);
            }
            String log = Files.readString(dir.resolve("rank" + rank + ".log"));
            assertTrue(ended, "rank " + rank + " ended: " + log);
            assertEquals(0, p.exitValue(), log);
            int batches = rank == 0 ? 2 : 1;
            assertTrue(
                    log.contains("routed " + batches + " batches")
                            && log.contains(
                                    "on 2 ranks (shm:" + group + " transport, this process: rank " + rank + ")"),
                    log);
        }
        assertRouted(dir.resolve("out-0.arrow"), List.of(inputs.get(0), inputs.get(2)));
        assertRouted(dir.resolve("out-1.arrow"), List.of(inputs.get(1)));
        assertFalse(Files.exists(group), "the last rank removed the group file");
    }

    /** {@code out} holds one batch per input, {@code hidden} = the plain-loop weighted sum, no lost weight. */
    private static void assertRouted(Path out, List<Input> inputs) throws Exception {
        TokenRouteTypes.register();
        try (BufferAllocator allocator = new RootAllocator();
                FileChannel channel = FileChannel.open(out, StandardOpenOption.READ);
                ArrowFileReader reader = new ArrowFileReader(channel, allocator)) {
            VectorSchemaRoot root = reader.getVectorSchemaRoot();
            assertEquals(
                    List.of("hidden", "lost_weight"),
                    root.getSchema().getFields().stream().map(f -> f.getName()).toList());
            assertEquals(
                    "tokenroute.bfloat16",
                    root.getSchema()
                            .findField("hidden")
                            .getChildren()
                            .get(0)
                            .getMetadata()
                            .get("ARROW:extension:name"));
            for (int b = 0; b < inputs.size(); b++) {
                assertTrue(reader.loadNextBatch(), "output batch " + b);
                Input input = inputs.get(b);
                assertEquals(input.n(), root.getRowCount(), "rows of batch " + b);
                FixedSizeListVector hidden = (FixedSizeListVector) root.getVector("hidden");
                long address = hidden.getDataVector().getDataBuffer().memoryAddress();
                Float4Vector lost = (Float4Vector) root.getVector("lost_weight");
                for (int t = 0; t < input.n(); t++) {
                    short[] expected = weightedSum(input, t);
                    for (int h = 0; h < HIDDEN; h++) {
                        assertEquals(
                                expected[h],
                                MemoryUtil.getShort(address + 2L * (t * HIDDEN + h)),
                                "batch " + b + ", token " + t + ", channel " + h);
                    }
                    assertEquals(0f, lost.get(t), "lost weight of batch " + b + ", token " + t);
                }
            }
            assertTrue(!reader.loadNextBatch(), "one output batch per input batch");
        }
    }

    @Test
    void missingOrEmptyInputFailsWithAMessage() throws Exception {
        StringWriter err = new StringWriter();
        CommandLine cli = TokenRouteCli.commandLine();
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute(
                "route",
                "--input",
                dir.resolve("nope.arrow").toString(),
                "--output",
                dir.resolve("out.arrow").toString());
        assertEquals(1, exit);
        assertTrue(err.toString().contains("nope.arrow: no such file"), err.toString());

        Path in = dir.resolve("batch.arrow");
        writeInputs(inputs(new Random(6)), in);
        StringWriter err2 = new StringWriter();
        CommandLine cli2 = TokenRouteCli.commandLine();
        cli2.setErr(new PrintWriter(err2));
        assertEquals(
                2,
                cli2.execute(
                        "route",
                        "--input",
                        in.toString(),
                        "--output",
                        dir.resolve("o.arrow").toString(),
                        "--ranks",
                        "3",
                        "--experts",
                        "8"),
                "options that cannot work together are bad usage");
        assertTrue(
                err2.toString().contains("--experts must be a positive multiple of --ranks (3), got 8"),
                err2.toString());

        StringWriter err3 = new StringWriter();
        CommandLine cli3 = TokenRouteCli.commandLine();
        cli3.setErr(new PrintWriter(err3));
        assertEquals(
                1,
                cli3.execute(
                        "route",
                        "--input",
                        in.toString(),
                        "--output",
                        dir.resolve("o.arrow").toString(),
                        "--experts",
                        "8"),
                "E does not fit the input's 3 batches = 3 ranks");
        assertTrue(
                err3.toString().contains("--experts must be a positive multiple of the 3 ranks, got 8"),
                err3.toString());
    }

    @Test
    void badBatchIsNamed() throws Exception {
        List<Input> inputs = inputs(new Random(7));
        Input bad = inputs.get(2);
        bad.idx()[TOP_K + 1] = bad.idx()[TOP_K];
        Path in = dir.resolve("bad.arrow");
        writeInputs(inputs, in);
        StringWriter err = new StringWriter();
        CommandLine cli = TokenRouteCli.commandLine();
        cli.setErr(new PrintWriter(err));
        assertEquals(
                1,
                cli.execute(
                        "route",
                        "--input",
                        in.toString(),
                        "--output",
                        dir.resolve("o.arrow").toString(),
                        "--timeout",
                        "100ms"));
        assertTrue(
                err.toString().contains(in + ": batch 2: rank 2: dispatch: token 1 lists expert 2 twice"),
                err.toString());
        assertFalse(Files.exists(dir.resolve("o.arrow")), "no output after a failed run");
    }

    @Test
    void anIpcStreamIsReadLikeAFile() throws Exception {
        List<Input> inputs = inputs(new Random(8));
        Path file = dir.resolve("batch.arrow");
        Path stream = dir.resolve("batch.arrows");
        writeInputs(inputs, file);
        try (BufferAllocator allocator = new RootAllocator();
                OutputStream out = Files.newOutputStream(stream)) {
            List<TokenBatch> read = TokenBatchIpc.readFile(allocator, file);
            try {
                TokenBatchIpc.writeStream(allocator, read, out);
            } finally {
                read.forEach(TokenBatch::close);
            }
        }
        CommandLine cli = TokenRouteCli.commandLine();
        StringWriter printed = new StringWriter();
        cli.setOut(new PrintWriter(printed));
        assertEquals(
                0,
                cli.execute(
                        "route",
                        "--input",
                        stream.toString(),
                        "--output",
                        dir.resolve("s.arrow").toString()));
        assertTrue(printed.toString().contains("routed 3 batches (19 tokens"), printed.toString());
        assertEquals(
                Files.size(dir.resolve("s.arrow")),
                sizeAfterRouting(file, dir.resolve("f.arrow")),
                "the same output as from the file");
    }

    private long sizeAfterRouting(Path in, Path out) throws Exception {
        assertEquals(
                0, TokenRouteCli.commandLine().execute("route", "--input", in.toString(), "--output", out.toString()));
        return Files.size(out);
    }

    /** bf16(Σ_k w[t][k] · x[t]) over the token's non-(-1) slots, fp32 accumulation in top-k order. */
    private static short[] weightedSum(Input in, int t) {
        float[] acc = new float[HIDDEN];
        for (int j = 0; j < TOP_K; j++) {
            if (in.idx()[t * TOP_K + j] < 0) {
                continue;
            }
            float w = in.weights()[t * TOP_K + j];
            for (int h = 0; h < HIDDEN; h++) {
                acc[h] += w * Float.intBitsToFloat(in.bits()[t * HIDDEN + h] << 16);
            }
        }
        short[] out = new short[HIDDEN];
        for (int h = 0; h < HIDDEN; h++) {
            int bits = Float.floatToRawIntBits(acc[h]);
            int upper = bits >>> 16;
            int lower = bits & 0xFFFF;
            out[h] = (short) (lower > 0x8000 || (lower == 0x8000 && (upper & 1) != 0) ? upper + 1 : upper);
        }
        return out;
    }

    static List<Input> inputs(Random rng) {
        List<Input> out = new ArrayList<>();
        for (int n : ROWS) {
            short[] bits = new short[n * HIDDEN];
            for (int i = 0; i < bits.length; i++) {
                bits[i] = (short) (Float.floatToRawIntBits((float) rng.nextGaussian()) >>> 16);
            }
            long[] idx = new long[n * TOP_K];
            float[] weights = new float[n * TOP_K];
            for (int t = 0; t < n; t++) {
                List<Long> experts = new ArrayList<>();
                for (long e = 0; e < EXPERTS; e++) {
                    experts.add(e);
                }
                java.util.Collections.shuffle(experts, rng);
                for (int j = 0; j < TOP_K; j++) {
                    idx[t * TOP_K + j] = j == TOP_K - 1 && t % 3 == 0 ? -1 : experts.get(j);
                    weights[t * TOP_K + j] = 0.05f + rng.nextFloat();
                }
            }
            out.add(new Input(bits, idx, weights));
        }
        return out;
    }

    static void writeInputs(List<Input> inputs, Path path) throws Exception {
        try (BufferAllocator allocator = new RootAllocator()) {
            List<TokenBatch> batches = new ArrayList<>();
            try {
                for (Input in : inputs) {
                    batches.add(TokenBatch.fromBf16Bits(allocator, HIDDEN, in.bits(), TOP_K, in.idx(), in.weights()));
                }
                TokenBatchIpc.writeFile(allocator, batches, path);
            } finally {
                batches.forEach(TokenBatch::close);
            }
        }
    }
}
