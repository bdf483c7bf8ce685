package io.tokenroute.examples.demo;

import io.tokenroute.routing.launch.RankLauncher;
import io.tokenroute.routing.launch.RankLauncher.RankResult;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The decode demo on the {@code shm} transport: R rank processes of this host (one JVM each, started by
 * {@link RankLauncher} with this JVM's binary and class path) share a mapped group file and run {@link ShmDemoRank},
 * i.e. the same {@link RankLoop} as the local demo's threads. A {@code --fail} rank SIGKILLs its own process at the
 * failure's phase; a killed process cannot come back, so there are no readmissions.
 *
 * <p>The parent gathers every survivor's result line into one {@link DemoRecorder} and returns the same
 * {@link DemoSummary} as the local demo (step latency: the slowest survivor per step). A victim must end by SIGKILL
 * (exit 137) and every other rank with 0; anything else is reported as an error ({@link RankProcesses}).
 */
public final class ShmDemo {
    /** The longest a run may take before its ranks are killed and the run declared hung. */
    private static final Duration HANG_BOUND = Duration.ofMinutes(10);
    /** Small heaps and one JIT/GC thread set per rank: R JVMs share this host's cores. */
    private static final List<String> RANK_JVM = List.of("-Xmx512m", "-XX:+UseSerialGC", "-XX:CICompilerCount=2");

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
        RankProcesses.Finished run = RankProcesses.run(config,
                RankProcesses.launcher(ShmDemoRank.class, config, RANK_JVM), HANG_BOUND, listener);
        return new Run(run.summary(), run.groupFile(), run.ranks());
    }
}
