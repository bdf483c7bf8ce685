package io.tokenroute.examples.demo;

import io.tokenroute.routing.launch.RankLauncher;
import io.tokenroute.routing.launch.RankLauncher.RankResult;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The parent side of the demos whose ranks are processes ({@link ShmDemo}, {@link NvshmemDemo}): starts the rank JVMs
 * with {@link RankLauncher}, reports rank 0's progress, waits for them, and merges every survivor's result line into
 * one {@link DemoRecorder}. The rank side is {@link DemoRankProcess}.
 *
 * <p>A victim ({@code --fail}) must end by SIGKILL (exit 137) and every other rank with 0 and a result; anything else
 * is reported as an error of that rank.
 */
final class RankProcesses {
    /**
     * System property with the class path of the rank JVMs, when this JVM's own is not theirs (the GPU script runs
     * tests from the JUnit console launcher's jar and sets it, as for the routing module's process tests).
     */
    static final String CLASSPATH_PROPERTY = "tokenroute.test.classpath";
    /** How often rank 0's progress is polled. */
    private static final long PROGRESS_MILLIS = 200;

    /** A finished run: the summary, the group file the launcher chose, and what each rank process did. */
    record Finished(DemoSummary summary, Path groupFile, List<RankResult> ranks) {
    }

    private RankProcesses() {
    }

    /**
     * A launcher of {@code config.ranks()} JVMs running {@code rankMain} with {@code config} as arguments
     * ({@link #args}), this JVM's binary and class path (or {@value #CLASSPATH_PROPERTY}), and {@code jvmOptions}.
     */
    static RankLauncher.Builder launcher(Class<?> rankMain, DemoConfig config, List<String> jvmOptions) {
        List<String> args = args(config);
        return RankLauncher.builder(rankMain.getName(), config.ranks())
                .classpath(System.getProperty(CLASSPATH_PROPERTY, System.getProperty("java.class.path")))
                .jvmOptions(jvmOptions.toArray(String[]::new)).args((rank, file) -> args);
    }

    /**
     * Starts the ranks, waits for them within {@code hangBound} (reporting rank 0's progress to {@code listener}), and
     * builds the summary. The launcher's directory is deleted before this returns.
     */
    static Finished run(DemoConfig config, RankLauncher.Builder builder, Duration hangBound, DemoListener listener)
            throws IOException, InterruptedException {
        long start = System.nanoTime();
        DemoRecorder recorder = new DemoRecorder(config, listener);
        List<RankResult> results;
        Path groupFile;
        try (RankLauncher launcher = builder.start()) {
            groupFile = launcher.groupFile();
            Thread progress = new Thread(() -> pollProgress(launcher, listener), "demo-rank-progress");
            progress.setDaemon(true);
            progress.start();
            try {
                results = launcher.awaitAll(hangBound);
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
                    recorder.error(r.rank(), new IllegalStateException("victim did not end by SIGKILL: "
                            + r.describe()));
                }
            } else if (!r.ok() || r.values().isEmpty()) {
                recorder.error(r.rank(), new IllegalStateException("rank process failed: " + r.describe()));
            } else {
                recorder.merge(r.rank(), r.values());
            }
        }
        return new Finished(recorder.summary(System.nanoTime() - start), groupFile, results);
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

    /** The program arguments that carry {@code c} to a rank process ({@link #parse} reads them). */
    static List<String> args(DemoConfig c) {
        List<String> a = new ArrayList<>(List.of(c.ranks(), c.experts(), c.redundant(), c.tokens(), c.hidden(),
                c.topK(), c.steps(), c.timeout().toNanos(), c.warmupSteps(), c.warmupTimeout().toNanos(),
                c.rehearse(), c.seed()).stream().map(String::valueOf).toList());
        a.add(String.join(",", c.failures().stream().map(FailureSpec::toString).toList()));
        return a;
    }

    /** The configuration {@link #args} wrote (no readmissions: a killed process cannot come back). */
    static DemoConfig parse(String[] a) {
        List<FailureSpec> failures = a.length < 13 || a[12].isEmpty() ? List.of()
                : Arrays.stream(a[12].split(",")).map(FailureSpec::parse).toList();
        return DemoConfig.builder().ranks(Integer.parseInt(a[0])).experts(Integer.parseInt(a[1]))
                .redundant(Integer.parseInt(a[2])).tokens(Integer.parseInt(a[3])).hidden(Integer.parseInt(a[4]))
                .topK(Integer.parseInt(a[5])).steps(Integer.parseInt(a[6]))
                .timeout(Duration.ofNanos(Long.parseLong(a[7]))).warmupSteps(Integer.parseInt(a[8]))
                .warmupTimeout(Duration.ofNanos(Long.parseLong(a[9]))).rehearse(Boolean.parseBoolean(a[10]))
                .seed(Long.parseLong(a[11])).failures(failures).readmits(List.of()).build();
    }
}
