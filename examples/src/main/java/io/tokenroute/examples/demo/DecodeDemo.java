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
import io.tokenroute.routing.launch.PhaseHooks;
import io.tokenroute.routing.launch.PhaseListener;
import io.tokenroute.routing.launch.RankLauncher.RankResult;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.RootAllocator;

/**
 * The elastic demo (docs/contract.md §4): R ranks run a synthetic MoE engine loop ({@link RankLoop}) with real expert
 * arithmetic, every output checked bit for bit against a plain-loop reference, while injected failures stop ranks
 * mid-step and readmissions bring them back. Its steps are decode steps on the low-latency path, or with
 * {@link DemoMode#PREFILL} prefill steps of hundreds of tokens per rank on the high-throughput path (§3b), whose rows
 * stream through queues much smaller than a step; failures then stop a rank in the prefill notify or in the middle of
 * its dispatch or combine stream. The transport is one argument: the group is opened with
 * {@link ElasticGroup#open} and every rank it hosts runs the same {@link RankLoop} on a thread of its own
 * ({@link RankThreads}); on {@code shm} and {@code nvshmem} each rank is a process ({@link RankProcesses}) that opens
 * the group from its launch environment and does the same for its one rank ({@link DemoRankProcess}).
 *
 * <p>Engine model: {@code experts} logical experts on {@code ranks × slotsPerRank} physical slots
 * ({@code slotsPerRank = ceil(experts / ranks) + redundant}); the {@link io.tokenroute.routing.ElasticBuffer} is built
 * for the physical experts, so re-hosting a failed rank's experts in redundant slots never changes its shapes.
 *
 * <p><b>Failures.</b> On threads a {@code --fail} rank parks inside the routing call, at the failure's phase
 * ({@link FaultInjector}), and a readmission releases it; a rank process SIGKILLs itself there instead, and a killed
 * process cannot come back, so the process transports take no readmissions.
 *
 * <p><b>Timing.</b> The per-peer timeout also covers the time a peer computes between two routing calls, and with more
 * rank threads than cores a healthy rank that computes longer, or waits longer for a core, looks dead. So the ranks
 * {@link io.tokenroute.routing.ElasticBuffer#heartbeat() beat} during their host-side work, and the run keeps that
 * work small and even: block-diagonal experts and the reference check on SIMD ({@link ExpertMath}), no large
 * allocation per step, routing load balanced within about 10% ({@link SyntheticModel}), the check placed so that only
 * one wait spans it ({@link RankLoop}); the first {@code warmupSteps} run with a long timeout while the JIT compiles,
 * and a {@link #rehearsalOf rehearsal} compiles the failure paths beforehand. A stopped rank does not beat, so
 * injected failures are still detected one configured timeout after the rank stopped.
 *
 * <pre>{@code
 * DemoSummary summary = new DecodeDemo(DemoConfig.builder().build(), DemoTransport.LOCAL).run(DemoListener.NONE)
 *         .summary();
 * DemoSummary prefill = new DecodeDemo(DemoConfig.builder(DemoMode.PREFILL).build(), DemoTransport.LOCAL)
 *         .run(DemoListener.NONE).summary();
 * }</pre>
 */
public final class DecodeDemo {
    /** The longest a run on threads may take before it is declared hung. */
    private static final Duration HANG_BOUND = Duration.ofMinutes(5);
    /** The rehearsal's timeout: it trains the JIT and is not measured, so slow healthy ranks must not be masked. */
    private static final Duration REHEARSAL_TIMEOUT = Duration.ofMillis(500);

    private static final int REHEARSAL_STEPS = 18;

    /**
     * A finished run.
     *
     * @param summary what the run did
     * @param groupFile the {@code shm} group file the ranks used (deleted by now), or null
     * @param rankProcesses what each rank process did ({@code shm}, {@code nvshmem}); empty for threads
     */
    public record Run(DemoSummary summary, Path groupFile, List<RankResult> rankProcesses) {}

    private final DemoConfig config;
    private final DemoTransport transport;

    /**
     * @throws IllegalArgumentException if a transport whose ranks are processes is asked for readmissions (a SIGKILLed
     *     process cannot come back), or if the mode does not run on the transport ({@link DemoMode#runsOn})
     */
    public DecodeDemo(DemoConfig config, DemoTransport transport) {
        if (!config.mode().runsOn(transport)) {
            throw new IllegalArgumentException(config.mode().refusal(transport));
        }
        if (transport.processPerRank() && !config.readmits().isEmpty()) {
            throw new IllegalArgumentException(
                    "the " + transport + " transport cannot readmit: its failures SIGKILL" + " rank processes");
        }
        this.config = config;
        this.transport = transport;
    }

    /**
     * Runs the demo to the end, after {@link #rehearsalOf its rehearsal} when the configuration asks for one. Blocks;
     * ranks report through {@code listener} (rank processes through rank 0's progress).
     *
     * @throws IllegalStateException if rank threads hang (the group's memory is then left allocated, since a thread
     *     might still touch it)
     * @throws IOException if rank processes cannot be started
     */
    public Run run(DemoListener listener) throws IOException, InterruptedException {
        if (transport.processPerRank()) {
            return RankProcesses.run(config, transport, listener);
        }
        if (config.rehearse()) {
            rehearse(config, transport);
        }
        return new Run(runThreads(config, transport, listener), null, List.of());
    }

