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
import io.tokenroute.device.CudaEvent;
import io.tokenroute.device.CudaGraph;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.Memcpy;
import io.tokenroute.examples.python.DeviceTokenBatch;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.cuda.CudaCombined;
import io.tokenroute.routing.cuda.CudaDispatched;
import io.tokenroute.routing.cuda.CudaLocalGroup;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * GPU benchmark of the {@code cuda-local} transport at DeepSeek-V3 decode shape: R = 8 emulated ranks on one GPU,
 * T = 128 tokens per rank, H = 7168, k = 8, E = 256. Times bf16 dispatch, fp8 dispatch and bf16 combine as CUDA graph
 * replays (one graph per input set; sets rotate so L2 cannot serve the inputs), median of {@code --iters} after
 * warm-up, with CUDA events; and, in the same run, a device-to-device {@code cudaMemcpyAsync} of a large buffer as
 * the bandwidth ceiling. Bytes moved count each (token, expert) row once read and once written. Also: elastic versus
 * non-elastic, steps after a rank was masked, the step that detects a dead rank, and the host Java cost of one
 * dispatch/combine call. Writes set 0's inputs and results under {@code --dir} for {@code torch_ep_bench.py}, which
 * checks them and times the PyTorch version. Prints a table, then the decode-shaped tables of {@link CudaDecodeShapes}
 * (small batches {@code --tokens} next to their zero-row floor, skewed routing {@code --skew} next to uniform).
 *
 * <p>Options ({@link BenchArgs}): {@code --iters N --warmup N --sets N --dir PATH --tokens T,... --skew FORM,...}.
 * Run on the GPU machine through {@code device/scripts/run-cuda-bench.sh}.
 */
public final class CudaLocalBench {
    private static final int R = 8;
    private static final int T = 128;
    private static final int H = 7168;
    private static final int K = 8;
    private static final int E = 256;

    private final CudaDevice device;
    private final BufferAllocator allocator;
    private final int sets;
    private final int warmup;
    private final int iters;
    private final Path dir;
    /** Owners of the input batches of {@link #inputs}. */
    private final List<DeviceTokenBatch> uploads = new ArrayList<>();

    private final List<List<TokenBatch>> inputs = new ArrayList<>();
    private final Map<String, String> table = new LinkedHashMap<>();
    private final CudaEvent start;
    private final CudaEvent end;
    private final GraphTiming graphs;
    private final java.util.Set<Boolean> breakdowns = new java.util.HashSet<>();

    private CudaLocalBench(CudaDevice device, BufferAllocator allocator, int sets, int warmup, int iters, Path dir) {
        this.device = device;
        this.allocator = allocator;
        this.sets = sets;
        this.warmup = warmup;
        this.iters = iters;
        this.dir = dir;
        this.start = CudaEvent.create();
        this.end = CudaEvent.create();
        this.graphs = new GraphTiming(warmup, iters);
    }

    public static void main(String[] args) throws Exception {
        BenchArgs a;
        try {
            a = BenchArgs.parse(
                    args,
                    K,
                    BenchArgs.accepting(
                            BenchArgs.Option.SETS,
                            BenchArgs.Option.WARMUP,
                            BenchArgs.Option.ITERS,
                            BenchArgs.Option.DIR,
                            BenchArgs.Option.TOKENS,
                            BenchArgs.Option.SKEW));
            if (a.sets % 2 != 0) {
                throw new IllegalArgumentException("--sets must be even (fp8 graphs alternate staging slots)");
            }
        } catch (IllegalArgumentException e) {
            System.err.println("CudaLocalBench: " + e.getMessage());
            System.exit(2);
            return;
        }
        int sets = a.sets;
        int warmup = a.warmup;
        int iters = a.iters;
        Path dir = a.dir;
        if (!Cuda.isAvailable()) {
            System.out.println("SKIPPED: " + Cuda.unavailableReason());
            return;
        }
        Files.createDirectories(dir);
        try (CudaDevice device = CudaDevice.open(0);
                BufferAllocator allocator = new RootAllocator()) {
            CudaLocalBench bench = new CudaLocalBench(device, allocator, sets, warmup, iters, dir);
            try {
                bench.run();
            } finally {
                bench.close();
            }
            try (CudaDecodeShapes shapes = new CudaDecodeShapes(device, allocator, a)) {
                shapes.run();
            }
        }
    }

