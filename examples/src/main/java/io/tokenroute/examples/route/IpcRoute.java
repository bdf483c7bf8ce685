package io.tokenroute.examples.route;

import io.tokenroute.arrow.batch.ColumnViews;
import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.ipc.TokenBatchIpc;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.local.LocalGroup;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.VectorLoader;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.VectorUnloader;
import org.apache.arrow.vector.complex.FixedSizeListVector;
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
 * Arrow pipelines can try the router on their own data.
 *
 * <p><b>Batches to ranks.</b> Batch {@code i} of the file is rank {@code i mod R}'s input in round {@code i div R};
 * {@code R} defaults to the number of batches (one round, batch i on rank i). A rank without a batch in the last round
 * takes part with zero tokens. Expert ids are physical experts of the buffer, {@code E} of them, {@code E / R} per
 * rank; {@code E} defaults to the smallest multiple of {@code R} above the largest id in the file.
 *
 * <p><b>Output.</b> One batch per input batch, in order: {@code hidden} (bf16, {@code tokenroute.bfloat16}) and
 * {@code lost_weight} (float32). With identity experts, {@code hidden[t] = bf16(Σ_k w[t][k] · bf16(x[t]))} over the
 * token's non-{@code -1} slots, accumulated in fp32 in top-k order (weights are not renormalised), and
 * {@code lost_weight} is 0 unless a rank timed out.
 */
public final class IpcRoute {
    /** How long the rank threads may take in all before the run is declared hung. */
    private static final Duration HANG_BOUND = Duration.ofMinutes(5);

    private static final DictionaryProvider NO_DICTIONARIES = new DictionaryProvider.MapDictionaryProvider();

    private IpcRoute() {
    }

    /**
     * Routes every batch of {@code input} and writes {@code output}.
     *
     * @param ranks R, or null for the number of batches
     * @param experts E, or null for the smallest multiple of R above the largest expert id
     * @param timeout the per-peer wait timeout
     * @throws IllegalArgumentException on an empty or malformed input, or options that do not fit it
     * @throws IOException when a file cannot be read or written
     */
    public static RouteSummary run(Path input, Path output, Integer ranks, Integer experts, Duration timeout)
            throws IOException {
        try (RootAllocator allocator = new RootAllocator()) {
            List<TokenBatch> batches = TokenBatchIpc.readFile(allocator, input);
            try {
                return route(allocator, batches, output, ranks, experts, timeout);
            } finally {
                batches.forEach(TokenBatch::close);
            }
        }
    }

    private static RouteSummary route(BufferAllocator allocator, List<TokenBatch> batches, Path output,
            Integer ranksOption, Integer expertsOption, Duration timeout) throws IOException {
        if (batches.isEmpty()) {
            throw new IllegalArgumentException("the input file holds no record batches");
        }
        TokenBatch first = batches.get(0);
        int n = batches.size();
        int ranks = ranksOption != null ? ranksOption : n;
        if (ranks < 1) {
            throw new IllegalArgumentException("--ranks must be >= 1, got " + ranks);
        }
        long maxId = batches.stream().flatMapToLong(b -> Arrays.stream(b.topkIdx())).max().orElse(-1);
        int experts = expertsOption != null ? expertsOption : (int) Math.max(1, (maxId + ranks) / ranks) * ranks;
        if (experts < ranks || experts % ranks != 0) {
            throw new IllegalArgumentException("--experts must be a positive multiple of the " + ranks
                    + " ranks, got " + experts);
        }
        if (maxId >= experts) {
            throw new IllegalArgumentException("the input routes to expert " + maxId + " but --experts is " + experts);
        }
        int maxTokens = Math.max(1, batches.stream().mapToInt(TokenBatch::numTokens).max().orElse(0));
        int rounds = (n + ranks - 1) / ranks;
        BufferConfig config = BufferConfig.builder().ranks(ranks).experts(experts).maxTokensPerRank(maxTokens)
                .hidden(first.hiddenSize()).maxTopK(first.topK()).dtype(first.dtype()).elastic(true)
                .timeout(timeout).collectiveBytes(64).build();
        short[][] hidden = new short[n][];
        float[][] lost = new float[n][];
        boolean[] masked = new boolean[ranks];
        long start = System.nanoTime();
        try (LocalGroup group = new LocalGroup(allocator, config)) {
            runRanks(ranks, rank -> {
                ElasticBuffer buffer = group.buffer(rank);
                try (BufferAllocator mine = allocator.newChildAllocator("route-rank-" + rank, 0, Long.MAX_VALUE);
                        TokenBatch none = TokenBatch.fromFloats(mine, first.dtype(), first.hiddenSize(), new float[0],
                                first.topK(), new long[0], new float[0])) {
                    for (int round = 0; round < rounds; round++) {
                        int i = round * ranks + rank;
                        TokenBatch batch = i < n ? batches.get(i) : none;
                        Combined c;
                        try {
                            c = routeIdentity(buffer, batch);
                        } catch (IllegalArgumentException e) {
                            throw new IllegalArgumentException("batch " + i + ": " + e.getMessage(), e);
                        }
                        if (i < n) {
                            hidden[i] = hiddenBits(c, first.hiddenSize());
                            lost[i] = lostWeights(c);
                        }
                    }
                    int[] mask = buffer.queryMask();
                    synchronized (masked) {
                        IntStream.range(0, ranks).filter(r -> mask[r] != 0).forEach(r -> masked[r] = true);
                    }
                }
            });
        }
        long elapsed = System.nanoTime() - start;
        writeOutput(allocator, output, first.hiddenSize(), hidden, lost);
        long tokens = batches.stream().mapToLong(TokenBatch::numTokens).sum();
        long damaged = Arrays.stream(lost).mapToLong(l -> IntStream.range(0, l.length).filter(t -> l[t] != 0f).count())
                .sum();
        return new RouteSummary(n, ranks, rounds, experts, first.hiddenSize(), first.topK(), first.dtype(), tokens,
                damaged, IntStream.range(0, ranks).filter(r -> masked[r]).toArray(), elapsed, output);
    }

