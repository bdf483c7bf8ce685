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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.examples.demo.SyntheticModel;
import io.tokenroute.routing.BufferConfig;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * The decode-shaped benches' inputs: the floor routes nothing with the same shapes, every skew routes the same pairs
 * (so moves the same bytes), and the skews give the experts the shares they claim. Routing goes through the real
 * {@code local} transport where the claim is about what arrives.
 */
class DecodeInputsTest {
    private static final int R = 4;
    private static final int E = 16;
    private static final int H = 128;
    private static final int K = 4;
    private static final int N = 12;

    @Test
    void theFloorKeepsTheShapesAndValuesAndRoutesNothing() throws Exception {
        SyntheticModel router = BenchInputs.router(5, E, H, K, BenchSkew.parse("uniform", K));
        Random rng = new Random(9);
        List<BenchInputs.Draw> routed = new ArrayList<>();
        List<BenchInputs.Draw> floor = new ArrayList<>();
        for (int r = 0; r < R; r++) {
            BenchInputs.Draw d = BenchInputs.draw(rng, N, H, K, E, router, 0, r);
            BenchInputs.Draw f = d.withoutRows();
            assertArrayEquals(d.x(), f.x(), "same hidden values");
            assertArrayEquals(d.w(), f.w(), "same weights");
            assertEquals(d.idx().length, f.idx().length, "same [n][k] routing shape");
            assertTrue(Arrays.stream(f.idx()).allMatch(e -> e == -1), "no expert at all");
            assertTrue(Arrays.stream(d.idx()).allMatch(e -> e >= 0 && e < E), "the routed draw routes every slot");
            routed.add(d);
            floor.add(f);
        }
        int[] floorRows = step(floor, true);
        int[] routedRows = step(routed, false);
        assertArrayEquals(new int[R], floorRows, "no rank receives a row from the floor");
        assertEquals(R * N * K, Arrays.stream(routedRows).sum(), "the same batches with routing deliver every pair");
    }

    @Test
    void everySkewRoutesTheSamePairsSoTheSameBytes() throws Exception {
        int[] received = new int[BenchArgs.DEFAULT_SKEWS.size()];
        for (int s = 0; s < received.length; s++) {
            BenchSkew skew = BenchSkew.parse(BenchArgs.DEFAULT_SKEWS.get(s), K);
            SyntheticModel router = BenchInputs.router(5, E, H, K, skew);
            Random rng = new Random(9);
            List<BenchInputs.Draw> draws = new ArrayList<>();
            for (int r = 0; r < R; r++) {
                BenchInputs.Draw d = BenchInputs.draw(rng, N, H, K, E, router, 0, r);
                for (int t = 0; t < N; t++) {
                    Set<Long> experts = new HashSet<>();
                    for (int j = 0; j < K; j++) {
                        long e = d.idx()[t * K + j];
                        assertTrue(e >= 0 && e < E, skew + ": expert " + e);
                        assertTrue(experts.add(e), skew + ": token " + t + " lists expert " + e + " twice");
                    }
                }
                draws.add(d);
            }
            received[s] = Arrays.stream(step(draws, false)).sum();
        }
        for (int s = 0; s < received.length; s++) {
            assertEquals(R * N * K, received[s], BenchArgs.DEFAULT_SKEWS.get(s) + ": rows received over all ranks");
        }
        // R x T x k rows of H bf16 values, read once and written once: the 234.9 MB of the GPU bench's shape.
        assertEquals(8L * 128 * 8 * 7168 * 2 * 2, RoutingBench.phaseBytes(8, 128));
    }

