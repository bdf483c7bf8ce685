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
package io.tokenroute.arrow.stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.cdata.ExportedStream;
import io.tokenroute.arrow.cdata.HostExport;
import io.tokenroute.arrow.ipc.IpcStreams;
import io.tokenroute.arrow.testkit.RandomTokenBatches;
import io.tokenroute.arrow.types.HiddenDtype;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowArrayStream;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.c.Data;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.types.pojo.Schema;
import org.junit.jupiter.api.Test;

/**
 * Successive batches through a {@link RecordBatchQueue}: as an Arrow C stream (read here through Arrow Java's own
 * stream importer and at the struct level, with {@code get_schema}/{@code get_next}/{@code release}) and as an IPC
 * stream. Every batch is compared with the arrays it was made from.
 */
class RecordBatchQueueTest {
    private static final int H = 16;
    private static final int K = 2;
    private final Random rng = new Random(99);

    /** The source arrays of one batch. */
    private record Step(float[] x, long[] idx, float[] w) {
        int rows() {
            return idx.length / K;
        }
    }

    private List<Step> steps(int count) {
        List<Step> out = new ArrayList<>();
        for (int s = 0; s < count; s++) {
            int n = 1 + rng.nextInt(9);
            out.add(new Step(
                    RandomTokenBatches.floats(rng, n * H),
                    RandomTokenBatches.idx(rng, n * K, 32),
                    RandomTokenBatches.weights(rng, n * K)));
        }
        return out;
    }

    private static Schema schema() {
        return TokenBatchSchema.schema(HiddenDtype.FP32, H, K);
    }

    @Test
    void aProducerThreadStreamsCopiesOfAReusedRootToArrowsStreamImporter() throws Exception {
        List<Step> steps = steps(6);
        ExecutorService producer = Executors.newSingleThreadExecutor();
        try (BufferAllocator a = new RootAllocator()) {
            RecordBatchQueue queue = new RecordBatchQueue(a, schema(), 2);
            try (ExportedStream exported = HostExport.exportStream(a, queue);
                    ArrowArrayStream stream = ArrowArrayStream.allocateNew(a)) {
                // The consumer moves the stream out of the producer's struct, as pyarrow's importer does.
                stream.save(ArrowArrayStream.wrap(exported.streamAddress()).snapshot());
                ArrowArrayStream.wrap(exported.streamAddress()).markReleased();
                Future<?> produced = producer.submit(() -> {
                    for (Step step : steps) {
                        // One batch object, overwritten per step, as routing results are.
                        try (TokenBatch reused =
                                TokenBatch.fromFloats(a, HiddenDtype.FP32, H, step.x(), K, step.idx(), step.w())) {
                            queue.putCopy(reused.root());
                        }
                    }
                    queue.finish();
                    return null;
                });
                try (ArrowReader reader = Data.importArrayStream(a, stream)) {
                    assertEquals(schema(), reader.getVectorSchemaRoot().getSchema());
                    for (Step step : steps) {
                        assertTrue(reader.loadNextBatch());
                        check(step, reader.getVectorSchemaRoot());
                    }
                    assertFalse(reader.loadNextBatch(), "the stream ends after the last step");
                }
                produced.get();
                assertTrue(exported.isReleased());
            }
            assertEquals(0, a.getAllocatedMemory(), "every batch and the reader were released");
        } finally {
            producer.shutdown();
        }
    }