    private void run() throws IOException {
        System.out.println("device: " + device + "; CUDA " + Cuda.versions() + "; " + Instant.now());
        makeInputs();
        double copyBw = CopyBandwidth.measure(device.ordinal(), device.ordinal(), 1L << 30);
        device.makeCurrent();
        long rows = (long) R * T * K;
        long bf16Bytes = rows * 2L * H * 2;
        long fp8Bytes = rows * ((long) H + 4L * (H / 128)) * 2;

        BufferConfig elastic = BufferConfig.builder()
                .ranks(R)
                .experts(E)
                .maxTopK(K)
                .hidden(H)
                .maxTokensPerRank(T)
                .elastic(true)
                .timeout(Duration.ofSeconds(2))
                .build();
        double[] healthy;
        double fp8;
        double masked;
        double detect;
        double hostDispatch;
        double hostCombine;
        try (CudaLocalGroup group = CudaLocalGroup.open(device, elastic, allocator)) {
            group.setValidateDeviceInputs(false);
            verifyAndWrite(group);
            healthy = timeSteps(group, DispatchOptions.BF16, null, true);
            fp8 = timeSteps(group, new DispatchOptions(true, false, false, true), null, false)[0];
            double[] host = hostCost(group);
            hostDispatch = host[0];
            hostCombine = host[1];
            // Rank 7 dies: the detection step (timeout 1 ms), then steps without it.
            group.setTimeout(Duration.ofMillis(1));
            boolean[] survivors = {true, true, true, true, true, true, true, false};
            detect = detectionStep(group, survivors);
            masked = timeSteps(group, DispatchOptions.BF16, survivors, true)[2];
        }
        BufferConfig plain = elastic.toBuilder().elastic(false).build();
        double[] nonElastic;
        try (CudaLocalGroup group = CudaLocalGroup.open(device, plain, allocator)) {
            group.setValidateDeviceInputs(false);
            group.dispatch(inputs.get(0), DispatchOptions.BF16);
            seedExpertOutputs(group);
            group.combine(inputs.get(0));
            nonElastic = timeSteps(group, DispatchOptions.BF16, null, true);
        }

        double healthyStep = healthy[2];
        row("copy D2D bandwidth (read+write)", String.format("%.0f GB/s", copyBw / 1e9));
        row("bf16 dispatch", perf(healthy[0], bf16Bytes, copyBw));
        row("fp8 dispatch", perf(fp8, fp8Bytes, copyBw));
        row("bf16 combine", perf(healthy[1], bf16Bytes, copyBw));
        row("bf16 step (dispatch + combine)", us(healthyStep));
        row("non-elastic bf16 dispatch / combine", us(nonElastic[0]) + " / " + us(nonElastic[1]));
        row("elastic vs non-elastic step", String.format("%+.1f %%", 100 * (healthyStep / nonElastic[2] - 1)));
        row("step with rank 7 masked", us(masked) + String.format(" (%.2fx healthy)", masked / healthyStep));
        row(
                "detection step (timeout 1 ms)",
                us(detect) + String.format(" (limit %.0f us = timeout + 2 steps)", 1000 + 2 * healthyStep));
        row(
                "host Java cost per dispatch (per rank)",
                String.format("%.1f us (%.1f us for all 8)", hostDispatch / R, hostDispatch));
        row(
                "host Java cost per combine (per rank)",
                String.format("%.1f us (%.1f us for all 8)", hostCombine / R, hostCombine));
        Files.writeString(
                dir.resolve("java-times.txt"),
                String.format(
                        "dispatch_us=%.3f%nfp8_dispatch_us=%.3f%ncombine_us=%.3f%ncopy_bw=%.0f%nbf16_bytes=%d%n",
                        healthy[0], fp8, healthy[1], copyBw, bf16Bytes));
        System.out.println();
        System.out.println("cuda-local, R=8 T=128 H=7168 k=8 E=256, median of " + iters + " (warm-up " + warmup + "), "
                + sets + " rotating input sets");
        for (Map.Entry<String, String> e : table.entrySet()) {
            System.out.printf("  %-42s %s%n", e.getKey(), e.getValue());
        }
    }

    private void row(String name, String value) {
        table.put(name, value);
    }

    private static String us(double micros) {
        return String.format("%.1f us", micros);
    }

    private static String perf(double micros, long bytes, double copyBw) {
        double bw = bytes / (micros * 1e-6);
        return String.format("%.1f us, %.1f MB, %.0f GB/s = %.2f of copy", micros, bytes / 1e6, bw / 1e9, bw / copyBw);
    }

    // ------------------------------------------------------------------------------------------------ inputs

    private void makeInputs() {
        Random rng = new Random(20261107);
        for (int s = 0; s < sets; s++) {
            List<TokenBatch> perRank = new ArrayList<>();
            for (int r = 0; r < R; r++) {
                BenchInputs.Draw draw = BenchInputs.draw(rng, T, H, K, E);
                DeviceTokenBatch uploaded = BenchInputs.upload(allocator, device, draw, H, K);
                uploads.add(uploaded);
                perRank.add(uploaded.batch());
                if (s == 0) {
                    write("x0.bin", shorts(draw.x()), r > 0);
                    write("idx0.bin", longs(draw.idx()), r > 0);
                    write("w0.bin", floats(draw.w()), r > 0);
                }
            }
            inputs.add(perRank);
        }
    }

    // ------------------------------------------------------------------------------------------------ checks

