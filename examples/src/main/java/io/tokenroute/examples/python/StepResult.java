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
package io.tokenroute.examples.python;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.cdata.ExportedBatch;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.Dispatched;
import java.util.Arrays;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * One step of a {@link LocalSession}: per rank, the rows its local experts received ({@link Dispatched}) and, once
 * combined, its combine output ({@link Combined}), plus zero-copy exports of both for C Data consumers.
 *
 * <p><b>Validity.</b> The results are views of the ranks' memory, reused by the next step: every accessor throws once
 * a later step was dispatched or the session closed. An export made earlier stays readable (it keeps the memory
 * alive), but shows whatever the buffers hold now: a later step overwrites it. Copy what you keep.
 *
 * <p>Ranks that were left out of the step ({@code null} batch) have no results: their accessors throw.
 */
public final class StepResult {
    private final LocalSession session;
    private final long step;
    private final TokenBatch[] routing;
    private final Dispatched[] dispatched;
    private final Combined[] combined;
    private final int[][] newlyMasked;
    private boolean combineDone;
    private long dispatchNanos;
    private long combineNanos;

    StepResult(LocalSession session, long step, TokenBatch[] routing) {
        this.session = session;
        this.step = step;
        this.routing = routing.clone();
        this.dispatched = new Dispatched[routing.length];
        this.combined = new Combined[routing.length];
        this.newlyMasked = new int[routing.length][];
    }

    /** The session's step number, from 1. */
    public long step() {
        return step;
    }

    /** R. */
    public int ranks() {
        return routing.length;
    }

    /** Whether rank {@code r} took part (was given a batch). */
    public boolean participated(int r) {
        return routing[checkRank(r)] != null;
    }

    /** Wall time of the dispatch call over all ranks (expert computation in {@link LocalSession#step} included). */
    public long dispatchNanos() {
        return dispatchNanos;
    }

    /** Wall time of the combine call over all ranks; 0 before it. */
    public long combineNanos() {
        return combineNanos;
    }

    /**
     * The peers rank {@code r} masked in this step (dispatch and combine), ascending; empty for a rank that did not
     * take part.
     */
    public int[] newlyMasked(int r) {
        checkRank(r);
        return newlyMasked[r] == null ? new int[0] : newlyMasked[r].clone();
    }

    /** Whether any rank masked a peer in this step (then {@link LocalSession#agreeMask()} gives the common view). */
    public boolean anyNewlyMasked() {
        return Arrays.stream(newlyMasked).anyMatch(m -> m != null && m.length > 0);
    }

    // ------------------------------------------------------------------------------------------------ dispatch

    /** Rank {@code r}'s dispatch result (a view, valid while this step is current). */
    public Dispatched dispatched(int r) {
        ensureCurrent();
        requireParticipant(r);
        return dispatched[r];
    }

    /** Rows received by rank {@code r}'s local expert {@code l}. */
    public int recvCount(int r, int l) {
        return dispatched(r).recvCount(l);
    }

    /**
     * Exports rank {@code r}'s local expert {@code l} rows ({@code hidden} bf16, {@code src_rank}, {@code src_token})
     * through the C Data Interface, zero-copy.
     *
     * @return the export; the caller closes it after the consumer imported
     */
    public ExportedBatch exportExpert(int r, int l) {
        return session.export(dispatched(r).expert(l));
    }

    /**
     * Address of rank {@code r}'s local expert {@code l} combine-send rows ({@code recvCount × H} bf16, row-major,
     * writable): where expert outputs go before {@link LocalSession#combine}.
     */
    public long expertOutputAddress(int r, int l) {
        if (combineDone) {
            throw new IllegalStateException("step " + step + " was combined already");
        }
        return dispatched(r).expertOutputAddress(l);
    }

    // ------------------------------------------------------------------------------------------------ combine

    /** Rank {@code r}'s combine result (a view, valid while this step is current). */
    public Combined combined(int r) {
        ensureCurrent();
        requireParticipant(r);
        if (!combineDone || combined[r] == null) {
            throw new IllegalStateException("step " + step + " is not combined yet");
        }
        return combined[r];
    }

    /**
     * Exports rank {@code r}'s combine output ({@code hidden} bf16 {@code [n][H]}, {@code lost_weight} float32) through
     * the C Data Interface, zero-copy.
     *
     * @return the export; the caller closes it after the consumer imported
     */
    public ExportedBatch exportCombined(int r) {
        return session.export(combined(r).batch());
    }

    /** Rank {@code r}'s {@code lost_weight}, one per token (a copy). */
    public float[] lostWeights(int r) {
        Combined c = combined(r);
        float[] out = new float[c.numTokens()];
        for (int t = 0; t < out.length; t++) {
            out[t] = c.lostWeight(t);
        }
        return out;
    }

    /** Rank {@code r}'s combined {@code hidden} as bf16 bits, row-major {@code [n][H]} (a copy). */
    public short[] hiddenBits(int r) {
        Combined c = combined(r);
        short[] out = new short[c.numTokens() * session.config().hidden()];
        long a = c.hiddenAddress();
        for (int i = 0; i < out.length; i++) {
            out[i] = MemoryUtil.getShort(a + 2L * i);
        }
        return out;
    }

    @Override
    public String toString() {
        int live = (int) Arrays.stream(routing).filter(b -> b != null).count();
        return "StepResult[step " + step + ", " + live + " of " + routing.length + " ranks, "
                + (combineDone ? "combined" : "dispatched") + (anyNewlyMasked() ? ", peers masked" : "") + "]";
    }

    // ------------------------------------------------------------------------------------------------ for the session

    boolean[] participants() {
        boolean[] out = new boolean[routing.length];
        for (int r = 0; r < out.length; r++) {
            out[r] = routing[r] != null;
        }
        return out;
    }

    TokenBatch routing(int r) {
        return routing[r];
    }

    void dispatched(int r, Dispatched d) {
        dispatched[r] = d;
        newlyMasked[r] = d.newlyMasked();
    }

    void combined(int r, Combined c) {
        combined[r] = c;
        int[] merged = java.util.stream.IntStream.concat(Arrays.stream(newlyMasked[r]), Arrays.stream(c.newlyMasked()))
                .distinct()
                .sorted()
                .toArray();
        newlyMasked[r] = merged;
    }

    void markCombined() {
        combineDone = true;
    }

    boolean isOpen() {
        return !combineDone;
    }

    void dispatchNanos(long nanos) {
        dispatchNanos = nanos;
    }

    void combineNanos(long nanos) {
        combineNanos = nanos;
    }

    private void ensureCurrent() {
        if (!session.isCurrent(this)) {
            throw new IllegalStateException(
                    "step " + step + "'s results were overwritten: a later step ran or the " + "session closed");
        }
    }

    private void requireParticipant(int r) {
        if (routing[checkRank(r)] == null) {
            throw new IllegalArgumentException("rank " + r + " took no part in step " + step);
        }
    }

    private int checkRank(int r) {
        if (r < 0 || r >= routing.length) {
            throw new IndexOutOfBoundsException("rank " + r + " outside [0, " + routing.length + ")");
        }
        return r;
    }
}
