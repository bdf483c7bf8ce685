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

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.numeric.Ue8m0;
import io.tokenroute.arrow.types.HiddenDtype;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.Dispatched;
import io.tokenroute.routing.ElasticBuffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * Runs one dispatch → expert → combine step on one rank and checks every output against {@link Reference}, with
 * outputs poisoned before the step. Shared by every transport's conformance tests; results in device memory are read
 * and written through {@link ResultAccess} (CUDA copies), never by the CPU.
 */
public final class StepChecker {
    private static final byte POISON = (byte) 0xA5;

    private StepChecker() {}

    /** Which ranks count as present for this rank's step. */
    public record Presence(boolean[] dispatchSources, boolean[] combineExperts) {
        public static Presence all(int ranks) {
            boolean[] all = new boolean[ranks];
            java.util.Arrays.fill(all, true);
            return new Presence(all, all.clone());
        }

        public static Presence without(int ranks, int... absent) {
            Presence p = all(ranks);
            for (int a : absent) {
                p.dispatchSources[a] = false;
                p.combineExperts[a] = false;
            }
            return p;
        }
    }

    /** Dispatches {@code inputs[self]}, checks, runs the expert, combines, checks; returns the step's reports. */
    public static StepOutcome step(
            ElasticBuffer buffer,
            BufferAllocator allocator,
            RankInput[] inputs,
            DispatchOptions options,
            boolean zeroCopy,
            Presence presence) {
        return step(buffer, allocator, inputs, options, zeroCopy, presence, presence);
    }

    /**
     * {@link #step} where nobody knows in advance which peers will take part (overload, false masks): each result is
     * checked against the reference for the rank's own mask right after the call. That the mask after a call explains
     * its result exactly (the masked peers are those whose data it did not use) is what this checks.
     */
    public static StepOutcome stepByOwnMask(
            ElasticBuffer buffer,
            BufferAllocator allocator,
            RankInput[] inputs,
            DispatchOptions options,
            boolean zeroCopy) {
        return step(buffer, allocator, inputs, options, zeroCopy, null, null);
    }

    private static Presence ofMask(ElasticBuffer buffer) {
        int[] mask = buffer.queryMask();
        boolean[] active = new boolean[mask.length];
        for (int r = 0; r < mask.length; r++) {
            active[r] = mask[r] == 0;
        }
        return new Presence(active, active.clone());
    }

    private static StepOutcome step(
            ElasticBuffer buffer,
            BufferAllocator allocator,
            RankInput[] inputs,
            DispatchOptions options,
            boolean zeroCopy,
            Presence dispatchPresence,
            Presence combinePresence) {
        int self = buffer.rank();
        int localExperts = buffer.config().localExperts();
        try (TokenBatch batch = inputs[self].toBatch(allocator)) {
            Dispatched d = buffer.dispatch(batch, options);
            int dispatchMasked = d.newlyMaskedCount();
            int[] dispatchMaskedRanks = d.newlyMasked();
            Presence afterDispatch = dispatchPresence != null ? dispatchPresence : ofMask(buffer);
            List<short[][]> seen =
                    checkDispatch(d, inputs, self, localExperts, options, afterDispatch.dispatchSources());
            List<VectorSchemaRoot> outputs = zeroCopy ? null : new ArrayList<>();
            ResultAccess access = ResultAccess.of(d);
            for (int l = 0; l < localExperts; l++) {
                poisonRoot(access, d.expertOutput(l));
            }
            try {
                for (int l = 0; l < localExperts; l++) {
                    int e = self * localExperts + l;
                    short[][] rows = seen.get(l);
                    if (zeroCopy) {
                        writeRows(access, d.expertOutputAddress(l), e, rows);
                    } else {
                        outputs.add(expertOutputBatch(allocator, buffer.config().hidden(), e, rows));
                    }
                }
                Combined c = buffer.combine(d, outputs, batch);
                Presence afterCombine = combinePresence != null ? combinePresence : ofMask(buffer);
                checkCombine(c, inputs[self], localExperts, afterCombine.combineExperts(), options);
                poisonReceived(d);
                poisonRoot(ResultAccess.of(c), c.batch());
                return new StepOutcome(d, dispatchMaskedRanks, c.newlyMasked(), dispatchMasked);
            } finally {
                if (outputs != null) {
                    outputs.forEach(VectorSchemaRoot::close);
                }
            }
        }
    }

