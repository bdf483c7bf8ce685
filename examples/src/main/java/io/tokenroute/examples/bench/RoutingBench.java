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
 * Low-latency dispatch and combine on the {@code local} transport at DeepSeek's decode size (n = T = 128, H = 7168, k =
 * 8, E = 64, bf16), next to a memcpy of exactly the bytes dispatch copies (staging + received rows); see
 * {@link HostStepBench}. Run: {@code java -cp ... org.openjdk.jmh.Main RoutingBench}.
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
    private static final int TOKENS = 128;
    private static final int HIDDEN = 7168;
    private static final int TOP_K = 8;
    private static final int EXPERTS = 64;

    @Param({"2", "8"})
    public int ranks;

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
                        .maxTokensPerRank(TOKENS)
                        .timeout(Duration.ofSeconds(30))
                        .build(),
                allocator);
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
        long total = startRanks(ranks, allocator);
        System.out.printf(
                "%n[RoutingBench] R=%d: dispatch copies %.1f MiB per step (staging + received rows)%n",
                ranks, total / 1048576.0);
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
        long rows = TOKENS;
        for (int l = 0; l < dispatched[rank].numLocalExperts(); l++) {
            rows += dispatched[rank].recvCount(l);
        }
        return rows * 2L * HIDDEN;
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
