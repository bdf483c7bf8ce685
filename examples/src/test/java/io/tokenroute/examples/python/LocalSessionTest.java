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
package io.tokenroute.examples.python;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.cdata.ExportedBatch;
import io.tokenroute.arrow.cdata.ExportedStream;
import io.tokenroute.arrow.cdata.HostExport;
import io.tokenroute.arrow.stream.RecordBatchQueue;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.arrow.c.ArrowArrayStream;
import org.apache.arrow.c.Data;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.junit.jupiter.api.Test;

/**
 * The one-thread facade over a {@code local} group: a step on R rank threads, a left-out rank masked and readmitted,
 * bad input refused before any rank runs, a close that waits for the last consumer of an export, and streams of a
 * rank's combine outputs over successive steps.
 */
class LocalSessionTest {
    private static final int RANKS = 3;
    private static final int EXPERTS = 6;
    private static final int HIDDEN = 16;
    private static final int TOKENS = 5;
    private static final int TOP_K = 2;
    /** Generous next to a healthy step, so that a loaded machine never masks a live rank. */
    private static final long TIMEOUT_MILLIS = 300;

    /** Weights summing to 1 with identity experts: every combined row is the token's own row (exact in bf16). */
    private static List<TokenBatch> batches(LocalSession s, long seed) {
        Random random = new Random(seed);
        List<TokenBatch> out = new ArrayList<>();
        for (int r = 0; r < RANKS; r++) {
            float[] x = new float[TOKENS * HIDDEN];
            long[] idx = new long[TOKENS * TOP_K];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) random.nextGaussian();
            }
            for (int t = 0; t < TOKENS; t++) {
                int first = random.nextInt(EXPERTS);
                idx[t * TOP_K] = first;
                idx[t * TOP_K + 1] = (first + 1 + random.nextInt(EXPERTS - 1)) % EXPERTS;
            }
            float[] w = new float[TOKENS * TOP_K];
            Arrays.fill(w, 0.5f);
            out.add(s.batch(x, idx, w, TOP_K));
        }
        return out;
    }

    @Test
    void identityStepReturnsEveryTokensRow() {
        try (LocalSession s = LocalSession.open(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, TIMEOUT_MILLIS)) {
            List<TokenBatch> batches = batches(s, 1);
            StepResult step = s.step(batches, Experts.IDENTITY);
            assertFalse(step.anyNewlyMasked());
            for (int r = 0; r < RANKS; r++) {
                assertArrayEquals(batches.get(r).hiddenBf16Bits(), step.hiddenBits(r), "rank " + r);
                assertArrayEquals(new float[TOKENS], step.lostWeights(r));
            }
            batches.forEach(TokenBatch::close);
        }
    }

    @Test
    void leftOutRankIsMaskedThenReadmitted() {
        try (LocalSession s = LocalSession.open(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, TIMEOUT_MILLIS)) {
            List<TokenBatch> batches = batches(s, 2);
            List<TokenBatch> withoutRank1 = new ArrayList<>(batches);
            withoutRank1.set(1, null);
            StepResult step = s.step(withoutRank1, Experts.IDENTITY);
            assertArrayEquals(new int[] {1}, step.newlyMasked(0));
            assertArrayEquals(new int[] {1}, step.newlyMasked(2));
            assertArrayEquals(new int[] {0, 1, 0}, s.agreeMask());
            assertThrows(IllegalArgumentException.class, () -> s.step(batches, Experts.IDENTITY));
            assertTrue(s.readmit(1));
            StepResult healthy = s.step(batches, Experts.IDENTITY);
            assertFalse(healthy.anyNewlyMasked());
            assertArrayEquals(batches.get(1).hiddenBf16Bits(), healthy.hiddenBits(1));
            assertThrows(IllegalStateException.class, () -> step.combined(0), "an older step's views are stale");
            batches.forEach(TokenBatch::close);
        }
    }

    @Test
    void badBatchIsRefusedBeforeAnyRankRuns() {
        try (LocalSession s = LocalSession.open(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, TIMEOUT_MILLIS)) {
            List<TokenBatch> batches = batches(s, 3);
            TokenBatch bad = s.batch(new float[HIDDEN], new long[] {EXPERTS, -1}, new float[] {1, 0}, TOP_K);
            List<TokenBatch> withBad = new ArrayList<>(batches);
            withBad.set(2, bad);
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> s.step(withBad, Experts.IDENTITY));
            assertTrue(e.getMessage().contains("rank 2") && e.getMessage().contains("topk_idx"), e.getMessage());
            assertFalse(s.step(batches, Experts.IDENTITY).anyNewlyMasked(), "nothing was sent: all ranks still up");
            bad.close();
            batches.forEach(TokenBatch::close);
        }
    }

    @Test
    void closeWaitsForTheLastConsumerOfAnExport() {
        try (RootAllocator consumer = new RootAllocator()) {
            LocalSession s = LocalSession.open(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, TIMEOUT_MILLIS);
            List<TokenBatch> batches = batches(s, 4);
            StepResult step = s.step(batches, Experts.IDENTITY);
            short[] expected = batches.get(0).hiddenBf16Bits();
            long combinedAddress = step.combined(0).hiddenAddress();
            VectorSchemaRoot imported;
            try (ExportedBatch exported = step.exportCombined(0)) {
                imported = HostExport.importRoot(consumer, exported.arrayAddress(), exported.schemaAddress());
            }
            batches.forEach(TokenBatch::close);
            s.close();
            assertTrue(s.isCloseRequested());
            assertFalse(s.isClosed(), "a consumer still reads rank 0's output");
            long values = ((FixedSizeListVector) imported.getVector("hidden"))
                    .getDataVector()
                    .getDataBuffer()
                    .memoryAddress();
            assertEquals(combinedAddress, values, "the consumer reads rank 0's own output memory");
            short[] read = new short[expected.length];
            for (int i = 0; i < read.length; i++) {
                read[i] = MemoryUtil.getShort(values + 2L * i);
            }
            assertArrayEquals(expected, read, "still readable after close()");
            imported.close();
            assertTrue(s.isClosed(), "the last release completed the close");
            assertNull(s.closeFailure());
            assertEquals(0, s.exportBytes());
        }
    }

    // ------------------------------------------------------------------------------------------------ streams

    @Test
    void aStreamHoldsEveryLaterCombineOutputOfItsRankAndDefersTheClose() throws Exception {
        try (RootAllocator consumer = new RootAllocator()) {
            LocalSession s = LocalSession.open(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, TIMEOUT_MILLIS);
            List<TokenBatch> before = batches(s, 10);
            s.step(before, Experts.IDENTITY);
            before.forEach(TokenBatch::close);
            RecordBatchQueue stream = s.streamCombined(1);
            List<short[]> expected = new ArrayList<>();
            for (int step = 0; step < 3; step++) {
                List<TokenBatch> batches = batches(s, 20 + step);
                s.step(batches, Experts.IDENTITY);
                expected.add(batches.get(1).hiddenBf16Bits());
                batches.forEach(TokenBatch::close);
            }
            stream.finish();
            ArrowArrayStream taken = ArrowArrayStream.allocateNew(consumer);
            try (ExportedStream exported = s.exportStream(stream)) {
                taken.save(ArrowArrayStream.wrap(exported.streamAddress()).snapshot());
                ArrowArrayStream.wrap(exported.streamAddress()).markReleased();
            }
            s.close();
            assertFalse(s.isClosed(), "the consumer holds the stream");
            try (ArrowReader reader = Data.importArrayStream(consumer, taken)) {
                for (short[] want : expected) {
                    assertTrue(reader.loadNextBatch());
                    VectorSchemaRoot batch = reader.getVectorSchemaRoot();
                    assertEquals(TOKENS, batch.getRowCount());
                    long values = ((FixedSizeListVector) batch.getVector("hidden"))
                            .getDataVector()
                            .getDataBuffer()
                            .memoryAddress();
                    short[] got = new short[want.length];
                    for (int i = 0; i < got.length; i++) {
                        got[i] = MemoryUtil.getShort(values + 2L * i);
                    }
                    assertArrayEquals(want, got, "the step's own output, not a later step's");
                    Float4Vector lost = (Float4Vector) batch.getVector("lost_weight");
                    for (int t = 0; t < TOKENS; t++) {
                        assertEquals(0f, lost.get(t));
                    }
                }
                assertFalse(reader.loadNextBatch(), "one batch per step after the stream started");
            }
            taken.close();
            assertTrue(s.isClosed(), "releasing the stream completed the close");
            assertNull(s.closeFailure());
        }
    }

    @Test
    void aStreamNobodyTookIsFreedByTheClose() throws Exception {
        LocalSession s = LocalSession.open(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, TIMEOUT_MILLIS);
        RecordBatchQueue stream = s.streamCombined(0);
        List<TokenBatch> batches = batches(s, 30);
        s.step(batches, Experts.IDENTITY);
        batches.forEach(TokenBatch::close);
        assertEquals(1, stream.queuedBatches());
        assertTrue(s.exportBytes() > 0, "the copy is accounted to the exports");
        s.close();
        assertTrue(s.isClosed());
        assertNull(s.closeFailure());
    }

    @Test
    void aFailedStepEndsTheStreamWithItsReason() throws Exception {
        LocalSession s = LocalSession.open(RANKS, EXPERTS, HIDDEN, TOKENS, TOP_K, TIMEOUT_MILLIS);
        RecordBatchQueue stream = s.streamCombined(2);
        List<TokenBatch> batches = batches(s, 40);
        s.step(batches, Experts.IDENTITY);
        Experts crashing = (rank, dispatched) -> {
            if (rank == 1) {
                throw new IllegalStateException("expert kernel on rank 1 crashed");
            }
            Experts.IDENTITY.compute(rank, dispatched);
        };
        assertThrows(IllegalStateException.class, () -> s.step(batches, crashing));
        assertTrue(stream.loadNextBatch(), "the step before the failure");
        IOException e = assertThrows(IOException.class, stream::loadNextBatch);
        assertTrue(e.getMessage().contains("expert kernel on rank 1 crashed"), e.getMessage());
        batches.forEach(TokenBatch::close);
        s.close();
        assertTrue(s.isClosed(), "the never-exported stream was freed");
    }
}