    @Test
    void halfHotGivesItsExpertsHalfOfThePairsAndTheirRankHalfOfTheRows() {
        // The GPU benches' shape: E = 256, k = 8, R = 8 ranks of 128 tokens; block placement, L = 32.
        int experts = 256;
        int topK = 8;
        int ranks = 8;
        double[] share = shares(BenchSkew.parse("half-hot", topK), experts, topK, ranks, 128);
        for (int e = 0; e < topK / 2; e++) {
            assertEquals(1.0 / topK, share[e], 1e-12, "hot expert " + e + " is in every token");
        }
        double hot = Arrays.stream(share, 0, topK / 2).sum();
        assertEquals(0.5, hot, 1e-12, "the hot experts' share of all (token, expert) pairs");
        int local = experts / ranks;
        double rankZero = Arrays.stream(share, 0, local).sum();
        // The other k/2 picks spread over the 252 cold experts, 28 of them on rank 0.
        double expected = 0.5 + 0.5 * (local - topK / 2) / (double) (experts - topK / 2);
        assertEquals(expected, rankZero, 0.01, "rank 0's share of the rows");
    }

    @Test
    void zipfSharesFollowZipfsLawSampledWithoutReplacement() {
        int experts = 256;
        int topK = 8;
        for (double s : new double[] {1.0, 1.2}) {
            double[] measured = sortedDescending(shares(BenchSkew.parse("zipf:" + s, topK), experts, topK, 8, 512));
            double[] reference = sortedDescending(successiveSampling(s, experts, topK, 40_000));
            // Drawn first with Zipf's p(1), and later draws only add to it, but a token lists it at most once.
            double p1 = 1
                    / IntStream.rangeClosed(1, experts)
                            .mapToDouble(i -> Math.pow(i, -s))
                            .sum();
            assertTrue(measured[0] > p1 / topK && measured[0] <= 1.0 / topK, "s = " + s + ": " + measured[0]);
            for (int i = 0; i < 16; i++) {
                assertEquals(reference[i], measured[i], 0.01, "s = " + s + ": expert of popularity rank " + (i + 1));
            }
            assertTrue(measured[experts / 2] < 1.0 / experts, "most experts get less than an even share, s = " + s);
        }
        double[] flatter = sortedDescending(shares(BenchSkew.parse("zipf:1.0", topK), experts, topK, 8, 512));
        double[] steeper = sortedDescending(shares(BenchSkew.parse("zipf:1.2", topK), experts, topK, 8, 512));
        assertTrue(
                steeper[4] > flatter[4], "the larger exponent concentrates more: " + steeper[4] + " vs " + flatter[4]);
    }

    @Test
    void uniformSpreadsEvenly() {
        int experts = 64;
        double[] share = shares(BenchSkew.parse("uniform", 8), experts, 8, 8, 512);
        for (int e = 0; e < experts; e++) {
            // 4096 tokens: 512 pairs expected per expert, sd about 21; 25 % is 6 sd.
            assertEquals(1.0 / experts, share[e], 0.25 / experts, "expert " + e);
        }
    }

    @Test
    void theRouterIsSharedByTheRanksAndSetsDiffer() {
        SyntheticModel router = BenchInputs.router(5, E, H, K, BenchSkew.parse("zipf:1.2", K));
        BenchInputs.Draw a = BenchInputs.draw(new Random(1), N, H, K, E, router, 0, 0);
        BenchInputs.Draw b = BenchInputs.draw(new Random(1), N, H, K, E, router, 0, 0);
        BenchInputs.Draw c = BenchInputs.draw(new Random(1), N, H, K, E, router, 1, 0);
        assertArrayEquals(a.idx(), b.idx());
        assertNotEquals(Arrays.toString(a.idx()), Arrays.toString(c.idx()), "another input set routes otherwise");
    }

    /** Each expert's share of all (token, expert) pairs of {@code ranks} ranks' draws. */
    private static double[] shares(BenchSkew skew, int experts, int topK, int ranks, int tokens) {
        SyntheticModel router = BenchInputs.router(77, experts, 16, topK, skew);
        double[] share = new double[experts];
        double pairs = (double) ranks * tokens * topK;
        Random rng = new Random(3);
        for (int r = 0; r < ranks; r++) {
            for (long e : BenchInputs.draw(rng, tokens, 16, topK, experts, router, 0, r)
                    .idx()) {
                share[(int) e] += 1 / pairs;
            }
        }
        return share;
    }

