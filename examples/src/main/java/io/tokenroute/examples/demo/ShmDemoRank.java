package io.tokenroute.examples.demo;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.shm.LaunchedRank;
import io.tokenroute.routing.shm.ShmGroup;
import java.time.Duration;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * One rank process of {@code tokenroute demo --transport shm}, started by {@link ShmDemo} through
 * {@link io.tokenroute.routing.shm.RankLauncher}: rehearses locally (when asked), joins the group file
 * ({@link ShmGroup#join}), runs the same {@link RankLoop} as a thread of the local demo, and reports what its
 * {@link DemoRecorder} saw as one result line. A rank named by {@code --fail} SIGKILLs its own process at the failure's
 * phase ({@link FaultInjector#killing}) and reports nothing; its exit code is 137.
 *
 * <p>Arguments: the {@link DemoConfig} as {@link ShmDemo#args} writes it. Exit code 0 once the result is reported (the
 * parent judges it), 1 when the rank could not run at all.
 */
public final class ShmDemoRank {
    /** How long a rank waits for the others to join (they rehearse first, at different speeds). */
    private static final Duration JOIN_TIMEOUT = Duration.ofMinutes(3);

    private ShmDemoRank() {
    }

    public static void main(String[] args) {
        LaunchedRank.start();
        int rank = LaunchedRank.rank();
        DemoConfig config = ShmDemo.parse(args);
        if (config.rehearse()) {
            DecodeDemo.rehearse(config);
        }
        DemoRecorder recorder = new DemoRecorder(config, new DemoListener() {
            @Override
            public void onProgress(int completed, int liveRanks) {
                if (rank == 0) {
                    LaunchedRank.event("progress", completed + " " + liveRanks);
                }
            }
        });
        FaultInjector faults = FaultInjector.killing(config.ranks(), config.failures());
        SyntheticModel model = new SyntheticModel(config.seed(), config.experts(), config.hidden(), config.topK());
        BlockExperts experts = new BlockExperts(config.seed(), config.experts(), config.hidden());
        BufferConfig bufferConfig = DecodeDemo.bufferConfig(config, faults).withRank(rank);
        try (RootAllocator allocator = new RootAllocator();
                ShmGroup group = ShmGroup.join(LaunchedRank.groupFile(), bufferConfig, allocator, JOIN_TIMEOUT)) {
            LaunchedRank.event("joined", "pid " + ProcessHandle.current().pid());
            try (BufferAllocator mine = allocator.newChildAllocator("demo-rank-" + rank, 0, Long.MAX_VALUE)) {
                new RankLoop(rank, config, group.buffer(), mine, model, experts, faults, recorder).run();
            } catch (RuntimeException e) {
                recorder.error(rank, e);
            }
            // Reported before closing: a survivor's result must not depend on its peers' teardown.
            LaunchedRank.result(recorder.export(rank));
        } catch (RuntimeException | Error e) {
            System.err.println("rank " + rank + ": " + e);
            e.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }
}