    /**
     * A step without checks, for a rank whose view differs from the survivors' (a stalled victim): dispatch, the expert
     * on whatever arrived (so peers that still read this rank's outputs get correct ones), combine.
     */
    public static void stepUnchecked(ElasticBuffer buffer, BufferAllocator allocator, RankInput mine) {
        int localExperts = buffer.config().localExperts();
        int hidden = buffer.config().hidden();
        try (TokenBatch batch = mine.toBatch(allocator)) {
            Dispatched d = buffer.dispatch(batch);
            ResultAccess access = ResultAccess.of(d);
            for (int l = 0; l < localExperts; l++) {
                short[] all = access.shorts(dataAddress(d.expert(l), TokenBatchSchema.HIDDEN), d.recvCount(l) * hidden);
                short[][] rows = new short[d.recvCount(l)][];
                for (int i = 0; i < rows.length; i++) {
                    rows[i] = Arrays.copyOfRange(all, i * hidden, (i + 1) * hidden);
                }
                writeRows(access, d.expertOutputAddress(l), buffer.rank() * localExperts + l, rows);
            }
            buffer.combine(d, batch);
        }
    }

    /** What one step reported. */
    public record StepOutcome(
            Dispatched dispatched, int[] dispatchNewlyMasked, int[] combineNewlyMasked, int dispatchMaskedCount) {}

    /** Checks every expert's rows, provenance and layout; returns the rows as the expert sees them (bf16). */
    public static List<short[][]> checkDispatch(
            Dispatched d, RankInput[] inputs, int self, int localExperts, DispatchOptions options, boolean[] sources) {
        List<short[][]> seen = new ArrayList<>();
        ResultAccess access = ResultAccess.of(d);
        for (int l = 0; l < localExperts; l++) {
            List<Reference.Row> expected = Reference.expertRows(inputs, self, localExperts, l, sources);
            assertEquals(expected.size(), d.recvCount(l), "rank " + self + " expert " + l + " row count");
            VectorSchemaRoot root = d.expert(l);
            assertEquals(expected.size(), root.getRowCount());
            int n = expected.size();
            int[] srcRank =
                    access.ints(root.getVector("src_rank").getDataBuffer().memoryAddress(), n);
            int[] srcToken =
                    access.ints(root.getVector("src_token").getDataBuffer().memoryAddress(), n);
            int hidden = inputs[self].hidden();
            RowBlock block = RowBlock.read(access, root, n, hidden, options);
            short[][] rows = new short[n][];
            int[] perSource = new int[inputs.length];
            for (int i = 0; i < n; i++) {
                Reference.Row row = expected.get(i);
                String where = "rank " + self + " expert " + l + " row " + i;
                assertEquals(row.srcRank(), srcRank[i], where + " src_rank");
                assertEquals(row.srcToken(), srcToken[i], where + " src_token");
                perSource[row.srcRank()]++;
                rows[i] = options.fp8()
                        ? checkFp8Row(block, i, hidden, row.bits(), options, where)
                        : checkBf16Row(block, i, hidden, row.bits(), where);
            }
            int begin = 0;
            for (int p = 0; p < inputs.length; p++) {
                assertEquals(begin, d.layoutBegin(l, p), "layout begin expert " + l + " source " + p);
                assertEquals(perSource[p], d.layoutCount(l, p), "layout count expert " + l + " source " + p);
                begin += perSource[p];
            }
            seen.add(rows);
        }
        return seen;
    }

    /** Received rows as host copies: bf16 bits, or fp8 codes and their scales' bytes. */
    public record RowBlock(short[] bf16, byte[] fp8, byte[] scales) {
        /** Copies the first {@code n} rows of {@code root}'s hidden (bf16) or fp8 and scales columns. */
        public static RowBlock read(
                ResultAccess access, VectorSchemaRoot root, int n, int hidden, DispatchOptions options) {
            if (!options.fp8()) {
                return new RowBlock(access.shorts(dataAddress(root, TokenBatchSchema.HIDDEN), n * hidden), null, null);
            }
            int scaleBytes = n * (hidden / 128) * (options.ue8m0() ? 1 : 4);
            return new RowBlock(
                    null,
                    access.bytes(dataAddress(root, "fp8"), n * hidden),
                    access.bytes(dataAddress(root, "scales"), scaleBytes));
        }
    }

