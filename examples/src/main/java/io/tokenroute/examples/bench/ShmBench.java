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
package io.tokenroute.examples.bench;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.launch.LaunchedRank;
import io.tokenroute.routing.launch.RankLauncher;
import io.tokenroute.routing.local.LocalGroup;
import io.tokenroute.routing.shm.ShmGroup;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
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
 * One dispatch + (zero-copy) combine step on the {@code shm} transport (ranks as processes over a mapped file) next to
 * the {@code local} transport (ranks as threads over off-heap memory), at the same sizes: T = n = 128 tokens per rank,
 * k = 8, E = 64, bf16, H ∈ {1024, 7168}, R ∈ {2, 4}.
 *
 * <p><b>How it is measured</b>, the same way for both transports: rank 0 runs on the JMH thread, one step per
 * invocation; ranks 1..R-1 loop the same step on their own (threads for {@code local}, processes started by
 * {@link RankLauncher} for {@code shm}), kept in lockstep by the protocol itself, since every dispatch and combine
 * waits for every active peer. The score is rank 0's time per step in steady state, i.e. the group's step period,
 * waiting for the slowest rank included. Every rank must have a core of its own for the figure to mean anything
 * (R ranks spinning on fewer cores measure the scheduler).
 *
 * <p>Run: {@code java -cp "examples/target/tokenroute-examples-0.1.0-SNAPSHOT.jar:examples/target/lib/*"
 * org.openjdk.jmh.Main ShmBench} (the fork gets the required JVM flags; the rank processes inherit the class path).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {
            "--add-opens=java.base/java.nio=org.apache.arrow.memory.core,ALL-UNNAMED",
            "--add-modules=jdk.incubator.vector"
        })
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class ShmBench {
    private static final int TOKENS = 128;
    private static final int TOP_K = 8;
    private static final int EXPERTS = 64;
    /** Lockstep peers wait at most this long for each other (far above any pause between JMH iterations). */
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @Param({"local", "shm"})
    public String transport;

    @Param({"2", "4"})
    public int ranks;

    @Param({"1024", "7168"})
    public int hidden;

    private BufferAllocator allocator;
    private TokenBatch batch;
    private ElasticBuffer buffer;
    private LocalGroup localGroup;
    private LocalPeers localPeers;
    private RankLauncher launcher;
    private ShmGroup shmGroup;
    private long steps;

    static BufferConfig config(int ranks, int rank, int hidden) {
        return BufferConfig.builder()
                .ranks(ranks)
                .rank(rank)
                .experts(EXPERTS)
                .hidden(hidden)
                .maxTopK(TOP_K)
                .maxTokensPerRank(TOKENS)
                .timeout(TIMEOUT)
                .build();
    }

    /** Rank {@code rank}'s batch: the same on every transport and in every process. */
    static TokenBatch batch(BufferAllocator allocator, int rank, int hidden) {
        Random rng = new Random(1000 + rank);
        float[] x = new float[TOKENS * hidden];
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
        return TokenBatch.fromFloats(allocator, HiddenDtype.BF16, hidden, x, TOP_K, idx, w);
    }

    static void step(ElasticBuffer buffer, TokenBatch batch) {
        Dispatched d = buffer.dispatch(batch);
        buffer.combine(d, batch);
    }

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        allocator = new RootAllocator();
        batch = batch(allocator, 0, hidden);
        if (transport.equals("local")) {
            localGroup = new LocalGroup(allocator, config(ranks, 0, hidden));
            localPeers = new LocalPeers(localGroup, allocator, hidden);
            buffer = localGroup.buffer(0);
        } else {
            int[] peers = java.util.stream.IntStream.range(1, ranks).toArray();
            launcher = RankLauncher.builder(ShmBench.class.getName(), ranks)
                    .only(peers)
                    .args((rank, file) -> List.of(
                            file.toString(), Integer.toString(rank), Integer.toString(ranks), Integer.toString(hidden)))
                    .start();
            shmGroup = ShmGroup.join(launcher.groupFile(), config(ranks, 0, hidden), allocator, Duration.ofMinutes(2));
            buffer = shmGroup.buffer();
        }
    }

    /** One dispatch + zero-copy combine on rank 0, in lockstep with the free-running peers. */
    @Benchmark
    public void dispatchCombine() {
        step(buffer, batch);
        steps++;
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        if (localPeers != null) {
            localPeers.stopAfter(steps + 1);
            step(buffer, batch);
            localPeers.join();
            localGroup.close();
        }
        if (shmGroup != null) {
            shmGroup.close(); // leaves without waiting; the launcher then SIGKILLs the peers and deletes the file
            launcher.close();
        }
        batch.close();
        allocator.close();
    }

    /** Ranks 1..R-1 of the local group, looping steps on their own threads until stopped. */
    static final class LocalPeers {
        private final Thread[] threads;
        private volatile long stopAfter = Long.MAX_VALUE;

        LocalPeers(LocalGroup group, BufferAllocator allocator, int hidden) {
            threads = new Thread[group.ranks() - 1];
            for (int r = 1; r < group.ranks(); r++) {
                ElasticBuffer peer = group.buffer(r);
                TokenBatch peerBatch = batch(allocator, r, hidden);
                threads[r - 1] = new Thread(
                        () -> {
                            try (peerBatch) {
                                for (long done = 0; done < stopAfter; done++) {
                                    step(peer, peerBatch);
                                }
                            }
                        },
                        "bench-rank-" + r);
                threads[r - 1].setDaemon(true);
                threads[r - 1].start();
            }
        }

        /**
         * Makes every peer stop after its {@code step}-th step. A peer is never more than one step ahead of rank 0
         * (each step waits for every rank), so with {@code step} = rank 0's steps + 1 and that one more step on rank 0,
         * every peer ends exactly there: none stops early and leaves rank 0 waiting.
         */
        void stopAfter(long step) {
            stopAfter = step;
        }

        void join() throws InterruptedException {
            for (Thread t : threads) {
                t.join();
            }
        }
    }

    /**
     * A peer rank of the {@code shm} variant, as its own process: {@code ShmBench <groupFile> <rank> <R> <H>}. Joins
     * and loops steps until the launcher ends it (SIGKILL at tear-down, or exit when the launcher's JVM is gone).
     */
    public static void main(String[] args) {
        LaunchedRank.start();
        Path file = Path.of(args[0]);
        int rank = Integer.parseInt(args[1]);
        int ranks = Integer.parseInt(args[2]);
        int hidden = Integer.parseInt(args[3]);
        try (BufferAllocator allocator = new RootAllocator();
                TokenBatch peerBatch = batch(allocator, rank, hidden);
                ShmGroup group = ShmGroup.join(file, config(ranks, rank, hidden), allocator, Duration.ofMinutes(2))) {
            ElasticBuffer peer = group.buffer();
            while (true) {
                step(peer, peerBatch);
            }
        }
    }
}
