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
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.StepReport;
import io.tokenroute.routing.placement.ExpertPlacement;
import io.tokenroute.routing.placement.StepStatus;
import java.util.Arrays;
import java.util.function.Supplier;

/**
 * One mode's routing round for a {@link RankLoop}: dispatch → this rank's experts → combine over the round's tokens,
 * and the check of each output against the mode's plain-loop reference. {@link DecodeRounds} takes the low-latency
 * path, {@link PrefillRounds} the high-throughput one (docs/contract.md §3b); the loop around the round (agreement,
 * re-placement, recompute, readmission) does not depend on which.
 *
 * <p>Used by the rank's own thread only. The results it keeps are the buffer's views, valid until its next round.
 */
abstract class RoundRunner implements AutoCloseable {
    /** The rank was parked during a routing call; the step is abandoned. */
    static final class Stopped extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int resumeStep;

        Stopped(int resumeStep) {
            super(null, null, false, false);
            this.resumeStep = resumeStep;
        }
    }

    /**
     * A round's result, valid until the next round: this rank's mask right before and right after it (what the
     * reference must, and may, leave out) and the damaged tokens (indices into the round) whose output lost weight.
     */
    record Outcome(int[] maskBefore, int[] maskAfter, int[] damaged) {}

    /** A round that masked nobody. */
    private static final int[] NONE = new int[0];

    final int rank;
    final ElasticBuffer buffer;
    final BlockExperts experts;
    final FaultInjector faults;
    final int slotsPerRank;
    /** Ranks this round's calls masked in dispatch / in combine, accumulated until {@link #clearMasked()}. */
    final boolean[] maskedInDispatch;

    final boolean[] maskedInCombine;

    RoundRunner(int rank, DemoConfig config, ElasticBuffer buffer, BlockExperts experts, FaultInjector faults) {
        this.rank = rank;
        this.buffer = buffer;
        this.experts = experts;
        this.faults = faults;
        this.slotsPerRank = config.slotsPerRank();
        this.maskedInDispatch = new boolean[config.ranks()];
        this.maskedInCombine = new boolean[config.ranks()];
    }

    /**
     * Routes {@code round} under {@code placement}: dispatch, every local slot runs the logical expert it hosts,
     * combine.
     *
     * @throws Stopped if this rank was parked in one of the calls (it is the "dead" rank)
     */
    abstract Outcome route(Round round, ExpertPlacement placement);

    /** Whether token {@code t}'s output of the last round matches the reference bit for bit. */
    abstract boolean matches(int t, Round round, Outcome outcome);

    /** The last combine's {@code lost_weight[t]}, wherever it lives. */
    abstract float lostWeight(int t);

    /** Forgets which peers the calls masked (after an agreement reported them). */
    final void clearMasked() {
        Arrays.fill(maskedInDispatch, false);
        Arrays.fill(maskedInCombine, false);
    }

    /** The outcome of a round whose combine returned {@code combined}. */
    final Outcome outcome(int[] maskBefore, Combined combined, int n) {
        int[] newlyInCombine = combined.newlyMaskedCount() == 0 ? NONE : combined.newlyMasked();
        return new Outcome(
                maskBefore,
                buffer.queryMask(),
                StepStatus.of(newlyInCombine, this::lostWeight, n).damagedTokens());
    }

    /**
     * Runs a routing call. If this rank was parked in it (it is the "dead" rank), the step is abandoned however the
     * call ended: after a stop the rank's view is stale, and its results mean nothing.
     */
    final <T> T routed(Supplier<T> call) {
        T result;
        try {
            result = call.get();
        } catch (RuntimeException e) {
            abandonIfStopped();
            throw e;
        }
        abandonIfStopped();
        return result;
    }

    private void abandonIfStopped() {
        Integer resume = faults.takeStop(rank);
        if (resume != null) {
            throw new Stopped(resume);
        }
    }

    /** Marks the peers {@code call} masked (allocation-free on a healthy step). */
    static void note(StepReport call, boolean[] into) {
        for (int r = 0; r < into.length && call.newlyMaskedCount() > 0; r++) {
            into[r] |= call.isNewlyMasked(r);
        }
    }

    /** The logical expert physical slot {@code l} of this rank hosts under {@code placement}, for {@code rows} rows. */
    final int hostedExpert(ExpertPlacement placement, int l, int rows) {
        int expert = placement.logicalAt(rank * slotsPerRank + l);
        if (expert == ExpertPlacement.EMPTY) {
            throw new IllegalStateException(
                    "rank " + rank + ": empty slot " + l + " received " + rows + " rows; the ranks' placements differ");
        }
        return expert;
    }

    /** Frees what the runner owns (not the buffer: its group owns it). */
    @Override
    public void close() {}
}