    /** Checks row {@code i} of {@code block}'s bf16 rows bit for bit; returns it. */
    public static short[] checkBf16Row(RowBlock block, int i, int hidden, short[] expected, String where) {
        short[] actual = Arrays.copyOfRange(block.bf16(), i * hidden, (i + 1) * hidden);
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected, actual, where + " hidden bits");
        return actual;
    }

    /**
     * Checks row {@code i} of {@code block}'s fp8 codes and scales against the quantiser applied to {@code source};
     * returns the row as the expert sees it (dequantised, bf16).
     */
    public static short[] checkFp8Row(
            RowBlock block, int i, int hidden, short[] source, DispatchOptions options, String where) {
        int groups = hidden / 128;
        byte[] q = new byte[hidden];
        float[] scales = new float[groups];
        short[] dequantised = Reference.fp8RoundTrip(source, options.roundScale(), q, scales);
        for (int c = 0; c < hidden; c++) {
            assertEquals(q[c], block.fp8()[i * hidden + c], where + " fp8 channel " + c);
        }
        ByteBuffer scaleBytes = ByteBuffer.wrap(block.scales()).order(ByteOrder.LITTLE_ENDIAN);
        for (int g = 0; g < groups; g++) {
            if (options.ue8m0()) {
                assertEquals(Ue8m0.pack(scales[g]), block.scales()[groups * i + g], where + " ue8m0");
            } else {
                assertEquals(
                        Float.floatToIntBits(scales[g]),
                        scaleBytes.getInt(4 * (groups * i + g)),
                        where + " scale " + g);
            }
        }
        return dequantised;
    }

    /** Checks combine output bits and lost weight against the reference. */
    public static void checkCombine(
            Combined c, RankInput mine, int localExperts, boolean[] present, DispatchOptions options) {
        Reference.CombineResult expected =
                Reference.combine(mine, localExperts, present, Reference.dispatchedRows(mine, options));
        assertEquals(mine.n(), c.numTokens());
        for (int t = 0; t < mine.n(); t++) {
            assertEquals(expected.lostWeight()[t], c.lostWeight(t), 0f, "lost weight of token " + t);
            for (int h = 0; h < mine.hidden(); h++) {
                short want = expected.bits()[t * mine.hidden() + h];
                short got = c.hiddenBits(t, h);
                if (want != got) {
                    throw new AssertionError("combine token " + t + " channel " + h + ": expected "
                            + ExpertFunction.toFloat(want) + " got " + ExpertFunction.toFloat(got));
                }
            }
        }
    }

    /** Writes the expert's outputs for {@code rows} (row-major) at {@code address}. */
    public static void writeRows(ResultAccess access, long address, int expert, short[][] rows) {
        int hidden = rows.length == 0 ? 0 : rows[0].length;
        short[] out = new short[rows.length * hidden];
        for (int i = 0; i < rows.length; i++) {
            for (int c = 0; c < hidden; c++) {
                out[i * hidden + c] = ExpertFunction.apply(expert, rows[i][c]);
            }
        }
        access.write(address, out);
    }

    private static VectorSchemaRoot expertOutputBatch(
            BufferAllocator allocator, int hidden, int expert, short[][] rows) {
        try (ArrowBuf data = allocator.buffer(Math.max(1, 2L * hidden * rows.length))) {
            writeRows(ResultAccess.host(), data.memoryAddress(), expert, rows);
            return io.tokenroute.arrow.batch.ColumnViews.load(
                    new org.apache.arrow.vector.types.pojo.Schema(
                            List.of(TokenBatchSchema.hiddenField(TokenBatchSchema.HIDDEN, HiddenDtype.BF16, hidden))),
                    allocator,
                    rows.length,
                    List.of(data));
        }
    }

    private static long dataAddress(VectorSchemaRoot root, String column) {
        FieldVector v = root.getVector(column);
        return ((FixedSizeListVector) v).getDataVector().getDataBuffer().memoryAddress();
    }

    /**
     * Overwrites the rank's private receive buffers with a poison pattern after they were checked, so stale data cannot
     * pass next time. (The combine-send rows are shared memory peers may still read: they are poisoned right after
     * the next dispatch, when the protocol guarantees peers are done with them.)
     */
    public static void poisonReceived(Dispatched d) {
        ResultAccess access = ResultAccess.of(d);
        for (int l = 0; l < d.numLocalExperts(); l++) {
            poisonRoot(access, d.expert(l));
        }
    }

    /** Overwrites every data buffer of {@code root} (host memory) with the poison pattern. */
    public static void poisonRoot(VectorSchemaRoot root) {
        poisonRoot(ResultAccess.host(), root);
    }

    /** Overwrites every data buffer of {@code root} with the poison pattern, through {@code access}. */
    public static void poisonRoot(ResultAccess access, VectorSchemaRoot root) {
        for (FieldVector v : root.getFieldVectors()) {
            FieldVector data = v instanceof FixedSizeListVector list ? list.getDataVector() : v;
            ArrowBuf buf = data.getDataBuffer();
            access.fill(buf.memoryAddress(), buf.capacity(), POISON);
        }
    }
}
