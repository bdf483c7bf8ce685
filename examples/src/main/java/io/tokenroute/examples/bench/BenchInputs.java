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
package io.tokenroute.examples.bench;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.device.CudaDevice;
import io.tokenroute.examples.demo.SyntheticModel;
import io.tokenroute.examples.python.DeviceTokenBatch;
import java.util.Arrays;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The benches' random decode-step inputs: hidden values uniform in [-2, 2) as bf16 bits; top-k distinct experts per
 * token, either uniform (a partial Fisher-Yates shuffle of all experts, routing weights in [0.05, 0.05 + 1/k)) or
 * chosen by the demo's router under a {@link BenchSkew} (softmax weights); and the floor's inputs, the same batch with
 * every {@code topk_idx} = -1.
 */
final class BenchInputs {
    private BenchInputs() {}

    /**
     * One rank's input as plain arrays: {@code x} bf16 bits [T][H], {@code idx} int64 [T][k], {@code w} float32 [T][k].
     */
    record Draw(short[] x, long[] idx, float[] w) {
        /**
         * The same shapes, hidden values and weights with no expert at all ({@code topk_idx} = -1 everywhere): the
         * benches' floor, which runs the same calls and kernels but routes no row.
         */
        Draw withoutRows() {
            long[] none = new long[idx.length];
            Arrays.fill(none, -1L);
            return new Draw(x, none, w);
        }
    }

    /**
     * The demo router's skewed routing for {@code rank}'s tokens of input set {@code set}. One router serves every
     * rank of a run, so the experts' popularity (which experts are hot) is the same for all of them.
     *
     * @param router built with the run's seed, {@code experts}, {@code topK} and the {@link BenchSkew#routing()}
     */
    static Draw draw(
            Random rng, int tokens, int hidden, int topK, int experts, SyntheticModel router, int set, int rank) {
        short[] x = hiddenValues(rng, tokens, hidden);
        long[] idx = new long[tokens * topK];
        float[] w = new float[tokens * topK];
        boolean[] hosted = new boolean[experts];
        Arrays.fill(hosted, true);
        float[] logits = new float[experts];
        for (int t = 0; t < tokens; t++) {
            router.route(set, rank, t, hosted, logits, idx, w, t * topK);
        }
        return new Draw(x, idx, w);
    }

    /** The router of a skewed run: one per run, shared by its ranks and input sets. */
    static SyntheticModel router(long seed, int experts, int hidden, int topK, BenchSkew skew) {
        return new SyntheticModel(seed, experts, hidden, topK, skew.routing());
    }

    private static short[] hiddenValues(Random rng, int tokens, int hidden) {
        short[] x = new short[tokens * hidden];
        for (int i = 0; i < x.length; i++) {
            x[i] = (short) (Float.floatToRawIntBits(rng.nextFloat() * 4f - 2f) >>> 16);
        }
        return x;
    }

    /** Draws x first, then each token's experts and weights, from {@code rng}. */
    static Draw draw(Random rng, int tokens, int hidden, int topK, int experts) {
        short[] x = hiddenValues(rng, tokens, hidden);
        long[] idx = new long[tokens * topK];
        float[] w = new float[tokens * topK];
        int[] pool = new int[experts];
        for (int t = 0; t < tokens; t++) {
            for (int e = 0; e < experts; e++) {
                pool[e] = e;
            }
            for (int j = 0; j < topK; j++) {
                int pick = j + rng.nextInt(experts - j);
                int chosen = pool[pick];
                pool[pick] = pool[j];
                pool[j] = chosen;
                idx[t * topK + j] = chosen;
                w[t * topK + j] = 0.05f + rng.nextFloat() / topK;
            }
        }
        return new Draw(x, idx, w);
    }

    /**
     * The draw as a bf16 batch in {@code device}'s memory, uploaded and waited for.
     *
     * @return the device batch; the caller closes it (its memory goes with the last Arrow reference)
     */
    static DeviceTokenBatch upload(BufferAllocator allocator, CudaDevice device, Draw draw, int hidden, int topK) {
        try (TokenBatch host = TokenBatch.fromBf16Bits(allocator, hidden, draw.x(), topK, draw.idx(), draw.w())) {
            DeviceTokenBatch uploaded = DeviceTokenBatch.upload(allocator, device, host);
            try {
                uploaded.readyEvent().synchronize();
            } catch (RuntimeException e) {
                uploaded.close();
                throw e;
            }
            return uploaded;
        }
    }
}
