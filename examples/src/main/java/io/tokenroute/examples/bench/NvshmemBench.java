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
import io.tokenroute.device.Cuda;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.cuda.CudaLocalGroup;
import io.tokenroute.routing.launch.LaunchedRank;
import io.tokenroute.routing.launch.RankLauncher;
import io.tokenroute.routing.launch.RankLauncher.RankResult;
import io.tokenroute.routing.nvshmem.NvshmemBuffer;
import io.tokenroute.routing.nvshmem.NvshmemOptions;
import io.tokenroute.routing.nvshmem.NvshmemSession;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * Step latency of the {@code nvshmem} transport next to {@code cuda-local} at the same sizes (T = 128 tokens per rank,
 * H = 7168, k = 8, E = 256): {@code NvshmemBench --ranks R [--iters N] [--warmup N]} first measures, in this process,
 * the device-to-device copy bandwidth of GPU 0 and, with two GPUs or more, the copy bandwidth from GPU 0 to GPU 1
 * (NVLink), and times {@code cuda-local} with R emulated ranks on GPU 0; then it starts R rank processes of itself
 * (one NVSHMEM PE each, PE p on GPU p % deviceCount) that time their own bf16 dispatch, fp8 dispatch and combine calls
 * (host wall clock around each call, which includes waiting for the slowest peer), alternating each step with the
 * same calls on a non-elastic buffer, and prints both with the bandwidth per rank (each (token, expert) row counted
 * once read and once written) and the healthy cost of elasticity. Inputs are device-resident, several sets
 * rotate so L2 cannot serve them, host validation of device inputs is off (as in an engine's hot loop).
 *
 * <p>Run by {@code device/scripts/run-nvshmem-tests.sh bench}, which starts CUDA MPS when PEs share a GPU: without MPS
 * their kernels time-slice the GPU and latency means nothing. With one PE per GPU it is the multi-GPU benchmark.
 */
public final class NvshmemBench {
    private static final int T = 128;
    private static final int H = 7168;
    private static final int K = 8;
    private static final int E = 256;
    private static final int SETS = 4;
    /** What each rank reports, in {@link #record}'s row order. */
    private static final String[] RESULT_KEYS = {"dispatchMicros", "fp8DispatchMicros", "combineMicros", "stepMicros"};

    private static final String NON_ELASTIC_KEY = "nonElasticStepMicros";

    private NvshmemBench() {}

    public static void main(String[] args) throws Exception {
        BenchArgs a;
        try {
            a = BenchArgs.parse(
                    args,
                    K,
                    BenchArgs.accepting(
                            BenchArgs.Option.RANKS,
                            BenchArgs.Option.ITERS,
                            BenchArgs.Option.WARMUP,
                            BenchArgs.Option.TOKENS,
                            BenchArgs.Option.SKEW));
        } catch (IllegalArgumentException e) {
            System.err.println("NvshmemBench: " + e.getMessage());
            System.exit(2);
            return;
        }
        int ranks = a.ranks;
        int iters = a.iters;
        int warmup = a.warmup;
        if (LaunchedRank.isLaunched()) {
            rank(a);
            return;
        }
        if (!Cuda.isAvailable()) {
            System.out.println("SKIPPED: " + Cuda.unavailableReason());
            return;
        }
        int gpus = Cuda.deviceCount();
        double copy = CopyBandwidth.measure(0, 0, 1L << 30);
        double nvlink = gpus > 1 ? CopyBandwidth.measure(0, 1, 1L << 30) : Double.NaN;
        double[] local = cudaLocal(ranks, iters, warmup);
        List<Map<String, String>> perRank = new ArrayList<>();
        double[] shmem = launch(a, perRank);
        long bf16Bytes = 2L * T * K * 2L * H;
        long fp8Bytes = 2L * T * K * ((long) H + 4L * (H / 128));
        long[] bytes = {bf16Bytes, fp8Bytes, bf16Bytes, 2 * bf16Bytes};
        System.out.println();
        System.out.printf(
                "nvshmem vs cuda-local, R=%d on %d GPU(s), T=%d H=%d k=%d E=%d, median of %d (warm-up %d)%n",
                ranks, gpus, T, H, K, E, iters, warmup);
        System.out.printf(
                "  copy bandwidth GPU 0 (read + write): %.0f GB/s; GPU 0 -> GPU 1: %s%n",
                copy / 1e9, gpus > 1 ? String.format("%.0f GB/s", nvlink / 1e9) : "n/a (one GPU)");
        System.out.printf("  %-22s %10s %10s %8s %16s%n", "call", "cuda-local", "nvshmem", "ratio", "nvshmem per rank");
        String[] names = {"bf16 dispatch (us)", "fp8 dispatch (us)", "combine (us)", "bf16 step (us)"};
        for (int i = 0; i < names.length; i++) {
            System.out.printf(
                    "  %-22s %10.1f %10.1f %7.2fx %11.0f GB/s%n",
                    names[i], local[i], shmem[i], shmem[i] / local[i], bytes[i] / (shmem[i] * 1e-6) / 1e9);
        }
        double nonElastic = shmem[RESULT_KEYS.length];
        System.out.printf(
                "  nvshmem bf16 step, non-elastic: %.1f us; elastic vs non-elastic %+.1f %%%n",
                nonElastic, 100 * (shmem[3] / nonElastic - 1));
        System.out.print(NvshmemDecodeShapes.report(perRank, a, gpus));
    }

    /** Buffers for at least T = 128 tokens per rank (more when the decode-shaped part asks for larger batches). */
    static BufferConfig config(int ranks, int maxTokens, boolean elastic) {
        return BufferConfig.builder()
                .ranks(ranks)
                .experts(E)
                .maxTopK(K)
                .hidden(H)
                .maxTokensPerRank(maxTokens)
                .elastic(elastic)
                .timeout(Duration.ofSeconds(10))
                .build();
    }

    /** Median dispatch, combine and step micros of cuda-local with all R ranks in this process. */
    private static double[] cudaLocal(int ranks, int iters, int warmup) {
        try (CudaDevice device = CudaDevice.open(0);
                BufferAllocator allocator = new RootAllocator();
                DeviceInputSets in = inputs(allocator, device, allRanks(ranks));
                CudaLocalGroup group = CudaLocalGroup.open(device, config(ranks, T, true), allocator)) {
            group.setValidateDeviceInputs(false);
            long[][] times = new long[4][iters];
            for (int s = 0; s < warmup + iters; s++) {
                List<TokenBatch> batches = in.sets.get(s % SETS);
                record(
                        times,
                        s - warmup,
                        timedStepPair(
                                () -> group.dispatch(batches, DispatchOptions.FP8),
                                () -> group.dispatch(batches, DispatchOptions.BF16),
                                () -> group.combine(batches)));
            }
            return medians(times);
        }
    }

    private static int[] allRanks(int ranks) {
        int[] all = new int[ranks];
        Arrays.setAll(all, r -> r);
        return all;
    }

    /**
     * One step pair's stamps t (fp8 dispatch t0..t1, its combine t1..t2, not reported; bf16 dispatch t2..t3, combine
     * t3..t4) into row i of times: bf16 dispatch, fp8 dispatch, combine, bf16 step. Warm-up steps (i < 0) are dropped.
     */
    private static void record(long[][] times, int i, long[] t) {
        if (i >= 0) {
            times[0][i] = t[3] - t[2];
            times[1][i] = t[1] - t[0];
            times[2][i] = t[4] - t[3];
            times[3][i] = t[4] - t[2];
        }
    }

    private static double[] medians(long[][] times) {
        double[] out = new double[times.length];
        for (int i = 0; i < times.length; i++) {
            long[] sorted = times[i].clone();
            Arrays.sort(sorted);
            out[i] = sorted[sorted.length / 2] / 1000.0;
        }
        return out;
    }

    /**
     * Starts the rank processes; returns the slowest rank's medians (a step is as slow as its slowest rank) and adds
     * each rank's reported values to {@code perRank}, in rank order.
     */
    private static double[] launch(BenchArgs a, List<Map<String, String>> perRank) throws Exception {
        int ranks = a.ranks;
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        List<String> options = new ArrayList<>(List.of(
                "-XX:+UseSerialGC", "-Xmx1g", "-D" + NvshmemOptions.RENDEZVOUS_PROPERTY + "=127.0.0.1:" + port));
        String cachedir = System.getProperty("org.bytedeco.javacpp.cachedir");
        if (cachedir != null) {
            options.add("-Dorg.bytedeco.javacpp.cachedir=" + cachedir);
        }
        List<String> rankArgs = List.of(
                "--ranks",
                Integer.toString(ranks),
                "--iters",
                Integer.toString(a.iters),
                "--warmup",
                Integer.toString(a.warmup),
                "--tokens",
                a.tokensValue(),
                "--skew",
                a.skewValue());
        try (RankLauncher launcher = RankLauncher.builder(NvshmemBench.class.getName(), ranks)
                .jvmOptions(options.toArray(String[]::new))
                .args((r, f) -> rankArgs)
                .start()) {
            double[] worst = new double[RESULT_KEYS.length + 1];
            for (RankResult r : launcher.awaitAll(Duration.ofMinutes(5))) {
                if (!r.ok()) {
                    throw new IllegalStateException("rank " + r.rank() + " failed: " + r.describe());
                }
                for (int i = 0; i <= RESULT_KEYS.length; i++) {
                    String key = i < RESULT_KEYS.length ? RESULT_KEYS[i] : NON_ELASTIC_KEY;
                    worst[i] = Math.max(worst[i], Double.parseDouble(r.values().get(key)));
                }
                Map<String, String> legacy = new LinkedHashMap<>();
                for (String key : RESULT_KEYS) {
                    legacy.put(key, r.values().get(key));
                }
                legacy.put(NON_ELASTIC_KEY, r.values().get(NON_ELASTIC_KEY));
                System.out.println("rank " + r.rank() + ": " + legacy);
                perRank.add(r.values());
            }
            return worst;
        }
    }

    /**
     * One PE: joins, opens an elastic and a non-elastic buffer and alternates them step by step (so clocks and
     * neighbours treat both alike), times its own calls, reports the elastic medians and the non-elastic bf16 step.
     */
    private static void rank(BenchArgs a) {
        int ranks = a.ranks;
        int iters = a.iters;
        int warmup = a.warmup;
        LaunchedRank.start();
        int rank = LaunchedRank.rank();
        int maxTokens = a.bufferTokens();
        // Symmetric allocations stay with the session until it ends, so the heap holds both buffers.
        long heap = 2 * NvshmemBuffer.symmetricBytes(config(ranks, maxTokens, true)) + (64L << 20);
        try (CudaDevice device = CudaDevice.open(rank % Cuda.deviceCount());
                NvshmemSession session = NvshmemSession.join(device, rank, ranks, NvshmemOptions.singleHost(heap));
                BufferAllocator allocator = new RootAllocator();
                DeviceInputSets in = inputs(allocator, device, new int[] {rank});
                NvshmemBuffer elastic = NvshmemBuffer.open(session, config(ranks, maxTokens, true), allocator);
                NvshmemBuffer plain = NvshmemBuffer.open(session, config(ranks, maxTokens, false), allocator)) {
            elastic.group().setValidateDeviceInputs(false);
            plain.group().setValidateDeviceInputs(false);
            long[][] times = new long[4][iters];
            long[][] plainTimes = new long[4][iters];
            // Each combine takes the dispatch just before it, as an engine's would.
            Dispatched[] last = new Dispatched[1];
            for (int s = 0; s < warmup + iters; s++) {
                TokenBatch batch = in.sets.get(s % SETS).get(0);
                record(
                        times,
                        s - warmup,
                        timedStepPair(
                                () -> last[0] = elastic.dispatch(batch, DispatchOptions.FP8),
                                () -> last[0] = elastic.dispatch(batch, DispatchOptions.BF16),
                                () -> elastic.combine(last[0], batch)));
                record(
                        plainTimes,
                        s - warmup,
                        timedStepPair(
                                () -> last[0] = plain.dispatch(batch, DispatchOptions.FP8),
                                () -> last[0] = plain.dispatch(batch, DispatchOptions.BF16),
                                () -> plain.combine(last[0], batch)));
            }
            double[] m = medians(times);
            Map<String, Object> result = new LinkedHashMap<>();
            for (int i = 0; i < RESULT_KEYS.length; i++) {
                result.put(RESULT_KEYS[i], m[i]);
            }
            result.put(NON_ELASTIC_KEY, medians(plainTimes)[3]);
            // The decode-shaped figures (same calls on every PE, so they pair up), then the mask after all of them.
            try {
                result.putAll(NvshmemDecodeShapes.measure(elastic, device, allocator, rank, a));
            } catch (RuntimeException e) {
                // The figures above still come back; the report names the failure.
                result.put(NvshmemDecodeShapes.ERROR, e.toString());
            }
            result.put("masked", Arrays.toString(elastic.queryMask()));
            LaunchedRank.result(result);
        }
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    /** fp8 dispatch + combine, then bf16 dispatch + combine; the five nanoTime stamps around the four calls. */
    private static long[] timedStepPair(Runnable fp8Dispatch, Runnable bf16Dispatch, Runnable combine) {
        long[] t = new long[5];
        t[0] = System.nanoTime();
        fp8Dispatch.run();
        t[1] = System.nanoTime();
        combine.run();
        t[2] = System.nanoTime();
        bf16Dispatch.run();
        t[3] = System.nanoTime();
        combine.run();
        t[4] = System.nanoTime();
        return t;
    }

    /** SETS rotating sets of device-resident batches for the given ranks (same random draw for every process). */
    private static DeviceInputSets inputs(BufferAllocator allocator, CudaDevice device, int[] which) {
        return new DeviceInputSets(
                allocator,
                device,
                SETS,
                which,
                H,
                K,
                (s, r) -> BenchInputs.draw(new Random(1000L * s + r), T, H, K, E));
    }
}