    /**
     * The reference: each token draws k experts one after another, each in proportion to Zipf's p(i) ∝ i^-s among
     * those it has not drawn yet (plain loops, its own random numbers).
     */
    private static double[] successiveSampling(double s, int experts, int topK, int tokens) {
        double[] p = new double[experts];
        for (int i = 0; i < experts; i++) {
            p[i] = Math.pow(i + 1, -s);
        }
        double[] share = new double[experts];
        Random rng = new Random(123);
        boolean[] taken = new boolean[experts];
        for (int t = 0; t < tokens; t++) {
            Arrays.fill(taken, false);
            for (int j = 0; j < topK; j++) {
                double left = 0;
                for (int i = 0; i < experts; i++) {
                    left += taken[i] ? 0 : p[i];
                }
                double u = rng.nextDouble() * left;
                int pick = -1;
                for (int i = 0; i < experts && pick < 0; i++) {
                    if (!taken[i]) {
                        u -= p[i];
                        if (u < 0) {
                            pick = i;
                        }
                    }
                }
                if (pick < 0) { // rounding at the very end of the range
                    pick = experts - 1;
                    while (taken[pick]) {
                        pick--;
                    }
                }
                taken[pick] = true;
                share[pick] += 1.0 / ((double) tokens * topK);
            }
        }
        return share;
    }

    private static double[] sortedDescending(double[] v) {
        double[] out = v.clone();
        Arrays.sort(out);
        for (int i = 0; i < out.length / 2; i++) {
            double swap = out[i];
            out[i] = out[out.length - 1 - i];
            out[out.length - 1 - i] = swap;
        }
        return out;
    }

    /**
     * One dispatch and combine of the draws on a {@code local} group, a thread per rank; returns the rows each rank
     * received. With {@code expectEmpty}, also checks that combine gives every token a zero output and no lost weight.
     */
    private static int[] step(List<BenchInputs.Draw> draws, boolean expectEmpty) throws Exception {
        BufferConfig config = BufferConfig.builder()
                .ranks(R)
                .experts(E)
                .hidden(H)
                .maxTopK(K)
                .maxTokensPerRank(16)
                .timeout(Duration.ofSeconds(30))
                .build();
        ExecutorService pool = Executors.newFixedThreadPool(R);
        try (BufferAllocator allocator = new RootAllocator();
                ElasticGroup group = ElasticGroup.open("local", config, allocator)) {
            List<Future<Integer>> rows = new ArrayList<>();
            for (int r = 0; r < R; r++) {
                int rank = r;
                BenchInputs.Draw d = draws.get(r);
                rows.add(pool.submit(() -> {
                    try (TokenBatch batch = TokenBatch.fromBf16Bits(allocator, H, d.x(), K, d.idx(), d.w())) {
                        Dispatched dispatched = group.buffer(rank).dispatch(batch);
                        int received = 0;
                        for (int l = 0; l < dispatched.numLocalExperts(); l++) {
                            received += dispatched.recvCount(l);
                        }
                        Combined combined = group.buffer(rank).combine(dispatched, batch);
                        if (expectEmpty) {
                            short[] out = new short[N * H];
                            Arrays.fill(out, (short) 0x7FC1); // poison: a NaN no combine writes
                            combined.copyHiddenTo(out);
                            for (int i = 0; i < out.length; i++) {
                                assertEquals(0, out[i] & 0x7FFF, "rank " + rank + ": output " + i + " is zero");
                            }
                            for (int t = 0; t < N; t++) {
                                assertEquals(0f, combined.lostWeight(t), "rank " + rank + " token " + t);
                            }
                        }
                        return received;
                    }
                }));
            }
            int[] out = new int[R];
            for (int r = 0; r < R; r++) {
                out[r] = rows.get(r).get();
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }
}
