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
package io.tokenroute.arrow.types;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenroute.arrow.batch.TokenBatchSchema;
import io.tokenroute.arrow.cdata.ExportedBatch;
import io.tokenroute.arrow.cdata.HostExport;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.c.Data;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.util.MemoryUtil;
import org.apache.arrow.vector.BitVectorHelper;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorLoader;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.VectorUnloader;
import org.apache.arrow.vector.compare.Range;
import org.apache.arrow.vector.compare.RangeEqualsVisitor;
import org.apache.arrow.vector.compare.TypeEqualsVisitor;
import org.apache.arrow.vector.compare.VectorEqualsVisitor;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.dictionary.DictionaryProvider;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.arrow.vector.util.TransferPair;
import org.apache.arrow.vector.util.VectorSchemaRootAppender;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Arrow Java's generic vector APIs, which TokenRoute did not write, over every TokenRoute element type: the bf16, fp8
 * e4m3 and ue8m0 extension types and the plain fp16 and fp32 that token batches also carry. Each test runs one API
 * on a record batch of a {@code FixedSizeList<dtype>[H]} column (as {@code hidden}, dispatch views and combine outputs
 * hold them) and a nullable {@code dtype} column, filled with random non-zero bit patterns and random nulls, and
 * compares every value and null with the Java arrays the batch was filled from. Host memory; the device side is in
 * {@link DeviceTagVectorTest}.
 */
class ArrowGenericApiTest {
    private static final int ROWS = 23;
    private static final int H = 5;

    /** The element types, with their width in bytes. */
    enum Dtype {
        BF16(BFloat16Type.INSTANCE, 2),
        FP8_E4M3(Float8E4M3Type.INSTANCE, 1),
        UE8M0(Ue8m0Type.INSTANCE, 1),
        FP16(new ArrowType.FloatingPoint(FloatingPointPrecision.HALF), 2),
        FP32(new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE), 4);

        final ArrowType type;
        final int bytes;

        Dtype(ArrowType type, int bytes) {
            this.type = type;
            this.bytes = bytes;
        }

