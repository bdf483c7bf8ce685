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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.routing.Combined;
import io.tokenroute.routing.DispatchOptions;
import io.tokenroute.routing.ElasticBuffer;
import io.tokenroute.routing.PrefillDispatched;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;

/**
 * Runs one prefill dispatch → experts → combine on one rank and checks every output against {@link PrefillReference},
 * outputs poisoned before they are written. Shared by every transport's prefill tests; results in device memory are
 * read, written and poisoned through {@link ResultAccess} (CUDA copies on the result's stream), never by the CPU.
 *
 * <p>Peers are either present, {@code absent} (masked before the step: the reference leaves them out), or
 * {@code doubtful} (a peer that may fail during the step). A doubtful source's rows are all there, exactly, or none
 * are and the source is masked after the call; each token's combine output and lost weight must equal the reference
 * for one set of doubtful destinations left out, all of them masked after the call. Nothing else passes.
 */
public final class PrefillChecker {
    private PrefillChecker() {}

    /** What a checked step reported. */
    public record Outcome(int[] dispatchNewlyMasked, int[] combineNewlyMasked, int received) {}

    /** A step where every peer takes part. */
    public static Outcome healthy(
            ElasticBuffer buffer, BufferAllocator allocator, RankInput[] inputs, DispatchOptions options) {
        return step(buffer, allocator, inputs, options, new boolean[inputs.length], new boolean[inputs.length]);
    }

    /**
     * Dispatches {@code inputs[self]}, checks the receive batch and its index, runs the test experts, combines, checks.
     *
     * @param absent peers masked before the step
     * @param doubtful peers that may fail during it
     */
    public static Outcome step(
            ElasticBuffer buffer,
            BufferAllocator allocator,
            RankInput[] inputs,
            DispatchOptions options,
            boolean[] absent,
            boolean[] doubtful) {
        int self = buffer.rank();
        int ranks = inputs.length;
        int localExperts = buffer.config().localExperts();
        int maxTopK = buffer.config().maxTopK();
        try (TokenBatch batch = inputs[self].toBatch(allocator)) {
            PrefillDispatched d = buffer.prefillDispatch(batch, options);
            int[] dispatchMasked = d.newlyMasked();
            int[] maskAfterDispatch = maskOf(buffer);
            boolean[] sources = new boolean[ranks];
            for (int p = 0; p < ranks; p++) {
                sources[p] = !absent[p] && !(doubtful[p] && maskAfterDispatch[p] != 0 && d.sourceCount(p) == 0);
            }
            List<PrefillReference.Row> expected = PrefillReference.received(
                    inputs, self, localExperts, maxTopK, sources, p -> Reference.bf16Rows(inputs[p]));
            short[][] seen = checkReceived(d, expected, inputs, self, maxTopK, options);
            checkExpertIndex(d, expected, localExperts);
            runExperts(d, self, localExperts, seen);
            Combined c = buffer.prefillCombine(d, batch);
            checkCombine(
                    c,
                    inputs[self],
                    localExperts,
                    ranks,
                    absent,
                    doubtful,
                    maskOf(buffer),
                    Reference.dispatchedRows(inputs[self], options));
            Outcome outcome = new Outcome(dispatchMasked, c.newlyMasked(), d.numReceived());
            StepChecker.poisonRoot(ResultAccess.of(d), d.batch());
            StepChecker.poisonRoot(ResultAccess.of(c), c.batch());
            return outcome;
        }
    }

    /**
     * A step without checks, for a rank whose view differs from the checked ranks' (a stalled victim): dispatch, the
     * test experts on the bf16 rows that arrived (so peers still reading this rank's partial rows get correct ones),
     * combine.
     */
    public static void unchecked(ElasticBuffer buffer, BufferAllocator allocator, RankInput mine) {
        int hidden = buffer.config().hidden();
        try (TokenBatch batch = mine.toBatch(allocator)) {
            PrefillDispatched d = buffer.prefillDispatch(batch, DispatchOptions.BF16);
            short[] rows = ResultAccess.of(d).shorts(hiddenAddress(d.batch(), "hidden"), d.numReceived() * hidden);
            short[][] seen = new short[d.numReceived()][hidden];
            for (int i = 0; i < seen.length; i++) {
                System.arraycopy(rows, i * hidden, seen[i], 0, hidden);
            }
            runExperts(d, buffer.rank(), buffer.config().localExperts(), seen);
            buffer.prefillCombine(d, batch);
        }
    }

