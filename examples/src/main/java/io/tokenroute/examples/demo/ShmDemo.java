package io.tokenroute.examples.demo;

import io.tokenroute.routing.shm.RankLauncher;
import io.tokenroute.routing.shm.RankLauncher.RankResult;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The decode demo on the {@code shm} transport: R rank processes of this host (one JVM each, started by
 * {@link RankLauncher} with this JVM's binary and class path) share a mapped group file and run {@link ShmDemoRank},
 * i.e. the same {@link RankLoop} as the local demo's threads. A {@code --fail} rank SIGKILLs its own process at the
 * failure's phase; a killed process cannot come back, so there are no readmissions.
 *
 * <p>The parent gathers every survivor's result line into one {@link DemoRecorder} and returns the same
 * {@link DemoSummary} as the local demo (step latency: the slowest survivor per step). A victim must end by SIGKILL
 * (exit 137) and every other rank with 0; anything else is reported as an error.
 */
public final class ShmDemo {
    /** The longest a run may take before its ranks are killed and the run declared hung. */
    private static final Duration HANG_BOUND = Duration.ofMinutes(10);
    /** Small heaps and one JIT/GC thread set per rank: R JVMs share this host's cores. */
    private static final String[] RANK_JVM = {"-Xmx512m", "-XX:+UseSerialGC", "-XX:CICompilerCount=2"};

    /** A finished run: the summary, the group file the ranks used, and what each rank process did. */
    public record Run(DemoSummary summary, Path groupFile, List<RankResult> ranks) {
    }

    private final DemoConfig config;

    /**
     * @throws IllegalArgumentException if the configuration readmits ranks (a SIGKILLed process cannot come back)
     */
    public ShmDemo(DemoConfig config) {
        if (!config.readmits().isEmpty()) {
            throw new IllegalArgumentException("the shm transport cannot readmit: its failures SIGKILL rank processes");
        }
        this.config = config;
    }

    /** Whether this machine can run it (signals, for the self-SIGKILL). */
    public static boolean available() {
        return RankLauncher.signalsAvailable();
    }

    /**
     * Starts the ranks, waits for them (reporting rank 0's progress every 200 ms to {@code listener}), and builds the
     * summary. The launcher's directory, with the group file, is deleted before this returns.
     */
    public Run run(DemoListener listener) throws IOException, InterruptedException {
        long start = System.nanoTime();
        DemoRecorder recorder = new DemoRecorder(config, listener);
        List<RankResult> results;
        Path groupFile;
        RankLauncher.Builder builder = RankLauncher.builder(ShmDemoRank.class.getName(), config.ranks())
                .jvmOptions(RANK_JVM).args((rank, file) -> args(config));
        try (RankLauncher launcher = builder.start()) {
            groupFile = launcher.groupFile();
            Thread progress = new Thread(() -> pollProgress(launcher, listener), "shm-demo-progress");
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
                    recorder.error(r.rank(), new IllegalStateException("victim did not end by SIGKILL: "
                            + r.describe()));
                }
            } else if (!r.ok() || r.values().isEmpty()) {
                recorder.error(r.rank(), new IllegalStateException("rank process failed: " + r.describe()));
            } else {
                recorder.merge(r.rank(), r.values());
            }
        }
        return new Run(recorder.summary(System.nanoTime() - start), groupFile, results);
    }

    private void pollProgress(RankLauncher launcher, DemoListener listener) {
        int seen = 0;
        try {
            while (!Thread.currentThread().isInterrupted()) {
                Thread.sleep(200);
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

    /** The configuration {@link #args} wrote. */
    static DemoConfig parse(String[] a) {
        List<FailureSpec> failures = a.length < 13 || a[12].isEmpty() ? List.of()
                : java.util.Arrays.stream(a[12].split(",")).map(FailureSpec::parse).toList();
        return DemoConfig.builder().ranks(Integer.parseInt(a[0])).experts(Integer.parseInt(a[1]))
                .redundant(Integer.parseInt(a[2])).tokens(Integer.parseInt(a[3])).hidden(Integer.parseInt(a[4]))
                .topK(Integer.parseInt(a[5])).steps(Integer.parseInt(a[6]))
                .timeout(Duration.ofNanos(Long.parseLong(a[7]))).warmupSteps(Integer.parseInt(a[8]))
                .warmupTimeout(Duration.ofNanos(Long.parseLong(a[9]))).rehearse(Boolean.parseBoolean(a[10]))
                .seed(Long.parseLong(a[11])).failures(failures).readmits(List.of()).build();
    }
}