        Schema schema() {
            TokenRouteTypes.register();
            return new Schema(List.of(
                    TokenBatchSchema.listField("hidden", new Field("item", FieldType.notNullable(type), null), H),
                    new Field("values", FieldType.nullable(type), null)));
        }
    }

    @TempDir
    Path dir;

    private BufferAllocator allocator;
    private final Random rng = new Random(17);

    @BeforeEach
    void open() {
        allocator = new RootAllocator();
    }

    @AfterEach
    void close() {
        allocator.close();
    }

    // ------------------------------------------------------------------------------------------------ transfers

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void transferPairsMoveEveryColumnIntoAVectorOfTheSameType(Dtype dtype) {
        try (Batch batch = new Batch(dtype)) {
            for (FieldVector column : batch.root.getFieldVectors()) {
                TransferPair pair = column.getTransferPair(allocator);
                pair.transfer();
                try (FieldVector moved = (FieldVector) pair.getTo()) {
                    assertSame(column.getClass(), moved.getClass());
                    assertEquals(column.getField().getType(), moved.getField().getType());
                    assertEquals(0, column.getValueCount(), "the source gave its buffers away");
                    batch.check(moved, 0, ROWS);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void transferPairsIntoAGivenFieldOrAnExistingVector(Dtype dtype) {
        try (Batch batch = new Batch(dtype)) {
            FieldVector values = batch.root.getVector("values");
            Field renamed = new Field("renamed", values.getField().getFieldType(), null);
            TransferPair named = values.getTransferPair(renamed, allocator);
            named.splitAndTransfer(2, 11);
            try (FieldVector target = (FieldVector) named.getTo();
                    FieldVector existing = values.getField().createVector(allocator)) {
                assertEquals("renamed", target.getName());
                batch.check(target, 2, 11);
                TransferPair into = target.makeTransferPair(existing);
                into.transfer();
                batch.check(existing, 2, 11);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void splitAndTransferAtUnalignedStarts(Dtype dtype) {
        try (Batch batch = new Batch(dtype)) {
            for (int start : new int[] {0, 3, 8, 13}) {
                for (FieldVector column : batch.root.getFieldVectors()) {
                    TransferPair pair = column.getTransferPair(allocator);
                    pair.splitAndTransfer(start, ROWS - start - 1);
                    try (FieldVector part = (FieldVector) pair.getTo()) {
                        batch.check(part, start, ROWS - start - 1);
                    }
                }
                batch.check(batch.root, 0, ROWS);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void copyFromAndCopyFromSafeCopyValuesAndNulls(Dtype dtype) {
        try (Batch batch = new Batch(dtype)) {
            FieldVector values = batch.root.getVector("values");
            try (FieldVector safe = values.getField().createVector(allocator);
                    FieldVector sized = values.getField().createVector(allocator)) {
                sized.setInitialCapacity(ROWS);
                sized.allocateNew();
                for (int i = 0; i < ROWS; i++) {
                    safe.copyFromSafe(ROWS - 1 - i, i, values);
                    sized.copyFrom(ROWS - 1 - i, i, values);
                }
                safe.setValueCount(ROWS);
                sized.setValueCount(ROWS);
                for (FieldVector copy : List.of(safe, sized)) {
                    for (int i = 0; i < ROWS; i++) {
                        Long want = batch.valueBits[ROWS - 1 - i];
                        assertEquals(want == null, copy.isNull(i), "null at " + i);
                        if (want != null) {
                            assertEquals(want, bits(copy, dtype, i), "value at " + i);
                        }
                    }
                }
            }
            if (values instanceof TagVector<?>) {
                try (Batch other = new Batch(dtype == Dtype.BF16 ? Dtype.FP16 : Dtype.BF16);
                        FieldVector target = values.getField().createVector(allocator)) {
                    IllegalArgumentException e = assertThrows(
                            IllegalArgumentException.class,
                            () -> target.copyFromSafe(0, 0, other.root.getVector("values")));
                    assertTrue(e.getMessage().contains(dtype.type.toString()), e.getMessage());
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ roots

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void vectorSchemaRootSliceKeepsTypesAndRows(Dtype dtype) {
        try (Batch batch = new Batch(dtype);
                VectorSchemaRoot slice = batch.root.slice(5, 7)) {
            assertEquals(7, slice.getRowCount());
            assertEquals(dtype.type, slice.getVector("values").getField().getType());
            assertEquals(
                    dtype.type,
                    slice.getVector("hidden").getField().getChildren().get(0).getType());
            batch.check(slice, 5, 7);
        }
    }

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void vectorSchemaRootAppenderConcatenates(Dtype dtype) {
        try (Batch first = new Batch(dtype);
                Batch second = new Batch(dtype);
                VectorSchemaRoot both = VectorSchemaRoot.create(dtype.schema(), allocator)) {
            VectorSchemaRootAppender.append(both, first.root, second.root);
            assertEquals(2 * ROWS, both.getRowCount());
            try (VectorSchemaRoot head = both.slice(0, ROWS);
                    VectorSchemaRoot tail = both.slice(ROWS, ROWS)) {
                first.check(head, 0, ROWS);
                second.check(tail, 0, ROWS);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void equalityVisitorsCompareTypesAndValues(Dtype dtype) {
        try (Batch batch = new Batch(dtype);
                VectorSchemaRoot copy = VectorSchemaRoot.create(dtype.schema(), allocator);
                Batch other = new Batch(dtype == Dtype.FP32 ? Dtype.BF16 : Dtype.FP32)) {
            VectorSchemaRootAppender.append(copy, batch.root);
            for (String column : List.of("hidden", "values")) {
                FieldVector a = batch.root.getVector(column);
                FieldVector b = copy.getVector(column);
                assertTrue(new TypeEqualsVisitor(a).equals(b), column);
                assertFalse(new TypeEqualsVisitor(a).equals(other.root.getVector(column)), column + " vs other type");
                assertTrue(VectorEqualsVisitor.vectorEquals(a, b), column);
                assertTrue(new RangeEqualsVisitor(a, b).rangeEquals(new Range(2, 2, 9)), column);
            }
            assertTrue(batch.root.equals(copy));
            FieldVector values = copy.getVector("values");
            int changed = batch.firstNonNull();
            long address = values.getDataBuffer().memoryAddress() + (long) changed * dtype.bytes;
            MemoryUtil.putByte(address, (byte) (MemoryUtil.getByte(address) ^ 1));
            assertFalse(VectorEqualsVisitor.vectorEquals(batch.root.getVector("values"), values));
            assertFalse(new RangeEqualsVisitor(batch.root.getVector("values"), values)
                    .rangeEquals(new Range(changed, changed, 1)));
            assertTrue(new RangeEqualsVisitor(batch.root.getVector("values"), values)
                    .rangeEquals(new Range(changed + 1, changed + 1, ROWS - changed - 1)));
        }
    }

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void vectorUnloaderAndLoaderRoundTrip(Dtype dtype) {
        try (Batch batch = new Batch(dtype);
                VectorSchemaRoot loaded = VectorSchemaRoot.create(dtype.schema(), allocator)) {
            try (ArrowRecordBatch record = new VectorUnloader(batch.root).getRecordBatch()) {
                new VectorLoader(loaded).load(record);
            }
            batch.check(loaded, 0, ROWS);
            assertEquals(batch.root.getSchema(), loaded.getSchema());
        }
    }

    // ------------------------------------------------------------------------------------------------ IPC, C Data

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void ipcFileAndStreamRoundTrip(Dtype dtype) throws Exception {
        try (Batch batch = new Batch(dtype)) {
            Path file = dir.resolve(dtype + ".arrow");
            try (SeekableByteChannel out =
                            Files.newByteChannel(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                    ArrowFileWriter writer = new ArrowFileWriter(batch.root, NO_DICTIONARIES, out)) {
                writer.start();
                writer.writeBatch();
                writer.end();
            }
            try (SeekableByteChannel in = Files.newByteChannel(file);
                    ArrowFileReader reader = new ArrowFileReader(in, allocator)) {
                assertEquals(
                        batch.root.getSchema(), reader.getVectorSchemaRoot().getSchema());
                assertTrue(reader.loadNextBatch());
                batch.check(reader.getVectorSchemaRoot(), 0, ROWS);
            }
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ArrowStreamWriter writer =
                    new ArrowStreamWriter(batch.root, NO_DICTIONARIES, Channels.newChannel(bytes))) {
                writer.start();
                writer.writeBatch();
                writer.end();
            }
            try (ArrowStreamReader reader =
                    new ArrowStreamReader(new ByteArrayInputStream(bytes.toByteArray()), allocator)) {
                assertTrue(reader.loadNextBatch());
                assertEquals(
                        batch.root.getSchema(), reader.getVectorSchemaRoot().getSchema());
                batch.check(reader.getVectorSchemaRoot(), 0, ROWS);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void cDataRoundTripThroughArrowsAndTokenRoutesImporters(Dtype dtype) {
        try (Batch batch = new Batch(dtype)) {
            try (ExportedBatch exported = HostExport.export(allocator, batch.root);
                    VectorSchemaRoot imported =
                            HostExport.importRoot(allocator, exported.arrayAddress(), exported.schemaAddress())) {
                assertEquals(batch.root.getSchema(), imported.getSchema());
                batch.check(imported, 0, ROWS);
            }
            try (ArrowArray array = ArrowArray.allocateNew(allocator);
                    ArrowSchema schema = ArrowSchema.allocateNew(allocator)) {
                Data.exportVectorSchemaRoot(allocator, batch.root, null, array, schema);
                try (VectorSchemaRoot imported = Data.importVectorSchemaRoot(allocator, array, schema, null)) {
                    assertEquals(batch.root.getSchema(), imported.getSchema());
                    batch.check(imported, 0, ROWS);
                }
            }
        }
    }

    /** Sliced results (as dispatch views and combine outputs are sliced by their consumers) export and read back. */
    @ParameterizedTest
    @EnumSource(Dtype.class)
    void slicesExportThroughCDataAndReadBackExactly(Dtype dtype) {
        try (Batch batch = new Batch(dtype)) {
            for (int start : new int[] {5, 8, 0}) {
                try (VectorSchemaRoot slice = batch.root.slice(start, 9);
                        ExportedBatch exported = HostExport.export(allocator, slice);
                        VectorSchemaRoot imported =
                                HostExport.importRoot(allocator, exported.arrayAddress(), exported.schemaAddress())) {
                    assertEquals(9, imported.getRowCount());
                    batch.check(imported, start, 9);
                    assertEquals(
                            batch.root
                                            .getVector("hidden")
                                            .getChildrenFromFields()
                                            .get(0)
                                            .getDataBuffer()
                                            .memoryAddress()
                                    + (long) start * H * dtype.bytes,
                            imported.getVector("hidden")
                                    .getChildrenFromFields()
                                    .get(0)
                                    .getDataBuffer()
                                    .memoryAddress(),
                            "zero-copy both ways");
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private static final DictionaryProvider NO_DICTIONARIES = new DictionaryProvider.MapDictionaryProvider();

    /** The raw bits of element {@code i} of a vector of {@code dtype}. */
    static long bits(FieldVector vector, Dtype dtype, int i) {
        long address = vector.getDataBuffer().memoryAddress() + (long) i * dtype.bytes;
        return switch (dtype.bytes) {
            case 1 -> MemoryUtil.getByte(address) & 0xFFL;
            case 2 -> MemoryUtil.getShort(address) & 0xFFFFL;
            default -> MemoryUtil.getInt(address) & 0xFFFFFFFFL;
        };
    }

    /** A random batch of one dtype, and the bits it was filled with. */
    private final class Batch implements AutoCloseable {
        final Dtype dtype;
        final VectorSchemaRoot root;
        final long[] hiddenBits = new long[ROWS * H];
        final Long[] valueBits = new Long[ROWS];

        Batch(Dtype dtype) {
            this.dtype = dtype;
            this.root = VectorSchemaRoot.create(dtype.schema(), allocator);
            FixedSizeListVector hidden = (FixedSizeListVector) root.getVector("hidden");
            hidden.setInitialCapacity(ROWS);
            hidden.allocateNew();
            FieldVector items = hidden.getDataVector();
            for (int r = 0; r < ROWS; r++) {
                hidden.setNotNull(r);
            }
            for (int i = 0; i < hiddenBits.length; i++) {
                hiddenBits[i] = randomBits();
                write(items, i, hiddenBits[i]);
            }
            FieldVector values = root.getVector("values");
            values.setInitialCapacity(ROWS);
            values.allocateNew();
            for (int r = 0; r < ROWS; r++) {
                if (r == 0 || rng.nextInt(4) != 0) {
                    valueBits[r] = randomBits();
                    write(values, r, valueBits[r]);
                }
            }
            root.setRowCount(ROWS);
        }

        /** Never 0, so a zeroed buffer cannot pass for the data. */
        private long randomBits() {
            long mask = dtype.bytes == 4 ? 0xFFFFFFFFL : (1L << (8 * dtype.bytes)) - 1;
            long v;
            do {
                v = rng.nextLong() & mask;
            } while (v == 0);
            return v;
        }

        private void write(FieldVector vector, int i, long value) {
            long address = vector.getDataBuffer().memoryAddress() + (long) i * dtype.bytes;
            switch (dtype.bytes) {
                case 1 -> MemoryUtil.putByte(address, (byte) value);
                case 2 -> MemoryUtil.putShort(address, (short) value);
                default -> MemoryUtil.putInt(address, (int) value);
            }
            BitVectorHelper.setBit(vector.getValidityBuffer(), i);
        }

        int firstNonNull() {
            return 0;
        }

        /** {@code root} holds rows {@code [first, first + count)} of this batch. */
        void check(VectorSchemaRoot other, int first, int count) {
            assertEquals(count, other.getRowCount());
            check(other.getVector("hidden"), first, count);
            check(other.getVector("values"), first, count);
        }

        /** {@code vector} (a hidden or values column) holds rows {@code [first, first + count)}. */
        void check(FieldVector vector, int first, int count) {
            assertEquals(count, vector.getValueCount(), vector.getName());
            if (vector instanceof FixedSizeListVector list) {
                FieldVector items = list.getDataVector();
                assertEquals(dtype.type, items.getField().getType());
                List<Long> got = new ArrayList<>();
                for (int i = 0; i < count * H; i++) {
                    assertFalse(items.isNull(i));
                    got.add(bits(items, dtype, i));
                }
                List<Long> want = new ArrayList<>();
                for (int i = first * H; i < (first + count) * H; i++) {
                    want.add(hiddenBits[i]);
                }
                assertEquals(want, got, "hidden rows [" + first + ", " + (first + count) + ")");
                return;
            }
            assertEquals(dtype.type, vector.getField().getType());
            for (int r = 0; r < count; r++) {
                Long want = valueBits[first + r];
                assertEquals(want == null, vector.isNull(r), "null at row " + (first + r));
                if (want != null) {
                    assertEquals(want, bits(vector, dtype, r), "value at row " + (first + r));
                }
            }
        }

        @Override
        public void close() {
            root.close();
        }
    }
}
