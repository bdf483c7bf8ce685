package io.tokenroute.examples.bench;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.local.LocalGroup;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Dispatch and combine on the {@code local} transport at the size (n = T = 128, H = 7168, k = 8, E = 64, bf16),
 * next to a memcpy of exactly the bytes dispatch copies, by the same threads, in the same run: the ratio of the two
 * times is the fraction of memcpy bandwidth dispatch reaches.
 *
 * <p>One invocation = one collective step (dispatch, then zero-copy combine) on all R ranks: rank 0 runs on the JMH
 * thread, ranks 1..R-1 on worker threads released per invocation. Rank 0 also times its dispatch and its combine;
 * JMH reports those sums as the secondary results {@code dispatchNanos}, {@code combineNanos} and {@code steps}
 * (divide by {@code steps}). Run: {@code java -cp ... org.openjdk.jmh.Main RoutingBench}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-opens=java.base/java.nio=org.apache.arrow.memory.core,ALL-UNNAMED",
    "--add-modules=jdk.incubator.vector"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class RoutingBench {
    private static final int TOKENS = 128;
    private static final int HIDDEN = 7168;
    private static final int TOP_K = 8;
    private static final int EXPERTS = 64;

    @Param({"2", "8"})
    public int ranks;

    private BufferAllocator allocator;
    private LocalGroup group;
    private TokenBatch[] batches;
    private Dispatched[] dispatched;
    private ArrowBuf[] copySrc;
    private ArrowBuf[] copyDst;
    private long[] copyBytes;
    private RankWorkers workers;

    private static final int STEP = 1;
    private static final int MEMCPY = 2;
    private long dispatchNanos;
    private long combineNanos;

    /** Rank 0's time in each phase, summed over an iteration (secondary results). */
    @State(Scope.Thread)
    @org.openjdk.jmh.annotations.AuxCounters(org.openjdk.jmh.annotations.AuxCounters.Type.EVENTS)
    public static class PhaseTimes {
        public long dispatchNanos;
        public long combineNanos;
        public long steps;
    }

    @Setup(Level.Trial)
    public void setUp() {
        allocator = new RootAllocator();
        group = new LocalGroup(allocator, BufferConfig.builder().ranks(ranks).experts(EXPERTS).hidden(HIDDEN)
                .maxTopK(TOP_K).maxTokensPerRank(TOKENS).timeout(Duration.ofSeconds(30)).build());
        batches = new TokenBatch[ranks];
        dispatched = new Dispatched[ranks];
        Random rng = new Random(1);
        for (int r = 0; r < ranks; r++) {
            float[] x = new float[TOKENS * HIDDEN];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rng.nextGaussian();
            }
            long[] idx = new long[TOKENS * TOP_K];
            float[] w = new float[TOKENS * TOP_K];
            for (int t = 0; t < TOKENS; t++) {
                int[] perm = rng.ints(0, EXPERTS).distinct().limit(TOP_K).toArray();
                for (int j = 0; j < TOP_K; j++) {
                    idx[t * TOP_K + j] = perm[j];
                    w[t * TOP_K + j] = rng.nextFloat();
                }
            }
            batches[r] = TokenBatch.fromFloats(allocator, HiddenDtype.BF16, HIDDEN, x, TOP_K, idx, w);
        }
        workers = new RankWorkers(ranks, this::run);
        workers.runAll(STEP);
        copySrc = new ArrowBuf[ranks];
        copyDst = new ArrowBuf[ranks];
        copyBytes = new long[ranks];
        long total = 0;
        for (int r = 0; r < ranks; r++) {
            long rows = TOKENS;
            for (int l = 0; l < dispatched[r].numLocalExperts(); l++) {
                rows += dispatched[r].recvCount(l);
            }
            copyBytes[r] = rows * 2L * HIDDEN;
            total += copyBytes[r];
            copySrc[r] = allocator.buffer(copyBytes[r]);
            copyDst[r] = allocator.buffer(copyBytes[r]);
            MemoryUtil.setMemory(copySrc[r].memoryAddress(), copyBytes[r], (byte) 0x3C);
        }
        System.out.printf("%n[RoutingBench] R=%d: dispatch copies %.1f MiB per step (staging + received rows)%n",
                ranks, total / 1048576.0);
    }

    private void run(int rank, int op) {
        ElasticBuffer buffer = group.buffer(rank);
        switch (op) {
            case STEP -> {
                long t0 = System.nanoTime();
                dispatched[rank] = buffer.dispatch(batches[rank]);
                long t1 = System.nanoTime();
                buffer.combine(dispatched[rank], batches[rank]);
                if (rank == 0) {
                    dispatchNanos = t1 - t0;
                    combineNanos = System.nanoTime() - t1;
                }
            }
            default -> MemoryUtil.copyMemory(copySrc[rank].memoryAddress(), copyDst[rank].memoryAddress(),
                    copyBytes[rank]);
        }
    }

    /** Dispatch then (zero-copy) combine on every rank. */
    @Benchmark
    public void step(PhaseTimes times) {
        workers.runAll(STEP);
        times.dispatchNanos += dispatchNanos;
        times.combineNanos += combineNanos;
        times.steps++;
    }

    /** A memcpy of exactly the bytes one dispatch copies, per rank, on the same threads. */
    @Benchmark
    public void memcpySameBytes() {
        workers.runAll(MEMCPY);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        workers.close();
        for (int r = 0; r < ranks; r++) {
            batches[r].close();
            copySrc[r].close();
            copyDst[r].close();
        }
        group.close();
        allocator.close();
    }

    /** Ranks 1..R-1 on their own threads, released together with rank 0 (the caller) for one operation. */
    static final class RankWorkers implements AutoCloseable {
        interface Op {
            void run(int rank, int op);
        }

        private final Thread[] threads;
        private final Op body;
        private volatile int generation;
        private volatile int op;
        private final AtomicInteger done = new AtomicInteger();
        private volatile boolean closed;

        RankWorkers(int ranks, Op body) {
            this.body = body;
            this.threads = new Thread[ranks - 1];
            for (int r = 1; r < ranks; r++) {
                int rank = r;
                threads[r - 1] = new Thread(() -> loop(rank), "bench-rank-" + r);
                threads[r - 1].setDaemon(true);
                threads[r - 1].start();
            }
        }

        private void loop(int rank) {
            int seen = 0;
            while (!closed) {
                int g = generation;
                if (g == seen) {
                    Thread.onSpinWait();
                    Thread.yield();
                    continue;
                }
                seen = g;
                body.run(rank, op);
                done.incrementAndGet();
            }
        }

        void runAll(int operation) {
            done.set(0);
            op = operation;
            generation++;
            body.run(0, operation);
            while (done.get() < threads.length) {
                Thread.onSpinWait();
                Thread.yield();
            }
        }

        @Override
        public void close() {
            closed = true;
        }
    }
}
