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
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.memory.DeviceMemoryAccessException;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.testkit.RandomTokenBatches;
import io.tokenroute.arrow.types.HiddenDtype;
import java.util.Arrays;
import java.util.Random;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

class PhysicalMappingTest {

    /** 64 experts on 8 ranks × (8 + 1) slots after rank 3 failed: 8 lost experts, 7 free slots, so one unhosted. */
    private static ExpertPlacement degraded(Random rng) {
        long[] load = new long[64];
        for (int e = 0; e < 64; e++) {
            load[e] = 1 + rng.nextInt(1000);
        }
        ExpertPlacement p = ExpertPlacement.initial(64, 8, 1).replan(ReplanTest.mask(8, 3), load);
        assertEquals(1, p.unhostedExperts().length);
        return p;
    }

    /** Each of 8 experts hosted twice: rank r holds 2r, 2r+1 and replicas of (2r+2) mod 8, (2r+3) mod 8. */
    private static ExpertPlacement replicated() {
        int[] table = new int[16];
        for (int r = 0; r < 4; r++) {
            for (int j = 0; j < 4; j++) {
                table[4 * r + j] = (2 * r + j) % 8;
            }
        }
        return ExpertPlacement.of(8, 4, 4, table);
    }

    private static long[] randomIdx(Random rng, int count, int experts) {
        long[] idx = new long[count];
        for (int i = 0; i < count; i++) {
            idx[i] = rng.nextInt(6) == 0 ? -1 : rng.nextInt(experts);
        }
        return idx;
    }

    @Test
    void mappedIdsHostTheSameLogicalExpertWhileMinusOneAndUnhostedExpertsMapToMinusOne() {
        Random rng = new Random(3);
        ExpertPlacement p = degraded(rng);
        int unhosted = p.unhostedExperts()[0];
        int k = 8;
        long[] idx = randomIdx(rng, 200 * k, 64);
        idx[0] = unhosted;
        idx[9] = unhosted;
        idx[1] = -1;
        long[] out = new long[idx.length];
        p.toPhysical(idx, k, out);
        int mapped = 0;
        for (int i = 0; i < idx.length; i++) {
            if (idx[i] == -1 || idx[i] == unhosted) {
                assertEquals(-1, out[i], "entry " + i);
            } else {
                assertEquals(idx[i], p.logicalAt((int) out[i]), "entry " + i);
                assertEquals(out[i], p.toPhysical(idx[i], i / k));
                mapped++;
            }
        }
        assertTrue(mapped > idx.length / 2);

        long[] inPlace = idx.clone();
        p.toPhysical(inPlace, k, inPlace);
        assertArrayEquals(out, inPlace);
    }

    @Test
    void replicasAreChosenByTokenPlusLogicalIdModuloReplicasAndAllGetUsed() {
        Random rng = new Random(8);
        ExpertPlacement p = replicated();
        int k = 4;
        int n = 500;
        long[] idx = new long[n * k];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = rng.nextInt(8);
        }
        long[] out = new long[idx.length];
        p.toPhysical(idx, k, out);
        long[] again = new long[idx.length];
        p.toPhysical(idx, k, again);
        assertArrayEquals(out, again);

