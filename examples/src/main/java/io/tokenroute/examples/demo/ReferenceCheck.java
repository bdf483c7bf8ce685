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
import org.apache.arrow.memory.util.MemoryUtil;

/**
 * The plain-loop reference a rank checks its combine output against (docs/contract.md §2): for token {@code t},
 * {@code out[t] = bf16(Σ_k w[t][k] · expert_k(x[t]))} over the top-k slots whose expert is hosted and whose physical
 * slot's rank is not masked, accumulated in fp32 in top-k order (multiply, then add) and rounded once, as the library
 * does, so the check is bit-exact; and {@code lost_weight[t] = Σ w} over the slots whose rank is masked.
 *
 * <p>Built from the token's own inputs and the expert weights only, never from anything the routing library returned.
 * One instance per rank thread (it owns scratch rows); allocates nothing per call.
 */
final class ReferenceCheck {
    private final BlockExperts experts;
    private final int hidden;
    private final int topK;
    private final int slotsPerRank;
    private final float[] x;
    private final float[] y;
    private final float[] acc;

    ReferenceCheck(BlockExperts experts, int hidden, int topK, int slotsPerRank) {
        this.experts = experts;
        this.hidden = hidden;
        this.topK = topK;
        this.slotsPerRank = slotsPerRank;
        this.x = new float[hidden];
        this.y = new float[hidden];
        this.acc = new float[hidden];
    }

    /**
     * Whether token {@code t}'s combine output matches the reference bit for bit.
     *
     * @param bits the round's hidden states, bf16 {@code [n][H]}
     * @param logical the round's logical top-k ids {@code [n][k]} ({@code -1} = none)
     * @param physical the same slots mapped to physical expert slots ({@code -1} = none or unhosted)
     * @param weights the round's routing weights {@code [n][k]}
     * @param masked this rank's mask after the round (1 = masked)
     * @param outAddress address of the combine output's {@code hidden[0][0]} (bf16 {@code [n][H]})
     * @param lostWeight the combine output's {@code lost_weight[t]}
     */
    boolean matches(
            int t,
            short[] bits,
            long[] logical,
            long[] physical,
            float[] weights,
            int[] masked,
            long outAddress,
            float lostWeight) {
        experts.widen(bits, t * hidden, x);
        Arrays.fill(acc, 0f);
        float lost = 0f;
        for (int j = 0; j < topK; j++) {
            int i = t * topK + j;
            if (logical[i] < 0 || physical[i] < 0) {
                continue;
            }
            float w = weights[i];
            if (masked[(int) physical[i] / slotsPerRank] != 0) {
                lost += w;
                continue;
            }
            experts.apply((int) logical[i], x, y);
            for (int h = 0; h < hidden; h++) {
                acc[h] += w * y[h];
            }
        }
        if (Float.floatToRawIntBits(lost) != Float.floatToRawIntBits(lostWeight)) {
            return false;
        }
        return rowMatches(acc, outAddress + 2L * hidden * t, hidden);
    }

    /** Whether the bf16 row at {@code row} holds exactly {@code bf16(acc[h])} (rounded once, to nearest even). */
    static boolean rowMatches(float[] acc, long row, int hidden) {
        for (int h = 0; h < hidden; h++) {
            short expected = (short) (Float.floatToRawIntBits(ExpertMath.roundToBf16(acc[h])) >>> 16);
            if (expected != MemoryUtil.getShort(row + 2L * h)) {
                return false;
            }
        }
        return true;
    }
}
