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

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.ElasticGroup;
import io.tokenroute.routing.LaunchEnvironment;
import io.tokenroute.routing.TransportSpec;
import io.tokenroute.routing.launch.LaunchedRank;
import io.tokenroute.routing.launch.PhaseListener;
import java.util.Arrays;
import org.apache.arrow.memory.RootAllocator;

/**
 * One rank process of the demo on {@code shm} or {@code nvshmem} (started by {@link RankProcesses}, or by any launcher
 * that sets the environment {@link LaunchEnvironment} reads): opens the group for its transport with the rank, world
 * size and rendezvous of its launch environment, runs the same {@link RankLoop} as the threads of an in-process run
 * ({@link RankThreads}, here for this process's one rank), and reports what its {@link DemoRecorder} saw as one result
 * line ({@link LaunchedRank#result}). A rank named by {@code --fail} SIGKILLs its own process at the failure's phase
 * ({@link FaultInjector#killing}) and reports nothing; its exit code is 137.
 *
 * <p>Arguments: the transport ({@code shm} or {@code nvshmem}), then the {@link DemoConfig} as
 * {@link RankProcesses#args} writes it. Exit code 0 once the result is reported (the parent judges it), 1 when the
 * rank could not run. The process ends with {@code halt}: nothing may run a collective teardown after the group closed
 * (NVSHMEM's would wait forever on a dead peer).
 */
public final class DemoRankProcess {
    private final int rank;
    private final DemoConfig config;
    private final FaultInjector faults;
    private final DemoRecorder recorder;
    private final SyntheticModel model;
    private final BlockExperts experts;

    /** Builds everything but the group up front, so that no rank does it while its joined peers wait. */
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
        this.model = new SyntheticModel(config.seed(), config.experts(), config.hidden(), config.topK(), config.skew());
        this.experts = new BlockExperts(config.seed(), config.experts(), config.hidden());
    }

    public static void main(String[] args) {
        int code = 1;
        try {
            LaunchedRank.start();
            DemoTransport transport = DemoTransport.of(args[0]);
            DemoConfig config = RankProcesses.parse(Arrays.copyOfRange(args, 1, args.length));
            // RankLauncher sets the rank variables a launcher would; under torchrun, Slurm or mpirun they are theirs.
            LaunchEnvironment env = LaunchEnvironment.fromSystem();
            DemoRankProcess process = new DemoRankProcess(env.requireRank(transport.id()), config);
            if (config.rehearse()) {
                // On local threads of this process: its peers are other processes, which rehearse on their own.
                DecodeDemo.rehearse(config, DemoTransport.LOCAL);
            }
            code = process.run(groupSpec(transport), env);
        } catch (Throwable t) {
            System.err.println("rank " + System.getProperty(LaunchedRank.RANK_PROPERTY, "?") + ": " + t);
            t.printStackTrace();
        }
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(code);
    }

    /**
     * The group this process joins: on {@code shm} the file the launcher chose (private to this user), or, under
     * another launcher, the one its job id names; on {@code nvshmem} the PEs of the rendezvous.
     */
    private static String groupSpec(DemoTransport transport) {
        if (transport == DemoTransport.SHM && LaunchedRank.isLaunched()) {
            return TransportSpec.SHM + ":" + LaunchedRank.groupFile().toAbsolutePath();
        }
        return transport.id();
    }

    /**
     * Opens the group, runs every step on this process's rank and reports what it saw as the result line, before the
     * group closes, so a survivor's result never depends on its peers' teardown. Returns the exit code.
     */
    private int run(String spec, LaunchEnvironment env) {
        boolean injects = config.failures().stream().anyMatch(f -> f.rank() == rank);
        BufferConfig bufferConfig = DecodeDemo.bufferConfig(config, injects ? faults : PhaseListener.NONE);
        try (RootAllocator allocator = new RootAllocator();
                ElasticGroup group = TransportSpec.parse(spec).open(bufferConfig, allocator, env)) {
            LaunchedRank.event("joined", "pid " + ProcessHandle.current().pid());
            if (!RankThreads.run(
                    group, config, model, experts, faults, recorder, allocator, RankProcesses.HANG_BOUND)) {
                recorder.error(
                        rank,
                        new IllegalStateException(
                                "the rank's thread did not finish within " + RankProcesses.HANG_BOUND));
                LaunchedRank.result(recorder.export(rank));
                // The thread may still touch the group's memory: end the process without freeing it.
                System.out.flush();
                Runtime.getRuntime().halt(1);
            }
            LaunchedRank.result(recorder.export(rank));
        }
        return 0;
    }
}
