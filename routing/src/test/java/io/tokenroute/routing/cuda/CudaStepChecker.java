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
package io.tokenroute.routing.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.tokenroute.arrow.batch.ColumnViews;
import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.numeric.Ue8m0;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.device.CudaStream;
import io.tokenroute.device.Memcpy;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.testkit.ExpertFunction;
import io.tokenroute.routing.testkit.RankInput;
import io.tokenroute.routing.testkit.Reference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Runs one dispatch → expert → combine step of a {@link CudaLocalGroup} and checks every checked rank against the
 * plain-loop {@link Reference}, copying device results to the host only with {@link Memcpy}. Outputs are poisoned
 * before the step. The "expert" is {@link ExpertFunction} applied on the host to the rows the rank received.
 */
public final class CudaStepChecker {
    private CudaStepChecker() {}

    /** What one step did. */
    record Outcome(int[][] dispatchNewly, int[][] combineNewly) {}

    /**
     * @param launched which ranks take part ({@code null} input entries otherwise)
     * @param checked which ranks' results are compared (survivors)
     * @param dispatchSources per checked rank: which sources it must have received from
     * @param combineExperts per checked rank: which ranks' experts count in its combine
     * @param combineLaunched which ranks take part in the combine
     * @param zeroCopy expert outputs written into the combine-send rows, else passed as host batches
     */
    static Outcome step(
            CudaLocalGroup group,
            BufferAllocator allocator,
            RankInput[] inputs,
            DispatchOptions options,
            boolean[] launched,
            boolean[] combineLaunched,
            boolean[] checked,
            boolean[][] dispatchSources,
            boolean[][] combineExperts,
            boolean zeroCopy) {
        int ranks = group.ranks();
        int localExperts = group.config().localExperts();
        int hidden = group.config().hidden();
        group.poisonResults();
        List<TokenBatch> batches = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            batches.add(launched[r] ? inputs[r].toBatch(allocator) : null);
        }
        try {
            List<CudaDispatched> dispatched = group.dispatch(batches, options);
            int[][] dispatchNewly = new int[ranks][];
            List<List<short[]>> seen = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                CudaDispatched d = dispatched.get(r);
                if (launched[r] && d != null) {
                    dispatchNewly[r] = d.newlyMasked();
                }
                seen.add(
                        checked[r]
                                ? checkDispatch(group, d, inputs, r, localExperts, options, dispatchSources[r])
                                : received(group, d, r, localExperts, hidden, options));
            }
            List<List<VectorSchemaRoot>> outputs = zeroCopy ? null : new ArrayList<>();
            try {
                for (int r = 0; r < ranks; r++) {
                    CudaDispatched d = dispatched.get(r);
                    List<VectorSchemaRoot> mine =
                            zeroCopy || d == null || !combineLaunched[r] ? null : new ArrayList<>();
                    if (d != null && combineLaunched[r]) {
                        for (int l = 0; l < localExperts; l++) {
                            short[] rows = expertOutputs(
                                    r * localExperts + l, seen.get(r).get(l));
                            if (zeroCopy) {
                                Memcpy.toDevice(d.expertOutputAddress(l), rows, group.stream(r));
                            } else {
                                mine.add(outputBatch(allocator, hidden, rows));
                            }
                        }
                    }
                    if (outputs != null) {
                        outputs.add(mine);
                    }
                }
                List<TokenBatch> routing = new ArrayList<>();
                for (int r = 0; r < ranks; r++) {
                    routing.add(combineLaunched[r] ? batches.get(r) : null);
                }
                List<CudaCombined> combined = group.combine(outputs, routing);
                int[][] combineNewly = new int[ranks][];
                for (int r = 0; r < ranks; r++) {
                    CudaCombined c = combined.get(r);
                    if (combineLaunched[r] && c != null) {
                        combineNewly[r] = c.newlyMasked();
                    }
                    if (checked[r]) {
                        assertNotNull(c, "rank " + r + " combine result");
                        checkCombine(c, inputs[r], localExperts, combineExperts[r], options);
                    }
                }
                return new Outcome(dispatchNewly, combineNewly);
            } finally {
                if (outputs != null) {
                    outputs.forEach(list -> {
                        if (list != null) {
                            list.forEach(VectorSchemaRoot::close);
                        }
                    });
                }
            }
        } finally {
            batches.forEach(b -> {
                if (b != null) {
                    b.close();
                }
            });
        }
    }

    /** Everyone launched and checked, nobody absent. */
    static Outcome healthyStep(
            CudaLocalGroup group,
            BufferAllocator allocator,
            RankInput[] inputs,
            DispatchOptions options,
            boolean zeroCopy) {
        int ranks = group.ranks();
        boolean[] all = new boolean[ranks];
        Arrays.fill(all, true);
        boolean[][] present = new boolean[ranks][];
        for (int r = 0; r < ranks; r++) {
            present[r] = all.clone();
        }
        return step(group, allocator, inputs, options, all, all, all, present, present, zeroCopy);
    }

    /** Rows as the expert sees them (bf16, or fp8 dequantised then rounded to bf16), per local expert. */
    public static List<short[]> checkDispatch(
            CudaLocalGroup group,
            CudaDispatched d,
            RankInput[] inputs,
            int self,
            int localExperts,
            DispatchOptions options,
            boolean[] sources) {
        assertNotNull(d, "rank " + self + " dispatch result");
        int hidden = group.config().hidden();
        CudaStream stream = streamOf(group, self);
        List<short[]> seen = new ArrayList<>();
        for (int l = 0; l < localExperts; l++) {
            List<Reference.Row> expected = Reference.expertRows(inputs, self, localExperts, l, sources);
            String where = "rank " + self + " expert " + l;
            assertEquals(expected.size(), d.recvCount(l), where + " row count");
            assertEquals(expected.size(), d.expert(l).getRowCount(), where + " Arrow row count");
            int rows = expected.size();
            int[] srcRank = new int[rows];
            int[] srcToken = new int[rows];
            Memcpy.toHost(srcRank, d.srcRankAddress(l), stream);
            Memcpy.toHost(srcToken, d.srcTokenAddress(l), stream);
            int[] perSource = new int[inputs.length];
            short[] view = new short[rows * hidden];
            if (!options.fp8()) {
                Memcpy.toHost(view, d.rowsAddress(l), stream);
            }
            byte[] q = options.fp8() ? new byte[rows * hidden] : null;
            int groups = hidden / 128;
            float[] scales = options.fp8() && !options.ue8m0() ? new float[rows * groups] : null;
            byte[] ue8m0 = options.ue8m0() ? new byte[rows * groups] : null;
            if (options.fp8()) {
                Memcpy.toHost(q, d.rowsAddress(l), stream);
                if (scales != null) {
                    Memcpy.toHost(scales, d.scalesAddress(l), stream);
                } else {
                    Memcpy.toHost(ue8m0, d.scalesAddress(l), stream);
                }
            }
            for (int i = 0; i < rows; i++) {
                Reference.Row row = expected.get(i);
                String at = where + " row " + i;
                assertEquals(row.srcRank(), srcRank[i], at + " src_rank");
                assertEquals(row.srcToken(), srcToken[i], at + " src_token");
                perSource[row.srcRank()]++;
                if (!options.fp8()) {
                    assertArrayEquals(
                            row.bits(), Arrays.copyOfRange(view, i * hidden, (i + 1) * hidden), at + " hidden bits");
                } else {
                    byte[] wantQ = new byte[hidden];
                    float[] wantS = new float[groups];
                    short[] dequantised = Reference.fp8RoundTrip(row.bits(), options.roundScale(), wantQ, wantS);
                    assertArrayEquals(wantQ, Arrays.copyOfRange(q, i * hidden, (i + 1) * hidden), at + " fp8 codes");
                    for (int g = 0; g < groups; g++) {
                        if (ue8m0 != null) {
                            assertEquals(Ue8m0.pack(wantS[g]), ue8m0[i * groups + g], at + " ue8m0 scale " + g);
                        } else {
                            assertEquals(
                                    Float.floatToIntBits(wantS[g]),
                                    Float.floatToIntBits(scales[i * groups + g]),
                                    at + " scale " + g);
                        }
                    }
                    System.arraycopy(dequantised, 0, view, i * hidden, hidden);
                }
            }
            int begin = 0;
            for (int p = 0; p < inputs.length; p++) {
                assertEquals(begin, d.layoutBegin(l, p), where + " layout begin of source " + p);
                assertEquals(perSource[p], d.layoutCount(l, p), where + " layout count of source " + p);
                begin += perSource[p];
            }
            seen.add(view);
        }
        return seen;
    }

    /** An unchecked rank's rows as received (bf16 view; for fp8 the dequantised rows), so its expert can run. */
    public static List<short[]> received(
            CudaLocalGroup group, CudaDispatched d, int self, int localExperts, int hidden, DispatchOptions options) {
        List<short[]> seen = new ArrayList<>();
        for (int l = 0; l < localExperts; l++) {
            int rows = d == null ? 0 : d.recvCount(l);
            short[] view = new short[rows * hidden];
            if (rows > 0 && !options.fp8()) {
                Memcpy.toHost(view, d.rowsAddress(l), streamOf(group, self));
            }
            seen.add(view);
        }
        return seen;
    }

    /** The stream of global rank {@code rank}, which the group hosts (its position in hostedRanks()). */
    public static CudaStream streamOf(CudaLocalGroup group, int rank) {
        int[] hosted = group.hostedRanks();
        for (int i = 0; i < hosted.length; i++) {
            if (hosted[i] == rank) {
                return group.stream(i);
            }
        }
        throw new IllegalArgumentException("rank " + rank + " is not hosted here");
    }

    public static short[] expertOutputs(int expert, short[] rows) {
        short[] out = new short[rows.length];
        for (int i = 0; i < rows.length; i++) {
            out[i] = ExpertFunction.apply(expert, rows[i]);
        }
        return out;
    }

    public static VectorSchemaRoot outputBatch(BufferAllocator allocator, int hidden, short[] rows) {
        try (ArrowBuf data = allocator.buffer(Math.max(1, 2L * rows.length))) {
            for (int i = 0; i < rows.length; i++) {
                data.setShort(2L * i, rows[i]);
            }
            return ColumnViews.load(
                    new Schema(
                            List.of(TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, hidden))),
                    allocator,
                    rows.length / hidden,
                    List.of(data));
        }
    }

    public static void checkCombine(
            CudaCombined c, RankInput mine, int localExperts, boolean[] present, DispatchOptions options) {
        Reference.CombineResult expected =
                Reference.combine(mine, localExperts, present, Reference.dispatchedRows(mine, options));
        assertEquals(mine.n(), c.numTokens());
        assertEquals(mine.n(), c.batch().getRowCount());
        short[] bits = new short[mine.n() * mine.hidden()];
        float[] lost = new float[mine.n()];
        c.copyHiddenTo(bits);
        c.copyLostWeightTo(lost);
        for (int t = 0; t < mine.n(); t++) {
            assertEquals(
                    Float.floatToIntBits(expected.lostWeight()[t]),
                    Float.floatToIntBits(lost[t]),
                    "rank " + c.rank() + " lost weight of token " + t);
            for (int h = 0; h < mine.hidden(); h++) {
                short want = expected.bits()[t * mine.hidden() + h];
                short got = bits[t * mine.hidden() + h];
                if (want != got) {
                    throw new AssertionError("rank " + c.rank() + " combine token " + t + " channel " + h
                            + ": expected " + ExpertFunction.toFloat(want) + " (0x" + Integer.toHexString(want & 0xFFFF)
                            + ") got " + ExpertFunction.toFloat(got) + " (0x" + Integer.toHexString(got & 0xFFFF)
                            + ")");
                }
            }
        }
    }
}
