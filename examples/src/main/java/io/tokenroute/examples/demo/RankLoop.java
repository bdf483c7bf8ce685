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

import io.tokenroute.examples.demo.RankInputs.Round;
import io.tokenroute.examples.demo.RoundRunner.Outcome;
import io.tokenroute.examples.demo.RoundRunner.Stopped;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.RankMaskedException;
import io.tokenroute.routing.placement.ExpertPlacement;
import io.tokenroute.routing.placement.StepStatus;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;

/**
 * One rank's engine loop over its {@link ElasticBuffer}, the engine side of docs/contract.md §4, the same on every
 * transport and in both modes. Per step:
 * <ol>
 *   <li>the synthetic router picks each token's top-k logical experts, mapped to physical slots by the current
 *       {@link ExpertPlacement};</li>
 *   <li>one routing round of the configured mode ({@link RoundRunner}): dispatch → every local slot runs the logical
 *       expert it hosts → combine, on the low-latency path ({@link DecodeRounds}) or the prefill path
 *       ({@link PrefillRounds});</li>
 *   <li>{@code agreeMask()}: every survivor calls it every step, so deciding whether something changed needs no extra
 *       collective; then every output is checked against the mode's plain-loop reference ({@link ReferenceCheck},
 *       {@link PrefillReferenceCheck}).
 *       On a new failure: report it, all-gather the routed load, replan the placement, and recompute
 *       the damaged tokens ({@code lost_weight > 0}; their first output is discarded, i.e. rolled back) in an extra
 *       dispatch/combine round under the new placement, which every survivor joins, with zero tokens if it has none;
 *       repeated while rounds bring new failures.</li>
 * </ol>
 * Before a readmit step the survivors release the stopped rank and readmit it, and every participant re-places the
 * experts from the initial placement with the current mask, so the returning rank hosts experts again.
 *
 * <p>When this rank's own thread was parked by the {@link FaultInjector} (it is the "dead" rank), the routing call it
 * was parked in returns once released; the rank then abandons the step and either rejoins at the readmit step or
 * ends. It does not check anything in between: its view of the group is stale.
 *
 * <p>Between routing calls the rank {@link ElasticBuffer#heartbeat() beats} while it computes (experts, checks,
 * inputs), so a peer waiting for its next publish sees it alive even when the CPU is oversubscribed; a stopped rank
 * does not beat and is masked one timeout after its last beat.
 *
 * <p>Per step the hot path allocates little (the library's mask snapshots, the damaged-token list); the inputs, the
 * token batch and the scratch rows are reused, so garbage collection stays rare, since a pause longer than the
 * timeout would make healthy ranks look dead.
 */
final class RankLoop implements AutoCloseable {
    /** The survivors agreed that this rank is masked although it was running (a false mask). */
    private static final class MaskedByPeers extends RuntimeException {
        private static final long serialVersionUID = 1L;

        MaskedByPeers() {
            super(null, null, false, false);
        }
    }

    /** How often a falsely masked rank asks to come back before it gives up (the survivors admit one per step). */
    private static final int RETURN_ATTEMPTS = 5;

    /** Tokens checked between two heartbeats (a few tens of microseconds of work). */
    private static final int HEARTBEAT_TOKENS = 16;

    private final int rank;
    private final DemoConfig config;
    private final ElasticBuffer buffer;
    /** The mode's routing round and reference check. */
    private final RoundRunner rounds;

    private final FaultInjector faults;
    private final DemoRecorder recorder;
    private final ExpertPlacement initial;
    private final int slotsPerRank;
    private final int tokens;
    private final Duration readmitTimeout;

    /** The placement every active rank holds (each computes it from the same agreed inputs). */
    private ExpertPlacement placement;
    /** Per logical expert, whether {@link #placement} hosts it (the router picks only those). */
    private final boolean[] hosted;
    /** The last agreed mask, 1 = masked. */
    private int[] agreed;

    private final RankInputs inputs;

    /**
     * @param buffer the rank's buffer (owned by its group)
     * @param allocator pays for the rank's token batches and host copies; close this loop first
     * @throws IllegalArgumentException in the prefill mode on a buffer whose results are in device memory
     */
    RankLoop(
            int rank,
            DemoConfig config,
            ElasticBuffer buffer,
            BufferAllocator allocator,
            SyntheticModel model,
            BlockExperts experts,
            FaultInjector faults,
            DemoRecorder recorder) {
        this.rank = rank;
        this.config = config;
        this.buffer = buffer;
        this.faults = faults;
        this.recorder = recorder;
        this.initial = ExpertPlacement.initial(config.experts(), config.ranks(), config.redundant());
        this.placement = initial;
        this.hosted = new boolean[config.experts()];
        updateHosted();
        this.slotsPerRank = config.slotsPerRank();
        this.tokens = config.tokens();
        // The returning rank first times out of the call it was parked in; the rest is a rendezvous. Bounded, so that
        // readmitting a rank that left the run (after a false mask) costs seconds, not a hang.
        this.readmitTimeout = Duration.ofSeconds(2).plus(config.timeout().multipliedBy(50));
        this.agreed = new int[config.ranks()];
        this.inputs = new RankInputs(rank, config, model, allocator);
        try {
            this.rounds = config.mode() == DemoMode.PREFILL
                    ? new PrefillRounds(rank, config, buffer, experts, faults)
                    : new DecodeRounds(rank, config, buffer, allocator, experts, faults);
        } catch (RuntimeException | Error e) {
            inputs.close();
            throw e;
        }
    }