    /** Checks rows, routing and provenance of the receive batch; returns each row as the experts see it (bf16). */
    private static short[][] checkReceived(
            PrefillDispatched d,
            List<PrefillReference.Row> expected,
            RankInput[] inputs,
            int self,
            int maxTopK,
            DispatchOptions options) {
        String who = "rank " + self + " prefill step " + d.step();
        assertEquals(expected.size(), d.numReceived(), who + ": received rows");
        VectorSchemaRoot root = d.batch();
        assertEquals(expected.size(), root.getRowCount(), who + ": batch rows");
        ResultAccess access = ResultAccess.of(d);
        int rows = expected.size();
        int[] srcRank = access.ints(root.getVector("src_rank").getDataBuffer().memoryAddress(), rows);
        int[] srcToken = access.ints(root.getVector("src_token").getDataBuffer().memoryAddress(), rows);
        byte[] ids = access.bytes(hiddenAddress(root, "topk_idx"), 8 * rows * maxTopK);
        int[] weights = access.ints(hiddenAddress(root, "topk_weights"), rows * maxTopK);
        java.nio.LongBuffer idValues = java.nio.ByteBuffer.wrap(ids)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .asLongBuffer();
        int hidden = inputs[self].hidden();
        StepChecker.RowBlock block = StepChecker.RowBlock.read(access, root, rows, hidden, options);
        int[] perSource = new int[inputs.length];
        short[][] seen = new short[expected.size()][];
        for (int i = 0; i < expected.size(); i++) {
            PrefillReference.Row row = expected.get(i);
            String where = who + " row " + i;
            assertEquals(row.srcRank(), srcRank[i], where + " src_rank");
            assertEquals(row.srcToken(), srcToken[i], where + " src_token");
            long[] gotIds = new long[maxTopK];
            float[] gotWeights = new float[maxTopK];
            for (int j = 0; j < maxTopK; j++) {
                gotIds[j] = idValues.get(i * maxTopK + j);
                gotWeights[j] = Float.intBitsToFloat(weights[i * maxTopK + j]);
            }
            assertArrayEquals(row.localIds(), gotIds, where + " topk_idx (local ids)");
            assertArrayEquals(row.weights(), gotWeights, 0f, where + " topk_weights");
            seen[i] = options.fp8()
                    ? StepChecker.checkFp8Row(block, i, hidden, row.bits(), options, where)
                    : StepChecker.checkBf16Row(block, i, hidden, row.bits(), where);
            perSource[row.srcRank()]++;
        }
        int begin = 0;
        for (int p = 0; p < inputs.length; p++) {
            assertEquals(begin, d.sourceBegin(p), who + ": first row of source " + p);
            assertEquals(perSource[p], d.sourceCount(p), who + ": rows of source " + p);
            begin += perSource[p];
        }
        return seen;
    }

    /** Per local expert: the rows routed to it, ascending, prefix-summed, with an output view of matching size. */
    private static void checkExpertIndex(PrefillDispatched d, List<PrefillReference.Row> expected, int localExperts) {
        assertEquals(localExperts, d.numLocalExperts());
        int begin = 0;
        for (int l = 0; l < localExperts; l++) {
            List<Integer> rows = new ArrayList<>();
            for (int i = 0; i < expected.size(); i++) {
                for (long id : expected.get(i).localIds()) {
                    if (id == l) {
                        rows.add(i);
                    }
                }
            }
            assertEquals(rows.size(), d.expertCount(l), "rows of local expert " + l);
            assertEquals(begin, d.expertBegin(l), "first entry of local expert " + l);
            for (int i = 0; i < rows.size(); i++) {
                assertEquals(rows.get(i), d.expertRow(l, i), "entry " + i + " of local expert " + l);
            }
            assertEquals(rows.size(), d.expertOutput(l).getRowCount(), "output rows of local expert " + l);
            begin += rows.size();
        }
    }

