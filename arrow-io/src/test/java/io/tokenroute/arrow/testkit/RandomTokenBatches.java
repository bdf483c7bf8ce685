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
package io.tokenroute.arrow.testkit;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.types.HiddenDtype;
import java.util.Random;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.util.MemoryUtil;

/** Random, never-zero token batch contents for tests in every package. */
public final class RandomTokenBatches {
    private RandomTokenBatches() {}

    /** Gaussian values scaled by 3, with exact zeros replaced. */
    public static float[] floats(Random rng, int count) {
        float[] x = new float[count];
        for (int i = 0; i < count; i++) {
            float v = (float) rng.nextGaussian() * 3f;
            x[i] = v == 0f ? 0.5f : v;
        }
        return x;
    }

    /** Expert ids in {@code [1, experts)}, with some {@code -1}: never 0, so a zeroed buffer cannot pass. */
    public static long[] idx(Random rng, int count, int experts) {
        long[] idx = new long[count];
        for (int i = 0; i < count; i++) {
            idx[i] = rng.nextInt(8) == 0 ? -1 : 1 + rng.nextInt(experts - 1);
        }
        return idx;
    }

    /** Weights in {@code [0.01, 1.01)}. */
    public static float[] weights(Random rng, int count) {
        float[] w = new float[count];
        for (int i = 0; i < count; i++) {
            w[i] = 0.01f + rng.nextFloat();
        }
        return w;
    }

    /** A random host batch of {@code n} tokens. */
    public static TokenBatch batch(
            BufferAllocator allocator, Random rng, HiddenDtype dtype, int n, int hidden, int topK) {
        return TokenBatch.fromFloats(
                allocator,
                dtype,
                hidden,
                floats(rng, n * hidden),
                topK,
                idx(rng, n * topK, 64),
                weights(rng, n * topK));
    }

    /**
     * A bf16 host batch of about {@code bytes} bytes of hidden data (H = 7168, k = 8), filled with a non-zero byte
     * pattern by {@link MemoryUtil#setMemory}, without a Java array of that size.
     */
    public static TokenBatch patterned(BufferAllocator allocator, long bytes) {
        int hidden = 7168;
        int topK = 8;
        int n = Math.toIntExact(bytes / (2L * hidden));
        try (ArrowBuf h = allocator.buffer((long) n * hidden * 2);
                ArrowBuf idx = allocator.buffer(8L * n * topK);
                ArrowBuf w = allocator.buffer(4L * n * topK)) {
            MemoryUtil.setMemory(h.memoryAddress(), h.capacity(), (byte) 0x3c);
            MemoryUtil.setMemory(idx.memoryAddress(), idx.capacity(), (byte) 0x01);
            MemoryUtil.setMemory(w.memoryAddress(), w.capacity(), (byte) 0x3e);
            return TokenBatch.fromBuffers(allocator, MemoryLocation.HOST, HiddenDtype.BF16, n, hidden, topK, h, idx, w);
        }
    }
}
