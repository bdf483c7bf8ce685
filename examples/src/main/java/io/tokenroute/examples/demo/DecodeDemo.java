package io.tokenroute.examples.demo;

import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.PhaseListener;
import io.tokenroute.routing.local.LocalGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * The elastic decode demo (spec §4): R ranks as threads of the embedded {@code local} transport run a synthetic MoE
 * decode loop ({@link RankLoop}) with real expert arithmetic, every output checked bit for bit against a plain-loop
 * reference, while injected failures stop ranks mid-step and readmissions bring them back.
 *
 * <p>Engine model: {@code experts} logical experts on {@code ranks × slotsPerRank} physical slots
 * ({@code slotsPerRank = ceil(experts / ranks) + redundant}); the {@link io.tokenroute.routing.ElasticBuffer} is built
 * for the physical experts, so re-hosting a failed rank's experts in redundant slots never changes its shapes.
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
 * DemoSummary summary = new DecodeDemo(DemoConfig.builder().build()).run(DemoListener.NONE);
 * }</pre>
 */
public final class DecodeDemo {
    /** The longest a run may take before it is declared hung. */
    private static final Duration HANG_BOUND = Duration.ofMinutes(5);
    /** The rehearsal's timeout: it trains the JIT and is not measured, so slow healthy ranks must not be masked. */
    private static final Duration REHEARSAL_TIMEOUT = Duration.ofMillis(500);
    private static final int REHEARSAL_STEPS = 18;

    private final DemoConfig config;

    public DecodeDemo(DemoConfig config) {
        this.config = config;
    }

    /**
     * Runs the demo to the end, after {@link #rehearsalOf its rehearsal} when the configuration asks for one. Blocks;
     * rank threads report through {@code listener}.
     *
     * @throws IllegalStateException if rank threads hang (the group's memory is then left allocated, since a thread
     *     might still touch it)
     */
    public DemoSummary run(DemoListener listener) {
        if (config.rehearse()) {
            rehearse(config);
        }
        return runGroup(listener);
    }

    /**
     * The throw-away run before the demo: the same shapes for {@value #REHEARSAL_STEPS} steps (fewer tokens), in which
     * the last rank stops in dispatch and the one before it in combine.
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
        List<FailureSpec> failures = new ArrayList<>();
        if (c.ranks() >= 2) {
            failures.add(new FailureSpec(last, 10, FailurePhase.DISPATCH));
        }
        if (c.ranks() >= 3) {
            failures.add(new FailureSpec(last - 1, 13, FailurePhase.COMBINE));
        }
        Duration timeout = c.timeout().compareTo(REHEARSAL_TIMEOUT) > 0 ? c.timeout() : REHEARSAL_TIMEOUT;
        return DemoConfig.builder().ranks(c.ranks()).experts(c.experts()).redundant(c.redundant())
                .tokens(Math.min(c.tokens(), 32)).hidden(c.hidden()).topK(c.topK()).steps(REHEARSAL_STEPS)
                .timeout(timeout).warmupSteps(8).warmupTimeout(c.warmupTimeout()).rehearse(false)
                .seed(c.seed() + 1).failures(failures).readmits(List.of()).build();
    }

    /** Runs {@link #rehearsalOf the rehearsal} of {@code config} on the local transport; its outcome is ignored. */
    static void rehearse(DemoConfig config) {
        new DecodeDemo(rehearsalOf(config)).runGroup(DemoListener.NONE);
    }

    /** The buffer configuration of every rank (rank 0; the shm ranks take {@code withRank}). */
    static BufferConfig bufferConfig(DemoConfig config, PhaseListener faults) {
        return BufferConfig.builder().ranks(config.ranks()).experts(config.physicalExperts())
                .maxTokensPerRank(config.tokens()).hidden(config.hidden()).maxTopK(config.topK()).elastic(true)
                .timeout(config.warmupSteps() > 0 ? config.warmupTimeout() : config.timeout())
                .collectiveBytes(Math.max(4 * config.ranks(), 4 + 8 * config.experts())).phaseListener(faults)
                .build();
    }

    private DemoSummary runGroup(DemoListener listener) {
        long start = System.nanoTime();
        FaultInjector faults = new FaultInjector(config.ranks(), config.failures());
        DemoRecorder recorder = new DemoRecorder(config, listener);
        SyntheticModel model = new SyntheticModel(config.seed(), config.experts(), config.hidden(), config.topK());
        BlockExperts experts = new BlockExperts(config.seed(), config.experts(), config.hidden());
        BufferConfig bufferConfig = bufferConfig(config, faults);
        RootAllocator allocator = new RootAllocator();
        LocalGroup group;
        try {
            group = new LocalGroup(allocator, bufferConfig);
        } catch (RuntimeException e) {
            allocator.close();
            throw e;
        }
        Thread[] threads = new Thread[config.ranks()];
        for (int r = 0; r < threads.length; r++) {
            int rank = r;
            threads[r] = new Thread(() -> {
                try (BufferAllocator mine = allocator.newChildAllocator("demo-rank-" + rank, 0, Long.MAX_VALUE)) {
                    new RankLoop(rank, config, new ElasticRouting(group.buffer(rank)), mine, model, experts, faults,
                            recorder).run();
                } catch (RuntimeException e) {
                    recorder.error(rank, e);
                }
            }, "rank-" + r);
            threads[r].setDaemon(true);
        }
        for (Thread t : threads) {
            t.start();
        }
        if (!joinAll(threads, faults, config.stoppedAtEnd())) {
            throw new IllegalStateException("rank threads did not finish within " + HANG_BOUND
                    + "; the group's memory is left allocated");
        }
        group.close();
        allocator.close();
        return recorder.summary(System.nanoTime() - start);
    }

    /**
     * Waits for the ranks still running at the end, then releases the stopped ones (so they leave the call they are
     * parked in) and waits for them too. Returns false on a hang.
     */
    private static boolean joinAll(Thread[] threads, FaultInjector faults, boolean[] stoppedAtEnd) {
        long deadline = System.nanoTime() + HANG_BOUND.toNanos();
        try {
            for (int r = 0; r < threads.length; r++) {
                if (!stoppedAtEnd[r]) {
                    threads[r].join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
                }
            }
            faults.releaseAll();
            for (Thread t : threads) {
                t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            faults.releaseAll();
        }
        for (Thread t : threads) {
            if (t.isAlive()) {
                return false;
            }
        }
        return true;
    }
}
