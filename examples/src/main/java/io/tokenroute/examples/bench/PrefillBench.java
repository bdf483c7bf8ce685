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
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.PrefillDispatched;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.TimeUnit;
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
 * The prefill (high-throughput) mode on the {@code local} transport (docs/contract.md §3b): one prefill dispatch and
 * zero-copy combine per invocation on all R ranks, with batches many times larger than the queues, next to a memcpy of
 * the bytes the step moves, by the same threads, in the same run.
 *
 * <p>Bytes moved per rank and step: each sent row is written into the queue and copied out by its destination
 * (dispatch), and each partial row is written back and read by its source (combine): {@code 2 × (sent + received) ×
 * 2H}. The memcpy benchmark copies exactly that many bytes per rank; the ratio of the two times is the fraction of
 * memcpy bandwidth the step reaches. Rank 0 times its dispatch and combine (secondary results, divide by
 * {@code steps}). Run: {@code java -cp ... org.openjdk.jmh.Main PrefillBench}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-opens=java.base/java.nio=org.apache.arrow.memory.core,ALL-UNNAMED",
    "--add-modules=jdk.incubator.vector", "-Xmx2g", "-XX:MaxDirectMemorySize=6g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class PrefillBench {
    private static final int HIDDEN = 7168;
    private static final int TOP_K = 8;
    private static final int EXPERTS = 64;
    private static final int STEP = 1;
    private static final int MEMCPY = 2;

    @Param({"2", "4"})
    public int ranks;

    @Param({"1024"})
    public int tokens;

    private BufferAllocator allocator;
    private ElasticGroup group;
    private TokenBatch[] batches;
    private ArrowBuf[] copySrc;
    private ArrowBuf[] copyDst;
    private long[] copyBytes;
    private RoutingBench.RankWorkers workers;
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
        BufferConfig config = BufferConfig.builder().ranks(ranks).experts(EXPERTS).hidden(HIDDEN).maxTopK(TOP_K)
                .maxTokensPerRank(8).prefillMaxTokensPerRank(tokens).timeout(Duration.ofSeconds(30)).build();
        group = ElasticGroup.open("local", config, allocator);
        batches = new TokenBatch[ranks];
        Random rng = new Random(1);
        for (int r = 0; r < ranks; r++) {
            BenchInputs.Draw draw = BenchInputs.draw(rng, tokens, HIDDEN, TOP_K, EXPERTS);
            batches[r] = TokenBatch.fromBf16Bits(allocator, HIDDEN, draw.x(), TOP_K, draw.idx(), draw.w());
        }
        workers = new RoutingBench.RankWorkers(ranks, this::run);
        workers.runAll(STEP);
        copySrc = new ArrowBuf[ranks];
        copyDst = new ArrowBuf[ranks];
        copyBytes = new long[ranks];
        long total = 0;
        for (int r = 0; r < ranks; r++) {
            long sent = 0;
            try (var layout = group.buffer(r).prefillLayout(batches[r], allocator)) {
                for (int p = 0; p < ranks; p++) {
                    sent += layout.tokensPerRank().get(p);
                }
            }
            long received = 0;
            for (int p = 0; p < ranks; p++) {
                try (var layout = group.buffer(p).prefillLayout(batches[p], allocator)) {
                    received += layout.tokensPerRank().get(r);
                }
            }
            copyBytes[r] = 2 * (sent + received) * 2L * HIDDEN;
            total += copyBytes[r];
            copySrc[r] = allocator.buffer(copyBytes[r]);
            copyDst[r] = allocator.buffer(copyBytes[r]);
            MemoryUtil.setMemory(copySrc[r].memoryAddress(), copyBytes[r], (byte) 0x3C);
        }
        System.out.printf("%n[PrefillBench] R=%d T=%d: a step moves %.1f MiB over all ranks; region %.1f MiB per rank"
                + "%n", ranks, tokens, total / 1048576.0, config.regionBytes() / 1048576.0);
    }

    private void run(int rank, int op) {
        ElasticBuffer buffer = group.buffer(rank);
        if (op == STEP) {
            long t0 = System.nanoTime();
            PrefillDispatched d = buffer.prefillDispatch(batches[rank], DispatchOptions.BF16);
            long t1 = System.nanoTime();
            buffer.prefillCombine(d, batches[rank]);
            if (rank == 0) {
                dispatchNanos = t1 - t0;
                combineNanos = System.nanoTime() - t1;
            }
        } else {
            MemoryUtil.copyMemory(copySrc[rank].memoryAddress(), copyDst[rank].memoryAddress(), copyBytes[rank]);
        }
    }

    /** Prefill dispatch then (zero-copy) combine on every rank. */
    @Benchmark
    public void step(PhaseTimes times) {
        workers.runAll(STEP);
        times.dispatchNanos += dispatchNanos;
        times.combineNanos += combineNanos;
        times.steps++;
    }

    /** A memcpy of the bytes one prefill step moves, per rank, on the same threads. */
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
}
