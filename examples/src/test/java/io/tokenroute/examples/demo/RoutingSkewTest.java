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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code --skew}: its forms, and the share of the (token, expert) pairs each expert gets from the demo's router. */
class RoutingSkewTest {
    private static final int EXPERTS = 64;
    private static final int TOP_K = 8;
    private static final int TOKENS = 4000;

    @Test
    void parsesItsFormsAndRefusesOthersInOneLine() {
        for (String form : List.of("mild", "hot", "zipf:1.2", "zipf:1.0", "uniform", "hot:4", "hot:1")) {
            RoutingSkew skew = RoutingSkew.parse(form);
            assertEquals(skew, RoutingSkew.parse(skew.toString()), form);
        }
        assertEquals(RoutingSkew.MILD, RoutingSkew.parse("MILD"));
        assertEquals(1.2, RoutingSkew.parse("zipf:1.2").exponent());
        assertEquals(RoutingSkew.hot(1), RoutingSkew.parse("hot:1"));
        assertEquals("hot", RoutingSkew.parse("hot:1").toString());
        assertEquals(4, RoutingSkew.parse("hot:4").hotExperts());
        assertEquals(RoutingSkew.UNIFORM, RoutingSkew.parse("Uniform"));
        for (String bad :
                List.of("uneven", "zipf:", "zipf:x", "zipf:0", "zipf:-1", "zipf:11", "hot:0", "hot:17", "hot:x")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RoutingSkew.parse(bad));
            assertTrue(e.getMessage().startsWith("--skew "), e.getMessage());
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        }
    }

    @Test
    void mildIsWhatTheModelDidBeforeAndSpreadsEvenly() {
        SyntheticModel before = new SyntheticModel(42, EXPERTS, 16, TOP_K);
        SyntheticModel mild = new SyntheticModel(42, EXPERTS, 16, TOP_K, RoutingSkew.MILD);
        assertArrayEquals(routes(before), routes(mild), "the default routing is unchanged");
        double[] share = shares(mild);
        double uniform = 1.0 / EXPERTS;
        assertTrue(Arrays.stream(share).max().getAsDouble() < 2 * uniform, Arrays.toString(share));
        assertTrue(Arrays.stream(share).min().getAsDouble() > uniform / 2, Arrays.toString(share));
    }

    @Test
    void zipfMakesAFewExpertsHotAndTheMoreSoTheLargerTheExponent() {
        double[] flatter = sorted(shares(new SyntheticModel(42, EXPERTS, 16, TOP_K, RoutingSkew.parse("zipf:1.0"))));
        double[] steeper = sorted(shares(new SyntheticModel(42, EXPERTS, 16, TOP_K, RoutingSkew.parse("zipf:1.2"))));
        double uniform = 1.0 / EXPERTS;
        // Each token holds an expert at most once, so no share exceeds 1/k.
        assertTrue(flatter[0] > 4 * uniform && flatter[0] <= 1.0 / TOP_K + 1e-9, Arrays.toString(flatter));
        assertTrue(steeper[0] > flatter[0], steeper[0] + " vs " + flatter[0]);
        assertTrue(steeper[EXPERTS - 1] < flatter[EXPERTS - 1], "the cold tail gets colder");
        assertTrue(flatter[EXPERTS / 2] < uniform, "most experts get less than an even share");
    }

    @Test
    void hotPutsOneExpertInEveryTokenWithTheLargestWeight() {
        SyntheticModel model = new SyntheticModel(42, EXPERTS, 16, TOP_K, RoutingSkew.parse("hot"));
        boolean[] hosted = new boolean[EXPERTS];
        Arrays.fill(hosted, true);
        float[] logits = new float[EXPERTS];
        long[] idx = new long[TOP_K];
        float[] weights = new float[TOP_K];
        for (int t = 0; t < TOKENS; t++) {
            model.route(1, t % 4, t, hosted, logits, idx, weights, 0);
            assertEquals(0, idx[0], "token " + t + ": expert 0 first");
            for (int j = 1; j < TOP_K; j++) {
                assertTrue(weights[0] > weights[j], "token " + t + ": expert 0 weighs most");
            }
        }
    }

    @Test
    void hotNPutsItsExpertsInEveryTokenFirstSoTheyTakeNOverKOfThePairs() {
        int hot = TOP_K / 2;
        SyntheticModel model = new SyntheticModel(42, EXPERTS, 16, TOP_K, RoutingSkew.hot(hot));
        long[] idx = routes(model);
        for (int t = 0; t < TOKENS; t++) {
            long[] first = Arrays.copyOfRange(idx, t * TOP_K, t * TOP_K + hot);
            Arrays.sort(first);
            assertArrayEquals(new long[] {0, 1, 2, 3}, first, "token " + t + ": the hot experts lead its top-k");
        }
        double[] share = shares(model);
        assertEquals(0.5, share[0] + share[1] + share[2] + share[3], 1e-9, "half of all (token, expert) pairs");
        // The rest as mild, whose small offsets matter more when only k - N of the other experts are picked: each
        // cold expert well below a hot one, none starved.
        double cold = 0.5 / (EXPERTS - hot);
        for (int e = hot; e < EXPERTS; e++) {
            assertTrue(share[e] > cold / 4 && share[e] < 4 * cold, "cold expert " + e + ": " + share[e]);
        }
    }

    @Test
    void uniformGivesEveryExpertAnEvenShare() {
        SyntheticModel model = new SyntheticModel(42, EXPERTS, 16, TOP_K, RoutingSkew.UNIFORM);
        double[] share = shares(model);
        for (int e = 0; e < EXPERTS; e++) {
            // 32,000 pairs: 500 expected per expert, sd about 21; 20 % is about 5 sd.
            assertEquals(1.0 / EXPERTS, share[e], 0.2 / EXPERTS, "expert " + e);
        }
        assertTrue(
                !Arrays.equals(routes(model), routes(new SyntheticModel(42, EXPERTS, 16, TOP_K, RoutingSkew.MILD))),
                "uniform is not mild's slightly uneven popularity");
    }

    /** Every token's chosen experts, concatenated. */
    private static long[] routes(SyntheticModel model) {
        boolean[] hosted = new boolean[EXPERTS];
        Arrays.fill(hosted, true);
        float[] logits = new float[EXPERTS];
        long[] idx = new long[TOKENS * TOP_K];
        float[] weights = new float[TOKENS * TOP_K];
        for (int t = 0; t < TOKENS; t++) {
            model.route(3, t % 4, t / 4, hosted, logits, idx, weights, t * TOP_K);
        }
        return idx;
    }

    /** Each expert's share of all (token, expert) pairs. */
    private static double[] shares(SyntheticModel model) {
        double[] share = new double[EXPERTS];
        for (long e : routes(model)) {
            share[(int) e] += 1.0 / (TOKENS * TOP_K);
        }
        return share;
    }

    private static double[] sorted(double[] share) {
        double[] out = share.clone();
        Arrays.sort(out);
        for (int i = 0; i < out.length / 2; i++) {
            double swap = out[i];
            out[i] = out[out.length - 1 - i];
            out[out.length - 1 - i] = swap;
        }
        return out;
    }
}
