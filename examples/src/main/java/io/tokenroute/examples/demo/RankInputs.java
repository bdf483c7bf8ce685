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

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.routing.placement.ExpertPlacement;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
import java.util.stream.IntStream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * One rank's tokens per decode step ({@link RankLoop}): the synthetic model's hidden states and routing (pure functions
 * of seed, step, rank and token), mapped to physical slots by the current placement, written into one reused token
 * batch in host memory; and the smaller batches that recompute damaged tokens. Also keeps the rank's routed load per
 * logical expert, which the replan balances.
 */
final class RankInputs implements AutoCloseable {
    /**
     * One dispatch/combine round's tokens: the step's, or the damaged ones being recomputed; {@code tokens[i]} is row
     * i's token index in the step. Close a recompute round's batch after the round (the step batch is this object's).
     */
    record Round(
            int index,
            TokenBatch batch,
            int n,
            int[] tokens,
            short[] bits,
            long[] logical,
            float[] weights,
            long[] physical) {}

    private final int rank;
    private final int tokens;
    private final int hidden;
    private final int topK;
    private final SyntheticModel model;
    private final BufferAllocator allocator;
    /** Per logical expert, the tokens this rank routed to it so far. */
    private final long[] routedLoad;

    private final int[] stepTokens;
    private final float[] logits;
    private final short[] bits;
    private final long[] logical;
    private final float[] weights;
    private final long[] physical;
    private final TokenBatch batch;
    private final ShortBuffer batchHidden;
    private final LongBuffer batchIdx;
    private final FloatBuffer batchWeights;
    private int rerouted;

    /**
     * @param allocator pays for the reused step batch and the recompute batches; close this first
     */
    RankInputs(int rank, DemoConfig config, SyntheticModel model, BufferAllocator allocator) {
        this.rank = rank;
        this.tokens = config.tokens();
        this.hidden = config.hidden();
        this.topK = config.topK();
        this.model = model;
        this.allocator = allocator;
        this.routedLoad = new long[config.experts()];
        this.stepTokens = IntStream.range(0, tokens).toArray();
        this.logits = new float[config.experts()];
        this.bits = new short[tokens * hidden];
        this.logical = new long[tokens * topK];
        this.weights = new float[tokens * topK];
        this.physical = new long[tokens * topK];
        this.batch = TokenBatch.fromBf16Bits(allocator, hidden, bits, topK, physical, weights);
        this.batchHidden = MemoryUtil.directBuffer(batch.hiddenAddress(), Math.toIntExact(bits.length * 2L))
                .order(ByteOrder.nativeOrder())
                .asShortBuffer();
        this.batchIdx = MemoryUtil.directBuffer(batch.topkIdxAddress(), Math.toIntExact(physical.length * 8L))
                .order(ByteOrder.nativeOrder())
                .asLongBuffer();
        this.batchWeights = MemoryUtil.directBuffer(batch.topkWeightsAddress(), Math.toIntExact(weights.length * 4L))
                .order(ByteOrder.nativeOrder())
                .asFloatBuffer();
    }

    /**
     * Step {@code step}'s tokens, routed to the logical experts {@code hosted} marks and mapped to physical slots by
     * {@code placement}, written into the reused step batch (no allocation); adds them to the routed load.
     */
    Round step(int step, boolean[] hosted, ExpertPlacement placement) {
        model.hiddenStates(step, rank, tokens, bits);
        rerouted = 0;
        for (int t = 0; t < tokens; t++) {
            rerouted += model.route(step, rank, t, hosted, logits, logical, weights, t * topK) ? 1 : 0;
        }
        for (long e : logical) {
            if (e >= 0) {
                routedLoad[(int) e]++;
            }
        }
        placement.toPhysical(logical, topK, physical);
        batchHidden.put(0, bits);
        batchIdx.put(0, physical);
        batchWeights.put(0, weights);
        return new Round(0, batch, tokens, stepTokens, bits, logical, weights, physical);
    }

    /**
     * Tokens of the last {@link #step} whose experts differ from the unrestricted choice (an unhosted one was best).
     */
    int rerouted() {
        return rerouted;
    }

    /**
     * The damaged tokens of round {@code from} (indices into it) as the next round, routed again under the replanned
     * {@code placement}, in a batch of its own that the caller closes.
     */
    Round recompute(int step, Round from, int[] damaged, boolean[] hosted, ExpertPlacement placement) {
        int m = damaged.length;
        int[] ids = new int[m];
        short[] b = new short[m * hidden];
        long[] lg = new long[m * topK];
        float[] w = new float[m * topK];
        long[] ph = new long[m * topK];
        for (int i = 0; i < m; i++) {
            ids[i] = from.tokens()[damaged[i]];
            System.arraycopy(from.bits(), damaged[i] * hidden, b, i * hidden, hidden);
            model.route(step, rank, ids[i], hosted, logits, lg, w, i * topK);
        }
        placement.toPhysical(lg, topK, ph);
        return new Round(
                from.index() + 1, TokenBatch.fromBf16Bits(allocator, hidden, b, topK, ph, w), m, ids, b, lg, w, ph);
    }

    /** Per logical expert, the tokens this rank routed to it so far (live array, not a copy). */
    long[] routedLoad() {
        return routedLoad;
    }

    /** Closes the reused step batch. */
    @Override
    public void close() {
        batch.close();
    }
}
