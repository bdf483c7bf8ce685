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
package io.tokenroute.arrow.cdata;

import static io.tokenroute.arrow.cdata.CStructs.LENGTH;
import static io.tokenroute.arrow.cdata.CStructs.NULL_COUNT;
import static io.tokenroute.arrow.cdata.CStructs.N_BUFFERS;
import static io.tokenroute.arrow.cdata.CStructs.N_CHILDREN;
import static io.tokenroute.arrow.cdata.CStructs.RELEASE;
import static io.tokenroute.arrow.cdata.CStructs.buffer;
import static io.tokenroute.arrow.cdata.CStructs.child;
import static io.tokenroute.arrow.cdata.CStructs.exportedBuffers;
import static io.tokenroute.arrow.cdata.CStructs.field;
import static io.tokenroute.arrow.cdata.CStructs.sourceBuffers;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.memory.DeviceMemoryAccessException;
import io.tokenroute.arrow.memory.ExternalMemory;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.testkit.RandomTokenBatches;
import io.tokenroute.arrow.types.HiddenDtype;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.junit.jupiter.api.Test;

class HostExportTest {
    private final Random rng = new Random(1234);

    @Test
    void exportedBufferAddressesAreTheSourceVectorsAddresses() {
        int n = 11;
        int h = 32;
        int k = 4;
        try (BufferAllocator a = new RootAllocator();
                TokenBatch batch = RandomTokenBatches.batch(a, rng, HiddenDtype.BF16, n, h, k);
                ExportedBatch exported = HostExport.export(a, batch)) {
            long struct = exported.arrayAddress();
            assertEquals(n, field(struct, LENGTH));
            assertEquals(0, field(struct, NULL_COUNT));
            assertEquals(1, field(struct, N_BUFFERS));
            assertEquals(0, buffer(struct, 0), "record batch rows are never null: no struct validity buffer");
            List<FieldVector> columns = batch.root().getFieldVectors();
            assertEquals(columns.size(), field(struct, N_CHILDREN));
            for (int c = 0; c < columns.size(); c++) {
                long column = child(struct, c);
                assertEquals(n, field(column, LENGTH));
                assertEquals(0, field(column, NULL_COUNT));
                assertEquals(
                        sourceBuffers(columns.get(c)),
                        exportedBuffers(column),
                        columns.get(c).getName());
            }
            assertEquals(batch.hiddenAddress(), buffer(child(child(struct, 0), 0), 1));
            assertEquals(batch.topkIdxAddress(), buffer(child(child(struct, 1), 0), 1));
            assertEquals(batch.topkWeightsAddress(), buffer(child(child(struct, 2), 0), 1));
            assertEquals((long) n * h, field(child(child(struct, 0), 0), LENGTH));
        }
    }

    @Test
    void importGivesEqualValuesOverTheSameMemory() {
        try (BufferAllocator a = new RootAllocator()) {
            for (HiddenDtype dtype : List.of(HiddenDtype.BF16, HiddenDtype.FP16, HiddenDtype.FP32)) {
                try (TokenBatch source = RandomTokenBatches.batch(a, rng, dtype, 9, 24, 3);
                        ExportedBatch exported = HostExport.export(a, source);
                        TokenBatch imported =
                                HostExport.importBatch(a, exported.arrayAddress(), exported.schemaAddress())) {
                    assertTrue(exported.isArrayReleased(), "the importer moved the array out of the struct");
                    assertEquals(source.root().getSchema(), imported.root().getSchema(), "dtype tag survives");
                    assertEquals(dtype, imported.dtype());
                    assertEquals(source.hiddenAddress(), imported.hiddenAddress(), "zero copy both ways");
                    assertArrayEquals(rawBits(source.hiddenAsFloats()), rawBits(imported.hiddenAsFloats()));
                    assertArrayEquals(source.topkIdx(), imported.topkIdx());
                    assertArrayEquals(rawBits(source.topkWeights()), rawBits(imported.topkWeights()));
                }
            }
        }
    }

