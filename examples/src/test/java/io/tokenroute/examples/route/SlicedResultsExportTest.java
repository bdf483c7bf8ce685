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
package io.tokenroute.examples.route;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.cdata.ExportedBatch;
import io.tokenroute.arrow.cdata.HostExport;
import io.tokenroute.examples.python.Experts;
import io.tokenroute.examples.python.LocalSession;
import io.tokenroute.examples.python.StepResult;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.junit.jupiter.api.Test;

/**
 * Dispatch views and combine outputs of a real {@code local} step, sliced with Arrow's own
 * {@link VectorSchemaRoot#slice} (now possible for bf16 columns), exported through the C Data Interface and imported
 * back: every slice reads exactly its rows, from the result's own memory. The expected rows come from the inputs,
 * through plain loops: which rows each expert receives (ascending source rank, then token) and the weighted sum of the
 * token's row (fp32 accumulation in top-k order, then bf16).
 */
class SlicedResultsExportTest {
    private static final int RANKS = 2;
    private static final int EXPERTS = 4;
    private static final int LOCAL = EXPERTS / RANKS;
    private static final int HIDDEN = 24;
    private static final int TOKENS = 13;
    private static final int TOP_K = 3;
    private static final long TIMEOUT_MILLIS = 300;

    @Test
    void slicedDispatchViewsAndCombineOutputsExportTheirOwnRows() {
        Random rng = new Random(717);
        short[][] bits = new short[RANKS][];
        long[][] idx = new long[RANKS][];
        float[][] weights = new float[RANKS][];
        try (BufferAllocator consumer = new RootAllocator();
                LocalSession s = LocalSession.open(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, TIMEOUT_MILLIS)) {
            List<TokenBatch> batches = new ArrayList<>();
            for (int r = 0; r < RANKS; r++) {
                bits[r] = new short[TOKENS * HIDDEN];
                for (int i = 0; i < bits[r].length; i++) {
                    bits[r][i] = (short) (Float.floatToRawIntBits(0.25f + 2 * rng.nextFloat()) >>> 16);
                }
                idx[r] = new long[TOKENS * TOP_K];
                weights[r] = new float[TOKENS * TOP_K];
                for (int t = 0; t < TOKENS; t++) {
                    List<Long> experts = new ArrayList<>(List.of(0L, 1L, 2L, 3L));
                    Collections.shuffle(experts, rng);
                    for (int j = 0; j < TOP_K; j++) {
                        idx[r][t * TOP_K + j] = experts.get(j);
                        weights[r][t * TOP_K + j] = 0.1f + rng.nextFloat();
                    }
                }
                batches.add(s.batchFromBf16Bits(bits[r], idx[r], weights[r], TOP_K));
            }
            StepResult step = s.step(batches, Experts.IDENTITY);
            assertFalse(step.anyNewlyMasked());
            for (int r = 0; r < RANKS; r++) {
                for (int l = 0; l < LOCAL; l++) {
                    List<int[]> rows = received(idx, r * LOCAL + l);
                    VectorSchemaRoot view = step.dispatched(r).expert(l);
                    assertEquals(rows.size(), view.getRowCount());
                    for (int[] range : slices(rows.size())) {
                        try (VectorSchemaRoot slice = view.slice(range[0], range[1]);
                                ExportedBatch exported = HostExport.export(consumer, slice);
                                VectorSchemaRoot back = HostExport.importRoot(
                                        consumer, exported.arrayAddress(), exported.schemaAddress())) {
                            assertEquals(
                                    hiddenAddress(view) + 2L * HIDDEN * range[0],
                                    hiddenAddress(back),
                                    "the slice is the receive buffer's rows from " + range[0]);
                            checkRows(back, rows.subList(range[0], range[0] + range[1]), bits);
                        }
                    }
                }
                VectorSchemaRoot combined = step.combined(r).batch();
                for (int[] range : slices(TOKENS)) {
                    try (VectorSchemaRoot slice = combined.slice(range[0], range[1]);
                            ExportedBatch exported = HostExport.export(consumer, slice);
                            VectorSchemaRoot back = HostExport.importRoot(
                                    consumer, exported.arrayAddress(), exported.schemaAddress())) {
                        assertEquals(hiddenAddress(combined) + 2L * HIDDEN * range[0], hiddenAddress(back));
                        assertEquals(range[1], back.getRowCount());
                        for (int i = 0; i < range[1]; i++) {
                            int t = range[0] + i;
                            short[] want = weightedSum(bits[r], idx[r], weights[r], t);
                            for (int h = 0; h < HIDDEN; h++) {
                                assertEquals(
                                        want[h],
                                        MemoryUtil.getShort(hiddenAddress(back) + 2L * (i * HIDDEN + h)),
                                        "rank " + r + ", token " + t + ", channel " + h);
                            }
                            assertEquals(0f, ((Float4Vector) back.getVector("lost_weight")).get(i));
                        }
                    }
                }
            }
            batches.forEach(TokenBatch::close);
        }
    }

