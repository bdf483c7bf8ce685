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
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.nvshmem.NvshmemBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The decode-shaped part of {@link NvshmemBench}: each PE times, on its elastic buffer, (1) for each {@code --tokens}
 * T uniform routing and its floor (the same calls, every {@code topk_idx} = -1) and (2) at T = 128 each
 * {@code --skew}; first as host wall time around each blocking call, then as CUDA-graph replays of its own one-rank
 * group (the kernels wait for the peers, so the PEs replay in lockstep). The parent prints the slowest PE's medians
 * (a step is as slow as its slowest rank) in the tables of {@link DecodeTables}; bandwidth is per PE: its T × k
 * (token, expert) rows, each read once and written once.
 *
 * <p>Every PE runs the same sequence of calls from the same arguments, so the collective calls pair up. A failure in
 * the graph part is reported (key {@code graphError}) and ends only that part: the host figures still come back.
 */
final class NvshmemDecodeShapes {
    private static final int H = 7168;
    private static final int K = 8;
    private static final int E = 256;
    private static final int SETS = 4;
    private static final long ROUTER_SEED = 20261208L;
    /** Key of the failure that ended the graph part on a PE (the host figures came back). */
    static final String GRAPH_ERROR = "graphError";
    /** Key of the failure that ended the whole decode-shaped part on a PE. */
    static final String ERROR = "decodeShapesError";

    private NvshmemDecodeShapes() {}

    /** PE side: every figure under its key ({@code small.T.routed.host}, {@code skew.NAME.graph}, ...) as d/c/s µs. */
    static Map<String, String> measure(
            NvshmemBuffer buffer, CudaDevice device, BufferAllocator allocator, int rank, BenchArgs args) {
        Map<String, String> out = new LinkedHashMap<>();
        List<String> keys = new ArrayList<>();
        List<DeviceInputSets> inputs = new ArrayList<>();
        try {
            BenchSkew uniform = BenchSkew.parse(BenchSkew.UNIFORM, K);
            for (int t : args.tokens) {
                keys.add("small." + t + ".routed");
                inputs.add(inputs(device, allocator, rank, t, uniform, false));
                keys.add("small." + t + ".floor");
                inputs.add(inputs(device, allocator, rank, t, uniform, true));
            }
            int skewTokens = BenchArgs.SKEW_TOKENS;
            for (BenchSkew skew : args.skews) {
                keys.add("skew." + skew.name());
                inputs.add(inputs(device, allocator, rank, skewTokens, skew, false));
            }
            for (int i = 0; i < keys.size(); i++) {
                out.put(keys.get(i) + ".host", format(hostWallTime(buffer, inputs.get(i).sets, args)));
            }
            try (GraphTiming graphs = new GraphTiming(args.warmup, args.iters)) {
                for (int i = 0; i < keys.size(); i++) {
                    double[] g = graphs.time(buffer.group(), inputs.get(i).sets, DispatchOptions.BF16, true, null);
                    out.put(keys.get(i) + ".graph", format(new Latency(g[0], g[1], g[2])));
                }
            } catch (RuntimeException e) {
                out.put(GRAPH_ERROR, e.toString());
            }
            return out;
        } finally {
            inputs.forEach(DeviceInputSets::close);
        }
    }

    private static DeviceInputSets inputs(
            CudaDevice device, BufferAllocator allocator, int rank, int tokens, BenchSkew skew, boolean floor) {
        SyntheticModel router = BenchInputs.router(ROUTER_SEED, E, H, K, skew);
        return new DeviceInputSets(allocator, device, SETS, new int[] {rank}, H, K, (s, r) -> {
            BenchInputs.Draw d = BenchInputs.draw(new Random(1000L * s + r), tokens, H, K, E, router, s, r);
            return floor ? d.withoutRows() : d;
        });
    }

    /** Median host µs around each blocking dispatch and combine call of this PE. */
    private static Latency hostWallTime(NvshmemBuffer buffer, List<List<TokenBatch>> sets, BenchArgs args) {
        int n = args.iters;
        double[] dispatch = new double[n];
        double[] combine = new double[n];
        double[] step = new double[n];
        for (int i = -args.warmup; i < n; i++) {
            TokenBatch batch = sets.get(Math.floorMod(i, sets.size())).get(0);
            long t0 = System.nanoTime();
            Dispatched d = buffer.dispatch(batch, DispatchOptions.BF16);
            long t1 = System.nanoTime();
            buffer.combine(d, batch);
            long t2 = System.nanoTime();
            if (i >= 0) {
                dispatch[i] = (t1 - t0) / 1e3;
                combine[i] = (t2 - t1) / 1e3;
                step[i] = (t2 - t0) / 1e3;
            }
        }
        return new Latency(GraphTiming.median(dispatch), GraphTiming.median(combine), GraphTiming.median(step));
    }

