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
package io.tokenroute.routing;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.internal.Closeables;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.BitVector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.FieldType;

/**
 * A prefill step's routing layout (DeepEP's {@code get_dispatch_layout}), as Arrow vectors the caller owns and closes:
 * <ul>
 *   <li>{@link #tokensPerRank()}: int32 [R], the tokens with at least one expert on each rank (what each rank
 *       receives from this one);</li>
 *   <li>{@link #tokensPerExpert()}: int32 [E], the tokens routed to each expert;</li>
 *   <li>{@link #tokenInRank()}: FixedSizeList&lt;bool&gt;[R] per token, whether the token goes to each rank.</li>
 * </ul>
 * Computed from {@code topk_idx} alone (no mask applied). Host batches: the CPU computes it.
 */
public final class PrefillLayout implements AutoCloseable {
    private final IntVector tokensPerRank;
    private final IntVector tokensPerExpert;
    private final FixedSizeListVector tokenInRank;

    private PrefillLayout(IntVector tokensPerRank, IntVector tokensPerExpert, FixedSizeListVector tokenInRank) {
        this.tokensPerRank = tokensPerRank;
        this.tokensPerExpert = tokensPerExpert;
        this.tokenInRank = tokenInRank;
    }

    /**
     * Computes the layout of {@code batch} for a group of {@code config}.
     *
     * @param batch a host batch whose expert ids are in {@code [0, E)} or -1
     * @param allocator pays for the vectors until {@link #close()}
     */
    public static PrefillLayout of(TokenBatch batch, BufferConfig config, BufferAllocator allocator) {
        batch.location().requireCpuAccessible("a prefill layout of this batch");
        int ranks = config.ranks();
        int experts = config.experts();
        int local = config.localExperts();
        int n = batch.numTokens();
        int k = batch.topK();
        IntVector perRank = new IntVector("tokens_per_rank", allocator);
        IntVector perExpert = new IntVector("tokens_per_expert", allocator);
        FixedSizeListVector inRank = new FixedSizeListVector(
                "token_in_rank", allocator, FieldType.notNullable(new ArrowType.FixedSizeList(ranks)), null);
        try {
            perRank.allocateNew(ranks);
            perExpert.allocateNew(experts);
            inRank.addOrGetVector(FieldType.notNullable(ArrowType.Bool.INSTANCE));
            inRank.setInitialCapacity(n);
            inRank.allocateNew();
            BitVector bits = (BitVector) inRank.getDataVector();
            int[] rankCounts = new int[ranks];
            int[] expertCounts = new int[experts];
            long idx = batch.topkIdxAddress();
            for (int t = 0; t < n; t++) {
                inRank.setNotNull(t);
                for (int r = 0; r < ranks; r++) {
                    bits.set(t * ranks + r, 0);
                }
                for (int j = 0; j < k; j++) {
                    long e = MemoryUtil.getLong(idx + 8L * (t * k + j));
                    if (e < 0 || e >= experts) {
                        continue;
                    }
                    expertCounts[(int) e]++;
                    int r = (int) (e / local);
                    if (bits.get(t * ranks + r) == 0) {
                        bits.set(t * ranks + r, 1);
                        rankCounts[r]++;
                    }
                }
            }
            for (int r = 0; r < ranks; r++) {
                perRank.set(r, rankCounts[r]);
            }
            for (int e = 0; e < experts; e++) {
                perExpert.set(e, expertCounts[e]);
            }
            perRank.setValueCount(ranks);
            perExpert.setValueCount(experts);
            bits.setValueCount(n * ranks);
            inRank.setValueCount(n);
            return new PrefillLayout(perRank, perExpert, inRank);
        } catch (RuntimeException e) {
            perRank.close();
            perExpert.close();
            inRank.close();
            throw e;
        }
    }

    /** int32 [R]: tokens going to each rank. */
    public IntVector tokensPerRank() {
        return tokensPerRank;
    }

    /** int32 [E]: tokens routed to each expert. */
    public IntVector tokensPerExpert() {
        return tokensPerExpert;
    }

    /** FixedSizeList&lt;bool&gt;[R] per token: whether the token goes to each rank. */
    public FixedSizeListVector tokenInRank() {
        return tokenInRank;
    }

    @Override
    public void close() {
        Closeables.closeAll(tokensPerRank, tokensPerExpert, tokenInRank);
    }
}
