package io.tokenroute.examples.demo;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.PhaseListener;
import io.tokenroute.routing.launch.LaunchedRank;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The rank side of the demos whose ranks are processes ({@link ShmDemoRank}, {@link NvshmemDemoRank}; the parent is
 * {@link RankProcesses}): the rank and configuration the launcher passed, a {@link FaultInjector#killing killing}
 * fault injector (a {@code --fail} rank SIGKILLs its own process at the failure's phase of the failure's decode step,
 * recompute rounds not counted), and the run of {@link RankLoop} with its one result line.
 */
final class DemoRankProcess {
    private final int rank;
    private final DemoConfig config;
    private final FaultInjector faults;
    private final DemoRecorder recorder;
    private final SyntheticModel model;
    private final BlockExperts experts;

    /** Builds everything but the buffer up front, so that no rank does it while its joined peers wait. */
    private DemoRankProcess(int rank, DemoConfig config) {
        this.rank = rank;
        this.config = config;
        this.faults = FaultInjector.killing(config.ranks(), config.failures());
        this.recorder = new DemoRecorder(config, new DemoListener() {
            @Override
            public void onProgress(int completed, int liveRanks) {
                if (rank == 0) {
                    LaunchedRank.event("progress", completed + " " + liveRanks);
                }
            }
        });
        this.model = new SyntheticModel(config.seed(), config.experts(), config.hidden(), config.topK());
        this.experts = new BlockExperts(config.seed(), config.experts(), config.hidden());
    }

    /** Starts the launcher's command reader and reads the rank and the configuration ({@link RankProcesses#args}). */
    static DemoRankProcess start(String[] args) {
        LaunchedRank.start();
        return new DemoRankProcess(LaunchedRank.rank(), RankProcesses.parse(args));
    }

    /** This process's rank. */
    int rank() {
        return rank;
    }

    /** The run's configuration. */
    DemoConfig config() {
        return config;
    }

    /**
     * This rank's buffer configuration, with the fault injector as phase listener if this rank has a failure to
     * inject: on the GPU transports a listener costs a synchronisation between the send and receive phases.
     */
    BufferConfig bufferConfig() {
        boolean fails = config.failures().stream().anyMatch(f -> f.rank() == rank);
        return DecodeDemo.bufferConfig(config, fails ? faults : PhaseListener.NONE).withRank(rank);
    }

    /**
     * Runs every step over {@code routing} and reports what this rank saw as its result line. Errors are reported, not
     * thrown. Reports before returning, so a survivor's result never depends on its peers' teardown.
     *
     * @param allocator pays for the step batches (a child allocator, closed before the report)
     */
    void runAndReport(DemoRouting routing, BufferAllocator allocator) {
        try (BufferAllocator mine = allocator.newChildAllocator("demo-rank-" + rank, 0, Long.MAX_VALUE)) {
            new RankLoop(rank, config, routing, mine, model, experts, faults, recorder).run();
        } catch (RuntimeException e) {
            recorder.error(rank, e);
        }
        LaunchedRank.result(recorder.export(rank));
    }
}
