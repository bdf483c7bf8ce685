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
import io.tokenroute.examples.demo.SyntheticModel;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticGroup;
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
 * Low-latency dispatch and combine on the {@code local} transport at DeepSeek's decode size (buffers for T = 128
 * tokens per rank, H = 7168, k = 8, E = 64, bf16), next to a memcpy of exactly the bytes dispatch copies (staging +
 * received rows); see {@link HostStepBench}. Run: {@code java -cp ... org.openjdk.jmh.Main RoutingBench}, or
 * {@link DecodeShapeReport} for the decode-shaped tables.
 *
 * <p>Parameters: {@code ranks} R; {@code tokens}, the batch n each rank dispatches (1 to 128, the buffers stay sized
 * for 128 as an engine's are); {@code routing}: {@code uniform}, a skew of {@link BenchSkew} ({@code zipf:1.0},
 * {@code zipf:1.2}, {@code half-hot}), or {@code zero-rows}, the floor: the same batch and calls with every
 * {@code topk_idx} = -1, so nothing is routed. Every routing but the floor routes n × k (token, expert) pairs per rank,
 * so they all move the same bytes.
 */
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
public class RoutingBench extends HostStepBench {
    static final int HIDDEN = 7168;
    static final int TOP_K = 8;
    static final int EXPERTS = 64;
    /** The routing value of the floor: every {@code topk_idx} = -1. */
    static final String ZERO_ROWS = "zero-rows";

    private static final long ROUTER_SEED = 20261208L;

    @Param({"2", "8"})
    public int ranks;

    @Param({"1", "8", "32", "128"})
    public int tokens;

    @Param({ZERO_ROWS, "uniform", "zipf:1.0", "zipf:1.2", "half-hot"})
    public String routing;

    private BufferAllocator allocator;
    private ElasticGroup group;
    private TokenBatch[] batches;
    private Dispatched[] dispatched;

    @Setup(Level.Trial)
    public void setUp() {
        allocator = new RootAllocator();
        group = ElasticGroup.open(
                "local",
                BufferConfig.builder()
                        .ranks(ranks)
                        .experts(EXPERTS)
                        .hidden(HIDDEN)
                        .maxTopK(TOP_K)
                        .maxTokensPerRank(Math.max(BenchArgs.BUFFER_TOKENS, tokens))
                        .timeout(Duration.ofSeconds(30))
                        .build(),
                allocator);
        batches = new TokenBatch[ranks];
        dispatched = new Dispatched[ranks];
        boolean floor = routing.equals(ZERO_ROWS);
        BenchSkew skew = BenchSkew.parse(floor ? BenchSkew.UNIFORM : routing, TOP_K);
        SyntheticModel router = BenchInputs.router(ROUTER_SEED, EXPERTS, HIDDEN, TOP_K, skew);
        Random rng = new Random(1);
        for (int r = 0; r < ranks; r++) {
            BenchInputs.Draw draw = BenchInputs.draw(rng, tokens, HIDDEN, TOP_K, EXPERTS, router, 0, r);
            if (floor) {
                draw = draw.withoutRows();
            }
            batches[r] = TokenBatch.fromBf16Bits(allocator, HIDDEN, draw.x(), TOP_K, draw.idx(), draw.w());
        }
        long total = startRanks(ranks, allocator);
        System.out.printf(
                "%n[RoutingBench] R=%d T=%d %s: dispatch copies %.1f MiB per step (staging + received rows)%n",
                ranks, tokens, routing, total / 1048576.0);
    }

    @Override
    protected void dispatch(int rank) {
        dispatched[rank] = group.buffer(rank).dispatch(batches[rank]);
    }

    @Override
    protected void combine(int rank) {
        group.buffer(rank).combine(dispatched[rank], batches[rank]);
    }

    @Override
    protected long bytesMoved(int rank) {
        long rows = tokens;
        for (int l = 0; l < dispatched[rank].numLocalExperts(); l++) {
            rows += dispatched[rank].recvCount(l);
        }
        return rows * 2L * HIDDEN;
    }

    /**
     * Bytes one dispatch (and one combine) moves over all ranks when every token has k experts: each (token, expert)
     * row of H bf16 values counted once read and once written, as the GPU benches count it.
     */
    static long phaseBytes(int ranks, int tokens) {
        return (long) ranks * tokens * TOP_K * 2L * HIDDEN * 2L;
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