    /** One dispatch → identity experts (each output row is its received row) → combine. */
    private static Combined routeIdentity(ElasticBuffer buffer, TokenBatch batch) {
        Dispatched d = buffer.dispatch(batch);
        long rowBytes = 2L * buffer.config().hidden();
        for (int l = 0; l < d.numLocalExperts(); l++) {
            FixedSizeListVector rows = (FixedSizeListVector) d.expert(l).getVector(TokenBatchSchema.HIDDEN);
            MemoryUtil.copyMemory(rows.getDataVector().getDataBuffer().memoryAddress(), d.expertOutputAddress(l),
                    rowBytes * d.recvCount(l));
        }
        return buffer.combine(d, batch);
    }

    private static short[] hiddenBits(Combined c, int hidden) {
        short[] out = new short[c.numTokens() * hidden];
        for (int i = 0; i < out.length; i++) {
            out[i] = MemoryUtil.getShort(c.hiddenAddress() + 2L * i);
        }
        return out;
    }

    private static float[] lostWeights(Combined c) {
        float[] out = new float[c.numTokens()];
        for (int t = 0; t < out.length; t++) {
            out[t] = c.lostWeight(t);
        }
        return out;
    }

    /** The output schema: the combine result's columns. */
    static Schema outputSchema(int hidden) {
        return new Schema(List.of(TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, hidden),
                new Field("lost_weight", FieldType.notNullable(new ArrowType.FloatingPoint(
                        FloatingPointPrecision.SINGLE)), null)));
    }

    private static void writeOutput(BufferAllocator allocator, Path path, int hidden, short[][] rows, float[][] lost)
            throws IOException {
        Schema schema = outputSchema(hidden);
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
                VectorSchemaRoot staging = VectorSchemaRoot.create(schema, allocator);
                ArrowFileWriter writer = new ArrowFileWriter(staging, NO_DICTIONARIES, channel)) {
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

    private static VectorSchemaRoot outputBatch(BufferAllocator allocator, Schema schema, short[] rows,
            float[] lost) {
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

    /** Work of one rank. */
    @FunctionalInterface
    private interface RankBody {
        void run(int rank) throws Exception;
    }

    /** Runs one thread per rank and rethrows the first failure; the group outlives every thread. */
    private static void runRanks(int ranks, RankBody body) {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            int rank = r;
            Thread t = new Thread(() -> {
                try {
                    body.run(rank);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "route-rank-" + r);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        long deadline = System.nanoTime() + HANG_BOUND.toNanos();
        for (Thread t : threads) {
            try {
                t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while routing", e);
            }
            if (t.isAlive()) {
                throw new IllegalStateException(t.getName() + " did not finish within " + HANG_BOUND);
            }
        }
        Throwable e = failure.get();
        if (e instanceof RuntimeException re) {
            throw re;
        }
        if (e != null) {
            throw new IllegalStateException("a rank failed: " + e, e);
        }
    }
}
