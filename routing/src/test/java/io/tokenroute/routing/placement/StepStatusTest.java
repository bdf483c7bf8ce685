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
package io.tokenroute.routing.placement;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class StepStatusTest {

    @Test
    void damagedTokensAreExactlyThoseWithLostWeightAscending() {
        Random rng = new Random(9);
        for (int trial = 0; trial < 20; trial++) {
            int n = 1 + rng.nextInt(300);
            float[] lost = new float[n + 7]; // a reused buffer larger than the step
            for (int t = 0; t < lost.length; t++) {
                lost[t] = rng.nextInt(3) == 0 ? 0.01f + rng.nextFloat() : 0f;
            }
            int[] expected = IntStream.range(0, n).filter(t -> lost[t] > 0).toArray();
            StepStatus status = StepStatus.of(new int[] {5, 2}, lost, n);
            assertArrayEquals(expected, status.damagedTokens(), "trial " + trial);
            assertArrayEquals(
                    expected, StepStatus.of(new int[] {5, 2}, t -> lost[t], n).damagedTokens());
            assertArrayEquals(new int[] {2, 5}, status.newlyMaskedRanks());
            assertEquals(n, status.numTokens());
            assertFalse(status.isHealthy());
        }
    }

    @Test
    void healthyOnlyWithoutNewMasksAndWithoutLostWeight() {
        float[] clean = new float[64];
        assertTrue(StepStatus.of(new int[0], clean, 64).isHealthy());
        assertFalse(StepStatus.of(new int[] {3}, clean, 64).isHealthy(), "a new failure with no damaged token");
        float[] oneLost = new float[64];
        oneLost[41] = 0.25f;
        StepStatus status = StepStatus.of(new int[0], oneLost, 64);
        assertFalse(status.isHealthy());
        assertArrayEquals(new int[] {41}, status.damagedTokens());
        assertTrue(StepStatus.of(new int[0], oneLost, 41).isHealthy(), "entries past numTokens are not read");
    }

    @Test
    void ranksAreSortedDistinctAndCopied() {
        int[] ranks = {7, 1, 7, 4};
        StepStatus status = StepStatus.of(ranks, new float[1], 1);
        ranks[1] = 0;
        int[] out = status.newlyMaskedRanks();
        assertArrayEquals(new int[] {1, 4, 7}, out);
        out[0] = 99;
        assertArrayEquals(new int[] {1, 4, 7}, status.newlyMaskedRanks());
        assertThrows(IllegalArgumentException.class, () -> StepStatus.of(new int[] {-1}, new float[1], 1));
        assertThrows(IllegalArgumentException.class, () -> StepStatus.of(new int[0], new float[1], 2));
        assertThrows(IllegalArgumentException.class, () -> StepStatus.of(new int[0], new float[1], -1));
    }

    @Test
    void newlyMaskedIsTheDifferenceOfTwoMaskSnapshots() {
        assertArrayEquals(
                new int[] {2, 6},
                StepStatus.newlyMasked(new int[] {0, 1, 0, 0, 0, 1, 0, 0}, new int[] {0, 1, 1, 0, 0, 1, 1, 0}));
        assertArrayEquals(
                new int[0],
                StepStatus.newlyMasked(new int[] {1, 0}, new int[] {0, 0}),
                "a readmitted rank is not a new failure");
        assertThrows(IllegalArgumentException.class, () -> StepStatus.newlyMasked(new int[2], new int[3]));
    }
}
