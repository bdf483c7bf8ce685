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

import java.util.Locale;
import java.util.Random;

/**
 * How unevenly the demo's router spreads tokens over the experts ({@code --skew}).
 *
 * <ul>
 *   <li>{@code mild} (the default): every expert nearly as popular as the next (σ = 0.05 on the logits), the ranks'
 *       loads within about 10 % of each other;
 *   <li>{@code uniform}: no popularity at all, every set of k experts equally likely (the baseline the benchmarks
 *       compare skewed routing with);
 *   <li>{@code zipf:S}: expert popularity follows Zipf's law with exponent {@code S > 0} over a seeded shuffle of the
 *       experts (so the hot ones land on different ranks); each token samples its k experts without replacement in
 *       proportion to it (Gumbel top-k);
 *   <li>{@code hot}: one expert (logical 0) is in every token's top-k with the largest weight: the largest share of the
 *       (token, expert) pairs any one expert can take when a token's k experts are distinct (1/k), the rest as
 *       {@code mild};
 *   <li>{@code hot:N}: experts 0 .. N − 1 are in every token's top-k (N ≤ k) with the largest weights, the rest as
 *       {@code mild}: together they take N/k of all (token, expert) pairs, so {@code hot:k/2} gives hot experts half
 *       of them (the benchmarks' {@code half-hot}); under block placement (expert e on rank e / L, N ≤ L) they share
 *       one rank, which then receives that share.
 * </ul>
 *
 * @param kind which kind
 * @param exponent Zipf's exponent ({@code zipf} only, else 0)
 * @param hotExperts how many experts are in every token ({@code hot} only, else 0)
 */
public record RoutingSkew(Kind kind, double exponent, int hotExperts) {
    /** The kinds of skew. */
    public enum Kind {
        MILD,
        UNIFORM,
        ZIPF,
        HOT
    }

    /** The default: nearly uniform. */
    public static final RoutingSkew MILD = new RoutingSkew(Kind.MILD, 0, 0);

    /** Exactly uniform: every set of k experts equally likely. */
    public static final RoutingSkew UNIFORM = new RoutingSkew(Kind.UNIFORM, 0, 0);

    private static final double MILD_SIGMA = 0.05;
    /** {@code topk_idx} holds at most 16 experts per token (docs/contract.md §1). */
    private static final int MAX_HOT = 16;

    public RoutingSkew {
        String name = kind.name().toLowerCase(Locale.ROOT);
        if (kind == Kind.ZIPF ? !(exponent > 0 && exponent <= 10) : exponent != 0) {
            throw new IllegalArgumentException("--skew " + name + ": exponent " + exponent
                    + (kind == Kind.ZIPF ? " outside (0, 10]" : " not allowed"));
        }
        if (kind == Kind.HOT ? hotExperts < 1 || hotExperts > MAX_HOT : hotExperts != 0) {
            throw new IllegalArgumentException("--skew " + name + ": hot experts " + hotExperts
                    + (kind == Kind.HOT ? " outside [1, " + MAX_HOT + "]" : " not allowed"));
        }
    }

    /** Zipf's law with exponent {@code s} in (0, 10]. */
    public static RoutingSkew zipf(double s) {
        return new RoutingSkew(Kind.ZIPF, s, 0);
    }

    /** Experts 0 .. n − 1 in every token's top-k; n in [1, 16]. */
    public static RoutingSkew hot(int n) {
        return new RoutingSkew(Kind.HOT, 0, n);
    }

    /**
     * Parses {@code mild}, {@code uniform}, {@code zipf:S}, {@code hot} or {@code hot:N}.
     *
     * @throws IllegalArgumentException naming the accepted forms
     */
    public static RoutingSkew parse(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.equals("mild")) {
            return MILD;
        }
        if (t.equals("uniform")) {
            return UNIFORM;
        }
        if (t.equals("hot")) {
            return hot(1);
        }
        if (t.startsWith("zipf:")) {
            try {
                return zipf(Double.parseDouble(t.substring(5)));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--skew " + text + ": the Zipf exponent is not a number", e);
            }
        }
        if (t.startsWith("hot:")) {
            try {
                return hot(Integer.parseInt(t.substring(4)));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(
                        "--skew " + text + ": the number of hot experts is not an integer", e);
            }
        }
        throw new IllegalArgumentException(
                "--skew " + text + ": expected mild, hot or zipf:S (for example zipf:1.2), uniform or hot:N");
    }

    /** Whether the router draws Gumbel noise (sampling in proportion to the popularity) instead of uniform noise. */
    boolean samplesInProportion() {
        return kind == Kind.ZIPF;
    }

    /**
     * Per expert, what the router adds to its noise: {@code ln p(e)} for {@code zipf}; a small Gaussian offset for
     * {@code mild} (and for the experts {@code hot} leaves cold); nothing for {@code uniform}; for {@code hot}, experts
     * 0 .. N − 1 above the largest noise any other expert can draw ({@code noise}).
     */
    float[] popularity(long seed, int experts, float noise) {
        float[] out = new float[experts];
        if (kind == Kind.UNIFORM) {
            return out;
        }
        Random rng = new Random(seed);
        for (int e = 0; e < experts; e++) {
            out[e] = (float) (MILD_SIGMA * rng.nextGaussian());
        }
        switch (kind) {
            case MILD, UNIFORM -> {}
            case HOT -> {
                for (int e = 0; e < Math.min(hotExperts, experts); e++) {
                    out[e] = noise + 1f;
                }
            }
            case ZIPF -> {
                int[] order = new int[experts];
                for (int e = 0; e < experts; e++) {
                    order[e] = e;
                }
                for (int i = experts - 1; i > 0; i--) {
                    int j = rng.nextInt(i + 1);
                    int swap = order[i];
                    order[i] = order[j];
                    order[j] = swap;
                }
                double norm = 0;
                for (int i = 0; i < experts; i++) {
                    norm += Math.pow(i + 1, -exponent);
                }
                for (int i = 0; i < experts; i++) {
                    out[order[i]] = (float) (Math.log(Math.pow(i + 1, -exponent) / norm));
                }
            }
        }
        return out;
    }

    @Override
    public String toString() {
        return switch (kind) {
            case MILD -> "mild";
            case UNIFORM -> "uniform";
            case HOT -> hotExperts == 1 ? "hot" : "hot:" + hotExperts;
            case ZIPF -> "zipf:" + exponent;
        };
    }
}
