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

import io.tokenroute.arrow.numeric.Float8E4M3;
import io.tokenroute.arrow.numeric.Fp8Quantizer;
import io.tokenroute.routing.DispatchOptions;
import java.util.ArrayList;
import java.util.List;

/**
 * The independent reference of docs/contract.md §2 in plain loops over Java arrays: what a rank must receive and what
 * its combine must return, given every rank's inputs and which ranks count as present.
 */
public final class Reference {
    private Reference() {}

    /** One received row. */
    public record Row(int srcRank, int srcToken, short[] bits) {}

    /**
     * Rows of local expert {@code l} on rank {@code self}: sources ascending, tokens ascending; only sources with
     * {@code sourcePresent[p]}.
     */
    public static List<Row> expertRows(RankInput[] inputs, int self, int localExperts, int l, boolean[] sourcePresent) {
        int e = self * localExperts + l;
        List<Row> rows = new ArrayList<>();
        for (int p = 0; p < inputs.length; p++) {
            if (!sourcePresent[p]) {
                continue;
            }
            RankInput in = inputs[p];
            for (int t = 0; t < in.n(); t++) {
                for (int j = 0; j < in.topK(); j++) {
                    if (in.idx()[t * in.topK() + j] == e) {
                        short[] row = new short[in.hidden()];
                        System.arraycopy(in.bits(), t * in.hidden(), row, 0, in.hidden());
                        rows.add(new Row(p, t, row));
                    }
                }
            }
        }
        return rows;
    }

    /** Combine output: bf16 bits {@code [n][H]} and lost weight {@code [n]}. */
    public record CombineResult(short[] bits, float[] lostWeight) {}

    /**
     * Combine of rank {@code mine} where expert {@code e} contributes {@link ExpertFunction#apply} of the token's row
     * (as received: {@code receivedRow} gives the row the expert saw, e.g. dequantised fp8) iff
     * {@code expertRankPresent[e / L]}; fp32 accumulation in top-k order, one rounding.
     */
    public static CombineResult combine(
            RankInput mine, int localExperts, boolean[] expertRankPresent, RowSource receivedRow) {
        int h = mine.hidden();
        short[] out = new short[mine.n() * h];
        float[] lost = new float[mine.n()];
        float[] acc = new float[h];
        for (int t = 0; t < mine.n(); t++) {
            java.util.Arrays.fill(acc, 0f);
            for (int j = 0; j < mine.topK(); j++) {
                long e = mine.idx()[t * mine.topK() + j];
                if (e < 0) {
                    continue;
                }
                float w = mine.weights()[t * mine.topK() + j];
                if (!expertRankPresent[(int) e / localExperts]) {
                    lost[t] += w;
                    continue;
                }
                short[] x = receivedRow.row(t);
                for (int c = 0; c < h; c++) {
                    acc[c] += w * ExpertFunction.toFloat(ExpertFunction.apply((int) e, x[c]));
                }
            }
            for (int c = 0; c < h; c++) {
                out[t * h + c] = ExpertFunction.roundToBf16(acc[c]);
            }
        }
        return new CombineResult(out, lost);
    }

    /** The row expert computation sees for token t of the combining rank. */
    @FunctionalInterface
    public interface RowSource {
        short[] row(int token);
    }

    /**
     * A bf16 row as an expert sees it after an fp8 dispatch: quantised per 128 channels ({@code roundScale} as the
     * dispatch options say), then each code times its group's scale, rounded to bf16.
     *
     * @param q receives the e4m3 codes (length H)
     * @param scales receives the float32 scales (length H / 128)
     */
    public static short[] fp8RoundTrip(short[] row, boolean roundScale, byte[] q, float[] scales) {
        Fp8Quantizer.quantizeRowBf16(row, 0, row.length, roundScale, q, 0, scales, 0);
        short[] seen = new short[row.length];
        for (int h = 0; h < seen.length; h++) {
            seen[h] = ExpertFunction.roundToBf16(Float8E4M3.toFloat(q[h]) * scales[h / 128]);
        }
        return seen;
    }

    /** Token t's row of {@code in} as the experts see it under {@code options} (bf16 as sent, or fp8 round trip). */
    public static RowSource dispatchedRows(RankInput in, DispatchOptions options) {
        RowSource plain = bf16Rows(in);
        if (!options.fp8()) {
            return plain;
        }
        return t ->
                fp8RoundTrip(plain.row(t), options.roundScale(), new byte[in.hidden()], new float[in.hidden() / 128]);
    }

    /** Token t's bf16 row of {@code in}. */
    public static RowSource bf16Rows(RankInput in) {
        return t -> {
            short[] row = new short[in.hidden()];
            System.arraycopy(in.bits(), t * in.hidden(), row, 0, in.hidden());
            return row;
        };
    }
}