    @Test
    void releaseRunsOnceAndTheProducerMayCloseItsBatchFirst() {
        int n = 6;
        int h = 8;
        int k = 2;
        float[] x = RandomTokenBatches.floats(rng, n * h);
        long[] idx = RandomTokenBatches.idx(rng, n * k, 16);
        float[] w = RandomTokenBatches.weights(rng, n * k);
        AtomicInteger frees = new AtomicInteger();
        try (BufferAllocator root = new RootAllocator();
                BufferAllocator producer = root.newChildAllocator("producer", 0, Long.MAX_VALUE);
                BufferAllocator consumer = root.newChildAllocator("consumer", 0, Long.MAX_VALUE);
                ArrowBuf hostMemory = root.buffer(4L * x.length)) {
            for (int i = 0; i < x.length; i++) {
                MemoryUtil.putInt(hostMemory.memoryAddress() + 4L * i, Float.floatToRawIntBits(x[i]));
            }
            ExportedBatch exported;
            try (TokenBatch routing = TokenBatch.fromFloats(producer, HiddenDtype.FP32, h, x, k, idx, w);
                    ArrowBuf hidden = ExternalMemory.wrap(
                            producer, hostMemory.memoryAddress(), hostMemory.capacity(), frees::incrementAndGet)) {
                TokenBatch batch = TokenBatch.fromBuffers(
                        producer,
                        MemoryLocation.HOST,
                        HiddenDtype.FP32,
                        n,
                        h,
                        k,
                        hidden,
                        routing.root()
                                .getVector("topk_idx")
                                .getChildrenFromFields()
                                .get(0)
                                .getDataBuffer(),
                        routing.root()
                                .getVector("topk_weights")
                                .getChildrenFromFields()
                                .get(0)
                                .getDataBuffer());
                exported = HostExport.export(producer, batch);
                batch.close();
            }
            assertEquals(0, frees.get(), "the exported array keeps the hidden buffer alive");
            assertNotEquals(0, field(exported.arrayAddress(), RELEASE));

            TokenBatch imported = HostExport.importBatch(consumer, exported.arrayAddress(), exported.schemaAddress());
            assertEquals(0, field(exported.arrayAddress(), RELEASE), "moved to the consumer");
            exported.close();
            exported.close();
            assertEquals(0, frees.get(), "closing the producer's structs does not release a moved array");
            assertArrayEquals(rawBits(x), rawBits(imported.hiddenAsFloats()));
            assertArrayEquals(idx, imported.topkIdx());
            assertArrayEquals(rawBits(w), rawBits(imported.topkWeights()));

            imported.close();
            assertEquals(1, frees.get(), "the consumer's release freed the data exactly once");
            assertEquals(0, producer.getAllocatedMemory());
            assertEquals(0, consumer.getAllocatedMemory());
            imported.close();
            assertEquals(1, frees.get());
        }
    }

    @Test
    void closeReleasesAnArrayNoConsumerTookExactlyOnce() {
        AtomicInteger frees = new AtomicInteger();
        try (BufferAllocator a = new RootAllocator();
                ArrowBuf hostMemory = a.buffer(2L * 5 * 8)) {
            MemoryUtil.setMemory(hostMemory.memoryAddress(), hostMemory.capacity(), (byte) 0x41);
            ExportedBatch exported;
            try (TokenBatch routing = RandomTokenBatches.batch(a, rng, HiddenDtype.BF16, 5, 8, 2);
                    ArrowBuf hidden = ExternalMemory.wrap(
                            a, hostMemory.memoryAddress(), hostMemory.capacity(), frees::incrementAndGet);
                    TokenBatch batch = TokenBatch.fromBuffers(
                            a,
                            MemoryLocation.HOST,
                            HiddenDtype.BF16,
                            5,
                            8,
                            2,
                            hidden,
                            dataBuffer(routing, "topk_idx"),
                            dataBuffer(routing, "topk_weights"))) {
                exported = HostExport.export(a, batch);
            }
            assertEquals(0, frees.get());
            assertFalse(exported.isArrayReleased());
            exported.close();
            assertEquals(1, frees.get());
            exported.close();
            assertEquals(1, frees.get(), "a second close is a no-op");
            assertThrows(IllegalStateException.class, exported::arrayAddress);
        }
    }