    /** Poisons each expert's output rows, then writes {@link ExpertFunction} of each routed row into them. */
    private static void runExperts(PrefillDispatched d, int self, int localExperts, short[][] seen) {
        for (int l = 0; l < localExperts; l++) {
            poison(d, d.expertOutput(l));
            short[][] rows = new short[d.expertCount(l)][];
            for (int i = 0; i < rows.length; i++) {
                rows[i] = seen[d.expertRow(l, i)];
            }
            StepChecker.writeRows(ResultAccess.of(d), d.expertOutputAddress(l), self * localExperts + l, rows);
        }
    }

    /**
     * Each token's output and lost weight equal the reference for some subset of the doubtful destinations left out
     * (all of which must be masked after the call), the absent ones always left out.
     */
    private static void checkCombine(
            Combined c,
            RankInput mine,
            int localExperts,
            int ranks,
            boolean[] absent,
            boolean[] doubtful,
            int[] maskAfter,
            Reference.RowSource rows) {
        assertEquals(mine.n(), c.numTokens(), "combined rows");
        int[] doubt = java.util.stream.IntStream.range(0, ranks)
                .filter(r -> doubtful[r])
                .toArray();
        List<Reference.CombineResult> candidates = new ArrayList<>();
        List<boolean[]> leftOut = new ArrayList<>();
        for (int subset = 0; subset < 1 << doubt.length; subset++) {
            boolean[] out = absent.clone();
            for (int i = 0; i < doubt.length; i++) {
                out[doubt[i]] |= (subset >> i & 1) != 0;
            }
            leftOut.add(out);
            candidates.add(PrefillReference.combine(mine, localExperts, ranks, (t, r) -> !out[r], rows));
        }
        int h = mine.hidden();
        for (int t = 0; t < mine.n(); t++) {
            int match = -1;
            for (int i = 0; i < candidates.size() && match < 0; i++) {
                if (tokenEquals(c, candidates.get(i), t, h)) {
                    match = i;
                }
            }
            if (match < 0) {
                Reference.CombineResult all = candidates.get(0);
                for (int x = 0; x < h; x++) {
                    short want = all.bits()[t * h + x];
                    if (want != c.hiddenBits(t, x)) {
                        throw new AssertionError("combine token " + t + " channel " + x + ": expected "
                                + ExpertFunction.toFloat(want) + " (or a doubtful rank's share lost), got "
                                + ExpertFunction.toFloat(c.hiddenBits(t, x)) + "; lost weight " + c.lostWeight(t)
                                + " vs " + all.lostWeight()[t]);
                    }
                }
                throw new AssertionError("combine token " + t + ": lost weight " + c.lostWeight(t) + ", expected "
                        + all.lostWeight()[t]);
            }
            for (int r = 0; r < ranks; r++) {
                if (leftOut.get(match)[r] && !absent[r] && tokenUses(mine, t, localExperts, r)) {
                    assertEquals(1, maskAfter[r], "token " + t + " left out rank " + r + ", which is not masked");
                }
            }
        }
    }

    private static boolean tokenEquals(Combined c, Reference.CombineResult want, int t, int h) {
        if (Float.floatToIntBits(want.lostWeight()[t]) != Float.floatToIntBits(c.lostWeight(t))) {
            return false;
        }
        for (int x = 0; x < h; x++) {
            if (want.bits()[t * h + x] != c.hiddenBits(t, x)) {
                return false;
            }
        }
        return true;
    }

    private static boolean tokenUses(RankInput in, int t, int localExperts, int r) {
        for (int j = 0; j < in.topK(); j++) {
            long e = in.idx()[t * in.topK() + j];
            if (e >= 0 && e / localExperts == r) {
                return true;
            }
        }
        return false;
    }

    /** The rank's mask; all zeros in non-elastic mode (a failure there throws instead of masking). */
    private static int[] maskOf(ElasticBuffer buffer) {
        return buffer.config().elastic()
                ? buffer.queryMask()
                : new int[buffer.config().ranks()];
    }

    /** Overwrites every data buffer of {@code root}, one of {@code d}'s batches, with the poison pattern. */
    public static void poison(PrefillDispatched d, VectorSchemaRoot root) {
        StepChecker.poisonRoot(ResultAccess.of(d), root);
    }

    private static long hiddenAddress(VectorSchemaRoot root, String column) {
        return ((FixedSizeListVector) root.getVector(column))
                .getDataVector()
                .getDataBuffer()
                .memoryAddress();
    }
}
