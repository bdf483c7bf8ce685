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
package io.tokenroute.routing.testkit;

import io.tokenroute.arrow.batch.TokenBatch;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;

/**
 * One rank's random inputs for one step, as plain Java arrays: {@code bits [n][H]} bf16 patterns (finite, never all
 * zero), {@code idx [n][k]} with -1 entries and no expert twice per token, {@code weights [n][k]}.
 */
public record RankInput(int n, int hidden, int topK, short[] bits, long[] idx, float[] weights) {

    /** Deterministic inputs for (seed, step, rank). */
    public static RankInput random(
            long seed, long step, int rank, int maxTokens, int hidden, int topK, int experts, boolean allowEmpty) {
        Random rng = new Random(seed * 1_000_003L + step * 7919L + rank);
        int n = allowEmpty ? rng.nextInt(maxTokens + 1) : 1 + rng.nextInt(maxTokens);
        if (rng.nextInt(5) == 0) {
            n = maxTokens;
        }
        return random(rng, n, hidden, topK, experts);
    }

    /** Random inputs of exactly {@code n} tokens. */
    public static RankInput random(Random rng, int n, int hidden, int topK, int experts) {
        short[] bits = new short[n * hidden];
        for (int i = 0; i < bits.length; i++) {
            float v = (float) rng.nextGaussian() * 2f + 0.03125f;
            bits[i] = (short) (Float.floatToRawIntBits(v) >>> 16);
        }
        long[] idx = new long[n * topK];
        float[] weights = new float[n * topK];
        int[] pool = new int[experts];
        for (int t = 0; t < n; t++) {
            for (int e = 0; e < experts; e++) {
                pool[e] = e;
            }
            for (int j = 0; j < topK; j++) {
                if (rng.nextInt(8) == 0 || j >= experts) {
                    idx[t * topK + j] = -1;
                } else {
                    int pick = j + rng.nextInt(experts - j);
                    int tmp = pool[j];
                    pool[j] = pool[pick];
                    pool[pick] = tmp;
                    idx[t * topK + j] = pool[j];
                }
                weights[t * topK + j] = 0.05f + rng.nextFloat();
            }
        }
        return new RankInput(n, hidden, topK, bits, idx, weights);
    }

    /** A host bf16 batch of these inputs; the caller closes it. */
    public TokenBatch toBatch(BufferAllocator allocator) {
        return TokenBatch.fromBf16Bits(allocator, hidden, bits, topK, idx, weights);
    }
}
