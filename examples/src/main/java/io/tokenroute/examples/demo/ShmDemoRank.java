package io.tokenroute.examples.demo;

import io.tokenroute.routing.launch.LaunchedRank;
import io.tokenroute.routing.shm.ShmGroup;
import java.time.Duration;
import org.apache.arrow.memory.RootAllocator;

/**
 * One rank process of {@code tokenroute demo --transport shm}, started by {@link ShmDemo} through
 * {@link io.tokenroute.routing.launch.RankLauncher}: rehearses locally (when asked), joins the group file
 * ({@link ShmGroup#join}), runs the same {@link RankLoop} as a thread of the local demo, and reports what its
 * {@link DemoRecorder} saw as one result line ({@link DemoRankProcess}). A rank named by {@code --fail} SIGKILLs its
 * own process at the failure's phase ({@link FaultInjector#killing}) and reports nothing; its exit code is 137.
 *
 * <p>Arguments: the {@link DemoConfig} as {@link RankProcesses#args} writes it. Exit code 0 once the result is reported
 * (the parent judges it), 1 when the rank could not run at all.
 */
public final class ShmDemoRank {
    /** How long a rank waits for the others to join (they rehearse first, at different speeds). */
    private static final Duration JOIN_TIMEOUT = Duration.ofMinutes(3);

    private ShmDemoRank() {
    }

    public static void main(String[] args) {
        DemoRankProcess process = DemoRankProcess.start(args);
        int rank = process.rank();
        if (process.config().rehearse()) {
            DecodeDemo.rehearse(process.config());
        }
        try (RootAllocator allocator = new RootAllocator();
                ShmGroup group = ShmGroup.join(LaunchedRank.groupFile(), process.bufferConfig(), allocator,
                        JOIN_TIMEOUT)) {
            LaunchedRank.event("joined", "pid " + ProcessHandle.current().pid());
            process.runAndReport(new ElasticRouting(group.buffer()), allocator);
        } catch (RuntimeException | Error e) {
            System.err.println("rank " + rank + ": " + e);
            e.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }
}
