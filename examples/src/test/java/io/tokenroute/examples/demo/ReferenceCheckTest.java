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
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.junit.jupiter.api.Test;

/**
 * The reference check accepts the exact combine output and nothing else: a flipped bit or a wrong lost weight fails.
 */
class ReferenceCheckTest {
    private static final int HIDDEN = 32;
    private static final int TOP_K = 3;
    private static final int SLOTS = 2;

    @Test
    void acceptsExactlyTheCombineOutput() {
        BlockExperts experts = new BlockExperts(1, 4, HIDDEN);
        SyntheticModel model = new SyntheticModel(1, 4, HIDDEN, TOP_K);
        short[] bits = new short[HIDDEN];
        long[] logical = new long[TOP_K];
        float[] weights = new float[TOP_K];
        model.hiddenStates(0, 0, 1, bits);
        model.route(0, 0, 0, new boolean[] {true, true, true, true}, new float[4], logical, weights, 0);
        long[] physical = {2, 0, 3}; // slots on ranks 1, 0, 1
        int[] masked = {0, 1}; // rank 1 masked: slots 2 and 3 lost
        float lost = weights[0] + weights[2];
        short[] expected = combineOf(experts, bits, logical[1], weights[1]);
        ReferenceCheck check = new ReferenceCheck(experts, HIDDEN, TOP_K, SLOTS);
        try (BufferAllocator allocator = new RootAllocator();
                ArrowBuf out = allocator.buffer(2L * HIDDEN)) {
            for (int h = 0; h < HIDDEN; h++) {
                MemoryUtil.putShort(out.memoryAddress() + 2L * h, expected[h]);
            }
            assertTrue(check.matches(0, bits, logical, physical, weights, masked, out.memoryAddress(), lost));
            assertFalse(
                    check.matches(0, bits, logical, physical, weights, masked, out.memoryAddress(), weights[0]),
                    "wrong lost weight");
            assertFalse(
                    check.matches(0, bits, logical, physical, weights, new int[2], out.memoryAddress(), 0f),
                    "the output lacks two experts");
            MemoryUtil.putShort(out.memoryAddress() + 2L * 7, (short) (expected[7] ^ 1));
            assertFalse(
                    check.matches(0, bits, logical, physical, weights, masked, out.memoryAddress(), lost),
                    "one flipped bit");
        }
    }

    /** bf16(w · expert(x)) for one surviving expert: the combine of a token that lost its other two. */
    private static short[] combineOf(BlockExperts experts, short[] bits, long expert, float w) {
        float[] x = new float[HIDDEN];
        float[] y = new float[HIDDEN];
        for (int h = 0; h < HIDDEN; h++) {
            x[h] = BFloat16.toFloat(bits[h]);
        }
        experts.apply((int) expert, x, y);
        short[] out = new short[HIDDEN];
        for (int h = 0; h < HIDDEN; h++) {
            out[h] = BFloat16.fromFloat(0f + w * y[h]);
        }
        return out;
    }
}