    /**
     * The throw-away run before the demo: the same shapes and mode for {@value #REHEARSAL_STEPS} steps (fewer tokens),
     * in which the last rank stops in dispatch and the one before it in combine (prefill: mid-stream in both, and with
     * four ranks or more the one before those in the notify).
     *
     * <p>Why: the first failure runs code that healthy steps never ran (the library's masked-peer branches, the
     * replan, the recompute round), and HotSpot throws away its compiled dispatch and combine when they first meet a
     * masked peer. Interpreted again for a few hundred milliseconds, at different moments on different threads, the
     * survivors then mask each other under a 20 ms timeout. Rehearsed once, those paths are compiled before the
     * measured run, whose timeouts stay as tight as asked. The rehearsal's own timeout is generous (it runs that cold
     * code), and its outcome is ignored: it only trains the JIT. Readmission is not rehearsed: its code does not stall
     * the ranks.
     */
    public static DemoConfig rehearsalOf(DemoConfig c) {
        int last = c.ranks() - 1;
        boolean prefill = c.mode() == DemoMode.PREFILL;
        List<FailureSpec> failures = new ArrayList<>();
        if (c.ranks() >= 2) {
            failures.add(new FailureSpec(last, 10, FailurePhase.DISPATCH));
        }
        if (c.ranks() >= 3) {
            failures.add(new FailureSpec(last - 1, 13, FailurePhase.COMBINE));
        }
        if (prefill && c.ranks() >= 4) {
            failures.add(new FailureSpec(last - 2, 15, FailurePhase.PREFILL_NOTIFY));
        }
        Duration timeout = c.timeout().compareTo(REHEARSAL_TIMEOUT) > 0 ? c.timeout() : REHEARSAL_TIMEOUT;
        // Prefill: a few chunks per queue, so that the stream is rehearsed too.
        int tokens = Math.min(c.tokens(), prefill ? 4 * c.prefillChunkRows() : 32);
        return DemoConfig.builder(c.mode())
                .ranks(c.ranks())
                .experts(c.experts())
                .redundant(c.redundant())
                .tokens(tokens)
                .hidden(c.hidden())
                .topK(c.topK())
                .steps(REHEARSAL_STEPS)
                .timeout(timeout)
                .warmupSteps(8)
                .warmupTimeout(c.warmupTimeout())
                .rehearse(false)
                .seed(c.seed() + 1)
                .failures(failures)
                .readmits(List.of())
                .prefillChunkRows(c.prefillChunkRows())
                .prefillChunks(c.prefillChunks())
                .skew(c.skew())
                .build();
    }

    /**
     * Runs {@link #rehearsalOf the rehearsal} of {@code config} with every rank a thread of this process, on
     * {@code transport} ({@code local} in a rank process, whose peers are elsewhere); its outcome is ignored.
     */
    static void rehearse(DemoConfig config, DemoTransport transport) {
        runThreads(rehearsalOf(config), transport, DemoListener.NONE);
    }

    /**
     * The buffer configuration of every rank (the transport assigns the ranks), with {@code faults} as its phase
     * listener: pass {@link PhaseListener#NONE} where there is nothing to inject, since on the GPU transports a
     * listener costs a synchronisation between the send and receive phases.
     *
     * <p>Prefill: {@code prefillMaxTokensPerRank} is the step's tokens and the queues are the configured chunks; the
     * low-latency region, which this mode never uses, is sized for one token, so the region is what the prefill mode
     * needs (§3b.4: independent of the tokens).
     */
    static BufferConfig bufferConfig(DemoConfig config, PhaseListener faults) {
        boolean prefill = config.mode() == DemoMode.PREFILL;
        BufferConfig.Builder b = BufferConfig.builder()
                .ranks(config.ranks())
                .experts(config.physicalExperts())
                .maxTokensPerRank(prefill ? 1 : config.tokens())
                .hidden(config.hidden())
                .maxTopK(config.topK())
                .elastic(true)
                .timeout(config.warmupSteps() > 0 ? config.warmupTimeout() : config.timeout())
                .collectiveBytes(Math.max(4 * config.ranks(), 4 + 8 * config.experts()));
        if (prefill) {
            b.prefillMaxTokensPerRank(config.tokens())
                    .prefillChunkRows(config.prefillChunkRows())
                    .prefillChunks(config.prefillChunks());
        }
        return PhaseHooks.listening(b.build(), faults);
    }

    /** The string that opens the group of an in-process run. */
    private static String groupSpec(DemoTransport transport) {
        return transport == DemoTransport.CUDA_LOCAL ? transport.id() + ":0" : transport.id();
    }

    /** Opens the group in this process and runs every rank on a thread of its own. */
    private static DemoSummary runThreads(DemoConfig config, DemoTransport transport, DemoListener listener) {
        long start = System.nanoTime();
        FaultInjector faults = new FaultInjector(config.ranks(), config.failures());
        DemoRecorder recorder = new DemoRecorder(config, listener);
        SyntheticModel model =
                new SyntheticModel(config.seed(), config.experts(), config.hidden(), config.topK(), config.skew());
        BlockExperts experts = new BlockExperts(config.seed(), config.experts(), config.hidden());
        BufferConfig bufferConfig = bufferConfig(config, config.failures().isEmpty() ? PhaseListener.NONE : faults);
        RootAllocator allocator = new RootAllocator();
        ElasticGroup group;
        try {
            group = ElasticGroup.open(groupSpec(transport), bufferConfig, allocator);
        } catch (RuntimeException | Error e) {
            allocator.close();
            throw e;
        }
        boolean finished;
        try {
            finished = RankThreads.run(group, config, model, experts, faults, recorder, allocator, HANG_BOUND);
        } catch (RuntimeException | Error e) {
            try (allocator;
                    group) {
                throw e;
            }
        }
        if (!finished) {
            throw new IllegalStateException(
                    "rank threads did not finish within " + HANG_BOUND + "; the group's memory is left allocated");
        }
        try {
            group.close();
        } finally {
            allocator.close();
        }
        return recorder.summary(System.nanoTime() - start);
    }
}
