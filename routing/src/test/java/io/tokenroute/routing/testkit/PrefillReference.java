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

import java.util.ArrayList;
import java.util.List;

/**
 * The high-throughput (prefill) mode computed with plain loops over Java arrays, independent of the library: what a
 * rank receives (rows, restricted routing, sources), what its experts see, and what its combine must return.
 */
public final class PrefillReference {
    private PrefillReference() {}

    /** One received row. */
    public record Row(int srcRank, int srcToken, short[] bits, long[] localIds, float[] weights) {}

    /**
     * The rows rank {@code self} receives from the sources flagged in {@code sources}: for each source (ascending),
     * each of its tokens (ascending) with at least one expert on {@code self}, with ids restricted to {@code self}'s
     * experts as local ids (-1 elsewhere and past k, up to {@code maxTopK} slots) and the matching weights (0
     * elsewhere).
     *
     * @param rows the row each source sent for a token (bf16 as given, or its fp8 round trip)
     */
    public static List<Row> received(
            RankInput[] inputs,
            int self,
            int localExperts,
            int maxTopK,
            boolean[] sources,
            java.util.function.IntFunction<Reference.RowSource> rows) {
        List<Row> out = new ArrayList<>();
        for (int p = 0; p < inputs.length; p++) {
            if (!sources[p]) {
                continue;
            }
            RankInput in = inputs[p];
            for (int t = 0; t < in.n(); t++) {
                long[] ids = new long[maxTopK];
                float[] weights = new float[maxTopK];
                boolean mine = false;
                for (int j = 0; j < maxTopK; j++) {
                    long e = j < in.topK() ? in.idx()[t * in.topK() + j] : -1;
                    if (e >= 0 && e / localExperts == self) {
                        ids[j] = e % localExperts;
                        weights[j] = in.weights()[t * in.topK() + j];
                        mine = true;
                    } else {
                        ids[j] = -1;
                    }
                }
                if (mine) {
                    out.add(new Row(p, t, rows.apply(p).row(t), ids, weights));
                }
            }
        }
        return out;
    }

    /**
     * Rank {@code mine}'s combine output: per token, the destination ranks in {@code present} (ascending) each add the
     * bf16-rounded fp32 sum, in top-k order, of weight × {@link ExpertFunction} of the row it received; the sum over
     * ranks is fp32, rounded to bf16 once; the weights of experts on ranks not present are lost (summed in top-k
     * order).
     *
     * @param present per token, which destination ranks contributed ({@code present.test(t, r)})
     */
    public static Reference.CombineResult combine(
            RankInput mine,
            int localExperts,
            int ranks,
            java.util.function.BiPredicate<Integer, Integer> present,
            Reference.RowSource received) {
        int h = mine.hidden();
        int k = mine.topK();
        short[] out = new short[mine.n() * h];
        float[] lost = new float[mine.n()];
        float[] acc = new float[h];
        float[] partial = new float[h];
        for (int t = 0; t < mine.n(); t++) {
            java.util.Arrays.fill(acc, 0f);
            short[] x = received.row(t);
            for (int r = 0; r < ranks; r++) {
                boolean any = false;
                java.util.Arrays.fill(partial, 0f);
                for (int j = 0; j < k; j++) {
                    long e = mine.idx()[t * k + j];
                    if (e < 0 || e / localExperts != r) {
                        continue;
                    }
                    any = true;
                    float w = mine.weights()[t * k + j];
                    if (!present.test(t, r)) {
                        continue;
                    }
                    for (int c = 0; c < h; c++) {
                        partial[c] += w * ExpertFunction.toFloat(ExpertFunction.apply((int) e, x[c]));
                    }
                }
                if (any && present.test(t, r)) {
                    for (int c = 0; c < h; c++) {
                        acc[c] += ExpertFunction.toFloat(ExpertFunction.roundToBf16(partial[c]));
                    }
                }
            }
            for (int c = 0; c < h; c++) {
                out[t * h + c] = ExpertFunction.roundToBf16(acc[c]);
            }
            for (int j = 0; j < k; j++) {
                long e = mine.idx()[t * k + j];
                if (e >= 0 && !present.test(t, (int) (e / localExperts))) {
                    lost[t] += mine.weights()[t * k + j];
                }
            }
        }
        return new Reference.CombineResult(out, lost);
    }

    /** Chunks rank {@code src} writes in a dispatch: per destination in {@code destinations}, ceil(tokens / rows). */
    public static int dispatchChunks(RankInput in, int localExperts, int ranks, boolean[] destinations, int chunkRows) {
        int chunks = 0;
        for (int r = 0; r < ranks; r++) {
            if (!destinations[r]) {
                continue;
            }
            int tokens = 0;
            for (int t = 0; t < in.n(); t++) {
                for (int j = 0; j < in.topK(); j++) {
                    long e = in.idx()[t * in.topK() + j];
                    if (e >= 0 && e / localExperts == r) {
                        tokens++;
                        break;
                    }
                }
            }
            chunks += (tokens + chunkRows - 1) / chunkRows;
        }
        return chunks;
    }
}