    @Test
    void theStructLevelCallbacksHandOverEachBatchZeroCopyAndEarlierBatchesStayReadable() throws Exception {
        List<Step> steps = steps(3);
        try (BufferAllocator a = new RootAllocator()) {
            List<TokenBatch> sources = new ArrayList<>();
            RecordBatchQueue queue = new RecordBatchQueue(a, schema(), 8);
            for (Step step : steps) {
                TokenBatch b = TokenBatch.fromFloats(a, HiddenDtype.FP32, H, step.x(), K, step.idx(), step.w());
                sources.add(b);
                queue.put(b.root());
            }
            queue.finish();
            List<VectorSchemaRoot> imported = new ArrayList<>();
            try (ExportedStream exported = HostExport.exportStream(a, queue)) {
                ArrowArrayStream stream = ArrowArrayStream.wrap(exported.streamAddress());
                try (ArrowSchema schema = ArrowSchema.allocateNew(a)) {
                    stream.getSchema(schema);
                    assertEquals(schema(), Data.importSchema(a, schema, null));
                }
                for (int s = 0; ; s++) {
                    try (ArrowArray array = ArrowArray.allocateNew(a);
                            ArrowSchema schema = ArrowSchema.allocateNew(a)) {
                        stream.getNext(array);
                        if (MemoryUtil.getLong(array.memoryAddress() + 64) == 0) {
                            assertEquals(steps.size(), s, "end of stream: an array with release == NULL");
                            break;
                        }
                        long items = child(child(array.memoryAddress(), 0), 0);
                        assertEquals(sources.get(s).hiddenAddress(), buffer(items, 1), "zero-copy: Java's memory");
                        Data.exportSchema(a, schema(), null, schema);
                        imported.add(HostExport.importRoot(a, array.memoryAddress(), schema.memoryAddress()));
                    }
                }
                sources.forEach(TokenBatch::close);
                for (int s = 0; s < steps.size(); s++) {
                    check(steps.get(s), imported.get(s));
                }
                assertFalse(exported.isReleased(), "read in place: the consumer still has to release it");
                stream.release();
                assertTrue(exported.isReleased());
            }
            imported.forEach(VectorSchemaRoot::close);
            assertEquals(0, a.getAllocatedMemory());
        }
    }

    @Test
    void aFailureReachesTheConsumerAfterTheQueuedBatches() throws Exception {
        List<Step> steps = steps(2);
        try (BufferAllocator a = new RootAllocator()) {
            RecordBatchQueue queue = new RecordBatchQueue(a, schema(), 4);
            try (TokenBatch b = batch(a, steps.get(0))) {
                queue.putCopy(b.root());
            }
            queue.fail("rank 2 was masked in step 7");
            assertThrows(IllegalStateException.class, () -> {
                try (TokenBatch b = batch(a, steps.get(1))) {
                    queue.putCopy(b.root());
                }
            });
            try (ExportedStream exported = HostExport.exportStream(a, queue);
                    ArrowArrayStream stream = ArrowArrayStream.allocateNew(a)) {
                stream.save(ArrowArrayStream.wrap(exported.streamAddress()).snapshot());
                ArrowArrayStream.wrap(exported.streamAddress()).markReleased();
                try (ArrowReader reader = Data.importArrayStream(a, stream)) {
                    assertTrue(reader.loadNextBatch());
                    check(steps.get(0), reader.getVectorSchemaRoot());
                    IOException e = assertThrows(IOException.class, reader::loadNextBatch);
                    assertTrue(e.getMessage().contains("rank 2 was masked in step 7"), e.getMessage());
                }
            }
            assertEquals(0, a.getAllocatedMemory());
        }
    }

    @Test
    void closingFreesUnreadBatchesAndLaterPutsFailWithoutLeaking() throws Exception {
        List<Step> steps = steps(3);
        try (BufferAllocator a = new RootAllocator()) {
            RecordBatchQueue queue = new RecordBatchQueue(a, schema(), 4);
            try (TokenBatch b = batch(a, steps.get(0));
                    TokenBatch c = batch(a, steps.get(1))) {
                queue.put(b.root());
                queue.putCopy(c.root());
            }
            assertEquals(2, queue.queuedBatches());
            try (ExportedStream exported = HostExport.exportStream(a, queue)) {
                assertFalse(exported.isReleased());
            }
            try (TokenBatch late = batch(a, steps.get(2))) {
                assertThrows(IllegalStateException.class, () -> queue.put(late.root()));
            }
            assertEquals(0, a.getAllocatedMemory(), "no consumer: closing the export closed the queue");
        }
    }

