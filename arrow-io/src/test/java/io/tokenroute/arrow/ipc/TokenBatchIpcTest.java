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
package io.tokenroute.arrow.ipc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatch;
import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.memory.DeviceMemoryAccessException;
import io.tokenroute.arrow.memory.ExternalMemory;
import io.tokenroute.arrow.memory.MemoryLocation;
import io.tokenroute.arrow.testkit.RandomTokenBatches;
import io.tokenroute.arrow.types.BFloat16Type;
import io.tokenroute.arrow.types.HiddenDtype;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VectorLoader;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.VectorUnloader;
import org.apache.arrow.vector.dictionary.DictionaryProvider;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenBatchIpcTest {
    private final Random rng = new Random(2024);

    @TempDir
    Path dir;

    /** Three random batches of different lengths and one shape. */
    private List<TokenBatch> threeBatches(BufferAllocator a, HiddenDtype dtype) {
        List<TokenBatch> batches = new ArrayList<>();
        for (int n : new int[] {7, 1, 13}) {
            batches.add(RandomTokenBatches.batch(a, rng, dtype, n, 48, 4));
        }
        return batches;
    }

    @Test
    void fileRoundTripIsBitExactForBf16AndFp32() throws IOException {
        try (BufferAllocator a = new RootAllocator()) {
            for (HiddenDtype dtype : List.of(HiddenDtype.BF16, HiddenDtype.FP32)) {
                Path file = dir.resolve(dtype + ".arrow");
                List<TokenBatch> written = threeBatches(a, dtype);
                TokenBatchIpc.writeFile(a, written, file);
                List<TokenBatch> read = TokenBatchIpc.readFile(a, file);
                try {
                    assertBitEqual(written, read);
                } finally {
                    written.forEach(TokenBatch::close);
                    read.forEach(TokenBatch::close);
                }
            }
        }
    }

    @Test
    void streamRoundTripIsBitExactAndLeavesTheStreamsOpen() throws IOException {
        try (BufferAllocator a = new RootAllocator()) {
            List<TokenBatch> bf16 = threeBatches(a, HiddenDtype.BF16);
            List<TokenBatch> fp32 = threeBatches(a, HiddenDtype.FP32);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            AtomicBoolean closed = new AtomicBoolean();
            FilterOutputStream out = new FilterOutputStream(bytes) {
                @Override
                public void close() {
                    closed.set(true);
                }
            };
            TokenBatchIpc.writeStream(a, bf16, out);
            TokenBatchIpc.writeStream(a, fp32, out);
            assertFalse(closed.get(), "the caller's stream stays open");

            InputStream in = new ByteArrayInputStream(bytes.toByteArray());
            List<TokenBatch> readBf16 = TokenBatchIpc.readStream(a, in);
            List<TokenBatch> readFp32 = TokenBatchIpc.readStream(a, in);
            try {
                assertBitEqual(bf16, readBf16);
                assertBitEqual(fp32, readFp32);
                assertEquals(-1, in.read(), "each read stopped at its stream's end marker");
            } finally {
                for (List<TokenBatch> list : List.of(bf16, fp32, readBf16, readFp32)) {
                    list.forEach(TokenBatch::close);
                }
            }
        }
    }

    @Test
    void aFileWithMixedHiddenSizesIsRejected() throws IOException {
        Path file = dir.resolve("mixed.arrow");
        try (BufferAllocator a = new RootAllocator();
                TokenBatch h4 = RandomTokenBatches.batch(a, rng, HiddenDtype.BF16, 3, 4, 2);
                TokenBatch h8 = RandomTokenBatches.batch(a, rng, HiddenDtype.BF16, 3, 8, 2)) {
            // What a producer that mixed widths writes: the H = 4 schema, then a batch whose hidden child holds
            // n × 8 values. Arrow Java's loader would trim the child to n × 4, so its length is set back by hand.
            try (VectorSchemaRoot staging = VectorSchemaRoot.create(h4.root().getSchema(), a);
                    FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                    ArrowFileWriter writer =
                            new ArrowFileWriter(staging, new DictionaryProvider.MapDictionaryProvider(), channel)) {
                writer.start();
                for (TokenBatch b : List.of(h4, h8)) {
                    try (ArrowRecordBatch record = new VectorUnloader(b.root()).getRecordBatch()) {
                        new VectorLoader(staging).load(record);
                    }
                    staging.getVector(TokenBatchSchema.HIDDEN)
                            .getChildrenFromFields()
                            .get(0)
                            .setValueCount(b.numTokens() * b.hiddenSize());
                    writer.writeBatch();
                }
                writer.end();
            }
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> TokenBatchIpc.readFile(a, file));
            assertTrue(
                    e.getMessage()
                            .startsWith("IPC batch 1: hidden holds 24 values for 3 rows of list size 4" + " (need 12)"),
                    e.getMessage());
        }
    }

    @Test
    void writingBatchesOfDifferentShapesIsRejected() {
        try (BufferAllocator a = new RootAllocator();
                TokenBatch h4 = RandomTokenBatches.batch(a, rng, HiddenDtype.BF16, 3, 4, 2);
                TokenBatch h8 = RandomTokenBatches.batch(a, rng, HiddenDtype.BF16, 3, 8, 2)) {
            IllegalArgumentException e = assertThrows(
                    IllegalArgumentException.class,
                    () -> TokenBatchIpc.writeFile(a, List.of(h4, h8), dir.resolve("never.arrow")));
            assertTrue(e.getMessage().contains("batch 1 has dtype BF16, H = 8"), e.getMessage());
        }
    }

    @Test
    void aFileThatIsNotTokenBatchesIsRejected() throws IOException {
        Path file = dir.resolve("ints.arrow");
        try (BufferAllocator a = new RootAllocator();
                IntVector ranks = new IntVector("rank", a)) {
            ranks.allocateNew(2);
            ranks.set(0, 5);
            ranks.set(1, 6);
            ranks.setValueCount(2);
            try (VectorSchemaRoot root = new VectorSchemaRoot(List.of(ranks));
                    FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                    ArrowFileWriter writer = new ArrowFileWriter(root, null, channel)) {
                root.setRowCount(2);
                writer.start();
                writer.writeBatch();
                writer.end();
            }
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> TokenBatchIpc.readFile(a, file));
            assertTrue(e.getMessage().contains("no column 'hidden'"), e.getMessage());
        }
    }

    @Test
    void deviceBatchesAreNotWritten() {
        long fake = 0x7f40_0000_0000L;
        try (BufferAllocator a = new RootAllocator();
                ArrowBuf h = ExternalMemory.wrap(a, fake, 2L * 4 * 8, () -> {});
                ArrowBuf idx = ExternalMemory.wrap(a, fake + 4096, 8L * 4 * 2, () -> {});
                ArrowBuf w = ExternalMemory.wrap(a, fake + 8192, 4L * 4 * 2, () -> {});
                TokenBatch device =
                        TokenBatch.fromBuffers(a, MemoryLocation.cuda(0), HiddenDtype.BF16, 4, 8, 2, h, idx, w)) {
            DeviceMemoryAccessException file = assertThrows(
                    DeviceMemoryAccessException.class,
                    () -> TokenBatchIpc.writeFile(a, List.of(device), dir.resolve("device.arrow")));
            assertTrue(
                    file.getMessage().contains("writeFile of batch 0")
                            && file.getMessage().contains("cuda:0"),
                    file.getMessage());
            DeviceMemoryAccessException stream = assertThrows(
                    DeviceMemoryAccessException.class,
                    () -> TokenBatchIpc.writeStream(a, List.of(device), new ByteArrayOutputStream()));
            assertTrue(stream.getMessage().contains("cuda:0"), stream.getMessage());
        }
    }

    private static void assertBitEqual(List<TokenBatch> expected, List<TokenBatch> actual) {
        assertEquals(expected.size(), actual.size());
        for (int b = 0; b < expected.size(); b++) {
            TokenBatch e = expected.get(b);
            TokenBatch r = actual.get(b);
            assertEquals(e.root().getSchema(), r.root().getSchema(), "batch " + b);
            assertEquals(e.dtype(), r.dtype());
            assertEquals(e.numTokens(), r.numTokens());
            if (e.dtype() == HiddenDtype.BF16) {
                assertEquals(
                        BFloat16Type.INSTANCE,
                        r.root()
                                .getSchema()
                                .findField(TokenBatchSchema.HIDDEN)
                                .getChildren()
                                .get(0)
                                .getType());
                assertArrayEquals(e.hiddenBf16Bits(), r.hiddenBf16Bits(), "batch " + b);
            } else {
                assertArrayEquals(rawBits(e.hiddenAsFloats()), rawBits(r.hiddenAsFloats()), "batch " + b);
            }
            assertArrayEquals(e.topkIdx(), r.topkIdx(), "batch " + b);
            assertArrayEquals(rawBits(e.topkWeights()), rawBits(r.topkWeights()), "batch " + b);
        }
    }

    private static int[] rawBits(float[] values) {
        int[] bits = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Float.floatToRawIntBits(values[i]);
        }
        return bits;
    }
}