    /** Runs every step; never throws (errors and false masks go to the recorder). */
    void run() {
        try {
            int step = 0;
            boolean readmitsDone = false;
            while (step < config.steps()) {
                try {
                    if (!readmitsDone) {
                        readmissions(step, -1);
                    }
                    readmitsDone = false;
                    runStep(step);
                    step++;
                } catch (Stopped stopped) {
                    if (stopped.resumeStep == FaultInjector.NO_RESUME) {
                        return;
                    }
                    step = stopped.resumeStep;
                    rejoin(step);
                    readmitsDone = true;
                } catch (RankMaskedException | MaskedByPeers e) {
                    recorder.falselyMasked(rank, step);
                    int resume = comeBack(step);
                    if (resume < 0) {
                        return;
                    }
                    step = resume;
                }
            }
        } catch (RuntimeException | Error e) {
            recorder.error(rank, e);
        }
    }

    // ------------------------------------------------------------------------------------------------ one step

    private void runStep(int step) {
        faults.arm(rank, step);
        if (step == config.warmupSteps()) {
            buffer.setTimeout(config.timeout());
        }
        Round round = inputs.step(step, hosted, placement);
        int rerouted = inputs.rerouted();
        buffer.heartbeat();

        long start = System.nanoTime();
        Outcome outcome = rounds.route(round, placement);
        long firstAgreeNanos = -1;
        for (int agreement = 0; ; agreement++) {
            long agreeStart = System.nanoTime();
            int[] union = buffer.agreeMask();
            if (firstAgreeNanos < 0) {
                firstAgreeNanos = System.nanoTime() - agreeStart;
            }
            if (union[rank] != 0) {
                // Peers stopped serving this rank when they masked it: it is no survivor, and there is nothing to
                // check.
                throw new MaskedByPeers();
            }
            recorder.agreed(step, agreement, rank, union);
            // Checked after the agreement rather than before: the check's time then adds to one wait (the next
            // dispatch's) instead of two, which keeps every rank's lead on its slowest peer under the timeout.
            verify(step, round, outcome);
            int[] newly = StepStatus.newlyMasked(agreed, union);
            agreed = union;
            DemoRecorder.Detection detection = newly.length == 0 ? null : recorder.detected(step, newly, union);
            if (detection != null) {
                detection.observe(rounds.maskedInDispatch, rounds.maskedInCombine);
                detection.damaged.addAndGet(outcome.damaged().length);
            }
            rounds.clearMasked();
            if (detection == null || replan(outcome.damaged().length, detection) == 0) {
                break;
            }
            Round redo = inputs.recompute(step, round, outcome.damaged(), hosted, placement);
            try {
                outcome = rounds.route(redo, placement);
            } finally {
                redo.batch().close();
            }
            detection.recomputed.addAndGet(redo.n() - outcome.damaged().length);
            // A further round, if this one brought another failure, recomputes from this round's arrays.
            round = redo;
        }
        recorder.stepDone(step, rank, System.nanoTime() - start, firstAgreeNanos, liveRanks(), tokens, rerouted);
        if (liveRanks() < config.ranks()) {
            admitReturningRank(step + 1);
        }
    }

    /** Compares every output of the round (the last combine's) with the reference; counts mismatches. */
    private void verify(int step, Round round, Outcome outcome) {
        for (int t = 0; t < round.n(); t++) {
            if (!rounds.matches(t, round, outcome)) {
                recorder.mismatch(rank, step, round.index(), t);
            }
            if (t % HEARTBEAT_TOKENS == HEARTBEAT_TOKENS - 1) {
                buffer.heartbeat();
            }
        }
        recorder.checked(round.n());
    }

    // ------------------------------------------------------------------------------------------------ failures

    /**
     * After a new failure: all-gathers every survivor's routed load and damaged-token count, and replans the placement
     * (the same on every survivor, as the inputs are the same).
     *
     * @return the damaged tokens over all survivors, so that all of them decide alike whether to run a recompute round
     */
    private long replan(int damagedHere, DemoRecorder.Detection detection) {
        long[] load = new long[config.experts()];
        long damagedEverywhere = gatherLoad(damagedHere, load);
        ExpertPlacement before = placement;
        placement = placement.replan(maskedRanks(), load);
        updateHosted();
        detection.replanned(placement.movesFrom(before).size(), placement.unhostedExperts());
        return damagedEverywhere;
    }

    // ------------------------------------------------------------------------------------------------ readmission