    @Test
    void aBatchOfAnotherSchemaIsRefused() throws Exception {
        try (BufferAllocator a = new RootAllocator();
                RecordBatchQueue queue = new RecordBatchQueue(a, schema(), 1);
                TokenBatch bf16 = RandomTokenBatches.batch(a, rng, HiddenDtype.BF16, 3, H, K)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> queue.put(bf16.root()));
            assertTrue(e.getMessage().contains("differs from the stream's"), e.getMessage());
            assertEquals(0, queue.queuedBatches());
        }
    }

    @Test
    void slicedRootsAreAcceptedDespiteArrowsRenamedListChildren() throws Exception {
        Step step = steps(1).get(0);
        try (BufferAllocator a = new RootAllocator()) {
            RecordBatchQueue queue = new RecordBatchQueue(a, schema(), 2);
            try (TokenBatch b = batch(a, step);
                    VectorSchemaRoot slice = b.root().slice(0, step.rows())) {
                queue.put(slice);
            }
            queue.finish();
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            assertEquals(1, IpcStreams.copy(queue, bytes));
            queue.close();
            try (ArrowStreamReader reader = new ArrowStreamReader(new ByteArrayInputStream(bytes.toByteArray()), a)) {
                assertTrue(reader.loadNextBatch());
                check(step, reader.getVectorSchemaRoot());
            }
            assertEquals(0, a.getAllocatedMemory());
        }
    }

    @Test
    void anIpcStreamOfEveryStepAndNoEndMarkerAfterAFailure() throws Exception {
        List<Step> steps = steps(4);
        try (BufferAllocator a = new RootAllocator()) {
            RecordBatchQueue queue = new RecordBatchQueue(a, schema(), 8);
            for (Step step : steps) {
                try (TokenBatch b = batch(a, step)) {
                    queue.putCopy(b.root());
                }
            }
            queue.finish();
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            assertEquals(steps.size(), IpcStreams.copy(queue, bytes));
            queue.close();
            byte[] whole = bytes.toByteArray();
            assertArrayEquals(END_OF_STREAM, Arrays.copyOfRange(whole, whole.length - 8, whole.length));
            try (ArrowStreamReader reader = new ArrowStreamReader(new ByteArrayInputStream(whole), a)) {
                for (Step step : steps) {
                    assertTrue(reader.loadNextBatch());
                    check(step, reader.getVectorSchemaRoot());
                }
                assertFalse(reader.loadNextBatch());
            }

            RecordBatchQueue failing = new RecordBatchQueue(a, schema(), 8);
            try (TokenBatch b = batch(a, steps.get(0))) {
                failing.putCopy(b.root());
            }
            failing.fail("the run stopped");
            ByteArrayOutputStream partial = new ByteArrayOutputStream();
            IOException e = assertThrows(IOException.class, () -> IpcStreams.copy(failing, partial));
            assertTrue(e.getMessage().contains("the run stopped"));
            failing.close();
            byte[] cut = partial.toByteArray();
            assertTrue(cut.length > 8, "schema and the first batch were written");
            assertNotEquals(
                    Arrays.toString(END_OF_STREAM),
                    Arrays.toString(Arrays.copyOfRange(cut, cut.length - 8, cut.length)),
                    "an incomplete stream does not end like a complete one");
            assertEquals(0, a.getAllocatedMemory());
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** Arrow IPC's end-of-stream marker: continuation 0xFFFFFFFF, then a 0 length. */
    private static final byte[] END_OF_STREAM = {-1, -1, -1, -1, 0, 0, 0, 0};

    private static TokenBatch batch(BufferAllocator a, Step step) {
        return TokenBatch.fromFloats(a, HiddenDtype.FP32, H, step.x(), K, step.idx(), step.w());
    }

    private static long child(long struct, int i) {
        return MemoryUtil.getLong(MemoryUtil.getLong(struct + 48) + 8L * i);
    }

    private static long buffer(long struct, int i) {
        return MemoryUtil.getLong(MemoryUtil.getLong(struct + 40) + 8L * i);
    }

    private static void check(Step step, VectorSchemaRoot root) {
        assertEquals(step.rows(), root.getRowCount());
        try (TokenBatch view = TokenBatch.wrap(root)) {
            assertArrayEquals(step.x(), view.hiddenAsFloats());
            assertArrayEquals(step.idx(), view.topkIdx());
            assertArrayEquals(step.w(), view.topkWeights());
        }
        assertEquals(
                step.rows() * H,
                ((FixedSizeListVector) root.getVector("hidden")).getDataVector().getValueCount());
    }
}
