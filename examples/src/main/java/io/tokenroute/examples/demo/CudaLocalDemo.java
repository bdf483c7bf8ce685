package io.tokenroute.examples.demo;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.examples.demo.RankInputs.Round;
import io.tokenroute.device.Cuda;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.device.CudaStream;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.PhaseListener;
import io.tokenroute.routing.cuda.CudaCombined;
import io.tokenroute.routing.cuda.CudaDispatched;
import io.tokenroute.routing.cuda.CudaLocalGroup;
import io.tokenroute.routing.placement.ExpertPlacement;
import io.tokenroute.routing.placement.StepStatus;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * The decode demo on the {@code cuda-local} transport: the R ranks are emulated on GPU 0 by one
 * {@link CudaLocalGroup}, which the calling thread drives for all of them. Same {@link DemoConfig}, engine loop,
 * reference check and {@link DemoSummary} as the {@link DecodeDemo local demo} ({@link RankLoop}); per step:
 * <ol>
 *   <li>every running rank's inputs (same {@link SyntheticModel}, same placement) as a host token batch, which the
 *       group copies to the device;</li>
 *   <li>one {@code dispatch} for all ranks; each rank's received rows are copied to the host, its slots run their
 *       logical experts there ({@link BlockExperts}), and the outputs are copied into its device combine-send rows
 *       (ordered before the combine's kernels: same stream);</li>
 *   <li>one {@code combine}; each rank's output and {@code lost_weight} are copied to the host;</li>
 *   <li>one {@code agreeMask} of the running ranks, then every survivor's output is checked bit for bit against the
 *       {@link ReferenceCheck}; on a new failure the placement is replanned and the damaged tokens are recomputed in
 *       an extra round, as in {@link RankLoop}.</li>
 * </ol>
 * The CPU never reads device memory: every result reaches it through a CUDA copy. CUDA is called from the driving
 * thread only (its context is current there); the host-side expert and check work of the ranks runs in parallel on
 * the common fork-join pool, which touches host memory only.
 *
 * <p><b>Failures.</b> A rank left out of a group call is not launched: its peers wait for it in their kernels and mask
 * it after the timeout, which is how {@code --fail} is emulated. {@code R@S:dispatch}: R is left out from step S's
 * dispatch on (it announced nothing and published no rows; every survivor masks it in dispatch). {@code R@S:combine}:
 * R dispatches in step S, then is left out of its combine and later (it never publishes expert outputs; the survivors
 * mask it in combine, and their tokens lose its experts' weight). {@code --readmit R@S} readmits R through
 * {@link CudaLocalGroup#readmit} before step S, then the experts are re-placed from the initial placement, as on
 * {@code local}.
 *
 * <p><b>Timing.</b> Every wait happens inside the group's kernels, and one call launches the send phase of every rank
 * before any rank's wait, so host-side work (experts, checks) never counts against a peer's timeout and no JIT
 * warm-up can make a healthy rank look dead: {@link DemoConfig#rehearse()} is ignored, and the timeout only sets how
 * long detecting a failure takes. Step latency is the driving thread's time for all ranks together, so it includes
 * the host experts and the checks of every rank.
 *
 * <pre>{@code
 * DemoSummary summary = new CudaLocalDemo(config).run(DemoListener.NONE);
 * }</pre>
 */
public final class CudaLocalDemo {
    private final DemoConfig config;

    /** @param config the run; its {@code rehearse} flag is ignored (see the class comment) */
    public CudaLocalDemo(DemoConfig config) {
        this.config = config;
    }

    /** Whether this machine can run it: a CUDA driver and a visible device ({@link Cuda#unavailableReason()} if not). */
    public static boolean available() {
        return Cuda.isAvailable();
    }

    /**
     * Runs the demo on GPU 0 to the end. Blocks; reports through {@code listener} from the calling thread. An error
     * (CUDA or otherwise) ends the run early and is reported in the summary's {@code errors}.
     *
     * @throws io.tokenroute.device.CudaUnavailableException without CUDA (check {@link #available()} first)
     */
    public DemoSummary run(DemoListener listener) {
        Cuda.requireAvailable("the cuda-local demo");
        long start = System.nanoTime();
        DemoRecorder recorder = new DemoRecorder(config, listener);
        try (RootAllocator allocator = new RootAllocator();
                CudaDevice device = CudaDevice.open(0);
                CudaLocalGroup group = CudaLocalGroup.open(device,
                        DecodeDemo.bufferConfig(config, PhaseListener.NONE), allocator);
                Driver driver = new Driver(group, allocator, recorder)) {
            driver.run();
        } catch (RuntimeException e) {
            recorder.error("cuda-local driver", e);
        }
        return recorder.summary(System.nanoTime() - start);
    }

    /**
     * A round's result on the host: the rank's mask right after the round (what the reference must leave out), the
     * output's {@code lost_weight}, and the damaged tokens (indices into the round). The output rows are in the
     * rank's {@code Emulated.output} buffer until its next round.
     */
    private record Outcome(int[] mask, float[] lostWeight, int[] damaged) {
    }

    /** The driving thread's state over all ranks. */
    private final class Driver implements AutoCloseable {
        private final CudaLocalGroup group;
        private final DemoRecorder recorder;
        private final SyntheticModel model;
        private final BlockExperts experts;
        private final int ranks;
        private final int tokens;
        private final int hidden;
        private final int topK;
        private final int slots;
        private final ExpertPlacement initial;
        /** The placement every rank uses (RankLoop's ranks each compute it from the same agreed inputs). */
        private ExpertPlacement placement;
        /** Per logical expert, whether {@link #placement} hosts it (the router picks only those). */
        private final boolean[] hosted;
        /** Ranks launched in group calls: not stopped by an injected failure, not masked by their peers. */
        private final boolean[] running;
        /** The last agreed mask, 1 = masked (the same on every survivor: one agreeMask serves them all). */
        private int[] agreed;
        private final Emulated[] emulated;

        Driver(CudaLocalGroup group, BufferAllocator allocator, DemoRecorder recorder) {
            this.group = group;
            this.recorder = recorder;
            this.ranks = config.ranks();
            this.tokens = config.tokens();
            this.hidden = config.hidden();
            this.topK = config.topK();
            this.slots = config.slotsPerRank();
            this.model = new SyntheticModel(config.seed(), config.experts(), hidden, topK);
            this.experts = new BlockExperts(config.seed(), config.experts(), hidden);
            this.initial = ExpertPlacement.initial(config.experts(), ranks, config.redundant());
            this.placement = initial;
            this.hosted = new boolean[config.experts()];
            updateHosted();
            this.running = new boolean[ranks];
            Arrays.fill(running, true);
            this.agreed = new int[ranks];
            this.emulated = new Emulated[ranks];
            try {
                for (int i = 0; i < ranks; i++) {
                    emulated[i] = new Emulated(i, allocator);
                }
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        void run() {
            for (int step = 0; step < config.steps(); step++) {
                readmissions(step);
                runStep(step);
            }
        }

        private void runStep(int step) {
            if (step == config.warmupSteps()) {
                group.setTimeout(config.timeout());
            }
            int[] starting = runningRanks();
            // Every rank running at the step's start routes its tokens, failing ones included (as a local rank thread
            // does before it parks), so the routed loads, and with them later re-placements, match the local demo.
            IntStream.of(starting).parallel().forEach(r -> emulated[r].prepareStep(step));
            boolean[] failsInCombine = new boolean[ranks];
            for (FailureSpec f : config.failuresAt(step)) {
                if (f.phase() == FailurePhase.DISPATCH) {
                    running[f.rank()] = false;
                } else {
                    failsInCombine[f.rank()] = true;
                }
            }
            long start = System.nanoTime();
            route(step, failsInCombine);
            long firstAgreeNanos = -1;
            try {
                while (true) {
                    long agreeStart = System.nanoTime();
                    int[][] masks = group.agreeMask(running);
                    if (firstAgreeNanos < 0) {
                        firstAgreeNanos = System.nanoTime() - agreeStart;
                    }
                    for (int r : runningRanks()) {
                        if (masks[r][r] != 0) {
                            // Its peers stopped serving it: no survivor, nothing to check. This single-threaded
                            // driver does not bring it back (RankLoop's ranks ask to be readmitted).
                            recorder.falselyMasked(r, step);
                            recorder.notReadmitted(r, step);
                            running[r] = false;
                        }
                    }
                    int[] survivors = runningRanks();
                    if (survivors.length == 0) {
                        throw new IllegalStateException("step " + step + ": no rank is left running");
                    }
                    IntStream.of(survivors).parallel().forEach(r -> emulated[r].verify(step));
                    long damagedEverywhere = 0;
                    boolean detected = false;
                    for (int r : survivors) {
                        Emulated rank = emulated[r];
                        int[] newly = StepStatus.newlyMasked(agreed, masks[r]);
                        rank.detection = newly.length == 0 ? null : recorder.detected(step, newly, masks[r]);
                        if (rank.detection != null) {
                            rank.detection.observe(rank.maskedInDispatch, rank.maskedInCombine);
                            rank.detection.damaged.addAndGet(rank.outcome.damaged().length);
                            damagedEverywhere += rank.outcome.damaged().length;
                            detected = true;
                        }
                        Arrays.fill(rank.maskedInDispatch, false);
                        Arrays.fill(rank.maskedInCombine, false);
                    }
                    agreed = masks[survivors[0]];
                    if (!detected) {
                        break;
                    }
                    replan(survivors);
                    if (damagedEverywhere == 0) {
                        break;
                    }
                    for (int r : survivors) {
                        emulated[r].endRound();
                        emulated[r].prepareRecompute(step);
                    }
                    route(step, new boolean[ranks]);
                    for (int r : runningRanks()) {
                        Emulated rank = emulated[r];
                        if (rank.detection != null) {
                            rank.detection.recomputed.addAndGet(rank.round.n() - rank.outcome.damaged().length);
                        }
                    }
                }
            } finally {
                for (Emulated rank : emulated) {
                    rank.endRound();
                    rank.round = null;
                }
            }
            long nanos = System.nanoTime() - start;
            int live = (int) Arrays.stream(agreed).filter(m -> m == 0).count();
            for (int r : runningRanks()) {
                recorder.stepDone(step, r, nanos, firstAgreeNanos, live, tokens, emulated[r].rerouted);
            }
        }

        /**
         * Dispatch → host experts → combine for the running ranks' current rounds; leaves each survivor's
         * {@link Emulated#outcome}. Ranks in {@code failsInCombine} dispatch, then stop before their combine.
         */
        private void route(int step, boolean[] failsInCombine) {
            List<TokenBatch> batches = new ArrayList<>(ranks);
            for (int r = 0; r < ranks; r++) {
                batches.add(running[r] ? emulated[r].round.batch() : null);
            }
            List<CudaDispatched> dispatched = group.dispatch(batches, DispatchOptions.BF16);
            for (int r = 0; r < ranks; r++) {
                if (failsInCombine[r]) {
                    running[r] = false;
                    batches.set(r, null);
                }
            }
            int[] live = runningRanks();
            for (int r : live) {
                CudaDispatched d = dispatched.get(r);
                note(d.newlyMasked(), emulated[r].maskedInDispatch);
                emulated[r].fetchRows(d, group.stream(r));
            }
            IntStream.of(live).parallel().forEach(r -> emulated[r].runExperts());
            for (int r : live) {
                emulated[r].uploadOutputs(dispatched.get(r), group.stream(r));
            }
            List<CudaCombined> combined = group.combine(batches);
            for (int r : live) {
                CudaCombined c = combined.get(r);
                note(c.newlyMasked(), emulated[r].maskedInCombine);
                emulated[r].fetchOutcome(c, group.stream(r));
            }
        }

        /** After a new failure: replans the placement with the survivors' routed load (RankLoop#replan). */
        private void replan(int[] survivors) {
            long[] load = new long[config.experts()];
            for (int r : survivors) {
                for (int e = 0; e < load.length; e++) {
                    load[e] += emulated[r].inputs.routedLoad()[e];
                }
            }
            ExpertPlacement before = placement;
            placement = placement.replan(maskedRanks(), load);
            updateHosted();
            int moves = placement.movesFrom(before).size();
            for (int r : survivors) {
                if (emulated[r].detection != null) {
                    emulated[r].detection.replanned(moves, placement.unhostedExperts());
                }
            }
        }

        /**
         * The readmissions before {@code step} (ascending rank order, each by every running rank), then the
         * re-placement from the initial placement with the load of every active rank (RankLoop#readmissions).
         */
        private void readmissions(int step) {
            List<ReadmitSpec> specs = config.readmitsAt(step);
            if (specs.isEmpty()) {
                return;
            }
            long start = System.nanoTime();
            boolean ok = true;
            for (ReadmitSpec spec : specs) {
                ok &= group.readmit(spec.rank(), running.clone());
                running[spec.rank()] = true;
                Arrays.fill(emulated[spec.rank()].maskedInDispatch, false);
                Arrays.fill(emulated[spec.rank()].maskedInCombine, false);
            }
            agreed = group.queryMask(runningRanks()[0]);
            long[] load = new long[config.experts()];
            for (int r = 0; r < ranks; r++) {
                if (agreed[r] == 0) {
                    for (int e = 0; e < load.length; e++) {
                        load[e] += emulated[r].inputs.routedLoad()[e];
                    }
                }
            }
            ExpertPlacement before = placement;
            placement = initial.replan(maskedRanks(), load);
            updateHosted();
            recorder.readmitted(step, true, ok, System.nanoTime() - start, agreed,
                    placement.movesFrom(before).size());
        }

        private int[] runningRanks() {
            return IntStream.range(0, ranks).filter(r -> running[r]).toArray();
        }

        private boolean[] maskedRanks() {
            boolean[] out = new boolean[ranks];
            for (int r = 0; r < ranks; r++) {
                out[r] = agreed[r] != 0;
            }
            return out;
        }

        private void updateHosted() {
            Arrays.fill(hosted, true);
            for (int e : placement.unhostedExperts()) {
                hosted[e] = false;
            }
        }

        @Override
        public void close() {
            RuntimeException failure = null;
            for (Emulated rank : emulated) {
                if (rank == null) {
                    continue;
                }
                try {
                    rank.close();
                } catch (RuntimeException e) {
                    failure = failure == null ? e : failure;
                }
            }
            if (failure != null) {
                throw failure;
            }
        }

        /** The host side of one emulated rank: its inputs, reused step batch, host copies and bookkeeping. */
        private final class Emulated implements AutoCloseable {
            final int id;
            final BufferAllocator allocator;
            final ReferenceCheck reference;
            /** Ranks this rank masked in dispatch / combine since the last agreement. */
            final boolean[] maskedInDispatch;
            final boolean[] maskedInCombine;
            final RankInputs inputs;
            final short[] rowBits;
            final float[] x;
            final float[] y;
            /** Host copies of the received rows, the experts' outputs and the combine output. */
            final DeviceStaging staging;
            int rerouted;
            Round round;
            Outcome outcome;
            DemoRecorder.Detection detection;

            Emulated(int id, BufferAllocator parent) {
                this.id = id;
                this.allocator = parent.newChildAllocator("cuda-local-demo-rank-" + id, 0, Long.MAX_VALUE);
                this.reference = new ReferenceCheck(experts, hidden, topK, slots);
                this.maskedInDispatch = new boolean[ranks];
                this.maskedInCombine = new boolean[ranks];
                this.inputs = new RankInputs(id, config, model, allocator);
                this.rowBits = new short[hidden];
                this.x = new float[hidden];
                this.y = new float[hidden];
                this.staging = new DeviceStaging(allocator, slots, tokens, hidden);
            }

            /** Step {@code step}'s inputs (pure functions of seed, step and rank), written into the reused batch. */
            void prepareStep(int step) {
                round = inputs.step(step, hosted, placement);
                rerouted = inputs.rerouted();
            }

            /** The damaged tokens of the last round as a new round, routed again under the replanned placement. */
            void prepareRecompute(int step) {
                round = inputs.recompute(step, round, outcome.damaged(), hosted, placement);
            }

            /** Closes the round's batch unless it is the reused step batch. */
            void endRound() {
                if (round != null && !inputs.isStepBatch(round)) {
                    round.batch().close();
                }
            }

            /** Copies the rows each slot received to the host (see {@link DeviceStaging#fetchRows}). */
            void fetchRows(CudaDispatched d, CudaStream stream) {
                staging.fetchRows(d, stream);
            }

            /** Each local slot runs the logical expert it hosts on its received rows (host memory only). */
            void runExperts() {
                for (int l = 0; l < slots; l++) {
                    int rows = staging.rows(l);
                    if (rows == 0) {
                        continue;
                    }
                    int expert = placement.logicalAt(id * slots + l);
                    if (expert == ExpertPlacement.EMPTY) {
                        throw new IllegalStateException("rank " + id + ": empty slot " + l + " received " + rows
                                + " rows; the placement and the routing disagree");
                    }
                    experts.applyRows(expert, staging.receivedAddress(l), staging.computedAddress(l), rows, rowBits,
                            x, y);
                }
            }

            /** Queues the experts' outputs into the device combine-send rows ({@link DeviceStaging#uploadOutputs}). */
            void uploadOutputs(CudaDispatched d, CudaStream stream) {
                staging.uploadOutputs(d, stream);
            }

            /** Copies the combine output to the host and takes the rank's mask: the round's {@link Outcome}. */
            void fetchOutcome(CudaCombined c, CudaStream stream) {
                int n = round.n();
                float[] lost = staging.fetchOutput(c, n, stream);
                int[] damaged = StepStatus.of(c.newlyMasked(), lost, n).damagedTokens();
                outcome = new Outcome(group.queryMask(id), lost, damaged);
            }

            /** Compares every output of the round with the reference; counts mismatches (host memory only). */
            void verify(int step) {
                for (int t = 0; t < round.n(); t++) {
                    if (!reference.matches(t, round.bits(), round.logical(), round.physical(), round.weights(),
                            outcome.mask(), staging.outputAddress(), outcome.lostWeight()[t])) {
                        recorder.mismatch(id, step, round.index(), t);
                    }
                }
                recorder.checked(round.n());
            }

            @Override
            public void close() {
                endRound();
                try (allocator; inputs) {
                    staging.close();
                }
            }
        }
    }

    private static void note(int[] newlyMasked, boolean[] into) {
        for (int r : newlyMasked) {
            into[r] = true;
        }
    }
}