    /**
     * The readmissions before {@code step} (if any), in ascending rank order, then the re-placement; every active rank
     * runs them. {@code rejoining} is this rank when it just came back itself (it skips the readmissions that happened
     * while it was stopped, and its own), else -1.
     */
    private void readmissions(int step, int rejoining) {
        List<ReadmitSpec> specs = config.readmitsAt(step);
        if (specs.isEmpty()) {
            return;
        }
        long start = System.nanoTime();
        boolean ok = true;
        for (ReadmitSpec r : specs) {
            if (r.rank() <= rejoining) {
                continue;
            }
            // The step's last agreeMask already had every survivor arrive, and no survivor waits on a peer again
            // before readmit's rendezvous (which waits for all of them), so the stopped rank can go now.
            faults.release(r.rank(), step);
            ok &= buffer.readmit(r.rank(), readmitTimeout);
        }
        ExpertPlacement before = placement;
        replaceFromInitial();
        recorder.readmitted(
                step,
                rejoining < 0,
                ok,
                System.nanoTime() - start,
                agreed,
                placement.movesFrom(before).size());
    }

    /**
     * Survivors, at the end of a step with masked ranks: readmit the lowest masked rank that asked to come back (a live
     * rank masked by mistake does, from {@link #comeBack}); then every participant agrees on the step to go on with and
     * re-places the experts from the initial placement. The same on every survivor: they agreed on the mask, and the
     * requests are all-gathered.
     */
    private void admitReturningRank(int nextStep) {
        long start = System.nanoTime();
        int returning = buffer.readmitRequesting(readmitTimeout);
        if (returning < 0) {
            return;
        }
        agreeOnStep(nextStep);
        replaceFromInitial();
        recorder.cameBack(returning, nextStep, agreed[returning] == 0, System.nanoTime() - start);
    }

    /**
     * This rank's peers masked it while it was running (a false mask): it asks to come back, waiting in readmit until
     * the survivors admit it at the end of one of their steps, then takes part in their step agreement and
     * re-placement. Returns the step to go on with, or -1 if nobody readmitted it (the run ended without it).
     */
    private int comeBack(int step) {
        for (int attempt = 0; attempt < RETURN_ATTEMPTS; attempt++) {
            if (buffer.readmit(rank, readmitTimeout)) {
                int resume = agreeOnStep(step);
                replaceFromInitial();
                return resume;
            }
        }
        recorder.notReadmitted(rank, step);
        return -1;
    }

    /** All-gathers the participants' next step; everyone goes on with the latest. */
    private int agreeOnStep(int mine) {
        int resume = mine;
        for (byte[] part :
                buffer.allGatherBytes(ByteBuffer.allocate(4).putInt(mine).array())) {
            if (part != null && part.length == 4) {
                resume = Math.max(resume, ByteBuffer.wrap(part).getInt());
            }
        }
        return resume;
    }

    /**
     * After a readmission: every participant re-places the experts from the initial placement with the current mask.
     */
    private void replaceFromInitial() {
        agreed = buffer.queryMask();
        long[] load = new long[config.experts()];
        gatherLoad(0, load);
        placement = initial.replan(maskedRanks(), load);
        updateHosted();
    }

    /** This rank was released to rejoin at {@code step}: readmit itself, then take part in the step's re-placement. */
    private void rejoin(int step) {
        if (!buffer.readmit(rank, readmitTimeout)) {
            throw new IllegalStateException(
                    "rank " + rank + ": nobody readmitted it before step " + step + " within " + readmitTimeout);
        }
        readmissions(step, rank);
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /**
     * All-gathers {@code damagedHere} and this rank's routed load; sums the loads of every active rank into
     * {@code load}. Returns the summed damaged count.
     */
    private long gatherLoad(int damagedHere, long[] load) {
        ByteBuffer mine = ByteBuffer.allocate(4 + 8 * load.length).order(ByteOrder.LITTLE_ENDIAN);
        mine.putInt(damagedHere);
        mine.asLongBuffer().put(inputs.routedLoad());
        long damaged = 0;
        for (byte[] part : buffer.allGatherBytes(mine.array())) {
            if (part != null) {
                ByteBuffer in = ByteBuffer.wrap(part).order(ByteOrder.LITTLE_ENDIAN);
                damaged += in.getInt();
                for (int e = 0; e < load.length; e++) {
                    load[e] += in.getLong();
                }
            }
        }
        return damaged;
    }

    private void updateHosted() {
        Arrays.fill(hosted, true);
        for (int e : placement.unhostedExperts()) {
            hosted[e] = false;
        }
    }

    private boolean[] maskedRanks() {
        boolean[] out = new boolean[agreed.length];
        for (int r = 0; r < out.length; r++) {
            out[r] = agreed[r] != 0;
        }
        return out;
    }

    private int liveRanks() {
        int live = 0;
        for (int m : agreed) {
            live += m == 0 ? 1 : 0;
        }
        return live;
    }

    /** Frees this rank's token batch and host copies (not the buffer: its group owns it). */
    @Override
    public void close() {
        try (inputs) {
            rounds.close();
        }
    }
}