    @Test
    void oneMiBAndQuarterGiBBatchesBothExportTheirOwnAddresses() {
        try (BufferAllocator a = new RootAllocator()) {
            for (long bytes : new long[] {1L << 20, 256L << 20}) {
                try (TokenBatch batch = RandomTokenBatches.patterned(a, bytes);
                        ExportedBatch exported = HostExport.export(a, batch)) {
                    long struct = exported.arrayAddress();
                    assertEquals(batch.numTokens(), field(struct, LENGTH));
                    List<FieldVector> columns = batch.root().getFieldVectors();
                    for (int c = 0; c < columns.size(); c++) {
                        assertEquals(sourceBuffers(columns.get(c)), exportedBuffers(child(struct, c)), bytes + " B");
                    }
                    long hiddenItems = child(child(struct, 0), 0);
                    assertEquals(batch.hiddenAddress(), buffer(hiddenItems, 1));
                    assertEquals((long) batch.numTokens() * batch.hiddenSize(), field(hiddenItems, LENGTH));
                    assertEquals(0, field(hiddenItems, NULL_COUNT));
                    assertEquals(
                            0x3c3c, MemoryUtil.getShort(buffer(hiddenItems, 1)) & 0xFFFF, "the pattern, not zeros");
                }
            }
        }
    }

    @Test
    void deviceBatchesAreRefused() {
        try (BufferAllocator a = new RootAllocator()) {
            long fake = 0x7f10_0000_0000L;
            try (ArrowBuf h = ExternalMemory.wrap(a, fake, 2 * 4 * 8, () -> {});
                    ArrowBuf idx = ExternalMemory.wrap(a, fake + 4096, 8 * 4 * 2, () -> {});
                    ArrowBuf w = ExternalMemory.wrap(a, fake + 8192, 4 * 4 * 2, () -> {});
                    TokenBatch device =
                            TokenBatch.fromBuffers(a, MemoryLocation.cuda(0), HiddenDtype.BF16, 4, 8, 2, h, idx, w)) {
                DeviceMemoryAccessException e =
                        assertThrows(DeviceMemoryAccessException.class, () -> HostExport.export(a, device));
                assertTrue(
                        e.getMessage().contains("cuda:0") && e.getMessage().contains("DeviceExport"), e.getMessage());
            }
        }
    }

    @Test
    void anyHostRootExportsWithExactNullCounts() {
        try (BufferAllocator a = new RootAllocator();
                IntVector rank = new IntVector("rank", a);
                VarBinaryVector payload = new VarBinaryVector("payload", a)) {
            rank.allocateNew(3);
            payload.allocateNew(3);
            for (int r = 0; r < 3; r++) {
                rank.set(r, r + 1);
                if (r != 1) {
                    payload.setSafe(r, ("rank " + (r + 1) + " payload").getBytes(StandardCharsets.UTF_8));
                }
            }
            payload.setNull(1);
            rank.setValueCount(3);
            payload.setValueCount(3);
            VectorSchemaRoot gathered = new VectorSchemaRoot(List.of(rank, payload));
            try (ExportedBatch exported = HostExport.export(a, gathered);
                    VectorSchemaRoot imported =
                            HostExport.importRoot(a, exported.arrayAddress(), exported.schemaAddress())) {
                assertEquals(0, field(child(exported.arrayAddress(), 0), NULL_COUNT));
                assertEquals(1, field(child(exported.arrayAddress(), 1), NULL_COUNT), "masked rank's payload");
                assertTrue(gathered.equals(imported), imported.contentToTSVString());
                assertTrue(imported.getVector("payload").isNull(1));
            }
        }
    }

    @Test
    void importRefusesAListWhoseChildIsShortInsteadOfZeroExtendingIt() {
        try (BufferAllocator a = new RootAllocator();
                TokenBatch batch = RandomTokenBatches.batch(a, rng, HiddenDtype.FP32, 4, 8, 2)) {
            // A producer's inconsistent array: 4 rows of H = 8 but only 31 hidden values.
            batch.root().getVector("hidden").getChildrenFromFields().get(0).setValueCount(31);
            try (ExportedBatch exported = HostExport.export(a, batch.root())) {
                IllegalArgumentException e = assertThrows(
                        IllegalArgumentException.class,
                        () -> HostExport.importBatch(a, exported.arrayAddress(), exported.schemaAddress()));
                assertTrue(
                        e.getMessage().contains("hidden holds 31 values for 4 rows of list size 8 (need 32)"),
                        e.getMessage());
                assertFalse(exported.isArrayReleased(), "a refused array stays with its owner");
            }
        }
    }

    private static ArrowBuf dataBuffer(TokenBatch batch, String column) {
        return batch.root().getVector(column).getChildrenFromFields().get(0).getDataBuffer();
    }

    private static int[] rawBits(float[] values) {
        int[] bits = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Float.floatToRawIntBits(values[i]);
        }
        return bits;
    }
}