    /** One un-graphed step on set 0 (identity expert), written out for the PyTorch check. */
    private void verifyAndWrite(CudaLocalGroup group) {
        List<CudaDispatched> d = group.dispatch(inputs.get(0), DispatchOptions.BF16);
        Path recv = dir.resolve("recv.bin");
        Path counts = dir.resolve("counts.bin");
        int[] all = new int[E];
        for (int r = 0; r < R; r++) {
            for (int l = 0; l < E / R; l++) {
                int n = d.get(r).recvCount(l);
                all[r * (E / R) + l] = n;
                short[] rows = new short[n * H];
                Memcpy.toHost(rows, d.get(r).rowsAddress(l), group.stream(r));
                write(recv, shorts(rows), r > 0 || l > 0);
            }
        }
        write(counts, ints(all), false);
        seedExpertOutputs(group);
        List<CudaCombined> c = group.combine(inputs.get(0));
        for (int r = 0; r < R; r++) {
            short[] out = new short[T * H];
            c.get(r).copyHiddenTo(out);
            write("combine0.bin", shorts(out), r > 0);
        }
        System.out.println("wrote set 0 inputs and results to " + dir);
    }

    /** Identity expert: the combine-send rows get the received rows (device-to-device). */
    private void seedExpertOutputs(CudaLocalGroup group) {
        for (int r = 0; r < R; r++) {
            CudaDispatched d = group.lastDispatch(r);
            for (int l = 0; l < E / R; l++) {
                Memcpy.deviceToDevice(
                        d.expertOutputAddress(l), d.rowsAddress(l), 2L * H * d.recvCount(l), group.stream(r));
            }
            group.stream(r).synchronize();
        }
    }

    // ------------------------------------------------------------------------------------------------ timing

    /**
     * Graph per input set of {dispatch; combine}; returns median µs of {dispatch, combine, step}. With survivors,
     * the other ranks are left out. combine=false: dispatch graphs only (fp8 timing).
     */
    private double[] timeSteps(CudaLocalGroup group, DispatchOptions options, boolean[] survivors, boolean combine) {
        List<List<TokenBatch>> launchedSets = new ArrayList<>();
        for (List<TokenBatch> set : inputs) {
            launchedSets.add(launched(set, survivors));
        }
        boolean traced = survivors == null && group.config().elastic() && breakdowns.add(options.fp8());
        String label = traced ? (options.fp8() ? "fp8" : "bf16") : null;
        return graphs.time(group, launchedSets, options, combine, label);
    }

    private static List<TokenBatch> launched(List<TokenBatch> all, boolean[] survivors) {
        List<TokenBatch> out = new ArrayList<>(all);
        if (survivors != null) {
            for (int r = 0; r < out.size(); r++) {
                if (!survivors[r]) {
                    out.set(r, null);
                }
            }
        }
        return out;
    }

    /** µs of the one step in which survivors detect the rank left out (dispatch + combine, graph replay). */
    private double detectionStep(CudaLocalGroup group, boolean[] survivors) {
        group.synchronize();
        List<TokenBatch> batch = launched(inputs.get(0), survivors);
        try (CudaGraph d = group.captureGraph(() -> group.queueDispatch(batch, DispatchOptions.BF16));
                CudaGraph c = group.captureGraph(() -> group.queueCombine(batch))) {
            CudaStream origin = group.originStream();
            start.record(origin);
            group.replay(d);
            group.replay(c);
            end.record(origin);
            end.synchronize();
            group.synchronize();
            for (int r = 0; r < R; r++) {
                if (survivors[r] && group.queryMask(r)[7] != 1) {
                    throw new IllegalStateException("rank " + r + " did not mask rank 7");
                }
            }
            return 1e3 * CudaEvent.elapsedMillis(start, end);
        }
    }

    /** Median host nanoseconds (outside blocking waits) of dispatch() and combine() calls, all 8 ranks. */
    private double[] hostCost(CudaLocalGroup group) {
        int n = Math.max(iters, 100);
        double[] dispatch = new double[n];
        double[] combine = new double[n];
        for (int i = -20; i < n; i++) {
            List<TokenBatch> batch = inputs.get(Math.floorMod(i, sets));
            group.dispatch(batch, DispatchOptions.BF16);
            long d = group.lastCallHostNanos();
            group.combine(batch);
            long c = group.lastCallHostNanos();
            if (i >= 0) {
                dispatch[i] = d / 1e3;
                combine[i] = c / 1e3;
            }
        }
        return new double[] {GraphTiming.median(dispatch), GraphTiming.median(combine)};
    }

    // ------------------------------------------------------------------------------------------------ files

    private void write(String name, ByteBuffer data, boolean append) {
        write(dir.resolve(name), data, append);
    }

    private static void write(Path path, ByteBuffer data, boolean append) {
        try (FileChannel ch = FileChannel.open(
                path,
                StandardOpenOption.CREATE,
                StandardOpenOption.WRITE,
                append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            while (data.hasRemaining()) {
                ch.write(data);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static ByteBuffer shorts(short[] v) {
        ByteBuffer b = ByteBuffer.allocate(2 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asShortBuffer().put(v);
        return b;
    }

    private static ByteBuffer ints(int[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(v);
        return b;
    }

    private static ByteBuffer longs(long[] v) {
        ByteBuffer b = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(v);
        return b;
    }

    private static ByteBuffer floats(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        return b;
    }

    private void close() {
        uploads.forEach(DeviceTokenBatch::close);
        start.close();
        end.close();
        graphs.close();
    }
}
