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

import java.util.Arrays;

/**
 * The plain-loop reference a rank checks its prefill combine output against (docs/contract.md §3b.3, §3b.5). For
 * token {@code t} and a set {@code S} of destination ranks left out:
 * <pre>
 *   partial[r] = bf16(Σ_j w[t][j] · expert_j(x[t]))   over the slots j on rank r, in top-k order (fp32, multiply, add)
 *   out[t]     = bf16(Σ_r partial[r])                  over the ranks r ∉ S the token uses, ascending (fp32)
 *   lost[t]    = Σ_j w[t][j]                           over the slots j on ranks in S, in top-k order (fp32)
 * </pre>
 * Slots whose expert is {@code -1} or unhosted route nowhere and count in neither sum.
 *
 * <p>Which ranks a token lost is the token's own business in this mode: a destination masked during the combine
 * still counts for the tokens whose partial rows arrived before. So a token passes when, for some {@code S}, both
 * {@code out[t]} (every bit) and {@code lost_weight[t]} (every bit) equal the reference, where {@code S} holds every
 * rank the token uses that was masked before the round, and any of those masked during it; a rank still active after
 * the round is never left out. Nothing else passes.
 *
 * <p>Built from the token's own inputs and the expert weights only, never from anything the routing library returned.
 * One instance per rank thread (it owns scratch rows); allocates nothing per call.
 */
final class PrefillReferenceCheck {
    private final BlockExperts experts;
    private final int ranks;
    private final int hidden;
    private final int topK;
    private final int slotsPerRank;
    private final float[] x;
    /** Per slot, the expert's output row (bf16 values as floats), {@code [k][H]}. */
    private final float[][] y;

    private final float[] partial;
    private final float[] acc;
    /** Per slot, the destination rank, or -1 where the slot routes nowhere. */
    private final int[] slotRank;
    /** The ranks the token uses whose share may or may not have arrived. */
    private final int[] doubtful;

    PrefillReferenceCheck(BlockExperts experts, int ranks, int hidden, int topK, int slotsPerRank) {
        this.experts = experts;
        this.ranks = ranks;
        this.hidden = hidden;
        this.topK = topK;
        this.slotsPerRank = slotsPerRank;
        this.x = new float[hidden];
        this.y = new float[topK][hidden];
        this.partial = new float[hidden];
        this.acc = new float[hidden];
        this.slotRank = new int[topK];
        this.doubtful = new int[ranks];
    }

    /**
     * Whether token {@code t}'s prefill combine output matches the reference bit for bit for one admissible set of
     * ranks left out (see the class comment).
     *
     * @param bits the round's hidden states, bf16 {@code [n][H]}
     * @param logical the round's logical top-k ids {@code [n][k]} ({@code -1} = none)
     * @param physical the same slots mapped to physical expert slots ({@code -1} = none or unhosted)
     * @param weights the round's routing weights {@code [n][k]}
     * @param maskBefore this rank's mask right before the round (1 = masked): those ranks are always left out
     * @param maskAfter this rank's mask right after the round: only those ranks may be left out
     * @param outAddress address of the combine output's {@code hidden[0][0]} (bf16 {@code [n][H]})
     * @param lostWeight the combine output's {@code lost_weight[t]}
     */
    boolean matches(
            int t,
            short[] bits,
            long[] logical,
            long[] physical,
            float[] weights,
            int[] maskBefore,
            int[] maskAfter,
            long outAddress,
            float lostWeight) {
        int always = 0;
        int doubts = 0;
        for (int j = 0; j < topK; j++) {
            int i = t * topK + j;
            slotRank[j] = logical[i] < 0 || physical[i] < 0 ? -1 : (int) physical[i] / slotsPerRank;
            int r = slotRank[j];
            if (r < 0) {
                continue;
            }
            if (maskBefore[r] != 0) {
                always |= 1 << j;
            } else if (maskAfter[r] != 0 && !contains(doubtful, doubts, r)) {
                doubtful[doubts++] = r;
            }
        }
        boolean computed = false;
        for (int subset = 0; subset < 1 << doubts; subset++) {
            int leftOut = always | slotsOf(subset, doubts);
            float lost = 0f;
            for (int j = 0; j < topK; j++) {
                if ((leftOut >>> j & 1) != 0) {
                    lost += weights[t * topK + j];
                }
            }
            if (Float.floatToRawIntBits(lost) != Float.floatToRawIntBits(lostWeight)) {
                continue;
            }
            if (!computed) {
                runExperts(t, bits, logical, always);
                computed = true;
            }
            if (outputMatches(t, weights, leftOut, outAddress)) {
                return true;
            }
        }
        return false;
    }

    /** The slots (bit j) whose rank is among the {@code doubtful} ranks that {@code subset} picks. */
    private int slotsOf(int subset, int doubts) {
        int slots = 0;
        for (int j = 0; j < topK; j++) {
            for (int d = 0; d < doubts; d++) {
                if ((subset >>> d & 1) != 0 && slotRank[j] == doubtful[d]) {
                    slots |= 1 << j;
                }
            }
        }
        return slots;
    }

    /** Every routed slot's expert output for token {@code t}, except the slots always left out (never read). */
    private void runExperts(int t, short[] bits, long[] logical, int alwaysOut) {
        experts.widen(bits, t * hidden, x);
        for (int j = 0; j < topK; j++) {
            if (slotRank[j] >= 0 && (alwaysOut >>> j & 1) == 0) {
                experts.apply((int) logical[t * topK + j], x, y[j]);
            }
        }
    }

    /** Whether the output row equals the reference with the slots in {@code leftOut} left out. */
    private boolean outputMatches(int t, float[] weights, int leftOut, long outAddress) {
        Arrays.fill(acc, 0f);
        for (int r = 0; r < ranks; r++) {
            boolean used = false;
            Arrays.fill(partial, 0f);
            for (int j = 0; j < topK; j++) {
                if (slotRank[j] != r || (leftOut >>> j & 1) != 0) {
                    continue;
                }
                used = true;
                float w = weights[t * topK + j];
                float[] out = y[j];
                for (int h = 0; h < hidden; h++) {
                    partial[h] += w * out[h];
                }
            }
            if (used) {
                for (int h = 0; h < hidden; h++) {
                    acc[h] += ExpertMath.roundToBf16(partial[h]);
                }
            }
        }
        return ReferenceCheck.rowMatches(acc, outAddress + 2L * hidden * t, hidden);
    }

    private static boolean contains(int[] values, int count, int value) {
        for (int i = 0; i < count; i++) {
            if (values[i] == value) {
                return true;
            }
        }
        return false;
    }
}
