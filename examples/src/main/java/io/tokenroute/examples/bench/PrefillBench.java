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
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.PrefillDispatched;
import io.tokenroute.routing.PrefillLayout;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The prefill (high-throughput) mode on the {@code local} transport (docs/contract.md §3b): prefill dispatch and
 * zero-copy combine with batches many times larger than the queues (H = 7168, k = 8, E = 64, bf16), next to a memcpy
 * of the bytes the step moves; see {@link HostStepBench}. Bytes moved per rank: each sent row is written into a queue
 * and copied out by its destination, and each partial row is written back and read by its source, so
 * {@code 2 × (sent + received) × 2H}. Run: {@code java -cp ... org.openjdk.jmh.Main PrefillBench}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {
            "--add-opens=java.base/java.nio=org.apache.arrow.memory.core,ALL-UNNAMED",
            "--add-modules=jdk.incubator.vector",
            "-XX:MaxDirectMemorySize=6g"
        })
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class PrefillBench extends HostStepBench {
    private static final int HIDDEN = 7168;
    private static final int TOP_K = 8;
    private static final int EXPERTS = 64;

    @Param({"2", "4"})
    public int ranks;

    @Param({"1024"})
    public int tokens;

    private BufferAllocator allocator;
    private ElasticGroup group;
    private TokenBatch[] batches;
    private PrefillDispatched[] dispatched;
    private long[] sent;
    private long[] received;

    @Setup(Level.Trial)
    public void setUp() {
        allocator = new RootAllocator();
        BufferConfig config = BufferConfig.builder()
                .ranks(ranks)
                .experts(EXPERTS)
                .hidden(HIDDEN)
                .maxTopK(TOP_K)
                .maxTokensPerRank(8)
                .prefillMaxTokensPerRank(tokens)
                .timeout(Duration.ofSeconds(30))
                .build();
        group = ElasticGroup.open("local", config, allocator);
        batches = new TokenBatch[ranks];
        dispatched = new PrefillDispatched[ranks];
        sent = new long[ranks];
        received = new long[ranks];
        Random rng = new Random(1);
        for (int r = 0; r < ranks; r++) {
            BenchInputs.Draw draw = BenchInputs.draw(rng, tokens, HIDDEN, TOP_K, EXPERTS);
            batches[r] = TokenBatch.fromBf16Bits(allocator, HIDDEN, draw.x(), TOP_K, draw.idx(), draw.w());
        }
        for (int p = 0; p < ranks; p++) {
            try (PrefillLayout layout = group.buffer(p).prefillLayout(batches[p], allocator)) {
                for (int r = 0; r < ranks; r++) {
                    sent[p] += layout.tokensPerRank().get(r);
                    received[r] += layout.tokensPerRank().get(r);
                }
            }
        }
        long total = startRanks(ranks, allocator);
        System.out.printf(
                "%n[PrefillBench] R=%d T=%d: a step moves %.1f MiB over all ranks; region %.1f MiB per rank" + "%n",
                ranks, tokens, total / 1048576.0, config.regionBytes() / 1048576.0);
    }

    @Override
    protected void dispatch(int rank) {
        dispatched[rank] = group.buffer(rank).prefillDispatch(batches[rank], DispatchOptions.BF16);
    }

    @Override
    protected void combine(int rank) {
        group.buffer(rank).prefillCombine(dispatched[rank], batches[rank]);
    }

    @Override
    protected long bytesMoved(int rank) {
        return 2 * (sent[rank] + received[rank]) * 2L * HIDDEN;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        stopRanks();
        for (TokenBatch batch : batches) {
            batch.close();
        }
        group.close();
        allocator.close();
    }
}
