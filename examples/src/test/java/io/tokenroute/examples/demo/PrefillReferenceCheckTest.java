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

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.numeric.BFloat16;
import java.util.Arrays;
import java.util.Random;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The prefill reference check (docs/contract.md §3b.3, §3b.5) accepts a token's output only where it is the
 * rank-ordered sum of per-rank bf16 partial rows with exactly the ranks its lost weight names left out, and only ranks
 * masked after the round may be left out (those masked before it must be): a flipped bit, a wrong lost weight, a rank
 * left out that nobody masked, or the decode mode's single fp32 sum over all experts fails. The expected rows are
 * computed here by plain loops, independently of the check.
 */
class PrefillReferenceCheckTest {
    private static final int RANKS = 3;
    private static final int SLOTS = 2;
    private static final int HIDDEN = 32;
    private static final int TOP_K = 4;
    /** Slots 0, 2, 3, 4: the token's experts live on ranks 0, 1, 1, 2. */
    private static final long[] PHYSICAL = {0, 2, 3, 4};

    private static final long[] LOGICAL = {4, 0, 5, 2};
    private static final int[] RANK_OF_SLOT = {0, 1, 1, 2};
    private static final int[] NONE = new int[RANKS];

    private final BlockExperts experts = new BlockExperts(7, 6, HIDDEN);
    private final short[] bits = new short[HIDDEN];
    private final float[] weights = new float[TOP_K];
    private PrefillReferenceCheck check;

    @BeforeEach
    void token() {
        new SyntheticModel(7, 6, HIDDEN, TOP_K).hiddenStates(0, 0, 1, bits);
        Random random = new Random(11);
        for (int j = 0; j < TOP_K; j++) {
            weights[j] = 0.05f + random.nextFloat();
        }
        check = new PrefillReferenceCheck(experts, RANKS, HIDDEN, TOP_K, SLOTS);
    }

    @Test
    void withoutMasksOnlyTheFullRankOrderedSumMatches() {
        try (BufferAllocator allocator = new RootAllocator();
                ArrowBuf out = allocator.buffer(2L * HIDDEN)) {
            assertTrue(matches(out, expected(), 0f, NONE, NONE));
            assertFalse(matches(out, expected(1), lost(1), NONE, NONE), "rank 1 left out although nobody masked it");
            assertFalse(matches(out, expected(), weights[0], NONE, NONE), "wrong lost weight");
            short[] flipped = expected();
            flipped[9] ^= 1;
            assertFalse(matches(out, flipped, 0f, NONE, NONE), "one flipped bit");
            short[] decodeStyle = singleSum();
            assertFalse(Arrays.equals(decodeStyle, expected()), "the test token tells the two sums apart");
            assertFalse(matches(out, decodeStyle, 0f, NONE, NONE), "one fp32 sum over all experts is not §3b.3");
        }
    }

    @Test
    void aRankMaskedDuringTheRoundMayBeLeftOutExactlyAsTheLostWeightSays() {
        int[] after = {0, 1, 0};
        try (BufferAllocator allocator = new RootAllocator();
                ArrowBuf out = allocator.buffer(2L * HIDDEN)) {
            assertTrue(matches(out, expected(), 0f, NONE, after), "rank 1's partial row arrived before its mask");
            assertTrue(matches(out, expected(1), lost(1), NONE, after), "rank 1's partial row was lost");
            assertFalse(matches(out, expected(1), 0f, NONE, after), "left out without lost weight");
            assertFalse(matches(out, expected(), lost(1), NONE, after), "lost weight for a partial row that was used");
            assertFalse(matches(out, expected(2), lost(2), NONE, after), "rank 2 was not masked");
        }
    }

    @Test
    void aRankMaskedBeforeTheRoundIsAlwaysLeftOut() {
        int[] before = {0, 0, 1};
        int[] after = {0, 1, 1};
        try (BufferAllocator allocator = new RootAllocator();
                ArrowBuf out = allocator.buffer(2L * HIDDEN)) {
            assertFalse(matches(out, expected(), 0f, before, before), "rank 2 was masked before the round");
            assertTrue(matches(out, expected(2), lost(2), before, before));
            assertTrue(matches(out, expected(2), lost(2), before, after), "rank 1's row arrived");
            assertTrue(matches(out, expected(1, 2), lost(1, 2), before, after), "rank 1's row was lost too");
            assertFalse(matches(out, expected(1), lost(1), before, after), "rank 2 used although masked before");
        }
    }

    private boolean matches(ArrowBuf out, short[] row, float lostWeight, int[] maskBefore, int[] maskAfter) {
        for (int h = 0; h < HIDDEN; h++) {
            MemoryUtil.putShort(out.memoryAddress() + 2L * h, row[h]);
        }
        return check.matches(
                0, bits, LOGICAL, PHYSICAL, weights, maskBefore, maskAfter, out.memoryAddress(), lostWeight);
    }

    /** The weights of the slots on {@code leftOut}, summed in top-k order. */
    private float lost(int... leftOut) {
        float lost = 0f;
        for (int j = 0; j < TOP_K; j++) {
            if (contains(leftOut, RANK_OF_SLOT[j])) {
                lost += weights[j];
            }
        }
        return lost;
    }

    /** Per rank ascending, bf16 of the fp32 sum over its slots in top-k order; their fp32 sum rounded once. */
    private short[] expected(int... leftOut) {
        float[][] y = expertOutputs();
        float[] acc = new float[HIDDEN];
        for (int r = 0; r < RANKS; r++) {
            if (contains(leftOut, r)) {
                continue;
            }
            float[] partial = new float[HIDDEN];
            for (int j = 0; j < TOP_K; j++) {
                if (RANK_OF_SLOT[j] == r) {
                    for (int h = 0; h < HIDDEN; h++) {
                        partial[h] += weights[j] * y[j][h];
                    }
                }
            }
            for (int h = 0; h < HIDDEN; h++) {
                acc[h] += BFloat16.toFloat(BFloat16.fromFloat(partial[h]));
            }
        }
        return toBf16(acc);
    }

    /** The low-latency combine's sum: one fp32 sum over every expert in top-k order, rounded once. */
    private short[] singleSum() {
        float[][] y = expertOutputs();
        float[] acc = new float[HIDDEN];
        for (int j = 0; j < TOP_K; j++) {
            for (int h = 0; h < HIDDEN; h++) {
                acc[h] += weights[j] * y[j][h];
            }
        }
        return toBf16(acc);
    }

    private float[][] expertOutputs() {
        float[] x = new float[HIDDEN];
        for (int h = 0; h < HIDDEN; h++) {
            x[h] = BFloat16.toFloat(bits[h]);
        }
        float[][] y = new float[TOP_K][HIDDEN];
        for (int j = 0; j < TOP_K; j++) {
            experts.apply((int) LOGICAL[j], x, y[j]);
        }
        return y;
    }

    private static short[] toBf16(float[] values) {
        short[] out = new short[values.length];
        for (int h = 0; h < values.length; h++) {
            out[h] = BFloat16.fromFloat(values[h]);
        }
        return out;
    }

    private static boolean contains(int[] values, int value) {
        return Arrays.stream(values).anyMatch(v -> v == value);
    }
}