    static String format(Latency l) {
        return String.format(Locale.ROOT, "%.3f/%.3f/%.3f", l.dispatchMicros(), l.combineMicros(), l.stepMicros());
    }

    static Latency parse(String value) {
        String[] p = value.split("/");
        return new Latency(Double.parseDouble(p[0]), Double.parseDouble(p[1]), Double.parseDouble(p[2]));
    }

    /** The slowest PE's figure under {@code key}, per phase; null when a PE lacks it. */
    static Latency slowest(List<Map<String, String>> perRank, String key) {
        double d = 0;
        double c = 0;
        double s = 0;
        for (Map<String, String> values : perRank) {
            String v = values.get(key);
            if (v == null) {
                return null;
            }
            Latency l = parse(v);
            d = Math.max(d, l.dispatchMicros());
            c = Math.max(c, l.combineMicros());
            s = Math.max(s, l.stepMicros());
        }
        return new Latency(d, c, s);
    }

    /** Parent side: the tables from every PE's values, or a line saying which part did not run. */
    static String report(List<Map<String, String>> perRank, BenchArgs args, int gpus) {
        StringBuilder sb = new StringBuilder();
        String shape = String.format(
                Locale.ROOT,
                "nvshmem, R=%d PEs on %d GPU(s), H=7168 k=8 E=256 bf16, buffers for T=%d, slowest PE's median of %d"
                        + " (warm-up %d), %d rotating input sets",
                args.ranks,
                gpus,
                args.bufferTokens(),
                args.iters,
                args.warmup,
                SETS);
        for (String how : List.of("graph", "host")) {
            String title = how.equals("graph")
                    ? "CUDA-graph replay (each PE its own graphs)"
                    : "host wall time per blocking call (each PE its own calls)";
            if (!args.tokens.isEmpty()) {
                List<SmallBatchRow> rows = new ArrayList<>();
                for (int t : args.tokens) {
                    Latency routed = slowest(perRank, "small." + t + ".routed." + how);
                    Latency floor = slowest(perRank, "small." + t + ".floor." + how);
                    if (routed != null && floor != null) {
                        rows.add(new SmallBatchRow(t, routed, floor));
                    }
                }
                sb.append('\n').append(shape).append("; uniform routing next to the floor (every topk_idx = -1), ");
                sb.append(title).append(":\n\n");
                sb.append(rows.isEmpty() ? "(not measured)\n" : DecodeTables.smallBatch(rows));
            }
            if (!args.skews.isEmpty()) {
                int tokens = BenchArgs.SKEW_TOKENS;
                long bytes = (long) tokens * K * 2L * H * 2L;
                List<SkewRow> rows = new ArrayList<>();
                for (BenchSkew skew : args.skews) {
                    Latency l = slowest(perRank, "skew." + skew.name() + "." + how);
                    if (l != null) {
                        rows.add(new SkewRow(skew.name(), l));
                    }
                }
                sb.append('\n')
                        .append(shape)
                        .append(String.format(
                                Locale.ROOT,
                                "; T=%d, skewed routing next to uniform, %.1f MB per PE per dispatch and per combine, ",
                                tokens,
                                bytes / 1e6));
                sb.append(title).append(":\n\n");
                boolean hasUniform = rows.stream().anyMatch(r -> r.routing().equals(BenchSkew.UNIFORM));
                sb.append(hasUniform ? DecodeTables.skew(rows, bytes) : "(not measured)\n");
            }
        }
        for (int r = 0; r < perRank.size(); r++) {
            failure(sb, r, "the decode-shaped part", perRank.get(r).get(ERROR));
            failure(sb, r, "the graph part", perRank.get(r).get(GRAPH_ERROR));
        }
        return sb.toString();
    }

    private static void failure(StringBuilder sb, int rank, String part, String error) {
        if (error != null) {
            sb.append("\nPE ")
                    .append(rank)
                    .append(": ")
                    .append(part)
                    .append(" failed: ")
                    .append(error)
                    .append('\n');
        }
    }
}
