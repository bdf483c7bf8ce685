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
import io.tokenroute.device.CudaDevice;
import io.tokenroute.examples.bench.DecodeTables.Latency;
import io.tokenroute.examples.bench.DecodeTables.SkewRow;
import io.tokenroute.examples.bench.DecodeTables.SmallBatchRow;
import io.tokenroute.examples.demo.SyntheticModel;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.cuda.CudaLocalGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The decode-shaped part of {@link CudaLocalBench}: R = 8 emulated ranks, H = 7168, k = 8, E = 256, bf16, one elastic
 * group with buffers for {@link BenchArgs#bufferTokens()} tokens per rank (128 unless {@code --tokens} asks for more),
 * timed two ways, CUDA-graph replay (median of {@code --iters}, {@code --sets} rotating input sets) and host wall time
 * around each blocking {@code dispatch} / {@code combine} call (median, same count):
 *
 * <ol>
 *   <li>for each {@code --tokens} T, uniform routing next to its floor, the same calls on the same shapes with every
 *       {@code topk_idx} = -1, measured in the same run, with the phase breakdown of both;
 *   <li>at T = 128, each {@code --skew} next to uniform: every distribution
 *       routes R × T × k (token, expert) pairs, so each phase moves the same bytes and the bandwidth ratio is the
 *       inverse ratio of the times.
 * </ol>
 */
final class CudaDecodeShapes implements AutoCloseable {
    private static final int R = 8;
    private static final int H = 7168;
    private static final int K = 8;
    private static final int E = 256;
    private static final long ROUTER_SEED = 20261208L;

    private final CudaDevice device;
    private final BufferAllocator allocator;
    private final BenchArgs args;
    private final GraphTiming graphs;

    CudaDecodeShapes(CudaDevice device, BufferAllocator allocator, BenchArgs args) {
        this.device = device;
        this.allocator = allocator;
        this.args = args;
        this.graphs = new GraphTiming(args.warmup, args.iters);
    }

    void run() {
        if (args.tokens.isEmpty() && args.skews.isEmpty()) {
            return;
        }
        device.makeCurrent();
        BufferConfig config = BufferConfig.builder()
                .ranks(R)
                .experts(E)
                .maxTopK(K)
                .hidden(H)
                .maxTokensPerRank(args.bufferTokens())
                .elastic(true)
                .timeout(Duration.ofSeconds(2))
                .build();
        try (CudaLocalGroup group = CudaLocalGroup.open(device, config, allocator)) {
            group.setValidateDeviceInputs(false);
            if (!args.tokens.isEmpty()) {
                smallBatches(group);
            }
            if (!args.skews.isEmpty()) {
                skews(group);
            }
        }
    }

    private void smallBatches(CudaLocalGroup group) {
        BenchSkew uniform = BenchSkew.parse(BenchSkew.UNIFORM, K);
        List<SmallBatchRow> replay = new ArrayList<>();
        List<SmallBatchRow> host = new ArrayList<>();
        for (int t : args.tokens) {
            Latency[] routed = measure(group, t, uniform, false, "bf16, T=" + t);
            Latency[] floor = measure(group, t, uniform, true, "bf16, T=" + t + ", floor (no rows)");
            replay.add(new SmallBatchRow(t, routed[0], floor[0]));
            host.add(new SmallBatchRow(t, routed[1], floor[1]));
        }
        String shape = "cuda-local, R=8 H=7168 k=8 E=256 bf16, buffers for T=" + args.bufferTokens()
                + ", uniform routing; floor = the same calls with every topk_idx = -1; median of " + args.iters
                + " (warm-up " + args.warmup + "), " + args.sets + " rotating input sets";
        System.out.println();
        System.out.println(shape + "\n\nCUDA-graph replay:\n");
        System.out.print(DecodeTables.smallBatch(replay));
        System.out.println("\nhost wall time per blocking call (all 8 ranks in one call):\n");
        System.out.print(DecodeTables.smallBatch(host));
    }

    private void skews(CudaLocalGroup group) {
        int tokens = BenchArgs.SKEW_TOKENS;
        List<SkewRow> replay = new ArrayList<>();
        List<SkewRow> host = new ArrayList<>();
        for (BenchSkew skew : args.skews) {
            Latency[] l = measure(group, tokens, skew, false, null);
            replay.add(new SkewRow(skew.name(), l[0]));
            host.add(new SkewRow(skew.name(), l[1]));
        }
        long bytes = (long) R * tokens * K * 2L * H * 2L;
        System.out.println();
        System.out.printf(
                "cuda-local, R=8 T=%d H=7168 k=8 E=256 bf16: skewed routing next to uniform, %.1f MB per dispatch and"
                        + " per combine in every row (each (token, expert) row read once and written once)%n%n"
                        + "CUDA-graph replay:%n%n",
                tokens, bytes / 1e6);
        System.out.print(DecodeTables.skew(replay, bytes));
        System.out.println("\nhost wall time per blocking call:\n");
        System.out.print(DecodeTables.skew(host, bytes));
    }

    /** {graph replay, host wall time} of T tokens per rank routed by {@code skew} (or none, for the floor). */
    private Latency[] measure(CudaLocalGroup group, int tokens, BenchSkew skew, boolean floor, String breakdown) {
        SyntheticModel router = BenchInputs.router(ROUTER_SEED, E, H, K, skew);
        int[] ranks = new int[R];
        Arrays.setAll(ranks, r -> r);
        try (DeviceInputSets in = new DeviceInputSets(allocator, device, args.sets, ranks, H, K, (s, r) -> {
            BenchInputs.Draw d = BenchInputs.draw(new Random(1000L * s + r), tokens, H, K, E, router, s, r);
            return floor ? d.withoutRows() : d;
        })) {
            // One checked step first, so a bad input fails here with a message instead of inside a graph.
            group.setValidateDeviceInputs(true);
            group.dispatch(in.sets.get(0), DispatchOptions.BF16);
            group.combine(in.sets.get(0));
            group.setValidateDeviceInputs(false);
            double[] g = graphs.time(group, in.sets, DispatchOptions.BF16, true, breakdown);
            Latency replay = new Latency(g[0], g[1], g[2]);
            return new Latency[] {replay, hostWallTime(group, in.sets)};
        }
    }

    /** Median host µs around each blocking dispatch and combine call (launch, kernels, waits, the report). */
    private Latency hostWallTime(CudaLocalGroup group, List<List<TokenBatch>> sets) {
        int n = args.iters;
        double[] dispatch = new double[n];
        double[] combine = new double[n];
        double[] step = new double[n];
        for (int i = -args.warmup; i < n; i++) {
            List<TokenBatch> batch = sets.get(Math.floorMod(i, sets.size()));
            long t0 = System.nanoTime();
            group.dispatch(batch, DispatchOptions.BF16);
            long t1 = System.nanoTime();
            group.combine(batch);
            long t2 = System.nanoTime();
            if (i >= 0) {
                dispatch[i] = (t1 - t0) / 1e3;
                combine[i] = (t2 - t1) / 1e3;
                step[i] = (t2 - t0) / 1e3;
            }
        }
        return new Latency(GraphTiming.median(dispatch), GraphTiming.median(combine), GraphTiming.median(step));
    }

    @Override
    public void close() {
        graphs.close();
    }
}
