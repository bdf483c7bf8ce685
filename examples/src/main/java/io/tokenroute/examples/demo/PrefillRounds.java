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

import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.examples.demo.RankInputs.Round;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.PrefillDispatched;
import io.tokenroute.routing.placement.ExpertPlacement;
import java.util.Arrays;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * The prefill mode's round (docs/contract.md §3b): {@code prefillDispatch} sends each token once per destination rank
 * through the bounded queues → every local slot runs the logical expert it hosts on the receive rows its list names,
 * writing into {@link PrefillDispatched#expertOutputAddress} (zero-copy) → {@code prefillCombine} reduces them per
 * token on this rank, streams the partial rows back, and each source sums them. Checked against
 * {@link PrefillReferenceCheck}. Host transports only: the experts read the receive batch in place.
 *
 * <p>Before each call the rank tells the {@link FaultInjector} how many chunks it is about to write, so that a failure
 * at a mid-stream phase stops it in the middle of its stream.
 */
final class PrefillRounds extends RoundRunner {
    private final PrefillReferenceCheck reference;
    private final int ranks;
    private final int topK;
    private final int chunkRows;
    /**
     * Scratch of {@link #dispatchChunks}: per destination rank, whether the token goes there, and the tokens so far.
     */
    private final boolean[] goes;

    private final int[] tokensTo;
    /** The latest round's results (valid until the next prefill dispatch / combine of this buffer). */
    private PrefillDispatched dispatched;

    private Combined combined;
    private final short[] rowBits;
    private final float[] x;
    private final float[] y;

    PrefillRounds(int rank, DemoConfig config, ElasticBuffer buffer, BlockExperts experts, FaultInjector faults) {
        super(rank, config, buffer, experts, faults);
        if (!buffer.location().isCpuAccessible()) {
            throw new IllegalArgumentException("rank " + rank + ": the prefill round reads the receive batch in place,"
                    + " which needs host memory, not " + buffer.location());
        }
        int hidden = config.hidden();
        this.ranks = config.ranks();
        this.topK = config.topK();
        this.chunkRows = config.prefillChunkRows();
        this.reference = new PrefillReferenceCheck(experts, ranks, hidden, topK, slotsPerRank);
        this.goes = new boolean[ranks];
        this.tokensTo = new int[ranks];
        this.rowBits = new short[hidden];
        this.x = new float[hidden];
        this.y = new float[hidden];
    }

    @Override
    Outcome route(Round round, ExpertPlacement placement) {
        int[] before = buffer.queryMask();
        faults.streamLength(rank, dispatchChunks(round, before));
        dispatched = routed(() -> {
            PrefillDispatched d = buffer.prefillDispatch(round.batch(), DispatchOptions.BF16);
            faults.parkIfMissed(rank, FailurePhase.PREFILL_DISPATCH);
            return d;
        });
        note(dispatched, maskedInDispatch);
        runExperts(placement);
        faults.streamLength(rank, combineChunks());
        combined = routed(() -> {
            Combined c = buffer.prefillCombine(dispatched, round.batch());
            faults.parkIfMissed(rank, FailurePhase.PREFILL_COMBINE);
            return c;
        });
        note(combined, maskedInCombine);
        return outcome(before, combined, round.n());
    }

    @Override
    boolean matches(int t, Round round, Outcome outcome) {
        return reference.matches(
                t,
                round.bits(),
                round.logical(),
                round.physical(),
                round.weights(),
                outcome.maskBefore(),
                outcome.maskAfter(),
                combined.hiddenAddress(),
                combined.lostWeight(t));
    }

    @Override
    float lostWeight(int t) {
        return combined.lostWeight(t);
    }

    /** Each local slot runs the logical expert it hosts on the receive rows listed for it, into its output rows. */
    private void runExperts(ExpertPlacement placement) {
        PrefillDispatched d = dispatched;
        long table = ((FixedSizeListVector) d.batch().getVector(TokenBatchSchema.HIDDEN))
                .getDataVector()
                .getDataBuffer()
                .memoryAddress();
        for (int l = 0; l < slotsPerRank; l++) {
            int entries = d.expertCount(l);
            if (entries == 0) {
                continue;
            }
            int slot = l;
            experts.applyListed(
                    hostedExpert(placement, l, entries),
                    table,
                    d.numReceived(),
                    i -> d.expertRow(slot, i),
                    entries,
                    d.expertOutputAddress(l),
                    rowBits,
                    x,
                    y);
            buffer.heartbeat();
        }
    }

    /**
     * The chunks this rank's dispatch writes: per destination not masked before it, its tokens with an expert there,
     * in chunks of {@code prefillChunkRows}.
     */
    private int dispatchChunks(Round round, int[] mask) {
        Arrays.fill(tokensTo, 0);
        for (int t = 0; t < round.n(); t++) {
            Arrays.fill(goes, false);
            for (int j = 0; j < topK; j++) {
                long p = round.physical()[t * topK + j];
                if (p >= 0) {
                    goes[(int) p / slotsPerRank] = true;
                }
            }
            for (int r = 0; r < ranks; r++) {
                tokensTo[r] += goes[r] && mask[r] == 0 ? 1 : 0;
            }
        }
        int chunks = 0;
        for (int count : tokensTo) {
            chunks += chunksOf(count);
        }
        return chunks;
    }

    /** The chunks of partial rows this rank's combine writes: per source it kept rows from, in chunks. */
    private int combineChunks() {
        int chunks = 0;
        for (int p = 0; p < ranks; p++) {
            chunks += chunksOf(dispatched.sourceCount(p));
        }
        return chunks;
    }

    private int chunksOf(int rows) {
        return (rows + chunkRows - 1) / chunkRows;
    }
}
