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

import io.tokenroute.examples.demo.RoutingSkew;
import java.util.Locale;

/**
 * One routing distribution of the skew benchmarks: a name as the tables print it and the demo router's
 * {@link RoutingSkew} it stands for. Besides the demo's forms ({@code uniform}, {@code zipf:S}, {@code hot},
 * {@code hot:N}, {@code mild}) it accepts {@code half-hot}: the k/2 experts 0 .. k/2 − 1 in every token's top-k
 * ({@code hot:k/2}), which therefore take half of all (token, expert) pairs and, under block placement, send half of
 * all rows to rank 0. One expert alone cannot take half of the pairs: a token lists an expert at most once, so one
 * expert is in at most 1/k of them.
 *
 * <p>Every form routes each token to exactly k distinct experts, so every distribution moves the same bytes: the
 * (token, expert) pairs, and with them the rows dispatch and combine copy, number n × k per rank whatever the skew.
 *
 * @param name the name the tables print ({@code half-hot}, or the demo form in its canonical spelling)
 * @param routing the router's skew
 */
record BenchSkew(String name, RoutingSkew routing) {
    /** The baseline the skewed rows are compared with. */
    static final String UNIFORM = "uniform";

    static final String HALF_HOT = "half-hot";

    /**
     * Parses one form for k experts per token.
     *
     * @throws IllegalArgumentException with one line naming the accepted forms
     */
    static BenchSkew parse(String text, int topK) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.equals(HALF_HOT)) {
            if (topK < 2) {
                throw new IllegalArgumentException("--skew half-hot needs k >= 2 experts per token, got " + topK);
            }
            return new BenchSkew(HALF_HOT, RoutingSkew.hot(topK / 2));
        }
        RoutingSkew skew;
        try {
            skew = RoutingSkew.parse(t);
        } catch (IllegalArgumentException e) {
            if (t.startsWith("zipf:") || t.startsWith("hot:")) {
                throw e; // names the bad exponent or count
            }
            throw new IllegalArgumentException(
                    "--skew " + text
                            + ": expected uniform, zipf:S (for example zipf:1.2), half-hot, hot, hot:N or mild",
                    e);
        }
        if (skew.kind() == RoutingSkew.Kind.HOT && skew.hotExperts() > topK) {
            throw new IllegalArgumentException(
                    "--skew " + text + ": " + skew.hotExperts() + " hot experts exceed k = " + topK);
        }
        return new BenchSkew(skew.toString(), skew);
    }

    /** Whether this is the uniform baseline. */
    boolean isUniform() {
        return routing.equals(RoutingSkew.UNIFORM);
    }

    @Override
    public String toString() {
        return name;
    }
}
