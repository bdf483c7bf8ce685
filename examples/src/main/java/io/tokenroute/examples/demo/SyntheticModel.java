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

/**
 * The demo's stand-in for a model's decode step: the hidden states each rank holds and the router's top-k choice for
 * them. Both are pure functions of {@code (seed, step, rank, token)}, so any thread can regenerate any rank's inputs
 * (the reference check does not have to trust what went over the wire).
 *
 * <p>The router picks the k largest of {@code popularity[e] + noise} (noise uniform in [0, 2.5)) and weights them with
 * a softmax over the chosen logits (weights sum to 1, so a token's lost weight reads as the fraction of its output
 * that went missing). A fixed per-expert popularity makes some experts hotter than others, which gives load-aware
 * re-placement something to balance, but by default only mildly (the ranks' loads stay within about 10% of each
 * other), since a rank hosting hot experts computes longer and its peers' waits for it count against the timeout;
 * {@link RoutingSkew} makes it Zipf-shaped or gives one expert every token.
 *
 * <p>Immutable and thread-safe; allocates nothing (callers pass scratch).
 */
public final class SyntheticModel {
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;
    private static final float NOISE = 2.5f;

    private final long seed;
    private final int experts;
    private final int hidden;
    private final int topK;
    private final float[] popularity;
    private final boolean gumbel;

    /**
     * @param seed the run's seed
     * @param experts logical experts the router chooses from
     * @param hidden H
     * @param topK experts per token, at most {@code experts}
     */
    public SyntheticModel(long seed, int experts, int hidden, int topK) {
        this(seed, experts, hidden, topK, RoutingSkew.MILD);
    }

    /**
     * @param seed the run's seed
     * @param experts logical experts the router chooses from
     * @param hidden H
     * @param topK experts per token, at most {@code experts}
     * @param skew how unevenly tokens spread over the experts
     */
    public SyntheticModel(long seed, int experts, int hidden, int topK, RoutingSkew skew) {
        if (topK > experts) {
            throw new IllegalArgumentException("topK " + topK + " exceeds experts " + experts);
        }
        this.seed = seed;
        this.experts = experts;
        this.hidden = hidden;
        this.topK = topK;
        this.popularity = skew.popularity(seed, experts, NOISE);
        this.gumbel = skew.samplesInProportion();
    }

    /**
     * Fills {@code out[0 .. n × H)} with the bf16 bits of rank {@code rank}'s hidden states at {@code step}: finite,
     * never zero, magnitudes in {@code [1/8, 2)}, random signs (so expert outputs cancel and round non-trivially).
     */
    public void hiddenStates(int step, int rank, int n, short[] out) {
        long base = streamBase(step, rank, 1);
        int count = n * hidden;
        for (int i = 0; i < count; i += 4) {
            long r = splitMix(base + (long) i * GOLDEN);
            for (int j = 0; j < 4 && i + j < count; j++) {
                int bits = (int) (r >>> (16 * j)) & 0xFFFF;
                int sign = bits & 0x8000;
                int exponent = 124 + ((bits >>> 7) & 3);
                out[i + j] = (short) (sign | exponent << 7 | (bits & 0x7F));
            }
        }
    }

    /**
     * Routes token {@code token} of rank {@code rank} at {@code step}: writes its k logical experts (distinct, in
     * descending logit order) to {@code idx[offset ..]} and their weights to {@code weights[offset ..]}.
     *
     * <p>Only experts with {@code hosted[e]} are picked, as an engine's router masks the experts that no live rank
     * serves (after more failures than the redundant slots absorb): the token goes to its best hosted experts instead,
     * and its output stays complete. With fewer than k hosted experts the remaining slots get {@code -1} and weight 0.
     *
     * @param logits scratch, {@code [experts]}
     * @return whether the choice differs from the unrestricted one (an unhosted expert would have been picked)
     */
    public boolean route(
            int step, int rank, int token, boolean[] hosted, float[] logits, long[] idx, float[] weights, int offset) {
        long base = streamBase(step, rank, 2) + (long) token * experts * GOLDEN;
        float bestUnhosted = Float.NEGATIVE_INFINITY;
        for (int e = 0; e < experts; e++) {
            long r = splitMix(base + e * GOLDEN);
            logits[e] = popularity[e] + (gumbel ? gumbel(r) : NOISE * ((r >>> 40) * 0x1p-24f));
            if (!hosted[e]) {
                bestUnhosted = Math.max(bestUnhosted, logits[e]);
                logits[e] = Float.NEGATIVE_INFINITY;
            }
        }
        float max = Float.NEGATIVE_INFINITY;
        float last = Float.NEGATIVE_INFINITY;
        int picked = 0;
        for (int j = 0; j < topK; j++) {
            int best = 0;
            for (int e = 1; e < experts; e++) {
                if (logits[e] > logits[best]) {
                    best = e;
                }
            }
            if (logits[best] == Float.NEGATIVE_INFINITY) {
                idx[offset + j] = -1;
                weights[offset + j] = Float.NEGATIVE_INFINITY;
                continue;
            }
            idx[offset + j] = best;
            weights[offset + j] = logits[best];
            max = Math.max(max, logits[best]);
            last = logits[best];
            picked++;
            logits[best] = Float.NEGATIVE_INFINITY;
        }
        double sum = 0;
        for (int j = 0; j < picked; j++) {
            sum += Math.exp(weights[offset + j] - max);
        }
        for (int j = 0; j < topK; j++) {
            weights[offset + j] = j < picked ? (float) (Math.exp(weights[offset + j] - max) / sum) : 0f;
        }
        return picked < topK ? bestUnhosted > Float.NEGATIVE_INFINITY : bestUnhosted > last;
    }

    /** A distinct random stream per (seed, step, rank, purpose). */
    private long streamBase(int step, int rank, int purpose) {
        return splitMix(splitMix(splitMix(seed) ^ step) ^ ((long) rank << 8 | purpose));
    }

    /** SplitMix64's finaliser: a fast, well-mixed 64-bit hash. */
    static long splitMix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Standard Gumbel noise from 53 random bits: top-k of {@code ln p + gumbel} samples without replacement ~ p. */
    private static float gumbel(long r) {
        double u = ((r >>> 11) + 0.5) * 0x1p-53;
        return (float) -Math.log(-Math.log(u));
    }
}