    /** A few (start, length) slices of {@code rows} rows: unaligned and byte-aligned starts, the tail. */
    private static List<int[]> slices(int rows) {
        List<int[]> out = new ArrayList<>();
        for (int start : new int[] {0, 1, 3, 8}) {
            if (start < rows) {
                out.add(new int[] {start, Math.min(rows - start, 5)});
            }
        }
        if (rows > 0) {
            out.add(new int[] {rows - 1, 1});
        }
        return out;
    }

    /** (source rank, token) of every row expert {@code e} receives: ascending source rank, then token. */
    private static List<int[]> received(long[][] idx, int e) {
        List<int[]> rows = new ArrayList<>();
        for (int src = 0; src < RANKS; src++) {
            for (int t = 0; t < TOKENS; t++) {
                for (int j = 0; j < TOP_K; j++) {
                    if (idx[src][t * TOP_K + j] == e) {
                        rows.add(new int[] {src, t});
                    }
                }
            }
        }
        return rows;
    }

    private static void checkRows(VectorSchemaRoot back, List<int[]> rows, short[][] bits) {
        assertEquals(rows.size(), back.getRowCount());
        IntVector ranks = (IntVector) back.getVector("src_rank");
        IntVector tokens = (IntVector) back.getVector("src_token");
        for (int i = 0; i < rows.size(); i++) {
            int src = rows.get(i)[0];
            int t = rows.get(i)[1];
            assertEquals(src, ranks.get(i));
            assertEquals(t, tokens.get(i));
            for (int h = 0; h < HIDDEN; h++) {
                long address = hiddenAddress(back) + 2L * (i * HIDDEN + h);
                assertEquals(
                        bits[src][t * HIDDEN + h],
                        MemoryUtil.getShort(address),
                        "row " + i + " (rank " + src + ", token " + t + "), channel " + h);
            }
        }
    }

    private static long hiddenAddress(VectorSchemaRoot root) {
        return ((FixedSizeListVector) root.getVector("hidden"))
                .getDataVector()
                .getDataBuffer()
                .memoryAddress();
    }

    /** bf16(Σ_k w[t][k] · x[t]) in fp32, top-k order, round to nearest even. */
    private static short[] weightedSum(short[] bits, long[] idx, float[] w, int t) {
        float[] acc = new float[HIDDEN];
        for (int j = 0; j < TOP_K; j++) {
            if (idx[t * TOP_K + j] < 0) {
                continue;
            }
            for (int h = 0; h < HIDDEN; h++) {
                acc[h] += w[t * TOP_K + j] * Float.intBitsToFloat(bits[t * HIDDEN + h] << 16);
            }
        }
        short[] out = new short[HIDDEN];
        for (int h = 0; h < HIDDEN; h++) {
            int b = Float.floatToRawIntBits(acc[h]);
            int upper = b >>> 16;
            int lower = b & 0xFFFF;
            out[h] = (short) (lower > 0x8000 || (lower == 0x8000 && (upper & 1) != 0) ? upper + 1 : upper);
        }
        return out;
    }
}
