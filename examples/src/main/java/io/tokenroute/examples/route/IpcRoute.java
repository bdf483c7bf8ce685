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
package io.tokenroute.examples.route;

import io.tokenroute.arrow.batch.ColumnViews;
import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.ipc.ReplacingFile;
import io.tokenroute.arrow.ipc.TokenBatchIpc;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.LaunchEnvironment;
import io.tokenroute.routing.TransportSpec;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.VectorLoader;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.VectorUnloader;
import org.apache.arrow.vector.dictionary.DictionaryProvider;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * {@code tokenroute route}: dispatch → identity experts → combine over token batches read from an Arrow IPC file, so
 * Arrow pipelines can try the router on their own data, on any transport ({@link ElasticGroup#open}).
 *
 * <p><b>Batches to ranks.</b> Batch {@code i} of the file is rank {@code i mod R}'s input in round {@code i div R};
 * {@code R} defaults to the number of batches (one round, batch i on rank i), or on a transport with one process per
 * rank to the world size of the launch environment. A rank without a batch in the last round takes part with zero
 * tokens. Expert ids are physical experts of the buffer, {@code E} of them, {@code E / R} per rank; {@code E} defaults
 * to the smallest multiple of {@code R} above the largest id in the file.
 *
 * <p><b>Transports.</b> On {@code local} and {@code cuda-local} every rank is a thread of this process
 * ({@link IdentityRoute}). On {@code shm} and {@code nvshmem} each rank is a process started by a launcher that tells
 * it its rank ({@link LaunchEnvironment}); every process reads the whole file, routes its rank's batches and writes
 * them, in input order, to its own output file: the output path names it with {@value #RANK_PLACEHOLDER}.
 *
 * <p><b>Output.</b> One batch per input batch, in order: {@code hidden} (bf16, {@code tokenroute.bfloat16}) and
 * {@code lost_weight} (float32). With identity experts, {@code hidden[t] = bf16(Σ_k w[t][k] · bf16(x[t]))} over the
 * token's non-{@code -1} slots, accumulated in fp32 in top-k order (weights are not renormalised), and
 * {@code lost_weight} is 0 unless a rank timed out.
 *
 * <p><b>Errors</b> name the file and the problem ({@link RouteFileException}); the output is written only complete
 * (temporary file, then an atomic rename).
 */
public final class IpcRoute {
    /** How long the rank threads may take in all before the run is declared hung. */
    private static final Duration HANG_BOUND = Duration.ofMinutes(5);

    /** Replaced by the rank in the output path of a process hosting one rank. */
    public static final String RANK_PLACEHOLDER = "{rank}";

    private static final DictionaryProvider NO_DICTIONARIES = new DictionaryProvider.MapDictionaryProvider();

    private IpcRoute() {}

    /**
     * Routes every batch of {@code input} and writes {@code output}.
     *
     * <p>The output appears only complete: it is written to a temporary file beside it and renamed over it at the
     * end, so a failure at any point leaves an existing output file as it was, and no new one.
     *
     * @param input an Arrow IPC file, or an Arrow IPC stream, of token batches
     * @param output the file to write; with one rank per process, a path containing {@value #RANK_PLACEHOLDER}
     * @param ranks R, or null for the number of batches (the environment's world size with one rank per process)
     * @param experts E, or null for the smallest multiple of R above the largest expert id
     * @param timeout the per-peer wait timeout
     * @param transport the transport, as {@link ElasticGroup#open} takes it
     * @param env where this process stands in a job of one rank per process
     * @throws RouteFileException naming the file and its problem: input missing, a directory, empty, not Arrow IPC,
     *     truncated or damaged, not token batches (wrong schema), inconsistent batches, expert ids out of range or a
     *     batch dispatch refuses; output in a missing or unwritable directory
     * @throws IllegalArgumentException for options that do not fit the input (E not a multiple of the default R), or an
     *     output path without {@value #RANK_PLACEHOLDER} where each rank is a process
     * @throws IllegalStateException where the transport cannot open the group (no GPU, no rank in the environment)
     * @throws IOException for other failures to read or write
     */
    public static RouteSummary run(
            Path input,
            Path output,
            Integer ranks,
            Integer experts,
            Duration timeout,
            TransportSpec transport,
            LaunchEnvironment env)
            throws IOException {
        boolean processPerRank =
                transport.name().equals(TransportSpec.SHM) || transport.name().equals(TransportSpec.NVSHMEM);
        Path out = output;
        Integer r = ranks;
        if (processPerRank) {
            if (!output.toString().contains(RANK_PLACEHOLDER)) {
                throw new IllegalArgumentException("with --transport " + transport.name() + " each rank is a process"
                        + " that writes its own batches: name the output with " + RANK_PLACEHOLDER + ", e.g. out-"
                        + RANK_PLACEHOLDER + ".arrow");
            }
            int rank = env.requireRank(transport.name());
            out = Path.of(output.toString().replace(RANK_PLACEHOLDER, Integer.toString(rank)));
            if (r == null && env.worldSize().isPresent()) {
                r = env.worldSize().getAsInt();
            }
        }
        try (RootAllocator allocator = new RootAllocator()) {
            List<TokenBatch> batches = readInput(allocator, input);
            try {
                return route(allocator, input, batches, out, r, experts, timeout, transport, env);
            } finally {
                batches.forEach(TokenBatch::close);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ input

    private static final byte[] FILE_MAGIC = "ARROW1".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] STREAM_CONTINUATION = {-1, -1, -1, -1};

    /**
     * Reads the input's token batches, naming what is wrong with the file when that fails. Arrow IPC files start (and
     * end) with {@code ARROW1}; IPC streams start with the {@code 0xFFFFFFFF} continuation marker.
     */
    static List<TokenBatch> readInput(BufferAllocator allocator, Path input) throws IOException {
        if (Files.isDirectory(input)) {
            throw new RouteFileException(input, "is a directory, not an Arrow IPC file", null);
        }
        byte[] head;
        try (InputStream in = Files.newInputStream(input)) {
            head = in.readNBytes(8);
        }
        if (head.length == 0) {
            throw new RouteFileException(input, "empty file, not an Arrow IPC file", null);
        }
        boolean file = startsWith(head, FILE_MAGIC);
        if (!file && !startsWith(head, STREAM_CONTINUATION)) {
            throw new RouteFileException(
                    input,
                    "not an Arrow IPC file or stream (it starts with bytes " + hex(head)
                            + "; an Arrow IPC file starts with ARROW1)",
                    null);
        }
        try {
            if (file) {
                return TokenBatchIpc.readFile(allocator, input);
            }
            try (InputStream in = Files.newInputStream(input)) {
                return TokenBatchIpc.readStream(allocator, in);
            }
        } catch (FileSystemException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            String message = e.getMessage();
            throw new RouteFileException(
                    input,
                    message.startsWith("IPC batch") ? message : "not token batches (wrong schema): " + message,
                    e);
        } catch (IOException | RuntimeException e) {
            String why = e.getMessage() == null
                    ? e.getClass().getSimpleName()
                    : e.getMessage().strip();
            if (file && !endsWithMagic(input)) {
                throw new RouteFileException(
                        input,
                        "truncated Arrow IPC file: it starts like one but its footer is "
                                + "missing (was it completely written?)",
                        e);
            }
            throw new RouteFileException(
                    input, "damaged or truncated Arrow IPC " + (file ? "file" : "stream") + ": " + why, e);
        }
    }

    private static boolean startsWith(byte[] bytes, byte[] prefix) {
        return bytes.length >= prefix.length && Arrays.equals(bytes, 0, prefix.length, prefix, 0, prefix.length);
    }

    private static boolean endsWithMagic(Path input) throws IOException {
        try (SeekableByteChannel channel = Files.newByteChannel(input)) {
            if (channel.size() < 2L * FILE_MAGIC.length) {
                return false;
            }
            ByteBuffer tail = ByteBuffer.allocate(FILE_MAGIC.length);
            channel.position(channel.size() - FILE_MAGIC.length);
            while (tail.hasRemaining() && channel.read(tail) >= 0) {
                // read until full
            }
            return Arrays.equals(tail.array(), FILE_MAGIC);
        }
    }

    private static String hex(byte[] bytes) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < Math.min(bytes.length, 4); i++) {
            out.append(out.length() == 0 ? "" : " ").append(String.format("%02x", bytes[i] & 0xFF));
        }
        return out.toString();
    }

    /**
     * Throws for the first expert id below -1, or at or above {@code experts} (0: no upper bound yet), naming its
     * batch and token.
     */
    private static void requireIdsInRange(Path input, List<TokenBatch> batches, long experts, String bound)
            throws RouteFileException {
        for (int b = 0; b < batches.size(); b++) {
            long[] idx = batches.get(b).topkIdx();
            int k = batches.get(b).topK();
            for (int i = 0; i < idx.length; i++) {
                if (idx[i] < -1) {
                    throw new RouteFileException(
                            input,
                            "batch " + b + ", token " + i / k + ": expert id " + idx[i]
                                    + " is negative (-1 marks an unused slot)",
                            null);
                }
                if (experts > 0 && idx[i] >= experts) {
                    throw new RouteFileException(
                            input,
                            "batch " + b + ", token " + i / k + ": expert id " + idx[i] + " is outside [0, " + experts
                                    + ") " + bound,
                            null);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ routing

    private static RouteSummary route(
            BufferAllocator allocator,
            Path input,
            List<TokenBatch> batches,
            Path output,
            Integer ranksOption,
            Integer expertsOption,
            Duration timeout,
            TransportSpec transport,
            LaunchEnvironment env)
            throws IOException {
        if (batches.isEmpty()) {
            throw new RouteFileException(input, "holds no record batches", null);
        }
        TokenBatch first = batches.get(0);
        int n = batches.size();
        int ranks = ranksOption != null ? ranksOption : n;
        if (ranks < 1) {
            throw new IllegalArgumentException("--ranks must be >= 1, got " + ranks);
        }
        requireIdsInRange(input, batches, 0, "");
        long maxId = batches.stream()
                .flatMapToLong(b -> Arrays.stream(b.topkIdx()))
                .max()
                .orElse(-1);
        int experts = expertsOption != null ? expertsOption : (int) Math.max(1, (maxId + ranks) / ranks) * ranks;
        if (experts < ranks || experts % ranks != 0) {
            throw new IllegalArgumentException("--experts must be a positive multiple of the " + ranks
                    + " ranks, got " + experts
                    + (ranksOption == null
                            ? " (R is the number of input batches unless " + "--ranks says otherwise)"
                            : ""));
        }
        requireIdsInRange(input, batches, experts, "(--experts " + experts + ")");
        if (Files.isDirectory(output)) {
            throw new RouteFileException(output, "is a directory", null);
        }
        try (ReplacingFile out = openOutput(output)) {
            int maxTokens = Math.max(
                    1, batches.stream().mapToInt(TokenBatch::numTokens).max().orElse(0));
            int rounds = (n + ranks - 1) / ranks;
            BufferConfig config = BufferConfig.builder()
                    .ranks(ranks)
                    .experts(experts)
                    .maxTokensPerRank(maxTokens)
                    .hidden(first.hiddenSize())
                    .maxTopK(first.topK())
                    .dtype(first.dtype())
                    .elastic(true)
                    .timeout(timeout)
                    .collectiveBytes(64)
                    .build();
            IdentityRoute.Results results;
            int[] local;
            long start = System.nanoTime();
            try (ElasticGroup group = transport.open(config, allocator, env)) {
                local = group.localRanks();
                results = IdentityRoute.run(group, batches, input, allocator, HANG_BOUND);
            }
            long elapsed = System.nanoTime() - start;
            List<Integer> written = IntStream.range(0, n)
                    .filter(i -> results.hidden()[i] != null)
                    .boxed()
                    .toList();
            short[][] hidden = written.stream().map(i -> results.hidden()[i]).toArray(short[][]::new);
            float[][] lost = written.stream().map(i -> results.lostWeight()[i]).toArray(float[][]::new);
            try {
                writeOutput(allocator, out, first.hiddenSize(), hidden, lost);
                out.commit();
            } catch (IOException e) {
                throw new RouteFileException(output, "could not be written: " + e, e);
            }
            long tokens =
                    written.stream().mapToLong(i -> batches.get(i).numTokens()).sum();
            long damaged = Arrays.stream(lost)
                    .mapToLong(l ->
                            IntStream.range(0, l.length).filter(t -> l[t] != 0f).count())
                    .sum();
            return new RouteSummary(
                    written.size(),
                    ranks,
                    rounds,
                    experts,
                    first.hiddenSize(),
                    first.topK(),
                    first.dtype(),
                    tokens,
                    damaged,
                    IntStream.range(0, ranks).filter(r -> results.masked()[r]).toArray(),
                    elapsed,
                    output,
                    local);
        }
    }

    /** The temporary file beside {@code output}; a directory that is missing or not writable is named. */
    private static ReplacingFile openOutput(Path output) throws RouteFileException {
        Path directory = output.toAbsolutePath().getParent();
        try {
            return ReplacingFile.create(output);
        } catch (NoSuchFileException e) {
            throw new RouteFileException(output, "cannot be written: no such directory " + directory, e);
        } catch (AccessDeniedException e) {
            throw new RouteFileException(output, "cannot be written: permission denied in " + directory, e);
        } catch (FileSystemException e) {
            throw new RouteFileException(
                    output,
                    "cannot be written in " + directory + ": "
                            + (e.getReason() != null
                                    ? e.getReason()
                                    : e.getClass().getSimpleName()),
                    e);
        } catch (IOException e) {
            throw new RouteFileException(output, "cannot be written: " + e.getMessage(), e);
        }
    }

    /** The output schema: the combine result's columns. */
    static Schema outputSchema(int hidden) {
        return new Schema(List.of(
                TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, hidden),
                new Field(
                        "lost_weight",
                        FieldType.notNullable(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)),
                        null)));
    }

    private static void writeOutput(
            BufferAllocator allocator, ReplacingFile out, int hidden, short[][] rows, float[][] lost)
            throws IOException {
        Schema schema = outputSchema(hidden);
        try (VectorSchemaRoot staging = VectorSchemaRoot.create(schema, allocator);
                ArrowFileWriter writer = new ArrowFileWriter(staging, NO_DICTIONARIES, out.channel())) {
            VectorLoader loader = new VectorLoader(staging);
            writer.start();
            for (int i = 0; i < rows.length; i++) {
                try (VectorSchemaRoot batch = outputBatch(allocator, schema, rows[i], lost[i]);
                        ArrowRecordBatch record = new VectorUnloader(batch).getRecordBatch()) {
                    loader.load(record);
                }
                writer.writeBatch();
            }
            writer.end();
        }
    }

    private static VectorSchemaRoot outputBatch(BufferAllocator allocator, Schema schema, short[] rows, float[] lost) {
        try (ArrowBuf h = allocator.buffer(2L * rows.length);
                ArrowBuf w = allocator.buffer(4L * lost.length)) {
            for (int i = 0; i < rows.length; i++) {
                MemoryUtil.putShort(h.memoryAddress() + 2L * i, rows[i]);
            }
            for (int t = 0; t < lost.length; t++) {
                MemoryUtil.putInt(w.memoryAddress() + 4L * t, Float.floatToRawIntBits(lost[t]));
            }
            return ColumnViews.load(schema, allocator, lost.length, List.of(h, w));
        }
    }
}
