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
package io.tokenroute.examples.demo;

import io.tokenroute.device.nvshmem.NvshmemLibrary;
import io.tokenroute.routing.launch.RankLauncher;
import io.tokenroute.routing.launch.RankLauncher.RankResult;
import io.tokenroute.routing.nvshmem.NvshmemOptions;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The parent side of a demo whose ranks are processes ({@code shm}, {@code nvshmem}): starts one JVM per rank running
 * {@link DemoRankProcess} with {@link RankLauncher} (this JVM's binary and class path), reports rank 0's progress,
 * waits for them, and merges every survivor's result line into one {@link DemoRecorder}, so the run ends with the same
 * {@link DemoSummary} as on threads (step latency: the slowest survivor per step).
 *
 * <p>A victim ({@code --fail}) must end by SIGKILL (exit 137) and every other rank with 0 and a result; anything else
 * is reported as an error of that rank. On {@code nvshmem} rank 0 serves NVSHMEM's unique id on a free loopback port
 * chosen here.
 */
final class RankProcesses {
    /**
     * System property with the class path of the rank JVMs, when this JVM's own is not theirs (the GPU script runs
     * tests from the JUnit console launcher's jar and sets it, as for the routing module's process tests).
     */
    static final String CLASSPATH_PROPERTY = "tokenroute.test.classpath";
    /** How often rank 0's progress is polled. */
    private static final long PROGRESS_MILLIS = 200;
    /** The longest a run may take before its ranks are killed and the run declared hung. */
    static final Duration HANG_BOUND = Duration.ofMinutes(10);
    /** Small heaps and one JIT/GC thread set per rank: R JVMs share this host's cores. */
    private static final List<String> RANK_JVM = List.of("-XX:+UseSerialGC", "-XX:CICompilerCount=2");
    /** Properties of this JVM the GPU ranks need too: JavaCPP's cache, where the NVSHMEM JNI library is. */
    private static final List<String> FORWARDED =
            List.of("org.bytedeco.javacpp.cachedir", NvshmemLibrary.LIBRARY_PROPERTY);

    private RankProcesses() {}

    /**
     * Starts the ranks, waits for them within {@link #HANG_BOUND} (reporting rank 0's progress to {@code listener}),
     * and builds the summary. The launcher's directory, with the group file, is deleted before this returns.
     */
    static DecodeDemo.Run run(DemoConfig config, DemoTransport transport, DemoListener listener)
            throws IOException, InterruptedException {
        long start = System.nanoTime();
        DemoRecorder recorder = new DemoRecorder(config, listener);
        List<String> args = new ArrayList<>(List.of(transport.id()));
        args.addAll(args(config));
        RankLauncher.Builder builder = RankLauncher.builder(DemoRankProcess.class.getName(), config.ranks())
                .classpath(System.getProperty(CLASSPATH_PROPERTY, System.getProperty("java.class.path")))
                .jvmOptions(jvmOptions(transport).toArray(String[]::new))
                .args((rank, file) -> args);
        if (transport == DemoTransport.NVSHMEM) {
            builder.environment(NvshmemOptions.RENDEZVOUS_ENV, "127.0.0.1:" + freePort());
        }
        List<RankResult> results;
        Path groupFile;
        try (RankLauncher launcher = builder.start()) {
            groupFile = launcher.groupFile();
            Thread progress = new Thread(() -> pollProgress(launcher, listener), "demo-rank-progress");
            progress.setDaemon(true);
            progress.start();
            try {
                results = launcher.awaitAll(HANG_BOUND);
            } finally {
                progress.interrupt();
                progress.join(1000);
            }
        }
        boolean[] victims = new boolean[config.ranks()];
        config.failures().forEach(f -> victims[f.rank()] = true);
        for (RankResult r : results) {
            if (victims[r.rank()]) {
                if (!r.endedBySignal(9)) {
                    recorder.error(
                            r.rank(), new IllegalStateException("victim did not end by SIGKILL: " + r.describe()));
                }
            } else if (!r.ok() || r.values().isEmpty()) {
                recorder.error(r.rank(), new IllegalStateException("rank process failed: " + r.describe()));
            } else {
                recorder.merge(r.rank(), r.values());
            }
        }
        return new DecodeDemo.Run(
                recorder.summary(System.nanoTime() - start),
                transport == DemoTransport.SHM ? groupFile : null,
                results);
    }

    /**
     * The rank JVMs' options: heap and GC settings; on the GPU, a heap for the staging copies, this JVM's JavaCPP and
     * NVSHMEM library properties.
     */
    private static List<String> jvmOptions(DemoTransport transport) throws IOException {
        List<String> options = new ArrayList<>(RANK_JVM);
        options.add(transport.onGpu() ? "-Xmx1g" : "-Xmx512m");
        for (String property : transport.onGpu() ? FORWARDED : List.<String>of()) {
            String value = System.getProperty(property);
            if (value != null) {
                options.add("-D" + property + "=" + value);
            }
        }
        return options;
    }

    /** A loopback port free right now, for rank 0 to bind (a race with other processes is possible, and unlikely). */
    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** Forwards rank 0's latest {@code progress} event; runs until interrupted (the parent polls: no rank waits). */
    private static void pollProgress(RankLauncher launcher, DemoListener listener) {
        int seen = 0;
        try {
            while (!Thread.currentThread().isInterrupted()) {
                Thread.sleep(PROGRESS_MILLIS);
                List<String> events = launcher.events(0);
                for (int i = events.size() - 1; i >= 0; i--) {
                    String[] e = events.get(i).split(" ");
                    if (e[0].equals("progress") && e.length == 3) {
                        int completed = Integer.parseInt(e[1]);
                        if (completed > seen) {
                            seen = completed;
                            listener.onProgress(completed, Integer.parseInt(e[2]));
                        }
                        break;
                    }
                }
            }
        } catch (InterruptedException e) {
            // run over
        }
    }

    /** The program arguments that carry {@code c} to a rank process, after the transport ({@link #parse}). */
    static List<String> args(DemoConfig c) {
        List<String> a = new ArrayList<>(List.of(
                        c.ranks(),
                        c.experts(),
                        c.redundant(),
                        c.tokens(),
                        c.hidden(),
                        c.topK(),
                        c.steps(),
                        c.timeout().toNanos(),
                        c.warmupSteps(),
                        c.warmupTimeout().toNanos(),
                        c.rehearse(),
                        c.seed(),
                        c.mode().label(),
                        c.prefillChunkRows(),
                        c.prefillChunks())
                .stream()
                .map(String::valueOf)
                .toList());
        a.add(String.join(",", c.failures().stream().map(FailureSpec::toString).toList()));
        a.add(c.skew().toString());
        return a;
    }

    /** The configuration {@link #args} wrote (no readmissions: a killed process cannot come back). */
    static DemoConfig parse(String[] a) {
        List<FailureSpec> failures = a[15].isEmpty()
                ? List.of()
                : Arrays.stream(a[15].split(",")).map(FailureSpec::parse).toList();
        return DemoConfig.builder(DemoMode.parse(a[12]))
                .ranks(Integer.parseInt(a[0]))
                .experts(Integer.parseInt(a[1]))
                .redundant(Integer.parseInt(a[2]))
                .tokens(Integer.parseInt(a[3]))
                .hidden(Integer.parseInt(a[4]))
                .topK(Integer.parseInt(a[5]))
                .steps(Integer.parseInt(a[6]))
                .timeout(Duration.ofNanos(Long.parseLong(a[7])))
                .warmupSteps(Integer.parseInt(a[8]))
                .warmupTimeout(Duration.ofNanos(Long.parseLong(a[9])))
                .rehearse(Boolean.parseBoolean(a[10]))
                .seed(Long.parseLong(a[11]))
                .prefillChunkRows(Integer.parseInt(a[13]))
                .prefillChunks(Integer.parseInt(a[14]))
                .skew(RoutingSkew.parse(a[16]))
                .failures(failures)
                .readmits(List.of())
                .build();
    }
}