        int[] perSlot = new int[16];
        int[] perExpert = new int[8];
        for (int i = 0; i < idx.length; i++) {
            int e = (int) idx[i];
            int[] hosts = p.hostsOf(e);
            assertEquals(2, hosts.length);
            assertEquals(hosts[(i / k + e) % 2], out[i], "entry " + i);
            perSlot[(int) out[i]]++;
            perExpert[e]++;
        }
        for (int e = 0; e < 8; e++) {
            for (int slot : p.hostsOf(e)) {
                double share = (double) perSlot[slot] / perExpert[e];
                assertTrue(share > 0.3 && share < 0.7, "replica " + slot + " of expert " + e + " got " + share);
            }
        }
    }

    @Test
    void badIdsAreRejectedBeforeAnythingIsWritten() {
        ExpertPlacement p = ExpertPlacement.initial(16, 4, 1);
        long[] out = new long[4];
        Arrays.fill(out, 99);
        assertThrows(IllegalArgumentException.class, () -> p.toPhysical(new long[] {3, 5, 16, 1}, 2, out));
        assertThrows(IllegalArgumentException.class, () -> p.toPhysical(new long[] {3, 5, -2, 1}, 2, out));
        assertArrayEquals(new long[] {99, 99, 99, 99}, out);
        assertThrows(IllegalArgumentException.class, () -> p.toPhysical(new long[] {3, 5, 1}, 2, out));
        assertThrows(IllegalArgumentException.class, () -> p.toPhysical(new long[] {3, 5}, 2, new long[1]));
        assertThrows(IllegalArgumentException.class, () -> p.toPhysical(3, -1));
    }

    @Test
    void unhostedWeightSumsTheWeightsOfExactlyTheUnhostedExperts() {
        Random rng = new Random(21);
        ExpertPlacement p = degraded(rng);
        int unhosted = p.unhostedExperts()[0];
        int k = 6;
        int n = 150;
        long[] idx = randomIdx(rng, n * k, 64);
        for (int t = 0; t < n; t += 3) {
            idx[t * k + rng.nextInt(k)] = unhosted;
        }
        float[] w = RandomTokenBatches.weights(rng, n * k);
        int damaged = 0;
        for (int t = 0; t < n; t++) {
            float expected = 0f;
            for (int j = 0; j < k; j++) {
                if (idx[t * k + j] == unhosted) {
                    expected += w[t * k + j];
                }
            }
            assertEquals(expected, p.unhostedWeight(idx, w, k, t), 0f, "token " + t);
            damaged += expected != 0f ? 1 : 0;
        }
        assertTrue(damaged >= n / 3);
        assertThrows(IllegalArgumentException.class, () -> p.unhostedWeight(idx, w, k, n));
        assertThrows(IllegalArgumentException.class, () -> p.unhostedWeight(idx, new float[3], k, 0));
    }

    @Test
    void batchVariantSharesHiddenAndWeightsBuffersMapsIdsAndLeaksNothing() {
        Random rng = new Random(44);
        ExpertPlacement p = degraded(rng);
        try (BufferAllocator allocator = new RootAllocator()) {
            TokenBatch logical = RandomTokenBatches.batch(allocator, rng, HiddenDtype.BF16, 33, 64, 4);
            long[] logicalIdx = logical.topkIdx();
            float[] hidden = logical.hiddenAsFloats();
            long[] expectedIdx = new long[logicalIdx.length];
            p.toPhysical(logicalIdx, 4, expectedIdx);
            try (TokenBatch physical = p.toPhysical(allocator, logical)) {
                assertEquals(logical.hiddenAddress(), physical.hiddenAddress(), "hidden rows are not copied");
                assertEquals(logical.topkWeightsAddress(), physical.topkWeightsAddress());
                assertNotEquals(logical.topkIdxAddress(), physical.topkIdxAddress());
                assertArrayEquals(expectedIdx, physical.topkIdx());
                assertArrayEquals(logicalIdx, logical.topkIdx(), "the input's ids are untouched");
                assertEquals(33, physical.numTokens());
                assertEquals(HiddenDtype.BF16, physical.dtype());
                logical.close(); // the new batch holds its own references to the shared buffers
                assertArrayEquals(hidden, physical.hiddenAsFloats());
            }
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }

    @Test
    void batchVariantRejectsBadIdsAndDeviceBatchesWithoutLeaking() {
        ExpertPlacement p = ExpertPlacement.initial(16, 4, 1);
        try (BufferAllocator allocator = new RootAllocator()) {
            try (TokenBatch bad = TokenBatch.fromFloats(
                    allocator, HiddenDtype.FP32, 2, new float[] {1, 2, 3, 4}, 2, new long[] {1, 2, 3, 16}, new float[] {
                        0.5f, 0.5f, 0.5f, 0.5f
                    })) {
                assertThrows(IllegalArgumentException.class, () -> p.toPhysical(allocator, bad));
            }
            // host buffers labelled as CUDA memory: nothing may read them, and toPhysical must refuse
            try (ArrowBuf h = allocator.buffer(16);
                    ArrowBuf i = allocator.buffer(32);
                    ArrowBuf w = allocator.buffer(16);
                    TokenBatch device = TokenBatch.fromBuffers(
                            allocator, MemoryLocation.cuda(0), HiddenDtype.FP32, 2, 2, 2, h, i, w)) {
                assertThrows(DeviceMemoryAccessException.class, () -> p.toPhysical(allocator, device));
            }
            assertEquals(0, allocator.getAllocatedMemory());
        }
    }
}
